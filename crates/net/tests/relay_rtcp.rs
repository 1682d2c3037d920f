//! RTCP terminated per leg, over real loopback sockets: fake phones with an
//! RTP/RTCP port pair send RTP with a known loss pattern and RTCP built
//! with `media::rtcp`, and read the reports each leg sends them. The relays
//! here report every second (nominal) so a test takes a few seconds; every
//! wait is bounded, and nothing is asserted about how long anything took.
//!
//! Port pools 25900-25999 (other test files use other ranges).

use media::codec::CodecKind;
use media::rtcp::{self, NtpTime, ReportBlock, RtcpCompound, RtcpPacket, SenderInfo};
use net::rtp::{LegCodec, LegId, LegStats, Relay, RtpPool};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const A: LegId = LegId(0xa);
const B: LegId = LegId(0xb);
const ALICE_SSRC: u32 = 0xA11C_E000;
const BOB_SSRC: u32 = 0x0000_B0B0;
/// Nominal report interval of the relays under test.
const INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait for a report: 1.5 intervals, with room for a busy machine.
const REPORT_WAIT: Duration = Duration::from_secs(5);

fn relay(first_port: u16) -> Relay {
    let pool = RtpPool::new(LOCALHOST, first_port..=first_port + 19).unwrap();
    Relay::with_rtcp_interval(pool, 1, INTERVAL).unwrap()
}

fn at(port: u16) -> SocketAddr {
    SocketAddr::new(LOCALHOST, port)
}

fn addr(s: &UdpSocket) -> SocketAddr {
    s.local_addr().unwrap()
}

/// A fake phone: RTP on an OS-chosen port, RTCP on the next one (RFC 3550
/// §11), as its SDP implies.
struct Phone {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl Phone {
    fn new() -> Phone {
        loop {
            let rtp = UdpSocket::bind((LOCALHOST, 0)).unwrap();
            let port = addr(&rtp).port();
            if port == u16::MAX {
                continue;
            }
            if let Ok(rtcp) = UdpSocket::bind(at(port + 1)) {
                for s in [&rtp, &rtcp] {
                    s.set_read_timeout(Some(REPORT_WAIT)).unwrap();
                }
                return Phone { rtp, rtcp };
            }
        }
    }
}

/// An RTP packet (RFC 3550 §5.1): PCMU, 160 bytes of payload.
fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(160 * u32::from(seq)).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xFF; 160]);
    p
}

/// What a report from a leg holds.
#[derive(Debug, Clone)]
struct Report {
    /// SR or RR sender SSRC.
    ssrc: u32,
    sender: Option<SenderInfo>,
    blocks: Vec<ReportBlock>,
    cname: Option<Vec<u8>>,
    bye: bool,
    from: SocketAddr,
}

fn parse_report(bytes: &[u8], from: SocketAddr) -> Report {
    let compound = RtcpCompound::parse(bytes)
        .unwrap_or_else(|e| panic!("the relay sent invalid RTCP ({e}): {bytes:02x?}"));
    let mut report = Report {
        ssrc: 0,
        sender: None,
        blocks: Vec::new(),
        cname: None,
        bye: false,
        from,
    };
    for packet in compound.packets() {
        match packet {
            RtcpPacket::SenderReport(sr) => {
                report.ssrc = sr.ssrc;
                report.sender = Some(sr.info);
                report.blocks = sr.report_blocks().collect();
            }
            RtcpPacket::ReceiverReport(rr) => {
                report.ssrc = rr.ssrc;
                report.blocks = rr.report_blocks().collect();
            }
            RtcpPacket::SourceDescription(sdes) => {
                let chunk = sdes.chunks().next().expect("one SDES chunk");
                assert_eq!(chunk.ssrc, report.ssrc, "SDES describes the reporter");
                report.cname = chunk.cname().map(<[u8]>::to_vec);
            }
            RtcpPacket::Bye(bye) => {
                assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![report.ssrc]);
                report.bye = true;
            }
            RtcpPacket::Other(o) => panic!("unexpected RTCP packet type {}", o.packet_type),
        }
    }
    report
}

