//! URIs: SIP and SIPS (RFC 3261 §19.1, §25.1), tel (RFC 3966), and any other
//! scheme kept as opaque text (RFC 3261 §19.1: unknown schemes are legal).

use crate::error::ParseError;
use crate::lex::{self, Cursor};
use crate::params::Params;
use bytes::Bytes;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A parsed URI. `raw` is the exact text it was parsed from, so it
/// re-serializes byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    raw: Bytes,
    pub scheme: Scheme,
    /// User part, still escaped (compare with [`Uri::user_unescaped`]).
    pub user: Option<Bytes>,
    pub password: Option<Bytes>,
    /// Host for `sip`/`sips`; `None` for other schemes.
    pub host: Option<Host>,
    pub port: Option<u16>,
    /// `uri-parameters` (`;lr`, `;transport=tcp`, ...); for `tel`, its parameters.
    pub params: Params,
    /// The `?headers` part, still escaped, without the `?`.
    pub headers: Option<Bytes>,
}

/// URI scheme. `sip`, `sips` and `tel` are matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Any other scheme, e.g. `nobodyKnowsThisScheme` or `soap.beep`.
    Other(Bytes),
}

/// The host of a SIP URI or Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Domain(Bytes),
    Ipv4(Ipv4Addr),
    /// An IPv6 reference; `Bytes` is the text between the brackets as written.
    Ipv6(Ipv6Addr, Bytes),
}

impl Host {
    /// The IP address, if the host is an address literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a, _) => Some(IpAddr::V6(*a)),
        }
    }

    /// Parses `host` (RFC 3261 §25.1): `hostname / IPv4address / IPv6reference`.
    pub fn parse(s: &[u8], owner: &Bytes) -> Result<Host, ParseError> {
        if s.first() == Some(&b'[') {
            if s.last() != Some(&b']') || s.len() < 3 {
                return Err(ParseError::bad("IPv6 reference lacks its closing ']'"));
            }
            let inner = &s[1..s.len() - 1];
            return parse_ipv6(inner)
                .map(|a| Host::Ipv6(a, crate::lex::sub(owner, inner)))
                .ok_or_else(|| ParseError::bad("invalid IPv6 address in IPv6 reference"));
        }
        if let Some(a) = parse_ipv4(s) {
            return Ok(Host::Ipv4(a));
        }
        if is_hostname(s) {
            return Ok(Host::Domain(crate::lex::sub(owner, s)));
        }
        if s.contains(&b':') {
            return Err(ParseError::bad("IPv6 address must be enclosed in '[' ']'"));
        }
        Err(ParseError::bad_owned(format!(
            "invalid host '{}'",
            String::from_utf8_lossy(s)
        )))
    }

    /// Like [`Host::parse`], but also accepts a bare IPv6 address (Via `received`, RFC 5118 §4.5).
    pub fn parse_received(s: &[u8], owner: &Bytes) -> Result<Host, ParseError> {
        if s.first() != Some(&b'[') && s.contains(&b':') {
            return parse_ipv6(s)
                .map(|a| Host::Ipv6(a, crate::lex::sub(owner, s)))
                .ok_or_else(|| ParseError::bad("invalid IPv6 address"));
        }
        Host::parse(s, owner)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(&String::from_utf8_lossy(d)),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(_, raw) => write!(f, "[{}]", String::from_utf8_lossy(raw)),
        }
    }
}

/// RFC 3261 §25.1 `IPv4address`: four decimal octets (leading zeros tolerated, at most 3 digits).
pub(crate) fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut parts = [0u8; 4];
    let mut n = 0;
    for part in s.split(|&b| b == b'.') {
        if n == 4 || part.is_empty() || part.len() > 3 {
            return None;
        }
        parts[n] = u8::try_from(lex::parse_u64(part, 255)?).ok()?;
        n += 1;
    }
    (n == 4).then(|| Ipv4Addr::from(parts))
}

