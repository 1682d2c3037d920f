//! Small typed headers: CSeq, Call-ID, numbers, Content-Type, option tags,
//! RSeq/RAck (RFC 3262), Replaces (RFC 3891), Session-Expires (RFC 4028), Date.

use crate::error::ParseError;
use crate::lex::{self, Cursor};
use crate::method::Method;
use crate::params::Params;
use bytes::Bytes;
use std::fmt;

/// `CSeq: 4711 INVITE` (RFC 3261 §20.16); the number is at most 2^32-1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(value: &Bytes) -> Result<CSeq, ParseError> {
        let mut cur = Cursor::new(value);
        cur.skip_lws();
        let (s, e) = cur.take_while(|b| b.is_ascii_digit());
        let seq = lex::parse_u64(&value[s..e], u32::MAX.into()).ok_or_else(|| {
            if s == e {
                ParseError::bad("sequence number missing")
            } else {
                ParseError::bad("sequence number exceeds 2^32-1")
            }
        })? as u32;
        if !cur.skip_lws() {
            return Err(cur.unexpected("white space after sequence number"));
        }
        let (ms, me) = cur.token("method")?;
        cur.skip_lws();
        if !cur.at_end() {
            return Err(cur.unexpected("end of CSeq"));
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(&value[ms..me], value),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `Call-ID = word [ "@" word ]` (RFC 3261 §20.8). `%` is not an escape here.
pub fn parse_call_id(value: &Bytes) -> Result<Bytes, ParseError> {
    let v = value.trim_ascii();
    let ok = !v.is_empty() && {
        let mut parts = v.splitn(2, |&b| b == b'@');
        let a = parts.next().unwrap_or_default();
        let b = parts.next();
        !a.is_empty()
            && a.iter().all(|&c| lex::is_word(c))
            && b.is_none_or(|b| !b.is_empty() && b.iter().all(|&c| lex::is_word(c)))
    };
    if ok {
        Ok(crate::lex::sub(value, v))
    } else {
        Err(ParseError::bad("Call-ID is not word[@word]"))
    }
}

/// A decimal header value up to `max` (Max-Forwards 255, Expires 2^32-1...).
pub fn parse_number(value: &[u8], max: u64, what: &'static str) -> Result<u64, ParseError> {
    let v = value.trim_ascii();
    lex::parse_u64(v, max).ok_or_else(|| {
        if !v.is_empty() && v.iter().all(u8::is_ascii_digit) {
            ParseError::bad_owned(format!("{what} exceeds {max}"))
        } else {
            ParseError::bad_owned(format!("{what} is not a number"))
        }
    })
}

/// `Content-Type: type/subtype;params` (RFC 3261 §20.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub kind: Bytes,
    pub subtype: Bytes,
    pub params: Params,
}

impl MediaType {
    pub fn parse(value: &Bytes) -> Result<MediaType, ParseError> {
        let mut cur = Cursor::new(value);
        cur.skip_lws();
        let (ks, ke) = cur.token("media type")?;
        if !cur.eat_sep(b'/') {
            return Err(cur.unexpected("'/' in media type"));
        }
        let (ss, se) = cur.token("media subtype")?;
        let params = Params::parse_generic(value, &mut cur)?;
        cur.skip_lws();
        if !cur.at_end() {
            return Err(cur.unexpected("end of media type"));
        }
        Ok(MediaType {
            kind: crate::lex::sub(value, &value[ks..ke]),
            subtype: crate::lex::sub(value, &value[ss..se]),
            params,
        })
    }

    /// Case-insensitive `type/subtype` match.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind.as_bytes())
            && self.subtype.eq_ignore_ascii_case(subtype.as_bytes())
    }
}

/// A comma-separated list of tokens (Supported, Require, Allow...). An empty value is an empty list.
pub fn parse_token_list(value: &Bytes) -> Result<Vec<Bytes>, ParseError> {
    let mut out = Vec::new();
    let mut cur = Cursor::new(value);
    cur.skip_lws();
    if cur.at_end() {
        return Ok(out);
    }
    loop {
        let (s, e) = cur.token("option tag")?;
        out.push(crate::lex::sub(value, &value[s..e]));
        cur.skip_lws();
        if cur.at_end() {
            return Ok(out);
        }
        if !cur.eat_sep(b',') {
            return Err(cur.unexpected("',' between tokens"));
        }
    }
}

/// `RAck: response-num CSeq-num Method` (RFC 3262 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    pub rseq: u32,
    pub cseq: u32,
    pub method: Method,
}

