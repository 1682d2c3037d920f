//! Signal generators: a sine, cadenced call-progress tones (ringback),
//! comfort noise, and the built-in music on hold played when no file is
//! configured.
//!
//! Every generator is deterministic and keeps its state (oscillator phase,
//! position in the cadence, noise seed) between calls, so output produced
//! 20 ms at a time is sample-for-sample the output produced in one block:
//! no clicks at frame edges, at any rate. Sines come from a 1024-point
//! table with linear interpolation (error under one 16-bit step) driven by
//! a 32-bit phase accumulator, so the hot loop is integer only.
//!
//! Levels: 16-bit full scale is 32 767. Following G.711, a full-scale sine
//! is +3.17 dBm0 ([`dbm0_amplitude`]); comfort noise levels are in dBov as
//! in RFC 3389 §3, 0 dBov being a full-scale square wave
//! ([`ComfortNoise`]).

use std::sync::OnceLock;

use crate::Frame;

/// Length of the frame [`Generator::next_frame`] produces.
pub const FRAME_MS: u32 = 20;

/// A source of mono 16-bit samples at a fixed rate.
pub trait Generator {
    /// Samples per second of the output.
    fn rate(&self) -> u32;

    /// Overwrites `out` with the next `out.len()` samples.
    fn fill(&mut self, out: &mut [i16]);

    /// Replaces `out` with the next [`FRAME_MS`] of output (the buffer is
    /// reused, so steady-state calls do not allocate).
    fn next_frame(&mut self, out: &mut Frame) {
        out.rate = self.rate();
        out.samples.clear();
        out.samples
            .resize((self.rate() * FRAME_MS / 1000) as usize, 0);
        self.fill(&mut out.samples);
    }
}

/// Peak amplitude of a sine at `dbm0` (ITU-T G.711: a full-scale sine is
/// +3.17 dBm0, so 0 dBm0 peaks at about 22 750), saturated to the 16-bit
/// range.
pub fn dbm0_amplitude(dbm0: f64) -> i16 {
    (32_767.0 * 10f64.powf((dbm0 - 3.17) / 20.0))
        .round()
        .min(32_767.0) as i16
}

/// log2 of the sine table length.
const TABLE_BITS: u32 = 10;

/// One cycle of sine in Q15, plus a copy of the first entry at the end so
/// interpolation never wraps.
fn sine_table() -> &'static [i16; (1 << TABLE_BITS) + 1] {
    static TABLE: OnceLock<[i16; (1 << TABLE_BITS) + 1]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0i16; (1 << TABLE_BITS) + 1];
        for (i, v) in t.iter_mut().enumerate() {
            let x = i as f64 * std::f64::consts::TAU / f64::from(1u32 << TABLE_BITS);
            *v = (x.sin() * 32_767.0).round() as i16;
        }
        t
    })
}

/// sin(2π·phase/2³²) in Q15 (±32 767).
#[inline]
fn sine_q15(table: &[i16; (1 << TABLE_BITS) + 1], phase: u32) -> i32 {
    let index = (phase >> (32 - TABLE_BITS)) as usize;
    let frac = ((phase >> (16 - TABLE_BITS)) & 0xFFFF) as i32;
    let a = i32::from(table[index]);
    let b = i32::from(table[index + 1]);
    a + (((b - a) * frac) >> 16)
}

/// Phase increment per sample for `freq_hz` at `rate` (2³² = one cycle).
fn phase_step(freq_hz: f64, rate: u32) -> u32 {
    let cycles = (freq_hz / f64::from(rate.max(1))).rem_euclid(1.0);
    (cycles * 4_294_967_296.0).round() as u64 as u32
}

/// A phase-continuous sine oscillator.
#[derive(Debug, Clone)]
pub struct Sine {
    rate: u32,
    phase: u32,
    step: u32,
    amplitude: i32,
}

