//! RTCP terminated per leg (RFC 3550 §6): each leg keeps the statistics of
//! the RTP it receives from its peer and of the RTP it sends to it, sends
//! its own compound reports (SR or RR, then SDES CNAME) on a randomized
//! timer, and takes the peer's reports in.
//!
//! The worker calls the hooks of a leg's [`LegRtcp`]; the report timers of
//! all its legs live in one [`RtcpTimers`] heap, so a wake-up costs
//! O(log n) per report due and nothing for the legs that are not:
//!
//! ```text
//! RTP from the peer   ─▶ on_rtp_received  (header read: SSRC, sequence, timestamp, payload length)
//! RTP to the peer     ─▶ on_rtp_sent      (after a successful send_to: what really left the socket)
//! RTCP from the peer  ─▶ on_rtcp          (parsed, never forwarded; malformed: Err, counted)
//! first RTP either way ─▶ timer started: first report 0.25–0.75 interval later
//! timer due            ─▶ write_report ─▶ send_to the peer's RTCP address ─▶ next 0.5–1.5 interval
//! ```
//!
//! The statistics themselves (RFC 3550 §A.1, §A.3, §A.8 loss and jitter,
//! §6.4.1 RTT, the SR/RR choice) are [`media::stats::LegStats`]; this
//! module feeds it from datagrams, on the worker's clock.

use super::packet::Header;
use super::LegCodec;
use media::rtcp::{self, NtpTime, RtcpCompound, RtcpError};
use media::stats::{LegStats, RtcpScheduler, StatsSnapshot};
use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant, SystemTime};

/// Length of a leg's CNAME: 24 hex digits, 96 random bits (RFC 7022 §4.2
/// asks for at least 96 bits in a per-session CNAME).
const CNAME_LEN: usize = 24;

/// Clock rate assumed until the switch says which codec the leg uses:
/// the G.711 and G.722 RTP clock (RFC 3551 §4.5).
const DEFAULT_CLOCK_RATE: u32 = 8000;

/// One leg's RTP statistics and RTCP report schedule.
#[derive(Debug)]
pub(crate) struct LegRtcp {
    stats: LegStats,
    /// `None` until the leg's first RTP packet, either way: a leg without
    /// media reports nothing.
    schedule: Option<RtcpScheduler>,
    /// The nominal report interval (RFC 3550 §6.2), set by the worker.
    interval: Duration,
    /// Whether the worker's [`RtcpTimers`] hold the current deadline.
    armed: bool,
    /// xorshift64 state for the interval randomization (§6.3.1).
    rng: u64,
    cname: [u8; CNAME_LEN],
    /// The telephone-event payload type (RFC 4733) on this leg: its
    /// packets count, but their timestamps do not follow the media clock.
    events: Option<u8>,
}

impl LegRtcp {
    /// Statistics for a leg that will send as `own_ssrc` until it relays
    /// another stream. `wallclock` is the system time at `now` (read once:
    /// later NTP times are it plus the monotonic time elapsed); `salt` (the
    /// leg's id and port) only makes legs opened together differ.
    pub(crate) fn new(salt: u128, own_ssrc: u32, now: Instant, wallclock: SystemTime) -> LegRtcp {
        let since_1970 = wallclock
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        // std's hasher keys are random per process and step per instance.
        let bits = [
            RandomState::new().hash_one(salt),
            RandomState::new().hash_one(salt),
        ];
        let mut cname = [0u8; CNAME_LEN];
        let digits = format!("{:016x}{:016x}", bits[0], bits[1]);
        cname.copy_from_slice(&digits.as_bytes()[..CNAME_LEN]);
        LegRtcp {
            stats: LegStats::new(
                own_ssrc,
                DEFAULT_CLOCK_RATE,
                now,
                NtpTime::from_unix(since_1970),
            ),
            schedule: None,
            interval: RtcpScheduler::DEFAULT_INTERVAL,
            armed: false,
            rng: bits[0] | 1,
            cname,
            events: None,
        }
    }

    /// The leg's codec (from the switch): its clock rate, and which payload
    /// type carries telephone-events.
    pub(crate) fn set_codec(&mut self, codec: Option<LegCodec>) {
        self.stats
            .set_clock_rate(codec.map_or(DEFAULT_CLOCK_RATE, |c| c.codec.clock_rate()));
        self.events = codec.and_then(|c| c.dtmf).map(|(pt, _)| pt);
    }

