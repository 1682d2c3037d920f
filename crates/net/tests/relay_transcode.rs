//! The relay between legs whose codecs differ, over real loopback sockets:
//! fake phones are plain std sockets sending RTP built here, and what they
//! receive is decoded with `media`'s codecs and measured (frequency by zero
//! crossings, level by Goertzel). Every wait is bounded; nothing is timed.
//!
//! Each test takes its own port range, apart from `tests/rtp.rs`'s.

use media::codec::{CodecKind, Decoder, Encoder};
use media::Frame;
use net::rtp::{LegCodec, LegId, LegStats, Relay, RtpPool};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const A: LegId = LegId(0xa);
const B: LegId = LegId(0xb);
const ALICE_SSRC: u32 = 0xA11C_E000;
const BOB_SSRC: u32 = 0x0000_B0B0;

const PCMU: LegCodec = LegCodec {
    codec: CodecKind::Pcmu,
    payload_type: 0,
    dtmf: None,
};
const PCMA: LegCodec = LegCodec {
    codec: CodecKind::Pcma,
    payload_type: 8,
    dtmf: None,
};
const OPUS: LegCodec = LegCodec {
    codec: CodecKind::Opus,
    payload_type: 111,
    dtmf: None,
};

fn relay(first_port: u16) -> Relay {
    let pool = RtpPool::new(LOCALHOST, first_port..=first_port + 99).unwrap();
    Relay::new(pool, 1).unwrap()
}

/// A phone's media socket on an OS-chosen loopback port.
fn phone() -> UdpSocket {
    let s = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn addr(s: &UdpSocket) -> SocketAddr {
    s.local_addr().unwrap()
}

fn at(port: u16) -> SocketAddr {
    SocketAddr::new(LOCALHOST, port)
}

/// Alice on leg A and Bob on leg B, with these codecs, bridged.
fn call(relay: &Relay, a: LegCodec, b: LegCodec) -> (UdpSocket, UdpSocket, u16, u16) {
    let (alice, bob) = (phone(), phone());
    let pa = relay.pool().allocate().unwrap();
    let pb = relay.pool().allocate().unwrap();
    relay.open_leg(A, pa, Some(addr(&alice)));
    relay.open_leg(B, pb, Some(addr(&bob)));
    relay.set_codec(A, Some(a));
    relay.set_codec(B, Some(b));
    relay.bridge(A, B);
    (alice, bob, pa, pb)
}

/// An RTP packet (RFC 3550 §5.1) without CSRCs or extension.
fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, u8::from(marker) << 7 | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The fields of a received packet (the relay writes no CSRCs, extension
/// or padding).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rtp {
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

fn parse(p: &[u8]) -> Rtp {
    assert!(p.len() >= 12 && p[0] == 0x80, "plain RTP v2: {p:02x?}");
    Rtp {
        pt: p[1] & 0x7F,
        marker: p[1] & 0x80 != 0,
        seq: u16::from_be_bytes([p[2], p[3]]),
        ts: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        payload: p[12..].to_vec(),
    }
}

fn recv(s: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let (n, _) = s
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no datagram on {} within 2 s: {e}", addr(s)));
    buf[..n].to_vec()
}

/// Sends `packets` from `from` to `to` as a phone does, one every 20 ms
/// (`None`: a packet lost on the way, its time passes all the same): a
/// transcoding bridge plays what it receives through a jitter buffer,
/// which a whole second of audio arriving at once would overflow.
fn send_paced<'a>(
    from: &UdpSocket,
    to: SocketAddr,
    packets: impl IntoIterator<Item = Option<&'a [u8]>>,
) {
    let start = Instant::now();
    for (i, p) in packets.into_iter().enumerate() {
        let due = start + Duration::from_millis(20 * i as u64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        if let Some(p) = p {
            from.send_to(p, to).unwrap();
        }
    }
}

/// Datagrams arriving on `s` until `count` have, or none comes for 2 s.
fn recv_up_to(s: &UdpSocket, count: usize) -> Vec<Rtp> {
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    while got.len() < count {
        match s.recv_from(&mut buf) {
            Ok((n, _)) => got.push(parse(&buf[..n])),
            Err(_) => break,
        }
    }
    got
}

/// Nothing arrives on `s` for 200 ms.
fn assert_silent(s: &UdpSocket) {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let got = s.recv_from(&mut buf);
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    if let Ok((n, _)) = got {
        panic!("{} got an unexpected {n}-byte datagram", addr(s));
    }
}

/// The leg's stats once `done` holds for them (within 2 s).
fn stats_when(relay: &Relay, leg: LegId, done: impl Fn(&LegStats) -> bool) -> LegStats {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let stats = relay.stats(leg).expect("the leg is open");
        if done(&stats) || Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `n` samples of a `freq` Hz sine of peak `amp` at `rate`.
fn sine(rate: u32, freq: f64, amp: f64, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            (amp * (std::f64::consts::TAU * freq * t).sin()).round() as i16
        })
        .collect()
}

/// Peak amplitude of the `freq` component of `x` (Goertzel; exact when `x`
/// spans whole cycles).
fn amplitude_at(x: &[i16], rate: u32, freq: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * freq / rate as f64).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = v as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len() as f64
}

