//! In-band DTMF over real loopback sockets: a phone without
//! telephone-event sends tones in its PCMU audio and the relay reports the
//! digits; digits sent in-band to a phone arrive as tones it can detect.
//! Ports 26400-26449.

use media::codec::{g711, CodecKind};
use media::dtmf::{Detector, DtmfGenerator, ToneEvent, ToneLevels};
use net::rtp::{LegCodec, LegId, PlayId, Relay, RelayEvent, RtpPool};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const A: LegId = LegId(0xa);
const B: LegId = LegId(0xb);
const PCMU_ONLY: LegCodec = LegCodec {
    codec: CodecKind::Pcmu,
    payload_type: 0,
    dtmf: None,
};
const PCMU_EVENTS: LegCodec = LegCodec {
    codec: CodecKind::Pcmu,
    payload_type: 0,
    dtmf: Some((101, 8000)),
};

fn phone() -> UdpSocket {
    let s = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn call(first: u16, a: LegCodec, b: LegCodec) -> (Relay, UdpSocket, UdpSocket, u16) {
    let pool = RtpPool::new(LOCALHOST, first..=first + 19).unwrap();
    let relay = Relay::new(pool, 1).unwrap();
    let (alice, bob) = (phone(), phone());
    let pa = relay.pool().allocate().unwrap();
    let pb = relay.pool().allocate().unwrap();
    relay.open_leg(A, pa, Some(alice.local_addr().unwrap()));
    relay.open_leg(B, pb, Some(bob.local_addr().unwrap()));
    relay.set_codec(A, Some(a));
    relay.set_codec(B, Some(b));
    relay.bridge(A, B);
    (relay, alice, bob, pa)
}

#[test]
fn tones_from_a_phone_without_telephone_event_become_digits_in_order() {
    let (relay, alice, _bob, pa) = call(26400, PCMU_ONLY, PCMU_EVENTS);
    let mut events = relay.take_events().unwrap();
    assert_eq!(
        relay.inband_detection(A),
        Some(true),
        "default: on without telephone-event"
    );
    assert_eq!(
        relay.inband_detection(B),
        Some(false),
        "off where events come"
    );
    let mut gen = DtmfGenerator::new(8000, ToneLevels::default()).unwrap();
    for d in media::dtmf::parse_digits("42*").unwrap() {
        gen.push(d, 100, 100);
    }
    let mut samples = vec![0i16; 160];
    for seq in 0..40u16 {
        gen.fill(&mut samples);
        let mut p = vec![0x80, 0];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend_from_slice(&0x1234u32.to_be_bytes());
        g711::ulaw_encode_slice(&samples, &mut p);
        alice.send_to(&p, (LOCALHOST, pa)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut got = String::new();
    while got.len() < 3 && Instant::now() < deadline {
        match events.try_recv() {
            Ok(RelayEvent::InbandDtmf {
                leg,
                digit,
                duration_ms,
            }) => {
                assert_eq!(leg, A);
                assert!((70..=130).contains(&duration_ms), "{digit} {duration_ms}");
                got.push(digit);
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert_eq!(got, "42*");
    // Forced off: the same tones report nothing.
    assert_eq!(relay.set_inband_detection(A, Some(false)), Some(false));
    assert_eq!(relay.set_inband_detection(LegId(0xdead), Some(true)), None);
    relay.shutdown();
}

#[test]
fn digits_sent_in_band_reach_the_phone_as_detectable_tones() {
    let (relay, _alice, bob, _pa) = call(26420, PCMU_EVENTS, PCMU_ONLY);
    assert_eq!(relay.partner(B), Some(A));
    let digits = media::dtmf::parse_digits("7#").unwrap();
    relay.send_inband_dtmf(B, PlayId(1), &digits, 120).unwrap();
    let mut detector = Detector::new(8000).unwrap();
    let mut buf = [0u8; 1500];
    let mut pcm = Vec::new();
    let mut got = String::new();
    // 2 x (120 + 100) ms of tones: 22 packets; read a few more.
    for _ in 0..30 {
        let Ok(n) = bob.recv(&mut buf) else { break };
        assert_eq!(buf[1] & 0x7f, 0, "PCMU, the phone's codec");
        pcm.clear();
        g711::ulaw_decode_slice(&buf[12..n], &mut pcm);
        detector.process(&pcm);
        while let Some(ev) = detector.poll_event() {
            if let ToneEvent::Ended { digit, .. } = ev {
                got.push(digit.to_char());
            }
        }
    }
    detector.flush();
    while let Some(ev) = detector.poll_event() {
        if let ToneEvent::Ended { digit, .. } = ev {
            got.push(digit.to_char());
        }
    }
    assert_eq!(got, "7#");
    relay.shutdown();
}
