//! Call recording, sans-IO: a call's media pushes what it heard and what it
//! sent each 20 ms tick; the recorder aligns the two directions, mixes or
//! interleaves them, and writes a crash-safe WAV through
//! [`WavWriter`](crate::wav::WavWriter) and/or a live PCM stream the caller
//! drains.
//!
//! The two directions, seen from Dialtone on one call leg:
//!
//! - **RX** ([`Recorder::push_rx`]): what the leg's remote party said, as
//!   Dialtone received it (on an inbound call leg: the caller).
//! - **TX** ([`Recorder::push_tx`]): what Dialtone sent to that party (the
//!   bridged party, prompts, music on hold).
//!
//! The seed's recording modes RX / TX / MIX are [`Direction::In`] /
//! [`Direction::Out`] / [`Direction::Both`]. In [`Channels::Stereo`] the
//! left channel is always RX (the remote party of the leg) and the right
//! channel TX (what that party heard), whatever the direction; a direction
//! not recorded leaves its channel silent.
//!
//! Run loop, once per tick (the I/O layer's 20 ms media timer):
//!
//! ```text
//! rec.push_rx(&decoded_from_jitter_buffer)?;   // if a frame came out
//! rec.push_tx(&frame_sent_to_the_party)?;      // if one was sent
//! rec.tick()?;                                  // writes exactly 20 ms
//! rec.drain_stream(&mut websocket_buf);        // if streaming
//! ```
//!
//! A side that produced nothing this tick (packet loss, muted, nothing
//! sent) is filled with silence, so both channels stay aligned with wall
//! time: after N ticks the recording lasts N x 20 ms. Frames must all be at
//! the rate given at creation; resampling is the caller's job.

use std::io::{self, Seek, SeekFrom, Write};
use std::time::Duration;

use crate::mixer::{saturate, RateMismatch};
use crate::wav::{self, WavError, WavSpec, WavWriter, HEADER_LEN};
use crate::Frame;

/// Length of one recorder tick.
pub const TICK_MS: u32 = 20;

/// Most audio a direction may queue ahead of the ticks (pushed faster than
/// ticked); beyond it the oldest samples are dropped and counted.
pub const MAX_BACKLOG_TICKS: usize = 5;

/// Which directions a recording holds (the seed's RX / TX / MIX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// RX only: what the remote party said.
    In,
    /// TX only: what was sent to the remote party.
    Out,
    /// Both directions.
    Both,
}

/// Channel layout of the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// One channel: the recorded direction, or RX + TX mixed with saturation.
    Mono,
    /// Two channels: left = RX (the remote party), right = TX (what it heard).
    Stereo,
}

impl Channels {
    /// Number of interleaved channels.
    pub fn count(self) -> u16 {
        match self {
            Channels::Mono => 1,
            Channels::Stereo => 2,
        }
    }
}

/// How to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Sample rate of every pushed frame and of the file (Hz).
    pub rate: u32,
    /// Directions recorded.
    pub direction: Direction,
    /// Mono mix or stereo RX/TX.
    pub channels: Channels,
    /// Also keep each tick's interleaved PCM 16-bit little-endian bytes for
    /// [`Recorder::drain_stream`].
    pub stream: bool,
    /// Most stream bytes held for the caller; a tick that would exceed it is
    /// dropped from the stream (not from the file) and counted.
    pub stream_capacity: usize,
}

impl RecorderConfig {
    /// Both directions mixed to mono at `rate`, no stream (room for 5 s of
    /// stream if it is turned on).
    pub fn new(rate: u32) -> RecorderConfig {
        RecorderConfig {
            rate,
            direction: Direction::Both,
            channels: Channels::Mono,
            stream: false,
            stream_capacity: rate as usize * 2 * 2 * 5,
        }
    }

    /// The WAV shape this configuration writes.
    pub fn spec(&self) -> WavSpec {
        WavSpec {
            rate: self.rate,
            channels: self.channels.count(),
        }
    }

