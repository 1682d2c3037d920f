//! Extensions: the accounts phones register as.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An extension as `/v1/extensions` shows it. The password is write-only:
/// it is never serialized into API responses (see [`ExtensionSecret`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Extension {
    pub id: Uuid,
    /// The number phones register as and dial (`100`); unique.
    pub extension: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// For devices and PBXs that never register: where calls to this
    /// extension go (`sip:host:port`).
    #[serde(default)]
    pub static_contact: Option<String>,
    /// `api` or `config` (extensions from the config file are read-only over the API).
    pub origin: Origin,
    pub tm_create: DateTime<Utc>,
    pub tm_update: DateTime<Utc>,
}

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Api,
    Config,
}

/// An extension with its digest password: what the store keeps and the
/// registrar checks against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionSecret {
    pub extension: Extension,
    pub password: String,
}
