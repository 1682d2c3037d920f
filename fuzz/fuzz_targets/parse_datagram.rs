//! Any bytes as a UDP datagram: never panics; an accepted message
//! re-serializes to the octets it was parsed from (RFC 3261 §18.3: bytes
//! after Content-Length are not part of it), and parsing that output again
//! accepts it with the same validation verdict.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = sip::parse_datagram(Bytes::copy_from_slice(data)) else {
        return;
    };
    let verdict = sip::validate(&msg).map_err(|e| e.status);
    let out = msg.to_bytes();
    let input = &data[data
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()..];
    if out.len() <= input.len() {
        assert_eq!(&input[..out.len()], &out[..], "round trip differs");
    } else {
        // The one tolerated shortcut: a datagram whose header section ends
        // at the end of the datagram without the empty line.
        assert_eq!(&out[..input.len()], input, "round trip differs");
        assert_eq!(
            &out[input.len()..],
            b"\r\n",
            "only the empty line may be added"
        );
    }
    let again = sip::parse_datagram(out.clone()).expect("serialized output parses");
    assert_eq!(again.to_bytes(), out, "serialization is a fixed point");
    assert_eq!(sip::validate(&again).map_err(|e| e.status), verdict);
});
