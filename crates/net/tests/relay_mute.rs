//! Mute and hold in the relay, over real loopback sockets: a muted
//! direction carries G.711 silence (same packets, same timing, payload
//! 0xFF for µ-law), a held party hears the built-in music on hold in its
//! leg's own stream (every 20 ms, whatever the other party sends) while the
//! other hears silence, other codecs are dropped and counted, and lifting
//! the mute restores the audio byte for byte. (`relay_play.rs` checks
//! music on hold in G.722 and Opus, and plays.)
//! Every wait is bounded.

use media::codec::CodecKind;
use net::rtp::{LegCodec, LegId, Relay, RtpPool};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const A: LegId = LegId(0x1a);
const B: LegId = LegId(0x1b);

fn phone() -> UdpSocket {
    let s = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

fn rtp(pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Sends one packet from `from` to the relay port and returns what the
/// other phone receives (`None` if nothing arrives).
fn through(from: &UdpSocket, port: u16, to: &UdpSocket, packet: &[u8]) -> Option<Vec<u8>> {
    from.send_to(packet, SocketAddr::new(LOCALHOST, port))
        .unwrap();
    let mut buf = [0u8; 1500];
    to.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

fn setup(first: u16, codec: Option<LegCodec>) -> (Relay, UdpSocket, UdpSocket, u16, u16) {
    let pool = RtpPool::new(LOCALHOST, first..=first + 19).unwrap();
    let relay = Relay::new(pool, 1).unwrap();
    let (alice, bob) = (phone(), phone());
    let pa = relay.pool().allocate().unwrap();
    let pb = relay.pool().allocate().unwrap();
    relay.open_leg(A, pa, Some(alice.local_addr().unwrap()));
    relay.open_leg(B, pb, Some(bob.local_addr().unwrap()));
    relay.set_codec(A, codec);
    relay.set_codec(B, codec);
    relay.bridge(A, B);
    (relay, alice, bob, pa, pb)
}

#[test]
fn mute_out_sends_silence_and_unmute_restores_the_audio() {
    let pcmu = LegCodec {
        codec: CodecKind::Pcmu,
        payload_type: 0,
        dtmf: None,
    };
    let (relay, alice, bob, pa, pb) = setup(25800, Some(pcmu));
    let voice: Vec<u8> = (0..160).map(|i| (i * 7 % 251) as u8).collect();
    let p1 = rtp(0, 1, &voice);
    assert_eq!(
        through(&alice, pa, &bob, &p1).as_deref(),
        Some(&p1[..]),
        "before: as sent"
    );

    relay.set_mute(A, false, true); // alice is not heard
    let p2 = rtp(0, 2, &voice);
    let got = through(&alice, pa, &bob, &p2).expect("muted audio still flows");
    assert_eq!(got[..12], p2[..12], "same header: the stream goes on");
    assert!(got[12..].iter().all(|&b| b == 0xFF), "µ-law silence");
    assert_eq!(got.len(), p2.len());
    // Alice still hears Bob.
    let back = rtp(0, 7, &voice);
    assert_eq!(through(&bob, pb, &alice, &back).as_deref(), Some(&back[..]));

    relay.set_mute(A, true, false); // alice hears nothing; she is heard again
    let p3 = rtp(0, 3, &voice);
    assert_eq!(through(&alice, pa, &bob, &p3).as_deref(), Some(&p3[..]));
    let back = rtp(0, 8, &voice);
    let got = through(&bob, pb, &alice, &back).unwrap();
    assert!(got[12..].iter().all(|&b| b == 0xFF));

    relay.set_mute(A, false, false);
    relay.set_hold(B, true); // bob held: he hears music, alice hears silence
                             // One second of music, in bob's leg's own stream (not alice's SSRC),
                             // whether or not alice sends: she sends nothing here.
    let mut music = Vec::new();
    let mut first: Option<(u16, u32)> = None;
    let mut buf = [0u8; 1500];
    for i in 0..50u16 {
        let n = bob.recv(&mut buf).expect("music on hold flows by itself");
        let got = &buf[..n];
        assert_eq!((got[1] & 0x7F, n), (0, 12 + 160), "PCMU, 20 ms");
        assert_ne!(
            got[8..12],
            0x1234_5678u32.to_be_bytes(),
            "not alice's stream"
        );
        let seq = u16::from_be_bytes([got[2], got[3]]);
        let ts = u32::from_be_bytes([got[4], got[5], got[6], got[7]]);
        let (seq0, ts0) = *first.get_or_insert((seq, ts));
        assert_eq!(seq, seq0.wrapping_add(i));
        assert_eq!(ts, ts0.wrapping_add(160 * u32::from(i)));
        assert_eq!(got[1] & 0x80 != 0, i == 0, "marker on the first packet");
        music.extend(
            got[12..]
                .iter()
                .map(|&b| media::codec::g711::ulaw_decode(b)),
        );
    }
    let rms =
        (music.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / music.len() as f64).sqrt();
    assert!(rms > 300.0, "music on hold is audible: RMS {rms:.0}");
    // What alice sends meanwhile does not reach bob.
    alice
        .send_to(&rtp(0, 4, &voice), SocketAddr::new(LOCALHOST, pa))
        .unwrap();
    let mut dropped = 0;
    for _ in 0..100 {
        dropped = relay.stats(A).unwrap().rtp.dropped_for_source;
        if dropped == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(dropped, 1, "counted on alice's leg");
    let back = rtp(0, 9, &voice);
    assert!(through(&bob, pb, &alice, &back).unwrap()[12..]
        .iter()
        .all(|&b| b == 0xFF));
    relay.set_hold(B, false);
    // Resumed: alice's packets reach bob again as sent (after any music
    // packet still in flight).
    let p5 = rtp(0, 55, &voice);
    alice.send_to(&p5, SocketAddr::new(LOCALHOST, pa)).unwrap();
    let resumed = (0..10).any(|_| bob.recv(&mut buf).is_ok_and(|n| buf[..n] == p5[..]));
    assert!(resumed, "resumed");
    assert_eq!(relay.stats(A).unwrap().rtp.dropped_muted, 0);
}

#[test]
fn muted_audio_of_another_codec_is_dropped_and_counted() {
    let opus = LegCodec {
        codec: CodecKind::Opus,
        payload_type: 111,
        dtmf: None,
    };
    let (relay, alice, bob, pa, _) = setup(25820, Some(opus));
    relay.set_mute(A, false, true);
    assert_eq!(
        through(&alice, pa, &bob, &rtp(111, 1, &[0xFC, 1, 2, 3])),
        None
    );
    assert_eq!(relay.stats(A).unwrap().rtp.dropped_muted, 1);
    relay.set_mute(A, false, false);
    let p = rtp(111, 2, &[0xFC, 1, 2, 3]);
    assert_eq!(through(&alice, pa, &bob, &p).as_deref(), Some(&p[..]));
}