    /// An RTP datagram the peer sent (already accepted from the latched
    /// source). Anything that is not RTP (RFC 3550 §5.1), or is RTCP on
    /// the RTP port (RFC 5761 §4), is left out.
    pub(crate) fn on_rtp_received(&mut self, now: Instant, datagram: &[u8]) {
        if rtcp::looks_like_rtcp(datagram) {
            return;
        }
        let Ok(h) = Header::parse(datagram) else {
            return;
        };
        let len = h.payload.1 - h.payload.0;
        if Some(h.payload_type) == self.events {
            self.stats
                .on_rtp_event_received(now, h.ssrc, h.sequence, len);
        } else {
            self.stats
                .on_rtp_received(now, h.ssrc, h.sequence, h.timestamp, len);
        }
        self.start(now);
    }

    /// An RTP packet that left the leg's socket for the peer: relayed,
    /// transcoded, music on hold or DTMF. Its SSRC is the stream the
    /// leg's reports describe (a relayed stream keeps its sender's SSRC).
    pub(crate) fn on_rtp_sent(&mut self, now: Instant, packet: &[u8]) {
        let Ok(h) = Header::parse(packet) else {
            return;
        };
        let len = h.payload.1 - h.payload.0;
        self.stats.set_local_ssrc(h.ssrc);
        if Some(h.payload_type) == self.events {
            self.stats.on_rtp_event_sent(now, h.timestamp, len);
        } else {
            self.stats.on_rtp_sent(now, h.timestamp, len);
        }
        self.start(now);
    }

    /// A datagram on the leg's RTCP port: a compound packet (RFC 3550
    /// §6.1, checked as §A.2 says) whose SR gives the LSR of our next
    /// report and `remote-outbound-rtp`, and whose report block about our
    /// stream gives `remote-inbound-rtp` and the RTT. Reduced-size RTCP
    /// (RFC 5506: a lone APP, SDES or feedback packet) is taken too, for
    /// what it holds: peers send it unasked (baresip's NAT keep-alive is a
    /// lone APP). `Err`: not RTCP.
    pub(crate) fn on_rtcp(&mut self, now: Instant, datagram: &[u8]) -> Result<(), RtcpError> {
        let compound = RtcpCompound::parse_reduced_size(datagram)?;
        self.stats.on_rtcp(now, &compound);
        Ok(())
    }

    /// When the next report is due (`None`: no media yet).
    pub(crate) fn due(&self) -> Option<Instant> {
        self.schedule.as_ref().map(RtcpScheduler::next_report)
    }

