//! DTMF sent as SIP INFO (`application/dtmf-relay`, the de-facto format of
//! most PBXs and phones): one INFO per digit, each sent once the previous
//! one got its final response, so the party receives them in order.
//!
//! ```text
//! send_info_dtmf(digits) ─▶ leg.info_dtmf queue ─▶ INFO "Signal=1\r\nDuration=250"
//!   2xx ─▶ next digit's INFO ... queue empty: done
//!   error response or timeout ─▶ the rest of the queue is dropped (logged):
//!   a phone that refuses one INFO (415, 501) refuses them all
//! ```

use super::{Engine, Purpose};
use crate::error::EngineError;
use bytes::Bytes;
use model::CallStatus;
use sip::{Method, Response};
use std::collections::VecDeque;
use std::time::Instant;
use uuid::Uuid;

/// Digits waiting to go out as INFO on one leg.
#[derive(Debug, Default)]
pub(crate) struct InfoQueue {
    digits: VecDeque<media::dtmf::DtmfRelay>,
    /// An INFO is out and not yet answered.
    in_flight: bool,
}

/// Most digits queued on a leg (more are refused).
const MAX_QUEUED: usize = 64;

impl Engine {
    /// Sends `digits` to the call's party as SIP INFO requests
    /// (`application/dtmf-relay`, `Duration` = `duration_ms`), after any
    /// still queued. The call must be answered.
    pub fn send_info_dtmf(
        &mut self,
        now: Instant,
        call: Uuid,
        digits: &[media::dtmf::Digit],
        duration_ms: u32,
    ) -> Result<(), EngineError> {
        let leg = self.legs.get_mut(&call).ok_or(EngineError::UnknownCall)?;
        if !leg.is_active() {
            return Err(EngineError::CallEnded);
        }
        if leg.call.status != CallStatus::Progressing || leg.dialog.is_none() {
            return Err(EngineError::NotAnswered);
        }
        let queue = leg.info_dtmf.get_or_insert_with(Default::default);
        if queue.digits.len() + digits.len() > MAX_QUEUED {
            return Err(EngineError::Busy("too many DTMF digits queued"));
        }
        queue
            .digits
            .extend(digits.iter().map(|&digit| media::dtmf::DtmfRelay {
                digit,
                duration_ms: Some(duration_ms),
            }));
        if !queue.in_flight {
            self.next_info_dtmf(now, call);
        }
        Ok(())
    }

    /// Sends the leg's next queued digit, if any.
    fn next_info_dtmf(&mut self, now: Instant, call: Uuid) {
        let Some(leg) = self.legs.get_mut(&call) else {
            return;
        };
        let Some(dialog) = leg.dialog.clone() else {
            leg.info_dtmf = None;
            return;
        };
        let Some(queue) = leg.info_dtmf.as_mut() else {
            return;
        };
        let Some(digit) = queue.digits.pop_front() else {
            leg.info_dtmf = None;
            return;
        };
        let mut req = match self.ep.dialog_request(&dialog, Method::Info) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%call, error = %e, "cannot send a DTMF INFO");
                leg.info_dtmf = None;
                return;
            }
        };
        req.set_body(
            Some(media::dtmf::info::DTMF_RELAY_CONTENT_TYPE),
            Bytes::from(digit.to_string()),
        );
        match self.ep.send_in_dialog(now, &dialog, req) {
            Ok(k) => {
                queue.in_flight = true;
                self.clients.insert(k, Purpose::InfoDtmf(call));
            }
            Err(e) => {
                tracing::debug!(%call, error = %e, "cannot send a DTMF INFO");
                leg.info_dtmf = None;
            }
        }
    }

    /// The final response to a DTMF INFO (`None`: it timed out).
    pub(super) fn on_info_dtmf_done(&mut self, now: Instant, call: Uuid, resp: Option<&Response>) {
        let Some(queue) = self.legs.get_mut(&call).and_then(|l| l.info_dtmf.as_mut()) else {
            return;
        };
        queue.in_flight = false;
        match resp.map(|r| r.status) {
            Some(200..=299) => self.next_info_dtmf(now, call),
            status => {
                tracing::info!(%call, ?status, "the party refused a DTMF INFO; the digits queued after it are dropped");
                if let Some(l) = self.legs.get_mut(&call) {
                    l.info_dtmf = None;
                }
            }
        }
    }
}
