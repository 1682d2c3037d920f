//! Generated sources: audio the relay makes itself for a leg's peer, in
//! place of the bridged party: an API *play* (decoded WAV clips, one after
//! the other, the list looped), *music on hold* (the built-in
//! [`media::tones::MusicOnHold`] or a configured recording), or *DTMF
//! tones* (digits sent in-band: the ITU-T Q.23 pair of each digit, queued).
//!
//! While a leg has a [`Source`], its peer hears the source and nothing of
//! the bridge: RTP from the bridged leg is dropped (counted as
//! `dropped_for_source` on the leg it arrived on). DTMF tones come first: a
//! play or the music pauses while they sound and goes on where it was
//! after the last digit's gap. A play takes precedence over music on hold;
//! when it ends, the music (if the leg is held) or the bridged audio comes
//! back.
//!
//! The source is one RTP stream, the leg's own ([`Sender`]: its SSRC,
//! sequence numbers +1 per packet, timestamps +20 ms of the codec's clock
//! per packet, the marker on the first packet, RFC 3550 §5.1, RFC 3551
//! §4.1), encoded in the leg's codec ([`SourceEncoder`]). When the codec is
//! unknown, the first packet of a static payload type the bridged leg sends
//! towards the peer (PCMU 0, PCMA 8, G.722 9: RFC 3551 §6) tells which
//! encoder to use; until then the source's audio is generated and dropped,
//! so a play still ends in its time.
//!
//! ```text
//!  every wake-up of the worker (epoll timeout = earliest deadline):
//!    Schedule::pop_due(now) ─▶ leg's Source::poll(now):
//!        Pacer: packets due = those at start + n·20 ms ≤ now,
//!               less those more than 100 ms late (skipped: timestamps move on)
//!        for each: tones / Playlist / Music ─▶ 20 ms frame ─▶ Encoder ─▶ Sender::stamp ─▶ send
//!    ─▶ Schedule::add(next due) (or the source ended: play_finished)
//! ```
//!
//! Pacing is computed from the source's start, never from the previous
//! send, so a worker that wakes late does not drift: it sends what is due
//! (at most [`MAX_LATE`] worth, six packets) and skips what is later than
//! that instead of bursting seconds of audio at the phone.
//!
//! Nothing here reads the clock: `now` is an argument (the worker's), so
//! the tests below run on `testkit`'s fake clock.

use super::packet::HEADER_LEN;
use super::transcode::Sender;
use super::LegCodec;
use media::codec::{CodecError, CodecKind, Encoder, OpusConfig};
use media::dtmf::{Digit, DtmfGenerator, ToneLevels};
use media::player::Player;
use media::tones::{Generator, MusicOnHold};
use media::Frame;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Audio per packet (RFC 3551 §4.2's default packetization).
pub(crate) const PTIME: Duration = Duration::from_millis(20);
/// A packet due longer ago than this when the worker wakes is skipped.
pub(crate) const MAX_LATE: Duration = Duration::from_millis(100);
/// Room for one encoded 20 ms packet (an Opus packet is far below this).
const PACKET_CAPACITY: usize = HEADER_LEN + 1500;
/// Silence after each DTMF tone sent in-band (ITU-T Q.24 asks a receiver to
/// take pauses from 40 ms on; 100 ms is what phones send).
pub(crate) const TONE_GAP_MS: u32 = 100;
/// Most DTMF digits waiting on one leg (more are refused): 64 digits are
/// at least 9 s of tones.
pub(crate) const MAX_QUEUED_TONES: usize = 64;

/// Names one play (given by the caller of [`super::Relay::play`], which
/// reports it back in [`super::RelayEvent::PlayStarted`] and
/// [`super::RelayEvent::PlayFinished`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayId(pub u64);

/// Why a play ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlayEnd {
    /// Every clip was played `loop_count` times.
    Finished,
    /// [`super::Relay::stop_play`], or a new play on the same leg replaced it.
    Stopped,
    /// The leg was closed (the call ended).
    Closed,
}

/// What a held leg's peer hears.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum HoldMusic {
    /// The built-in [`MusicOnHold`] generator (rendered at the leg's rate).
    #[default]
    BuiltIn,
    /// A recording, looped: the same audio at one or more sample rates
    /// (the relay plays the version at the leg's rate, or interpolates
    /// from the one with the highest rate). At least one non-empty frame.
    Recorded(Arc<[Arc<Frame>]>),
}

