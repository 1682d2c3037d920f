//! Opus (RFC 6716, RTP mapping RFC 7587), mono, through the pure-Rust
//! `opus-rs` crate.
//!
//! The encoder runs in the VoIP application mode (SILK below 24 kHz, hybrid
//! SILK+CELT at 24 and 48 kHz). The decoder checks a packet's table of
//! contents (RFC 6716 §3.1-3.2) before handing it over, so its scratch buffer
//! is exactly as long as the packet's audio and malformed packets are
//! refused up front.

use opus_rs::{Application, OpusDecoder as Inner, OpusEncoder as InnerEnc};

use super::{CodecError, CodecKind};

/// Sample rates Opus runs at, Hz (RFC 6716 §2).
pub const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

/// The longest packet an encoder may write, bytes: three 20 ms frames of the
/// RFC 6716 §3.2.1 maximum of 1275 bytes plus a code 3 header.
const MAX_PACKET: usize = 3 * 1275 + 7;

/// The longest audio one packet may carry, ms (RFC 6716 §3.2.5).
const MAX_PACKET_MS: u32 = 120;

/// How to run an Opus encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusConfig {
    /// PCM sample rate, Hz: 8000, 12000, 16000, 24000 or 48000. Frames given
    /// to the encoder must be at this rate. The RTP clock stays 48000.
    pub sample_rate: u32,
    /// Target bitrate, bit/s (clamped by the encoder to 500..=3 000 000;
    /// RFC 7587 §3.1.1: 8-12 kbit/s narrowband speech, 16-20 wideband,
    /// 28-40 full band).
    pub bitrate: u32,
    /// Code in-band FEC (RFC 6716 §2.1.7, LBRR): each packet carries a
    /// coarse copy of the previous frame, which [`super::Decoder::decode_fec`]
    /// recovers. Only SILK and hybrid frames carry it.
    pub fec: bool,
    /// Packet loss the encoder should plan for, percent (0..=100). In-band
    /// FEC is coded only when this is above 0; higher values spend more
    /// bits on it.
    pub expected_loss_percent: u8,
    /// Encoder effort, 0 (cheapest) to 10 (best quality per bit); `None`
    /// picks [`OpusConfig::default_complexity`] for the sample rate. Opus
    /// encoding is by far the costliest thing in this module.
    pub complexity: Option<u8>,
}

impl Default for OpusConfig {
    /// 48 kHz, 32 kbit/s, FEC on, planned for 10 % loss, the complexity
    /// for the rate ([`OpusConfig::default_complexity`]).
    fn default() -> OpusConfig {
        OpusConfig {
            sample_rate: 48000,
            bitrate: 32000,
            fec: true,
            expected_loss_percent: 10,
            complexity: None,
        }
    }
}

impl OpusConfig {
    /// The complexity an encoder at `sample_rate` runs at unless told.
    ///
    /// Narrowband (8 kHz: how the relay codes speech from G.711 phones): 1.
    /// Measured on speech at 32 kbit/s with FEC, μ-law first, by
    /// `examples/opus_cost.rs` (callgrind, instructions per 20 ms frame)
    /// and `tests/opus_quality.py` (four espeak-ng voices; PESQ P.862
    /// narrowband, mean):
    ///
    /// | complexity | instructions | PESQ |
    /// | --- | --- | --- |
    /// | 0 | 0.37 M | 4.17 |
    /// | 1 | 0.41 M | 4.23 |
    /// | 3 | 0.80 M | 4.27 |
    /// | 5 | 1.01 M | 4.34 |
    /// | 8-10 | 1.81 M | 4.37 |
    ///
    /// Segmental SNR (9.2-9.3 dB), log-spectral distance and the 20 ms
    /// loudness contour (0.998) are the same from 1 to 10, and libopus
    /// decodes the packets sample for sample as opus-rs does. So 1: 2.5
    /// times cheaper than 5 for 0.1 of PESQ. 0 saves another 10 % of the
    /// encode for 0.06 more (on a steady 1 kHz tone 0.35 more: its pitch
    /// search is the coarsest).
    ///
    /// Other rates: 5 (not measured again for wideband and above).
    pub fn default_complexity(sample_rate: u32) -> u8 {
        if sample_rate <= 8000 {
            1
        } else {
            5
        }
    }

    /// The complexity this configuration runs at.
    pub fn effective_complexity(&self) -> u8 {
        self.complexity
            .unwrap_or_else(|| OpusConfig::default_complexity(self.sample_rate))
            .min(10)
    }
}