    /// Writes the leg's compound report into `out` (cleared first): an SR
    /// if it sent RTP since the report before last, else an RR; a report
    /// block about the peer's stream if it hears one; SDES with the
    /// CNAME. Starts a new loss interval (§A.3).
    pub(crate) fn write_report(
        &mut self,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Result<(), RtcpError> {
        out.clear();
        self.stats.write_report(now, &self.cname, out).map(|_| ())
    }

    /// The next report is due 0.5–1.5 intervals from `now` (§6.3.1).
    pub(crate) fn reschedule(&mut self, now: Instant) {
        let random = self.random();
        if let Some(s) = &mut self.schedule {
            s.on_report_sent(now, random);
        }
    }

    /// A last report followed by BYE (RFC 3550 §6.6: the leg leaves), in
    /// `out`; `false` (nothing written) if the leg never sent a report:
    /// a peer that never heard of it needs no goodbye.
    pub(crate) fn write_bye(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if self.stats.snapshot(now).outbound.reports_sent == 0
            || self.write_report(now, out).is_err()
        {
            return false;
        }
        rtcp::write_bye(out, &[self.stats.local_ssrc()], None).is_ok()
    }

    /// The statistics at `now`, with the W3C webrtc-stats names.
    pub(crate) fn snapshot(&self, now: Instant) -> StatsSnapshot {
        self.stats.snapshot(now)
    }

    /// The leg's CNAME (RFC 3550 §6.5.1).
    #[cfg(test)]
    pub(crate) fn cname(&self) -> &[u8] {
        &self.cname
    }

    /// The first RTP packet either way starts the schedule: the first
    /// report goes out a quarter to three quarters of an interval later.
    fn start(&mut self, now: Instant) {
        if self.schedule.is_none() {
            let random = self.random();
            self.schedule = Some(RtcpScheduler::new(now, self.interval, random));
            self.armed = false;
        }
    }

    fn random(&mut self) -> u32 {
        // xorshift64 (Marsaglia): uniform enough to spread report times.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 32) as u32
    }
}

/// The report deadlines of one worker's legs: a min-heap of (due, slot).
///
/// A leg's entry is pushed when its schedule starts (or when it arrives
/// from another worker) and again after each report; an entry whose slot
/// is empty, holds another leg, or holds a leg due at another time is
/// stale and is dropped when it comes up. Each leg has one live entry, so
/// the heap holds about one entry per leg with media.
#[derive(Debug)]
pub(crate) struct RtcpTimers {
    interval: Duration,
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl RtcpTimers {
    /// Timers for legs reporting every `interval` (nominal, RFC 3550 §6.2).
    pub(crate) fn new(interval: Duration) -> RtcpTimers {
        RtcpTimers {
            interval,
            heap: BinaryHeap::new(),
        }
    }

    /// A leg arrives in `slot` (opened, or moved from another worker): it
    /// reports at this worker's interval, and its deadline, if any, is
    /// pushed.
    pub(crate) fn adopt(&mut self, slot: usize, rtcp: &mut LegRtcp) {
        rtcp.interval = self.interval;
        rtcp.armed = false;
        self.arm(slot, rtcp);
    }

    /// Pushes the deadline of the leg in `slot` if its schedule started
    /// and the heap does not hold it yet (one bool test otherwise).
    pub(crate) fn arm(&mut self, slot: usize, rtcp: &mut LegRtcp) {
        if !rtcp.armed {
            if let Some(due) = rtcp.due() {
                rtcp.armed = true;
                self.heap.push(Reverse((due, slot)));
            }
        }
    }

    /// After a report: the leg's new deadline.
    pub(crate) fn rearm(&mut self, slot: usize, rtcp: &LegRtcp) {
        if let Some(due) = rtcp.due() {
            self.heap.push(Reverse((due, slot)));
        }
    }

    /// The slot of a leg whose report is due at `now`, taken off the heap
    /// (call again until `None`). `due_of(slot)` says when the leg now in
    /// `slot` is due, if there is one: entries that do not match it are
    /// stale (the leg left, moved, or was rescheduled) and are dropped.
    pub(crate) fn pop_due(
        &mut self,
        now: Instant,
        due_of: impl Fn(usize) -> Option<Instant>,
    ) -> Option<usize> {
        while let Some(&Reverse((due, slot))) = self.heap.peek() {
            if due > now {
                return None;
            }
            self.heap.pop();
            if due_of(slot) == Some(due) {
                return Some(slot);
            }
        }
        None
    }

    /// The earliest deadline (possibly of a stale entry: an early wake-up
    /// that finds nothing to do).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((due, _))| *due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::codec::CodecKind;
    use media::rtcp::{ReportBlock, RtcpPacket};

    const MS: Duration = Duration::from_millis(1);

    fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: usize) -> Vec<u8> {
        let mut p = vec![0u8; 12 + payload];
        super::super::packet::write_header(&mut p, false, pt, seq, ts, ssrc);
        p
    }

    fn leg(t0: Instant) -> LegRtcp {
        let mut leg = LegRtcp::new(
            7,
            0x1111,
            t0,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        );
        leg.set_codec(Some(LegCodec {
            codec: CodecKind::Pcmu,
            payload_type: 0,
            dtmf: Some((101, 8000)),
        }));
        leg
    }

    fn parse(datagram: &[u8]) -> Vec<RtcpPacket<'_>> {
        RtcpCompound::parse(datagram).unwrap().packets().collect()
    }

    #[test]
    fn reports_start_with_media_and_come_every_half_to_one_and_a_half_intervals() {
        let t0 = testkit::FakeClock::new().now();
        let mut timers = RtcpTimers::new(Duration::from_secs(5));
        let mut a = leg(t0);
        timers.adopt(0, &mut a);
        assert_eq!(
            (a.due(), timers.next()),
            (None, None),
            "no media, no reports"
        );
        // Media starts at 10 s.
        let start = t0 + MS * 10_000;
        a.on_rtp_received(start, &rtp(0, 1, 160, 0xBEEF, 160));
        timers.arm(0, &mut a);
        timers.arm(0, &mut a);
        let first = a.due().unwrap();
        assert_eq!(timers.next(), Some(first));
        assert!(
            first >= start + MS * 1250 && first < start + MS * 3750,
            "{:?}",
            first - start
        );
        let due_of = |a: &LegRtcp| {
            let due = a.due();
            move |slot| due.filter(|_| slot == 0)
        };
        assert_eq!(timers.pop_due(first - MS, due_of(&a)), None);
        assert_eq!(timers.pop_due(first, due_of(&a)), Some(0));
        assert_eq!(timers.pop_due(first, due_of(&a)), None, "one entry per leg");
        // Ten reports: each 2.5-7.5 s after the one before.
        let mut now = first;
        let mut out = Vec::new();
        for _ in 0..10 {
            a.write_report(now, &mut out).unwrap();
            a.reschedule(now);
            timers.rearm(0, &a);
            let next = a.due().unwrap();
            assert!(
                next >= now + MS * 2500 && next < now + MS * 7500,
                "{:?}",
                next - now
            );
            assert_eq!(timers.pop_due(next, due_of(&a)), Some(0));
            now = next;
        }
    }