/// The next report on `socket` that satisfies `wanted` (earlier ones are
/// checked for validity and skipped); panics after [`REPORT_WAIT`].
fn report_where(socket: &UdpSocket, wanted: impl Fn(&Report) -> bool) -> Report {
    reports_until(socket, wanted).0
}

/// [`report_where`], and the reports that came before it.
fn reports_until(socket: &UdpSocket, wanted: impl Fn(&Report) -> bool) -> (Report, Vec<Report>) {
    let deadline = Instant::now() + REPORT_WAIT;
    let mut buf = [0u8; 1500];
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            break;
        };
        let report = parse_report(&buf[..n], from);
        if wanted(&report) {
            return (report, seen);
        }
        seen.push(report);
    }
    panic!(
        "no such report on {} within {REPORT_WAIT:?}; saw {seen:#?}",
        addr(socket)
    );
}

/// The leg's stats once `done` holds for them (within 5 s).
fn stats_when(relay: &Relay, leg: LegId, done: impl Fn(&LegStats) -> bool) -> LegStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = relay.stats(leg).expect("the leg is open");
        if done(&stats) || Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Alice on leg A, Bob on leg B (hints: their RTP addresses), bridged.
fn call(relay: &Relay) -> (Phone, Phone, u16, u16) {
    let (alice, bob) = (Phone::new(), Phone::new());
    let pa = relay.pool().allocate().unwrap();
    let pb = relay.pool().allocate().unwrap();
    relay.open_leg(A, pa, Some(addr(&alice.rtp)));
    relay.open_leg(B, pb, Some(addr(&bob.rtp)));
    relay.bridge(A, B);
    (alice, bob, pa, pb)
}

/// Sequence numbers Alice sends: 1000-1099 but those ending in 3 (ten lost).
fn alice_sequence() -> impl Iterator<Item = u16> {
    (1000..1100u16).filter(|s| s % 10 != 3)
}

