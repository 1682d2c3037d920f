//! RTCP (RFC 3550 §6): compound packet parsing with the §A.2 validity
//! checks, zero-copy views of SR, RR, SDES and BYE, writers for them, and
//! NTP timestamp helpers.
//!
//! Parsing validates the whole compound packet first; iterating over it
//! afterwards cannot fail:
//!
//! ```
//! use media::rtcp::{self, RtcpCompound, RtcpPacket};
//! let mut buf = Vec::new();
//! rtcp::write_receiver_report(&mut buf, 0x1111, &[]).unwrap();
//! rtcp::write_sdes_cname(&mut buf, 0x1111, b"leg-7@dialtone").unwrap();
//! let compound = RtcpCompound::parse(&buf).unwrap();
//! for packet in compound.packets() {
//!     if let RtcpPacket::SourceDescription(sdes) = packet {
//!         assert_eq!(sdes.chunks().next().unwrap().cname(), Some(&b"leg-7@dialtone"[..]));
//!     }
//! }
//! ```
//!
//! Packet types this module does not interpret (APP, RTPFB, PSFB, XR, ...)
//! are skipped over and offered as [`RtcpPacket::Other`]. Reduced-size RTCP
//! (RFC 5506, a datagram that does not start with SR/RR) is rejected by
//! [`RtcpCompound::parse`] and taken by [`RtcpCompound::parse_reduced_size`].

use std::time::Duration;

/// Sender report (RFC 3550 §6.4.1).
pub const PT_SR: u8 = 200;
/// Receiver report (RFC 3550 §6.4.2).
pub const PT_RR: u8 = 201;
/// Source description (RFC 3550 §6.5).
pub const PT_SDES: u8 = 202;
/// Goodbye (RFC 3550 §6.6).
pub const PT_BYE: u8 = 203;
/// Application-defined (RFC 3550 §6.7), skipped.
pub const PT_APP: u8 = 204;
/// Transport-layer feedback (RFC 4585 §6.1), skipped.
pub const PT_RTPFB: u8 = 205;
/// Payload-specific feedback (RFC 4585 §6.1), skipped.
pub const PT_PSFB: u8 = 206;

/// SDES item type CNAME (RFC 3550 §6.5.1).
pub const SDES_CNAME: u8 = 1;

/// Most report blocks one SR or RR can carry (5-bit `RC` field).
pub const MAX_REPORT_BLOCKS: usize = 31;

/// Bytes of one report block (RFC 3550 §6.4.1).
pub const REPORT_BLOCK_LEN: usize = 24;

/// True if a datagram on a multiplexed RTP/RTCP port is RTCP: its second
/// octet (the RTCP packet type) is in 192–223 (RFC 5761 §4).
pub fn looks_like_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && (192..=223).contains(&datagram[1])
}

/// Why a compound RTCP packet was rejected or could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// Fewer than 4 bytes where a packet header should start (at `offset`).
    #[error("RTCP truncated at offset {offset}: a packet header needs 4 bytes")]
    TooShort {
        /// Where the header should have started.
        offset: usize,
    },
    /// A packet's `V` field is not 2.
    #[error("unsupported RTCP version {0}")]
    BadVersion(u8),
    /// The compound does not start with SR or RR (RFC 3550 §6.1, §A.2).
    #[error("compound RTCP starts with packet type {0}, not SR or RR")]
    FirstPacketNotReport(u8),
    /// A packet's length field runs past the end of the datagram (the
    /// lengths do not add up to the datagram's length, §A.2).
    #[error("RTCP packet at offset {offset} claims {len} bytes, only {available} remain")]
    LengthMismatch {
        /// Start of the packet.
        offset: usize,
        /// Bytes its length field announces.
        len: usize,
        /// Bytes left in the datagram.
        available: usize,
    },
    /// The padding bit is set on the first packet or on one that is not the
    /// last (§A.2), or the padding count is 0 or too large.
    #[error("invalid RTCP padding at offset {offset}")]
    BadPadding {
        /// Start of the packet.
        offset: usize,
    },
    /// An SR or RR is shorter than its report count requires.
    #[error("report packet announces {count} report blocks but is {len} bytes")]
    ReportBlocksTruncated {
        /// The `RC` field.
        count: u8,
        /// Packet length in bytes.
        len: usize,
    },
    /// An SDES chunk or item does not fit, or a chunk is not terminated.
    #[error("malformed SDES packet")]
    BadSdes,
    /// A BYE's SSRC list or reason does not fit.
    #[error("malformed BYE packet")]
    BadBye,
    /// Writing: more than 31 report blocks or BYE sources.
    #[error("{0} entries, a 5-bit count allows 31")]
    TooManyEntries(usize),
    /// Writing: an SDES item or BYE reason longer than 255 bytes.
    #[error("text of {0} bytes, at most 255 fit")]
    TextTooLong(usize),
}

