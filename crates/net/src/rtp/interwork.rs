//! DTMF interworking: a digit one phone sent reaches the bridged phone in
//! a way it can take, even when the two phones share no DTMF method.
//!
//! The relay reports every digit it sees ([`RelayEvent::Dtmf`] for RFC
//! 4733 telephone-events, [`RelayEvent::InbandDtmf`] for tones its
//! detector found); the application hands each one back to
//! [`Relay::interwork_dtmf`], which decides from both legs' codecs:
//!
//! | digit came as | bridged phone negotiated telephone-event | it did not |
//! | --- | --- | --- |
//! | RFC 4733 | forwarded as they are (same clock rate: nothing to do), or sent again at its clock rate | tones in its audio ([`DtmfFallback::Inband`]), or SIP INFO ([`DtmfFallback::SipInfo`]: the application sends it) |
//! | in-band tones | also sent as RFC 4733 events (the tones themselves pass in the audio as well) | nothing to do: the tones pass in the audio |
//!
//! SIP INFO digits never reach the relay: the engine carries each INFO
//! across the bridge as it is.
//!
//! A digit does not cross a bridge muted or held that way (its events or
//! tones would not either): [`Interworked::Withheld`].
//!
//! A digit is reported, so handed on, when it ends: the other phone gets
//! it one key-press later than the events or tones would have come, with
//! the same duration (tones at least 80 ms). Digits handed on queue behind
//! each other on the receiving leg, so a quick string keeps its order and
//! its gaps. Detection forced on for a phone that sends both events and
//! tones reports each digit twice, and hands it on twice.
//!
//! [`RelayEvent::Dtmf`]: super::RelayEvent::Dtmf
//! [`RelayEvent::InbandDtmf`]: super::RelayEvent::InbandDtmf
//! [`Relay::interwork_dtmf`]: super::Relay::interwork_dtmf

use super::transcode::dtmf_target;
use super::{LegCodec, LegId};

/// How a DTMF digit arrived on a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DtmfVia {
    /// RFC 4733 telephone-events in the RTP stream.
    Rfc4733,
    /// Tones in the audio, found by the leg's in-band detector.
    Inband,
}

/// How an RFC 4733 digit reaches a bridged phone that did not negotiate
/// telephone-event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DtmfFallback {
    /// Tones played in its audio by the relay (as Asterisk's
    /// `dtmf_mode=auto` and FreeSWITCH's `start_dtmf_generate` do).
    #[default]
    Inband,
    /// SIP INFO, which the application sends (the relay knows no SIP):
    /// [`Interworked::SipInfo`].
    SipInfo,
}

/// What became of a digit on its way to the bridged leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interworked {
    /// Nothing to do: the leg is not bridged, or the digit crosses as it
    /// came (events both phones negotiated at the same clock rate, tones
    /// in the audio, or a codec not known yet so packets pass unchanged).
    AsIs,
    /// The bridge is muted or held that way: the digit does not cross.
    Withheld,
    /// Sent to the bridged leg as RFC 4733 telephone-events.
    Rfc4733(LegId),
    /// Queued on the bridged leg as tones in its audio.
    Inband(LegId),
    /// The bridged leg should get it as SIP INFO: the caller sends it.
    SipInfo(LegId),
}

/// What the relay does for a digit, by the codecs of the leg it came from
/// and of the bridged leg (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    AsIs,
    Rfc4733,
    Inband,
    SipInfo,
}

/// The route of a digit that came `via` a leg of codec `from` towards the
/// bridged leg of codec `to`.
pub(crate) fn route(
    via: DtmfVia,
    from: Option<LegCodec>,
    to: Option<LegCodec>,
    fallback: DtmfFallback,
) -> Route {
    let Some(to) = to else {
        // Unknown codec: the bridge passes packets (events too) unchanged.
        return Route::AsIs;
    };
    match (via, to.dtmf) {
        (DtmfVia::Rfc4733, Some(_)) => match from {
            // The bridge forwards the events (same clock rate), or passes
            // everything unchanged (the sender's codec is unknown).
            None => Route::AsIs,
            Some(from) if dtmf_target(from, to).is_some() => Route::AsIs,
            // Another clock rate: the durations would be wrong, so the
            // relay drops them and sends its own.
            Some(_) => Route::Rfc4733,
        },
        (DtmfVia::Rfc4733, None) => match fallback {
            DtmfFallback::Inband => Route::Inband,
            DtmfFallback::SipInfo => Route::SipInfo,
        },
        (DtmfVia::Inband, Some(_)) => Route::Rfc4733,
        (DtmfVia::Inband, None) => Route::AsIs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::codec::CodecKind;

    fn codec(kind: CodecKind, pt: u8, dtmf: Option<(u8, u32)>) -> Option<LegCodec> {
        Some(LegCodec {
            codec: kind,
            payload_type: pt,
            dtmf,
        })
    }

    #[test]
    fn events_cross_alone_between_phones_that_both_negotiated_them() {
        let a = codec(CodecKind::Pcmu, 0, Some((101, 8000)));
        let b = codec(CodecKind::Pcma, 8, Some((96, 8000)));
        for fallback in [DtmfFallback::Inband, DtmfFallback::SipInfo] {
            assert_eq!(route(DtmfVia::Rfc4733, a, b, fallback), Route::AsIs);
        }
        assert_eq!(
            route(DtmfVia::Rfc4733, None, b, DtmfFallback::Inband),
            Route::AsIs
        );
        assert_eq!(
            route(DtmfVia::Rfc4733, a, None, DtmfFallback::Inband),
            Route::AsIs,
            "unknown codec: everything passes"
        );
    }

    #[test]
    fn events_at_another_clock_rate_are_sent_again() {
        let a = codec(CodecKind::Pcmu, 0, Some((101, 8000)));
        let b = codec(CodecKind::Opus, 111, Some((110, 48000)));
        assert_eq!(
            route(DtmfVia::Rfc4733, a, b, DtmfFallback::Inband),
            Route::Rfc4733
        );
    }

    #[test]
    fn events_to_a_phone_without_telephone_event_follow_the_fallback() {
        let a = codec(CodecKind::Pcmu, 0, Some((101, 8000)));
        let b = codec(CodecKind::Pcmu, 0, None);
        assert_eq!(
            route(DtmfVia::Rfc4733, a, b, DtmfFallback::Inband),
            Route::Inband
        );
        assert_eq!(
            route(DtmfVia::Rfc4733, a, b, DtmfFallback::SipInfo),
            Route::SipInfo
        );
        assert_eq!(DtmfFallback::default(), DtmfFallback::Inband);
    }

    #[test]
    fn tones_become_events_only_for_a_phone_that_reads_events() {
        let a = codec(CodecKind::Pcmu, 0, None);
        let with = codec(CodecKind::G722, 9, Some((101, 8000)));
        let without = codec(CodecKind::Pcma, 8, None);
        for fallback in [DtmfFallback::Inband, DtmfFallback::SipInfo] {
            assert_eq!(route(DtmfVia::Inband, a, with, fallback), Route::Rfc4733);
            assert_eq!(route(DtmfVia::Inband, a, without, fallback), Route::AsIs);
        }
    }
}
