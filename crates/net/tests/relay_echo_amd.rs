//! Echo and answering-machine detection over real loopback sockets. Echo:
//! a phone sending a 1 kHz tone while its bridged party sends 440 Hz gets
//! its own 1 kHz back (measured), in the leg's own stream (one SSRC,
//! consecutive sequence numbers, timestamps 160 apart), and the party
//! gets nothing of it; off, the bridge is back both ways. AMD: a long
//! greeting gives `Machine`, "Hello?" then nothing `Human`, a silent line
//! `NotSure`, each reported once as `RelayEvent::Amd`. Ports 26740-26799,
//! 20 per test; every wait is bounded.

use media::amd::{AmdConfig, AmdReason, AmdResult};
use media::codec::{g711, CodecKind};
use net::rtp::{LegCodec, LegId, Relay, RelayEvent, RtpPool};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const A: LegId = LegId(0xa);
const B: LegId = LegId(0xb);
const PCMU: LegCodec = LegCodec {
    codec: CodecKind::Pcmu,
    payload_type: 0,
    dtmf: Some((101, 8000)),
};
const ALICE_SSRC: u32 = 0x1234;
const BOB_SSRC: u32 = 0x5678;

fn phone() -> UdpSocket {
    let s = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

/// A PCMU call: (relay, alice, bob, alice's leg port, bob's leg port).
fn call(first: u16) -> (Relay, UdpSocket, UdpSocket, u16, u16) {
    let pool = RtpPool::new(LOCALHOST, first..=first + 19).unwrap();
    let relay = Relay::new(pool, 1).unwrap();
    let (alice, bob) = (phone(), phone());
    let pa = relay.pool().allocate().unwrap();
    let pb = relay.pool().allocate().unwrap();
    relay.open_leg(A, pa, Some(alice.local_addr().unwrap()));
    relay.open_leg(B, pb, Some(bob.local_addr().unwrap()));
    relay.set_codec(A, Some(PCMU));
    relay.set_codec(B, Some(PCMU));
    relay.bridge(A, B);
    (relay, alice, bob, pa, pb)
}

/// A 20 ms PCMU packet of a sine of `hz`, packet `n` of its stream.
fn tone_packet(hz: f64, n: u32, ssrc: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..160)
        .map(|i| {
            let t = f64::from(n * 160 + i) / 8000.0;
            (8000.0 * (std::f64::consts::TAU * hz * t).sin()) as i16
        })
        .collect();
    pcmu_packet(&samples, n, ssrc)
}

fn pcmu_packet(samples: &[i16], n: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&(n as u16).wrapping_add(100).to_be_bytes());
    p.extend_from_slice(&(n * 160 + 7).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    g711::ulaw_encode_slice(samples, &mut p);
    p
}

