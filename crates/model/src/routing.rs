//! Numbers (what runs when a number is called) and trunks (how calls leave
//! for the PSTN), as `/v1/numbers` and `/v1/trunks` show them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A number Dialtone answers: an E.164 number (a DID reached through a
/// trunk) or an extension-style number, and the flow its calls run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Number {
    pub id: Uuid,
    /// `+15550100` or `400`: what the INVITE's Request-URI user part says.
    pub number: String,
    #[serde(default)]
    pub name: String,
    /// The flow an inbound call to this number runs (`null`: the number is
    /// reserved but calls to it get 404, unless an extension has it).
    pub flow_id: Option<Uuid>,
    pub tm_create: DateTime<Utc>,
    pub tm_update: DateTime<Utc>,
}

/// How a trunk's gateway is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum TrunkTransport {
    #[default]
    Udp,
    Tcp,
}

impl TrunkTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            TrunkTransport::Udp => "udp",
            TrunkTransport::Tcp => "tcp",
        }
    }
}

/// A SIP trunk: a gateway that carries `tel` calls to the PSTN and may
/// send inbound calls from its addresses.
///
/// Outbound `tel` calls try the enabled trunks in ascending `priority`
/// (ties in name order), failing over to the next only when an attempt
/// ends `failed` (seed `001`, "Failover Rules").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Trunk {
    pub id: Uuid,
    pub name: String,
    /// Gateway host: an IP address or a DNS name (resolved when the trunk
    /// is saved and at start).
    pub host: String,
    pub port: u16,
    pub transport: TrunkTransport,
    /// Digest credentials the gateway may challenge for (the password is
    /// never returned by the API).
    pub username: Option<String>,
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub password: Option<String>,
    /// Register to the gateway with the credentials (outbound registration).
    #[serde(default)]
    pub register: bool,
    /// Source addresses (IP or CIDR) whose INVITEs are accepted as this
    /// trunk's inbound calls without authentication. The gateway's own
    /// address is always included.
    #[serde(default)]
    pub inbound_addresses: Vec<String>,
    /// Codecs offered on this trunk, in preference order (`PCMU`, `PCMA`,
    /// `G722`, `opus`); empty: all Dialtone supports.
    #[serde(default)]
    pub codecs: Vec<String>,
    /// Lower goes first.
    pub priority: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub tm_create: DateTime<Utc>,
    pub tm_update: DateTime<Utc>,
    /// The outbound registration's state (`register: true`; `null` until
    /// the gateway first answered, and for trunks that do not register).
    #[serde(default)]
    pub registration: Option<TrunkRegistrationState>,
}

/// How a trunk's registration at its gateway stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrunkRegistrationState {
    /// `registered`, or `failed` (retried every 30 s).
    pub status: String,
    /// The gateway's last final answer to a REGISTER (`null`: none came).
    pub sip_code: Option<u16>,
    /// Seconds the gateway granted (refreshed at half of it).
    pub expires: Option<u32>,
    pub tm_update: DateTime<Utc>,
}

fn yes() -> bool {
    true
}

/// How several destinations of one dial are rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum RingMethod {
    /// All at once; the first to answer wins, the others are cancelled.
    #[default]
    RingAll,
    /// One after another, each for the ring timeout, until one answers.
    Linear,
}
