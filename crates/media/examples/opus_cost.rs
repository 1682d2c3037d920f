//! Per-frame cost of the pieces of a PCMU <-> Opus call leg, for
//! `valgrind --tool=callgrind` (instruction counts are repeatable on a busy
//! machine, wall-clock times are not). Only the loop in `measured` is
//! counted; setup and a warm-up run outside it.
//!
//! ```text
//! espeak-ng -s 150 -w /tmp/s.wav "Dialtone carries this sentence ..."
//! cargo build --release -p media --example opus_cost
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     --collect-atstart=no --toggle-collect='*measured_loop*' \
//!     target/release/examples/opus_cost /tmp/s.wav encode 5
//! # Ir of the run / the frames it prints = instructions per 20 ms frame
//! ```
//!
//! Cases (SPEECH.wav is any mono WAV; it is resampled to 8 kHz and passed
//! through μ-law, as a G.711 phone would send it):
//!
//! | case | what one frame costs |
//! | --- | --- |
//! | `encode C [BITRATE]` | Opus encode, 8 kHz (NB), 20 ms, VoIP, FEC at 10 % loss, 32 kbit/s unless given, complexity C (`default`: the encoder's default at 8 kHz) |
//! | `decode PACKETS RATE` | Opus decode of a packet stream to RATE Hz (`ours`: our packets at the default complexity; else a file of 4-byte LE length + packet) |
//! | `ulaw-encode`, `ulaw-decode` | G.711 μ-law, 160 samples |
//! | `resample FROM TO` | one 20 ms frame through [`Resampler`] |
//! | `jitter` | one 160-byte packet pushed into and popped from the jitter buffer |
//! | `to-opus C` | the relay's PCMU -> Opus direction: RTP parse, jitter buffer, PCMU decode, Opus encode at complexity C (or `default`), RTP header |
//! | `to-pcmu PACKETS` | the relay's Opus -> PCMU direction: RTP parse, jitter buffer, Opus decode at 8 kHz, PCMU encode, RTP header |
//! | `pcm RATE` | (no measurement) the prepared speech at RATE Hz as raw 16-bit LE on stdout |
//! | `packets C [BITRATE]` | (no measurement) our Opus packets of the speech (complexity C or `default`), length-prefixed, on stdout |
//! | `decode-pcm PACKETS RATE` | (no measurement) opus-rs's decoding of PACKETS at RATE Hz, raw on stdout |

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use media::codec::{CodecKind, Decoder, Encoder, OpusConfig, Resampler, Transcoder};
use media::jitter::{JitterBuffer, JitterConfig, Popped};
use media::rtp::{RtpHeader, RtpPacket};
use media::Frame;

const RATE: u32 = 8000;
const FRAME: usize = 160;
/// Frames run before counting starts (codec and buffer start-up).
const WARM_UP: usize = 25;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: opus_cost SPEECH.wav CASE [ARGS]; see the source");
        std::process::exit(2);
    }
    let speech = prepare(&args[1]);
    let arg = |i: usize| args.get(i).map(String::as_str);
    let num = |i: usize, default: u32| arg(i).map_or(default, |s| s.parse().expect("a number"));
    // A complexity, or `default` (or nothing): the encoder's default at 8 kHz.
    let cx = |i: usize| {
        arg(i)
            .filter(|&s| s != "default")
            .map(|s| s.parse::<u8>().expect("a complexity"))
    };
    let frames: Vec<&[i16]> = speech.chunks_exact(FRAME).collect();
    let n = match args[2].as_str() {
        "encode" => bench_encode(&frames, cx(3), num(4, 32000)),
        "decode" => bench_decode(&packets_from(arg(3), &frames), num(4, RATE)),
        "ulaw-encode" => bench_ulaw_encode(&frames),
        "ulaw-decode" => bench_ulaw_decode(&frames),
        "resample" => bench_resample(&speech, num(3, 8000), num(4, 48000)),
        "jitter" => bench_jitter(&frames),
        "to-opus" => bench_to_opus(&frames, cx(3)),
        "to-pcmu" => bench_to_pcmu(&packets_from(arg(3), &frames)),
        "pcm" => {
            let rate = num(3, RATE);
            let mut out = Vec::new();
            Resampler::new(RATE, rate)
                .expect("a supported rate")
                .process(&speech, &mut out);
            let bytes: Vec<u8> = out.iter().flat_map(|s| s.to_le_bytes()).collect();
            std::io::stdout().write_all(&bytes).expect("stdout");
            return;
        }
        "decode-pcm" => {
            let rate = num(4, RATE);
            let mut d = Decoder::opus(rate).expect("a decoder");
            let mut frame = Frame::default();
            let mut out = Vec::new();
            for p in packets_from(arg(3), &frames) {
                d.decode(&p, &mut frame).expect("decodes");
                out.extend(frame.samples.iter().flat_map(|s| s.to_le_bytes()));
            }
            std::io::stdout().write_all(&out).expect("stdout");
            return;
        }
        "packets" => {
            let mut out = Vec::new();
            for p in encode_all(&frames, cx(3), num(4, 32000)) {
                out.extend_from_slice(&(p.len() as u32).to_le_bytes());
                out.extend_from_slice(&p);
            }
            std::io::stdout().write_all(&out).expect("stdout");
            return;
        }
        other => panic!("unknown case {other}"),
    };
    eprintln!("{} frames measured", n);
}

