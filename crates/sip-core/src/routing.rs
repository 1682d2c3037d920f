//! Transport-layer rules: the server side's `received`/`rport` (RFC 3261
//! §18.2.1, RFC 3581 §4), where responses go (§18.2.2, RFC 3581 §4), where
//! requests go (§8.1.2 next hop from a URI), and what a malformed request gets.

use crate::{Received, Target};
use bytes::Bytes;
use sip::{Header, HeaderName, Host, Message, Request, Response, Scheme, Transport, Uri, Via};
use std::net::SocketAddr;

/// RFC 3261 §18.2.1 + RFC 3581 §4: add `received` when the sent-by host is
/// not the source IP, or whenever the Via asks for `rport` (RFC 3581 §4: "even
/// if it is identical to the value of the sent-by"); fill a bare `rport` with
/// the source port. Rewrites the first Via header field in place (other Via
/// values are kept as written).
pub(crate) fn stamp_top_via(req: &mut Request, remote: SocketAddr) -> Option<Via> {
    let first = req.headers.get(&HeaderName::Via)?.clone();
    let mut list = Via::parse_list(&first.value).ok()?;
    let top = list.first_mut()?;
    let mut changed = false;
    if top.host.ip() != Some(remote.ip()) || top.rport().is_some() {
        top.set_param("received", Some(remote.ip().to_string()));
        changed = true;
    }
    if top.rport().is_some() {
        top.set_param("rport", Some(remote.port().to_string()));
        changed = true;
    }
    let stamped = top.clone();
    if changed {
        let value = list
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        req.headers.remove_first(&HeaderName::Via);
        req.headers.push_front(Header::new(HeaderName::Via, value));
    }
    Some(stamped)
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4):
/// reliable transports answer on the connection the request came in on;
/// otherwise `received` (or the sent-by IP) and `rport` (or the sent-by port, or 5060).
/// `maddr` is not honoured: multicast is out of scope.
pub(crate) fn response_target(
    top_via: &Via,
    rx_transport: &Transport,
    remote: SocketAddr,
) -> Target {
    if rx_transport.is_reliable() {
        return Target {
            transport: rx_transport.clone(),
            remote,
        };
    }
    let ip = top_via
        .received()
        .and_then(|h| h.ip())
        .or_else(|| top_via.host.ip())
        .unwrap_or(remote.ip());
    let port = top_via.rport().flatten().or(top_via.port).unwrap_or(5060);
    Target {
        transport: rx_transport.clone(),
        remote: SocketAddr::new(ip, port),
    }
}

/// The next hop named by a URI, if its host is an IP literal (a sans-IO core
/// never resolves names): port defaults to 5060 (5061 for sips), transport
/// from `;transport=`, else `fallback`.
pub(crate) fn uri_target(uri: &Uri, fallback: &Transport) -> Option<Target> {
    let ip = uri.host.as_ref().and_then(Host::ip)?;
    let sips = uri.scheme == Scheme::Sips;
    let port = uri.port.unwrap_or(if sips { 5061 } else { 5060 });
    let transport = match uri.param("transport").flatten() {
        Some(t) => Transport::from_token(t, t),
        None if sips => Transport::Tls,
        None => fallback.clone(),
    };
    Some(Target {
        transport,
        remote: SocketAddr::new(ip, port),
    })
}

/// A request that failed to parse or validate, salvaged far enough to answer.
pub(crate) struct Rejection {
    pub response: Response,
    pub target: Target,
}

/// RFC 3261 §8.2 / §21.4.1: a malformed request gets a stateless response
/// naming the fault, when Via, From, To, Call-ID and CSeq are usable; ACKs
/// and hopeless messages get nothing.
pub(crate) fn reject_malformed(
    rx: &Received,
    parsed: Option<Message>,
    fault: &sip::ParseError,
) -> Option<Rejection> {
    let mut req = match parsed {
        Some(Message::Request(r)) => r,
        Some(Message::Response(_)) => return None,
        None => salvage(&rx.bytes)?,
    };
    if req.method == sip::Method::Ack {
        return None;
    }
    // §8.2.6.2 copies From, Call-ID, CSeq and To: they must be there, but a
    // malformed one is copied as written, so the sender still learns which
    // header was wrong.
    let h = &req.headers;
    let present = [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ]
    .iter()
    .all(|n| h.get(n).is_some());
    if !present {
        return None;
    }
    // A Via that does not parse (often the very fault being reported) still
    // gets an answer: to the connection, or to the datagram's source.
    let target = match stamp_top_via(&mut req, rx.remote) {
        Some(top) => response_target(&top, &rx.transport, rx.remote),
        None => Target {
            transport: rx.transport.clone(),
            remote: rx.remote,
        },
    };
    let reason = reason_phrase(&fault.reason);
    let mut response = Response::for_request(&req, fault.status.clamp(400, 699), &reason);
    // §8.2.6.2: a To tag is required on a non-100 response.
    if let Ok(mut to) = response.headers.to() {
        if to.tag().is_none() {
            to.set_tag("malformed");
            response.headers.set(Header::typed(HeaderName::To, &to));
        }
    }
    Some(Rejection { response, target })
}

/// A request whose start line did not parse (bad version, bad Request-URI):
/// swap in a well-formed start line with the same method so the headers
/// needed for an answer can be read. Only requests (never `SIP/...`) qualify.
fn salvage(bytes: &Bytes) -> Option<Request> {
    let text = bytes.trim_ascii_start();
    let eol = text.windows(2).position(|w| w == b"\r\n")?;
    let line = &text[..eol];
    let method = line.split(|&b| b == b' ').next()?;
    if method.is_empty()
        || method.starts_with(b"SIP/")
        || !method.iter().all(u8::is_ascii_alphabetic)
    {
        return None;
    }
    let mut fixed = Vec::with_capacity(text.len());
    fixed.extend_from_slice(method);
    fixed.extend_from_slice(b" sip:invalid SIP/2.0");
    fixed.extend_from_slice(&text[eol..]);
    sip::parse_datagram(Bytes::from(fixed)).ok()?.into_request()
}

/// A reason phrase from a fault description: printable ASCII only, bounded.
fn reason_phrase(fault: &str) -> String {
    let mut s: String = fault
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(120)
        .collect();
    if s.is_empty() {
        s.push_str("Bad Request");
    }
    s
}
