//! Call-quality statistics for one RTP leg (RFC 3550 §6.4, Appendix A),
//! reported with the field names of the W3C WebRTC statistics
//! (`inbound-rtp`, `outbound-rtp`, `remote-inbound-rtp`,
//! `remote-outbound-rtp`), plus the RTCP report timer (§6.2).
//!
//! The caller feeds packets and reports in and asks for a report when the
//! [`RtcpScheduler`] says so; time is always a parameter:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use media::rtcp::NtpTime;
//! use media::stats::{LegStats, RtcpScheduler};
//! let start: Instant = testkit::FakeClock::new().now(); // the caller's clock
//! // The wallclock, read once by the caller when the leg starts.
//! let mut leg = LegStats::new(0x1111, 8000, start, NtpTime::from_unix(Duration::from_secs(1_700_000_000)));
//! let mut timer = RtcpScheduler::new(start, RtcpScheduler::DEFAULT_INTERVAL, 0x8000_0000);
//! leg.on_rtp_received(start, 0x2222, 1, 160, 160);
//! let now = timer.next_report();
//! let mut datagram = Vec::new();
//! leg.write_report(now, b"leg@dialtone", &mut datagram).unwrap();
//! timer.on_report_sent(now, 0x1234_5678);
//! assert_eq!(leg.snapshot(now).inbound.packets_received, 1);
//! ```
//!
//! Sources are tracked one at a time: an RTP leg has one remote SSRC, and a
//! new one (re-INVITE, transfer) replaces the old statistics, as WebRTC
//! starts a new `inbound-rtp` object. Probation of new sources (§A.1
//! `MIN_SEQUENTIAL`) is not done: the first packet counts.
//!
//! [`webrtc_json`] renders a [`StatsSnapshot`] as the webrtc-stats JSON
//! object the server and the softphone both serve.

use std::time::{Duration, Instant};

mod webrtc;

pub use webrtc::{
    unix_millis, webrtc_json, CandidatePair, PlayoutStats, RtcpCounters, WebrtcContext,
};

use crate::rtcp::{self, NtpTime, ReportBlock, RtcpCompound, RtcpError, RtcpPacket, SenderInfo};
use crate::rtp::RtpPacket;

/// A forward jump of fewer packets than this is taken as loss (§A.1).
const MAX_DROPOUT: u16 = 3000;
/// A backward step of fewer packets than this is taken as reordering (§A.1).
const MAX_MISORDER: u16 = 100;
/// Sentinel for "no suspected restart" (§A.1 `RTP_SEQ_MOD + 1`).
const NO_BAD_SEQ: u32 = (1 << 16) + 1;
/// How many of our own SRs are remembered to check LSR values against.
const SR_HISTORY: usize = 8;

/// How [`ReceiveStats::on_packet`] classified a packet (RFC 3550 §A.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First packet, or a higher sequence number than any before (a gap of
    /// up to 3000 is loss).
    InOrder,
    /// Behind the highest sequence number, first time seen.
    OutOfOrder,
    /// A sequence number already received.
    Duplicate,
    /// A large jump confirmed by a following packet: the sender restarted
    /// its sequence, counting starts over (§A.1).
    Restarted,
    /// A large jump not (yet) confirmed: not counted (§A.1).
    Ignored,
}

/// Receive statistics for one remote source: RFC 3550 §A.1 (sequence
/// tracking), §A.3 (loss) and §A.8 (interarrival jitter).
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    ssrc: u32,
    clock_rate: u32,
    /// Arrival of the first packet; arrival times are measured from it.
    origin: Instant,
    last_arrival: Instant,
    max_seq: u16,
    /// Sequence number wraps, times 65536.
    cycles: u64,
    base_seq: u64,
    bad_seq: u32,
    /// Packets counted per §A.1 since the last restart (includes duplicates).
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Loss accumulated before sequence restarts.
    lost_before_restart: i64,
    /// Monotonic totals for the WebRTC view.
    packets: u64,
    bytes: u64,
    duplicates: u64,
    out_of_order: u64,
    /// Bit i set: extended sequence `highest - i` was received.
    window: u128,
    /// Relative transit time of the previous packet, in timestamp units.
    transit: Option<u32>,
    /// Interarrival jitter times 16 (§A.8).
    jitter_q4: u32,
}

impl ReceiveStats {
    /// Statistics for `ssrc` at `clock_rate` Hz, starting with its first
    /// packet.
    pub fn new(
        ssrc: u32,
        clock_rate: u32,
        now: Instant,
        seq: u16,
        rtp_timestamp: u32,
        payload_len: usize,
    ) -> Self {
        let mut stats = ReceiveStats {
            ssrc,
            clock_rate: clock_rate.max(1),
            origin: now,
            last_arrival: now,
            max_seq: seq,
            cycles: 0,
            base_seq: seq as u64,
            bad_seq: NO_BAD_SEQ,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            lost_before_restart: 0,
            packets: 0,
            bytes: 0,
            duplicates: 0,
            out_of_order: 0,
            window: 0,
            transit: None,
            jitter_q4: 0,
        };
        stats.init_seq(seq);
        stats.count(now, Some(rtp_timestamp), payload_len);
        stats
    }

    /// Accounts one received packet (§A.1 `update_seq`, §A.8).
    pub fn on_packet(
        &mut self,
        now: Instant,
        seq: u16,
        rtp_timestamp: u32,
        payload_len: usize,
    ) -> Arrival {
        self.update(now, seq, Some(rtp_timestamp), payload_len)
    }

    /// Accounts one received packet whose timestamp does not follow the
    /// sampling clock, such as an RFC 4733 telephone-event (every packet
    /// of an event carries the event's start time, §2.5.1.2): it counts in
    /// the sequence and the totals, but not in the jitter (§A.8 assumes
    /// timestamps that advance with the media).
    pub fn on_untimed_packet(&mut self, now: Instant, seq: u16, payload_len: usize) -> Arrival {
        self.update(now, seq, None, payload_len)
    }

    /// Statistics that start with an untimed packet (see
    /// [`ReceiveStats::on_untimed_packet`]).
    pub fn new_untimed(
        ssrc: u32,
        clock_rate: u32,
        now: Instant,
        seq: u16,
        payload_len: usize,
    ) -> Self {
        let mut stats = ReceiveStats::new(ssrc, clock_rate, now, seq, 0, payload_len);
        stats.transit = None;
        stats
    }

    /// Changes the clock rate (the peer's codec changed): jitter starts
    /// over, in the new clock's units.
    pub fn set_clock_rate(&mut self, clock_rate: u32) {
        let clock_rate = clock_rate.max(1);
        if clock_rate != self.clock_rate {
            self.clock_rate = clock_rate;
            self.transit = None;
            self.jitter_q4 = 0;
        }
    }

