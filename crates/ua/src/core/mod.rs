//! The softphone's protocol core, sans-IO: SIP messages, the application's
//! commands and the current time go in; SIP messages to send, [`Event`]s for
//! the application and [`Action`]s for the media layer come out. It never
//! reads the clock or touches a socket (the layering check enforces it), so
//! every call flow of the seeds is tested on a fake clock
//! (`crates/ua/tests/core.rs`).
//!
//! ## The run loop
//!
//! [`UaCore`] implements [`net::SansIo`]; [`crate::Phone`] runs it inside
//! `net`'s driver task:
//!
//! ```text
//! loop {
//!     select! {
//!         SIP message        => core.handle_receive(now, msg),   // may emit events/actions
//!         sleep_until(core.poll_timeout()) => core.handle_timeout(now),
//!         application command => core.call(now, ..) / accept / hold / ...,
//!     }
//!     while let Some(t) = core.poll_transmit() { socket.send(t) }
//!     while let Some(o) = core.poll_event() {
//!         Output::Event(e)  => application's event stream,
//!         Output::Action(a) => the call's MediaSession (configure, video, close, auto-answer),
//!     }
//! }
//! ```
//!
//! A call's life: [`UaCore::call`] → `Dialing` → (401/407 answered once) →
//! `Ringing` / `EarlyMedia` → `Established` ⇄ `Held` / `RemotelyHeld` →
//! `Ended`. An incoming INVITE → [`Event::Incoming`] (or
//! [`Event::CallWaiting`] while another call is up) → `Ringing` → the
//! application's [`UaCore::accept`], [`UaCore::reject`], [`UaCore::ignore`]
//! or [`UaCore::forward`], or a rule (auto-answer, auto-reject, forwarding).

pub mod media_sdp;
pub mod types;

use crate::media::{MediaParams, VideoParams};
use bytes::Bytes;
use media::dtmf::info::DTMF_RELAY_CONTENT_TYPE;
use media::dtmf::{Digit, DtmfRelay};
use media_sdp::{LocalMedia, Wish};
use rand::{Rng, SeedableRng};
use sdp::SessionDescription;
use sip::{Header, HeaderName, Method, NameAddr, Request, Response, Uri};
use sip_core::{ClientTxKey, DialogId, Endpoint, EndpointConfig, ServerTxKey, Target};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
pub use types::*;

/// Methods the phone answers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY";
/// How long after a failed REGISTER the next one goes.
pub const REGISTER_RETRY: Duration = Duration::from_secs(30);
/// Redirects (3xx) an outgoing call follows at most.
pub const MAX_REDIRECTS: u32 = 5;

/// How the core is set up.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub account: Account,
    /// The address the SIP socket is bound to (Via and Contact name it).
    pub local: SocketAddr,
    pub user_agent: String,
    /// Seed for tags, branches and Call-IDs (the I/O layer passes a random one).
    pub rng_seed: u64,
    /// An incoming call nobody answered (or that was ignored) is ended with
    /// 480 after this long.
    pub ring_timeout: Duration,
}

impl CoreConfig {
    pub fn new(account: Account, local: SocketAddr, rng_seed: u64) -> CoreConfig {
        CoreConfig {
            account,
            local,
            user_agent: format!("Dialtone-Phone/{}", env!("CARGO_PKG_VERSION")),
            rng_seed,
            ring_timeout: Duration::from_secs(60),
        }
    }
}

/// What the media layer must do for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start or update the call's audio stream.
    Media { call: CallId, params: MediaParams },
    /// Start, update or (None) stop the video pass-through.
    Video {
        call: CallId,
        params: Option<VideoParams>,
    },
    /// The call ended: close its media.
    Close { call: CallId },
    /// Auto-answer is due: open the media and [`UaCore::accept`] the call.
    AutoAnswer { call: CallId },
}

/// One item of the core's output.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Event(Event),
    Action(Action),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Incoming,
    Outgoing,
}

/// A mid-call operation in flight.
#[derive(Debug, Clone)]
struct Pending {
    op: Op,
    /// INFO digits still to send, with their duration.
    digits: VecDeque<Digit>,
    duration_ms: u32,
    /// A 491 asked us to try again at this time.
    retry_at: Option<Instant>,
    /// The operation fails if it has not finished by then (a re-INVITE
    /// left at 1xx, a REFER whose NOTIFY never comes).
    give_up_at: Option<Instant>,
}

/// How long a SIP operation may take before it is reported failed.
pub const OP_TIMEOUT: Duration = Duration::from_secs(32);
/// Ended calls kept for late messages and queries; older ones are dropped.
const KEEP_ENDED: u32 = 32;

#[derive(Debug)]
struct Call {
    id: CallId,
    dir: Dir,
    state: CallState,
    sip_call_id: Bytes,
    dialog: Option<DialogId>,
    /// Outgoing: the INVITE (for challenges and redirects) and its transaction.
    request: Option<Request>,
    invite: Option<ClientTxKey>,
    auth_tried: bool,
    redirects: u32,
    /// Outgoing: the INVITE in flight got a provisional response (100 included),
    /// so a CANCEL can go (RFC 3261 §9.1).
    provisional: bool,
    /// We asked to end it before it was answered.
    cancelling: bool,
    /// Incoming: the INVITE's transaction until its final answer.
    server: Option<ServerTxKey>,
    /// Incoming: the offer (None: an offerless INVITE).
    offer: Option<SessionDescription>,
    from: Party,
    to: Party,
    /// The call carries (or offered) a video line.
    video: bool,
    video_send: bool,
    local: Option<LocalMedia>,
    sdp_version: u64,
    local_hold: bool,
    remote_hold: bool,
    pending: Option<Pending>,
    /// Incoming timers.
    ring_deadline: Option<Instant>,
    auto_answer_at: Option<Instant>,
    no_reply_at: Option<Instant>,
    /// We sent an offer in a 2xx (offerless INVITE / re-INVITE): the ACK brings the answer.
    offer_in_2xx: bool,
    /// The INVITE (or re-INVITE) transaction whose 2xx awaits its ACK.
    awaiting_ack: Option<ServerTxKey>,
}

impl Call {
    fn wish(&self) -> Wish {
        Wish {
            hold: self.local_hold,
            video_send: self.video_send,
        }
    }

    fn up_state(&self) -> CallState {
        if self.local_hold {
            CallState::Held
        } else if self.remote_hold {
            CallState::RemotelyHeld
        } else {
            CallState::Established
        }
    }

