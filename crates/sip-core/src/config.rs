//! Endpoint configuration.

use crate::timer::TimerConfig;
use bytes::Bytes;
use sip::{Host, Uri};
use std::net::SocketAddr;

/// How an [`crate::Endpoint`] identifies itself and times its transactions.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// `sent-by` host of the Via we insert (RFC 3261 §18.1.1); responses
    /// whose top Via names another host are dropped (§18.1.2).
    pub via_host: Host,
    /// `sent-by` port; `None` leaves it out (5060 implied).
    pub via_port: Option<u16>,
    /// Contact URI for dialog-creating requests and responses (§8.1.1.8, §12.1.1).
    pub contact: Uri,
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// Seed of the generator for branches, tags and Call-IDs. The I/O driver
    /// passes a random seed; tests pass a fixed one.
    pub rng_seed: u64,
    /// `User-Agent` / `Server` header value, if any.
    pub user_agent: Option<String>,
}

impl EndpointConfig {
    /// A configuration for an endpoint reachable at `addr`: Via sent-by and
    /// Contact name that address, default timers.
    pub fn new(addr: SocketAddr, rng_seed: u64) -> EndpointConfig {
        let host_text = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let owner = Bytes::from(host_text.clone());
        let via_host = Host::parse(&owner, &owner).expect("an IP literal is a valid host");
        let contact = Uri::from_text(&format!("sip:{host_text}:{}", addr.port()))
            .expect("sip:IP:port is a valid URI");
        EndpointConfig {
            via_host,
            via_port: Some(addr.port()),
            contact,
            timers: TimerConfig::default(),
            rng_seed,
            user_agent: None,
        }
    }
}
