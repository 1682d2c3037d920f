//! Page tokens: the position after the last item of a page, opaque to
//! clients. Keyset pagination: the next query asks for rows strictly after
//! this position in the listing's order, so rows inserted meanwhile never
//! shift a page (no `OFFSET`).
//!
//! A token is the hex of `<kind>|<key>...`; the kind keeps a token of one
//! listing from being accepted by another.

use crate::StoreError;
use chrono::DateTime;
use uuid::Uuid;

pub(crate) const CALLS: &str = "c1";
pub(crate) const RECORDINGS: &str = "r1";
pub(crate) const DELIVERIES: &str = "w1";
const EXTENSIONS: &str = "e1";

/// Position in a listing newest first (calls: [`CALLS`], recordings:
/// [`RECORDINGS`], webhook deliveries: [`DELIVERIES`]): `(tm_create, id)` of the last item shown, `tm_create`
/// as stored in the index column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeCursor {
    pub tm_create: String,
    pub id: String,
}

impl TimeCursor {
    pub fn encode(&self, kind: &str) -> String {
        hex::encode(format!("{kind}|{}|{}", self.tm_create, self.id))
    }

    pub fn decode(kind: &str, token: &str) -> Result<TimeCursor, StoreError> {
        let text = unhex(token)?;
        let mut parts = text.splitn(3, '|');
        let (Some(k), Some(tm_create), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(StoreError::InvalidPageToken);
        };
        if k != kind {
            return Err(StoreError::InvalidPageToken);
        }
        DateTime::parse_from_rfc3339(tm_create).map_err(|_| StoreError::InvalidPageToken)?;
        Uuid::parse_str(id).map_err(|_| StoreError::InvalidPageToken)?;
        Ok(TimeCursor {
            tm_create: tm_create.to_owned(),
            id: id.to_owned(),
        })
    }
}

/// Position in the extension listing: the last number shown.
pub(crate) fn encode_extension(number: &str) -> String {
    hex::encode(format!("{EXTENSIONS}|{number}"))
}

pub(crate) fn decode_extension(token: &str) -> Result<String, StoreError> {
    match unhex(token)?.split_once('|') {
        Some((EXTENSIONS, number)) if !number.is_empty() => Ok(number.to_owned()),
        _ => Err(StoreError::InvalidPageToken),
    }
}

fn unhex(token: &str) -> Result<String, StoreError> {
    let bytes = hex::decode(token).map_err(|_| StoreError::InvalidPageToken)?;
    String::from_utf8(bytes).map_err(|_| StoreError::InvalidPageToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_stay_in_their_listing() {
        let c = TimeCursor {
            tm_create: "2027-01-15T08:00:00.000000Z".into(),
            id: Uuid::nil().to_string(),
        };
        assert_eq!(TimeCursor::decode(CALLS, &c.encode(CALLS)), Ok(c.clone()));
        assert_eq!(decode_extension(&encode_extension("100")).unwrap(), "100");
        assert_eq!(
            decode_extension(&c.encode(CALLS)),
            Err(StoreError::InvalidPageToken)
        );
        assert_eq!(
            TimeCursor::decode(CALLS, &encode_extension("100")),
            Err(StoreError::InvalidPageToken)
        );
        assert_eq!(
            TimeCursor::decode(RECORDINGS, &c.encode(CALLS)),
            Err(StoreError::InvalidPageToken),
            "a call token does not page recordings"
        );
        for bad in ["", "zz", "00", &hex::encode("c1|yesterday|x")] {
            assert_eq!(
                TimeCursor::decode(CALLS, bad),
                Err(StoreError::InvalidPageToken)
            );
        }
    }
}