    fn update(
        &mut self,
        now: Instant,
        seq: u16,
        rtp_timestamp: Option<u32>,
        payload_len: usize,
    ) -> Arrival {
        let udelta = seq.wrapping_sub(self.max_seq);
        let arrival = if udelta == 0 {
            Arrival::Duplicate
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.max_seq = seq;
            self.window = if udelta < 128 {
                self.window << udelta
            } else {
                0
            } | 1;
            Arrival::InOrder
        } else if udelta <= u16::MAX - MAX_MISORDER + 1 {
            // A very large jump: restart if the previous packet predicted it.
            if seq as u32 != self.bad_seq {
                self.bad_seq = (seq as u32 + 1) & 0xffff;
                return Arrival::Ignored;
            }
            self.lost_before_restart += self.lost_since_restart();
            self.init_seq(seq);
            self.transit = None;
            Arrival::Restarted
        } else {
            let back = self.max_seq.wrapping_sub(seq) as u32;
            if back < 128 && self.window & (1 << back) != 0 {
                Arrival::Duplicate
            } else {
                if back < 128 {
                    self.window |= 1 << back;
                }
                Arrival::OutOfOrder
            }
        };
        match arrival {
            Arrival::Duplicate => self.duplicates += 1,
            Arrival::OutOfOrder => self.out_of_order += 1,
            _ => {}
        }
        let timing = rtp_timestamp.filter(|_| arrival != Arrival::Duplicate);
        self.count(now, timing, payload_len);
        arrival
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = seq as u64;
        self.max_seq = seq;
        self.bad_seq = NO_BAD_SEQ;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.window = 1;
    }

    /// Counters and, given a timestamp, the jitter estimate (§A.8).
    fn count(&mut self, now: Instant, rtp_timestamp: Option<u32>, payload_len: usize) {
        self.received += 1;
        self.packets += 1;
        self.bytes += payload_len as u64;
        self.last_arrival = self.last_arrival.max(now);
        let Some(rtp_timestamp) = rtp_timestamp else {
            return;
        };
        let arrival = clock_ticks(now.saturating_duration_since(self.origin), self.clock_rate);
        let transit = arrival.wrapping_sub(rtp_timestamp);
        if let Some(prev) = self.transit {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs() as i64;
            // J += (|D| - J) / 16, with J kept times 16 (§A.8).
            let j = self.jitter_q4 as i64 + d - ((self.jitter_q4 as i64 + 8) >> 4);
            self.jitter_q4 = j.clamp(0, u32::MAX as i64) as u32;
        }
        self.transit = Some(transit);
    }

    /// The source.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Cycles in the high 16 bits, highest sequence number in the low 16
    /// (§6.4.1 "extended highest sequence number received").
    pub fn extended_highest_sequence(&self) -> u32 {
        (self.cycles + self.max_seq as u64) as u32
    }

    /// Packets expected since the (re)start: highest - first + 1 (§A.3).
    pub fn expected(&self) -> u64 {
        self.cycles + self.max_seq as u64 + 1 - self.base_seq
    }

