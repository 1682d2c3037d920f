#!/usr/bin/env python3
"""The libopus side of tests/codec_libopus.rs, through ctypes (no packages).

  codec_libopus.py version
      prints libopus's version string.
  codec_libopus.py decode RATE [LOST,LOST,...]
      stdin: Opus packets, each a 4-byte little-endian length then the bytes;
      stdout: the decoded mono audio at RATE Hz, 16-bit little-endian. The
      packets numbered LOST (from 0) are treated as lost and rebuilt, 20 ms
      each, from the in-band FEC of the packet after them.
  codec_libopus.py encode RATE BITRATE
      stdin: mono 16-bit little-endian audio at RATE Hz, whole 20 ms frames;
      stdout: one packet per frame, length-prefixed as above. VoIP
      application, in-band FEC on, 10 % expected loss.

Exits with status 77 when libopus.so.0 cannot be loaded, so the Rust test can
skip instead of failing.
"""

import ctypes
import struct
import sys

OPUS_APPLICATION_VOIP = 2048
OPUS_SET_BITRATE_REQUEST = 4002
OPUS_SET_INBAND_FEC_REQUEST = 4012
OPUS_SET_PACKET_LOSS_PERC_REQUEST = 4014


def load():
    try:
        lib = ctypes.CDLL("libopus.so.0")
    except OSError as e:
        print(f"cannot load libopus.so.0: {e}", file=sys.stderr)
        sys.exit(77)
    lib.opus_get_version_string.restype = ctypes.c_char_p
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_decode.restype = ctypes.c_int
    lib.opus_decode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int32,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encoder_create.argtypes = [
        ctypes.c_int32,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.opus_encode.restype = ctypes.c_int32
    lib.opus_encode.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int32,
    ]
    # opus_encoder_ctl is variadic; every request used here takes one int32.
    lib.opus_encoder_ctl.restype = ctypes.c_int
    return lib


def decode(lib, rate, data, lost):
    err = ctypes.c_int(0)
    dec = lib.opus_decoder_create(rate, 1, ctypes.byref(err))
    if err.value != 0 or not dec:
        sys.exit(f"opus_decoder_create({rate}) failed: {err.value}")
    packets = []
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        packets.append(bytes(data[pos + 4 : pos + 4 + n]))
        pos += 4 + n
    max_samples = rate * 120 // 1000
    pcm = (ctypes.c_int16 * max_samples)()
    out = bytearray()
    for i, packet in enumerate(packets):
        if i in lost:
            # Rebuild it from the next packet's FEC, one 20 ms frame.
            following = packets[i + 1] if i + 1 < len(packets) else b""
            got = lib.opus_decode(dec, following or None, len(following), pcm, rate // 50, 1)
        else:
            got = lib.opus_decode(dec, packet, len(packet), pcm, max_samples, 0)
        if got < 0:
            sys.exit(f"opus_decode failed: {got}")
        out += struct.pack(f"<{got}h", *pcm[:got])
    return bytes(out)


def encode(lib, rate, bitrate, data):
    err = ctypes.c_int(0)
    enc = lib.opus_encoder_create(rate, 1, OPUS_APPLICATION_VOIP, ctypes.byref(err))
    if err.value != 0 or not enc:
        sys.exit(f"opus_encoder_create({rate}) failed: {err.value}")
    for request, value in [
        (OPUS_SET_BITRATE_REQUEST, bitrate),
        (OPUS_SET_INBAND_FEC_REQUEST, 1),
        (OPUS_SET_PACKET_LOSS_PERC_REQUEST, 10),
    ]:
        r = lib.opus_encoder_ctl(ctypes.c_void_p(enc), ctypes.c_int(request), ctypes.c_int32(value))
        if r != 0:
            sys.exit(f"opus_encoder_ctl({request}, {value}) failed: {r}")
    frame = rate // 50
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    packet = ctypes.create_string_buffer(4000)
    out = bytearray()
    for start in range(0, len(samples) - frame + 1, frame):
        pcm = (ctypes.c_int16 * frame)(*samples[start : start + frame])
        n = lib.opus_encode(enc, pcm, frame, packet, 4000)
        if n < 0:
            sys.exit(f"opus_encode failed: {n}")
        out += struct.pack("<I", n) + packet.raw[:n]
    return bytes(out)


def main():
    lib = load()
    mode = sys.argv[1]
    if mode == "version":
        print(lib.opus_get_version_string().decode())
        return
    data = sys.stdin.buffer.read()
    rate = int(sys.argv[2])
    if mode == "decode":
        lost = {int(i) for i in sys.argv[3].split(",") if i} if len(sys.argv) > 3 else set()
        result = decode(lib, rate, data, lost)
    elif mode == "encode":
        result = encode(lib, rate, int(sys.argv[3]), data)
    else:
        sys.exit(f"unknown mode {mode}")
    sys.stdout.buffer.write(result)


if __name__ == "__main__":
    main()
