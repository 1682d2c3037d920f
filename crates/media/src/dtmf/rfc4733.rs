//! RFC 4733 `telephone-event` RTP payloads: the 4-byte event report
//! (§2.3), a receiver that turns a stream of reports into one
//! [`ReceivedDigit`] per key press (§2.5.2), and a sender that schedules the
//! reports for a digit string (§2.5.1).
//!
//! Both sides work on RTP fields only (timestamp, marker bit, sequence
//! number, payload); the RTP session owns the header, the SSRC, the payload
//! type and the sockets.
//!
//! ```
//! use std::time::Instant;
//! use media::dtmf::{Digit, EventReceiver, EventSender};
//!
//! let start: Instant = testkit::FakeClock::new().now(); // the caller's clock
//! let mut sender = EventSender::new(8000, 20).unwrap();
//! sender.send(start, 160_000, &[Digit::D5], 100).unwrap();
//! let mut receiver = EventReceiver::new(8000).unwrap();
//! let mut seq = 0u16;
//! while let Some(at) = sender.poll_timeout() {
//!     while let Some(packet) = sender.poll_transmit(at) {
//!         let bytes = packet.payload.to_bytes();
//!         receiver.handle_packet(at, packet.timestamp, packet.marker, seq, &bytes).unwrap();
//!         seq = seq.wrapping_add(1);
//!     }
//! }
//! let digit = receiver.poll_event().unwrap();
//! assert_eq!((digit.digit, digit.duration_ms), (Digit::D5, 100));
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Digit, DtmfError};

/// Largest duration one report can carry, in timestamp units (§2.3.5);
/// longer events are sent as segments of this length (§2.5.1.3).
pub const MAX_SEGMENT_DURATION: u32 = 0xFFFF;

/// The default `volume` field: the tone power in −dBm0 (§2.3.4), 10 meaning
/// −10 dBm0.
pub const DEFAULT_VOLUME: u8 = 10;

/// Shortest digit [`EventSender`] sends, in ms (ITU-T Q.24: 40 ms is the
/// shortest tone a receiver must recognise).
pub const MIN_SEND_DURATION_MS: u32 = 40;

/// Longest digit [`EventSender`] sends, in ms. (The API layer applies the
/// tighter 100-1000 ms range of the product documentation.)
pub const MAX_SEND_DURATION_MS: u32 = 10_000;

/// Default silence between two digits of a string, ms.
pub const DEFAULT_GAP_MS: u32 = 100;

/// Checks a digit duration [`EventSender::send`] takes
/// ([`MIN_SEND_DURATION_MS`]..=[`MAX_SEND_DURATION_MS`]); a sender of
/// in-band tones checks it up front the same way.
pub fn check_send_duration(duration_ms: u32) -> Result<(), DtmfError> {
    if !(MIN_SEND_DURATION_MS..=MAX_SEND_DURATION_MS).contains(&duration_ms) {
        return Err(DtmfError::DurationOutOfRange {
            ms: duration_ms,
            min: MIN_SEND_DURATION_MS,
            max: MAX_SEND_DURATION_MS,
        });
    }
    Ok(())
}

/// How long [`EventReceiver`] waits for the next report of an event that
/// has not ended before declaring it over (§2.5.2.2: the end packets may
/// all be lost).
pub const DEFAULT_END_TIMEOUT: Duration = Duration::from_millis(250);

/// One event report, RFC 4733 §2.3 (Figure 1):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     event     |E|R| volume    |          duration             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code (§2.3.1); 0-15 are the DTMF digits ([`Digit`]).
    pub event: u8,
    /// E bit (§2.3.2): this report is the end of the event.
    pub end: bool,
    /// Tone power in −dBm0, 0-63 (§2.3.4).
    pub volume: u8,
    /// Time since the event (or segment) began, in RTP timestamp units
    /// (§2.3.5).
    pub duration: u16,
}

impl EventPayload {
    /// Reads the first report of a `telephone-event` payload. The R bit is
    /// ignored as §2.3.3 asks; further reports in the same payload (§2.5.1.5,
    /// not used for DTMF in practice) are not read.
    pub fn parse(payload: &[u8]) -> Result<EventPayload, DtmfError> {
        let [event, flags, hi, lo, ..] = *payload else {
            return Err(DtmfError::ShortPayload(payload.len()));
        };
        Ok(EventPayload {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([hi, lo]),
        })
    }

    /// The 4 bytes on the wire, network order, R bit zero, volume masked
    /// to its 6 bits.
    pub fn to_bytes(self) -> [u8; 4] {
        let [hi, lo] = self.duration.to_be_bytes();
        let flags = if self.end { 0x80 } else { 0 } | (self.volume & 0x3F);
        [self.event, flags, hi, lo]
    }
}

/// One key press recognised by [`EventReceiver`], reported once, when it
/// ended: the `dtmf_received` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedDigit {
    /// The key.
    pub digit: Digit,
    /// RTP timestamp at which the event began (that of its first segment).
    pub timestamp: u32,
    /// Length of the press in RTP timestamp units, across all segments.
    pub duration: u32,
    /// The same length in milliseconds, rounded.
    pub duration_ms: u32,
    /// Last reported tone power, −dBm0.
    pub volume: u8,
    /// What told the receiver the event was over.
    pub ended_by: EventEnd,
}

