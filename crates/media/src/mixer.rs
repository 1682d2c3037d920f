//! Mixing mono 16-bit PCM: the sum of N inputs, and "mix minus" for
//! conferences, where each participant hears everyone but themselves.
//!
//! Sums are taken in `i32` (exact for up to 65 536 inputs) and clamped to
//! the `i16` range once at the end, so loud inputs saturate (a clipped
//! peak) instead of wrapping around (a full-scale click), and the result
//! does not depend on the order of the inputs. Inputs shorter than the
//! longest are treated as silence past their end. Buffers are reused across
//! calls: after the first few frames nothing allocates.

use crate::Frame;

/// Clamps a sum to the `i16` range.
#[inline]
pub fn saturate(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// Adds `add` into `acc` sample by sample with saturation (two-input mix in
/// place); samples of `add` past the end of `acc` are ignored.
pub fn mix_into(acc: &mut [i16], add: &[i16]) {
    for (a, b) in acc.iter_mut().zip(add) {
        *a = a.saturating_add(*b);
    }
}

/// Frames of different rates were given to a mixer or recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame at {got} Hz where {expected} Hz was expected")]
pub struct RateMismatch {
    /// The rate of the first input (or the recording's rate).
    pub expected: u32,
    /// The rate of the offending frame.
    pub got: u32,
}

/// A reusable N-input mixer. Holds one `i32` accumulator, grown to the
/// longest frame seen.
#[derive(Debug, Default)]
pub struct Mixer {
    acc: Vec<i32>,
}

impl Mixer {
    /// An empty mixer.
    pub fn new() -> Mixer {
        Mixer::default()
    }

    /// Sums `inputs` into the accumulator, as long as the longest input.
    fn accumulate<'a, I>(&mut self, inputs: I)
    where
        I: Iterator<Item = &'a [i16]> + Clone,
    {
        let len = inputs.clone().map(<[i16]>::len).max().unwrap_or(0);
        self.acc.clear();
        self.acc.resize(len, 0);
        for input in inputs {
            for (a, &s) in self.acc.iter_mut().zip(input) {
                *a += i32::from(s);
            }
        }
    }

    /// `out` = the saturated sum of `inputs`, as long as the longest input.
    pub fn mix(&mut self, inputs: &[&[i16]], out: &mut Vec<i16>) {
        self.accumulate(inputs.iter().copied());
        out.clear();
        out.extend(self.acc.iter().map(|&a| saturate(a)));
    }

    /// [`mix`](Self::mix) over frames of one rate; `out.rate` is set to it.
    /// With no inputs `out` becomes empty and keeps its rate.
    pub fn mix_frames(&mut self, inputs: &[&Frame], out: &mut Frame) -> Result<(), RateMismatch> {
        let rate = common_rate(inputs)?.unwrap_or(out.rate);
        self.accumulate(inputs.iter().map(|f| f.samples.as_slice()));
        out.rate = rate;
        out.samples.clear();
        out.samples.extend(self.acc.iter().map(|&a| saturate(a)));
        Ok(())
    }

    /// Mix minus: `outs[i]` = the saturated sum of every input except
    /// `inputs[i]`, each as long as the longest input. One pass builds the
    /// total and one pass per participant subtracts its own voice, so the
    /// cost is O(N x samples) rather than O(N² x samples). The subtraction
    /// happens on the exact `i32` total, so a participant who clips the
    /// total still hears the others unclipped. Only the first
    /// `min(inputs.len(), outs.len())` outputs are written.
    pub fn mix_minus(&mut self, inputs: &[&[i16]], outs: &mut [Vec<i16>]) {
        self.accumulate(inputs.iter().copied());
        for (own, out) in inputs.iter().zip(outs.iter_mut()) {
            minus_into(&self.acc, own, out);
        }
    }

    /// [`mix_minus`](Self::mix_minus) over frames of one rate; each output
    /// frame gets that rate.
    pub fn mix_minus_frames(
        &mut self,
        inputs: &[&Frame],
        outs: &mut [Frame],
    ) -> Result<(), RateMismatch> {
        let Some(rate) = common_rate(inputs)? else {
            return Ok(());
        };
        self.accumulate(inputs.iter().map(|f| f.samples.as_slice()));
        for (own, out) in inputs.iter().zip(outs.iter_mut()) {
            out.rate = rate;
            minus_into(&self.acc, &own.samples, &mut out.samples);
        }
        Ok(())
    }
}

/// `out` = saturate(total - own), own padded with silence.
fn minus_into(total: &[i32], own: &[i16], out: &mut Vec<i16>) {
    out.clear();
    out.extend(
        total
            .iter()
            .enumerate()
            .map(|(k, &t)| saturate(t - own.get(k).map_or(0, |&s| i32::from(s)))),
    );
}

/// The rate shared by all `frames` (None when there are none).
fn common_rate(frames: &[&Frame]) -> Result<Option<u32>, RateMismatch> {
    let Some(first) = frames.first() else {
        return Ok(None);
    };
    match frames.iter().find(|f| f.rate != first.rate) {
        Some(f) => Err(RateMismatch {
            expected: first.rate,
            got: f.rate,
        }),
        None => Ok(Some(first.rate)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn loud_inputs_saturate_instead_of_wrapping() {
        let a = [30_000i16, -30_000, 20_000, 100];
        let b = [10_000i16, -10_000, 20_000, -50];
        let mut out = Vec::new();
        Mixer::new().mix(&[&a, &b], &mut out);
        assert_eq!(out, vec![i16::MAX, i16::MIN, i16::MAX, 50]);
        // The wrapping sum would have flipped the sign of the first sample.
        assert!(30_000i16.wrapping_add(10_000) < 0);

        let mut acc = a;
        mix_into(&mut acc, &b);
        assert_eq!(acc.to_vec(), out);
    }

    #[test]
    fn sum_is_clamped_once_not_pairwise() {
        // Pairwise saturation would give (32767 + 10000) - 20000 = 12767.
        let a = [32_767i16];
        let b = [10_000i16];
        let c = [-20_000i16];
        let mut out = Vec::new();
        Mixer::new().mix(&[&a, &b, &c], &mut out);
        assert_eq!(out, vec![22_767]);
    }

    #[test]
    fn shorter_inputs_count_as_silence() {
        let mut out = Vec::new();
        Mixer::new().mix(&[&[1, 2, 3], &[10]], &mut out);
        assert_eq!(out, vec![11, 2, 3]);
        Mixer::new().mix(&[], &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn mix_minus_equals_the_sum_of_the_others() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 6;
        let inputs: Vec<Vec<i16>> = (0..n)
            .map(|_| (0..160).map(|_| rng.gen_range(-12_000..12_000)).collect())
            .collect();
        let refs: Vec<&[i16]> = inputs.iter().map(|v| v.as_slice()).collect();
        let mut outs = vec![Vec::new(); n];
        let mut mixer = Mixer::new();
        mixer.mix_minus(&refs, &mut outs);
        let mut clipped = 0;
        for (i, out) in outs.iter().enumerate() {
            let expect: Vec<i16> = (0..160)
                .map(|k| {
                    let others: i32 = (0..n)
                        .filter(|&j| j != i)
                        .map(|j| i32::from(refs[j][k]))
                        .sum();
                    clipped += usize::from(others.abs() > 32_767);
                    others.clamp(-32_768, 32_767) as i16
                })
                .collect();
            assert_eq!(*out, expect, "participant {i}");
        }
        assert!(clipped > 0, "the inputs exercise saturation too");
    }

    #[test]
    fn mix_minus_of_a_clipping_participant_leaves_the_others_clean() {
        let loud = [32_000i16; 4];
        let quiet = [1_000i16; 4];
        let other = [2_000i16; 4];
        let mut outs = vec![Vec::new(); 3];
        Mixer::new().mix_minus(&[&loud, &quiet, &other], &mut outs);
        assert_eq!(outs[0], vec![3_000; 4]);
        assert_eq!(outs[1], vec![i16::MAX; 4]);
    }

    #[test]
    fn frame_mixing_checks_rates() {
        let a = Frame::new(16_000, vec![1, 2]);
        let b = Frame::new(16_000, vec![3]);
        let c = Frame::new(8_000, vec![3]);
        let mut mixer = Mixer::new();
        let mut out = Frame::default();
        mixer.mix_frames(&[&a, &b], &mut out).unwrap();
        assert_eq!(out, Frame::new(16_000, vec![4, 2]));
        assert_eq!(
            mixer.mix_frames(&[&a, &c], &mut out),
            Err(RateMismatch {
                expected: 16_000,
                got: 8_000
            })
        );
        let mut outs = vec![Frame::default(); 2];
        mixer.mix_minus_frames(&[&a, &b], &mut outs).unwrap();
        assert_eq!(outs[0], Frame::new(16_000, vec![3, 0]));
        assert_eq!(outs[1], Frame::new(16_000, vec![1, 2]));
    }
}