    fn is_live(&self) -> bool {
        !self.state.is_ended()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Register,
    Invite(CallId),
    ReInvite(CallId),
    Info(CallId),
    Refer(CallId),
    Other,
}

#[derive(Debug)]
struct Reg {
    state: Registration,
    /// Keep a binding (false after `unregister`).
    wanted: bool,
    request: Option<Request>,
    cseq: u32,
    tx: Option<ClientTxKey>,
    /// When the next REGISTER goes.
    next: Option<Instant>,
    auth_tried: bool,
    /// The REGISTER in flight asks for this expiry (0: unregistering).
    asking: u32,
}

/// The sans-IO phone. See the module docs for its run loop.
#[derive(Debug)]
pub struct UaCore {
    config: CoreConfig,
    ep: Endpoint,
    rng: rand::rngs::StdRng,
    calls: BTreeMap<CallId, Call>,
    by_sip_call_id: HashMap<Bytes, CallId>,
    clients: HashMap<ClientTxKey, Purpose>,
    reg: Reg,
    out: VecDeque<Output>,
    next_call: u32,
    auto_answer: Option<u8>,
    auto_reject: bool,
    dtmf_detection: bool,
    forwarding: HashMap<ForwardCondition, ForwardRule>,
}

fn party(na: &NameAddr) -> Party {
    Party {
        uri: na.uri.to_string(),
        user: na
            .uri
            .user_unescaped()
            .map(|u| String::from_utf8_lossy(&u).into_owned()),
        display_name: na
            .display_name_text()
            .map(|d| String::from_utf8_lossy(&d).into_owned()),
    }
}

fn sip_target(transport: Transport, remote: SocketAddr) -> Target {
    match transport {
        Transport::Udp => Target::udp(remote),
        Transport::Tcp => Target::tcp(remote),
    }
}

/// The same INVITE sent again (after a challenge or a redirect): CSeq one up.
fn next_cseq(req: &mut Request) {
    let seq = req.headers.cseq().map(|s| s.seq + 1).unwrap_or(2);
    req.headers
        .set(Header::new(HeaderName::CSeq, format!("{seq} INVITE")));
}

fn body_sdp(body: &Bytes) -> Option<Result<SessionDescription, String>> {
    if body.is_empty() {
        return None;
    }
    Some(
        std::str::from_utf8(body)
            .map_err(|_| "the SDP is not UTF-8".to_owned())
            .and_then(|t| SessionDescription::parse(t).map_err(|e| format!("bad SDP: {e}"))),
    )
}

impl UaCore {
    pub fn new(config: CoreConfig) -> UaCore {
        let mut ep_config = EndpointConfig::new(config.local, config.rng_seed);
        let host = host_text(config.local.ip());
        let user = if config.account.anonymous {
            "anonymous".to_owned()
        } else {
            config.account.user.clone()
        };
        let transport = match config.account.transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        if let Ok(contact) = Uri::from_text(&format!(
            "sip:{user}@{host}:{}{transport}",
            config.local.port()
        )) {
            ep_config.contact = contact;
        }
        ep_config.user_agent = Some(config.user_agent.clone());
        let rng = rand::rngs::StdRng::seed_from_u64(config.rng_seed ^ 0x5ee_d0a);
        UaCore {
            ep: Endpoint::new(ep_config),
            rng,
            calls: BTreeMap::new(),
            by_sip_call_id: HashMap::new(),
            clients: HashMap::new(),
            reg: Reg {
                state: Registration::Unregistered,
                wanted: false,
                request: None,
                cseq: 0,
                tx: None,
                next: None,
                auth_tried: false,
                asking: 0,
            },
            out: VecDeque::new(),
            next_call: 1,
            auto_answer: None,
            auto_reject: false,
            dtmf_detection: true,
            forwarding: HashMap::new(),
            config,
        }
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    // ---------------------------------------------------------------- I/O side

    /// A SIP message from the transport.
    pub fn handle_receive(&mut self, now: Instant, rx: sip_core::Received) {
        self.ep.handle_receive(now, rx);
        self.pump(now);
    }

    /// `now` reached [`UaCore::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
        self.pump(now);
        self.run_timers(now);
        self.pump(now);
    }

    pub fn poll_transmit(&mut self) -> Option<sip_core::Transmit> {
        self.ep.poll_transmit()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.ep.poll_timeout();
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        if self.reg.tx.is_none() {
            consider(self.reg.next);
        }
        for c in self.calls.values() {
            consider(c.ring_deadline);
            consider(c.auto_answer_at);
            consider(c.no_reply_at);
            consider(c.pending.as_ref().and_then(|p| p.retry_at));
            consider(c.pending.as_ref().and_then(|p| p.give_up_at));
        }
        t
    }

    // ---------------------------------------------------------------- queries

    pub fn registration(&self) -> &Registration {
        &self.reg.state
    }

    pub fn call_state(&self, call: CallId) -> Option<&CallState> {
        self.calls.get(&call).map(|c| &c.state)
    }

    /// Calls that have not ended.
    pub fn live_calls(&self) -> Vec<CallId> {
        self.calls
            .values()
            .filter(|c| c.is_live())
            .map(|c| c.id)
            .collect()
    }

    /// A call's parties: From and To of its INVITE (ours, for an outgoing call).
    pub fn parties(&self, call: CallId) -> Option<(&Party, &Party)> {
        self.calls.get(&call).map(|c| (&c.from, &c.to))
    }

    /// A call's SIP Call-ID, for logs and for matching a server's records.
    pub fn sip_call_id(&self, call: CallId) -> Option<&str> {
        self.calls
            .get(&call)
            .and_then(|c| std::str::from_utf8(&c.sip_call_id).ok())
    }

    /// Whether a call has a video line.
    pub fn has_video(&self, call: CallId) -> bool {
        self.calls.get(&call).is_some_and(|c| c.video)
    }

    // ---------------------------------------------------------------- settings

    /// Auto-answer (the embedded seed's `setAutoAnswer`): `Some(n)` answers an
    /// incoming call after `n` seconds (0: at once); `None`: off.
    pub fn set_auto_answer(&mut self, seconds: Option<u8>) {
        self.auto_answer = seconds;
    }

    pub fn auto_answer(&self) -> Option<u8> {
        self.auto_answer
    }

    /// Auto-reject (the embedded seed's `setAutoCancel`): every incoming call gets 603 Decline.
    pub fn set_auto_reject(&mut self, on: bool) {
        self.auto_reject = on;
    }

    pub fn auto_reject(&self) -> bool {
        self.auto_reject
    }

    /// Whether received digits (here: SIP INFO) are reported.
    pub fn set_dtmf_detection(&mut self, on: bool) {
        self.dtmf_detection = on;
    }

    /// Registers (sets) a forwarding rule, inactive until [`UaCore::forwarding_activate`]
    /// (the embedded seed's `setFw` mode 3); `no_reply_after` only matters for `NoReply`.
    pub fn forwarding_register(
        &mut self,
        condition: ForwardCondition,
        target: &str,
        no_reply_after: Duration,
    ) -> Result<(), UaError> {
        self.target_uri(target)?;
        let active = self.forwarding.get(&condition).is_some_and(|r| r.active);
        self.forwarding.insert(
            condition,
            ForwardRule {
                condition,
                target: target.to_owned(),
                active,
                no_reply_after,
            },
        );
        Ok(())
    }

    /// Mode 1: activate a registered rule.
    pub fn forwarding_activate(&mut self, condition: ForwardCondition) -> Result<(), UaError> {
        self.set_rule_active(condition, true)
    }

    /// Mode 0: deactivate (the rule is kept).
    pub fn forwarding_deactivate(&mut self, condition: ForwardCondition) -> Result<(), UaError> {
        self.set_rule_active(condition, false)
    }

    fn set_rule_active(
        &mut self,
        condition: ForwardCondition,
        active: bool,
    ) -> Result<(), UaError> {
        let r = self.forwarding.get_mut(&condition).ok_or_else(|| {
            UaError::Invalid(format!("no {condition:?} forwarding rule is registered"))
        })?;
        r.active = active;
        Ok(())
    }

    /// Mode 2: the rule, if one is registered.
    pub fn forwarding_query(&self, condition: ForwardCondition) -> Option<ForwardRule> {
        self.forwarding.get(&condition).cloned()
    }

    /// Mode 4: erase the rule.
    pub fn forwarding_erase(&mut self, condition: ForwardCondition) -> bool {
        self.forwarding.remove(&condition).is_some()
    }

    fn active_rule(&self, condition: ForwardCondition) -> Option<&ForwardRule> {
        self.forwarding.get(&condition).filter(|r| r.active)
    }

    // ---------------------------------------------------------------- helpers

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn act(&mut self, a: Action) {
        self.out.push_back(Output::Action(a));
    }

    fn server_target(&self) -> Target {
        sip_target(self.config.account.transport, self.config.account.server)
    }

    /// `1002` → `sip:1002@domain`; `sip:`/`sips:` URIs as they are; `tel:+49..` →
    /// `sip:+49..@domain;user=phone`.
    pub fn target_uri(&self, target: &str) -> Result<Uri, UaError> {
        let t = target.trim();
        if t.is_empty() {
            return Err(UaError::Invalid("the target is empty".into()));
        }
        let text = if t.starts_with("sip:") || t.starts_with("sips:") {
            t.to_owned()
        } else if let Some(num) = t.strip_prefix("tel:") {
            format!("sip:{num}@{};user=phone", self.config.account.domain())
        } else if t.contains('@') {
            format!("sip:{t}")
        } else {
            format!("sip:{t}@{}", self.config.account.domain())
        };
        Uri::from_text(&text)
            .map_err(|e| UaError::Invalid(format!("'{target}' is not a SIP address: {e}")))
    }

    fn aor(&self) -> NameAddr {
        let a = &self.config.account;
        let uri = Uri::from_text(&format!("sip:{}@{}", a.user, a.domain()))
            .unwrap_or_else(|_| Uri::placeholder());
        let mut na = NameAddr::new(uri);
        if let Some(d) = &a.display_name {
            na.display_name = Some(Bytes::from(format!("\"{}\"", d.replace('"', ""))));
        }
        na
    }

    /// The From of our requests: the address of record, or for an anonymous
    /// account the RFC 3323 §4.1.1.3 anonymous URI.
    fn our_from(&self) -> NameAddr {
        if self.config.account.anonymous {
            let mut na = NameAddr::new(
                Uri::from_text("sip:anonymous@anonymous.invalid").expect("a valid URI"),
            );
            na.display_name = Some(Bytes::from_static(b"\"Anonymous\""));
            na
        } else {
            self.aor()
        }
    }

