//! Transport settings.

use std::net::SocketAddr;
use std::time::Duration;

/// Where to listen and how long to wait for peers.
///
/// `#[non_exhaustive]`: start from [`Config::default`] or [`Config::listen`]
/// and set fields.
///
/// ```
/// let mut config = net::Config::listen("127.0.0.1:0".parse().unwrap());
/// config.read_deadline = std::time::Duration::from_secs(2);
/// assert_eq!(config.udp.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// One UDP socket per address.
    pub udp: Vec<SocketAddr>,
    /// One TCP listener per address.
    pub tcp: Vec<SocketAddr>,
    /// Size limits of one message on a stream (header section, body).
    pub limits: sip::Limits,
    /// A TCP connection over which no complete message (or keep-alive) was
    /// received and none was sent for this long is closed.
    ///
    /// Default 180 s: longer than the 120 s upper bound of the keep-alive
    /// interval RFC 5626 §4.4.1 recommends for connection-oriented flows, so a
    /// registered phone that pings keeps its flow; and far longer than a
    /// transaction (64·T1 = 32 s, RFC 3261 §17.1.1.2), so no transaction sees
    /// its connection closed under it.
    pub idle_timeout: Duration,
    /// Once the first byte of a TCP message is buffered, the whole message
    /// must arrive within this time or the connection is closed, so a slow
    /// sender cannot pin a connection. Default 5 s.
    pub read_deadline: Duration,
    /// A write to a TCP peer that does not complete within this time closes
    /// the connection (the peer stopped reading). Default 5 s.
    pub write_timeout: Duration,
    /// Outbound TCP connect timeout. Default 5 s.
    pub connect_timeout: Duration,
    /// TCP connections open at once, inbound and outbound together; an
    /// inbound connection over the limit is accepted and closed at once, an
    /// outbound one is not attempted (its message is dropped). Default 1024.
    pub max_connections: usize,
    /// Messages queued for one TCP connection before further ones are dropped
    /// (the peer is not reading). Default 256.
    pub write_queue: usize,
}

impl Default for Config {
    /// Listens nowhere; add addresses to `udp` and `tcp`.
    fn default() -> Self {
        Config {
            udp: Vec::new(),
            tcp: Vec::new(),
            limits: sip::Limits::default(),
            idle_timeout: Duration::from_secs(180),
            read_deadline: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            max_connections: 1024,
            write_queue: 256,
        }
    }
}

impl Config {
    /// UDP and TCP on `addr` (with port 0 the two get different ports; read
    /// them from [`crate::Handle::local_addrs`]).
    pub fn listen(addr: SocketAddr) -> Self {
        Config {
            udp: vec![addr],
            tcp: vec![addr],
            ..Config::default()
        }
    }
}