/// The speech at 8 kHz after a μ-law round trip (what a PCMU phone sends).
fn prepare(path: &str) -> Vec<i16> {
    let wav = media::wav::decode(&std::fs::read(path).expect("read the WAV")).expect("a WAV");
    let mut pcm = Vec::new();
    Resampler::new(wav.rate, RATE)
        .expect("a supported rate")
        .process(&wav.samples, &mut pcm);
    pcm.iter()
        .map(|&s| media::codec::g711::ulaw_decode(media::codec::g711::ulaw_encode(s)))
        .collect()
}

fn opus_config(complexity: Option<u8>, bitrate: u32) -> OpusConfig {
    OpusConfig {
        sample_rate: RATE,
        bitrate,
        fec: true,
        expected_loss_percent: 10,
        complexity,
    }
}

fn encode_all(frames: &[&[i16]], complexity: Option<u8>, bitrate: u32) -> Vec<Vec<u8>> {
    let mut e = Encoder::opus(opus_config(complexity, bitrate)).expect("an encoder");
    frames
        .iter()
        .map(|f| {
            let mut p = Vec::new();
            e.encode(&Frame::new(RATE, f.to_vec()), &mut p)
                .expect("encodes");
            p
        })
        .collect()
}

/// `ours` (or nothing): our complexity 5 packets of the speech; else a
/// length-prefixed packet file.
fn packets_from(source: Option<&str>, frames: &[&[i16]]) -> Vec<Vec<u8>> {
    match source {
        None | Some("ours") => encode_all(frames, None, 32000),
        Some(path) => {
            let bytes = std::fs::read(path).expect("read the packet file");
            let mut rest = &bytes[..];
            let mut packets = Vec::new();
            while rest.len() >= 4 {
                let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                packets.push(rest[4..4 + n].to_vec());
                rest = &rest[4 + n..];
            }
            packets
        }
    }
}

/// Runs `step` for frames `WARM_UP..count`: the only code callgrind counts
/// (`--toggle-collect='*measured_loop*'`). Returns the frames measured, and
/// prints the wall-clock time per frame (only a rough guide on a busy
/// machine: take the least of several runs).
fn measured(count: usize, step: impl FnMut(usize)) -> usize {
    let start = std::time::Instant::now();
    let n = measured_loop(count, step);
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    eprintln!("{:.2} us/frame wall clock", ns / 1000.0);
    n
}

#[inline(never)]
fn measured_loop(count: usize, mut step: impl FnMut(usize)) -> usize {
    for i in WARM_UP..count {
        step(i);
    }
    count - WARM_UP
}

fn warm_up(mut step: impl FnMut(usize)) -> impl FnMut(usize) {
    for i in 0..WARM_UP {
        step(i);
    }
    step
}

fn bench_encode(frames: &[&[i16]], complexity: Option<u8>, bitrate: u32) -> usize {
    let mut e = Encoder::opus(opus_config(complexity, bitrate)).expect("an encoder");
    let mut frame = Frame::new(RATE, Vec::with_capacity(FRAME));
    let mut out = Vec::with_capacity(1500);
    let mut bytes = 0;
    let step = warm_up(|i| {
        frame.samples.clear();
        frame.samples.extend_from_slice(frames[i]);
        out.clear();
        bytes += e.encode(&frame, &mut out).expect("encodes");
    });
    let n = measured(frames.len(), step);
    eprintln!(
        "{:.1} kbit/s",
        bytes as f64 * 8.0 / frames.len() as f64 / 20.0
    );
    n
}

fn bench_decode(packets: &[Vec<u8>], rate: u32) -> usize {
    let mut d = Decoder::opus(rate).expect("a decoder");
    let mut frame = Frame::default();
    let step = warm_up(|i| {
        d.decode(&packets[i], &mut frame).expect("decodes");
        black_box(&frame);
    });
    measured(packets.len(), step)
}

fn bench_ulaw_encode(frames: &[&[i16]]) -> usize {
    let mut e = Encoder::new(CodecKind::Pcmu).expect("an encoder");
    let mut frame = Frame::new(RATE, Vec::with_capacity(FRAME));
    let mut out = Vec::with_capacity(FRAME);
    let step = warm_up(|i| {
        frame.samples.clear();
        frame.samples.extend_from_slice(frames[i]);
        out.clear();
        e.encode(&frame, &mut out).expect("encodes");
        black_box(&out);
    });
    measured(frames.len(), step)
}

