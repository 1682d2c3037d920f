//! The engine: a sans-IO back-to-back user agent over one
//! `sip_core::Endpoint`, behind the `handle_*` / `poll_*` surface.
//!
//! - `calls`: a new INVITE (authorization, routing, forking) and what the
//!   forks answer (ringing, early media, the winning 2xx, failures).
//! - `ending`: every way a call ends (BYE, CANCEL, timeouts, API, shutdown).
//! - `midcall`: re-INVITE, UPDATE and INFO carried across the bridge,
//!   RFC 4028 session refreshes.

pub(crate) mod app;
mod calls;
mod codecs;
pub(crate) mod dtmf;
mod ending;
mod midcall;
mod register;
pub(crate) mod trunk_reg;

use crate::config::{EngineConfig, PortAllocator, WallClock};
use crate::directory::Directory;
use crate::error::EngineError;
use crate::event::{Event, MediaCommand};
use crate::leg::Leg;
use crate::session_timer::SessionTimer;
use crate::timers::LegTimer;
use bytes::Bytes;
use model::{Call, CallStatus, EventType, ExtensionSecret, HangupBy, HangupReason, Registration};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sip::{Header, HeaderName, Method, Response, Transport};
use sip_core::{
    AuthConfig, Authenticator, ClientTxKey, DialogId, Endpoint, Received, Registrar,
    RegistrarConfig, ServerTxKey, Transmit,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What the engine says in `Server` and `User-Agent`: no version.
pub(crate) const PRODUCT: &str = "Dialtone";

/// Methods the engine handles (RFC 3261 §20.5).
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REGISTER";

/// How long an ended call stays readable through [`Engine::call`] before
/// the engine forgets it (the store keeps it for good, written within a
/// fraction of a second by the server). Short, because everything a
/// forgotten call could still receive is answered without it (a late 2xx
/// of a fork gets ACK and BYE, a late BYE 481) and at thousands of calls
/// a second every lingering second costs memory.
pub(crate) const LINGER: Duration = Duration::from_secs(4);

/// What a client transaction of ours is for.
#[derive(Debug, Clone)]
enum Purpose {
    /// A fork's INVITE.
    Invite(Uuid),
    /// BYE ending this leg.
    Bye(Uuid),
    /// A request carried over from the other leg.
    Relay(Relay),
    /// An RFC 4028 refresh we sent on this leg.
    Refresh { leg: Uuid, method: Method },
    /// BYE of a dialog nobody wants (a 2xx that lost the race).
    Stray,
    /// A DTMF digit sent as INFO on this leg (see `dtmf.rs`).
    InfoDtmf(Uuid),
    /// The INVITE of a call Dialtone dialed (see `app.rs`).
    AppInvite(Uuid),
    /// A trunk's REGISTER (see `trunk_reg.rs`).
    TrunkRegister(Uuid),
}

/// A request received on leg `from` and sent on leg `to`; the answer goes
/// back on server transaction `server`.
#[derive(Debug, Clone)]
struct Relay {
    from: Uuid,
    to: Uuid,
    server: ServerTxKey,
    method: Method,
    /// The session timer to grant `from` if the request succeeds.
    grant: Option<SessionTimer>,
    from_supports_timer: bool,
    /// `from`'s SDP offer, for restating the answer (see `codecs.rs`).
    offer: Option<Box<sdp::SessionDescription>>,
}

/// An in-dialog request of a peer we answered or are answering.
#[derive(Debug, Clone)]
struct ServerSide {
    leg: Uuid,
    /// The request we carried to the other leg, if any.
    relay: Option<ClientTxKey>,
}

/// The switch: calls in, calls out, media commands and call records out.
/// Sans-IO: see the crate docs for the run loop.
pub struct Engine {
    config: EngineConfig,
    wall: WallClock,
    ports: Box<dyn PortAllocator>,
    ep: Endpoint,
    rng: StdRng,
    directory: Directory,
    auth: Authenticator,
    registrar: Registrar,
    legs: BTreeMap<Uuid, Leg>,
    /// Master legs by the server transaction of the caller's INVITE.
    by_invite: HashMap<ServerTxKey, Uuid>,
    by_dialog: HashMap<DialogId, Uuid>,
    /// Leg timer deadlines, earliest first (see [`Engine::set_leg_timer`]).
    timer_queue: BinaryHeap<Reverse<(Instant, Uuid)>>,
    clients: HashMap<ClientTxKey, Purpose>,
    servers: HashMap<ServerTxKey, ServerSide>,
    events: VecDeque<Event>,
    /// Source of the message being handled: requests come with it.
    source: Option<(SocketAddr, Transport)>,
    shutting_down: bool,
    /// The I/O layer reports a backlog: new calls get 503 (see
    /// [`Engine::set_overloaded`]).
    overloaded: bool,
    /// New calls refused because of overload, since start.
    shed_calls: u64,
    /// Numbers whose calls run a flow.
    numbers: HashMap<String, Uuid>,
    /// Trunks, in the order `tel` calls try them.
    trunks: Vec<crate::dial::TrunkRoute>,
    /// Dials in progress.
    groups: HashMap<Uuid, app::Group>,
    /// Registrations to trunks, by trunk id.
    trunk_regs: HashMap<Uuid, trunk_reg::TrunkReg>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("legs", &self.legs.len())
            .field("active_calls", &self.active_calls())
            .field("shutting_down", &self.shutting_down)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(config: EngineConfig, wall: WallClock, ports: Box<dyn PortAllocator>) -> Engine {
        let mut sip = config.sip.clone();
        sip.user_agent = Some(PRODUCT.into());
        let mut auth_config = AuthConfig::new(config.realm.clone(), config.auth_secret);
        auth_config.algorithms = config.auth_algorithms.clone();
        let auth = Authenticator::new(auth_config, config.rng_seed ^ 0x5a5a_5a5a);
        Engine {
            rng: StdRng::seed_from_u64(config.rng_seed),
            auth,
            registrar: Registrar::new(RegistrarConfig::default()),
            ep: Endpoint::new(sip),
            config,
            wall,
            ports,
            directory: Directory::default(),
            legs: BTreeMap::new(),
            by_invite: HashMap::new(),
            by_dialog: HashMap::new(),
            timer_queue: BinaryHeap::new(),
            clients: HashMap::new(),
            servers: HashMap::new(),
            events: VecDeque::new(),
            source: None,
            shutting_down: false,
            overloaded: false,
            shed_calls: 0,
            numbers: HashMap::new(),
            trunks: Vec::new(),
            groups: HashMap::new(),
            trunk_regs: HashMap::new(),
        }
    }

    /// The I/O layer is falling behind (`true`) or caught up (`false`).
    /// While overloaded, a new call (an INVITE outside any dialog) is
    /// answered `503 Service Unavailable` with `Retry-After: 1` at once,
    /// before authentication or routing, and leaves no call record; calls
    /// already up, and every in-dialog request and response, are handled
    /// as usual, so they complete instead of timing out together with the
    /// surplus.
    pub fn set_overloaded(&mut self, on: bool) {
        self.overloaded = on;
    }

    /// New calls refused with 503 because of overload, since start.
    pub fn shed_calls(&self) -> u64 {
        self.shed_calls
    }

    /// Handles one received SIP message.
    pub fn handle_receive(&mut self, now: Instant, rx: Received) {
        self.source = Some((rx.remote, rx.transport.clone()));
        self.ep.handle_receive(now, rx);
        self.drain(now);
        self.source = None;
    }

    /// Fires every timer due at `now`: SIP transactions, registrations,
    /// digest nonces, then the engine's own.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
        self.drain(now);
        self.auth.handle_timeout(now);
        for b in self.registrar.handle_timeout(now) {
            self.report_removed(&b);
        }
        self.trunk_reg_timers(now);
        self.drain(now);
        // Entries may be stale (the timer was stopped or moved): each one
        // only makes us look at its leg's table, which knows what is due.
        while let Some(&Reverse((at, id))) = self.timer_queue.peek() {
            if at > now {
                break;
            }
            self.timer_queue.pop();
            while let Some(timer) = self
                .legs
                .get_mut(&id)
                .and_then(|l| l.timers.pop_expired(now))
            {
                self.on_leg_timer(now, id, timer);
                self.drain(now);
            }
        }
        self.prune();
    }

    /// The driver could not reach `remote` (ICMP unreachable, TCP connect
    /// refused): requests towards it fail as if answered 503 (RFC 3261
    /// §8.1.3.1), so a fork there ends `failed` at once instead of after Timer B.
    pub fn handle_transport_error(&mut self, now: Instant, remote: SocketAddr) {
        self.ep.handle_transport_error(now, remote);
        self.drain(now);
    }

    /// The next SIP message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.ep.poll_transmit()
    }

    /// The next event for the server and the media relay.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] must be called next.
    ///
    /// May be earlier than anything actually due (a leg timer stopped since
    /// it was queued); `handle_timeout` then just drops the stale entry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let legs = self.timer_queue.peek().map(|Reverse((at, _))| *at);
        [
            self.ep.poll_timeout(),
            self.auth.poll_timeout(),
            self.registrar.poll_timeout(),
            legs,
            self.trunk_reg_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Adds or replaces an extension (its password and static contact).
    pub fn upsert_extension(&mut self, e: ExtensionSecret) {
        self.directory.upsert(e);
    }

    /// Removes an extension: it can no longer authenticate or be called,
    /// and its registrations are dropped (each reported removed).
    pub fn remove_extension(&mut self, number: &str) {
        self.directory.remove(number);
        let gone: Vec<_> = self.registrar.bindings(number).cloned().collect();
        self.registrar.remove_aor(number);
        for b in &gone {
            self.report_removed(b);
        }
    }

    /// Every registrar binding not expired at `now`.
    pub fn registrations(&self, now: Instant) -> Vec<Registration> {
        let mut out: Vec<Registration> = self
            .registrar
            .all()
            .filter(|b| b.expires_at > now)
            .map(|b| self.registration(b))
            .collect();
        out.sort_by(|a, b| (&a.extension, &a.contact).cmp(&(&b.extension, &b.contact)));
        out
    }

    /// Hangs up a call from the API (`hangup_by: local`). Either leg ends
    /// the whole bridge: answered legs get BYE (`normal`), an unanswered
    /// caller 487 and unanswered callees CANCEL (`cancel`).
    pub fn hangup(&mut self, now: Instant, call: Uuid) -> Result<(), EngineError> {
        let leg = self.legs.get(&call).ok_or(EngineError::UnknownCall)?;
        if !leg.is_active() {
            return Err(EngineError::CallEnded);
        }
        let master = self.master_of(call);
        self.end_bridge(now, master, ending::Cause::Api);
        self.drain(now);
        Ok(())
    }

    /// Hangs up a call for a flow with `reason` (`hangup_by: local`): an
    /// answered call gets BYE, an unanswered caller a matching final
    /// response (486 busy, 480 noanswer, 500 failed, else 487), and every
    /// call joined to it ends too.
    pub fn hangup_with(
        &mut self,
        now: Instant,
        call: Uuid,
        reason: HangupReason,
    ) -> Result<(), EngineError> {
        let leg = self.legs.get(&call).ok_or(EngineError::UnknownCall)?;
        if !leg.is_active() {
            return Err(EngineError::CallEnded);
        }
        let master = self.master_of(call);
        self.end_bridge(now, master, ending::Cause::Flow(reason));
        self.drain(now);
        Ok(())
    }

    /// Whether a call joined to `call` by a dial (the `from`th and later)
    /// is still dialing or up (what a flow's `connect` waits for), and
    /// whether one answered.
    pub fn joined_state(&self, call: Uuid, from: usize) -> (bool, bool) {
        let Some(app) = self.legs.get(&call).and_then(|l| l.app()) else {
            return (false, false);
        };
        let joined = app.joined.get(from..).unwrap_or_default();
        let live = joined
            .iter()
            .any(|j| self.legs.get(j).is_some_and(|l| l.is_active()));
        let answered = joined.iter().any(|j| {
            self.legs
                .get(j)
                .is_some_and(|l| l.call.tm_progressing.is_some())
        });
        (live, answered)
    }

    /// Mutes (or with `None` unmutes) an answered call's audio, as the
    /// seed's "Mute" diagrams: `In`, the call's party hears nothing of the
    /// others; `Out`, nothing it says reaches them; `Both`. Recorded as
    /// `mute_direction` (with a `call_updated` event) and carried out by
    /// the relay ([`MediaCommand::Mute`]). Setting what is already set
    /// changes nothing.
    pub fn set_mute(
        &mut self,
        now: Instant,
        call: Uuid,
        direction: Option<model::MuteDirection>,
    ) -> Result<(), EngineError> {
        let utc = self.wall.utc(now);
        let leg = self.legs.get_mut(&call).ok_or(EngineError::UnknownCall)?;
        if !leg.is_active() {
            return Err(EngineError::CallEnded);
        }
        if leg.call.status != CallStatus::Progressing {
            return Err(EngineError::NotAnswered);
        }
        if leg.call.mute_direction == direction {
            return Ok(());
        }
        leg.call.mute_direction = direction;
        leg.call.tm_update = utc;
        let opened = leg.media.opened;
        self.emit(EventType::CallUpdated, call);
        if opened {
            self.media(MediaCommand::Mute {
                leg: call,
                direction,
            });
        }
        Ok(())
    }

    /// A recording of the live, answered call began: it becomes the call's
    /// `recording_id` and joins its `recording_ids` (`call_updated`).
    pub fn recording_started(
        &mut self,
        now: Instant,
        call: Uuid,
        recording: Uuid,
    ) -> Result<(), EngineError> {
        let utc = self.wall.utc(now);
        let leg = self.legs.get_mut(&call).ok_or(EngineError::UnknownCall)?;
        if !leg.is_active() {
            return Err(EngineError::CallEnded);
        }
        if leg.call.status != CallStatus::Progressing {
            return Err(EngineError::NotAnswered);
        }
        leg.call.recording_id = Some(recording);
        if !leg.call.recording_ids.contains(&recording) {
            leg.call.recording_ids.push(recording);
        }
        leg.call.tm_update = utc;
        self.emit(EventType::CallUpdated, call);
        Ok(())
    }

    /// A recording of the call ended: if it was the call's current one,
    /// `recording_id` becomes the latest still running, or none
    /// (`call_updated`). Nothing for a call that ended (its hangup cleared
    /// it) or is unknown.
    pub fn recording_ended(&mut self, now: Instant, call: Uuid, recording: Uuid, running: &[Uuid]) {
        let utc = self.wall.utc(now);
        let Some(leg) = self.legs.get_mut(&call) else {
            return;
        };
        if !leg.is_active() || leg.call.recording_id != Some(recording) {
            return;
        }
        leg.call.recording_id = leg
            .call
            .recording_ids
            .iter()
            .rev()
            .find(|id| running.contains(id))
            .copied();
        leg.call.tm_update = utc;
        self.emit(EventType::CallUpdated, call);
    }

    /// Graceful shutdown: every active call ends (`hangup_by: local`):
    /// BYE if answered (`normal`), CANCEL to unanswered callees and 503 to
    /// unanswered callers (`failed`: another server may take the call).
    /// New INVITEs get 503 from now on. Keep driving the engine until
    /// [`Engine::active_calls`] is 0 so the far ends' answers are recorded.
    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        let masters: Vec<Uuid> = self
            .legs
            .iter()
            .filter(|(_, l)| l.is_live() && l.master().is_some())
            .map(|(id, _)| *id)
            .collect();
        for m in masters {
            self.end_bridge(now, m, ending::Cause::Shutdown);
        }
        let rest: Vec<Uuid> = self
            .legs
            .iter()
            .filter(|(_, l)| l.is_live())
            .map(|(id, _)| *id)
            .collect();
        for id in rest {
            self.end_leg(now, id, ending::Cause::Shutdown);
        }
        self.drain(now);
    }

    /// A call the engine holds: active, or ended less than a minute ago.
    pub fn call(&self, id: Uuid) -> Option<&Call> {
        self.legs.get(&id).map(|l| &l.call)
    }

    /// Every call the engine holds, by id.
    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.legs.values().map(|l| &l.call)
    }

    /// Calls not yet in `hangup`.
    pub fn active_calls(&self) -> usize {
        self.legs.values().filter(|l| l.is_active()).count()
    }

    // ---- event plumbing ----

    /// Handles every event the endpoint has queued.
    fn drain(&mut self, now: Instant) {
        while let Some(ev) = self.ep.poll_event() {
            self.on_sip_event(now, ev);
        }
    }

    fn on_sip_event(&mut self, now: Instant, ev: sip_core::Event) {
        use sip_core::Event as E;
        match ev {
            E::Request {
                key,
                request,
                dialog: None,
            } => self.on_new_request(now, key, request),
            E::Request {
                key,
                request,
                dialog: Some(d),
            } => self.on_dialog_request(now, key, request, d),
            E::Response {
                key,
                response,
                dialog,
            } => self.on_response(now, key, response, dialog),
            E::Timeout { key, .. } => self.on_no_response(now, key, false),
            E::TransportError { key } => self.on_no_response(now, key, true),
            E::Ack {
                key,
                dialog,
                request,
            } => self.on_ack(now, key, dialog, request),
            E::AckTimeout { key, timer } => self.on_ack_timeout(now, key, timer),
            E::Cancelled { key, .. } => self.on_cancelled(now, key),
            _ => {}
        }
    }

    fn on_new_request(&mut self, now: Instant, key: ServerTxKey, req: sip::Request) {
        match req.method {
            Method::Invite => self.on_invite(now, key, req),
            Method::Register => self.on_register(now, key, req),
            Method::Options => {
                let h = capabilities();
                self.reply(now, key, 200, "OK", h, None);
            }
            Method::Bye => {
                self.reply_481(now, key);
            }
            _ => {
                let h = vec![Header::new(HeaderName::Allow, ALLOW)];
                self.reply(now, key, 405, "Method Not Allowed", h, None);
            }
        }
    }

    fn on_response(
        &mut self,
        now: Instant,
        key: ClientTxKey,
        resp: Response,
        dialog: Option<DialogId>,
    ) {
        let Some(purpose) = self.clients.get(&key).cloned() else {
            return;
        };
        if resp.status < 200 {
            match purpose {
                Purpose::Invite(fork) => self.on_fork_provisional(now, fork, resp, dialog),
                Purpose::AppInvite(id) => self.on_app_provisional(now, id, resp, dialog),
                _ => {}
            }
            return;
        }
        // A forked INVITE may bring several 2xx (one per dialog): its entry
        // stays until the transaction is gone (see `prune`).
        if !matches!(purpose, Purpose::Invite(_) | Purpose::AppInvite(_)) {
            self.clients.remove(&key);
        }
        match purpose {
            Purpose::Invite(fork) => self.on_fork_final(now, fork, resp, dialog),
            Purpose::AppInvite(id) => self.on_app_final(now, id, resp, dialog),
            Purpose::Bye(leg) => self.on_bye_done(now, leg),
            Purpose::Relay(r) => self.on_relay_response(now, r, resp),
            Purpose::Refresh { leg, method } => self.on_refresh_response(now, leg, method, resp),
            Purpose::InfoDtmf(leg) => self.on_info_dtmf_done(now, leg, Some(&resp)),
            Purpose::TrunkRegister(id) => self.on_trunk_register(now, id, Some(&resp)),
            Purpose::Stray => {}
        }
    }

    /// Timer B/F fired or the transport failed: RFC 3261 §8.1.3.1 treats
    /// these as 408 and 503.
    fn on_no_response(&mut self, now: Instant, key: ClientTxKey, transport: bool) {
        let Some(purpose) = self.clients.remove(&key) else {
            return;
        };
        let (code, phrase) = if transport {
            (503, "Service Unavailable")
        } else {
            (408, "Request Timeout")
        };
        match purpose {
            Purpose::Invite(fork) => {
                self.fork_failed(now, fork, code, phrase, HangupReason::Failed)
            }
            Purpose::AppInvite(id) => self.app_attempt_failed(now, id, code, HangupReason::Failed),
            Purpose::Bye(leg) => self.on_bye_done(now, leg),
            Purpose::Relay(r) => {
                self.reply(now, r.server, code, phrase, vec![], None);
                let master = self.master_of(r.to);
                self.end_bridge(now, master, ending::Cause::DialogFailed);
            }
            Purpose::Refresh { leg, .. } => {
                let master = self.master_of(leg);
                self.end_bridge(now, master, ending::Cause::DialogFailed);
            }
            Purpose::InfoDtmf(leg) => self.on_info_dtmf_done(now, leg, None),
            Purpose::TrunkRegister(id) => self.on_trunk_register(now, id, None),
            Purpose::Stray => {}
        }
    }

    fn on_leg_timer(&mut self, now: Instant, id: Uuid, timer: LegTimer) {
        match timer {
            LegTimer::Ring => {
                let unanswered = self
                    .legs
                    .get(&id)
                    .is_some_and(|l| l.is_live() && !l.is_answered());
                if unanswered {
                    self.end_bridge(now, id, ending::Cause::RingTimeout);
                }
            }
            LegTimer::MaxDuration => self.end_bridge(now, id, ending::Cause::MaxDuration),
            LegTimer::CancelGuard => {
                let ending = self.legs.get(&id).and_then(|l| l.ending);
                let (by, reason) = ending.unwrap_or((HangupBy::Local, HangupReason::Cancel));
                self.finish(now, id, by, reason, None);
            }
            LegTimer::SessionExpiry => {
                tracing::info!(call = %id, "session expired without refresh (RFC 4028 §10)");
                let master = self.master_of(id);
                self.end_bridge(now, master, ending::Cause::SessionExpired);
            }
            LegTimer::SessionRefresh => self.send_refresh(now, id),
            LegTimer::Linger => self.forget(id),
        }
    }

    /// Drops bookkeeping of transactions the endpoint no longer has.
    fn prune(&mut self) {
        // Only once the bookkeeping has grown well past the endpoint's live
        // transactions: one pass then, O(1) amortized per call.
        let (clients, servers) = self.ep.transaction_count();
        if self.clients.len() + self.servers.len() + self.by_invite.len()
            < 2 * (clients + servers) + 64
        {
            return;
        }
        let ep = &self.ep;
        self.clients.retain(|k, _| ep.client_state(*k).is_some());
        self.servers.retain(|k, _| ep.server_state(*k).is_some());
        self.by_invite.retain(|k, _| ep.server_state(*k).is_some());
    }

    /// Forgets an ended call.
    fn forget(&mut self, id: Uuid) {
        if self.legs.get(&id).is_some_and(|l| l.is_active()) {
            return;
        }
        let Some(leg) = self.legs.remove(&id) else {
            return;
        };
        for key in &leg.dialog_keys {
            if self.by_dialog.get(key) == Some(&id) {
                self.by_dialog.remove(key);
            }
        }
        if let Some(m) = leg.master() {
            if self.by_invite.get(&m.invite) == Some(&id) {
                self.by_invite.remove(&m.invite);
            }
        }
    }

    /// Routes in-dialog requests of `dialog` to `leg`.
    fn index_dialog(&mut self, dialog: DialogId, leg: Uuid) {
        if let Some(l) = self.legs.get_mut(&leg) {
            if !l.dialog_keys.contains(&dialog) {
                l.dialog_keys.push(dialog.clone());
            }
        }
        self.by_dialog.insert(dialog, leg);
    }

    /// Arms one of a leg's timers; the only way to set one, so the queue
    /// [`Engine::handle_timeout`] reads never misses a deadline.
    fn set_leg_timer(&mut self, id: Uuid, timer: LegTimer, at: Instant) {
        if let Some(l) = self.legs.get_mut(&id) {
            l.timers.set(timer, at);
            self.timer_queue.push(Reverse((at, id)));
        }
    }

    // ---- helpers shared by the submodules ----

    fn new_id(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.gen()).into_uuid()
    }

    fn new_session_id(&mut self) -> u64 {
        self.rng.gen_range(1..=u64::from(u32::MAX))
    }

    /// The master of a leg (a master is its own).
    fn master_of(&self, id: Uuid) -> Uuid {
        match self.legs.get(&id).and_then(|l| l.fork()) {
            Some(f) => f.master,
            None => id,
        }
    }

    fn emit(&mut self, kind: EventType, id: Uuid) {
        if let Some(l) = self.legs.get(&id) {
            self.events.push_back(Event::Call {
                kind,
                call: l.call.clone(),
            });
        }
    }

    fn media(&mut self, cmd: MediaCommand) {
        self.events.push_back(Event::Media(cmd));
    }

    /// Moves a call forward; a move the lifecycle forbids is logged and ignored.
    fn set_status(&mut self, now: Instant, id: Uuid, status: CallStatus) -> bool {
        let utc = self.wall.utc(now);
        let Some(leg) = self.legs.get_mut(&id) else {
            return false;
        };
        if leg.call.status == status {
            return false;
        }
        if let Err(e) = leg.call.set_status(status, utc) {
            tracing::debug!(call = %id, error = %e, "status change ignored");
            return false;
        }
        self.emit(EventType::CallUpdated, id);
        match status {
            CallStatus::Ringing => self.emit(EventType::CallRinging, id),
            CallStatus::Progressing => self.emit(EventType::CallProgressing, id),
            _ => {}
        }
        true
    }

    /// Sets a leg's `sip_code` (reported with its next status change).
    fn set_sip_code(&mut self, id: Uuid, code: u16) {
        if let Some(l) = self.legs.get_mut(&id) {
            if l.is_active() {
                l.call.sip_code = Some(code);
            }
        }
    }

    /// Ends a leg for good: `hangup` with who, why and the final SIP code;
    /// its media is closed and its port released.
    fn finish(
        &mut self,
        now: Instant,
        id: Uuid,
        by: HangupBy,
        reason: HangupReason,
        code: Option<u16>,
    ) {
        let utc = self.wall.utc(now);
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if !leg.call.hang_up(by, reason, code, utc) {
            return;
        }
        leg.ending = None;
        leg.timers.stop_all();
        let opened = std::mem::take(&mut leg.media.opened);
        let port = leg.media.port.take();
        self.set_leg_timer(id, LegTimer::Linger, now + LINGER);
        tracing::debug!(call = %id, by = by.as_str(), reason = reason.as_str(), ?code, "call ended");
        self.emit(EventType::CallUpdated, id);
        self.emit(EventType::CallHangup, id);
        if opened {
            self.media(MediaCommand::CloseLeg { leg: id });
        }
        if let Some(p) = port {
            self.ports.release(p);
        }
        if self.legs.get(&id).is_some_and(|l| l.app().is_some()) {
            self.after_app_end(now, id);
        }
    }

    /// Answers a server transaction; returns the response sent.
    /// 481: the request names a dialog or call we do not have (RFC 3261 §12.2.2).
    fn reply_481(&mut self, now: Instant, key: ServerTxKey) {
        self.reply(
            now,
            key,
            481,
            "Call/Transaction Does Not Exist",
            vec![],
            None,
        );
    }

    fn reply(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        status: u16,
        reason: &str,
        headers: Vec<Header>,
        sdp: Option<String>,
    ) -> Option<Response> {
        let mut resp = self.ep.response_for(key, status, reason).ok()?;
        for h in headers {
            resp.headers.push(h);
        }
        if let Some(body) = sdp {
            resp.set_body(Some("application/sdp"), Bytes::from(body));
        }
        match self.ep.send_response(now, key, resp.clone()) {
            Ok(()) => Some(resp),
            Err(e) => {
                tracing::debug!(%key, status, error = %e, "response not sent");
                None
            }
        }
    }

    /// Starts (or restarts, after a refresh) a leg's RFC 4028 timers.
    fn restart_session_timers(&mut self, now: Instant, id: Uuid) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        leg.timers.stop(LegTimer::SessionExpiry);
        leg.timers.stop(LegTimer::SessionRefresh);
        if !leg.is_live() {
            return;
        }
        match leg.session {
            Some(t) if t.we_refresh => {
                self.set_leg_timer(id, LegTimer::SessionRefresh, now + t.refresh_in())
            }
            Some(t) => self.set_leg_timer(id, LegTimer::SessionExpiry, now + t.expiry_in()),
            None => {}
        }
    }
}

/// `Allow`, `Supported` and `Accept` of OPTIONS answers and dialog-creating messages.
pub(crate) fn capabilities() -> Vec<Header> {
    vec![
        Header::new(HeaderName::Allow, ALLOW),
        Header::new(HeaderName::Supported, "timer"),
        Header::new(HeaderName::Accept, "application/sdp"),
    ]
}

#[cfg(test)]
mod tests {
    use super::Engine;

    #[test]
    fn the_driver_can_move_the_engine_to_its_task() {
        fn send<T: Send + std::fmt::Debug>() {}
        send::<Engine>();
    }
}