/// How [`EventReceiver`] learnt that an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventEnd {
    /// A report with the E bit (§2.3.2, §2.5.2.2): the duration is exact.
    EndBit,
    /// No report for [`EventReceiver::with_end_timeout`]; the duration is
    /// the last one reported.
    Timeout,
    /// A report for a newer event arrived first; the duration is the last
    /// one reported.
    NextEvent,
}

/// The receiving side of RFC 4733 §2.5.2, sans-IO.
///
/// Feed every packet of the `telephone-event` payload type to
/// [`handle_packet`](Self::handle_packet), call
/// [`handle_timeout`](Self::handle_timeout) when
/// [`poll_timeout`](Self::poll_timeout) says, and drain
/// [`poll_event`](Self::poll_event).
///
/// Each key press is reported exactly once, **when it ends**, with its
/// duration: at the first report with the E bit, or, when every end packet
/// was lost, at the first report of a newer event or after the end timeout
/// (the last reported duration is then used). [`pressed`](Self::pressed)
/// tells which key is down meanwhile (for barge-in).
///
/// Rules, all from the RTP fields:
/// - an event is identified by its RTP timestamp (§2.5.2.2): reports with
///   the current timestamp update it (duration only grows, so reordered
///   updates are harmless), a different timestamp is a different event,
///   even for the same digit;
/// - the retransmitted end reports (§2.5.1.4, usually 3) and any later report
///   of an ended event are ignored;
/// - a report with a timestamp older than the latest event's (less than ten
///   seconds of clock older) is a late packet and is ignored; a larger jump
///   back is a timestamp discontinuity and starts a new event;
/// - a long event split in segments (§2.5.1.3, §2.5.2.3: same code, no
///   marker, timestamp advanced by the previous segment's ~0xFFFF
///   duration) continues the event, and durations add up;
/// - a duration field that wraps past 0xFFFF within one timestamp (a sender
///   that does not segment) is unwrapped;
/// - the sequence number only filters out a packet the network duplicated;
/// - events other than the 16 digits (flash, fax tones) end the previous
///   digit but are not reported.
#[derive(Debug)]
pub struct EventReceiver {
    clock_rate: u32,
    end_timeout: Duration,
    /// Timestamps older than the latest event by less than this are late.
    late_window: u32,
    /// The latest event, kept after it ended to recognise retransmissions.
    event: Option<Tracked>,
    last_seq: Option<u16>,
    ready: VecDeque<ReceivedDigit>,
}

/// What the receiver knows of the latest event.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    code: u8,
    /// Timestamp of the first segment: the start of the event.
    start_ts: u32,
    /// Timestamp of the current segment.
    segment_ts: u32,
    /// `segment_ts - start_ts`.
    segment_offset: u32,
    /// Longest duration reported in this segment, unwrapped.
    segment_duration: u32,
    /// Times the 16-bit duration wrapped in this segment.
    wraps: u32,
    /// Latest raw duration field in this segment (to notice wrapping).
    last_raw: u16,
    volume: u8,
    last_arrival: Instant,
    ended: bool,
}

impl EventReceiver {
    /// A receiver for a `telephone-event` stream whose RTP clock runs at
    /// `clock_rate` Hz (the rate of its `a=rtpmap`: 8000 usually, 48000 on
    /// Opus legs).
    pub fn new(clock_rate: u32) -> Result<EventReceiver, DtmfError> {
        if !(1000..=192_000).contains(&clock_rate) {
            return Err(DtmfError::UnsupportedRate(clock_rate));
        }
        Ok(EventReceiver {
            clock_rate,
            end_timeout: DEFAULT_END_TIMEOUT,
            late_window: clock_rate * 10,
            event: None,
            last_seq: None,
            ready: VecDeque::with_capacity(4),
        })
    }

    /// Sets how long a digit may go without any report before it is
    /// declared ended ([`DEFAULT_END_TIMEOUT`] otherwise).
    pub fn with_end_timeout(mut self, timeout: Duration) -> EventReceiver {
        self.end_timeout = timeout;
        self
    }

