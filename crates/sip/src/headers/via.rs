//! `Via` (RFC 3261 §20.42, §18.2.1; RFC 3581 `rport`).

use crate::error::ParseError;
use crate::lex::{self, Cursor};
use crate::params::Params;
use crate::uri::Host;
use bytes::Bytes;
use std::fmt;

/// RFC 3261 §8.1.1.7: branches starting with this cookie are RFC 3261 branches.
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// A transport named in a Via (`UDP`, `TCP`...), or an unknown one kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(Bytes),
}

impl Transport {
    pub fn from_token(t: &[u8], owner: &Bytes) -> Transport {
        let eq = |s: &[u8]| t.eq_ignore_ascii_case(s);
        if eq(b"UDP") {
            Transport::Udp
        } else if eq(b"TCP") {
            Transport::Tcp
        } else if eq(b"TLS") {
            Transport::Tls
        } else if eq(b"SCTP") {
            Transport::Sctp
        } else if eq(b"WS") {
            Transport::Ws
        } else if eq(b"WSS") {
            Transport::Wss
        } else {
            Transport::Other(crate::lex::sub(owner, t))
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(b) => std::str::from_utf8(b).unwrap_or("UNKNOWN"),
        }
    }

    /// Whether the transport is reliable (RFC 3261 §17: no retransmissions).
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `via-parm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `SIP/2.0` normally; other protocol names/versions are kept.
    pub protocol: Bytes,
    pub version: Bytes,
    pub transport: Transport,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    /// A new Via for a request we send (RFC 3261 §8.1.1.7), with `rport` (RFC 3581).
    pub fn new(transport: Transport, host: Host, port: Option<u16>, branch: &str) -> Via {
        use crate::params::Param;
        Via {
            protocol: Bytes::from_static(b"SIP"),
            version: Bytes::from_static(b"2.0"),
            transport,
            host,
            port,
            params: Params(vec![
                Param {
                    name: Bytes::from_static(b"branch"),
                    value: Some(Bytes::copy_from_slice(branch.as_bytes())),
                },
                Param {
                    name: Bytes::from_static(b"rport"),
                    value: None,
                },
            ]),
        }
    }

    pub fn branch(&self) -> Option<&Bytes> {
        self.params.value("branch")
    }

    /// Whether the branch carries the RFC 3261 magic cookie (and something after it).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.starts_with(BRANCH_MAGIC_COOKIE.as_bytes()))
    }

    /// `received` as a host (IPv4, or IPv6 with or without brackets: RFC 5118 §4.5).
    pub fn received(&self) -> Option<Host> {
        let v = self.params.value("received")?;
        Host::parse_received(v, v).ok()
    }

    /// `Some(None)` for a bare `rport` (RFC 3581 request), `Some(Some(p))` once filled.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| lex::parse_u64(p, 65535).map(|p| p as u16)))
    }

    /// Sets (or replaces) a parameter; used for `received` and `rport` (RFC 3581 §4).
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        use crate::params::Param;
        let value = value.map(Bytes::from);
        match self
            .params
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
        {
            Some(p) => p.value = value,
            None => self.params.0.push(Param {
                name: Bytes::copy_from_slice(name.as_bytes()),
                value,
            }),
        }
    }

    /// Parses every Via value in one header field value (comma-separated).
    pub fn parse_list(value: &Bytes) -> Result<Vec<Via>, ParseError> {
        let mut cur = Cursor::new(value);
        let mut out = Vec::with_capacity(1);
        loop {
            cur.skip_lws();
            out.push(Via::parse_one(value, &mut cur)?);
            cur.skip_lws();
            if cur.at_end() {
                return Ok(out);
            }
            if !cur.eat(b',') {
                return Err(cur.unexpected("',' or end of Via"));
            }
        }
    }

    fn parse_one(owner: &Bytes, cur: &mut Cursor<'_>) -> Result<Via, ParseError> {
        let (ps, pe) = cur.token("protocol name")?;
        if !cur.eat_sep(b'/') {
            return Err(cur.unexpected("'/' after protocol name"));
        }
        let (vs, ve) = cur.token("protocol version")?;
        if !cur.eat_sep(b'/') {
            return Err(cur.unexpected("'/' after protocol version"));
        }
        let (ts, te) = cur.token("transport")?;
        if !cur.skip_lws() {
            return Err(cur.unexpected("white space before sent-by"));
        }
        let (hs, he) = if cur.peek() == Some(b'[') {
            let (s, _) = cur.take_while(|b| b != b']');
            if !cur.eat(b']') {
                return Err(ParseError::bad("IPv6 reference lacks its closing ']'"));
            }
            (s, cur.pos)
        } else {
            cur.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
        if hs == he {
            return Err(cur.unexpected("sent-by host"));
        }
        let host = Host::parse(&cur.s[hs..he], owner)?;
        let port = if cur.eat_sep(b':') {
            let (s, e) = cur.take_while(|b| b.is_ascii_digit());
            Some(
                lex::parse_u64(&cur.s[s..e], 65535)
                    .ok_or_else(|| ParseError::bad("invalid port in sent-by"))?
                    as u16,
            )
        } else {
            None
        };
        let params = Params::parse_generic(owner, cur)?;
        let via = Via {
            protocol: crate::lex::sub(owner, &cur.s[ps..pe]),
            version: crate::lex::sub(owner, &cur.s[vs..ve]),
            transport: Transport::from_token(&cur.s[ts..te], owner),
            host,
            port,
            params,
        };
        via.check_params()?;
        Ok(via)
    }

    /// RFC 3261 §20.42 `via-ttl`, `via-maddr`, `via-received`, `via-branch`; RFC 3581 `rport`.
    fn check_params(&self) -> Result<(), ParseError> {
        for p in self.params.iter() {
            let name = &p.name[..];
            let v = p.value.as_ref();
            let ok = if name.eq_ignore_ascii_case(b"ttl") {
                v.and_then(|v| lex::parse_u64(v, 255)).is_some()
            } else if name.eq_ignore_ascii_case(b"received") {
                v.is_some_and(|v| Host::parse_received(v, v).is_ok_and(|h| h.ip().is_some()))
            } else if name.eq_ignore_ascii_case(b"branch") {
                v.is_some_and(|v| v.iter().all(|&b| lex::is_token(b)))
            } else if name.eq_ignore_ascii_case(b"rport") {
                v.is_none_or(|v| lex::parse_u64(v, 65535).is_some())
            } else if name.eq_ignore_ascii_case(b"maddr") {
                v.is_some()
            } else {
                true
            };
            if !ok {
                return Err(ParseError::bad_owned(format!(
                    "invalid Via parameter '{}'",
                    String::from_utf8_lossy(name)
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            String::from_utf8_lossy(&self.protocol),
            String::from_utf8_lossy(&self.version),
            self.transport,
            self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        super::write_params(f, &self.params)
    }
}
