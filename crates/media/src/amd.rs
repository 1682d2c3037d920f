//! Answering-machine detection, sans-IO: the audio a called party sends
//! (PCM frames, 20 ms usually, with the instant each arrived) in, one
//! verdict out: [`AmdResult::Human`], [`AmdResult::Machine`] or
//! [`AmdResult::NotSure`], with the rule that decided and its figures.
//!
//! The rules are those of Asterisk's `AMD()` application (`app_amd.c`,
//! `amd.conf`), on an energy voice-activity decision per frame: a frame is
//! *voice* when its RMS level is at or above
//! [`AmdConfig::silence_threshold_dbfs`] (−40 dBFS by default, Asterisk's
//! threshold of 256 mean absolute amplitude), else *silence*. A *word* is a
//! run of voice at least `min_word_length` long; silence shorter than
//! `between_words_silence` inside it does not end it. The *greeting*
//! starts with the first word.
//!
//! | rule (checked on every frame and timeout) | verdict | [`AmdReason`] |
//! | --- | --- | --- |
//! | no word yet and `initial_silence` (2.5 s) of silence | `NotSure` | `InitialSilence` |
//! | voice in the greeting reaches `greeting` (1.5 s) | `Machine` | `LongGreeting` |
//! | `maximum_number_of_words` (3) words counted | `Machine` | `MaxWords` |
//! | one word lasts `maximum_word_length` (5 s) | `Machine` | `MaxWordLength` |
//! | a greeting, then `after_greeting_silence` (0.8 s) of silence | `Human` | `AfterGreetingSilence` |
//! | `total_analysis_time` (5 s) without any of these | `NotSure` | `TooLong` |
//!
//! A person answers with a short "Hello?" and waits; a voicemail greeting
//! talks on. Asterisk calls a long initial silence `MACHINE`; here it is
//! `NotSure`: a person who picks up and says nothing is no more a machine
//! than a dead line is (an application that wants Asterisk's behaviour
//! treats `initial_silence` as a machine).
//!
//! Silence is measured on the caller's clock, so a phone that stops
//! sending in silence (discontinuous transmission) or a stalled stream
//! still counts as silence: after [`GAP`] without a frame, the silence
//! runs from the end of the last frame. Voice is measured in audio (frame
//! lengths).
//!
//! ```
//! use media::amd::{AmdConfig, AmdDetector, AmdResult};
//! use std::time::Duration;
//! let mut clock = testkit::FakeClock::new();
//! let mut amd = AmdDetector::new(AmdConfig::default(), clock.now());
//! let voice = vec![8000i16; 160]; // 20 ms at 8 kHz, loud
//! let silence = vec![0i16; 160];
//! for i in 0..150 {
//!     clock.advance(Duration::from_millis(20));
//!     let frame = if (5..30).contains(&i) { &voice } else { &silence };
//!     amd.handle_frame(clock.now(), frame, 8000); // "Hello?", then silence
//!     if let Some(t) = amd.poll_timeout() {
//!         if t <= clock.now() { amd.handle_timeout(clock.now()); }
//!     }
//! }
//! let verdict = amd.poll_verdict().unwrap();
//! assert_eq!(verdict.result, AmdResult::Human);
//! ```

use std::time::{Duration, Instant};

/// A stream that sends no frame for this long is in silence from the end
/// of its last frame (three 20 ms packets missing).
pub const GAP: Duration = Duration::from_millis(60);

/// The detector's parameters (Asterisk's `amd.conf` names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct AmdConfig {
    /// Longest silence before the first word (then `NotSure`). 2.5 s.
    pub initial_silence: Duration,
    /// Most voice in a greeting (then `Machine`). 1.5 s.
    pub greeting: Duration,
    /// Silence after a greeting that makes it a person's. 0.8 s.
    pub after_greeting_silence: Duration,
    /// Longest analysis (then `NotSure`). 5 s.
    pub total_analysis_time: Duration,
    /// Shortest voice that counts as a word. 100 ms.
    pub min_word_length: Duration,
    /// Shortest silence that ends a word. 50 ms.
    pub between_words_silence: Duration,
    /// Words in the greeting that make it a machine's. 3.
    pub maximum_number_of_words: u32,
    /// Longest word (then `Machine`). 5 s.
    pub maximum_word_length: Duration,
    /// Frame RMS level (dBFS: 0 is a full-scale square wave) from which a
    /// frame is voice. −40.
    pub silence_threshold_dbfs: f64,
}