    /// Takes in one `telephone-event` packet received at `now`. A payload
    /// shorter than 4 bytes is refused and changes nothing.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        timestamp: u32,
        marker: bool,
        seq: u16,
        payload: &[u8],
    ) -> Result<(), DtmfError> {
        let report = EventPayload::parse(payload)?;
        if self.last_seq == Some(seq) {
            return Ok(()); // the network duplicated the previous packet
        }
        self.last_seq = Some(seq);

        let Some(event) = self.event.as_mut() else {
            self.begin(now, timestamp, report);
            return Ok(());
        };
        if timestamp == event.segment_ts {
            if !event.ended && report.event == event.code {
                event.update(now, report);
                if report.end {
                    self.finish(EventEnd::EndBit);
                }
            }
            return Ok(());
        }
        let back = event.segment_ts.wrapping_sub(timestamp);
        if back < self.late_window {
            return Ok(()); // older than the latest event: late or repeated
        }
        let ahead = timestamp.wrapping_sub(event.segment_ts);
        // §2.5.2.3: the next segment of a long event follows the previous
        // one by its (maximum) duration, without the marker bit.
        let segment_slack = self.clock_rate / 4;
        if !event.ended
            && !marker
            && report.event == event.code
            && ahead <= MAX_SEGMENT_DURATION
            && ahead >= event.segment_duration.min(MAX_SEGMENT_DURATION)
            && event.segment_duration.saturating_add(segment_slack) >= MAX_SEGMENT_DURATION
        {
            event.segment_offset = event.segment_offset.wrapping_add(ahead);
            event.segment_ts = timestamp;
            event.segment_duration = 0;
            event.wraps = 0;
            event.last_raw = 0;
            event.update(now, report);
            if report.end {
                self.finish(EventEnd::EndBit);
            }
            return Ok(());
        }
        if !event.ended {
            self.finish(EventEnd::NextEvent);
        }
        self.begin(now, timestamp, report);
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called:
    /// the end timeout of a digit still held down, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.event
            .filter(|event| !event.ended)
            .map(|event| event.last_arrival + self.end_timeout)
    }

    /// Ends a digit whose reports stopped for longer than the end timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            self.finish(EventEnd::Timeout);
        }
    }

    /// The next recognised digit, oldest first.
    pub fn poll_event(&mut self) -> Option<ReceivedDigit> {
        self.ready.pop_front()
    }

    /// The digit being pressed right now (a report arrived, the end has
    /// not), for interrupting a prompt before the digit is reported.
    pub fn pressed(&self) -> Option<Digit> {
        self.event
            .filter(|event| !event.ended)
            .and_then(|event| Digit::from_event_code(event.code))
    }

    /// Forgets the stream (new SSRC, re-INVITE): an unfinished digit is
    /// dropped, reported digits not yet polled are kept.
    pub fn reset(&mut self) {
        self.event = None;
        self.last_seq = None;
    }

    fn begin(&mut self, now: Instant, timestamp: u32, report: EventPayload) {
        let mut event = Tracked {
            code: report.event,
            start_ts: timestamp,
            segment_ts: timestamp,
            segment_offset: 0,
            segment_duration: 0,
            wraps: 0,
            last_raw: 0,
            volume: report.volume,
            last_arrival: now,
            ended: false,
        };
        event.update(now, report);
        self.event = Some(event);
        if report.end {
            self.finish(EventEnd::EndBit);
        }
    }

    /// Marks the latest event ended and reports it if it is a digit.
    fn finish(&mut self, ended_by: EventEnd) {
        let Some(event) = self.event.as_mut() else {
            return;
        };
        event.ended = true;
        let Some(digit) = Digit::from_event_code(event.code) else {
            return;
        };
        let duration = event.segment_offset.saturating_add(event.segment_duration);
        let rate = u64::from(self.clock_rate);
        let duration_ms = ((u64::from(duration) * 1000 + rate / 2) / rate) as u32;
        self.ready.push_back(ReceivedDigit {
            digit,
            timestamp: event.start_ts,
            duration,
            duration_ms,
            volume: event.volume,
            ended_by,
        });
    }
}

impl Tracked {
    /// Folds one report of the current segment in.
    fn update(&mut self, now: Instant, report: EventPayload) {
        let raw = report.duration;
        let wraps = if self.last_raw > raw && self.last_raw - raw > 0x8000 {
            // the field wrapped past 0xFFFF
            self.wraps = self.wraps.saturating_add(1);
            self.last_raw = raw;
            self.wraps
        } else if raw > self.last_raw && raw - self.last_raw > 0x8000 && self.wraps > 0 {
            // a late report from before the wrap
            self.wraps - 1
        } else {
            self.last_raw = self.last_raw.max(raw);
            self.wraps
        };
        let unwrapped = wraps
            .saturating_mul(0x1_0000)
            .saturating_add(u32::from(raw));
        self.segment_duration = self.segment_duration.max(unwrapped);
        self.volume = report.volume;
        self.last_arrival = now;
    }
}

/// One packet [`EventSender`] wants sent: the RTP marker bit and timestamp
/// to put in the header, and the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// RTP marker bit: set on the first packet of an event only (§2.5.1.2).
    pub marker: bool,
    /// RTP timestamp: the start of the event (of its segment, §2.5.1.3),
    /// the same in every packet of it (§2.5.1.2).
    pub timestamp: u32,
    /// The event report.
    pub payload: EventPayload,
}

/// A packet of an event's plan and when to send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledPacket {
    /// When to send it, in RTP timestamp units after the event began.
    pub offset: u32,
    /// What to send.
    pub packet: EventPacket,
}

/// All the packets of one event, in sending order (§2.5.1):
///
/// - an update every `interval` timestamp units, the first one `interval`
///   after the start, each carrying the duration so far, the marker bit on
///   the first only;
/// - the final report, E bit set and the full duration, when the event
///   ends (`duration` after the start), sent three times, `interval` apart
///   (§2.5.1.4);
/// - events longer than [`MAX_SEGMENT_DURATION`] split in segments
///   (§2.5.1.3): when a segment is full its last report (duration 0xFFFF,
///   no E bit) is sent three times and the next segment's reports carry the
///   timestamp `start + 0xFFFF·n`.
///
/// `start_ts` is the RTP timestamp of the event's start; `duration` and
/// `interval` are in timestamp units (a 100 ms digit at 8000 Hz is 800),
/// `interval` well below 0xFFFF.
pub fn event_packets(
    digit: Digit,
    start_ts: u32,
    duration: u32,
    interval: u32,
    volume: u8,
) -> Vec<ScheduledPacket> {
    let mut out = Vec::new();
    plan_event(
        &mut out,
        digit.event_code(),
        start_ts,
        duration,
        interval,
        volume,
    );
    out
}

