//! What the call sends: silence, a WAV file (once or looped) or a tone,
//! produced 20 ms at a time at the codec's rate.
//!
//! A WAV file is read and decoded by [`Source::load`], on the caller's
//! side, so a missing or unreadable file is an error before anything
//! changes; the task then resamples it as it plays, in 20 ms pieces, at
//! whatever rate the codec of the moment takes.

use super::util::frame_samples;
use super::{AudioSource, MediaError};
use media::codec::Resampler;
use media::tones::{dbm0_amplitude, Generator, Sine};
use media::Frame;
use std::path::Path;
use std::sync::Arc;

/// Rates a WAV source must be convertible to: those of the codecs.
const CODEC_RATES: [u32; 3] = [8000, 16000, 48000];

/// Highest tone level accepted: a full-scale sine (ITU-T G.711).
const MAX_TONE_DBM0: f64 = 3.17;

/// A source ready to play.
#[derive(Debug)]
pub(super) enum Source {
    Silence,
    Wav(WavSource),
    Tone(ToneSource),
    #[cfg(feature = "device")]
    Device(super::device::Input),
}

/// What producing a frame noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Produced {
    Audio,
    /// A non-looped WAV just reached its end (reported once).
    Finished,
}

impl Source {
    /// Checks and prepares `source`: reads and decodes a WAV file, checks a
    /// tone's frequency and level, opens a device.
    pub(super) fn load(source: AudioSource) -> Result<Source, MediaError> {
        match source {
            AudioSource::Silence => Ok(Source::Silence),
            AudioSource::Wav { path, looped } => WavSource::load(&path, looped).map(Source::Wav),
            AudioSource::Tone { freq_hz, dbm0 } => ToneSource::new(freq_hz, dbm0).map(Source::Tone),
            #[cfg(feature = "device")]
            AudioSource::Device(name) => {
                super::device::Input::open(name.as_deref()).map(Source::Device)
            }
        }
    }

    /// Replaces `out` with the next 20 ms at `rate`.
    pub(super) fn next_frame(&mut self, rate: u32, out: &mut Frame) -> Produced {
        out.rate = rate;
        out.samples.clear();
        out.samples.resize(frame_samples(rate), 0);
        match self {
            Source::Silence => Produced::Audio,
            Source::Wav(wav) => wav.fill(rate, &mut out.samples),
            Source::Tone(tone) => {
                tone.fill(rate, &mut out.samples);
                Produced::Audio
            }
            #[cfg(feature = "device")]
            Source::Device(input) => {
                input.fill(rate, &mut out.samples);
                Produced::Audio
            }
        }
    }
}

/// A decoded WAV file played at the codec's rate.
#[derive(Debug)]
pub(super) struct WavSource {
    /// Mono, at the file's rate.
    audio: Arc<Frame>,
    looped: bool,
    /// Next sample of `audio` to resample.
    pos: usize,
    /// No more input (a non-looped file played to its end).
    exhausted: bool,
    /// `SourceFinished` was reported.
    finished: bool,
    /// File rate to each codec rate, made (and so checked) at load; one
    /// for another output rate is added when first asked for.
    resamplers: Vec<Resampler>,
    /// The one in use, started afresh when the codec's rate changes.
    current: Option<usize>,
    /// Resampled samples not yet played.
    pending: Vec<i16>,
}