/// A 64-bit NTP timestamp (RFC 5905 §6, used by RFC 3550 §4): seconds since
/// 1900-01-01 in the upper 32 bits, the binary fraction of a second in the
/// lower 32. Built from a duration the caller measured, never from the
/// system clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
    pub const UNIX_EPOCH_OFFSET_SECS: u64 = 2_208_988_800;

    /// The NTP time of an instant given as a duration since 1900-01-01.
    pub fn from_duration(since_1900: Duration) -> NtpTime {
        let fraction = ((since_1900.subsec_nanos() as u64) << 32) / 1_000_000_000;
        NtpTime((since_1900.as_secs() << 32) | fraction)
    }

    /// The NTP time of an instant given as a duration since the Unix epoch
    /// (the wall clock, read by the I/O layer that calls this).
    pub fn from_unix(since_1970: Duration) -> NtpTime {
        Self::from_duration(since_1970 + Duration::from_secs(Self::UNIX_EPOCH_OFFSET_SECS))
    }

    /// The time as a duration since 1900-01-01 (rounded down to the
    /// nanosecond).
    pub fn to_duration(self) -> Duration {
        let nanos = ((self.0 & 0xffff_ffff) * 1_000_000_000) >> 32;
        Duration::new(self.0 >> 32, nanos as u32)
    }

    /// The middle 32 bits (16.16 fixed-point seconds): the form LSR and the
    /// RTT computation use (RFC 3550 §6.4.1).
    pub fn compact(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

impl std::ops::Add<Duration> for NtpTime {
    type Output = NtpTime;

    /// This time plus `d` (wrapping at the NTP era boundary in 2036).
    fn add(self, d: Duration) -> NtpTime {
        NtpTime(self.0.wrapping_add(Self::from_duration(d).0))
    }
}

/// A duration in 1/65536 s units (the DLSR field, RFC 3550 §6.4.1),
/// rounded down, saturating at about 18 hours.
pub fn duration_to_compact(d: Duration) -> u32 {
    let units = (d.as_secs() << 16) | (((d.subsec_nanos() as u64) << 16) / 1_000_000_000);
    units.min(u32::MAX as u64) as u32
}

/// A 16.16 fixed-point number of seconds (LSR, DLSR, RTT) as a duration.
pub fn compact_to_duration(c: u32) -> Duration {
    Duration::from_nanos((c as u64 * 1_000_000_000) >> 16)
}

/// One reception report block (RFC 3550 §6.4.1): what a receiver says
/// about one source it hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on (SSRC_n).
    pub ssrc: u32,
    /// Packets lost since the previous report, as a fraction of 256.
    pub fraction_lost: u8,
    /// Packets lost since reception began, a 24-bit signed value (negative
    /// when duplicates outnumber losses); written clamped to ±2^23.
    pub cumulative_lost: i32,
    /// Cycles (high 16 bits) and highest sequence number received.
    pub extended_highest_sequence: u32,
    /// Interarrival jitter (§6.4.1, §A.8), in timestamp units.
    pub jitter: u32,
    /// LSR: the middle 32 bits of the NTP time of the last SR received from
    /// this source, 0 if none.
    pub last_sender_report: u32,
    /// DLSR: time between receiving that SR and sending this block, in
    /// 1/65536 s, 0 if none.
    pub delay_since_last_sender_report: u32,
}

impl ReportBlock {
    /// Reads a block from 24 bytes.
    fn read(b: &[u8]) -> ReportBlock {
        let lost = be32(b, 4);
        ReportBlock {
            ssrc: be32(b, 0),
            fraction_lost: (lost >> 24) as u8,
            // Sign-extend the 24-bit field.
            cumulative_lost: ((lost << 8) as i32) >> 8,
            extended_highest_sequence: be32(b, 8),
            jitter: be32(b, 12),
            last_sender_report: be32(b, 16),
            delay_since_last_sender_report: be32(b, 20),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0xff_ffff;
        for word in [
            self.ssrc,
            ((self.fraction_lost as u32) << 24) | lost,
            self.extended_highest_sequence,
            self.jitter,
            self.last_sender_report,
            self.delay_since_last_sender_report,
        ] {
            out.extend_from_slice(&word.to_be_bytes());
        }
    }
}

/// The sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wallclock time when the report was sent.
    pub ntp_time: NtpTime,
    /// The same instant on the stream's media clock.
    pub rtp_timestamp: u32,
    /// RTP packets sent since the stream started (wraps).
    pub packet_count: u32,
    /// Payload octets sent since the stream started (wraps).
    pub octet_count: u32,
}

/// A validated compound RTCP packet (RFC 3550 §6.1): the datagram passed
/// the §A.2 checks and every packet in it is well formed (or, from
/// [`RtcpCompound::parse_reduced_size`], a reduced-size RTCP datagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpCompound<'a> {
    buf: &'a [u8],
}

