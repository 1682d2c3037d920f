//! Recording taps: a leg that is being recorded decodes what its peer
//! sends (RX) and what the relay sends to its peer (TX), and feeds both to
//! one [`media::recorder::Recorder`] per recording.
//!
//! A tap sees the packets exactly as they cross the leg's socket, so TX is
//! what the party really heard: the bridged party's audio (transcoded or
//! not), silence while muted, music while held. RX is what the party said,
//! as received (also while it is muted: mute decides what the *other* party
//! hears, the recording keeps the call's own audio). Telephone-events,
//! comfort noise and payload types of no known codec are not audio and are
//! skipped: the recorder fills what is missing with silence.
//!
//! Run loop, on the relay worker (see `worker.rs`):
//!
//! ```text
//! RTP accepted on the leg      ─▶ tap.rx(packet, codec)  decode ─▶ resample ─▶ push_rx
//! RTP sent from the leg        ─▶ tap.tx(packet, codec)  decode ─▶ resample ─▶ push_tx
//! every 20 ms (worker timer)   ─▶ tap.tick()            each recorder writes 20 ms,
//!                                                        live stream chunk sent
//! leg closed / stop / error    ─▶ tap.finish...()        final WAV sizes ─▶ RecordingDone
//! ```
//!
//! The file is written through a `BufWriter` on the worker thread: 20 ms of
//! audio is a few hundred bytes, so the system calls are one `write` per
//! 8 KiB and one header patch per second (the recorder's checkpoint), which
//! bounds what a crash loses to the last second.

use super::packet::Header;
use super::LegCodec;
use super::LegId;
use media::codec::{CodecKind, Decoder, Resampler};
use media::recorder::{Channels, Direction, Recorder, RecorderConfig, RecordingSummary};
use media::Frame;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

/// Names one recording (the server uses its UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordingId(pub u128);

/// A live recording stream: chunks of interleaved 16-bit little-endian
/// PCM, one per 20 ms tick, in the recording's layout. Sent only while
/// someone subscribes.
pub type StreamSender = tokio::sync::broadcast::Sender<bytes::Bytes>;

/// What to record on a leg.
#[derive(Debug, Clone)]
pub struct RecordingSpec {
    pub id: RecordingId,
    /// The WAV file to create (it must not exist).
    pub path: PathBuf,
    /// RX (`In`), TX (`Out`) or both (`Both`).
    pub direction: Direction,
    /// Mono (the recorded directions mixed) or stereo (left RX, right TX).
    pub channels: Channels,
    /// Where the live stream goes, if one is wanted.
    pub stream: Option<StreamSender>,
}

/// A recording that started: its sample rate (all frames and the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingStarted {
    pub rate: u32,
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// [`Relay::stop_recording`](super::Relay::stop_recording).
    Stopped,
    /// The leg was closed (the call ended).
    LegClosed,
    /// Writing the file failed (disk full...): the file is valid up to its
    /// last checkpoint.
    WriteError,
    /// The relay shut down.
    Shutdown,
}

/// A recording that ended: its file is complete (or, after a write
/// error, valid up to what `summary` could not promise: see `error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingDone {
    pub id: RecordingId,
    pub leg: LegId,
    pub reason: EndReason,
    pub path: PathBuf,
    /// Frames, duration and file size; `None` when even finishing failed.
    pub summary: Option<RecordingSummary>,
    pub error: Option<String>,
}

/// The recordings of one leg and the decoders that feed them.
#[derive(Debug)]
pub(crate) struct Tap {
    rate: u32,
    rx: Side,
    tx: Side,
    active: Vec<Active>,
}

#[derive(Debug)]
struct Active {
    id: RecordingId,
    path: PathBuf,
    recorder: Recorder<BufWriter<File>>,
    stream: Option<StreamSender>,
    chunk: Vec<u8>,
}

/// The recording rate for a leg's codec: narrowband for G.711 (and
/// unknown codecs), wideband for G.722 and Opus (the relay carries at most
/// wideband audio).
pub(crate) fn rate_for(codec: Option<LegCodec>) -> u32 {
    match codec.map(|c| c.codec) {
        Some(CodecKind::G722 | CodecKind::Opus) => 16_000,
        _ => 8_000,
    }
}

impl Tap {
    pub(crate) fn new(rate: u32) -> Tap {
        Tap {
            rate,
            rx: Side::default(),
            tx: Side::default(),
            active: Vec::new(),
        }
    }