    #[test]
    fn stale_entries_are_dropped() {
        let t0 = testkit::FakeClock::new().now();
        let mut timers = RtcpTimers::new(Duration::from_secs(5));
        let (mut a, mut b) = (leg(t0), leg(t0));
        a.on_rtp_sent(t0, &rtp(0, 1, 0, 1, 160));
        b.on_rtp_sent(t0 + MS * 100, &rtp(0, 1, 0, 2, 160));
        timers.adopt(3, &mut a);
        timers.adopt(4, &mut b);
        // `a` leaves slot 3 for slot 5 (it moved to another worker and
        // back); `b` is rescheduled without its old entry being removed.
        timers.adopt(5, &mut a);
        b.reschedule(t0 + MS * 200);
        timers.rearm(4, &b);
        let (a_due, b_due) = (a.due(), b.due());
        let due_of = |slot| match slot {
            4 => b_due,
            5 => a_due,
            _ => None,
        };
        let mut live = Vec::new();
        while let Some(slot) = timers.pop_due(t0 + MS * 60_000, due_of) {
            live.push(slot);
        }
        live.sort();
        assert_eq!(live, vec![4, 5], "slot 3 and b's first deadline were stale");
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn the_report_describes_what_left_the_socket() {
        let t0 = testkit::FakeClock::new().now();
        let mut a = leg(t0);
        // Received from the peer (SSRC 0xBEEF): 1..=20 with 5 and 6 lost.
        for seq in (1..=20u16).filter(|s| *s != 5 && *s != 6) {
            let at = t0 + MS * 20 * u32::from(seq);
            a.on_rtp_received(at, &rtp(0, seq, 160 * u32::from(seq), 0xBEEF, 160));
        }
        // Not RTP: left out.
        a.on_rtp_received(t0, &[0x80, 0]);
        a.on_rtp_received(t0, &[0x80, 200, 0, 1, 0, 0, 0, 0]);
        // Sent: a relayed stream (SSRC 0xCAFE), 10 packets, and a DTMF event.
        for i in 0..10u32 {
            a.on_rtp_sent(
                t0 + MS * 20 * i,
                &rtp(0, i as u16, 8000 + 160 * i, 0xCAFE, 160),
            );
        }
        a.on_rtp_sent(t0 + MS * 200, &rtp(101, 10, 9600, 0xCAFE, 4));
        let mut out = Vec::new();
        a.write_report(t0 + MS * 1000, &mut out).unwrap();
        let packets = parse(&out);
        let RtcpPacket::SenderReport(sr) = packets[0] else {
            panic!("{packets:?}")
        };
        assert_eq!(sr.ssrc, 0xCAFE);
        assert_eq!((sr.info.packet_count, sr.info.octet_count), (11, 1604));
        // 1 s is 820 ms after the last audio packet (8000 + 160 * 9).
        assert_eq!(sr.info.rtp_timestamp, 8000 + 160 * 9 + 6560);
        let blocks: Vec<ReportBlock> = sr.report_blocks().collect();
        assert_eq!(blocks.len(), 1);
        let b = blocks[0];
        assert_eq!(
            (b.ssrc, b.cumulative_lost, b.extended_highest_sequence),
            (0xBEEF, 2, 20)
        );
        assert_eq!(b.fraction_lost, (2 * 256 / 20) as u8);
        assert_eq!(b.last_sender_report, 0, "no SR from the peer yet");
        let RtcpPacket::SourceDescription(sdes) = packets[1] else {
            panic!("{packets:?}")
        };
        let chunk = sdes.chunks().next().unwrap();
        assert_eq!((chunk.ssrc, chunk.cname()), (0xCAFE, Some(a.cname())));
        assert!(a.cname().iter().all(u8::is_ascii_hexdigit));
        assert_ne!(a.cname(), leg(t0).cname(), "one CNAME per leg");
    }

    #[test]
    fn the_peers_reports_give_lsr_rtt_and_remote_stats_and_garbage_is_refused() {
        let t0 = testkit::FakeClock::new().now();
        let mut a = leg(t0);
        a.on_rtp_sent(t0, &rtp(0, 1, 0, 0xCAFE, 160));
        a.on_rtp_received(t0, &rtp(0, 1, 0, 0xBEEF, 160));
        // The peer's SR (NTP 0x0000_1234_8000_0000), then ours.
        let mut peer = Vec::new();
        let info = rtcp::SenderInfo {
            ntp_time: NtpTime(0x0000_1234_8000_0000),
            rtp_timestamp: 0,
            packet_count: 50,
            octet_count: 8000,
        };
        rtcp::write_sender_report(&mut peer, 0xBEEF, &info, &[]).unwrap();
        rtcp::write_sdes_cname(&mut peer, 0xBEEF, b"peer").unwrap();
        a.on_rtcp(t0 + MS * 100, &peer).unwrap();
        let mut ours = Vec::new();
        a.write_report(t0 + MS * 600, &mut ours).unwrap();
        let packets = parse(&ours);
        let RtcpPacket::SenderReport(sr) = packets[0] else {
            panic!()
        };
        let block = sr.report_blocks().next().unwrap();
        // LSR echoes the middle of the peer's NTP time; DLSR is 500 ms.
        assert_eq!(block.last_sender_report, 0x1234_8000);
        assert_eq!(block.delay_since_last_sender_report, 0x8000);
        // The peer answers 40 ms later, having held our SR 10 ms: RTT 30 ms.
        let mut rr = Vec::new();
        let about_us = ReportBlock {
            ssrc: 0xCAFE,
            fraction_lost: 64,
            cumulative_lost: 3,
            extended_highest_sequence: 1,
            jitter: 80,
            last_sender_report: sr.info.ntp_time.compact(),
            delay_since_last_sender_report: rtcp::duration_to_compact(MS * 10),
        };
        rtcp::write_receiver_report(&mut rr, 0xBEEF, &[about_us]).unwrap();
        rtcp::write_sdes_cname(&mut rr, 0xBEEF, b"peer").unwrap();
        a.on_rtcp(t0 + MS * 640, &rr).unwrap();
        let s = a.snapshot(t0 + MS * 700);
        let remote = s.remote_inbound.unwrap();
        assert!(
            (remote.round_trip_time.unwrap() - 0.030).abs() < 1e-4,
            "{remote:?}"
        );
        assert_eq!(
            (remote.packets_lost, remote.fraction_lost, remote.jitter),
            (3, 0.25, 0.01)
        );
        assert_eq!(remote.round_trip_time_measurements, 1);
        let sender = s.remote_outbound.clone().unwrap();
        assert_eq!(
            (sender.ssrc, sender.packets_sent, sender.bytes_sent),
            (0xBEEF, 50, 8000)
        );
        // Malformed: a truncated SR, a length past the end, random bytes.
        assert!(a.on_rtcp(t0, &peer[..20]).is_err());
        assert!(a.on_rtcp(t0, &peer[..peer.len() - 4]).is_err());
        assert!(a.on_rtcp(t0, b"not rtcp").is_err());
        // Reduced-size (a lone SDES) is RTCP, and changes nothing here.
        assert_eq!(a.on_rtcp(t0, &peer[28..]), Ok(()));
        assert_eq!(a.snapshot(t0 + MS * 700).remote_outbound, s.remote_outbound);
    }

    #[test]
    fn bye_only_after_a_report() {
        let t0 = testkit::FakeClock::new().now();
        let mut a = leg(t0);
        let mut out = Vec::new();
        a.on_rtp_sent(t0, &rtp(0, 1, 0, 0xCAFE, 160));
        assert!(!a.write_bye(t0 + MS * 100, &mut out));
        assert!(out.is_empty());
        a.write_report(t0 + MS * 2000, &mut out).unwrap();
        assert!(a.write_bye(t0 + MS * 3000, &mut out));
        let packets = parse(&out);
        assert!(matches!(
            packets[0],
            RtcpPacket::ReceiverReport(_) | RtcpPacket::SenderReport(_)
        ));
        let RtcpPacket::Bye(bye) = packets[2] else {
            panic!("{packets:?}")
        };
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![0xCAFE]);
    }
}
