//! Authorization-family headers and HTTP Digest math (RFC 2617, RFC 7616:
//! MD5 and SHA-256, `qop=auth`; RFC 3261 §22).

use crate::error::ParseError;
use crate::lex::Cursor;
use bytes::Bytes;
use md5::Md5;
use sha2::{Digest as _, Sha256};
use std::fmt;

/// A challenge (`WWW-Authenticate`, `Proxy-Authenticate`) or credentials
/// (`Authorization`, `Proxy-Authorization`): a scheme and `name=value` params.
/// Unknown schemes parse fine and are never treated as authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    pub scheme: Bytes,
    /// Parameters in order; quoted values are stored without their quotes.
    pub params: Vec<(Bytes, Bytes)>,
}

impl AuthHeader {
    pub fn parse(value: &Bytes) -> Result<AuthHeader, ParseError> {
        let mut cur = Cursor::new(value);
        cur.skip_lws();
        let (ss, se) = cur.token("authentication scheme")?;
        let scheme = crate::lex::sub(value, &value[ss..se]);
        let mut params = Vec::new();
        if !cur.skip_lws() {
            if cur.at_end() {
                return Ok(AuthHeader { scheme, params });
            }
            return Err(cur.unexpected("white space after authentication scheme"));
        }
        loop {
            let (ns, ne) = cur.token("auth parameter name")?;
            if !cur.eat_sep(b'=') {
                return Err(cur.unexpected("'=' in auth parameter"));
            }
            let v = if cur.peek() == Some(b'"') {
                let (s, e) = cur.quoted_string()?;
                crate::lex::sub(value, &value[s + 1..e - 1])
            } else {
                let (s, e) = cur.token("auth parameter value")?;
                crate::lex::sub(value, &value[s..e])
            };
            params.push((crate::lex::sub(value, &value[ns..ne]), v));
            cur.skip_lws();
            if cur.at_end() {
                return Ok(AuthHeader { scheme, params });
            }
            if !cur.eat_sep(b',') {
                return Err(cur.unexpected("',' between auth parameters"));
            }
        }
    }

    pub fn param(&self, name: &str) -> Option<&Bytes> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case(b"Digest")
    }
}

/// Digest hash algorithm (RFC 7616 §3.3). `-sess` variants are not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// From the `algorithm` parameter; absent means MD5 (RFC 2617 §3.2.1).
    pub fn from_param(p: Option<&[u8]>) -> Option<Algorithm> {
        match p {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case(b"MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case(b"SHA-256") => Some(Algorithm::Sha256),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `parts` joined by `:`.
    pub fn hash(self, parts: &[&[u8]]) -> String {
        fn run<D: sha2::Digest>(mut d: D, parts: &[&[u8]]) -> String {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex::encode(d.finalize())
        }
        match self {
            Algorithm::Md5 => run(Md5::new(), parts),
            Algorithm::Sha256 => run(Sha256::new(), parts),
        }
    }
}

/// Everything needed to compute a digest `response` (RFC 7616 §3.4.1).
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    pub algorithm: Algorithm,
    pub username: &'a [u8],
    pub realm: &'a [u8],
    pub password: &'a [u8],
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub nonce: &'a [u8],
    /// `Some((nc, cnonce))` for `qop=auth`, `None` for the RFC 2069 form.
    pub qop_auth: Option<(&'a [u8], &'a [u8])>,
}

impl DigestInput<'_> {
    /// `HA1 = H(username:realm:password)`.
    pub fn ha1(&self) -> String {
        self.algorithm
            .hash(&[self.username, self.realm, self.password])
    }

    /// The `response` value, from a stored HA1 (a registrar need not keep passwords).
    pub fn response_from_ha1(&self, ha1: &str) -> String {
        let ha2 = self.algorithm.hash(&[self.method, self.uri]);
        match self.qop_auth {
            Some((nc, cnonce)) => self.algorithm.hash(&[
                ha1.as_bytes(),
                self.nonce,
                nc,
                cnonce,
                b"auth",
                ha2.as_bytes(),
            ]),
            None => self
                .algorithm
                .hash(&[ha1.as_bytes(), self.nonce, ha2.as_bytes()]),
        }
    }

    pub fn response(&self) -> String {
        self.response_from_ha1(&self.ha1())
    }
}

/// Constant-time comparison for digest responses.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 (RFC 2104) of the concatenation of `parts`, keyed by `key`;
/// a registrar MACs its nonces with it so they verify without state.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// A `Digest` challenge to send (WWW-Authenticate / Proxy-Authenticate).
#[derive(Debug, Clone)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    pub stale: bool,
}

impl fmt::Display for DigestChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}, qop=\"auth\"",
            self.realm,
            self.nonce,
            self.algorithm.as_str()
        )?;
        if let Some(o) = &self.opaque {
            write!(f, ", opaque=\"{o}\"")?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

/// Digest credentials a client sends in answer to a challenge.
#[derive(Debug, Clone)]
pub struct DigestCredentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Algorithm,
    pub cnonce: Option<String>,
    pub nc: Option<u32>,
    pub opaque: Option<String>,
}

