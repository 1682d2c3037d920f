//! Any bytes on a TCP stream, cut into chunks at points taken from the
//! input: never panics, and the frames (or the framing error) are the same
//! however the stream was chunked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip::{Frame, Limits, StreamDecoder};

/// Frames until the decoder needs more bytes; `Err` ends the stream.
fn drain(dec: &mut StreamDecoder, out: &mut Vec<Result<Frame, u16>>) -> bool {
    loop {
        match dec.next_frame() {
            Ok(Some(f)) => out.push(Ok(f)),
            Ok(None) => return true,
            Err(e) => {
                out.push(Err(e.status));
                return false;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    // Small limits so the size checks are reached too.
    let limits = Limits {
        max_head: 2048,
        max_body: 4096,
    };
    let mut whole = Vec::new();
    let mut dec = StreamDecoder::new(limits);
    dec.push(stream);
    drain(&mut dec, &mut whole);

    let mut chunked = Vec::new();
    let mut dec = StreamDecoder::new(limits);
    let step = usize::from(seed % 31) + 1;
    let mut live = true;
    for chunk in stream.chunks(step) {
        dec.push(chunk);
        if !drain(&mut dec, &mut chunked) {
            live = false;
            break;
        }
    }
    let _ = live;
    assert_eq!(whole, chunked, "chunking changed the frames (step {step})");
});
