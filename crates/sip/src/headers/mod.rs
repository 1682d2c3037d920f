//! Typed access to the headers a SIP stack needs. Values are parsed on
//! demand from the raw header bytes (zero-copy: typed parts are `Bytes`
//! slices of the message).

pub mod name_addr;
pub mod simple;
pub mod via;

use crate::digest::AuthHeader;
use crate::error::ParseError;
use crate::header_name::HeaderName;
use crate::message::Headers;
use crate::params::Params;
use bytes::Bytes;
use std::fmt;

pub use name_addr::{Contact, NameAddr};
pub use simple::{CSeq, MediaType, RAck, Refresher, Replaces, SessionExpires};
pub use via::{Transport, Via, BRANCH_MAGIC_COOKIE};

pub(crate) fn write_params(f: &mut fmt::Formatter<'_>, params: &Params) -> fmt::Result {
    for p in params.iter() {
        write!(f, ";{}", String::from_utf8_lossy(&p.name))?;
        if let Some(v) = &p.value {
            write!(f, "={}", String::from_utf8_lossy(v))?;
        }
    }
    Ok(())
}

fn missing(name: &HeaderName) -> ParseError {
    ParseError::bad_owned(format!("missing {name} header"))
}

impl Headers {
    fn single<'a>(&'a self, name: &'a HeaderName) -> Result<&'a Bytes, ParseError> {
        let mut it = self.get_all(name);
        let first = it.next().ok_or_else(|| missing(name))?;
        if it.next().is_some() {
            return Err(ParseError::bad_owned(format!(
                "more than one {name} header"
            )));
        }
        Ok(&first.value)
    }

