//! Any bytes on a TCP stream: never panics, and the frames (or the error
//! that ends framing) are the same whether the stream arrives all at once
//! or in reads whose sizes (one byte at a time for an eighth of inputs)
//! are drawn from a generator seeded by the input itself. The whole input
//! is the stream, so seed messages from the conformance corpus stay intact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip::{Frame, Limits, ParseError, StreamDecoder};

/// Small limits so the size checks (513, 413) are reached too.
const LIMITS: Limits = Limits {
    max_head: 2048,
    max_body: 4096,
};

/// What a decoder made of a stream: its frames, the error that ended
/// framing (if any), and the bytes still buffered at the end.
#[derive(Debug, PartialEq)]
struct Decoded {
    frames: Vec<Frame>,
    error: Option<ParseError>,
    buffered: usize,
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(std::iter::once(data));

    // Reads of at most 1, 2, 4 ... 128 bytes, one size bound per input.
    let mut rng = SplitMix64(fnv1a(data));
    let max_read = 1usize << (rng.next() % 8);
    let mut reads = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = (1 + (rng.next() % max_read as u64) as usize).min(rest.len());
        let (read, tail) = rest.split_at(n);
        reads.push(read);
        rest = tail;
    }
    let sizes: Vec<usize> = reads.iter().map(|r| r.len()).collect();
    let chunked = decode(reads.into_iter());
    assert_eq!(whole, chunked, "reads of {sizes:?} changed the frames");
});

/// Feeds `reads` one after another, taking every frame after each, until
/// the decoder reports lost framing.
fn decode<'a>(reads: impl Iterator<Item = &'a [u8]>) -> Decoded {
    let mut dec = StreamDecoder::new(LIMITS);
    let mut frames = Vec::new();
    for read in reads {
        dec.push(read);
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(error) => {
                    // Framing is lost: the caller closes the connection, so
                    // bytes not yet pushed do not matter.
                    return Decoded {
                        frames,
                        error: Some(error),
                        buffered: 0,
                    };
                }
            }
        }
    }
    Decoded {
        frames,
        error: None,
        buffered: dec.buffered(),
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A tiny deterministic generator (SplitMix64) for the read sizes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
