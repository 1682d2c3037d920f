#!/usr/bin/env python3
"""Real audio payloads for bench/media/rtpgen.c, and a check of what came back.

  payloads.py make DIR
      writes 1 s loops (50 packets of 20 ms) as [u16 LE length][bytes],
      CODEC-FREQ.bin for FREQ 1000 and 440 Hz (tones):
        pcmu-FREQ.bin  PCMU (G.711 mu-law)
        pcma-FREQ.bin  PCMA (G.711 A-law)
        opus-nb-FREQ.bin  the same Opus encoder capped at narrowband, as a
                       libopus peer sends when Dialtone's SDP says
                       maxplaybackrate=8000 (RFC 7587)
        opus-FREQ.bin  Opus: libopus (ctypes, libopus.so.0) at
                       48 kHz mono, VoIP application, signal voice,
                       32 kbit/s, in-band FEC (5 % loss expected),
                       complexity 9, as a softphone or WebRTC browser
                       sends speech: hybrid (SILK+CELT) full band; the
                       second second of a 2 s encoding, so the loop
                       starts warm
      Tones at -12 dBFS plus white noise at -40 dBFS (so the signal is full
      band, like a microphone's); 1000 Hz and 440 Hz both fit a whole
      number of periods in 1 s.  Prints the Opus TOC (mode, bandwidth) and
      mean packet size.
  payloads.py check CODEC FILE FREQ
      decodes FILE (payloads as received, same format; CODEC pcmu|pcma|opus)
      and prints "ok" if it is the FREQ tone (Goertzel: FREQ dominates the
      other test tone and the level is within 6 dB of -12 dBFS after the
      first 10 packets), else "bad ..."; exit status 0/1.

Only the standard library and libopus.so.0 (as crates/media/tests/
codec_libopus.py does).
"""
import ctypes
import math
import os
import random
import struct
import sys

RATE = 8000
AMP = 0.25  # -12 dBFS
NOISE = 0.01  # -40 dBFS RMS


def tone(freq, rate, seconds):
    """The tone plus white noise at -40 dBFS (seeded): a full-band signal, so
    the Opus encoder codes full band as it does for speech from a real
    microphone (a pure tone gets a narrower, cheaper mode)."""
    rnd = random.Random(freq)
    n = int(rate * seconds)
    return [max(-32768, min(32767, int(AMP * 32767 * math.sin(2 * math.pi * freq * i / rate)
                                       + rnd.gauss(0, NOISE * 32767)))) for i in range(n)]


# G.711 (ITU-T G.711), the classic table-free encoders/decoders.
def ulaw_enc(x):
    BIAS, CLIP = 0x84, 32635
    sign = 0x80 if x < 0 else 0
    if x < 0:
        x = -x
    x = min(x, CLIP) + BIAS
    exp = 7
    mask = 0x4000
    while exp > 0 and not x & mask:
        exp -= 1
        mask >>= 1
    mant = (x >> (exp + 3)) & 0x0F
    return ~(sign | exp << 4 | mant) & 0xFF


def ulaw_dec(b):
    b = ~b & 0xFF
    t = ((b & 0x0F) << 3) + 0x84
    t <<= (b & 0x70) >> 4
    return (0x84 - t) if b & 0x80 else (t - 0x84)


def alaw_enc(x):
    sign = 0x80 if x >= 0 else 0
    if x < 0:
        x = -x - 1
    x >>= 3  # 13-bit magnitude
    if x < 32:
        v = x >> 1
    else:
        exp = 1
        while x >= 64 and exp < 7:
            x >>= 1
            exp += 1
        v = exp << 4 | (x >> 1) & 0x0F
    return (sign | min(v, 0x7F)) ^ 0x55


def alaw_dec(b):
    b ^= 0x55
    exp = (b & 0x70) >> 4
    mant = b & 0x0F
    t = (mant << 4) + 8
    if exp:
        t = (t + 0x100) << (exp - 1)
    return t if b & 0x80 else -t


def write(path, packets):
    with open(path, "wb") as f:
        for p in packets:
            f.write(struct.pack("<H", len(p)) + p)


def read(path):
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos + 2 <= len(data):
        (n,) = struct.unpack_from("<H", data, pos)
        out.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return out


def g711(enc, freq):
    s = tone(freq, RATE, 1.0)
    return [bytes(enc(v) for v in s[i : i + 160]) for i in range(0, len(s), 160)]


OPUS_APPLICATION_VOIP = 2048
OPUS_SET_BITRATE_REQUEST = 4002
OPUS_SET_COMPLEXITY_REQUEST = 4010
OPUS_SET_INBAND_FEC_REQUEST = 4012
OPUS_SET_PACKET_LOSS_PERC_REQUEST = 4014
OPUS_SET_SIGNAL_REQUEST = 4024
OPUS_SET_MAX_BANDWIDTH_REQUEST = 4004
OPUS_BANDWIDTH_NARROWBAND = 1101
OPUS_BANDWIDTH_FULLBAND = 1105
OPUS_SIGNAL_VOICE = 3001


