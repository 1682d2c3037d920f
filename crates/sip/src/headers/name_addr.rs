//! `name-addr / addr-spec` headers: From, To, Contact, Route, Record-Route,
//! Refer-To, Referred-By (RFC 3261 §20.10, §25.1).

use crate::error::ParseError;
use crate::lex::{self, Cursor};
use crate::params::Params;
use crate::uri::Uri;
use bytes::Bytes;
use std::fmt;

/// An address with optional display name and header parameters (`;tag=`, `;expires=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name as written, quotes included (`"Alice"` or `Alice Smith`).
    pub display_name: Option<Bytes>,
    pub uri: Uri,
    /// Header parameters after the address.
    pub params: Params,
    /// Whether the URI was enclosed in `<>` (name-addr form).
    pub angle: bool,
}

/// `Contact: *` (RFC 3261 §10.2.2) or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Star,
    Addrs(Vec<NameAddr>),
}

impl NameAddr {
    /// A name-addr in angle brackets, without display name or params.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display_name: None,
            uri,
            params: Params::default(),
            angle: true,
        }
    }

    pub fn tag(&self) -> Option<&Bytes> {
        self.params.value("tag")
    }

    /// Adds or replaces `;tag=` (a UAS adds its To tag: RFC 3261 §8.2.6.2).
    pub fn set_tag(&mut self, tag: &str) {
        use crate::params::Param;
        let value = Some(Bytes::copy_from_slice(tag.as_bytes()));
        match self
            .params
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(b"tag"))
        {
            Some(p) => p.value = value,
            None => self.params.0.push(Param {
                name: Bytes::from_static(b"tag"),
                value,
            }),
        }
    }

    /// Display name without quotes and with quoted-pairs resolved.
    pub fn display_name_text(&self) -> Option<Vec<u8>> {
        let d = self.display_name.as_ref()?;
        if d.first() == Some(&b'"') && d.len() >= 2 {
            let inner = &d[1..d.len() - 1];
            let mut out = Vec::with_capacity(inner.len());
            let mut i = 0;
            while i < inner.len() {
                if inner[i] == b'\\' && i + 1 < inner.len() {
                    i += 1;
                }
                out.push(inner[i]);
                i += 1;
            }
            Some(out)
        } else {
            Some(d.to_vec())
        }
    }

    /// Parses exactly one address (From, To, Refer-To...).
    pub fn parse_single(value: &Bytes) -> Result<NameAddr, ParseError> {
        let mut cur = Cursor::new(value);
        cur.skip_lws();
        let na = NameAddr::parse_one(value, &mut cur, false)?;
        cur.skip_lws();
        if !cur.at_end() {
            if cur.peek() == Some(b',') {
                return Err(ParseError::bad(
                    "more than one address in a single-valued header",
                ));
            }
            return Err(cur.unexpected("end of header value"));
        }
        Ok(na)
    }

    /// Parses a comma-separated list (Contact, Route, Record-Route).
    /// With `require_angle`, each entry must be a name-addr (Route, Record-Route).
    pub fn parse_list(value: &Bytes, require_angle: bool) -> Result<Vec<NameAddr>, ParseError> {
        let mut cur = Cursor::new(value);
        let mut out = Vec::with_capacity(1);
        loop {
            cur.skip_lws();
            out.push(NameAddr::parse_one(value, &mut cur, require_angle)?);
            cur.skip_lws();
            if cur.at_end() {
                return Ok(out);
            }
            if !cur.eat(b',') {
                return Err(cur.unexpected("',' or end of header value"));
            }
        }
    }

    fn parse_one(
        owner: &Bytes,
        cur: &mut Cursor<'_>,
        require_angle: bool,
    ) -> Result<NameAddr, ParseError> {
        let start = cur.pos;
        let mut display_name = None;
        match cur.peek() {
            Some(b'"') => {
                let (s, e) = cur.quoted_string()?;
                display_name = Some(crate::lex::sub(owner, &cur.s[s..e]));
                cur.skip_lws();
                if cur.peek() != Some(b'<') {
                    return Err(cur.unexpected("'<' after display name"));
                }
            }
            Some(b'<') => {}
            _ => {
                // Either `*(token LWS) <addr-spec>` or a bare addr-spec.
                let mut probe = *cur;
                let mut last_end = probe.pos;
                loop {
                    let (s, e) = probe.take_while(lex::is_token);
                    if s == e {
                        break;
                    }
                    last_end = e;
                    probe.skip_lws();
                }
                if probe.peek() == Some(b'<') && last_end > start {
                    display_name = Some(crate::lex::sub(owner, &cur.s[start..last_end]));
                    *cur = probe;
                }
            }
        }
        if cur.eat(b'<') {
            let end = memchr::memchr(b'>', cur.rest())
                .ok_or_else(|| ParseError::bad("'<' without matching '>' around URI"))?;
            let text = &cur.rest()[..end];
            if text.first().is_some_and(|&b| lex::is_wsp(b))
                || text.last().is_some_and(|&b| lex::is_wsp(b))
            {
                return Err(ParseError::bad("white space inside '<' '>' around URI"));
            }
            let uri = Uri::parse(owner, text)?;
            cur.pos += end + 1;
            let params = Params::parse_generic(owner, cur)?;
            return Ok(NameAddr {
                display_name,
                uri,
                params,
                angle: true,
            });
        }
        if require_angle {
            return Err(cur.unexpected("'<' (name-addr required)"));
        }
        // addr-spec: the URI ends at ';', ',' or white space (RFC 3261 §20.10).
        let (s, e) = cur.take_while(|b| !matches!(b, b';' | b',' | b' ' | b'\t'));
        let text = &cur.s[s..e];
        if !text.contains(&b':') {
            let rest = cur.rest();
            if memchr::memchr(b'<', rest).is_some()
                || rest.first().is_some_and(|&b| b == b',' || lex::is_wsp(b))
            {
                return Err(ParseError::bad(
                    "display name with non-token characters must be a quoted string",
                ));
            }
        }
        let uri = Uri::parse(owner, text)?;
        if uri.headers.is_some() {
            return Err(ParseError::bad(
                "URI with '?' headers must be enclosed in '<' '>'",
            ));
        }
        let params = Params::parse_generic(owner, cur)?;
        Ok(NameAddr {
            display_name: None,
            uri,
            params,
            angle: false,
        })
    }
}