fn bench_ulaw_decode(frames: &[&[i16]]) -> usize {
    let payloads = ulaw_payloads(frames);
    let mut d = Decoder::new(CodecKind::Pcmu).expect("a decoder");
    let mut frame = Frame::default();
    let step = warm_up(|i| {
        d.decode(&payloads[i], &mut frame).expect("decodes");
        black_box(&frame);
    });
    measured(payloads.len(), step)
}

fn ulaw_payloads(frames: &[&[i16]]) -> Vec<Vec<u8>> {
    frames
        .iter()
        .map(|f| {
            let mut p = Vec::new();
            media::codec::g711::ulaw_encode_slice(f, &mut p);
            p
        })
        .collect()
}

fn bench_resample(speech: &[i16], from: u32, to: u32) -> usize {
    let mut input = Vec::new();
    Resampler::new(RATE, from)
        .expect("a supported rate")
        .process(speech, &mut input);
    let len = from as usize / 50;
    let chunks: Vec<&[i16]> = input.chunks_exact(len).collect();
    let mut r = Resampler::new(from, to).expect("a supported rate");
    let mut out = Vec::with_capacity(to as usize / 25);
    let step = warm_up(|i| {
        out.clear();
        r.process(chunks[i], &mut out);
        black_box(&out);
    });
    measured(chunks.len(), step)
}

/// RTP packets of `payloads`, 20 ms apart at `clock` Hz.
fn rtp_packets(payloads: &[Vec<u8>], payload_type: u8, clock: u32) -> Vec<Vec<u8>> {
    let step = clock / 50;
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut out = Vec::new();
            RtpHeader {
                payload_type,
                sequence_number: 1000 + i as u16,
                timestamp: 5000 + i as u32 * step,
                ssrc: 0x1234_5678,
                ..RtpHeader::default()
            }
            .write(p, &mut out)
            .expect("a header");
            out
        })
        .collect()
}

fn bench_jitter(frames: &[&[i16]]) -> usize {
    let packets = rtp_packets(&ulaw_payloads(frames), 0, RATE);
    let mut clock = testkit::FakeClock::new();
    let mut jb = JitterBuffer::new(JitterConfig::new(RATE));
    let step = warm_up(|i| {
        let p = RtpPacket::parse(&packets[i]).expect("RTP");
        jb.push(clock.now(), p.sequence_number(), p.timestamp(), p.payload());
        while let Some(out) = jb.pop(clock.now()) {
            black_box(&out);
        }
        clock.advance(Duration::from_millis(20));
    });
    measured(packets.len(), step)
}

/// One direction of a transcoding bridge as `net::rtp` runs it per 20 ms:
/// the packet that arrived is parsed and buffered, the playout tick decodes
/// (or conceals) and re-encodes, and the output gets its RTP header.
fn bench_path(packets: &[Vec<u8>], from: (Decoder, u32), to: (Encoder, u8, u32)) -> usize {
    let (decoder, clock_in) = from;
    let (encoder, payload_type, clock_out) = to;
    let mut t = Transcoder::new(decoder, encoder).expect("a transcoder");
    let mut clock = testkit::FakeClock::new();
    let mut jb = JitterBuffer::new(JitterConfig::new(clock_in));
    let mut payload = Vec::with_capacity(1500);
    let mut packet = Vec::with_capacity(1500);
    let mut seq = 0u16;
    let step = warm_up(|i| {
        let p = RtpPacket::parse(&packets[i]).expect("RTP");
        jb.push(clock.now(), p.sequence_number(), p.timestamp(), p.payload());
        while let Some(out) = jb.pop(clock.now()) {
            match out {
                Popped::Packet { payload, .. } => {
                    if t.handle_payload(payload).is_err() {
                        t.handle_loss();
                    }
                }
                Popped::Missing { .. } => t.handle_loss(),
                Popped::Empty => {}
            }
            payload.clear();
            while t.poll_payload(&mut payload).expect("encodes").is_some() {
                packet.clear();
                RtpHeader {
                    payload_type,
                    sequence_number: seq,
                    timestamp: seq as u32 * clock_out / 50,
                    ssrc: 0x8765_4321,
                    ..RtpHeader::default()
                }
                .write(&payload, &mut packet)
                .expect("a header");
                black_box(&packet);
                seq = seq.wrapping_add(1);
                payload.clear();
            }
        }
        clock.advance(Duration::from_millis(20));
    });
    measured(packets.len(), step)
}

fn bench_to_opus(frames: &[&[i16]], complexity: Option<u8>) -> usize {
    let packets = rtp_packets(&ulaw_payloads(frames), 0, RATE);
    bench_path(
        &packets,
        (Decoder::new(CodecKind::Pcmu).expect("a decoder"), RATE),
        (
            Encoder::opus(opus_config(complexity, 32000)).expect("an encoder"),
            111,
            48000,
        ),
    )
}

fn bench_to_pcmu(payloads: &[Vec<u8>]) -> usize {
    let packets = rtp_packets(payloads, 111, 48000);
    bench_path(
        &packets,
        (Decoder::opus(RATE).expect("a decoder"), 48000),
        (Encoder::new(CodecKind::Pcmu).expect("an encoder"), 0, RATE),
    )
}
