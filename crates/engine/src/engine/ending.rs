//! Every way a call ends. A leg the far end ends (BYE, final response)
//! ends at once, `hangup_by: remote`; the engine then ends the rest of the
//! bridge itself (`hangup_by: local`): BYE to answered legs (`terminating`
//! until the BYE is answered), CANCEL to ringing callees (`canceling` until
//! the 487), a final response to a caller still waiting.

use super::{Engine, Purpose, ServerSide};
use crate::timers::LegTimer;
use model::{CallStatus, HangupBy, HangupReason};
use sip::{Method, Request};
use sip_core::{DialogId, ServerTxKey, Timer};
use std::time::Instant;
use uuid::Uuid;

/// Why the engine ends legs itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The other leg sent BYE.
    Bye,
    /// The callee rang (or did not) for `ring_timeout`.
    RingTimeout,
    /// The caller sent CANCEL (or BYE before the answer).
    CallerCancel,
    /// Another fork answered first.
    LostRace,
    /// `Engine::hangup`.
    Api,
    /// `Engine::shutdown`.
    Shutdown,
    /// Answered for `max_call_duration`.
    MaxDuration,
    /// RFC 4028: a leg's session expired without a refresh.
    SessionExpired,
    /// RFC 3261 §13.3.1.4: the caller never ACKed our 2xx.
    AckTimeout,
    /// An in-dialog transaction timed out or got 408/481: a leg is gone.
    DialogFailed,
    /// A flow hung up with this reason (`hangup` action, answering-machine
    /// detection).
    Flow(HangupReason),
}

impl Cause {
    /// The `hangup_reason` of a leg this cause ends.
    pub fn reason(self, answered: bool, rang: bool) -> HangupReason {
        use HangupReason::*;
        match self {
            Cause::Bye => Normal,
            Cause::RingTimeout if rang => Noanswer,
            Cause::RingTimeout => Dialout,
            Cause::CallerCancel | Cause::LostRace => Cancel,
            Cause::Api if answered => Normal,
            Cause::Api => Cancel,
            Cause::Shutdown if answered => Normal,
            Cause::Shutdown => Failed,
            Cause::MaxDuration => Timeout,
            Cause::SessionExpired | Cause::AckTimeout | Cause::DialogFailed => Failed,
            Cause::Flow(r) => r,
        }
    }

    /// The final response a caller still waiting for an answer gets.
    fn caller_response(self) -> (u16, &'static str) {
        match self {
            Cause::RingTimeout => (480, "Temporarily Unavailable"),
            Cause::Shutdown => (503, "Service Unavailable"),
            Cause::Flow(HangupReason::Busy) => (486, "Busy Here"),
            Cause::Flow(HangupReason::Noanswer) => (480, "Temporarily Unavailable"),
            Cause::Flow(HangupReason::Failed) => (500, "Server Internal Error"),
            _ => (487, "Request Terminated"),
        }
    }
}

impl Engine {
    /// Ends the master and every fork of a bridge that is still live.
    pub(super) fn end_bridge(&mut self, now: Instant, master: Uuid, cause: Cause) {
        let forks = self
            .legs
            .get(&master)
            .and_then(|l| match (l.master(), l.app()) {
                (Some(m), _) => Some(m.forks.clone()),
                (_, Some(a)) => Some(a.joined.clone()),
                _ => None,
            })
            .unwrap_or_default();
        self.end_leg(now, master, cause);
        for f in forks {
            self.end_leg(now, f, cause);
        }
    }