/// RFC 3261's `IPv6address` ABNF. It also admits the three-colon form of
/// RFC 5118 §4.10 (`2001:db8:::192.0.2.1`); we tolerate it (robustness
/// principle) and read it as `2001:db8::192.0.2.1`.
pub(crate) fn parse_ipv6(s: &[u8]) -> Option<Ipv6Addr> {
    if s.len() > 64
        || !s
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    if let Ok(a) = text.parse::<Ipv6Addr>() {
        return Some(a);
    }
    // hexpart ":" IPv4address where hexpart ends in "::" gives ":::" before the IPv4 part.
    let (head, v4) = text.rsplit_once(':')?;
    if head.ends_with("::") && !head.ends_with(":::") && v4.contains('.') {
        return format!("{head}{v4}").parse().ok();
    }
    None
}

/// RFC 3261 §25.1 `hostname`: labels of alphanum and inner `-`, the top label
/// starting with a letter, optional trailing dot.
fn is_hostname(s: &[u8]) -> bool {
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    let s = s.strip_suffix(b".").unwrap_or(s);
    let mut labels = s.split(|&b| b == b'.').peekable();
    while let Some(label) = labels.next() {
        let ok = !label.is_empty()
            && label[0].is_ascii_alphanumeric()
            && label[label.len() - 1].is_ascii_alphanumeric()
            && label
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return false;
        }
        if labels.peek().is_none() && !label[0].is_ascii_alphabetic() {
            return false;
        }
    }
    true
}

impl Uri {
    /// `sip:invalid` (a name RFC 2606 reserves): a stand-in where a URI is
    /// required but no longer read. Allocates nothing.
    pub fn placeholder() -> Uri {
        static RAW: &[u8] = b"sip:invalid";
        Uri::parse(&Bytes::from_static(RAW), RAW).expect("a valid SIP URI")
    }

    /// Parses a complete URI from `owner[range]`; every byte must belong to it.
    pub fn parse(owner: &Bytes, s: &[u8]) -> Result<Uri, ParseError> {
        let colon = memchr::memchr(b':', s).ok_or_else(|| {
            ParseError::bad_owned(format!(
                "URI '{}' has no scheme",
                String::from_utf8_lossy(s)
            ))
        })?;
        let scheme_text = &s[..colon];
        let scheme_ok = scheme_text.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme_text
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(ParseError::bad_owned(format!(
                "invalid URI scheme '{}'",
                String::from_utf8_lossy(scheme_text)
            )));
        }
        let rest = &s[colon + 1..];
        let scheme = if scheme_text.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if scheme_text.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if scheme_text.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            Scheme::Other(crate::lex::sub(owner, scheme_text))
        };
        let raw = crate::lex::sub(owner, s);
        match scheme {
            Scheme::Sip | Scheme::Sips => parse_sip(owner, raw, scheme, rest),
            Scheme::Tel => parse_tel(owner, raw, rest),
            Scheme::Other(_) => {
                // absoluteURI: opaque, but no white space, quotes or angle brackets.
                let ok = !rest.is_empty()
                    && rest
                        .iter()
                        .all(|&b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"'));
                if !ok {
                    return Err(ParseError::bad("invalid characters in absolute URI"));
                }
                Ok(Uri {
                    raw,
                    scheme,
                    user: None,
                    password: None,
                    host: None,
                    port: None,
                    params: Params::default(),
                    headers: None,
                })
            }
        }
    }

    /// Parses a URI from a standalone string (builders and tests).
    pub fn from_text(text: &str) -> Result<Uri, ParseError> {
        let b = Bytes::copy_from_slice(text.as_bytes());
        Uri::parse(&b, &b)
    }

    /// The exact text of the URI.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The user part with `%HH` escapes decoded once (`%00` stays a NUL byte, never truncates).
    pub fn user_unescaped(&self) -> Option<Vec<u8>> {
        self.user.as_deref().map(lex::unescape)
    }

    /// Whether this is a `sip:` or `sips:` URI.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// Value of a URI parameter (`transport`, `lr`, `maddr`...), name case-insensitive.
    pub fn param(&self, name: &str) -> Option<Option<&Bytes>> {
        self.params.get(name)
    }
}

