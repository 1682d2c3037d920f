//! Parsing one message from bytes (RFC 3261 §7, §25): start line, header
//! lines (with folding), and the body as framed by Content-Length.
//!
//! The parser is strict where RFC 4475 asks for a 400 and tolerant only
//! where it asks for robustness; every rejection names the fault.

use crate::error::ParseError;
use crate::header_name::HeaderName;
use crate::headers::simple;
use crate::lex;
use crate::message::{Header, Headers, Message, Request, Response};
use crate::method::Method;
use crate::uri::Uri;
use bytes::{Bytes, BytesMut};

/// How the body of a message is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// UDP: a missing Content-Length means "to the end of the datagram";
    /// octets beyond Content-Length are discarded (RFC 3261 §18.3).
    Datagram,
    /// TCP/TLS: Content-Length is mandatory (RFC 3261 §18.3, §20.14).
    Stream,
}

/// The head of a message: start line and headers, and where the body starts.
pub(crate) struct Head {
    pub start: StartLine,
    pub headers: Headers,
    /// Offset of the first body byte.
    pub body_start: usize,
    /// The single Content-Length value, if present.
    pub content_length: Option<usize>,
}

// Requests dominate; boxing them would add an allocation per message.
#[allow(clippy::large_enum_variant)]
pub(crate) enum StartLine {
    Request {
        method: Method,
        uri: Uri,
        version: Bytes,
    },
    Response {
        status: u16,
        reason: Bytes,
        version: Bytes,
    },
}

/// Parses one SIP message received as a UDP datagram.
///
/// Leading CRLFs are skipped; bytes after Content-Length are discarded
/// (RFC 3261 §18.3), so the returned message re-serializes to exactly the
/// octets that made it up.
pub fn parse_datagram(data: Bytes) -> Result<Message, ParseError> {
    let skip = data
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let data = if skip > 0 { data.slice(skip..) } else { data };
    if data.is_empty() {
        return Err(ParseError::bad("empty message"));
    }
    let head = parse_head(&data, Framing::Datagram)?;
    let available = data.len() - head.body_start;
    let body_len = match head.content_length {
        Some(cl) if cl > available => {
            return Err(ParseError::bad_owned(format!(
                "Content-Length {cl} exceeds the {available} octets of body received"
            )))
        }
        Some(cl) => cl,
        None => available,
    };
    let body = data.slice(head.body_start..head.body_start + body_len);
    Ok(head.into_message(body))
}

/// Parses a message from a byte slice (copies once into `Bytes`).
pub fn parse_message(data: &[u8]) -> Result<Message, ParseError> {
    parse_datagram(Bytes::copy_from_slice(data))
}

impl Head {
    pub(crate) fn into_message(self, body: Bytes) -> Message {
        match self.start {
            StartLine::Request {
                method,
                uri,
                version,
            } => Message::Request(Request {
                method,
                uri,
                version,
                headers: self.headers,
                body,
            }),
            StartLine::Response {
                status,
                reason,
                version,
            } => Message::Response(Response {
                status,
                reason,
                version,
                headers: self.headers,
                body,
            }),
        }
    }
}

/// Finds the end of the header section: the offset just past `CRLF CRLF`.
pub(crate) fn find_head_end(data: &[u8]) -> Option<usize> {
    memchr::memmem::find(data, b"\r\n\r\n").map(|i| i + 4)
}

/// Parses the start line and headers of `data`.
///
/// For datagrams, a header section that runs to the very end of the
/// datagram right after a CRLF is accepted without the empty line (the
/// RFC 4475 archive's `baddn.dat` is cut that way).
pub(crate) fn parse_head(data: &Bytes, framing: Framing) -> Result<Head, ParseError> {
    let mut pos = 0;
    let (line, next) = next_line(data, pos)?
        .ok_or_else(|| ParseError::incomplete("start line is not terminated by CRLF"))?;
    let start = parse_start_line(data, line)?;
    pos = next;
    let mut headers = Vec::with_capacity(16);
    let mut content_length: Option<usize> = None;
    let body_start = loop {
        let (line, next) = match next_line(data, pos)? {
            Some(l) => l,
            None if framing == Framing::Datagram && pos == data.len() => break pos,
            None => {
                return Err(ParseError::incomplete(
                    "header section is not terminated by an empty line",
                ))
            }
        };
        if line.is_empty() {
            break next;
        }
        if lex::is_wsp(data[line.start]) {
            return Err(ParseError::bad(
                "continuation line without a header before it",
            ));
        }
        // Gather continuation lines (RFC 3261 §7.3.1 folding).
        let mut end_line = line.clone();
        let mut after = next;
        let mut folded = false;
        while after < data.len() && lex::is_wsp(data[after]) {
            let (cont, n) = next_line(data, after)?
                .ok_or_else(|| ParseError::incomplete("header line is not terminated by CRLF"))?;
            end_line = cont;
            after = n;
            folded = true;
        }
        let header = parse_header_line(data, line.start, end_line.end, after, folded)?;
        if header.name == HeaderName::ContentLength {
            if content_length.is_some() {
                return Err(ParseError::bad("more than one Content-Length header"));
            }
            if header.value.first() == Some(&b'-') {
                return Err(ParseError::bad("Content-Length is negative"));
            }
            let n = simple::parse_number(&header.value, u32::MAX.into(), "Content-Length")?;
            content_length = Some(n as usize);
        }
        headers.push(header);
        pos = after;
    };
    if framing == Framing::Stream && content_length.is_none() {
        return Err(ParseError::bad(
            "Content-Length is required on stream transports",
        ));
    }
    Ok(Head {
        start,
        headers: Headers(headers),
        body_start,
        content_length,
    })
}

