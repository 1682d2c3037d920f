//! The RTP relay over real loopback sockets: fake phones are plain std
//! sockets. Every wait is bounded (a missing packet fails in about a second).
//!
//! Each test takes its own port range below the ephemeral range, so tests
//! running in parallel never hand each other's ports out.

use net::rtp::{LegId, LegStats, Relay, RtpPool};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const A: LegId = LegId(0xa);
const B: LegId = LegId(0xb);

fn relay(first_port: u16, workers: usize) -> Relay {
    let pool = RtpPool::new(LOCALHOST, first_port..=first_port + 99).unwrap();
    Relay::new(pool, workers).unwrap()
}

/// A phone's media socket on an OS-chosen loopback port.
fn phone() -> UdpSocket {
    let s = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    s
}

fn addr(s: &UdpSocket) -> SocketAddr {
    s.local_addr().unwrap()
}

fn at(port: u16) -> SocketAddr {
    SocketAddr::new(LOCALHOST, port)
}

/// An RTP-looking datagram: V=2, PT 8 (PCMA), sequence `seq`, 160 bytes of payload.
fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&[0xd5; 160]);
    p
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = s
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no datagram on {} within 1 s: {e}", addr(s)));
    (buf[..n].to_vec(), from)
}

/// Nothing arrives on `s` for 100 ms.
fn assert_silent(s: &UdpSocket) {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let got = s.recv_from(&mut buf);
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    if let Ok((n, from)) = got {
        panic!(
            "{} got an unexpected {n}-byte datagram from {from}",
            addr(s)
        );
    }
}

