//! The phone's offers and answers (RFC 3264): which codecs it offers, how it
//! answers an offer, what the negotiated streams are, and hold by direction.

use crate::media::{CodecKind, MediaParams, VideoParams};
use sdp::{Direction, MediaDescription, SessionDescription};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// The phone's media sockets, as its SDP announces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMedia {
    pub audio: SocketAddr,
    /// The video pass-through socket, when the call has (or may get) video.
    pub video: Option<SocketAddr>,
}

/// Voice codecs in our preference: (payload type, name, clock, channels).
const VOICE: [(u8, &str, u32, u8); 4] = [
    (0, "PCMU", 8000, 1),
    (8, "PCMA", 8000, 1),
    (9, "G722", 8000, 1),
    (96, "opus", 48000, 2),
];
/// telephone-event at 8 kHz (G.711, G.722) and 48 kHz (Opus).
const EVENTS: [(u8, u32); 2] = [(101, 8000), (102, 48000)];
/// Video payload types offered for pass-through (the application's encoder decides).
const VIDEO: [(u8, &str); 2] = [(97, "VP8"), (98, "H264")];

/// What our SDP says about one side's wishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wish {
    /// We hold: we offer `sendonly` (or answer `sendonly`/`inactive`).
    pub hold: bool,
    /// The video m-line sends (false: `recvonly`/`inactive` for a stopped video).
    pub video_send: bool,
}

fn ip_text(ip: IpAddr) -> (String, &'static str) {
    match ip {
        IpAddr::V4(a) => (a.to_string(), "IP4"),
        IpAddr::V6(a) => (a.to_string(), "IP6"),
    }
}

fn header(out: &mut String, local: SocketAddr, version: u64) {
    let (ip, fam) = ip_text(local.ip());
    let _ = write!(
        out,
        "v=0\r\no=dialtone-phone {version} {version} IN {fam} {ip}\r\ns=-\r\nc=IN {fam} {ip}\r\nt=0 0\r\n"
    );
}

/// `a=rtpmap:` (the channel count only when more than one, RFC 8866 §6.6).
fn rtpmap(s: &mut String, pt: u8, name: &str, clock: u32, channels: u8) {
    let _ = if channels > 1 {
        write!(s, "a=rtpmap:{pt} {name}/{clock}/{channels}\r\n")
    } else {
        write!(s, "a=rtpmap:{pt} {name}/{clock}\r\n")
    };
}

/// RFC 4733 `telephone-event` with the 16 DTMF events.
fn telephone_event(s: &mut String, pt: u8, clock: u32) {
    let _ = write!(
        s,
        "a=rtpmap:{pt} telephone-event/{clock}\r\na=fmtp:{pt} 0-16\r\n"
    );
}

fn direction(send: bool, recv: bool) -> Direction {
    match (send, recv) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

/// Our offer: every voice codec, telephone-event, and a video line when `video`.
pub fn offer(local: &LocalMedia, version: u64, wish: Wish, video: bool) -> String {
    let mut s = String::new();
    header(&mut s, local.audio, version);
    let pts: Vec<String> = VOICE
        .iter()
        .map(|c| c.0.to_string())
        .chain(EVENTS.iter().map(|e| e.0.to_string()))
        .collect();
    let _ = write!(
        s,
        "m=audio {} RTP/AVP {}\r\n",
        local.audio.port(),
        pts.join(" ")
    );
    for (pt, name, clock, ch) in VOICE {
        rtpmap(&mut s, pt, name, clock, ch);
    }
    let _ = write!(s, "a=fmtp:96 useinbandfec=1\r\n");
    for (pt, clock) in EVENTS {
        telephone_event(&mut s, pt, clock);
    }
    let _ = write!(
        s,
        "a=ptime:20\r\na={}\r\n",
        direction(true, !wish.hold).as_str()
    );
    if let (true, Some(v)) = (video, local.video) {
        let pts: Vec<String> = VIDEO.iter().map(|c| c.0.to_string()).collect();
        let _ = write!(s, "m=video {} RTP/AVP {}\r\n", v.port(), pts.join(" "));
        for (pt, name) in VIDEO {
            let _ = write!(s, "a=rtpmap:{pt} {name}/90000\r\n");
        }
        let _ = write!(
            s,
            "a={}\r\n",
            direction(wish.video_send && !wish.hold, !wish.hold).as_str()
        );
    }
    s
}

/// The streams an offer/answer exchange settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub audio: MediaParams,
    pub video: Option<VideoParams>,
    /// The peer's SDP asks us not to send (`sendonly`/`inactive` from its side).
    pub peer_holds: bool,
}

fn address(sdp: &SessionDescription, i: usize, port: u16) -> Result<SocketAddr, String> {
    let text = sdp
        .media_address(i)
        .ok_or_else(|| "the SDP has no connection address".to_owned())?;
    let ip: IpAddr = text
        .parse()
        .map_err(|_| format!("the SDP's connection address '{text}' is not an IP address"))?;
    Ok(SocketAddr::new(ip, port))
}

