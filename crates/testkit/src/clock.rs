//! A clock that only moves when a test moves it.

use std::time::{Duration, Instant};

/// A fake monotonic clock. It reads the real clock once, for its base, and
/// from then on only [`FakeClock::advance`] and [`FakeClock::set`] move it.
#[derive(Debug, Clone)]
pub struct FakeClock {
    base: Instant,
    now: Instant,
}

impl FakeClock {
    /// A clock whose time starts at an arbitrary base instant.
    pub fn new() -> FakeClock {
        // testkit is not a sans-IO crate: one real reading gives the base.
        FakeClock::starting_at(Instant::now())
    }

    /// A clock starting at `base`.
    pub fn starting_at(base: Instant) -> FakeClock {
        FakeClock { base, now: base }
    }

    /// The current fake time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The instant the clock started at.
    pub fn base(&self) -> Instant {
        self.base
    }

    /// Time elapsed since the base.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Jumps to `to`; a clock never goes backwards, so earlier instants are ignored.
    pub fn set(&mut self, to: Instant) {
        if to > self.now {
            self.now = to;
        }
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_only_when_told() {
        let mut c = FakeClock::new();
        let t0 = c.now();
        c.advance(Duration::from_secs(3));
        assert_eq!(c.elapsed(), Duration::from_secs(3));
        c.set(t0);
        assert_eq!(c.now(), t0 + Duration::from_secs(3), "never goes back");
        c.set(t0 + Duration::from_secs(10));
        assert_eq!(c.elapsed(), Duration::from_secs(10));
    }
}