/// The leg's stats once `done` holds for them (within 1 s).
fn stats_when(relay: &Relay, leg: LegId, done: impl Fn(&LegStats) -> bool) -> LegStats {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let stats = relay.stats(leg).expect("the leg is open");
        if done(&stats) || Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Two legs on fresh ports with the given hints, bridged.
fn bridged(relay: &Relay, hint_a: Option<SocketAddr>, hint_b: Option<SocketAddr>) -> (u16, u16) {
    let pa = relay.pool().allocate().unwrap();
    let pb = relay.pool().allocate().unwrap();
    relay.open_leg(A, pa, hint_a);
    relay.open_leg(B, pb, hint_b);
    relay.bridge(A, B);
    (pa, pb)
}

#[test]
fn two_phones_exchange_rtp_both_ways_and_stats_count_it() {
    let relay = relay(23000, 1);
    let (alice, bob) = (phone(), phone());
    let (pa, pb) = bridged(&relay, Some(addr(&alice)), Some(addr(&bob)));

    for seq in 0..5 {
        alice.send_to(&rtp(seq), at(pa)).unwrap();
        let (bytes, from) = recv(&bob);
        assert_eq!(bytes, rtp(seq), "relayed unchanged");
        assert_eq!(
            from,
            at(pb),
            "symmetric RTP: bob hears it from his own leg's port"
        );

        bob.send_to(&rtp(100 + seq), at(pb)).unwrap();
        let (bytes, from) = recv(&alice);
        assert_eq!(bytes, rtp(100 + seq));
        assert_eq!(from, at(pa));
    }

    let len = rtp(0).len() as u64;
    let a = relay.stats(A).unwrap();
    assert_eq!(a.rtp_port, pa);
    assert_eq!(a.rtp.received_packets, 5);
    assert_eq!(a.rtp.received_bytes, 5 * len);
    assert_eq!(a.rtp.sent_packets, 5);
    assert_eq!(a.rtp.sent_bytes, 5 * len);
    assert_eq!(a.rtp.peer, Some(addr(&alice)));
    assert_eq!(
        a.rtp.dropped_wrong_source + a.rtp.dropped_unrouted + a.rtp.send_errors,
        0
    );
    // Alice sent no RTCP (the leg's own reports: tests/relay_rtcp.rs).
    assert_eq!(a.rtcp.received_packets, 0);
    assert_eq!(a.rtcp.peer, None);
    let b = relay.stats(B).unwrap();
    assert_eq!((b.rtp.received_packets, b.rtp.sent_packets), (5, 5));
    assert_eq!(b.rtp.peer, Some(addr(&bob)));
}

#[test]
fn latches_onto_the_nat_source_instead_of_the_sdp_address() {
    let relay = relay(23100, 1);
    // Alice's SDP names one address; her packets come from another (NAT).
    let (alice_sdp, alice_nat, bob) = (phone(), phone(), phone());
    let (pa, pb) = bridged(&relay, Some(addr(&alice_sdp)), Some(addr(&bob)));

    // Before Alice sends anything, her media goes to the SDP address.
    bob.send_to(&rtp(1), at(pb)).unwrap();
    assert_eq!(recv(&alice_sdp), (rtp(1), at(pa)));

    alice_nat.send_to(&rtp(2), at(pa)).unwrap();
    assert_eq!(recv(&bob).0, rtp(2));
    bob.send_to(&rtp(3), at(pb)).unwrap();
    assert_eq!(
        recv(&alice_nat),
        (rtp(3), at(pa)),
        "sent to the latched source"
    );
    assert_silent(&alice_sdp);
    assert_eq!(relay.stats(A).unwrap().rtp.peer, Some(addr(&alice_nat)));
}

#[test]
fn a_packet_from_a_third_address_is_dropped_and_counted() {
    let relay = relay(23200, 1);
    let (alice, bob, mallory) = (phone(), phone(), phone());
    let (pa, _) = bridged(&relay, Some(addr(&alice)), Some(addr(&bob)));
    alice.send_to(&rtp(1), at(pa)).unwrap();
    assert_eq!(recv(&bob).0, rtp(1));

    mallory.send_to(b"injected", at(pa)).unwrap();
    let a = stats_when(&relay, A, |s| s.rtp.dropped_wrong_source == 1);
    assert_eq!(a.rtp.dropped_wrong_source, 1);
    assert_eq!(
        a.rtp.received_packets, 1,
        "the injected packet is not counted as received"
    );
    assert_eq!(a.rtp.peer, Some(addr(&alice)), "the latch holds");
    assert_silent(&bob);

    // Alice still gets through, and the relay still talks to her.
    alice.send_to(&rtp(2), at(pa)).unwrap();
    assert_eq!(recv(&bob).0, rtp(2));
}

#[test]
fn an_unbridged_leg_drops_packets_and_counts_them() {
    let relay = relay(23500, 1);
    let (alice, bob) = (phone(), phone());
    let pa = relay.pool().allocate().unwrap();
    let pb = relay.pool().allocate().unwrap();
    relay.open_leg(A, pa, Some(addr(&alice)));
    relay.open_leg(B, pb, Some(addr(&bob)));

    alice.send_to(&rtp(1), at(pa)).unwrap();
    let a = stats_when(&relay, A, |s| s.rtp.dropped_unrouted == 1);
    assert_eq!((a.rtp.received_packets, a.rtp.dropped_unrouted), (1, 1));
    assert_eq!(
        a.rtp.peer,
        Some(addr(&alice)),
        "an unbridged leg still latches"
    );
    assert_silent(&bob);

    relay.bridge(A, B);
    alice.send_to(&rtp(2), at(pa)).unwrap();
    assert_eq!(recv(&bob).0, rtp(2));

    relay.unbridge(B);
    alice.send_to(&rtp(3), at(pa)).unwrap();
    bob.send_to(&rtp(4), at(pb)).unwrap();
    stats_when(&relay, A, |s| s.rtp.dropped_unrouted == 2);
    let b = stats_when(&relay, B, |s| s.rtp.dropped_unrouted == 1);
    assert_eq!(b.rtp.dropped_unrouted, 1);
    assert_silent(&alice);
    assert_silent(&bob);
}

#[test]
fn a_peer_without_any_address_gets_nothing_until_it_sends() {
    let relay = relay(23600, 1);
    let (alice, bob) = (phone(), phone());
    // Bob's SDP had no usable address (0.0.0.0: RFC 2543 hold).
    let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 4000);
    let (pa, pb) = bridged(&relay, Some(addr(&alice)), Some(unspecified));
    alice.send_to(&rtp(1), at(pa)).unwrap();
    let a = stats_when(&relay, A, |s| s.rtp.dropped_unrouted == 1);
    assert_eq!(a.rtp.dropped_unrouted, 1);
    assert_eq!(relay.stats(B).unwrap().rtp.send_errors, 0);

    bob.send_to(&rtp(2), at(pb)).unwrap();
    assert_eq!(recv(&alice).0, rtp(2));
    alice.send_to(&rtp(3), at(pa)).unwrap();
    assert_eq!(recv(&bob).0, rtp(3));
}

