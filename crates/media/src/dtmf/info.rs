//! DTMF in SIP INFO bodies: `application/dtmf-relay` and
//! `application/dtmf`.
//!
//! Neither type has an RFC; both are de-facto formats (Cisco's
//! `dtmf-relay`, used by most PBXs and phones):
//!
//! ```text
//! Content-Type: application/dtmf-relay
//!
//! Signal=5
//! Duration=160
//! ```
//!
//! ```text
//! Content-Type: application/dtmf
//!
//! 5
//! ```
//!
//! Parsing is tolerant, since implementations differ: keys in any case,
//! spaces around keys and values, `=` or `:` between them, `\r\n` or `\n`
//! line ends, unknown lines ignored, `Duration` optional (and ignored when
//! it is not a number). `Signal` is a keypad character (`a`-`d` accepted in
//! lower case); a two-digit value 10-15 is read as the RFC 4733 event code
//! (`10` = `*`, `11` = `#`, `12`-`15` = `A`-`D`), as some gateways send,
//! since no single character could be meant by it. Formatting always
//! writes the canonical `Signal=5\r\nDuration=160\r\n`.

use std::fmt;

use super::{Digit, DtmfError};

/// `Content-Type` of the `Signal=`/`Duration=` body.
pub const DTMF_RELAY_CONTENT_TYPE: &str = "application/dtmf-relay";

/// `Content-Type` of the bare-digit body.
pub const DTMF_CONTENT_TYPE: &str = "application/dtmf";

/// A digit carried in a SIP INFO body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfRelay {
    /// The key.
    pub digit: Digit,
    /// How long the key was pressed, ms, when the body says
    /// (`application/dtmf` never does).
    pub duration_ms: Option<u32>,
}

impl DtmfRelay {
    /// Parses an `application/dtmf-relay` body.
    pub fn parse(body: &[u8]) -> Result<DtmfRelay, DtmfError> {
        let mut digit = None;
        let mut duration_ms = None;
        for line in body.split(|&b| b == b'\n') {
            let Some(split) = line.iter().position(|&b| b == b'=' || b == b':') else {
                continue;
            };
            let key = line[..split].trim_ascii();
            let value = line[split + 1..].trim_ascii();
            if key.eq_ignore_ascii_case(b"signal") && digit.is_none() {
                digit = Some(parse_signal(value)?);
            } else if key.eq_ignore_ascii_case(b"duration") && duration_ms.is_none() {
                duration_ms = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<u32>().ok());
            }
        }
        let digit = digit.ok_or(DtmfError::MissingSignal)?;
        Ok(DtmfRelay { digit, duration_ms })
    }

    /// Parses an `application/dtmf` body: the digit alone (surrounding
    /// white space and line ends allowed, same `Signal` values as
    /// [`parse`](Self::parse)).
    pub fn parse_dtmf(body: &[u8]) -> Result<DtmfRelay, DtmfError> {
        let value = body.trim_ascii();
        if value.is_empty() {
            return Err(DtmfError::MissingSignal);
        }
        Ok(DtmfRelay {
            digit: parse_signal(value)?,
            duration_ms: None,
        })
    }

    /// Parses an INFO body by its `Content-Type` (parameters after `;` and
    /// case ignored).
    pub fn parse_info(content_type: &str, body: &[u8]) -> Result<DtmfRelay, DtmfError> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case(DTMF_RELAY_CONTENT_TYPE) {
            DtmfRelay::parse(body)
        } else if media_type.eq_ignore_ascii_case(DTMF_CONTENT_TYPE) {
            DtmfRelay::parse_dtmf(body)
        } else {
            Err(DtmfError::UnsupportedContentType(content_type.to_owned()))
        }
    }

    /// The `application/dtmf` body: the digit character, nothing else.
    pub fn to_dtmf_body(&self) -> String {
        self.digit.to_char().to_string()
    }
}

/// The `application/dtmf-relay` body: `Signal=<digit>\r\n`, then
/// `Duration=<ms>\r\n` when the duration is known.
impl fmt::Display for DtmfRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signal={}\r\n", self.digit)?;
        if let Some(ms) = self.duration_ms {
            write!(f, "Duration={ms}\r\n")?;
        }
        Ok(())
    }
}

