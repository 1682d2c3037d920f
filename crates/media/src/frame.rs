//! Decoded audio as the media engine passes it around.

/// A block of mono, signed 16-bit linear PCM at `rate` samples per second.
///
/// The engine works in 20 ms frames (160 samples at 8 kHz, 320 at 16 kHz,
/// 960 at 48 kHz) but nothing here requires that size.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    /// Samples per second: 8000, 16000, 24000 or 48000 in practice.
    pub rate: u32,
    pub samples: Vec<i16>,
}

impl Frame {
    pub fn new(rate: u32, samples: Vec<i16>) -> Frame {
        Frame { rate, samples }
    }

    /// `ms` milliseconds of silence at `rate`.
    pub fn silence(rate: u32, ms: u32) -> Frame {
        Frame {
            rate,
            samples: vec![0; (rate * ms / 1000) as usize],
        }
    }

    /// Duration in milliseconds (rounded down).
    pub fn duration_ms(&self) -> u32 {
        if self.rate == 0 {
            return 0;
        }
        (self.samples.len() as u64 * 1000 / self.rate as u64) as u32
    }
}