impl WavSource {
    fn load(path: &Path, looped: bool) -> Result<WavSource, MediaError> {
        let bytes = std::fs::read(path).map_err(|e| {
            MediaError::Invalid(format!("cannot read the WAV file {}: {e}", path.display()))
        })?;
        let audio = media::wav::decode(&bytes).map_err(|e| {
            MediaError::Invalid(format!("{} is not a usable WAV file: {e}", path.display()))
        })?;
        if audio.samples.is_empty() {
            return Err(MediaError::Invalid(format!(
                "the WAV file {} holds no audio",
                path.display()
            )));
        }
        let resamplers = CODEC_RATES
            .into_iter()
            .map(|rate| {
                Resampler::new(audio.rate, rate).map_err(|_| {
                    MediaError::Invalid(format!(
                        "the WAV file {} is at {} Hz, which cannot be converted to {rate} Hz",
                        path.display(),
                        audio.rate
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WavSource {
            audio: Arc::new(audio),
            looped,
            pos: 0,
            exhausted: false,
            finished: false,
            resamplers,
            current: None,
            pending: Vec::new(),
        })
    }

    fn fill(&mut self, rate: u32, out: &mut [i16]) -> Produced {
        if self
            .current
            .is_none_or(|i| self.resamplers[i].to_rate() != rate)
        {
            self.current = self.resampler_to(rate);
            self.pending.clear();
        }
        let Some(resampler) = self.current.map(|i| &mut self.resamplers[i]) else {
            return Produced::Audio; // silence
        };
        let chunk = frame_samples(self.audio.rate).max(1);
        while self.pending.len() < out.len() && !self.exhausted {
            let samples = &self.audio.samples;
            let end = (self.pos + chunk).min(samples.len());
            resampler.process(&samples[self.pos..end], &mut self.pending);
            self.pos = end;
            if self.pos == samples.len() {
                if self.looped {
                    self.pos = 0;
                } else {
                    self.exhausted = true;
                }
            }
        }
        let n = self.pending.len().min(out.len());
        out[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        if self.exhausted && self.pending.is_empty() && !self.finished {
            self.finished = true;
            return Produced::Finished;
        }
        Produced::Audio
    }

    /// The index of a fresh resampler to `rate` (made at load for every
    /// codec rate).
    fn resampler_to(&mut self, rate: u32) -> Option<usize> {
        match self.resamplers.iter().position(|r| r.to_rate() == rate) {
            Some(i) => {
                self.resamplers[i].reset();
                Some(i)
            }
            None => {
                let resampler = Resampler::new(self.audio.rate, rate).ok()?;
                self.resamplers.push(resampler);
                Some(self.resamplers.len() - 1)
            }
        }
    }
}

/// A sine at a fixed frequency and level, at the codec's rate.
#[derive(Debug)]
pub(super) struct ToneSource {
    freq_hz: f64,
    amplitude: i16,
    sine: Option<Sine>,
}

impl ToneSource {
    fn new(freq_hz: f64, dbm0: f64) -> Result<ToneSource, MediaError> {
        if !freq_hz.is_finite() || freq_hz <= 0.0 || freq_hz >= 24_000.0 {
            return Err(MediaError::Invalid(format!(
                "tone frequency {freq_hz} Hz is not between 0 and 24000 Hz"
            )));
        }
        if !dbm0.is_finite() || dbm0 > MAX_TONE_DBM0 {
            return Err(MediaError::Invalid(format!(
                "tone level {dbm0} dBm0 is above {MAX_TONE_DBM0} dBm0 (full scale)"
            )));
        }
        Ok(ToneSource {
            freq_hz,
            amplitude: dbm0_amplitude(dbm0),
            sine: None,
        })
    }

    fn fill(&mut self, rate: u32, out: &mut [i16]) {
        if f64::from(rate) <= 2.0 * self.freq_hz {
            return; // above the codec's band: silence
        }
        if self.sine.as_ref().is_none_or(|s| s.rate() != rate) {
            self.sine = Some(Sine::new(rate, self.freq_hz, self.amplitude));
        }
        if let Some(sine) = &mut self.sine {
            sine.fill(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::wav::{WavSpec, WavWriter};

    fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
        let file = std::fs::File::create(path).unwrap();
        let mut w = WavWriter::new(file, WavSpec { rate, channels: 1 }).unwrap();
        w.write_samples(samples).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn a_wav_plays_at_the_codec_rate_then_reports_its_end_once() {
        let path = super::super::util::test_dir("source").join("half-second.wav");
        write_wav(&path, 16000, &[1000; 8000]);
        let mut s = Source::load(AudioSource::Wav {
            path,
            looped: false,
        })
        .unwrap();
        let mut frame = Frame::default();
        let mut finished = 0;
        let mut loud = 0;
        for _ in 0..40 {
            if s.next_frame(8000, &mut frame) == Produced::Finished {
                finished += 1;
            }
            assert_eq!(frame.samples.len(), 160);
            loud += frame.samples.iter().filter(|&&x| x > 900).count();
        }
        assert_eq!(finished, 1);
        // 0.5 s at 8 kHz, less the resampler's edges.
        assert!((3900..=4000).contains(&loud), "{loud}");
    }

    #[test]
    fn bad_sources_are_refused_with_the_reason() {
        let err = Source::load(AudioSource::Wav {
            path: "/nonexistent/x.wav".into(),
            looped: true,
        })
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("cannot read the WAV file /nonexistent/x.wav"));
        let path = super::super::util::test_dir("source").join("not.wav");
        std::fs::write(&path, b"hello").unwrap();
        let err = Source::load(AudioSource::Wav { path, looped: true }).unwrap_err();
        assert!(
            err.to_string().contains("is not a usable WAV file"),
            "{err}"
        );
        let err = Source::load(AudioSource::Tone {
            freq_hz: -5.0,
            dbm0: -10.0,
        })
        .unwrap_err();
        assert!(err.to_string().contains("-5 Hz"), "{err}");
    }
}