impl DigestCredentials {
    /// Answers `challenge` for `method uri` with `qop=auth` when offered.
    pub fn answer(
        challenge: &AuthHeader,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> Option<DigestCredentials> {
        if !challenge.is_digest() {
            return None;
        }
        let algorithm = Algorithm::from_param(challenge.param("algorithm").map(|b| &b[..]))?;
        let realm = challenge.param("realm")?;
        let nonce = challenge.param("nonce")?;
        let qop = challenge.param("qop").is_some_and(|q| {
            q.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"auth"))
        });
        let nc_text = format!("{nc:08x}");
        let input = DigestInput {
            algorithm,
            username: username.as_bytes(),
            realm,
            password: password.as_bytes(),
            method: method.as_bytes(),
            uri: uri.as_bytes(),
            nonce,
            qop_auth: qop.then_some((nc_text.as_bytes(), cnonce.as_bytes())),
        };
        Some(DigestCredentials {
            username: username.to_owned(),
            realm: String::from_utf8_lossy(realm).into_owned(),
            nonce: String::from_utf8_lossy(nonce).into_owned(),
            uri: uri.to_owned(),
            response: input.response(),
            algorithm,
            cnonce: qop.then(|| cnonce.to_owned()),
            nc: qop.then_some(nc),
            opaque: challenge
                .param("opaque")
                .map(|o| String::from_utf8_lossy(o).into_owned()),
        })
    }
}

impl fmt::Display for DigestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
            self.username,
            self.realm,
            self.nonce,
            self.uri,
            self.response,
            self.algorithm.as_str()
        )?;
        if let (Some(cnonce), Some(nc)) = (&self.cnonce, self.nc) {
            write!(f, ", qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\"")?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque=\"{o}\"")?;
        }
        Ok(())
    }
}

/// Answers the digest challenge of a 401 (`WWW-Authenticate`) or 407
/// (`Proxy-Authenticate`) response for `method uri` (RFC 3261 §22.2, §22.3):
/// the header to add to the request again (`Authorization` or
/// `Proxy-Authorization`) and its value. `None` when the response carries
/// no digest challenge we can answer.
pub fn authorize(
    resp: &crate::Response,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
) -> Option<crate::Header> {
    use crate::{Header, HeaderName};
    let (challenges, header) = if resp.status == 407 {
        (
            resp.headers.proxy_authenticate(),
            HeaderName::ProxyAuthorization,
        )
    } else {
        (resp.headers.www_authenticate(), HeaderName::Authorization)
    };
    let challenge = challenges.ok()?.into_iter().find(|c| c.is_digest())?;
    let creds = DigestCredentials::answer(&challenge, username, password, method, uri, cnonce, 1)?;
    Some(Header::new(header, creds.to_string()))
}

/// Parses an `nc` value (8 hex digits).
pub fn parse_nc(nc: &[u8]) -> Option<u32> {
    if nc.len() != 8 || !nc.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(nc).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5 example (MD5, qop=auth).
    #[test]
    fn rfc2617_example() {
        let input = DigestInput {
            algorithm: Algorithm::Md5,
            username: b"Mufasa",
            realm: b"testrealm@host.com",
            password: b"Circle Of Life",
            method: b"GET",
            uri: b"/dir/index.html",
            nonce: b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop_auth: Some((b"00000001", b"0a4f113b")),
        };
        assert_eq!(input.response(), "6629fae49393a05397450978507c4ef1");
    }

    /// RFC 7616 §3.9.1 example (SHA-256, qop=auth).
    #[test]
    fn rfc7616_sha256_example() {
        let input = DigestInput {
            algorithm: Algorithm::Sha256,
            username: b"Mufasa",
            realm: b"http-auth@example.org",
            password: b"Circle of Life",
            method: b"GET",
            uri: b"/dir/index.html",
            nonce: b"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop_auth: Some((b"00000001", b"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        };
        assert_eq!(
            input.response(),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    /// RFC 4231 §4.2, §4.3 and §4.7 (a key longer than the block size).
    #[test]
    fn hmac_sha256_rfc4231_vectors() {
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                &[b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."]
            )),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        );
    }

    #[test]
    fn parses_challenge_and_answers_it() {
        let v = Bytes::from_static(
            b"Digest realm=\"dialtone\", nonce=\"abc\", algorithm=SHA-256, qop=\"auth,auth-int\"",
        );
        let ch = AuthHeader::parse(&v).unwrap();
        assert!(ch.is_digest());
        assert_eq!(ch.param("realm").unwrap(), "dialtone");
        let cr =
            DigestCredentials::answer(&ch, "1001", "pw", "REGISTER", "sip:example.com", "xyz", 1)
                .unwrap();
        let text = cr.to_string();
        assert!(text.contains("qop=auth, nc=00000001"), "{text}");
        let back = AuthHeader::parse(&Bytes::from(text)).unwrap();
        assert_eq!(back.param("response").unwrap(), cr.response.as_bytes());
    }

    #[test]
    fn unknown_scheme_parses() {
        let v = Bytes::from_static(b"NoOneKnowsThisScheme opaque-data=here");
        let a = AuthHeader::parse(&v).unwrap();
        assert!(!a.is_digest());
        assert_eq!(a.param("opaque-data").unwrap(), "here");
    }
}
