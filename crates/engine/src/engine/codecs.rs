//! Codec choice per leg when the relay can transcode.
//!
//! A B2BUA carries each offer/answer between its legs. With transcoding
//! the two legs may settle on different codecs:
//!
//! ```text
//!  caller offer [PCMU, te]  ──offer_for──▶  callee gets [PCMU, te, PCMA, G722, opus]
//!  caller gets [PCMU, te]   ◀─answer_for──  callee answers [opus]
//!  relay: master leg PCMU  ◀══ transcode ══▶  fork leg opus
//! ```
//!
//! - [`Engine::offer_for`]: the initial offer is widened with the
//!   transcodable codecs it lacks (when it has at least one of them:
//!   otherwise the relay could not convert anyway). Mid-call, while the
//!   pair transcodes, an offer is restated in the receiving leg's current
//!   codec, so a re-INVITE (hold, refresh) does not ask a phone for a codec
//!   it never accepted.
//! - [`Engine::answer_for`]: an answer whose codec the offerer offered goes
//!   back unchanged (pass-through, the HD path stays HD); otherwise it is
//!   restated in the offerer's first transcodable codec, plus its
//!   `telephone-event` if it offered one. The answer carries
//!   `telephone-event` exactly when the offerer offered it (the relay ends
//!   the events of a phone whose partner cannot read them, see DTMF
//!   interworking in `net::rtp`), and a leg counts as having negotiated
//!   events only then.
//! - Each leg's codec is the first voice codec of the answer on that leg;
//!   a change goes to the relay as [`MediaCommand::SetCodec`] once the leg
//!   is open.

use super::Engine;
use crate::event::{LegCodec, MediaCommand};
use sdp::codecs::{self, OfferCodec};
use sdp::{Codec, SessionDescription};
use uuid::Uuid;

fn transcodable(list: &[OfferCodec], c: &Codec) -> bool {
    list.iter().any(|o| {
        o.spec.name.eq_ignore_ascii_case(&c.name)
            && o.spec.clock_rate == c.clock_rate
            && o.spec.channels == c.channels
    })
}

/// The codec an answer settles a leg on.
pub(crate) fn leg_codec(answer: &SessionDescription) -> Option<LegCodec> {
    let voice = codecs::voice_codec(answer)?;
    Some(LegCodec {
        name: voice.name,
        clock_rate: voice.clock_rate,
        channels: voice.channels,
        payload_type: voice.payload_type,
        dtmf: codecs::dtmf_codec(answer).map(|d| (d.payload_type, d.clock_rate)),
    })
}

fn as_sdp_codec(c: &LegCodec) -> Vec<Codec> {
    let mut v = vec![Codec {
        payload_type: c.payload_type,
        name: c.name.clone(),
        clock_rate: c.clock_rate,
        channels: c.channels,
        fmtp: None,
    }];
    if let Some((pt, clock)) = c.dtmf {
        v.push(Codec {
            payload_type: pt,
            name: "telephone-event".into(),
            clock_rate: clock,
            channels: 1,
            fmtp: Some("0-16".into()),
        });
    }
    v
}

impl Engine {
    /// Whether the bridge of `leg` transcodes now (both codecs known and
    /// different).
    fn transcoding(&self, leg: Uuid) -> bool {
        let Some(l) = self.legs.get(&leg) else {
            return false;
        };
        let other = match (l.master(), l.fork()) {
            (Some(m), _) => m.bridged,
            (_, Some(f)) => Some(f.master),
            _ => None,
        };
        let Some(other) = other else {
            return false;
        };
        let codec = |id: Uuid| self.legs.get(&id).and_then(|l| l.media.codec.clone());
        match (codec(leg), codec(other)) {
            (Some(a), Some(b)) => {
                !(a.name.eq_ignore_ascii_case(&b.name)
                    && a.clock_rate == b.clock_rate
                    && a.channels == b.channels)
            }
            _ => false,
        }
    }