impl Default for AmdConfig {
    fn default() -> AmdConfig {
        let ms = Duration::from_millis;
        AmdConfig {
            initial_silence: ms(2500),
            greeting: ms(1500),
            after_greeting_silence: ms(800),
            total_analysis_time: ms(5000),
            min_word_length: ms(100),
            between_words_silence: ms(50),
            maximum_number_of_words: 3,
            maximum_word_length: ms(5000),
            silence_threshold_dbfs: -40.0,
        }
    }
}

impl AmdConfig {
    /// `Err` names the first parameter out of range: durations 10 ms to
    /// 60 s, 1 to 100 words, a threshold within −96 to 0 dBFS.
    pub fn check(&self) -> Result<(), String> {
        let durations = [
            ("initial_silence", self.initial_silence),
            ("greeting", self.greeting),
            ("after_greeting_silence", self.after_greeting_silence),
            ("total_analysis_time", self.total_analysis_time),
            ("min_word_length", self.min_word_length),
            ("between_words_silence", self.between_words_silence),
            ("maximum_word_length", self.maximum_word_length),
        ];
        for (name, d) in durations {
            if d < Duration::from_millis(10) || d > Duration::from_secs(60) {
                return Err(format!(
                    "{name}: {} ms is not within 10-60000 ms",
                    d.as_millis()
                ));
            }
        }
        if !(1..=100).contains(&self.maximum_number_of_words) {
            return Err(format!(
                "maximum_number_of_words: {} is not within 1-100",
                self.maximum_number_of_words
            ));
        }
        if !(-96.0..=0.0).contains(&self.silence_threshold_dbfs) {
            return Err(format!(
                "silence_threshold_dbfs: {} is not within -96-0",
                self.silence_threshold_dbfs
            ));
        }
        Ok(())
    }
}

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmdResult {
    Human,
    Machine,
    NotSure,
}

impl AmdResult {
    /// `human`, `machine`, `notsure`.
    pub fn as_str(self) -> &'static str {
        match self {
            AmdResult::Human => "human",
            AmdResult::Machine => "machine",
            AmdResult::NotSure => "notsure",
        }
    }
}

/// The rule that decided (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmdReason {
    InitialSilence,
    LongGreeting,
    MaxWords,
    MaxWordLength,
    AfterGreetingSilence,
    TooLong,
}

impl AmdReason {
    /// The snake_case name (`initial_silence`, `long_greeting`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AmdReason::InitialSilence => "initial_silence",
            AmdReason::LongGreeting => "long_greeting",
            AmdReason::MaxWords => "max_words",
            AmdReason::MaxWordLength => "max_word_length",
            AmdReason::AfterGreetingSilence => "after_greeting_silence",
            AmdReason::TooLong => "too_long",
        }
    }

    /// The verdict this rule gives.
    pub fn result(self) -> AmdResult {
        match self {
            AmdReason::AfterGreetingSilence => AmdResult::Human,
            AmdReason::InitialSilence | AmdReason::TooLong => AmdResult::NotSure,
            _ => AmdResult::Machine,
        }
    }
}

/// The verdict, with the figures it was reached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmdVerdict {
    pub result: AmdResult,
    pub reason: AmdReason,
    /// From the start of the analysis to the verdict.
    pub analysis: Duration,
    /// Silence before the first word (all of the analysis if none came).
    pub initial_silence: Duration,
    /// Voice in the greeting (from its first word on).
    pub greeting: Duration,
    /// Words counted.
    pub words: u32,
    /// The silence in progress at the verdict (zero in voice).
    pub silence: Duration,
}

/// One analysis: [`handle_frame`](Self::handle_frame) for each frame the
/// party sends, [`handle_timeout`](Self::handle_timeout) when
/// [`poll_timeout`](Self::poll_timeout) is due, and
/// [`poll_verdict`](Self::poll_verdict) gives the verdict once.
#[derive(Debug, Clone)]
pub struct AmdDetector {
    config: AmdConfig,
    /// RMS amplitude from which a frame is voice.
    threshold: f64,
    start: Instant,
    /// When the silence in progress began; `None` in voice.
    silence_since: Option<Instant>,
    /// When the last frame ended (its arrival).
    last_frame: Instant,
    /// Voice of the word (or would-be word) in progress.
    consecutive_voice: Duration,
    in_word: bool,
    words: u32,
    /// Silence before the first word, once one came.
    initial_silence: Option<Duration>,
    /// Voice since the greeting's first word began.
    greeting_voice: Duration,
    verdict: Option<AmdVerdict>,
    /// The verdict was handed out.
    taken: bool,
}