    fn records_rx(&self) -> bool {
        self.direction != Direction::Out
    }

    fn records_tx(&self) -> bool {
        self.direction != Direction::In
    }
}

/// Why a recording operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Writing the file failed (the file stays valid up to its last
    /// checkpoint; stop the recording).
    #[error(transparent)]
    Wav(#[from] WavError),
    /// A pushed frame is not at the recording's rate; it was ignored.
    #[error("recording: {0}")]
    RateMismatch(#[from] RateMismatch),
}

/// What a finished recording holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Sample frames recorded (samples per channel).
    pub frames: u64,
    /// `frames / rate`.
    pub duration: Duration,
    /// Size of the WAV file in bytes (0 for a stream-only recording).
    pub bytes: u64,
    /// Samples dropped because a direction was pushed faster than ticked.
    pub overflow_samples: u64,
    /// Stream bytes dropped because the caller did not drain in time.
    pub stream_dropped_bytes: u64,
}

/// Writer type of a stream-only recording ([`Recorder::stream_only`]); it is
/// never written to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoFile;

impl Write for NoFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for NoFile {
    fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
        Ok(0)
    }
}

/// One recording of one call leg (module docs for the directions and the
/// run loop). Buffers are reused: after the first ticks nothing allocates.
#[derive(Debug)]
pub struct Recorder<W: Write + Seek = NoFile> {
    config: RecorderConfig,
    tick_samples: usize,
    writer: Option<WavWriter<W>>,
    /// RX samples pushed and not yet written.
    rx: Vec<i16>,
    /// TX samples pushed and not yet written.
    tx: Vec<i16>,
    /// Interleaved output of one tick.
    out: Vec<i16>,
    stream: Vec<u8>,
    frames: u64,
    overflow_samples: u64,
    stream_dropped_bytes: u64,
}

impl<W: Write + Seek> Recorder<W> {
    /// Starts a recording into `file` (the WAV header is written now).
    pub fn new(config: RecorderConfig, file: W) -> Result<Recorder<W>, RecordError> {
        let writer = WavWriter::new(file, config.spec())?;
        Ok(Recorder::with_writer(config, Some(writer)))
    }

    fn with_writer(config: RecorderConfig, writer: Option<WavWriter<W>>) -> Recorder<W> {
        Recorder {
            config,
            tick_samples: (config.rate * TICK_MS / 1000) as usize,
            writer,
            rx: Vec::new(),
            tx: Vec::new(),
            out: Vec::new(),
            stream: Vec::new(),
            frames: 0,
            overflow_samples: 0,
            stream_dropped_bytes: 0,
        }
    }

    /// Queues what the remote party said (RX) for the current tick. Ignored
    /// (after the rate check) when RX is not recorded.
    pub fn push_rx(&mut self, frame: &Frame) -> Result<(), RecordError> {
        self.check_rate(frame)?;
        if self.config.records_rx() {
            self.overflow_samples += queue(&mut self.rx, frame, self.tick_samples);
        }
        Ok(())
    }

    /// Queues what was sent to the remote party (TX) for the current tick.
    /// Ignored (after the rate check) when TX is not recorded.
    pub fn push_tx(&mut self, frame: &Frame) -> Result<(), RecordError> {
        self.check_rate(frame)?;
        if self.config.records_tx() {
            self.overflow_samples += queue(&mut self.tx, frame, self.tick_samples);
        }
        Ok(())
    }

    fn check_rate(&self, frame: &Frame) -> Result<(), RecordError> {
        if frame.rate != self.config.rate && !frame.samples.is_empty() {
            return Err(RateMismatch {
                expected: self.config.rate,
                got: frame.rate,
            }
            .into());
        }
        Ok(())
    }

    /// Ends the current tick: writes exactly [`TICK_MS`] of audio, taking
    /// what each direction queued and filling the rest with silence.
    pub fn tick(&mut self) -> Result<(), RecordError> {
        self.emit(self.tick_samples)
    }

