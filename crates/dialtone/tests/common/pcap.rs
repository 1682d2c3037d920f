//! Captures for SIPp's `play_pcap_audio`: RTP streams written as pcap
//! files (libpcap, Ethernet, IPv4/UDP on loopback).

/// A pcap (libpcap, Ethernet) of one RTP stream of RFC 4733 telephone-
/// events, payload type 101, 8 kHz: per digit three updates 20 ms apart
/// (the first marked), then three end packets with the final duration,
/// then 100 ms of nothing; the first after `lead_ms` of PCMU silence.
/// SIPp's `play_pcap_audio` sends the UDP payloads
/// at the capture's pace from its media port to the far end's.
pub fn rfc4733_pcap(digits: &[char], lead_ms: u64) -> Vec<u8> {
    let mut out = Vec::new();
    // Global header: magic, v2.4, UTC offset, accuracy, snaplen, Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let (mut t_us, mut seq, mut ts) = (lead_ms * 1000, 1000u16, 160_000u32);
    let record = |out: &mut Vec<u8>, t_us: u64, rtp: &[u8]| {
        let frame = ethernet_udp(rtp);
        out.extend_from_slice(&((t_us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((t_us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    };
    // The lead is PCMU silence, a packet every 20 ms (SIPp does not wait
    // through a gap at the start of a capture).
    let lead = lead_ms / 20;
    for k in 0..lead {
        let mut rtp = vec![0x80, 0];
        rtp.extend_from_slice(&(seq.wrapping_sub((lead - k) as u16)).to_be_bytes());
        rtp.extend_from_slice(&(ts.wrapping_sub(((lead - k) * 160) as u32)).to_be_bytes());
        rtp.extend_from_slice(&0x5199_0001u32.to_be_bytes());
        rtp.extend_from_slice(&[0xff; 160]);
        record(&mut out, k * 20_000, &rtp);
    }
    for &digit in digits {
        let event = media::dtmf::Digit::from_char(digit).unwrap().event_code();
        let mut packets: Vec<(bool, bool, u16)> =
            (1..=3).map(|k| (k == 1, false, 160 * k)).collect();
        packets.extend((0..3).map(|_| (false, true, 480)));
        for (i, (marker, end, duration)) in packets.into_iter().enumerate() {
            let mut rtp = vec![0x80, if marker { 0x80 | 101 } else { 101 }];
            rtp.extend_from_slice(&seq.to_be_bytes());
            rtp.extend_from_slice(&ts.to_be_bytes());
            rtp.extend_from_slice(&0x5199_0001u32.to_be_bytes());
            rtp.extend_from_slice(&[event, if end { 0x80 | 10 } else { 10 }]);
            rtp.extend_from_slice(&duration.to_be_bytes());
            seq = seq.wrapping_add(1);
            record(&mut out, t_us, &rtp);
            // Updates 20 ms apart; the end packets close together.
            t_us += if i < 3 { 20_000 } else { 5_000 };
        }
        t_us += 100_000;
        ts = ts.wrapping_add(480 + 800);
    }
    out
}

/// `payload` in UDP (ports 6000 to 6002) in IPv4 (127.0.0.1 both ways) in
/// Ethernet: SIPp rewrites the addresses and ports when it plays it.
pub fn ethernet_udp(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
    let sum = !ip.chunks(2).fold(0u32, |s, w| {
        let s = s + u32::from(u16::from_be_bytes([w[0], w[1]]));
        (s & 0xffff) + (s >> 16)
    }) as u16;
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&6000u16.to_be_bytes());
    f.extend_from_slice(&6002u16.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&0u16.to_be_bytes());
    f.extend_from_slice(payload);
    f
}