impl Sine {
    /// A sine of `freq_hz` (below `rate / 2`) with peak `amplitude`,
    /// starting at phase 0.
    pub fn new(rate: u32, freq_hz: f64, amplitude: i16) -> Sine {
        Sine {
            rate,
            phase: 0,
            step: phase_step(freq_hz, rate),
            amplitude: i32::from(amplitude),
        }
    }

    /// The next sample, before scaling to the 16-bit range (fits in i32).
    #[inline]
    fn next_sample(&mut self, table: &[i16; (1 << TABLE_BITS) + 1]) -> i32 {
        let v = (sine_q15(table, self.phase) * self.amplitude) >> 15;
        self.phase = self.phase.wrapping_add(self.step);
        v
    }
}

impl Generator for Sine {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn fill(&mut self, out: &mut [i16]) {
        let table = sine_table();
        for o in out {
            *o = self.next_sample(table) as i16;
        }
    }
}

/// Ringback tone plans (ITU-T E.180 and national variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingbackStyle {
    /// 425 Hz, 1 s on, 4 s off (most of Europe, ITU-T E.180 recommended).
    Europe,
    /// 440 + 480 Hz, 2 s on, 4 s off (North American precise tone plan).
    NorthAmerica,
    /// 400 + 450 Hz, 0.4 s on, 0.2 s off, 0.4 s on, 2 s off (United Kingdom).
    UnitedKingdom,
}

/// One or two summed sines switched on and off by a repeating cadence, with
/// 5 ms ramps at each edge so switching does not click. The oscillators run
/// through the off periods, so phase is continuous.
#[derive(Debug, Clone)]
pub struct CadencedTone {
    tones: [Sine; 2],
    /// On intervals within the cycle, in samples: [start, end).
    on: [(u32, u32); 2],
    cycle: u32,
    ramp: u32,
    pos: u32,
}

impl CadencedTone {
    /// `freqs` (Hz; the second may be 0 for a single tone) at `dbm0` each,
    /// sounding during the `on` intervals (start, end in ms; an unused
    /// interval is (0, 0)) of a `cycle_ms` cycle.
    pub fn new(rate: u32, freqs: [f64; 2], dbm0: f64, on: [(u32, u32); 2], cycle_ms: u32) -> Self {
        let amplitude = dbm0_amplitude(dbm0);
        let ms = |v: u32| (u64::from(v) * u64::from(rate) / 1000) as u32;
        let tone = |f: f64| Sine::new(rate, f, if f > 0.0 { amplitude } else { 0 });
        CadencedTone {
            tones: [tone(freqs[0]), tone(freqs[1])],
            on: on.map(|(a, b)| (ms(a), ms(b))),
            cycle: ms(cycle_ms).max(1),
            ramp: ms(5).max(1),
            pos: 0,
        }
    }

    /// Ringback per `style`: single tones at -13 dBm0, dual tones at -16
    /// dBm0 each. Starts at the beginning of an on period.
    pub fn ringback(style: RingbackStyle, rate: u32) -> CadencedTone {
        match style {
            RingbackStyle::Europe => {
                CadencedTone::new(rate, [425.0, 0.0], -13.0, [(0, 1000), (0, 0)], 5000)
            }
            RingbackStyle::NorthAmerica => {
                CadencedTone::new(rate, [440.0, 480.0], -16.0, [(0, 2000), (0, 0)], 6000)
            }
            RingbackStyle::UnitedKingdom => {
                CadencedTone::new(rate, [400.0, 450.0], -16.0, [(0, 400), (600, 1000)], 3000)
            }
        }
    }

    /// Gain in Q15 at `pos` in the cycle: 1 inside an on interval, ramping
    /// linearly over the first and last 5 ms of it.
    fn gain(&self, pos: u32) -> i32 {
        for &(start, end) in &self.on {
            if pos >= start && pos < end {
                let edge = (pos - start).min(end - 1 - pos);
                return if edge >= self.ramp {
                    1 << 15
                } else {
                    ((edge as i32) << 15) / self.ramp as i32
                };
            }
        }
        0
    }
}

impl Generator for CadencedTone {
    fn rate(&self) -> u32 {
        self.tones[0].rate
    }

