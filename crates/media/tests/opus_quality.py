#!/usr/bin/env python3
"""Quality of our narrowband Opus (PCMU -> Opus in the relay) per encoder
complexity, decoded by opus-rs and by the reference libopus; not run by
`cargo test` (it takes a minute and numpy).

  opus_quality.py SPEECH.wav [COMPLEXITY ...]
      For the speech (any mono WAV, e.g. from espeak-ng) and a 1 kHz tone,
      each prepared by `examples/opus_cost.rs` as a PCMU phone sends it
      (8 kHz, mu-law round trip), and each complexity (default 0..10):
      encodes with our encoder (8 kHz, 32 kbit/s, FEC at 10 % loss), decodes
      with opus-rs at 8 kHz and with libopus at 8 and 48 kHz, and prints
      per decoder
        segSNR  segmental SNR, dB: the mean over 20 ms frames of the
                reference whose level is above -45 dBFS of each frame's
                SNR clamped to [-10, 35] dB, after aligning the codec delay
                (the lag of best cross-correlation, 0-20 ms);
        SNR     plain SNR over the whole aligned signal, dB;
        LSD     log-spectral distance over the same frames, dB (lower is
                better; Hann window, -90 dBFS floor);
        contour the Pearson correlation of the 20 ms RMS envelopes, best
                lag (what crates/dialtone/tests/e2e_phones.rs checks > 0.85);
        PESQ    ITU-T P.862 narrowband MOS-LQO (PyPI `pesq`, if installed);
      and fails (exit 1) if libopus rejects any packet.
  opus_quality.py softphone SPEECH.wav OUT
      writes libopus packets of the speech as a softphone sends them (48 kHz,
      VoIP, voice, 32 kbit/s, FEC at 5 %, complexity 9, a -40 dBFS noise
      floor so it codes full band, as bench/media/payloads.py does), for
      `opus_cost decode OUT 8000`.

Packet files are a 4-byte little-endian length then the packet, as
codec_libopus.py uses. Needs python3 with numpy (and pesq for PESQ), libopus.so.0 and a release
build of the example: cargo build --release -p media --example opus_cost.
"""

import ctypes
import os
import struct
import subprocess
import sys
import tempfile
import wave

import numpy as np

try:
    from pesq import pesq  # ITU-T P.862, PyPI "pesq"
except ImportError:
    pesq = None

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "opus_cost")
sys.path.insert(0, HERE)
import codec_libopus  # noqa: E402  (load(), decode())

OPUS_SET_COMPLEXITY_REQUEST = 4010
OPUS_SET_SIGNAL_REQUEST = 4024
OPUS_SIGNAL_VOICE = 3001


def run(*args):
    return subprocess.run([EXAMPLE, *args], check=True, stdout=subprocess.PIPE).stdout