    fn give_up_later(&mut self, call: CallId, at: Instant) {
        if let Some(p) = self.calls.get_mut(&call).and_then(|c| c.pending.as_mut()) {
            p.give_up_at = Some(at);
        }
    }

    fn new_call(&mut self, dir: Dir, sip_call_id: Bytes, from: Party, to: Party) -> CallId {
        // A long-lived phone keeps only its last ended calls.
        let oldest_kept = self.next_call.saturating_sub(KEEP_ENDED);
        self.calls
            .retain(|id, c| c.is_live() || id.0 >= oldest_kept);
        let calls = &self.calls;
        self.by_sip_call_id.retain(|_, id| calls.contains_key(id));
        let id = CallId(self.next_call);
        self.next_call += 1;
        self.by_sip_call_id.insert(sip_call_id.clone(), id);
        self.calls.insert(
            id,
            Call {
                id,
                dir,
                state: if dir == Dir::Outgoing {
                    CallState::Dialing
                } else {
                    CallState::Ringing
                },
                sip_call_id,
                dialog: None,
                request: None,
                invite: None,
                auth_tried: false,
                redirects: 0,
                provisional: false,
                cancelling: false,
                server: None,
                offer: None,
                from,
                to,
                video: false,
                video_send: true,
                local: None,
                sdp_version: self.rng.gen_range(1..1_000_000),
                local_hold: false,
                remote_hold: false,
                pending: None,
                ring_deadline: None,
                auto_answer_at: None,
                no_reply_at: None,
                offer_in_2xx: false,
                awaiting_ack: None,
            },
        );
        id
    }

    fn set_state(&mut self, call: CallId, state: CallState) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state == state || c.state.is_ended() {
            return;
        }
        c.state = state.clone();
        self.emit(Event::State { call, state });
    }

