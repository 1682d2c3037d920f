//! What the owner tells the engine about routing calls Dialtone places
//! itself: trunks, numbers with flows, and dial requests.

use crate::config::Cidr;
use model::{Address, RingMethod};
use sip::Transport;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use uuid::Uuid;

/// A trunk as the engine uses it: the gateway's resolved address.
#[derive(Debug, Clone, PartialEq)]
pub struct TrunkRoute {
    pub id: Uuid,
    pub name: String,
    pub gateway: SocketAddr,
    pub transport: Transport,
    /// Digest credentials for a gateway that challenges our INVITEs.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Codec names offered on this trunk, preferred first; empty: all.
    pub codecs: Vec<String>,
    /// Lower is tried first.
    pub priority: u32,
    /// Keep a registration at the gateway (needs the credentials).
    pub register: bool,
    /// Sources whose INVITEs are this trunk's inbound calls (the gateway's
    /// own IP is always one).
    pub inbound: Vec<Cidr>,
}

impl TrunkRoute {
    /// Whether an INVITE from `ip` is this trunk's.
    pub fn accepts(&self, ip: IpAddr) -> bool {
        self.gateway.ip() == ip || self.inbound.iter().any(|c| c.contains(ip))
    }
}

/// One destination of a dial.
#[derive(Debug, Clone, PartialEq)]
pub struct DialDestination {
    pub address: Address,
    /// For a `sip` destination whose host is a DNS name: the address the
    /// owner resolved it to (the engine never resolves names).
    pub resolved: Option<SocketAddr>,
}

impl DialDestination {
    pub fn new(address: Address) -> DialDestination {
        DialDestination {
            address,
            resolved: None,
        }
    }
}

/// A request to place calls (`POST /v1/calls`, a flow's `connect`).
#[derive(Debug, Clone)]
pub struct Dial {
    /// The calls' `source` (caller id towards the callee).
    pub source: Address,
    pub destinations: Vec<DialDestination>,
    pub ring_method: RingMethod,
    /// How long each destination may ring (default: the engine's).
    pub ring_timeout: Option<Duration>,
    /// `connect`: bridge the call that answers with this live, answered
    /// call (the new calls are chained to it); the call that answers does
    /// not run a flow of its own.
    pub join: Option<Uuid>,
    /// Whether a `tel` destination may fail over to the next trunk
    /// (false when the flow starts before the answer: `early_execution`).
    pub failover: bool,
    /// Recorded on the calls (`flow_id`).
    pub flow_id: Option<Uuid>,
}
