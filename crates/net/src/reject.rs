//! A last word before closing a stream whose framing is lost.
//!
//! RFC 3261 §18.3: without a usable Content-Length the stream cannot be
//! framed any more, so the connection closes. When the failing message is a
//! request whose header section arrived whole, the peer is first told why
//! (§8.2: a 400, or 413 for a body over the limit, naming the fault), so a
//! bad Content-Length is an error the sender can read rather than a reset.

use bytes::Bytes;
use sip::{HeaderName, Method, ParseError, Response};

/// The response to send before closing, if one can be built from the
/// request head at the start of `rest` without trusting its framing.
///
/// The Content-Length header (the usual culprit) is left out so the head
/// parses on its own; anything else wrong with it, a response, an ACK (never
/// answered), or a head that is not complete gives `None`.
pub(crate) fn framing_error_response(rest: &[u8], error: &ParseError) -> Option<Bytes> {
    let head_end = rest.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = without_content_length(&rest[..head_end]);
    let message = sip::parse_datagram(Bytes::from(head)).ok()?;
    let request = message.as_request()?;
    if request.method == Method::Ack {
        return None;
    }
    // RFC 3261 §8.2.6.2: the response copies these; without them it cannot be matched.
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        request.headers.get(&name)?;
    }
    let reason: String = error
        .reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let status = if (400..700).contains(&error.status) {
        error.status
    } else {
        400
    };
    Some(Response::for_request(request, status, &reason).to_bytes())
}

/// The head with every `Content-Length` / `l` header line (and its folded
/// continuation lines) removed.
fn without_content_length(head: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(head.len());
    let mut skipping = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        let folded = line.starts_with(b" ") || line.starts_with(b"\t");
        if !folded {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = name.trim_ascii();
            skipping = line.contains(&b':')
                && (name.eq_ignore_ascii_case(b"content-length")
                    || name.eq_ignore_ascii_case(b"l"));
        }
        if !skipping {
            kept.extend_from_slice(line);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(head: &[u8]) -> ParseError {
        let mut decoder = sip::StreamDecoder::new(sip::Limits::default());
        decoder.push(head);
        decoder.next_frame().expect_err("framing must fail")
    }

    const HEAD: &str = "OPTIONS sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n\
        From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
        Call-ID: x1\r\nCSeq: 1 OPTIONS\r\n";

    #[test]
    fn negative_content_length_is_answered_400_naming_it() {
        let raw = format!("{HEAD}Content-Length: -5\r\n\r\nhello");
        let response = framing_error_response(raw.as_bytes(), &error(raw.as_bytes())).unwrap();
        let text = String::from_utf8(response.to_vec()).unwrap();
        assert!(text.starts_with("SIP/2.0 400 Content-Length"), "{text}");
        assert!(text.contains("Call-ID: x1\r\n") && text.contains("branch=z9hG4bK1"));
    }

    #[test]
    fn compact_and_folded_content_length_are_left_out() {
        let head = format!("{HEAD}l:\r\n  -5\r\nSubject: kept\r\n\r\n");
        let kept = String::from_utf8(without_content_length(head.as_bytes())).unwrap();
        assert_eq!(kept, format!("{HEAD}Subject: kept\r\n\r\n"));
    }

    #[test]
    fn no_answer_without_a_whole_request_head() {
        let partial = b"OPTIONS sip:bob@example.com SIP/2.0\r\nContent-Length: -1\r\n";
        let e = ParseError::clone(&error(
            b"OPTIONS sip:b@example.com SIP/2.0\r\nl: -1\r\n\r\n",
        ));
        assert!(framing_error_response(partial, &e).is_none());
        let response = "SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n";
        assert!(framing_error_response(response.as_bytes(), &e).is_none());
        let ack = HEAD.replace("OPTIONS", "ACK") + "Content-Length: -1\r\n\r\n";
        assert!(framing_error_response(ack.as_bytes(), &e).is_none());
        let no_call_id = HEAD.replace("Call-ID: x1\r\n", "") + "Content-Length: -1\r\n\r\n";
        assert!(framing_error_response(no_call_id.as_bytes(), &e).is_none());
    }
}
