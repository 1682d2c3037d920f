//! What happens to RTP between two bridged legs whose codecs differ: the
//! payload type is rewritten, or the audio is transcoded into a stream the
//! relay writes as the receiving leg's own RTP sender.
//!
//! A [`Path`] is chosen per direction (from the leg a packet arrives on to
//! the leg it leaves from) whenever the codecs of a bridged pair change. It
//! is built on the control side (an Opus encoder takes a while to set up)
//! and used on the worker thread, which owns it with the leg.

use super::packet::{self, Header, HEADER_LEN};
use super::StreamStats;
use media::codec::{CodecError, CodecKind, Decoder, Encoder, OpusConfig, Transcoder};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// The codec a leg's peer and Dialtone agreed on (from the SDP offer/answer
/// on that leg).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegCodec {
    pub codec: CodecKind,
    /// RTP payload type of `codec` on this leg.
    pub payload_type: u8,
    /// RFC 4733 telephone-event payload type on this leg, if negotiated,
    /// and its clock rate.
    pub dtmf: Option<(u8, u32)>,
}

/// Losses of up to this many packets in a row are concealed (each with one
/// frame of the decoder's concealment); after a longer one the outgoing
/// timestamp jumps over the gap instead.
const MAX_CONCEALED: u32 = 10;
/// A sequence number this far behind the highest one seen is a late or
/// duplicate packet (dropped); further behind, or more than
/// [`MAX_DROPOUT`] ahead, the source restarted (RFC 3550 §A.1 values).
const MAX_MISORDER: i16 = 100;
const MAX_DROPOUT: i16 = 3000;
/// An input timestamp gap longer than this (seconds) is a jump of the
/// sender's clock, not silence: the output timestamp does not follow it.
const MAX_GAP_SECONDS: u64 = 60;
/// Room for the largest packet an encoder writes (an Opus packet of three
/// 1275-byte frames, RFC 6716 §3.2.5) after the header.
const PACKET_CAPACITY: usize = HEADER_LEN + 3 * 1275 + 7;

/// What the relay does with RTP received on a leg on its way to the bridged
/// leg.
#[derive(Debug, Default)]
pub(crate) enum Path {
    /// Sent as received, without a look inside: the codecs are the same
    /// (or one is unknown).
    #[default]
    Passthrough,
    /// Same codec, other payload types: the payload type byte is rewritten.
    Rewrite(Rewrite),
    /// Other codecs: decoded, re-encoded and sent as the receiving leg's
    /// own stream.
    Transcode(Box<Transcode>),
}

impl Path {
    /// The path for RTP from a leg whose peer uses `from` to a leg whose
    /// peer uses `to`.
    pub(crate) fn new(from: Option<LegCodec>, to: Option<LegCodec>) -> Path {
        let (Some(from), Some(to)) = (from, to) else {
            return Path::Passthrough;
        };
        if from.codec == to.codec {
            if from.payload_type == to.payload_type && (from.dtmf.is_none() || from.dtmf == to.dtmf)
            {
                return Path::Passthrough;
            }
            return Path::Rewrite(Rewrite {
                audio: (from.payload_type, to.payload_type),
                dtmf: from.dtmf.map(|(pt, _)| (pt, dtmf_target(from, to))),
            });
        }
        match Transcode::new(from, to) {
            Ok(t) => Path::Transcode(Box::new(t)),
            Err(e) => {
                // Not expected: every pair of our codecs has a resampler.
                tracing::error!(?from, ?to, error = %e, "cannot transcode: media passes unchanged");
                Path::Passthrough
            }
        }
    }

    /// Whether the bridge decodes and re-encodes.
    #[cfg(test)]
    pub(crate) fn transcodes(&self) -> bool {
        matches!(self, Path::Transcode(_))
    }
}

/// The telephone-event payload type on `to` that `from`'s events can be
/// forwarded as: both legs negotiated telephone-event at the same clock
/// rate (the payload's durations are in clock ticks, so they go unchanged).
fn dtmf_target(from: LegCodec, to: LegCodec) -> Option<u8> {
    match (from.dtmf, to.dtmf) {
        (Some((_, a)), Some((pt, b))) if a == b => Some(pt),
        _ => None,
    }
}

/// A received datagram not sent on, and the counter that says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dropped {
    Malformed,
    PayloadType,
    Late,
}

