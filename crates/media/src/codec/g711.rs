//! ITU-T G.711 μ-law (PCMU) and A-law (PCMA), table-driven.
//!
//! μ-law codes 14-bit samples and A-law 13-bit ones whose smallest step is
//! two units, so a code depends only on the top 14 (μ-law) or 12 (A-law) bits
//! of a 16-bit sample. A negative sample's magnitude is its one's complement
//! (`!x`), as in the ITU-T G.191 reference software, so -1 codes as μ-law
//! 0x7F ("negative zero") and both μ-law zeros decode to 0.
//!
//! Encoding is one lookup in a 16 KiB (μ-law) or 4 KiB (A-law) table
//! indexed by those top bits; decoding is one lookup in a 256-entry table.
//! The tables are built at compile time.

/// μ-law byte for a 16-bit linear sample (ITU-T G.711 Table 2).
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    ULAW_ENCODE[((sample >> 2) as u16 & 0x3FFF) as usize]
}

/// 16-bit linear sample for a μ-law byte (ITU-T G.711 Table 2); full scale is
/// ±32124.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// A-law byte for a 16-bit linear sample (ITU-T G.711 Table 1), even bits
/// inverted as transmitted.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    ALAW_ENCODE[((sample >> 4) as u16 & 0x0FFF) as usize]
}

/// 16-bit linear sample for an A-law byte (ITU-T G.711 Table 1); full scale is
/// ±32256 and there is no zero code (0xD5 is +8, 0x55 is -8).
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// Appends the μ-law bytes of `samples` to `out`.
pub fn ulaw_encode_slice(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&s| ulaw_encode(s)));
}

/// Appends the A-law bytes of `samples` to `out`.
pub fn alaw_encode_slice(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&s| alaw_encode(s)));
}

/// Appends the linear samples of μ-law `codes` to `out`.
pub fn ulaw_decode_slice(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&c| ulaw_decode(c)));
}

/// Appends the linear samples of A-law `codes` to `out`.
pub fn alaw_decode_slice(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&c| alaw_decode(c)));
}

/// μ-law bias in 14-bit units: the segment ends are 33 less than powers of two.
const ULAW_BIAS: i32 = 33;
/// Largest 14-bit magnitude μ-law tells apart; biased it is 0x1FFF, the
/// top of segment 7, step 15.
const ULAW_CLIP: i32 = 0x1FFF - ULAW_BIAS;

/// μ-law code of a 14-bit two's complement value (the top 14 bits of a
/// sample).
const fn ulaw_from_14bit(x: i32) -> u8 {
    // The code is transmitted inverted: a positive sample ends up with bit 7 set.
    let (sign, magnitude) = if x < 0 { (0x80, !x) } else { (0x00, x) };
    let magnitude = if magnitude > ULAW_CLIP {
        ULAW_CLIP
    } else {
        magnitude
    };
    // The biased magnitude lies in [32 << e, 64 << e) for segment e.
    let biased = magnitude + ULAW_BIAS;
    let segment = 26 - (biased as u32).leading_zeros() as i32; // 6 bits -> 0
    let step = (biased >> (segment + 1)) & 0x0F;
    !(sign | (segment << 4) | step) as u8
}

/// Linear 16-bit value of a μ-law code: the middle of its decision interval.
const fn ulaw_to_linear(code: u8) -> i16 {
    let c = !code;
    let segment = ((c >> 4) & 0x07) as i32;
    let step = (c & 0x0F) as i32;
    let value = ulaw_level(segment, step);
    if c & 0x80 != 0 {
        -value
    } else {
        value
    }
}

/// `(((2q + 33) << e) - 33) * 4`: the reconstruction level of segment `e`,
/// step `q`, in 16-bit units (0 for segment 0, step 0).
const fn ulaw_level(segment: i32, step: i32) -> i16 {
    ((((2 * step + ULAW_BIAS) << segment) - ULAW_BIAS) * 4) as i16
}

