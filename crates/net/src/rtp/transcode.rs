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
use media::jitter::{JitterBuffer, JitterConfig, Popped, Pushed};
use media::stats::PlayoutStats;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Instant;

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

/// A sequence number this far behind the highest one seen is a late or
/// duplicate packet (dropped); further behind, or more than
/// [`MAX_DROPOUT`] ahead, the source restarted (RFC 3550 §A.1 values).
const MAX_MISORDER: i16 = 100;
const MAX_DROPOUT: i16 = 3000;
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
    pub(crate) fn transcodes(&self) -> bool {
        matches!(self, Path::Transcode(_))
    }
}

/// The telephone-event payload type on `to` that `from`'s events can be
/// forwarded as: both legs negotiated telephone-event at the same clock
/// rate (the payload's durations are in clock ticks, so they go unchanged).
pub(super) fn dtmf_target(from: LegCodec, to: LegCodec) -> Option<u8> {
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

    /// Sets the next audio timestamp (a writer that takes its timestamps
    /// from elsewhere, the echo, leaves the stream there).
    pub(crate) fn set_timestamp(&mut self, timestamp: u32) {
        self.timestamp = timestamp;
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
    /// The incoming audio waits here for its playout tick (see
    /// [`Transcode::tick`]).
    jitter: JitterBuffer,
    /// Playout has begun (the outgoing timestamps follow the ticks from
    /// then on), and the last tick played audio (a pause marks the next).
    started: bool,
    playing: bool,
    /// Telephone-event packets taken so far (see `handle_rtp`).
    events_seen: u16,
}

/// The incoming telephone-events' stream (audio is tracked by the jitter
/// buffer).
#[derive(Debug, Clone, Copy)]
struct Input {
    ssrc: u32,
    /// Highest sequence number seen.
    sequence: u16,
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
            // The default 32 kbit/s, in-band FEC: with speech from G.711,
            // PESQ (P.862) scored 24 kbit/s 0.3-0.45 lower (opus-rs 0.1,
            // 16 kHz). Complexity: media's default for the rate, 1 at 8 kHz
            // (0.1 of PESQ below 5 for 40 % of its CPU; see
            // `OpusConfig::default_complexity`), 5 at 16 kHz.
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
            jitter: JitterBuffer::new(JitterConfig::new(from.codec.clock_rate())),
            started: false,
            playing: false,
            events_seen: 0,
        })
    }

    /// Handles one RTP datagram received on the leg at `now`: its audio
    /// goes into the jitter buffer (played by [`tick`](Self::tick)); a
    /// telephone-event is forwarded at once (to `send`, as a packet of
    /// `sender`'s stream) when the other leg takes it; anything else is
    /// dropped and counted in `stats`.
    pub(crate) fn handle_rtp(
        &mut self,
        datagram: &[u8],
        now: Instant,
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
        if audio {
            // Reordered packets wait in the buffer for their turn; late
            // and duplicate ones go. Telephone-events share the sequence
            // numbers: the buffer sees the audio renumbered without them,
            // so a digit does not count as lost audio.
            let index = header.sequence.wrapping_sub(self.events_seen);
            match self.jitter.push(now, index, header.timestamp, payload) {
                Pushed::Buffered => {}
                Pushed::Resynced => self.marker = true,
                Pushed::Duplicate | Pushed::Late => Dropped::Late.count(stats),
            }
            return;
        }
        if !self.track_sequence(&header) {
            return Dropped::Late.count(stats);
        }
        self.events_seen = self.events_seen.wrapping_add(1);
        if let Err(why) = self.handle_event(&header, payload, sender, &mut send) {
            why.count(stats);
        }
    }

    /// The playout clock (every 20 ms, or later: overdue ticks are served
    /// at once, up to the buffer's limit): each tick's frame is decoded,
    /// concealed when missing, and sent re-encoded as `sender`'s stream,
    /// whose timestamps advance 20 ms per tick, in silence too, so the
    /// outgoing stream keeps wall-clock time whatever the arrivals did.
    pub(crate) fn tick(
        &mut self,
        now: Instant,
        stats: &mut StreamStats,
        sender: &mut Sender,
        mut send: impl FnMut(&[u8]),
    ) {
        let frame = self.to.codec.frame_rtp_ticks();
        loop {
            match self.jitter.pop(now) {
                None => return,
                Some(Popped::Packet {
                    timestamp, payload, ..
                }) => {
                    self.anchor = Some((timestamp, sender.timestamp));
                    match self.transcoder.handle_payload(payload) {
                        Ok(()) => stats.transcoded_packets += 1,
                        Err(e) => {
                            stats.decode_errors += 1;
                            tracing::trace!(error = %e, "undecodable payload concealed");
                            self.transcoder.handle_loss();
                        }
                    }
                    self.started = true;
                    self.playing = true;
                }
                Some(Popped::Missing { .. }) => {
                    if self.playing {
                        self.transcoder.handle_loss();
                    } else if self.started {
                        sender.advance(frame);
                    }
                }
                Some(Popped::Empty) => {
                    // A pause (silence suppression, a stall): time goes on
                    // in the outgoing stream, and its next audio is marked.
                    if self.started {
                        sender.advance(frame);
                    }
                    if std::mem::take(&mut self.playing) {
                        self.marker = true;
                    }
                }
            }
            self.drain(stats, sender, &mut send);
        }
    }

    /// When the jitter buffer next has a frame to play (`None` before its
    /// first tick).
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.jitter.next_due()
    }

    /// What the jitter buffer did so far.
    pub(crate) fn jitter_stats(&self) -> PlayoutStats {
        PlayoutStats::of(&self.jitter)
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
        self.jitter.reset();
        self.started = false;
        self.playing = false;
        self.events_seen = 0;
    }

    /// Follows the sequence numbers; false for a late or duplicate packet.
    fn track_sequence(&mut self, header: &Header) -> bool {
        if let Some(input) = self.input.as_mut().filter(|i| i.ssrc == header.ssrc) {
            let delta = header.sequence.wrapping_sub(input.sequence) as i16;
            if (-MAX_MISORDER..=0).contains(&delta) {
                return false;
            }
            if (1..=MAX_DROPOUT).contains(&delta) {
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
        });
        true
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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

    /// Runs `datagrams` through a PCMU → `to` bridge as a phone sends them:
    /// each arrives when its RTP timestamp says (8 kHz from the first;
    /// one without a readable timestamp with the one before), and the
    /// playout clock ticks every 20 ms until half a second after the last.
    /// (seq, ts, pt, marker) of every packet sent, and the counters.
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
        let sent = std::cell::RefCell::new(Vec::new());
        let record = |p: &[u8]| {
            let h = Header::parse(p).unwrap();
            assert_eq!(h.ssrc, 7);
            sent.borrow_mut()
                .push((h.sequence, h.timestamp, h.payload_type, h.marker));
        };
        let t0 = testkit::FakeClock::new().now();
        let first = Header::parse(&datagrams[0]).unwrap().timestamp;
        let mut at = t0;
        let mut arrivals = Vec::new();
        for d in datagrams {
            if let Ok(h) = Header::parse(d) {
                let ms = u64::from(h.timestamp.wrapping_sub(first)) / 8;
                at = at.max(t0 + Duration::from_millis(ms));
            }
            arrivals.push(at);
        }
        let end = at + Duration::from_millis(500);
        let mut next = 0;
        let mut tick = t0;
        while tick <= end {
            while next < datagrams.len() && arrivals[next] <= tick {
                t.handle_rtp(
                    &datagrams[next],
                    arrivals[next],
                    &mut stats,
                    &mut sender,
                    record,
                );
                next += 1;
            }
            t.tick(tick, &mut stats, &mut sender, record);
            tick += Duration::from_millis(20);
        }
        (sent.into_inner(), stats)
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
        input.push(p(5, 640)); // 3 lost: one frame concealed
        input.push(p(4, 480)); // reordered, in time for its turn: played
        input.push(p(5, 640)); // duplicate: dropped
        input.push(p(6, 8000)); // silence suppression: 46 frames skipped
        let mut marked = p(7, 8160);
        marked[1] |= 0x80;
        input.push(marked);
        input.push(p(40, 8160 + 33 * 160)); // 32 lost: a pause, not concealed
        let (sent, stats) = run(&input, PCMA);
        let seqs: Vec<u16> = sent.iter().map(|s| s.0).collect();
        let stamps: Vec<u32> = sent.iter().map(|s| s.1 - 1000).collect();
        let marks: Vec<bool> = sent.iter().map(|s| s.3).collect();
        assert_eq!(seqs, [65534, 65535, 0, 1, 2, 3, 4, 5]);
        // After the 32 lost packets the buffer had nothing to play: it
        // held, time went on, and the next audio plays once the buffer
        // has its delay again (a few ticks later than its RTP time).
        assert_eq!(stamps[..7], [0, 160, 320, 480, 640, 8000, 8160]);
        let late = stamps[7] - (8160 + 33 * 160);
        assert!(late.is_multiple_of(160) && late <= 200 * 8, "{stamps:?}");
        // Marked: the first packet, and the first after each pause in the
        // outgoing stream (RFC 3551 §4.1: a talkspurt's first packet).
        assert_eq!(marks, [true, false, false, false, false, true, false, true]);
        assert_eq!(stats.dropped_late, 1, "the duplicate");
        assert_eq!(stats.transcoded_packets, 7);
    }

    #[test]
    fn events_follow_the_audio_clock_and_other_payloads_are_dropped() {
        let audio = |seq: u16, ts: u32| packet(0, seq, ts, &[0xFF; 160]);
        let mut input = vec![
            audio(1, 5000),
            audio(2, 5160),
            audio(3, 5320),
            packet(101, 4, 5480, &[5, 10, 0, 160]),
            packet(101, 5, 5480, &[5, 10, 1, 64]),
            audio(6, 5480),
            packet(13, 7, 5640, &[40]),
            vec![0x80, 0],
        ];
        input[3][1] |= 0x80;
        let (sent, stats) = run(&input, PCMA);
        let audio_out: Vec<_> = sent.iter().filter(|p| p.2 == 8).collect();
        let events: Vec<_> = sent.iter().filter(|p| p.2 == 101).collect();
        assert_eq!(audio_out.len(), 4);
        assert!(audio_out
            .windows(2)
            .all(|w| w[1].1 == w[0].1.wrapping_add(160)));
        // Events go out at once, on the timeline the audio is played on:
        // the event that starts with the 4th frame has that frame's time.
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].1, events[0].3), (audio_out[3].1, true));
        assert_eq!((events[1].1, events[1].3), (audio_out[3].1, false));
        let seqs: Vec<u16> = sent.iter().map(|p| p.0).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "{seqs:?}"
        );
        assert_eq!(
            (stats.dropped_payload_type, stats.dropped_malformed),
            (1, 1)
        );

        // Without telephone-event on the other leg, events are dropped.
        let (sent, stats) = run(&input, LegCodec { dtmf: None, ..PCMA });
        assert_eq!(sent.len(), 4);
        assert_eq!(stats.dropped_payload_type, 3);
    }
}