#[test]
fn a_leg_reports_the_loss_it_sees_echoes_the_peers_sr_and_measures_rtt_from_its_rr() {
    let started = Instant::now();
    let relay = relay(25900);
    let (alice, bob, pa, pb) = call(&relay);

    for seq in alice_sequence() {
        alice.rtp.send_to(&rtp(seq, ALICE_SSRC), at(pa)).unwrap();
    }
    // Bob talks too, so leg A sends RTP to Alice (and an SR about it).
    for seq in 0..20 {
        bob.rtp.send_to(&rtp(seq, BOB_SSRC), at(pb)).unwrap();
    }
    let a = stats_when(&relay, A, |s| {
        s.quality.inbound.packets_received == 90 && s.quality.outbound.packets_sent == 20
    });
    assert_eq!(a.quality.inbound.ssrc, Some(ALICE_SSRC));
    assert_eq!(
        (
            a.quality.inbound.packets_received,
            a.quality.inbound.packets_lost
        ),
        (90, 10)
    );
    assert_eq!(a.quality.inbound.bytes_received, 90 * 160, "payload bytes");
    assert_eq!(
        (
            a.quality.outbound.ssrc,
            a.quality.outbound.packets_sent,
            a.quality.outbound.bytes_sent
        ),
        (BOB_SSRC, 20, 20 * 160),
        "leg A sends Bob's stream to Alice"
    );

    // Leg A's first report that covers all of Alice's packets: its block
    // says what was lost, in all and over the interval since the report
    // before (if one came in the middle of the burst: RFC 3550 §A.3).
    let (report, before) = reports_until(&alice.rtcp, |r| {
        r.blocks
            .first()
            .is_some_and(|b| b.extended_highest_sequence == 1099)
    });
    let block = report.blocks[0];
    assert_eq!(report.from, at(pa + 1), "from leg A's RTCP port");
    assert_eq!(
        report.ssrc, BOB_SSRC,
        "an SR in the SSRC of the stream sent"
    );
    let sr = report.sender.expect("leg A sent RTP: an SR");
    assert_eq!((sr.packet_count, sr.octet_count), (20, 20 * 160));
    assert_eq!(block.ssrc, ALICE_SSRC);
    assert_eq!(block.cumulative_lost, 10);
    assert_eq!(block.extended_highest_sequence, 1099);
    assert_eq!(block.last_sender_report, 0, "Alice sent no SR yet");
    // The interval: after the previous block's highest sequence number
    // (or from the first packet, 1000).
    let from = before
        .iter()
        .rev()
        .find_map(|r| r.blocks.first())
        .map_or(1000, |b| b.extended_highest_sequence as u16 + 1);
    let expected = u32::from(1100 - from);
    let received = alice_sequence().filter(|s| *s >= from).count() as u32;
    assert_eq!(
        u32::from(block.fraction_lost),
        (expected - received) * 256 / expected,
        "{before:?}"
    );
    let cname_a = report.cname.clone().expect("SDES CNAME");
    assert!(!cname_a.is_empty());

    // Alice's SR: leg A's next report echoes it as LSR (RFC 3550 §6.4.1).
    let alice_ntp = NtpTime(0xE800_0000_4000_0000);
    let mut sr_bytes = Vec::new();
    let info = SenderInfo {
        ntp_time: alice_ntp,
        rtp_timestamp: 160 * 1099,
        packet_count: 90,
        octet_count: 90 * 160,
    };
    rtcp::write_sender_report(&mut sr_bytes, ALICE_SSRC, &info, &[]).unwrap();
    rtcp::write_sdes_cname(&mut sr_bytes, ALICE_SSRC, b"alice@test").unwrap();
    alice.rtcp.send_to(&sr_bytes, at(pa + 1)).unwrap();
    let echo = report_where(&alice.rtcp, |r| {
        r.blocks.first().is_some_and(|b| b.last_sender_report != 0)
    });
    let block = echo.blocks[0];
    assert_eq!(block.last_sender_report, alice_ntp.compact());
    assert_eq!(block.fraction_lost, 0, "nothing lost since the last report");
    assert_eq!(block.cumulative_lost, 10);
    let a = relay.stats(A).unwrap();
    let remote_out = a.quality.remote_outbound.expect("Alice's SR");
    assert_eq!(
        (
            remote_out.ssrc,
            remote_out.packets_sent,
            remote_out.bytes_sent,
            remote_out.remote_timestamp
        ),
        (ALICE_SSRC, 90, 90 * 160, alice_ntp)
    );
    assert_eq!(
        a.quality.remote_inbound, None,
        "no report block about leg A's stream yet"
    );

    // Alice answers leg A's SR with an RR about Bob's stream (SSRC BOB),
    // claiming she held the SR 50 ms less than she did: the RTT the relay
    // computes (arrival - LSR - DLSR) is at least 50 ms.
    let their_sr = echo.sender.expect("still sending: an SR");
    let held_since = Instant::now();
    std::thread::sleep(Duration::from_millis(120));
    let dlsr = held_since.elapsed() - Duration::from_millis(50);
    let about_leg_a = ReportBlock {
        ssrc: BOB_SSRC,
        fraction_lost: 32,
        cumulative_lost: 7,
        extended_highest_sequence: 19,
        jitter: 240,
        last_sender_report: their_sr.ntp_time.compact(),
        delay_since_last_sender_report: rtcp::duration_to_compact(dlsr),
    };
    let mut rr = Vec::new();
    rtcp::write_receiver_report(&mut rr, ALICE_SSRC, &[about_leg_a]).unwrap();
    rtcp::write_sdes_cname(&mut rr, ALICE_SSRC, b"alice@test").unwrap();
    alice.rtcp.send_to(&rr, at(pa + 1)).unwrap();
    let a = stats_when(&relay, A, |s| s.quality.remote_inbound.is_some());
    let remote_in = a
        .quality
        .remote_inbound
        .expect("Alice's RR about leg A's stream");
    assert_eq!(remote_in.ssrc, BOB_SSRC);
    assert_eq!(
        (
            remote_in.packets_lost,
            remote_in.fraction_lost,
            remote_in.jitter
        ),
        (7, 0.125, 0.03)
    );
    let rtt = remote_in
        .round_trip_time
        .expect("an RTT from an LSR of ours");
    let whole_test = started.elapsed().as_secs_f64();
    assert!(
        rtt >= 0.050 - 2.0 / 65536.0 && rtt <= whole_test,
        "RTT {rtt} s"
    );
    assert_eq!(remote_in.round_trip_time_measurements, 1);
    // Alice's RTCP was taken in by leg A, never relayed.
    assert_eq!(a.rtcp.received_packets, 2);
    assert_eq!(a.rtcp.dropped_malformed, 0);

    // Bob hears leg B's reports only: an SR about Alice's relayed stream
    // (90 packets), with a CNAME that is neither Alice's nor leg A's.
    let bob_report = report_where(&bob.rtcp, |r| {
        r.sender.is_some_and(|s| s.packet_count == 90)
    });
    assert_eq!(bob_report.ssrc, ALICE_SSRC);
    assert_eq!(bob_report.from, at(pb + 1));
    let cname_b = bob_report.cname.clone().unwrap();
    assert_ne!(cname_b, b"alice@test".to_vec());
    assert_ne!(cname_b, cname_a);
    assert_eq!(bob_report.blocks[0].ssrc, BOB_SSRC);
    assert_eq!(bob_report.blocks[0].cumulative_lost, 0);
    // Nothing on Bob's RTCP port ever came from Alice.
    bob.rtcp
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 1500];
    while let Ok((n, from)) = bob.rtcp.recv_from(&mut buf) {
        let r = parse_report(&buf[..n], from);
        assert_ne!(r.cname.as_deref(), Some(&b"alice@test"[..]));
    }
}