def libopus():
    lib = ctypes.CDLL("libopus.so.0")
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_encode.restype = ctypes.c_int32
    lib.opus_encode.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int, ctypes.c_char_p, ctypes.c_int32]
    lib.opus_encoder_ctl.restype = ctypes.c_int
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_decode.restype = ctypes.c_int
    lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int16), ctypes.c_int, ctypes.c_int]
    return lib


def opus_packets(freq, max_bandwidth=OPUS_BANDWIDTH_FULLBAND):
    lib = libopus()
    rate = 48000
    err = ctypes.c_int(0)
    enc = lib.opus_encoder_create(rate, 1, OPUS_APPLICATION_VOIP, ctypes.byref(err))
    if err.value or not enc:
        sys.exit(f"opus_encoder_create failed: {err.value}")
    for req, val in [(OPUS_SET_BITRATE_REQUEST, 32000), (OPUS_SET_INBAND_FEC_REQUEST, 1),
                     (OPUS_SET_PACKET_LOSS_PERC_REQUEST, 5), (OPUS_SET_COMPLEXITY_REQUEST, 9),
                     (OPUS_SET_SIGNAL_REQUEST, OPUS_SIGNAL_VOICE),
                     (OPUS_SET_MAX_BANDWIDTH_REQUEST, max_bandwidth)]:
        if lib.opus_encoder_ctl(ctypes.c_void_p(enc), ctypes.c_int(req), ctypes.c_int32(val)):
            sys.exit(f"opus_encoder_ctl({req}) failed")
    s = tone(freq, rate, 2.0)
    frame = rate // 50
    buf = ctypes.create_string_buffer(4000)
    out = []
    for i in range(0, len(s), frame):
        pcm = (ctypes.c_int16 * frame)(*s[i : i + frame])
        n = lib.opus_encode(enc, pcm, frame, buf, 4000)
        if n < 0:
            sys.exit(f"opus_encode failed: {n}")
        out.append(buf.raw[:n])
    return out[50:]


def toc(p):
    config = p[0] >> 3
    if config < 12:
        mode, bw = "SILK", ["NB", "MB", "WB"][config // 4]
    elif config < 16:
        mode, bw = "hybrid", ["SWB", "FB"][(config - 12) // 2]
    else:
        mode, bw = "CELT", ["NB", "WB", "SWB", "FB"][(config - 16) // 4]
    return f"{mode}-{bw}"


def make(d):
    os.makedirs(d, exist_ok=True)
    for freq in (1000, 440):
        write(f"{d}/pcmu-{freq}.bin", g711(ulaw_enc, freq))
        write(f"{d}/pcma-{freq}.bin", g711(alaw_enc, freq))
        for name, bw in (("opus", OPUS_BANDWIDTH_FULLBAND), ("opus-nb", OPUS_BANDWIDTH_NARROWBAND)):
            ops = opus_packets(freq, bw)
            write(f"{d}/{name}-{freq}.bin", ops)
            modes = sorted({toc(p) for p in ops})
            print(f"{name}-{freq}: {len(ops)} packets, {sum(map(len, ops)) / len(ops):.0f} bytes mean, "
                  f"{'/'.join(modes)}, {8 * sum(map(len, ops)) / 1000:.1f} kbit/s")


def goertzel(x, freq, rate):
    w = 2 * math.pi * freq / rate
    c = 2 * math.cos(w)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + c * s1 - s2, s1
    return s1 * s1 + s2 * s2 - c * s1 * s2


def check(codec, path, freq):
    packets = read(path)[10:]
    if not packets:
        print("bad: nothing captured")
        return 1
    if codec == "pcmu":
        rate, pcm = 8000, [ulaw_dec(b) for p in packets for b in p]
    elif codec == "pcma":
        rate, pcm = 8000, [alaw_dec(b) for p in packets for b in p]
    else:
        lib = libopus()
        rate = 48000
        err = ctypes.c_int(0)
        dec = lib.opus_decoder_create(rate, 1, ctypes.byref(err))
        out = (ctypes.c_int16 * 5760)()
        pcm = []
        for p in packets:
            n = lib.opus_decode(dec, p, len(p), out, 5760, 0)
            if n < 0:
                print(f"bad: opus_decode {n}")
                return 1
            pcm += out[:n]
        pcm = pcm[rate // 50 * 5:]  # decoder warm-up
    other = 440 if freq != 440 else 1000
    e_f, e_o = goertzel(pcm, freq, rate), goertzel(pcm, other, rate)
    rms = math.sqrt(sum(v * v for v in pcm) / len(pcm)) / 32768
    level = 20 * math.log10(max(rms, 1e-9))
    expect = 20 * math.log10(AMP / math.sqrt(2))
    ok = e_f > 100 * e_o and abs(level - expect) < 6
    print(f"{'ok' if ok else 'bad'}: {len(packets)} packets, {level:.1f} dBFS, "
          f"{freq} Hz / {other} Hz energy {e_f / max(e_o, 1e-9):.0f}")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        sys.exit(__doc__)
