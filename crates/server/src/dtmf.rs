//! DTMF interworking in the event pump: every digit the relay reports on
//! one leg of a bridged call is handed back to it
//! ([`Relay::interwork_dtmf`]), which sends it on to the other phone in a
//! way that phone can take (table in `net::rtp`'s `interwork` module):
//!
//! - RFC 4733 events between phones that both negotiated them cross
//!   untouched (the relay forwards the packets);
//! - RFC 4733 events towards a phone without telephone-event become tones
//!   in its audio, or SIP INFO with `dtmf_interworking = "sip_info"`: the
//!   relay says which leg, and [`Interworker`] has the engine send one INFO
//!   per digit, in order (one task sends them one after the other);
//! - tones found in-band are also sent as RFC 4733 events to a phone that
//!   negotiated telephone-event (the tones pass in the audio as well);
//! - SIP INFO digits never come here: the engine carries each INFO across
//!   the bridge as it is.
//!
//! ```text
//! RelayEvent::Dtmf / InbandDtmf ─▶ dtmf_received event ─▶ Interworker::hand_on
//!     ─▶ Relay::interwork_dtmf ─▶ AsIs | Withheld | Rfc4733 | Inband (done by the relay)
//!                                 | SipInfo(leg) ─▶ INFO task ─▶ Engine::send_info_dtmf
//! ```

use crate::config::DtmfInterworking;
use crate::switch::SwitchHandle;
use media::dtmf::Digit;
use net::rtp::{DtmfFallback, DtmfVia, Interworked, LegId, Relay};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Hands the digits the relay reports on to the bridged phone.
pub(crate) struct Interworker {
    relay: Relay,
    fallback: DtmfFallback,
    /// Digits for the INFO task: the call (its leg) and the digit with its
    /// duration.
    info: mpsc::UnboundedSender<(Uuid, Digit, u32)>,
}

impl Interworker {
    /// An interworker for `relay` following the `dtmf_interworking`
    /// setting; spawns the task that sends SIP INFO through `switch` (it
    /// ends when the interworker is dropped).
    pub(crate) fn start(
        relay: Relay,
        switch: SwitchHandle,
        setting: DtmfInterworking,
    ) -> Interworker {
        let (info, mut digits) = mpsc::unbounded_channel::<(Uuid, Digit, u32)>();
        tokio::spawn(async move {
            // One at a time, so the engine queues them in the order they
            // came.
            while let Some((call, digit, duration_ms)) = digits.recv().await {
                if let Err(e) = switch.send_info_dtmf(call, vec![digit], duration_ms).await {
                    tracing::debug!(%call, error = %e.message, "cannot interwork a DTMF digit as SIP INFO");
                }
            }
        });
        let fallback = match setting {
            DtmfInterworking::Inband => DtmfFallback::Inband,
            DtmfInterworking::SipInfo => DtmfFallback::SipInfo,
        };
        Interworker {
            relay,
            fallback,
            info,
        }
    }

    /// A digit (`0`-`9`, `*`, `#`, `A`-`D`) the relay reported on `from`,
    /// `via` RFC 4733 or in-band tones, lasting `duration_ms`.
    pub(crate) fn hand_on(&self, from: LegId, digit: char, duration_ms: u32, via: DtmfVia) {
        let Some(d) = Digit::from_char(digit) else {
            return;
        };
        match self
            .relay
            .interwork_dtmf(from, d, duration_ms, via, self.fallback)
        {
            Ok(Interworked::SipInfo(to)) => {
                let _ = self.info.send((Uuid::from_u128(to.0), d, duration_ms));
            }
            Ok(done) => tracing::trace!(?from, %digit, ?done, "dtmf interworking"),
            Err(e) => tracing::debug!(?from, %digit, error = %e, "cannot interwork a DTMF digit"),
        }
    }
}
