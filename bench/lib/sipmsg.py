"""SIP message helpers shared by the bench's Python SIP ends
(bench/switch/media_calls.py, bench/media/transcode_calls.py): just enough
parsing and answering for a load generator on loopback, not a SIP stack."""
import re


def parse(data):
    """(start line, [(lower-case name, value)], body) of a datagram."""
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return lines[0], headers, body


def header(headers, *names):
    """The first value of any of `names` (long and compact forms)."""
    for n, v in headers:
        if n in names:
            return v
    return None


def all_headers(headers, *names):
    return [v for n, v in headers if n in names]


def media_port(body):
    """The first audio port of an SDP body."""
    m = re.search(r"^m=audio (\d+)", body, re.M)
    return int(m.group(1)) if m else None


def respond(sock, addr, headers, code, reason, to_tag=None, body="", contact=None):
    """A response to the request whose `headers` are given (RFC 3261 §8.2.6):
    its Vias, From, To (with `to_tag` added), Call-ID and CSeq; with a body,
    `contact` and an SDP Content-Type."""
    out = [f"SIP/2.0 {code} {reason}"]
    for v in all_headers(headers, "via", "v"):
        out.append(f"Via: {v}")
    out.append(f"From: {header(headers, 'from', 'f')}")
    to = header(headers, "to", "t")
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    out.append(f"To: {to}")
    out.append(f"Call-ID: {header(headers, 'call-id', 'i')}")
    out.append(f"CSeq: {header(headers, 'cseq')}")
    if body:
        out.append(f"Contact: {contact}")
        out.append("Content-Type: application/sdp")
    out.append(f"Content-Length: {len(body.encode())}")
    sock.sendto(("\r\n".join(out) + "\r\n\r\n" + body).encode(), addr)
