//! In-band DTMF and interworking over real loopback sockets: a phone
//! without telephone-event sends tones in its PCMU audio and the relay
//! reports the digits; digits sent in-band arrive as tones the phone can
//! detect; RFC 4733 digits reach a phone without telephone-event as tones,
//! and tones reach a phone with telephone-event as events too. The tests
//! do what the server's event pump does: each digit the relay reports goes
//! back to `Relay::interwork_dtmf`. Ports 26200-26299, 20 per test; every
//! wait is bounded.

use media::codec::{g711, CodecKind};
use media::dtmf::{Detector, Digit, DtmfGenerator, EventReceiver, ToneEvent, ToneLevels};
use net::rtp::{DtmfFallback, DtmfVia, Interworked, LegCodec, LegId, Relay, RelayEvent, RtpPool};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

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

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x1234u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Sends `digits` as tones (`tone_ms` on, 100 ms off) in PCMU packets,
/// 20 ms of audio each, paced a little faster than real time.
fn send_tones(alice: &UdpSocket, port: u16, digits: &str, tone_ms: u32) {
    let mut gen = DtmfGenerator::new(8000, ToneLevels::default()).unwrap();
    let digits = media::dtmf::parse_digits(digits).unwrap();
    for &d in &digits {
        gen.push(d, tone_ms, 100);
    }
    let packets = digits.len() as u32 * (tone_ms + 100) / 20 + 5;
    let mut samples = vec![0i16; 160];
    let mut payload = Vec::new();
    for seq in 0..packets as u16 {
        gen.fill(&mut samples);
        payload.clear();
        g711::ulaw_encode_slice(&samples, &mut payload);
        let p = rtp(0, false, seq, u32::from(seq) * 160, &payload);
        alice.send_to(&p, (LOCALHOST, port)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The digits of the next `count` DTMF events of `via` on `events`, each
/// handed to `interwork_dtmf` with `fallback` as the server's pump does;
/// (leg, digit, duration, what became of it).
fn digits_reported(
    relay: &Relay,
    events: &mut UnboundedReceiver<RelayEvent>,
    count: usize,
    fallback: DtmfFallback,
) -> Vec<(LegId, char, u32, DtmfVia, Interworked)> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut got = Vec::new();
    while got.len() < count && Instant::now() < deadline {
        let (leg, digit, duration_ms, via) = match events.try_recv() {
            Ok(RelayEvent::Dtmf {
                leg,
                digit,
                duration_ms,
            }) => (leg, digit, duration_ms, DtmfVia::Rfc4733),
            Ok(RelayEvent::InbandDtmf {
                leg,
                digit,
                duration_ms,
            }) => (leg, digit, duration_ms, DtmfVia::Inband),
            Ok(_) => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let d = Digit::from_char(digit).unwrap();
        let done = relay
            .interwork_dtmf(leg, d, duration_ms, via, fallback)
            .unwrap();
        got.push((leg, digit, duration_ms, via, done));
    }
    got
}

/// Feeds the detector one packet's µ-law audio; digits that ended go to
/// `heard`.
fn listen(detector: &mut Detector, payload: &[u8], heard: &mut String) {
    let mut pcm = Vec::new();
    g711::ulaw_decode_slice(payload, &mut pcm);
    detector.process(&pcm);
    while let Some(ev) = detector.poll_event() {
        if let ToneEvent::Ended { digit, .. } = ev {
            heard.push(digit.to_char());
        }
    }
}

#[test]
fn tones_from_a_phone_without_telephone_event_become_digits_in_order() {
    let (relay, alice, _bob, pa) = call(26200, PCMU_ONLY, PCMU_EVENTS);
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
    send_tones(&alice, pa, "42*", 100);
    let got = digits_reported(&relay, &mut events, 3, DtmfFallback::Inband);
    let digits: String = got.iter().map(|g| g.1).collect();
    assert_eq!(digits, "42*", "{got:?}");
    for (leg, digit, duration_ms, via, _) in &got {
        assert_eq!((*leg, *via), (A, DtmfVia::Inband));
        assert!((70..=130).contains(duration_ms), "{digit} {duration_ms}");
    }
    // Forced off, the leg reports nothing; an unknown leg has no setting.
    assert_eq!(relay.set_inband_detection(A, Some(false)), Some(false));
    assert_eq!(relay.set_inband_detection(LegId(0xdead), Some(true)), None);
    send_tones(&alice, pa, "7", 100);
    // The default policy back: on again.
    assert_eq!(relay.set_inband_detection(A, None), Some(true));
    send_tones(&alice, pa, "9", 100);
    let got = digits_reported(&relay, &mut events, 1, DtmfFallback::Inband);
    let digits: String = got.iter().map(|g| g.1).collect();
    assert_eq!(digits, "9", "the 7 sent while off was not reported");
    relay.shutdown();
}

#[test]
fn digits_sent_in_band_reach_the_phone_as_detectable_tones() {
    let (relay, _alice, bob, _pa) = call(26220, PCMU_EVENTS, PCMU_ONLY);
    assert_eq!(relay.partner(B), Some(A));
    let digits = media::dtmf::parse_digits("7#").unwrap();
    relay.send_inband_dtmf(B, &digits, 120).unwrap();
    // Queued after the first two, not in their place.
    relay
        .send_inband_dtmf(B, &media::dtmf::parse_digits("77").unwrap(), 100)
        .unwrap();
    let mut detector = Detector::new(8000).unwrap();
    let mut buf = [0u8; 1500];
    let mut heard = String::new();
    let mut seqs = Vec::new();
    // 2 x (120 + 100) + 2 x (100 + 100) ms of tones: 42 packets.
    while seqs.len() < 42 {
        let Ok(n) = bob.recv(&mut buf) else { break };
        assert_eq!(buf[1] & 0x7f, 0, "PCMU, the phone's codec");
        seqs.push(u16::from_be_bytes([buf[2], buf[3]]));
        listen(&mut detector, &buf[12..n], &mut heard);
    }
    detector.flush();
    listen(&mut detector, &[], &mut heard);
    assert_eq!(heard, "7#77");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "one stream: {seqs:?}"
    );
    let too_many = vec![Digit::D1; 65];
    let err = relay.send_inband_dtmf(B, &too_many, 100).unwrap_err();
    assert!(err.contains("at most 64"), "{err}");
    assert!(relay.send_inband_dtmf(LegId(0xdead), &digits, 100).is_err());
    relay.shutdown();
}

/// RFC 4733 from alice (8 kHz telephone-event) towards bob, whose phone
/// did not negotiate telephone-event: the relay drops the events on the
/// bridge, and interworking plays each digit to bob as tones, one after
/// the other even when they come faster than they can be played.
#[test]
fn rfc4733_digits_reach_a_phone_without_telephone_event_as_tones() {
    let (relay, alice, bob, pa) = call(26240, PCMU_EVENTS, PCMU_ONLY);
    let mut events = relay.take_events().unwrap();
    // 1 1 9: 80 ms each (four 20 ms updates, the last one three times with
    // the E bit, RFC 4733 §2.5.1.4), 40 ms apart.
    let (mut seq, mut ts) = (100u16, 8000u32);
    for digit in [Digit::D1, Digit::D1, Digit::D9] {
        for step in 1..=4u16 {
            let end = step == 4;
            let duration = step * 160;
            for _ in 0..if end { 3 } else { 1 } {
                let mut payload = vec![digit.event_code(), if end { 0x80 | 10 } else { 10 }];
                payload.extend_from_slice(&duration.to_be_bytes());
                let p = rtp(101, step == 1, seq, ts, &payload);
                alice.send_to(&p, (LOCALHOST, pa)).unwrap();
                seq = seq.wrapping_add(1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        ts = ts.wrapping_add(120 * 8);
        std::thread::sleep(Duration::from_millis(40));
    }
    let got = digits_reported(&relay, &mut events, 3, DtmfFallback::Inband);
    let digits: String = got.iter().map(|g| g.1).collect();
    assert_eq!(digits, "119", "{got:?}");
    for (leg, _, duration_ms, via, done) in &got {
        assert_eq!((*leg, *via), (A, DtmfVia::Rfc4733));
        assert_eq!(*duration_ms, 80);
        assert_eq!(*done, Interworked::Inband(B));
    }
    let mut detector = Detector::new(8000).unwrap();
    let mut buf = [0u8; 1500];
    let mut heard = String::new();
    // 3 x (80 + 100) ms of tones: 27 packets.
    for _ in 0..27 {
        let Ok(n) = bob.recv(&mut buf) else { break };
        assert_eq!(buf[1] & 0x7f, 0, "audio in bob's codec, no event");
        listen(&mut detector, &buf[12..n], &mut heard);
    }
    detector.flush();
    listen(&mut detector, &[], &mut heard);
    assert_eq!(heard, "119", "the tones bob heard");
    relay.shutdown();
}

/// Tones from alice (no telephone-event) towards bob, who negotiated
/// telephone-event: the tones pass in the audio and interworking also
/// sends each digit to bob as RFC 4733 events, in order.
#[test]
fn tones_reach_a_phone_with_telephone_event_as_events_too() {
    let (relay, alice, bob, pa) = call(26260, PCMU_ONLY, PCMU_EVENTS);
    let mut events = relay.take_events().unwrap();
    send_tones(&alice, pa, "3#", 100);
    let got = digits_reported(&relay, &mut events, 2, DtmfFallback::Inband);
    assert_eq!(got.iter().map(|g| g.1).collect::<String>(), "3#", "{got:?}");
    assert!(
        got.iter().all(|g| g.4 == Interworked::Rfc4733(B)),
        "{got:?}"
    );
    let mut receiver = EventReceiver::new(8000).unwrap();
    let mut detector = Detector::new(8000).unwrap();
    let (mut as_events, mut as_tones) = (String::new(), String::new());
    let mut buf = [0u8; 1500];
    // 2 x (100 + 100) ms of tones (10 packets) + 5 packets of silence
    // relayed, then the events: 2 x (5 updates + 3 ends).
    while as_events.len() < 2 {
        let Ok(n) = bob.recv(&mut buf) else { break };
        let (pt, marker) = (buf[1] & 0x7f, buf[1] & 0x80 != 0);
        match pt {
            0 => listen(&mut detector, &buf[12..n], &mut as_tones),
            101 => {
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                receiver
                    .handle_packet(Instant::now(), ts, marker, seq, &buf[12..n])
                    .unwrap();
                while let Some(d) = receiver.poll_event() {
                    assert!(d.duration_ms >= 90, "{d:?}");
                    as_events.push(d.digit.to_char());
                }
            }
            other => panic!("payload type {other}"),
        }
    }
    assert_eq!(as_events, "3#", "RFC 4733 events bob got");
    assert_eq!(as_tones, "3#", "and the tones in his audio");
    relay.shutdown();
}

/// What crosses by itself is left alone; SIP INFO is the application's to
/// send; a muted bridge withholds digits; an unbridged leg has no one to
/// send to.
#[test]
fn interworking_leaves_alone_what_crosses_and_names_the_leg_for_sip_info() {
    let (relay, _alice, _bob, _pa) = call(26280, PCMU_EVENTS, PCMU_ONLY);
    let one = |via, fallback| relay.interwork_dtmf(A, Digit::D1, 100, via, fallback);
    assert_eq!(
        one(DtmfVia::Rfc4733, DtmfFallback::SipInfo),
        Ok(Interworked::SipInfo(B))
    );
    assert_eq!(
        one(DtmfVia::Inband, DtmfFallback::Inband),
        Ok(Interworked::AsIs),
        "tones reach a phone without events in the audio"
    );
    assert_eq!(relay.stats(B).unwrap().rtp.sent_packets, 0, "nothing sent");
    relay.set_mute(B, true, false);
    assert_eq!(
        one(DtmfVia::Rfc4733, DtmfFallback::Inband),
        Ok(Interworked::Withheld),
        "bob hears nothing of the bridge"
    );
    relay.set_mute(B, false, false);
    relay.set_codec(B, Some(PCMU_EVENTS));
    assert_eq!(
        one(DtmfVia::Rfc4733, DtmfFallback::Inband),
        Ok(Interworked::AsIs),
        "events both negotiated cross by themselves"
    );
    relay.unbridge(A);
    assert_eq!(
        one(DtmfVia::Rfc4733, DtmfFallback::Inband),
        Ok(Interworked::AsIs)
    );
    relay.shutdown();
}
