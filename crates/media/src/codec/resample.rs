//! Streaming sample-rate conversion of mono 16-bit PCM by a rational factor,
//! with a polyphase windowed-sinc FIR filter.
//!
//! Converting `from` Hz to `to` Hz is upsampling by `L = to / g` and
//! downsampling by `M = from / g` (`g` their greatest common divisor) around
//! one low-pass filter, of which only the taps that meet a real input sample
//! are ever computed: output `n` lies at time `n·M` on the `L`-times grid,
//! its newest input is `⌊n·M / L⌋` and its taps are phase `n·M mod L` of the
//! filter.
//!
//! The filter is a Kaiser-windowed sinc (β = 6.76, about 70 dB of stopband
//! attenuation) whose passband reaches 43 % of the lower of the two rates
//! (3.44 kHz at 8 kHz, 6.88 kHz at 16 kHz) and whose stopband starts at 55 %
//! of it; taps are Q15 (or Q14 when a phase could overflow an `i32`
//! accumulator). The filter state carries over from one call to the next, so
//! a stream converted in 20 ms pieces is sample-for-sample the stream
//! converted in one go. The output lags the input by half the filter:
//! 2.25 ms when one side is 8 kHz, 1.1 ms when the lower rate is 16 kHz.

use super::CodecError;

/// Stopband attenuation the filter is designed for, dB.
const ATTENUATION_DB: f64 = 70.0;
/// Passband edge as a fraction of the lower rate.
const PASS: f64 = 0.43;
/// Stopband edge as a fraction of the lower rate.
const STOP: f64 = 0.55;
/// Largest up- or down-sampling factor accepted (after reducing the ratio).
const MAX_FACTOR: u32 = 1024;

/// A streaming converter from one sample rate to another (mono, `i16`).
///
/// ```
/// use media::codec::Resampler;
///
/// let mut up = Resampler::new(8000, 48000).unwrap();
/// let mut out = Vec::new();
/// for _ in 0..3 {
///     up.process(&[0i16; 160], &mut out); // 20 ms in, 20 ms out
/// }
/// assert_eq!(out.len(), 3 * 960);
/// ```
#[derive(Debug, Clone)]
pub struct Resampler {
    from: u32,
    to: u32,
    /// Upsampling factor `L`.
    up: usize,
    /// Downsampling factor `M`.
    down: usize,
    /// Taps per phase.
    taps: usize,
    /// `up` phases of `taps` coefficients each, every phase reversed so it
    /// lines up with the input oldest-first.
    coeffs: Vec<i16>,
    /// Fraction bits of `coeffs`.
    shift: u32,
    /// The last `taps - 1` inputs, then the ones not yet used.
    buf: Vec<i16>,
    /// Position of the next output on the upsampled grid, counted from
    /// `buf[0]`.
    t: usize,
}

impl Resampler {
    /// A converter from `from` Hz to `to` Hz.
    ///
    /// Any two rates between 1000 and 192000 Hz whose ratio reduces to
    /// factors of at most 1024 are accepted; Dialtone uses 8000, 16000,
    /// 24000 and 48000 (and 12000 for Opus). Equal rates copy the input.
    pub fn new(from: u32, to: u32) -> Result<Resampler, CodecError> {
        let unsupported = CodecError::UnsupportedResampling { from, to };
        if !(1000..=192_000).contains(&from) || !(1000..=192_000).contains(&to) {
            return Err(unsupported);
        }
        let g = gcd(from, to);
        let (up, down) = (to / g, from / g);
        if up > MAX_FACTOR || down > MAX_FACTOR {
            return Err(unsupported);
        }
        let (up, down) = (up as usize, down as usize);
        if up == 1 && down == 1 {
            return Ok(Resampler {
                from,
                to,
                up,
                down,
                taps: 1,
                coeffs: vec![1],
                shift: 0,
                buf: Vec::new(),
                t: 0,
            });
        }
        let (taps, coeffs, shift) = design(from, to, up);
        Ok(Resampler {
            from,
            to,
            up,
            down,
            taps,
            coeffs,
            shift,
            buf: vec![0; taps - 1],
            t: (taps - 1) * up,
        })
    }