/// A play: clips played one after the other, the whole list `loop_count`
/// times (0: until stopped).
#[derive(Debug, Clone)]
pub(crate) struct Playlist {
    id: PlayId,
    clips: Arc<[Arc<Frame>]>,
    loop_count: u32,
    loops_done: u32,
    /// The clip being played.
    index: usize,
    player: Option<Player>,
}

impl Playlist {
    pub(crate) fn new(id: PlayId, clips: Arc<[Arc<Frame>]>, loop_count: u32) -> Playlist {
        Playlist {
            id,
            clips,
            loop_count,
            loops_done: 0,
            index: 0,
            player: None,
        }
    }

    pub(crate) fn id(&self) -> PlayId {
        self.id
    }

    /// Overwrites `out` with the next samples at `rate`, clips joined
    /// without a gap; false when the play ended within `out` (the rest is
    /// silence). A change of `rate` restarts the current clip.
    fn fill(&mut self, rate: u32, out: &mut [i16]) -> bool {
        let mut written = 0;
        // Clips that gave nothing in a row: all of them empty ends the play.
        let mut empty = 0;
        while written < out.len() {
            let Some(clip) = self.clips.get(self.index) else {
                out[written..].fill(0);
                return false;
            };
            let player = match &mut self.player {
                Some(p) if p.target_rate() == rate => p,
                slot => slot.insert(Player::new(Arc::clone(clip), rate, 1)),
            };
            let n = player.fill(&mut out[written..]);
            written += n;
            if !player.is_finished() {
                continue;
            }
            self.player = None;
            empty = if n == 0 { empty + 1 } else { 0 };
            self.index += 1;
            if self.index == self.clips.len() {
                self.index = 0;
                self.loops_done = self.loops_done.saturating_add(1);
                let done = self.loop_count != 0 && self.loops_done >= self.loop_count;
                if done || empty > self.clips.len() {
                    out[written..].fill(0);
                    return false;
                }
            }
        }
        true
    }
}

/// Music on hold rendered at one rate.
#[derive(Debug)]
enum Music {
    BuiltIn(Box<MusicOnHold>),
    Recorded(Player),
}

impl Music {
    fn new(spec: &HoldMusic, rate: u32) -> Music {
        match spec {
            HoldMusic::BuiltIn => Music::BuiltIn(Box::new(MusicOnHold::new(rate))),
            HoldMusic::Recorded(versions) => {
                let best = versions
                    .iter()
                    .find(|f| f.rate == rate)
                    .or_else(|| versions.iter().max_by_key(|f| f.rate));
                let frame = best
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Frame::new(rate, Vec::new())));
                Music::Recorded(Player::new(frame, rate, 0))
            }
        }
    }

    fn rate(&self) -> u32 {
        match self {
            Music::BuiltIn(g) => g.rate(),
            Music::Recorded(p) => p.target_rate(),
        }
    }

    fn fill(&mut self, out: &mut [i16]) {
        match self {
            Music::BuiltIn(g) => g.fill(out),
            Music::Recorded(p) => {
                p.fill(out);
            }
        }
    }
}

/// A leg's codec as a source writes it: encoder, payload type, RTP clock
/// ticks per packet.
#[derive(Debug)]
pub(crate) struct SourceEncoder {
    encoder: Encoder,
    payload_type: u8,
    ticks: u32,
}

impl SourceEncoder {
    /// The encoder for `codec`; Opus at 16 kHz (as the transcoder does:
    /// wideband is what phones on the other codecs carry, at a third of
    /// the 48 kHz cost).
    pub(crate) fn new(codec: LegCodec) -> Result<SourceEncoder, CodecError> {
        let encoder = match codec.codec {
            CodecKind::Opus => Encoder::opus(OpusConfig {
                sample_rate: 16000,
                ..OpusConfig::default()
            })?,
            kind => Encoder::new(kind)?,
        };
        Ok(SourceEncoder {
            encoder,
            payload_type: codec.payload_type,
            ticks: codec.codec.frame_rtp_ticks(),
        })
    }

    /// For a leg of unknown codec: the codec of a static payload type
    /// seen on its way to the peer, if we encode it.
    pub(crate) fn for_static_payload_type(pt: u8) -> Option<SourceEncoder> {
        let codec = CodecKind::from_static_payload_type(pt)?;
        SourceEncoder::new(LegCodec {
            codec,
            payload_type: pt,
            dtmf: None,
        })
        .ok()
    }

    /// Sample rate of the audio this encoder takes, Hz.
    pub(crate) fn rate(&self) -> u32 {
        self.encoder.sample_rate()
    }
}

