//! Signals and measurements shared by the codec unit tests.

/// `n` samples of a sine of `freq` Hz and peak `amp` at `rate`.
pub(crate) fn sine(rate: u32, freq: f64, amp: f64, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            (amp * (std::f64::consts::TAU * freq * i as f64 / rate as f64).sin()).round() as i16
        })
        .collect()
}

/// Peak amplitude of the `freq` Hz component of `x` (one DFT bin; exact
/// when `x` spans whole cycles).
pub(crate) fn amplitude_at(x: &[i16], rate: u32, freq: f64) -> f64 {
    let w = std::f64::consts::TAU * freq / rate as f64;
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        re += s as f64 * (w * i as f64).cos();
        im -= s as f64 * (w * i as f64).sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

/// Frequency of `x` from its rising zero crossings, interpolated, Hz.
pub(crate) fn zero_crossing_frequency(x: &[i16], rate: u32) -> f64 {
    let mut crossings = Vec::new();
    for i in 1..x.len() {
        let (a, b) = (x[i - 1] as f64, x[i] as f64);
        if a < 0.0 && b >= 0.0 {
            crossings.push(i as f64 - 1.0 + a / (a - b));
        }
    }
    match (crossings.first(), crossings.last()) {
        (Some(first), Some(last)) if crossings.len() > 1 => {
            (crossings.len() - 1) as f64 * rate as f64 / (last - first)
        }
        _ => 0.0,
    }
}

/// Root mean square of `x`.
pub(crate) fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}
