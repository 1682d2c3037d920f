//! Adaptive jitter buffer for one received audio stream, sans-IO.
//!
//! Packets go in as they arrive ([`JitterBuffer::push`]); the caller's
//! playout clock takes one frame out per tick ([`JitterBuffer::pop`], every
//! `frame` of `now`, 20 ms by default):
//!
//! ```
//! use std::time::{Duration, Instant};
//! use media::jitter::{JitterBuffer, JitterConfig, Popped};
//! let mut jb = JitterBuffer::new(JitterConfig::new(8000));
//! let t0: Instant = testkit::FakeClock::new().now(); // the caller's clock
//! jb.push(t0, 1, 160, &[0xff; 160]);
//! let mut now = t0;
//! let mut played = 0;
//! for _ in 0..5 {
//!     while let Some(out) = jb.pop(now) {
//!         match out {
//!             Popped::Packet { payload, .. } => played += payload.len(), // decode
//!             Popped::Missing { .. } => {}                               // conceal (PLC)
//!             Popped::Empty => {}                                        // silence / comfort noise
//!         }
//!     }
//!     now += Duration::from_millis(20);
//! }
//! assert_eq!(played, 160);
//! ```
//!
//! How it works:
//!
//! - **Playout point.** Frames play in sequence-number order, one per tick.
//!   The buffer measures its *playout delay*: how long after the fastest
//!   possible arrival the frame due now is played (tick time minus the
//!   frame's RTP time minus the minimum transit seen over the last 1–2 s).
//! - **Target.** A delay estimate follows the arrivals: the relative delay
//!   of each packet over the fastest one (a jitter measure); it jumps up
//!   at once and decays slowly (by [`JitterConfig::decay_per_second`]).
//!   The target delay is that estimate plus half a frame, kept within
//!   [`JitterConfig::min_delay`]..=[`JitterConfig::max_delay`].
//! - **Adaptation.** While the playout delay is half a frame or more below
//!   target the buffer holds (returns [`Popped::Empty`] without advancing):
//!   this is prebuffering, the start of each talkspurt, and deceleration.
//!   While it stays more than a frame above target for 10 ticks, one frame
//!   is dropped (acceleration; a missing frame is dropped in preference to
//!   a received one). Sender clock drift shows as a slow change of the
//!   minimum transit and is absorbed the same way.
//! - **Loss and lateness.** A frame that has not arrived when its tick
//!   comes is [`Popped::Missing`] if a later one is buffered; if nothing at
//!   all is buffered the buffer holds (a network stall or a pause in
//!   transmission). A packet arriving after its tick is dropped and
//!   counted as late.
//! - **Discontinuities.** A jump of the sequence number by a buffer's
//!   capacity or of the timestamp against the arrival clock by more than
//!   a second (new SSRC, sender restart) flushes the buffer and starts
//!   over from that packet. A silence-suppressed pause (timestamps jump
//!   with the wallclock, RFC 3551 §4.1 marker) needs no special case: the
//!   first packet of the talkspurt is held until the target delay.
//!
//! One packet is expected to carry one frame (`frame` of audio); payloads
//! are copied into per-slot buffers that are reused, so steady state does
//! not allocate.

use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// Ticks the playout delay must stay above target before a frame is dropped.
const DROP_AFTER_TICKS: u32 = 10;
/// Frames of excess delay above which frames are dropped at every tick.
const FAST_DROP_FRAMES: i64 = 5;
/// Overdue ticks served to a late caller; older ones are skipped.
const MAX_BACKLOG_TICKS: i64 = 10;
/// Length of each of the two buckets of the minimum-transit window.
const TRANSIT_WINDOW_US: i64 = 1_000_000;
/// A timestamp that disagrees with the arrival clock by this much starts a
/// new timeline.
const RESYNC_TRANSIT_US: i64 = 1_000_000;

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the payload, Hz (8000 for G.711, 48000 for Opus).
    pub clock_rate: u32,
    /// Audio per packet and per playout tick (the SDP `ptime`).
    pub frame: Duration,
    /// Lowest target delay.
    pub min_delay: Duration,
    /// Highest target delay.
    pub max_delay: Duration,
    /// How fast the delay estimate shrinks when jitter subsides, per second
    /// of arrivals.
    pub decay_per_second: Duration,
    /// Packets the buffer can hold; rounded up to a power of two. Must
    /// cover `max_delay` plus reordering.
    pub capacity: usize,
}