impl Dropped {
    pub(crate) fn count(self, stats: &mut StreamStats) {
        match self {
            Dropped::Malformed => stats.dropped_malformed += 1,
            Dropped::PayloadType => stats.dropped_payload_type += 1,
            Dropped::Late => stats.dropped_late += 1,
        }
    }
}

/// Payload type rewriting between legs on the same codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rewrite {
    /// The codec's payload type on the receiving and on the sending leg.
    audio: (u8, u8),
    /// The receiving leg's telephone-event payload type, and the sending
    /// leg's if its events can go there.
    dtmf: Option<(u8, Option<u8>)>,
}

impl Rewrite {
    /// Rewrites the payload type of `packet` in place. Payload types other
    /// than the codec's and telephone-event's (comfort noise...) pass
    /// unchanged: the codec is the same on both sides.
    pub(crate) fn apply(&self, packet: &mut [u8]) -> Result<(), Dropped> {
        if packet.len() < HEADER_LEN || packet[0] >> 6 != 2 {
            return Err(Dropped::Malformed);
        }
        let pt = packet[1] & 0x7F;
        let new = if pt == self.audio.0 {
            self.audio.1
        } else {
            match self.dtmf {
                Some((from, to)) if from == pt => to.ok_or(Dropped::PayloadType)?,
                _ => return Ok(()),
            }
        };
        packet[1] = (packet[1] & 0x80) | new;
        Ok(())
    }
}

/// A leg's own outgoing RTP stream, for the packets the relay writes itself
/// (transcoded audio, forwarded telephone-events): its SSRC, next sequence
/// number and next audio timestamp, all starting at random values
/// (RFC 3550 §5.1).
#[derive(Debug)]
pub(crate) struct Sender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
}

impl Sender {
    /// A stream with random starting values; `salt` (the leg's id and port)
    /// only makes them differ between legs opened by the same thread.
    pub(crate) fn new(salt: u128) -> Sender {
        // std's hasher keys are random per process and step per instance:
        // enough for values that need to be unpredictable, not secret.
        let bits = RandomState::new().hash_one(salt);
        Sender {
            ssrc: bits as u32,
            sequence: (bits >> 32) as u16,
            timestamp: RandomState::new().hash_one(salt) as u32,
        }
    }

    /// A stream with these starting values (for tests).
    #[cfg(test)]
    pub(crate) fn with_values(ssrc: u32, sequence: u16, timestamp: u32) -> Sender {
        Sender {
            ssrc,
            sequence,
            timestamp,
        }
    }

    /// The stream's SSRC.
    pub(crate) fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The stream's next audio timestamp (an event sent now starts here).
    pub(crate) fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Moves the next audio timestamp on by `ticks` (audio sent, or time
    /// that passed without any).
    pub(crate) fn advance(&mut self, ticks: u32) {
        self.timestamp = self.timestamp.wrapping_add(ticks);
    }

    /// Writes the header of the next packet into `packet[..12]`.
    pub(crate) fn stamp(
        &mut self,
        packet: &mut [u8],
        marker: bool,
        payload_type: u8,
        timestamp: u32,
    ) {
        packet::write_header(
            packet,
            marker,
            payload_type,
            self.sequence,
            timestamp,
            self.ssrc,
        );
        self.sequence = self.sequence.wrapping_add(1);
    }
}

/// One direction of a transcoding bridge: the receiving leg's stream in,
/// the sending leg's stream out.
#[derive(Debug)]
pub(crate) struct Transcode {
    from: LegCodec,
    to: LegCodec,
    transcoder: Transcoder,
    /// Telephone-event payload types in and out, when events can pass.
    dtmf: Option<(u8, u8)>,
    /// The incoming stream, once a packet was seen.
    input: Option<Input>,
    /// Set the marker bit on the next audio packet sent.
    marker: bool,
    /// An input timestamp and the output timestamp of the same instant
    /// (from the latest audio packet): maps telephone-event timestamps.
    anchor: Option<(u32, u32)>,
    /// The packet being written.
    out: Vec<u8>,
}

/// What is known of the incoming stream.
#[derive(Debug, Clone, Copy)]
struct Input {
    ssrc: u32,
    /// Highest sequence number seen.
    sequence: u16,
    /// The timestamp the next audio packet carries if nothing is missing.
    next_timestamp: Option<u32>,
    /// Duration of the last audio payload, input clock ticks.
    last_ticks: u32,
    /// Packets missing since the last audio packet.
    lost: u32,
}

impl Transcode {
    /// Decoder of `from`, encoder of `to`. Opus is decoded straight at the
    /// other codec's rate, and encoded at the rate of the audio it is fed:
    /// 8 kHz (narrowband) from G.711, 16 kHz from G.722 (every codec it is
    /// fed from carries at most wideband audio). Coding narrowband audio at
    /// 16 kHz costs 1.7x the CPU (opus-rs, complexity 5: 147 against 85 µs
    /// per 20 ms frame) for no audible gain; 16 kHz costs a third of 48.
    pub(crate) fn new(from: LegCodec, to: LegCodec) -> Result<Transcode, CodecError> {
        let decoder = match from.codec {
            CodecKind::Opus => Decoder::opus(to.codec.sample_rate())?,
            kind => Decoder::new(kind)?,
        };
        let encoder = match to.codec {
            // The default 32 kbit/s, complexity 5, in-band FEC: with speech
            // from G.711, PESQ (P.862) scored 24 kbit/s 0.3-0.45 lower, and
            // complexities 0-3 0.5-0.9 lower at 24 kbit/s (opus-rs 0.1).
            CodecKind::Opus => Encoder::opus(OpusConfig {
                sample_rate: from.codec.sample_rate().min(16000),
                ..OpusConfig::default()
            })?,
            kind => Encoder::new(kind)?,
        };
        Ok(Transcode {
            from,
            to,
            transcoder: Transcoder::new(decoder, encoder)?,
            dtmf: from
                .dtmf
                .and_then(|(pt, _)| Some((pt, dtmf_target(from, to)?))),
            input: None,
            marker: true,
            anchor: None,
            out: Vec::with_capacity(PACKET_CAPACITY),
        })
    }

