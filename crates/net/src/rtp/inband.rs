//! In-band DTMF detection on a leg: the audio its phone sends is decoded
//! (any codec, at 8 kHz) and run through `media`'s Goertzel detector
//! (ITU-T Q.24 timing and twist); each digit is reported when its tone
//! ends, with its duration.
//!
//! Policy (see [`wanted`]): on for a leg whose phone did not negotiate
//! telephone-event (RFC 4733), since its digits can only come as tones;
//! off for one that did (its digits come as events, and a phone that also
//! plays the tones would be reported twice); either can be forced through
//! [`Relay::set_inband_detection`](super::Relay::set_inband_detection).
//! Off costs one `Option` check per packet.
//!
//! ```text
//! RTP from the phone ─▶ Side::decode (8 kHz) ─▶ Detector::process ─▶ ToneEvent::Ended
//!                                                   ─▶ RelayEvent::InbandDtmf { leg, digit, duration_ms }
//! ```

use super::record::Side;
use super::{LegCodec, LegId, RelayEvent};
use media::dtmf::{Detector, ToneEvent};

/// Rate the detector runs at.
const RATE: u32 = 8000;

/// Whether a leg with this codec gets a detector, given the override.
pub(crate) fn wanted(codec: Option<LegCodec>, forced: Option<bool>) -> bool {
    forced.unwrap_or_else(|| codec.is_some_and(|c| c.dtmf.is_none()))
}

/// One leg's detector and its decoder.
#[derive(Debug)]
pub(crate) struct Inband {
    side: Side,
    detector: Detector,
}

impl Inband {
    pub(crate) fn new() -> Inband {
        Inband {
            side: Side::default(),
            // 8 kHz is a rate the detector takes: this cannot fail.
            detector: Detector::new(RATE).unwrap_or_else(|_| unreachable!("8 kHz detector")),
        }
    }

    /// An RTP packet from the leg's phone; digits whose tone ended are
    /// reported on `events`.
    pub(crate) fn rx(
        &mut self,
        packet: &[u8],
        codec: Option<LegCodec>,
        leg: LegId,
        events: &super::worker::Events,
    ) {
        let Some(frame) = self.side.decode(packet, codec, RATE) else {
            return;
        };
        self.detector.process(&frame.samples);
        while let Some(ev) = self.detector.poll_event() {
            if let ToneEvent::Ended {
                digit, duration_ms, ..
            } = ev
            {
                let _ = events.send(RelayEvent::InbandDtmf {
                    leg,
                    digit: digit.to_char(),
                    duration_ms,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::codec::{CodecKind, Encoder};
    use media::dtmf::{DtmfGenerator, ToneLevels};
    use media::Frame;

    fn codec(kind: CodecKind, pt: u8, dtmf: bool) -> Option<LegCodec> {
        Some(LegCodec {
            codec: kind,
            payload_type: pt,
            dtmf: dtmf.then_some((101, 8000)),
        })
    }

    #[test]
    fn policy_follows_telephone_event_unless_forced() {
        assert!(wanted(codec(CodecKind::Pcmu, 0, false), None));
        assert!(!wanted(codec(CodecKind::Pcmu, 0, true), None));
        assert!(!wanted(None, None), "no codec known yet: nothing to decode");
        assert!(wanted(codec(CodecKind::Pcmu, 0, true), Some(true)));
        assert!(!wanted(codec(CodecKind::Pcma, 8, false), Some(false)));
    }

    /// Digits played as tones with noise, encoded in `kind`, come out in
    /// order with about their durations.
    fn detects(kind: CodecKind, pt: u8) {
        let rate = kind.sample_rate().min(16_000);
        let mut gen = DtmfGenerator::new(rate, ToneLevels::default()).unwrap();
        for d in media::dtmf::parse_digits("159#").unwrap() {
            gen.push(d, 120, 80);
        }
        let mut encoder = match kind {
            CodecKind::Opus => Encoder::opus(media::codec::OpusConfig {
                sample_rate: rate,
                ..Default::default()
            })
            .unwrap(),
            k => Encoder::new(k).unwrap(),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut inband = Inband::new();
        let mut seed = 7u32;
        let mut payload = Vec::new();
        for seq in 0..60u16 {
            let mut frame = Frame::silence(rate, 20);
            gen.fill(&mut frame.samples);
            for s in &mut frame.samples {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *s = s.saturating_add(((seed >> 16) as i16) / 200);
            }
            payload.clear();
            encoder.encode(&frame, &mut payload).unwrap();
            let mut p = vec![0u8; 12];
            super::super::packet::write_header(&mut p, false, pt, seq, u32::from(seq) * 160, 5);
            p.extend_from_slice(&payload);
            inband.rx(&p, codec(kind, pt, false), LegId(3), &tx);
        }
        let mut got = Vec::new();
        while let Ok(RelayEvent::InbandDtmf {
            leg,
            digit,
            duration_ms,
        }) = rx.try_recv()
        {
            assert_eq!(leg, LegId(3));
            assert!(
                (90..=150).contains(&duration_ms),
                "{digit}: {duration_ms} ms"
            );
            got.push(digit);
        }
        assert_eq!(got.into_iter().collect::<String>(), "159#", "{kind:?}");
    }

    #[test]
    fn tones_in_pcmu_are_detected_in_order() {
        detects(CodecKind::Pcmu, 0);
    }

    #[test]
    fn tones_in_opus_are_detected_in_order() {
        detects(CodecKind::Opus, 111);
    }
}
