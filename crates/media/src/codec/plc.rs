//! Packet loss concealment for codecs without their own (G.711, G.722):
//! pitch-period repetition with fade, after the idea of ITU-T G.711
//! Appendix I.
//!
//! - The decoder keeps the last 30 ms it played.
//! - On the first lost frame it finds the pitch period (2.5 to 15 ms) that
//!   best predicts the last 15 ms (normalized autocorrelation) and plays that
//!   period over and over, the end of the period blended into the samples
//!   before it so the loop has no step.
//! - The first 10 ms play at full level, then the level falls linearly by
//!   20 % per 10 ms, reaching silence after 60 ms of loss.
//! - When packets come back, the first good frame is cross-faded from the
//!   concealment over 4 ms per lost frame, 10 ms at most.
//!
//! Nothing allocates after construction.

/// Pitch-repetition concealer for one decoder; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct WaveformPlc {
    /// Last `history.len()` samples played, oldest first.
    history: Vec<i16>,
    /// One pitch period of the signal, looped while concealing.
    period: Vec<i16>,
    /// Next index into `period`.
    position: usize,
    /// Samples concealed in the current loss run (0 when not concealing).
    concealed: usize,
    /// Frames concealed in the current loss run.
    lost_frames: u32,
    /// Sample rate in Hz.
    rate: u32,
}

impl WaveformPlc {
    /// A concealer for audio at `rate` Hz (8000 or 16000 in practice).
    pub(crate) fn new(rate: u32) -> WaveformPlc {
        let ms = |n: u32| (rate * n / 1000) as usize;
        WaveformPlc {
            history: vec![0; ms(30)],
            period: Vec::with_capacity(ms(15)),
            position: 0,
            concealed: 0,
            lost_frames: 0,
            rate,
        }
    }

    fn ms(&self, n: u32) -> usize {
        (self.rate * n / 1000) as usize
    }

    /// Records a good frame that was just decoded into `samples`; after a
    /// loss it first cross-fades the frame's head from the concealment.
    pub(crate) fn handle_good(&mut self, samples: &mut [i16]) {
        if self.lost_frames > 0 {
            let fade = self.ms((4 * self.lost_frames).min(10)).min(samples.len());
            for (i, s) in samples.iter_mut().take(fade).enumerate() {
                let synthetic = self.next_concealed() as i32;
                let w = (i as i32 + 1) * 32768 / (fade as i32 + 1);
                *s = ((*s as i32 * w + synthetic * (32768 - w)) >> 15) as i16;
            }
            self.concealed = 0;
            self.lost_frames = 0;
        }
        self.remember(samples);
    }

    /// Writes `out.len()` samples of concealment for a lost frame.
    pub(crate) fn conceal(&mut self, out: &mut [i16]) {
        if self.lost_frames == 0 {
            self.start_loss();
        }
        for s in out.iter_mut() {
            *s = self.next_concealed();
        }
        self.lost_frames += 1;
        self.remember(out);
    }

    /// Pushes `samples` into the history, dropping the oldest.
    fn remember(&mut self, samples: &[i16]) {
        let n = self.history.len();
        if samples.len() >= n {
            self.history.copy_from_slice(&samples[samples.len() - n..]);
        } else {
            self.history.copy_within(samples.len().., 0);
            self.history[n - samples.len()..].copy_from_slice(samples);
        }
    }

    /// Picks the pitch period and builds the loop from the history.
    fn start_loss(&mut self) {
        let pitch = self.find_pitch();
        let h = &self.history;
        let n = h.len();
        self.period.clear();
        self.period.extend_from_slice(&h[n - pitch..]);
        // Blend the last quarter period towards the samples that precede the
        // period's start, so looping from its end back to its start is as
        // smooth as the signal was.
        let blend = (pitch / 4).max(1);
        for i in 0..blend {
            let k = pitch - blend + i;
            let before = h[n - 2 * pitch + k] as i32;
            let w = (i as i32 + 1) * 32768 / (blend as i32 + 1);
            let own = self.period[k] as i32;
            self.period[k] = ((own * (32768 - w) + before * w) >> 15) as i16;
        }
        self.position = 0;
        self.concealed = 0;
    }