    pub(crate) fn rate(&self) -> u32 {
        self.rate
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Adds a recording whose file is already open.
    pub(crate) fn add(&mut self, spec: RecordingSpec, file: File) -> Result<(), String> {
        let mut config = RecorderConfig::new(self.rate);
        config.direction = spec.direction;
        config.channels = spec.channels;
        config.stream = spec.stream.is_some();
        let recorder = Recorder::new(config, BufWriter::with_capacity(16 * 1024, file))
            .map_err(|e| format!("cannot write the WAV header: {e}"))?;
        self.active.push(Active {
            id: spec.id,
            path: spec.path,
            recorder,
            stream: spec.stream,
            chunk: Vec::new(),
        });
        Ok(())
    }

    /// An RTP packet the leg's peer sent.
    pub(crate) fn rx(&mut self, packet: &[u8], codec: Option<LegCodec>) {
        if let Some(frame) = self.rx.decode(packet, codec, self.rate) {
            for a in &mut self.active {
                // The rate always matches: the side resamples to it.
                let _ = a.recorder.push_rx(frame);
            }
        }
    }

    /// An RTP packet sent to the leg's peer.
    pub(crate) fn tx(&mut self, packet: &[u8], codec: Option<LegCodec>) {
        if let Some(frame) = self.tx.decode(packet, codec, self.rate) {
            for a in &mut self.active {
                let _ = a.recorder.push_tx(frame);
            }
        }
    }

    /// Ends a 20 ms tick: every recording writes it and streams it.
    /// Recordings whose file failed are finished and returned.
    pub(crate) fn tick(&mut self, leg: LegId, done: &mut Vec<RecordingDone>) {
        let mut i = 0;
        while i < self.active.len() {
            let a = &mut self.active[i];
            match a.recorder.tick() {
                Ok(()) => {
                    if let Some(stream) = &a.stream {
                        a.chunk.clear();
                        a.recorder.drain_stream(&mut a.chunk);
                        if stream.receiver_count() > 0 && !a.chunk.is_empty() {
                            let _ = stream.send(bytes::Bytes::copy_from_slice(&a.chunk));
                        }
                    }
                    i += 1;
                }
                Err(e) => {
                    let a = self.active.swap_remove(i);
                    let error = format!("writing {}: {e}", a.path.display());
                    done.push(a.finish(leg, EndReason::WriteError, Some(error)));
                }
            }
        }
    }

    /// Ends one recording; `None` if the tap does not hold it.
    pub(crate) fn finish(
        &mut self,
        leg: LegId,
        id: RecordingId,
        reason: EndReason,
    ) -> Option<RecordingDone> {
        let i = self.active.iter().position(|a| a.id == id)?;
        Some(self.active.swap_remove(i).finish(leg, reason, None))
    }

    /// Ends every recording.
    pub(crate) fn finish_all(&mut self, leg: LegId, reason: EndReason) -> Vec<RecordingDone> {
        self.active
            .drain(..)
            .map(|a| a.finish(leg, reason, None))
            .collect()
    }
}

impl Active {
    fn finish(self, leg: LegId, reason: EndReason, error: Option<String>) -> RecordingDone {
        let Active {
            id, path, recorder, ..
        } = self;
        let (summary, error) = match recorder.finish() {
            Ok((summary, file)) => {
                let flushed = file.map(|f| f.into_inner().map_err(|e| e.into_error()));
                match flushed {
                    Some(Err(e)) => (Some(summary), Some(error.unwrap_or(e.to_string()))),
                    _ => (Some(summary), error),
                }
            }
            Err(e) => (None, Some(error.unwrap_or(e.to_string()))),
        };
        RecordingDone {
            id,
            leg,
            reason,
            path,
            summary,
            error,
        }
    }
}

/// The decoder of one direction and its buffers, reused (also the in-band
/// DTMF detector's, see `inband.rs`).
#[derive(Debug, Default)]
pub(crate) struct Side {
    decoder: Option<Decoder>,
    resampler: Option<Resampler>,
    decoded: Frame,
    resampled: Frame,
}

impl Side {
    /// The audio of `packet` at `rate`, or `None` if it carries none.
    pub(crate) fn decode(
        &mut self,
        packet: &[u8],
        codec: Option<LegCodec>,
        rate: u32,
    ) -> Option<&Frame> {
        let h = Header::parse(packet).ok()?;
        let kind = match codec {
            Some(c) if c.payload_type == h.payload_type => c.codec,
            Some(c) if c.dtmf.is_some_and(|(pt, _)| pt == h.payload_type) => return None,
            _ => CodecKind::from_static_payload_type(h.payload_type)?,
        };
        if self.decoder.as_ref().is_none_or(|d| d.kind() != kind) {
            let decoder = match kind {
                // Opus decodes straight at the recording's rate.
                CodecKind::Opus => Decoder::opus(rate),
                other => Decoder::new(other),
            };
            self.decoder = Some(decoder.ok()?);
        }
        let decoder = self.decoder.as_mut()?;
        decoder
            .decode(&packet[h.payload.0..h.payload.1], &mut self.decoded)
            .ok()?;
        if self.decoded.rate == rate {
            return Some(&self.decoded);
        }
        let from = self.decoded.rate;
        if self
            .resampler
            .as_ref()
            .is_none_or(|r| r.from_rate() != from || r.to_rate() != rate)
        {
            self.resampler = Some(Resampler::new(from, rate).ok()?);
        }
        let resampler = self.resampler.as_mut()?;
        self.resampled.rate = rate;
        self.resampled.samples.clear();
        resampler.process(&self.decoded.samples, &mut self.resampled.samples);
        Some(&self.resampled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::codec::g711;

    fn pcmu_packet(seq: u16, samples: &[i16]) -> Vec<u8> {
        let mut p = vec![0u8; 12];
        super::super::packet::write_header(&mut p, false, 0, seq, u32::from(seq) * 160, 7);
        g711::ulaw_encode_slice(samples, &mut p);
        p
    }

    fn tone(n: usize, amplitude: f64, hz: f64) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16
            })
            .collect()
    }