impl JitterConfig {
    /// 20 ms frames at `clock_rate`, target delay 40–200 ms, shrinking by
    /// 5 ms per second, room for 64 packets (1.28 s).
    pub fn new(clock_rate: u32) -> Self {
        JitterConfig {
            clock_rate,
            frame: Duration::from_millis(20),
            min_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(200),
            decay_per_second: Duration::from_millis(5),
            capacity: 64,
        }
    }
}

/// What one playout tick produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Popped<'a> {
    /// The frame due now: decode it.
    Packet {
        /// Its RTP sequence number.
        sequence_number: u16,
        /// Its RTP timestamp.
        timestamp: u32,
        /// The payload as received.
        payload: &'a [u8],
    },
    /// The frame due now was lost or is late, and later frames are here:
    /// conceal one frame (decoder PLC). The playout point moved on.
    Missing {
        /// The sequence number that did not come.
        sequence_number: u16,
        /// Its expected timestamp.
        timestamp: u32,
    },
    /// Nothing to play and the playout point held still: before the first
    /// packet, while building up delay (prebuffering, talkspurt start,
    /// deceleration) or with nothing buffered (silence suppression, a
    /// stall). Play silence or comfort noise, or conceal if the previous
    /// tick was audio.
    Empty,
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Stored for playout.
    Buffered,
    /// Stored after flushing the buffer: the packet starts a new timeline.
    Resynced,
    /// Already buffered or played; ignored.
    Duplicate,
    /// Its tick has passed; dropped.
    Late,
}

/// Counters of a [`JitterBuffer`], named after the WebRTC `inbound-rtp`
/// jitter buffer statistics where one exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets pushed.
    pub packets_received: u64,
    /// Packets ignored as duplicates.
    pub packets_duplicated: u64,
    /// Packets dropped because their tick had passed.
    pub packets_late: u64,
    /// Buffered packets thrown away by a resync or an overflow.
    pub packets_discarded: u64,
    /// `jitterBufferEmittedCount`: frames returned as [`Popped::Packet`].
    pub frames_emitted: u64,
    /// Frames returned as [`Popped::Missing`].
    pub frames_concealed: u64,
    /// Frames skipped to reduce delay (received or missing).
    pub frames_removed_for_acceleration: u64,
    /// Ticks held with frames buffered, after playout had started.
    pub frames_inserted_for_deceleration: u64,
    /// Ticks returned as [`Popped::Empty`].
    pub empty_ticks: u64,
    /// Overdue ticks skipped because the caller was late by more than 10.
    pub ticks_skipped: u64,
    /// New timelines started after a discontinuity.
    pub resyncs: u64,
    /// `jitterBufferDelay`: summed time emitted packets spent buffered.
    pub total_delay: Duration,
}

/// Adaptive jitter buffer for one audio stream; see the module docs.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    frame_us: i64,
    frame_samples: i64,
    slots: Vec<Slot>,
    mask: usize,
    /// Packets in `Buffered` slots.
    len: usize,
    /// Time zero for all microsecond values.
    origin: Option<Instant>,
    next_tick_us: Option<i64>,
    /// Extended sequence number to play next; `None` before the first packet.
    next_seq: Option<i64>,
    /// Expected extended timestamp of `next_seq`.
    next_ts: i64,
    /// A frame was played since the (re)start.
    playing: bool,
    highest_seq: i64,
    highest_ts: i64,
    /// Extended timestamp taken as zero for transit computations.
    ts_base: i64,
    transit: MinWindow,
    last_arrival_us: i64,
    /// Delay estimate (relative delay peak), microseconds.
    peak_us: i64,
    over_ticks: u32,
    delay_us: Option<i64>,
    stats: JitterStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Buffered,
    /// Played or dropped: a copy arriving now is a duplicate.
    Done,
}