    /// Ends a call: state, timers, media; a pending operation fails.
    fn finish(&mut self, call: CallId, reason: EndReason, by: By, sip_code: Option<u16>) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state.is_ended() {
            return;
        }
        c.ring_deadline = None;
        c.auto_answer_at = None;
        c.no_reply_at = None;
        let had_media = c.local.is_some();
        let pending = c.pending.take();
        if let Some(p) = pending {
            self.emit(Event::Op {
                call,
                op: p.op,
                ok: false,
                error: Some("the call ended".into()),
            });
        }
        self.set_state(
            call,
            CallState::Ended {
                reason,
                by,
                sip_code,
            },
        );
        if had_media {
            self.act(Action::Close { call });
        }
    }

    fn op_done(&mut self, call: CallId, result: Result<(), String>) {
        let Some(p) = self.calls.get_mut(&call).and_then(|c| c.pending.take()) else {
            return;
        };
        self.emit(Event::Op {
            call,
            op: p.op,
            ok: result.is_ok(),
            error: result.err(),
        });
    }

    /// The call, if no operation is in flight on it: while one is, every
    /// other is refused `Busy` before any state rule is checked (the CPaaS
    /// seed: an operation cannot start while another is in progress).
    fn idle_call(&self, call: CallId) -> Result<&Call, UaError> {
        let c = self.calls.get(&call).ok_or(UaError::NoCall(call))?;
        match &c.pending {
            Some(p) => Err(UaError::Busy { call, op: p.op }),
            None => Ok(c),
        }
    }

    /// Claims the call's one operation slot (the CPaaS seed: an operation
    /// cannot start while another is in progress).
    pub fn begin_op(&mut self, call: CallId, op: Op) -> Result<(), UaError> {
        let c = self.calls.get_mut(&call).ok_or(UaError::NoCall(call))?;
        if let Some(p) = &c.pending {
            return Err(UaError::Busy { call, op: p.op });
        }
        if !c.state.is_up() {
            return Err(UaError::State {
                call,
                message: format!(
                    "{op:?} needs an established call (it is {})",
                    c.state.name()
                ),
            });
        }
        c.pending = Some(Pending {
            op,
            digits: VecDeque::new(),
            duration_ms: 0,
            retry_at: None,
            give_up_at: None,
        });
        Ok(())
    }

    /// Reports the end of an operation the media layer carried out (mute, RFC 4733 digits, recording).
    pub fn finish_op(&mut self, call: CallId, result: Result<(), String>) {
        self.op_done(call, result);
    }

    // ---------------------------------------------------------------- registration

    /// Starts registering (and keeps the binding refreshed).
    pub fn register(&mut self, now: Instant) -> Result<(), UaError> {
        if self.config.account.anonymous {
            return Err(UaError::Invalid(
                "an anonymous account does not register".into(),
            ));
        }
        self.reg.wanted = true;
        if self.reg.tx.is_none() {
            self.send_register(now, None);
        }
        Ok(())
    }

    /// Removes the binding (`Expires: 0`) and stops refreshing.
    pub fn unregister(&mut self, now: Instant) {
        self.reg.wanted = false;
        self.reg.next = None;
        // One REGISTER at a time: the answer to the one in flight sends the removal.
        if self.reg.tx.is_some() || matches!(self.reg.state, Registration::Unregistered) {
            return;
        }
        self.send_register(now, None);
    }

    fn send_register(&mut self, now: Instant, auth: Option<Header>) {
        let expires = if self.reg.wanted {
            self.config.account.expires
        } else {
            0
        };
        let mut req = match self.reg.request.clone() {
            Some(r) => r,
            None => {
                let aor = self.aor();
                let uri = Uri::from_text(&format!("sip:{}", self.config.account.domain()))
                    .unwrap_or_else(|_| Uri::placeholder());
                let mut to = aor.clone();
                to.params = Default::default();
                self.ep.build_request(Method::Register, uri, aor, to)
            }
        };
        self.reg.cseq += 1;
        req.headers.set(Header::new(
            HeaderName::CSeq,
            format!("{} REGISTER", self.reg.cseq),
        ));
        req.headers
            .set(Header::new(HeaderName::Expires, expires.to_string()));
        req.headers.remove(&HeaderName::Authorization);
        req.headers.remove(&HeaderName::ProxyAuthorization);
        if auth.is_none() {
            self.reg.auth_tried = false;
        }
        // The template keeps Call-ID and From tag for every refresh (RFC 3261 §10.2.4).
        self.reg.request = Some(req.clone());
        if let Some(auth) = auth {
            req.headers.set(auth);
        }
        self.reg.asking = expires;
        // A refresh of a live binding is not a change the user sees.
        if expires > 0 && !matches!(self.reg.state, Registration::Registered { .. }) {
            self.set_registration(Registration::Registering);
        }
        let target = self.server_target();
        match self.ep.send_request(now, req, target) {
            Ok(k) => {
                self.clients.insert(k, Purpose::Register);
                self.reg.tx = Some(k);
            }
            Err(e) => {
                self.reg.tx = None;
                self.register_failed(now, None, format!("REGISTER not sent: {e}"));
            }
        }
    }

    fn set_registration(&mut self, state: Registration) {
        if self.reg.state != state {
            self.reg.state = state.clone();
            self.emit(Event::Registration(state));
        }
    }

    fn register_failed(&mut self, now: Instant, code: Option<u16>, reason: String) {
        if self.reg.wanted {
            self.reg.next = Some(now + REGISTER_RETRY);
            self.set_registration(Registration::Failed {
                sip_code: code,
                reason,
            });
        } else {
            self.set_registration(Registration::Unregistered);
        }
    }

    fn on_register_response(&mut self, now: Instant, resp: Response) {
        self.reg.tx = None;
        if resp.status == 401 || resp.status == 407 {
            if !self.reg.auth_tried {
                if let Some(req) = self.reg.request.clone() {
                    if let Some(auth) = self.credentials(&req, &resp) {
                        self.reg.auth_tried = true;
                        self.send_register(now, Some(auth));
                        return;
                    }
                }
            }
            self.register_failed(
                now,
                Some(resp.status),
                "the registrar refused the credentials".into(),
            );
            return;
        }
        if resp.status == 423 {
            if let Ok(Some(min)) = resp.headers.min_expires() {
                if self.reg.wanted && min > self.config.account.expires {
                    self.config.account.expires = min;
                    self.send_register(now, None);
                    return;
                }
            }
        }
        if !resp.is_success() {
            let reason = String::from_utf8_lossy(&resp.reason).into_owned();
            self.register_failed(now, Some(resp.status), reason);
            return;
        }
        if self.reg.asking == 0 {
            self.set_registration(Registration::Unregistered);
            if self.reg.wanted {
                // register() came while the removal was in flight.
                self.send_register(now, None);
            }
            return;
        }
        // The granted expiry: our Contact's `expires`, else Expires, else what we asked.
        let ours = self.ep.config().contact.clone();
        let granted = match resp.headers.contact() {
            Ok(Some(sip::Contact::Addrs(list))) => list
                .iter()
                .find(|c| c.uri.equivalent(&ours))
                .and_then(|c| c.params.value("expires"))
                .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u32>().ok()),
            _ => None,
        }
        .or_else(|| resp.headers.expires().ok().flatten())
        .unwrap_or(self.reg.asking);
        if granted == 0 {
            self.register_failed(
                now,
                Some(resp.status),
                "the registrar granted no time".into(),
            );
            return;
        }
        self.reg.next = Some(now + Duration::from_secs(u64::from(granted.max(2)) / 2));
        self.set_registration(Registration::Registered { expires: granted });
        if !self.reg.wanted {
            // unregister() came while this REGISTER was in flight.
            self.send_register(now, None);
        }
    }

    /// Digest credentials for `req` answering `resp`'s challenge.
    fn credentials(&mut self, req: &Request, resp: &Response) -> Option<Header> {
        let a = &self.config.account;
        let password = a.password.as_deref()?;
        let user = a.auth_user.as_deref().unwrap_or(&a.user);
        let cnonce = format!("{:016x}", self.rng.gen::<u64>());
        sip::digest::authorize(
            resp,
            user,
            password,
            &req.method.to_string(),
            &req.uri.to_string(),
            &cnonce,
        )
    }

    // ---------------------------------------------------------------- outgoing calls

    /// Places a call to `target` (a number in the account's domain, `user@host`
    /// or a SIP URI) with media at `local`; `video` adds a video line.
    pub fn call(
        &mut self,
        now: Instant,
        target: &str,
        local: LocalMedia,
        video: bool,
    ) -> Result<CallId, UaError> {
        let uri = self.target_uri(target)?;
        let from = self.our_from();
        let mut req = self.ep.build_request(
            Method::Invite,
            uri.clone(),
            from.clone(),
            NameAddr::new(uri.clone()),
        );
        req.headers.push(Header::new(HeaderName::Allow, ALLOW));
        if self.config.account.anonymous {
            req.headers.push(Header::new(
                HeaderName::Other(Bytes::from_static(b"Privacy")),
                "id",
            ));
        }
        let sip_call_id = req.headers.call_id().unwrap_or_default();
        let id = self.new_call(
            Dir::Outgoing,
            sip_call_id,
            party(&from),
            party(&NameAddr::new(uri)),
        );
        let c = self.calls.get_mut(&id).expect("just made");
        c.video = video && local.video.is_some();
        c.local = Some(local);
        let body = media_sdp::offer(&local, c.sdp_version, c.wish(), c.video);
        req.set_body(Some("application/sdp"), Bytes::from(body));
        c.request = Some(req.clone());
        self.emit(Event::State {
            call: id,
            state: CallState::Dialing,
        });
        self.send_invite(now, id, req);
        Ok(id)
    }

    fn send_invite(&mut self, now: Instant, id: CallId, req: Request) {
        let target = self.server_target();
        match self.ep.send_request(now, req, target) {
            Ok(k) => {
                self.clients.insert(k, Purpose::Invite(id));
                if let Some(c) = self.calls.get_mut(&id) {
                    c.invite = Some(k);
                    c.provisional = false;
                }
            }
            Err(e) => {
                self.emit(Event::Error {
                    call: Some(id),
                    message: format!("INVITE not sent: {e}"),
                });
                self.finish(id, EndReason::Failed, By::Local, None);
            }
        }
    }

    fn on_invite_response(
        &mut self,
        now: Instant,
        id: CallId,
        resp: Response,
        dialog: Option<DialogId>,
    ) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if resp.is_provisional() {
            c.provisional = true;
            if resp.status == 100 || !c.is_live() {
                return;
            }
            if c.cancelling {
                return;
            }
            let sdp = body_sdp(&resp.body).and_then(Result::ok);
            match sdp {
                Some(sdp) => {
                    let wish = c.wish();
                    if let Ok(mut n) = media_sdp::negotiated(&sdp, wish) {
                        // Early media: listen only until the answer.
                        n.audio.send = false;
                        self.act(Action::Media {
                            call: id,
                            params: n.audio,
                        });
                        self.set_state(id, CallState::EarlyMedia);
                    }
                }
                None => {
                    if c.state == CallState::Dialing {
                        self.set_state(id, CallState::Ringing);
                    }
                }
            }
            return;
        }
        if resp.is_success() {
            let Some(d) = dialog else {
                return;
            };
            let _ = self.ep.ack(now, &d, None);
            let c = self.calls.get_mut(&id).expect("checked");
            if !c.is_live() || c.cancelling || c.dialog.as_ref().is_some_and(|x| *x != d) {
                // Answered after we gave up, or a second fork: hang it up.
                let cancelling = c.cancelling;
                self.bye_dialog(now, &d);
                if cancelling {
                    self.finish(id, EndReason::Cancel, By::Local, None);
                }
                return;
            }
            c.dialog = Some(d);
            c.invite = None;
            self.take_answer(now, id, &resp.body, "the answer has no SDP");
            return;
        }
        // A final failure.
        c.invite = None;
        let (auth_tried, cancelling, request) = (c.auth_tried, c.cancelling, c.request.clone());
        if (resp.status == 401 || resp.status == 407) && !auth_tried && !cancelling {
            if let Some(mut req) = request {
                if let Some(auth) = self.credentials(&req, &resp) {
                    next_cseq(&mut req);
                    req.headers.set(auth);
                    let c = self.calls.get_mut(&id).expect("checked");
                    c.auth_tried = true;
                    c.request = Some(req.clone());
                    self.send_invite(now, id, req);
                    return;
                }
            }
        }
        let c = self.calls.get_mut(&id).expect("checked");
        if (300..400).contains(&resp.status) && !c.cancelling && c.redirects < MAX_REDIRECTS {
            let contact = match resp.headers.contact() {
                Ok(Some(sip::Contact::Addrs(list))) => list.into_iter().next(),
                _ => None,
            };
            if let (Some(contact), Some(mut req)) = (contact, c.request.clone()) {
                // RFC 3261 §8.1.3.4: a new request to the Contact, same Call-ID, CSeq up.
                req.uri = contact.uri.clone();
                req.uri
                    .params
                    .0
                    .retain(|p| !p.name.eq_ignore_ascii_case(b"transport"));
                next_cseq(&mut req);
                req.headers.remove(&HeaderName::Authorization);
                req.headers.remove(&HeaderName::ProxyAuthorization);
                c.redirects += 1;
                c.auth_tried = false;
                c.request = Some(req.clone());
                tracing::info!(call = %id, to = %contact.uri, "following a {} redirect", resp.status);
                self.send_invite(now, id, req);
                return;
            }
        }
        let reason = if c.cancelling {
            EndReason::Cancel
        } else {
            EndReason::for_status(resp.status)
        };
        let by = if c.cancelling { By::Local } else { By::Remote };
        self.finish(id, reason, by, Some(resp.status));
    }

    fn apply_media(&mut self, id: CallId, n: media_sdp::Negotiated) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let video = if c.video { n.video } else { None };
        self.act(Action::Media {
            call: id,
            params: n.audio,
        });
        if self.calls[&id].video {
            self.act(Action::Video {
                call: id,
                params: video,
            });
        }
    }

    /// An answer we cannot use: end the call with BYE.
    fn fail_media(&mut self, now: Instant, id: CallId, why: String) {
        self.emit(Event::Error {
            call: Some(id),
            message: why,
        });
        self.send_bye(now, id);
        self.finish(id, EndReason::Failed, By::Local, Some(488));
    }

    /// The peer's answer to our offer (in a 2xx, or in the ACK after an
    /// offer of ours in a 2xx) sets up the media and the call is up; an
    /// unusable or missing one ends the call.
    fn take_answer(&mut self, now: Instant, id: CallId, body: &Bytes, missing: &str) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        match body_sdp(body) {
            Some(Ok(sdp)) => match media_sdp::negotiated(&sdp, c.wish()) {
                Ok(n) => {
                    c.remote_hold = n.peer_holds;
                    self.apply_media(id, n);
                    let st = self.calls[&id].up_state();
                    self.set_state(id, st);
                }
                Err(e) => self.fail_media(now, id, e),
            },
            _ => self.fail_media(now, id, missing.into()),
        }
    }

    fn send_bye(&mut self, now: Instant, id: CallId) {
        if let Some(d) = self.calls.get(&id).and_then(|c| c.dialog.clone()) {
            self.bye_dialog(now, &d);
        }
    }

    fn bye_dialog(&mut self, now: Instant, d: &DialogId) {
        if let Ok(bye) = self.ep.dialog_request(d, Method::Bye) {
            if let Ok(k) = self.ep.send_in_dialog(now, d, bye) {
                self.clients.insert(k, Purpose::Other);
            }
        }
    }

    // ---------------------------------------------------------------- incoming calls

    fn on_new_invite(&mut self, now: Instant, key: ServerTxKey, req: Request) {
        if self.config.account.anonymous {
            let _ = self
                .ep
                .respond(now, key, 403, "Anonymous Phone Takes No Calls");
            return;
        }
        let offer = match body_sdp(&req.body) {
            Some(Ok(sdp)) => Some(sdp),
            Some(Err(e)) => {
                tracing::info!(error = %e, "INVITE with a bad SDP");
                let _ = self.ep.respond(now, key, 400, "Bad SDP");
                return;
            }
            None => None,
        };
        if let Some(o) = &offer {
            if media_sdp::negotiated(
                o,
                Wish {
                    hold: false,
                    video_send: true,
                },
            )
            .is_err()
            {
                let _ = self.ep.respond(now, key, 488, "Not Acceptable Here");
                return;
            }
        }
        let from = req.headers.from().map(|na| party(&na)).unwrap_or_default();
        let to = req.headers.to().map(|na| party(&na)).unwrap_or_default();
        let sip_call_id = req.headers.call_id().unwrap_or_default();
        let video = offer.as_ref().is_some_and(media_sdp::offers_video);
        let active = self.active_call();
        let id = self.new_call(Dir::Incoming, sip_call_id, from.clone(), to.clone());
        {
            let c = self.calls.get_mut(&id).expect("just made");
            c.server = Some(key);
            c.offer = offer;
            c.video = video;
        }
        // Rules that answer before anything rings.
        if let Some(rule) = self.active_rule(ForwardCondition::Unconditional).cloned() {
            self.forward_by_rule(now, id, rule);
            return;
        }
        if active.is_some() {
            if let Some(rule) = self.active_rule(ForwardCondition::Busy).cloned() {
                self.forward_by_rule(now, id, rule);
                return;
            }
        }
        if self.auto_reject {
            self.emit(Event::Incoming {
                call: id,
                from,
                to,
                video,
            });
            self.answer_final(now, id, 603, "Decline");
            self.finish(id, EndReason::Decline, By::Local, Some(603));
            return;
        }
        let _ = self.ep.respond(now, key, 180, "Ringing");
        match active {
            Some(active) => self.emit(Event::CallWaiting {
                call: id,
                from,
                to,
                video,
                active,
            }),
            None => self.emit(Event::Incoming {
                call: id,
                from,
                to,
                video,
            }),
        }
        self.emit(Event::State {
            call: id,
            state: CallState::Ringing,
        });
        let ring_timeout = self.config.ring_timeout;
        let no_reply = self
            .active_rule(ForwardCondition::NoReply)
            .map(|r| r.no_reply_after);
        let auto = if active.is_none() {
            self.auto_answer
        } else {
            None
        };
        let c = self.calls.get_mut(&id).expect("just made");
        c.ring_deadline = Some(now + ring_timeout);
        c.no_reply_at = no_reply.map(|d| now + d);
        if let Some(s) = auto {
            c.auto_answer_at = Some(now + Duration::from_secs(u64::from(s)));
        }
    }

    /// The call the user is in, which makes a new one wait (or busy-forwarded):
    /// one that is up, else one we are placing. A call still ringing here
    /// does not count: two calls ringing at once are both `Incoming`.
    fn active_call(&self) -> Option<CallId> {
        let live = || self.calls.values().filter(|c| c.is_live());
        live()
            .find(|c| c.state.is_up())
            .or_else(|| live().find(|c| c.dir == Dir::Outgoing))
            .map(|c| c.id)
    }

    fn answer_final(&mut self, now: Instant, id: CallId, code: u16, reason: &str) {
        if let Some(key) = self.calls.get_mut(&id).and_then(|c| c.server.take()) {
            let _ = self.ep.respond(now, key, code, reason);
        }
    }

    fn forward_by_rule(&mut self, now: Instant, id: CallId, rule: ForwardRule) {
        match self.redirect(now, id, &rule.target) {
            Ok(()) => {
                self.emit(Event::Forwarded {
                    call: id,
                    condition: rule.condition,
                    target: rule.target,
                });
                self.finish(id, EndReason::Forwarded, By::Local, Some(302));
            }
            Err(e) => {
                self.emit(Event::Error {
                    call: Some(id),
                    message: e.to_string(),
                });
                self.answer_final(now, id, 480, "Temporarily Unavailable");
                self.finish(id, EndReason::Failed, By::Local, Some(480));
            }
        }
    }

    fn redirect(&mut self, now: Instant, id: CallId, target: &str) -> Result<(), UaError> {
        let uri = self.target_uri(target)?;
        let key = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.server.take())
            .ok_or(UaError::State {
                call: id,
                message: "the call is not ringing".into(),
            })?;
        let mut resp = self
            .ep
            .response_for(key, 302, "Moved Temporarily")
            .map_err(|e| UaError::Sip(e.to_string()))?;
        resp.headers.remove(&HeaderName::Contact);
        resp.headers
            .push(Header::typed(HeaderName::Contact, &NameAddr::new(uri)));
        self.ep
            .send_response(now, key, resp)
            .map_err(|e| UaError::Sip(e.to_string()))
    }

    fn ringing_call(&self, call: CallId) -> Result<&Call, UaError> {
        let c = self.calls.get(&call).ok_or(UaError::NoCall(call))?;
        if c.dir != Dir::Incoming || c.server.is_none() || !c.is_live() {
            return Err(UaError::State {
                call,
                message: format!("the call is not ringing here (it is {})", c.state.name()),
            });
        }
        Ok(c)
    }

    /// Whether an incoming call offered video.
    pub fn offers_video(&self, call: CallId) -> bool {
        self.calls
            .get(&call)
            .is_some_and(|c| c.dir == Dir::Incoming && c.video)
    }

    /// Answers a ringing call with media at `local`; `video` accepts its
    /// video line (else it is refused). A call that is up is put on hold
    /// first (call waiting).
    pub fn accept(
        &mut self,
        now: Instant,
        call: CallId,
        local: LocalMedia,
        video: bool,
    ) -> Result<(), UaError> {
        self.ringing_call(call)?;
        let others: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.id != call && c.state.is_up() && !c.local_hold)
            .map(|c| c.id)
            .collect();
        for other in others {
            if self.begin_op(other, Op::Hold).is_ok() {
                self.send_reinvite(now, other);
            }
        }
        let c = self.calls.get_mut(&call).expect("checked");
        c.video = c.video && video && local.video.is_some();
        c.local = Some(local);
        c.ring_deadline = None;
        c.auto_answer_at = None;
        c.no_reply_at = None;
        c.sdp_version += 1;
        let key = c.server.take().expect("checked");
        let body = match &c.offer {
            Some(offer) => match media_sdp::answer(offer, &local, c.sdp_version, c.wish(), c.video)
            {
                Ok(b) => b,
                Err(e) => {
                    let _ = self.ep.respond(now, key, 488, "Not Acceptable Here");
                    self.finish(call, EndReason::Failed, By::Local, Some(488));
                    return Err(UaError::Invalid(e));
                }
            },
            None => {
                c.offer_in_2xx = true;
                media_sdp::offer(&local, c.sdp_version, c.wish(), c.video)
            }
        };
        let mut resp = self
            .ep
            .response_for(key, 200, "OK")
            .map_err(|e| UaError::Sip(e.to_string()))?;
        resp.headers.push(Header::new(HeaderName::Allow, ALLOW));
        resp.set_body(Some("application/sdp"), Bytes::from(body));
        self.ep
            .send_response(now, key, resp)
            .map_err(|e| UaError::Sip(e.to_string()))?;
        let c = self.calls.get_mut(&call).expect("checked");
        c.awaiting_ack = Some(key);
        if let Some(offer) = c.offer.clone() {
            match media_sdp::negotiated(&offer, c.wish()) {
                Ok(n) => {
                    c.remote_hold = n.peer_holds;
                    self.apply_media(call, n);
                }
                Err(e) => return Err(UaError::Invalid(e)),
            }
        }
        let st = self.calls[&call].up_state();
        self.set_state(call, st);
        Ok(())
    }

    /// Rejects a ringing call: 486 Busy Here or 603 Decline (any 4xx-6xx is
    /// sent as given). A 486 with an active busy-forwarding rule forwards instead.
    pub fn reject(&mut self, now: Instant, call: CallId, code: u16) -> Result<(), UaError> {
        self.ringing_call(call)?;
        if !(400..700).contains(&code) {
            return Err(UaError::Invalid(format!(
                "a rejection is a 4xx-6xx code, not {code}"
            )));
        }
        if code == 486 {
            if let Some(rule) = self.active_rule(ForwardCondition::Busy).cloned() {
                self.forward_by_rule(now, call, rule);
                return Ok(());
            }
        }
        let reason = match code {
            486 => "Busy Here",
            603 => "Decline",
            480 => "Temporarily Unavailable",
            _ => "Rejected",
        };
        self.answer_final(now, call, code, reason);
        self.finish(call, EndReason::for_status(code), By::Local, Some(code));
        Ok(())
    }

    /// Stops alerting: no answer is sent until the caller gives up or the
    /// ring timeout answers 480.
    pub fn ignore(&mut self, call: CallId) -> Result<(), UaError> {
        self.ringing_call(call)?;
        let c = self.calls.get_mut(&call).expect("checked");
        c.auto_answer_at = None;
        Ok(())
    }

    /// Forwards a ringing call with 302 to `target`.
    pub fn forward(&mut self, now: Instant, call: CallId, target: &str) -> Result<(), UaError> {
        self.ringing_call(call)?;
        self.redirect(now, call, target)?;
        self.finish(call, EndReason::Forwarded, By::Local, Some(302));
        Ok(())
    }

    /// The phone could not open media for a ringing call: the not-reachable
    /// rule forwards it, else it gets 480.
    pub fn unreachable(&mut self, now: Instant, call: CallId) {
        if self.ringing_call(call).is_err() {
            return;
        }
        if let Some(rule) = self.active_rule(ForwardCondition::NotReachable).cloned() {
            self.forward_by_rule(now, call, rule);
        } else {
            self.answer_final(now, call, 480, "Temporarily Unavailable");
            self.finish(call, EndReason::Failed, By::Local, Some(480));
        }
    }

    // ---------------------------------------------------------------- ending

    /// Ends a call in any state: CANCEL while dialing, 486 while ringing
    /// here, BYE once up.
    pub fn end(&mut self, now: Instant, call: CallId) -> Result<(), UaError> {
        let c = self.calls.get_mut(&call).ok_or(UaError::NoCall(call))?;
        if !c.is_live() {
            return Err(UaError::State {
                call,
                message: "the call has already ended".into(),
            });
        }
        if c.dir == Dir::Incoming && c.server.is_some() {
            return self.reject(now, call, 486);
        }
        if c.state.is_up() {
            self.send_bye(now, call);
            self.finish(call, EndReason::Normal, By::Local, None);
            return Ok(());
        }
        // Outgoing, not answered yet.
        c.cancelling = true;
        let heard = c.provisional;
        match c.invite {
            Some(k) => {
                if let Ok(ck) = self.ep.cancel(now, k) {
                    self.clients.insert(ck, Purpose::Other);
                }
                // RFC 3261 §9.1: the CANCEL waits for a provisional response
                // (until Timer B), the user does not. A 2xx that still comes
                // is ACKed and hung up.
                if !heard {
                    self.finish(call, EndReason::Cancel, By::Local, None);
                }
            }
            None => self.finish(call, EndReason::Cancel, By::Local, None),
        }
        Ok(())
    }

    // ---------------------------------------------------------------- mid-call

    /// Puts the call on hold (re-INVITE `sendonly`). Fails if it is already held.
    pub fn hold(&mut self, now: Instant, call: CallId) -> Result<(), UaError> {
        let c = self.idle_call(call)?;
        if c.local_hold && c.state.is_up() {
            return Err(UaError::State {
                call,
                message: "the call is already on hold".into(),
            });
        }
        self.begin_op(call, Op::Hold)?;
        self.send_reinvite(now, call);
        Ok(())
    }

    /// Takes the call off hold. Fails if it is not on hold.
    pub fn unhold(&mut self, now: Instant, call: CallId) -> Result<(), UaError> {
        let c = self.idle_call(call)?;
        if !c.local_hold {
            return Err(UaError::State {
                call,
                message: "the call is not on hold".into(),
            });
        }
        self.begin_op(call, Op::Unhold)?;
        self.send_reinvite(now, call);
        Ok(())
    }

    /// Starts (`true`) or stops sending video on a call with a video line.
    pub fn video(&mut self, now: Instant, call: CallId, on: bool) -> Result<(), UaError> {
        let c = self.idle_call(call)?;
        if !c.video {
            return Err(UaError::State {
                call,
                message: "the call has no video stream".into(),
            });
        }
        if c.video_send == on {
            return Err(UaError::State {
                call,
                message: format!("video is already {}", if on { "on" } else { "off" }),
            });
        }
        self.begin_op(call, if on { Op::VideoStart } else { Op::VideoStop })?;
        self.send_reinvite(now, call);
        Ok(())
    }

    /// Offers what the pending operation (hold, unhold, video on/off) asks for.
    fn send_reinvite(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let (Some(d), Some(local), Some(op)) =
            (c.dialog.clone(), c.local, c.pending.as_ref().map(|p| p.op))
        else {
            self.op_done(call, Err("the call has no dialog".into()));
            return;
        };
        let wish = Self::op_wish(op, c.wish());
        c.sdp_version += 1;
        let body = media_sdp::offer(&local, c.sdp_version, wish, c.video);
        let result = self
            .ep
            .dialog_request(&d, Method::Invite)
            .and_then(|mut req| {
                req.set_body(Some("application/sdp"), Bytes::from(body));
                self.ep.send_in_dialog(now, &d, req)
            });
        match result {
            Ok(k) => {
                self.clients.insert(k, Purpose::ReInvite(call));
                if let Some(p) = self.calls.get_mut(&call).and_then(|c| c.pending.as_mut()) {
                    p.retry_at = None;
                    p.give_up_at = Some(now + OP_TIMEOUT);
                }
            }
            Err(sip_core::Error::InvitePending) => {
                // The peer's re-INVITE is in progress: try again shortly.
                let delay = self
                    .ep
                    .glare_retry_delay(&d)
                    .unwrap_or(Duration::from_secs(1));
                if let Some(p) = self.calls.get_mut(&call).and_then(|c| c.pending.as_mut()) {
                    p.retry_at = Some(now + delay);
                }
            }
            Err(e) => self.op_done(call, Err(format!("re-INVITE not sent: {e}"))),
        }
    }

    /// The wish an operation asks for.
    fn op_wish(op: Op, wish: Wish) -> Wish {
        match op {
            Op::Hold => Wish { hold: true, ..wish },
            Op::Unhold => Wish {
                hold: false,
                ..wish
            },
            Op::VideoStart => Wish {
                video_send: true,
                ..wish
            },
            Op::VideoStop => Wish {
                video_send: false,
                ..wish
            },
            _ => wish,
        }
    }

    fn on_reinvite_response(
        &mut self,
        now: Instant,
        call: CallId,
        resp: Response,
        dialog: Option<DialogId>,
    ) {
        if resp.is_provisional() {
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(op) = c.pending.as_ref().map(|p| p.op) else {
            // A hold done for call waiting finished after the call ended: ACK only.
            if let (true, Some(d)) = (resp.is_success(), dialog) {
                let _ = self.ep.ack(now, &d, None);
            }
            return;
        };
        if resp.is_success() {
            if let Some(d) = dialog.or_else(|| c.dialog.clone()) {
                let _ = self.ep.ack(now, &d, None);
            }
            let c = self.calls.get_mut(&call).expect("checked");
            let wish = Self::op_wish(op, c.wish());
            match body_sdp(&resp.body) {
                Some(Ok(sdp)) => match media_sdp::negotiated(&sdp, wish) {
                    Ok(n) => {
                        c.local_hold = wish.hold;
                        c.video_send = wish.video_send;
                        // The answer says whether the peer (still) holds us.
                        c.remote_hold = n.peer_holds;
                        self.apply_media(call, n);
                        self.op_done(call, Ok(()));
                        let st = self.calls[&call].up_state();
                        self.set_state(call, st);
                    }
                    Err(e) => self.op_done(call, Err(format!("unusable answer: {e}"))),
                },
                _ => self.op_done(call, Err("the answer has no SDP".into())),
            }
            return;
        }
        if resp.status == 491 {
            let delay = c
                .dialog
                .clone()
                .and_then(|d| self.ep.glare_retry_delay(&d).ok())
                .unwrap_or(Duration::from_secs(1));
            if let Some(p) = self.calls.get_mut(&call).and_then(|c| c.pending.as_mut()) {
                p.retry_at = Some(now + delay);
            }
            return;
        }
        let code = resp.status;
        self.op_done(call, Err(format!("the peer answered {code}")));
        if code == 481 || code == 408 {
            // RFC 3261 §14.1: the dialog is gone.
            self.send_bye(now, call);
            self.finish(call, EndReason::Failed, By::Remote, Some(code));
        }
    }

    /// Sends digits as SIP INFO (`application/dtmf-relay`), one request per digit.
    pub fn send_dtmf_info(
        &mut self,
        now: Instant,
        call: CallId,
        digits: &str,
        duration_ms: u32,
    ) -> Result<(), UaError> {
        let parsed = check_digits(digits)?;
        self.begin_op(call, Op::SendDtmf)?;
        if let Some(p) = self.calls.get_mut(&call).and_then(|c| c.pending.as_mut()) {
            p.digits = parsed.into();
            p.duration_ms = duration_ms;
        }
        self.next_info(now, call);
        Ok(())
    }

    fn next_info(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(d) = c.dialog.clone() else {
            return;
        };
        let Some(p) = c.pending.as_mut() else {
            return;
        };
        let Some(digit) = p.digits.pop_front() else {
            self.op_done(call, Ok(()));
            return;
        };
        let body = DtmfRelay {
            digit,
            duration_ms: Some(p.duration_ms),
        }
        .to_string();
        let result = self
            .ep
            .dialog_request(&d, Method::Info)
            .and_then(|mut req| {
                req.set_body(Some(DTMF_RELAY_CONTENT_TYPE), Bytes::from(body));
                self.ep.send_in_dialog(now, &d, req)
            });
        match result {
            Ok(k) => {
                self.clients.insert(k, Purpose::Info(call));
                self.give_up_later(call, now + OP_TIMEOUT);
            }
            Err(e) => self.op_done(call, Err(format!("INFO not sent: {e}"))),
        }
    }

    /// Blind transfer (REFER): the peer calls `target`; once it reports
    /// success (NOTIFY 2xx) this call ends `transferred`.
    pub fn transfer(&mut self, now: Instant, call: CallId, target: &str) -> Result<(), UaError> {
        let uri = self.target_uri(target)?;
        self.begin_op(call, Op::Transfer)?;
        let d = self.calls[&call].dialog.clone();
        let Some(d) = d else {
            self.op_done(call, Err("the call has no dialog".into()));
            return Ok(());
        };
        let result = self
            .ep
            .dialog_request(&d, Method::Refer)
            .and_then(|mut req| {
                req.headers
                    .push(Header::typed(HeaderName::ReferTo, &NameAddr::new(uri)));
                req.headers
                    .push(Header::typed(HeaderName::ReferredBy, &self.aor()));
                self.ep.send_in_dialog(now, &d, req)
            });
        match result {
            Ok(k) => {
                self.clients.insert(k, Purpose::Refer(call));
                // The REFER's answer, then the NOTIFY with the target's final answer.
                self.give_up_later(call, now + 2 * OP_TIMEOUT);
            }
            Err(e) => self.op_done(call, Err(format!("REFER not sent: {e}"))),
        }
        Ok(())
    }

    // ---------------------------------------------------------------- events from the endpoint

    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.ep.poll_event() {
            self.on_endpoint_event(now, ev);
        }
    }

    fn call_of_dialog(&self, d: &DialogId) -> Option<CallId> {
        self.by_sip_call_id.get(&d.call_id).copied()
    }

    fn on_endpoint_event(&mut self, now: Instant, ev: sip_core::Event) {
        use sip_core::Event as E;
        match ev {
            E::Request {
                key,
                request,
                dialog,
            } => self.on_request(now, key, request, dialog),
            E::Response {
                key,
                response,
                dialog,
            } => {
                let purpose = if response.is_provisional() {
                    self.clients.get(&key).copied()
                } else {
                    self.clients.remove(&key)
                };
                match purpose {
                    Some(Purpose::Register) => {
                        if !response.is_provisional() {
                            self.on_register_response(now, response);
                        }
                    }
                    Some(Purpose::Invite(id)) => self.on_invite_response(now, id, response, dialog),
                    Some(Purpose::ReInvite(id)) => {
                        self.on_reinvite_response(now, id, response, dialog)
                    }
                    Some(Purpose::Info(id)) => {
                        if !response.is_provisional() {
                            if response.is_success() {
                                self.next_info(now, id);
                            } else {
                                self.op_done(id, Err(format!("INFO answered {}", response.status)));
                            }
                        }
                    }
                    Some(Purpose::Refer(id)) => {
                        if !response.is_provisional() && !response.is_success() {
                            self.op_done(id, Err(format!("REFER answered {}", response.status)));
                        }
                    }
                    Some(Purpose::Other) | None => {}
                }
            }
            E::Timeout { key, .. } | E::TransportError { key } => {
                let code = if matches!(ev, E::Timeout { .. }) {
                    408
                } else {
                    503
                };
                match self.clients.remove(&key) {
                    Some(Purpose::Register) => {
                        self.reg.tx = None;
                        self.register_failed(now, None, "the registrar did not answer".into());
                    }
                    Some(Purpose::Invite(id)) => {
                        let cancelling = self.calls.get(&id).is_some_and(|c| c.cancelling);
                        if cancelling {
                            self.finish(id, EndReason::Cancel, By::Local, None);
                        } else {
                            self.finish(id, EndReason::Failed, By::Remote, Some(code));
                        }
                    }
                    Some(Purpose::ReInvite(id) | Purpose::Info(id) | Purpose::Refer(id)) => {
                        self.op_done(id, Err(format!("no answer ({code})")));
                        self.send_bye(now, id);
                        self.finish(id, EndReason::Failed, By::Remote, Some(code));
                    }
                    Some(Purpose::Other) | None => {}
                }
            }
            E::Ack {
                key,
                dialog,
                request,
            } => {
                let Some(id) = self.call_of_dialog(&dialog) else {
                    return;
                };
                let Some(c) = self.calls.get_mut(&id) else {
                    return;
                };
                if c.dialog.is_none() {
                    c.dialog = Some(dialog);
                }
                if c.awaiting_ack == Some(key) {
                    c.awaiting_ack = None;
                }
                if c.offer_in_2xx {
                    c.offer_in_2xx = false;
                    self.take_answer(now, id, &request.body, "the ACK has no SDP answer");
                }
            }
            E::AckTimeout { key, .. } => {
                // RFC 3261 §13.3.1.4: our 2xx went unacknowledged for 64*T1;
                // the session ends with BYE. (Timer H after a non-2xx names
                // no call: nothing to do.)
                let id = self
                    .calls
                    .values()
                    .find(|c| c.awaiting_ack == Some(key) && c.is_live())
                    .map(|c| c.id);
                if let Some(id) = id {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.awaiting_ack = None;
                    }
                    self.send_bye(now, id);
                    self.finish(id, EndReason::Failed, By::Remote, Some(408));
                }
            }
            E::Cancelled { request, .. } => {
                let cid = request.headers.call_id().unwrap_or_default();
                if let Some(id) = self.by_sip_call_id.get(&cid).copied() {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.server = None;
                    }
                    self.finish(id, EndReason::Cancel, By::Remote, Some(487));
                }
            }
            E::Dialog { id, state } => {
                if let Some(call) = self.call_of_dialog(&id) {
                    if let Some(c) = self.calls.get_mut(&call) {
                        if c.dialog.is_none() && state == sip_core::DialogState::Confirmed {
                            c.dialog = Some(id);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        req: Request,
        dialog: Option<DialogId>,
    ) {
        let call = dialog
            .as_ref()
            .and_then(|d| self.call_of_dialog(d))
            .filter(|id| self.calls.get(id).is_some_and(|c| c.is_live()));
        match (&req.method, call) {
            (Method::Invite, None) if dialog.is_none() => self.on_new_invite(now, key, req),
            (Method::Invite, Some(id)) => self.on_remote_reinvite(now, key, id, req, dialog),
            (Method::Update, Some(id)) => self.on_remote_reinvite(now, key, id, req, dialog),
            (Method::Bye, Some(id)) => {
                let _ = self.ep.respond(now, key, 200, "OK");
                self.finish(id, EndReason::Normal, By::Remote, None);
            }
            (Method::Info, Some(id)) => self.on_info(now, key, id, &req),
            (Method::Notify, Some(id)) => {
                let _ = self.ep.respond(now, key, 200, "OK");
                self.on_refer_notify(now, id, &req);
            }
            (Method::Options, _) => {
                if let Ok(mut resp) = self.ep.response_for(key, 200, "OK") {
                    resp.headers.push(Header::new(HeaderName::Allow, ALLOW));
                    resp.headers
                        .push(Header::new(HeaderName::Accept, "application/sdp"));
                    let _ = self.ep.send_response(now, key, resp);
                }
            }
            (_, None) if dialog.is_some() => {
                let _ = self
                    .ep
                    .respond(now, key, 481, "Call/Transaction Does Not Exist");
            }
            _ => {
                if let Ok(mut resp) = self.ep.response_for(key, 405, "Method Not Allowed") {
                    resp.headers.push(Header::new(HeaderName::Allow, ALLOW));
                    let _ = self.ep.send_response(now, key, resp);
                }
            }
        }
    }

    fn on_remote_reinvite(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        id: CallId,
        req: Request,
        dialog: Option<DialogId>,
    ) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.dialog.is_none() {
            c.dialog = dialog;
        }
        let Some(local) = c.local else {
            let _ = self.ep.respond(now, key, 491, "Request Pending");
            return;
        };
        let (body, negotiated) = match body_sdp(&req.body) {
            None => {
                if req.method == Method::Update {
                    (None, None)
                } else {
                    // An offerless re-INVITE: we offer, the ACK answers.
                    c.offer_in_2xx = true;
                    c.sdp_version += 1;
                    (
                        Some(media_sdp::offer(&local, c.sdp_version, c.wish(), c.video)),
                        None,
                    )
                }
            }
            Some(Err(_)) => {
                let _ = self.ep.respond(now, key, 400, "Bad SDP");
                return;
            }
            Some(Ok(offer)) => {
                c.sdp_version += 1;
                match (
                    media_sdp::answer(&offer, &local, c.sdp_version, c.wish(), c.video),
                    media_sdp::negotiated(&offer, c.wish()),
                ) {
                    (Ok(b), Ok(n)) => (Some(b), Some(n)),
                    _ => {
                        let _ = self.ep.respond(now, key, 488, "Not Acceptable Here");
                        return;
                    }
                }
            }
        };
        let Ok(mut resp) = self.ep.response_for(key, 200, "OK") else {
            return;
        };
        if let Some(b) = body {
            resp.set_body(Some("application/sdp"), Bytes::from(b));
        }
        let sent = self.ep.send_response(now, key, resp).is_ok();
        if sent && req.method == Method::Invite {
            if let Some(c) = self.calls.get_mut(&id) {
                c.awaiting_ack = Some(key);
            }
        }
        if let Some(n) = negotiated {
            if let Some(c) = self.calls.get_mut(&id) {
                c.remote_hold = n.peer_holds;
            }
            self.apply_media(id, n);
            if self.calls[&id].state.is_up() {
                let st = self.calls[&id].up_state();
                self.set_state(id, st);
            }
        }
    }

    fn on_info(&mut self, now: Instant, key: ServerTxKey, id: CallId, req: &Request) {
        // parse_info reads the media type itself (parameters and case ignored).
        let Some(ct) = req
            .headers
            .get(&HeaderName::ContentType)
            .map(|h| String::from_utf8_lossy(&h.value).into_owned())
        else {
            // An empty INFO (a keep-alive).
            let _ = self.ep.respond(now, key, 200, "OK");
            return;
        };
        match DtmfRelay::parse_info(&ct, &req.body) {
            Ok(relay) => {
                let _ = self.ep.respond(now, key, 200, "OK");
                if self.dtmf_detection {
                    self.emit(Event::Dtmf {
                        call: id,
                        digit: relay.digit.to_char(),
                        method: crate::media::DtmfMethod::Info,
                        duration_ms: relay.duration_ms.unwrap_or(0),
                    });
                }
            }
            Err(_) => {
                let _ = self.ep.respond(now, key, 415, "Unsupported Media Type");
            }
        }
    }

    fn on_refer_notify(&mut self, now: Instant, id: CallId, req: &Request) {
        let pending = self
            .calls
            .get(&id)
            .and_then(|c| c.pending.as_ref())
            .is_some_and(|p| p.op == Op::Transfer);
        if !pending {
            return;
        }
        // message/sipfrag: "SIP/2.0 200 OK".
        let text = String::from_utf8_lossy(&req.body);
        let Some(code) = text
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse::<u16>().ok())
        else {
            return;
        };
        if code < 200 {
            return;
        }
        if (200..300).contains(&code) {
            self.op_done(id, Ok(()));
            self.send_bye(now, id);
            self.finish(id, EndReason::Transferred, By::Local, None);
        } else {
            self.op_done(id, Err(format!("the transfer target answered {code}")));
        }
    }

    // ---------------------------------------------------------------- our timers

    fn run_timers(&mut self, now: Instant) {
        if self.reg.tx.is_none() && self.reg.next.is_some_and(|t| t <= now) {
            self.reg.next = None;
            if self.reg.wanted {
                self.send_register(now, None);
            }
        }
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            let Some(c) = self.calls.get_mut(&id) else {
                continue;
            };
            if !c.is_live() {
                continue;
            }
            if c.auto_answer_at.is_some_and(|t| t <= now) {
                c.auto_answer_at = None;
                self.act(Action::AutoAnswer { call: id });
                continue;
            }
            if c.no_reply_at.is_some_and(|t| t <= now) {
                c.no_reply_at = None;
                if let Some(rule) = self.active_rule(ForwardCondition::NoReply).cloned() {
                    self.forward_by_rule(now, id, rule);
                }
                continue;
            }
            if c.ring_deadline.is_some_and(|t| t <= now) {
                c.ring_deadline = None;
                self.answer_final(now, id, 480, "Temporarily Unavailable");
                self.finish(id, EndReason::Noanswer, By::Local, Some(480));
                continue;
            }
            if c.pending
                .as_ref()
                .is_some_and(|p| p.give_up_at.is_some_and(|t| t <= now))
            {
                let op = c.pending.as_ref().map(|p| p.op);
                self.op_done(id, Err(format!("{op:?}: no final answer in time")));
                continue;
            }
            if c.pending
                .as_ref()
                .is_some_and(|p| p.retry_at.is_some_and(|t| t <= now))
            {
                self.send_reinvite(now, id);
            }
        }
    }
}

