//! Audio codecs and sample-rate conversion: PCM [`Frame`](crate::Frame)s in,
//! RTP payloads out, and back.
//!
//! | type | what |
//! | --- | --- |
//! | [`CodecKind`] | PCMU, PCMA, G.722, Opus and their RTP/SDP facts (payload type, clock rate, `rtpmap` name) |
//! | [`Encoder`], [`Decoder`] | one codec's state; a 20 ms frame at [`Encoder::sample_rate`] in, one payload out; loss concealment and Opus in-band FEC |
//! | [`OpusConfig`] | Opus sample rate, bitrate, FEC, complexity |
//! | [`Resampler`] | streaming polyphase FIR conversion between 8, 12, 16, 24 and 48 kHz |
//! | [`Transcoder`] | decode one codec, resample, encode another |
//! | [`g711`] | the μ-law and A-law sample functions themselves |
//!
//! Encoders and decoders are enums over the codecs, not trait objects, and
//! reuse their buffers: after the first frame, G.711, Opus, the resampler
//! and the transcoder neither allocate nor free per frame. G.722 does, a
//! few times per frame, inside the `ezk-g722` crate, whose API returns a
//! fresh `Vec`.
//!
//! ```
//! use media::codec::{CodecKind, Decoder, Encoder};
//! use media::Frame;
//!
//! let kind = CodecKind::from_rtpmap("PCMU", 8000).unwrap();
//! let mut encoder = Encoder::new(kind).unwrap();
//! let mut decoder = Decoder::new(kind).unwrap();
//!
//! // 20 ms of a 1 kHz tone at 8 kHz.
//! let tone: Vec<i16> = (0..160)
//!     .map(|i| (8000.0 * (i as f32 * std::f32::consts::TAU / 8.0).sin()) as i16)
//!     .collect();
//! let mut payload = Vec::new();
//! encoder.encode(&Frame::new(8000, tone.clone()), &mut payload).unwrap();
//! assert_eq!(payload.len(), 160);
//!
//! let mut heard = Frame::default();
//! decoder.decode(&payload, &mut heard).unwrap();
//! assert_eq!(heard.rate, 8000);
//! assert!(heard.samples.iter().zip(&tone).all(|(a, b)| (a - b).abs() <= 256));
//!
//! // A lost packet: the decoder makes up 20 ms.
//! decoder.conceal(&mut heard);
//! assert_eq!(heard.samples.len(), 160);
//! ```

mod decoder;
mod encoder;
pub mod g711;
mod g722;
mod kind;
mod opus;
mod plc;
mod resample;
mod transcode;

#[cfg(test)]
mod test_signal;

pub use decoder::Decoder;
pub use encoder::Encoder;
pub use kind::{CodecKind, FRAME_MS};
pub use opus::{OpusConfig, OPUS_RATES};
pub use resample::Resampler;
pub use transcode::Transcoder;

/// Why a codec operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The codec cannot run at this sample rate (Opus: 8, 12, 16, 24 or 48 kHz).
    #[error("{codec} cannot run at {rate} Hz")]
    UnsupportedRate { codec: CodecKind, rate: u32 },
    /// A frame given to an encoder is not at the encoder's sample rate.
    #[error("{codec} encoder takes {expected} Hz audio, the frame is at {actual} Hz")]
    RateMismatch {
        codec: CodecKind,
        expected: u32,
        actual: u32,
    },
    /// The codec cannot code a frame of this many samples (G.722: an even
    /// number; Opus: 10, 20, 40 or 60 ms; none: empty).
    #[error("{codec} cannot code a frame of {samples} samples at {rate} Hz")]
    FrameSize {
        codec: CodecKind,
        samples: usize,
        rate: u32,
    },
    /// A received payload is not one the codec can decode.
    #[error("malformed {codec} payload: {reason}")]
    MalformedPayload {
        codec: CodecKind,
        reason: &'static str,
    },
    /// The Opus codec refused the operation.
    #[error("Opus: {0}")]
    Opus(&'static str),
    /// No resampler for this pair of rates.
    #[error("cannot resample from {from} Hz to {to} Hz")]
    UnsupportedResampling { from: u32, to: u32 },
}