#[test]
fn a_changed_hint_unlatches_and_the_same_hint_keeps_the_latch() {
    let relay = relay(23700, 1);
    let (alice, bob, bob_new) = (phone(), phone(), phone());
    let (pa, pb) = bridged(&relay, Some(addr(&alice)), Some(addr(&bob)));
    bob.send_to(&rtp(1), at(pb)).unwrap();
    assert_eq!(recv(&alice).0, rtp(1));

    // A session refresh with the same SDP address changes nothing.
    relay.set_remote_hint(B, Some(addr(&bob)));
    assert_eq!(relay.stats(B).unwrap().rtp.peer, Some(addr(&bob)));

    // Re-INVITE: Bob moved. Media goes to the new address at once...
    relay.set_remote_hint(B, Some(addr(&bob_new)));
    assert_eq!(relay.stats(B).unwrap().rtp.peer, None);
    alice.send_to(&rtp(2), at(pa)).unwrap();
    assert_eq!(recv(&bob_new), (rtp(2), at(pb)));
    assert_silent(&bob);
    // ...and his first packet from there latches again.
    bob_new.send_to(&rtp(3), at(pb)).unwrap();
    assert_eq!(recv(&alice).0, rtp(3));
    bob.send_to(&rtp(4), at(pb)).unwrap();
    let b = stats_when(&relay, B, |s| s.rtp.dropped_wrong_source == 1);
    assert_eq!(
        b.rtp.dropped_wrong_source, 1,
        "the old address is now a stranger"
    );
    assert_eq!(b.rtp.peer, Some(addr(&bob_new)));
}

#[test]
fn closing_legs_always_releases_their_ports() {
    let relay = relay(23800, 1);
    let (alice, bob) = (phone(), phone());
    let mut seen = Vec::new();
    for cycle in 0..60u16 {
        let pa = relay.pool().allocate().unwrap();
        let pb = relay.pool().allocate().unwrap();
        seen.extend([pa, pb]);
        relay.open_leg(A, pa, Some(addr(&alice)));
        relay.open_leg(B, pb, Some(addr(&bob)));
        match cycle % 3 {
            0 => {} // never bridged
            1 => relay.bridge(A, B),
            _ => {
                relay.bridge(A, B);
                alice.send_to(&rtp(cycle), at(pa)).unwrap();
                assert_eq!(recv(&bob).0, rtp(cycle));
                // The switch releases the port too (its allocator contract):
                // the pair stays bound until the leg closes.
                relay.pool().release(pb);
                assert_eq!(relay.pool().in_use(), 2);
            }
        }
        relay.close_leg(A);
        relay.close_leg(B);
        relay.close_leg(B); // twice is harmless
        assert_eq!(relay.stats(A), None);
    }
    // A port allocated but never opened goes back with `release`.
    let reserved = relay.pool().allocate().unwrap();
    relay.pool().release(reserved);
    seen.push(reserved);

    assert_eq!(relay.pool().in_use(), 0);
    assert_eq!(relay.legs(), 0);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 50, "round robin went over the whole range");
    for port in seen {
        assert_eq!(port % 2, 0, "RTP ports are even");
        UdpSocket::bind(at(port)).unwrap_or_else(|e| panic!("RTP port {port} still bound: {e}"));
        UdpSocket::bind(at(port + 1))
            .unwrap_or_else(|e| panic!("RTCP port {} still bound: {e}", port + 1));
    }
}

#[test]
fn the_pool_skips_ports_of_other_programs_and_runs_out() {
    // Another program holds the RTCP port of the first pair.
    let squatter = UdpSocket::bind(at(23901)).unwrap();
    let pool = RtpPool::new(LOCALHOST, 23900..=23907).unwrap();
    assert_eq!(pool.capacity(), 4);
    let got: Vec<u16> = std::iter::from_fn(|| pool.allocate()).collect();
    assert_eq!(got, [23902, 23904, 23906]);
    assert_eq!(pool.in_use(), 3);
    drop(squatter);
    pool.release(23904);
    assert_eq!(
        pool.allocate(),
        Some(23900),
        "the scan goes on where it stopped"
    );
    assert_eq!(pool.allocate(), Some(23904));
    assert_eq!(pool.allocate(), None);
}

