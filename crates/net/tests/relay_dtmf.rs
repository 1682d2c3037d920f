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
