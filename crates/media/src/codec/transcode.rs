//! [`Transcoder`]: payloads of one codec in, payloads of another out.

use super::{CodecError, Decoder, Encoder, Resampler};
use crate::Frame;

/// Decodes one codec, converts the sample rate and encodes another, reusing
/// its buffers.
///
/// Audio in and out are decoupled by a queue, so packets of any duration go
/// in and [`Encoder::frame_samples`]-long (20 ms) payloads come out:
/// feed each received payload (or loss) with
/// [`handle_payload`](Self::handle_payload) / [`handle_loss`](Self::handle_loss),
/// then call [`poll_payload`](Self::poll_payload) until it returns `None`.
///
/// ```
/// use media::codec::{CodecKind, Decoder, Encoder, Transcoder};
///
/// let mut t = Transcoder::new(
///     Decoder::new(CodecKind::Pcmu)?,
///     Encoder::new(CodecKind::Opus)?,
/// )?;
/// let mut opus = Vec::new();
/// t.handle_payload(&[0xFF; 160])?; // 20 ms of μ-law silence
/// while let Some(len) = t.poll_payload(&mut opus)? {
///     assert_eq!(len, opus.len());
///     // send `opus` in an RTP packet, then:
///     opus.clear();
/// }
/// # Ok::<(), media::codec::CodecError>(())
/// ```
#[derive(Debug)]
pub struct Transcoder {
    decoder: Decoder,
    encoder: Encoder,
    /// `None` when both sides run at the same rate.
    resampler: Option<Resampler>,
    /// Last decoded frame, at the decoder's rate.
    decoded: Frame,
    /// Audio at the encoder's rate not yet encoded.
    pending: Vec<i16>,
    /// One frame handed to the encoder.
    frame: Frame,
}

impl Transcoder {
    /// A transcoder from `decoder`'s codec to `encoder`'s.
    pub fn new(decoder: Decoder, encoder: Encoder) -> Result<Transcoder, CodecError> {
        let (from, to) = (decoder.sample_rate(), encoder.sample_rate());
        let resampler = if from == to {
            None
        } else {
            Some(Resampler::new(from, to)?)
        };
        let frame = encoder.frame_samples();
        Ok(Transcoder {
            decoder,
            encoder,
            resampler,
            decoded: Frame::new(from, Vec::with_capacity(frame * 3)),
            pending: Vec::with_capacity(frame * 3),
            frame: Frame::new(to, Vec::with_capacity(frame)),
        })
    }

    /// Decodes a received payload and queues its audio for encoding. On
    /// error nothing is queued; call [`handle_loss`](Self::handle_loss) to
    /// keep the outgoing stream's timing.
    pub fn handle_payload(&mut self, payload: &[u8]) -> Result<(), CodecError> {
        self.decoder.decode(payload, &mut self.decoded)?;
        self.queue_decoded();
        Ok(())
    }

    /// Queues a concealed frame in place of a lost payload.
    pub fn handle_loss(&mut self) {
        self.decoder.conceal(&mut self.decoded);
        self.queue_decoded();
    }

    /// Encodes the next 20 ms of queued audio, if there is that much,
    /// appending the payload to `out`; returns its length, or `None` when
    /// less than a frame is queued.
    pub fn poll_payload(&mut self, out: &mut Vec<u8>) -> Result<Option<usize>, CodecError> {
        let n = self.encoder.frame_samples();
        if self.pending.len() < n {
            return Ok(None);
        }
        self.frame.samples.clear();
        self.frame.samples.extend_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.encoder.encode(&self.frame, out).map(Some)
    }