/// Frequency from the rising zero crossings, interpolated.
fn zero_crossing_frequency(x: &[i16], rate: u32) -> f64 {
    let mut crossings = Vec::new();
    for i in 1..x.len() {
        let (a, b) = (x[i - 1] as f64, x[i] as f64);
        if a < 0.0 && b >= 0.0 {
            crossings.push(i as f64 - 1.0 + a / (a - b));
        }
    }
    assert!(crossings.len() > 2, "no tone heard");
    let span = crossings[crossings.len() - 1] - crossings[0];
    (crossings.len() - 1) as f64 * rate as f64 / span
}

/// 1 s (50 packets) of a 1 kHz tone of peak 8000 in `codec`, as a phone
/// sends it: sequence and timestamp stepping from `seq` and `ts`.
fn tone_packets(codec: LegCodec, ssrc: u32, seq: u16, ts: u32) -> Vec<Vec<u8>> {
    let mut encoder = Encoder::new(codec.codec).unwrap();
    let rate = encoder.sample_rate();
    let tone = sine(rate, 1000.0, 8000.0, rate as usize);
    let ticks = codec.codec.frame_rtp_ticks();
    tone.chunks(encoder.frame_samples())
        .enumerate()
        .map(|(i, chunk)| {
            let mut payload = Vec::new();
            encoder
                .encode(&Frame::new(rate, chunk.to_vec()), &mut payload)
                .unwrap();
            let i = i as u16;
            rtp(
                codec.payload_type,
                i == 0,
                seq.wrapping_add(i),
                ts.wrapping_add(u32::from(i) * ticks),
                ssrc,
                &payload,
            )
        })
        .collect()
}

/// Checks that `got` is one stream of `codec` from the relay (its own SSRC,
/// sequence +1, timestamp +20 ms per packet) and that it carries the 1 kHz
/// tone at about its level (within `db` dB).
fn assert_tone_stream(got: &[Rtp], codec: LegCodec, not_ssrc: u32, db: f64) {
    assert!(got.len() >= 48, "only {} packets arrived", got.len());
    let first = &got[0];
    assert_ne!(first.ssrc, not_ssrc, "the relay's own SSRC");
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p.pt, codec.payload_type, "packet {i}");
        assert_eq!(p.ssrc, first.ssrc, "packet {i}");
        assert_eq!(p.seq, first.seq.wrapping_add(i as u16), "packet {i}");
        let ticks = codec.codec.frame_rtp_ticks() * i as u32;
        assert_eq!(p.ts, first.ts.wrapping_add(ticks), "packet {i}");
    }
    let mut decoder = Decoder::new(codec.codec).unwrap();
    let rate = decoder.sample_rate();
    let mut frame = Frame::default();
    let mut heard = Vec::new();
    for p in got {
        decoder.decode(&p.payload, &mut frame).unwrap();
        heard.extend_from_slice(&frame.samples);
    }
    // From 200 ms on (codec start-up), 35 whole periods of 20 ms.
    let frame = rate as usize / 50;
    let steady = &heard[10 * frame..45 * frame];
    let f = zero_crossing_frequency(steady, rate);
    assert!((f - 1000.0).abs() < 5.0, "{f:.1} Hz");
    let level = 20.0 * (amplitude_at(steady, rate, 1000.0) / 8000.0).log10();
    assert!(level.abs() < db, "level {level:.2} dB");
}

