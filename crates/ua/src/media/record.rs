//! The session's recording: `media`'s [`Recorder`] fed each 20 ms slot
//! with what was received (RX) and what was sent (TX), mono, at the
//! codec's decode rate when it started, to a WAV file and/or a stream of
//! PCM 16-bit little-endian chunks.

use super::util::RateAdapter;
use super::{MediaError, RecordMode, RecordOptions};
use media::recorder::{Channels, Direction, NoFile, RecordError, Recorder, RecorderConfig};
use media::Frame;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// A recording's destination, opened on the caller's side.
#[derive(Debug)]
pub(super) struct Target {
    mode: RecordMode,
    path: Option<PathBuf>,
    file: Option<File>,
    stream: Option<mpsc::UnboundedSender<Vec<u8>>>,
}

impl Target {
    /// Creates the file, if any; a recording with neither a file nor a
    /// stream is refused.
    pub(super) fn open(options: RecordOptions) -> Result<Target, MediaError> {
        if options.path.is_none() && options.stream.is_none() {
            return Err(MediaError::Invalid(
                "a recording needs a path, a stream or both".into(),
            ));
        }
        let file = match &options.path {
            Some(path) => Some(File::create(path).map_err(|e| {
                MediaError::Invalid(format!(
                    "cannot create the recording {}: {e}",
                    path.display()
                ))
            })?),
            None => None,
        };
        Ok(Target {
            mode: options.mode,
            path: options.path,
            file,
            stream: options.stream,
        })
    }
}

/// A recording in progress.
#[derive(Debug)]
pub(super) struct Recording {
    mode: RecordMode,
    path: Option<PathBuf>,
    stream: Option<mpsc::UnboundedSender<Vec<u8>>>,
    recorder: Either,
    rx: RateAdapter,
    tx: RateAdapter,
    chunk: Vec<u8>,
}

#[derive(Debug)]
enum Either {
    File(Recorder<BufWriter<File>>),
    Stream(Recorder<NoFile>),
}

/// Calls the same method on either recorder.
macro_rules! each {
    ($either:expr, $r:ident => $body:expr) => {
        match $either {
            Either::File($r) => $body,
            Either::Stream($r) => $body,
        }
    };
}

/// How a recording ended.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) mode: RecordMode,
    pub(super) path: Option<PathBuf>,
    pub(super) duration_ms: u64,
}

impl Recording {
    /// Starts recording `target` at `rate` Hz.
    pub(super) fn start(target: Target, rate: u32) -> Result<Recording, MediaError> {
        let config = RecorderConfig {
            direction: match target.mode {
                RecordMode::Rx => Direction::In,
                RecordMode::Tx => Direction::Out,
                RecordMode::Mix => Direction::Both,
            },
            channels: Channels::Mono,
            stream: target.stream.is_some(),
            ..RecorderConfig::new(rate)
        };
        let recorder = match target.file {
            Some(file) => Either::File(
                Recorder::new(config, BufWriter::new(file))
                    .map_err(|e| MediaError::Invalid(format!("cannot start the recording: {e}")))?,
            ),
            None => Either::Stream(Recorder::stream_only(config)),
        };
        Ok(Recording {
            mode: target.mode,
            path: target.path,
            stream: target.stream,
            recorder,
            rx: RateAdapter::new(rate),
            tx: RateAdapter::new(rate),
            chunk: Vec::new(),
        })
    }

    /// What was received this slot (any number of frames, any rate).
    pub(super) fn push_rx(&mut self, frame: &Frame) -> Result<(), RecordError> {
        let frame = self.rx.convert(frame);
        each!(&mut self.recorder, r => r.push_rx(frame))
    }

    /// What was sent this slot.
    pub(super) fn push_tx(&mut self, frame: &Frame) -> Result<(), RecordError> {
        let frame = self.tx.convert(frame);
        each!(&mut self.recorder, r => r.push_tx(frame))
    }

    /// Ends the slot: 20 ms written, and streamed.
    pub(super) fn tick(&mut self) -> Result<(), RecordError> {
        each!(&mut self.recorder, r => r.tick())?;
        self.send_stream();
        Ok(())
    }

    fn send_stream(&mut self) {
        let Some(stream) = &self.stream else {
            return;
        };
        each!(&mut self.recorder, r => r.drain_stream(&mut self.chunk));
        if !self.chunk.is_empty() && stream.send(std::mem::take(&mut self.chunk)).is_err() {
            // The receiver went away: the file (if any) goes on.
            self.stream = None;
        }
    }

    /// Writes what is queued, streams it, finalizes the file.
    pub(super) fn finish(mut self) -> Result<Finished, (Finished, RecordError)> {
        let flushed = each!(&mut self.recorder, r => r.flush());
        self.send_stream();
        let summary = match self.recorder {
            Either::File(r) => r.finish().map(|(s, _)| s),
            Either::Stream(r) => r.finish().map(|(s, _)| s),
        };
        let duration_ms = summary
            .as_ref()
            .map_or(0, |s| s.duration.as_millis() as u64);
        let finished = Finished {
            mode: self.mode,
            path: self.path,
            duration_ms,
        };
        match flushed.and(summary.map(|_| ())) {
            Ok(()) => Ok(finished),
            Err(e) => Err((finished, e)),
        }
    }
}
