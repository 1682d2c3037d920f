//! RFC 4028 session timers, per leg: each leg is its own session with its
//! own interval and refresher. The engine refreshes when it is the
//! refresher (a re-INVITE re-offering the last description) and ends the
//! call when the peer should have refreshed and did not.

use sip::{Header, HeaderName, Refresher, Request, Response, SessionExpires};
use std::time::Duration;

/// RFC 4028 §5: our Min-SE; a smaller Session-Expires gets 422.
pub(crate) const MIN_SE: u32 = 90;

/// The interval we ask for (and grant when the peer asks for none): 30
/// minutes, RFC 4028 §4's recommendation.
pub(crate) const DEFAULT_INTERVAL: u32 = 1800;

/// A negotiated session timer on one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionTimer {
    /// Session interval in seconds.
    pub interval: u32,
    /// Whether Dialtone refreshes (else the peer must).
    pub we_refresh: bool,
}

impl SessionTimer {
    /// RFC 4028 §10: the refresher refreshes at half the interval.
    pub fn refresh_in(&self) -> Duration {
        Duration::from_secs(u64::from(self.interval / 2))
    }

    /// RFC 4028 §10: without a refresh, the session expires at the interval
    /// minus the lesser of 32 s and a third of the interval.
    pub fn expiry_in(&self) -> Duration {
        let i = u64::from(self.interval);
        Duration::from_secs(i - (i / 3).min(32))
    }
}

/// The request's Session-Expires is below our Min-SE: answer 422.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooSmall;

pub(crate) fn supports_timer(headers: &sip::Headers) -> bool {
    let has = |list: Result<Vec<bytes::Bytes>, _>| {
        list.unwrap_or_default()
            .iter()
            .any(|t| t.eq_ignore_ascii_case(b"timer"))
    };
    has(headers.supported()) || has(headers.require())
}

/// RFC 4028 §9: the session timer we grant as the UAS of `req`.
///
/// The peer's interval is accepted if it is at least [`MIN_SE`]. A peer
/// that supports timers refreshes (`refresher=uac`) unless it asked us to;
/// one that does not (a proxy inserted the header) leaves it to us. A peer
/// that supports timers but asked for none gets [`DEFAULT_INTERVAL`], so a
/// vanished phone is noticed.
pub(crate) fn grant(req: &Request) -> Result<Option<SessionTimer>, TooSmall> {
    let supports = supports_timer(&req.headers);
    match req.headers.session_expires().ok().flatten() {
        Some(se) if se.delta < MIN_SE => Err(TooSmall),
        Some(se) => {
            let peer_refreshes = supports && se.refresher != Some(Refresher::Uas);
            Ok(Some(SessionTimer {
                interval: se.delta,
                we_refresh: !peer_refreshes,
            }))
        }
        None if supports => Ok(Some(SessionTimer {
            interval: DEFAULT_INTERVAL,
            we_refresh: false,
        })),
        None => Ok(None),
    }
}

/// Headers of our 2xx that grants `timer` (RFC 4028 §9).
pub(crate) fn grant_headers(timer: SessionTimer, peer_supports: bool) -> Vec<Header> {
    let se = SessionExpires {
        delta: timer.interval,
        refresher: Some(if timer.we_refresh {
            Refresher::Uas
        } else {
            Refresher::Uac
        }),
    };
    let mut h = vec![Header::typed(HeaderName::SessionExpires, &se)];
    if peer_supports {
        h.push(Header::new(HeaderName::Require, "timer"));
    }
    h
}

/// Headers of a request we send on a leg (RFC 4028 §7.1): the leg's
/// current interval, or our default asking the peer to refresh.
pub(crate) fn request_headers(current: Option<SessionTimer>) -> Vec<Header> {
    let (delta, refresher) = match current {
        Some(t) if t.we_refresh => (t.interval, Refresher::Uac),
        Some(t) => (t.interval, Refresher::Uas),
        None => (DEFAULT_INTERVAL, Refresher::Uas),
    };
    let se = SessionExpires {
        delta,
        refresher: Some(refresher),
    };
    vec![
        Header::typed(HeaderName::SessionExpires, &se),
        Header::new(HeaderName::MinSE, MIN_SE.to_string()),
    ]
}

/// RFC 4028 §7.2: the session timer a 2xx to our request sets up; none
/// when the peer does not do session timers.
pub(crate) fn from_response(resp: &Response) -> Option<SessionTimer> {
    let se = resp.headers.session_expires().ok().flatten()?;
    Some(SessionTimer {
        interval: se.delta.max(MIN_SE),
        // A 2xx must name the refresher; if it does not, the UAC (we) refreshes.
        we_refresh: se.refresher != Some(Refresher::Uas),
    })
}

/// RFC 4028 §6: the 422 answer.
pub(crate) fn too_small_headers() -> Vec<Header> {
    vec![Header::new(HeaderName::MinSE, MIN_SE.to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str) -> Request {
        let text = format!(
            "INVITE sip:200@10.0.0.9 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
             From: <sip:100@10.0.0.9>;tag=a\r\nTo: <sip:200@10.0.0.9>\r\nCall-ID: x\r\n\
             CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        sip::parse_message(text.as_bytes())
            .unwrap()
            .into_request()
            .unwrap()
    }

    #[test]
    fn uas_grants() {
        assert_eq!(grant(&invite("")), Ok(None));
        assert_eq!(
            grant(&invite("Supported: timer\r\n")),
            Ok(Some(SessionTimer {
                interval: DEFAULT_INTERVAL,
                we_refresh: false
            }))
        );
        assert_eq!(
            grant(&invite("Supported: timer\r\nSession-Expires: 60\r\n")),
            Err(TooSmall)
        );
        assert_eq!(
            grant(&invite("Supported: timer\r\nSession-Expires: 300\r\n")),
            Ok(Some(SessionTimer {
                interval: 300,
                we_refresh: false
            }))
        );
        assert_eq!(
            grant(&invite(
                "Supported: timer\r\nSession-Expires: 300;refresher=uas\r\n"
            )),
            Ok(Some(SessionTimer {
                interval: 300,
                we_refresh: true
            }))
        );
        assert_eq!(
            grant(&invite("Session-Expires: 300;refresher=uac\r\n")),
            Ok(Some(SessionTimer {
                interval: 300,
                we_refresh: true
            })),
            "a peer without timer support cannot refresh"
        );
    }

    #[test]
    fn deadlines() {
        let t = SessionTimer {
            interval: 90,
            we_refresh: false,
        };
        assert_eq!(t.refresh_in(), Duration::from_secs(45));
        assert_eq!(t.expiry_in(), Duration::from_secs(60));
        let t = SessionTimer {
            interval: 1800,
            we_refresh: false,
        };
        assert_eq!(t.expiry_in(), Duration::from_secs(1768));
    }
}