#[test]
fn pcmu_and_pcma_legs_hear_each_other() {
    let relay = relay(25000);
    let (alice, bob, pa, pb) = call(&relay, PCMU, PCMA);

    let packets = tone_packets(PCMU, ALICE_SSRC, 1000, 8000);
    send_paced(&alice, at(pa), packets.iter().map(|p| Some(&p[..])));
    let got = recv_up_to(&bob, 50);
    assert_eq!(got.len(), 50, "20 ms out for every 20 ms in");
    assert_tone_stream(&got, PCMA, ALICE_SSRC, 1.0);
    assert!(got[0].marker, "the first packet's marker is copied");
    assert!(got[1..].iter().all(|p| !p.marker));

    let packets = tone_packets(PCMA, BOB_SSRC, 7, 0xFFFF_FF00);
    send_paced(&bob, at(pb), packets.iter().map(|p| Some(&p[..])));
    let back = recv_up_to(&alice, 50);
    assert_eq!(back.len(), 50);
    assert_tone_stream(&back, PCMU, BOB_SSRC, 1.0);
    assert_ne!(back[0].ssrc, got[0].ssrc, "each leg has its own stream");

    let a = stats_when(&relay, A, |s| s.rtp.sent_packets == 50);
    assert_eq!(a.rtp.transcoded_packets, 50);
    assert_eq!((a.rtp.received_packets, a.rtp.sent_packets), (50, 50));
    assert_eq!(a.rtp.decode_errors + a.rtp.dropped_malformed, 0);
    let b = relay.stats(B).unwrap();
    assert_eq!((b.rtp.transcoded_packets, b.rtp.sent_packets), (50, 50));
}

#[test]
fn pcmu_and_opus_legs_hear_each_other() {
    let relay = relay(25100);
    // Codecs known after the bridge, this time.
    let (alice, bob, pa, pb) = call(&relay, PCMU, OPUS);
    relay.set_codec(B, None);
    relay.set_codec(B, Some(OPUS));

    let packets = tone_packets(PCMU, ALICE_SSRC, 1, 0);
    send_paced(&alice, at(pa), packets.iter().map(|p| Some(&p[..])));
    let got = recv_up_to(&bob, 50);
    assert_tone_stream(&got, OPUS, ALICE_SSRC, 2.0);

    let packets = tone_packets(OPUS, BOB_SSRC, 1, 0);
    send_paced(&bob, at(pb), packets.iter().map(|p| Some(&p[..])));
    let back = recv_up_to(&alice, 50);
    assert_eq!(back.len(), 50, "Opus is decoded straight to 8 kHz");
    assert_tone_stream(&back, PCMU, BOB_SSRC, 2.0);
}

