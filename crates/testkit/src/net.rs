//! A seeded virtual datagram network: loss, delay with jitter, reordering
//! and duplication, all decided by one PRNG so a seed replays exactly.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How the network misbehaves. Probabilities are in `0.0..=1.0`.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra uniformly random delay in `0..=jitter` (jitter alone reorders).
    pub jitter: Duration,
    /// Probability that a datagram is held back by `reorder_delay` extra, so later ones overtake it.
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// Probability that a datagram is delivered twice (the copy gets its own delay).
    pub duplicate: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            loss: 0.0,
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(50),
            duplicate: 0.0,
        }
    }
}

impl NetConfig {
    /// A network that only loses packets, with the default delay.
    pub fn lossy(loss: f64) -> NetConfig {
        NetConfig {
            loss,
            ..NetConfig::default()
        }
    }
}

/// One datagram in flight or delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Bytes,
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    /// Sequence number of the send: ties on `at` deliver in send order.
    seq: u64,
    datagram: Datagram,
}

/// The network. Every endpoint address can reach every other one.
#[derive(Debug)]
pub struct VirtualNet {
    config: NetConfig,
    rng: StdRng,
    in_flight: Vec<InFlight>,
    next_seq: u64,
    sent: u64,
    dropped: u64,
    duplicated: u64,
    delivered: u64,
}

impl VirtualNet {
    pub fn new(seed: u64, config: NetConfig) -> VirtualNet {
        VirtualNet {
            config,
            rng: StdRng::seed_from_u64(seed),
            in_flight: Vec::new(),
            next_seq: 0,
            sent: 0,
            dropped: 0,
            duplicated: 0,
            delivered: 0,
        }
    }

    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Changes the behaviour from now on (datagrams in flight keep their fate).
    pub fn set_config(&mut self, config: NetConfig) {
        self.config = config;
    }

    /// Sends a datagram at `now`; it may be lost, delayed, held back or duplicated.
    pub fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: Bytes) {
        self.sent += 1;
        let copies = if self.rng.gen_bool(self.config.duplicate.clamp(0.0, 1.0)) {
            self.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            if self.rng.gen_bool(self.config.loss.clamp(0.0, 1.0)) {
                self.dropped += 1;
                continue;
            }
            let at = now + self.one_way_delay();
            let seq = self.next_seq;
            self.next_seq += 1;
            self.in_flight.push(InFlight {
                at,
                seq,
                datagram: Datagram {
                    from,
                    to,
                    bytes: bytes.clone(),
                },
            });
        }
    }

    fn one_way_delay(&mut self) -> Duration {
        let mut d = self.config.delay;
        if !self.config.jitter.is_zero() {
            let nanos = self.config.jitter.as_nanos() as u64;
            d += Duration::from_nanos(self.rng.gen_range(0..=nanos));
        }
        if self.rng.gen_bool(self.config.reorder.clamp(0.0, 1.0)) {
            d += self.config.reorder_delay;
        }
        d
    }

    /// When the next datagram arrives, if any is in flight.
    pub fn next_delivery_time(&self) -> Option<Instant> {
        self.in_flight.iter().map(|f| f.at).min()
    }

    /// Removes and returns every datagram due at or before `now`, in arrival order.
    pub fn deliver_due(&mut self, now: Instant) -> Vec<Datagram> {
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].at <= now {
                due.push(self.in_flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|f| (f.at, f.seq));
        self.delivered += due.len() as u64;
        due.into_iter().map(|f| f.datagram).collect()
    }

    /// Datagrams still in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Datagrams handed to [`VirtualNet::send`].
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Copies lost to the configured loss.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sends that were duplicated.
    pub fn duplicated(&self) -> u64 {
        self.duplicated
    }

    /// Copies delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "10.0.0.1:5060".parse().unwrap(),
            "10.0.0.2:5060".parse().unwrap(),
        )
    }

    fn run(seed: u64, config: NetConfig) -> (Vec<(Duration, Bytes)>, u64) {
        let t0 = Instant::now();
        let (a, b) = addrs();
        let mut net = VirtualNet::new(seed, config);
        for i in 0..200u32 {
            let at = t0 + Duration::from_millis(u64::from(i));
            net.send(at, a, b, Bytes::from(i.to_string()));
        }
        let mut out = Vec::new();
        while let Some(t) = net.next_delivery_time() {
            for d in net.deliver_due(t) {
                out.push((t - t0, d.bytes));
            }
        }
        (out, net.dropped())
    }

    #[test]
    fn same_seed_same_fate() {
        let cfg = NetConfig {
            loss: 0.3,
            jitter: Duration::from_millis(30),
            reorder: 0.1,
            duplicate: 0.1,
            ..NetConfig::default()
        };
        assert_eq!(run(42, cfg.clone()), run(42, cfg.clone()));
        assert_ne!(run(42, cfg.clone()).0, run(43, cfg).0);
    }

    #[test]
    fn loss_rate_is_roughly_configured() {
        let (out, dropped) = run(1, NetConfig::lossy(0.3));
        assert_eq!(out.len() as u64 + dropped, 200);
        assert!((40..=80).contains(&dropped), "dropped {dropped}");
    }

    #[test]
    fn fixed_delay_keeps_order() {
        let (out, dropped) = run(5, NetConfig::default());
        assert_eq!(dropped, 0);
        assert_eq!(out.len(), 200);
        for (i, (at, bytes)) in out.iter().enumerate() {
            assert_eq!(*at, Duration::from_millis(i as u64 + 10));
            assert_eq!(bytes, &Bytes::from(i.to_string()));
        }
    }

    #[test]
    fn reordering_and_duplication_happen() {
        let cfg = NetConfig {
            reorder: 0.2,
            duplicate: 0.2,
            ..NetConfig::default()
        };
        let (out, _) = run(9, cfg);
        assert!(out.len() > 200, "duplicates delivered");
        let in_order = out
            .windows(2)
            .all(|w| w[0].1.parse_num() <= w[1].1.parse_num());
        assert!(!in_order, "some datagrams overtaken");
    }

    trait ParseNum {
        fn parse_num(&self) -> u32;
    }
    impl ParseNum for Bytes {
        fn parse_num(&self) -> u32 {
            std::str::from_utf8(self).unwrap().parse().unwrap()
        }
    }
}
