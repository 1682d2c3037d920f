//! Header field names, with RFC 3261 §7.3.3 compact forms.

use bytes::Bytes;

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal / $lower:literal $(, $compact:literal)? ;)*) => {
        /// A header field name. Known names compare case-insensitively and
        /// compact forms map to their long form (`v` is `Via`).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( $variant, )*
            /// Any other header, name kept as written.
            Other(Bytes),
        }

        impl HeaderName {
            /// The canonical spelling (`Call-ID`, `WWW-Authenticate`...).
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canonical, )*
                    HeaderName::Other(b) => std::str::from_utf8(b).unwrap_or("X-Invalid"),
                }
            }

            fn lookup(name: &[u8]) -> Option<HeaderName> {
                if name.len() == 1 {
                    $( $( if name[0].eq_ignore_ascii_case(&$compact) {
                        return Some(HeaderName::$variant);
                    } )? )*
                    return None;
                }
                // Lower-case into a small buffer, then one `match` (a jump on
                // length and bytes) instead of a scan over every known name.
                let mut buf = [0u8; 24];
                let lower = buf.get_mut(..name.len())?;
                for (d, s) in lower.iter_mut().zip(name) {
                    *d = s.to_ascii_lowercase();
                }
                match &*lower {
                    $( $lower => Some(HeaderName::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

header_names! {
    Via => "Via" / b"via", b'v';
    From => "From" / b"from", b'f';
    To => "To" / b"to", b't';
    CallId => "Call-ID" / b"call-id", b'i';
    CSeq => "CSeq" / b"cseq";
    MaxForwards => "Max-Forwards" / b"max-forwards";
    Contact => "Contact" / b"contact", b'm';
    Route => "Route" / b"route";
    RecordRoute => "Record-Route" / b"record-route";
    ContentLength => "Content-Length" / b"content-length", b'l';
    ContentType => "Content-Type" / b"content-type", b'c';
    ContentEncoding => "Content-Encoding" / b"content-encoding", b'e';
    ContentDisposition => "Content-Disposition" / b"content-disposition";
    Expires => "Expires" / b"expires";
    MinExpires => "Min-Expires" / b"min-expires";
    Authorization => "Authorization" / b"authorization";
    ProxyAuthorization => "Proxy-Authorization" / b"proxy-authorization";
    WwwAuthenticate => "WWW-Authenticate" / b"www-authenticate";
    ProxyAuthenticate => "Proxy-Authenticate" / b"proxy-authenticate";
    AuthenticationInfo => "Authentication-Info" / b"authentication-info";
    Supported => "Supported" / b"supported", b'k';
    Require => "Require" / b"require";
    ProxyRequire => "Proxy-Require" / b"proxy-require";
    Unsupported => "Unsupported" / b"unsupported";
    Allow => "Allow" / b"allow";
    Accept => "Accept" / b"accept";
    RSeq => "RSeq" / b"rseq";
    RAck => "RAck" / b"rack";
    ReferTo => "Refer-To" / b"refer-to", b'r';
    ReferredBy => "Referred-By" / b"referred-by", b'b';
    Replaces => "Replaces" / b"replaces";
    SessionExpires => "Session-Expires" / b"session-expires", b'x';
    MinSE => "Min-SE" / b"min-se";
    Event => "Event" / b"event", b'o';
    Subject => "Subject" / b"subject", b's';
    UserAgent => "User-Agent" / b"user-agent";
    Server => "Server" / b"server";
    Date => "Date" / b"date";
    RetryAfter => "Retry-After" / b"retry-after";
    Warning => "Warning" / b"warning";
    Privacy => "Privacy" / b"privacy";
    Reason => "Reason" / b"reason";
    Timestamp => "Timestamp" / b"timestamp";
}

impl HeaderName {
    /// Maps a header name as written on the wire.
    pub fn from_wire(name: &[u8], owner: &Bytes) -> HeaderName {
        HeaderName::lookup(name).unwrap_or_else(|| HeaderName::Other(crate::lex::sub(owner, name)))
    }

    /// A name from text (builders): known names map to their variant.
    pub fn new(name: &str) -> HeaderName {
        HeaderName::lookup(name.as_bytes())
            .unwrap_or_else(|| HeaderName::Other(Bytes::copy_from_slice(name.as_bytes())))
    }

    /// Case-insensitive comparison with a name in text (compact forms too).
    pub fn is(&self, name: &str) -> bool {
        match HeaderName::lookup(name.as_bytes()) {
            Some(known) => &known == self,
            None => match self {
                HeaderName::Other(b) => b.eq_ignore_ascii_case(name.as_bytes()),
                _ => false,
            },
        }
    }

    /// Whether RFC 3261 allows several comma-separated values for this header.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Supported
                | HeaderName::Require
                | HeaderName::ProxyRequire
                | HeaderName::Unsupported
                | HeaderName::Allow
                | HeaderName::Accept
                | HeaderName::ContentEncoding
                | HeaderName::Warning
                | HeaderName::Reason
        )
    }

    /// Whether the header must appear at most once (RFC 3261 §7.3.1 and Table 2).
    pub fn is_single(&self) -> bool {
        matches!(
            self,
            HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::MaxForwards
                | HeaderName::ContentLength
                | HeaderName::ContentType
                | HeaderName::Expires
                | HeaderName::MinExpires
                | HeaderName::RSeq
                | HeaderName::RAck
                | HeaderName::ReferTo
                | HeaderName::Replaces
                | HeaderName::SessionExpires
                | HeaderName::MinSE
                | HeaderName::Date
        )
    }
}

impl std::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
