//! What the engine is told by its owner: configuration, the wall clock
//! mapping, and the port-allocation capability.

use chrono::{DateTime, Utc};
use sip_core::EndpointConfig;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// How long a callee may ring before the call ends `noanswer` (or `dialout`
/// if it never rang).
pub const DEFAULT_RING_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest answered call before both legs are ended `timeout`: 4 hours,
/// long enough for any conversation, short enough that a call whose two
/// ends vanished without BYE (and without session timers) does not hold a
/// media port forever.
pub const DEFAULT_MAX_CALL_DURATION: Duration = Duration::from_secs(4 * 3600);

/// The engine's configuration.
#[derive(Clone)]
pub struct EngineConfig {
    /// The SIP endpoint (Via, Contact, timers). Its `user_agent` is replaced
    /// by `Dialtone` (no version: nothing that helps an attacker pick an exploit).
    pub sip: EndpointConfig,
    /// The address put in SDP `c=`/`o=` lines: where peers send media.
    pub public_ip: IpAddr,
    /// Digest realm.
    pub realm: String,
    /// Key for the stateless nonces of digest challenges.
    pub auth_secret: [u8; 32],
    /// Digest algorithms challenged for, preferred first (default SHA-256,
    /// MD5; see `sip_core::AuthConfig::algorithms`).
    pub auth_algorithms: Vec<sip::digest::Algorithm>,
    /// Sources that may send INVITEs without digest auth (trunks, PBXs).
    pub trusted_peers: Vec<Cidr>,
    /// See [`DEFAULT_RING_TIMEOUT`].
    pub ring_timeout: Duration,
    /// See [`DEFAULT_MAX_CALL_DURATION`].
    pub max_call_duration: Duration,
    /// Seed for call ids and SDP session ids; the server passes a random
    /// seed, tests a fixed one.
    pub rng_seed: u64,
    /// Codecs the media relay can transcode between. An offer carried to
    /// a callee is widened with those of them it lacks (when it has at
    /// least one), and a callee's answer in a codec the caller did not
    /// offer is restated to the caller in one it did: the relay converts.
    /// Empty: codec lists pass through untouched. Default:
    /// [`default_transcode_codecs`].
    pub transcode: Vec<sdp::codecs::OfferCodec>,
}

/// PCMU, PCMA, G.722 (RFC 3551 static types) and Opus (RFC 7587,
/// `opus/48000/2`, in-band FEC).
pub fn default_transcode_codecs() -> Vec<sdp::codecs::OfferCodec> {
    use sdp::codecs::OfferCodec;
    use sdp::CodecSpec;
    let fixed = |name: &str, pt: u8| OfferCodec {
        spec: CodecSpec::new(name, 8000, 1),
        static_payload_type: Some(pt),
        fmtp: None,
    };
    vec![
        fixed("PCMU", 0),
        fixed("PCMA", 8),
        fixed("G722", 9),
        OfferCodec {
            spec: CodecSpec::new("opus", 48000, 2),
            static_payload_type: None,
            fmtp: Some("useinbandfec=1".into()),
        },
    ]
}

impl EngineConfig {
    /// A configuration with the defaults: realm `dialtone`, no trusted
    /// peers, 60 s ring timeout, 4 h maximum call duration.
    pub fn new(sip: EndpointConfig, public_ip: IpAddr, auth_secret: [u8; 32]) -> EngineConfig {
        let rng_seed = sip.rng_seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        EngineConfig {
            sip,
            public_ip,
            realm: "dialtone".into(),
            auth_secret,
            auth_algorithms: vec![sip::digest::Algorithm::Sha256, sip::digest::Algorithm::Md5],
            trusted_peers: Vec::new(),
            ring_timeout: DEFAULT_RING_TIMEOUT,
            max_call_duration: DEFAULT_MAX_CALL_DURATION,
            rng_seed,
            transcode: default_transcode_codecs(),
        }
    }

    /// Whether `ip` is a trusted peer.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_peers.iter().any(|c| c.contains(ip))
    }
}

impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineConfig")
            .field("sip", &self.sip)
            .field("public_ip", &self.public_ip)
            .field("realm", &self.realm)
            .field("auth_secret", &"<redacted>")
            .field("auth_algorithms", &self.auth_algorithms)
            .field("trusted_peers", &self.trusted_peers)
            .field("ring_timeout", &self.ring_timeout)
            .field("max_call_duration", &self.max_call_duration)
            .field("rng_seed", &self.rng_seed)
            .finish()
    }
}

/// An address or a network in CIDR notation: `192.0.2.7`, `10.0.0.0/8`,
/// `2001:db8::/32`. An IPv4 network also contains the IPv4-mapped IPv6
/// form of its addresses (`::ffff:10.1.2.3`, what a dual-stack socket reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        // Compare the top `prefix` bits: shifting the XOR right by the host
        // bits leaves zero exactly when they agree (a shift by the full
        // width, prefix 0, matches everything).
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let diff = u32::from(net) ^ u32::from(ip);
                diff.checked_shr(32 - u32::from(self.prefix.min(32)))
                    .unwrap_or(0)
                    == 0
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let diff = u128::from(net) ^ u128::from(ip);
                diff.checked_shr(128 - u32::from(self.prefix.min(128)))
                    .unwrap_or(0)
                    == 0
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let bad = || format!("'{s}' is not an IP address or CIDR (10.0.0.0/8)");
        let s = s.trim();
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p.parse().ok().filter(|p| *p <= width).ok_or_else(bad)?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Maps the engine's monotonic [`Instant`]s to UTC for the `tm_*` fields:
/// `utc = origin_utc + (now - origin)`. The server passes a real pair read
/// once at start; tests pass a fixed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    pub origin: Instant,
    pub origin_utc: DateTime<Utc>,
}

impl WallClock {
    pub fn utc(&self, now: Instant) -> DateTime<Utc> {
        let delta = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        if now >= self.origin {
            self.origin_utc + delta(now - self.origin)
        } else {
            self.origin_utc - delta(self.origin - now)
        }
    }
}

/// Port allocation is a capability injected by the I/O layer: it binds the
/// RTP/RTCP socket pair synchronously, so the port can go into the SDP at
/// once. Tests pass a pure-number implementation.
///
/// The engine releases every port it allocated exactly once, when the leg
/// it belongs to ends, whatever the way it ends.
pub trait PortAllocator: Send {
    /// An even RTP port (RTCP is the next one), or `None` when the pool is empty.
    fn allocate(&mut self) -> Option<u16>;
    fn release(&mut self, rtp_port: u16);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(one.prefix, 32);
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        assert!(!all.contains("2001:db8::1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "x", "10.0.0.0/", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(net.to_string(), "10.1.0.0/16");
    }

    #[test]
    fn wall_clock_offsets() {
        let origin = testkit::FakeClock::new().now() + Duration::from_secs(100);
        let w = WallClock {
            origin,
            origin_utc: DateTime::UNIX_EPOCH + chrono::Duration::seconds(1000),
        };
        let at = |s: i64| DateTime::UNIX_EPOCH + chrono::Duration::seconds(s);
        assert_eq!(w.utc(origin + Duration::from_secs(5)), at(1005));
        assert_eq!(w.utc(origin - Duration::from_secs(5)), at(995));
    }
}
