//! Recording a bridged leg over real loopback sockets: fake phones send
//! G.711 tones of different frequencies, the relay records one leg, and the
//! WAV file (and the live stream) is read back and measured. Every wait is
//! bounded; nothing is timed. Ports 26100-26199.

use media::codec::g711;
use media::recorder::{Channels, Direction};
use net::rtp::{
    EndReason, LegCodec, LegId, RecordingId, RecordingSpec, Relay, RelayEvent, RtpPool,
};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const A: LegId = LegId(0xa);
const B: LegId = LegId(0xb);
const PCMU: LegCodec = LegCodec {
    codec: media::codec::CodecKind::Pcmu,
    payload_type: 0,
    dtmf: None,
};

fn phone() -> UdpSocket {
    let s = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dialtone-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 20 ms of a `hz` tone as a PCMU RTP packet, continuing phase from `seq`.
fn tone_packet(seq: u16, ssrc: u32, hz: f64) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    let samples: Vec<i16> = (0..160)
        .map(|i| {
            let t = (usize::from(seq) * 160 + i) as f64 / 8000.0;
            (8000.0 * (std::f64::consts::TAU * hz * t).sin()) as i16
        })
        .collect();
    g711::ulaw_encode_slice(&samples, &mut p);
    p
}

/// Peak amplitude of the `hz` component of `x` (Goertzel).
fn amplitude_at(x: &[i16], rate: u32, hz: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * hz / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0).sqrt() / x.len() as f64
}

/// Alice (leg A) sends 1 kHz, Bob (leg B) 400 Hz, 60 packets each, paced
/// so both streams are live at once; each receives the other's.
fn talk(relay: &Relay, first: u16) -> (UdpSocket, UdpSocket, u16, u16) {
    let (alice, bob) = (phone(), phone());
    let pa = relay.pool().allocate().unwrap();
    let pb = relay.pool().allocate().unwrap();
    relay.open_leg(A, pa, Some(alice.local_addr().unwrap()));
    relay.open_leg(B, pb, Some(bob.local_addr().unwrap()));
    relay.set_codec(A, Some(PCMU));
    relay.set_codec(B, Some(PCMU));
    relay.bridge(A, B);
    assert!(pa >= first && pb >= first);
    (alice, bob, pa, pb)
}

