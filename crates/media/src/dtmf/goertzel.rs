//! In-band DTMF detection (ITU-T Q.24) with Goertzel filters.
//!
//! # How it decides
//!
//! Audio is cut into blocks of 12.75 ms (102 samples at 8 kHz, 204 at
//! 16 kHz). In each block, a Goertzel filter per Q.23 frequency and one per
//! second harmonic give complex DFT values; each block is also split in two
//! halves, so the filters yield half-block values at no extra cost. Blocks
//! whose two strongest filters (one per group) clearly do not dominate
//! stop there. For the others, the two tones are *measured*:
//!
//! - their frequencies, from the phase advance of each tone between two
//!   consecutive blocks (precise, but ambiguous by multiples of 78 Hz), the
//!   ambiguity resolved by the phase advance between the two halves of the
//!   block (coarse, unambiguous to ±78 Hz). The block's rectangular window
//!   is far too wide to tell 1.5 % from 3.5 % by magnitude alone;
//! - their complex amplitudes, by fitting the two tones jointly to the two
//!   filters' values: each tone's leakage into the other's filter and its
//!   negative-frequency image are modelled, so levels, twist and energy
//!   share come out exact rather than within a dB or two.
//!
//! Then checked:
//!
//! - **frequency** (accept ±1.5 %, reject ±3.5 %): the limit is ±2.5 %,
//!   halfway between the two requirements, and a digit needs at least one
//!   block with the precise measurement;
//! - **level**: each tone at least `min_tone_dbm0` (default −32 dBm0, so
//!   tones of −26 dBm0 pass with margin);
//! - **twist**: the high tone at most 4 dB weaker (reverse) or 8 dB stronger
//!   (normal) than the low tone, with 1 dB of measurement tolerance, so
//!   the limits sit at 5 and 9 dB;
//! - **speech rejection**: the two tones must hold at least 80 % of the
//!   block's energy, and each tone's second harmonic must stay 20 dB below
//!   it (the contribution of the other tone, which lands within one bin of
//!   some low-group harmonics, is computed and subtracted first; in blocks
//!   that are clearly a tone pair in noise, twice the expected noise in the
//!   harmonic's bin is tolerated on top);
//! - **duration** (accept ≥ 40 ms, reject < 23 ms): a digit begins after
//!   two consecutive blocks that pass every check *and* are fully covered by
//!   the tone (the tones' amplitude fitted over each half within 15 %, which
//!   needs ≥ 94 of the 102 samples). Two such blocks need ≥ 189 samples
//!   (23.6 ms), while any 40 ms tone contains two whole blocks;
//! - **pause** (≥ 40 ms recognised): a digit ends after two consecutive
//!   blocks without it; any 40 ms pause contains two whole blocks, and a
//!   shorter drop-out (one block) does not split a digit.
//!
//! Each digit yields one [`ToneEvent::Began`] and one [`ToneEvent::Ended`]
//! with its duration, measured to a few samples from how much of the edge
//! blocks the tone covers.
//!
//! Levels are dBm0 with the G.711 reference of [`super::dbm0_to_amplitude`]
//! (a full-scale sine is +3.17 dBm0).
//!
//! Not modelled: talk-off was checked against synthetic vowels and chords
//! only (a steady vowel whose two strongest harmonics fall within 2.5 % of a
//! tone pair is, to any block-based detector, that tone pair).
//!
//! Cost: 16 Goertzel recursions per sample in `f32` (about 3 ms of one
//! core per minute of 8 kHz audio), plus a few hundred trigonometric calls
//! per block while a tone pair is present (about 18 ms per minute of
//! continuous tone); no allocation after construction.

use std::collections::VecDeque;
use std::f64::consts::TAU;

use super::{dbm0_to_amplitude, Digit, DtmfError, HIGH_GROUP_HZ, LOW_GROUP_HZ};
use crate::Frame;

/// Thresholds of the [`Detector`]; the defaults implement the limits of the
/// module documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Weakest accepted tone, each of the pair, dBm0.
    pub min_tone_dbm0: f64,
    /// How much weaker than the low tone the high tone may be, dB.
    pub max_reverse_twist_db: f64,
    /// How much stronger than the low tone the high tone may be, dB.
    pub max_normal_twist_db: f64,
    /// Largest accepted frequency deviation of each tone, as a fraction of
    /// its nominal frequency.
    pub max_frequency_deviation: f64,
    /// Smallest share of the block energy the two tones must hold, 0-1.
    pub min_tone_energy_ratio: f64,
    /// Largest accepted second-harmonic level relative to its fundamental,
    /// dB (negative).
    pub max_second_harmonic_db: f64,
}

impl Default for DetectorConfig {
    fn default() -> DetectorConfig {
        DetectorConfig {
            min_tone_dbm0: -32.0,
            max_reverse_twist_db: 5.0,
            max_normal_twist_db: 9.0,
            max_frequency_deviation: 0.025,
            min_tone_energy_ratio: 0.8,
            max_second_harmonic_db: -20.0,
        }
    }
}

/// What the [`Detector`] reports. Positions are sample indices counted from
/// the first sample the detector was given, at its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToneEvent {
    /// A digit was recognised, 25-40 ms after its tone began.
    Began {
        /// The key.
        digit: Digit,
        /// Sample index where the tone began.
        at: u64,
    },
    /// The digit's tone stopped, 25-40 ms before this is reported; each
    /// `Began` is followed by exactly one `Ended` of the same digit.
    Ended {
        /// The key.
        digit: Digit,
        /// Sample index where the tone stopped.
        at: u64,
        /// How long the tone lasted, ms.
        duration_ms: u32,
    },
}

/// Eight fundamentals (4 low, 4 high) then their eight second harmonics.
const FUNDAMENTALS: usize = 8;
const FILTERS: usize = 2 * FUNDAMENTALS;

/// Block length in seconds: 102 samples at 8 kHz.
const BLOCK_SECONDS: f64 = 102.0 / 8000.0;

/// Two blocks that are both tone and both fully covered begin a digit.
const BLOCKS_TO_BEGIN: u32 = 2;

/// Two blocks without the digit end it.
const MISSES_TO_END: u32 = 2;