/// Most digits one request sends (the embedded seed's limit).
pub const MAX_DIGITS: usize = 32;

/// Checks a digit string: 1 to [`MAX_DIGITS`] of `0-9 A-D * #` (lower case
/// `a-d` too); an error names the first bad character.
pub fn check_digits(digits: &str) -> Result<Vec<Digit>, UaError> {
    let parsed = media::dtmf::parse_digits(digits).map_err(|e| UaError::Invalid(e.to_string()))?;
    if parsed.is_empty() || parsed.len() > MAX_DIGITS {
        return Err(UaError::Invalid(format!(
            "DTMF digits: between 1 and {MAX_DIGITS} of 0-9, A-D, * and #"
        )));
    }
    Ok(parsed)
}

impl net::SansIo for UaCore {
    type Event = Output;

    fn handle_receive(&mut self, now: Instant, rx: net::Received) {
        UaCore::handle_receive(
            self,
            now,
            sip_core::Received {
                transport: rx.transport,
                local: rx.local,
                remote: rx.remote,
                bytes: rx.bytes,
            },
        );
    }

    fn handle_timeout(&mut self, now: Instant) {
        UaCore::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self) -> Option<net::Transmit> {
        self.ep.poll_transmit().map(|t| net::Transmit {
            transport: t.transport,
            remote: t.remote,
            bytes: t.bytes,
        })
    }

    fn poll_event(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        UaCore::poll_timeout(self)
    }
}