    /// The lag in [2.5 ms, 15 ms] whose normalized autocorrelation with the
    /// last 15 ms of history is highest.
    fn find_pitch(&self) -> usize {
        let h = &self.history;
        let n = h.len();
        let (min_lag, max_lag) = (self.ms(5) / 2, self.ms(15));
        let window = &h[n - max_lag..];
        let mut best = (max_lag, f32::MIN);
        for lag in min_lag..=max_lag {
            let past = &h[n - max_lag - lag..n - lag];
            let (mut cross, mut energy) = (0i64, 0i64);
            for (&a, &b) in window.iter().zip(past) {
                cross += a as i64 * b as i64;
                energy += b as i64 * b as i64;
            }
            let score = if energy == 0 {
                0.0
            } else {
                cross as f32 / (energy as f32).sqrt()
            };
            if score > best.1 {
                best = (lag, score);
            }
        }
        best.0
    }

    /// The next concealment sample, faded by how long the loss has lasted.
    fn next_concealed(&mut self) -> i16 {
        let full = self.ms(10);
        let silent = self.ms(60);
        let gain = if self.concealed < full {
            32768
        } else if self.concealed >= silent {
            0
        } else {
            ((silent - self.concealed) * 32768 / (silent - full)) as i32
        };
        let s = self.period[self.position] as i32;
        self.position = (self.position + 1) % self.period.len();
        self.concealed += 1;
        ((s * gain) >> 15) as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f32, amp: f32, from: usize, n: usize) -> Vec<i16> {
        (from..from + n)
            .map(|i| (amp * (std::f32::consts::TAU * freq * i as f32 / rate as f32).sin()) as i16)
            .collect()
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    #[test]
    fn a_lost_frame_continues_a_voiced_sound_then_fades_to_silence() {
        let rate = 8000;
        let mut plc = WaveformPlc::new(rate);
        for f in 0..5 {
            let mut frame = sine(rate, 200.0, 10000.0, f * 160, 160);
            plc.handle_good(&mut frame);
        }
        // First lost frame: close to what the tone would have been.
        let mut lost = vec![0i16; 160];
        plc.conceal(&mut lost);
        let expected = sine(rate, 200.0, 10000.0, 5 * 160, 160);
        let err: Vec<i16> = lost
            .iter()
            .zip(&expected)
            .take(80)
            .map(|(a, b)| a - b)
            .collect();
        assert!(
            rms(&err) < 0.1 * rms(&expected),
            "first 10 ms off by {} rms",
            rms(&err)
        );
        // 60 ms into the loss the output is silent.
        for _ in 0..2 {
            plc.conceal(&mut lost);
        }
        assert!(rms(&lost[..80]) > 100.0, "still audible at 40-50 ms");
        plc.conceal(&mut lost);
        assert_eq!(rms(&lost), 0.0, "silent after 60 ms");
    }

    #[test]
    fn recovery_fades_in_without_a_step() {
        let rate = 16000;
        let mut plc = WaveformPlc::new(rate);
        let mut frame = sine(rate, 440.0, 8000.0, 0, 320);
        plc.handle_good(&mut frame);
        let mut lost = vec![0i16; 320];
        plc.conceal(&mut lost);
        let mut good = sine(rate, 440.0, 8000.0, 640, 320);
        let before = *lost.last().unwrap();
        plc.handle_good(&mut good);
        // The seam between concealment and the faded-in frame is no larger
        // than a step of the tone itself (max slope 2*pi*440/16000*8000).
        let max_step = 1400;
        assert!(
            (good[0] as i32 - before as i32).abs() < max_step,
            "step {} -> {}",
            before,
            good[0]
        );
        // After the fade the frame is untouched.
        assert_eq!(good[200..], sine(rate, 440.0, 8000.0, 640, 320)[200..]);
    }
}
