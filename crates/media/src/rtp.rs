//! RTP packets (RFC 3550 §5): a zero-copy parsed view, a writer into a
//! caller-provided buffer, and the send-side sequence/timestamp state.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           synchronization source (SSRC) identifier            |
//! +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! |            contributing source (CSRC) identifiers             |
//! |                             ....                              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Parsing never allocates and never panics on wire input:
//!
//! ```
//! use media::rtp::{RtpHeader, RtpPacket};
//! let mut buf = Vec::new();
//! let header = RtpHeader { payload_type: 0, sequence_number: 7, timestamp: 160, ssrc: 0x1234, ..RtpHeader::default() };
//! header.write(&[0xff; 160], &mut buf).unwrap();
//! let packet = RtpPacket::parse(&buf).unwrap();
//! assert_eq!((packet.sequence_number(), packet.payload().len()), (7, 160));
//! ```

/// Length of the fixed RTP header (RFC 3550 §5.1), in bytes.
pub const RTP_HEADER_LEN: usize = 12;

/// The only RTP version in use (RFC 3550 §5.1, field `V`).
pub const RTP_VERSION: u8 = 2;

/// Most CSRCs one packet can list (4-bit `CC` field, RFC 3550 §5.1).
pub const MAX_CSRCS: usize = 15;

/// Why an RTP packet could not be parsed or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    #[error("RTP packet too short: {len} bytes, the fixed header needs 12")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// The `V` field is not 2.
    #[error("unsupported RTP version {0}")]
    BadVersion(u8),
    /// `CC` announces more CSRC identifiers than the packet holds.
    #[error("CSRC list truncated: {count} CSRCs announced, packet has {len} bytes")]
    CsrcListTruncated {
        /// The `CC` field.
        count: u8,
        /// Bytes received.
        len: usize,
    },
    /// The `X` bit is set but the header extension (RFC 3550 §5.3.1) does
    /// not fit in the packet.
    #[error("header extension truncated")]
    ExtensionTruncated,
    /// The `P` bit is set but the padding count (last octet) is zero or
    /// larger than what follows the header.
    #[error("invalid padding count {count}")]
    BadPadding {
        /// The last octet of the packet.
        count: u8,
    },
    /// Writing: payload type above 127 (it is a 7-bit field).
    #[error("payload type {0} does not fit in 7 bits")]
    PayloadTypeOutOfRange(u8),
    /// Writing: more than 15 CSRCs.
    #[error("{0} CSRCs, at most 15 fit")]
    TooManyCsrcs(usize),
    /// Writing: extension data is not a whole number of 32-bit words, or
    /// longer than 65535 words.
    #[error("header extension of {0} bytes is not a multiple of 4 up to 262140")]
    BadExtensionLength(usize),
}

/// A header extension (RFC 3550 §5.3.1): a 16-bit profile-defined value
/// and whole 32-bit words of data. RFC 8285 element parsing is left to the
/// caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// "defined by profile": 0xBEDE for RFC 8285 one-byte elements, 0x100x
    /// for two-byte elements.
    pub profile: u16,
    /// The extension body, a multiple of 4 bytes.
    pub data: &'a [u8],
}

