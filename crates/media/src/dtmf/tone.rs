//! DTMF tone generation: the ITU-T Q.23 frequency pair of a digit as
//! 16-bit PCM, for in-band sending and for testing the detector.
//!
//! Oscillators are complex phasors rotated once per sample, so output
//! produced 20 ms at a time is sample-for-sample the output produced in one
//! block (phase-continuous across frames, no clicks at frame edges).

use std::collections::VecDeque;

use super::{dbm0_to_amplitude, Digit, DtmfError};
use crate::Frame;

/// Levels of the two tones of a pair, in dBm0 (see [`dbm0_to_amplitude`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneLevels {
    /// Low-group (row) tone level, dBm0.
    pub low_dbm0: f64,
    /// High-group (column) tone level, dBm0.
    pub high_dbm0: f64,
}

impl Default for ToneLevels {
    /// −8 dBm0 low, −6 dBm0 high: the usual telephone send levels, with the
    /// high group 2 dB stronger (normal twist) to offset line loss.
    fn default() -> ToneLevels {
        ToneLevels {
            low_dbm0: -8.0,
            high_dbm0: -6.0,
        }
    }
}

/// Two summed sines of any frequency and level, phase-continuous across
/// calls to [`DualTone::fill`].
#[derive(Debug, Clone)]
pub struct DualTone {
    rate: u32,
    low: Oscillator,
    high: Oscillator,
}

impl DualTone {
    /// A tone pair at `rate` samples per second: `low_hz` at
    /// `levels.low_dbm0` plus `high_hz` at `levels.high_dbm0`. Both start at
    /// phase 0.
    pub fn new(rate: u32, low_hz: f64, high_hz: f64, levels: ToneLevels) -> DualTone {
        DualTone {
            rate,
            low: Oscillator::new(rate, low_hz, dbm0_to_amplitude(levels.low_dbm0)),
            high: Oscillator::new(rate, high_hz, dbm0_to_amplitude(levels.high_dbm0)),
        }
    }

    /// The Q.23 pair of `digit`.
    pub fn digit(rate: u32, digit: Digit, levels: ToneLevels) -> DualTone {
        let (low, high) = digit.frequencies();
        DualTone::new(rate, low, high, levels)
    }

    /// Samples per second of the output.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Overwrites `out` with the next `out.len()` samples (saturated to the
    /// 16-bit range).
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out.iter_mut() {
            let v = self.low.next() + self.high.next();
            *sample = v.round().clamp(-32_768.0, 32_767.0) as i16;
        }
        self.low.renormalize();
        self.high.renormalize();
    }
}

/// A sine as a unit phasor times an amplitude; each sample rotates the
/// phasor by 2π·f/rate.
#[derive(Debug, Clone)]
struct Oscillator {
    re: f64,
    im: f64,
    step_re: f64,
    step_im: f64,
    amplitude: f64,
}

impl Oscillator {
    fn new(rate: u32, hz: f64, amplitude: f64) -> Oscillator {
        let w = std::f64::consts::TAU * hz / f64::from(rate.max(1));
        Oscillator {
            re: 1.0,
            im: 0.0,
            step_re: w.cos(),
            step_im: w.sin(),
            amplitude,
        }
    }

    /// The current sample, then one step forward.
    fn next(&mut self) -> f64 {
        let out = self.amplitude * self.im;
        let re = self.re * self.step_re - self.im * self.step_im;
        self.im = self.re * self.step_im + self.im * self.step_re;
        self.re = re;
        out
    }

    /// Pulls the phasor back to unit length (rounding drifts it by about
    /// 1e-16 per step; once per block is plenty).
    fn renormalize(&mut self) {
        let norm = (self.re * self.re + self.im * self.im).sqrt();
        if norm > 0.0 {
            self.re /= norm;
            self.im /= norm;
        }
    }
}

/// Plays a queue of digits as tone bursts separated by silence: the
/// in-band counterpart of [`super::EventSender`].
///
/// ```
/// use media::dtmf::{Digit, DtmfGenerator, ToneLevels};
/// let mut generator = DtmfGenerator::new(8000, ToneLevels::default()).unwrap();
/// generator.push(Digit::D5, 100, 50);
/// let mut frame = vec![0i16; 160];
/// generator.fill(&mut frame); // the first 20 ms of the 770 + 1336 Hz pair
/// ```
#[derive(Debug, Clone)]
pub struct DtmfGenerator {
    rate: u32,
    levels: ToneLevels,
    queue: VecDeque<Burst>,
    current: Option<Playing>,
}

/// A digit waiting to play: its tone length and the silence after it, in
/// samples.
#[derive(Debug, Clone, Copy)]
struct Burst {
    digit: Digit,
    tone: usize,
    gap: usize,
}

#[derive(Debug, Clone)]
struct Playing {
    tone: DualTone,
    tone_left: usize,
    gap_left: usize,
}

impl DtmfGenerator {
    /// A generator at `rate` samples per second (8000 to 48000).
    pub fn new(rate: u32, levels: ToneLevels) -> Result<DtmfGenerator, DtmfError> {
        if !(8000..=48_000).contains(&rate) {
            return Err(DtmfError::UnsupportedRate(rate));
        }
        Ok(DtmfGenerator {
            rate,
            levels,
            queue: VecDeque::new(),
            current: None,
        })
    }

    /// Samples per second of the output.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Queues `digit` for `tone_ms` milliseconds followed by `gap_ms` of
    /// silence.
    pub fn push(&mut self, digit: Digit, tone_ms: u32, gap_ms: u32) {
        let samples = |ms: u32| (u64::from(self.rate) * u64::from(ms) / 1000) as usize;
        self.queue.push_back(Burst {
            digit,
            tone: samples(tone_ms),
            gap: samples(gap_ms),
        });
    }