#[test]
fn same_codec_under_other_payload_types_only_changes_that_byte() {
    let relay = relay(25200);
    let opus_96 = LegCodec {
        payload_type: 96,
        dtmf: Some((101, 48000)),
        ..OPUS
    };
    let opus_97 = LegCodec {
        payload_type: 97,
        dtmf: Some((100, 48000)),
        ..OPUS
    };
    let (alice, bob, pa, pb) = call(&relay, opus_96, opus_97);
    let packets = tone_packets(opus_96, ALICE_SSRC, 500, 0);
    let event = rtp(101, true, 550, 48000, ALICE_SSRC, &[1, 10, 0, 160]);
    for sent in packets.iter().take(5).chain([&event]) {
        alice.send_to(sent, at(pa)).unwrap();
        let got = recv(&bob);
        let mut expected = sent.clone();
        expected[1] = (sent[1] & 0x80) | if sent[1] & 0x7F == 96 { 97 } else { 100 };
        assert_eq!(got, expected);
    }
    let back = rtp(97, false, 9, 960, BOB_SSRC, &[0x08, 1, 2, 3]);
    bob.send_to(&back, at(pb)).unwrap();
    let got = recv(&alice);
    assert_eq!(got[1], 96);
    assert_eq!((&got[..1], &got[2..]), (&back[..1], &back[2..]));
    assert_eq!(relay.stats(A).unwrap().rtp.transcoded_packets, 0);
}

#[test]
fn same_codec_and_payload_type_pass_byte_for_byte() {
    let relay = relay(25300);
    // Transcoding at first; then Bob's leg moves to PCMU too (re-INVITE).
    let (alice, bob, pa, _) = call(&relay, PCMU, PCMA);
    alice
        .send_to(&tone_packets(PCMU, ALICE_SSRC, 1, 0)[0], at(pa))
        .unwrap();
    assert_eq!(parse(&recv(&bob)).pt, 8);

    relay.set_codec(B, Some(PCMU));
    for p in tone_packets(PCMU, ALICE_SSRC, 2, 160).iter().take(5) {
        alice.send_to(p, at(pa)).unwrap();
        assert_eq!(&recv(&bob), p);
    }
    // Passthrough does not even look: this is not RTP, and it goes through.
    alice.send_to(b"not RTP", at(pa)).unwrap();
    assert_eq!(recv(&bob), b"not RTP");
    let a = relay.stats(A).unwrap();
    assert_eq!((a.rtp.transcoded_packets, a.rtp.dropped_malformed), (1, 0));
}

#[test]
fn lost_packets_are_concealed_and_the_timestamps_keep_step() {
    let relay = relay(25400);
    let (alice, bob, pa, _) = call(&relay, PCMU, PCMA);
    let mut packets = tone_packets(PCMU, ALICE_SSRC, 65530, 4_294_967_000);
    // Another second, carrying on (the tone's phase too: 1000 whole periods).
    let (seq, ts) = (
        65530u16.wrapping_add(50),
        4_294_967_000u32.wrapping_add(8000),
    );
    packets.extend(tone_packets(PCMU, ALICE_SSRC, seq, ts));
    // 51 packets, every 10th lost: 46 arrive.
    let sent: Vec<Option<&[u8]>> = packets[..51]
        .iter()
        .enumerate()
        .map(|(i, p)| (i % 10 != 9).then_some(&p[..]))
        .collect();
    assert_eq!(sent.iter().flatten().count(), 46);
    send_paced(&alice, at(pa), sent);
    let got = recv_up_to(&bob, 51);
    assert_eq!(got.len(), 51, "a concealed packet for each lost one");
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p.seq, got[0].seq.wrapping_add(i as u16), "no sequence gaps");
        assert_eq!(p.ts, got[0].ts.wrapping_add(160 * i as u32), "packet {i}");
        assert_eq!(p.ssrc, got[0].ssrc);
    }
    // The concealment continues the tone: all of it is still 1 kHz.
    let mut decoder = Decoder::new(CodecKind::Pcma).unwrap();
    let mut frame = Frame::default();
    let mut heard = Vec::new();
    for p in &got {
        decoder.decode(&p.payload, &mut frame).unwrap();
        heard.extend_from_slice(&frame.samples);
    }
    let f = zero_crossing_frequency(&heard[800..], 8000);
    assert!((f - 1000.0).abs() < 10.0, "{f:.1} Hz");
    let a = relay.stats(A).unwrap();
    assert_eq!(a.rtp.transcoded_packets, 46);
}

