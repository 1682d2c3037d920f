//! Semantic validation of a parsed message (RFC 3261 §8.2.1–§8.2.2, §16.3,
//! §20): mandatory headers present once, every known header well-formed,
//! CSeq matching the method, scalar fields within range.
//!
//! [`validate`] answers with the first fault and the status code a UAS sends
//! for it; for a response, any fault means "drop it silently".

use crate::error::ParseError;
use crate::header_name::HeaderName;
use crate::headers::simple;
use crate::message::{Headers, Message};
use crate::method::Method;

/// Checks a parsed message; `Ok(())` means every header this stack types is well-formed.
pub fn validate(msg: &Message) -> Result<(), ParseError> {
    let h = msg.headers();
    // RFC 3261 §8.1.1: To, From, CSeq, Call-ID, Via are mandatory (Max-Forwards
    // too, but RFC 2543 peers omit it: RFC 4475 §3.4.1 asks us to accept that).
    for name in [
        HeaderName::To,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::Via,
    ] {
        if h.get(&name).is_none() {
            return Err(ParseError::bad_owned(format!("missing {name} header")));
        }
    }
    for name in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::MaxForwards,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::Expires,
        HeaderName::RSeq,
        HeaderName::RAck,
        HeaderName::ReferTo,
        HeaderName::SessionExpires,
        HeaderName::Date,
    ] {
        if h.count(&name) > 1 {
            return Err(ParseError::bad_owned(format!(
                "more than one {name} header"
            )));
        }
    }
    let cseq = h.cseq()?;
    h.via()?;
    h.from()?;
    h.to()?;
    h.call_id()?;
    h.max_forwards()?;
    h.contact()?;
    h.route()?;
    h.record_route()?;
    h.content_length()?;
    h.content_type()?;
    h.expires()?;
    h.min_expires()?;
    for name in [
        HeaderName::Authorization,
        HeaderName::ProxyAuthorization,
        HeaderName::WwwAuthenticate,
        HeaderName::ProxyAuthenticate,
    ] {
        h.auth(&name)?;
    }
    h.supported()?;
    h.require()?;
    h.proxy_require()?;
    h.allow()?;
    h.rseq()?;
    h.rack()?;
    h.refer_to()?;
    h.replaces()?;
    h.session_expires()?;
    h.min_se()?;
    check_misc(h)?;
    if let Message::Request(req) = msg {
        if cseq.method != req.method
            && !(req.method == Method::Ack && cseq.method == Method::Invite)
        {
            let e = ParseError::bad_owned(format!(
                "CSeq method {} does not match the request method {}",
                cseq.method, req.method
            ));
            // RFC 4475 §3.1.2.18: for a method we do not implement, 501 is the better answer.
            return Err(if req.method.is_known() {
                e
            } else {
                e.with_status(501)
            });
        }
    }
    Ok(())
}

/// Date, Retry-After and Warning (RFC 3261 §20.17, §20.33, §20.43).
fn check_misc(h: &Headers) -> Result<(), ParseError> {
    if let Some(d) = h.get(&HeaderName::Date) {
        simple::check_date(&d.value).map_err(|e| e.in_header("Date"))?;
    }
    for r in h.get_all(&HeaderName::RetryAfter) {
        let v = &r.value;
        let end = v
            .iter()
            .position(|&b| !b.is_ascii_digit())
            .unwrap_or(v.len());
        simple::parse_number(&v[..end], u32::MAX.into(), "Retry-After")?;
    }
    for w in h.get_all(&HeaderName::Warning) {
        for item in w.value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            let code_ok =
                item.len() > 4 && item[..3].iter().all(u8::is_ascii_digit) && item[3] == b' ';
            if !code_ok {
                return Err(ParseError::bad("Warning: warn-code must be three digits"));
            }
        }
    }
    Ok(())
}
