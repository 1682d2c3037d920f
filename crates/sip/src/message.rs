//! The message model: requests, responses, and their ordered header list.
//!
//! A parsed message keeps the exact bytes of every header line, so a message
//! that was accepted re-serializes byte for byte; headers added by a builder
//! serialize canonically (`Name: value\r\n`).

use crate::header_name::HeaderName;
use crate::method::Method;
use crate::uri::Uri;
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// One header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    /// The value, trimmed and unfolded (continuation lines joined with a space).
    pub value: Bytes,
    /// The exact wire line(s) including the final CRLF; `None` for built headers.
    raw: Option<Bytes>,
}

impl Header {
    /// A new header; it serializes as `Name: value\r\n`.
    pub fn new(name: HeaderName, value: impl Into<Bytes>) -> Header {
        Header {
            name,
            value: value.into(),
            raw: None,
        }
    }

    /// A header from any `Display` value (typed headers implement `Display`).
    pub fn typed(name: HeaderName, value: &impl fmt::Display) -> Header {
        Header::new(name, Bytes::from(value.to_string()))
    }

    pub(crate) fn parsed(name: HeaderName, value: Bytes, raw: Bytes) -> Header {
        Header {
            name,
            value,
            raw: Some(raw),
        }
    }

    /// The exact wire bytes, if the header was parsed.
    pub fn raw(&self) -> Option<&Bytes> {
        self.raw.as_ref()
    }

    fn write_to(&self, out: &mut BytesMut) {
        match &self.raw {
            Some(raw) => out.put_slice(raw),
            None => {
                out.put_slice(self.name.as_str().as_bytes());
                out.put_slice(b": ");
                out.put_slice(&self.value);
                out.put_slice(b"\r\n");
            }
        }
    }
}

/// The ordered header fields of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub(crate) Vec<Header>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// The first header with this name.
    pub fn get(&self, name: &HeaderName) -> Option<&Header> {
        self.0.iter().find(|h| &h.name == name)
    }

    /// All headers with this name, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a Header> + 'a {
        self.0.iter().filter(move |h| &h.name == name)
    }

    /// Number of header lines with this name.
    pub fn count(&self, name: &HeaderName) -> usize {
        self.0.iter().filter(|h| &h.name == name).count()
    }

    /// Appends a header at the end.
    pub fn push(&mut self, header: Header) {
        self.0.push(header);
    }

    /// Inserts a header before all others (a proxy's or a UAC's new top Via).
    pub fn push_front(&mut self, header: Header) {
        self.0.insert(0, header);
    }

    /// Replaces every header of this name with one new value (or appends it).
    pub fn set(&mut self, header: Header) {
        match self.0.iter().position(|h| h.name == header.name) {
            Some(i) => {
                self.0[i] = header.clone();
                let name = header.name;
                let mut seen = false;
                self.0.retain(|h| {
                    if h.name != name {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.0.push(header),
        }
    }

    /// Removes every header with this name; returns how many were removed.
    pub fn remove(&mut self, name: &HeaderName) -> usize {
        let before = self.0.len();
        self.0.retain(|h| &h.name != name);
        before - self.0.len()
    }

    /// Removes and returns the first header with this name.
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<Header> {
        let i = self.0.iter().position(|h| &h.name == name)?;
        Some(self.0.remove(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn write_to(&self, out: &mut BytesMut) {
        for h in &self.0 {
            h.write_to(out);
        }
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    /// `SIP/2.0` as written.
    pub version: Bytes,
    pub headers: Headers,
    pub body: Bytes,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100..=699.
    pub status: u16,
    /// Reason phrase as written (may be UTF-8 or empty).
    pub reason: Bytes,
    pub version: Bytes,
    pub headers: Headers,
    pub body: Bytes,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
// Requests dominate; boxing them would add an allocation per message.
#[allow(clippy::large_enum_variant)]
pub enum Message {
    Request(Request),
    Response(Response),
}

const SIP_2_0: Bytes = Bytes::from_static(b"SIP/2.0");

impl Request {
    /// A request with no headers and no body; add headers, then [`Request::to_bytes`].
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            version: SIP_2_0,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Serializes; a parsed, unmodified request comes out byte for byte.
    /// Content-Length is written as found (use [`Request::set_body`] to keep it right).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(256 + self.body.len() + 64 * self.headers.len());
        out.put_slice(self.method.as_bytes());
        out.put_u8(b' ');
        out.put_slice(self.uri.as_bytes());
        out.put_u8(b' ');
        out.put_slice(&self.version);
        out.put_slice(b"\r\n");
        self.headers.write_to(&mut out);
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
        out.freeze()
    }

    /// Sets the body, its Content-Type (if given) and Content-Length.
    pub fn set_body(&mut self, content_type: Option<&str>, body: Bytes) {
        set_body(&mut self.headers, &mut self.body, content_type, body);
    }
}

impl Response {
    /// A response with no headers; see [`Response::for_request`] for the usual case.
    pub fn new(status: u16, reason: impl Into<Bytes>) -> Response {
        Response {
            status,
            reason: reason.into(),
            version: SIP_2_0,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// RFC 3261 §8.2.6.2: a response copies Via, From, To, Call-ID and CSeq
    /// (and Record-Route for dialog-creating 101-299 responses to INVITE-like
    /// requests is left to the caller), adds `Content-Length: 0`.
    pub fn for_request(req: &Request, status: u16, reason: &str) -> Response {
        let mut resp = Response::new(status, Bytes::copy_from_slice(reason.as_bytes()));
        for h in req.headers.iter() {
            if matches!(
                h.name,
                HeaderName::Via
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
                    | HeaderName::CSeq
            ) {
                resp.headers
                    .push(Header::new(h.name.clone(), h.value.clone()));
            }
        }
        resp.headers.push(Header::new(
            HeaderName::ContentLength,
            Bytes::from_static(b"0"),
        ));
        resp
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(256 + self.body.len() + 64 * self.headers.len());
        out.put_slice(&self.version);
        out.put_u8(b' ');
        let code = [
            b'0' + (self.status / 100 % 10) as u8,
            b'0' + (self.status / 10 % 10) as u8,
            b'0' + (self.status % 10) as u8,
        ];
        out.put_slice(&code);
        out.put_u8(b' ');
        out.put_slice(&self.reason);
        out.put_slice(b"\r\n");
        self.headers.write_to(&mut out);
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
        out.freeze()
    }

    pub fn set_body(&mut self, content_type: Option<&str>, body: Bytes) {
        set_body(&mut self.headers, &mut self.body, content_type, body);
    }

    /// `1xx`.
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }

    /// `2xx`.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn set_body(headers: &mut Headers, slot: &mut Bytes, content_type: Option<&str>, body: Bytes) {
    if let Some(ct) = content_type {
        headers.set(Header::new(
            HeaderName::ContentType,
            Bytes::copy_from_slice(ct.as_bytes()),
        ));
    }
    headers.set(Header::new(
        HeaderName::ContentLength,
        Bytes::from(body.len().to_string()),
    ));
    *slot = body;
}

impl Message {
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }

    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Message::Response(r) => Some(r),
            Message::Request(_) => None,
        }
    }

    pub fn into_request(self) -> Option<Request> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    pub fn into_response(self) -> Option<Response> {
        match self {
            Message::Response(r) => Some(r),
            Message::Request(_) => None,
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Message::Response(r)
    }
}