impl Uri {
    /// URI equivalence (RFC 3261 §19.1.4): user part compared after
    /// unescaping and case-sensitively, host case-insensitively, ports
    /// literally (an absent port differs from `:5060`); `user`, `ttl`,
    /// `method`, `maddr` and `transport` must match if either side has them;
    /// other parameters only where both have them; headers must all match.
    /// Non-SIP URIs compare by exact text (case-insensitive scheme).
    pub fn equivalent(&self, other: &Uri) -> bool {
        if self.scheme != other.scheme {
            return false;
        }
        if !self.is_sip() {
            return self.raw.eq_ignore_ascii_case(&other.raw);
        }
        let unesc = |b: &Option<Bytes>| b.as_deref().map(lex::unescape);
        if unesc(&self.user) != unesc(&other.user)
            || unesc(&self.password) != unesc(&other.password)
        {
            return false;
        }
        let host_eq = match (&self.host, &other.host) {
            (Some(Host::Domain(a)), Some(Host::Domain(b))) => {
                lex::unescape(a).eq_ignore_ascii_case(&lex::unescape(b))
            }
            (Some(Host::Ipv4(a)), Some(Host::Ipv4(b))) => a == b,
            (Some(Host::Ipv6(a, _)), Some(Host::Ipv6(b, _))) => a == b,
            _ => false,
        };
        if !host_eq || self.port != other.port {
            return false;
        }
        let value = |u: &Uri, name: &[u8]| {
            u.params
                .iter()
                .find(|p| lex::unescape(&p.name).eq_ignore_ascii_case(name))
                .map(|p| p.value.as_deref().map(lex::unescape))
        };
        for p in self.params.iter().chain(other.params.iter()) {
            let name = lex::unescape(&p.name).to_ascii_lowercase();
            let special = matches!(
                &name[..],
                b"user" | b"ttl" | b"method" | b"maddr" | b"transport"
            );
            match (value(self, &name), value(other, &name)) {
                (Some(a), Some(b)) => {
                    let eq = match (&a, &b) {
                        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
                        (None, None) => true,
                        _ => false,
                    };
                    if !eq {
                        return false;
                    }
                }
                (None, None) => {}
                _ if special => return false,
                _ => {}
            }
        }
        let headers = |u: &Uri| {
            let mut v: Vec<Vec<u8>> = u
                .headers
                .as_deref()
                .map(|h| h.split(|&b| b == b'&').map(lex::unescape).collect())
                .unwrap_or_default();
            v.sort();
            v
        };
        headers(self) == headers(other)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.raw))
    }
}

fn parse_sip(owner: &Bytes, raw: Bytes, scheme: Scheme, rest: &[u8]) -> Result<Uri, ParseError> {
    // The first '@' ends the userinfo: '@' is legal nowhere else unescaped.
    let (user, password, hostpart) = match memchr::memchr(b'@', rest) {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match memchr::memchr(b':', userinfo) {
                Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                None => (userinfo, None),
            };
            if !lex::all_escaped(user, lex::is_user_char) {
                return Err(ParseError::bad("invalid character in URI user part"));
            }
            if let Some(p) = password {
                if !p.is_empty() && !lex::all_escaped(p, lex::is_password_char) {
                    return Err(ParseError::bad("invalid character in URI password"));
                }
            }
            (
                Some(crate::lex::sub(owner, user)),
                password.map(|p| crate::lex::sub(owner, p)),
                &rest[at + 1..],
            )
        }
        None => (None, None, rest),
    };
    // hostport ends at ';' (params) or '?' (headers).
    let end = hostpart
        .iter()
        .position(|&b| b == b';' || b == b'?')
        .unwrap_or(hostpart.len());
    let hostport = &hostpart[..end];
    let (host_text, port) = split_hostport(hostport)?;
    if host_text.is_empty() {
        return Err(ParseError::bad("SIP URI has no host"));
    }
    let host = Host::parse(host_text, owner)?;
    let mut cur = Cursor::new(hostpart);
    cur.pos = end;
    let params = Params::parse_uri_params(owner, &mut cur)?;
    let headers = if cur.eat(b'?') {
        let h = cur.rest();
        validate_uri_headers(h)?;
        cur.pos = hostpart.len();
        Some(crate::lex::sub(owner, h))
    } else {
        None
    };
    if !cur.at_end() {
        return Err(cur.unexpected("end of URI"));
    }
    Ok(Uri {
        raw,
        scheme,
        user,
        password,
        host: Some(host),
        port,
        params,
        headers,
    })
}