    fn fill(&mut self, out: &mut [i16]) {
        let table = sine_table();
        for o in out {
            let sum = self.tones[0].next_sample(table) + self.tones[1].next_sample(table);
            let gain = self.gain(self.pos);
            *o = crate::mixer::saturate((sum * gain) >> 15);
            self.pos += 1;
            if self.pos >= self.cycle {
                self.pos = 0;
            }
        }
    }
}

/// White comfort noise at a level in dBov (RFC 3389 §3: "dBov is the level
/// relative to the overload of the system", 0 dBov being a full-scale square
/// wave, so RMS = 32 767 x 10^(-level/20)). Uniformly distributed samples
/// from a seeded xorshift generator: deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct ComfortNoise {
    rate: u32,
    state: u32,
    /// Half-width of the uniform distribution.
    peak: i32,
}

impl ComfortNoise {
    /// Noise at -`level_dbov` dBov (the RFC 3389 noise-level byte, 0..=127;
    /// levels louder than -4.8 dBov are capped at full scale).
    pub fn new(rate: u32, level_dbov: u8, seed: u32) -> ComfortNoise {
        let rms = 32_767.0 * 10f64.powf(-f64::from(level_dbov) / 20.0);
        // A uniform distribution on [-p, p] has RMS p/√3.
        let peak = (rms * 3f64.sqrt()).round().min(32_767.0) as i32;
        ComfortNoise {
            rate,
            state: if seed == 0 { 0x9E37_79B9 } else { seed },
            peak,
        }
    }
}

impl Generator for ComfortNoise {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            // xorshift32 (Marsaglia 2003): never reaches 0 from a non-zero seed.
            let mut x = self.state;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.state = x;
            let uniform = i64::from((x >> 16) as u16 as i16); // -32768..=32767
            *o = ((uniform * i64::from(self.peak)) >> 15) as i16;
        }
    }
}

/// The built-in music on hold: four soft sine-pad chords (C, Am, F, G; I-vi-
/// IV-V) in the 220-600 Hz range telephones carry well, 2.4 s each, each
/// fading in over 0.4 s, settling gently, and fading out over 0.6 s under
/// the next one. A 9.6 s loop, deterministic, about -24 dBFS RMS with
/// peaks near -13 dBFS.
///
/// Output depends only on the rate, so one generator per rate can feed every
/// held call on a server (render a frame per tick and copy it).
#[derive(Debug, Clone)]
pub struct MusicOnHold {
    rate: u32,
    /// Samples since start, saturating (only compared with chord ages).
    n: u64,
    /// Position in the loop, 0..cycle.
    pos: u64,
    chord_len: u64,
    cycle: u64,
    release: u64,
    attack: u64,
    /// 2⁴⁷ / attack, 2⁴⁷ / release, 2⁴⁷ / (chord_len - attack): Q15
    /// fractions by multiplication instead of a division per sample.
    attack_recip: u64,
    release_recip: u64,
    settle_recip: u64,
    steps: [[u32; VOICES]; CHORDS.len()],
    phases: [[u32; VOICES]; CHORDS.len()],
}

const VOICES: usize = 4;

/// Voicings (Hz, equal temperament, A4 = 440 Hz).
const CHORDS: [[f64; VOICES]; 4] = [
    [261.63, 329.63, 392.00, 523.25], // C major: C4 E4 G4 C5
    [220.00, 329.63, 440.00, 523.25], // A minor: A3 E4 A4 C5
    [261.63, 349.23, 440.00, 523.25], // F major: C4 F4 A4 C5
    [246.94, 293.66, 392.00, 587.33], // G major: B3 D4 G4 D5
];

/// Peak amplitude of one voice at full envelope.
const VOICE_AMPLITUDE: i64 = 1_800;

/// Level a chord has settled to when the next one starts (Q15: 0.55).
const SUSTAIN_END: i64 = 18_022;