/// The sample rate a source for a leg of `codec` is rendered at (before
/// any codec is known: 8000, G.711's).
pub(crate) fn source_rate(codec: Option<LegCodec>) -> u32 {
    match codec.map(|c| c.codec) {
        Some(CodecKind::Opus | CodecKind::G722) => 16000,
        _ => 8000,
    }
}

/// When each packet of a source is due: packet `n` at `start + n × 20 ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pacer {
    start: Instant,
    /// The index of the next packet.
    next: u64,
}

/// What a [`Pacer`] says to do at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Due {
    /// Packets more than [`MAX_LATE`] late: not sent, their time skipped.
    pub skip: u64,
    /// Packets to send now.
    pub send: u64,
}

impl Pacer {
    pub(crate) fn new(start: Instant) -> Pacer {
        Pacer { start, next: 0 }
    }

    /// When the next packet is due.
    pub(crate) fn next_due(&self) -> Instant {
        self.start + Duration::from_nanos(PTIME.as_nanos() as u64 * self.next)
    }

    /// Takes the packets due at `now`.
    pub(crate) fn poll(&mut self, now: Instant) -> Due {
        let Some(elapsed) = now.checked_duration_since(self.start) else {
            return Due::default();
        };
        let ptime = PTIME.as_nanos();
        // The last packet due (inclusive) and the first one not too late.
        let last = (elapsed.as_nanos() / ptime) as u64;
        if last < self.next {
            return Due::default();
        }
        let first_in_time = elapsed
            .checked_sub(MAX_LATE)
            .map_or(0, |d| d.as_nanos().div_ceil(ptime) as u64);
        let from = self.next.max(first_in_time);
        let due = Due {
            skip: from - self.next,
            send: last + 1 - from,
        };
        self.next = last + 1;
        due
    }
}

/// What [`Source::poll`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Polled {
    /// When to poll again; `None`: the source has nothing left to play.
    pub next: Option<Instant>,
    /// A play that ran to its end during this poll.
    pub finished: Option<PlayId>,
}

/// A leg's generated source: DTMF tones, a play, music on hold, or any of
/// them at once (heard in that order of precedence).
#[derive(Debug)]
pub(crate) struct Source {
    pacer: Pacer,
    /// Tells this source's entries in the [`Schedule`] from stale ones.
    generation: u64,
    encoder: Option<SourceEncoder>,
    /// DTMF digits sent in-band, while some are queued or sounding.
    tones: Option<Box<DtmfGenerator>>,
    play: Option<Playlist>,
    /// What music on hold is (kept to render it again at another rate),
    /// and its generator.
    hold: Option<(HoldMusic, Music)>,
    /// Set the marker bit on the next packet sent (RFC 3551 §4.1: the
    /// start of a stream the peer has not heard).
    marker: bool,
    frame: Frame,
    packet: Vec<u8>,
}

