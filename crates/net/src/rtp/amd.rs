//! Answering-machine detection on a leg ([`Relay::start_amd`](super::Relay::start_amd)):
//! the audio its phone sends is decoded (any codec, at 8 kHz, as for
//! in-band DTMF) into `media`'s [`AmdDetector`]; the worker also gives it
//! its deadlines (silence without packets, the analysis time). The verdict
//! is reported once, as [`RelayEvent::Amd`](super::RelayEvent::Amd), and
//! the detector goes away.
//!
//! ```text
//! RTP from the phone ─▶ Side::decode (8 kHz) ─▶ AmdDetector::handle_frame ─┐
//! worker deadline ─────────────────────────▶ AmdDetector::handle_timeout ─┴▶ RelayEvent::Amd { leg, verdict }
//! ```

use super::record::Side;
use super::LegCodec;
use media::amd::{AmdConfig, AmdDetector, AmdVerdict};
use std::time::Instant;

/// Rate the detector listens at.
const RATE: u32 = 8000;

/// One leg's detector and its decoder.
#[derive(Debug)]
pub(crate) struct Amd {
    side: Side,
    detector: AmdDetector,
}

impl Amd {
    pub(crate) fn new(config: AmdConfig, now: Instant) -> Amd {
        Amd {
            side: Side::default(),
            detector: AmdDetector::new(config, now),
        }
    }

    /// An RTP packet from the phone, arrived at `now`; the verdict if it
    /// decided.
    pub(crate) fn rx(
        &mut self,
        now: Instant,
        packet: &[u8],
        codec: Option<LegCodec>,
    ) -> Option<AmdVerdict> {
        if let Some(frame) = self.side.decode(packet, codec, RATE) {
            self.detector.handle_frame(now, &frame.samples, frame.rate);
        }
        self.detector.poll_verdict()
    }

    /// The worker's clock; the verdict if it decided.
    pub(crate) fn timeout(&mut self, now: Instant) -> Option<AmdVerdict> {
        if self.detector.poll_timeout().is_some_and(|t| t <= now) {
            self.detector.handle_timeout(now);
        }
        self.detector.poll_verdict()
    }

    /// When [`timeout`](Self::timeout) is next due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.detector.poll_timeout()
    }
}
