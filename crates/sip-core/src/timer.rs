//! The timer table: every RFC 3261 §17 / RFC 6026 timer, indexed by name.
//!
//! Each transaction owns one [`TimerTable`]; the endpoint's next wake-up is
//! the minimum over all tables (quinn's `TimerTable` pattern).

use std::time::{Duration, Instant};

/// Transaction timers by their RFC names (RFC 3261 §17 Table 4, RFC 6026 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE client: request retransmission (§17.1.1.2), T1 doubling.
    A,
    /// INVITE client: transaction timeout, 64*T1 (§17.1.1.2).
    B,
    /// INVITE client: wait for response retransmissions in Completed (§17.1.1.2).
    D,
    /// Non-INVITE client: request retransmission, T1 doubling to T2 (§17.1.2.2).
    E,
    /// Non-INVITE client: transaction timeout, 64*T1 (§17.1.2.2).
    F,
    /// INVITE server: final response retransmission, T1 doubling to T2 (§17.2.1).
    G,
    /// INVITE server: wait for ACK, 64*T1 (§17.2.1).
    H,
    /// INVITE server: absorb ACK retransmissions in Confirmed, T4 (§17.2.1).
    I,
    /// Non-INVITE server: absorb request retransmissions, 64*T1 (§17.2.2).
    J,
    /// Non-INVITE client: absorb response retransmissions, T4 (§17.1.2.2).
    K,
    /// INVITE server: stay in Accepted for 64*T1 (RFC 6026 §8.7).
    L,
    /// INVITE client: stay in Accepted for 64*T1 (RFC 6026 §8.4).
    M,
    /// UAS core: 2xx retransmission until the ACK arrives, T1 doubling to T2 (RFC 3261 §13.3.1.4).
    Retransmit2xx,
}

impl Timer {
    const ALL: [Timer; 13] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
        Timer::Retransmit2xx,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The base timer values (RFC 3261 §17.1.1.1 Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, J (unreliable), L, M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: at least 32 s on unreliable transports, zero on reliable ones (§17.1.1.2).
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64().max(Duration::from_secs(32))
        }
    }

    /// Timers I and K: T4 on unreliable transports, zero on reliable ones.
    pub fn t4_or_zero(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J: 64*T1 on unreliable transports, zero on reliable ones (§17.2.2).
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64()
        }
    }
}

/// One deadline per [`Timer`]; unset timers are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerTable {
    deadlines: [Option<Instant>; 13],
}

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub fn stop_all(&mut self) {
        self.deadlines = [None; 13];
    }

    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    pub fn is_set(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Unsets and returns the earliest timer due at `now`, if any.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let (timer, _) = Timer::ALL
            .iter()
            .filter_map(|&t| self.get(t).filter(|&at| at <= now).map(|at| (t, at)))
            .min_by_key(|&(_, at)| at)?;
        self.stop(timer);
        Some(timer)
    }
}
