//! Plays and music on hold, over real loopback sockets: fake phones are
//! plain std sockets; what they receive is parsed as RTP, decoded with
//! `media`'s codecs and measured (level by RMS, frequency by Goertzel).
//! The relay sends a held or played-to leg its own stream, in its own
//! codec, paced at 20 ms from the source's start: the tests check the RTP
//! numbering, the audio, and (as a lower bound only, which cannot be
//! flaky) that 50 packets are not sent in less than their 980 ms.
//!
//! Ports 26000-26099 only, 20 per test. Every wait is bounded.

use media::codec::{CodecKind, Decoder};
use media::wav::{WavSpec, WavWriter};
use media::Frame;
use net::rtp::{LegCodec, LegId, PlayEnd, PlayId, Relay, RelayEvent, RtpPool};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const A: LegId = LegId(0x9a);
const B: LegId = LegId(0x9b);
const ALICE_SSRC: u32 = 0xA11C_E000;

const PCMU: LegCodec = LegCodec {
    codec: CodecKind::Pcmu,
    payload_type: 0,
    dtmf: None,
};
const G722: LegCodec = LegCodec {
    codec: CodecKind::G722,
    payload_type: 9,
    dtmf: None,
};
const OPUS: LegCodec = LegCodec {
    codec: CodecKind::Opus,
    payload_type: 111,
    dtmf: None,
};

fn phone() -> UdpSocket {
    let s = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

/// A relay on 20 ports from `first`, alice on leg A and bob on leg B
/// (codecs `a`, `b`; `None`: not told), bridged.
fn call(
    first: u16,
    a: Option<LegCodec>,
    b: Option<LegCodec>,
) -> (Relay, UdpSocket, UdpSocket, u16, u16) {
    let relay = Relay::new(RtpPool::new(LOCALHOST, first..=first + 19).unwrap(), 1).unwrap();
    let (alice, bob) = (phone(), phone());
    let pa = relay.pool().allocate().unwrap();
    let pb = relay.pool().allocate().unwrap();
    relay.open_leg(A, pa, Some(alice.local_addr().unwrap()));
    relay.open_leg(B, pb, Some(bob.local_addr().unwrap()));
    relay.set_codec(A, a);
    relay.set_codec(B, b);
    relay.bridge(A, B);
    (relay, alice, bob, pa, pb)
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// One received RTP packet (the relay writes no CSRCs or extensions).
#[derive(Debug, Clone)]
struct Packet {
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
    at: Instant,
}

fn receive(s: &UdpSocket) -> Packet {
    let mut buf = [0u8; 1500];
    let n = s.recv(&mut buf).expect("a packet within 2 s");
    assert!(n >= 12, "{n} bytes");
    Packet {
        marker: buf[1] & 0x80 != 0,
        pt: buf[1] & 0x7F,
        seq: u16::from_be_bytes([buf[2], buf[3]]),
        ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        payload: buf[12..n].to_vec(),
        at: Instant::now(),
    }
}

/// `count` packets of one stream in `codec`, checked: payload type, one
/// SSRC, sequence +1 and timestamp +20 ms each; their decoded audio.
fn receive_stream(s: &UdpSocket, codec: LegCodec, count: usize) -> (Vec<Packet>, Vec<i16>) {
    let packets: Vec<Packet> = (0..count).map(|_| receive(s)).collect();
    let ticks = codec.codec.frame_rtp_ticks();
    let first = &packets[0];
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.pt, codec.payload_type, "packet {i}: {p:?}");
        assert_eq!(p.ssrc, first.ssrc, "packet {i}: one stream");
        assert_eq!(p.seq, first.seq.wrapping_add(i as u16), "packet {i}");
        assert_eq!(p.ts, first.ts.wrapping_add(ticks * i as u32), "packet {i}");
    }
    let mut decoder = match codec.codec {
        CodecKind::Opus => Decoder::opus(16000).unwrap(),
        kind => Decoder::new(kind).unwrap(),
    };
    let mut pcm = Vec::new();
    let mut frame = Frame::default();
    for p in &packets {
        decoder.decode(&p.payload, &mut frame).unwrap();
        pcm.extend_from_slice(&frame.samples);
    }
    (packets, pcm)
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / samples.len().max(1) as f64)
        .sqrt()
}