#[test]
fn telephone_events_cross_when_both_legs_have_them() {
    let relay = relay(25500);
    let with_dtmf = |c: LegCodec| LegCodec {
        dtmf: Some((101, 8000)),
        ..c
    };
    let (alice, bob, pa, _) = call(&relay, with_dtmf(PCMU), with_dtmf(PCMA));
    let audio = tone_packets(PCMU, ALICE_SSRC, 10, 80_000);
    for p in &audio[..5] {
        alice.send_to(p, at(pa)).unwrap();
    }
    let got = recv_up_to(&bob, 5);
    assert_eq!(got.len(), 5);
    // Digit 5 starts 100 ms after the first packet; its first packet is
    // marked, the next one (same event, same timestamp) is not.
    let digit = |seq, marker, duration: u16| {
        let d = duration.to_be_bytes();
        rtp(101, marker, seq, 80_800, ALICE_SSRC, &[5, 10, d[0], d[1]])
    };
    alice.send_to(&digit(15, true, 160), at(pa)).unwrap();
    alice.send_to(&digit(16, false, 320), at(pa)).unwrap();
    let events = recv_up_to(&bob, 2);
    assert_eq!(events.len(), 2);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.pt, 101);
        assert_eq!(e.ssrc, got[0].ssrc, "in Bob's leg's stream");
        assert_eq!(e.seq, got[0].seq.wrapping_add(5 + i as u16));
        assert_eq!(e.ts, got[0].ts.wrapping_add(800), "on Bob's clock");
        assert_eq!(e.marker, i == 0);
    }
    assert_eq!(events[1].payload, [5, 10, 1, 64]);

    // Bob's leg renegotiates without telephone-event: events stop there.
    relay.set_codec(B, Some(PCMA));
    alice.send_to(&digit(17, true, 160), at(pa)).unwrap();
    let a = stats_when(&relay, A, |s| s.rtp.dropped_payload_type == 1);
    assert_eq!(a.rtp.dropped_payload_type, 1);
    assert_silent(&bob);
    // Audio still flows.
    let later = rtp(0, false, 18, 81_120, ALICE_SSRC, &[0xFF; 160]);
    alice.send_to(&later, at(pa)).unwrap();
    assert_eq!(parse(&recv(&bob)).pt, 8);
}

#[test]
fn malformed_rtp_and_rtcp_do_not_cross_a_transcoding_bridge() {
    let relay = relay(25600);
    let (alice, bob, pa, _) = call(&relay, PCMU, PCMA);
    let good = tone_packets(PCMU, ALICE_SSRC, 1, 0);

    alice.send_to(&[0x80, 0, 0], at(pa)).unwrap();
    let mut version_1 = good[0].clone();
    version_1[0] = 0x40;
    alice.send_to(&version_1, at(pa)).unwrap();
    // Comfort noise (RFC 3389, static payload type 13) has no place there.
    alice
        .send_to(&rtp(13, false, 1, 0, ALICE_SSRC, &[60]), at(pa))
        .unwrap();
    let a = stats_when(&relay, A, |s| s.rtp.received_packets == 3);
    assert_eq!(
        (a.rtp.dropped_malformed, a.rtp.dropped_payload_type),
        (2, 1)
    );
    assert_eq!(a.rtp.transcoded_packets, 0);
    assert_silent(&bob);

    alice.send_to(&good[1], at(pa)).unwrap();
    let p = parse(&recv(&bob));
    assert_eq!((p.pt, p.payload.len()), (8, 160));

    // RTCP is never relayed (each leg reports for itself: relay_rtcp.rs);
    // a truncated SR (its length says 28 bytes, 12 came) is counted.
    let report = [0x80, 200, 0, 6, 0xA1, 0x1C, 0xE0, 0, 0, 0, 0, 0];
    alice.send_to(&report, at(pa + 1)).unwrap();
    let a = stats_when(&relay, A, |s| s.rtcp.dropped_malformed == 1);
    assert_eq!((a.rtcp.received_packets, a.rtcp.dropped_malformed), (1, 1));
    assert_silent(&bob);
}

