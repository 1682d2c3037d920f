//! Stream framing for TCP/TLS (RFC 3261 §18.3): messages are delimited by
//! their Content-Length; CRLF keep-alives (RFC 5626 §3.5.1) are recognised;
//! header and body sizes are bounded so a peer cannot make us buffer forever.

use crate::error::ParseError;
use crate::message::Message;
use crate::parser::{find_head_end, parse_head, Framing};
use bytes::{Bytes, BytesMut};

/// Size limits for one message on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Start line plus headers plus the empty line.
    pub max_head: usize,
    /// Body size (Content-Length) accepted.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 32 * 1024,
            max_body: 256 * 1024,
        }
    }
}

/// What the decoder found on the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
// Requests dominate; boxing them would add an allocation per message.
#[allow(clippy::large_enum_variant)]
pub enum Frame {
    Message(Message),
    /// A double CRLF keep-alive "ping"; answer with a single CRLF (RFC 5626 §4.4.1).
    Ping,
    /// A single CRLF "pong" (or a stray CRLF before a start line, RFC 3261 §7.5).
    Pong,
    /// A message framed by its Content-Length whose start line or headers
    /// are malformed. The stream stays in sync; hand `bytes` to the UAS
    /// core, which answers a request with a 400 naming `error`, as for a
    /// datagram.
    Invalid {
        bytes: Bytes,
        error: ParseError,
    },
}

/// Incremental decoder for one stream connection.
///
/// ```
/// let mut dec = sip::StreamDecoder::new(sip::Limits::default());
/// dec.push(b"OPTIONS sip:a@example.com SIP/2.0\r\nContent-Length: 0\r\n");
/// assert!(dec.next_frame().unwrap().is_none()); // waits for the rest
/// dec.push(b"\r\n");
/// assert!(matches!(dec.next_frame().unwrap(), Some(sip::Frame::Message(_))));
/// ```
///
/// An `Err` from [`StreamDecoder::next_frame`] means framing is lost: the
/// caller answers 400 if it can and closes the connection. A message that
/// is framed but malformed is not an `Err` but a [`Frame::Invalid`].
#[derive(Debug)]
pub struct StreamDecoder {
    buf: BytesMut,
    limits: Limits,
    /// `(head_end, total, error)` of a message whose body is still
    /// arriving; `error` is set when its head did not parse.
    pending: Option<(usize, usize, Option<ParseError>)>,
}