#[derive(Debug, Clone)]
struct Slot {
    state: SlotState,
    seq: i64,
    ts: i64,
    arrival_us: i64,
    payload: Vec<u8>,
}

/// Minimum over a sliding window of 1–2 s, in two buckets.
#[derive(Debug, Clone, Copy)]
struct MinWindow {
    bucket_start_us: i64,
    current: i64,
    previous: i64,
}

impl MinWindow {
    fn new(now_us: i64, value: i64) -> Self {
        MinWindow {
            bucket_start_us: now_us,
            current: value,
            previous: value,
        }
    }

    fn add(&mut self, now_us: i64, value: i64) {
        if now_us - self.bucket_start_us >= TRANSIT_WINDOW_US {
            self.previous = self.current;
            self.current = value;
            self.bucket_start_us = now_us;
        } else {
            self.current = self.current.min(value);
        }
    }

    fn min(&self) -> i64 {
        self.current.min(self.previous)
    }
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(cfg: JitterConfig) -> Self {
        let capacity = cfg.capacity.max(4).next_power_of_two();
        let rate = cfg.clock_rate.max(1) as i64;
        let frame_us = (cfg.frame.as_micros() as i64).max(1);
        let slot = Slot {
            state: SlotState::Free,
            seq: 0,
            ts: 0,
            arrival_us: 0,
            payload: Vec::new(),
        };
        JitterBuffer {
            frame_samples: (frame_us * rate / 1_000_000).max(1),
            frame_us,
            slots: vec![slot; capacity],
            mask: capacity - 1,
            cfg,
            len: 0,
            origin: None,
            next_tick_us: None,
            next_seq: None,
            next_ts: 0,
            playing: false,
            highest_seq: 0,
            highest_ts: 0,
            ts_base: 0,
            transit: MinWindow::new(0, 0),
            last_arrival_us: 0,
            peak_us: 0,
            over_ticks: 0,
            delay_us: None,
            stats: JitterStats::default(),
        }
    }

    /// Takes in a packet that arrived at `now`: its RTP sequence number,
    /// timestamp and payload (one frame).
    pub fn push(&mut self, now: Instant, seq: u16, timestamp: u32, payload: &[u8]) -> Pushed {
        let now_us = self.micros(now);
        self.stats.packets_received += 1;
        let Some(next) = self.next_seq else {
            self.start(now_us, seq, timestamp);
            self.store(self.highest_seq, self.highest_ts, now_us, payload);
            return Pushed::Buffered;
        };
        let ext_seq = self.highest_seq + seq.wrapping_sub(self.highest_seq as u16) as i16 as i64;
        let ext_ts = self.highest_ts + timestamp.wrapping_sub(self.highest_ts as u32) as i32 as i64;
        let transit = now_us - self.ts_micros(ext_ts);
        let capacity = self.slots.len() as i64;
        if (ext_seq - self.highest_seq).abs() >= capacity
            || (transit - self.transit.min()).abs() > RESYNC_TRANSIT_US
        {
            self.flush();
            self.stats.resyncs += 1;
            self.start(now_us, seq, timestamp);
            self.store(self.highest_seq, self.highest_ts, now_us, payload);
            return Pushed::Resynced;
        }
        let slot = &self.slots[ext_seq as usize & self.mask];
        if slot.seq == ext_seq && slot.state != SlotState::Free {
            self.stats.packets_duplicated += 1;
            return Pushed::Duplicate;
        }
        self.observe(now_us, transit);
        if ext_seq < next {
            if self.playing {
                self.stats.packets_late += 1;
                return Pushed::Late;
            }
            // Reordered before playout started: start from this one.
            self.next_seq = Some(ext_seq);
            self.next_ts = ext_ts;
        }
        // Far behind (the caller stopped popping): drop the oldest frames.
        let mut next = self.next_seq.unwrap_or(ext_seq);
        while ext_seq - next >= capacity {
            self.discard_slot(next);
            next += 1;
            self.next_ts += self.frame_samples;
        }
        self.next_seq = Some(next);
        if ext_seq > self.highest_seq {
            self.highest_seq = ext_seq;
            self.highest_ts = ext_ts;
        }
        self.store(ext_seq, ext_ts, now_us, payload);
        Pushed::Buffered
    }