    fn spec(dir: &std::path::Path, id: u128, channels: Channels) -> (RecordingSpec, File) {
        let path = dir.join(format!("{id}.wav"));
        let file = File::create(&path).unwrap();
        let spec = RecordingSpec {
            id: RecordingId(id),
            path,
            direction: Direction::Both,
            channels,
            stream: None,
        };
        (spec, file)
    }

    #[test]
    fn stereo_recording_puts_rx_left_and_tx_right_and_skips_events() {
        let dir = std::env::temp_dir().join(format!("dialtone-tap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let codec = Some(LegCodec {
            codec: CodecKind::Pcmu,
            payload_type: 0,
            dtmf: Some((101, 8000)),
        });
        let mut tap = Tap::new(rate_for(codec));
        let (s, f) = spec(&dir, 1, Channels::Stereo);
        tap.add(s, f).unwrap();
        let loud = tone(160, 8000.0, 1000.0);
        let mut done = Vec::new();
        for seq in 0..50u16 {
            tap.rx(&pcmu_packet(seq, &loud), codec);
            // A telephone-event on TX is not audio.
            let mut event = vec![0u8; 16];
            super::super::packet::write_header(&mut event, false, 101, seq, 0, 9);
            tap.tx(&event, codec);
            tap.tick(LegId(5), &mut done);
        }
        assert!(done.is_empty());
        let end = tap
            .finish(LegId(5), RecordingId(1), EndReason::Stopped)
            .unwrap();
        assert!(tap.is_empty());
        assert_eq!(end.reason, EndReason::Stopped);
        assert!(end.error.is_none());
        let summary = end.summary.unwrap();
        assert_eq!(summary.duration, std::time::Duration::from_secs(1));
        let bytes = std::fs::read(&end.path).unwrap();
        assert_eq!(summary.bytes, bytes.len() as u64);
        let info = media::wav::parse_header(&bytes).unwrap();
        assert_eq!((info.channels, info.rate), (2, 8000));
        let data = &bytes[media::wav::HEADER_LEN..];
        let samples: Vec<i16> = data
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let left: i64 = samples.iter().step_by(2).map(|&s| i64::from(s).abs()).sum();
        let right: i64 = samples
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&s| i64::from(s).abs())
            .sum();
        assert!(
            left > 1000 * 8000,
            "the caller's tone is on the left: {left}"
        );
        assert_eq!(right, 0, "nothing was sent to the caller but events");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn opus_leg_records_at_16_khz_and_mixes_mono() {
        let dir = std::env::temp_dir().join(format!("dialtone-tap-opus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let codec = Some(LegCodec {
            codec: CodecKind::Opus,
            payload_type: 111,
            dtmf: None,
        });
        let mut tap = Tap::new(rate_for(codec));
        assert_eq!(tap.rate(), 16_000);
        let (s, f) = spec(&dir, 2, Channels::Mono);
        tap.add(s, f).unwrap();
        let mut encoder = media::codec::Encoder::new(CodecKind::Opus).unwrap();
        let frame_len = encoder.frame_samples();
        let rate = encoder.sample_rate();
        let mut payload = Vec::new();
        let mut done = Vec::new();
        for seq in 0..25u16 {
            let samples: Vec<i16> = (0..frame_len)
                .map(|i| {
                    let t = (usize::from(seq) * frame_len + i) as f64 / f64::from(rate);
                    (6000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
                })
                .collect();
            payload.clear();
            encoder
                .encode(&Frame::new(rate, samples), &mut payload)
                .unwrap();
            let mut p = vec![0u8; 12];
            super::super::packet::write_header(&mut p, false, 111, seq, u32::from(seq) * 960, 3);
            p.extend_from_slice(&payload);
            tap.tx(&p, codec);
            tap.tick(LegId(6), &mut done);
        }
        let end = tap
            .finish_all(LegId(6), EndReason::LegClosed)
            .pop()
            .unwrap();
        let bytes = std::fs::read(&end.path).unwrap();
        let decoded = media::wav::decode(&bytes).unwrap();
        assert_eq!(decoded.rate, 16_000);
        assert_eq!(decoded.samples.len(), 25 * 320);
        let energy: i64 = decoded.samples[4000..]
            .iter()
            .map(|&s| i64::from(s).abs())
            .sum();
        assert!(
            energy > 1000 * 4000,
            "the tone sent to the party is recorded: {energy}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