#[test]
fn reports_go_to_rtp_port_plus_one_until_rtcp_latches_and_then_stay_there() {
    let relay = relay(25920);
    let (alice, bob, pa, pb) = call(&relay);
    for seq in 0..3 {
        alice.rtp.send_to(&rtp(seq, ALICE_SSRC), at(pa)).unwrap();
    }
    // No RTCP seen from Bob: leg B reports to his RTP hint's port + 1.
    let first = report_where(&bob.rtcp, |_| true);
    assert_eq!(first.from, at(pb + 1));
    assert_eq!(first.ssrc, ALICE_SSRC);

    // Bob's RTCP comes from elsewhere (NAT): his RTCP latches there.
    let bob_rtcp_nat = Phone::new().rtp;
    let mut rr = Vec::new();
    rtcp::write_receiver_report(&mut rr, BOB_SSRC, &[]).unwrap();
    rtcp::write_sdes_cname(&mut rr, BOB_SSRC, b"bob@test").unwrap();
    bob_rtcp_nat.send_to(&rr, at(pb + 1)).unwrap();
    let b = stats_when(&relay, B, |s| s.rtcp.peer.is_some());
    assert_eq!(b.rtcp.peer, Some(addr(&bob_rtcp_nat)));
    let moved = report_where(&bob_rtcp_nat, |_| true);
    assert_eq!((moved.from, moved.ssrc), (at(pb + 1), ALICE_SSRC));
    // RTCP did not touch the RTP side, nor Alice.
    let b = relay.stats(B).unwrap();
    assert_eq!((b.rtcp.received_packets, b.rtcp.dropped_malformed), (1, 0));
    assert_eq!(b.rtp.received_packets, 0);
    assert_eq!(relay.stats(A).unwrap().rtcp.received_packets, 0);
    alice
        .rtcp
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 1500];
    while let Ok((n, from)) = alice.rtcp.recv_from(&mut buf) {
        // Leg A's own reports only.
        let r = parse_report(&buf[..n], from);
        assert_eq!(r.from, at(pa + 1));
        assert_ne!(r.cname.as_deref(), Some(&b"bob@test"[..]));
    }
}

#[test]
fn before_any_rtcp_reports_go_to_the_latched_rtp_source_plus_one() {
    let relay = relay(25940);
    let (alice, _bob_sdp, _, pb) = call(&relay);
    // Bob's RTP comes from a NAT port p; his RTCP is expected on p + 1.
    let bob_nat = Phone::new();
    bob_nat.rtp.send_to(&rtp(1, BOB_SSRC), at(pb)).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = alice.rtp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], &rtp(1, BOB_SSRC)[..]);
    // Leg B received from Bob and sent nothing: an RR about his stream.
    let report = report_where(&bob_nat.rtcp, |_| true);
    assert_eq!(report.from, at(pb + 1));
    assert!(report.sender.is_none(), "{report:?}");
    assert_eq!(report.blocks[0].ssrc, BOB_SSRC);
}

