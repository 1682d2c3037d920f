//! # `testkit`: deterministic test helpers for Dialtone
//!
//! Sans-IO cores are tested the way str0m and quinn test theirs: two peers
//! on a [`FakeClock`], exchanging datagrams through a seeded [`VirtualNet`]
//! that loses, delays, reorders and duplicates packets, with time jumping to
//! the next deadline. A 32-second SIP timeout runs in microseconds and every
//! run with the same seed is identical.
//!
//! ```
//! use std::time::Duration;
//! use testkit::{FakeClock, NetConfig, VirtualNet};
//!
//! let mut clock = FakeClock::new();
//! let mut net = VirtualNet::new(7, NetConfig { delay: Duration::from_millis(20), ..NetConfig::default() });
//! let (a, b) = ("10.0.0.1:5060".parse().unwrap(), "10.0.0.2:5060".parse().unwrap());
//! net.send(clock.now(), a, b, bytes::Bytes::from_static(b"hello"));
//! let when = net.next_delivery_time().unwrap();
//! clock.set(when);
//! let got = net.deliver_due(clock.now());
//! assert_eq!(got.len(), 1);
//! assert_eq!(when - clock.base(), Duration::from_millis(20));
//! ```

mod clock;
mod ladder;
mod net;

pub use clock::FakeClock;
pub use ladder::Ladder;
pub use net::{Datagram, NetConfig, VirtualNet};