/// [`event_packets`] appending to `out` (reused between digits, so a
/// sender allocates only when an event is longer than all before it).
fn plan_event(
    out: &mut Vec<ScheduledPacket>,
    code: u8,
    start_ts: u32,
    duration: u32,
    interval: u32,
    volume: u8,
) {
    let interval = interval.max(1);
    let duration = duration.max(1);
    let report = |segment_start: u32, elapsed: u32, end: bool, marker: bool| EventPacket {
        marker,
        timestamp: start_ts.wrapping_add(segment_start),
        payload: EventPayload {
            event: code,
            end,
            volume,
            duration: (elapsed - segment_start).min(MAX_SEGMENT_DURATION) as u16,
        },
    };
    let mut segment_start = 0u32;
    // the last report of a full segment, and how many copies are still due
    let mut closed: Option<(EventPacket, u8)> = None;
    let mut elapsed = interval.min(duration);
    loop {
        send_closed(out, elapsed, &mut closed);
        if elapsed - segment_start > MAX_SEGMENT_DURATION {
            // §2.5.1.3: the segment is full; its last report goes out three
            // times and the rest of the event continues at a new timestamp.
            let last = report(
                segment_start,
                segment_start + MAX_SEGMENT_DURATION,
                false,
                false,
            );
            closed = Some((last, 3));
            send_closed(out, elapsed, &mut closed);
            segment_start += MAX_SEGMENT_DURATION;
        }
        let end = elapsed == duration;
        let first = elapsed == interval.min(duration);
        let packet = report(segment_start, elapsed, end, first);
        out.push(ScheduledPacket {
            offset: elapsed,
            packet,
        });
        if end {
            // §2.5.1.4: the final report three times in all.
            for n in 1..=2u32 {
                let offset = duration.saturating_add(n * interval);
                send_closed(out, offset, &mut closed);
                let packet = EventPacket {
                    marker: false,
                    ..packet
                };
                out.push(ScheduledPacket { offset, packet });
            }
            return;
        }
        elapsed = elapsed.saturating_add(interval).min(duration);
    }
}

/// Sends one more copy of a full segment's last report, if any is due.
fn send_closed(
    out: &mut Vec<ScheduledPacket>,
    offset: u32,
    closed: &mut Option<(EventPacket, u8)>,
) {
    if let Some((packet, left)) = closed.take() {
        out.push(ScheduledPacket { offset, packet });
        if left > 1 {
            *closed = Some((packet, left - 1));
        }
    }
}

/// The sending side of RFC 4733 §2.5.1, sans-IO: queues digit strings and
/// hands out each packet when it is due.
///
/// Call [`send`](Self::send), then [`poll_transmit`](Self::poll_transmit)
/// until it returns `None`, and again at [`poll_timeout`](Self::poll_timeout).
/// The RTP session adds the header (sequence number, SSRC, the negotiated
/// `telephone-event` payload type) and usually holds back audio while
/// [`in_event`](Self::in_event) is true.
///
/// Digits of a string start `duration + gap` apart, each event's RTP
/// timestamp following the clock from the timestamp given to `send`. The
/// gap is stretched to two packet intervals when shorter, so the three end
/// reports of a digit always go out before the next digit's first packet.
#[derive(Debug)]
pub struct EventSender {
    clock_rate: u32,
    /// Packet interval in timestamp units.
    interval: u32,
    volume: u8,
    gap_ms: u32,
    /// Digits waiting, with their duration in timestamp units.
    queue: VecDeque<(Digit, u32)>,
    /// When and at which RTP timestamp the current string began.
    origin: Option<(Instant, u32)>,
    /// Start of the next digit, timestamp units after the origin.
    cursor: u64,
    /// Packets of the digit being sent, offsets relative to the origin
    /// once shifted by `plan_base`.
    plan: Vec<ScheduledPacket>,
    plan_base: u64,
    next: usize,
}

impl EventSender {
    /// A sender for a `telephone-event` stream with an RTP clock of
    /// `clock_rate` Hz sending one packet every `interval_ms` (the audio
    /// ptime, typically 20; RFC 4733 suggests 50 when unknown).
    pub fn new(clock_rate: u32, interval_ms: u32) -> Result<EventSender, DtmfError> {
        if !(1000..=192_000).contains(&clock_rate) {
            return Err(DtmfError::UnsupportedRate(clock_rate));
        }
        if !(5..=200).contains(&interval_ms) {
            return Err(DtmfError::UnsupportedInterval(interval_ms));
        }
        Ok(EventSender {
            clock_rate,
            interval: clock_rate * interval_ms / 1000,
            volume: DEFAULT_VOLUME,
            gap_ms: DEFAULT_GAP_MS,
            queue: VecDeque::new(),
            origin: None,
            cursor: 0,
            plan: Vec::new(),
            plan_base: 0,
            next: 0,
        })
    }

    /// Sets the `volume` field, −dBm0 (clamped to 0-63).
    pub fn with_volume(mut self, volume: u8) -> EventSender {
        self.volume = volume.min(63);
        self
    }

    /// Sets the silence between the digits of a string, ms.
    pub fn with_gap_ms(mut self, gap_ms: u32) -> EventSender {
        self.gap_ms = gap_ms;
        self
    }