/// The next CRLF-terminated line from `pos`: its content range and the offset after CRLF.
fn next_line(
    data: &[u8],
    pos: usize,
) -> Result<Option<(std::ops::Range<usize>, usize)>, ParseError> {
    let rest = &data[pos..];
    let Some(nl) = memchr::memchr(b'\n', rest) else {
        if memchr::memchr(b'\r', rest).is_some_and(|i| i + 1 < rest.len()) {
            return Err(ParseError::bad("bare CR in header section"));
        }
        return Ok(None);
    };
    if nl == 0 || rest[nl - 1] != b'\r' {
        return Err(ParseError::bad(
            "line terminated by bare LF instead of CRLF",
        ));
    }
    let content = &rest[..nl - 1];
    if memchr::memchr(b'\r', content).is_some() {
        return Err(ParseError::bad("bare CR in header section"));
    }
    Ok(Some((pos..pos + nl - 1, pos + nl + 1)))
}

fn parse_header_line(
    data: &Bytes,
    start: usize,
    content_end: usize,
    line_end: usize,
    folded: bool,
) -> Result<Header, ParseError> {
    let text = &data[start..content_end];
    let colon = memchr::memchr(b':', text).ok_or_else(|| {
        let shown: String = String::from_utf8_lossy(&text[..text.len().min(40)]).into_owned();
        ParseError::bad_owned(format!("header line without ':': '{shown}'"))
    })?;
    let name = text[..colon].trim_ascii_end();
    if name.is_empty() || !name.iter().all(|&b| lex::is_token(b)) {
        let shown = String::from_utf8_lossy(&name[..name.len().min(40)]).into_owned();
        return Err(ParseError::bad_owned(format!(
            "invalid header name '{shown}'"
        )));
    }
    let name = HeaderName::from_wire(name, data);
    let value_start = start + colon + 1;
    let value = if folded {
        // Unfold: each CRLF followed by white space becomes one space.
        let raw = &data[value_start..content_end];
        let mut v = BytesMut::with_capacity(raw.len());
        for b in raw.iter() {
            v.extend_from_slice(&[if *b == b'\r' || *b == b'\n' { b' ' } else { *b }]);
        }
        let v = v.freeze();
        let t = v.trim_ascii();
        crate::lex::sub(&v, t)
    } else {
        crate::lex::sub(data, data[value_start..content_end].trim_ascii())
    };
    Ok(Header::parsed(name, value, data.slice(start..line_end)))
}

fn parse_start_line(data: &Bytes, line: std::ops::Range<usize>) -> Result<StartLine, ParseError> {
    let text = &data[line];
    if text.len() >= 4 && text[..4].eq_ignore_ascii_case(b"SIP/") {
        return parse_status_line(data, text);
    }
    parse_request_line(data, text)
}

fn parse_request_line(data: &Bytes, text: &[u8]) -> Result<StartLine, ParseError> {
    let mut parts = text.split(|&b| b == b' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(if text.ends_with(b" ") || text.ends_with(b"\t") {
            ParseError::bad("white space at the end of the Request-Line")
        } else if memchr::memmem::find(text, b"  ").is_some() {
            ParseError::bad("more than one SP between Request-Line elements")
        } else if text.split(|&b| b == b' ').count() > 3 {
            ParseError::bad("Request-URI contains white space")
        } else {
            ParseError::bad("malformed Request-Line")
        });
    };
    if method.is_empty() || !method.iter().all(|&b| lex::is_token(b)) {
        return Err(ParseError::bad("Request-Line method is not a token"));
    }
    if uri.first() == Some(&b'<') {
        return Err(ParseError::bad(
            "Request-URI must not be enclosed in '<' '>'",
        ));
    }
    let uri = Uri::parse(data, uri).map_err(|e| e.in_header("Request-URI"))?;
    if uri.headers.is_some() {
        return Err(ParseError::bad(
            "Request-URI must not contain escaped headers ('?')",
        ));
    }
    check_version(version)?;
    Ok(StartLine::Request {
        method: Method::from_token(method, data),
        uri,
        version: crate::lex::sub(data, version),
    })
}

fn parse_status_line(data: &Bytes, text: &[u8]) -> Result<StartLine, ParseError> {
    let sp = memchr::memchr(b' ', text).ok_or_else(|| ParseError::bad("malformed Status-Line"))?;
    let version = &text[..sp];
    check_version(version)?;
    let rest = &text[sp + 1..];
    let code_end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let code = &rest[..code_end];
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::bad("status code is not three digits"));
    }
    let status = u16::from(code[0] - b'0') * 100
        + u16::from(code[1] - b'0') * 10
        + u16::from(code[2] - b'0');
    if !(100..=699).contains(&status) {
        return Err(ParseError::bad("status code outside 100-699"));
    }
    if code_end == rest.len() {
        return Err(ParseError::bad(
            "Status-Line lacks the SP before the Reason-Phrase",
        ));
    }
    let reason = &rest[code_end + 1..];
    if reason.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
        return Err(ParseError::bad("control character in Reason-Phrase"));
    }
    Ok(StartLine::Response {
        status,
        reason: crate::lex::sub(data, reason),
        version: crate::lex::sub(data, version),
    })
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT`; only 2.0 is supported (505 otherwise).
fn check_version(v: &[u8]) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    let well_formed = v.len() > 4
        && v[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].split(|&b| b == b'.').count() == 2
        && v[4..]
            .split(|&b| b == b'.')
            .all(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    if well_formed {
        Err(ParseError::bad_owned(format!(
            "SIP version '{}' is not supported",
            String::from_utf8_lossy(v)
        ))
        .with_status(505))
    } else {
        Err(ParseError::bad_owned(format!(
            "malformed SIP version '{}'",
            String::from_utf8_lossy(&v[..v.len().min(20)])
        )))
    }
}