impl RAck {
    pub fn parse(value: &Bytes) -> Result<RAck, ParseError> {
        let mut cur = Cursor::new(value);
        cur.skip_lws();
        let num = |cur: &mut Cursor<'_>| -> Result<u32, ParseError> {
            let (s, e) = cur.take_while(|b| b.is_ascii_digit());
            let n = lex::parse_u64(&value[s..e], u32::MAX.into())
                .ok_or_else(|| ParseError::bad("RAck number missing or over 2^32-1"))?;
            if !cur.skip_lws() {
                return Err(cur.unexpected("white space in RAck"));
            }
            Ok(n as u32)
        };
        let rseq = num(&mut cur)?;
        let cseq = num(&mut cur)?;
        let (ms, me) = cur.token("method")?;
        cur.skip_lws();
        if !cur.at_end() {
            return Err(cur.unexpected("end of RAck"));
        }
        Ok(RAck {
            rseq,
            cseq,
            method: Method::from_token(&value[ms..me], value),
        })
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.rseq, self.cseq, self.method)
    }
}

/// `Replaces: call-id;to-tag=..;from-tag=..[;early-only]` (RFC 3891 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: Bytes,
    pub to_tag: Bytes,
    pub from_tag: Bytes,
    pub early_only: bool,
}

impl Replaces {
    pub fn parse(value: &Bytes) -> Result<Replaces, ParseError> {
        let lead = value.len() - value.trim_ascii_start().len();
        let end = memchr::memchr(b';', value).unwrap_or(value.len());
        let call_id = parse_call_id(&crate::lex::sub(value, value[lead..end].trim_ascii()))?;
        let mut cur = Cursor::new(value);
        cur.pos = end;
        let params = Params::parse_generic(value, &mut cur)?;
        cur.skip_lws();
        if !cur.at_end() {
            return Err(cur.unexpected("end of Replaces"));
        }
        let to_tag = params
            .value("to-tag")
            .cloned()
            .ok_or_else(|| ParseError::bad("Replaces lacks to-tag"))?;
        let from_tag = params
            .value("from-tag")
            .cloned()
            .ok_or_else(|| ParseError::bad("Replaces lacks from-tag"))?;
        Ok(Replaces {
            call_id,
            to_tag,
            from_tag,
            early_only: params.contains("early-only"),
        })
    }
}

/// Which side refreshes a session (RFC 4028 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

/// `Session-Expires: delta-seconds [;refresher=uac|uas]` (RFC 4028 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpires {
    pub delta: u32,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    pub fn parse(value: &Bytes) -> Result<SessionExpires, ParseError> {
        let mut cur = Cursor::new(value);
        cur.skip_lws();
        let (s, e) = cur.take_while(|b| b.is_ascii_digit());
        let delta = lex::parse_u64(&value[s..e], u32::MAX.into())
            .ok_or_else(|| ParseError::bad("delta-seconds missing or over 2^32-1"))?
            as u32;
        let params = Params::parse_generic(value, &mut cur)?;
        cur.skip_lws();
        if !cur.at_end() {
            return Err(cur.unexpected("end of Session-Expires"));
        }
        let refresher = match params.value("refresher") {
            None => None,
            Some(r) if r.eq_ignore_ascii_case(b"uac") => Some(Refresher::Uac),
            Some(r) if r.eq_ignore_ascii_case(b"uas") => Some(Refresher::Uas),
            Some(_) => return Err(ParseError::bad("refresher must be uac or uas")),
        };
        Ok(SessionExpires { delta, refresher })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac"),
            Some(Refresher::Uas) => f.write_str(";refresher=uas"),
            None => Ok(()),
        }
    }
}

/// RFC 3261 §20.17 `SIP-date` (RFC 1123 date, always `GMT`): `Sat, 13 Nov 2010 23:29:00 GMT`.
pub fn check_date(value: &[u8]) -> Result<(), ParseError> {
    let v = value.trim_ascii();
    let bad = |why: &'static str| Err(ParseError::bad(why));
    let parts: Vec<&[u8]> = v.split(|&b| b == b' ').filter(|p| !p.is_empty()).collect();
    if parts.len() != 6 {
        return bad("Date is not 'wkday, DD Mon YYYY HH:MM:SS GMT'");
    }
    const DAYS: [&[u8]; 7] = [
        b"Mon,", b"Tue,", b"Wed,", b"Thu,", b"Fri,", b"Sat,", b"Sun,",
    ];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    if !DAYS.contains(&parts[0]) {
        return bad("Date has an invalid weekday");
    }
    if parts[1].len() != 2 || lex::parse_u64(parts[1], 31).is_none_or(|d| d == 0) {
        return bad("Date has an invalid day");
    }
    if !MONTHS.contains(&parts[2]) {
        return bad("Date has an invalid month");
    }
    if parts[3].len() != 4 || lex::parse_u64(parts[3], 9999).is_none() {
        return bad("Date has an invalid year");
    }
    let t = parts[4];
    let time_ok = t.len() == 8
        && t[2] == b':'
        && t[5] == b':'
        && lex::parse_u64(&t[0..2], 23).is_some()
        && lex::parse_u64(&t[3..5], 59).is_some()
        && lex::parse_u64(&t[6..8], 60).is_some();
    if !time_ok {
        return bad("Date has an invalid time");
    }
    if parts[5] != b"GMT" {
        return bad("Date time zone must be GMT");
    }
    Ok(())
}
