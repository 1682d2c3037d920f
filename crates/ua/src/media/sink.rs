//! Where received audio goes: nowhere, a WAV file, a sound device.
//!
//! A WAV sink's file is created by [`Sink::open`] on the caller's side (an
//! unwritable path is an error there); its header is written with the rate
//! of the first frame (the codec's decode rate), later frames at another
//! rate are resampled to it. [`WavWriter`] checkpoints the sizes every
//! second, so a killed process leaves a readable file; [`Sink::finish`]
//! writes the final sizes.

use super::util::RateAdapter;
use super::{AudioSink, MediaError};
use media::wav::{WavError, WavSpec, WavWriter};
use media::Frame;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

/// A sink ready to take frames.
#[derive(Debug)]
pub(super) enum Sink {
    Discard,
    Wav(Box<WavSink>),
    #[cfg(feature = "device")]
    Device(super::device::Output),
}

impl Sink {
    /// Opens `sink`: creates a WAV file, opens a device.
    pub(super) fn open(sink: AudioSink) -> Result<Sink, MediaError> {
        match sink {
            AudioSink::Discard => Ok(Sink::Discard),
            AudioSink::Wav(path) => {
                let file = File::create(&path).map_err(|e| {
                    MediaError::Invalid(format!(
                        "cannot create the WAV file {}: {e}",
                        path.display()
                    ))
                })?;
                Ok(Sink::Wav(Box::new(WavSink {
                    path,
                    file: Some(BufWriter::new(file)),
                    writer: None,
                    adapter: None,
                })))
            }
            #[cfg(feature = "device")]
            AudioSink::Device(name) => {
                super::device::Output::open(name.as_deref()).map(Sink::Device)
            }
        }
    }

    /// Takes one frame of received audio.
    pub(super) fn write(&mut self, frame: &Frame) -> Result<(), String> {
        match self {
            Sink::Discard => Ok(()),
            Sink::Wav(wav) => wav
                .write(frame)
                .map_err(|e| format!("writing the WAV sink {}: {e}", wav.path.display())),
            #[cfg(feature = "device")]
            Sink::Device(out) => {
                out.write(frame);
                Ok(())
            }
        }
    }

    /// Finishes the sink (a WAV file gets its final sizes; one that never
    /// got audio is an empty WAV at `rate`).
    pub(super) fn finish(self, rate: u32) -> Result<(), String> {
        match self {
            Sink::Wav(wav) => {
                let path = wav.path.clone();
                (*wav)
                    .finish(rate)
                    .map_err(|e| format!("finishing the WAV sink {}: {e}", path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// A WAV file being written.
#[derive(Debug)]
pub(super) struct WavSink {
    path: PathBuf,
    /// The file until the first frame says the rate.
    file: Option<BufWriter<File>>,
    writer: Option<WavWriter<BufWriter<File>>>,
    adapter: Option<RateAdapter>,
}

impl WavSink {
    fn write(&mut self, frame: &Frame) -> Result<(), WavError> {
        self.start(frame.rate)?;
        let adapter = self
            .adapter
            .get_or_insert_with(|| RateAdapter::new(frame.rate));
        let samples = &adapter.convert(frame).samples;
        match &mut self.writer {
            Some(writer) => writer.write_samples(samples),
            None => Err(WavError::Failed),
        }
    }

    /// Writes the header at `rate` if not done yet.
    fn start(&mut self, rate: u32) -> Result<(), WavError> {
        if self.writer.is_none() {
            let Some(file) = self.file.take() else {
                return Err(WavError::Failed);
            };
            self.writer = Some(WavWriter::new(file, WavSpec { rate, channels: 1 })?);
        }
        Ok(())
    }

    fn finish(mut self, rate: u32) -> Result<(), WavError> {
        self.start(rate)?;
        if let Some(writer) = self.writer.take() {
            writer.finish()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_sink_keeps_its_first_rate_and_is_readable_before_finish() {
        let path = super::super::util::test_dir("sink").join("heard.wav");
        let mut sink = Sink::open(AudioSink::Wav(path.clone())).unwrap();
        for _ in 0..60 {
            sink.write(&Frame::new(8000, vec![100; 160])).unwrap();
        }
        // Checkpointed after a second: readable as it is (a crash now).
        let partial = media::wav::decode(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!((partial.rate, partial.samples.len()), (8000, 8000));
        sink.write(&Frame::new(16000, vec![100; 320])).unwrap();
        sink.finish(8000).unwrap();
        let all = media::wav::decode(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(all.samples.len(), 61 * 160);

        let err = Sink::open(AudioSink::Wav("/nonexistent/dir/x.wav".into())).unwrap_err();
        assert!(err
            .to_string()
            .contains("cannot create the WAV file /nonexistent/dir/x.wav"));
        let empty = super::super::util::test_dir("sink").join("empty.wav");
        Sink::open(AudioSink::Wav(empty.clone()))
            .unwrap()
            .finish(16000)
            .unwrap();
        let f = media::wav::decode(&std::fs::read(&empty).unwrap()).unwrap();
        assert_eq!((f.rate, f.samples.len()), (16000, 0));
    }
}
