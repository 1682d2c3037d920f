//! Codec-list edits a back-to-back user agent that can transcode makes on
//! the descriptions it carries between its two legs (RFC 3264 §5, §6):
//! widen an offer with the codecs it can convert to, read which codec an
//! answer settled on, and restate an answer in codecs of the other side's
//! offer.

use crate::model::{Attribute, Codec, MediaDescription, SessionDescription};
use crate::negotiate::CodecSpec;

/// A codec Dialtone can put into an offer: its `rtpmap`, the RFC 3551
/// static payload type if it has one, and an `fmtp` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferCodec {
    pub spec: CodecSpec,
    pub static_payload_type: Option<u8>,
    pub fmtp: Option<String>,
}

/// Whether `c` is `telephone-event` (RFC 4733) or comfort noise (RFC
/// 3389): codecs that carry no voice of their own.
pub fn is_auxiliary(c: &Codec) -> bool {
    c.name.eq_ignore_ascii_case("telephone-event") || c.name.eq_ignore_ascii_case("CN")
}

/// Same codec: name (case-insensitive), clock rate and channels.
pub fn same_codec(a: &Codec, b: &Codec) -> bool {
    a.name.eq_ignore_ascii_case(&b.name) && a.clock_rate == b.clock_rate && a.channels == b.channels
}

fn first_audio_mut(sdp: &mut SessionDescription) -> Option<&mut MediaDescription> {
    sdp.media
        .iter_mut()
        .find(|m| m.media == "audio" && !m.is_rejected())
}

fn first_audio(sdp: &SessionDescription) -> Option<&MediaDescription> {
    sdp.media
        .iter()
        .find(|m| m.media == "audio" && !m.is_rejected())
}

/// The first voice codec of the first accepted audio line: in an answer,
/// the one the answerer will send (RFC 3264 §6.1).
pub fn voice_codec(sdp: &SessionDescription) -> Option<Codec> {
    first_audio(sdp)?
        .codecs()
        .into_iter()
        .find(|c| !is_auxiliary(c))
}

/// The `telephone-event` codec of the first accepted audio line.
pub fn dtmf_codec(sdp: &SessionDescription) -> Option<Codec> {
    first_audio(sdp)?
        .codecs()
        .into_iter()
        .find(|c| c.name.eq_ignore_ascii_case("telephone-event"))
}

/// Every codec of the first accepted audio line, in preference order.
pub fn audio_codecs(sdp: &SessionDescription) -> Vec<Codec> {
    first_audio(sdp).map(|m| m.codecs()).unwrap_or_default()
}

/// Appends to the first audio line every codec of `extra` it does not
/// carry yet, after the offerer's own (whose preference order is kept):
/// with its static payload type when RFC 3551 assigns one and it is free,
/// else the first free dynamic one (96-127, RFC 3551 §3). Returns how many
/// were added (0 when the description has no audio line or no free type).
pub fn extend_offer(sdp: &mut SessionDescription, extra: &[OfferCodec]) -> usize {
    let Some(m) = first_audio_mut(sdp) else {
        return 0;
    };
    let present = m.codecs();
    let mut used: Vec<u8> = m.formats.iter().filter_map(|f| f.parse().ok()).collect();
    let mut added = 0;
    for x in extra {
        let as_codec = Codec {
            payload_type: 0,
            name: x.spec.name.clone(),
            clock_rate: x.spec.clock_rate,
            channels: x.spec.channels,
            fmtp: None,
        };
        if present.iter().any(|c| same_codec(c, &as_codec)) {
            continue;
        }
        let pt = match x.static_payload_type {
            Some(pt) if !used.contains(&pt) => pt,
            _ => match (96..=127).find(|pt| !used.contains(pt)) {
                Some(pt) => pt,
                None => continue,
            },
        };
        used.push(pt);
        push_codec(
            m,
            &Codec {
                payload_type: pt,
                fmtp: x.fmtp.clone(),
                ..as_codec
            },
        );
        added += 1;
    }
    added
}