/// A validated view of an RTP packet (RFC 3550 §5.1) borrowing the
/// received bytes; field accessors read the buffer directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    /// Start of the payload: after the fixed header, CSRCs and extension.
    payload_start: usize,
    /// End of the payload: before the padding.
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// Checks the version, the CSRC list, the header extension and the
    /// padding of `buf` (RFC 3550 §5.1, §5.3.1) and returns a view of it.
    pub fn parse(buf: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(RtpError::TooShort { len: buf.len() });
        }
        let version = buf[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let count = buf[0] & 0x0f;
        let mut start = RTP_HEADER_LEN + 4 * count as usize;
        if buf.len() < start {
            return Err(RtpError::CsrcListTruncated {
                count,
                len: buf.len(),
            });
        }
        if buf[0] & 0x10 != 0 {
            let words = buf
                .get(start + 2..start + 4)
                .ok_or(RtpError::ExtensionTruncated)?;
            start += 4 + 4 * u16::from_be_bytes([words[0], words[1]]) as usize;
            if buf.len() < start {
                return Err(RtpError::ExtensionTruncated);
            }
        }
        let mut end = buf.len();
        if buf[0] & 0x20 != 0 {
            let count = buf[end - 1];
            if count == 0 || count as usize > end - start {
                return Err(RtpError::BadPadding { count });
            }
            end -= count as usize;
        }
        Ok(RtpPacket {
            buf,
            payload_start: start,
            payload_end: end,
        })
    }

    /// The `P` bit: the packet ends with padding octets.
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// Number of padding octets at the end (0 without the `P` bit).
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.payload_end
    }

    /// The `M` bit: for audio, the first packet of a talkspurt (RFC 3551
    /// §4.1) or of a DTMF event (RFC 4733 §2.5.1.3).
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The 7-bit payload type (RFC 3551 §6, or dynamic 96–127 from SDP).
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }

    /// The 16-bit sequence number.
    pub fn sequence_number(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// The timestamp, in units of the payload's clock rate.
    pub fn timestamp(&self) -> u32 {
        be32(self.buf, 4)
    }

    /// The synchronization source.
    pub fn ssrc(&self) -> u32 {
        be32(self.buf, 8)
    }

    /// Number of contributing sources (`CC`).
    pub fn csrc_count(&self) -> usize {
        (self.buf[0] & 0x0f) as usize
    }

    /// The contributing sources, in packet order.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let buf = self.buf;
        (0..self.csrc_count()).map(move |i| be32(buf, RTP_HEADER_LEN + 4 * i))
    }

    /// The header extension, if the `X` bit is set.
    pub fn extension(&self) -> Option<RtpExtension<'a>> {
        if self.buf[0] & 0x10 == 0 {
            return None;
        }
        let at = RTP_HEADER_LEN + 4 * self.csrc_count();
        Some(RtpExtension {
            profile: u16::from_be_bytes([self.buf[at], self.buf[at + 1]]),
            data: &self.buf[at + 4..self.payload_start],
        })
    }

    /// The payload, without header, extension and padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.payload_start..self.payload_end]
    }

    /// The whole packet as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// The header fields of a packet to send; [`RtpHeader::write`] serializes
/// them with a payload. Version is always 2; no padding is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader<'a> {
    /// The `M` bit.
    pub marker: bool,
    /// 0–127.
    pub payload_type: u8,
    /// The sequence number.
    pub sequence_number: u16,
    /// The timestamp, in units of the payload's clock rate.
    pub timestamp: u32,
    /// The synchronization source.
    pub ssrc: u32,
    /// At most 15 contributing sources (a mixer's inputs, RFC 3550 §7.1).
    pub csrcs: &'a [u32],
    /// An optional header extension; its data must be whole 32-bit words.
    pub extension: Option<RtpExtension<'a>>,
}

impl RtpHeader<'_> {
    /// Bytes the header takes on the wire (fixed part, CSRCs, extension).
    pub fn len(&self) -> usize {
        RTP_HEADER_LEN + 4 * self.csrcs.len() + self.extension.map_or(0, |e| 4 + e.data.len())
    }

    /// Never true: a header has at least 12 bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends the header and `payload` to `out` (RFC 3550 §5.1) and returns
    /// the number of bytes appended. `out` is not cleared, so a reused
    /// buffer only allocates when it grows.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<usize, RtpError> {
        if self.payload_type > 127 {
            return Err(RtpError::PayloadTypeOutOfRange(self.payload_type));
        }
        if self.csrcs.len() > MAX_CSRCS {
            return Err(RtpError::TooManyCsrcs(self.csrcs.len()));
        }
        if let Some(ext) = self.extension {
            if ext.data.len() % 4 != 0 || ext.data.len() / 4 > u16::MAX as usize {
                return Err(RtpError::BadExtensionLength(ext.data.len()));
            }
        }
        let total = self.len() + payload.len();
        out.reserve(total);
        let x = if self.extension.is_some() { 0x10 } else { 0 };
        out.push((RTP_VERSION << 6) | x | self.csrcs.len() as u8);
        out.push((u8::from(self.marker) << 7) | self.payload_type);
        out.extend_from_slice(&self.sequence_number.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        for csrc in self.csrcs {
            out.extend_from_slice(&csrc.to_be_bytes());
        }
        if let Some(ext) = self.extension {
            out.extend_from_slice(&ext.profile.to_be_bytes());
            out.extend_from_slice(&((ext.data.len() / 4) as u16).to_be_bytes());
            out.extend_from_slice(ext.data);
        }
        out.extend_from_slice(payload);
        Ok(total)
    }
}