def pcm(data):
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def packets_of(data):
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def libopus_decode(lib, rate, data):
    """libopus decoding, refusing any packet it rejects (no concealment)."""
    err = ctypes.c_int(0)
    dec = lib.opus_decoder_create(rate, 1, ctypes.byref(err))
    assert err.value == 0 and dec
    buf = (ctypes.c_int16 * (rate * 120 // 1000))()
    out = []
    for i, p in enumerate(packets_of(data)):
        got = lib.opus_decode(dec, p, len(p), buf, len(buf), 0)
        if got != rate // 50:
            raise SystemExit(f"FAIL: libopus at {rate} Hz rejected packet {i} ({len(p)} bytes): {got}")
        out.extend(buf[:got])
    return np.array(out, dtype=np.float64)


def align(ref, out, max_lag):
    """`out` shifted by the lag (0..max_lag) that best matches `ref`."""
    n = min(len(ref), len(out) - max_lag)
    best = max(range(max_lag + 1), key=lambda k: float(np.dot(ref[:n], out[k : k + n])))
    return ref[:n], out[best : best + n], best


def scores(ref, out, rate):
    ref, out, lag = align(ref, out, rate // 50)
    f = rate // 50
    frames = len(ref) // f
    r = ref[: frames * f].reshape(frames, f)
    o = out[: frames * f].reshape(frames, f)
    sig = (r**2).sum(axis=1)
    noise = ((r - o) ** 2).sum(axis=1)
    active = sig / f > (32768 * 10 ** (-45 / 20)) ** 2
    seg = np.clip(10 * np.log10(sig[active] / np.maximum(noise[active], 1e-9)), -10, 35).mean()
    snr = 10 * np.log10((ref**2).sum() / max(((ref - out) ** 2).sum(), 1e-9))
    mos = pesq(rate, ref, out, "nb") if pesq else float("nan")
    return seg, snr, lsd(r[active], o[active]), contour(ref, out, rate), mos, lag


def lsd(r, o):
    """Mean log-spectral distance of frames (Hann window, power floor at
    -90 dBFS), dB."""
    w = np.hanning(r.shape[1])
    floor = (32768 * r.shape[1] * 10 ** (-90 / 20)) ** 2
    pr = np.abs(np.fft.rfft(r * w, axis=1)) ** 2 + floor
    po = np.abs(np.fft.rfft(o * w, axis=1)) ** 2 + floor
    return np.sqrt(((10 * np.log10(pr / po)) ** 2).mean(axis=1)).mean()


def envelope(x, rate):
    f = rate // 50
    n = len(x) // f
    return np.sqrt((x[: n * f].reshape(n, f) ** 2).mean(axis=1))


def contour(ref, out, rate):
    a, b = envelope(ref, rate), envelope(out, rate)
    n = min(len(a), len(b)) - 10
    return max(np.corrcoef(a[:n], b[k : k + n])[0, 1] for k in range(0, 10))


def write_wav(path, rate, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def quality(speech, complexities):
    lib = codec_libopus.load()
    tmp = tempfile.mkdtemp(prefix="opus_quality.")
    tone = os.path.join(tmp, "tone.wav")
    t = np.arange(8000 * 5) / 8000
    write_wav(tone, 8000, np.round(8000 * np.sin(2 * np.pi * 1000 * t)))
    print("signal  cx  kbit/s  decoder      segSNR     SNR    LSD  contour   PESQ  lag")
    for name, wav in [("speech", speech), ("tone", tone)]:
        ref = pcm(run(wav, "pcm", "8000"))
        for c in complexities:
            packets = run(wav, "packets", str(c))
            path = os.path.join(tmp, f"{name}-{c}.pk")
            with open(path, "wb") as f:
                f.write(packets)
            ps = packets_of(packets)
            kbps = sum(map(len, ps)) * 8 / len(ps) / 20
            libopus_decode(lib, 48000, packets)  # must decode cleanly at 48 kHz too
            for dec, out in [
                ("opus-rs 8k", pcm(run(wav, "decode-pcm", path, "8000"))),
                ("libopus 8k", libopus_decode(lib, 8000, packets)),
            ]:
                seg, snr, dist, corr, mos, lag = scores(ref, out, 8000)
                corr = f"{corr:7.4f}" if name == "speech" else "      -"
                print(
                    f"{name:7} {c:2}  {kbps:6.1f}  {dec:11} {seg:7.2f} {snr:7.2f} {dist:6.2f}"
                    f"  {corr}  {mos:5.3f} {lag:4}"
                )
            sys.stdout.flush()


def softphone(speech, out_path):
    lib = codec_libopus.load()
    with wave.open(speech) as w:
        rate, x = w.getframerate(), pcm(w.readframes(w.getnframes()))
    # Linear interpolation to 48 kHz plus a -40 dBFS noise floor (seeded).
    n = int(len(x) * 48000 / rate)
    y = np.interp(np.arange(n) * rate / 48000, np.arange(len(x)), x)
    y += np.random.default_rng(1).normal(0, 0.01 * 32767, n)
    y = np.clip(np.round(y), -32768, 32767).astype("<i2")
    err = ctypes.c_int(0)
    enc = lib.opus_encoder_create(48000, 1, codec_libopus.OPUS_APPLICATION_VOIP, ctypes.byref(err))
    for req, val in [
        (codec_libopus.OPUS_SET_BITRATE_REQUEST, 32000),
        (codec_libopus.OPUS_SET_INBAND_FEC_REQUEST, 1),
        (codec_libopus.OPUS_SET_PACKET_LOSS_PERC_REQUEST, 5),
        (OPUS_SET_COMPLEXITY_REQUEST, 9),
        (OPUS_SET_SIGNAL_REQUEST, OPUS_SIGNAL_VOICE),
    ]:
        assert lib.opus_encoder_ctl(ctypes.c_void_p(enc), ctypes.c_int(req), ctypes.c_int32(val)) == 0
    buf = ctypes.create_string_buffer(4000)
    out, tocs = bytearray(), {}
    for start in range(0, n - 960 + 1, 960):
        frame = (ctypes.c_int16 * 960)(*y[start : start + 960])
        k = lib.opus_encode(enc, frame, 960, buf, 4000)
        assert k > 0
        out += struct.pack("<I", k) + buf.raw[:k]
        tocs[buf.raw[0] >> 3] = tocs.get(buf.raw[0] >> 3, 0) + 1
    with open(out_path, "wb") as f:
        f.write(out)
    print(f"{len(out)} bytes; TOC configs {tocs}")


def main():
    if sys.argv[1] == "softphone":
        softphone(sys.argv[2], sys.argv[3])
    else:
        complexities = [int(c) for c in sys.argv[2:]] or list(range(11))
        quality(sys.argv[1], complexities)


if __name__ == "__main__":
    main()