    /// Writes `n` sample frames from the queues (silence where short).
    fn emit(&mut self, n: usize) -> Result<(), RecordError> {
        let rx = &self.rx[..n.min(self.rx.len())];
        let tx = &self.tx[..n.min(self.tx.len())];
        let at = |side: &[i16], k: usize| side.get(k).copied().unwrap_or(0);
        self.out.clear();
        match self.config.channels {
            Channels::Mono => self.out.extend((0..n).map(|k| {
                // The queue of a direction not recorded stays empty.
                saturate(i32::from(at(rx, k)) + i32::from(at(tx, k)))
            })),
            Channels::Stereo => self.out.extend((0..n).flat_map(|k| [at(rx, k), at(tx, k)])),
        }
        let (rx_used, tx_used) = (rx.len(), tx.len());
        self.rx.drain(..rx_used);
        self.tx.drain(..tx_used);
        self.frames += n as u64;
        if self.config.stream {
            let bytes = self.out.len() * 2;
            if self.stream.len() + bytes > self.config.stream_capacity {
                self.stream_dropped_bytes += bytes as u64;
            } else {
                self.stream
                    .extend(self.out.iter().flat_map(|s| s.to_le_bytes()));
            }
        }
        if let Some(writer) = &mut self.writer {
            writer.write_samples(&self.out)?;
        }
        Ok(())
    }

    /// Moves the stream bytes produced since the last call (interleaved PCM
    /// 16-bit little-endian, layout of [`RecorderConfig::spec`]) to the end
    /// of `out`; returns how many. Always 0 when streaming is off.
    pub fn drain_stream(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.stream.len();
        out.extend_from_slice(&self.stream);
        self.stream.clear();
        n
    }

    /// A WAV header for the stream with both sizes [`wav::UNKNOWN_SIZE`]: a
    /// consumer that wants a WAV file sends this first (as the seed's
    /// recording streams do) and patches the sizes, or runs
    /// [`wav::repair`], once the stream ends.
    pub fn stream_header(&self) -> [u8; HEADER_LEN] {
        wav::header(self.config.spec(), None)
    }

    /// Patches the file's sizes now (the writer also does it every second
    /// on its own).
    pub fn checkpoint(&mut self) -> Result<(), RecordError> {
        if let Some(writer) = &mut self.writer {
            writer.checkpoint()?;
        }
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &RecorderConfig {
        &self.config
    }

    /// Sample frames recorded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Audio recorded so far.
    pub fn duration(&self) -> Duration {
        let rate = u64::from(self.config.rate.max(1));
        Duration::from_nanos(self.frames * 1_000_000_000 / rate)
    }

    /// WAV bytes written so far, header included (0 when stream-only).
    pub fn bytes(&self) -> u64 {
        self.writer.as_ref().map_or(0, WavWriter::bytes)
    }

    /// Writes what is still queued now (less than a tick unless a
    /// direction ran ahead), to the file and to the stream, so that a last
    /// [`drain_stream`](Self::drain_stream) before [`finish`](Self::finish)
    /// gets everything the file holds.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        let pending = self.rx.len().max(self.tx.len());
        if pending > 0 {
            self.emit(pending)?;
        }
        Ok(())
    }

    /// Writes what is still queued (less than a tick unless a direction ran
    /// ahead), patches the final sizes, and returns the summary and the file
    /// writer (None when stream-only) so the caller can close or hash it.
    /// A last [`drain_stream`](Self::drain_stream) is not possible after
    /// this: drain before finishing.
    pub fn finish(mut self) -> Result<(RecordingSummary, Option<W>), RecordError> {
        self.flush()?;
        let (bytes, file) = match self.writer.take() {
            Some(writer) => {
                let (summary, file) = writer.finish()?;
                (summary.bytes, Some(file))
            }
            None => (0, None),
        };
        let summary = RecordingSummary {
            frames: self.frames,
            duration: self.duration(),
            bytes,
            overflow_samples: self.overflow_samples,
            stream_dropped_bytes: self.stream_dropped_bytes,
        };
        Ok((summary, file))
    }
}