/// Send-side state of one RTP stream (RFC 3550 §5.1): SSRC, the next
/// sequence number, the media clock, and the marker bit that opens each
/// talkspurt (RFC 3551 §4.1).
///
/// The initial sequence number and timestamp should be random (RFC 3550
/// §5.1); the caller supplies them so that this type stays deterministic.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    payload_type: u8,
    sequence_number: u16,
    timestamp: u32,
    marker_pending: bool,
}

impl RtpSender {
    /// A stream that will send its first packet with `initial_sequence`,
    /// `initial_timestamp` and the marker bit set.
    pub fn new(ssrc: u32, payload_type: u8, initial_sequence: u16, initial_timestamp: u32) -> Self {
        RtpSender {
            ssrc,
            payload_type,
            sequence_number: initial_sequence,
            timestamp: initial_timestamp,
            marker_pending: true,
        }
    }

    /// The synchronization source.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Sequence number the next packet will carry.
    pub fn sequence_number(&self) -> u16 {
        self.sequence_number
    }

    /// Media timestamp of the next frame (the start of an RFC 4733 event
    /// that begins now).
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Changes the payload type of later audio packets (a re-INVITE picked
    /// another codec with the same clock rate).
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type;
    }

    /// Appends a packet carrying one audio frame of `samples` clock ticks,
    /// then advances the sequence number by one and the timestamp by
    /// `samples`. The marker is set on the first packet and on the first
    /// one after [`RtpSender::skip`]. Returns the bytes appended.
    pub fn write_frame(
        &mut self,
        samples: u32,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, RtpError> {
        let n = self
            .header(self.payload_type, self.timestamp, self.marker_pending)
            .write(payload, out)?;
        self.marker_pending = false;
        self.sequence_number = self.sequence_number.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        Ok(n)
    }

    /// Lets `samples` clock ticks pass without sending (silence
    /// suppression, hold, or time taken by an event): the media clock
    /// advances, the sequence number does not (RFC 3550 §5.1), and the next
    /// audio packet opens a new talkspurt with the marker bit.
    pub fn skip(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.marker_pending = true;
    }

    /// Appends an event packet (RFC 4733 §2.3): it takes the next sequence
    /// number but carries `event_timestamp`, the start of the event, which
    /// every packet of one event repeats; `marker` is for the first packet
    /// of the event (RFC 4733 §2.5.1.3). The audio clock is not advanced:
    /// call [`RtpSender::skip`] with the event's duration when audio
    /// resumes.
    pub fn write_event(
        &mut self,
        payload_type: u8,
        event_timestamp: u32,
        marker: bool,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, RtpError> {
        let n = self
            .header(payload_type, event_timestamp, marker)
            .write(payload, out)?;
        self.sequence_number = self.sequence_number.wrapping_add(1);
        Ok(n)
    }

    fn header(&self, payload_type: u8, timestamp: u32, marker: bool) -> RtpHeader<'static> {
        RtpHeader {
            marker,
            payload_type,
            sequence_number: self.sequence_number,
            timestamp,
            ssrc: self.ssrc,
            csrcs: &[],
            extension: None,
        }
    }
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3550 §5.1 layout written out by hand: V=2, P=1, X=1, CC=2, M=1,
    /// PT=96, seq 0xABCD, ts 0x01020304, SSRC 0xDEADBEEF, two CSRCs, a
    /// one-word extension with profile 0xBEDE, 3 payload bytes, 2 padding.
    fn hand_built() -> Vec<u8> {
        vec![
            0b1011_0010,
            0b1110_0000,
            0xAB,
            0xCD, // V P X CC | M PT | seq
            0x01,
            0x02,
            0x03,
            0x04, // timestamp
            0xDE,
            0xAD,
            0xBE,
            0xEF, // SSRC
            0x00,
            0x00,
            0x00,
            0x11, // CSRC 1
            0x00,
            0x00,
            0x00,
            0x22, // CSRC 2
            0xBE,
            0xDE,
            0x00,
            0x01, // extension profile, length 1 word
            0x10,
            0xAA,
            0x00,
            0x00, // extension data
            0x61,
            0x62,
            0x63, // payload "abc"
            0x00,
            0x02, // padding, count 2
        ]
    }

    #[test]
    fn parses_every_field_of_a_hand_built_packet() {
        let bytes = hand_built();
        let p = RtpPacket::parse(&bytes).unwrap();
        assert!(p.has_padding());
        assert_eq!(p.padding_len(), 2);
        assert!(p.marker());
        assert_eq!(p.payload_type(), 96);
        assert_eq!(p.sequence_number(), 0xABCD);
        assert_eq!(p.timestamp(), 0x0102_0304);
        assert_eq!(p.ssrc(), 0xDEAD_BEEF);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![0x11, 0x22]);
        let ext = p.extension().unwrap();
        assert_eq!(ext.profile, 0xBEDE);
        assert_eq!(ext.data, &[0x10, 0xAA, 0, 0]);
        assert_eq!(p.payload(), b"abc");
    }