    /// True when every queued digit and its gap has been played.
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    /// Digits not yet fully played: the one playing (tone or gap) and
    /// those queued after it.
    pub fn pending(&self) -> usize {
        self.queue.len() + usize::from(self.current.is_some())
    }

    /// Overwrites `out` with the next samples: tone, gap, next digit, ...,
    /// then silence once the queue is empty.
    pub fn fill(&mut self, mut out: &mut [i16]) {
        while !out.is_empty() {
            if self.current.is_none() {
                let Some(burst) = self.queue.pop_front() else {
                    out.fill(0);
                    return;
                };
                self.current = Some(Playing {
                    tone: DualTone::digit(self.rate, burst.digit, self.levels),
                    tone_left: burst.tone,
                    gap_left: burst.gap,
                });
            }
            let Some(playing) = self.current.as_mut() else {
                return;
            };
            let n = playing.tone_left.min(out.len());
            let (tone, rest) = out.split_at_mut(n);
            playing.tone.fill(tone);
            playing.tone_left -= n;
            out = rest;
            let n = playing.gap_left.min(out.len());
            let (gap, rest) = out.split_at_mut(n);
            gap.fill(0);
            playing.gap_left -= n;
            out = rest;
            if playing.tone_left == 0 && playing.gap_left == 0 {
                self.current = None;
            }
        }
    }

    /// Replaces `frame` with the next 20 ms of output at this generator's
    /// rate (the buffer is reused, so steady-state calls do not allocate).
    pub fn next_frame(&mut self, frame: &mut Frame) {
        frame.rate = self.rate;
        frame.samples.clear();
        frame.samples.resize(self.rate as usize / 50, 0);
        self.fill(&mut frame.samples);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Amplitude of `hz` in `samples` by correlation with a sine and cosine
    /// (a plain DFT bin, for integer numbers of cycles).
    fn amplitude_at(samples: &[i16], rate: u32, hz: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &x) in samples.iter().enumerate() {
            let w = std::f64::consts::TAU * hz * n as f64 / f64::from(rate);
            re += f64::from(x) * w.cos();
            im += f64::from(x) * w.sin();
        }
        2.0 * (re * re + im * im).sqrt() / samples.len() as f64
    }

    #[test]
    fn a_digit_is_its_two_q23_tones_at_the_requested_levels() {
        let levels = ToneLevels {
            low_dbm0: -10.0,
            high_dbm0: -4.0,
        };
        let mut tone = DualTone::digit(8000, Digit::D9, levels);
        // 1 s: every DTMF frequency completes a whole number of cycles.
        let mut out = vec![0; 8000];
        tone.fill(&mut out);
        let low = amplitude_at(&out, 8000, 852.0);
        let high = amplitude_at(&out, 8000, 1477.0);
        assert!(
            (low / dbm0_to_amplitude(-10.0) - 1.0).abs() < 0.002,
            "{low}"
        );
        assert!(
            (high / dbm0_to_amplitude(-4.0) - 1.0).abs() < 0.002,
            "{high}"
        );
        let other = amplitude_at(&out, 8000, 1336.0);
        assert!(other < 1.0, "nothing at the neighbouring column: {other}");
    }

    #[test]
    fn output_in_frames_equals_output_in_one_block() {
        let mut whole = DualTone::digit(16_000, Digit::Hash, ToneLevels::default());
        let mut framed = whole.clone();
        let mut one = vec![0; 3200];
        whole.fill(&mut one);
        let mut pieces = Vec::new();
        for len in [7usize, 320, 1, 1000, 1872] {
            let mut frame = vec![0; len];
            framed.fill(&mut frame);
            pieces.extend_from_slice(&frame);
        }
        assert_eq!(pieces.len(), one.len());
        let worst = one
            .iter()
            .zip(&pieces)
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max();
        assert!(
            worst <= Some(1),
            "phase-continuous across frames: {worst:?}"
        );
    }

    #[test]
    fn a_queue_plays_tone_then_gap_for_each_digit() {
        let mut generator = DtmfGenerator::new(8000, ToneLevels::default()).expect("rate");
        generator.push(Digit::D1, 50, 25);
        generator.push(Digit::D2, 40, 0);
        assert_eq!(generator.pending(), 2);
        let mut out = vec![1i16; 8000];
        let mut frame = Frame::default();
        let mut at = 0;
        while !generator.is_idle() {
            generator.next_frame(&mut frame);
            // The first digit (tone and gap) takes 600 samples.
            let expected = match at + 160 {
                _ if generator.is_idle() => 0,
                end if end < 600 => 2,
                _ => 1,
            };
            assert_eq!(generator.pending(), expected, "after sample {}", at + 160);
            assert_eq!(frame.samples.len(), 160);
            out[at..at + 160].copy_from_slice(&frame.samples);
            at += 160;
        }
        // 400 samples of tone, 200 of silence, 320 of tone, silence after.
        let loud = |range: std::ops::Range<usize>| out[range].iter().any(|&x| x.abs() > 1000);
        assert!(loud(0..400));
        assert!(out[400..600].iter().all(|&x| x == 0), "the gap is silent");
        assert!(loud(600..920));
        assert!(out[920..at].iter().all(|&x| x == 0));
        assert!(amplitude_at(&out[0..400], 8000, 697.0) > 5000.0);
        assert!(amplitude_at(&out[600..920], 8000, 1336.0) > 5000.0);
    }

    #[test]
    fn rates_outside_8_to_48_khz_are_refused() {
        assert_eq!(
            DtmfGenerator::new(4000, ToneLevels::default()).err(),
            Some(DtmfError::UnsupportedRate(4000))
        );
    }
}
