//! Playback of decoded audio (a prompt, a music-on-hold file) into a call
//! leg, sans-IO: the media tick asks for the next 20 ms frame at the leg's
//! rate and sends it.
//!
//! ```text
//! let audio = Arc::new(wav::decode(&std::fs::read(path)?)?); // shared by every call
//! let mut player = Player::new(audio, 8000, 1);
//! // every 20 ms:
//! player.next_frame(&mut frame);
//! send(&frame);
//! if player.is_finished() { /* report "play finished" */ }
//! ```
//!
//! Rate conversion is a simple internal linear interpolation between
//! neighbouring source samples (32.32 fixed-point position, no low-pass
//! filter). That is exact when the rates match, good for upsampling
//! (8 kHz prompts on a 16/48 kHz leg), and adequate for downsampling speech;
//! music with energy above the leg's Nyquist frequency (e.g. a 44.1 kHz MOH
//! file on an 8 kHz leg) aliases, so such files are better converted once
//! with the filtered `codec::Resampler` and handed to players at the leg's
//! rate.

use std::sync::Arc;
use std::time::Duration;

use crate::Frame;

/// Length of the frames [`Player::next_frame`] produces.
pub const FRAME_MS: u32 = 20;

/// Plays a shared [`Frame`] of any rate as frames at a target rate, a given
/// number of times.
#[derive(Debug, Clone)]
pub struct Player {
    source: Arc<Frame>,
    target_rate: u32,
    /// Source samples per output sample, 32.32 fixed point.
    step: u64,
    /// Position in the current pass over the source, 32.32 fixed point.
    pos: u64,
    /// Passes to play; 0 = forever.
    loop_count: u32,
    loops_completed: u32,
    finished: bool,
}

impl Player {
    /// Plays `source` at `target_rate`, `loop_count` times in a row; a
    /// `loop_count` of 0 loops forever (until [`stop`](Self::stop)). An
    /// empty source (or a rate of 0) is finished at once.
    pub fn new(source: Arc<Frame>, target_rate: u32, loop_count: u32) -> Player {
        let playable = !source.samples.is_empty() && source.rate > 0 && target_rate > 0;
        let step = if playable {
            (u64::from(source.rate) << 32) / u64::from(target_rate)
        } else {
            0
        };
        Player {
            source,
            target_rate,
            step,
            pos: 0,
            loop_count,
            loops_completed: 0,
            finished: !playable,
        }
    }

    /// Replaces `out` with the next [`FRAME_MS`] at the target rate (the
    /// buffer is reused); returns how many of its samples are audio, the rest
    /// (after the end) being silence. 0 once finished.
    pub fn next_frame(&mut self, out: &mut Frame) -> usize {
        out.rate = self.target_rate;
        out.samples.clear();
        out.samples
            .resize((self.target_rate * FRAME_MS / 1000) as usize, 0);
        self.fill(&mut out.samples)
    }

