//! The engine's own timers, one enum-indexed table per call leg (the
//! quinn `TimerTable` pattern, as in `sip_core`).

use std::time::Instant;

/// A leg's timers, named for what they end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LegTimer {
    /// Master: the callee has rung (or not) for `ring_timeout`.
    Ring,
    /// Master: answered for `max_call_duration`.
    MaxDuration,
    /// Fork: RFC 3261 §9.1, our CANCEL got no final response for the
    /// INVITE within 64*T1; the leg is given up.
    CancelGuard,
    /// RFC 4028 §10: the peer should have refreshed the session by now.
    SessionExpiry,
    /// RFC 4028 §10: we are the refresher; refresh at half the interval.
    SessionRefresh,
    /// An ended call is forgotten (its record stays readable until then).
    Linger,
}

impl LegTimer {
    const ALL: [LegTimer; 6] = [
        LegTimer::Ring,
        LegTimer::MaxDuration,
        LegTimer::CancelGuard,
        LegTimer::SessionExpiry,
        LegTimer::SessionRefresh,
        LegTimer::Linger,
    ];
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LegTimers {
    deadlines: [Option<Instant>; 6],
}

impl LegTimers {
    pub fn set(&mut self, timer: LegTimer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub fn stop(&mut self, timer: LegTimer) {
        self.deadlines[timer as usize] = None;
    }

    pub fn stop_all(&mut self) {
        self.deadlines = [None; 6];
    }

    /// Unsets and returns the earliest timer due at `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<LegTimer> {
        let (timer, _) = LegTimer::ALL
            .iter()
            .filter_map(|&t| {
                self.deadlines[t as usize]
                    .filter(|&at| at <= now)
                    .map(|at| (t, at))
            })
            .min_by_key(|&(_, at)| at)?;
        self.stop(timer);
        Some(timer)
    }
}