/// Replaces the codecs of the first audio line with `codecs` (formats,
/// `rtpmap` and `fmtp` lines); other attributes (direction, `ptime`,
/// `rtcp`...) stay.
pub fn set_codecs(sdp: &mut SessionDescription, codecs: &[Codec]) {
    let Some(m) = first_audio_mut(sdp) else {
        return;
    };
    m.formats.clear();
    m.attributes
        .retain(|a| a.name != "rtpmap" && a.name != "fmtp");
    for c in codecs {
        push_codec(m, c);
    }
}

fn push_codec(m: &mut MediaDescription, c: &Codec) {
    m.formats.push(c.payload_type.to_string());
    let map = if c.channels > 1 {
        format!(
            "{} {}/{}/{}",
            c.payload_type, c.name, c.clock_rate, c.channels
        )
    } else {
        format!("{} {}/{}", c.payload_type, c.name, c.clock_rate)
    };
    // rtpmap/fmtp lines go before the direction and other attributes, as
    // phones write them.
    let at = m
        .attributes
        .iter()
        .rposition(|a| a.name == "rtpmap" || a.name == "fmtp")
        .map_or(0, |i| i + 1);
    m.attributes
        .insert(at, Attribute::new("rtpmap", Some(&map)));
    if let Some(f) = &c.fmtp {
        m.attributes.insert(
            at + 1,
            Attribute::new("fmtp", Some(&format!("{} {f}", c.payload_type))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n";

    fn ours() -> Vec<OfferCodec> {
        vec![
            OfferCodec {
                spec: CodecSpec::new("PCMU", 8000, 1),
                static_payload_type: Some(0),
                fmtp: None,
            },
            OfferCodec {
                spec: CodecSpec::new("opus", 48000, 2),
                static_payload_type: None,
                fmtp: Some("useinbandfec=1".into()),
            },
            OfferCodec {
                spec: CodecSpec::new("G722", 8000, 1),
                static_payload_type: Some(9),
                fmtp: None,
            },
        ]
    }

    #[test]
    fn an_offer_is_widened_after_the_offerers_codecs_with_free_payload_types() {
        let mut sdp = SessionDescription::parse(OFFER).unwrap();
        assert_eq!(extend_offer(&mut sdp, &ours()), 2, "PCMU was there already");
        let text = sdp.to_text();
        let again = SessionDescription::parse(&text).unwrap();
        let names: Vec<(u8, String)> = audio_codecs(&again)
            .into_iter()
            .map(|c| (c.payload_type, c.name))
            .collect();
        assert_eq!(
            names,
            [
                (0, "PCMU".into()),
                (101, "telephone-event".into()),
                (96, "opus".into()),
                (9, "G722".into())
            ]
        );
        let opus = again.media[0].codec(96).unwrap();
        assert_eq!((opus.clock_rate, opus.channels), (48000, 2));
        assert_eq!(opus.fmtp.as_deref(), Some("useinbandfec=1"));
        assert!(text.contains("a=sendrecv\r\n"), "{text}");
        assert_eq!(voice_codec(&again).unwrap().name, "PCMU");
        assert_eq!(dtmf_codec(&again).unwrap().payload_type, 101);
    }

    #[test]
    fn an_answer_restated_in_other_codecs_keeps_direction_and_address() {
        let mut sdp = SessionDescription::parse(&OFFER.replace("sendrecv", "recvonly")).unwrap();
        let pcma = Codec {
            payload_type: 8,
            name: "PCMA".into(),
            clock_rate: 8000,
            channels: 1,
            fmtp: None,
        };
        set_codecs(&mut sdp, std::slice::from_ref(&pcma));
        let again = SessionDescription::parse(&sdp.to_text()).unwrap();
        assert_eq!(audio_codecs(&again), [pcma]);
        assert_eq!(again.media[0].direction(), crate::Direction::RecvOnly);
        assert_eq!(again.media[0].port, 4000);
        assert!(dtmf_codec(&again).is_none());
    }
}