impl<'a> RtcpCompound<'a> {
    /// Validates `buf` as a compound packet: version 2 throughout, SR or RR
    /// first, padding only on the last packet, lengths that add up to the
    /// datagram's, and well-formed SR, RR, SDES and BYE bodies.
    pub fn parse(buf: &'a [u8]) -> Result<RtcpCompound<'a>, RtcpError> {
        Self::parse_checked(buf, true)
    }

    /// As [`RtcpCompound::parse`], but also takes a datagram whose first
    /// packet is not a report, such as a lone APP or feedback packet:
    /// reduced-size RTCP (RFC 5506 §3), which some peers send without
    /// negotiating it (baresip's libre sends a lone APP "PING" as a NAT
    /// keep-alive). Every packet must still be well formed, and padding is
    /// only allowed on the last.
    pub fn parse_reduced_size(buf: &'a [u8]) -> Result<RtcpCompound<'a>, RtcpError> {
        Self::parse_checked(buf, false)
    }

    fn parse_checked(buf: &'a [u8], compound: bool) -> Result<RtcpCompound<'a>, RtcpError> {
        let mut offset = 0;
        while offset < buf.len() || offset == 0 {
            let (packet, len) = parse_packet(buf, offset)?;
            if offset == 0 && compound {
                let pt = buf[1];
                if !matches!(
                    packet,
                    RtcpPacket::SenderReport(_) | RtcpPacket::ReceiverReport(_)
                ) {
                    return Err(RtcpError::FirstPacketNotReport(pt));
                }
                if buf[0] & 0x20 != 0 {
                    return Err(RtcpError::BadPadding { offset: 0 });
                }
            }
            offset += len;
        }
        Ok(RtcpCompound { buf })
    }

    /// The packets in order.
    pub fn packets(&self) -> RtcpPackets<'a> {
        RtcpPackets {
            buf: self.buf,
            offset: 0,
        }
    }

    /// The datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// Iterator over the packets of an [`RtcpCompound`].
#[derive(Debug, Clone)]
pub struct RtcpPackets<'a> {
    buf: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for RtcpPackets<'a> {
    type Item = RtcpPacket<'a>;

    fn next(&mut self) -> Option<RtcpPacket<'a>> {
        if self.offset >= self.buf.len() {
            return None;
        }
        // The compound was validated, so this cannot fail; stop if it did.
        let (packet, len) = parse_packet(self.buf, self.offset).ok()?;
        self.offset += len;
        Some(packet)
    }
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// SR (PT 200).
    SenderReport(SenderReport<'a>),
    /// RR (PT 201).
    ReceiverReport(ReceiverReport<'a>),
    /// SDES (PT 202).
    SourceDescription(SourceDescription<'a>),
    /// BYE (PT 203).
    Bye(Bye<'a>),
    /// Any other type (APP, RTPFB, PSFB, XR, ...), not interpreted.
    Other(OtherPacket<'a>),
}

/// A sender report (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Its NTP and RTP timestamps and send counters.
    pub info: SenderInfo,
    blocks: &'a [u8],
}

impl<'a> SenderReport<'a> {
    /// The report blocks (RFC 3550 §6.4.1), what this sender receives.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks(self.blocks.chunks_exact(REPORT_BLOCK_LEN))
    }
}

/// A receiver report (RFC 3550 §6.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    /// The reporter's SSRC.
    pub ssrc: u32,
    blocks: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    /// The report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks(self.blocks.chunks_exact(REPORT_BLOCK_LEN))
    }
}

/// Iterator over the report blocks of an SR or RR.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a>(std::slice::ChunksExact<'a, u8>);

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        self.0.next().map(ReportBlock::read)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}

/// A source description packet (RFC 3550 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDescription<'a> {
    count: u8,
    body: &'a [u8],
}

impl<'a> SourceDescription<'a> {
    /// The chunks, one per source.
    pub fn chunks(&self) -> SdesChunks<'a> {
        SdesChunks {
            body: self.body,
            pos: 0,
            left: self.count,
        }
    }
}

/// Iterator over SDES chunks.
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    body: &'a [u8],
    pos: usize,
    left: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;

    fn next(&mut self) -> Option<SdesChunk<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (chunk, next) = sdes_chunk(self.body, self.pos).ok()?;
        self.pos = next;
        Some(chunk)
    }
}

/// One SDES chunk: a source and its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The source described (SSRC or CSRC).
    pub ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The items, in packet order.
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems(self.items)
    }

    /// The CNAME item's value (RFC 3550 §6.5.1), if present.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items().find(|i| i.kind == SDES_CNAME).map(|i| i.value)
    }
}

/// One SDES item (RFC 3550 §6.5): type and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// Item type: 1 CNAME, 2 NAME, 3 EMAIL, 4 PHONE, 5 LOC, 6 TOOL, 7 NOTE,
    /// 8 PRIV.
    pub kind: u8,
    /// The text (UTF-8 by RFC 3550, not checked here), at most 255 bytes.
    pub value: &'a [u8],
}

/// Iterator over the items of an SDES chunk.
#[derive(Debug, Clone)]
pub struct SdesItems<'a>(&'a [u8]);

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<SdesItem<'a>> {
        let (&kind, rest) = self.0.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let value = rest.get(..len as usize)?;
        self.0 = &rest[len as usize..];
        Some(SdesItem { kind, value })
    }
}