impl Source {
    /// A source that starts now (its first packet is due at once).
    pub(crate) fn new(now: Instant, generation: u64, encoder: Option<SourceEncoder>) -> Source {
        Source {
            pacer: Pacer::new(now),
            generation,
            encoder,
            tones: None,
            play: None,
            hold: None,
            marker: true,
            frame: Frame::default(),
            packet: Vec::with_capacity(PACKET_CAPACITY),
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Renumbers the source for another worker's [`Schedule`].
    pub(crate) fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }

    pub(crate) fn next_due(&self) -> Instant {
        self.pacer.next_due()
    }

    /// Whether it has nothing to play (and can be dropped).
    pub(crate) fn is_idle(&self) -> bool {
        self.play.is_none() && self.hold.is_none() && self.tones.is_none()
    }

    /// The play in progress.
    pub(crate) fn play_id(&self) -> Option<PlayId> {
        self.play.as_ref().map(Playlist::id)
    }

    pub(crate) fn has_encoder(&self) -> bool {
        self.encoder.is_some()
    }

    /// Encodes from now on with `encoder` (the leg's codec changed, or
    /// became known). The stream goes on (same SSRC, timestamps moving on
    /// by the new clock); music is rendered again at the new rate.
    /// DTMF tones still queued at another rate are dropped (a codec change
    /// in the middle of a digit string: not worth resampling).
    pub(crate) fn set_encoder(&mut self, encoder: Option<SourceEncoder>) {
        self.encoder = encoder;
        let rate = self.rate();
        if self.tones.as_ref().is_some_and(|t| t.rate() != rate) {
            tracing::debug!(
                rate,
                "the leg's codec changed: DTMF tones still queued are dropped"
            );
            self.tones = None;
        }
        if let Some((spec, music)) = &mut self.hold {
            if music.rate() != rate {
                *music = Music::new(spec, rate);
            }
        }
    }

    /// Starts `play`; the one it replaces, if any.
    pub(crate) fn start_play(&mut self, play: Playlist) -> Option<PlayId> {
        self.play.replace(play).map(|p| p.id())
    }

    /// Stops the play; which one it was.
    pub(crate) fn stop_play(&mut self) -> Option<PlayId> {
        self.play.take().map(|p| p.id())
    }

    /// Queues DTMF `digits` as tones: each digit's ITU-T Q.23 pair at the
    /// usual levels (−8/−6 dBm0, [`ToneLevels::default`]) for `tone_ms`,
    /// then [`TONE_GAP_MS`] of silence, after the digits still queued.
    /// They are heard before anything else: a play (or the music) pauses
    /// meanwhile and goes on where it was once the last gap is over.
    pub(crate) fn queue_tones(&mut self, digits: &[Digit], tone_ms: u32) {
        let rate = self.rate();
        let tones = match &mut self.tones {
            Some(t) => t,
            slot => match DtmfGenerator::new(rate, ToneLevels::default()) {
                Ok(g) => slot.insert(Box::new(g)),
                // Our encoders run at 8 or 16 kHz, inside the generator's range.
                Err(e) => {
                    tracing::error!(rate, error = %e, "cannot generate DTMF tones");
                    return;
                }
            },
        };
        for &d in digits {
            tones.push(d, tone_ms, TONE_GAP_MS);
        }
    }

    /// DTMF digits queued or sounding.
    pub(crate) fn tones_pending(&self) -> usize {
        self.tones.as_deref().map_or(0, DtmfGenerator::pending)
    }

    /// Music on hold on (`Some`) or off.
    pub(crate) fn set_hold_music(&mut self, music: Option<HoldMusic>) {
        let rate = self.rate();
        self.hold = music.map(|spec| {
            let music = Music::new(&spec, rate);
            (spec, music)
        });
    }

    fn rate(&self) -> u32 {
        self.encoder.as_ref().map_or(8000, SourceEncoder::rate)
    }

    /// Sends the packets due at `now` through `send`, as packets of
    /// `sender`'s stream.
    pub(crate) fn poll(
        &mut self,
        now: Instant,
        sender: &mut Sender,
        mut send: impl FnMut(&[u8]),
    ) -> Polled {
        let due = self.pacer.poll(now);
        let mut finished = None;
        if let Some(e) = &self.encoder {
            let skipped = due.skip.wrapping_mul(u64::from(e.ticks)) as u32;
            sender.advance(skipped);
        }
        let rate = self.rate();
        for _ in 0..due.send {
            if self.is_idle() {
                break;
            }
            self.frame.rate = rate;
            self.frame.samples.clear();
            self.frame.samples.resize((rate / 50) as usize, 0);
            if let Some(tones) = self.tones.as_deref_mut() {
                tones.fill(&mut self.frame.samples);
                if tones.is_idle() {
                    self.tones = None;
                }
            } else {
                self.fill_play_or_music(rate, &mut finished);
            }
            let Some(e) = &mut self.encoder else {
                continue;
            };
            self.packet.clear();
            self.packet.resize(HEADER_LEN, 0);
            match e.encoder.encode(&self.frame, &mut self.packet) {
                Ok(_) => {
                    let marker = std::mem::take(&mut self.marker);
                    let ts = sender.timestamp();
                    sender.stamp(&mut self.packet, marker, e.payload_type, ts);
                    send(&self.packet);
                }
                Err(err) => tracing::debug!(error = %err, "cannot encode a frame of a source"),
            }
            sender.advance(e.ticks);
        }
        Polled {
            next: (!self.is_idle()).then(|| self.pacer.next_due()),
            finished,
        }
    }

    /// The frame from the play, else the music; the play's id in
    /// `finished` if it ended within the frame.
    fn fill_play_or_music(&mut self, rate: u32, finished: &mut Option<PlayId>) {
        match &mut self.play {
            Some(play) => {
                if !play.fill(rate, &mut self.frame.samples) {
                    *finished = self.play.take().map(|p| p.id());
                }
            }
            None => {
                if let Some((_, music)) = &mut self.hold {
                    music.fill(&mut self.frame.samples);
                }
            }
        }
    }
}

/// When each leg's source is next due: a min-heap of (instant, slot,
/// generation), so a wake-up visits only the sources that are due, in
/// O(log n) each. An entry whose source was replaced or ended is stale and
/// skipped when it comes up.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    generations: u64,
}

impl Schedule {
    /// A number for a new source.
    pub(crate) fn next_generation(&mut self) -> u64 {
        self.generations += 1;
        self.generations
    }

