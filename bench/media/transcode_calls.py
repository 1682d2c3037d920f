#!/usr/bin/env python3
"""Sets up CALLS anchored calls through `dialtone serve`, the caller in one
codec and the callee in another, and keeps them up.

Usage: transcode_calls.py CALLS GEN_BASE MAPFILE SUT_HOST:PORT UAC_PORT UAS_PORT
                          HOLD_SECS CALLER_CODEC CALLEE_CODEC PAYLOAD_DIR
  CODEC: pcmu | pcma | opus

Adapted from bench/switch/media_calls.py (same SIP ends, same port plan).
One process is both SIP ends on 127.0.0.1: the caller (UAC_PORT, a trusted
peer calling extension `service`) and the callee (UAS_PORT, that
extension's static contact). Call i offers RTP at A = GEN_BASE + 4i with
CALLER_CODEC only; the callee answers from B = A + 2 with CALLEE_CODEC only,
under the payload type Dialtone's offer gave it (Dialtone widens the offer
with PCMU, PCMA, G.722 and Opus, so a callee codec the caller lacks is
there). Dialtone restates that answer to the caller in CALLER_CODEC and its
relay transcodes. Every call is checked: the callee's INVITE offers
CALLEE_CODEC, the 200 OK to the caller answers CALLER_CODEC.

MAPFILE receives the rtpgen map once every call is confirmed, per call
"A X PT TICKS FILE" (caller: sends CALLER_CODEC to Dialtone's port X) and
"B Y PT TICKS FILE" (callee: CALLEE_CODEC to Dialtone's port Y), FILE from
PAYLOAD_DIR (payloads.py make): the caller sends a 1000 Hz tone, the callee
440 Hz. The script then answers what Dialtone sends (BYE, re-INVITE,
OPTIONS) for HOLD_SECS and exits, hanging up what is left.

Exit status 0 when every call was set up, 1 otherwise (the map is written
only on success). Bounded: gives up setting up after 60 s.
"""
import functools
import os
import random
import re
import select
import socket
import sys
import time

calls, gen_base, mapfile, sut, uac_port, uas_port, hold, caller_codec, callee_codec, payload_dir = sys.argv[1:11]
calls, gen_base, uac_port, uas_port, hold = int(calls), int(gen_base), int(uac_port), int(uas_port), float(hold)
sut_host, sut_port = sut.rsplit(":", 1)
SUT = (sut_host, int(sut_port))
IP = "127.0.0.1"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sipmsg import all_headers, header, media_port, parse  # noqa: E402
import sipmsg  # noqa: E402
RATE = 400  # INVITEs per second while setting up

uac = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
uac.bind((IP, uac_port))
uas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
uas.bind((IP, uas_port))
for s in (uac, uas):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
respond = functools.partial(sipmsg.respond, contact=f"<sip:service@{IP}:{uas_port}>")


# name in SDP, clock rate, channels, static payload type, RTP ticks per 20 ms, tone file
CODECS = {
    "pcmu": ("PCMU", 8000, 1, 0, 160, "pcmu"),
    "pcma": ("PCMA", 8000, 1, 8, 160, "pcma"),
    "opus": ("opus", 48000, 2, None, 960, "opus"),
}
for c in (caller_codec, callee_codec):
    if c not in CODECS:
        sys.exit(f"unknown codec {c} (pcmu, pcma, opus)")
CALLER, CALLEE = CODECS[caller_codec], CODECS[callee_codec]


# Phones offer RFC 4733 telephone-event, as practically all do (then
# Dialtone looks for DTMF in the events, not in the audio).
# TELEPHONE_EVENT=0: phones without it, whose audio Dialtone scans for
# DTMF tones (in-band detection) on every leg.
TELEPHONE_EVENT = os.environ.get("TELEPHONE_EVENT", "1") != "0"


def te_payload_type(body):
    m = re.search(r"^a=rtpmap:(\d+) telephone-event/8000", body, re.M)
    return int(m.group(1)) if m else None


def sdp(port, sess, codec, pt, te=101):
    name, clock, ch, _, _, _ = codec
    rtpmap = f"{name}/{clock}" + (f"/{ch}" if ch > 1 else "")
    fmtp = f"a=fmtp:{pt} useinbandfec=1\r\n" if name == "opus" else ""
    te = te if TELEPHONE_EVENT else None
    pts = f"{pt} {te}" if te is not None else f"{pt}"
    te_lines = f"a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n" if te is not None else ""
    return (f"v=0\r\no=bench {sess} 1 IN IP4 {IP}\r\ns=-\r\nc=IN IP4 {IP}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP {pts}\r\na=rtpmap:{pt} {rtpmap}\r\n{fmtp}{te_lines}a=ptime:20\r\na=sendrecv\r\n")