impl MusicOnHold {
    /// Music on hold at `rate`, from the start of the loop.
    pub fn new(rate: u32) -> MusicOnHold {
        let r = u64::from(rate.max(1));
        let chord_len = (r * 12 / 5).max(3);
        let attack = (r * 2 / 5).clamp(1, chord_len - 1);
        let release = (r * 3 / 5).max(1);
        let recip = |d: u64| (1u64 << 47) / d;
        MusicOnHold {
            rate,
            n: 0,
            pos: 0,
            chord_len,
            cycle: chord_len * CHORDS.len() as u64,
            release,
            attack,
            attack_recip: recip(attack),
            release_recip: recip(release),
            settle_recip: recip(chord_len - attack),
            steps: CHORDS.map(|chord| chord.map(|f| phase_step(f, rate))),
            phases: [[0; VOICES]; CHORDS.len()],
        }
    }

    /// Envelope (Q15) of a chord `t` samples after it started (`t` below
    /// `chord_len + release`).
    fn envelope(&self, t: u64) -> i64 {
        let fraction = |x: u64, recip: u64| ((x * recip) >> 32) as i64;
        if t < self.attack {
            smoothstep_q15(fraction(t, self.attack_recip))
        } else if t < self.chord_len {
            // Linear settle from 1.0 down to SUSTAIN_END over the chord.
            let into = fraction(t - self.attack, self.settle_recip);
            (1 << 15) - ((((1 << 15) - SUSTAIN_END) * into) >> 15)
        } else {
            let into = fraction(t - self.chord_len, self.release_recip);
            (SUSTAIN_END * ((1 << 15) - smoothstep_q15(into))) >> 15
        }
    }
}

/// 3x² - 2x³ for x in Q15 0..=1: an S-curve with zero slope at both ends.
fn smoothstep_q15(x: i64) -> i64 {
    let x = x.clamp(0, 1 << 15);
    let x2 = (x * x) >> 15;
    (x2 * ((3 << 15) - 2 * x)) >> 15
}

impl Generator for MusicOnHold {
    fn rate(&self) -> u32 {
        self.rate
    }

    fn fill(&mut self, out: &mut [i16]) {
        let table = sine_table();
        for o in out {
            let mut sum: i64 = 0;
            for c in 0..CHORDS.len() {
                let start = c as u64 * self.chord_len;
                let t = if self.pos >= start {
                    self.pos - start
                } else {
                    self.pos + self.cycle - start
                };
                // Silent outside its window; and the previous loop's tail is
                // not played before the music has looped once.
                if t >= self.chord_len + self.release || t > self.n {
                    continue;
                }
                let mut chord: i64 = 0;
                for (phase, step) in self.phases[c].iter_mut().zip(&self.steps[c]) {
                    chord += i64::from(sine_q15(table, *phase));
                    *phase = phase.wrapping_add(*step);
                }
                sum += (((chord * VOICE_AMPLITUDE) >> 15) * self.envelope(t)) >> 15;
            }
            *o = sum.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
            self.n = self.n.saturating_add(1);
            self.pos += 1;
            if self.pos == self.cycle {
                self.pos = 0;
            }
        }
    }
}