impl StreamDecoder {
    pub fn new(limits: Limits) -> Self {
        StreamDecoder {
            buf: BytesMut::with_capacity(4096),
            limits,
            pending: None,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether part of a message is buffered (the read deadline applies).
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ParseError> {
        if self.pending.is_none() {
            if self.buf.starts_with(b"\r\n\r\n") {
                let _ = self.buf.split_to(4);
                return Ok(Some(Frame::Ping));
            }
            if self.buf.starts_with(b"\r\n") {
                if self.buf.len() == 2 || (self.buf.len() == 3 && self.buf[2] == b'\r') {
                    return Ok(None);
                }
                let _ = self.buf.split_to(2);
                return Ok(Some(Frame::Pong));
            }
        }
        let (head_end, total, invalid) = match self.pending.take() {
            Some(p) => p,
            None => {
                let window = &self.buf[..self.buf.len().min(self.limits.max_head)];
                let Some(head_end) = find_head_end(window) else {
                    if self.buf.len() >= self.limits.max_head {
                        return Err(ParseError::bad_owned(format!(
                            "header section exceeds {} bytes",
                            self.limits.max_head
                        ))
                        .with_status(513));
                    }
                    return Ok(None);
                };
                // Learn Content-Length from a copy of the head only; the real
                // parse below is zero-copy once the whole message is here.
                let (cl, invalid) = match parse_head(
                    &Bytes::copy_from_slice(&self.buf[..head_end]),
                    Framing::Stream,
                ) {
                    Ok(head) => (head.content_length.unwrap_or(0), None),
                    // A malformed head whose Content-Length is still plain:
                    // the stream stays framed, the message is reported invalid.
                    Err(e) => match scan_content_length(&self.buf[..head_end]) {
                        Some(cl) => (cl, Some(e)),
                        None => return Err(e),
                    },
                };
                if cl > self.limits.max_body {
                    return Err(ParseError::bad_owned(format!(
                        "Content-Length {cl} exceeds the {} byte limit",
                        self.limits.max_body
                    ))
                    .with_status(413));
                }
                (head_end, head_end + cl, invalid)
            }
        };
        if self.buf.len() < total {
            self.pending = Some((head_end, total, invalid));
            return Ok(None);
        }
        let bytes = self.buf.split_to(total).freeze();
        if let Some(error) = invalid {
            return Ok(Some(Frame::Invalid { bytes, error }));
        }
        match parse_head(&bytes, Framing::Stream) {
            Ok(head) => {
                let body = bytes.slice(head.body_start..);
                Ok(Some(Frame::Message(head.into_message(body))))
            }
            Err(error) => Ok(Some(Frame::Invalid { bytes, error })),
        }
    }
}

/// The value of the one `Content-Length` (or compact `l`) header line of
/// a head that did not parse, if it is there exactly once, unfolded, and a plain
/// non-negative number: enough to keep a stream framed past a message that
/// is malformed elsewhere. Anything less certain gives `None` (framing lost).
fn scan_content_length(head: &[u8]) -> Option<usize> {
    let mut found = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = std::str::from_utf8(line[colon + 1..].trim_ascii()).ok()?;
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Two Content-Length lines, even equal ones, make the framing
        // ambiguous (a request-smuggling vector): give up.
        if found.is_some() {
            return None;
        }
        found = Some(value.parse().ok()?);
    }
    // No Content-Length at all: on a stream the body length is unknown.
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_message_with_a_plain_content_length_keeps_the_stream_framed() {
        let bad = b"OPTIONS sip:bob@example.com SIP/7.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 3\r\n\r\nabc";
        let mut dec = StreamDecoder::new(Limits::default());
        dec.push(bad);
        dec.push(OPTIONS);
        let Some(Frame::Invalid { bytes, error }) = dec.next_frame().unwrap() else {
            panic!("expected an invalid frame")
        };
        assert_eq!(&bytes[..], &bad[..]);
        assert_eq!(error.status, 505, "{error}");
        assert!(matches!(dec.next_frame().unwrap(), Some(Frame::Message(_))));
        assert!(dec.next_frame().unwrap().is_none());

        // Conflicting or unreadable Content-Length: framing is lost.
        for head in [
            &b"OPTIONS sip:b SIP/7.0\r\nContent-Length: 3\r\nl: 4\r\n\r\n"[..],
            &b"OPTIONS sip:b SIP/7.0\r\nContent-Length: -3\r\n\r\n"[..],
            &b"OPTIONS sip:b SIP/7.0\r\nVia: x\r\n\r\n"[..],
        ] {
            let mut dec = StreamDecoder::new(Limits::default());
            dec.push(head);
            assert!(
                dec.next_frame().is_err(),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    const OPTIONS: &[u8] = b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\nContent-Length: 4\r\n\r\nabcd";

    #[test]
    fn frames_byte_by_byte_and_back_to_back() {
        let mut dec = StreamDecoder::new(Limits::default());
        let mut stream = Vec::new();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(OPTIONS);
        stream.extend_from_slice(OPTIONS);
        let mut frames = Vec::new();
        for b in &stream {
            dec.push(std::slice::from_ref(b));
            while let Some(f) = dec.next_frame().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0], Frame::Ping);
        for f in &frames[1..] {
            let Frame::Message(m) = f else {
                panic!("expected a message")
            };
            assert_eq!(&m.body()[..], b"abcd");
            assert_eq!(&m.to_bytes()[..], OPTIONS);
        }
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn content_length_required_and_bounded() {
        let mut dec = StreamDecoder::new(Limits::default());
        dec.push(
            b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n",
        );
        let e = dec.next_frame().unwrap_err();
        assert!(e.reason.contains("Content-Length is required"), "{e}");

        let mut dec = StreamDecoder::new(Limits {
            max_head: 1024,
            max_body: 10,
        });
        dec.push(b"OPTIONS sip:bob@example.com SIP/2.0\r\nContent-Length: 11\r\n\r\n");
        assert_eq!(dec.next_frame().unwrap_err().status, 413);

        let mut dec = StreamDecoder::new(Limits {
            max_head: 64,
            max_body: 10,
        });
        dec.push(&[b'A'; 100]);
        assert!(dec.next_frame().unwrap_err().reason.contains("exceeds"));
    }

    #[test]
    fn negative_or_double_content_length_loses_framing() {
        for bad in [
            &b"Content-Length: -999\r\n"[..],
            b"Content-Length: 5\r\nl: 5\r\n",
        ] {
            let mut dec = StreamDecoder::new(Limits::default());
            dec.push(b"OPTIONS sip:bob@example.com SIP/2.0\r\n");
            dec.push(bad);
            dec.push(b"\r\nhello");
            assert!(dec.next_frame().is_err());
        }
    }
}