    /// Queues `digits`, each lasting `duration_ms`
    /// ([`MIN_SEND_DURATION_MS`]..=[`MAX_SEND_DURATION_MS`]).
    ///
    /// `timestamp` is the RTP timestamp of the stream at `now`; the first
    /// digit starts then. If an earlier string is still being sent (its
    /// last gap included), the new digits follow it instead and `timestamp`
    /// is not used.
    pub fn send(
        &mut self,
        now: Instant,
        timestamp: u32,
        digits: &[Digit],
        duration_ms: u32,
    ) -> Result<(), DtmfError> {
        check_send_duration(duration_ms)?;
        if self.is_idle(now) {
            self.origin = Some((now, timestamp));
            self.cursor = 0;
            self.plan.clear();
            self.next = 0;
        }
        let duration = (u64::from(self.clock_rate) * u64::from(duration_ms) / 1000) as u32;
        self.queue
            .extend(digits.iter().map(|&digit| (digit, duration)));
        Ok(())
    }

    /// The next packet due at or before `now`, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<EventPacket> {
        let (origin, _) = self.origin?;
        if self.next == self.plan.len() {
            self.start_next_digit()?;
        }
        let scheduled = self.plan[self.next];
        let due = origin + self.elapsed(self.plan_base + u64::from(scheduled.offset));
        if due > now {
            return None;
        }
        self.next += 1;
        Some(scheduled.packet)
    }

    /// When the next packet is due, `None` when nothing is left to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let (origin, _) = self.origin?;
        let offset = match self.plan.get(self.next) {
            Some(scheduled) => self.plan_base + u64::from(scheduled.offset),
            None if !self.queue.is_empty() => self.cursor + u64::from(self.interval),
            None => return None,
        };
        Some(origin + self.elapsed(offset))
    }

    /// True once every queued digit, its end reports and the gap after it
    /// are over at `now`.
    pub fn is_idle(&self, now: Instant) -> bool {
        match self.origin {
            None => true,
            Some((origin, _)) => {
                self.queue.is_empty()
                    && self.next == self.plan.len()
                    && now >= origin + self.elapsed(self.cursor)
            }
        }
    }

    /// True from the start of a digit until its last end report is due:
    /// the time during which the session sends events instead of audio.
    pub fn in_event(&self, now: Instant) -> bool {
        let Some((origin, _)) = self.origin else {
            return false;
        };
        let start = if self.next < self.plan.len() {
            self.plan_base
        } else if !self.queue.is_empty() {
            self.cursor
        } else {
            return false;
        };
        now >= origin + self.elapsed(start)
    }

    /// Plans the packets of the next queued digit; `None` if none is left.
    fn start_next_digit(&mut self) -> Option<()> {
        let (digit, duration) = self.queue.pop_front()?;
        let (_, origin_ts) = self.origin?;
        let start = self.cursor;
        self.plan.clear();
        self.next = 0;
        self.plan_base = start;
        plan_event(
            &mut self.plan,
            digit.event_code(),
            origin_ts.wrapping_add(start as u32),
            duration,
            self.interval,
            self.volume,
        );
        let gap = u64::from(self.clock_rate) * u64::from(self.gap_ms) / 1000;
        self.cursor = start + u64::from(duration) + gap.max(2 * u64::from(self.interval));
        Some(())
    }

    /// Wall-clock time of `units` RTP timestamp units.
    fn elapsed(&self, units: u64) -> Duration {
        Duration::from_nanos(units * 1_000_000_000 / u64::from(self.clock_rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs `sender` to completion from `start`, returning every packet
    /// with the time it became due.
    fn drain(sender: &mut EventSender) -> Vec<(Instant, EventPacket)> {
        let mut out = Vec::new();
        let mut steps = 0;
        while let Some(at) = sender.poll_timeout() {
            while let Some(packet) = sender.poll_transmit(at) {
                out.push((at, packet));
            }
            steps += 1;
            assert!(steps < 10_000, "the sender stops");
        }
        out
    }

    /// A receiver fed with `(arrival ms, timestamp, marker, seq, payload)`.
    fn receive(
        clock_rate: u32,
        packets: &[(u64, u32, bool, u16, [u8; 4])],
        end_ms: u64,
    ) -> Vec<ReceivedDigit> {
        let start = testkit::FakeClock::new().now();
        let mut receiver = EventReceiver::new(clock_rate).expect("rate");
        let mut out = Vec::new();
        for &(at, ts, marker, seq, payload) in packets {
            let now = start + MS * at as u32;
            receiver.handle_timeout(now);
            receiver
                .handle_packet(now, ts, marker, seq, &payload)
                .expect("valid");
            out.extend(std::iter::from_fn(|| receiver.poll_event()));
        }
        receiver.handle_timeout(start + MS * end_ms as u32);
        out.extend(std::iter::from_fn(|| receiver.poll_event()));
        out
    }

    fn bytes(event: u8, end: bool, volume: u8, duration: u16) -> [u8; 4] {
        EventPayload {
            event,
            end,
            volume,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn payload_bytes_follow_the_section_2_3_figure() {
        // Digit 5, E set, volume 10 (−10 dBm0), duration 800 (100 ms at
        // 8 kHz): event octet 0x05; E is the top bit of octet 1, R the next
        // (zero), volume the low 6 bits: 1000_1010 = 0x8A; 800 = 0x0320.
        let payload = EventPayload {
            event: 5,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(payload.to_bytes(), [0x05, 0x8A, 0x03, 0x20]);
        assert_eq!(EventPayload::parse(&[0x05, 0x8A, 0x03, 0x20]), Ok(payload));
        // '#' is event 11, no E, volume 63 (all six bits), duration 0xFFFF.
        let hash = EventPayload {
            event: 11,
            end: false,
            volume: 63,
            duration: 0xFFFF,
        };
        assert_eq!(hash.to_bytes(), [0x0B, 0x3F, 0xFF, 0xFF]);
    }

    #[test]
    fn the_reserved_bit_is_ignored_and_short_payloads_refused() {
        let with_r = EventPayload::parse(&[0x01, 0x40 | 0x07, 0x00, 0xA0]).expect("parse");
        assert_eq!(with_r.volume, 7, "R bit not taken as volume");
        assert!(!with_r.end);
        assert_eq!(
            EventPayload::parse(&[1, 2, 3]),
            Err(DtmfError::ShortPayload(3))
        );
        let mut receiver = EventReceiver::new(8000).expect("rate");
        assert_eq!(
            receiver.handle_packet(testkit::FakeClock::new().now(), 0, true, 0, &[]),
            Err(DtmfError::ShortPayload(0))
        );
    }

    #[test]
    fn one_digit_is_sent_as_updates_then_three_end_reports() {
        // 100 ms of '1' at 8 kHz, 20 ms packets, starting at timestamp 1000.
        let plan = event_packets(Digit::D1, 1000, 800, 160, 10);
        let got: Vec<_> = plan
            .iter()
            .map(|s| {
                (
                    s.offset,
                    s.packet.marker,
                    s.packet.timestamp,
                    s.packet.payload.to_bytes(),
                )
            })
            .collect();
        let expected = vec![
            (160, true, 1000, [0x01, 0x0A, 0x00, 0xA0]),
            (320, false, 1000, [0x01, 0x0A, 0x01, 0x40]),
            (480, false, 1000, [0x01, 0x0A, 0x01, 0xE0]),
            (640, false, 1000, [0x01, 0x0A, 0x02, 0x80]),
            (800, false, 1000, [0x01, 0x8A, 0x03, 0x20]),
            (960, false, 1000, [0x01, 0x8A, 0x03, 0x20]),
            (1120, false, 1000, [0x01, 0x8A, 0x03, 0x20]),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn a_48_khz_leg_counts_in_its_own_clock() {
        // 100 ms of '#' on an Opus leg: 4800 units, 960 per 20 ms packet.
        let plan = event_packets(Digit::Hash, 7, 4800, 960, 10);
        assert_eq!(plan.len(), 4 + 3);
        assert_eq!(plan[0].packet.payload.to_bytes(), [0x0B, 0x0A, 0x03, 0xC0]);
        assert_eq!(plan[4].packet.payload.to_bytes(), [0x0B, 0x8A, 0x12, 0xC0]);
        assert!(plan.iter().all(|s| s.packet.timestamp == 7));
    }

    #[test]
    fn an_event_longer_than_0xffff_units_is_sent_in_segments() {
        // 1.5 s at 48 kHz = 72 000 units: segments of 65 535 and 6 465.
        let plan = event_packets(Digit::D7, 100, 72_000, 960, 10);
        let first_segment: Vec<_> = plan.iter().filter(|s| s.packet.timestamp == 100).collect();
        let second: Vec<_> = plan
            .iter()
            .filter(|s| s.packet.timestamp == 100 + 65_535)
            .collect();
        assert_eq!(first_segment.len() + second.len(), plan.len());
        let closing: Vec<_> = first_segment
            .iter()
            .filter(|s| s.packet.payload.duration == 0xFFFF)
            .collect();
        assert_eq!(
            closing.len(),
            3,
            "a full segment's last report, three times"
        );
        assert!(closing.iter().all(|s| !s.packet.payload.end), "not the end");
        assert!(second.iter().all(|s| !s.packet.marker), "marker only once");
        let ends: Vec<_> = plan.iter().filter(|s| s.packet.payload.end).collect();
        assert_eq!(ends.len(), 3);
        assert!(ends
            .iter()
            .all(|s| u32::from(s.packet.payload.duration) == 72_000 - 65_535));
        let offsets: Vec<u32> = plan.iter().map(|s| s.offset).collect();
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "in sending order");
    }

    #[test]
    fn a_string_is_spaced_by_duration_plus_gap_in_time_and_timestamp() {
        let start = testkit::FakeClock::new().now();
        let mut sender = EventSender::new(8000, 20).expect("config").with_gap_ms(100);
        sender
            .send(start, 50_000, &[Digit::D1, Digit::D2], 100)
            .expect("send");
        let packets = drain(&mut sender);
        assert_eq!(packets.len(), 14, "7 per digit");
        let first_of = |ts: u32| {
            packets
                .iter()
                .find(|(_, p)| p.timestamp == ts)
                .map(|&(at, p)| (at - start, p.marker))
        };
        assert_eq!(first_of(50_000), Some((MS * 20, true)));
        // digit 2 starts 100 ms + 100 ms later: timestamp +1600, first
        // packet 20 ms after that.
        assert_eq!(first_of(51_600), Some((MS * 220, true)));
        let (last_at, last) = packets[13];
        assert_eq!(last_at - start, MS * 340, "third end report of digit 2");
        assert!(last.payload.end);
        assert!(sender.is_idle(start + MS * 400));
        assert!(!sender.is_idle(start + MS * 300));
    }

    #[test]
    fn audio_gives_way_from_a_digit_start_to_its_last_end_report() {
        let start = testkit::FakeClock::new().now();
        let mut sender = EventSender::new(8000, 20).expect("config");
        sender
            .send(start, 0, &[Digit::D1, Digit::D2], 100)
            .expect("send");
        let mut in_event = Vec::new();
        for ms in (0..=400).step_by(10) {
            let now = start + MS * ms;
            while sender.poll_transmit(now).is_some() {}
            in_event.push((ms, sender.in_event(now)));
        }
        // '1': 0-140 ms (end reports at 100, 120, 140), gap, '2' from 200 ms
        let during = |ms: u32| in_event.iter().find(|(t, _)| *t == ms).map(|(_, e)| *e);
        assert_eq!(during(0), Some(true));
        assert_eq!(during(130), Some(true));
        assert_eq!(during(150), Some(false));
        assert_eq!(during(190), Some(false));
        assert_eq!(during(200), Some(true));
        assert_eq!(during(350), Some(false));
    }

    #[test]
    fn a_string_queued_while_busy_follows_the_first() {
        let start = testkit::FakeClock::new().now();
        let mut sender = EventSender::new(8000, 20).expect("config");
        sender.send(start, 0, &[Digit::D1], 100).expect("send");
        // 50 ms later, while '1' is still playing, another digit: its
        // timestamp argument is ignored, it follows after the gap.
        sender
            .send(start + MS * 50, 999_999, &[Digit::D9], 100)
            .expect("send");
        let packets = drain(&mut sender);
        let nine: Vec<_> = packets
            .iter()
            .filter(|(_, p)| p.payload.event == 9)
            .collect();
        assert_eq!(nine[0].1.timestamp, 1600);
    }

    #[test]
    fn durations_and_configurations_out_of_range_are_refused() {
        let mut sender = EventSender::new(8000, 20).expect("config");
        let now = testkit::FakeClock::new().now();
        assert!(matches!(
            sender.send(now, 0, &[Digit::D1], 20),
            Err(DtmfError::DurationOutOfRange { ms: 20, .. })
        ));
        assert!(sender.send(now, 0, &[Digit::D1], 100).is_ok());
        assert_eq!(
            EventSender::new(8000, 0).err(),
            Some(DtmfError::UnsupportedInterval(0))
        );
        assert_eq!(
            EventReceiver::new(0).err(),
            Some(DtmfError::UnsupportedRate(0))
        );
    }

    #[test]
    fn a_clean_event_is_reported_once_at_its_end_bit() {
        let packets = [
            (20, 8000, true, 1, bytes(5, false, 10, 160)),
            (40, 8000, false, 2, bytes(5, false, 10, 320)),
            (60, 8000, false, 3, bytes(5, false, 10, 480)),
            (80, 8000, false, 4, bytes(5, true, 10, 640)),
            (100, 8000, false, 5, bytes(5, true, 10, 640)),
            (120, 8000, false, 6, bytes(5, true, 10, 640)),
        ];
        let got = receive(8000, &packets, 2000);
        assert_eq!(
            got,
            [ReceivedDigit {
                digit: Digit::D5,
                timestamp: 8000,
                duration: 640,
                duration_ms: 80,
                volume: 10,
                ended_by: EventEnd::EndBit,
            }]
        );
    }

    #[test]
    fn the_pressed_digit_is_known_before_it_is_reported() {
        let now = testkit::FakeClock::new().now();
        let mut receiver = EventReceiver::new(8000).expect("rate");
        receiver
            .handle_packet(now, 0, true, 0, &bytes(12, false, 10, 160))
            .expect("valid");
        assert_eq!(receiver.pressed(), Some(Digit::A));
        assert_eq!(receiver.poll_event(), None);
        receiver
            .handle_packet(now, 0, false, 1, &bytes(12, true, 10, 320))
            .expect("valid");
        assert_eq!(receiver.pressed(), None);
        assert_eq!(receiver.poll_event().map(|d| d.digit), Some(Digit::A));
    }

    #[test]
    fn duplicates_reordering_and_lost_end_packets_give_each_digit_once() {
        let packets = [
            // '1' at ts 0: an update arrives twice (network duplicate) and
            // two updates swap places; the end arrives before the last
            // update, the retransmissions after.
            (20, 0, true, 10, bytes(1, false, 10, 160)),
            (40, 0, false, 11, bytes(1, false, 10, 320)),
            (40, 0, false, 11, bytes(1, false, 10, 320)),
            (60, 0, false, 13, bytes(1, false, 10, 640)),
            (61, 0, false, 12, bytes(1, false, 10, 480)),
            (80, 0, false, 15, bytes(1, true, 10, 800)),
            (81, 0, false, 14, bytes(1, false, 10, 800)),
            (100, 0, false, 16, bytes(1, true, 10, 800)),
            (120, 0, false, 17, bytes(1, true, 10, 800)),
            // '1' again at ts 1600, all three end packets lost: the next
            // event's first packet reports it with the last duration.
            (220, 1600, true, 18, bytes(1, false, 10, 160)),
            (240, 1600, false, 19, bytes(1, false, 10, 320)),
            (260, 1600, false, 20, bytes(1, false, 10, 480)),
            // '2' at ts 3200, first packet (marker) lost; a straggler from
            // the previous digit arrives after it and changes nothing.
            (440, 3200, false, 25, bytes(2, false, 10, 320)),
            (445, 1600, false, 21, bytes(1, true, 10, 640)),
            (460, 3200, false, 26, bytes(2, false, 10, 480)),
            // ... and its end packets are lost too: the timeout ends it.
        ];
        let got: Vec<_> = receive(8000, &packets, 1000)
            .iter()
            .map(|d| (d.digit, d.timestamp, d.duration_ms, d.ended_by))
            .collect();
        assert_eq!(
            got,
            [
                (Digit::D1, 0, 100, EventEnd::EndBit),
                (Digit::D1, 1600, 60, EventEnd::NextEvent),
                (Digit::D2, 3200, 60, EventEnd::Timeout),
            ]
        );
    }

    #[test]
    fn the_end_timeout_runs_from_the_last_report() {
        let start = testkit::FakeClock::new().now();
        let mut receiver = EventReceiver::new(8000)
            .expect("rate")
            .with_end_timeout(MS * 100);
        receiver
            .handle_packet(start, 0, true, 0, &bytes(3, false, 10, 160))
            .expect("valid");
        receiver
            .handle_packet(start + MS * 20, 0, false, 1, &bytes(3, false, 10, 320))
            .expect("valid");
        assert_eq!(receiver.poll_timeout(), Some(start + MS * 120));
        receiver.handle_timeout(start + MS * 119);
        assert_eq!(receiver.poll_event(), None, "not yet");
        receiver.handle_timeout(start + MS * 120);
        assert_eq!(
            receiver
                .poll_event()
                .map(|d| (d.digit, d.duration_ms, d.ended_by)),
            Some((Digit::D3, 40, EventEnd::Timeout))
        );
        assert_eq!(receiver.poll_timeout(), None);
        // a late end report of the timed-out event is not a second digit
        receiver
            .handle_packet(start + MS * 130, 0, false, 2, &bytes(3, true, 10, 480))
            .expect("valid");
        assert_eq!(receiver.poll_event(), None);
    }

    #[test]
    fn a_segmented_long_event_is_one_digit_with_the_summed_duration() {
        // 2 s of '0' at 48 kHz: 96 000 units, segments of 65 535 and 30 465.
        let plan = event_packets(Digit::D0, 1_000_000, 96_000, 960, 10);
        let packets: Vec<_> = plan
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let p = s.packet;
                (
                    u64::from(s.offset) / 48,
                    p.timestamp,
                    p.marker,
                    i as u16,
                    p.payload.to_bytes(),
                )
            })
            .collect();
        let got = receive(48_000, &packets, 5000);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].digit, Digit::D0);
        assert_eq!(got[0].timestamp, 1_000_000);
        assert_eq!(got[0].duration, 96_000);
        assert_eq!(got[0].duration_ms, 2000);
    }

    #[test]
    fn a_wrapping_duration_field_is_unwrapped() {
        // A sender that never segments: 9 s at 8 kHz = 72 000 units, the
        // field wraps after 65 535.
        let packets: Vec<_> = (800..=72_000u32)
            .step_by(800)
            .enumerate()
            .map(|(seq, elapsed)| {
                let end = elapsed == 72_000;
                let payload = bytes(11, end, 10, elapsed as u16);
                (
                    u64::from(elapsed / 8),
                    500,
                    elapsed == 800,
                    seq as u16,
                    payload,
                )
            })
            .collect();
        let got = receive(8000, &packets, 20_000);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].digit, got[0].duration_ms), (Digit::Hash, 9000));
    }

    #[test]
    fn other_events_end_a_digit_without_being_reported() {
        let packets = [
            (20, 0, true, 1, bytes(4, false, 10, 160)),
            // event 16 (flash) starts: '4' is over
            (40, 160, true, 2, bytes(16, false, 10, 160)),
            (60, 160, false, 3, bytes(16, true, 10, 320)),
        ];
        let got: Vec<_> = receive(8000, &packets, 2000)
            .iter()
            .map(|d| (d.digit, d.ended_by))
            .collect();
        assert_eq!(got, [(Digit::D4, EventEnd::NextEvent)]);
    }

    #[test]
    fn a_jump_back_in_timestamps_beyond_ten_seconds_is_a_new_event() {
        let packets = [
            (20, 4_000_000, true, 1, bytes(6, true, 10, 800)),
            // the sender restarted its clock
            (600, 10, true, 2, bytes(6, true, 10, 800)),
        ];
        assert_eq!(receive(8000, &packets, 2000).len(), 2);
    }

    #[test]
    fn sender_to_receiver_round_trip_for_all_sixteen_digits() {
        let digits = super::super::parse_digits("0123456789*#ABCD").expect("digits");
        for (clock_rate, interval_ms) in [(8000, 20), (48_000, 20), (8000, 50)] {
            let start = testkit::FakeClock::new().now();
            let mut sender = EventSender::new(clock_rate, interval_ms)
                .expect("config")
                .with_gap_ms(100);
            sender.send(start, 0xFFFF_F000, &digits, 120).expect("send");
            let mut receiver = EventReceiver::new(clock_rate).expect("rate");
            let mut seq = 65_500u16;
            for (at, packet) in drain(&mut sender) {
                receiver
                    .handle_packet(
                        at,
                        packet.timestamp,
                        packet.marker,
                        seq,
                        &packet.payload.to_bytes(),
                    )
                    .expect("valid");
                seq = seq.wrapping_add(1);
            }
            let got: Vec<_> = std::iter::from_fn(|| receiver.poll_event()).collect();
            let received: Vec<Digit> = got.iter().map(|d| d.digit).collect();
            assert_eq!(received, digits, "{clock_rate} Hz");
            assert!(got
                .iter()
                .all(|d| d.duration_ms == 120 && d.ended_by == EventEnd::EndBit));
            assert!(got.iter().all(|d| d.volume == DEFAULT_VOLUME));
        }
    }
}