/// Opus encoder state.
pub(crate) struct OpusEncoder {
    inner: InnerEnc,
    rate: u32,
    /// Where a packet is written before it is appended to the caller's
    /// buffer: its length is the largest packet (the encoder reads it as its
    /// byte budget), and as it is kept, it is not zeroed per frame (3.7 k
    /// instructions a frame, 1 % of a narrowband encode).
    scratch: Box<[u8; MAX_PACKET]>,
}

impl OpusEncoder {
    pub(crate) fn new(config: OpusConfig) -> Result<OpusEncoder, CodecError> {
        check_rate(config.sample_rate)?;
        let mut inner = InnerEnc::new(config.sample_rate as i32, 1, Application::Voip)
            .map_err(CodecError::Opus)?;
        inner.bitrate_bps = config.bitrate.min(i32::MAX as u32) as i32;
        inner.use_inband_fec = config.fec;
        inner.packet_loss_perc = config.expected_loss_percent.min(100) as i32;
        inner.complexity = config.effective_complexity() as i32;
        inner.use_cbr = false;
        Ok(OpusEncoder {
            inner,
            rate: config.sample_rate,
            scratch: Box::new([0; MAX_PACKET]),
        })
    }

    /// Appends one packet coding `samples` (10, 20, 40 or 60 ms) to `out`.
    pub(crate) fn encode(&mut self, samples: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let ms = samples.len() as u64 * 1000 / self.rate as u64;
        let exact = (samples.len() as u64 * 1000).is_multiple_of(self.rate as u64);
        if !exact || ![10, 20, 40, 60].contains(&ms) {
            return Err(CodecError::FrameSize {
                codec: CodecKind::Opus,
                samples: samples.len(),
                rate: self.rate,
            });
        }
        let n = self
            .inner
            .encode_i16(samples, samples.len(), &mut self.scratch[..])
            .map_err(CodecError::Opus)?;
        out.extend_from_slice(&self.scratch[..n]);
        Ok(())
    }
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("rate", &self.rate)
            .field("bitrate", &self.inner.bitrate_bps)
            .field("fec", &self.inner.use_inband_fec)
            .field("complexity", &self.inner.complexity)
            .finish_non_exhaustive()
    }
}

/// Opus decoder state, with a float scratch buffer reused across packets.
pub(crate) struct OpusDecoder {
    inner: Inner,
    rate: u32,
    scratch: Vec<f32>,
    /// Samples in the last packet decoded: the length of a concealed frame.
    last_samples: usize,
}

impl OpusDecoder {
    pub(crate) fn new(rate: u32) -> Result<OpusDecoder, CodecError> {
        check_rate(rate)?;
        let inner = Inner::new(rate as i32, 1).map_err(CodecError::Opus)?;
        let frame = (rate / 50) as usize;
        Ok(OpusDecoder {
            inner,
            rate,
            scratch: vec![0.0; frame],
            last_samples: frame,
        })
    }

    /// Appends the audio of `packet` to `out`.
    pub(crate) fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        let n = packet_samples(packet, self.rate)?;
        self.scratch.resize(n, 0.0);
        let got = self
            .inner
            .decode(packet, n, &mut self.scratch)
            .map_err(CodecError::Opus)?;
        self.last_samples = got;
        push_pcm(&self.scratch[..got], out);
        Ok(())
    }

    /// Appends one frame (as long as the last packet) of the decoder's own
    /// loss concealment to `out`.
    pub(crate) fn conceal(&mut self, out: &mut Vec<i16>) -> Result<(), CodecError> {
        let n = self.last_samples;
        self.scratch.resize(n, 0.0);
        let got = self
            .inner
            .decode(&[], n, &mut self.scratch)
            .map_err(CodecError::Opus)?;
        push_pcm(&self.scratch[..got], out);
        Ok(())
    }

    /// Appends the frame lost before `next` (as long as the last packet),
    /// rebuilt from `next`'s in-band FEC, or concealed when it carries none.
    pub(crate) fn decode_fec(&mut self, next: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        packet_samples(next, self.rate)?;
        let n = self.last_samples;
        self.scratch.resize(n, 0.0);
        let got = self
            .inner
            .decode_fec(next, n, &mut self.scratch)
            .map_err(CodecError::Opus)?;
        push_pcm(&self.scratch[..got], out);
        Ok(())
    }
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

fn check_rate(rate: u32) -> Result<(), CodecError> {
    if OPUS_RATES.contains(&rate) {
        Ok(())
    } else {
        Err(CodecError::UnsupportedRate {
            codec: CodecKind::Opus,
            rate,
        })
    }
}

