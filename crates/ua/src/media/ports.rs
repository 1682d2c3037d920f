//! RFC 3550 §11: RTP on an even port `p`, RTCP on `p + 1`; binding such a
//! pair within a range, or any free one.

use super::MediaError;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdSocket};
use tokio::net::UdpSocket;

/// Tries at an OS-chosen pair before giving up (half the ephemeral ports
/// are odd, and the next port may be taken).
const ANY_PAIR_TRIES: usize = 64;

/// A bound RTP/RTCP pair.
#[derive(Debug)]
pub(super) struct SocketPair {
    pub(super) rtp: UdpSocket,
    pub(super) rtcp: UdpSocket,
    /// The RTP socket's address.
    pub(super) local: SocketAddr,
}

/// Binds RTP on an even port and RTCP on the next, on `ip`: within
/// `ports` (inclusive, starting at a random pair so sessions opened
/// together do not race for the same one), or anywhere.
pub(super) fn bind_pair(ip: IpAddr, ports: Option<(u16, u16)>) -> Result<SocketPair, MediaError> {
    let (rtp, rtcp) = match ports {
        Some((low, high)) => bind_in_range(ip, low, high)?,
        None => bind_any(ip)?,
    };
    let local = rtp.local_addr()?;
    Ok(SocketPair {
        rtp: tokio_socket(rtp)?,
        rtcp: tokio_socket(rtcp)?,
        local,
    })
}

fn bind_in_range(ip: IpAddr, low: u16, high: u16) -> Result<(StdSocket, StdSocket), MediaError> {
    // The lowest even port of the range (never 0), and how many even ports
    // `first, first + 2, ...` have their next port within it.
    let first = (u32::from(low.max(2)) + 1) & !1;
    if low > high || first + 1 > u32::from(high) {
        return Err(MediaError::Invalid(format!(
            "the port range {low}..={high} holds no RTP/RTCP pair (an even port and the next one)"
        )));
    }
    let pairs = (u32::from(high) - 1 - first) / 2 + 1;
    let start = rand::random::<u32>() % pairs;
    let mut last_error = None;
    for k in 0..pairs {
        // At most `high - 1`: fits.
        let port = (first + 2 * ((start + k) % pairs)) as u16;
        match bind_two(ip, port) {
            Ok(pair) => return Ok(pair),
            Err(e) => last_error = Some(e),
        }
    }
    let why = last_error.map_or_else(String::new, |e| format!(" (last: {e})"));
    Err(MediaError::Invalid(format!(
        "no free RTP/RTCP port pair in {low}..={high} on {ip}{why}"
    )))
}

fn bind_any(ip: IpAddr) -> Result<(StdSocket, StdSocket), MediaError> {
    let mut last_error = None;
    for _ in 0..ANY_PAIR_TRIES {
        let rtp = StdSocket::bind(SocketAddr::new(ip, 0))?;
        let port = rtp.local_addr()?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        match StdSocket::bind(SocketAddr::new(ip, port + 1)) {
            Ok(rtcp) => return Ok((rtp, rtcp)),
            Err(e) => last_error = Some(e),
        }
    }
    let why = last_error.map_or_else(String::new, |e| format!(" (last: {e})"));
    Err(MediaError::Invalid(format!(
        "no free RTP/RTCP port pair on {ip} after {ANY_PAIR_TRIES} tries{why}"
    )))
}

fn bind_two(ip: IpAddr, port: u16) -> std::io::Result<(StdSocket, StdSocket)> {
    let rtp = StdSocket::bind(SocketAddr::new(ip, port))?;
    let rtcp = StdSocket::bind(SocketAddr::new(ip, port + 1))?;
    Ok((rtp, rtcp))
}

fn tokio_socket(socket: StdSocket) -> std::io::Result<UdpSocket> {
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pairs_are_even_and_odd_within_the_range() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let any = bind_pair(ip, None).unwrap();
        assert_eq!(any.local.port() % 2, 0);
        assert_eq!(any.rtcp.local_addr().unwrap().port(), any.local.port() + 1);

        let base = any.local.port();
        drop(any);
        // A one-pair range, given with an odd start: the pair above it.
        let one = bind_pair(ip, Some((base - 1, base + 1))).unwrap();
        assert_eq!(one.local.port(), base);
        let err = bind_pair(ip, Some((base - 1, base + 1))).unwrap_err();
        assert!(
            err.to_string().contains("no free RTP/RTCP port pair"),
            "{err}"
        );
        let err = bind_pair(ip, Some((base + 1, base + 1))).unwrap_err();
        assert!(err.to_string().contains("holds no RTP/RTCP pair"), "{err}");
    }
}
