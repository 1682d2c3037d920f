//! Call endpoints (`{type, target, name}`), E.164 numbers and extension numbers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What kind of party an [`Address`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressType {
    /// An extension registered to (or configured in) Dialtone: `target` is its number.
    Extension,
    /// A PSTN number in E.164 (`+16062067563`).
    Tel,
    /// Any SIP URI (`sip:alice@example.com`).
    Sip,
}

/// One end of a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Address {
    #[serde(rename = "type")]
    pub kind: AddressType,
    pub target: String,
    /// Display name, if any (empty when none).
    #[serde(default)]
    pub name: String,
}

impl Address {
    pub fn extension(number: &str) -> Address {
        Address {
            kind: AddressType::Extension,
            target: number.to_owned(),
            name: String::new(),
        }
    }

    pub fn sip(uri: &str) -> Address {
        Address {
            kind: AddressType::Sip,
            target: uri.to_owned(),
            name: String::new(),
        }
    }

    pub fn tel(number: &str) -> Address {
        Address {
            kind: AddressType::Tel,
            target: number.to_owned(),
            name: String::new(),
        }
    }

    pub fn with_name(mut self, name: &str) -> Address {
        self.name = name.to_owned();
        self
    }
}

/// Why a string is not an extension number or an E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    #[error("extension number is empty")]
    EmptyExtension,
    #[error("extension number is longer than {max} characters")]
    ExtensionTooLong { max: usize },
    #[error("extension number '{0}' may hold only letters and digits (no spaces, parentheses, hyphens or other special characters)")]
    ExtensionCharacter(String),
    #[error("'{0}' is not an E.164 number: it must start with '+' followed by 2 to 15 digits, first digit not 0, nothing else")]
    NotE164(String),
}

/// Longest extension number accepted.
pub const EXTENSION_MAX_LEN: usize = 32;

/// Checks an extension number (seed `001`, "Extension Number Format": no
/// special characters). Dialtone accepts ASCII letters and digits, 1 to 32
/// of them; everything else would need escaping in a SIP URI user part.
pub fn validate_extension(number: &str) -> Result<(), NumberError> {
    if number.is_empty() {
        return Err(NumberError::EmptyExtension);
    }
    if number.len() > EXTENSION_MAX_LEN {
        return Err(NumberError::ExtensionTooLong {
            max: EXTENSION_MAX_LEN,
        });
    }
    if !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(NumberError::ExtensionCharacter(number.to_owned()));
    }
    Ok(())
}

/// Checks an E.164 number (seed `001`, "PSTN/Phone Number Format"): `+`,
/// then 2 to 15 digits, the first not 0 (ITU-T E.164: at most 15 digits,
/// country codes never start with 0).
pub fn validate_e164(number: &str) -> Result<(), NumberError> {
    let err = || NumberError::NotE164(number.to_owned());
    let digits = number.strip_prefix('+').ok_or_else(err)?;
    if !(2..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(err());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert!(validate_extension("100").is_ok());
        assert!(validate_extension("sales2").is_ok());
        for bad in ["", "1 00", "(100)", "10-0", "100@x", "ü1"] {
            assert!(validate_extension(bad).is_err(), "{bad:?}");
        }
        assert!(validate_extension(&"1".repeat(33)).is_err());
    }

    #[test]
    fn e164() {
        assert!(validate_e164("+16062067563").is_ok());
        assert!(validate_e164("+821021656521").is_ok());
        for bad in [
            "16062067563",
            "+1 606",
            "+(1)606",
            "+0123",
            "+1",
            "+1234567890123456",
            "+",
        ] {
            assert!(validate_e164(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_shape() {
        let v = serde_json::to_value(Address::tel("+15551234567").with_name("Bob")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"tel","target":"+15551234567","name":"Bob"})
        );
    }
}