    fn lost_since_restart(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Packets lost since reception began (§A.3): expected minus received,
    /// where received includes duplicates, so it can be negative.
    pub fn cumulative_lost(&self) -> i64 {
        self.lost_before_restart + self.lost_since_restart()
    }

    /// Interarrival jitter in timestamp units (§A.8).
    pub fn jitter_rtp(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// Interarrival jitter in seconds.
    pub fn jitter_seconds(&self) -> f64 {
        self.jitter_q4 as f64 / 16.0 / self.clock_rate as f64
    }

    /// Packets lost since the last [`ReceiveStats::report_block`], as a
    /// fraction of 256 (§A.3); 0 when there were duplicates instead.
    pub fn fraction_lost_since_report(&self) -> u8 {
        let expected = self.expected() - self.expected_prior;
        let received = self.received - self.received_prior;
        if expected == 0 || received >= expected {
            return 0;
        }
        (((expected - received) << 8) / expected).min(255) as u8
    }

    /// The report block about this source (§6.4.1) and the start of a new
    /// loss interval (§A.3). `lsr`/`dlsr` are the LSR and DLSR fields.
    pub fn report_block(&mut self, lsr: u32, dlsr: u32) -> ReportBlock {
        let block = ReportBlock {
            ssrc: self.ssrc,
            fraction_lost: self.fraction_lost_since_report(),
            cumulative_lost: self
                .cumulative_lost()
                .clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            extended_highest_sequence: self.extended_highest_sequence(),
            jitter: self.jitter_rtp(),
            last_sender_report: lsr,
            delay_since_last_sender_report: dlsr,
        };
        self.expected_prior = self.expected();
        self.received_prior = self.received;
        block
    }
}

/// `elapsed` in ticks of a `rate` Hz clock, rounded down, modulo 2^32 (as
/// RTP timestamps wrap): whole seconds and nanoseconds apart, in u64
/// products and a division by a constant, so the per-packet path does no
/// 128-bit division. Equal to `elapsed_ns * rate / 10^9`.
fn clock_ticks(elapsed: Duration, rate: u32) -> u32 {
    let rate = u64::from(rate);
    elapsed
        .as_secs()
        .wrapping_mul(rate)
        .wrapping_add(u64::from(elapsed.subsec_nanos()) * rate / 1_000_000_000) as u32
}

/// RTT from a report block about us (RFC 3550 §6.4.1): `now` minus LSR
/// minus DLSR, all in 16.16 fixed-point seconds (`now` is the middle 32
/// bits of our NTP clock when the report arrived). `None` when LSR is 0
/// (no SR received yet) or the result is negative by more than rounding.
pub fn round_trip_time(lsr: u32, dlsr: u32, now: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let rtt = now.wrapping_sub(lsr).wrapping_sub(dlsr) as i32;
    match rtt {
        0.. => Some(rtcp::compact_to_duration(rtt as u32)),
        // Both fields are rounded down; allow 1 ms of slack.
        -66..=-1 => Some(Duration::ZERO),
        _ => None,
    }
}

/// Statistics of one RTP leg: what we receive from the remote source,
/// what we send, and what the remote says about both in its RTCP reports.
#[derive(Debug, Clone)]
pub struct LegStats {
    local_ssrc: u32,
    clock_rate: u32,
    origin: Instant,
    ntp_origin: NtpTime,
    receive: Option<ReceiveStats>,
    /// Remote SSRC, its last SR's compact NTP time, and when it arrived.
    last_sr: Option<(u32, u32, Instant)>,
    remote_sender: Option<RemoteOutboundRtpStats>,
    remote_receiver: Option<RemoteInboundRtpStats>,
    packets_sent: u64,
    bytes_sent: u64,
    /// When we last sent a packet whose timestamp follows the media clock,
    /// and that timestamp: the SR's RTP timestamp is extrapolated from it.
    last_sent: Option<(Instant, u32)>,
    /// When we last sent any packet.
    last_sent_at: Option<Instant>,
    /// `packets_sent` when the last two reports were written (older first).
    sent_at_reports: [u64; 2],
    /// Compact NTP times of our recent SRs (0 = unused).
    our_srs: [u32; SR_HISTORY],
    next_sr: usize,
    reports_sent: u64,
    bye_received: bool,
}

impl LegStats {
    /// A leg sending as `local_ssrc` at `clock_rate` Hz. `ntp_now` is the
    /// wallclock at `now`, read once by the caller; later NTP times are
    /// `ntp_now` plus the monotonic time elapsed.
    pub fn new(local_ssrc: u32, clock_rate: u32, now: Instant, ntp_now: NtpTime) -> Self {
        LegStats {
            local_ssrc,
            clock_rate: clock_rate.max(1),
            origin: now,
            ntp_origin: ntp_now,
            receive: None,
            last_sr: None,
            remote_sender: None,
            remote_receiver: None,
            packets_sent: 0,
            bytes_sent: 0,
            last_sent: None,
            last_sent_at: None,
            sent_at_reports: [0; 2],
            our_srs: [0; SR_HISTORY],
            next_sr: 0,
            reports_sent: 0,
            bye_received: false,
        }
    }

    /// Our NTP clock at `now`.
    pub fn ntp_time(&self, now: Instant) -> NtpTime {
        self.ntp_origin + now.saturating_duration_since(self.origin)
    }

    /// Accounts one RTP packet we sent: its timestamp and payload length
    /// (WebRTC `bytesSent` and the SR octet count exclude headers).
    pub fn on_rtp_sent(&mut self, now: Instant, rtp_timestamp: u32, payload_len: usize) {
        self.packets_sent += 1;
        self.bytes_sent += payload_len as u64;
        self.last_sent = Some((now, rtp_timestamp));
        self.last_sent_at = Some(now);
    }

    /// Accounts one packet we sent whose timestamp does not follow the
    /// media clock (an RFC 4733 telephone-event keeps its start time):
    /// counted, but the SR's RTP timestamp is not extrapolated from it
    /// unless nothing else was sent.
    pub fn on_rtp_event_sent(&mut self, now: Instant, rtp_timestamp: u32, payload_len: usize) {
        self.packets_sent += 1;
        self.bytes_sent += payload_len as u64;
        self.last_sent.get_or_insert((now, rtp_timestamp));
        self.last_sent_at = Some(now);
    }

    /// The SSRC we send as (and report as, RFC 3550 §6.4).
    pub fn local_ssrc(&self) -> u32 {
        self.local_ssrc
    }

    /// We now send as `ssrc` (a relay passing a stream on sends in the
    /// stream's SSRC, and that stream may change). A new SSRC is a new
    /// stream: its send counters start at zero (§6.4.1: "SHOULD be reset if
    /// the sender changes its SSRC identifier"), and what the remote
    /// reported about the old one (`remote-inbound-rtp`) is forgotten. The
    /// same SSRC changes nothing.
    pub fn set_local_ssrc(&mut self, ssrc: u32) {
        if ssrc == self.local_ssrc {
            return;
        }
        self.local_ssrc = ssrc;
        self.packets_sent = 0;
        self.bytes_sent = 0;
        self.last_sent = None;
        self.sent_at_reports = [0; 2];
        self.our_srs = [0; SR_HISTORY];
        self.remote_receiver = None;
    }

    /// The media clock rate (Hz) changed (the codec did): jitter is
    /// measured, and reported, in the new clock's units from now on.
    pub fn set_clock_rate(&mut self, clock_rate: u32) {
        self.clock_rate = clock_rate.max(1);
        if let Some(rx) = &mut self.receive {
            rx.set_clock_rate(self.clock_rate);
        }
    }

    /// Accounts one RTP packet received from `ssrc`. A new SSRC replaces the
    /// statistics of the previous one.
    pub fn on_rtp_received(
        &mut self,
        now: Instant,
        ssrc: u32,
        seq: u16,
        rtp_timestamp: u32,
        payload_len: usize,
    ) -> Arrival {
        match &mut self.receive {
            Some(rx) if rx.ssrc == ssrc => rx.on_packet(now, seq, rtp_timestamp, payload_len),
            _ => {
                self.receive = Some(ReceiveStats::new(
                    ssrc,
                    self.clock_rate,
                    now,
                    seq,
                    rtp_timestamp,
                    payload_len,
                ));
                self.bye_received = false;
                Arrival::InOrder
            }
        }
    }

    /// [`LegStats::on_rtp_received`] for a packet whose timestamp does not
    /// follow the media clock (an RFC 4733 telephone-event): counted in
    /// the sequence and totals, left out of the jitter
    /// ([`ReceiveStats::on_untimed_packet`]).
    pub fn on_rtp_event_received(
        &mut self,
        now: Instant,
        ssrc: u32,
        seq: u16,
        payload_len: usize,
    ) -> Arrival {
        match &mut self.receive {
            Some(rx) if rx.ssrc == ssrc => rx.on_untimed_packet(now, seq, payload_len),
            _ => {
                self.receive = Some(ReceiveStats::new_untimed(
                    ssrc,
                    self.clock_rate,
                    now,
                    seq,
                    payload_len,
                ));
                self.bye_received = false;
                Arrival::InOrder
            }
        }
    }

    /// [`LegStats::on_rtp_received`] for a parsed packet.
    pub fn on_rtp_packet(&mut self, now: Instant, packet: &RtpPacket<'_>) -> Arrival {
        self.on_rtp_received(
            now,
            packet.ssrc(),
            packet.sequence_number(),
            packet.timestamp(),
            packet.payload().len(),
        )
    }

    /// Takes in a received compound RTCP packet: SRs from the remote (for
    /// our LSR/DLSR and `remote-outbound-rtp`), report blocks about our
    /// SSRC (loss, jitter and RTT for `remote-inbound-rtp`), and BYE.
    pub fn on_rtcp(&mut self, now: Instant, compound: &RtcpCompound<'_>) {
        for packet in compound.packets() {
            match packet {
                RtcpPacket::SenderReport(sr) => {
                    if sr.ssrc != self.local_ssrc {
                        self.on_sender_report(now, sr.ssrc, &sr.info);
                    }
                    sr.report_blocks()
                        .for_each(|b| self.on_report_block(now, &b));
                }
                RtcpPacket::ReceiverReport(rr) => {
                    rr.report_blocks()
                        .for_each(|b| self.on_report_block(now, &b));
                }
                RtcpPacket::Bye(bye) => {
                    let remote = self.receive.as_ref().map(|r| r.ssrc);
                    if bye.ssrcs().any(|s| Some(s) == remote) {
                        self.bye_received = true;
                    }
                }
                _ => {}
            }
        }
    }

    fn on_sender_report(&mut self, now: Instant, ssrc: u32, info: &SenderInfo) {
        self.last_sr = Some((ssrc, info.ntp_time.compact(), now));
        let reports = self
            .remote_sender
            .as_ref()
            .map_or(0, |r| r.reports_received);
        self.remote_sender = Some(RemoteOutboundRtpStats {
            ssrc,
            packets_sent: info.packet_count,
            bytes_sent: info.octet_count,
            remote_timestamp: info.ntp_time,
            reports_received: reports + 1,
        });
    }

    fn on_report_block(&mut self, now: Instant, block: &ReportBlock) {
        if block.ssrc != self.local_ssrc {
            return;
        }
        let mut remote = self
            .remote_receiver
            .take()
            .unwrap_or(RemoteInboundRtpStats {
                ssrc: self.local_ssrc,
                ..RemoteInboundRtpStats::default()
            });
        remote.packets_lost = block.cumulative_lost as i64;
        remote.fraction_lost = block.fraction_lost as f64 / 256.0;
        remote.jitter = block.jitter as f64 / self.clock_rate as f64;
        remote.reports_received += 1;
        // Only an LSR that is one of our own SRs gives a meaningful RTT.
        let ours =
            block.last_sender_report != 0 && self.our_srs.contains(&block.last_sender_report);
        let now_compact = self.ntp_time(now).compact();
        if let Some(rtt) = ours
            .then(|| {
                round_trip_time(
                    block.last_sender_report,
                    block.delay_since_last_sender_report,
                    now_compact,
                )
            })
            .flatten()
        {
            let seconds = rtt.as_secs_f64();
            remote.round_trip_time = Some(seconds);
            remote.total_round_trip_time += seconds;
            remote.round_trip_time_measurements += 1;
        }
        self.remote_receiver = Some(remote);
    }

    /// Appends our compound RTCP report (RFC 3550 §6.4, §6.1): an SR if we
    /// sent RTP since the report before last, else an RR; one report block
    /// about the remote source if we hear one; then SDES with `cname`.
    /// Starts a new loss interval for `fraction_lost`.
    pub fn write_report(
        &mut self,
        now: Instant,
        cname: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, RtcpError> {
        let start = out.len();
        let dlsr = |at: Instant| rtcp::duration_to_compact(now.saturating_duration_since(at));
        let rx = self.receive.as_mut().filter(|_| !self.bye_received);
        let block = match (rx, self.last_sr) {
            (Some(rx), Some((ssrc, lsr, at))) if ssrc == rx.ssrc => {
                Some(rx.report_block(lsr, dlsr(at)))
            }
            (Some(rx), _) => Some(rx.report_block(0, 0)),
            (None, _) => None,
        };
        let blocks = block.as_slice();
        if self.packets_sent > self.sent_at_reports[0] {
            let ntp_time = self.ntp_time(now);
            let rtp_timestamp = self.last_sent.map_or(0, |(at, ts)| {
                ts.wrapping_add(clock_ticks(
                    now.saturating_duration_since(at),
                    self.clock_rate,
                ))
            });
            let info = SenderInfo {
                ntp_time,
                rtp_timestamp,
                packet_count: self.packets_sent as u32,
                octet_count: self.bytes_sent as u32,
            };
            rtcp::write_sender_report(out, self.local_ssrc, &info, blocks)?;
            self.our_srs[self.next_sr] = ntp_time.compact();
            self.next_sr = (self.next_sr + 1) % SR_HISTORY;
        } else {
            rtcp::write_receiver_report(out, self.local_ssrc, blocks)?;
        }
        if let Err(e) = rtcp::write_sdes_cname(out, self.local_ssrc, cname) {
            out.truncate(start);
            return Err(e);
        }
        self.sent_at_reports = [self.sent_at_reports[1], self.packets_sent];
        self.reports_sent += 1;
        Ok(out.len() - start)
    }

    /// True once the remote source said BYE (RFC 3550 §6.6).
    pub fn bye_received(&self) -> bool {
        self.bye_received
    }

    /// The receive statistics of the current remote source.
    pub fn receive_stats(&self) -> Option<&ReceiveStats> {
        self.receive.as_ref()
    }

    /// The statistics as WebRTC reports them, at `now`.
    pub fn snapshot(&self, now: Instant) -> StatsSnapshot {
        let since_start = |t: Instant| t.saturating_duration_since(self.origin);
        let inbound = match &self.receive {
            Some(rx) => InboundRtpStats {
                ssrc: Some(rx.ssrc),
                packets_received: rx.packets,
                bytes_received: rx.bytes,
                packets_lost: rx.cumulative_lost(),
                packets_duplicated: rx.duplicates,
                packets_out_of_order: rx.out_of_order,
                jitter: rx.jitter_seconds(),
                fraction_lost: rx.fraction_lost_since_report() as f64 / 256.0,
                last_packet_received_timestamp: Some(since_start(rx.last_arrival)),
            },
            None => InboundRtpStats::default(),
        };
        StatsSnapshot {
            timestamp: since_start(now),
            inbound,
            outbound: OutboundRtpStats {
                ssrc: self.local_ssrc,
                packets_sent: self.packets_sent,
                bytes_sent: self.bytes_sent,
                reports_sent: self.reports_sent,
                last_packet_sent_timestamp: self.last_sent_at.map(since_start),
            },
            remote_inbound: self.remote_receiver.clone(),
            remote_outbound: self.remote_sender.clone(),
        }
    }
}

/// All statistics of a leg at one instant. Field names follow the W3C
/// WebRTC statistics dictionaries in snake case; times since the leg
/// started are `Duration`s, other times and rates are `f64` seconds.
/// `codec` and `candidate-pair` come from the codec and network layers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatsSnapshot {
    /// When the snapshot was taken, since the leg started.
    pub timestamp: Duration,
    /// What we receive (`inbound-rtp`).
    pub inbound: InboundRtpStats,
    /// What we send (`outbound-rtp`).
    pub outbound: OutboundRtpStats,
    /// What the remote reports receiving from us (`remote-inbound-rtp`),
    /// once a report block about our SSRC arrived.
    pub remote_inbound: Option<RemoteInboundRtpStats>,
    /// What the remote reports sending (`remote-outbound-rtp`), once an SR
    /// arrived.
    pub remote_outbound: Option<RemoteOutboundRtpStats>,
}

/// `inbound-rtp`: the stream we receive.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InboundRtpStats {
    /// The remote SSRC, `None` before the first packet.
    pub ssrc: Option<u32>,
    /// `packetsReceived`: every packet counted, duplicates included.
    pub packets_received: u64,
    /// `bytesReceived`: payload bytes, headers and padding excluded.
    pub bytes_received: u64,
    /// `packetsLost`: expected minus received (RFC 3550 §6.4.1), negative
    /// when duplicates outnumber losses.
    pub packets_lost: i64,
    /// Packets whose sequence number was already received.
    pub packets_duplicated: u64,
    /// Packets that arrived after a higher sequence number.
    pub packets_out_of_order: u64,
    /// `jitter`: interarrival jitter (§A.8), in seconds.
    pub jitter: f64,
    /// Fraction (0–1) of packets lost since our last report (§A.3).
    pub fraction_lost: f64,
    /// `lastPacketReceivedTimestamp`, since the leg started.
    pub last_packet_received_timestamp: Option<Duration>,
}

/// `outbound-rtp`: the stream we send.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutboundRtpStats {
    /// Our SSRC.
    pub ssrc: u32,
    /// `packetsSent`.
    pub packets_sent: u64,
    /// `bytesSent`: payload bytes.
    pub bytes_sent: u64,
    /// RTCP reports (SR or RR) we wrote.
    pub reports_sent: u64,
    /// When we last sent RTP, since the leg started.
    pub last_packet_sent_timestamp: Option<Duration>,
}