#[test]
fn open_leg_needs_a_reserved_port() {
    let relay = relay(24000, 1);
    relay.open_leg(A, 24000, None); // never allocated
    assert_eq!(relay.stats(A), None);
    let p = relay.pool().allocate().unwrap();
    relay.open_leg(A, p, None);
    relay.open_leg(B, p, None); // already running leg A
    assert!(relay.stats(A).is_some());
    assert_eq!(relay.stats(B), None);
    relay.close_leg(A);
    assert_eq!(relay.pool().in_use(), 0);
}

#[test]
fn legs_on_different_workers_are_bridged_and_rebridged() {
    let relay = relay(24100, 3);
    let (alice, bob, carol) = (phone(), phone(), phone());
    const C: LegId = LegId(0xc);
    let pa = relay.pool().allocate().unwrap();
    let pb = relay.pool().allocate().unwrap();
    let pc = relay.pool().allocate().unwrap();
    // Three legs on three workers (each goes to the least loaded one).
    relay.open_leg(A, pa, Some(addr(&alice)));
    relay.open_leg(B, pb, Some(addr(&bob)));
    relay.open_leg(C, pc, Some(addr(&carol)));

    relay.bridge(A, B);
    alice.send_to(&rtp(1), at(pa)).unwrap();
    assert_eq!(recv(&bob), (rtp(1), at(pb)));
    bob.send_to(&rtp(2), at(pb)).unwrap();
    assert_eq!(recv(&alice), (rtp(2), at(pa)));

    // Transfer: Alice now talks to Carol; Bob is left unbridged.
    relay.bridge(C, A);
    alice.send_to(&rtp(3), at(pa)).unwrap();
    assert_eq!(recv(&carol), (rtp(3), at(pc)));
    carol.send_to(&rtp(4), at(pc)).unwrap();
    assert_eq!(recv(&alice), (rtp(4), at(pa)));
    bob.send_to(&rtp(5), at(pb)).unwrap();
    stats_when(&relay, B, |s| s.rtp.dropped_unrouted == 1);
    assert_silent(&alice);
    assert_eq!(
        relay.stats(A).unwrap().rtp.peer,
        Some(addr(&alice)),
        "moving keeps the latch"
    );

    for leg in [A, B, C] {
        relay.close_leg(leg);
    }
    assert_eq!(relay.pool().in_use(), 0);
}

#[test]
fn dropping_the_last_handle_stops_the_relay_and_frees_the_ports() {
    let relay = relay(24200, 2);
    let (alice, bob) = (phone(), phone());
    let (pa, pb) = bridged(&relay, Some(addr(&alice)), Some(addr(&bob)));
    let clone = relay.clone();
    drop(relay);
    alice.send_to(&rtp(1), at(pa)).unwrap();
    assert_eq!(recv(&bob).0, rtp(1), "a clone keeps the relay running");

    let started = Instant::now();
    drop(clone);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "workers stop promptly"
    );
    for port in [pa, pa + 1, pb, pb + 1] {
        UdpSocket::bind(at(port)).unwrap_or_else(|e| panic!("port {port} still bound: {e}"));
    }
}

#[test]
fn shutdown_closes_every_leg() {
    let relay = relay(24300, 1);
    let (alice, bob) = (phone(), phone());
    bridged(&relay, Some(addr(&alice)), Some(addr(&bob)));
    relay.shutdown();
    relay.shutdown();
    assert_eq!(relay.legs(), 0);
    assert_eq!(relay.pool().in_use(), 0);
    let p = relay.pool().allocate().unwrap();
    relay.open_leg(A, p, None);
    assert_eq!(relay.stats(A), None, "a stopped relay opens nothing");
    assert_eq!(relay.pool().in_use(), 0, "and gives the port back");
}