    #[test]
    fn writes_the_rfc_layout_byte_for_byte() {
        let csrcs = [0x11, 0x22];
        let header = RtpHeader {
            marker: true,
            payload_type: 96,
            sequence_number: 0xABCD,
            timestamp: 0x0102_0304,
            ssrc: 0xDEAD_BEEF,
            csrcs: &csrcs,
            extension: Some(RtpExtension {
                profile: 0xBEDE,
                data: &[0x10, 0xAA, 0, 0],
            }),
        };
        let mut out = vec![0x55]; // existing content is kept
        let n = header.write(b"abc", &mut out).unwrap();
        let mut expected = hand_built();
        expected.truncate(expected.len() - 2); // we write no padding
        expected[0] &= !0x20;
        assert_eq!(n, expected.len());
        assert_eq!(out[0], 0x55);
        assert_eq!(&out[1..], &expected[..]);
        assert_eq!(header.len(), 28);
    }

    #[test]
    fn minimal_packet_round_trips() {
        let header = RtpHeader {
            payload_type: 8,
            sequence_number: 65535,
            timestamp: u32::MAX,
            ssrc: 1,
            ..RtpHeader::default()
        };
        let mut out = Vec::new();
        header.write(&[0xD5; 160], &mut out).unwrap();
        assert_eq!(
            &out[..12],
            &[0x80, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1]
        );
        let p = RtpPacket::parse(&out).unwrap();
        assert!(!p.marker() && !p.has_padding() && p.extension().is_none());
        assert_eq!(p.csrcs().len(), 0);
        assert_eq!(p.payload(), &[0xD5; 160][..]);
        assert_eq!(p.as_bytes(), &out[..]);
    }

