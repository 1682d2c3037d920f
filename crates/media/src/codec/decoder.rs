//! [`Decoder`]: RTP payloads to PCM frames, and what to play when one is
//! missing.

use super::g711;
use super::g722::{self, G722Decoder};
use super::kind::FRAME_MS;
use super::opus::OpusDecoder;
use super::plc::WaveformPlc;
use super::{CodecError, CodecKind};
use crate::Frame;

/// One stream's decoder for any [`CodecKind`].
///
/// Lost packets: [`conceal`](Self::conceal) makes up a frame. Opus uses its
/// own concealment; G.711 and G.722 repeat the last pitch period with a
/// fade (full level for 10 ms, silent after 60 ms) and cross-fade into the
/// next good frame, after ITU-T G.711 Appendix I. When the packet after a
/// loss has arrived, [`decode_fec`](Self::decode_fec) rebuilds the lost one
/// from its Opus in-band FEC instead.
#[derive(Debug)]
pub struct Decoder {
    kind: CodecKind,
    rate: u32,
    /// Samples in the last frame decoded: the length of a concealed frame.
    last_samples: usize,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    G711 {
        alaw: bool,
        plc: WaveformPlc,
    },
    G722 {
        decoder: Box<G722Decoder>,
        plc: WaveformPlc,
    },
    Opus(Box<OpusDecoder>),
}

impl Decoder {
    /// A decoder for `kind`, at [`CodecKind::sample_rate`] (Opus: 48 kHz).
    pub fn new(kind: CodecKind) -> Result<Decoder, CodecError> {
        let rate = kind.sample_rate();
        let inner = match kind {
            CodecKind::Pcmu | CodecKind::Pcma => Inner::G711 {
                alaw: kind == CodecKind::Pcma,
                plc: WaveformPlc::new(rate),
            },
            CodecKind::G722 => Inner::G722 {
                decoder: Box::new(G722Decoder::new()),
                plc: WaveformPlc::new(g722::RATE),
            },
            CodecKind::Opus => return Decoder::opus(rate),
        };
        Ok(Decoder {
            kind,
            rate,
            last_samples: (rate * FRAME_MS / 1000) as usize,
            inner,
        })
    }

    /// A mono Opus decoder producing `sample_rate` Hz audio (8000, 12000,
    /// 16000, 24000 or 48000), whatever rate the sender coded at.
    pub fn opus(sample_rate: u32) -> Result<Decoder, CodecError> {
        Ok(Decoder {
            kind: CodecKind::Opus,
            rate: sample_rate,
            last_samples: (sample_rate * FRAME_MS / 1000) as usize,
            inner: Inner::Opus(Box::new(OpusDecoder::new(sample_rate)?)),
        })
    }

    /// The codec.
    pub fn kind(&self) -> CodecKind {
        self.kind
    }

    /// Sample rate of the frames this decoder produces, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Decodes one RTP payload into `out`, replacing its samples (its
    /// allocation is reused) and setting its rate.
    ///
    /// The first good frame after a concealed one starts with a short
    /// cross-fade from the concealment (G.711, G.722). On error `out` is
    /// left empty.
    pub fn decode(&mut self, payload: &[u8], out: &mut Frame) -> Result<(), CodecError> {
        out.rate = self.rate;
        out.samples.clear();
        if payload.is_empty() {
            return Err(CodecError::MalformedPayload {
                codec: self.kind,
                reason: "empty payload",
            });
        }
        match &mut self.inner {
            Inner::G711 { alaw, plc } => {
                if *alaw {
                    g711::alaw_decode_slice(payload, &mut out.samples);
                } else {
                    g711::ulaw_decode_slice(payload, &mut out.samples);
                }
                plc.handle_good(&mut out.samples);
            }
            Inner::G722 { decoder, plc } => {
                decoder.decode(payload, &mut out.samples);
                plc.handle_good(&mut out.samples);
            }
            Inner::Opus(d) => {
                if let Err(e) = d.decode(payload, &mut out.samples) {
                    out.samples.clear();
                    return Err(e);
                }
            }
        }
        self.last_samples = out.samples.len();
        Ok(())
    }