impl AmdDetector {
    /// An analysis starting at `start` (the call's media is listened to
    /// from then on; silence counts from then).
    pub fn new(config: AmdConfig, start: Instant) -> AmdDetector {
        let threshold = 32768.0 * 10f64.powf(config.silence_threshold_dbfs / 20.0);
        AmdDetector {
            config,
            threshold,
            start,
            silence_since: Some(start),
            last_frame: start,
            consecutive_voice: Duration::ZERO,
            in_word: false,
            words: 0,
            initial_silence: None,
            greeting_voice: Duration::ZERO,
            verdict: None,
            taken: false,
        }
    }

    /// A frame of the party's audio (mono PCM at `rate` Hz) that arrived
    /// at `now` (it ends then). Ignored once decided.
    pub fn handle_frame(&mut self, now: Instant, samples: &[i16], rate: u32) {
        if self.verdict.is_some() || rate == 0 || samples.is_empty() {
            return;
        }
        let length = Duration::from_micros(samples.len() as u64 * 1_000_000 / u64::from(rate));
        let began = now.checked_sub(length).unwrap_or(now).max(self.start);
        self.last_frame = now;
        let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        let rms = (sum / samples.len() as f64).sqrt();
        if rms >= self.threshold {
            self.voice(began, now, length);
        } else {
            self.silence_since.get_or_insert(began);
            self.check_silence(now);
        }
        self.check_total(now);
    }

