//! A call leg: the `model::Call` record plus the SIP and media state the
//! engine keeps for it.

use crate::media::LegMedia;
use crate::session_timer::SessionTimer;
use crate::timers::LegTimers;
use model::{Call, CallStatus, HangupBy, HangupReason};
use sip::Request;
use sip_core::{ClientTxKey, DialogId, ServerTxKey};
use uuid::Uuid;

#[derive(Debug)]
pub(crate) struct Leg {
    pub call: Call,
    pub role: Role,
    /// The dialog with this leg's peer, once there is one (for a fork, the
    /// one that answered).
    pub dialog: Option<DialogId>,
    pub media: LegMedia,
    pub session: Option<SessionTimer>,
    pub timers: LegTimers,
    /// Decided while the leg winds down (after our BYE or CANCEL): who ended
    /// it and why, recorded when it reaches `hangup`.
    pub ending: Option<(HangupBy, HangupReason)>,
    /// Every key `Engine::by_dialog` holds for this leg (early dialogs of
    /// a fork, the confirmed one), so forgetting the leg is O(1).
    pub dialog_keys: Vec<DialogId>,
    /// DTMF digits going out as SIP INFO, while there are some.
    pub info_dtmf: Option<Box<crate::engine::dtmf::InfoQueue>>,
}

#[derive(Debug)]
pub(crate) enum Role {
    /// Boxed: a master holds the caller's INVITE; forks are many and small.
    Master(Box<Master>),
    Fork(Fork),
}

/// The caller's `incoming` call.
#[derive(Debug)]
pub(crate) struct Master {
    /// The caller's INVITE (its server transaction and the request).
    pub invite: ServerTxKey,
    pub request: Request,
    /// The `outgoing` calls, one per callee contact.
    pub forks: Vec<Uuid>,
    /// The fork that answered.
    pub winner: Option<Uuid>,
    /// Final outcomes of failed forks: (status, reason phrase, hangup reason).
    pub outcomes: Vec<(u16, String, HangupReason)>,
    /// The fork the relay currently bridges the caller with.
    pub bridged: Option<Uuid>,
    /// The fork whose early media (183 with SDP) the caller hears.
    pub early_media: Option<Uuid>,
    /// The INVITE carried no SDP: the offer comes in the callee's 2xx and
    /// the answer in the caller's ACK (RFC 3261 §13.2.1).
    pub late_offer: bool,
    /// Late offer: the winner's 2xx waits for the caller's ACK (and its answer).
    pub pending_fork_ack: Option<Uuid>,
    /// The caller ACKed our 2xx.
    pub acked: bool,
    /// What RFC 4028 negotiation grants the caller, applied at answer.
    pub session_grant: Option<SessionTimer>,
    pub caller_supports_timer: bool,
}

/// One `outgoing` call to a callee contact.
#[derive(Debug)]
pub(crate) struct Fork {
    pub master: Uuid,
    /// Our INVITE; `None` if it could not even be sent.
    pub invite: Option<ClientTxKey>,
    /// The callee sent 180 or 183.
    pub rang: bool,
}

impl Leg {
    pub fn is_active(&self) -> bool {
        self.call.status.is_active()
    }

    /// Active and not already winding down.
    pub fn is_live(&self) -> bool {
        self.is_active() && self.ending.is_none()
    }

    pub fn is_answered(&self) -> bool {
        self.call.status == CallStatus::Progressing
            || (self.call.status == CallStatus::Terminating && self.call.tm_progressing.is_some())
    }

    pub fn master(&self) -> Option<&Master> {
        match &self.role {
            Role::Master(m) => Some(m),
            Role::Fork(_) => None,
        }
    }

    pub fn master_mut(&mut self) -> Option<&mut Master> {
        match &mut self.role {
            Role::Master(m) => Some(m),
            Role::Fork(_) => None,
        }
    }

    pub fn fork(&self) -> Option<&Fork> {
        match &self.role {
            Role::Fork(f) => Some(f),
            Role::Master(_) => None,
        }
    }

    pub fn fork_mut(&mut self) -> Option<&mut Fork> {
        match &mut self.role {
            Role::Fork(f) => Some(f),
            Role::Master(_) => None,
        }
    }

    /// Whether the peer of this leg has rung (a master: any fork rang).
    pub fn rang(&self) -> bool {
        match &self.role {
            Role::Fork(f) => f.rang,
            Role::Master(_) => self.call.tm_ringing.is_some(),
        }
    }
}