def payload_type(body, codec):
    """The payload type `body` (SDP) gives `codec`, from its rtpmap lines or,
    for a static type without one, the m= line; None if it is not offered."""
    name, clock, _, static, _, _ = codec
    for pt, n, rate in re.findall(r"^a=rtpmap:(\d+) ([^/\s]+)/(\d+)", body, re.M):
        if n.lower() == name.lower() and int(rate) == clock:
            return int(pt)
    m = re.search(r"^m=audio \d+ RTP/AVP ([\d ]+)", body, re.M)
    if static is not None and m and str(static) in m.group(1).split():
        return static
    return None


def first_payload_type(body):
    m = re.search(r"^m=audio \d+ RTP/AVP (\d+)", body, re.M)
    return int(m.group(1)) if m else None


CALLER_PT = CALLER[3] if CALLER[3] is not None else 111


class Call:
    def __init__(self, i):
        self.i = i
        # Four ports per call: RTP at A and B, and A + 1, B + 1 left free,
        # where Dialtone's RTCP reports go (RFC 3550 §11), so the generator
        # never counts them as RTP.
        self.a = gen_base + 4 * i
        self.b = self.a + 2
        self.call_id = f"bench-{i}-{random.getrandbits(48):x}@{IP}"
        self.tag = f"{random.getrandbits(32):x}"
        self.x = None  # Dialtone's port for A (from its 200 OK)
        self.y = None  # Dialtone's port for B (from the INVITE to the callee)
        self.sent_at = 0.0
        self.confirmed = False
        self.remote_to = None
        self.remote_target = None
        self.route = []
        self.callee_pt = None  # payload type of CALLEE_CODEC in Dialtone's offer to the callee
        self.callee_nb = False  # that offer caps Opus at narrowband
        self.answered_pt = None  # first payload type of the 200 OK to the caller

    def invite(self):
        body = sdp(self.a, self.i + 1, CALLER, CALLER_PT)
        msg = (f"INVITE sip:service@{SUT[0]}:{SUT[1]} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {IP}:{uac_port};branch=z9hG4bK-{self.tag}-1;rport\r\n"
               f"From: bench <sip:bench{self.i}@{IP}:{uac_port}>;tag={self.tag}\r\n"
               f"To: <sip:service@{SUT[0]}:{SUT[1]}>\r\n"
               f"Call-ID: {self.call_id}\r\nCSeq: 1 INVITE\r\n"
               f"Contact: <sip:bench@{IP}:{uac_port}>\r\nMax-Forwards: 70\r\n"
               f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}")
        uac.sendto(msg.encode(), SUT)
        self.sent_at = time.monotonic()

    def in_dialog(self, method, cseq, branch):
        target = self.remote_target or f"sip:service@{SUT[0]}:{SUT[1]}"
        routes = "".join(f"Route: {r}\r\n" for r in self.route)
        msg = (f"{method} {target} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {IP}:{uac_port};branch=z9hG4bK-{self.tag}-{branch};rport\r\n"
               f"{routes}From: bench <sip:bench{self.i}@{IP}:{uac_port}>;tag={self.tag}\r\n"
               f"To: {self.remote_to}\r\nCall-ID: {self.call_id}\r\nCSeq: {cseq} {method}\r\n"
               f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        uac.sendto(msg.encode(), SUT)


by_id = {}
pending = [Call(i) for i in range(calls)]
for c in pending:
    by_id[c.call_id] = c
uas_tags = {}  # Call-ID of the callee leg -> our To tag
uas_calls = {}  # Call-ID of the callee leg -> Call (matched by the offered port order)
waiting_y = []  # callee-leg INVITEs whose bench call is not known yet


def handle_uac(data):
    first, headers, body = parse(data)
    call = by_id.get(header(headers, "call-id", "i"))
    if call is None:
        return
    if first.startswith("SIP/2.0"):
        code = int(first.split()[1])
        cseq = header(headers, "cseq") or ""
        if "INVITE" in cseq and 200 <= code < 300:
            call.x = media_port(body)
            call.answered_pt = first_payload_type(body)
            call.remote_to = header(headers, "to", "t")
            contact = header(headers, "contact", "m") or ""
            m = re.search(r"<([^>]+)>", contact)
            call.remote_target = m.group(1) if m else contact.strip() or None
            call.route = list(reversed(all_headers(headers, "record-route")))
            call.in_dialog("ACK", 1, "ack")
            call.confirmed = True
        elif "INVITE" in cseq and code >= 300:
            print(f"call {call.i}: {first}", file=sys.stderr)
            call.failed = True
        return
    method = first.split()[0]
    if method == "BYE":
        respond(uac, SUT, headers, 200, "OK")
        call.confirmed = False
    elif method in ("INVITE", "UPDATE", "OPTIONS"):
        respond(uac, SUT, headers, 200, "OK",
                body=sdp(call.a, call.i + 1, CALLER, CALLER_PT) if method != "OPTIONS" else "")


def handle_uas(data, addr):
    first, headers, body = parse(data)
    if first.startswith("SIP/2.0"):
        return
    method = first.split()[0]
    cid = header(headers, "call-id", "i")
    if method == "INVITE":
        call = uas_calls.get(cid)
        if call is None:
            # Dialtone is a B2BUA: new Call-ID and tags on this leg, but the
            # caller's From user (bench<i>) is carried over.
            m = re.search(r"sip:bench(\d+)@", header(headers, "from", "f") or "")
            if not m or int(m.group(1)) >= calls:
                respond(uas, addr, headers, 404, "Not Found")
                return
            call = pending[int(m.group(1))]
            uas_calls[cid] = call
            uas_tags[cid] = f"{random.getrandbits(32):x}"
            call.y = media_port(body)
            call.callee_pt = payload_type(body, CALLEE)
            # A libopus peer honours maxplaybackrate (RFC 7587): it sends
            # narrowband when Dialtone asks for no more.
            call.callee_nb = "maxplaybackrate=8000" in body
            if call.callee_pt is None:
                print(f"call {call.i}: Dialtone's offer to the callee lacks {CALLEE[0]}:\n{body}", file=sys.stderr)
                respond(uas, addr, headers, 488, "Not Acceptable Here", uas_tags[cid])
                call.failed = True
                return
        pt = call.callee_pt if call.callee_pt is not None else payload_type(body, CALLEE)
        respond(uas, addr, headers, 200, "OK", uas_tags[cid],
                sdp(call.b, call.i + 1, CALLEE, pt, te_payload_type(body)))
    elif method == "ACK":
        return
    elif method in ("BYE", "CANCEL", "OPTIONS", "UPDATE", "INFO"):
        respond(uas, addr, headers, 200, "OK", uas_tags.get(cid))


def pump(timeout):
    r, _, _ = select.select([uac, uas], [], [], timeout)
    for s in r:
        while True:
            try:
                data, addr = s.recvfrom(65535)
            except BlockingIOError:
                break
            if s is uac:
                handle_uac(data)
            else:
                handle_uas(data, addr)


uac.setblocking(False)
uas.setblocking(False)
start = time.monotonic()
sent = 0
while time.monotonic() - start < 60:
    due = min(calls, int((time.monotonic() - start) * RATE) + 1)
    while sent < due:
        pending[sent].invite()
        sent += 1
    # Retransmit INVITEs that got no final answer within 2 s (loopback loss under burst).
    now = time.monotonic()
    for c in pending[:sent]:
        if c.x is None and not getattr(c, "failed", False) and now - c.sent_at > 2.0:
            c.invite()
    pump(0.005)
    if sent == calls and all((c.confirmed and c.y) or getattr(c, "failed", False) for c in pending):
        break
ok = [c for c in pending if c.confirmed and c.x and c.y]
wrong = [c for c in ok if c.answered_pt != CALLER_PT]
for c in wrong[:3]:
    print(f"call {c.i}: the caller's 200 OK answers payload type {c.answered_pt}, not {CALLER_PT}", file=sys.stderr)
pts = sorted({c.callee_pt for c in ok})
print(f"transcode_calls: {len(ok)}/{calls} calls up in {time.monotonic() - start:.1f} s "
      f"({caller_codec} pt {CALLER_PT} -> {callee_codec} pt {'/'.join(map(str, pts))}"
      f"{', %d answered in another codec' % len(wrong) if wrong else ''})", file=sys.stderr)
if len(ok) == calls and not wrong:
    caller_file = f"{payload_dir}/{CALLER[5]}-1000.bin"
    callee_file = f"{payload_dir}/{CALLEE[5]}-440.bin"
    with open(mapfile + ".tmp", "w") as f:
        for c in pending:
            nb_file = f"{payload_dir}/{CALLEE[5]}-nb-440.bin"
            file = nb_file if c.callee_nb and os.path.exists(nb_file) else callee_file
            f.write(f"{c.a} {c.x} {CALLER_PT} {CALLER[4]} {caller_file}\n"
                    f"{c.b} {c.y} {c.callee_pt} {CALLEE[4]} {file}\n")
    os.replace(mapfile + ".tmp", mapfile)
end = time.monotonic() + hold
while time.monotonic() < end:
    pump(0.05)
# Hang up what is still up (the caller side sends BYE), answer the rest briefly.
for c in pending:
    if c.confirmed:
        c.in_dialog("BYE", 2, "bye")
end = time.monotonic() + 3
while time.monotonic() < end:
    pump(0.05)
sys.exit(0 if len(ok) == calls and not wrong else 1)
