//! [`Encoder`]: PCM frames to RTP payloads.

use super::g711;
use super::g722::{self, G722Encoder};
use super::kind::FRAME_MS;
use super::opus::{OpusConfig, OpusEncoder};
use super::{CodecError, CodecKind};
use crate::Frame;

/// One stream's encoder for any [`CodecKind`].
#[derive(Debug)]
pub struct Encoder {
    kind: CodecKind,
    rate: u32,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Pcmu,
    Pcma,
    G722(Box<G722Encoder>),
    Opus(Box<OpusEncoder>),
}

impl Encoder {
    /// An encoder for `kind`; Opus gets [`OpusConfig::default`] (48 kHz,
    /// 32 kbit/s, FEC on).
    pub fn new(kind: CodecKind) -> Result<Encoder, CodecError> {
        let inner = match kind {
            CodecKind::Pcmu => Inner::Pcmu,
            CodecKind::Pcma => Inner::Pcma,
            CodecKind::G722 => Inner::G722(Box::new(G722Encoder::new())),
            CodecKind::Opus => return Encoder::opus(OpusConfig::default()),
        };
        Ok(Encoder {
            kind,
            rate: kind.sample_rate(),
            inner,
        })
    }

    /// An Opus encoder (mono, VoIP application) set up by `config`.
    pub fn opus(config: OpusConfig) -> Result<Encoder, CodecError> {
        Ok(Encoder {
            kind: CodecKind::Opus,
            rate: config.sample_rate,
            inner: Inner::Opus(Box::new(OpusEncoder::new(config)?)),
        })
    }

    /// The codec.
    pub fn kind(&self) -> CodecKind {
        self.kind
    }

    /// Sample rate of the frames [`encode`](Self::encode) takes, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Samples in one [`FRAME_MS`] (20 ms) frame at [`sample_rate`](Self::sample_rate).
    pub fn frame_samples(&self) -> usize {
        (self.rate * FRAME_MS / 1000) as usize
    }

    /// Encodes `frame` and appends the payload to `out` (so an RTP header
    /// may already be there), returning the payload's length in bytes.
    ///
    /// `frame` must be at [`sample_rate`](Self::sample_rate) and normally
    /// 20 ms long; G.711 and G.722 take any non-empty length (G.722 an even
    /// one), Opus 10, 20, 40 or 60 ms. On error nothing is appended.
    pub fn encode(&mut self, frame: &Frame, out: &mut Vec<u8>) -> Result<usize, CodecError> {
        if frame.rate != self.rate {
            return Err(CodecError::RateMismatch {
                codec: self.kind,
                expected: self.rate,
                actual: frame.rate,
            });
        }
        if frame.samples.is_empty() {
            return Err(CodecError::FrameSize {
                codec: self.kind,
                samples: 0,
                rate: self.rate,
            });
        }
        let start = out.len();
        match &mut self.inner {
            Inner::Pcmu => g711::ulaw_encode_slice(&frame.samples, out),
            Inner::Pcma => g711::alaw_encode_slice(&frame.samples, out),
            Inner::G722(e) => {
                debug_assert_eq!(self.rate, g722::RATE);
                e.encode(&frame.samples, out)?
            }
            Inner::Opus(e) => e.encode(&frame.samples, out)?,
        }
        Ok(out.len() - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_the_wrong_rate_or_size_are_refused() {
        let mut pcmu = Encoder::new(CodecKind::Pcmu).unwrap();
        let mut out = vec![0x80, 0x00]; // e.g. the start of an RTP header
        let err = pcmu
            .encode(&Frame::silence(16000, 20), &mut out)
            .unwrap_err();
        assert_eq!(
            err,
            CodecError::RateMismatch {
                codec: CodecKind::Pcmu,
                expected: 8000,
                actual: 16000
            }
        );
        assert_eq!(
            err.to_string(),
            "PCMU encoder takes 8000 Hz audio, the frame is at 16000 Hz"
        );
        assert_eq!(out, [0x80, 0x00], "nothing appended on error");

        let mut g722 = Encoder::new(CodecKind::G722).unwrap();
        assert_eq!(g722.frame_samples(), 320);
        let odd = Frame::new(16000, vec![0; 319]);
        assert!(matches!(
            g722.encode(&odd, &mut out),
            Err(CodecError::FrameSize { samples: 319, .. })
        ));

        let mut opus = Encoder::opus(OpusConfig {
            sample_rate: 16000,
            ..OpusConfig::default()
        })
        .unwrap();
        assert_eq!(opus.frame_samples(), 320);
        let short = Frame::new(16000, vec![0; 100]);
        assert!(matches!(
            opus.encode(&short, &mut out),
            Err(CodecError::FrameSize { .. })
        ));
        assert_eq!(out, [0x80, 0x00]);
        assert!(matches!(
            Encoder::opus(OpusConfig {
                sample_rate: 44100,
                ..OpusConfig::default()
            }),
            Err(CodecError::UnsupportedRate { rate: 44100, .. })
        ));
    }

    #[test]
    fn payload_sizes_match_the_rtp_profiles() {
        // RFC 3551 §4.5.14: one byte per sample; §4.5.2: one byte per two
        // 16 kHz samples (64 kbit/s).
        let mut out = Vec::new();
        for (kind, rate, samples, bytes) in [
            (CodecKind::Pcmu, 8000, 160, 160),
            (CodecKind::Pcma, 8000, 160, 160),
            (CodecKind::G722, 16000, 320, 160),
        ] {
            let mut e = Encoder::new(kind).unwrap();
            out.clear();
            let n = e
                .encode(&Frame::new(rate, vec![1000; samples]), &mut out)
                .unwrap();
            assert_eq!((n, out.len()), (bytes, bytes), "{kind}");
        }
        // Opus at 32 kbit/s: about 80 bytes per 20 ms, never above the RFC
        // 6716 §3.2.1 frame limit.
        let mut e = Encoder::new(CodecKind::Opus).unwrap();
        let tone = super::super::test_signal::sine(48000, 440.0, 8000.0, 960 * 50);
        let mut total = 0;
        for chunk in tone.chunks(960) {
            out.clear();
            total += e
                .encode(&Frame::new(48000, chunk.to_vec()), &mut out)
                .unwrap();
            assert!(out.len() <= 1276);
        }
        let kbps = total as f64 * 8.0 / 1000.0;
        assert!((16.0..=48.0).contains(&kbps), "{kbps} kbit/s");
    }
}