/// Smallest ratio of the tones' amplitudes fitted over each half-block for
/// the block to count as fully covered (the tone over ≥ 92 % of it).
const FULL_COVERAGE: f64 = 0.85;

/// A half-block magnitude below this fraction of the tone's is taken as no
/// tone at all when measuring where a tone starts or stops.
const PRESENCE: f64 = 0.2;

/// A digit, once begun, carries on through blocks that meet relaxed
/// limits: level 9 dB lower, energy share and twist looser, no harmonic
/// check (the blocks where the tone starts or stops, or a short drop-out).
const WEAK_LEVEL_FACTOR: f64 = 0.125;
const WEAK_RATIO: f64 = 0.3;
const WEAK_TWIST_DB: f64 = 3.0;

/// Two consecutive blocks whose tone powers agree within this factor
/// (1 dB) both hold the tone throughout, so the phase advance between them
/// measures the frequency.
const STEADY: f64 = 1.26;

/// A harmonic's bin is allowed this many times the noise it would hold on
/// average, on top of the harmonic limit, in blocks where the two tones
/// hold at least `NOISY_TONE_SHARE` of the energy (a tone pair in white
/// noise; speech rarely gets there).
const NOISE_ALLOWANCE: f64 = 2.0;
const NOISY_TONE_SHARE: f64 = 0.9;

/// Blocks where the two strongest filters hold less than this share of the
/// energy, or are 29 dB below the level limit, are not examined further.
const SCREEN_SHARE: f64 = 0.15;
const SCREEN_LEVEL: f64 = 0.00125;

/// DTMF receiver for 16-bit PCM, sans-IO: feed samples with
/// [`process`](Self::process), drain [`poll_event`](Self::poll_event).
///
/// ```
/// use media::dtmf::{Detector, Digit, DtmfGenerator, ToneEvent, ToneLevels};
/// let mut tones = DtmfGenerator::new(8000, ToneLevels::default()).unwrap();
/// tones.push(Digit::D7, 100, 100);
/// let mut detector = Detector::new(8000).unwrap();
/// let mut frame = [0i16; 160];
/// for _ in 0..10 {
///     tones.fill(&mut frame);
///     detector.process(&frame);
/// }
/// assert!(matches!(detector.poll_event(), Some(ToneEvent::Began { digit: Digit::D7, .. })));
/// assert!(matches!(
///     detector.poll_event(),
///     Some(ToneEvent::Ended { digit: Digit::D7, duration_ms: 99..=101, .. })
/// ));
/// ```
#[derive(Debug)]
pub struct Detector {
    rate: u32,
    /// Block length N, even.
    block: usize,
    /// Half-block length L = N / 2.
    half: usize,
    limits: Limits,
    /// Filter frequencies, radians per sample.
    omega: [f64; FILTERS],
    /// Goertzel coefficients 2·cos ω.
    coef: [f32; FILTERS],
    /// e^(jω).
    unit: [Complex; FILTERS],
    /// Turns a Goertzel output into Σ x[n]·e^(−jωn) over its window:
    /// e^(−jω(len−1)), len = L for fundamentals, N for harmonics.
    to_dft: [Complex; FILTERS],
    /// e^(−jωL): moves a second-half value to the block's phase reference.
    half_shift: [Complex; FUNDAMENTALS],
    s1: [f32; FILTERS],
    s2: [f32; FILTERS],
    /// Samples of the current block seen so far.
    pos: usize,
    energy: i64,
    /// First-half values of the current block.
    first: [Complex; FUNDAMENTALS],
    prev: Option<Block>,
    /// Index of the first sample of the current block.
    block_start: u64,
    run: Option<Run>,
    active: Option<Active>,
    events: VecDeque<ToneEvent>,
}

/// Linear forms of the [`DetectorConfig`] limits.
#[derive(Debug, Clone, Copy)]
struct Limits {
    min_power: f64,
    min_twist: f64,
    max_twist: f64,
    max_deviation: f64,
    min_ratio: f64,
    max_harmonic: f64,
    weak_min_twist: f64,
    weak_max_twist: f64,
}

/// The fundamentals' DFT values of one block: each half (relative to the
/// half's own start) and the whole block.
#[derive(Debug, Clone, Copy)]
struct Block {
    a: [Complex; FUNDAMENTALS],
    b: [Complex; FUNDAMENTALS],
    full: [Complex; FUNDAMENTALS],
}

/// Consecutive fully covered blocks of one digit.
#[derive(Debug, Clone, Copy)]
struct Run {
    digit: Digit,
    count: u32,
    /// Where the tone began, estimated.
    start: u64,
}

/// The digit being heard.
#[derive(Debug, Clone, Copy)]
struct Active {
    digit: Digit,
    bins: [usize; 2],
    /// Measured tone frequencies, radians per sample.
    omega: [f64; 2],
    start: u64,
    /// Where the tone was last seen to reach.
    end: u64,
    misses: u32,
    /// Tone amplitudes (phasor magnitudes) in the last full block.
    reference: [f64; 2],
}

/// The strongest low and high tone of a block, measured.
#[derive(Debug, Clone, Copy)]
struct Pair {
    digit: Digit,
    /// Filter indices of the low and the high tone.
    bins: [usize; 2],
    /// Measured frequencies, radians per sample.
    omega: [f64; 2],
    /// Frequencies measured across two blocks (precise), not within one.
    precise: bool,
    /// Complex amplitude c of each tone, the tone being c·e^(jωn) + c.c.
    /// from the block's first sample.
    tone: [Complex; 2],
    /// |c| of each tone fitted over the first and over the second half.
    halves: [[f64; 2]; 2],
}

/// One block's verdict.
#[derive(Debug, Clone, Copy, Default)]
struct Verdict {
    /// Passes every check.
    strict: Option<Hit>,
    /// Passes the relaxed checks.
    weak: Option<Digit>,
}

#[derive(Debug, Clone, Copy)]
struct Hit {
    pair: Pair,
    /// The tone covers the whole block.
    full: bool,
    /// Both frequencies measured precisely and within the limit.
    precise: bool,
}

impl Detector {
    /// A detector for `rate` samples per second (8000 to 48000; 8000 and
    /// 16000 are the intended rates) with the default limits.
    pub fn new(rate: u32) -> Result<Detector, DtmfError> {
        Detector::with_config(rate, DetectorConfig::default())
    }