    /// Input rate, Hz.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate, Hz.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Converts `input` and appends the result to `out`.
    ///
    /// After `n` input samples in total the converter has produced
    /// `⌈n · to / from⌉` output samples, so a 20 ms frame always yields a
    /// 20 ms frame for the rates above. No allocation once `out` and the
    /// internal buffer have grown to a frame.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        if self.up == 1 && self.down == 1 {
            out.extend_from_slice(input);
            return;
        }
        self.buf.extend_from_slice(input);
        out.reserve(input.len() * self.up / self.down + 1);
        let k = self.taps;
        let half = if self.shift == 0 {
            0
        } else {
            1 << (self.shift - 1)
        };
        loop {
            let newest = self.t / self.up;
            if newest >= self.buf.len() {
                break;
            }
            let phase = self.t % self.up;
            let window = &self.buf[newest + 1 - k..=newest];
            let taps = &self.coeffs[phase * k..(phase + 1) * k];
            let acc: i32 = window
                .iter()
                .zip(taps)
                .map(|(&x, &h)| x as i32 * h as i32)
                .sum();
            let y = (acc + half) >> self.shift;
            out.push(y.clamp(i16::MIN as i32, i16::MAX as i32) as i16);
            self.t += self.down;
        }
        let used = self.buf.len() - (k - 1);
        self.buf.drain(..used);
        self.t -= used * self.up;
    }

    /// Forgets the stream so far, as if newly made.
    pub fn reset(&mut self) {
        if self.up == 1 && self.down == 1 {
            return;
        }
        self.buf.clear();
        self.buf.resize(self.taps - 1, 0);
        self.t = (self.taps - 1) * self.up;
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Designs the polyphase filter for `from` → `to` with upsampling factor
/// `up`: returns (taps per phase, coefficients, fraction bits).
fn design(from: u32, to: u32, up: usize) -> (usize, Vec<i16>, u32) {
    use std::f64::consts::PI;
    let low = from.min(to) as f64;
    // The filter runs at the upsampled rate.
    let fs = from as f64 * up as f64;
    // Cut-off in cycles per sample, transition width in radians per sample.
    let cutoff = (PASS + STOP) / 2.0 * low / fs;
    let transition = 2.0 * PI * (STOP - PASS) * low / fs;
    // Kaiser's estimates of the window's shape and length for the
    // attenuation and transition width.
    let beta = 0.1102 * (ATTENUATION_DB - 8.7);
    let order = ((ATTENUATION_DB - 8.0) / (2.285 * transition)).ceil() as usize;
    let taps = (order + 1).div_ceil(up).max(2);
    let len = taps * up;
    let center = (len - 1) as f64 / 2.0;
    let i0_beta = bessel_i0(beta);
    let mut h: Vec<f64> = (0..len)
        .map(|j| {
            let x = j as f64 - center;
            let sinc = if x == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * PI * cutoff * x).sin() / (PI * x)
            };
            let r = x / (center + 0.5);
            let window = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
            sinc * window
        })
        .collect();
    // Unity gain at DC after upsampling by `up` (which divides it by `up`).
    let sum: f64 = h.iter().sum();
    for v in &mut h {
        *v *= up as f64 / sum;
    }
    // Q15 unless a phase's worst case would overflow the i32 accumulator.
    let worst = (0..up)
        .map(|p| (0..taps).map(|k| h[p + k * up].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let shift = if worst * 32768.0 * 32768.0 < i32::MAX as f64 * 0.99 {
        15
    } else {
        14
    };
    let scale = (1u32 << shift) as f64;
    let mut coeffs = vec![0i16; len];
    for p in 0..up {
        for k in 0..taps {
            // Tap k of phase p meets the input k samples before the newest.
            let q = (h[p + k * up] * scale).round();
            coeffs[p * taps + (taps - 1 - k)] = q.clamp(-32768.0, 32767.0) as i16;
        }
    }
    (taps, coeffs, shift)
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..50 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::super::test_signal::{amplitude_at, sine, zero_crossing_frequency};
    use super::*;

    const RATES: [u32; 4] = [8000, 16000, 24000, 48000];

    fn convert(from: u32, to: u32, input: &[i16]) -> Vec<i16> {
        let mut r = Resampler::new(from, to).unwrap();
        let mut out = Vec::new();
        r.process(input, &mut out);
        out
    }

    #[test]
    fn a_1khz_tone_keeps_its_frequency_and_level_between_all_rates() {
        for from in RATES {
            for to in RATES {
                let input = sine(from, 1000.0, 10000.0, from as usize); // 1 s
                let out = convert(from, to, &input);
                assert_eq!(out.len(), to as usize, "{from}->{to} length");
                // Skip the filter's start-up; measure 0.5 s.
                let steady = &out[to as usize / 4..to as usize * 3 / 4];
                let level = amplitude_at(steady, to, 1000.0);
                let db = 20.0 * (level / 10000.0).log10();
                assert!(db.abs() < 0.5, "{from}->{to}: level {db:.2} dB");
                let f = zero_crossing_frequency(steady, to);
                assert!((f - 1000.0).abs() < 5.0, "{from}->{to}: {f} Hz");
            }
        }
    }

    #[test]
    fn speech_band_edges_pass_flat() {
        // 3.3 kHz (telephone band edge) and 6.8 kHz (G.722 band edge) pass
        // within 0.5 dB wherever the lower rate can carry them.
        for (from, to, f) in [
            (8000, 48000, 3300.0),
            (48000, 8000, 3300.0),
            (16000, 48000, 6800.0),
            (48000, 16000, 6800.0),
            (24000, 16000, 6800.0),
        ] {
            let out = convert(from, to, &sine(from, f, 10000.0, from as usize));
            let level = amplitude_at(&out[to as usize / 4..to as usize * 3 / 4], to, f);
            let db = 20.0 * (level / 10000.0).log10();
            assert!(db.abs() < 0.5, "{from}->{to} at {f} Hz: {db:.2} dB");
        }
    }

    #[test]
    fn out_of_band_tones_do_not_alias() {
        // 6 kHz cannot exist at 8 kHz: downsampling must not fold it to 2 kHz.
        for (from, to, f, alias) in [
            (48000, 8000, 6000.0, 2000.0),
            (16000, 8000, 6000.0, 2000.0),
            (48000, 16000, 10000.0, 6000.0),
            (48000, 24000, 14000.0, 10000.0),
        ] {
            let out = convert(from, to, &sine(from, f, 10000.0, from as usize));
            let steady = &out[to as usize / 4..to as usize * 3 / 4];
            let level = amplitude_at(steady, to, alias);
            let db = 20.0 * (level / 10000.0).log10();
            assert!(
                db < -40.0,
                "{from}->{to}: {f} Hz folds to {alias} Hz at {db:.1} dB"
            );
        }
        // And upsampling leaves no image of a 3 kHz tone at 5 kHz.
        let out = convert(8000, 48000, &sine(8000, 3000.0, 10000.0, 8000));
        let image = amplitude_at(&out[12000..36000], 48000, 5000.0);
        assert!(20.0 * (image / 10000.0).log10() < -40.0);
    }

    #[test]
    fn a_stream_in_20ms_pieces_equals_the_whole() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(7);
        for from in RATES {
            for to in RATES {
                let input: Vec<i16> = (0..from as usize / 2).map(|_| rng.gen()).collect();
                let whole = convert(from, to, &input);
                let mut r = Resampler::new(from, to).unwrap();
                let mut pieces = Vec::new();
                for chunk in input.chunks(from as usize / 50) {
                    let before = pieces.len();
                    r.process(chunk, &mut pieces);
                    assert_eq!(pieces.len() - before, to as usize / 50, "{from}->{to}");
                }
                assert_eq!(pieces, whole, "{from}->{to}");
                // Odd-sized pieces too.
                r.reset();
                let mut odd = Vec::new();
                for chunk in input.chunks(37) {
                    r.process(chunk, &mut odd);
                }
                assert_eq!(odd, whole, "{from}->{to} in 37-sample pieces");
            }
        }
    }

    #[test]
    fn full_scale_input_saturates_instead_of_wrapping() {
        // A full-scale 50 Hz square wave overshoots in the filter (Gibbs):
        // the output must clip, never wrap to the opposite sign.
        for from in RATES {
            let half_period = from as usize / 100;
            let input: Vec<i16> = (0..from as usize / 5)
                .map(|i| {
                    if (i / half_period).is_multiple_of(2) {
                        i16::MAX
                    } else {
                        i16::MIN
                    }
                })
                .collect();
            for to in RATES.into_iter().filter(|&to| to != from) {
                let out = convert(from, to, &input);
                let jumps = out
                    .windows(2)
                    .filter(|w| (w[0] as i32 - w[1] as i32).abs() > 60000)
                    .count();
                assert_eq!(jumps, 0, "{from}->{to} wrapped");
                // Mid-plateau (5 ms into each 10 ms half period, the filter
                // delay is under 2.5 ms) the output sits at full scale.
                for half in 0..20 {
                    let at = (half * 10 + 5) * to as usize / 1000;
                    let want = if half % 2 == 0 { 1 } else { -1 };
                    assert!(
                        out[at] as i32 * want > 30000,
                        "{from}->{to}: sample {at} is {}",
                        out[at]
                    );
                }
            }
        }
    }

    #[test]
    fn unsupported_rates_are_refused() {
        assert!(Resampler::new(0, 8000).is_err());
        assert!(Resampler::new(8000, 500_000).is_err());
        assert!(Resampler::new(8000, 8001).is_err()); // factors 8001/8000
        assert!(Resampler::new(44100, 48000).is_ok());
        let mut same = Resampler::new(16000, 16000).unwrap();
        let mut out = Vec::new();
        same.process(&[1, 2, 3], &mut out);
        assert_eq!(out, [1, 2, 3]);
    }
}
