//! Registrar bindings as `/v1/registrations` shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One contact bound to an extension by REGISTER (RFC 3261 §10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Registration {
    pub extension: String,
    /// The Contact URI the phone registered.
    pub contact: String,
    /// Where the REGISTER came from (`ip:port`): calls go here (the phone
    /// may sit behind NAT; RFC 3581, RFC 5626 flow).
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: String,
    pub user_agent: String,
    pub expires: DateTime<Utc>,
    pub tm_update: DateTime<Utc>,
}
