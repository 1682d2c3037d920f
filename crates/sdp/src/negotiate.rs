//! RFC 3264 §6: building an answer to an offer from the codecs we support.

use crate::model::{Attribute, Connection, MediaDescription, Origin, SdpError, SessionDescription};

/// A codec we can handle: `PCMU/8000/1`, `opus/48000/2`, `telephone-event/8000/1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecSpec {
    pub name: String,
    pub clock_rate: u32,
    pub channels: u8,
}

impl CodecSpec {
    pub fn new(name: &str, clock_rate: u32, channels: u8) -> CodecSpec {
        CodecSpec {
            name: name.into(),
            clock_rate,
            channels,
        }
    }

    fn matches(&self, c: &crate::Codec) -> bool {
        self.name.eq_ignore_ascii_case(&c.name)
            && self.clock_rate == c.clock_rate
            && self.channels == c.channels
    }

    fn is_dtmf(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }
}

/// Answers `offer` (RFC 3264 §6.1): one media line per offered line, in
/// order; on each audio RTP/AVP line the offered codecs we support, in the
/// offerer's preference and with the offerer's payload types; a line with no
/// common codec (or of another media type) is rejected with port 0; the
/// direction mirrors the offer (`sendonly` → `recvonly`).
///
/// `ports[i]` is our RTP port for media line `i`. Fails (a UAS answers 488)
/// when no line could be accepted.
pub fn answer(
    offer: &SessionDescription,
    local: &[CodecSpec],
    address: &str,
    ports: &[u16],
    session_id: u64,
) -> Result<SessionDescription, SdpError> {
    let mut media = Vec::with_capacity(offer.media.len());
    let session_dir = offer.direction();
    for (i, m) in offer.media.iter().enumerate() {
        let port = ports.get(i).copied().unwrap_or(0);
        let supported_line =
            m.media == "audio" && m.proto == "RTP/AVP" && !m.is_rejected() && port != 0;
        let chosen: Vec<crate::Codec> = if supported_line {
            m.codecs()
                .into_iter()
                .filter(|c| local.iter().any(|l| l.matches(c)))
                .collect()
        } else {
            Vec::new()
        };
        let has_voice = chosen
            .iter()
            .any(|c| !local.iter().any(|l| l.is_dtmf() && l.matches(c)));
        if !has_voice {
            let mut rejected = MediaDescription::new(&m.media, 0, &m.proto, m.formats.clone());
            rejected.connection = None;
            media.push(rejected);
            continue;
        }
        let mut line = MediaDescription::new(
            "audio",
            port,
            "RTP/AVP",
            chosen.iter().map(|c| c.payload_type.to_string()).collect(),
        );
        for c in &chosen {
            let map = if c.channels > 1 {
                format!(
                    "{} {}/{}/{}",
                    c.payload_type, c.name, c.clock_rate, c.channels
                )
            } else {
                format!("{} {}/{}", c.payload_type, c.name, c.clock_rate)
            };
            line.attributes.push(Attribute {
                name: "rtpmap".into(),
                value: Some(map),
            });
            if let Some(f) = &c.fmtp {
                line.attributes.push(Attribute {
                    name: "fmtp".into(),
                    value: Some(format!("{} {f}", c.payload_type)),
                });
            }
        }
        if let Some(p) = m.attribute("ptime") {
            line.attributes.push(p.clone());
        }
        line.set_direction(m.direction_or(session_dir).answer());
        media.push(line);
    }
    if media.iter().all(MediaDescription::is_rejected) {
        return Err(SdpError::Structure(
            "no offered media line has a codec in common with us".into(),
        ));
    }
    let conn = Connection::for_address(address);
    Ok(SessionDescription {
        origin: Origin {
            username: "dialtone".into(),
            session_id: session_id.to_string(),
            session_version: session_id,
            nettype: conn.nettype.clone(),
            addrtype: conn.addrtype.clone(),
            address: address.into(),
        },
        session_name: "-".into(),
        connection: Some(conn),
        other: vec![('t', "0 0".into())],
        attributes: Vec::new(),
        media,
    })
}
