//! ITU-T G.722 at 64 kbit/s (mode 1), through the `ezk-g722` crate (a port
//! of the public-domain SpanDSP/libg722 codec).
//!
//! One byte carries one 16 kHz sample pair: 6 bits of the lower sub-band and
//! 2 of the upper (G.722 §1.4), so a 20 ms frame of 320 samples is 160 bytes.
//! The crate returns a fresh `Vec` per call (grown sample by sample), so
//! each frame costs a few allocations in each direction; the result is
//! copied into the caller's buffer.

use ezk_g722::libg722::{decoder::Decoder as Inner, encoder::Encoder as InnerEnc, Bitrate};

use super::{CodecError, CodecKind};

/// Sample rate of G.722 audio, Hz.
pub(crate) const RATE: u32 = 16000;

/// G.722 encoder state (QMF history and both ADPCM bands).
pub(crate) struct G722Encoder {
    inner: InnerEnc,
}

impl G722Encoder {
    pub(crate) fn new() -> G722Encoder {
        G722Encoder {
            // 64 kbit/s, 16 kHz input, one code per byte.
            inner: InnerEnc::new(Bitrate::Mode1_64000, false, false),
        }
    }

    /// Appends the codes of `samples` (16 kHz, an even count) to `out`.
    pub(crate) fn encode(&mut self, samples: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        if !samples.len().is_multiple_of(2) {
            // The encoder codes sample pairs and would panic on an odd count.
            return Err(CodecError::FrameSize {
                codec: CodecKind::G722,
                samples: samples.len(),
                rate: RATE,
            });
        }
        out.extend_from_slice(&self.inner.encode(samples));
        Ok(())
    }
}

impl std::fmt::Debug for G722Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G722Encoder").finish_non_exhaustive()
    }
}

/// G.722 decoder state.
pub(crate) struct G722Decoder {
    inner: Inner,
}

impl G722Decoder {
    pub(crate) fn new() -> G722Decoder {
        G722Decoder {
            // 64 kbit/s, unpacked (one code per byte), 16 kHz output.
            inner: Inner::new(Bitrate::Mode1_64000, false, false),
        }
    }

    /// Appends the 16 kHz samples of `payload` (two per byte) to `out`.
    pub(crate) fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        out.extend_from_slice(&self.inner.decode(payload));
    }
}

impl std::fmt::Debug for G722Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G722Decoder").finish_non_exhaustive()
    }
}
