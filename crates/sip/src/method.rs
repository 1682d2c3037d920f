//! Request methods (RFC 3261 §7.1 and extensions).

use bytes::Bytes;
use std::fmt;

/// A SIP request method. Unknown extension methods are kept verbatim.
///
/// Methods are case-sensitive (RFC 3261 §7.1): `invite` is an extension
/// method, not INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    /// Any other `token`, e.g. `!interesting-Method0123456789_*+`.%indeed'~`.
    Extension(Bytes),
}

impl Method {
    /// Maps the method token; `token` must already be a valid RFC 3261 token.
    pub fn from_token(token: &[u8], owner: &Bytes) -> Method {
        match token {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"OPTIONS" => Method::Options,
            b"INFO" => Method::Info,
            b"UPDATE" => Method::Update,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"PUBLISH" => Method::Publish,
            other => Method::Extension(crate::lex::sub(owner, other)),
        }
    }

    /// Builds an extension method from a token (for tests and builders).
    pub fn extension(token: &str) -> Method {
        let b = Bytes::copy_from_slice(token.as_bytes());
        Method::from_token(token.as_bytes(), &b)
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Method::Invite => b"INVITE",
            Method::Ack => b"ACK",
            Method::Bye => b"BYE",
            Method::Cancel => b"CANCEL",
            Method::Register => b"REGISTER",
            Method::Options => b"OPTIONS",
            Method::Info => b"INFO",
            Method::Update => b"UPDATE",
            Method::Prack => b"PRACK",
            Method::Subscribe => b"SUBSCRIBE",
            Method::Notify => b"NOTIFY",
            Method::Refer => b"REFER",
            Method::Message => b"MESSAGE",
            Method::Publish => b"PUBLISH",
            Method::Extension(b) => b,
        }
    }

    /// Whether this is a method this stack knows (not an extension).
    pub fn is_known(&self) -> bool {
        !matches!(self, Method::Extension(_))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}