/// A `Signal` value: one keypad character, or an event code 10-15.
fn parse_signal(value: &[u8]) -> Result<Digit, DtmfError> {
    let invalid = || DtmfError::InvalidSignal(String::from_utf8_lossy(value).into_owned());
    match value {
        [c] => Digit::from_char(char::from(*c)).ok_or_else(invalid),
        [b'1', c @ b'0'..=b'5'] => Digit::from_event_code(10 + (c - b'0')).ok_or_else(invalid),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_body_parses_and_formats_byte_exact() {
        let body = b"Signal=5\r\nDuration=160\r\n";
        let relay = DtmfRelay::parse(body).expect("valid");
        assert_eq!(
            relay,
            DtmfRelay {
                digit: Digit::D5,
                duration_ms: Some(160)
            }
        );
        assert_eq!(relay.to_string().as_bytes(), body);
        let hash = DtmfRelay {
            digit: Digit::Hash,
            duration_ms: None,
        };
        assert_eq!(hash.to_string(), "Signal=#\r\n");
    }

    #[test]
    fn case_spaces_separators_and_line_ends_are_tolerated() {
        for body in [
            &b"signal=*\nduration=250\n"[..],
            b"SIGNAL = * \r\n DURATION = 250 \r\n",
            b"Signal: *\r\nDuration: 250",
            b"Mode=relay\r\nSignal=*\r\nDuration=250\r\nX-Extra=1\r\n",
        ] {
            let relay = DtmfRelay::parse(body).expect("valid");
            assert_eq!(relay.digit, Digit::Star, "{body:?}");
            assert_eq!(relay.duration_ms, Some(250), "{body:?}");
        }
    }

    #[test]
    fn a_missing_or_garbled_duration_is_none() {
        assert_eq!(
            DtmfRelay::parse(b"Signal=d\r\n").expect("valid"),
            DtmfRelay {
                digit: Digit::D,
                duration_ms: None
            }
        );
        assert_eq!(
            DtmfRelay::parse(b"Signal=9\r\nDuration=long\r\n")
                .expect("valid")
                .duration_ms,
            None
        );
    }

    #[test]
    fn event_codes_10_to_15_name_the_non_numeric_keys() {
        let signal =
            |s: &str| DtmfRelay::parse(format!("Signal={s}\r\n").as_bytes()).map(|r| r.digit);
        assert_eq!(signal("10"), Ok(Digit::Star));
        assert_eq!(signal("11"), Ok(Digit::Hash));
        assert_eq!(signal("15"), Ok(Digit::D));
        assert_eq!(signal("1"), Ok(Digit::D1));
        assert_eq!(signal("16"), Err(DtmfError::InvalidSignal("16".into())));
        assert_eq!(signal("E"), Err(DtmfError::InvalidSignal("E".into())));
        assert_eq!(signal(""), Err(DtmfError::InvalidSignal("".into())));
    }

    #[test]
    fn a_body_without_signal_is_refused() {
        assert_eq!(
            DtmfRelay::parse(b"Duration=100\r\n"),
            Err(DtmfError::MissingSignal)
        );
        assert_eq!(DtmfRelay::parse(b""), Err(DtmfError::MissingSignal));
    }

    #[test]
    fn application_dtmf_is_the_bare_digit() {
        assert_eq!(
            DtmfRelay::parse_dtmf(b"7\r\n").map(|r| r.digit),
            Ok(Digit::D7)
        );
        assert_eq!(
            DtmfRelay::parse_dtmf(b" # ").map(|r| r.digit),
            Ok(Digit::Hash)
        );
        assert_eq!(
            DtmfRelay::parse_dtmf(b"\r\n"),
            Err(DtmfError::MissingSignal)
        );
        assert!(DtmfRelay::parse_dtmf(b"12").is_ok_and(|r| r.digit == Digit::A));
        let relay = DtmfRelay {
            digit: Digit::B,
            duration_ms: Some(100),
        };
        assert_eq!(relay.to_dtmf_body(), "B");
    }

    #[test]
    fn the_content_type_picks_the_format() {
        assert_eq!(
            DtmfRelay::parse_info(
                "Application/DTMF-Relay; charset=utf-8",
                b"Signal=3\r\nDuration=100\r\n"
            ),
            Ok(DtmfRelay {
                digit: Digit::D3,
                duration_ms: Some(100)
            })
        );
        assert_eq!(
            DtmfRelay::parse_info("application/dtmf", b"3"),
            Ok(DtmfRelay {
                digit: Digit::D3,
                duration_ms: None
            })
        );
        assert!(matches!(
            DtmfRelay::parse_info("text/plain", b"3"),
            Err(DtmfError::UnsupportedContentType(_))
        ));
    }
}