/// Amplitude of the `freq` component of `samples` (generalized Goertzel
/// over the whole block): about A for a sine of peak A at `freq`.
#[cfg(test)]
pub(crate) fn goertzel_amplitude(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let w = std::f64::consts::TAU * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATES: [u32; 4] = [8000, 16_000, 44_100, 48_000];

    /// Output of `make()` rendered 20 ms at a time.
    fn framed<G: Generator>(mut g: G, frames: usize) -> Vec<i16> {
        let mut frame = Frame::default();
        let mut all = Vec::new();
        for _ in 0..frames {
            g.next_frame(&mut frame);
            assert_eq!(frame.rate, g.rate());
            all.extend_from_slice(&frame.samples);
        }
        all
    }

    /// Output rendered in one block.
    fn one_block<G: Generator>(mut g: G, len: usize) -> Vec<i16> {
        let mut out = vec![0; len];
        g.fill(&mut out);
        out
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    fn max_step(s: &[i16]) -> i32 {
        s.windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn sine_has_its_frequency_and_amplitude_at_every_rate() {
        for rate in RATES {
            let s = framed(Sine::new(rate, 1000.0, 10_000), 50);
            assert_eq!(s.len(), rate as usize);
            let a = goertzel_amplitude(&s, rate, 1000.0);
            assert!((a - 10_000.0).abs() < 20.0, "{rate}: {a}");
            assert!(goertzel_amplitude(&s, rate, 1100.0) < 50.0);
            assert!(s.iter().all(|&x| x.abs() <= 10_000));
            assert!(*s.iter().max().unwrap() >= 9_990, "peak reached at {rate}");
        }
    }

    #[test]
    fn framing_does_not_change_the_output() {
        for rate in RATES {
            let len = rate as usize; // 50 frames
            assert_eq!(
                framed(Sine::new(rate, 697.0, 9000), 50),
                one_block(Sine::new(rate, 697.0, 9000), len)
            );
            let rb = || CadencedTone::ringback(RingbackStyle::UnitedKingdom, rate);
            assert_eq!(framed(rb(), 50), one_block(rb(), len));
            assert_eq!(
                framed(ComfortNoise::new(rate, 50, 9), 50),
                one_block(ComfortNoise::new(rate, 50, 9), len)
            );
            assert_eq!(
                framed(MusicOnHold::new(rate), 50),
                one_block(MusicOnHold::new(rate), len)
            );
        }
    }

    #[test]
    fn dbm0_matches_the_g711_digital_milliwatt() {
        // G.711's digital milliwatt (0 dBm0, 1 kHz at 8 kHz) is the μ-law
        // sequence 1E 0B 0B 1E 9E 8B 8B 9E: samples at 22.5° and 67.5° of a
        // sine, each within half a quantization step of its true value.
        let a = f64::from(dbm0_amplitude(0.0));
        let inner = -f64::from(crate::codec::g711::ulaw_decode(0x1E)); // 8828, exponent 6: step 512
        let outer = -f64::from(crate::codec::g711::ulaw_decode(0x0B)); // 20860, exponent 7: step 1024
        assert_eq!(
            crate::codec::g711::ulaw_decode(0x9E),
            -crate::codec::g711::ulaw_decode(0x1E)
        );
        assert!(
            (a * 22.5f64.to_radians().sin() - inner).abs() <= 256.0,
            "{a}"
        );
        assert!(
            (a * 67.5f64.to_radians().sin() - outer).abs() <= 512.0,
            "{a}"
        );
        assert_eq!(dbm0_amplitude(3.17), 32_767);
        assert_eq!(dbm0_amplitude(10.0), 32_767);
        // -20 dB is a tenth of the amplitude.
        assert!((f64::from(dbm0_amplitude(-20.0)) - a / 10.0).abs() <= 1.0);
    }

    #[test]
    fn north_american_ringback_is_two_seconds_of_440_480_then_four_off() {
        let rate = 8000;
        let s = framed(
            CadencedTone::ringback(RingbackStyle::NorthAmerica, rate),
            600,
        ); // 12 s
        let secs = |a: f64, b: f64| &s[(a * 8000.0) as usize..(b * 8000.0) as usize];
        let each = f64::from(dbm0_amplitude(-16.0));
        for cycle in [0.0, 6.0] {
            let on = secs(cycle + 0.1, cycle + 1.9);
            assert!((goertzel_amplitude(on, rate, 440.0) - each).abs() < each * 0.05);
            assert!((goertzel_amplitude(on, rate, 480.0) - each).abs() < each * 0.05);
            assert!(goertzel_amplitude(on, rate, 425.0) < each * 0.3);
            assert!(secs(cycle + 2.0, cycle + 6.0).iter().all(|&x| x == 0));
        }
        // The 5 ms ramps keep edges soft: no step bigger than a full-level
        // sine's own slope.
        // During a 40-sample ramp the gain adds at most 2·each/40 per step.
        let slope = each * std::f64::consts::TAU * (440.0 + 480.0) / 8000.0;
        assert!(f64::from(max_step(&s)) <= slope + 2.0 * each / 40.0 + 2.0);
    }

    #[test]
    fn european_ringback_is_425_hz_one_second_in_five() {
        let rate = 16_000;
        let s = framed(CadencedTone::ringback(RingbackStyle::Europe, rate), 500); // 10 s
        let on: Vec<&[i16]> = [0usize, 5]
            .iter()
            .map(|&c| &s[c * 16_000..c * 16_000 + 16_000])
            .collect();
        for part in on {
            assert!(
                goertzel_amplitude(part, rate, 425.0) > f64::from(dbm0_amplitude(-13.0)) * 0.95
            );
        }
        assert!(s[16_000..5 * 16_000].iter().all(|&x| x == 0));
    }

    #[test]
    fn comfort_noise_has_the_requested_level_and_is_seeded() {
        for level in [30u8, 50, 70] {
            let s = framed(ComfortNoise::new(8000, level, 1), 100);
            let dbov = 20.0 * (rms(&s) / 32_767.0).log10();
            assert!((dbov + f64::from(level)).abs() < 0.5, "{level}: {dbov}");
        }
        let a = framed(ComfortNoise::new(8000, 40, 1), 10);
        assert_eq!(a, framed(ComfortNoise::new(8000, 40, 1), 10));
        assert_ne!(a, framed(ComfortNoise::new(8000, 40, 2), 10));
        // Roughly white: no strong tone anywhere in the band.
        let noise_rms = rms(&a);
        for f in [300.0, 1000.0, 3000.0] {
            assert!(goertzel_amplitude(&a, 8000, f) < noise_rms * 0.5);
        }
    }

    #[test]
    fn music_on_hold_is_audible_bounded_and_smooth() {
        for rate in RATES {
            let s = framed(MusicOnHold::new(rate), 25 * 50); // 25 s: past two loops
            assert!(rms(&s) > 1_000.0, "{rate}: rms {}", rms(&s));
            let peak = s.iter().map(|&x| i32::from(x).abs()).max().unwrap();
            assert!(peak < 16_000, "{rate}: peak {peak}");
            assert!(
                s[..(rate / 1000) as usize].iter().all(|&x| x.abs() < 200),
                "starts softly"
            );
            // No click: the largest sample-to-sample step anywhere (frame
            // edges included) stays within what two overlapping chords' own
            // sines can produce at full level (A·2πf/rate per voice).
            let chord_slope = |c: &[f64; VOICES]| -> f64 {
                c.iter()
                    .map(|f| 1_800.0 * std::f64::consts::TAU * f / f64::from(rate))
                    .sum()
            };
            let slope = (0..4)
                .map(|c| chord_slope(&CHORDS[c]) + chord_slope(&CHORDS[(c + 1) % 4]))
                .fold(0.0, f64::max);
            assert!(
                f64::from(max_step(&s)) < slope,
                "{rate}: {} >= {slope}",
                max_step(&s)
            );
            // Never silent for long: past the fade-in, every 100 ms carries sound.
            for block in s[rate as usize / 5..].chunks(rate as usize / 10) {
                assert!(rms(block) > 300.0, "{rate}: a quiet gap");
            }
        }
    }

    #[test]
    fn music_on_hold_plays_the_four_chords_in_turn() {
        let rate = 8000;
        let s = framed(MusicOnHold::new(rate), 10 * 50);
        let chord_len = 19_200;
        for (c, chord) in CHORDS.iter().enumerate() {
            // The settled middle of chord c.
            let mid = &s[c * chord_len + 8_000..c * chord_len + 16_000];
            for &f in chord {
                assert!(goertzel_amplitude(mid, rate, f) > 700.0, "chord {c} {f} Hz");
            }
        }
        // G4 (392 Hz) belongs to C and G, not to Am.
        let am = &s[chord_len + 8_000..chord_len + 16_000];
        assert!(goertzel_amplitude(am, rate, 392.0) < 100.0);
        // Deterministic.
        assert_eq!(s, framed(MusicOnHold::new(rate), 10 * 50));
    }
}