#[test]
fn malformed_or_foreign_rtcp_is_counted_and_dropped() {
    let relay = relay(25960);
    let (alice, _bob, pa, _) = call(&relay);
    // Not RTCP (RFC 3550 §A.2): short, version 1, a length past the end,
    // an SDES item past its chunk.
    let mut sdes = Vec::new();
    rtcp::write_sdes_cname(&mut sdes, 1, b"x").unwrap();
    let mut bad_sdes = sdes.clone();
    bad_sdes[9] = 200;
    let bad: [&[u8]; 4] = [
        &[0x80],
        &[0x40, 201, 0, 1, 0, 0, 0, 1],
        &[0x80, 201, 0, 9, 0, 0, 0, 1],
        &bad_sdes,
    ];
    for datagram in bad {
        alice.rtcp.send_to(datagram, at(pa + 1)).unwrap();
    }
    let a = stats_when(&relay, A, |s| s.rtcp.dropped_malformed == 4);
    assert_eq!((a.rtcp.received_packets, a.rtcp.dropped_malformed), (4, 4));
    // Reduced-size RTCP (RFC 5506) is not malformed: a lone SDES, and the
    // lone APP "PING" baresip sends as a NAT keep-alive.
    let ping = [
        0x80, 204, 0, 3, 1, 2, 3, 4, b'P', b'I', b'N', b'G', b'P', b'O', b'N', b'G',
    ];
    alice.rtcp.send_to(&sdes, at(pa + 1)).unwrap();
    alice.rtcp.send_to(&ping, at(pa + 1)).unwrap();
    let a = stats_when(&relay, A, |s| s.rtcp.received_packets == 6);
    assert_eq!((a.rtcp.received_packets, a.rtcp.dropped_malformed), (6, 4));
    let mallory = Phone::new().rtcp;
    let mut rr = Vec::new();
    rtcp::write_receiver_report(&mut rr, 9, &[]).unwrap();
    mallory.send_to(&rr, at(pa + 1)).unwrap();
    let a = stats_when(&relay, A, |s| s.rtcp.dropped_wrong_source == 1);
    assert_eq!(a.rtcp.dropped_wrong_source, 1, "the RTCP latch holds");
    // The leg still works.
    alice.rtp.send_to(&rtp(1, ALICE_SSRC), at(pa)).unwrap();
    let report = report_where(&alice.rtcp, |_| true);
    assert_eq!(report.blocks[0].ssrc, ALICE_SSRC);
}

#[test]
fn a_transcoding_leg_reports_its_own_stream_and_says_bye_on_close() {
    let relay = relay(25980);
    let (alice, bob, pa, _) = call(&relay);
    let codec = |codec, payload_type| {
        Some(LegCodec {
            codec,
            payload_type,
            dtmf: None,
        })
    };
    relay.set_codec(A, codec(CodecKind::Pcmu, 0));
    relay.set_codec(B, codec(CodecKind::Pcma, 8));
    for seq in 0..10 {
        alice.rtp.send_to(&rtp(seq, ALICE_SSRC), at(pa)).unwrap();
    }
    // Bob gets PCMA in leg B's own stream...
    let mut buf = [0u8; 1500];
    let (n, _) = bob.rtp.recv_from(&mut buf).unwrap();
    assert_eq!(buf[1] & 0x7F, 8);
    let own_ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    assert_ne!(own_ssrc, ALICE_SSRC);
    assert!(n > 12);
    // ...and leg B's SR describes that stream, as many packets as it sent.
    stats_when(&relay, A, |s| s.rtp.transcoded_packets == 10);
    let b = relay.stats(B).unwrap();
    assert_eq!(b.quality.outbound.ssrc, own_ssrc);
    assert_eq!(b.quality.outbound.packets_sent, b.rtp.sent_packets);
    let sent = b.quality.outbound.packets_sent;
    assert!(sent > 0);
    let report = report_where(&bob.rtcp, |r| {
        r.sender.is_some_and(|s| u64::from(s.packet_count) == sent)
    });
    assert_eq!(report.ssrc, own_ssrc);

    relay.close_leg(B);
    let bye = report_where(&bob.rtcp, |r| r.bye);
    assert_eq!((bye.ssrc, bye.from.port()), (own_ssrc, report.from.port()));
}