    /// Time passed without a frame: silence rules and the analysis time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.verdict.is_some() {
            return;
        }
        if self.silence_since.is_none() && now >= self.last_frame + GAP {
            // The stream stopped in voice: silence since its last frame.
            self.silence_since = Some(self.last_frame);
        }
        self.check_silence(now);
        self.check_total(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) may decide something
    /// (`None` once decided).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.verdict.is_some() {
            return None;
        }
        let total = self.start + self.config.total_analysis_time;
        let silence = match self.silence_since {
            Some(since) if self.initial_silence.is_none() => since + self.config.initial_silence,
            Some(since) => since + self.config.after_greeting_silence,
            None => self.last_frame + GAP,
        };
        Some(total.min(silence))
    }

    /// The verdict, once (later calls: `None`).
    pub fn poll_verdict(&mut self) -> Option<AmdVerdict> {
        if self.taken {
            return None;
        }
        let v = self.verdict?;
        self.taken = true;
        Some(v)
    }

    /// The verdict, if reached (whether or not taken).
    pub fn verdict(&self) -> Option<&AmdVerdict> {
        self.verdict.as_ref()
    }

    /// A voiced frame from `began` to `now`.
    fn voice(&mut self, began: Instant, now: Instant, length: Duration) {
        if let Some(since) = self.silence_since.take() {
            if began.saturating_duration_since(since) >= self.config.between_words_silence {
                self.end_word();
            }
        }
        self.consecutive_voice += length;
        if self.initial_silence.is_some() {
            self.greeting_voice += length;
        }
        if !self.in_word && self.consecutive_voice >= self.config.min_word_length {
            self.in_word = true;
            self.words += 1;
            if self.initial_silence.is_none() {
                // The greeting starts with its first word's first frame.
                let word_start = now.checked_sub(self.consecutive_voice).unwrap_or(now);
                self.initial_silence = Some(word_start.saturating_duration_since(self.start));
                self.greeting_voice = self.consecutive_voice;
            }
            if self.words >= self.config.maximum_number_of_words {
                return self.decide(now, AmdReason::MaxWords);
            }
        }
        if self.in_word && self.consecutive_voice >= self.config.maximum_word_length {
            return self.decide(now, AmdReason::MaxWordLength);
        }
        if self.initial_silence.is_some() && self.greeting_voice >= self.config.greeting {
            self.decide(now, AmdReason::LongGreeting);
        }
    }

    fn end_word(&mut self) {
        self.in_word = false;
        self.consecutive_voice = Duration::ZERO;
    }

    /// The silence rules at `now`.
    fn check_silence(&mut self, now: Instant) {
        if self.verdict.is_some() {
            return;
        }
        let Some(since) = self.silence_since else {
            return;
        };
        let silence = now.saturating_duration_since(since);
        if silence >= self.config.between_words_silence {
            self.end_word();
        }
        if self.initial_silence.is_none() {
            if silence >= self.config.initial_silence {
                self.decide(now, AmdReason::InitialSilence);
            }
        } else if silence >= self.config.after_greeting_silence {
            self.decide(now, AmdReason::AfterGreetingSilence);
        }
    }

    fn check_total(&mut self, now: Instant) {
        if self.verdict.is_none()
            && now.saturating_duration_since(self.start) >= self.config.total_analysis_time
        {
            self.decide(now, AmdReason::TooLong);
        }
    }

    fn decide(&mut self, now: Instant, reason: AmdReason) {
        let analysis = now.saturating_duration_since(self.start);
        self.verdict = Some(AmdVerdict {
            result: reason.result(),
            reason,
            analysis,
            initial_silence: self.initial_silence.unwrap_or(analysis),
            greeting: self.greeting_voice,
            words: self.words,
            silence: self
                .silence_since
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::FakeClock;

    const RATE: u32 = 8000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Synthetic audio: `Voice` is a voiced speech-like sound (a 140 Hz
    /// buzz with harmonics, its loudness varying by syllable, around
    /// −20 dBFS), `Dip` a 30 ms drop between syllables, `Quiet` line
    /// noise at about −55 dBFS; each `(kind, ms)`.
    #[derive(Clone, Copy)]
    enum Seg {
        Voice,
        Quiet,
        Dip,
        /// A click: loud but short.
        Blip,
    }

    struct Signal {
        seed: u32,
        n: u64,
    }

    impl Signal {
        fn noise(&mut self) -> f64 {
            self.seed = self
                .seed
                .wrapping_mul(1_664_525)
                .wrapping_add(1_013_904_223);
            f64::from((self.seed >> 16) as u16 as i16) / 32768.0
        }

        fn frame(&mut self, seg: Seg) -> Vec<i16> {
            (0..160)
                .map(|_| {
                    self.n += 1;
                    let t = self.n as f64 / f64::from(RATE);
                    let noise = self.noise() * 60.0;
                    let voiced = |gain: f64| {
                        let syllable = 0.6 + 0.4 * (std::f64::consts::TAU * 4.0 * t).sin().abs();
                        let buzz: f64 = (1..=6)
                            .map(|h| {
                                (std::f64::consts::TAU * 140.0 * f64::from(h) * t).sin()
                                    / f64::from(h)
                            })
                            .sum();
                        gain * syllable * buzz
                    };
                    let s = match seg {
                        Seg::Voice => voiced(4000.0),
                        Seg::Blip => voiced(6000.0),
                        Seg::Dip => voiced(60.0),
                        Seg::Quiet => 0.0,
                    };
                    (s + noise) as i16
                })
                .collect()
        }
    }

    /// Runs `script` through a detector with the default rules, 20 ms
    /// frames on time, calling the timeout when due; the verdict.
    fn run(script: &[(Seg, u64)]) -> AmdVerdict {
        run_with(AmdConfig::default(), script, true)
    }

    fn run_with(config: AmdConfig, script: &[(Seg, u64)], frames: bool) -> AmdVerdict {
        let mut clock = FakeClock::new();
        let mut amd = AmdDetector::new(config, clock.now());
        let mut signal = Signal { seed: 9, n: 0 };
        let mut taken = None;
        for &(seg, length) in script {
            for _ in 0..length / 20 {
                clock.advance(ms(20));
                if frames {
                    amd.handle_frame(clock.now(), &signal.frame(seg), RATE);
                }
                if amd.poll_timeout().is_some_and(|t| t <= clock.now()) {
                    amd.handle_timeout(clock.now());
                }
                if let Some(v) = amd.poll_verdict() {
                    taken.get_or_insert(v);
                }
            }
        }
        assert_eq!(amd.poll_verdict(), None, "one verdict");
        assert_eq!(amd.poll_timeout(), None);
        taken.expect("a verdict within the script")
    }

    fn about(d: Duration, want_ms: u64) -> bool {
        d.as_millis().abs_diff(u128::from(want_ms)) <= 40
    }

    #[test]
    fn a_short_hello_then_silence_is_a_person() {
        let v = run(&[
            (Seg::Quiet, 300),
            (Seg::Voice, 240),
            (Seg::Dip, 30),
            (Seg::Voice, 260),
            (Seg::Quiet, 2000),
        ]);
        assert_eq!(
            (v.result, v.reason),
            (AmdResult::Human, AmdReason::AfterGreetingSilence),
            "{v:?}"
        );
        assert_eq!(v.words, 1, "a dip shorter than 50 ms is inside the word");
        assert!(about(v.initial_silence, 300), "{v:?}");
        assert!(about(v.greeting, 500), "{v:?}");
        assert!(about(v.analysis, 300 + 530 + 800), "{v:?}");
        assert!(about(v.silence, 800), "{v:?}");
    }

    #[test]
    fn a_long_greeting_is_a_machine() {
        let mut script = vec![(Seg::Quiet, 200)];
        for _ in 0..10 {
            script.extend([(Seg::Voice, 300), (Seg::Dip, 40)]);
        }
        let v = run(&script);
        assert_eq!(
            (v.result, v.reason),
            (AmdResult::Machine, AmdReason::LongGreeting),
            "{v:?}"
        );
        assert!(about(v.greeting, 1500), "{v:?}");
        assert_eq!(v.words, 1, "{v:?}");
    }

    #[test]
    fn many_short_words_are_a_machine() {
        let v = run(&[
            (Seg::Quiet, 100),
            (Seg::Voice, 200),
            (Seg::Quiet, 120),
            (Seg::Voice, 200),
            (Seg::Quiet, 120),
            (Seg::Voice, 200),
            (Seg::Quiet, 2000),
        ]);
        assert_eq!(
            (v.result, v.reason),
            (AmdResult::Machine, AmdReason::MaxWords),
            "{v:?}"
        );
        assert_eq!(v.words, 3);
        assert!(
            about(v.analysis, 100 + 200 + 120 + 200 + 120 + 100),
            "{v:?}"
        );
    }

    #[test]
    fn nobody_speaking_is_not_sure() {
        let v = run(&[(Seg::Quiet, 4000)]);
        assert_eq!(
            (v.result, v.reason),
            (AmdResult::NotSure, AmdReason::InitialSilence),
            "{v:?}"
        );
        assert!(about(v.analysis, 2500) && v.words == 0, "{v:?}");
        // No packets at all: the same, from the clock alone.
        let v = run_with(AmdConfig::default(), &[(Seg::Quiet, 4000)], false);
        assert_eq!(v.reason, AmdReason::InitialSilence, "{v:?}");
        assert!(about(v.analysis, 2500), "{v:?}");
    }

    #[test]
    fn clicks_that_are_no_words_run_out_the_analysis_time() {
        let mut script = Vec::new();
        for _ in 0..4 {
            script.extend([(Seg::Quiet, 1500), (Seg::Blip, 60)]);
        }
        let v = run(&script);
        assert_eq!(
            (v.result, v.reason),
            (AmdResult::NotSure, AmdReason::TooLong),
            "{v:?}"
        );
        assert_eq!(v.words, 0);
        assert!(about(v.analysis, 5000), "{v:?}");
    }

    #[test]
    fn a_stream_that_stops_after_hello_counts_as_silence() {
        let mut clock = FakeClock::new();
        let mut amd = AmdDetector::new(AmdConfig::default(), clock.now());
        let mut signal = Signal { seed: 3, n: 0 };
        for _ in 0..20 {
            clock.advance(ms(20));
            amd.handle_frame(clock.now(), &signal.frame(Seg::Voice), RATE);
        }
        let spoke_until = clock.now();
        // Discontinuous transmission: nothing more arrives.
        let mut verdict = None;
        while verdict.is_none() {
            let due = amd.poll_timeout().unwrap();
            assert!(due > clock.now(), "a deadline ahead");
            clock.set(due);
            amd.handle_timeout(clock.now());
            verdict = amd.poll_verdict();
        }
        let v = verdict.unwrap();
        assert_eq!(v.result, AmdResult::Human, "{v:?}");
        assert_eq!(clock.now() - spoke_until, ms(800), "{v:?}");
    }

    #[test]
    fn rules_can_be_tuned_and_are_checked() {
        let config = AmdConfig {
            greeting: ms(3000),
            maximum_number_of_words: 10,
            ..AmdConfig::default()
        };
        let v = run_with(
            config,
            &[(Seg::Quiet, 100), (Seg::Voice, 2000), (Seg::Quiet, 1000)],
            true,
        );
        assert_eq!(v.result, AmdResult::Human, "a 2 s greeting is allowed now");
        assert!(AmdConfig::default().check().is_ok());
        let bad = AmdConfig {
            greeting: ms(0),
            ..AmdConfig::default()
        };
        assert!(bad.check().unwrap_err().starts_with("greeting:"));
        let bad = AmdConfig {
            silence_threshold_dbfs: 3.0,
            ..AmdConfig::default()
        };
        assert!(bad.check().unwrap_err().contains("silence_threshold_dbfs"));
        assert_eq!(AmdResult::NotSure.as_str(), "notsure");
        assert_eq!(AmdReason::MaxWordLength.as_str(), "max_word_length");
    }
}