#[test]
fn relay_and_pool_reject_bad_arguments() {
    assert!(RtpPool::new(LOCALHOST, 24400..=24400).is_err());
    let pool = RtpPool::new(LOCALHOST, 24400..=24401).unwrap();
    assert!(Relay::new(pool, 0).is_err());
    // 192.0.2.1 (TEST-NET-1) is not an address of this host.
    let foreign = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    assert!(RtpPool::new(foreign, 24400..=24401).is_err());
}

#[test]
fn a_leg_cannot_be_bridged_to_itself_or_to_a_closed_leg() {
    let relay = relay(24500, 1);
    let alice = phone();
    let pa = relay.pool().allocate().unwrap();
    relay.open_leg(A, pa, Some(addr(&alice)));
    relay.bridge(A, A);
    relay.bridge(A, B);
    alice.send_to(&rtp(1), at(pa)).unwrap();
    let a = stats_when(&relay, A, |s| s.rtp.dropped_unrouted == 1);
    assert_eq!((a.rtp.received_packets, a.rtp.dropped_unrouted), (1, 1));
    assert_silent(&alice);
}

#[test]
fn ipv6_phones_are_relayed() {
    let v6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    let relay = Relay::new(RtpPool::new(v6, 24600..=24699).unwrap(), 1).unwrap();
    let phone6 = || {
        let s = UdpSocket::bind((v6, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        s
    };
    let (alice, bob) = (phone6(), phone6());
    let (pa, pb) = bridged(&relay, Some(addr(&alice)), Some(addr(&bob)));
    alice.send_to(&rtp(1), (v6, pa)).unwrap();
    assert_eq!(recv(&bob), (rtp(1), SocketAddr::new(v6, pb)));
    bob.send_to(&rtp(2), (v6, pb)).unwrap();
    assert_eq!(recv(&alice), (rtp(2), SocketAddr::new(v6, pa)));
}

#[test]
fn a_dual_stack_pool_latches_ipv4_phones_by_their_ipv4_address() {
    if std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").is_ok_and(|v| v.trim() == "1") {
        eprintln!("IPv6 sockets are IPv6-only on this host: nothing to test");
        return;
    }
    let any6 = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
    let relay = Relay::new(RtpPool::new(any6, 24700..=24799).unwrap(), 1).unwrap();
    let (alice, bob, mallory) = (phone(), phone(), phone());
    let (pa, pb) = bridged(&relay, Some(addr(&alice)), Some(addr(&bob)));
    alice.send_to(&rtp(1), at(pa)).unwrap();
    assert_eq!(recv(&bob).0, rtp(1));
    bob.send_to(&rtp(2), at(pb)).unwrap();
    assert_eq!(recv(&alice).0, rtp(2));
    assert_eq!(
        relay.stats(A).unwrap().rtp.peer,
        Some(addr(&alice)),
        "not ::ffff:127.0.0.1"
    );
    mallory.send_to(&rtp(3), at(pa)).unwrap();
    let a = stats_when(&relay, A, |s| s.rtp.dropped_wrong_source == 1);
    assert_eq!(a.rtp.dropped_wrong_source, 1);
}

#[test]
fn handles_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Relay>();
    fn sendable<T: Send + Sync>() {}
    sendable::<RtpPool>();
}

#[test]
fn reopening_a_leg_updates_it_on_the_same_port_and_replaces_it_on_another() {
    let relay = relay(24800, 1);
    let (alice, bob, bob_new) = (phone(), phone(), phone());
    let (pa, pb) = bridged(&relay, Some(addr(&alice)), Some(addr(&bob)));
    relay.open_leg(B, pb, Some(addr(&bob_new)));
    alice.send_to(&rtp(1), at(pa)).unwrap();
    assert_eq!(
        recv(&bob_new),
        (rtp(1), at(pb)),
        "same port: the new hint holds"
    );
    assert_eq!(relay.pool().in_use(), 2);

    let other = relay.pool().allocate().unwrap();
    relay.open_leg(B, other, None);
    assert_eq!(relay.stats(B).unwrap().rtp_port, other);
    assert_eq!(relay.pool().in_use(), 2, "the earlier port is freed");
    UdpSocket::bind(at(pb)).unwrap();
    relay.close_leg(A);
    relay.close_leg(B);
    assert_eq!(relay.pool().in_use(), 0);
}