/// Every datagram waiting on `socket` (up to a 300 ms silence).
fn drain(socket: &UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// (ssrc, sequence, timestamp) of an RTP packet.
fn header(p: &[u8]) -> (u32, u16, u32) {
    (
        u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        u16::from_be_bytes([p[2], p[3]]),
        u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
    )
}

/// Amplitude of the `hz` component of µ-law payloads (Goertzel).
fn level(packets: &[Vec<u8>], hz: f64) -> f64 {
    let pcm: Vec<i16> = packets
        .iter()
        .flat_map(|p| p[12..].iter().map(|&b| g711::ulaw_decode(b)))
        .collect();
    let coeff = 2.0 * (std::f64::consts::TAU * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in &pcm {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0).sqrt() / pcm.len().max(1) as f64
}

/// Both phones send `count` packets, 20 ms apart: alice 1 kHz, bob 440 Hz.
fn talk(alice: &UdpSocket, bob: &UdpSocket, pa: u16, pb: u16, from: u32, count: u32) {
    for n in from..from + count {
        alice
            .send_to(&tone_packet(1000.0, n, ALICE_SSRC), (LOCALHOST, pa))
            .unwrap();
        bob.send_to(&tone_packet(440.0, n, BOB_SSRC), (LOCALHOST, pb))
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn echo_sends_the_phone_its_own_tone_in_the_legs_stream() {
    let (relay, alice, bob, pa, pb) = call(26740);
    talk(&alice, &bob, pa, pb, 0, 10);
    let before = drain(&alice);
    assert!(
        before.iter().all(|p| header(p).0 == BOB_SSRC),
        "bridged: alice hears bob's stream"
    );
    drain(&bob);

    relay.set_echo(A, true).unwrap();
    assert_eq!(relay.echo(A), Some(true));
    talk(&alice, &bob, pa, pb, 10, 50);
    let echoed = drain(&alice);
    let to_bob = drain(&bob);
    assert!(
        echoed.len() >= 48,
        "about every packet comes back: {}",
        echoed.len()
    );
    assert!(to_bob.is_empty(), "bob hears nothing of alice meanwhile");
    let headers: Vec<(u32, u16, u32)> = echoed.iter().map(|p| header(p)).collect();
    let ssrc = headers[0].0;
    assert!(ssrc != ALICE_SSRC && ssrc != BOB_SSRC, "the leg's own SSRC");
    for w in headers.windows(2) {
        assert_eq!(w[1].0, ssrc, "one stream");
        assert_eq!(w[1].1, w[0].1.wrapping_add(1), "consecutive: {headers:?}");
        assert_eq!(w[1].2, w[0].2.wrapping_add(160), "20 ms apart: {headers:?}");
    }
    assert_eq!(echoed[0][1] & 0x80, 0x80, "the marker starts the stream");
    let (own, other) = (level(&echoed, 1000.0), level(&echoed, 440.0));
    println!(
        "echo: {} packets, 1 kHz at {own:.0}, 440 Hz at {other:.0}",
        echoed.len()
    );
    assert!(own > 6000.0 && other < 300.0, "{own:.0} / {other:.0}");
    let stats = relay.stats(B).unwrap();
    assert!(stats.rtp.dropped_for_source >= 48, "{:?}", stats.rtp);

    relay.set_echo(A, false).unwrap();
    assert_eq!(relay.echo(A), Some(false));
    talk(&alice, &bob, pa, pb, 60, 10);
    let heard = drain(&alice);
    let to_bob = drain(&bob);
    assert!(heard.len() >= 8 && heard.iter().all(|p| header(p).0 == BOB_SSRC));
    assert!(to_bob.len() >= 8 && to_bob.iter().all(|p| header(p).0 == ALICE_SSRC));
    assert!(relay.set_echo(LegId(99), true).is_err());
}

/// The next AMD verdict on `events` (within 5 s).
fn verdict(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<RelayEvent>,
) -> media::amd::AmdVerdict {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(RelayEvent::Amd { leg, verdict }) => {
                assert_eq!(leg, A);
                return verdict;
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    panic!("no AMD verdict within 5 s");
}

/// Speech-like audio: a 140 Hz buzz with harmonics, syllables at 4 Hz.
fn voice_packet(n: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..160)
        .map(|i| {
            let t = f64::from(n * 160 + i) / 8000.0;
            let syllable = 0.6 + 0.4 * (std::f64::consts::TAU * 4.0 * t).sin().abs();
            let buzz: f64 = (1..=6)
                .map(|h| (std::f64::consts::TAU * 140.0 * f64::from(h) * t).sin() / f64::from(h))
                .sum();
            (3000.0 * syllable * buzz) as i16
        })
        .collect();
    pcmu_packet(&samples, n, ALICE_SSRC)
}

#[test]
fn amd_tells_a_greeting_from_a_hello_and_from_silence() {
    let (relay, alice, _bob, pa, _) = call(26760);
    let mut events = relay.take_events().unwrap();

    // A voicemail greeting: 2 s of speech (sent quickly: voice is counted
    // in audio).
    relay.start_amd(A, AmdConfig::default()).unwrap();
    for n in 0..100 {
        alice.send_to(&voice_packet(n), (LOCALHOST, pa)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let v = verdict(&mut events);
    println!("greeting: {v:?}");
    assert_eq!(
        (v.result, v.reason),
        (AmdResult::Machine, AmdReason::LongGreeting)
    );

    // "Hello?" (400 ms), then the phone sends nothing: the clock decides.
    relay.start_amd(A, AmdConfig::default()).unwrap();
    let t0 = Instant::now();
    for n in 100..120 {
        alice.send_to(&voice_packet(n), (LOCALHOST, pa)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let v = verdict(&mut events);
    println!("hello: {v:?} after {:?}", t0.elapsed());
    assert_eq!(v.result, AmdResult::Human, "{v:?}");
    assert_eq!(v.words, 1, "{v:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(1100),
        "0.4 s + 0.8 s of silence"
    );

    // Nobody says anything, no packets at all.
    let quick = AmdConfig {
        initial_silence: Duration::from_millis(300),
        ..AmdConfig::default()
    };
    relay.start_amd(A, quick).unwrap();
    let v = verdict(&mut events);
    assert_eq!(
        (v.result, v.reason),
        (AmdResult::NotSure, AmdReason::InitialSilence),
        "{v:?}"
    );
    assert!(v.analysis >= Duration::from_millis(300), "{v:?}");

    // Stopped: nothing is reported.
    relay.start_amd(A, quick_config()).unwrap();
    assert!(relay.stop_amd(A));
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !std::iter::from_fn(|| events.try_recv().ok()).any(|e| matches!(e, RelayEvent::Amd { .. })),
        "a stopped detection reports nothing"
    );
    assert!(relay.start_amd(LegId(99), AmdConfig::default()).is_err());
}

fn quick_config() -> AmdConfig {
    AmdConfig {
        initial_silence: Duration::from_millis(200),
        ..AmdConfig::default()
    }
}