    /// A detector with custom limits.
    pub fn with_config(rate: u32, config: DetectorConfig) -> Result<Detector, DtmfError> {
        if !(8000..=48_000).contains(&rate) {
            return Err(DtmfError::UnsupportedRate(rate));
        }
        let half = (f64::from(rate) * BLOCK_SECONDS / 2.0).round() as usize;
        let block = 2 * half;
        let mut hz = [0.0; FILTERS];
        for (i, f) in LOW_GROUP_HZ.iter().chain(&HIGH_GROUP_HZ).enumerate() {
            hz[i] = *f;
            hz[FUNDAMENTALS + i] = 2.0 * f;
        }
        let omega = hz.map(|f| TAU * f / f64::from(rate));
        let coef = omega.map(|w| (2.0 * w.cos()) as f32);
        let unit = omega.map(Complex::from_angle);
        let mut to_dft = [Complex::default(); FILTERS];
        for (i, w) in omega.iter().enumerate() {
            let len = if i < FUNDAMENTALS { half } else { block };
            to_dft[i] = Complex::from_angle(-w * (len as f64 - 1.0));
        }
        let mut half_shift = [Complex::default(); FUNDAMENTALS];
        for (i, shift) in half_shift.iter_mut().enumerate() {
            *shift = Complex::from_angle(-omega[i] * half as f64);
        }
        let zero_dbm0 = dbm0_to_amplitude(0.0);
        let power = |dbm0: f64| zero_dbm0 * zero_dbm0 / 2.0 * 10f64.powf(dbm0 / 10.0);
        let ratio = |db: f64| 10f64.powf(db / 10.0);
        let limits = Limits {
            min_power: power(config.min_tone_dbm0),
            min_twist: ratio(-config.max_reverse_twist_db),
            max_twist: ratio(config.max_normal_twist_db),
            max_deviation: config.max_frequency_deviation,
            min_ratio: config.min_tone_energy_ratio,
            max_harmonic: ratio(config.max_second_harmonic_db),
            weak_min_twist: ratio(-config.max_reverse_twist_db - WEAK_TWIST_DB),
            weak_max_twist: ratio(config.max_normal_twist_db + WEAK_TWIST_DB),
        };
        Ok(Detector {
            rate,
            block,
            half,
            limits,
            omega,
            coef,
            unit,
            to_dft,
            half_shift,
            s1: [0.0; FILTERS],
            s2: [0.0; FILTERS],
            pos: 0,
            energy: 0,
            first: [Complex::default(); FUNDAMENTALS],
            prev: None,
            block_start: 0,
            run: None,
            active: None,
            events: VecDeque::with_capacity(4),
        })
    }

    /// Samples per second this detector expects.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Samples per analysis block (102 at 8 kHz).
    pub fn block_len(&self) -> usize {
        self.block
    }

    /// Takes in the next samples, any number of them.
    pub fn process(&mut self, mut samples: &[i16]) {
        while !samples.is_empty() {
            let boundary = if self.pos < self.half {
                self.half
            } else {
                self.block
            };
            let n = (boundary - self.pos).min(samples.len());
            let (chunk, rest) = samples.split_at(n);
            self.feed(chunk);
            samples = rest;
            self.pos += n;
            if self.pos == self.half {
                self.end_first_half();
            } else if self.pos == self.block {
                self.end_block();
            }
        }
    }