/// A goodbye packet (RFC 3550 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    ssrcs: &'a [u8],
    /// The reason for leaving, if given.
    pub reason: Option<&'a [u8]>,
}

impl<'a> Bye<'a> {
    /// The sources leaving.
    pub fn ssrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.ssrcs.chunks_exact(4).map(|w| be32(w, 0))
    }
}

/// A packet of a type this module does not interpret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherPacket<'a> {
    /// The packet type (e.g. 204 APP, 205 RTPFB, 206 PSFB, 207 XR).
    pub packet_type: u8,
    /// The 5-bit field after `P` (a count or a feedback message type).
    pub count: u8,
    /// The bytes after the 4-byte header, without padding.
    pub body: &'a [u8],
}

/// Appends a sender report (RFC 3550 §6.4.1) and returns its length.
pub fn write_sender_report(
    out: &mut Vec<u8>,
    ssrc: u32,
    info: &SenderInfo,
    blocks: &[ReportBlock],
) -> Result<usize, RtcpError> {
    if blocks.len() > MAX_REPORT_BLOCKS {
        return Err(RtcpError::TooManyEntries(blocks.len()));
    }
    let len = 28 + REPORT_BLOCK_LEN * blocks.len();
    write_header(out, blocks.len() as u8, PT_SR, len);
    for word in [
        ssrc,
        (info.ntp_time.0 >> 32) as u32,
        info.ntp_time.0 as u32,
        info.rtp_timestamp,
        info.packet_count,
        info.octet_count,
    ] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    for block in blocks {
        block.write(out);
    }
    Ok(len)
}

/// Appends a receiver report (RFC 3550 §6.4.2) and returns its length. An
/// RR with no blocks is what a participant that neither sends nor receives
/// puts first in its compound packet.
pub fn write_receiver_report(
    out: &mut Vec<u8>,
    ssrc: u32,
    blocks: &[ReportBlock],
) -> Result<usize, RtcpError> {
    if blocks.len() > MAX_REPORT_BLOCKS {
        return Err(RtcpError::TooManyEntries(blocks.len()));
    }
    let len = 8 + REPORT_BLOCK_LEN * blocks.len();
    write_header(out, blocks.len() as u8, PT_RR, len);
    out.extend_from_slice(&ssrc.to_be_bytes());
    for block in blocks {
        block.write(out);
    }
    Ok(len)
}

/// Appends an SDES packet with one chunk describing `ssrc` (RFC 3550 §6.5)
/// and returns its length.
pub fn write_sdes(
    out: &mut Vec<u8>,
    ssrc: u32,
    items: &[SdesItem<'_>],
) -> Result<usize, RtcpError> {
    if let Some(long) = items.iter().find(|i| i.value.len() > 255) {
        return Err(RtcpError::TextTooLong(long.value.len()));
    }
    let items_len: usize = items.iter().map(|i| 2 + i.value.len()).sum();
    // SSRC, items, then at least one null octet, padded to 32 bits.
    let len = 4 + (4 + items_len + 1).div_ceil(4) * 4;
    write_header(out, 1, PT_SDES, len);
    let end = out.len() - 4 + len;
    out.extend_from_slice(&ssrc.to_be_bytes());
    for item in items {
        out.push(item.kind);
        out.push(item.value.len() as u8);
        out.extend_from_slice(item.value);
    }
    out.resize(end, 0);
    Ok(len)
}

/// Appends an SDES packet carrying only the CNAME of `ssrc` (RFC 3550
/// §6.5.1), which every compound packet must include.
pub fn write_sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &[u8]) -> Result<usize, RtcpError> {
    write_sdes(
        out,
        ssrc,
        &[SdesItem {
            kind: SDES_CNAME,
            value: cname,
        }],
    )
}

/// Appends a BYE for `ssrcs` with an optional reason (RFC 3550 §6.6) and
/// returns its length.
pub fn write_bye(
    out: &mut Vec<u8>,
    ssrcs: &[u32],
    reason: Option<&[u8]>,
) -> Result<usize, RtcpError> {
    if ssrcs.len() > MAX_REPORT_BLOCKS {
        return Err(RtcpError::TooManyEntries(ssrcs.len()));
    }
    let reason_len = match reason {
        Some(r) if r.len() > 255 => return Err(RtcpError::TextTooLong(r.len())),
        Some(r) => (1 + r.len()).div_ceil(4) * 4,
        None => 0,
    };
    let len = 4 + 4 * ssrcs.len() + reason_len;
    write_header(out, ssrcs.len() as u8, PT_BYE, len);
    let end = out.len() - 4 + len;
    for ssrc in ssrcs {
        out.extend_from_slice(&ssrc.to_be_bytes());
    }
    if let Some(r) = reason {
        out.push(r.len() as u8);
        out.extend_from_slice(r);
    }
    out.resize(end, 0);
    Ok(len)
}