    /// Handles one RTP datagram received on the leg: its audio is decoded
    /// and every 20 ms of output goes to `send` as a packet of `sender`'s
    /// stream; a telephone-event is forwarded when the other leg takes it;
    /// anything else is dropped and counted in `stats`.
    pub(crate) fn handle_rtp(
        &mut self,
        datagram: &[u8],
        stats: &mut StreamStats,
        sender: &mut Sender,
        mut send: impl FnMut(&[u8]),
    ) {
        let header = match Header::parse(datagram) {
            Ok(h) => h,
            Err(why) => {
                tracing::trace!(?why, len = datagram.len(), "malformed RTP dropped");
                return Dropped::Malformed.count(stats);
            }
        };
        let payload = &datagram[header.payload.0..header.payload.1];
        let audio = header.payload_type == self.from.payload_type;
        let event = !audio && self.from.dtmf.map(|d| d.0) == Some(header.payload_type);
        if !audio && !event {
            return Dropped::PayloadType.count(stats);
        }
        if !self.track_sequence(&header) {
            return Dropped::Late.count(stats);
        }
        if audio {
            self.handle_audio(&header, payload, stats, sender, &mut send);
        } else if let Err(why) = self.handle_event(&header, payload, sender, &mut send) {
            why.count(stats);
        }
    }

    /// Forgets the incoming stream, as after a change of source: the next
    /// packet starts afresh (marked), without concealing or skipping the
    /// time since the last one. Called when a generated source stops
    /// standing in for this direction, whose output timestamps moved on
    /// meanwhile.
    pub(crate) fn restart(&mut self) {
        self.input = None;
        self.anchor = None;
        self.marker = true;
    }

    /// Follows the sequence numbers; false for a late or duplicate packet.
    fn track_sequence(&mut self, header: &Header) -> bool {
        if let Some(input) = self.input.as_mut().filter(|i| i.ssrc == header.ssrc) {
            let delta = header.sequence.wrapping_sub(input.sequence) as i16;
            if (-MAX_MISORDER..=0).contains(&delta) {
                return false;
            }
            if (1..=MAX_DROPOUT).contains(&delta) {
                input.lost = input.lost.saturating_add((delta - 1) as u32);
                input.sequence = header.sequence;
                return true;
            }
        }
        // A new source, or one whose numbering jumped: start over. (RFC
        // 3550 §A.1 waits for a second packet in sequence; a relay that
        // must not lose the first one takes it at once.)
        self.input = Some(Input {
            ssrc: header.ssrc,
            sequence: header.sequence,
            next_timestamp: None,
            last_ticks: self.from.codec.frame_rtp_ticks(),
            lost: 0,
        });
        self.anchor = None;
        self.marker = true;
        true
    }