fn peer_dir(sdp: &SessionDescription, m: &MediaDescription) -> Direction {
    m.direction_or(sdp.direction())
}

fn voice_of(m: &MediaDescription) -> Option<(CodecKind, u8, Option<u8>)> {
    let codecs = m.codecs();
    let (kind, pt, clock) = codecs.iter().find_map(|c| {
        CodecKind::from_rtpmap(&c.name, c.clock_rate).map(|k| (k, c.payload_type, c.clock_rate))
    })?;
    let dtmf = codecs
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case("telephone-event") && c.clock_rate == clock)
        .map(|c| c.payload_type);
    Some((kind, pt, dtmf))
}

/// Reads the streams from the peer's SDP (an answer to our offer, or an
/// offer we answered with [`answer`]), given what we want.
pub fn negotiated(peer: &SessionDescription, wish: Wish) -> Result<Negotiated, String> {
    let (i, m) = peer
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.media == "audio" && !m.is_rejected())
        .ok_or_else(|| "the SDP has no audio stream".to_owned())?;
    let (codec, payload_type, dtmf_payload_type) =
        voice_of(m).ok_or_else(|| "no common voice codec (PCMU, PCMA, G722, opus)".to_owned())?;
    let dir = peer_dir(peer, m);
    let peer_recv = matches!(dir, Direction::SendRecv | Direction::RecvOnly);
    let peer_send = matches!(dir, Direction::SendRecv | Direction::SendOnly);
    let audio = MediaParams {
        remote: address(peer, i, m.port)?,
        codec,
        payload_type,
        dtmf_payload_type,
        send: peer_recv && !wish.hold,
        recv: peer_send && !wish.hold,
    };
    let video = match peer
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.media == "video" && !m.is_rejected())
    {
        Some((vi, vm)) => {
            let vdir = peer_dir(peer, vm);
            Some(VideoParams {
                remote: address(peer, vi, vm.port)?,
                send: matches!(vdir, Direction::SendRecv | Direction::RecvOnly)
                    && wish.video_send
                    && !wish.hold,
                recv: matches!(vdir, Direction::SendRecv | Direction::SendOnly) && !wish.hold,
            })
        }
        None => None,
    };
    Ok(Negotiated {
        audio,
        video,
        peer_holds: !peer_recv,
    })
}

/// Whether an offer has a video line we could take.
pub fn offers_video(offer: &SessionDescription) -> bool {
    offer
        .media
        .iter()
        .any(|m| m.media == "video" && !m.is_rejected() && m.proto == "RTP/AVP")
}

