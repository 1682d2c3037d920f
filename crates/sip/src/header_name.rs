//! Header field names, with RFC 3261 §7.3.3 compact forms.

use bytes::Bytes;

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal $(, $compact:literal)? ;)*) => {
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
                $(
                    if name.eq_ignore_ascii_case($canonical.as_bytes()) {
                        return Some(HeaderName::$variant);
                    }
                    $( if name.len() == 1 && name[0].eq_ignore_ascii_case(&$compact) {
                        return Some(HeaderName::$variant);
                    } )?
                )*
                None
            }
        }
    };
}

header_names! {
    Via => "Via", b'v';
    From => "From", b'f';
    To => "To", b't';
    CallId => "Call-ID", b'i';
    CSeq => "CSeq";
    MaxForwards => "Max-Forwards";
    Contact => "Contact", b'm';
    Route => "Route";
    RecordRoute => "Record-Route";
    ContentLength => "Content-Length", b'l';
    ContentType => "Content-Type", b'c';
    ContentEncoding => "Content-Encoding", b'e';
    ContentDisposition => "Content-Disposition";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    AuthenticationInfo => "Authentication-Info";
    Supported => "Supported", b'k';
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    Allow => "Allow";
    Accept => "Accept";
    RSeq => "RSeq";
    RAck => "RAck";
    ReferTo => "Refer-To", b'r';
    ReferredBy => "Referred-By", b'b';
    Replaces => "Replaces";
    SessionExpires => "Session-Expires", b'x';
    MinSE => "Min-SE";
    Event => "Event", b'o';
    Subject => "Subject", b's';
    UserAgent => "User-Agent";
    Server => "Server";
    Date => "Date";
    RetryAfter => "Retry-After";
    Warning => "Warning";
    Privacy => "Privacy";
    Reason => "Reason";
    Timestamp => "Timestamp";
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