    /// Overwrites `out` with the next `out.len()` samples at the target rate;
    /// returns how many are audio (the rest is silence after the end).
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let src = &self.source.samples;
        let len = src.len() as u64;
        for written in 0..out.len() {
            if self.finished {
                out[written..].fill(0);
                return written;
            }
            let i = (self.pos >> 32) as usize;
            let a = i64::from(src[i]);
            // The sample after the last one is the first of the next pass,
            // or the last one held if this is the final pass.
            let b = match src.get(i + 1) {
                Some(&s) => i64::from(s),
                None if self.passes_remain() => i64::from(src[0]),
                None => a,
            };
            let frac = (self.pos & 0xFFFF_FFFF) as i64;
            out[written] = (a + (((b - a) * frac) >> 32)) as i16;
            self.pos += self.step;
            while self.pos >> 32 >= len {
                self.loops_completed += 1;
                if self.loop_count != 0 && self.loops_completed >= self.loop_count {
                    self.finished = true;
                    break;
                }
                self.pos -= len << 32;
            }
        }
        out.len()
    }

    /// Whether another pass follows the one being played.
    fn passes_remain(&self) -> bool {
        self.loop_count == 0 || self.loops_completed + 1 < self.loop_count
    }

    /// Stops playback: the next frames are silence and
    /// [`is_finished`](Self::is_finished) is true.
    pub fn stop(&mut self) {
        self.finished = true;
    }

    /// Whether the last pass has been played (or playback was stopped).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Passes played to their end so far.
    pub fn loops_completed(&self) -> u32 {
        self.loops_completed
    }

    /// Passes requested; 0 = forever.
    pub fn loop_count(&self) -> u32 {
        self.loop_count
    }

    /// Output rate (Hz).
    pub fn target_rate(&self) -> u32 {
        self.target_rate
    }

    /// Position within the current pass, in source time.
    pub fn position(&self) -> Duration {
        let rate = u64::from(self.source.rate.max(1));
        let sample = self.pos >> 32;
        Duration::from_nanos(sample * 1_000_000_000 / rate)
    }

    /// Length of one pass over the source.
    pub fn source_duration(&self) -> Duration {
        let rate = u64::from(self.source.rate.max(1));
        Duration::from_nanos(self.source.samples.len() as u64 * 1_000_000_000 / rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tones::{goertzel_amplitude, Generator, Sine};
    use crate::wav;

    /// Plays until finished (at most `max_frames`), returning all samples
    /// and the number of audio samples.
    fn play_out(player: &mut Player, max_frames: usize) -> (Vec<i16>, usize) {
        let mut frame = Frame::default();
        let (mut all, mut audio) = (Vec::new(), 0);
        for _ in 0..max_frames {
            if player.is_finished() {
                break;
            }
            audio += player.next_frame(&mut frame);
            assert_eq!(frame.rate, player.target_rate());
            all.extend_from_slice(&frame.samples);
        }
        (all, audio)
    }

    fn source(len: usize) -> Arc<Frame> {
        Arc::new(Frame::new(
            8000,
            (0..len).map(|i| (i * 13 % 2000) as i16 - 1000).collect(),
        ))
    }

    #[test]
    fn plays_exactly_n_times_at_the_same_rate() {
        let src = source(1000);
        for n in 1..=3u32 {
            let mut p = Player::new(src.clone(), 8000, n);
            let (all, audio) = play_out(&mut p, 1000);
            assert!(p.is_finished());
            assert_eq!(p.loops_completed(), n);
            assert_eq!(audio, 1000 * n as usize);
            assert_eq!(all.len(), (1000 * n as usize).div_ceil(160) * 160);
            let expect: Vec<i16> = src.samples.iter().copied().cycle().take(audio).collect();
            assert_eq!(all[..audio], expect[..], "bit-exact at equal rates");
            assert!(all[audio..].iter().all(|&s| s == 0));
            // Finished: silence, no audio.
            let mut frame = Frame::default();
            assert_eq!(p.next_frame(&mut frame), 0);
            assert_eq!(frame.samples, vec![0; 160]);
        }
    }

    #[test]
    fn loop_count_zero_plays_until_stopped() {
        let mut p = Player::new(source(300), 8000, 0);
        let mut frame = Frame::default();
        for _ in 0..500 {
            assert_eq!(p.next_frame(&mut frame), 160);
        }
        assert!(!p.is_finished());
        assert_eq!(p.loops_completed(), 500 * 160 / 300);
        p.stop();
        assert!(p.is_finished());
        assert_eq!(p.next_frame(&mut frame), 0);
    }

    #[test]
    fn a_1_khz_wav_at_8_khz_played_at_16_khz_keeps_its_frequency() {
        // Write and decode a real WAV file of 1 s of 1 kHz at 8 kHz.
        let mut tone = Sine::new(8000, 1000.0, 12_000);
        let mut pcm = vec![0i16; 8000];
        tone.fill(&mut pcm);
        let file = wav::file_of(8000, 1, &pcm);
        let decoded = Arc::new(wav::decode(&file).unwrap());

        let mut p = Player::new(decoded, 16_000, 2);
        assert_eq!(p.source_duration(), Duration::from_secs(1));
        let (all, audio) = play_out(&mut p, 1000);
        assert_eq!(audio, 2 * 16_000, "two passes of 1 s at 16 kHz");
        let a = goertzel_amplitude(&all[..audio], 16_000, 1000.0);
        // Linear interpolation passes 1 kHz at sinc²(1/8) ≈ 0.95 of its level
        // and leaves the 7 kHz image at sinc²(7/8) ≈ 0.02.
        assert!(a > 12_000.0 * 0.9, "1 kHz at {a}");
        assert!(goertzel_amplitude(&all[..audio], 16_000, 7000.0) < 12_000.0 * 0.05);
        assert!(goertzel_amplitude(&all[..audio], 16_000, 2000.0) < 12_000.0 * 0.01);
    }

    #[test]
    fn downsampling_48_khz_keeps_a_tone_in_band() {
        let mut pcm = vec![0i16; 48_000];
        Sine::new(48_000, 440.0, 10_000).fill(&mut pcm);
        let mut p = Player::new(Arc::new(Frame::new(48_000, pcm)), 8000, 1);
        let (all, audio) = play_out(&mut p, 100);
        assert_eq!(audio, 8000);
        let a = goertzel_amplitude(&all[..audio], 8000, 440.0);
        assert!((a - 10_000.0).abs() < 100.0, "440 Hz at {a}");
    }

    #[test]
    fn fractional_ratio_loops_without_losing_or_gaining_time() {
        // 44.1 kHz -> 8 kHz: 5.5125 source samples per output sample.
        let src = Arc::new(Frame::new(44_100, vec![100; 44_100]));
        let mut p = Player::new(src, 8000, 3);
        let (all, audio) = play_out(&mut p, 1000);
        assert!((audio as i64 - 3 * 8000).abs() <= 1, "{audio}");
        assert!(
            all[..audio].iter().all(|&s| s == 100),
            "no dip at the loop seams"
        );
    }

    #[test]
    fn empty_source_is_finished_at_once() {
        let mut p = Player::new(Arc::new(Frame::new(8000, Vec::new())), 8000, 0);
        assert!(p.is_finished());
        let mut frame = Frame::default();
        assert_eq!(p.next_frame(&mut frame), 0);
        assert_eq!(frame.samples.len(), 160);
    }
}