impl Contact {
    pub fn parse(value: &Bytes) -> Result<Contact, ParseError> {
        let trimmed = value.trim_ascii();
        if trimmed == b"*" {
            return Ok(Contact::Star);
        }
        let list = NameAddr::parse_list(value, false)?;
        for na in &list {
            if let Some(q) = na.params.get("q") {
                if !q.is_some_and(|q| is_qvalue(q)) {
                    return Err(ParseError::bad("invalid q value in Contact"));
                }
            }
            if let Some(e) = na.params.get("expires") {
                if e.is_none_or(|e| lex::parse_u64(e, u32::MAX.into()).is_none()) {
                    return Err(ParseError::bad(
                        "Contact expires parameter is not a number up to 2^32-1",
                    ));
                }
            }
        }
        Ok(Contact::Addrs(list))
    }
}

/// RFC 3261 §20.10 `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
fn is_qvalue(q: &[u8]) -> bool {
    match q {
        [b'0'] | [b'1'] => true,
        [b'0', b'.', rest @ ..] => rest.len() <= 3 && rest.iter().all(u8::is_ascii_digit),
        [b'1', b'.', rest @ ..] => rest.len() <= 3 && rest.iter().all(|&b| b == b'0'),
        _ => false,
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display_name {
            write!(f, "{} ", String::from_utf8_lossy(d))?;
        }
        if self.angle || self.display_name.is_some() {
            write!(f, "<{}>", self.uri)?;
        } else {
            write!(f, "{}", self.uri)?;
        }
        super::write_params(f, &self.params)
    }
}