/// `remote-inbound-rtp`: the remote's report blocks about our stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemoteInboundRtpStats {
    /// Our SSRC, which the blocks are about.
    pub ssrc: u32,
    /// `packetsLost` as the remote counts it.
    pub packets_lost: i64,
    /// `fractionLost` (0–1) in the remote's last interval.
    pub fraction_lost: f64,
    /// `jitter` the remote measures, in seconds.
    pub jitter: f64,
    /// `roundTripTime` of the last measurement, in seconds (§6.4.1).
    pub round_trip_time: Option<f64>,
    /// `totalRoundTripTime`, in seconds.
    pub total_round_trip_time: f64,
    /// `roundTripTimeMeasurements`.
    pub round_trip_time_measurements: u64,
    /// Report blocks about us received.
    pub reports_received: u64,
}

/// `remote-outbound-rtp`: the remote's last sender report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemoteOutboundRtpStats {
    /// The remote SSRC.
    pub ssrc: u32,
    /// `packetsSent` as the remote counts it (32-bit, wraps).
    pub packets_sent: u32,
    /// `bytesSent` as the remote counts it (32-bit, wraps).
    pub bytes_sent: u32,
    /// `remoteTimestamp`: the remote's wallclock in its last SR.
    pub remote_timestamp: NtpTime,
    /// `reportsSent`: SRs received from the remote.
    pub reports_received: u64,
}

