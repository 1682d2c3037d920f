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

const CALLS: &str = "c1";
const EXTENSIONS: &str = "e1";

/// Position in the call listing: `(tm_create, id)` of the last call shown,
/// `tm_create` as stored in the index column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallCursor {
    pub tm_create: String,
    pub id: String,
}

impl CallCursor {
    pub fn encode(&self) -> String {
        hex::encode(format!("{CALLS}|{}|{}", self.tm_create, self.id))
    }

    pub fn decode(token: &str) -> Result<CallCursor, StoreError> {
        let text = unhex(token)?;
        let mut parts = text.splitn(3, '|');
        let (Some(CALLS), Some(tm_create), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(StoreError::InvalidPageToken);
        };
        DateTime::parse_from_rfc3339(tm_create).map_err(|_| StoreError::InvalidPageToken)?;
        Uuid::parse_str(id).map_err(|_| StoreError::InvalidPageToken)?;
        Ok(CallCursor {
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
        let c = CallCursor {
            tm_create: "2027-01-15T08:00:00.000000Z".into(),
            id: Uuid::nil().to_string(),
        };
        assert_eq!(CallCursor::decode(&c.encode()), Ok(c.clone()));
        assert_eq!(decode_extension(&encode_extension("100")).unwrap(), "100");
        assert_eq!(
            decode_extension(&c.encode()),
            Err(StoreError::InvalidPageToken)
        );
        assert_eq!(
            CallCursor::decode(&encode_extension("100")),
            Err(StoreError::InvalidPageToken)
        );
        for bad in ["", "zz", "00", &hex::encode("c1|yesterday|x")] {
            assert_eq!(CallCursor::decode(bad), Err(StoreError::InvalidPageToken));
        }
    }
}