    /// Writes a made-up frame for a lost packet into `out`, as long as the
    /// last frame decoded (20 ms before any). Should the Opus decoder fail
    /// to conceal, `out` is silence.
    pub fn conceal(&mut self, out: &mut Frame) {
        out.rate = self.rate;
        out.samples.clear();
        match &mut self.inner {
            Inner::G711 { plc, .. } | Inner::G722 { plc, .. } => {
                out.samples.resize(self.last_samples, 0);
                plc.conceal(&mut out.samples);
            }
            Inner::Opus(d) => {
                if d.conceal(&mut out.samples).is_err() {
                    out.samples.clear();
                    out.samples.resize(self.last_samples, 0);
                }
            }
        }
    }

    /// Writes into `out` the frame lost just before `next`, the payload
    /// that followed it, rebuilt from `next`'s Opus in-band FEC (RFC 6716
    /// §2.1.7); then decode `next` itself with [`decode`](Self::decode).
    ///
    /// When `next` carries no FEC (CELT-only packets, an encoder without
    /// FEC) the frame is concealed; for G.711 and G.722 this is
    /// [`conceal`](Self::conceal). On error `out` is left empty.
    pub fn decode_fec(&mut self, next: &[u8], out: &mut Frame) -> Result<(), CodecError> {
        match &mut self.inner {
            Inner::Opus(d) => {
                out.rate = self.rate;
                out.samples.clear();
                if let Err(e) = d.decode_fec(next, &mut out.samples) {
                    out.samples.clear();
                    return Err(e);
                }
                Ok(())
            }
            _ => {
                self.conceal(out);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_signal::{amplitude_at, rms, sine, zero_crossing_frequency};
    use super::super::{Encoder, OpusConfig};
    use super::*;

    /// Encodes `tone` in 20 ms frames, returning the payloads.
    fn packets(encoder: &mut Encoder, tone: &[i16]) -> Vec<Vec<u8>> {
        let rate = encoder.sample_rate();
        tone.chunks(encoder.frame_samples())
            .map(|c| {
                let mut p = Vec::new();
                encoder
                    .encode(&Frame::new(rate, c.to_vec()), &mut p)
                    .unwrap();
                p
            })
            .collect()
    }

    #[test]
    fn every_codec_carries_a_1khz_tone() {
        for kind in [
            CodecKind::Pcmu,
            CodecKind::Pcma,
            CodecKind::G722,
            CodecKind::Opus,
        ] {
            let rate = kind.sample_rate();
            let tone = sine(rate, 1000.0, 8000.0, rate as usize);
            let mut enc = Encoder::new(kind).unwrap();
            let mut dec = Decoder::new(kind).unwrap();
            let mut heard = Vec::new();
            let mut frame = Frame::default();
            for p in packets(&mut enc, &tone) {
                dec.decode(&p, &mut frame).unwrap();
                assert_eq!(frame.rate, rate);
                assert_eq!(frame.samples.len(), rate as usize / 50, "{kind}");
                heard.extend_from_slice(&frame.samples);
            }
            let steady = &heard[rate as usize / 4..rate as usize * 3 / 4];
            let f = zero_crossing_frequency(steady, rate);
            assert!((f - 1000.0).abs() < 5.0, "{kind}: {f} Hz");
            let db = 20.0 * (amplitude_at(steady, rate, 1000.0) / 8000.0).log10();
            assert!(db.abs() < 1.0, "{kind}: level {db:.2} dB");
        }
    }

    #[test]
    fn g711_concealment_continues_the_tone_then_recovers() {
        for kind in [CodecKind::Pcmu, CodecKind::Pcma, CodecKind::G722] {
            let rate = kind.sample_rate();
            let tone = sine(rate, 300.0, 8000.0, rate as usize / 2);
            let mut enc = Encoder::new(kind).unwrap();
            let mut dec = Decoder::new(kind).unwrap();
            let mut frame = Frame::default();
            let ps = packets(&mut enc, &tone);
            for p in &ps[..10] {
                dec.decode(p, &mut frame).unwrap();
            }
            dec.conceal(&mut frame);
            assert_eq!(frame.samples.len(), rate as usize / 50);
            let level = amplitude_at(&frame.samples, rate, 300.0);
            assert!(level > 6000.0, "{kind}: concealed tone at {level}");
            // decode_fec has no FEC to use here: it conceals as well.
            dec.decode_fec(&ps[12], &mut frame).unwrap();
            assert!(rms(&frame.samples) > 1000.0, "{kind}");
            dec.decode(&ps[12], &mut frame).unwrap();
            assert_eq!(frame.samples.len(), rate as usize / 50);
        }
    }

    #[test]
    fn opus_fec_recovers_lost_packets_better_than_concealment() {
        // A 16 kHz Opus stream with FEC; packets are lost one at a time.
        let config = OpusConfig {
            sample_rate: 16000,
            bitrate: 24000,
            fec: true,
            expected_loss_percent: 10,
            ..OpusConfig::default()
        };
        let tone = warble(16000, 16000);
        let mut enc = Encoder::opus(config).unwrap();
        let ps = packets(&mut enc, &tone);
        let mut frame = Frame::default();
        let mut dec = Decoder::opus(16000).unwrap();
        let reference: Vec<Vec<i16>> = ps
            .iter()
            .map(|p| {
                dec.decode(p, &mut frame).unwrap();
                frame.samples.clone()
            })
            .collect();
        // Mean error of the frame played for each lost packet, relative to
        // the frame itself.
        let error_with = |use_fec: bool| {
            let losses = (2..48).step_by(3);
            let count = losses.len() as f64;
            let mut total = 0.0;
            for lost in losses {
                let mut dec = Decoder::opus(16000).unwrap();
                let mut frame = Frame::default();
                for p in &ps[..lost] {
                    dec.decode(p, &mut frame).unwrap();
                }
                if use_fec {
                    dec.decode_fec(&ps[lost + 1], &mut frame).unwrap();
                } else {
                    dec.conceal(&mut frame);
                }
                assert_eq!(frame.samples.len(), 320);
                let diff: Vec<i16> = frame
                    .samples
                    .iter()
                    .zip(&reference[lost])
                    .map(|(a, b)| a.saturating_sub(*b))
                    .collect();
                total += rms(&diff) / rms(&reference[lost]);
            }
            total / count
        };
        let (fec, plc) = (error_with(true), error_with(false));
        assert!(fec < 0.75, "FEC error {fec:.2} of the signal");
        assert!(fec < 0.75 * plc, "FEC {fec:.2} vs concealment {plc:.2}");
    }

    /// A tone gliding between 300 and 900 Hz three times a second, so
    /// concealment (which extends the last pitch) cannot guess a lost frame.
    fn warble(rate: u32, n: usize) -> Vec<i16> {
        let mut phase = 0.0f64;
        (0..n)
            .map(|i| {
                let t = i as f64 / rate as f64;
                let f = 600.0 + 300.0 * (std::f64::consts::TAU * 3.0 * t).sin();
                phase += std::f64::consts::TAU * f / rate as f64;
                (8000.0 * phase.sin()) as i16
            })
            .collect()
    }

    #[test]
    fn opus_decodes_at_any_rate_and_refuses_garbage() {
        let mut enc = Encoder::new(CodecKind::Opus).unwrap();
        let tone = sine(48000, 1000.0, 8000.0, 48000);
        let ps = packets(&mut enc, &tone);
        for rate in [8000, 16000, 24000] {
            let mut dec = Decoder::opus(rate).unwrap();
            let mut frame = Frame::default();
            let mut heard = Vec::new();
            for p in &ps {
                dec.decode(p, &mut frame).unwrap();
                assert_eq!(frame.samples.len(), rate as usize / 50);
                heard.extend_from_slice(&frame.samples);
            }
            let f = zero_crossing_frequency(&heard[rate as usize / 4..], rate);
            assert!((f - 1000.0).abs() < 5.0, "at {rate} Hz: {f} Hz");
        }
        let mut dec = Decoder::new(CodecKind::Opus).unwrap();
        let mut frame = Frame::default();
        assert!(dec.decode(&[], &mut frame).is_err());
        // Code 3 with 63 frames of 20 ms: far over 120 ms.
        assert!(dec.decode(&[(1 << 3) | 3, 63, 0, 0], &mut frame).is_err());
        assert!(frame.samples.is_empty());
    }

    #[test]
    fn random_payloads_never_panic() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(3);
        let mut frame = Frame::default();
        for kind in [
            CodecKind::Pcmu,
            CodecKind::Pcma,
            CodecKind::G722,
            CodecKind::Opus,
        ] {
            let mut dec = Decoder::new(kind).unwrap();
            for i in 0..1500 {
                let len = rng.gen_range(0..200);
                let payload: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                if i % 7 == 0 {
                    let _ = dec.decode_fec(&payload, &mut frame);
                } else if i % 5 == 0 {
                    dec.conceal(&mut frame);
                } else {
                    let _ = dec.decode(&payload, &mut frame);
                }
            }
        }
    }
}