    /// The source of `generation` in `slot` is due at `at`.
    pub(crate) fn add(&mut self, at: Instant, slot: usize, generation: u64) {
        self.heap.push(Reverse((at, slot, generation)));
    }

    /// An entry due at `now`: (slot, generation, due instant).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(usize, u64, Instant)> {
        let Reverse((at, _, _)) = self.heap.peek()?;
        if *at > now {
            return None;
        }
        self.heap.pop().map(|Reverse((at, slot, g))| (slot, g, at))
    }

    /// The earliest entry (possibly stale: waking for it costs one pop).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::packet::Header;
    use media::codec::Decoder;
    use media::tones::Sine;
    use testkit::FakeClock;

    /// Amplitude of the `hz` component of `samples` (Goertzel over the
    /// whole block): about A for a sine of peak A.
    fn goertzel_amplitude(samples: &[i16], rate: u32, hz: f64) -> f64 {
        let coeff = 2.0 * (std::f64::consts::TAU * hz / f64::from(rate)).cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s0 = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        2.0 * power.max(0.0).sqrt() / samples.len().max(1) as f64
    }

    const PCMU: LegCodec = LegCodec {
        codec: CodecKind::Pcmu,
        payload_type: 0,
        dtmf: None,
    };
    const G722: LegCodec = LegCodec {
        codec: CodecKind::G722,
        payload_type: 9,
        dtmf: None,
    };
    const OPUS: LegCodec = LegCodec {
        codec: CodecKind::Opus,
        payload_type: 111,
        dtmf: None,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn tone(rate: u32, hz: f64, secs_x100: u32) -> Arc<Frame> {
        let mut pcm = vec![0i16; (rate * secs_x100 / 100) as usize];
        Sine::new(rate, hz, 10_000).fill(&mut pcm);
        Arc::new(Frame::new(rate, pcm))
    }

    fn sender() -> Sender {
        Sender::with_values(0x5EED, 65534, 4_294_967_000)
    }

    /// Every packet sent: (header, payload).
    fn run(
        source: &mut Source,
        sender: &mut Sender,
        now: Instant,
        out: &mut Vec<(Header, Vec<u8>)>,
    ) -> Polled {
        source.poll(now, sender, |p| {
            let h = Header::parse(p).unwrap();
            out.push((h, p[h.payload.0..h.payload.1].to_vec()));
        })
    }

    #[test]
    fn the_pacer_follows_its_start_not_its_wake_ups() {
        let mut clock = FakeClock::new();
        let mut p = Pacer::new(clock.now());
        assert_eq!(p.poll(clock.now()), Due { skip: 0, send: 1 });
        assert_eq!(p.next_due(), clock.now() + ms(20));
        // Woken 7 ms late: one packet, and the next is still on the grid.
        clock.advance(ms(27));
        assert_eq!(p.poll(clock.now()), Due { skip: 0, send: 1 });
        assert_eq!(p.next_due(), clock.base() + ms(40));
        // Woken early: nothing.
        clock.advance(ms(5));
        assert_eq!(p.poll(clock.now()), Due::default());
        // 90 ms late: the four packets due since are all sent.
        clock.set(clock.base() + ms(40 + 60));
        assert_eq!(p.poll(clock.now()), Due { skip: 0, send: 4 });
        // One second late: what is more than 100 ms late is skipped, the
        // six packets of the last 100 ms go out.
        clock.set(clock.base() + ms(1120));
        let due = p.poll(clock.now());
        assert_eq!(due, Due { skip: 45, send: 6 });
        assert_eq!(p.next_due(), clock.base() + ms(1140));
        // Over a long run nothing drifts: packet n at n × 20 ms.
        let mut sent = 57;
        for step in 0..10_000u64 {
            clock.advance(ms(13 + step % 11));
            let d = p.poll(clock.now());
            sent += d.send + d.skip;
        }
        let elapsed = clock.elapsed().as_millis() as u64;
        assert_eq!(sent, elapsed / 20 + 1);
    }

    #[test]
    fn a_play_is_one_stream_of_the_legs_own_packets_then_ends() {
        let mut clock = FakeClock::new();
        let mut s = Source::new(clock.now(), 1, Some(SourceEncoder::new(PCMU).unwrap()));
        // Two clips of 50 ms and 30 ms, twice: 160 ms, eight packets.
        let clips: Arc<[Arc<Frame>]> = vec![tone(8000, 440.0, 5), tone(8000, 1000.0, 3)].into();
        s.start_play(Playlist::new(PlayId(7), clips.clone(), 2));
        let mut tx = sender();
        let mut out = Vec::new();
        let mut finished = None;
        for _ in 0..20 {
            let polled = run(&mut s, &mut tx, clock.now(), &mut out);
            if polled.finished.is_some() {
                finished = polled.finished;
                assert_eq!(polled.next, None, "nothing else to play");
                break;
            }
            clock.advance(ms(20));
        }
        assert_eq!(finished, Some(PlayId(7)));
        assert_eq!(out.len(), 8);
        let seqs: Vec<u16> = out.iter().map(|(h, _)| h.sequence).collect();
        assert_eq!(seqs, [65534, 65535, 0, 1, 2, 3, 4, 5]);
        for (i, (h, payload)) in out.iter().enumerate() {
            assert_eq!(h.ssrc, 0x5EED);
            assert_eq!(h.payload_type, 0);
            assert_eq!(h.marker, i == 0, "marker on the first packet only");
            assert_eq!(
                h.timestamp,
                4_294_967_000u32.wrapping_add(160 * i as u32),
                "+160 per packet, wrapping"
            );
            assert_eq!(payload.len(), 160);
        }
        // The audio is the clips', joined without a gap (to µ-law's
        // precision: about 1/32 of the sample, RFC 3551 §4.5.14).
        let pcm: Vec<i16> = out
            .iter()
            .flat_map(|(_, p)| p.iter().map(|&b| media::codec::g711::ulaw_decode(b)))
            .collect();
        let expected: Vec<i16> = clips
            .iter()
            .chain(clips.iter())
            .flat_map(|c| c.samples.iter().copied())
            .collect();
        assert_eq!(pcm.len(), expected.len());
        for (i, (&got, &want)) in pcm.iter().zip(&expected).enumerate() {
            let error = (i32::from(got) - i32::from(want)).abs();
            assert!(
                error <= i32::from(want).abs() / 16 + 8,
                "sample {i}: {got} for {want}"
            );
        }
    }

    #[test]
    fn a_late_wake_up_sends_what_is_due_and_skips_the_rest() {
        let mut clock = FakeClock::new();
        let mut s = Source::new(clock.now(), 1, Some(SourceEncoder::new(PCMU).unwrap()));
        s.set_hold_music(Some(HoldMusic::BuiltIn));
        let mut tx = sender();
        let mut out = Vec::new();
        run(&mut s, &mut tx, clock.now(), &mut out);
        clock.advance(ms(2000));
        let polled = run(&mut s, &mut tx, clock.now(), &mut out);
        assert_eq!(out.len(), 1 + 6, "a burst of at most 100 ms");
        assert_eq!(polled.next, Some(clock.base() + ms(2020)));
        // Timestamps say where the packets belong: the skipped 94 are a gap.
        let ts: Vec<u32> = out
            .iter()
            .map(|(h, _)| h.timestamp.wrapping_sub(4_294_967_000))
            .collect();
        assert_eq!(
            ts,
            [
                0,
                95 * 160,
                96 * 160,
                97 * 160,
                98 * 160,
                99 * 160,
                100 * 160
            ]
        );
        let seqs: Vec<u16> = out.iter().map(|(h, _)| h.sequence).collect();
        assert_eq!(seqs, [65534, 65535, 0, 1, 2, 3, 4], "no sequence gap");
    }

    #[test]
    fn music_on_hold_is_encoded_in_the_legs_codec_and_carries_energy() {
        for codec in [PCMU, G722, OPUS] {
            let mut clock = FakeClock::new();
            let mut s = Source::new(clock.now(), 1, Some(SourceEncoder::new(codec).unwrap()));
            s.set_hold_music(Some(HoldMusic::BuiltIn));
            let mut tx = sender();
            let mut out = Vec::new();
            for _ in 0..100 {
                let polled = run(&mut s, &mut tx, clock.now(), &mut out);
                assert!(polled.next.is_some(), "music goes on");
                clock.advance(ms(20));
            }
            assert_eq!(out.len(), 100, "{codec:?}");
            let ticks = codec.codec.frame_rtp_ticks();
            let mut decoder = match codec.codec {
                CodecKind::Opus => Decoder::opus(16000).unwrap(),
                kind => Decoder::new(kind).unwrap(),
            };
            let mut pcm = Vec::new();
            let mut frame = Frame::default();
            for (i, (h, payload)) in out.iter().enumerate() {
                assert_eq!(h.payload_type, codec.payload_type);
                assert_eq!(
                    h.timestamp.wrapping_sub(out[0].0.timestamp),
                    ticks * i as u32
                );
                decoder.decode(payload, &mut frame).unwrap();
                pcm.extend_from_slice(&frame.samples);
            }
            // After the 0.4 s fade-in: the music's level (about -24 dBFS).
            let tail = &pcm[pcm.len() / 2..];
            let rms = (tail.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / tail.len() as f64)
                .sqrt();
            assert!(rms > 600.0, "{codec:?}: RMS {rms:.0}");
        }
    }

    #[test]
    fn a_play_over_music_gives_the_music_back_when_it_ends() {
        let mut clock = FakeClock::new();
        let mut s = Source::new(clock.now(), 1, Some(SourceEncoder::new(PCMU).unwrap()));
        s.set_hold_music(Some(HoldMusic::Recorded(
            vec![tone(8000, 1000.0, 100)].into(),
        )));
        let clips: Arc<[Arc<Frame>]> = vec![tone(8000, 440.0, 20)].into();
        assert_eq!(
            s.start_play(Playlist::new(PlayId(1), clips.clone(), 1)),
            None
        );
        // A new play replaces the first.
        assert_eq!(
            s.start_play(Playlist::new(PlayId(2), clips, 1)),
            Some(PlayId(1))
        );
        let mut tx = sender();
        let mut out = Vec::new();
        let mut finished = Vec::new();
        for _ in 0..30 {
            let polled = run(&mut s, &mut tx, clock.now(), &mut out);
            finished.extend(polled.finished);
            clock.advance(ms(20));
        }
        assert_eq!(finished, [PlayId(2)]);
        let decode = |r: std::ops::Range<usize>| -> Vec<i16> {
            out[r]
                .iter()
                .flat_map(|(_, p)| p.iter().map(|&b| media::codec::g711::ulaw_decode(b)))
                .collect()
        };
        let play = decode(0..10);
        let music = decode(10..30);
        assert!(goertzel_amplitude(&play, 8000, 440.0) > 9_000.0);
        assert!(goertzel_amplitude(&music, 8000, 1000.0) > 9_000.0);
        assert!(goertzel_amplitude(&music, 8000, 440.0) < 500.0);
        assert_eq!(s.stop_play(), None);
        s.set_hold_music(None);
        assert!(s.is_idle());
    }

    #[test]
    fn loop_count_zero_plays_until_stopped_and_empty_clips_end_it() {
        let mut clock = FakeClock::new();
        let mut s = Source::new(clock.now(), 1, Some(SourceEncoder::new(PCMU).unwrap()));
        s.start_play(Playlist::new(
            PlayId(3),
            vec![tone(8000, 440.0, 3)].into(),
            0,
        ));
        let mut tx = sender();
        let mut out = Vec::new();
        for _ in 0..200 {
            assert_eq!(run(&mut s, &mut tx, clock.now(), &mut out).finished, None);
            clock.advance(ms(20));
        }
        assert_eq!(s.stop_play(), Some(PlayId(3)));
        let empty: Arc<[Arc<Frame>]> = vec![Arc::new(Frame::new(8000, Vec::new()))].into();
        s.start_play(Playlist::new(PlayId(4), empty, 0));
        let polled = run(&mut s, &mut tx, clock.now(), &mut out);
        assert_eq!(polled.finished, Some(PlayId(4)));
    }

    #[test]
    fn without_an_encoder_the_play_runs_silently_in_its_time() {
        let mut clock = FakeClock::new();
        let mut s = Source::new(clock.now(), 1, None);
        s.start_play(Playlist::new(
            PlayId(5),
            vec![tone(8000, 440.0, 10)].into(),
            1,
        ));
        let mut tx = sender();
        let mut out = Vec::new();
        let mut finished = None;
        for _ in 0..10 {
            finished = finished.or(run(&mut s, &mut tx, clock.now(), &mut out).finished);
            clock.advance(ms(20));
        }
        assert!(out.is_empty());
        assert_eq!(finished, Some(PlayId(5)));
        assert!(SourceEncoder::for_static_payload_type(8).is_some());
        assert!(SourceEncoder::for_static_payload_type(18).is_none());
    }

    /// The digits a Q.24 detector finds in `pcm`, with their durations.
    fn detect(pcm: &[i16], rate: u32) -> Vec<(char, u32)> {
        let mut detector = media::dtmf::Detector::new(rate).unwrap();
        detector.process(pcm);
        detector.flush();
        let mut digits = Vec::new();
        while let Some(ev) = detector.poll_event() {
            if let media::dtmf::ToneEvent::Ended {
                digit, duration_ms, ..
            } = ev
            {
                digits.push((digit.to_char(), duration_ms));
            }
        }
        digits
    }

    #[test]
    fn tones_queue_after_each_other_and_the_play_goes_on_where_it_was() {
        let mut clock = FakeClock::new();
        let mut s = Source::new(clock.now(), 1, Some(SourceEncoder::new(PCMU).unwrap()));
        // 200 ms of 440 Hz: ten packets.
        s.start_play(Playlist::new(
            PlayId(9),
            vec![tone(8000, 440.0, 20)].into(),
            1,
        ));
        let mut tx = sender();
        let mut out = Vec::new();
        let mut finished = Vec::new();
        for step in 0..40 {
            // After three packets of the play, a 5; one packet later, the
            // same digit again: queued behind the first (its gap kept, so
            // they stay two digits), not replacing it.
            if step == 3 {
                s.queue_tones(&[Digit::D5], 100);
                assert_eq!(s.tones_pending(), 1);
            }
            if step == 4 {
                s.queue_tones(&[Digit::D5, Digit::Hash], 80);
                assert_eq!(s.tones_pending(), 3);
            }
            let polled = run(&mut s, &mut tx, clock.now(), &mut out);
            finished.extend(polled.finished);
            if polled.next.is_none() {
                break;
            }
            clock.advance(ms(20));
        }
        // 3 packets of play, 100+100 + 80+100 + 80+100 ms of tones
        // (28 packets), the 7 packets left of the play.
        assert_eq!(out.len(), 3 + 28 + 7);
        assert_eq!(finished, [PlayId(9)], "the play ends after the tones");
        assert!(s.is_idle());
        let seqs: Vec<u16> = out.iter().map(|(h, _)| h.sequence).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "one stream"
        );
        let decode = |r: std::ops::Range<usize>| -> Vec<i16> {
            out[r]
                .iter()
                .flat_map(|(_, p)| p.iter().map(|&b| media::codec::g711::ulaw_decode(b)))
                .collect()
        };
        let tones = decode(3..31);
        let digits = detect(&tones, 8000);
        let chars: String = digits.iter().map(|(c, _)| *c).collect();
        assert_eq!(chars, "55#", "{digits:?}");
        for ((_, got), want) in digits.iter().zip([100, 80, 80]) {
            assert!(got.abs_diff(want) <= 10, "{digits:?}");
        }
        assert!(
            goertzel_amplitude(&tones, 8000, 440.0) < 300.0,
            "no play under the tones"
        );
        let rest = decode(31..38);
        assert!(goertzel_amplitude(&rest, 8000, 440.0) > 9_000.0);
        assert!(detect(&decode(0..3), 8000).is_empty());
    }

    #[test]
    fn tones_in_wideband_codecs_are_detected_after_decoding() {
        for codec in [G722, OPUS] {
            let mut clock = FakeClock::new();
            let mut s = Source::new(clock.now(), 1, Some(SourceEncoder::new(codec).unwrap()));
            s.queue_tones(&[Digit::D1, Digit::D9, Digit::Star, Digit::D0], 120);
            let mut tx = sender();
            let mut out = Vec::new();
            while run(&mut s, &mut tx, clock.now(), &mut out).next.is_some() {
                clock.advance(ms(20));
            }
            assert_eq!(out.len(), 4 * 11, "{codec:?}: 4 x (120 + 100) ms");
            let mut decoder = match codec.codec {
                CodecKind::Opus => Decoder::opus(16000).unwrap(),
                kind => Decoder::new(kind).unwrap(),
            };
            let mut pcm = Vec::new();
            let mut frame = Frame::default();
            for (h, payload) in &out {
                assert_eq!(h.payload_type, codec.payload_type);
                decoder.decode(payload, &mut frame).unwrap();
                pcm.extend_from_slice(&frame.samples);
            }
            let chars: String = detect(&pcm, 16000).iter().map(|(c, _)| *c).collect();
            assert_eq!(chars, "19*0", "{codec:?}");
        }
    }

    #[test]
    fn the_schedule_gives_due_entries_earliest_first() {
        let clock = FakeClock::new();
        let t = clock.now();
        let mut sched = Schedule::default();
        let g = sched.next_generation();
        sched.add(t + ms(40), 3, g);
        sched.add(t + ms(20), 5, g);
        assert_eq!(sched.next(), Some(t + ms(20)));
        assert_eq!(sched.pop_due(t + ms(10)), None);
        assert_eq!(sched.pop_due(t + ms(45)), Some((5, g, t + ms(20))));
        assert_eq!(sched.pop_due(t + ms(45)), Some((3, g, t + ms(40))));
        assert_eq!(sched.pop_due(t + ms(45)), None);
        assert_ne!(sched.next_generation(), g);
    }
}