/// Splits `host[:port]`, where host may be an IPv6 reference.
pub(crate) fn split_hostport(s: &[u8]) -> Result<(&[u8], Option<u16>), ParseError> {
    let (host, port_text) = if s.first() == Some(&b'[') {
        match memchr::memchr(b']', s) {
            Some(close) => {
                let after = &s[close + 1..];
                match after.first() {
                    None => (&s[..=close], None),
                    Some(b':') => (&s[..=close], Some(&after[1..])),
                    Some(_) => return Err(ParseError::bad("unexpected text after IPv6 reference")),
                }
            }
            None => return Err(ParseError::bad("IPv6 reference lacks its closing ']'")),
        }
    } else {
        match memchr::memchr(b':', s) {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    let port = match port_text {
        None => None,
        Some(p) => match lex::parse_u64(p, 65535) {
            Some(v) => Some(v as u16),
            None if s.first() != Some(&b'[') && s.iter().filter(|&&b| b == b':').count() > 1 => {
                return Err(ParseError::bad("IPv6 address must be enclosed in '[' ']'"))
            }
            None => {
                return Err(ParseError::bad_owned(format!(
                    "invalid port '{}'",
                    String::from_utf8_lossy(p)
                )))
            }
        },
    };
    Ok((host, port))
}

/// `headers = "?" header *( "&" header )`, `header = hname "=" hvalue`.
fn validate_uri_headers(h: &[u8]) -> Result<(), ParseError> {
    if h.is_empty() {
        return Err(ParseError::bad("empty URI headers after '?'"));
    }
    for header in h.split(|&b| b == b'&') {
        let (name, value) = match memchr::memchr(b'=', header) {
            Some(e) => (&header[..e], &header[e + 1..]),
            None => return Err(ParseError::bad("URI header without '='")),
        };
        if !lex::all_escaped(name, lex::is_hnv_char)
            || !(value.is_empty() || lex::all_escaped(value, lex::is_hnv_char))
        {
            return Err(ParseError::bad("invalid character in URI headers"));
        }
    }
    Ok(())
}

/// RFC 3966 `telephone-subscriber`: a global (`+digits`) or local number, then `;params`.
fn parse_tel(owner: &Bytes, raw: Bytes, rest: &[u8]) -> Result<Uri, ParseError> {
    let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
    let number = &rest[..end];
    let digits = number.strip_prefix(b"+").unwrap_or(number);
    let ok = !digits.is_empty()
        && digits.iter().any(u8::is_ascii_hexdigit)
        && digits.iter().all(|&b| {
            b.is_ascii_hexdigit() || matches!(b, b'-' | b'.' | b'(' | b')' | b'*' | b'#')
        });
    if !ok {
        return Err(ParseError::bad("invalid telephone number in tel URI"));
    }
    let mut cur = Cursor::new(rest);
    cur.pos = end;
    let params = Params::parse_uri_params(owner, &mut cur)?;
    if !cur.at_end() {
        return Err(cur.unexpected("end of tel URI"));
    }
    Ok(Uri {
        raw,
        scheme: Scheme::Tel,
        user: Some(crate::lex::sub(owner, number)),
        password: None,
        host: None,
        port: None,
        params,
        headers: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Result<Uri, ParseError> {
        Uri::from_text(s)
    }

    #[test]
    fn sip_uri_parts() {
        let u = uri("sip:alice:pw@example.com:5070;transport=tcp;lr?subject=x").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user.as_deref(), Some(&b"alice"[..]));
        assert_eq!(u.password.as_deref(), Some(&b"pw"[..]));
        assert_eq!(u.port, Some(5070));
        assert_eq!(
            u.param("transport"),
            Some(Some(&Bytes::from_static(b"tcp")))
        );
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.headers.as_deref(), Some(&b"subject=x"[..]));
        assert_eq!(
            u.to_string(),
            "sip:alice:pw@example.com:5070;transport=tcp;lr?subject=x"
        );
    }

    #[test]
    fn ipv6_references() {
        let u = uri("sip:user@[2001:db8::10]:5070").unwrap();
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.host.unwrap().ip(), Some("2001:db8::10".parse().unwrap()));
        // RFC 5118 §4.3: the port inside the brackets is part of the address.
        let u = uri("sip:user@[2001:db8::10:5070]").unwrap();
        assert_eq!(u.port, None);
        assert_eq!(
            u.host.unwrap().ip(),
            Some("2001:db8::10:5070".parse().unwrap())
        );
        // RFC 5118 §4.10: three colons tolerated.
        let u = uri("sip:[2001:db8:::192.0.2.1]").unwrap();
        assert_eq!(
            u.host.unwrap().ip(),
            Some("2001:db8::192.0.2.1".parse().unwrap())
        );
        let e = uri("sip:user@2001:db8::10").unwrap_err();
        assert!(e.reason.contains("IPv6"), "{e}");
    }

    #[test]
    fn escapes_decode_once_and_keep_nul() {
        let u = uri("sip:null-%00-null@example.com").unwrap();
        assert_eq!(u.user_unescaped().unwrap(), b"null-\0-null");
        let u = uri("sip:cal%6Cer@host5.example.net;n%61me=v%61lue%25%34%31").unwrap();
        assert_eq!(u.user_unescaped().unwrap(), b"caller");
        assert!(uri("sip:a%4@example.com").is_err());
        assert!(uri("sip:a%zz@example.com").is_err());
    }

    #[test]
    fn other_schemes_are_opaque() {
        let u = uri("nobodyKnowsThisScheme:totallyopaquecontent").unwrap();
        assert!(matches!(u.scheme, Scheme::Other(_)));
        assert!(uri("soap.beep://192.0.2.103:3002").is_ok());
        let t = uri("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(t.scheme, Scheme::Tel);
        assert_eq!(t.user.as_deref(), Some(&b"+1-201-555-0123"[..]));
        assert!(uri("tel:abc-nope").is_err());
    }

    /// RFC 3261 §19.1.4 examples.
    #[test]
    fn equivalence_rules() {
        let eq = |a: &str, b: &str| uri(a).unwrap().equivalent(&uri(b).unwrap());
        assert!(eq(
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp"
        ));
        assert!(eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
        ));
        assert!(!eq(
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:alice@AtLanTa.CoM;Transport=UDP"
        ));
        assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
        assert!(!eq(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com;transport=udp"
        ));
        assert!(!eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com?Subject=next%20meeting"
        ));
        assert!(!eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;security=off"
        ));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "sip:",
            "sip:@",
            "sip:user@",
            "sip:host:99999",
            "sip:host;;",
            "sip:ho st",
            "1sip:x",
            "sip:-bad-.com",
        ] {
            assert!(uri(bad).is_err(), "{bad} should be rejected");
        }
    }
}