/// Amplitude of the `hz` component of `samples` at `rate` (Goertzel).
fn amplitude(samples: &[i16], rate: u32, hz: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * hz / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0).sqrt() / samples.len().max(1) as f64
}

/// A WAV file of `secs` seconds of a `hz` sine at `rate`, decoded as a
/// server would decode a fetched file.
fn wav_tone(rate: u32, hz: f64, secs: f64) -> Arc<Frame> {
    let n = (f64::from(rate) * secs) as usize;
    let pcm: Vec<i16> = (0..n)
        .map(|i| {
            (10_000.0 * (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin()) as i16
        })
        .collect();
    let mut w = WavWriter::new(
        std::io::Cursor::new(Vec::new()),
        WavSpec { rate, channels: 1 },
    )
    .unwrap();
    w.write_samples(&pcm).unwrap();
    let bytes = w.finish().unwrap().1.into_inner();
    Arc::new(media::wav::decode(&bytes).unwrap())
}

/// The next relay event, within 5 s.
fn next_event(events: &mut UnboundedReceiver<RelayEvent>) -> RelayEvent {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(e) = events.try_recv() {
            return e;
        }
        assert!(Instant::now() < deadline, "no relay event within 5 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn held_leg_hears_music_in_its_own_codec(first_port: u16, codec: LegCodec, partner_sends: bool) {
    // Alice (PCMU) and bob (`codec`): the bridge transcodes.
    let (relay, alice, bob, pa, _) = call(first_port, Some(PCMU), Some(codec));
    relay.set_hold(B, true);
    let sender = partner_sends.then(|| {
        // Alice talks all along: none of it reaches bob.
        let alice = alice.try_clone().unwrap();
        std::thread::spawn(move || {
            for i in 0..60u16 {
                let p = rtp(0, i, u32::from(i) * 160, ALICE_SSRC, &[0x55; 160]);
                let _ = alice.send_to(&p, SocketAddr::new(LOCALHOST, pa));
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    });
    let (packets, pcm) = receive_stream(&bob, codec, 60);
    assert!(packets[0].marker, "the stream starts marked");
    assert!(packets[1..].iter().all(|p| !p.marker));
    // Paced, not bursted: packet 50 is due 1 s after packet 0.
    let span = packets[50].at - packets[0].at;
    assert!(span >= Duration::from_millis(950), "{span:?}");
    // After the music's 0.4 s fade-in, its level (about -24 dBFS).
    let rate = if codec.codec == CodecKind::Opus {
        16000
    } else {
        codec.codec.sample_rate()
    };
    let level = rms(&pcm[pcm.len() / 2..]);
    println!("{codec:?}: music on hold at RMS {level:.0}, 50 packets in {span:?}");
    assert!(level > 600.0, "{codec:?}: RMS {level:.0}");
    assert_eq!(pcm.len(), 60 * rate as usize / 50);
    if let Some(t) = sender {
        t.join().unwrap();
        let stats = relay.stats(A).unwrap().rtp;
        assert!(stats.dropped_for_source > 0, "{stats:?}");
        assert_eq!(stats.transcoded_packets, 0, "{stats:?}");
    }
    // Alice hears no music: what bob would send her is silenced.
    relay.set_hold(B, false);
    relay.shutdown();
}

#[test]
fn a_held_g722_leg_hears_music_in_g722_every_20_ms_though_nothing_is_sent_to_it() {
    held_leg_hears_music_in_its_own_codec(26000, G722, false);
}

#[test]
fn a_held_opus_leg_hears_music_in_opus_while_its_partner_talks() {
    held_leg_hears_music_in_its_own_codec(26020, OPUS, true);
}

#[test]
fn a_pcmu_leg_hears_a_played_440_hz_wav_then_the_bridge_again() {
    let (relay, alice, bob, _, pb) = call(26040, Some(PCMU), Some(PCMU));
    let mut events = relay.take_events().unwrap();
    // 0.5 s at 16 kHz (resampled by the player to the leg's 8 kHz), twice.
    let clip = wav_tone(16000, 440.0, 0.5);
    relay.play(A, PlayId(11), vec![clip], 2).unwrap();
    assert_eq!(
        next_event(&mut events),
        RelayEvent::PlayStarted {
            leg: A,
            play: PlayId(11)
        }
    );
    let (packets, pcm) = receive_stream(&alice, PCMU, 50);
    assert!(packets[0].marker);
    let span = packets[49].at - packets[0].at;
    assert!(span >= Duration::from_millis(930), "{span:?}");
    let at = |hz| amplitude(&pcm, 8000, hz);
    let (tone, others) = (at(440.0), [300.0, 600.0, 1000.0, 2000.0].map(at));
    println!("play: 440 Hz at {tone:.0}, others {others:?}");
    assert!(tone > 8000.0, "440 Hz at {tone:.0}");
    assert!(others.iter().all(|&o| o < tone / 20.0), "{others:?}");
    assert_eq!(
        next_event(&mut events),
        RelayEvent::PlayFinished {
            leg: A,
            play: PlayId(11),
            reason: PlayEnd::Finished
        }
    );
    // The bridge is back: bob's packet reaches alice as sent.
    let p = rtp(0, 7, 1120, 0xB0B, &[0x42; 160]);
    bob.send_to(&p, SocketAddr::new(LOCALHOST, pb)).unwrap();
    let back = (0..5).map(|_| receive(&alice)).find(|r| r.ssrc == 0xB0B);
    let back = back.expect("bob heard again");
    assert_eq!((back.seq, back.payload), (7, vec![0x42; 160]));
    relay.shutdown();
}

#[test]
fn a_leg_of_unknown_codec_hears_the_play_in_the_static_type_it_is_sent() {
    let (relay, alice, bob, _, pb) = call(26060, None, None);
    relay
        .play(A, PlayId(1), vec![wav_tone(8000, 1000.0, 2.0)], 1)
        .unwrap();
    // Bob's PCMA packets (payload type 8) go towards alice: she hears the
    // play, encoded in PCMA.
    for i in 0..3u16 {
        let p = rtp(8, i, u32::from(i) * 160, 0xB0B, &[0xD5; 160]);
        bob.send_to(&p, SocketAddr::new(LOCALHOST, pb)).unwrap();
    }
    let first = (0..50)
        .map(|_| receive(&alice))
        .find(|p| p.ssrc != 0xB0B)
        .expect("the play's stream");
    let pcma = LegCodec {
        codec: CodecKind::Pcma,
        payload_type: 8,
        dtmf: None,
    };
    assert_eq!(first.pt, 8);
    let (_, pcm) = receive_stream(&alice, pcma, 25);
    assert!(amplitude(&pcm, 8000, 1000.0) > 8000.0);
    assert_eq!(relay.stats(B).unwrap().rtp.dropped_for_source, 3);
    relay.shutdown();
}

#[test]
fn stopping_replacing_and_closing_end_a_play_with_their_reasons() {
    let (relay, alice, _bob, _, _) = call(26080, Some(PCMU), Some(PCMU));
    let mut events = relay.take_events().unwrap();
    let clip = wav_tone(8000, 440.0, 0.2);
    relay.play(A, PlayId(1), vec![clip.clone()], 0).unwrap();
    assert!(matches!(
        next_event(&mut events),
        RelayEvent::PlayStarted {
            play: PlayId(1),
            ..
        }
    ));
    receive(&alice);
    assert_eq!(relay.stop_play(A), Some(PlayId(1)));
    assert_eq!(
        next_event(&mut events),
        RelayEvent::PlayFinished {
            leg: A,
            play: PlayId(1),
            reason: PlayEnd::Stopped
        }
    );
    assert_eq!(relay.stop_play(A), None, "nothing left to stop");

    relay.play(A, PlayId(2), vec![clip.clone()], 0).unwrap();
    relay.play(A, PlayId(3), vec![clip], 0).unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_event(&mut events));
    }
    assert_eq!(
        got,
        [
            RelayEvent::PlayStarted {
                leg: A,
                play: PlayId(2)
            },
            RelayEvent::PlayFinished {
                leg: A,
                play: PlayId(2),
                reason: PlayEnd::Stopped
            },
            RelayEvent::PlayStarted {
                leg: A,
                play: PlayId(3)
            },
        ]
    );
    relay.close_leg(A);
    assert_eq!(
        next_event(&mut events),
        RelayEvent::PlayFinished {
            leg: A,
            play: PlayId(3),
            reason: PlayEnd::Closed
        }
    );
    assert!(relay.play(A, PlayId(4), Vec::new(), 1).is_err());
    relay.shutdown();
}