/// A-law code of the top 12 bits of a sample (two's complement): an
/// 11-bit magnitude and a sign.
const fn alaw_from_12bit(x: i32) -> u8 {
    let (sign, magnitude) = if x < 0 { (0x00, !x) } else { (0x80, x) };
    // Segments 0 and 1 share a step of 1 (in these units); segment e >= 1
    // covers [16 << (e - 1), 32 << (e - 1)).
    let code = if magnitude < 16 {
        magnitude
    } else {
        let segment = 28 - (magnitude as u32).leading_zeros() as i32; // 16..31 -> 1
        (segment << 4) | ((magnitude >> (segment - 1)) & 0x0F)
    };
    ((sign | code) ^ 0x55) as u8
}

/// Linear 16-bit value of an A-law code: the middle of its decision interval.
const fn alaw_to_linear(code: u8) -> i16 {
    let c = code ^ 0x55;
    let segment = ((c >> 4) & 0x07) as i32;
    let step = (c & 0x0F) as i32;
    let magnitude = if segment == 0 {
        (step << 4) + 8
    } else {
        (((step + 16) << 4) + 8) << (segment - 1)
    };
    if c & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

static ULAW_ENCODE: [u8; 1 << 14] = {
    let mut table = [0u8; 1 << 14];
    let mut i = 0;
    while i < table.len() {
        // The index is the 14-bit pattern; sign-extend it.
        let x = ((i as i32) << 18) >> 18;
        table[i] = ulaw_from_14bit(x);
        i += 1;
    }
    table
};

static ALAW_ENCODE: [u8; 1 << 12] = {
    let mut table = [0u8; 1 << 12];
    let mut i = 0;
    while i < table.len() {
        // The index is the 12-bit pattern; sign-extend it.
        let x = ((i as i32) << 20) >> 20;
        table[i] = alaw_from_12bit(x);
        i += 1;
    }
    table
};

static ULAW_DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_to_linear(i as u8);
        i += 1;
    }
    table
};

static ALAW_DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_to_linear(i as u8);
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_code_points() {
        // μ-law (ITU-T G.711 Table 2, codes as transmitted): 0xFF and 0x7F are
        // the two zeros, 0x80 / 0x00 full scale.
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0xFE), 8); // segment 0, step 1: 2 in 14 bits
        assert_eq!(ulaw_decode(0xF0), 120); // segment 0, step 15
        assert_eq!(ulaw_decode(0xEF), 132); // segment 1, step 0
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        // A-law (ITU-T G.711 Table 1): even bits inverted, no zero.
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(code));
            if code == 0x7F {
                assert_eq!(back, 0xFF, "negative zero comes back positive");
            } else {
                assert_eq!(back, code, "μ-law {code:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn decoded_levels_are_symmetric_and_monotonic() {
        // Positive codes in increasing level order.
        let ulaw: Vec<i16> = (0x80..=0xFFu8).rev().map(ulaw_decode).collect();
        let alaw: Vec<i16> = (0..128u8).map(|c| alaw_decode((0x80 | c) ^ 0x55)).collect();
        for levels in [&ulaw, &alaw] {
            assert!(levels.windows(2).all(|w| w[0] < w[1]));
        }
        for code in 0..128u8 {
            assert_eq!(ulaw_decode(code), -ulaw_decode(code | 0x80));
            assert_eq!(alaw_decode(code ^ 0x55), -alaw_decode((code | 0x80) ^ 0x55));
        }
    }

    #[test]
    fn quantization_error_stays_within_half_a_step() {
        for x in i16::MIN..=i16::MAX {
            // μ-law: steps double per segment, from 8 (16-bit units) at
            // the bottom; the code keeps the top 14 bits, which adds up to 3.
            let y = ulaw_decode(ulaw_encode(x)) as i32;
            let x = x as i32;
            let mag = x.unsigned_abs().min(32124) as i32;
            let segment = (31 - (((mag >> 2) + 33) as u32).leading_zeros() as i32 - 5).max(0);
            let half_step = 4 << segment;
            if x.abs() <= 32124 {
                assert!((y - x).abs() <= half_step + 4, "μ-law {x} -> {y}");
            }
            // A-law: steps of 16 in segments 0 and 1, doubling above.
            let y = alaw_decode(alaw_encode(x as i16)) as i32;
            let segment = ((mag >> 4) as u32).max(16).ilog2() as i32 - 4;
            let half_step = 8 << segment;
            if x.abs() <= 32256 {
                assert!((y - x).abs() <= half_step + 8, "A-law {x} -> {y}");
            }
        }
    }
}