    /// Takes in a frame; refused if its rate is not the detector's.
    pub fn process_frame(&mut self, frame: &Frame) -> Result<(), DtmfError> {
        if frame.rate != self.rate {
            return Err(DtmfError::UnsupportedRate(frame.rate));
        }
        self.process(&frame.samples);
        Ok(())
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<ToneEvent> {
        self.events.pop_front()
    }

    /// The digit being heard right now, if any.
    pub fn current(&self) -> Option<Digit> {
        self.active.map(|active| active.digit)
    }

    /// Ends the digit being heard, if any, as at the last sample given (end
    /// of the stream, hang-up).
    pub fn flush(&mut self) {
        if let Some(mut active) = self.active.take() {
            if active.end >= self.block_start {
                // still sounding in the block under way
                active.end = self.block_start + self.pos as u64;
            }
            self.report_end(active);
        }
        self.run = None;
    }

    /// Runs every filter over `chunk`, which lies within one half-block.
    fn feed(&mut self, chunk: &[i16]) {
        let coef = self.coef;
        let mut s1 = self.s1;
        let mut s2 = self.s2;
        let mut energy = 0i64;
        for &x in chunk {
            energy += i64::from(x) * i64::from(x);
            let x = f32::from(x);
            for ((c, a), b) in coef.iter().zip(s1.iter_mut()).zip(s2.iter_mut()) {
                let s0 = x + c * *a - *b;
                *b = *a;
                *a = s0;
            }
        }
        self.s1 = s1;
        self.s2 = s2;
        self.energy += energy;
    }

    /// Σ x[n]·e^(−jωn) over the filter's window so far, from its state.
    fn dft(&self, i: usize) -> Complex {
        // Goertzel: y = s[n] − e^(−jω)·s[n−1] = e^(jω(len−1))·Σ x[k]e^(−jωk)
        let (s1, s2) = (f64::from(self.s1[i]), f64::from(self.s2[i]));
        let Complex { re: cos, im: sin } = self.unit[i];
        let y = Complex {
            re: s1 - cos * s2,
            im: sin * s2,
        };
        y.mul(self.to_dft[i])
    }

    fn end_first_half(&mut self) {
        for i in 0..FUNDAMENTALS {
            self.first[i] = self.dft(i);
            self.s1[i] = 0.0;
            self.s2[i] = 0.0;
        }
    }

    fn end_block(&mut self) {
        let mut block = Block {
            a: self.first,
            b: [Complex::default(); FUNDAMENTALS],
            full: [Complex::default(); FUNDAMENTALS],
        };
        for i in 0..FUNDAMENTALS {
            block.b[i] = self.dft(i);
            block.full[i] = block.a[i].add(block.b[i].mul(self.half_shift[i]));
        }
        let mut harmonics = [Complex::default(); FUNDAMENTALS];
        for (i, h) in harmonics.iter_mut().enumerate() {
            *h = self.dft(FUNDAMENTALS + i);
        }
        let verdict = self.judge(&block, &harmonics, self.energy as f64);
        self.step(&block, verdict);

        self.prev = Some(block);
        self.s1 = [0.0; FILTERS];
        self.s2 = [0.0; FILTERS];
        self.energy = 0;
        self.pos = 0;
        self.block_start += self.block as u64;
    }

    /// Applies the checks of the module documentation to one block.
    fn judge(&self, block: &Block, harmonics: &[Complex; FUNDAMENTALS], energy: f64) -> Verdict {
        let power = |i: usize| block.full[i].norm_sqr();
        let strongest = |range: std::ops::Range<usize>| {
            range
                .max_by(|&x, &y| power(x).total_cmp(&power(y)))
                .unwrap_or(0)
        };
        let (low, high) = (strongest(0..4), strongest(4..8));
        let Some(digit) = Digit::from_tones(low, high - 4) else {
            return Verdict::default();
        };
        // Cheap screen before the measurements: silence and most speech
        // stop here.
        let n = self.block as f64;
        let raw = [power(low), power(high)].map(|p| 2.0 * p / (n * n));
        if energy <= 0.0
            || (raw[0] + raw[1]) * n < SCREEN_SHARE * energy
            || raw[0].min(raw[1]) < SCREEN_LEVEL * self.limits.min_power
        {
            return Verdict::default();
        }

        let pair = self.measure(block, digit, [low, high]);
        let limits = &self.limits;
        let power = pair.tone.map(|c| 2.0 * c.norm_sqr());
        let twist = power[1] / power[0].max(f64::MIN_POSITIVE);
        let model_energy = self.model_energy(&pair);
        let share = model_energy / energy;
        let deviation = (0..2)
            .map(|s| (pair.omega[s] / self.omega[pair.bins[s]] - 1.0).abs())
            .fold(0.0, f64::max);
        let roughly_on_frequency = deviation <= 2.0 * limits.max_deviation;

        let weak = (power[0].min(power[1]) >= limits.min_power * WEAK_LEVEL_FACTOR
            && (limits.weak_min_twist..=limits.weak_max_twist).contains(&twist)
            && share >= WEAK_RATIO
            && roughly_on_frequency)
            .then_some(digit);
        let strict = (power[0].min(power[1]) >= limits.min_power
            && (limits.min_twist..=limits.max_twist).contains(&twist)
            && share >= limits.min_ratio
            && roughly_on_frequency)
            .then(|| Hit {
                pair,
                full: {
                    // both tones together, so the stronger one's better
                    // signal-to-noise ratio counts most
                    let [a, b] = pair.halves.map(|h| (h[0] * h[0] + h[1] * h[1]).sqrt());
                    a.min(b) >= FULL_COVERAGE * a.max(b)
                },
                // The harmonic check needs precise frequencies: a strong
                // high tone can sit within one bin of the low tone's
                // harmonic, and only an accurate fit cancels it.
                precise: pair.precise
                    && deviation <= limits.max_deviation
                    && self.harmonics_ok(&pair, harmonics, energy, model_energy),
            });
        Verdict { strict, weak }
    }

    /// Measures the tones of filters `bins` in `block`: frequencies (see
    /// the module documentation), then amplitudes by a joint fit.
    fn measure(&self, block: &Block, digit: Digit, bins: [usize; 2]) -> Pair {
        let nominal = bins.map(|i| self.omega[i]);
        let pick = |values: &[Complex; FUNDAMENTALS]| bins.map(|i| values[i]);
        let (half, len) = (self.half as f64, self.block as f64);

        // coarse: phase advance over half a block, unambiguous to ±rate/2L
        let a = self.fit(pick(&block.a), bins, nominal, self.half);
        let b = self.fit(pick(&block.b), bins, nominal, self.half);
        let mut omega = [0.0; 2];
        for s in 0..2 {
            let advance = b[s].mul(a[s].conj()).arg();
            omega[s] = nominal[s] + wrap(advance - nominal[s] * half) / half;
        }

        // precise: phase advance over a whole block, resolved by the coarse
        let mut precise = false;
        if let Some(prev) = &self.prev {
            let now = self.fit(pick(&block.full), bins, omega, self.block);
            let before = self.fit(pick(&prev.full), bins, omega, self.block);
            let (x, y) = (
                now[0].norm_sqr() + now[1].norm_sqr(),
                before[0].norm_sqr() + before[1].norm_sqr(),
            );
            let steady = y > STEADY.recip() * x && y < STEADY * x;
            if steady {
                let spacing = TAU / len;
                for s in 0..2 {
                    let advance = now[s].mul(before[s].conj()).arg();
                    let fine = wrap(advance - nominal[s] * len) / len;
                    let coarse = omega[s] - nominal[s];
                    omega[s] = nominal[s] + fine + ((coarse - fine) / spacing).round() * spacing;
                }
                precise = true;
            }
        }

        let tone = self.fit(pick(&block.full), bins, omega, self.block);
        let halves = [
            self.fit(pick(&block.a), bins, omega, self.half)
                .map(Complex::abs),
            self.fit(pick(&block.b), bins, omega, self.half)
                .map(Complex::abs),
        ];
        Pair {
            digit,
            bins,
            omega,
            precise,
            tone,
            halves,
        }
    }

    /// Complex amplitudes of two real tones of frequencies `omega` from the
    /// DFT values `measured` at the filters `bins` over `len` samples, each
    /// tone's leakage into the other's filter (and its negative-frequency
    /// image) accounted for.
    fn fit(
        &self,
        measured: [Complex; 2],
        bins: [usize; 2],
        omega: [f64; 2],
        len: usize,
    ) -> [Complex; 2] {
        let bin = bins.map(|i| self.omega[i]);
        let kernel = |i: usize, s: usize| dirichlet(omega[s] - bin[i], len);
        let image = |i: usize, s: usize| dirichlet(-omega[s] - bin[i], len);
        let m = [[kernel(0, 0), kernel(0, 1)], [kernel(1, 0), kernel(1, 1)]];
        let g = [[image(0, 0), image(0, 1)], [image(1, 0), image(1, 1)]];
        let det = m[0][0].mul(m[1][1]).sub(m[0][1].mul(m[1][0]));
        if det.norm_sqr() < 1e-9 {
            return [Complex::default(); 2];
        }
        let solve = |y: [Complex; 2]| {
            [
                y[0].mul(m[1][1]).sub(m[0][1].mul(y[1])).div(det),
                m[0][0].mul(y[1]).sub(m[1][0].mul(y[0])).div(det),
            ]
        };
        let mut c = solve(measured);
        for _ in 0..2 {
            // the images are small: two rounds of subtracting them settle c
            let y = [0, 1].map(|i| {
                measured[i]
                    .sub(g[i][0].mul(c[0].conj()))
                    .sub(g[i][1].mul(c[1].conj()))
            });
            c = solve(y);
        }
        c
    }

    /// Energy over the block of the two fitted tones, cross terms included.
    fn model_energy(&self, pair: &Pair) -> f64 {
        let mut energy = 0.0;
        for s in 0..2 {
            for t in 0..2 {
                let (cs, ct) = (pair.tone[s], pair.tone[t]);
                let sum = cs
                    .mul(ct)
                    .mul(dirichlet(pair.omega[s] + pair.omega[t], self.block));
                let diff = cs
                    .mul(ct.conj())
                    .mul(dirichlet(pair.omega[s] - pair.omega[t], self.block));
                energy += 2.0 * (sum.re + diff.re);
            }
        }
        energy
    }

    /// Each tone's second harmonic, once the contributions of the two tones
    /// themselves are subtracted, stays below the limit.
    fn harmonics_ok(
        &self,
        pair: &Pair,
        harmonics: &[Complex; FUNDAMENTALS],
        energy: f64,
        model_energy: f64,
    ) -> bool {
        (0..2).all(|t| {
            let bin = self.omega[FUNDAMENTALS + pair.bins[t]];
            let mut residual = harmonics[pair.bins[t]];
            for s in 0..2 {
                let c = pair.tone[s];
                residual = residual
                    .sub(c.mul(dirichlet(pair.omega[s] - bin, self.block)))
                    .sub(c.conj().mul(dirichlet(-pair.omega[s] - bin, self.block)));
            }
            // Noise lands in the harmonic's bin too: |X|² of white noise
            // averages the noise energy of the block, which is what the two
            // tones leave unexplained.
            let noise = if model_energy >= NOISY_TONE_SHARE * energy {
                NOISE_ALLOWANCE * (energy - model_energy).max(0.0)
            } else {
                0.0
            };
            let gain = dirichlet(2.0 * pair.omega[t] - bin, self.block).norm_sqr();
            residual.norm_sqr() <= pair.tone[t].norm_sqr() * self.limits.max_harmonic * gain + noise
        })
    }

    /// Advances the begin/end logic by one block.
    fn step(&mut self, block: &Block, verdict: Verdict) {
        let block_end = self.block_start + self.block as u64;
        match verdict.strict {
            Some(hit) if hit.full => match self.run.as_mut() {
                Some(run) if run.digit == hit.pair.digit => {
                    // the second block must confirm the frequencies precisely
                    run.count = if hit.precise { run.count + 1 } else { 1 };
                }
                _ => {
                    let pair = hit.pair;
                    let reference = pair.tone.map(Complex::abs);
                    let onset = self.prev.map_or(0.0, |prev| {
                        self.coverage(&prev, pair.bins, pair.omega, reference)
                    });
                    self.run = Some(Run {
                        digit: pair.digit,
                        count: 1,
                        start: self.block_start.saturating_sub(onset.round() as u64),
                    });
                }
            },
            _ => self.run = None,
        }

        if let Some(mut active) = self.active {
            let strict = verdict.strict.filter(|hit| hit.pair.digit == active.digit);
            if strict.is_some() || verdict.weak == Some(active.digit) {
                active.misses = 0;
                if let Some(hit) = strict.filter(|hit| hit.full) {
                    active.reference = hit.pair.tone.map(Complex::abs);
                    active.omega = hit.pair.omega;
                }
                let covered = self.coverage(block, active.bins, active.omega, active.reference);
                active.end = self.block_start + covered.round() as u64;
            } else {
                if active.end + self.block as u64 / 8 >= self.block_start {
                    // the tone reached into this block: find where it stopped
                    let covered = self.coverage(block, active.bins, active.omega, active.reference);
                    active.end = active.end.max(self.block_start + covered.round() as u64);
                }
                active.misses += 1;
            }
            if active.misses >= MISSES_TO_END {
                self.active = None;
                self.report_end(active);
            } else {
                self.active = Some(active);
            }
        }

        if self.active.is_none() {
            if let (Some(run), Some(hit)) = (self.run, verdict.strict) {
                if run.count >= BLOCKS_TO_BEGIN {
                    self.events.push_back(ToneEvent::Began {
                        digit: run.digit,
                        at: run.start,
                    });
                    self.active = Some(Active {
                        digit: run.digit,
                        bins: hit.pair.bins,
                        omega: hit.pair.omega,
                        start: run.start,
                        end: block_end,
                        misses: 0,
                        reference: hit.pair.tone.map(Complex::abs),
                    });
                }
            }
        }
    }

    /// Samples of `block` the two tones cover, estimated from their
    /// amplitudes in each half against the steady-tone `reference`.
    fn coverage(
        &self,
        block: &Block,
        bins: [usize; 2],
        omega: [f64; 2],
        reference: [f64; 2],
    ) -> f64 {
        let pick = |values: &[Complex; FUNDAMENTALS]| bins.map(|i| values[i]);
        let halves = [
            self.fit(pick(&block.a), bins, omega, self.half),
            self.fit(pick(&block.b), bins, omega, self.half),
        ];
        let mut total = 0.0;
        for half in halves {
            for s in 0..2 {
                let r = (half[s].abs() / reference[s].max(f64::MIN_POSITIVE)).min(1.0);
                if r >= PRESENCE {
                    total += r;
                }
            }
        }
        total * self.half as f64 / 2.0
    }

    fn report_end(&mut self, active: Active) {
        let samples = active.end.saturating_sub(active.start);
        let rate = u64::from(self.rate);
        self.events.push_back(ToneEvent::Ended {
            digit: active.digit,
            at: active.end,
            duration_ms: ((samples * 1000 + rate / 2) / rate) as u32,
        });
    }
}

/// Σ_{n<len} e^(jθn): the DFT over `len` samples of a unit complex tone
/// θ radians per sample away from the bin.
fn dirichlet(theta: f64, len: usize) -> Complex {
    let n = len as f64;
    let half = theta / 2.0;
    let s = half.sin();
    let magnitude = if s.abs() < 1e-12 {
        n
    } else {
        (n * half).sin() / s
    };
    Complex::from_angle(half * (n - 1.0)).scale(magnitude)
}

/// `x` brought into (−π, π].
fn wrap(x: f64) -> f64 {
    x - TAU * (x / TAU).round()
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Complex {
    re: f64,
    im: f64,
}

impl Complex {
    fn from_angle(theta: f64) -> Complex {
        Complex {
            re: theta.cos(),
            im: theta.sin(),
        }
    }

    fn add(self, o: Complex) -> Complex {
        Complex {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }

    fn sub(self, o: Complex) -> Complex {
        Complex {
            re: self.re - o.re,
            im: self.im - o.im,
        }
    }

    fn mul(self, o: Complex) -> Complex {
        Complex {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }

    fn div(self, o: Complex) -> Complex {
        let d = o.norm_sqr().max(f64::MIN_POSITIVE);
        self.mul(o.conj()).scale(1.0 / d)
    }

    fn scale(self, k: f64) -> Complex {
        Complex {
            re: self.re * k,
            im: self.im * k,
        }
    }

    fn conj(self) -> Complex {
        Complex {
            re: self.re,
            im: -self.im,
        }
    }

    fn norm_sqr(self) -> f64 {
        self.re * self.re + self.im * self.im
    }

    fn abs(self) -> f64 {
        self.norm_sqr().sqrt()
    }

    fn arg(self) -> f64 {
        self.im.atan2(self.re)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::{parse_digits, DtmfGenerator, DualTone, ToneLevels};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const RATE: u32 = 8000;

    fn samples(rate: u32, ms: f64) -> usize {
        (f64::from(rate) * ms / 1000.0).round() as usize
    }

    /// `ms` of `low_hz` + `high_hz` at `levels`.
    fn pair(rate: u32, low_hz: f64, high_hz: f64, levels: ToneLevels, ms: f64) -> Vec<i16> {
        let mut out = vec![0; samples(rate, ms)];
        DualTone::new(rate, low_hz, high_hz, levels).fill(&mut out);
        out
    }

    fn digit_tone(rate: u32, digit: Digit, levels: ToneLevels, ms: f64) -> Vec<i16> {
        let (low, high) = digit.frequencies();
        pair(rate, low, high, levels, ms)
    }

    fn levels(low_dbm0: f64, high_dbm0: f64) -> ToneLevels {
        ToneLevels {
            low_dbm0,
            high_dbm0,
        }
    }

    /// `lead_ms` of silence, `signal`, 150 ms of silence.
    fn padded(rate: u32, lead_ms: f64, signal: &[i16]) -> Vec<i16> {
        let mut out = vec![0; samples(rate, lead_ms)];
        out.extend_from_slice(signal);
        out.extend(std::iter::repeat_n(0, samples(rate, 150.0)));
        out
    }

    /// Adds white Gaussian noise of mean power `power` (seeded).
    fn add_noise(signal: &mut [i16], power: f64, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let sigma = power.sqrt();
        for x in signal.iter_mut() {
            // Box-Muller
            let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
            let u2: f64 = rng.gen();
            let g = (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos();
            *x = (f64::from(*x) + sigma * g)
                .round()
                .clamp(-32_768.0, 32_767.0) as i16;
        }
    }

    /// Every event for `signal`, fed in 20 ms frames.
    fn events(rate: u32, signal: &[i16]) -> Vec<ToneEvent> {
        events_in_chunks(rate, signal, rate as usize / 50)
    }

    fn events_in_chunks(rate: u32, signal: &[i16], chunk: usize) -> Vec<ToneEvent> {
        let mut detector = Detector::new(rate).expect("rate");
        let mut out = Vec::new();
        for frame in signal.chunks(chunk) {
            detector.process(frame);
            out.extend(std::iter::from_fn(|| detector.poll_event()));
        }
        out
    }

    /// The digits heard, with their durations; checks that every digit
    /// began once and ended once, in order.
    fn heard(rate: u32, signal: &[i16]) -> Vec<(Digit, u32)> {
        let events = events(rate, signal);
        assert_eq!(events.len() % 2, 0, "{events:?}");
        events
            .chunks(2)
            .map(|pair| match *pair {
                [ToneEvent::Began { digit, at: start }, ToneEvent::Ended {
                    digit: ended,
                    at: end,
                    duration_ms,
                }] => {
                    assert_eq!(digit, ended, "{events:?}");
                    assert!(end > start);
                    (digit, duration_ms)
                }
                _ => panic!("unpaired events: {events:?}"),
            })
            .collect()
    }

    fn heard_digits(rate: u32, signal: &[i16]) -> Vec<Digit> {
        heard(rate, signal).into_iter().map(|(d, _)| d).collect()
    }

    #[test]
    fn dirichlet_matches_the_direct_sum() {
        for theta in [0.0, 1e-9, 0.05, -0.3, 1.7] {
            let mut direct = Complex::default();
            for n in 0..102 {
                direct = direct.add(Complex::from_angle(theta * f64::from(n)));
            }
            let closed = dirichlet(theta, 102);
            assert!(direct.sub(closed).abs() < 1e-9, "{theta}");
        }
    }

    #[test]
    fn the_goertzel_output_is_the_dft_of_the_window() {
        let signal = pair(RATE, 700.0, 1300.0, ToneLevels::default(), 20.0);
        // fundamentals run over half blocks, harmonics over whole blocks
        for (filters, len) in [(0..8, 51), (8..16, 102)] {
            let mut detector = Detector::new(RATE).expect("rate");
            let window = &signal[..len];
            detector.feed(window);
            for i in filters {
                let mut direct = Complex::default();
                for (n, &x) in window.iter().enumerate() {
                    let w = Complex::from_angle(-detector.omega[i] * n as f64);
                    direct = direct.add(w.scale(f64::from(x)));
                }
                let got = detector.dft(i);
                assert!(
                    got.sub(direct).abs() < 1e-5 * direct.abs().max(1e4),
                    "filter {i}: {got:?} {direct:?}"
                );
            }
        }
    }

    #[test]
    fn all_sixteen_digits_at_nominal_frequencies() {
        for digit in Digit::ALL {
            let signal = padded(
                RATE,
                23.0,
                &digit_tone(RATE, digit, ToneLevels::default(), 100.0),
            );
            let got = heard(RATE, &signal);
            assert_eq!(got.len(), 1, "{digit}: {got:?}");
            assert_eq!(got[0].0, digit);
            assert!((97..=103).contains(&got[0].1), "{digit}: {} ms", got[0].1);
        }
    }

    #[test]
    fn all_digits_at_16_khz() {
        for digit in Digit::ALL {
            let signal = padded(
                16_000,
                11.0,
                &digit_tone(16_000, digit, ToneLevels::default(), 60.0),
            );
            let got = heard(16_000, &signal);
            assert_eq!(got.len(), 1, "{digit}: {got:?}");
            assert_eq!(got[0].0, digit);
            assert!((57..=63).contains(&got[0].1), "{digit}: {} ms", got[0].1);
        }
    }

    #[test]
    fn digits_in_white_noise_at_15_db_snr() {
        for (i, digit) in Digit::ALL.into_iter().enumerate() {
            for rate in [8000, 16_000] {
                let tone_levels = levels(-20.0, -18.0);
                let mut signal = padded(rate, 40.0, &digit_tone(rate, digit, tone_levels, 60.0));
                let a = [-20.0, -18.0].map(dbm0_to_amplitude);
                let tone_power = (a[0] * a[0] + a[1] * a[1]) / 2.0;
                add_noise(&mut signal, tone_power / 10f64.powf(1.5), 1000 + i as u64);
                assert_eq!(heard_digits(rate, &signal), [digit], "{digit} at {rate} Hz");
            }
        }
    }

    #[test]
    fn quiet_digits_at_minus_26_dbm0_are_heard_and_much_quieter_ones_not() {
        for digit in Digit::ALL {
            let signal = padded(
                RATE,
                5.0,
                &digit_tone(RATE, digit, levels(-26.0, -26.0), 60.0),
            );
            assert_eq!(heard_digits(RATE, &signal), [digit], "{digit}");
            let signal = padded(
                RATE,
                5.0,
                &digit_tone(RATE, digit, levels(-40.0, -40.0), 60.0),
            );
            assert_eq!(heard_digits(RATE, &signal), [], "{digit}");
        }
    }

    #[test]
    fn frequencies_within_1_5_percent_are_accepted() {
        for digit in Digit::ALL {
            let (low, high) = digit.frequencies();
            for (dl, dh) in [
                (1.015, 1.015),
                (0.985, 0.985),
                (1.015, 0.985),
                (0.985, 1.015),
            ] {
                let signal = padded(
                    RATE,
                    17.0,
                    &pair(RATE, low * dl, high * dh, ToneLevels::default(), 60.0),
                );
                assert_eq!(heard_digits(RATE, &signal), [digit], "{digit} x{dl} x{dh}");
            }
        }
    }

    #[test]
    fn frequencies_3_5_percent_off_are_rejected() {
        for digit in Digit::ALL {
            let (low, high) = digit.frequencies();
            for (dl, dh) in [
                (1.035, 1.0),
                (0.965, 1.0),
                (1.0, 1.035),
                (1.0, 0.965),
                (1.035, 0.965),
            ] {
                let signal = padded(
                    RATE,
                    17.0,
                    &pair(RATE, low * dl, high * dh, ToneLevels::default(), 200.0),
                );
                assert_eq!(heard_digits(RATE, &signal), [], "{digit} x{dl} x{dh}");
            }
        }
    }

    #[test]
    fn forty_ms_is_a_digit_and_twenty_ms_is_not_at_any_alignment() {
        for lead in 0..26 {
            let lead_ms = f64::from(lead) * 0.5; // 0 to 12.5 ms: every block phase
            for digit in [Digit::D1, Digit::D0, Digit::D] {
                let tone = digit_tone(RATE, digit, ToneLevels::default(), 40.0);
                let got = heard(RATE, &padded(RATE, lead_ms, &tone));
                assert_eq!(got.len(), 1, "{digit} after {lead_ms} ms: {got:?}");
                assert!((37..=43).contains(&got[0].1), "{got:?}");
                let tone = digit_tone(RATE, digit, ToneLevels::default(), 20.0);
                let got = heard(RATE, &padded(RATE, lead_ms, &tone));
                assert_eq!(got, [], "{digit} 20 ms after {lead_ms} ms");
            }
        }
    }

    #[test]
    fn twist_within_limits_is_accepted_and_beyond_rejected() {
        for digit in Digit::ALL {
            let check = |low_dbm0: f64, high_dbm0: f64, heard: bool| {
                let signal = padded(
                    RATE,
                    9.0,
                    &digit_tone(RATE, digit, levels(low_dbm0, high_dbm0), 60.0),
                );
                let expected = if heard { vec![digit] } else { vec![] };
                assert_eq!(
                    heard_digits(RATE, &signal),
                    expected,
                    "{digit} {low_dbm0}/{high_dbm0}"
                );
            };
            check(-10.0, -14.0, true); // reverse twist 4 dB
            check(-10.0, -16.0, false); // reverse twist 6 dB
            check(-16.0, -8.0, true); // normal twist 8 dB
            check(-18.0, -8.0, false); // normal twist 10 dB
        }
    }

    #[test]
    fn single_tones_and_non_dtmf_chords_are_not_digits() {
        let quiet = levels(-10.0, -200.0);
        let single = padded(RATE, 0.0, &pair(RATE, 1000.0, 1000.0, quiet, 500.0));
        assert_eq!(heard_digits(RATE, &single), []);
        for (low, high) in [
            (350.0, 440.0),  // dial tone
            (480.0, 620.0),  // busy
            (440.0, 480.0),  // ringback
            (600.0, 1000.0), // arbitrary
            (1000.0, 1400.0),
            (720.0, 1250.0), // about 3.5 % above '1'
        ] {
            let chord = padded(
                RATE,
                0.0,
                &pair(RATE, low, high, ToneLevels::default(), 500.0),
            );
            assert_eq!(heard_digits(RATE, &chord), [], "{low} + {high}");
        }
    }

    #[test]
    fn a_vowel_with_harmonics_on_dtmf_frequencies_is_not_a_digit() {
        // /a/-like: F0 99.6 Hz, formants near 700 and 1200 Hz, so the 7th
        // (697 Hz) and 12th (1195 Hz) harmonics stand out, both within
        // 1.5 % of digit 1's tones.
        let f0 = 99.6;
        let mut rng = StdRng::seed_from_u64(7);
        let mut signal = vec![0i16; samples(RATE, 500.0)];
        let mut voice = vec![0.0f64; signal.len()];
        for k in 1..=38 {
            let f = f0 * f64::from(k);
            let formant = |centre: f64| 1.0 / (1.0 + ((f - centre) / 120.0).powi(2));
            let amplitude = 3000.0 * (formant(700.0) + formant(1200.0) + 0.1);
            let phase: f64 = rng.gen_range(0.0..TAU);
            for (n, v) in voice.iter_mut().enumerate() {
                *v += amplitude * (TAU * f * n as f64 / f64::from(RATE) + phase).sin();
            }
        }
        for (x, v) in signal.iter_mut().zip(&voice) {
            *x = v.round().clamp(-32_768.0, 32_767.0) as i16;
        }
        assert_eq!(heard_digits(RATE, &padded(RATE, 0.0, &signal)), []);
    }

    #[test]
    fn strong_second_harmonics_are_rejected_weak_ones_accepted() {
        for digit in Digit::ALL {
            let (low, high) = digit.frequencies();
            let with_harmonics = |harmonic_db: f64| {
                let mut signal = digit_tone(RATE, digit, levels(-10.0, -10.0), 80.0);
                let harmonic = levels(-10.0 + harmonic_db, -10.0 + harmonic_db);
                let overtones = pair(RATE, 2.0 * low, 2.0 * high, harmonic, 80.0);
                for (x, h) in signal.iter_mut().zip(&overtones) {
                    *x = x.saturating_add(*h);
                }
                heard_digits(RATE, &padded(RATE, 3.0, &signal))
            };
            assert_eq!(with_harmonics(-6.0), [], "{digit} with harmonics at -6 dB");
            assert_eq!(
                with_harmonics(-30.0),
                [digit],
                "{digit} with harmonics at -30 dB"
            );
        }
    }

    #[test]
    fn a_digit_string_with_50_ms_gaps_is_heard_in_order_once_each() {
        for (tone_ms, gap_ms) in [(60, 50), (40, 40)] {
            let mut generator = DtmfGenerator::new(RATE, ToneLevels::default()).expect("rate");
            for digit in parse_digits("123#").expect("digits") {
                generator.push(digit, tone_ms, gap_ms);
            }
            let mut signal = vec![0; samples(RATE, 600.0)];
            generator.fill(&mut signal);
            assert_eq!(
                heard_digits(RATE, &padded(RATE, 7.0, &signal)),
                parse_digits("123#").expect("digits"),
                "{tone_ms} ms tones, {gap_ms} ms gaps"
            );
        }
    }

    #[test]
    fn a_repeated_digit_after_a_40_ms_pause_is_heard_twice() {
        let mut signal = digit_tone(RATE, Digit::D5, ToneLevels::default(), 60.0);
        signal.extend(std::iter::repeat_n(0, samples(RATE, 40.0)));
        signal.extend(digit_tone(RATE, Digit::D5, ToneLevels::default(), 60.0));
        assert_eq!(
            heard_digits(RATE, &padded(RATE, 3.0, &signal)),
            [Digit::D5, Digit::D5]
        );
    }

    #[test]
    fn a_10_ms_drop_out_does_not_split_a_digit() {
        for cut_ms in [50.0, 53.0, 56.0, 59.0, 62.0] {
            let mut signal = digit_tone(RATE, Digit::D8, ToneLevels::default(), 200.0);
            let cut = samples(RATE, cut_ms);
            signal[cut..cut + samples(RATE, 10.0)].fill(0);
            let got = heard(RATE, &padded(RATE, 3.0, &signal));
            assert_eq!(got.len(), 1, "cut at {cut_ms} ms: {got:?}");
            assert!((195..=205).contains(&got[0].1), "{got:?}");
        }
    }

    #[test]
    fn frame_sizes_do_not_change_what_is_heard() {
        let mut generator = DtmfGenerator::new(RATE, ToneLevels::default()).expect("rate");
        for digit in parse_digits("159D").expect("digits") {
            generator.push(digit, 70, 60);
        }
        let mut signal = vec![0; samples(RATE, 700.0)];
        generator.fill(&mut signal);
        let reference = events_in_chunks(RATE, &signal, signal.len());
        assert_eq!(reference.len(), 8);
        for chunk in [1, 7, 102, 160, 1000] {
            assert_eq!(
                events_in_chunks(RATE, &signal, chunk),
                reference,
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn flush_ends_a_digit_still_sounding() {
        let mut detector = Detector::new(RATE).expect("rate");
        detector.process(&digit_tone(RATE, Digit::Star, ToneLevels::default(), 100.0));
        assert_eq!(detector.current(), Some(Digit::Star));
        detector.flush();
        let events: Vec<_> = std::iter::from_fn(|| detector.poll_event()).collect();
        assert!(
            matches!(
                events[..],
                [
                    ToneEvent::Began {
                        digit: Digit::Star,
                        at: 0
                    },
                    ToneEvent::Ended {
                        digit: Digit::Star,
                        duration_ms: 95..=100,
                        ..
                    }
                ]
            ),
            "{events:?}"
        );
        assert_eq!(detector.current(), None);
    }

    #[test]
    fn frames_at_another_rate_are_refused() {
        let mut detector = Detector::new(RATE).expect("rate");
        assert_eq!(
            detector.process_frame(&Frame::silence(16_000, 20)),
            Err(DtmfError::UnsupportedRate(16_000))
        );
        assert!(detector.process_frame(&Frame::silence(RATE, 20)).is_ok());
        assert!(Detector::new(4000).is_err());
    }
}