/// Our answer to `offer`: the first voice codec we support (with the
/// offerer's payload type) plus its telephone-event; the video line
/// accepted (pass-through, the offerer's formats) when `local.video` is set
/// and `video` is wanted, else rejected; other lines rejected.
pub fn answer(
    offer: &SessionDescription,
    local: &LocalMedia,
    version: u64,
    wish: Wish,
    video: bool,
) -> Result<String, String> {
    let mut s = String::new();
    header(&mut s, local.audio, version);
    let session_dir = offer.direction();
    let mut audio_done = false;
    for m in &offer.media {
        let dir = m.direction_or(session_dir);
        let peer_recv = matches!(dir, Direction::SendRecv | Direction::RecvOnly);
        let peer_send = matches!(dir, Direction::SendRecv | Direction::SendOnly);
        if m.media == "audio" && !audio_done && !m.is_rejected() && m.proto == "RTP/AVP" {
            if let Some((kind, pt, dtmf)) = voice_of(m) {
                audio_done = true;
                let mut pts = vec![pt.to_string()];
                pts.extend(dtmf.map(|d| d.to_string()));
                let _ = write!(
                    s,
                    "m=audio {} RTP/AVP {}\r\n",
                    local.audio.port(),
                    pts.join(" ")
                );
                rtpmap(
                    &mut s,
                    pt,
                    kind.encoding_name(),
                    kind.clock_rate(),
                    kind.rtpmap_channels(),
                );
                if let Some(d) = dtmf {
                    telephone_event(&mut s, d, kind.clock_rate());
                }
                // Held by us: `sendonly` (or `inactive`), as our offers say it.
                let _ = write!(
                    s,
                    "a=ptime:20\r\na={}\r\n",
                    direction(peer_recv, peer_send && !wish.hold).as_str()
                );
                continue;
            }
        }
        if m.media == "video" && video && !m.is_rejected() && m.proto == "RTP/AVP" {
            if let Some(v) = local.video {
                let _ = write!(
                    s,
                    "m=video {} RTP/AVP {}\r\n",
                    v.port(),
                    m.formats.join(" ")
                );
                for a in m
                    .attributes
                    .iter()
                    .filter(|a| a.name == "rtpmap" || a.name == "fmtp")
                {
                    let _ = write!(s, "a={}:{}\r\n", a.name, a.value.as_deref().unwrap_or(""));
                }
                let _ = write!(
                    s,
                    "a={}\r\n",
                    direction(
                        peer_recv && wish.video_send && !wish.hold,
                        peer_send && !wish.hold
                    )
                    .as_str()
                );
                continue;
            }
        }
        let _ = write!(s, "m={} 0 {} {}\r\n", m.media, m.proto, m.formats.join(" "));
    }
    if !audio_done {
        return Err("no common voice codec (PCMU, PCMA, G722, opus)".into());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(video: bool) -> LocalMedia {
        LocalMedia {
            audio: "192.0.2.10:40000".parse().unwrap(),
            video: video.then(|| "192.0.2.10:40002".parse().unwrap()),
        }
    }

    const PEER: &str =
        "v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n\
        m=audio 5000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
        m=video 5002 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n";

    #[test]
    fn our_offer_lists_the_voice_codecs_events_and_video() {
        let o = SessionDescription::parse(&offer(
            &local(true),
            1,
            Wish {
                hold: false,
                video_send: true,
            },
            true,
        ))
        .unwrap();
        let names: Vec<String> = o.media[0].codecs().iter().map(|c| c.name.clone()).collect();
        assert_eq!(
            names,
            [
                "PCMU",
                "PCMA",
                "G722",
                "opus",
                "telephone-event",
                "telephone-event"
            ]
        );
        assert_eq!(o.media[1].media, "video");
        assert_eq!(o.media[0].direction(), Direction::SendRecv);
        let held = SessionDescription::parse(&offer(
            &local(false),
            2,
            Wish {
                hold: true,
                video_send: true,
            },
            false,
        ))
        .unwrap();
        assert_eq!(held.media.len(), 1);
        assert_eq!(held.media[0].direction(), Direction::SendOnly);
    }

    #[test]
    fn the_answer_takes_the_peers_first_codec_and_its_video() {
        let peer = SessionDescription::parse(PEER).unwrap();
        let wish = Wish {
            hold: false,
            video_send: true,
        };
        let a = SessionDescription::parse(&answer(&peer, &local(true), 1, wish, true).unwrap())
            .unwrap();
        assert_eq!(a.media[0].formats, ["8", "101"]);
        assert_eq!(a.media[1].port, 40002);
        let n = negotiated(&peer, wish).unwrap();
        assert_eq!(n.audio.codec, CodecKind::Pcma);
        assert_eq!(n.audio.dtmf_payload_type, Some(101));
        assert_eq!(n.audio.remote, "192.0.2.20:5000".parse().unwrap());
        assert!(n.audio.send && n.audio.recv && !n.peer_holds);
        assert_eq!(n.video.unwrap().remote, "192.0.2.20:5002".parse().unwrap());
        // Without video wanted, the video line is refused.
        let a = SessionDescription::parse(&answer(&peer, &local(false), 1, wish, false).unwrap())
            .unwrap();
        assert!(a.media[1].is_rejected());
    }

    #[test]
    fn a_sendonly_offer_is_a_hold_and_is_answered_recvonly() {
        let text = PEER.replace(
            "m=video 5002 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n",
            "a=sendonly\r\n",
        );
        let peer = SessionDescription::parse(&text).unwrap();
        let wish = Wish {
            hold: false,
            video_send: true,
        };
        let a = SessionDescription::parse(&answer(&peer, &local(false), 1, wish, false).unwrap())
            .unwrap();
        assert_eq!(a.media[0].direction(), Direction::RecvOnly);
        let n = negotiated(&peer, wish).unwrap();
        assert!(n.peer_holds && !n.audio.send && n.audio.recv);
    }

    #[test]
    fn an_offer_answered_while_we_hold_keeps_the_hold() {
        let peer = SessionDescription::parse(PEER).unwrap();
        let wish = Wish {
            hold: true,
            video_send: true,
        };
        let a = SessionDescription::parse(&answer(&peer, &local(true), 1, wish, true).unwrap())
            .unwrap();
        assert_eq!(a.media[0].direction(), Direction::SendOnly);
        assert_eq!(a.media[1].direction(), Direction::Inactive);
        let n = negotiated(&peer, wish).unwrap();
        assert!(!n.audio.send && !n.audio.recv && !n.peer_holds);
        let v = n.video.unwrap();
        assert!(!v.send && !v.recv);
    }

    #[test]
    fn an_offer_without_a_common_codec_is_refused() {
        let peer = SessionDescription::parse(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 5000 RTP/AVP 18\r\n",
        )
        .unwrap();
        let wish = Wish {
            hold: false,
            video_send: true,
        };
        assert!(answer(&peer, &local(false), 1, wish, false).is_err());
        assert!(negotiated(&peer, wish).is_err());
    }
}