/// The common header: V=2, P=0, count, type, length in words minus one.
fn write_header(out: &mut Vec<u8>, count: u8, packet_type: u8, len: usize) {
    out.reserve(len);
    out.push((2 << 6) | count);
    out.push(packet_type);
    out.extend_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
}

/// Parses and checks the packet at `offset`; returns it and its length.
fn parse_packet(buf: &[u8], offset: usize) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    let rest = &buf[offset.min(buf.len())..];
    if rest.len() < 4 {
        return Err(RtcpError::TooShort { offset });
    }
    let version = rest[0] >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion(version));
    }
    let count = rest[0] & 0x1f;
    let packet_type = rest[1];
    let len = 4 * (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1);
    if len > rest.len() {
        return Err(RtcpError::LengthMismatch {
            offset,
            len,
            available: rest.len(),
        });
    }
    let mut body = &rest[4..len];
    if rest[0] & 0x20 != 0 {
        // Padding is only allowed on the last packet (§A.2).
        let pad = rest[len - 1] as usize;
        if len != rest.len() || pad == 0 || pad > body.len() {
            return Err(RtcpError::BadPadding { offset });
        }
        body = &body[..body.len() - pad];
    }
    let blocks_len = REPORT_BLOCK_LEN * count as usize;
    let truncated = RtcpError::ReportBlocksTruncated { count, len };
    let packet = match packet_type {
        PT_SR => {
            let blocks = body.get(24..24 + blocks_len).ok_or(truncated)?;
            RtcpPacket::SenderReport(SenderReport {
                ssrc: be32(body, 0),
                info: SenderInfo {
                    ntp_time: NtpTime(((be32(body, 4) as u64) << 32) | be32(body, 8) as u64),
                    rtp_timestamp: be32(body, 12),
                    packet_count: be32(body, 16),
                    octet_count: be32(body, 20),
                },
                blocks,
            })
        }
        PT_RR => {
            let blocks = body.get(4..4 + blocks_len).ok_or(truncated)?;
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: be32(body, 0),
                blocks,
            })
        }
        PT_SDES => {
            let mut pos = 0;
            for _ in 0..count {
                pos = sdes_chunk(body, pos)?.1;
            }
            RtcpPacket::SourceDescription(SourceDescription { count, body })
        }
        PT_BYE => {
            let ssrcs = body.get(..4 * count as usize).ok_or(RtcpError::BadBye)?;
            let rest = &body[ssrcs.len()..];
            let reason = match rest.first() {
                None => None,
                Some(&n) => Some(rest.get(1..1 + n as usize).ok_or(RtcpError::BadBye)?),
            };
            RtcpPacket::Bye(Bye { ssrcs, reason })
        }
        _ => RtcpPacket::Other(OtherPacket {
            packet_type,
            count,
            body,
        }),
    };
    Ok((packet, len))
}