/// The jitter buffer of a transcoding bridge: a phone's packets arrive
/// reordered (pairs swapped) and in bursts (five at once after 100 ms of
/// nothing); the other phone still gets every packet's audio, in order,
/// 20 ms of timestamp apart (plus a pause where the buffer ran dry before
/// it adapted), carrying the whole tone (nothing dropped as late).
#[test]
fn reordered_and_bursty_packets_come_out_in_order_and_whole() {
    let relay = relay(26450);
    let (alice, bob, pa, _) = call(&relay, PCMU, PCMA);
    let packets = tone_packets(PCMU, ALICE_SSRC, 500, 16_000);
    let start = Instant::now();
    let mut i = 0;
    while i < packets.len() {
        // Even seconds' worth of 100 ms: a burst of five; otherwise pairs
        // swapped, each pair sent when its later packet is due.
        let burst = (i / 10) % 2 == 1;
        let n = if burst { 5 } else { 2 };
        let last = (i + n).min(packets.len());
        let due = start + Duration::from_millis(20 * (last as u64 - 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let group: Vec<&Vec<u8>> = if burst {
            packets[i..last].iter().collect()
        } else {
            packets[i..last].iter().rev().collect()
        };
        for p in group {
            alice.send_to(p, at(pa)).unwrap();
        }
        i = last;
    }
    let got = recv_up_to(&bob, 50);
    assert_eq!(got.len(), 50, "one packet out per packet in");
    for (k, p) in got.iter().enumerate() {
        assert_eq!(p.seq, got[0].seq.wrapping_add(k as u16), "in order");
    }
    // 20 ms apart; where the buffer ran dry before it had adapted to the
    // bursts (the first one), the stream paused: whole frames of time, few.
    let steps: Vec<u32> = got
        .windows(2)
        .map(|w| w[1].ts.wrapping_sub(w[0].ts))
        .collect();
    assert!(
        steps.iter().all(|&d| d >= 160 && d.is_multiple_of(160)),
        "{steps:?}"
    );
    let paused = steps.iter().map(|d| d / 160 - 1).sum::<u32>();
    assert!(paused <= 5, "{paused} frames of pause: {steps:?}");
    // The audio, frame after frame, is the continuous tone.
    let mut decoder = Decoder::new(CodecKind::Pcma).unwrap();
    let mut frame = Frame::default();
    let mut heard = Vec::new();
    for p in &got {
        decoder.decode(&p.payload, &mut frame).unwrap();
        heard.extend_from_slice(&frame.samples);
    }
    let f = zero_crossing_frequency(&heard[1600..], 8000);
    assert!((f - 1000.0).abs() < 5.0, "{f:.1} Hz");
    let level = 20.0 * (amplitude_at(&heard[1600..], 8000, 1000.0) / 8000.0).log10();
    assert!(level.abs() < 1.0, "level {level:.2} dB");
    let a = stats_when(&relay, A, |s| s.rtp.transcoded_packets == 50);
    assert_eq!(
        (a.rtp.transcoded_packets, a.rtp.dropped_late),
        (50, 0),
        "every packet played"
    );
    let jb = a
        .jitter_buffer
        .expect("a transcoded leg plays through a buffer");
    assert_eq!((jb.emitted, jb.late), (50, 0));
    assert!(jb.target_delay >= Duration::from_millis(40), "{jb:?}");
    assert!(relay.stats(A).unwrap().jitter_buffer.is_some());
}
