//! RFC 4733 digits a leg's peer sends are reported by the relay (once
//! each, when they end, in order) while the packets still reach the other
//! leg. Real loopback sockets; bounded waits.

use media::codec::CodecKind;
use media::dtmf::{rfc4733::event_packets, Digit};
use net::rtp::{LegCodec, LegId, Relay, RelayEvent, RtpPool};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const A: LegId = LegId(0x2a);
const B: LegId = LegId(0x2b);

#[test]
fn telephone_events_become_digits_in_order_and_still_reach_the_other_leg() {
    let pool = RtpPool::new(LOCALHOST, 25840..=25859).unwrap();
    let relay = Relay::new(pool, 1).unwrap();
    let mut events = relay.take_events().expect("first take");
    assert!(relay.take_events().is_none(), "taken once");
    let alice = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    let bob = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    bob.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let (pa, pb) = (
        relay.pool().allocate().unwrap(),
        relay.pool().allocate().unwrap(),
    );
    relay.open_leg(A, pa, Some(alice.local_addr().unwrap()));
    relay.open_leg(B, pb, Some(bob.local_addr().unwrap()));
    let codec = LegCodec {
        codec: CodecKind::Pcmu,
        payload_type: 0,
        dtmf: Some((101, 8000)),
    };
    relay.set_codec(A, Some(codec));
    relay.set_codec(B, Some(codec));
    relay.bridge(A, B);

    let mut seq = 1u16;
    let mut sent = 0;
    for (i, digit) in [Digit::D1, Digit::Hash, Digit::D1].into_iter().enumerate() {
        // 100 ms events, 20 ms updates, each its own start timestamp.
        for p in event_packets(digit, 1000 + i as u32 * 4000, 800, 160, 10) {
            let mut pkt = vec![0x80, u8::from(p.packet.marker) << 7 | 101];
            pkt.extend_from_slice(&seq.to_be_bytes());
            pkt.extend_from_slice(&p.packet.timestamp.to_be_bytes());
            pkt.extend_from_slice(&0xD7F0_0001u32.to_be_bytes());
            pkt.extend_from_slice(&p.packet.payload.to_bytes());
            alice.send_to(&pkt, SocketAddr::new(LOCALHOST, pa)).unwrap();
            seq = seq.wrapping_add(1);
            sent += 1;
        }
    }
    let mut buf = [0u8; 256];
    for _ in 0..sent {
        let n = bob.recv(&mut buf).expect("relayed to bob");
        assert_eq!(buf[1] & 0x7F, 101);
        assert_eq!(n, 16);
    }
    let mut digits = Vec::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        while digits.len() < 3 {
            match tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
                Ok(Some(RelayEvent::Dtmf {
                    leg,
                    digit,
                    duration_ms,
                })) => {
                    assert_eq!(leg, A);
                    digits.push((digit, duration_ms));
                }
                other => panic!("after {digits:?}: {other:?}"),
            }
        }
    });
    assert_eq!(digits, [('1', 100), ('#', 100), ('1', 100)]);
}

#[test]
fn digits_sent_through_the_api_reach_the_peer_as_rfc4733_events() {
    use media::dtmf::rfc4733::EventReceiver;
    let pool = RtpPool::new(LOCALHOST, 25860..=25879).unwrap();
    let relay = Relay::new(pool, 1).unwrap();
    let bob = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    bob.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let pb = relay.pool().allocate().unwrap();
    relay.open_leg(B, pb, Some(bob.local_addr().unwrap()));
    let plain = LegCodec {
        codec: CodecKind::Pcmu,
        payload_type: 0,
        dtmf: None,
    };
    relay.set_codec(B, Some(plain));
    let digits = [Digit::D1, Digit::D2, Digit::Hash];
    assert!(
        relay
            .send_dtmf(B, &digits, 120)
            .unwrap_err()
            .contains("telephone-event"),
        "no telephone-event negotiated"
    );
    assert!(
        relay.send_dtmf(LegId(0x99), &digits, 120).is_err(),
        "unknown leg"
    );
    relay.set_codec(
        B,
        Some(LegCodec {
            dtmf: Some((101, 8000)),
            ..plain
        }),
    );
    relay.send_dtmf(B, &digits, 120).unwrap();

    let mut rx = EventReceiver::new(8000).unwrap();
    let start = std::time::Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let mut ssrcs = std::collections::BTreeSet::new();
    while got.len() < 3 {
        let n = bob
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("after {got:?}: {e}"));
        assert_eq!(n, 16, "12-byte header + one event report");
        assert_eq!(buf[1] & 0x7F, 101);
        ssrcs.insert(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]));
        let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        // The receiver's clock: the packet's media time, so the test does
        // not depend on how fast it runs.
        let now = start + Duration::from_millis(u64::from(seq) * 20);
        rx.handle_packet(now, ts, buf[1] & 0x80 != 0, seq, &buf[12..n])
            .unwrap();
        while let Some(d) = rx.poll_event() {
            got.push((d.digit, d.duration_ms));
        }
    }
    assert_eq!(
        got,
        [(Digit::D1, 120), (Digit::D2, 120), (Digit::Hash, 120)]
    );
    assert_eq!(ssrcs.len(), 1, "one stream");
}