/// Checks the SDES chunk at `pos` of `body`; returns it and where the next
/// chunk starts (chunks are 32-bit aligned, RFC 3550 §6.5).
fn sdes_chunk(body: &[u8], pos: usize) -> Result<(SdesChunk<'_>, usize), RtcpError> {
    let ssrc = body.get(pos..pos + 4).ok_or(RtcpError::BadSdes)?;
    let items_start = pos + 4;
    let mut at = items_start;
    loop {
        match body.get(at) {
            None => return Err(RtcpError::BadSdes),
            Some(0) => break,
            Some(_) => {
                let len = *body.get(at + 1).ok_or(RtcpError::BadSdes)? as usize;
                at += 2 + len;
            }
        }
    }
    let next = (at + 1).div_ceil(4) * 4;
    if next > body.len() {
        return Err(RtcpError::BadSdes);
    }
    Ok((
        SdesChunk {
            ssrc: be32(ssrc, 0),
            items: &body[items_start..at],
        },
        next,
    ))
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SR with one report block, SDES CNAME "ab", BYE with reason "x",
    /// written out by hand from RFC 3550 §6.4.1, §6.5 and §6.6.
    fn hand_built() -> Vec<u8> {
        #[rustfmt::skip]
        let bytes = vec![
            // SR: V=2 P=0 RC=1, PT=200, length 12 (13 words)
            0x81, 200, 0, 12,
            0x00, 0x00, 0x00, 0x01,             // SSRC of sender
            0xE7, 0x00, 0x00, 0x01,             // NTP seconds
            0x80, 0x00, 0x00, 0x00,             // NTP fraction (0.5 s)
            0x00, 0x00, 0x3E, 0x80,             // RTP timestamp 16000
            0x00, 0x00, 0x00, 0x64,             // packet count 100
            0x00, 0x00, 0x3E, 0x80,             // octet count 16000
            0x00, 0x00, 0x00, 0x02,             // SSRC_1
            0x19, 0xFF, 0xFF, 0xFE,             // fraction 25/256, cumulative -2
            0x00, 0x01, 0x00, 0x05,             // cycles 1, highest seq 5
            0x00, 0x00, 0x00, 0xA0,             // jitter 160
            0x12, 0x34, 0x56, 0x78,             // LSR
            0x00, 0x01, 0x80, 0x00,             // DLSR 1.5 s
            // SDES: SC=1, PT=202, length 3 (4 words)
            0x81, 202, 0, 3,
            0x00, 0x00, 0x00, 0x01,             // SSRC
            0x01, 0x02, b'a', b'b',             // CNAME "ab"
            0x00, 0x00, 0x00, 0x00,             // end of items + padding
            // BYE: SC=1, PT=203, length 2 (3 words)
            0x81, 203, 0, 2,
            0x00, 0x00, 0x00, 0x01,             // SSRC
            0x01, b'x', 0x00, 0x00,             // reason "x", padded
        ];
        bytes
    }

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: 2,
            fraction_lost: 25,
            cumulative_lost: -2,
            extended_highest_sequence: 0x0001_0005,
            jitter: 160,
            last_sender_report: 0x1234_5678,
            delay_since_last_sender_report: 0x0001_8000,
        }
    }

    fn info() -> SenderInfo {
        SenderInfo {
            ntp_time: NtpTime(0xE700_0001_8000_0000),
            rtp_timestamp: 16000,
            packet_count: 100,
            octet_count: 16000,
        }
    }

    #[test]
    fn writes_sr_sdes_bye_byte_for_byte() {
        let mut out = Vec::new();
        assert_eq!(
            write_sender_report(&mut out, 1, &info(), &[block()]),
            Ok(52)
        );
        assert_eq!(write_sdes_cname(&mut out, 1, b"ab"), Ok(16));
        assert_eq!(write_bye(&mut out, &[1], Some(b"x")), Ok(12));
        assert_eq!(out, hand_built());
    }

    #[test]
    fn parses_the_hand_built_compound() {
        let bytes = hand_built();
        let compound = RtcpCompound::parse(&bytes).unwrap();
        let packets: Vec<_> = compound.packets().collect();
        assert_eq!(packets.len(), 3);
        let RtcpPacket::SenderReport(sr) = packets[0] else {
            panic!("{:?}", packets[0])
        };
        assert_eq!(sr.ssrc, 1);
        assert_eq!(sr.info, info());
        assert_eq!(sr.report_blocks().collect::<Vec<_>>(), vec![block()]);
        let RtcpPacket::SourceDescription(sdes) = packets[1] else {
            panic!("{:?}", packets[1])
        };
        let chunks: Vec<_> = sdes.chunks().collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!((chunks[0].ssrc, chunks[0].cname()), (1, Some(&b"ab"[..])));
        let RtcpPacket::Bye(bye) = packets[2] else {
            panic!("{:?}", packets[2])
        };
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![1]);
        assert_eq!(bye.reason, Some(&b"x"[..]));
    }

    #[test]
    fn rr_multi_item_sdes_and_bare_bye_round_trip() {
        let mut out = Vec::new();
        let blocks: Vec<ReportBlock> = (0..3)
            .map(|i| ReportBlock {
                ssrc: 10 + i,
                cumulative_lost: 0x7f_ffff,
                ..block()
            })
            .collect();
        write_receiver_report(&mut out, 9, &blocks).unwrap();
        let items = [
            SdesItem {
                kind: SDES_CNAME,
                value: b"user@host",
            },
            SdesItem {
                kind: 6,
                value: b"dialtone",
            },
        ];
        write_sdes(&mut out, 9, &items).unwrap();
        write_bye(&mut out, &[9, 10], None).unwrap();
        assert_eq!(out.len() % 4, 0);
        let compound = RtcpCompound::parse(&out).unwrap();
        let mut packets = compound.packets();
        match packets.next() {
            Some(RtcpPacket::ReceiverReport(rr)) => {
                assert_eq!(rr.ssrc, 9);
                assert_eq!(rr.report_blocks().len(), 3);
                assert_eq!(rr.report_blocks().collect::<Vec<_>>(), blocks);
            }
            other => panic!("{other:?}"),
        }
        match packets.next() {
            Some(RtcpPacket::SourceDescription(sdes)) => {
                let chunk = sdes.chunks().next().unwrap();
                assert_eq!(chunk.items().collect::<Vec<_>>(), items);
                assert_eq!(chunk.cname(), Some(&b"user@host"[..]));
            }
            other => panic!("{other:?}"),
        }
        match packets.next() {
            Some(RtcpPacket::Bye(bye)) => {
                assert_eq!(bye.ssrcs().collect::<Vec<_>>(), vec![9, 10]);
                assert_eq!(bye.reason, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(packets.next().is_none());
    }

    #[test]
    fn cumulative_lost_is_clamped_to_24_bits() {
        let mut out = Vec::new();
        for (value, wire, read_back) in [
            (10_000_000, 0x7f_ffff, 0x7f_ffff),
            (-10_000_000, 0x80_0000, -0x80_0000),
            (-1, 0xff_ffff, -1),
        ] {
            out.clear();
            let b = ReportBlock {
                cumulative_lost: value,
                ..block()
            };
            write_receiver_report(&mut out, 1, &[b]).unwrap();
            assert_eq!(be32(&out, 12) & 0xff_ffff, wire);
            let compound = RtcpCompound::parse(&out).unwrap();
            let Some(RtcpPacket::ReceiverReport(rr)) = compound.packets().next() else {
                panic!()
            };
            assert_eq!(
                rr.report_blocks().next().unwrap().cumulative_lost,
                read_back
            );
        }
    }

    #[test]
    fn unknown_types_are_skipped_with_their_bodies() {
        let mut out = Vec::new();
        write_receiver_report(&mut out, 1, &[]).unwrap();
        // APP (PT 204), subtype 3, name "dial", 4 bytes of data.
        out.extend_from_slice(&[
            0x83, 204, 0, 3, 0, 0, 0, 1, b'd', b'i', b'a', b'l', 1, 2, 3, 4,
        ]);
        // PSFB PLI (FMT 1), sender and media SSRC, with 4 bytes of padding.
        out.extend_from_slice(&[0xA1, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4]);
        let compound = RtcpCompound::parse(&out).unwrap();
        let kinds: Vec<_> = compound
            .packets()
            .map(|p| match p {
                RtcpPacket::Other(o) => (o.packet_type, o.count, o.body.len()),
                RtcpPacket::ReceiverReport(_) => (PT_RR, 0, 0),
                _ => panic!("{p:?}"),
            })
            .collect();
        assert_eq!(kinds, vec![(PT_RR, 0, 0), (PT_APP, 3, 12), (PT_PSFB, 1, 8)]);
        assert!(looks_like_rtcp(&out));
        assert!(!looks_like_rtcp(&[0x80, 0x00, 0, 1]), "PCMU RTP");
        assert!(
            !looks_like_rtcp(&[0x80, 0xE0, 0, 1]),
            "RTP PT 96 with marker"
        );
    }

    #[test]
    fn rejects_invalid_compounds_per_appendix_a2() {
        let good = hand_built();
        assert_eq!(
            RtcpCompound::parse(&[]),
            Err(RtcpError::TooShort { offset: 0 })
        );
        // Cut inside the SDES header, then inside the SDES body.
        assert_eq!(
            RtcpCompound::parse(&good[..54]),
            Err(RtcpError::TooShort { offset: 52 })
        );
        assert_eq!(
            RtcpCompound::parse(&good[..60]),
            Err(RtcpError::LengthMismatch {
                offset: 52,
                len: 16,
                available: 8
            })
        );
        // Trailing garbage that is not a packet.
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0, 0]);
        assert_eq!(
            RtcpCompound::parse(&trailing),
            Err(RtcpError::TooShort { offset: 80 })
        );
        let mut v1 = good.clone();
        v1[52] = 0x41;
        assert_eq!(RtcpCompound::parse(&v1), Err(RtcpError::BadVersion(1)));
        // SDES first.
        assert_eq!(
            RtcpCompound::parse(&good[52..]),
            Err(RtcpError::FirstPacketNotReport(PT_SDES))
        );
        // Padding bit on the first packet, and on a middle one.
        let mut pad_first = good.clone();
        pad_first[0] |= 0x20;
        assert!(matches!(
            RtcpCompound::parse(&pad_first),
            Err(RtcpError::BadPadding { .. })
        ));
        let mut pad_middle = good.clone();
        pad_middle[52] |= 0x20;
        assert_eq!(
            RtcpCompound::parse(&pad_middle),
            Err(RtcpError::BadPadding { offset: 52 })
        );
        // Padding on the last packet is fine when the count fits, not when 0.
        let mut pad_last = good.clone();
        pad_last[68] |= 0x20;
        pad_last[79] = 2;
        assert!(RtcpCompound::parse(&pad_last).is_ok());
        pad_last[79] = 0;
        assert_eq!(
            RtcpCompound::parse(&pad_last),
            Err(RtcpError::BadPadding { offset: 68 })
        );
        // SR claiming 2 report blocks but holding 1.
        let mut rc = good.clone();
        rc[0] = 0x82;
        assert_eq!(
            RtcpCompound::parse(&rc),
            Err(RtcpError::ReportBlocksTruncated { count: 2, len: 52 })
        );
        // SDES item length running past the chunk, and a missing terminator.
        let mut sdes = good.clone();
        sdes[61] = 9;
        assert_eq!(RtcpCompound::parse(&sdes), Err(RtcpError::BadSdes));
        let mut sdes = good.clone();
        sdes[61] = 6; // the item now swallows the terminating null octets
        assert_eq!(RtcpCompound::parse(&sdes), Err(RtcpError::BadSdes));
        // BYE reason longer than the packet.
        let mut bye = good.clone();
        bye[76] = 5;
        assert_eq!(RtcpCompound::parse(&bye), Err(RtcpError::BadBye));
    }

    #[test]
    fn reduced_size_rtcp_is_taken_only_when_asked_for() {
        // What baresip 1.0 (libre) sends first: a lone APP "PING"/"PONG".
        let ping = [
            0x80, 204, 0, 3, 0xe1, 0x9b, 0x7a, 0x41, b'P', b'I', b'N', b'G', b'P', b'O', b'N', b'G',
        ];
        assert_eq!(
            RtcpCompound::parse(&ping),
            Err(RtcpError::FirstPacketNotReport(PT_APP))
        );
        let lone = RtcpCompound::parse_reduced_size(&ping).unwrap();
        let packets: Vec<_> = lone.packets().collect();
        let [RtcpPacket::Other(app)] = packets[..] else {
            panic!("{packets:?}")
        };
        assert_eq!((app.packet_type, app.body.len()), (PT_APP, 12));
        // A lone SDES, padded (the last packet may be).
        let mut sdes = Vec::new();
        write_sdes_cname(&mut sdes, 7, b"abc").unwrap();
        sdes[0] |= 0x20;
        sdes[3] += 1;
        sdes.extend_from_slice(&[0, 0, 0, 4]);
        let last = sdes.len() - 1;
        let padded = RtcpCompound::parse_reduced_size(&sdes).unwrap();
        let Some(RtcpPacket::SourceDescription(d)) = padded.packets().next() else {
            panic!()
        };
        assert_eq!(d.chunks().next().unwrap().cname(), Some(&b"abc"[..]));
        // Still checked: lengths, versions, padding count, bodies.
        assert!(RtcpCompound::parse_reduced_size(&ping[..12]).is_err());
        let mut v1 = ping;
        v1[0] = 0x40;
        assert_eq!(
            RtcpCompound::parse_reduced_size(&v1),
            Err(RtcpError::BadVersion(1))
        );
        sdes[last] = 0;
        assert!(RtcpCompound::parse_reduced_size(&sdes).is_err());
        // A full compound parses the same either way.
        let good = hand_built();
        assert_eq!(
            RtcpCompound::parse_reduced_size(&good),
            RtcpCompound::parse(&good)
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(3550);
        let good = hand_built();
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut buf = good.clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..buf.len());
                buf[at] = rng.gen();
            }
            buf.truncate(rng.gen_range(0..=buf.len()));
            if let Ok(c) = RtcpCompound::parse(&buf) {
                accepted += 1;
                for p in c.packets() {
                    let items = match p {
                        RtcpPacket::SenderReport(sr) => sr.report_blocks().count(),
                        RtcpPacket::SourceDescription(s) => {
                            s.chunks().map(|c| c.items().count()).sum()
                        }
                        RtcpPacket::Bye(b) => b.ssrcs().count(),
                        _ => 0,
                    };
                    assert!(items < buf.len());
                }
            }
        }
        assert!(accepted > 100, "{accepted}");
    }

    #[test]
    fn write_rejects_what_does_not_fit() {
        let mut out = Vec::new();
        let blocks = [block(); 32];
        assert_eq!(
            write_receiver_report(&mut out, 1, &blocks),
            Err(RtcpError::TooManyEntries(32))
        );
        assert_eq!(
            write_sender_report(&mut out, 1, &info(), &blocks),
            Err(RtcpError::TooManyEntries(32))
        );
        assert_eq!(
            write_sdes_cname(&mut out, 1, &[b'a'; 256]),
            Err(RtcpError::TextTooLong(256))
        );
        assert_eq!(
            write_bye(&mut out, &[1], Some(&[b'a'; 300])),
            Err(RtcpError::TextTooLong(300))
        );
        assert!(out.is_empty());
        // 31 blocks is the maximum and parses back.
        write_receiver_report(&mut out, 1, &blocks[..31]).unwrap();
        assert_eq!(out.len(), 8 + 31 * 24);
        assert!(RtcpCompound::parse(&out).is_ok());
    }

    #[test]
    fn ntp_conversions() {
        // 1970-01-01 is NTP second 2208988800 = 0x83AA7E80.
        assert_eq!(NtpTime::from_unix(Duration::ZERO).0, 0x83AA_7E80_0000_0000);
        let t = NtpTime::from_unix(Duration::from_millis(1_500));
        assert_eq!(t.0, 0x83AA_7E81_8000_0000);
        assert_eq!(t.compact(), 0x7E81_8000);
        assert_eq!(
            t.to_duration(),
            Duration::from_millis(1_500) + Duration::from_secs(NtpTime::UNIX_EPOCH_OFFSET_SECS)
        );
        assert_eq!((t + Duration::from_millis(250)).compact(), 0x7E81_C000);
        assert_eq!(
            duration_to_compact(Duration::from_millis(1_500)),
            0x0001_8000
        );
        assert_eq!(
            compact_to_duration(0x0001_8000),
            Duration::from_millis(1_500)
        );
        assert_eq!(duration_to_compact(Duration::from_secs(1 << 20)), u32::MAX);
        // Round trip through the fraction loses less than a nanosecond.
        let d = Duration::new(12, 345_678_901);
        let back = NtpTime::from_duration(d).to_duration();
        assert!(d - back < Duration::from_nanos(2), "{back:?}");
    }
}