fn exchange(alice: &UdpSocket, bob: &UdpSocket, pa: u16, pb: u16, packets: u16) {
    let mut buf = [0u8; 1500];
    for seq in 0..packets {
        alice
            .send_to(&tone_packet(seq, 0xA11CE, 1000.0), (LOCALHOST, pa))
            .unwrap();
        bob.send_to(&tone_packet(seq, 0xB0B, 400.0), (LOCALHOST, pb))
            .unwrap();
        // Each side hears the other before the next packet: the relay
        // has seen both, so RX and TX of this 20 ms are in the recording.
        bob.recv_from(&mut buf).expect("bob hears alice");
        alice.recv_from(&mut buf).expect("alice hears bob");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn channel(samples: &[i16], channels: usize, which: usize) -> Vec<i16> {
    samples
        .iter()
        .skip(which)
        .step_by(channels)
        .copied()
        .collect()
}

#[test]
fn a_stereo_recording_holds_the_party_left_and_what_it_heard_right() {
    let pool = RtpPool::new(LOCALHOST, 26100..=26139).unwrap();
    let relay = Relay::new(pool, 1).unwrap();
    let mut events = relay.take_events().unwrap();
    let (alice, bob, pa, pb) = talk(&relay, 26100);
    let dir = dir("relay-record");
    let (stream_tx, mut stream_rx) = tokio::sync::broadcast::channel(256);
    let started = relay
        .start_recording(
            A,
            RecordingSpec {
                id: RecordingId(1),
                path: dir.join("stereo.wav"),
                direction: Direction::Both,
                channels: Channels::Stereo,
                stream: Some(stream_tx),
            },
        )
        .unwrap();
    assert_eq!(started.rate, 8000, "a PCMU leg records narrowband");
    relay
        .start_recording(
            A,
            RecordingSpec {
                id: RecordingId(2),
                path: dir.join("rx.wav"),
                direction: Direction::In,
                channels: Channels::Mono,
                stream: None,
            },
        )
        .unwrap();
    // The same file twice is refused, and nothing is lost.
    let again = relay.start_recording(
        A,
        RecordingSpec {
            id: RecordingId(3),
            path: dir.join("rx.wav"),
            direction: Direction::In,
            channels: Channels::Mono,
            stream: None,
        },
    );
    assert!(again.unwrap_err().contains("rx.wav"));
    exchange(&alice, &bob, pa, pb, 60);

    let done = relay
        .stop_recording(A, RecordingId(1))
        .expect("recording 1 runs");
    assert_eq!(done.reason, EndReason::Stopped);
    assert!(done.error.is_none(), "{:?}", done.error);
    let summary = done.summary.unwrap();
    let bytes = std::fs::read(&done.path).unwrap();
    assert_eq!(summary.bytes, bytes.len() as u64);
    let wav = media::wav::parse_header(&bytes).unwrap();
    assert_eq!((wav.channels, wav.rate), (2, 8000));
    let samples: Vec<i16> = bytes[wav.data_offset..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    // Wall-clock length: 60 packets of 20 ms, give or take the scheduling.
    let secs = samples.len() as f64 / 2.0 / 8000.0;
    assert!((1.0..1.8).contains(&secs), "recorded {secs} s");
    let (left, right) = (channel(&samples, 2, 0), channel(&samples, 2, 1));
    let l1k = amplitude_at(&left, 8000, 1000.0);
    let l400 = amplitude_at(&left, 8000, 400.0);
    let r1k = amplitude_at(&right, 8000, 1000.0);
    let r400 = amplitude_at(&right, 8000, 400.0);
    assert!(
        l1k > 2000.0 && l1k > 20.0 * l400,
        "left is alice: {l1k} vs {l400}"
    );
    assert!(
        r400 > 2000.0 && r400 > 20.0 * r1k,
        "right is bob: {r400} vs {r1k}"
    );

    // The live stream carried the same layout while it ran.
    let mut streamed = 0usize;
    while let Ok(chunk) = stream_rx.try_recv() {
        assert_eq!(chunk.len() % 4, 0, "whole stereo frames");
        streamed += chunk.len();
    }
    assert!(streamed >= 50 * 640, "stream chunks: {streamed} bytes");

    // Recording 2 (RX only, mono) ends with the leg, reported as an event.
    relay.close_leg(A);
    let ev = events.try_recv().expect("the leg's recording ended");
    let RelayEvent::RecordingFinished(done) = ev else {
        panic!("{ev:?}");
    };
    assert_eq!(
        (done.id, done.leg, done.reason),
        (RecordingId(2), A, EndReason::LegClosed)
    );
    let rx = media::wav::decode(&std::fs::read(&done.path).unwrap()).unwrap();
    assert!(amplitude_at(&rx.samples, 8000, 1000.0) > 2000.0);
    assert!(amplitude_at(&rx.samples, 8000, 400.0) < 200.0);
    assert!(relay.stop_recording(A, RecordingId(2)).is_none());
    relay.close_leg(B);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_recording_cut_off_by_a_crash_is_a_valid_file_up_to_the_last_second() {
    // The process dies: simulated by reading the file while the recording
    // still runs (nothing was finished), after more than a second.
    let pool = RtpPool::new(LOCALHOST, 26140..=26179).unwrap();
    let relay = Relay::new(pool, 1).unwrap();
    let (alice, bob, pa, pb) = talk(&relay, 26140);
    let dir = dir("relay-record-crash");
    relay
        .start_recording(
            A,
            RecordingSpec {
                id: RecordingId(9),
                path: dir.join("live.wav"),
                direction: Direction::Both,
                channels: Channels::Mono,
                stream: None,
            },
        )
        .unwrap();
    exchange(&alice, &bob, pa, pb, 75);
    let bytes = std::fs::read(dir.join("live.wav")).unwrap();
    let wav = media::wav::parse_header(&bytes).unwrap();
    let declared = wav.data_len as f64 / 2.0 / 8000.0;
    assert!(
        declared >= 1.0,
        "the header covers the first second: {declared} s"
    );
    let audio = media::wav::decode(&bytes).unwrap();
    assert!(amplitude_at(&audio.samples, 8000, 1000.0) > 1000.0);
    assert!(
        amplitude_at(&audio.samples, 8000, 400.0) > 1000.0,
        "mono mixes both"
    );
    relay.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}