    /// Ends one live leg locally.
    pub(super) fn end_leg(&mut self, now: Instant, id: Uuid, cause: Cause) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        if !leg.is_live() {
            return;
        }
        let answered = leg.is_answered();
        let ending = (HangupBy::Local, cause.reason(answered, leg.rang()));
        if cause != Cause::RingTimeout {
            // A dial ended by anything but its ring timeout goes no further.
            self.stop_group_of(id);
        }
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        if answered {
            self.send_bye(now, id, ending);
            return;
        }
        if let Some(invite) = leg.server_invite() {
            let (code, phrase) = cause.caller_response();
            self.reply(now, invite, code, phrase, vec![], None);
            self.finish(now, id, ending.0, ending.1, Some(code));
            return;
        }
        self.cancel_fork(now, id, ending);
    }

    /// RFC 3261 §9.1: CANCEL an unanswered fork; it stays `canceling`
    /// until its INVITE gets a final response (or 64*T1 pass).
    fn cancel_fork(&mut self, now: Instant, id: Uuid, ending: (HangupBy, HangupReason)) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let Some(invite) = leg.client_invite() else {
            self.finish(now, id, ending.0, ending.1, None);
            return;
        };
        leg.ending = Some(ending);
        if let Err(e) = self.ep.cancel(now, invite) {
            // Its final response is already on the way to us.
            tracing::debug!(call = %id, error = %e, "CANCEL not sent");
            if self.ep.client_state(invite).is_none() {
                self.finish(now, id, ending.0, ending.1, None);
                return;
            }
        }
        self.set_status(now, id, CallStatus::Canceling);
        let guard = now + self.config.sip.timers.t1x64();
        self.set_leg_timer(id, LegTimer::CancelGuard, guard);
    }

    /// BYE on a leg's dialog; the leg is `terminating` until it is answered.
    pub(super) fn send_bye(&mut self, now: Instant, id: Uuid, ending: (HangupBy, HangupReason)) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        leg.ending = Some(ending);
        leg.timers.stop(LegTimer::SessionExpiry);
        leg.timers.stop(LegTimer::SessionRefresh);
        leg.timers.stop(LegTimer::MaxDuration);
        let sent = leg.dialog.clone().and_then(|d| {
            let bye = self.ep.dialog_request(&d, Method::Bye).ok()?;
            self.ep.send_in_dialog(now, &d, bye).ok()
        });
        match sent {
            Some(k) => {
                self.clients.insert(k, Purpose::Bye(id));
                if self
                    .legs
                    .get(&id)
                    .is_some_and(|l| l.call.status.can_move_to(CallStatus::Terminating))
                {
                    self.set_status(now, id, CallStatus::Terminating);
                }
            }
            None => self.finish(now, id, ending.0, ending.1, None),
        }
    }

    /// Our BYE was answered (or timed out): the leg has ended.
    pub(super) fn on_bye_done(&mut self, now: Instant, id: Uuid) {
        let ending = self.legs.get(&id).and_then(|l| l.ending);
        if let Some((by, reason)) = ending {
            self.finish(now, id, by, reason, None);
        }
    }

    /// A BYE from a leg's peer (already answered 200).
    pub(super) fn on_peer_bye(&mut self, now: Instant, id: Uuid) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        if !leg.is_active() {
            return;
        }
        if let Some((by, reason)) = leg.ending {
            // Both ends hung up at once: ours stands.
            self.finish(now, id, by, reason, None);
            return;
        }
        let master = self.master_of(id);
        let answered = leg.is_answered();
        if leg.outbound().is_some() && !answered {
            // A callee ending its early dialog: the attempt failed.
            let reason = HangupReason::for_final_response(480);
            self.app_attempt_failed(now, id, 480, reason);
            return;
        }
        match (leg.server_invite(), answered) {
            (Some(_), true) => {
                self.finish(now, id, HangupBy::Remote, HangupReason::Normal, None);
                self.end_bridge(now, master, Cause::Bye);
            }
            (Some(invite), false) => {
                // RFC 3261 §15: a caller may BYE an early dialog; the INVITE gets 487.
                self.reply(now, invite, 487, "Request Terminated", vec![], None);
                self.finish(now, id, HangupBy::Remote, HangupReason::Cancel, Some(487));
                self.end_bridge(now, master, Cause::CallerCancel);
            }
            (None, true) => {
                self.finish(now, id, HangupBy::Remote, HangupReason::Normal, None);
                self.end_bridge(now, master, Cause::Bye);
            }
            (None, false) => {
                let reason = HangupReason::for_final_response(480);
                self.fork_failed(now, id, 480, "Temporarily Unavailable", reason);
            }
        }
    }

    /// The caller's CANCEL (sip-core already answered 200 and sent the 487),
    /// or the CANCEL of a re-INVITE we carried to the other leg.
    pub(super) fn on_cancelled(&mut self, now: Instant, key: ServerTxKey) {
        if let Some(master) = self.by_invite.get(&key).copied() {
            let live = self.legs.get(&master).is_some_and(|l| l.is_live());
            if live {
                self.finish(
                    now,
                    master,
                    HangupBy::Remote,
                    HangupReason::Cancel,
                    Some(487),
                );
                self.end_bridge(now, master, Cause::CallerCancel);
            }
            return;
        }
        if let Some(ServerSide {
            relay: Some(ck), ..
        }) = self.servers.get(&key).cloned()
        {
            let _ = self.ep.cancel(now, ck);
        }
    }

    /// An ACK for one of our 2xx.
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        dialog: DialogId,
        req: Request,
    ) {
        let Some(id) = self.by_dialog.get(&dialog).copied() else {
            return;
        };
        let is_master_invite = self
            .legs
            .get(&id)
            .and_then(|l| l.master())
            .is_some_and(|m| m.invite == key);
        let is_app_invite = self
            .legs
            .get(&id)
            .is_some_and(|l| l.app().is_some() && l.server_invite() == Some(key));
        if is_app_invite {
            return;
        }
        if is_master_invite {
            self.on_master_ack(now, id, &req);
        } else if let Some(sdp) = crate::media::parse_body(&req.body) {
            // The answer to the offer we made in a 2xx to a bodiless re-INVITE.
            self.learn_media(id, &sdp);
        }
    }

    /// No ACK for our 2xx within 64*T1 (RFC 3261 §13.3.1.4): end the call.
    pub(super) fn on_ack_timeout(&mut self, now: Instant, key: ServerTxKey, timer: Timer) {
        if timer != Timer::L {
            return;
        }
        let leg = self
            .by_invite
            .get(&key)
            .copied()
            .or_else(|| self.servers.get(&key).map(|s| s.leg));
        let Some(id) = leg else { return };
        tracing::info!(call = %id, "no ACK for our 2xx; ending the call");
        let master = self.master_of(id);
        // A winner still waiting for the caller's answer must be ACKed before its BYE.
        let pending = self
            .legs
            .get_mut(&master)
            .and_then(|l| l.master_mut())
            .and_then(|m| m.pending_fork_ack.take());
        if let Some(d) = pending
            .and_then(|f| self.legs.get(&f))
            .and_then(|l| l.dialog.clone())
        {
            let _ = self.ep.ack(now, &d, None);
        }
        self.end_bridge(now, master, Cause::AckTimeout);
    }
}