/// Float PCM (±1.0 full scale) to 16-bit, rounded half away from zero (as
/// `f32::round`) and saturated. Written out rather than with `round`, which
/// is a libm call per sample on the x86-64 baseline (4 k instructions per
/// 8 kHz frame, 5 % of a narrowband decode); in `f64` the half added is
/// exact, and `as` truncates toward zero and saturates.
fn push_pcm(pcm: &[f32], out: &mut Vec<i16>) {
    out.extend(pcm.iter().map(|&x| {
        let y = f64::from(x) * 32768.0;
        (y + 0.5f64.copysign(y)) as i16
    }));
}

/// Samples of audio a packet carries at `rate`, from its table of contents
/// (RFC 6716 §3.1) and frame count (§3.2), refusing what §3.4's
/// requirements R1 and R5 rule out (frame lengths are the decoder's check).
pub(crate) fn packet_samples(packet: &[u8], rate: u32) -> Result<usize, CodecError> {
    let malformed = |reason| CodecError::MalformedPayload {
        codec: CodecKind::Opus,
        reason,
    };
    let toc = *packet.first().ok_or(malformed("empty packet"))?;
    let config = toc >> 3;
    // Frame duration in 2.5 ms units (§3.1, Table 2).
    let frame_units: u32 = match config {
        0..=11 => [4, 8, 16, 24][(config % 4) as usize], // SILK 10/20/40/60 ms
        12..=15 => [4, 8][(config % 2) as usize],        // hybrid 10/20 ms
        _ => [1, 2, 4, 8][(config % 4) as usize],        // CELT 2.5/5/10/20 ms
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => {
            let count = packet
                .get(1)
                .ok_or(malformed("code 3 packet without a frame count"))?
                & 0x3F;
            if count == 0 {
                return Err(malformed("code 3 packet with no frames"));
            }
            count as u32
        }
    };
    let units = frame_units * frames;
    if units * 5 > MAX_PACKET_MS * 2 {
        return Err(malformed("packet longer than 120 ms"));
    }
    Ok((rate as u64 * units as u64 / 400) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_duration_comes_from_the_toc() {
        // config 1: SILK NB 20 ms, code 0 (one frame).
        assert_eq!(packet_samples(&[1 << 3, 0xAA], 48000), Ok(960));
        // config 15: hybrid FB 20 ms, code 1 (two frames) at 16 kHz.
        assert_eq!(packet_samples(&[15 << 3 | 1, 0, 0], 16000), Ok(640));
        // config 16: CELT NB 2.5 ms, code 3 with 3 frames.
        assert_eq!(packet_samples(&[16 << 3 | 3, 3, 0, 0], 48000), Ok(360));
        // config 3: SILK 60 ms, code 3 with 2 frames: 120 ms, the limit.
        assert_eq!(packet_samples(&[3 << 3 | 3, 2], 8000), Ok(960));
        // 3 x 60 ms is too long (R5), 0 frames (R5) and empty packets (R1) are malformed.
        assert!(packet_samples(&[3 << 3 | 3, 3], 8000).is_err());
        assert!(packet_samples(&[3 << 3 | 3, 0], 8000).is_err());
        assert!(packet_samples(&[3 << 3 | 3], 8000).is_err());
        assert!(packet_samples(&[], 8000).is_err());
    }

    #[test]
    fn complexity_defaults_to_the_measured_one_for_the_rate() {
        let at = |sample_rate| OpusConfig {
            sample_rate,
            ..OpusConfig::default()
        };
        assert_eq!(at(8000).effective_complexity(), 1);
        assert_eq!(at(16000).effective_complexity(), 5);
        assert_eq!(OpusConfig::default().effective_complexity(), 5);
        let told = |complexity| OpusConfig {
            complexity: Some(complexity),
            ..at(8000)
        };
        assert_eq!(told(7).effective_complexity(), 7);
        assert_eq!(told(200).effective_complexity(), 10);
        let e = OpusEncoder::new(at(8000)).unwrap();
        assert!(format!("{e:?}").contains("complexity: 1"), "{e:?}");
    }

    #[test]
    fn pcm_conversion_rounds_as_f32_round_and_saturates() {
        let reference = |x: f32| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        let mut pcm: Vec<f32> = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.5,
            -1.5,
            2.0,
            4.0,
            -4.0,
            f32::NAN,
            f32::INFINITY,
        ]
        .to_vec();
        // Halves, and the floats on either side of them.
        for k in [0i32, 1, 2, 3, 100, 32766, -1, -2, -3, -32767, -32768] {
            let half = (k as f32 + 0.5) / 32768.0;
            pcm.extend([half, half.next_up(), half.next_down()]);
        }
        pcm.extend((0..2000).map(|i| (i as f32 * 0.001237).sin() * 1.01));
        let mut out = Vec::new();
        push_pcm(&pcm, &mut out);
        let want: Vec<i16> = pcm.iter().map(|&x| reference(x)).collect();
        assert_eq!(out, want);
    }
}
