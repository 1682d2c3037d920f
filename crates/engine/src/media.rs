//! Media anchoring: every SDP the engine relays is rewritten so the peer
//! sends its media to Dialtone, on the port of its own leg.
//!
//! A leg's port is the one its peer talks to: the SDP sent to the caller
//! names the master leg's port, the SDP sent to a callee names that fork's
//! port. Codec lists pass through unchanged, except where the engine
//! widens an offer or restates an answer so the relay can transcode (see
//! `engine/codecs.rs`).

use sdp::SessionDescription;
use std::net::{IpAddr, SocketAddr};

/// One leg's media state.
#[derive(Debug, Clone)]
pub(crate) struct LegMedia {
    /// RTP port from the allocator (RTCP is +1); `None` once released.
    pub port: Option<u16>,
    /// Where the peer said it receives media (its SDP `c=`/`m=`).
    pub remote: Option<SocketAddr>,
    /// Whether `OpenLeg` was emitted (and `CloseLeg` is owed).
    pub opened: bool,
    /// `o=` session id and version of the descriptions we send on this leg.
    session_id: u64,
    version: u64,
    /// The last description sent on this leg (a session refresh re-offers it).
    last_sent: Option<String>,
    /// The codec settled on this leg, as last told to the relay.
    pub codec: Option<crate::LegCodec>,
    /// Put on hold through the API: every description sent on this leg
    /// says `sendonly` (or `inactive` where the peer does not send).
    pub held: bool,
}

impl LegMedia {
    pub fn new(port: Option<u16>, session_id: u64) -> LegMedia {
        LegMedia {
            port,
            remote: None,
            opened: false,
            session_id,
            version: 1,
            last_sent: None,
            codec: None,
            held: false,
        }
    }

    /// `peer` (the other leg's description) rewritten for this leg: `c=` and
    /// `o=` carry `public_ip`, the first audio line carries this leg's port,
    /// every other media line is disabled (port 0: only one stream is
    /// anchored). The `o=` line is ours for the whole leg; its version goes
    /// up only when the description changes (RFC 3264 §8).
    pub fn anchor(&mut self, peer: &SessionDescription, public_ip: IpAddr) -> String {
        let mut sdp = peer.clone();
        let audio = first_audio(&sdp);
        let port = self.port.unwrap_or(0);
        let ports: Vec<u16> = (0..sdp.media.len())
            .map(|i| if Some(i) == audio { port } else { 0 })
            .collect();
        sdp.rewrite_addresses(&public_ip.to_string(), &ports);
        if let (true, Some(i)) = (self.held, audio) {
            // RFC 3264 §8.4: hold is `sendonly` (we still send: music or
            // silence), `inactive` when the peer itself does not send.
            let session = sdp.direction();
            let m = &mut sdp.media[i];
            let held = match m.direction_or(session) {
                sdp::Direction::SendRecv | sdp::Direction::SendOnly => sdp::Direction::SendOnly,
                sdp::Direction::RecvOnly | sdp::Direction::Inactive => sdp::Direction::Inactive,
            };
            m.set_direction(held);
        }
        sdp.origin.username = "dialtone".into();
        sdp.origin.session_id = self.session_id.to_string();
        sdp.origin.session_version = self.version;
        let mut text = sdp.to_text();
        if self.last_sent.as_ref().is_some_and(|last| *last != text) {
            self.version += 1;
            sdp.origin.session_version = self.version;
            text = sdp.to_text();
        }
        self.last_sent = Some(text.clone());
        text
    }

    /// The description last sent on this leg.
    pub fn last_sent(&self) -> Option<&str> {
        self.last_sent.as_deref()
    }

    /// Records the peer's media address from its description; returns
    /// whether it changed (and was known before).
    pub fn learn_remote(&mut self, sdp: &SessionDescription) -> bool {
        let hint = remote_hint(sdp);
        if hint.is_none() || hint == self.remote {
            return false;
        }
        let had = self.remote.is_some();
        self.remote = hint;
        had
    }
}

/// Parses an SDP body; `None` for an empty or malformed one.
pub(crate) fn parse_body(body: &[u8]) -> Option<SessionDescription> {
    if body.is_empty() {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    SessionDescription::parse(text).ok()
}

/// Where the peer receives audio: the first accepted audio line's address
/// and port. `None` for an unspecified address (RFC 2543 hold, `0.0.0.0`).
pub(crate) fn remote_hint(sdp: &SessionDescription) -> Option<SocketAddr> {
    let i = first_audio(sdp)?;
    let ip: IpAddr = sdp.media_address(i)?.parse().ok()?;
    if ip.is_unspecified() {
        return None;
    }
    Some(SocketAddr::new(ip, sdp.media[i].port))
}

fn first_audio(sdp: &SessionDescription) -> Option<usize> {
    sdp.media
        .iter()
        .position(|m| m.media == "audio" && !m.is_rejected())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str =
        "v=0\r\no=alice 7 7 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0 8\r\na=rtcp:4001\r\na=sendonly\r\nm=video 4002 RTP/AVP 96\r\n";

    #[test]
    fn anchors_on_our_address_and_port() {
        let offer = SessionDescription::parse(OFFER).unwrap();
        assert_eq!(remote_hint(&offer), Some("10.0.0.1:4000".parse().unwrap()));
        let mut leg = LegMedia::new(Some(30000), 42);
        let text = leg.anchor(&offer, "203.0.113.5".parse().unwrap());
        let out = SessionDescription::parse(&text).unwrap();
        assert_eq!(out.origin.address, "203.0.113.5");
        assert_eq!(out.origin.session_id, "42");
        assert_eq!(out.media[0].port, 30000);
        assert_eq!(out.media[0].formats, ["0", "8"], "codecs pass through");
        assert_eq!(
            out.media[0].direction(),
            sdp::Direction::SendOnly,
            "hold passes through"
        );
        assert!(out.media[0].attribute("rtcp").is_none());
        assert_eq!(out.media[1].port, 0, "only audio is anchored");
        assert_eq!(
            remote_hint(&out),
            Some("203.0.113.5:30000".parse().unwrap())
        );

        // Same description again: same version; a changed one: version + 1.
        let again = leg.anchor(&offer, "203.0.113.5".parse().unwrap());
        assert_eq!(again, text);
        let mut changed = offer.clone();
        changed.media[0].set_direction(sdp::Direction::SendRecv);
        let v2 = SessionDescription::parse(&leg.anchor(&changed, "203.0.113.5".parse().unwrap()))
            .unwrap();
        assert_eq!(v2.origin.session_version, out.origin.session_version + 1);
    }

    #[test]
    fn learns_remote_changes() {
        let offer = SessionDescription::parse(OFFER).unwrap();
        let mut leg = LegMedia::new(Some(30000), 1);
        assert!(!leg.learn_remote(&offer), "first address is not a change");
        assert_eq!(leg.remote, Some("10.0.0.1:4000".parse().unwrap()));
        assert!(!leg.learn_remote(&offer));
        let moved = SessionDescription::parse(&OFFER.replace("10.0.0.1", "10.0.0.9")).unwrap();
        assert!(leg.learn_remote(&moved));
        let held =
            SessionDescription::parse(&OFFER.replace("c=IN IP4 10.0.0.1", "c=IN IP4 0.0.0.0"))
                .unwrap();
        assert!(!leg.learn_remote(&held), "0.0.0.0 keeps the last address");
        assert_eq!(leg.remote, Some("10.0.0.9:4000".parse().unwrap()));
    }
}
