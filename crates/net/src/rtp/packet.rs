//! The RTP fixed header (RFC 3550 §5.1), read and written in place: just
//! what the relay needs to transcode, without copying the payload.

/// Length of the fixed header, without CSRCs or extension.
pub(crate) const HEADER_LEN: usize = 12;

/// The fields of a received RTP packet the relay acts on, and where its
/// payload lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// The payload's byte range in the datagram: after the CSRC list and
    /// the header extension, before the padding.
    pub payload: (usize, usize),
}

/// Why a datagram is not an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Shorter than the 12-byte fixed header.
    Short,
    /// Version field not 2.
    Version,
    /// The CSRC list or the header extension runs past the end.
    Truncated,
    /// The padding count is 0 or longer than what follows the header.
    Padding,
}

impl Header {
    /// Reads the header of `packet` (RFC 3550 §5.1): version 2, CSRC count,
    /// extension (§5.3.1: a 4-byte header then `length` 32-bit words),
    /// padding (its count in the last byte, which counts itself).
    pub(crate) fn parse(packet: &[u8]) -> Result<Header, Malformed> {
        if packet.len() < HEADER_LEN {
            return Err(Malformed::Short);
        }
        let first = packet[0];
        if first >> 6 != 2 {
            return Err(Malformed::Version);
        }
        let mut start = HEADER_LEN + 4 * usize::from(first & 0x0F);
        if first & 0x10 != 0 {
            let ext = packet.get(start..start + 4).ok_or(Malformed::Truncated)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        if start > packet.len() {
            return Err(Malformed::Truncated);
        }
        let mut end = packet.len();
        if first & 0x20 != 0 {
            let padding = usize::from(packet[end - 1]);
            if padding == 0 || padding > end - start {
                return Err(Malformed::Padding);
            }
            end -= padding;
        }
        Ok(Header {
            marker: packet[1] & 0x80 != 0,
            payload_type: packet[1] & 0x7F,
            sequence: u16::from_be_bytes([packet[2], packet[3]]),
            timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
            payload: (start, end),
        })
    }
}

/// Writes a fixed header without CSRCs, extension or padding into
/// `out[..12]`.
pub(crate) fn write_header(
    out: &mut [u8],
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
) {
    out[0] = 0x80;
    out[1] = (u8::from(marker) << 7) | (payload_type & 0x7F);
    out[2..4].copy_from_slice(&sequence.to_be_bytes());
    out[4..8].copy_from_slice(&timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csrcs_extension_and_padding() {
        let mut p = vec![0u8; HEADER_LEN];
        write_header(&mut p, true, 111, 0xBEEF, 0x0102_0304, 0xCAFE_F00D);
        assert_eq!(p[..2], [0x80, 0x80 | 111]);
        // Two CSRCs, an extension of one word, padding of 3.
        p[0] |= 0x20 | 0x10 | 2;
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]);
        p.extend_from_slice(b"abc");
        p.extend_from_slice(&[0, 0, 3]);
        let h = Header::parse(&p).unwrap();
        assert!(h.marker);
        assert_eq!(
            (h.payload_type, h.sequence, h.timestamp, h.ssrc),
            (111, 0xBEEF, 0x0102_0304, 0xCAFE_F00D)
        );
        assert_eq!(&p[h.payload.0..h.payload.1], b"abc");
    }

    #[test]
    fn refuses_what_is_not_rtp() {
        let ok = [0x80, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xFF];
        assert!(Header::parse(&ok).is_ok());
        assert_eq!(Header::parse(&ok[..3]), Err(Malformed::Short));
        let mut v1 = ok;
        v1[0] = 0x40;
        assert_eq!(Header::parse(&v1), Err(Malformed::Version));
        let mut csrcs = ok;
        csrcs[0] = 0x81;
        assert_eq!(Header::parse(&csrcs), Err(Malformed::Truncated));
        let mut ext = ok;
        ext[0] = 0x90;
        assert_eq!(Header::parse(&ext), Err(Malformed::Truncated));
        let mut pad = ok;
        pad[0] = 0xA0;
        assert_eq!(Header::parse(&pad), Err(Malformed::Padding));
        pad[12] = 1;
        assert_eq!(Header::parse(&pad).unwrap().payload, (12, 12));
        pad[12] = 0;
        assert_eq!(Header::parse(&pad), Err(Malformed::Padding));
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 0x1234_5678u32;
        for len in 0..200 {
            let p: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x | 0x80) as u8
                })
                .collect();
            if let Ok(h) = Header::parse(&p) {
                assert!(h.payload.0 <= h.payload.1 && h.payload.1 <= p.len());
            }
        }
    }
}