    /// Runs the playout clock to `now`: returns the next overdue tick's
    /// frame, or `None` when no tick is due. Call it in a loop until `None`
    /// each time the caller's 20 ms timer fires; ticks follow a fixed grid
    /// started by the first call, so late or early calls do not shift the
    /// timing (a tick is due from half a frame before its grid time). When
    /// more than 10 ticks are overdue, the older ones are skipped.
    pub fn pop(&mut self, now: Instant) -> Option<Popped<'_>> {
        let now_us = self.micros(now);
        let mut tick = *self.next_tick_us.get_or_insert(now_us);
        if now_us < tick - self.frame_us / 2 {
            return None;
        }
        let overdue = (now_us - tick) / self.frame_us;
        if overdue > MAX_BACKLOG_TICKS {
            let skip = overdue - MAX_BACKLOG_TICKS;
            tick += skip * self.frame_us;
            self.stats.ticks_skipped += skip as u64;
        }
        self.next_tick_us = Some(tick + self.frame_us);
        Some(self.tick(tick))
    }

    /// When [`pop`](Self::pop) next gives a frame (half a frame before its
    /// tick); `None` before the first pop.
    pub fn next_due(&self) -> Option<Instant> {
        let origin = self.origin?;
        let t = self.next_tick_us? - self.frame_us / 2;
        if t >= 0 {
            Some(origin + Duration::from_micros(t as u64))
        } else {
            origin.checked_sub(Duration::from_micros(t.unsigned_abs()))
        }
    }

    /// Forgets the stream (keeps the statistics and the delay estimate):
    /// for a new SSRC the caller knows about.
    pub fn reset(&mut self) {
        self.flush();
        self.next_seq = None;
        self.playing = false;
        self.delay_us = None;
    }

    /// The current target playout delay.
    pub fn target_delay(&self) -> Duration {
        micros_to_duration(self.target_us())
    }

    /// The playout delay measured at the last tick that had frames
    /// buffered (see the module docs), `None` before.
    pub fn current_delay(&self) -> Option<Duration> {
        self.delay_us.map(micros_to_duration)
    }

    /// Packets buffered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no packet is buffered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The counters.
    pub fn stats(&self) -> &JitterStats {
        &self.stats
    }

    /// The settings.
    pub fn config(&self) -> &JitterConfig {
        &self.cfg
    }

    fn tick(&mut self, tick_us: i64) -> Popped<'_> {
        let Some(mut next) = self.next_seq.filter(|_| self.len > 0) else {
            self.stats.empty_ticks += 1;
            return Popped::Empty;
        };
        let (present, ts) = loop {
            let slot = &self.slots[next as usize & self.mask];
            let present = slot.state == SlotState::Buffered && slot.seq == next;
            let ts = if present { slot.ts } else { self.next_ts };
            let delay = tick_us - self.ts_micros(ts) - self.transit.min();
            self.delay_us = Some(delay);
            let excess = delay - self.target_us();
            if excess < -self.frame_us / 2 {
                self.over_ticks = 0;
                self.stats.empty_ticks += 1;
                if self.playing {
                    self.stats.frames_inserted_for_deceleration += 1;
                }
                return Popped::Empty;
            }
            if excess > self.frame_us {
                self.over_ticks += 1;
            } else {
                self.over_ticks = 0;
            }
            let can_drop = if present {
                self.len >= 2
            } else {
                self.len >= 1
            };
            let fast = excess > FAST_DROP_FRAMES * self.frame_us;
            if !(can_drop && (fast || self.over_ticks >= DROP_AFTER_TICKS)) {
                break (present, ts);
            }
            self.over_ticks = 0;
            self.stats.frames_removed_for_acceleration += 1;
            if present {
                self.slots[next as usize & self.mask].state = SlotState::Done;
                self.len -= 1;
            }
            next += 1;
            self.next_seq = Some(next);
            self.next_ts = ts + self.frame_samples;
        };
        self.next_seq = Some(next + 1);
        self.next_ts = ts + self.frame_samples;
        self.playing = true;
        if !present {
            self.stats.frames_concealed += 1;
            return Popped::Missing {
                sequence_number: next as u16,
                timestamp: ts as u32,
            };
        }
        let slot = &mut self.slots[next as usize & self.mask];
        slot.state = SlotState::Done;
        self.len -= 1;
        self.stats.frames_emitted += 1;
        self.stats.total_delay += micros_to_duration(tick_us - slot.arrival_us);
        Popped::Packet {
            sequence_number: next as u16,
            timestamp: ts as u32,
            payload: &slot.payload,
        }
    }

    /// Starts a timeline at this packet (first packet, or after a resync).
    fn start(&mut self, now_us: i64, seq: u16, timestamp: u32) {
        self.highest_seq = seq as i64;
        self.highest_ts = timestamp as i64;
        self.ts_base = timestamp as i64;
        self.next_seq = Some(self.highest_seq);
        self.next_ts = self.highest_ts;
        self.playing = false;
        self.over_ticks = 0;
        self.transit = MinWindow::new(now_us, now_us);
        self.last_arrival_us = now_us;
    }

    /// Updates the transit window and the delay estimate with an arrival.
    fn observe(&mut self, now_us: i64, transit: i64) {
        self.transit.add(now_us, transit);
        let relative = transit - self.transit.min();
        let elapsed = (now_us - self.last_arrival_us).max(0);
        let decay = elapsed * self.cfg.decay_per_second.as_micros() as i64 / 1_000_000;
        self.peak_us = relative.max(self.peak_us - decay).max(0);
        self.last_arrival_us = self.last_arrival_us.max(now_us);
    }

    fn target_us(&self) -> i64 {
        let min = self.cfg.min_delay.as_micros() as i64;
        let max = (self.cfg.max_delay.as_micros() as i64).max(min);
        (self.peak_us + self.frame_us / 2).clamp(min, max)
    }

    fn store(&mut self, seq: i64, ts: i64, arrival_us: i64, payload: &[u8]) {
        let slot = &mut self.slots[seq as usize & self.mask];
        if slot.state == SlotState::Buffered {
            // Only reachable when an older frame still holds the slot.
            self.stats.packets_discarded += 1;
            self.len -= 1;
        }
        slot.state = SlotState::Buffered;
        slot.seq = seq;
        slot.ts = ts;
        slot.arrival_us = arrival_us;
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
        self.len += 1;
    }

    fn discard_slot(&mut self, seq: i64) {
        let slot = &mut self.slots[seq as usize & self.mask];
        if slot.state == SlotState::Buffered && slot.seq == seq {
            slot.state = SlotState::Done;
            self.len -= 1;
            self.stats.packets_discarded += 1;
        }
    }

    fn flush(&mut self) {
        for slot in &mut self.slots {
            if slot.state == SlotState::Buffered {
                self.stats.packets_discarded += 1;
            }
            slot.state = SlotState::Free;
        }
        self.len = 0;
    }

    /// Microseconds since the first call (negative if `t` is earlier).
    fn micros(&mut self, t: Instant) -> i64 {
        let origin = *self.origin.get_or_insert(t);
        match t.checked_duration_since(origin) {
            Some(d) => d.as_micros() as i64,
            None => -(origin.duration_since(t).as_micros() as i64),
        }
    }

    /// An extended timestamp as microseconds of media time.
    fn ts_micros(&self, ts: i64) -> i64 {
        (ts - self.ts_base) * 1_000_000 / self.cfg.clock_rate.max(1) as i64
    }
}

fn micros_to_duration(us: i64) -> Duration {
    Duration::from_micros(us.max(0) as u64)
}