    /// The decoder (for its codec and rate).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The encoder (for its codec and rate).
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    fn queue_decoded(&mut self) {
        match &mut self.resampler {
            Some(r) => r.process(&self.decoded.samples, &mut self.pending),
            None => self.pending.extend_from_slice(&self.decoded.samples),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_signal::{amplitude_at, sine, zero_crossing_frequency};
    use super::super::{CodecKind, OpusConfig};
    use super::*;

    #[test]
    fn pcmu_through_opus_and_back_keeps_a_1khz_tone() {
        let tone = sine(8000, 1000.0, 8000.0, 8000);
        let mut pcmu = Encoder::new(CodecKind::Pcmu).unwrap();
        let mut to_opus = Transcoder::new(
            Decoder::new(CodecKind::Pcmu).unwrap(),
            Encoder::new(CodecKind::Opus).unwrap(),
        )
        .unwrap();
        let mut to_pcmu = Transcoder::new(
            Decoder::new(CodecKind::Opus).unwrap(),
            Encoder::new(CodecKind::Pcmu).unwrap(),
        )
        .unwrap();
        let mut back = Decoder::new(CodecKind::Pcmu).unwrap();

        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        let mut frame = Frame::default();
        let mut heard = Vec::new();
        for chunk in tone.chunks(160) {
            a.clear();
            pcmu.encode(&Frame::new(8000, chunk.to_vec()), &mut a)
                .unwrap();
            to_opus.handle_payload(&a).unwrap();
            b.clear();
            while to_opus.poll_payload(&mut b).unwrap().is_some() {
                to_pcmu.handle_payload(&b).unwrap();
                b.clear();
                c.clear();
                while to_pcmu.poll_payload(&mut c).unwrap().is_some() {
                    assert_eq!(c.len(), 160);
                    back.decode(&c, &mut frame).unwrap();
                    heard.extend_from_slice(&frame.samples);
                    c.clear();
                }
            }
        }
        // Every 20 ms in gave 20 ms out.
        assert_eq!(heard.len(), tone.len());
        let steady = &heard[2000..6000];
        let f = zero_crossing_frequency(steady, 8000);
        assert!((f - 1000.0).abs() < 5.0, "{f} Hz");
        let db = 20.0 * (amplitude_at(steady, 8000, 1000.0) / 8000.0).log10();
        assert!(db.abs() < 2.0, "level {db:.2} dB");
    }

    #[test]
    fn dtmf_from_a_pcmu_phone_survives_narrowband_opus() {
        // The relay's PCMU -> Opus path at its default (narrowband, cheap)
        // complexity: every key still reads at the far end, in order.
        use crate::dtmf::{parse_digits, Detector, DtmfGenerator, ToneEvent, ToneLevels};
        let keys = "0123456789*#ABCD";
        let mut gen = DtmfGenerator::new(8000, ToneLevels::default()).unwrap();
        for d in parse_digits(keys).unwrap() {
            gen.push(d, 80, 80);
        }
        let mut pcmu = Encoder::new(CodecKind::Pcmu).unwrap();
        let config = OpusConfig {
            sample_rate: 8000,
            ..OpusConfig::default()
        };
        assert_eq!(config.effective_complexity(), 1);
        let mut to_opus = Transcoder::new(
            Decoder::new(CodecKind::Pcmu).unwrap(),
            Encoder::opus(config).unwrap(),
        )
        .unwrap();
        let mut far = Decoder::opus(8000).unwrap();
        let mut detector = Detector::new(8000).unwrap();
        let (mut frame, mut heard) = (Frame::default(), Frame::default());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..(keys.len() * 8 + 10) {
            gen.next_frame(&mut frame);
            a.clear();
            pcmu.encode(&frame, &mut a).unwrap();
            to_opus.handle_payload(&a).unwrap();
            b.clear();
            while to_opus.poll_payload(&mut b).unwrap().is_some() {
                far.decode(&b, &mut heard).unwrap();
                detector.process_frame(&heard).unwrap();
                b.clear();
            }
        }
        let mut got = String::new();
        while let Some(e) = detector.poll_event() {
            if let ToneEvent::Began { digit, .. } = e {
                got.push(digit.to_char());
            }
        }
        assert_eq!(got, keys);
    }

    #[test]
    fn packets_of_other_durations_are_reframed_to_20ms() {
        // 30 ms G.711 packets in, 20 ms Opus (16 kHz) packets out.
        let config = OpusConfig {
            sample_rate: 16000,
            ..OpusConfig::default()
        };
        let mut t = Transcoder::new(
            Decoder::new(CodecKind::Pcma).unwrap(),
            Encoder::opus(config).unwrap(),
        )
        .unwrap();
        let mut out = Vec::new();
        let mut payloads = 0;
        for _ in 0..4 {
            t.handle_payload(&[0xD5; 240]).unwrap();
            while t.poll_payload(&mut out).unwrap().is_some() {
                payloads += 1;
                out.clear();
            }
        }
        t.handle_loss(); // another 30 ms
        while t.poll_payload(&mut out).unwrap().is_some() {
            payloads += 1;
            out.clear();
        }
        assert_eq!(payloads, 150 / 20);
        assert_eq!(t.decoder().kind(), CodecKind::Pcma);
        assert_eq!(t.encoder().sample_rate(), 16000);
    }
}