    fn optional_single<'a>(
        &'a self,
        name: &'a HeaderName,
    ) -> Result<Option<&'a Bytes>, ParseError> {
        match self.count(name) {
            0 => Ok(None),
            _ => self.single(name).map(Some),
        }
    }

    fn list<T>(
        &self,
        name: &HeaderName,
        parse: impl Fn(&Bytes) -> Result<Vec<T>, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let mut out = Vec::new();
        for h in self.get_all(name) {
            out.extend(parse(&h.value).map_err(|e| e.in_header(name.as_str()))?);
        }
        Ok(out)
    }

    /// Every Via value, top first (RFC 3261 §20.42).
    pub fn via(&self) -> Result<Vec<Via>, ParseError> {
        self.list(&HeaderName::Via, Via::parse_list)
    }

    /// The topmost Via value only (parses just the first Via header field).
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let h = self
            .get(&HeaderName::Via)
            .ok_or_else(|| missing(&HeaderName::Via))?;
        let mut list = Via::parse_list(&h.value).map_err(|e| e.in_header("Via"))?;
        Ok(list.swap_remove(0))
    }

    pub fn from(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse_single(self.single(&HeaderName::From)?).map_err(|e| e.in_header("From"))
    }

    pub fn to(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse_single(self.single(&HeaderName::To)?).map_err(|e| e.in_header("To"))
    }

    pub fn call_id(&self) -> Result<Bytes, ParseError> {
        simple::parse_call_id(self.single(&HeaderName::CallId)?).map_err(|e| e.in_header("Call-ID"))
    }

    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(self.single(&HeaderName::CSeq)?).map_err(|e| e.in_header("CSeq"))
    }

    /// `Max-Forwards` (0..=255), `None` if absent.
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        self.optional_single(&HeaderName::MaxForwards)?
            .map(|v| simple::parse_number(v, 255, "Max-Forwards").map(|n| n as u8))
            .transpose()
    }

    /// Every Contact (or `*`), `None` if absent.
    pub fn contact(&self) -> Result<Option<Contact>, ParseError> {
        let mut out: Option<Contact> = None;
        for h in self.get_all(&HeaderName::Contact) {
            let c = Contact::parse(&h.value).map_err(|e| e.in_header("Contact"))?;
            out = Some(match (out, c) {
                (None, c) => c,
                (Some(Contact::Addrs(mut a)), Contact::Addrs(b)) => {
                    a.extend(b);
                    Contact::Addrs(a)
                }
                _ => return Err(ParseError::bad("Contact: '*' mixed with other contacts")),
            });
        }
        Ok(out)
    }

    pub fn route(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.list(&HeaderName::Route, |v| NameAddr::parse_list(v, true))
    }

    pub fn record_route(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.list(&HeaderName::RecordRoute, |v| NameAddr::parse_list(v, true))
    }

    pub fn content_length(&self) -> Result<Option<u32>, ParseError> {
        self.optional_single(&HeaderName::ContentLength)?
            .map(|v| simple::parse_number(v, u32::MAX.into(), "Content-Length").map(|n| n as u32))
            .transpose()
    }

    pub fn content_type(&self) -> Result<Option<MediaType>, ParseError> {
        self.optional_single(&HeaderName::ContentType)?
            .map(|v| MediaType::parse(v).map_err(|e| e.in_header("Content-Type")))
            .transpose()
    }

    /// `Expires` in seconds (up to 2^32-1).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.optional_single(&HeaderName::Expires)?
            .map(|v| simple::parse_number(v, u32::MAX.into(), "Expires").map(|n| n as u32))
            .transpose()
    }

    pub fn min_expires(&self) -> Result<Option<u32>, ParseError> {
        self.optional_single(&HeaderName::MinExpires)?
            .map(|v| simple::parse_number(v, u32::MAX.into(), "Min-Expires").map(|n| n as u32))
            .transpose()
    }

    /// All `Authorization` (or another auth-family header) values.
    pub fn auth(&self, name: &HeaderName) -> Result<Vec<AuthHeader>, ParseError> {
        self.get_all(name)
            .map(|h| AuthHeader::parse(&h.value).map_err(|e| e.in_header(name.as_str())))
            .collect()
    }

    pub fn authorization(&self) -> Result<Vec<AuthHeader>, ParseError> {
        self.auth(&HeaderName::Authorization)
    }

    pub fn www_authenticate(&self) -> Result<Vec<AuthHeader>, ParseError> {
        self.auth(&HeaderName::WwwAuthenticate)
    }

    pub fn proxy_authenticate(&self) -> Result<Vec<AuthHeader>, ParseError> {
        self.auth(&HeaderName::ProxyAuthenticate)
    }

    pub fn supported(&self) -> Result<Vec<Bytes>, ParseError> {
        self.list(&HeaderName::Supported, simple::parse_token_list)
    }

    pub fn require(&self) -> Result<Vec<Bytes>, ParseError> {
        self.list(&HeaderName::Require, simple::parse_token_list)
    }

    pub fn proxy_require(&self) -> Result<Vec<Bytes>, ParseError> {
        self.list(&HeaderName::ProxyRequire, simple::parse_token_list)
    }

    pub fn allow(&self) -> Result<Vec<Bytes>, ParseError> {
        self.list(&HeaderName::Allow, simple::parse_token_list)
    }

    pub fn rseq(&self) -> Result<Option<u32>, ParseError> {
        self.optional_single(&HeaderName::RSeq)?
            .map(|v| simple::parse_number(v, u32::MAX.into(), "RSeq").map(|n| n as u32))
            .transpose()
    }

    pub fn rack(&self) -> Result<Option<RAck>, ParseError> {
        self.optional_single(&HeaderName::RAck)?
            .map(|v| RAck::parse(v).map_err(|e| e.in_header("RAck")))
            .transpose()
    }

    pub fn refer_to(&self) -> Result<Option<NameAddr>, ParseError> {
        self.optional_single(&HeaderName::ReferTo)?
            .map(|v| NameAddr::parse_single(v).map_err(|e| e.in_header("Refer-To")))
            .transpose()
    }

    pub fn replaces(&self) -> Result<Option<Replaces>, ParseError> {
        self.optional_single(&HeaderName::Replaces)?
            .map(|v| Replaces::parse(v).map_err(|e| e.in_header("Replaces")))
            .transpose()
    }

    pub fn session_expires(&self) -> Result<Option<SessionExpires>, ParseError> {
        self.optional_single(&HeaderName::SessionExpires)?
            .map(|v| SessionExpires::parse(v).map_err(|e| e.in_header("Session-Expires")))
            .transpose()
    }

    pub fn min_se(&self) -> Result<Option<u32>, ParseError> {
        self.optional_single(&HeaderName::MinSE)?
            .map(|v| {
                let end = memchr::memchr(b';', v).unwrap_or(v.len());
                simple::parse_number(&v[..end], u32::MAX.into(), "Min-SE").map(|n| n as u32)
            })
            .transpose()
    }
}
