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
    /// A leg Dialtone terminates itself, for a flow (see `engine/app.rs`).
    App(Box<App>),
}

/// An application leg.
#[derive(Debug)]
pub(crate) struct App {
    pub side: AppSide,
    /// Calls dialed by `connect` from this one, in order.
    pub joined: Vec<Uuid>,
    /// The joined call the relay bridges this one with now.
    pub bridged: Option<Uuid>,
    /// A dialed call of a `connect`: the call it is bridged with.
    pub join: Option<Uuid>,
}

#[derive(Debug)]
pub(crate) enum AppSide {
    /// An INVITE to a number with a flow, answered by Dialtone.
    Inbound {
        invite: ServerTxKey,
        request: Box<Request>,
        grant: Option<SessionTimer>,
        supports_timer: bool,
    },
    /// A call Dialtone dialed.
    Outbound(Box<Outbound>),
}

/// A dialed call's routing state.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub group: Uuid,
    /// Routes not tried yet (failover).
    pub routes: std::collections::VecDeque<crate::engine::app::Route>,
    pub current: Option<crate::engine::app::Route>,
    pub attempt_started: std::time::Instant,
    pub invite: Option<ClientTxKey>,
    /// The current attempt's INVITE (sent again with credentials).
    pub request: Option<Request>,
    pub auth_tried: bool,
    pub rang: bool,
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
    /// The Contacts of forks that redirected (3xx): passed to the caller
    /// when a redirect is the best outcome, so it can follow them.
    pub redirects: Vec<sip::Header>,
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
            _ => None,
        }
    }

    pub fn master_mut(&mut self) -> Option<&mut Master> {
        match &mut self.role {
            Role::Master(m) => Some(m),
            _ => None,
        }
    }

    pub fn fork(&self) -> Option<&Fork> {
        match &self.role {
            Role::Fork(f) => Some(f),
            _ => None,
        }
    }

    pub fn fork_mut(&mut self) -> Option<&mut Fork> {
        match &mut self.role {
            Role::Fork(f) => Some(f),
            _ => None,
        }
    }

    pub fn app(&self) -> Option<&App> {
        match &self.role {
            Role::App(a) => Some(a),
            _ => None,
        }
    }

    pub fn app_mut(&mut self) -> Option<&mut App> {
        match &mut self.role {
            Role::App(a) => Some(a),
            _ => None,
        }
    }

    pub fn outbound(&self) -> Option<&Outbound> {
        match &self.app()?.side {
            AppSide::Outbound(o) => Some(o),
            AppSide::Inbound { .. } => None,
        }
    }

    pub fn outbound_mut(&mut self) -> Option<&mut Outbound> {
        match &mut self.app_mut()?.side {
            AppSide::Outbound(o) => Some(o),
            AppSide::Inbound { .. } => None,
        }
    }

    /// The INVITE we answer on this leg (a caller's), if any.
    pub fn server_invite(&self) -> Option<ServerTxKey> {
        match &self.role {
            Role::Master(m) => Some(m.invite),
            Role::App(a) => match &a.side {
                AppSide::Inbound { invite, .. } => Some(*invite),
                AppSide::Outbound(_) => None,
            },
            Role::Fork(_) => None,
        }
    }

    /// The caller's INVITE on this leg (a master's or an inbound
    /// application call's), if any.
    pub fn server_request(&self) -> Option<&Request> {
        match &self.role {
            Role::Master(m) => Some(&m.request),
            Role::App(a) => match &a.side {
                AppSide::Inbound { request, .. } => Some(request),
                AppSide::Outbound(_) => None,
            },
            Role::Fork(_) => None,
        }
    }

    /// Our INVITE on this leg (a callee's), if any.
    pub fn client_invite(&self) -> Option<ClientTxKey> {
        match &self.role {
            Role::Fork(f) => f.invite,
            Role::App(a) => match &a.side {
                AppSide::Outbound(o) => o.invite,
                AppSide::Inbound { .. } => None,
            },
            Role::Master(_) => None,
        }
    }

    /// Whether the peer of this leg has rung (a master: any fork rang).
    pub fn rang(&self) -> bool {
        match &self.role {
            Role::Fork(f) => f.rang,
            Role::App(a) => match &a.side {
                AppSide::Outbound(o) => o.rang,
                AppSide::Inbound { .. } => self.call.tm_ringing.is_some(),
            },
            Role::Master(_) => self.call.tm_ringing.is_some(),
        }
    }
}
