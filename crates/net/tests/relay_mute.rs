//! Mute and hold in the relay, over real loopback sockets: a muted
//! direction carries G.711 silence (same packets, same timing, payload
//! 0xFF for µ-law), a held party hears the built-in music on hold in the
//! same packets while the other hears silence, other codecs are dropped
//! and counted, and lifting the mute restores the audio byte for byte.
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
    let mut music = Vec::new();
    for seq in 4..54 {
        // One second of alice's packets carries one second of music to bob.
        let p = rtp(0, seq, &voice);
        let got = through(&alice, pa, &bob, &p).expect("held: the stream goes on");
        assert_eq!(got[..12], p[..12], "same header");
        assert_eq!(got.len(), p.len());
        assert_ne!(got[12..], voice[..], "not alice's audio");
        music.extend(
            got[12..]
                .iter()
                .map(|&b| media::codec::g711::ulaw_decode(b)),
        );
    }
    let rms =
        (music.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / music.len() as f64).sqrt();
    assert!(rms > 300.0, "music on hold is audible: RMS {rms:.0}");
    let back = rtp(0, 9, &voice);
    assert!(through(&bob, pb, &alice, &back).unwrap()[12..]
        .iter()
        .all(|&b| b == 0xFF));
    relay.set_hold(B, false);
    let p5 = rtp(0, 55, &voice);
    assert_eq!(
        through(&alice, pa, &bob, &p5).as_deref(),
        Some(&p5[..]),
        "resumed"
    );
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
