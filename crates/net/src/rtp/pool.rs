//! The RTP port pool: RTP/RTCP socket pairs bound at allocation time.
//!
//! RFC 3550 §11: RTP on an even port `p`, RTCP on `p + 1`. A pair is bound
//! when it is allocated, so the port can go into an SDP answer at once and
//! no other program can take it in between; the sockets stay bound until the
//! pair is released (or, once a [`Relay`](super::Relay) leg runs on it, until
//! that leg closes).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Binds RTP/RTCP socket pairs from a port range, synchronously, so the
/// switch can put the port into an SDP answer at once.
///
/// Allocation walks the range round-robin from where the last one stopped,
/// so a port just released is the last to be handed out again: stray
/// packets of the call that ended do not reach (and latch) the next one.
/// Ports that another program holds are skipped. An odd port at the start or
/// an even port at the end of the range has no partner and is not used.
#[derive(Debug)]
pub struct RtpPool {
    bind_ip: IpAddr,
    /// The first and last even (RTP) port of the range.
    first: u16,
    last: u16,
    state: Mutex<PoolState>,
}

#[derive(Debug)]
struct PoolState {
    /// The next RTP port to try.
    cursor: u16,
    /// Every pair that is bound, by RTP port.
    pairs: HashMap<u16, Pair>,
}

#[derive(Debug)]
enum Pair {
    /// Bound and waiting for a leg (or a release).
    Reserved(SocketPair),
    /// The sockets belong to a relay leg; the pair is freed when the leg
    /// closes (whether or not `release` was called meanwhile).
    Opened,
}

/// The two sockets of one pair, blocking, as bound.
#[derive(Debug)]
pub(crate) struct SocketPair {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

impl RtpPool {
    /// A pool of the even/odd pairs in `ports` on `bind_ip`.
    ///
    /// Errors (`InvalidInput`) when the range holds no pair or includes
    /// port 0, and with the OS error when nothing can be bound on `bind_ip`
    /// (an address this host does not have).
    pub fn new(bind_ip: IpAddr, ports: RangeInclusive<u16>) -> io::Result<RtpPool> {
        let (start, end) = (*ports.start(), *ports.end());
        let invalid = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RTP port range {start}-{end} {why}"),
            )
        };
        if start == 0 {
            return Err(invalid("includes port 0"));
        }
        let first = start
            .checked_add(start % 2)
            .ok_or_else(|| invalid("holds no RTP/RTCP pair"))?;
        if first >= end {
            return Err(invalid(
                "holds no RTP/RTCP pair (an even port followed by an odd one)",
            ));
        }
        let last = if end % 2 == 1 { end - 1 } else { end - 2 };
        // Fail now, not at the first call, when the address is not ours.
        UdpSocket::bind(SocketAddr::new(bind_ip, 0))?;
        Ok(RtpPool {
            bind_ip,
            first,
            last,
            state: Mutex::new(PoolState {
                cursor: first,
                pairs: HashMap::new(),
            }),
        })
    }

    /// Next free EVEN port `p` with `p` and `p + 1` both bindable (RTP on
    /// `p`, RTCP on `p + 1`, RFC 3550 §11); skips ports taken by other
    /// programs; `None` when every pair is in use. The sockets stay bound
    /// (reserved) until [`release`](Self::release).
    pub fn allocate(&self) -> Option<u16> {
        let mut state = self.lock();
        for _ in 0..self.capacity() {
            let port = state.cursor;
            state.cursor = if port >= self.last {
                self.first
            } else {
                port + 2
            };
            if state.pairs.contains_key(&port) {
                continue;
            }
            match self.bind_pair(port) {
                Ok(pair) => {
                    state.pairs.insert(port, Pair::Reserved(pair));
                    return Some(port);
                }
                Err(e) => {
                    tracing::debug!(port, error = %e, "RTP port pair not bindable; skipped");
                }
            }
        }
        None
    }

    /// Gives the pair of `rtp_port` back: its sockets close now.
    ///
    /// A pair that a relay leg runs on stays bound until that leg closes
    /// ([`Relay::close_leg`](super::Relay::close_leg) always frees it), so
    /// the sockets are never closed under a running leg and a pair is never
    /// freed twice. Releasing a port that is not allocated does nothing.
    pub fn release(&self, rtp_port: u16) {
        let mut state = self.lock();
        match state.pairs.get_mut(&rtp_port) {
            Some(Pair::Reserved(_)) => {
                state.pairs.remove(&rtp_port);
            }
            Some(Pair::Opened) => tracing::debug!(
                rtp_port,
                "release of a port a leg runs on: freed when the leg closes"
            ),
            None => tracing::debug!(rtp_port, "release of a port that is not allocated"),
        }
    }

    /// How many pairs are bound (reserved or running a leg).
    pub fn in_use(&self) -> usize {
        self.lock().pairs.len()
    }

    /// How many pairs the range holds.
    pub fn capacity(&self) -> usize {
        usize::from((self.last - self.first) / 2) + 1
    }

    /// The address the sockets are bound to.
    pub fn bind_ip(&self) -> IpAddr {
        self.bind_ip
    }

    /// Hands the reserved sockets of `rtp_port` to a relay leg; `None` when
    /// the port is not reserved (never allocated, released, or already
    /// running a leg).
    pub(crate) fn take(&self, rtp_port: u16) -> Option<SocketPair> {
        let mut state = self.lock();
        let pair = state.pairs.get_mut(&rtp_port)?;
        match std::mem::replace(pair, Pair::Opened) {
            Pair::Reserved(sockets) => Some(sockets),
            opened => {
                *pair = opened;
                None
            }
        }
    }

    /// Frees the pair of a leg whose sockets have been closed.
    pub(crate) fn free(&self, rtp_port: u16) {
        self.lock().pairs.remove(&rtp_port);
    }

    fn bind_pair(&self, port: u16) -> io::Result<SocketPair> {
        let rtp = UdpSocket::bind(SocketAddr::new(self.bind_ip, port))?;
        let rtcp = UdpSocket::bind(SocketAddr::new(self.bind_ip, port + 1))?;
        Ok(SocketPair { rtp, rtcp })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // The state stays consistent at every unlock: a panic elsewhere
        // while holding the lock cannot leave it half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn rejects_ranges_without_a_pair() {
        for range in [0..=100, 5000..=5000, 5001..=5001, 5001..=5002] {
            let err = RtpPool::new(LOCALHOST, range.clone()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{range:?}");
        }
        let (hi, lo) = (5000, 4000);
        assert!(RtpPool::new(LOCALHOST, hi..=lo).is_err());
        assert_eq!(RtpPool::new(LOCALHOST, 5001..=5004).unwrap().capacity(), 1);
        assert_eq!(RtpPool::new(LOCALHOST, 5000..=5004).unwrap().capacity(), 2);
        assert_eq!(RtpPool::new(LOCALHOST, 5000..=5003).unwrap().capacity(), 2);
        assert_eq!(
            RtpPool::new(LOCALHOST, 65534..=65535).unwrap().capacity(),
            1
        );
    }
}