    /// The offer to send on leg `to` for `offer` received on the other leg
    /// (`to` is `None` for a fork not created yet: an initial offer).
    pub(super) fn offer_for(
        &self,
        to: Option<Uuid>,
        offer: &SessionDescription,
    ) -> SessionDescription {
        let list = &self.config.transcode;
        let mut out = offer.clone();
        if list.is_empty() {
            return out;
        }
        if let Some(to) = to {
            if self.transcoding(to) {
                if let Some(c) = self.legs.get(&to).and_then(|l| l.media.codec.clone()) {
                    codecs::set_codecs(&mut out, &as_sdp_codec(&c));
                }
                return out;
            }
            if self.legs.get(&to).is_some_and(|l| l.media.codec.is_some()) {
                // Mid-call on a pass-through pair: carried as offered.
                return out;
            }
        }
        let offered = codecs::audio_codecs(offer);
        if offered.iter().any(|c| transcodable(list, c)) {
            // An Opus added here is only ever bridged to the caller's
            // narrower codec: ask the callee not to send more than it can
            // carry (RFC 7587 §6.1; decoding full band to throw it away
            // costs 4-5x the CPU of narrowband).
            let rate = audio_rate(&offered);
            let list: Vec<_> = list
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    if c.spec.name.eq_ignore_ascii_case("opus") {
                        c.fmtp = Some(opus_fmtp(c.fmtp.as_deref(), rate));
                    }
                    c
                })
                .collect();
            codecs::extend_offer(&mut out, &list);
        }
        out
    }

    /// The answer to send on leg `x` for `answer` received on leg `y`,
    /// where `x_offer` is what `x` offered (`None`: `answer` is really an
    /// offer, as in a late-offer 200). Records both legs' codecs.
    pub(super) fn answer_for(
        &mut self,
        x: Uuid,
        y: Uuid,
        x_offer: Option<&SessionDescription>,
        answer: &SessionDescription,
    ) -> SessionDescription {
        let mut out = answer.clone();
        let list = &self.config.transcode;
        if let (Some(offer), Some(chosen), false) =
            (x_offer, codecs::voice_codec(answer), list.is_empty())
        {
            let offered = codecs::audio_codecs(offer);
            if !offered.iter().any(|c| codecs::same_codec(c, &chosen)) {
                let pick = offered
                    .iter()
                    .find(|c| !codecs::is_auxiliary(c) && transcodable(list, c));
                if let Some(pick) = pick {
                    let mut pick = pick.clone();
                    if pick.name.eq_ignore_ascii_case("opus") {
                        // What the Opus caller sends is bridged to the
                        // callee's codec: no wider (RFC 7587 §6.1).
                        let rate = audio_rate(std::slice::from_ref(&chosen));
                        pick.fmtp = Some(opus_fmtp(pick.fmtp.as_deref(), rate));
                    }
                    let mut restated = vec![pick];
                    restated.extend(
                        offered
                            .iter()
                            .find(|c| c.name.eq_ignore_ascii_case("telephone-event"))
                            .cloned(),
                    );
                    codecs::set_codecs(&mut out, &restated);
                }
            }
        }
        if let (Some(offer), false) = (x_offer, list.is_empty()) {
            keep_telephone_event(&mut out, offer);
            drop_unoffered_telephone_event(&mut out, offer);
        }
        if let Some(offer) = x_offer {
            let mut x_codec = leg_codec(&out);
            if let Some(c) = x_codec
                .as_mut()
                .filter(|_| codecs::dtmf_codec(offer).is_none())
            {
                // Its phone did not offer events: it neither sends nor
                // reads them, whatever the other side answered.
                c.dtmf = None;
            }
            self.set_leg_codec(x, x_codec);
            self.set_leg_codec(y, leg_codec(answer));
        }
        out
    }

    /// Stores a leg's codec and tells the relay if it changed and the leg
    /// is open (an unopened leg gets it when it opens).
    pub(super) fn set_leg_codec(&mut self, leg: Uuid, codec: Option<LegCodec>) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        if l.media.codec == codec {
            return;
        }
        l.media.codec = codec.clone();
        if l.media.opened {
            self.media(MediaCommand::SetCodec { leg, codec });
        }
    }
}

/// The audio bandwidth (Hz of sampling) the widest of `codecs` carries:
/// 48000 with Opus, 16000 with G.722 (whose RTP clock says 8000) or any
/// 16 kHz codec, else 8000.
fn audio_rate(codecs: &[Codec]) -> u32 {
    codecs
        .iter()
        .filter(|c| !codecs::is_auxiliary(c))
        .map(|c| {
            if c.name.eq_ignore_ascii_case("G722") {
                16000
            } else if c.name.eq_ignore_ascii_case("opus") {
                48000
            } else {
                c.clock_rate
            }
        })
        .max()
        .unwrap_or(8000)
}