    fn handle_audio(
        &mut self,
        header: &Header,
        payload: &[u8],
        stats: &mut StreamStats,
        sender: &mut Sender,
        send: &mut impl FnMut(&[u8]),
    ) {
        let Some(input) = self.input else {
            return;
        };
        // Time missing before this packet: lost packets are concealed (up
        // to MAX_CONCEALED), the rest (silence suppression, DTX, a long
        // loss) is skipped in the output timestamps too.
        if let Some(expected) = input.next_timestamp {
            let gap = header.timestamp.wrapping_sub(expected) as i32;
            let max = MAX_GAP_SECONDS * u64::from(self.from.codec.clock_rate());
            if gap > 0 && gap as u64 <= max {
                let gap = gap as u32;
                let concealed = if input.lost <= MAX_CONCEALED {
                    input.lost.min(gap / input.last_ticks.max(1))
                } else {
                    0
                };
                for _ in 0..concealed {
                    self.transcoder.handle_loss();
                    self.drain(stats, sender, send);
                }
                let skipped = gap - concealed * input.last_ticks;
                sender.timestamp = sender
                    .timestamp
                    .wrapping_add(self.out_ticks(i64::from(skipped)) as u32);
            } else if gap != 0 {
                self.marker = true;
            }
        }
        self.marker |= header.marker;
        self.anchor = Some((header.timestamp, sender.timestamp));
        let ticks = match self.transcoder.handle_payload(payload) {
            Ok(()) => {
                stats.transcoded_packets += 1;
                payload_ticks(self.from.codec, payload)
                    .filter(|&t| t > 0)
                    .unwrap_or(input.last_ticks)
            }
            Err(e) => {
                stats.decode_errors += 1;
                tracing::trace!(error = %e, "undecodable payload concealed");
                self.transcoder.handle_loss();
                input.last_ticks
            }
        };
        self.input = Some(Input {
            next_timestamp: Some(header.timestamp.wrapping_add(ticks)),
            last_ticks: ticks,
            lost: 0,
            ..input
        });
        self.drain(stats, sender, send);
    }

    /// Sends every 20 ms payload the transcoder has ready.
    fn drain(
        &mut self,
        stats: &mut StreamStats,
        sender: &mut Sender,
        send: &mut impl FnMut(&[u8]),
    ) {
        let ticks = self.to.codec.frame_rtp_ticks();
        loop {
            self.out.clear();
            self.out.resize(HEADER_LEN, 0);
            match self.transcoder.poll_payload(&mut self.out) {
                Ok(Some(_)) => {
                    let marker = std::mem::take(&mut self.marker);
                    let ts = sender.timestamp;
                    sender.stamp(&mut self.out, marker, self.to.payload_type, ts);
                    send(&self.out);
                }
                Ok(None) => return,
                Err(e) => {
                    // The frame is gone: a gap in the outgoing stream.
                    stats.decode_errors += 1;
                    tracing::debug!(error = %e, "transcoder cannot encode a frame");
                }
            }
            sender.timestamp = sender.timestamp.wrapping_add(ticks);
        }
    }

    /// Forwards a telephone-event (RFC 4733 §2.3) with the other leg's
    /// payload type, in the outgoing stream, its timestamp moved onto the
    /// outgoing clock; the event payload is unchanged.
    fn handle_event(
        &mut self,
        header: &Header,
        payload: &[u8],
        sender: &mut Sender,
        send: &mut impl FnMut(&[u8]),
    ) -> Result<(), Dropped> {
        let (_, pt) = self.dtmf.ok_or(Dropped::PayloadType)?;
        if payload.len() < 4 {
            return Err(Dropped::Malformed);
        }
        let (in_base, out_base) = *self
            .anchor
            .get_or_insert((header.timestamp, sender.timestamp));
        let delta = header.timestamp.wrapping_sub(in_base) as i32;
        let ts = out_base.wrapping_add(self.out_ticks(i64::from(delta)) as u32);
        self.out.clear();
        self.out.resize(HEADER_LEN, 0);
        self.out.extend_from_slice(payload);
        sender.stamp(&mut self.out, header.marker, pt, ts);
        send(&self.out);
        Ok(())
    }