    #[test]
    fn rejects_truncated_and_garbage_packets_with_specific_errors() {
        let good = hand_built();
        assert_eq!(
            RtpPacket::parse(&good[..11]),
            Err(RtpError::TooShort { len: 11 })
        );
        assert_eq!(RtpPacket::parse(&[]), Err(RtpError::TooShort { len: 0 }));
        let mut v1 = good.clone();
        v1[0] = 0x40 | (v1[0] & 0x3f);
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion(1)));
        assert_eq!(
            RtpPacket::parse(&good[..16]),
            Err(RtpError::CsrcListTruncated { count: 2, len: 16 })
        );
        // Extension header cut, then extension body cut.
        assert_eq!(
            RtpPacket::parse(&good[..22]),
            Err(RtpError::ExtensionTruncated)
        );
        let mut no_pad = good[..27].to_vec();
        no_pad[0] &= !0x20;
        assert_eq!(RtpPacket::parse(&no_pad), Err(RtpError::ExtensionTruncated));
        // Padding count 0, and padding longer than the payload area.
        let mut zero_pad = good.clone();
        *zero_pad.last_mut().unwrap() = 0;
        assert_eq!(
            RtpPacket::parse(&zero_pad),
            Err(RtpError::BadPadding { count: 0 })
        );
        let mut long_pad = good.clone();
        *long_pad.last_mut().unwrap() = 6;
        assert_eq!(
            RtpPacket::parse(&long_pad),
            Err(RtpError::BadPadding { count: 6 })
        );
        // Padding exactly eating the payload is fine.
        *long_pad.last_mut().unwrap() = 5;
        assert_eq!(RtpPacket::parse(&long_pad).unwrap().payload(), b"");
    }

    #[test]
    fn garbage_never_panics() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(7);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let len = rng.gen_range(0..64);
            let mut buf: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if let Some(b) = buf.first_mut() {
                *b = 0x80 | (*b & 0x3f);
            }
            if let Ok(p) = RtpPacket::parse(&buf) {
                parsed += 1;
                let _ = (p.payload(), p.extension(), p.csrcs().count());
                assert!(p.payload().len() + p.padding_len() <= buf.len() - RTP_HEADER_LEN);
            }
        }
        assert!(
            parsed > 1000,
            "the fuzz input should hit valid packets too ({parsed})"
        );
    }

    #[test]
    fn write_rejects_values_that_do_not_fit() {
        let mut out = Vec::new();
        let csrcs = [0u32; 16];
        let bad = [
            (
                RtpHeader {
                    payload_type: 128,
                    ..RtpHeader::default()
                },
                RtpError::PayloadTypeOutOfRange(128),
            ),
            (
                RtpHeader {
                    csrcs: &csrcs,
                    ..RtpHeader::default()
                },
                RtpError::TooManyCsrcs(16),
            ),
            (
                RtpHeader {
                    extension: Some(RtpExtension {
                        profile: 1,
                        data: &[1, 2, 3],
                    }),
                    ..RtpHeader::default()
                },
                RtpError::BadExtensionLength(3),
            ),
        ];
        for (header, err) in bad {
            assert_eq!(header.write(b"", &mut out), Err(err));
        }
        assert!(out.is_empty(), "nothing is written on error");
    }

    #[test]
    fn sender_advances_per_frame_and_marks_talkspurts() {
        fn fields(buf: &[u8]) -> (u16, u32, bool, u8) {
            let p = RtpPacket::parse(buf).unwrap();
            (
                p.sequence_number(),
                p.timestamp(),
                p.marker(),
                p.payload_type(),
            )
        }
        let mut tx = RtpSender::new(0xCAFE, 0, 65534, u32::MAX - 159);
        let mut buf = Vec::new();
        let mut sent = Vec::new();
        for step in 0..6 {
            buf.clear();
            match step {
                0 | 1 => tx.write_frame(160, &[0; 160], &mut buf),
                2 => {
                    tx.skip(480); // 60 ms of suppressed silence
                    tx.write_frame(160, &[0; 160], &mut buf)
                }
                // An RFC 4733 event starting now: its packets share its timestamp.
                3 => tx.write_event(101, tx.timestamp(), true, &[1, 0, 0, 160], &mut buf),
                4 => tx.write_event(101, 800, false, &[1, 0, 1, 64], &mut buf),
                _ => {
                    tx.skip(320);
                    tx.write_frame(160, &[0; 160], &mut buf)
                }
            }
            .unwrap();
            sent.push(fields(&buf));
        }
        assert_eq!(
            sent,
            vec![
                (65534, u32::MAX - 159, true, 0),
                (65535, 0, false, 0),
                (0, 640, true, 0),
                (1, 800, true, 101),
                (2, 800, false, 101),
                (3, 1120, true, 0),
            ]
        );
        assert_eq!(tx.ssrc(), 0xCAFE);
        assert_eq!(tx.sequence_number(), 4);
    }
}