impl Recorder<NoFile> {
    /// A recording that only feeds [`drain_stream`](Self::drain_stream)
    /// (the seed's recording stream); `config.stream` is forced on.
    pub fn stream_only(mut config: RecorderConfig) -> Recorder<NoFile> {
        config.stream = true;
        Recorder::with_writer(config, None)
    }
}

/// Appends `frame` to `queue`, keeping at most [`MAX_BACKLOG_TICKS`] ticks;
/// returns how many of the oldest samples were dropped.
fn queue(queue: &mut Vec<i16>, frame: &Frame, tick_samples: usize) -> u64 {
    queue.extend_from_slice(&frame.samples);
    let cap = tick_samples * MAX_BACKLOG_TICKS;
    if queue.len() > cap {
        let excess = queue.len() - cap;
        queue.drain(..excess);
        excess as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tones::{goertzel_amplitude, Generator, Sine};
    use std::io::Cursor;

    const RATE: u32 = 8000;

    fn config(direction: Direction, channels: Channels) -> RecorderConfig {
        RecorderConfig {
            direction,
            channels,
            ..RecorderConfig::new(RATE)
        }
    }

    /// Records `ticks` ticks, RX = a 440 Hz tone when `rx`, TX = a 1 kHz
    /// tone when `tx`, and returns the WAV bytes.
    fn record(cfg: RecorderConfig, ticks: usize, rx: bool, tx: bool) -> Vec<u8> {
        let mut rec = Recorder::new(cfg, Cursor::new(Vec::new())).unwrap();
        let mut rx_tone = Sine::new(RATE, 440.0, 8000);
        let mut tx_tone = Sine::new(RATE, 1000.0, 8000);
        let mut frame = Frame::default();
        for _ in 0..ticks {
            if rx {
                rx_tone.next_frame(&mut frame);
                rec.push_rx(&frame).unwrap();
            }
            if tx {
                tx_tone.next_frame(&mut frame);
                rec.push_tx(&frame).unwrap();
            }
            rec.tick().unwrap();
        }
        let (summary, file) = rec.finish().unwrap();
        let bytes = file.unwrap().into_inner();
        assert_eq!(summary.bytes, bytes.len() as u64);
        bytes
    }

    /// (left, right) channels of a stereo 16-bit file.
    fn split_stereo(wav: &[u8]) -> (Vec<i16>, Vec<i16>) {
        let info = wav::parse_header(wav).unwrap();
        assert_eq!((info.channels, info.bits, info.rate), (2, 16, RATE));
        let data = &wav[info.data_offset..info.data_offset + info.data_len];
        let s: Vec<i16> = data
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        (
            s.iter().step_by(2).copied().collect(),
            s.iter().skip(1).step_by(2).copied().collect(),
        )
    }

    #[test]
    fn stereo_puts_rx_left_and_tx_right() {
        let both = config(Direction::Both, Channels::Stereo);
        let (left, right) = split_stereo(&record(both, 50, true, false));
        assert_eq!(left.len(), 8000);
        assert!(goertzel_amplitude(&left, RATE, 440.0) > 7000.0);
        assert!(right.iter().all(|&s| s == 0), "TX channel silent");

        let (left, right) = split_stereo(&record(both, 50, false, true));
        assert!(goertzel_amplitude(&right, RATE, 1000.0) > 7000.0);
        assert!(left.iter().all(|&s| s == 0), "RX channel silent");

        let (left, right) = split_stereo(&record(both, 50, true, true));
        assert!(goertzel_amplitude(&left, RATE, 1000.0) < 100.0);
        assert!(goertzel_amplitude(&right, RATE, 440.0) < 100.0);
    }

    #[test]
    fn mono_mix_holds_both_directions() {
        let wav = record(config(Direction::Both, Channels::Mono), 50, true, true);
        let f = wav::decode(&wav).unwrap();
        assert_eq!(f.samples.len(), 8000);
        assert!(goertzel_amplitude(&f.samples, RATE, 440.0) > 7000.0);
        assert!(goertzel_amplitude(&f.samples, RATE, 1000.0) > 7000.0);
        assert!(goertzel_amplitude(&f.samples, RATE, 700.0) < 500.0);
    }

    #[test]
    fn one_direction_recordings_hold_only_that_direction() {
        let f = wav::decode(&record(
            config(Direction::In, Channels::Mono),
            50,
            true,
            true,
        ))
        .unwrap();
        assert!(goertzel_amplitude(&f.samples, RATE, 440.0) > 7000.0);
        assert!(goertzel_amplitude(&f.samples, RATE, 1000.0) < 100.0);
        let f = wav::decode(&record(
            config(Direction::Out, Channels::Mono),
            50,
            true,
            true,
        ))
        .unwrap();
        assert!(goertzel_amplitude(&f.samples, RATE, 440.0) < 100.0);
        assert!(goertzel_amplitude(&f.samples, RATE, 1000.0) > 7000.0);
        // Stereo RX-only: the TX channel stays silent even though TX was pushed.
        let (left, right) = split_stereo(&record(
            config(Direction::In, Channels::Stereo),
            50,
            true,
            true,
        ));
        assert!(goertzel_amplitude(&left, RATE, 440.0) > 7000.0);
        assert!(right.iter().all(|&s| s == 0));
    }

    #[test]
    fn gaps_are_silence_and_keep_both_channels_aligned_with_the_ticks() {
        let mut rec = Recorder::new(
            config(Direction::Both, Channels::Stereo),
            Cursor::new(Vec::new()),
        )
        .unwrap();
        // Tick k carries the value k on each side that sent something:
        // RX misses every third tick, TX sends only on even ticks, and
        // ticks 40..45 have nothing at all.
        let ticks = 60;
        for k in 0..ticks {
            let frame = Frame::new(RATE, vec![k as i16 + 1; 160]);
            if k % 3 != 0 && !(40..45).contains(&k) {
                rec.push_rx(&frame).unwrap();
            }
            if k % 2 == 0 && !(40..45).contains(&k) {
                rec.push_tx(&frame).unwrap();
            }
            rec.tick().unwrap();
        }
        assert_eq!(rec.duration(), Duration::from_millis(20 * ticks as u64));
        let (summary, file) = rec.finish().unwrap();
        assert_eq!(summary.frames, 160 * ticks as u64);
        let (left, right) = split_stereo(&file.unwrap().into_inner());
        assert_eq!(left.len(), 160 * ticks);
        for k in 0..ticks {
            let silent = (40..45).contains(&k);
            let l = if k % 3 != 0 && !silent {
                k as i16 + 1
            } else {
                0
            };
            let r = if k % 2 == 0 && !silent {
                k as i16 + 1
            } else {
                0
            };
            assert!(
                left[k * 160..(k + 1) * 160].iter().all(|&s| s == l),
                "left tick {k}"
            );
            assert!(
                right[k * 160..(k + 1) * 160].iter().all(|&s| s == r),
                "right tick {k}"
            );
        }
    }

    #[test]
    fn mono_mix_saturates() {
        let mut rec = Recorder::new(RecorderConfig::new(RATE), Cursor::new(Vec::new())).unwrap();
        rec.push_rx(&Frame::new(RATE, vec![30_000; 160])).unwrap();
        rec.push_tx(&Frame::new(RATE, vec![30_000; 160])).unwrap();
        rec.tick().unwrap();
        let (_, file) = rec.finish().unwrap();
        let f = wav::decode(&file.unwrap().into_inner()).unwrap();
        assert_eq!(f.samples, vec![i16::MAX; 160]);
    }

    #[test]
    fn frames_at_another_rate_are_refused() {
        let mut rec = Recorder::new(RecorderConfig::new(RATE), Cursor::new(Vec::new())).unwrap();
        let err = rec.push_rx(&Frame::silence(16_000, 20)).unwrap_err();
        assert!(matches!(
            err,
            RecordError::RateMismatch(RateMismatch {
                expected: 8000,
                got: 16_000
            })
        ));
        rec.push_tx(&Frame::default()).unwrap();
        rec.tick().unwrap();
        assert_eq!(rec.frames(), 160);
    }

    #[test]
    fn stream_carries_the_same_pcm_as_the_file() {
        let cfg = RecorderConfig {
            stream: true,
            ..config(Direction::Both, Channels::Stereo)
        };
        let mut rec = Recorder::new(cfg, Cursor::new(Vec::new())).unwrap();
        let mut streamed = rec.stream_header().to_vec();
        let mut tone = Sine::new(RATE, 600.0, 5000);
        let mut frame = Frame::default();
        for k in 0..30 {
            tone.next_frame(&mut frame);
            rec.push_rx(&frame).unwrap();
            rec.tick().unwrap();
            if k % 4 == 0 {
                rec.drain_stream(&mut streamed);
            }
        }
        rec.drain_stream(&mut streamed);
        assert_eq!(rec.drain_stream(&mut streamed), 0);
        let (_, file) = rec.finish().unwrap();
        let file = file.unwrap().into_inner();
        assert_eq!(streamed[HEADER_LEN..], file[HEADER_LEN..]);
        // The streamed header says "size unknown"; the reader reads to the end.
        assert_eq!(wav::decode(&streamed).unwrap(), wav::decode(&file).unwrap());
    }

    #[test]
    fn stream_only_recording_and_stream_capacity() {
        let cfg = RecorderConfig {
            stream_capacity: 3 * 320,
            ..RecorderConfig::new(RATE)
        };
        let mut rec = Recorder::stream_only(cfg);
        for _ in 0..5 {
            rec.push_rx(&Frame::new(RATE, vec![7; 160])).unwrap();
            rec.tick().unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(rec.drain_stream(&mut out), 3 * 320);
        assert!(out
            .chunks_exact(2)
            .all(|b| i16::from_le_bytes([b[0], b[1]]) == 7));
        let (summary, file) = rec.finish().unwrap();
        assert!(file.is_none());
        assert_eq!(summary.bytes, 0);
        assert_eq!(summary.frames, 5 * 160);
        assert_eq!(summary.stream_dropped_bytes, 2 * 320);
    }

    #[test]
    fn a_direction_running_ahead_is_bounded_and_finish_flushes_the_rest() {
        let mut rec = Recorder::new(RecorderConfig::new(RATE), Cursor::new(Vec::new())).unwrap();
        for k in 0..8 {
            rec.push_rx(&Frame::new(RATE, vec![k; 160])).unwrap();
        }
        rec.tick().unwrap();
        let (summary, file) = rec.finish().unwrap();
        assert_eq!(summary.overflow_samples, 3 * 160);
        assert_eq!(summary.frames, 5 * 160);
        let f = wav::decode(&file.unwrap().into_inner()).unwrap();
        // The three oldest frames were dropped; 3..8 were written in order.
        let expect: Vec<i16> = (3..8).flat_map(|k| [k; 160]).collect();
        assert_eq!(f.samples, expect);
    }

    #[test]
    fn flush_puts_what_is_queued_in_the_stream_before_finish() {
        let config = RecorderConfig {
            stream: true,
            ..RecorderConfig::new(RATE)
        };
        let mut rec = Recorder::new(config, Cursor::new(Vec::new())).unwrap();
        rec.push_rx(&Frame::new(RATE, vec![5; 400])).unwrap();
        rec.tick().unwrap();
        rec.flush().unwrap();
        let mut out = Vec::new();
        assert_eq!(rec.drain_stream(&mut out), 400 * 2);
        let (summary, file) = rec.finish().unwrap();
        assert_eq!(summary.frames, 400);
        let f = wav::decode(&file.unwrap().into_inner()).unwrap();
        assert_eq!(f.samples.len() * 2, out.len(), "the stream holds the file");
    }
}