    /// `ticks` of the input clock in output clock ticks.
    fn out_ticks(&self, ticks: i64) -> i64 {
        ticks * i64::from(self.to.codec.clock_rate()) / i64::from(self.from.codec.clock_rate())
    }
}

/// How long `payload` plays, in `codec`'s RTP clock ticks.
fn payload_ticks(codec: CodecKind, payload: &[u8]) -> Option<u32> {
    match codec {
        // One byte per 8 kHz sample; G.722: one byte per two 16 kHz
        // samples, on an 8 kHz clock (RFC 3551 §4.5.2).
        CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => u32::try_from(payload.len()).ok(),
        CodecKind::Opus => opus_ticks(payload),
    }
}

/// The duration of an Opus packet on its 48 kHz clock: frame length from
/// the TOC byte's configuration, frame count from its code (RFC 6716 §3.1,
/// §3.2).
fn opus_ticks(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = usize::from(toc >> 3);
    // In 2.5 ms units, 120 ticks each.
    let units: u32 = match config {
        0..=11 => [4, 8, 16, 24][config % 4],
        12..=15 => [4, 8][config % 2],
        _ => [1, 2, 4, 8][config % 4],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3F),
    };
    Some(units * frames * 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PCMU: LegCodec = LegCodec {
        codec: CodecKind::Pcmu,
        payload_type: 0,
        dtmf: Some((101, 8000)),
    };
    const PCMA: LegCodec = LegCodec {
        codec: CodecKind::Pcma,
        payload_type: 8,
        dtmf: Some((101, 8000)),
    };

    fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0; HEADER_LEN];
        packet::write_header(&mut p, false, pt, seq, ts, 0x1234);
        p.extend_from_slice(payload);
        p
    }

    /// Runs `datagrams` through a PCMU → PCMA bridge; (seq, ts, pt, marker)
    /// of every packet sent, and the receiving leg's counters.
    fn run(datagrams: &[Vec<u8>], to: LegCodec) -> (Vec<(u16, u32, u8, bool)>, StreamStats) {
        let Path::Transcode(mut t) = Path::new(Some(PCMU), Some(to)) else {
            panic!("PCMU to {to:?} transcodes");
        };
        let mut sender = Sender {
            ssrc: 7,
            sequence: 65534,
            timestamp: 1000,
        };
        let mut stats = StreamStats::default();
        let mut sent = Vec::new();
        for d in datagrams {
            t.handle_rtp(d, &mut stats, &mut sender, |p| {
                let h = Header::parse(p).unwrap();
                assert_eq!(h.ssrc, 7);
                sent.push((h.sequence, h.timestamp, h.payload_type, h.marker));
            });
        }
        (sent, stats)
    }

    #[test]
    fn paths_follow_the_codecs() {
        assert!(matches!(Path::new(None, Some(PCMU)), Path::Passthrough));
        assert!(matches!(Path::new(Some(PCMU), None), Path::Passthrough));
        assert!(matches!(
            Path::new(Some(PCMU), Some(PCMU)),
            Path::Passthrough
        ));
        let no_dtmf = LegCodec { dtmf: None, ..PCMU };
        assert!(matches!(
            Path::new(Some(no_dtmf), Some(PCMU)),
            Path::Passthrough
        ));
        // Events the other side did not negotiate are not passed blindly.
        let Path::Rewrite(r) = Path::new(Some(PCMU), Some(no_dtmf)) else {
            panic!("rewrite expected");
        };
        let mut event = packet(101, 1, 0, &[1, 0, 0, 160]);
        assert_eq!(r.apply(&mut event), Err(Dropped::PayloadType));
        let mut cn = packet(13, 1, 0, &[40]);
        assert_eq!(r.apply(&mut cn), Ok(()));
        assert_eq!(cn, packet(13, 1, 0, &[40]));

        let opus_96 = LegCodec {
            codec: CodecKind::Opus,
            payload_type: 96,
            dtmf: Some((101, 48000)),
        };
        let opus_97 = LegCodec {
            payload_type: 97,
            dtmf: Some((100, 48000)),
            ..opus_96
        };
        let Path::Rewrite(r) = Path::new(Some(opus_96), Some(opus_97)) else {
            panic!("rewrite expected");
        };
        let mut p = packet(96, 1, 0, &[8, 1, 2]);
        p[1] |= 0x80;
        r.apply(&mut p).unwrap();
        assert_eq!(p[1], 0x80 | 97, "the marker stays");
        let mut event = packet(101, 1, 0, &[1, 0, 0, 160]);
        r.apply(&mut event).unwrap();
        assert_eq!(event[1], 100);
        assert_eq!(r.apply(&mut [0x80, 96]), Err(Dropped::Malformed));

        assert!(Path::new(Some(PCMU), Some(PCMA)).transcodes());
        assert!(Path::new(Some(opus_96), Some(PCMA)).transcodes());
    }

    #[test]
    fn output_is_one_continuous_stream() {
        let input: Vec<_> = (0..5u16)
            .map(|i| packet(0, 100 + i, 8000 + 160 * u32::from(i), &[0xFF; 160]))
            .collect();
        let (sent, stats) = run(&input, PCMA);
        assert_eq!(
            sent,
            [
                (65534, 1000, 8, true),
                (65535, 1160, 8, false),
                (0, 1320, 8, false),
                (1, 1480, 8, false),
                (2, 1640, 8, false),
            ]
        );
        assert_eq!(stats.transcoded_packets, 5);
    }

    #[test]
    fn losses_are_concealed_and_silence_is_skipped() {
        let p = |seq: u16, ts: u32| packet(0, seq, ts, &[0xFF; 160]);
        let mut input = vec![p(1, 0), p(2, 160)];
        input.push(p(5, 640)); // 3 and 4 lost: two frames concealed
        input.push(p(4, 480)); // late: dropped
        input.push(p(5, 640)); // duplicate: dropped
        input.push(p(6, 8000)); // silence suppression: 46 frames skipped
        let mut marked = p(7, 8160);
        marked[1] |= 0x80;
        input.push(marked);
        input.push(p(40, 8160 + 33 * 160)); // 32 lost: skipped, not concealed
        let (sent, stats) = run(&input, PCMA);
        let seqs: Vec<u16> = sent.iter().map(|s| s.0).collect();
        let stamps: Vec<u32> = sent.iter().map(|s| s.1 - 1000).collect();
        let marks: Vec<bool> = sent.iter().map(|s| s.3).collect();
        assert_eq!(seqs, [65534, 65535, 0, 1, 2, 3, 4, 5]);
        assert_eq!(stamps, [0, 160, 320, 480, 640, 8000, 8160, 8160 + 33 * 160]);
        assert_eq!(
            marks,
            [true, false, false, false, false, false, true, false]
        );
        assert_eq!(stats.dropped_late, 2);
        assert_eq!(stats.transcoded_packets, 6);
    }

    #[test]
    fn events_follow_the_audio_clock_and_other_payloads_are_dropped() {
        let mut input = vec![
            packet(0, 1, 5000, &[0xFF; 160]),
            packet(101, 2, 5160, &[5, 10, 0, 160]),
            packet(101, 3, 5160, &[5, 10, 1, 64]),
            packet(13, 4, 5320, &[40]),
            vec![0x80, 0],
        ];
        input[1][1] |= 0x80;
        let (sent, stats) = run(&input, PCMA);
        assert_eq!(
            sent,
            [
                (65534, 1000, 8, true),
                (65535, 1160, 101, true),
                (0, 1160, 101, false),
            ]
        );
        assert_eq!(
            (stats.dropped_payload_type, stats.dropped_malformed),
            (1, 1)
        );

        // Without telephone-event on the other leg, events are dropped.
        let (sent, stats) = run(&input, LegCodec { dtmf: None, ..PCMA });
        assert_eq!(sent.len(), 1);
        assert_eq!(stats.dropped_payload_type, 3);
    }

    #[test]
    fn payload_durations() {
        assert_eq!(payload_ticks(CodecKind::Pcma, &[0; 240]), Some(240));
        assert_eq!(payload_ticks(CodecKind::G722, &[0; 160]), Some(160));
        // SILK WB 20 ms, one frame; CELT FB 10 ms, code 3 with 4 frames.
        assert_eq!(opus_ticks(&[9 << 3]), Some(960));
        assert_eq!(opus_ticks(&[30 << 3 | 3, 4]), Some(4 * 480));
        assert_eq!(opus_ticks(&[31 << 3 | 3]), None);
        assert_eq!(opus_ticks(&[]), None);
    }
}