/// When to send the next RTCP report: RFC 3550 §6.2–6.3 simplified to a
/// fixed interval (5 s by default) randomized to 0.5–1.5 times, the first
/// report after half an interval. The randomness is an input, so the
/// schedule is deterministic under test. No bandwidth share or timer
/// reconsideration: a two-party leg stays far below 5% of the session
/// bandwidth at this rate.
#[derive(Debug, Clone)]
pub struct RtcpScheduler {
    interval: Duration,
    next: Instant,
}

impl RtcpScheduler {
    /// The recommended minimum interval (§6.2).
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

    /// A schedule whose first report is due half an `interval` after `now`,
    /// randomized by `random` (any `u32`, uniformly chosen by the caller).
    pub fn new(now: Instant, interval: Duration, random: u32) -> Self {
        RtcpScheduler {
            interval,
            next: now + randomized(interval / 2, random),
        }
    }

    /// When the next report is due.
    pub fn next_report(&self) -> Instant {
        self.next
    }

    /// True when a report is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// A report was sent at `now`: the next is due 0.5–1.5 intervals later,
    /// per `random`.
    pub fn on_report_sent(&mut self, now: Instant, random: u32) {
        self.next = now + randomized(self.interval, random);
    }
}

/// `d` times a factor from 0.5 (`random` = 0) to just under 1.5.
fn randomized(d: Duration, random: u32) -> Duration {
    let factor = (1u128 << 31) + random as u128; // (0.5 + random / 2^32) * 2^32
    Duration::from_nanos(((d.as_nanos() * factor) >> 32) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    const MS: Duration = Duration::from_millis(1);

    fn ntp(secs: u64) -> NtpTime {
        NtpTime::from_unix(Duration::from_secs(secs))
    }

    /// Feeds packets `(seq offset, arrival)` of a 20 ms, 8 kHz stream whose
    /// first sequence number is `seq0`.
    fn feed(rx: &mut Option<ReceiveStats>, t0: Instant, seq0: u16, packets: &[(u16, Duration)]) {
        for &(n, arrival) in packets {
            let (seq, ts) = (seq0.wrapping_add(n), 1000u32.wrapping_add(160 * n as u32));
            match rx {
                Some(rx) => {
                    rx.on_packet(t0 + arrival, seq, ts, 160);
                }
                None => *rx = Some(ReceiveStats::new(7, 8000, t0 + arrival, seq, ts, 160)),
            }
        }
    }

    #[test]
    fn every_tenth_packet_lost_is_ten_percent() {
        let t0 = testkit::FakeClock::new().now();
        let mut rx = None;
        // Across a sequence number wrap; packets 5, 15, 25, ... never arrive.
        let first: Vec<_> = (0..1000u16)
            .filter(|n| n % 10 != 5)
            .map(|n| (n, MS * 20 * n as u32))
            .collect();
        feed(&mut rx, t0, 65000, &first);
        let rx = rx.as_mut().unwrap();
        let (expected, received) = (1000u64, first.len() as u64);
        assert_eq!(rx.expected(), expected);
        assert_eq!(rx.cumulative_lost(), (expected - received) as i64);
        let block = rx.report_block(0, 0);
        assert_eq!(
            block.fraction_lost as u64,
            (expected - received) * 256 / expected
        );
        assert_eq!(block.fraction_lost, 25); // 10% of 256, rounded down
        assert_eq!(block.cumulative_lost, 100);
        assert_eq!(
            block.extended_highest_sequence,
            (1 << 16) + (65000 + 999 - 65536)
        );
        // Second interval: every 4th of the next 400 lost.
        let second: Vec<_> = (1000..1400u16)
            .filter(|n| n % 4 != 0)
            .map(|n| (n, MS * 20 * n as u32))
            .collect();
        let lost2 = 400 - second.len() as u64;
        for &(n, at) in &second {
            rx.on_packet(
                t0 + at,
                65000u16.wrapping_add(n),
                160 * n as u32 + 1000,
                160,
            );
        }
        let block = rx.report_block(0, 0);
        assert_eq!(block.fraction_lost as u64, lost2 * 256 / 400);
        assert_eq!(block.fraction_lost, 64);
        assert_eq!(block.cumulative_lost as u64, 100 + lost2);
        // Nothing new: the next interval reports no loss.
        assert_eq!(rx.report_block(0, 0).fraction_lost, 0);
    }

    #[test]
    fn constant_transit_means_zero_jitter() {
        let t0 = testkit::FakeClock::new().now();
        let mut rx = None;
        let packets: Vec<_> = (0..500u16)
            .map(|n| (n, MS * 37 + MS * 20 * n as u32))
            .collect();
        feed(&mut rx, t0, 1, &packets);
        let rx = rx.unwrap();
        assert_eq!(rx.jitter_rtp(), 0);
        assert_eq!(rx.jitter_seconds(), 0.0);
        assert_eq!(rx.cumulative_lost(), 0);
    }

    #[test]
    fn alternating_transit_matches_the_appendix_a8_formula() {
        let t0 = testkit::FakeClock::new().now();
        let mut rx = None;
        // Transit alternates 0 and 20 ms: |D| is 160 timestamp units each time.
        let n = 100u16;
        let packets: Vec<_> = (0..n)
            .map(|i| (i, MS * 20 * i as u32 + MS * 20 * (i % 2) as u32))
            .collect();
        feed(&mut rx, t0, 500, &packets);
        let rx = rx.unwrap();
        // Independent floating-point J += (|D| - J) / 16 over n-1 differences.
        let mut j = 0.0f64;
        for _ in 1..n {
            j += (160.0 - j) / 16.0;
        }
        assert!(
            (rx.jitter_rtp() as f64 - j).abs() <= 1.0,
            "{} vs {j}",
            rx.jitter_rtp()
        );
        assert!((rx.jitter_seconds() - j / 8000.0).abs() < 1.0 / 8000.0);
        assert!(
            rx.jitter_rtp() >= 155,
            "converges towards 160: {}",
            rx.jitter_rtp()
        );
    }

    #[test]
    fn random_transit_matches_an_independent_jitter_calculation() {
        let t0 = testkit::FakeClock::new().now();
        let mut rng = StdRng::seed_from_u64(8);
        // Transits in whole 125 µs units (one 8 kHz tick) so both sides see
        // the same arrival in timestamp units.
        // Up to 50 ms of transit on a 20 ms stream: packets get reordered,
        // and are processed in arrival order as a receiver would.
        let mut packets: Vec<(u64, u16, f64)> = (0..2000u16)
            .map(|i| {
                let transit = rng.gen_range(0..400u64);
                (160 * i as u64 + transit, i, transit as f64)
            })
            .collect();
        packets.sort_by_key(|p| (p.0, p.1));
        let mut rx: Option<ReceiveStats> = None;
        let mut j = 0.0f64;
        for (k, &(arrival, i, transit)) in packets.iter().enumerate() {
            feed(&mut rx, t0, 9, &[(i, Duration::from_micros(125 * arrival))]);
            if k > 0 {
                j += ((transit - packets[k - 1].2).abs() - j) / 16.0;
            }
        }
        let got = rx.unwrap().jitter_rtp() as f64;
        assert!((got - j).abs() <= 1.5, "{got} vs {j}");
        assert!(j > 50.0, "the test should see real jitter: {j}");
    }

    #[test]
    fn duplicates_and_reordering_are_counted() {
        let t0 = testkit::FakeClock::new().now();
        let mut rx = ReceiveStats::new(7, 8000, t0, 100, 0, 160);
        let mut kinds = Vec::new();
        for seq in [101, 103, 102, 103, 100, 104, 99] {
            kinds.push(rx.on_packet(t0, seq, 0, 160));
        }
        use Arrival::*;
        assert_eq!(
            kinds,
            vec![InOrder, InOrder, OutOfOrder, Duplicate, Duplicate, InOrder, OutOfOrder]
        );
        // Expected 100..=104 (99 came before the first and is not expected),
        // received 8 packets: lost is negative per RFC 3550.
        assert_eq!(rx.expected(), 5);
        assert_eq!(rx.cumulative_lost(), 5 - 8);
        assert_eq!(rx.report_block(0, 0).cumulative_lost, -3);
    }

    #[test]
    fn a_confirmed_sequence_jump_restarts_counting() {
        let t0 = testkit::FakeClock::new().now();
        let mut rx = ReceiveStats::new(7, 8000, t0, 10, 0, 160);
        rx.on_packet(t0, 12, 320, 160); // 11 lost
        assert_eq!(rx.on_packet(t0, 40_000, 0, 160), Arrival::Ignored);
        assert_eq!(rx.on_packet(t0, 40_001, 160, 160), Arrival::Restarted);
        assert_eq!(rx.on_packet(t0, 40_003, 480, 160), Arrival::InOrder);
        assert_eq!(rx.extended_highest_sequence(), 40_003);
        // One loss before the restart, one after.
        assert_eq!(rx.cumulative_lost(), 2);
        // A single stray far packet does not restart anything.
        assert_eq!(rx.on_packet(t0, 5, 0, 160), Arrival::Ignored);
        assert_eq!(rx.on_packet(t0, 40_004, 640, 160), Arrival::InOrder);
    }

    #[test]
    fn rtt_from_an_sr_rr_exchange_with_known_delays() {
        let t0 = testkit::FakeClock::new().now();
        // Clocks far apart: RTT must not depend on them.
        let mut alice = LegStats::new(0xA, 8000, t0, ntp(1_700_000_000));
        let mut bob = LegStats::new(0xB, 8000, t0, ntp(1_600_000_123));
        let mut out = Vec::new();
        for i in 0..50u32 {
            let at = t0 + MS * 20 * i;
            alice.on_rtp_sent(at, 160 * i, 160);
            // Alice -> Bob takes 30 ms.
            bob.on_rtp_received(at + MS * 30, 0xA, i as u16, 160 * i, 160);
            bob.on_rtp_sent(at, 8000 + 160 * i, 160);
            alice.on_rtp_received(at + MS * 40, 0xB, 9 + i as u16, 8000 + 160 * i, 160);
        }
        // Alice's SR at 1 s reaches Bob at 1.030 s.
        let sent = t0 + MS * 1000;
        alice.write_report(sent, b"alice", &mut out).unwrap();
        assert!(matches!(
            RtcpCompound::parse(&out).unwrap().packets().next(),
            Some(RtcpPacket::SenderReport(_))
        ));
        bob.on_rtcp(sent + MS * 30, &RtcpCompound::parse(&out).unwrap());
        // Bob answers 100 ms later; it takes 40 ms back.
        out.clear();
        bob.write_report(sent + MS * 130, b"bob", &mut out).unwrap();
        alice.on_rtcp(sent + MS * 170, &RtcpCompound::parse(&out).unwrap());
        let remote = alice.snapshot(sent + MS * 170).remote_inbound.unwrap();
        let rtt = remote.round_trip_time.unwrap();
        // 30 + 40 ms, within the 1/65536 s rounding of LSR and DLSR.
        assert!((rtt - 0.070).abs() < 2.0 / 65536.0, "{rtt}");
        assert_eq!(remote.round_trip_time_measurements, 1);
        assert_eq!((remote.packets_lost, remote.fraction_lost), (0, 0.0));
        // Bob saw Alice's SR: packets and bytes she sent.
        let bob_view = bob.snapshot(sent + MS * 130);
        let alice_sr = bob_view.remote_outbound.unwrap();
        assert_eq!(
            (alice_sr.ssrc, alice_sr.packets_sent, alice_sr.bytes_sent),
            (0xA, 50, 8000)
        );
        assert_eq!(alice_sr.remote_timestamp, alice.ntp_time(sent));
        // Alice's block about Bob has no LSR (she had no SR from him): no RTT.
        let about_bob = bob_view.remote_inbound.unwrap();
        assert_eq!(
            (about_bob.round_trip_time, about_bob.reports_received),
            (None, 1)
        );
    }

    #[test]
    fn rtt_is_only_taken_from_our_own_sender_reports() {
        let t0 = testkit::FakeClock::new().now();
        let mut alice = LegStats::new(0xA, 8000, t0, ntp(1_700_000_000));
        let mut out = Vec::new();
        // A block about us with an LSR we never sent.
        let block = ReportBlock {
            ssrc: 0xA,
            last_sender_report: 0x1234_5678,
            delay_since_last_sender_report: 10,
            fraction_lost: 64,
            cumulative_lost: 12,
            jitter: 80,
            ..ReportBlock::default()
        };
        rtcp::write_receiver_report(&mut out, 0xB, &[block]).unwrap();
        alice.on_rtcp(t0 + MS * 500, &RtcpCompound::parse(&out).unwrap());
        let remote = alice.snapshot(t0 + MS * 500).remote_inbound.unwrap();
        assert_eq!(remote.round_trip_time, None);
        assert_eq!(
            (remote.packets_lost, remote.fraction_lost, remote.jitter),
            (12, 0.25, 0.01)
        );
        // The pure formula: 70 ms = 4587.52 units, so A - LSR - DLSR works out.
        let lsr = 0x0001_0000;
        let rtt = round_trip_time(lsr, 0x8000, lsr + 0x8000 + 4588).unwrap();
        assert!((rtt.as_secs_f64() - 0.070).abs() < 1e-4, "{rtt:?}");
        assert_eq!(round_trip_time(0, 0, 1000), None);
        assert_eq!(round_trip_time(lsr, 100, lsr + 90), Some(Duration::ZERO));
        assert_eq!(round_trip_time(lsr, 0x10000, lsr + 10), None);
    }

    #[test]
    fn report_is_sr_while_sending_and_rr_after_two_quiet_intervals() {
        let t0 = testkit::FakeClock::new().now();
        let mut leg = LegStats::new(0xA, 8000, t0, ntp(1_700_000_000));
        let first_type = |leg: &mut LegStats, at: Duration| {
            let mut out = Vec::new();
            leg.write_report(t0 + at, b"a", &mut out).unwrap();
            out[1]
        };
        assert_eq!(first_type(&mut leg, MS * 100), rtcp::PT_RR);
        leg.on_rtp_sent(t0 + MS * 200, 5000, 160);
        assert_eq!(first_type(&mut leg, MS * 5000), rtcp::PT_SR);
        // RFC 3550 §6.4: an SR if we sent since the report before last.
        assert_eq!(first_type(&mut leg, MS * 10_000), rtcp::PT_SR);
        assert_eq!(first_type(&mut leg, MS * 15_000), rtcp::PT_RR);
        // The SR's RTP timestamp extrapolates from the last packet sent.
        leg.on_rtp_sent(t0 + MS * 16_000, 9000, 160);
        let mut out = Vec::new();
        leg.write_report(t0 + MS * 16_500, b"a", &mut out).unwrap();
        let compound = RtcpCompound::parse(&out).unwrap();
        let Some(RtcpPacket::SenderReport(sr)) = compound.packets().next() else {
            panic!()
        };
        assert_eq!(sr.info.rtp_timestamp, 9000 + 4000);
        assert_eq!((sr.info.packet_count, sr.info.octet_count), (2, 320));
        assert_eq!(sr.info.ntp_time, leg.ntp_time(t0 + MS * 16_500));
        assert_eq!(leg.snapshot(t0).outbound.reports_sent, 5);
    }

    #[test]
    fn snapshot_over_a_simulated_lossy_network() {
        let t0 = testkit::FakeClock::new().now();
        let mut rng = StdRng::seed_from_u64(42);
        let mut leg = LegStats::new(0xA, 8000, t0, ntp(1_700_000_000));
        assert_eq!(leg.snapshot(t0).inbound, InboundRtpStats::default());
        // 3000 packets, 3% loss, 1% duplicated, 40-100 ms delay (reordering).
        let mut arrivals = Vec::new();
        let (mut lost, mut dups) = (0u64, 0u64);
        for i in 0..3000u32 {
            if i > 0 && i < 2999 && rng.gen_bool(0.03) {
                lost += 1;
                continue;
            }
            // The first packet is the fastest, so it is the first to arrive.
            let delay = if i == 0 {
                40_000
            } else {
                rng.gen_range(40_000..100_000)
            };
            let at = MS * 20 * i + Duration::from_micros(delay);
            arrivals.push((at, i));
            if rng.gen_bool(0.01) {
                dups += 1;
                arrivals.push((at + MS * 7, i));
            }
        }
        arrivals.sort();
        // Reference count: arrivals behind the highest so far, first time seen.
        let (mut seen, mut max, mut reordered) = (std::collections::HashSet::new(), 0, 0u64);
        for &(_, i) in &arrivals {
            if seen.insert(i) && i < max {
                reordered += 1;
            }
            max = max.max(i);
        }
        assert!(reordered > 100, "the network should reorder: {reordered}");
        for &(at, i) in &arrivals {
            leg.on_rtp_received(t0 + at, 0xB, 30_000 + i as u16, 160 * i, 160);
        }
        let s = leg.snapshot(t0 + MS * 61_000).inbound;
        assert_eq!(s.ssrc, Some(0xB));
        assert_eq!(s.packets_received, 3000 - lost + dups);
        assert_eq!(s.bytes_received, 160 * (3000 - lost + dups));
        assert_eq!(s.packets_lost, lost as i64 - dups as i64);
        assert_eq!(s.packets_duplicated, dups);
        assert_eq!(s.packets_out_of_order, reordered);
        // Uniform 0-60 ms transit: mean |D| is 60/3 ms, so jitter ~20 ms.
        assert!((s.jitter - 0.020).abs() < 0.006, "{}", s.jitter);
        assert_eq!(
            s.last_packet_received_timestamp,
            Some(arrivals.last().unwrap().0)
        );
    }

    #[test]
    fn clock_ticks_equal_the_128_bit_formula() {
        let mut rng = StdRng::seed_from_u64(77);
        for _ in 0..10_000 {
            let elapsed = Duration::from_nanos(rng.gen_range(0..400_000 * 1_000_000_000u64));
            let rate = [8000, 16_000, 48_000, 90_000, 1][rng.gen_range(0..5)];
            let wide = (elapsed.as_nanos() * rate as u128 / 1_000_000_000) as u32;
            assert_eq!(clock_ticks(elapsed, rate), wide, "{elapsed:?} at {rate} Hz");
        }
    }

    #[test]
    fn telephone_events_count_but_leave_jitter_and_sr_timestamps_alone() {
        let t0 = testkit::FakeClock::new().now();
        let mut leg = LegStats::new(0xA, 8000, t0, ntp(1_700_000_000));
        // 50 audio packets on time, then a 400 ms digit (20 event packets,
        // one start timestamp), then audio again, all on time.
        let mut seq = 0u16;
        for i in 0..50u32 {
            leg.on_rtp_received(t0 + MS * 20 * i, 0xB, seq, 160 * i, 160);
            seq += 1;
        }
        for i in 50..70u32 {
            leg.on_rtp_event_received(t0 + MS * 20 * i, 0xB, seq, 4);
            seq += 1;
        }
        for i in 70..100u32 {
            leg.on_rtp_received(t0 + MS * 20 * i, 0xB, seq, 160 * i, 160);
            seq += 1;
        }
        let s = leg.snapshot(t0 + MS * 2000).inbound;
        assert_eq!((s.packets_received, s.packets_lost), (100, 0));
        assert_eq!(s.bytes_received, 80 * 160 + 20 * 4);
        assert_eq!(s.jitter, 0.0, "events with frozen timestamps are no jitter");
        // Had they been timed, each would have moved transit by 20 ms.
        let mut timed = LegStats::new(0xA, 8000, t0, ntp(1_700_000_000));
        for i in 0..70u32 {
            timed.on_rtp_received(t0 + MS * 20 * i, 0xB, i as u16, 160 * i.min(50), 160);
        }
        assert!(timed.snapshot(t0).inbound.jitter > 0.005);

        // Sending: an event sent after audio does not move the SR's clock.
        leg.on_rtp_sent(t0 + MS * 1000, 8000, 160);
        leg.on_rtp_event_sent(t0 + MS * 1100, 8000, 4);
        let mut out = Vec::new();
        leg.write_report(t0 + MS * 1500, b"a", &mut out).unwrap();
        let compound = RtcpCompound::parse(&out).unwrap();
        let Some(RtcpPacket::SenderReport(sr)) = compound.packets().next() else {
            panic!()
        };
        // 500 ms after the audio packet: 4000 ticks on.
        assert_eq!(sr.info.rtp_timestamp, 12_000);
        assert_eq!((sr.info.packet_count, sr.info.octet_count), (2, 164));
        // Only events sent: they give the clock.
        let mut events_only = LegStats::new(0xA, 8000, t0, ntp(1_700_000_000));
        events_only.on_rtp_event_sent(t0, 100, 4);
        out.clear();
        events_only
            .write_report(t0 + MS * 10, b"a", &mut out)
            .unwrap();
        let compound = RtcpCompound::parse(&out).unwrap();
        let Some(RtcpPacket::SenderReport(sr)) = compound.packets().next() else {
            panic!()
        };
        assert_eq!(sr.info.rtp_timestamp, 180);
    }

    #[test]
    fn a_new_local_ssrc_is_a_new_stream_in_reports() {
        let t0 = testkit::FakeClock::new().now();
        let mut leg = LegStats::new(0xA, 8000, t0, ntp(1_700_000_000));
        let report = |leg: &mut LegStats, at: Duration| {
            let mut out = Vec::new();
            leg.write_report(t0 + at, b"a", &mut out).unwrap();
            out
        };
        for i in 0..10u32 {
            leg.on_rtp_sent(t0 + MS * 20 * i, 160 * i, 160);
        }
        let first = report(&mut leg, MS * 1000);
        let lsr = {
            let c = RtcpCompound::parse(&first).unwrap();
            let Some(RtcpPacket::SenderReport(sr)) = c.packets().next() else {
                panic!()
            };
            assert_eq!((sr.ssrc, sr.info.packet_count), (0xA, 10));
            sr.info.ntp_time.compact()
        };
        // The remote reports on 0xA with our LSR: RTT measured.
        let block = |ssrc, lsr| ReportBlock {
            ssrc,
            last_sender_report: lsr,
            delay_since_last_sender_report: 0x0800, // 31.25 ms
            ..ReportBlock::default()
        };
        let mut rr = Vec::new();
        rtcp::write_receiver_report(&mut rr, 0xB, &[block(0xA, lsr)]).unwrap();
        leg.on_rtcp(t0 + MS * 1100, &RtcpCompound::parse(&rr).unwrap());
        let rtt = leg
            .snapshot(t0)
            .remote_inbound
            .unwrap()
            .round_trip_time
            .unwrap();
        assert!((rtt - 0.06875).abs() < 1e-4, "{rtt}");

        // From now on the leg sends another stream, 0xC.
        assert_eq!(leg.local_ssrc(), 0xA);
        leg.set_local_ssrc(0xC);
        leg.set_local_ssrc(0xC);
        assert_eq!(leg.local_ssrc(), 0xC);
        let s = leg.snapshot(t0 + MS * 1200);
        assert_eq!((s.outbound.ssrc, s.outbound.packets_sent), (0xC, 0));
        assert_eq!(s.remote_inbound, None, "reports about 0xA are forgotten");
        // A late block about 0xA is not about us any more.
        leg.on_rtcp(t0 + MS * 1300, &RtcpCompound::parse(&rr).unwrap());
        assert_eq!(leg.snapshot(t0).remote_inbound, None);
        leg.on_rtp_sent(t0 + MS * 1400, 555, 80);
        let second = report(&mut leg, MS * 2000);
        let c = RtcpCompound::parse(&second).unwrap();
        let mut packets = c.packets();
        let Some(RtcpPacket::SenderReport(sr)) = packets.next() else {
            panic!()
        };
        assert_eq!(
            (sr.ssrc, sr.info.packet_count, sr.info.octet_count),
            (0xC, 1, 80)
        );
        let Some(RtcpPacket::SourceDescription(sdes)) = packets.next() else {
            panic!()
        };
        assert_eq!(sdes.chunks().next().unwrap().ssrc, 0xC);
        // An LSR echo of 0xA's SR in a block about 0xC gives no RTT.
        rr.clear();
        rtcp::write_receiver_report(&mut rr, 0xB, &[block(0xC, lsr)]).unwrap();
        leg.on_rtcp(t0 + MS * 2100, &RtcpCompound::parse(&rr).unwrap());
        let remote = leg.snapshot(t0).remote_inbound.unwrap();
        assert_eq!((remote.ssrc, remote.round_trip_time), (0xC, None));
    }

    #[test]
    fn a_new_clock_rate_restarts_jitter_in_its_units() {
        let t0 = testkit::FakeClock::new().now();
        let mut leg = LegStats::new(0xA, 8000, t0, ntp(1_700_000_000));
        // Transit alternating 0 and 10 ms at 8 kHz: real jitter.
        for i in 0..40u32 {
            leg.on_rtp_received(
                t0 + MS * (20 * i + 10 * (i % 2)),
                0xB,
                i as u16,
                160 * i,
                160,
            );
        }
        assert!(leg.snapshot(t0).inbound.jitter > 0.005);
        leg.set_clock_rate(48_000);
        // Now a steady 48 kHz stream (960 ticks per 20 ms): no jitter.
        for i in 40..80u32 {
            leg.on_rtp_received(t0 + MS * 20 * i, 0xB, i as u16, 960 * i, 960);
        }
        let s = leg.snapshot(t0).inbound;
        assert_eq!(s.jitter, 0.0);
        assert_eq!((s.packets_received, s.packets_lost), (80, 0));
    }

    #[test]
    fn scheduler_randomizes_between_half_and_one_and_a_half_intervals() {
        let t0 = testkit::FakeClock::new().now();
        let mut timer = RtcpScheduler::new(t0, RtcpScheduler::DEFAULT_INTERVAL, 0);
        assert_eq!(timer.next_report() - t0, MS * 1250);
        assert!(!timer.is_due(t0 + MS * 1249));
        assert!(timer.is_due(t0 + MS * 1250));
        timer.on_report_sent(t0 + MS * 1300, 0x8000_0000);
        assert_eq!(timer.next_report() - t0, MS * 6300);
        timer.on_report_sent(t0 + MS * 6300, u32::MAX);
        let gap = timer.next_report() - (t0 + MS * 6300);
        assert!(gap < MS * 7500 && gap > MS * 7499, "{gap:?}");
        // Uniform random input: the mean interval is 5 s.
        let mut rng = StdRng::seed_from_u64(1);
        let mut now = t0;
        for _ in 0..1000 {
            timer.on_report_sent(now, rng.gen());
            now = timer.next_report();
        }
        let mean = (now - t0).as_secs_f64() / 1000.0;
        assert!((mean - 5.0).abs() < 0.1, "{mean}");
    }
}