/// Opus `fmtp` parameters with the receive and send bandwidth capped at
/// `rate` (RFC 7587 `maxplaybackrate`, `sprop-maxcapturerate`); others kept.
fn opus_fmtp(fmtp: Option<&str>, rate: u32) -> String {
    let mut params: Vec<String> = fmtp
        .unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|p| {
            !p.is_empty()
                && !p.starts_with("maxplaybackrate")
                && !p.starts_with("sprop-maxcapturerate")
        })
        .map(str::to_owned)
        .collect();
    if rate < 48000 {
        params.push(format!("maxplaybackrate={rate}"));
        params.push(format!("sprop-maxcapturerate={rate}"));
    }
    params.join(";")
}

/// DTMF interworking, the other way: an offerer that did not offer
/// telephone-event is not answered with one (the other phone's events end
/// at the relay, which plays them to this one as tones, and this phone's
/// tones are looked for in its audio).
fn drop_unoffered_telephone_event(answer: &mut SessionDescription, offer: &SessionDescription) {
    if codecs::dtmf_codec(offer).is_some() {
        return;
    }
    let mut list = codecs::audio_codecs(answer);
    let before = list.len();
    list.retain(|c| !c.name.eq_ignore_ascii_case("telephone-event"));
    if list.len() != before && !list.is_empty() {
        codecs::set_codecs(answer, &list);
    }
}

/// DTMF interworking: when the answer (restated or not) drops the
/// telephone-event the offerer asked for, it is kept at the voice codec's
/// clock rate: the relay terminates the events (reports them, and plays
/// them as tones to a party that cannot read them), so the offerer's phone
/// can send its digits the way it prefers.
fn keep_telephone_event(answer: &mut SessionDescription, offer: &SessionDescription) {
    let mut codecs = codecs::audio_codecs(answer);
    if codecs
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case("telephone-event"))
    {
        return;
    }
    let Some(voice) = codecs::voice_codec(answer) else {
        return;
    };
    let offered = codecs::audio_codecs(offer).into_iter().find(|c| {
        c.name.eq_ignore_ascii_case("telephone-event") && c.clock_rate == voice.clock_rate
    });
    if let Some(te) = offered {
        if codecs.iter().all(|c| c.payload_type != te.payload_type) {
            codecs.push(te);
            codecs::set_codecs(answer, &codecs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(formats: &str, rtpmaps: &str) -> SessionDescription {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP {formats}\r\n{rtpmaps}"
        );
        SessionDescription::parse(&text).unwrap()
    }

    fn names(d: &SessionDescription) -> Vec<String> {
        codecs::audio_codecs(d)
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn telephone_event_is_answered_only_to_an_offer_that_had_it() {
        let without = sdp("0", "");
        let with = sdp("0 101", "a=rtpmap:101 telephone-event/8000\r\n");
        let mut answer = with.clone();
        drop_unoffered_telephone_event(&mut answer, &without);
        assert_eq!(names(&answer), ["PCMU"]);
        let mut answer = with.clone();
        drop_unoffered_telephone_event(&mut answer, &with);
        assert_eq!(names(&answer), ["PCMU", "telephone-event"]);
        let mut answer = sdp("0", "");
        keep_telephone_event(&mut answer, &with);
        assert_eq!(names(&answer), ["PCMU", "telephone-event"]);
    }

    #[test]
    fn opus_towards_a_narrowband_bridge_asks_for_no_more_than_it_carries() {
        let pcmu = sdp("0", "");
        let g722 = sdp("9", "");
        assert_eq!(audio_rate(&codecs::audio_codecs(&pcmu)), 8000);
        assert_eq!(audio_rate(&codecs::audio_codecs(&g722)), 16000);
        assert_eq!(
            opus_fmtp(Some("useinbandfec=1; maxplaybackrate=48000"), 8000),
            "useinbandfec=1;maxplaybackrate=8000;sprop-maxcapturerate=8000"
        );
        assert_eq!(opus_fmtp(Some("useinbandfec=1"), 48000), "useinbandfec=1");
    }
}
