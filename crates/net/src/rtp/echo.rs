//! Echo: a leg whose phone hears itself ([`Relay::set_echo`](super::Relay::set_echo)),
//! the classic echo test of a voice platform.
//!
//! While echo is on, each audio packet the phone sends goes back to it
//! from the leg's socket, payload untouched, as a packet of the leg's own
//! outgoing stream ([`Sender`]: its SSRC, the next sequence number, and the
//! phone's timestamp moved onto the stream's timeline by a fixed offset),
//! so the phone's jitter buffer sees one continuous stream whatever was
//! sent before (relayed audio, a play) and after. The offset is set again
//! (and the marker bit set, RFC 3551 §4.1) when the phone's stream changes
//! SSRC or something else wrote to the leg's stream meanwhile (a play,
//! tones, a transcoding bridge). Packets of another payload type than the
//! leg's codec (telephone-events, comfort noise) are not echoed; DTMF
//! detection goes on as before.
//!
//! The bridged party hears nothing of the phone, and what it sends does
//! not reach the phone (counted as `dropped_for_source` on its leg). A
//! generated source (play, music on hold, tones) comes before the echo:
//! while one sounds the phone hears it and its own packets are dropped
//! (`dropped_for_source`).

use super::packet::{Header, HEADER_LEN};
use super::transcode::Sender;
use super::LegCodec;
use media::codec::CodecKind;

/// One leg's echo state.
#[derive(Debug, Default)]
pub(crate) struct Echo {
    /// The phone's SSRC and the offset from its timestamps to the stream's.
    offset: Option<(u32, u32)>,
    /// The stream's next timestamp as the last echoed packet left it.
    left: Option<u32>,
}

impl Echo {
    /// Rewrites the phone's `packet` in place into the next packet of
    /// `sender`'s stream; its new length, or `None` if it is not echoed
    /// (not RTP, another payload type).
    pub(crate) fn rewrite(
        &mut self,
        packet: &mut [u8],
        codec: Option<LegCodec>,
        sender: &mut Sender,
    ) -> Option<usize> {
        let h = Header::parse(packet).ok()?;
        let kind = match codec {
            Some(c) if c.payload_type == h.payload_type => Some(c.codec),
            Some(_) => return None,
            None => CodecKind::from_static_payload_type(h.payload_type),
        };
        let fresh = match self.offset {
            Some((ssrc, _)) => ssrc != h.ssrc || self.left != Some(sender.timestamp()),
            None => true,
        };
        if fresh {
            self.offset = Some((h.ssrc, sender.timestamp().wrapping_sub(h.timestamp)));
        }
        let offset = self.offset.map_or(0, |(_, o)| o);
        let timestamp = h.timestamp.wrapping_add(offset);
        let (start, end) = h.payload;
        // G.711 and G.722 (RFC 3551: 8000 ticks/s) take one tick per byte;
        // others, 20 ms.
        let ticks = match kind {
            Some(CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722) => (end - start) as u32,
            Some(k) => k.frame_rtp_ticks(),
            None => 160,
        };
        // No CSRCs, extension or padding in our stream: the payload moves
        // up behind a 12-byte header.
        packet.copy_within(start..end, HEADER_LEN);
        sender.stamp(packet, h.marker || fresh, h.payload_type, timestamp);
        sender.set_timestamp(timestamp.wrapping_add(ticks));
        self.left = Some(sender.timestamp());
        Some(HEADER_LEN + end - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::packet::write_header;

    const PCMU: LegCodec = LegCodec {
        codec: CodecKind::Pcmu,
        payload_type: 0,
        dtmf: Some((101, 8000)),
    };

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        write_header(&mut p, false, pt, seq, ts, ssrc);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn the_phones_packets_continue_the_legs_own_stream() {
        let mut sender = Sender::with_values(0xAB, 65535, 1000);
        let mut echo = Echo::default();
        let mut out = Vec::new();
        for i in 0..3u16 {
            let mut p = packet(
                0,
                500 + i,
                90_000 + u32::from(i) * 160,
                0x77,
                &[i as u8; 160],
            );
            let n = echo.rewrite(&mut p, Some(PCMU), &mut sender).unwrap();
            out.push(Header::parse(&p[..n]).unwrap());
            assert_eq!(&p[12..n], &[i as u8; 160]);
        }
        let got: Vec<(u32, u16, u32, bool)> = out
            .iter()
            .map(|h| (h.ssrc, h.sequence, h.timestamp, h.marker))
            .collect();
        assert_eq!(
            got,
            [
                (0xAB, 65535, 1000, true),
                (0xAB, 0, 1160, false),
                (0xAB, 1, 1320, false)
            ]
        );
        // Telephone-events are not echoed.
        let mut e = packet(101, 503, 90_480, 0x77, &[1, 0, 0, 160]);
        assert_eq!(echo.rewrite(&mut e, Some(PCMU), &mut sender), None);
        // Someone else wrote 10 packets to the stream (a play): the echo
        // goes on after them, marked.
        for _ in 0..10 {
            let mut x = [0u8; 12];
            let ts = sender.timestamp();
            sender.stamp(&mut x, false, 0, ts);
            sender.advance(160);
        }
        let mut p = packet(0, 504, 90_640, 0x77, &[9; 160]);
        let n = echo.rewrite(&mut p, Some(PCMU), &mut sender).unwrap();
        let h = Header::parse(&p[..n]).unwrap();
        assert_eq!((h.sequence, h.timestamp, h.marker), (12, 1480 + 1600, true));
    }

    #[test]
    fn csrcs_and_extensions_are_dropped_from_the_echo() {
        let mut sender = Sender::with_values(1, 1, 1);
        let mut p = packet(0, 1, 1, 2, &[]);
        p[0] |= 0x11; // one CSRC and an extension
        p.extend_from_slice(&[0, 0, 0, 9]); // CSRC
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // one-word extension
        p.extend_from_slice(&[0x55; 160]);
        let n = Echo::default().rewrite(&mut p, None, &mut sender).unwrap();
        assert_eq!(n, 12 + 160);
        let h = Header::parse(&p[..n]).unwrap();
        assert_eq!((h.payload, h.ssrc), ((12, 172), 1));
        assert!(p[12..n].iter().all(|&b| b == 0x55));
    }
}
