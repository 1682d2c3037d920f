//! The one error type of the `sip` crate.

use std::borrow::Cow;

/// Why a message (or one of its parts) was rejected, and what a UAS answers.
///
/// `status` is the SIP status code a UAS sends back for a request with this
/// fault (RFC 3261 §8.2, §21); for a response the fault means "drop it".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
#[non_exhaustive]
pub struct ParseError {
    /// Human-readable description naming the fault, e.g. `"CSeq: sequence number exceeds 2^32-1"`.
    pub reason: Cow<'static, str>,
    /// The status code a UAS answers a request with this fault (400, 416, 505, 501...).
    pub status: u16,
    /// Whether more input could complete the message (stream framing only).
    pub incomplete: bool,
}

impl ParseError {
    pub(crate) fn bad(reason: &'static str) -> Self {
        ParseError {
            reason: Cow::Borrowed(reason),
            status: 400,
            incomplete: false,
        }
    }

    pub(crate) fn bad_owned(reason: String) -> Self {
        ParseError {
            reason: Cow::Owned(reason),
            status: 400,
            incomplete: false,
        }
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn incomplete(reason: &'static str) -> Self {
        ParseError {
            reason: Cow::Borrowed(reason),
            status: 400,
            incomplete: true,
        }
    }

    /// Prefixes the reason with the header it came from: `"Via: expected ..."`.
    pub(crate) fn in_header(self, name: &str) -> Self {
        ParseError {
            reason: Cow::Owned(format!("{name}: {}", self.reason)),
            status: self.status,
            incomplete: self.incomplete,
        }
    }
}
