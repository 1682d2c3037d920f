//! Application calls: legs Dialtone terminates itself, for flows.
//!
//! - **Inbound to a number.** An INVITE whose Request-URI names a number
//!   with a flow ([`Engine::set_number`]) becomes an `incoming` call that
//!   no one else is dialed for: it is answered `180 Ringing` at once and
//!   [`Event::Incoming`] asks the owner to run the flow, which answers it
//!   ([`Engine::answer`]: `200 OK` with Dialtone's own SDP answer, one
//!   voice codec plus `telephone-event` when offered) and plays, records,
//!   collects digits on its media leg.
//! - **Dialed.** [`Engine::dial`] places `outgoing` calls with Dialtone's
//!   own offer (every codec the relay handles, `telephone-event`). An
//!   `extension` rings every contact (one call each), a `sip` URI its
//!   host, a `tel` number the enabled trunks in priority order: an attempt
//!   that ends `failed` (5xx, 404, no answer at all...) is retried on the
//!   next trunk in the same call, anything else (`busy`, `noanswer`,
//!   `cancel`) ends it (seed `001`, "Failover Rules"); every attempt is
//!   recorded in the call's `attempts`. A gateway's 401/407 is answered
//!   once per attempt with the trunk's credentials.
//! - **Groups.** The destinations of one dial ring all at once
//!   (`ring_all`: the first answer wins, the others are cancelled, `cancel`)
//!   or one after another (`linear`: the next when the previous ended
//!   without answer, each for the ring timeout).
//! - **Join** (`connect`): the answered call of a dial with `join` is
//!   bridged with that call (early media too); it ends when that call ends;
//!   when it ends first, the joined call is unbridged and goes on.
//! - Re-INVITEs and UPDATEs on application legs are answered here (hold
//!   from the phone, codec or address changes), never carried across;
//!   INFO DTMF is reported and answered 200.

use super::{capabilities, ending::Cause, Engine, Purpose};
use crate::dial::{Dial, DialDestination, TrunkRoute};
use crate::directory;
use crate::error::EngineError;
use crate::event::{Event, MediaCommand};
use crate::leg::{App, AppSide, Leg, Outbound, Role};
use crate::media::{parse_body, LegMedia};
use crate::session_timer;
use crate::timers::LegTimer;
use bytes::Bytes;
use model::{
    Address, AddressType, Call, CallAttempt, CallStatus, Direction, EventType, HangupBy,
    HangupReason, RingMethod,
};
use sdp::SessionDescription;
use sip::{Header, HeaderName, Method, NameAddr, Request, Response, Uri};
use sip_core::{DialogId, ServerTxKey, Target};
use std::collections::VecDeque;
use std::time::Instant;
use uuid::Uuid;

/// One route an attempt can take.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub uri: Uri,
    pub to: Uri,
    pub target: Target,
    pub trunk: Option<TrunkRoute>,
}

/// The calls of one dial.
#[derive(Debug)]
pub(crate) struct Group {
    /// Destinations not dialed yet (linear), each its calls' routes.
    pending: VecDeque<(Address, Vec<Vec<Route>>)>,
    members: Vec<Uuid>,
    winner: Option<Uuid>,
    /// No more destinations are dialed (hung up, shutdown, the joined
    /// call ended).
    stopped: bool,
    dial: Dial,
}

impl Engine {
    /// Calls to `number` (a Request-URI user part) run `flow`; `None`
    /// removes the number.
    pub fn set_number(&mut self, number: &str, flow: Option<Uuid>) {
        match flow {
            Some(f) => {
                self.numbers.insert(number.to_owned(), f);
            }
            None => {
                self.numbers.remove(number);
            }
        }
    }

    /// Replaces the trunks.
    pub fn set_trunks(&mut self, mut trunks: Vec<TrunkRoute>) {
        trunks.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
        self.trunks = trunks;
        self.sync_trunk_registrations();
    }

    /// Whether `ip` may send INVITEs without authentication: a trusted
    /// peer of the configuration or a trunk's address.
    pub(super) fn trusted_source(&self, ip: std::net::IpAddr) -> bool {
        self.config.is_trusted(ip) || self.trunks.iter().any(|t| t.accepts(ip))
    }

    /// The flow of a dialed number, if any (`+` optional for E.164).
    /// Looked up for every INVITE: no allocation unless the exact number
    /// is not there and some number is.
    pub(super) fn number_flow(&self, number: &str) -> Option<Uuid> {
        if let Some(f) = self.numbers.get(number) {
            return Some(*f);
        }
        if self.numbers.is_empty() {
            return None;
        }
        let other = match number.strip_prefix('+') {
            Some(n) => n.to_owned(),
            None => format!("+{number}"),
        };
        self.numbers.get(&other).copied()
    }

    /// Places calls: see the module docs. Returns the calls created now
    /// (all of them for `ring_all`, the first destination's for `linear`).
    pub fn dial(&mut self, now: Instant, dial: Dial) -> Result<Vec<Uuid>, EngineError> {
        if self.shutting_down {
            return Err(EngineError::Busy("shutting down"));
        }
        if dial.destinations.is_empty() {
            return Err(EngineError::Invalid(
                "destinations: at least one is needed".into(),
            ));
        }
        if let Some(j) = dial.join {
            let leg = self.legs.get(&j).ok_or(EngineError::UnknownCall)?;
            if !leg.is_live() {
                return Err(EngineError::CallEnded);
            }
            if !leg.is_answered() {
                return Err(EngineError::NotAnswered);
            }
        }
        let mut pending = VecDeque::new();
        for (i, d) in dial.destinations.iter().enumerate() {
            let plans = self
                .plan(d)
                .map_err(|e| EngineError::Invalid(format!("destinations[{i}]: {e}")))?;
            pending.push_back((d.address.clone(), plans));
        }
        let group = self.new_id();
        let linear = dial.ring_method == RingMethod::Linear;
        self.groups.insert(
            group,
            Group {
                pending,
                members: Vec::new(),
                winner: None,
                stopped: false,
                dial,
            },
        );
        let mut created = Vec::new();
        loop {
            let next = self
                .groups
                .get_mut(&group)
                .and_then(|g| g.pending.pop_front());
            let Some((address, plans)) = next else { break };
            created.extend(self.start_destination(now, group, address, plans));
            if linear {
                break;
            }
        }
        self.drain(now);
        Ok(created)
    }

    /// The calls a destination becomes, each with its routes in order.
    fn plan(&self, d: &DialDestination) -> Result<Vec<Vec<Route>>, String> {
        let host = super::calls::host_text(self.config.public_ip);
        match d.address.kind {
            AddressType::Extension => {
                let Some(ext) = self.directory.get(&d.address.target).cloned() else {
                    return Err(format!("no extension '{}'", d.address.target));
                };
                let to = Uri::from_text(&format!("sip:{}@{host}", d.address.target))
                    .map_err(|_| format!("'{}' is not a valid extension", d.address.target))?;
                // No contact: one call that fails `noanswer` (480), as for a caller.
                let contacts = self.contacts_of(&ext);
                Ok(contacts
                    .into_iter()
                    .map(|c| {
                        vec![Route {
                            uri: c.uri,
                            to: to.clone(),
                            target: c.target,
                            trunk: None,
                        }]
                    })
                    .collect())
            }
            AddressType::Tel => {
                model::validate_e164(&d.address.target).map_err(|e| e.to_string())?;
                if self.trunks.is_empty() {
                    return Err(format!(
                        "no trunk to reach {}: add one with POST /v1/trunks",
                        d.address.target
                    ));
                }
                let routes = self
                    .trunks
                    .iter()
                    .map(|t| {
                        let gw = super::calls::host_text(t.gateway.ip());
                        let uri = Uri::from_text(&format!(
                            "sip:{}@{gw}:{};user=phone",
                            d.address.target,
                            t.gateway.port()
                        ))
                        .map_err(|_| format!("'{}' cannot be dialed", d.address.target))?;
                        Ok(Route {
                            to: uri.clone(),
                            uri,
                            target: Target {
                                transport: t.transport.clone(),
                                remote: t.gateway,
                            },
                            trunk: Some(t.clone()),
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(vec![routes])
            }
            AddressType::Sip => {
                let text = &d.address.target;
                let uri = Uri::from_text(text).map_err(|_| format!("'{text}' is not a SIP URI"))?;
                let target = match (d.resolved, directory::static_contact(text)) {
                    (_, Some(c)) => c.target,
                    (Some(remote), None) => {
                        let transport = match uri.param("transport").flatten() {
                            Some(t) => sip::Transport::from_token(t, t),
                            None => sip::Transport::Udp,
                        };
                        Target { transport, remote }
                    }
                    (None, None) => {
                        return Err(format!(
                            "'{text}': the host must be an IP address or a name the API resolved"
                        ))
                    }
                };
                Ok(vec![vec![Route {
                    to: uri.clone(),
                    uri,
                    target,
                    trunk: None,
                }]])
            }
        }
    }

    /// Creates the calls of one destination and sends their INVITEs.
    fn start_destination(
        &mut self,
        now: Instant,
        group: Uuid,
        address: Address,
        plans: Vec<Vec<Route>>,
    ) -> Vec<Uuid> {
        let Some(g) = self.groups.get(&group) else {
            return Vec::new();
        };
        let dial = g.dial.clone();
        let plans = if plans.is_empty() {
            vec![Vec::new()]
        } else {
            plans
        };
        let mut ids = Vec::new();
        for routes in plans {
            let id = self.new_id();
            let session_id = self.new_session_id();
            let mut call = Call::new(
                id,
                Direction::Outgoing,
                dial.source.clone(),
                address.clone(),
                String::new(),
                self.wall.utc(now),
            );
            call.flow_id = dial.flow_id;
            call.master_call_id = dial.join;
            let port = if routes.is_empty() {
                None
            } else {
                self.ports.allocate()
            };
            let no_port = port.is_none() && !routes.is_empty();
            self.legs.insert(
                id,
                Leg {
                    call,
                    role: Role::App(Box::new(App {
                        side: AppSide::Outbound(Box::new(Outbound {
                            group,
                            routes: routes.into(),
                            current: None,
                            attempt_started: now,
                            invite: None,
                            request: None,
                            auth_tried: false,
                            rang: false,
                        })),
                        joined: Vec::new(),
                        bridged: None,
                        join: dial.join,
                    })),
                    dialog: None,
                    media: LegMedia::new(port, session_id),
                    session: None,
                    timers: Default::default(),
                    ending: None,
                    dialog_keys: Vec::new(),
                    info_dtmf: None,
                },
            );
            if let Some(g) = self.groups.get_mut(&group) {
                g.members.push(id);
            }
            if let Some(j) = dial.join {
                let utc = self.wall.utc(now);
                if let Some(l) = self.legs.get_mut(&j) {
                    l.call.chained_call_ids.push(id);
                    l.call.tm_update = utc;
                    if let Role::App(a) = &mut l.role {
                        a.joined.push(id);
                    }
                }
                self.emit(EventType::CallUpdated, j);
            }
            self.emit(EventType::CallCreated, id);
            ids.push(id);
            if no_port {
                tracing::warn!(call = %id, "no RTP port left");
                self.finish(now, id, HangupBy::Local, HangupReason::Failed, Some(503));
                continue;
            }
            let ring = dial.ring_timeout.unwrap_or(self.config.ring_timeout);
            self.set_leg_timer(id, LegTimer::Ring, now + ring);
            self.start_attempt(now, id);
        }
        ids
    }

    /// Sends the INVITE of the call's next route, or ends the call when
    /// none is left (`noanswer` 480 for an extension without contacts).
    fn start_attempt(&mut self, now: Instant, id: Uuid) {
        let public_ip = self.config.public_ip;
        let transcode = self.config.transcode.clone();
        let host = super::calls::host_text(public_ip);
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let source = leg.call.source.clone();
        let Some(out) = leg.outbound_mut() else {
            return;
        };
        let Some(route) = out.routes.pop_front() else {
            let tried = out.current.is_some();
            if !tried {
                self.finish(now, id, HangupBy::Local, HangupReason::Noanswer, Some(480));
            }
            return;
        };
        out.current = Some(route.clone());
        out.attempt_started = now;
        out.auth_tried = false;
        out.rang = false;
        let codecs: Vec<sdp::codecs::OfferCodec> = match &route.trunk {
            Some(t) if !t.codecs.is_empty() => t
                .codecs
                .iter()
                .filter_map(|n| {
                    transcode
                        .iter()
                        .find(|c| c.spec.name.eq_ignore_ascii_case(n))
                        .cloned()
                })
                .collect(),
            _ => transcode,
        };
        let offer = own_offer(&codecs);
        let body = leg.media.anchor(&offer, public_ip);
        let user = match source.kind {
            AddressType::Extension | AddressType::Tel => source.target.clone(),
            AddressType::Sip => Uri::from_text(&source.target)
                .ok()
                .and_then(|u| u.user.map(|u| String::from_utf8_lossy(&u).into_owned()))
                .unwrap_or_else(|| "anonymous".into()),
        };
        let from =
            super::calls::from_header(&user, &host, super::calls::quoted_display(&source.name));
        let mut req = self.ep.build_request(
            Method::Invite,
            route.uri.clone(),
            from,
            NameAddr::new(route.to.clone()),
        );
        for h in capabilities() {
            req.headers.push(h);
        }
        for h in session_timer::request_headers(None) {
            req.headers.push(h);
        }
        req.set_body(Some("application/sdp"), Bytes::from(body));
        let call_id = req
            .headers
            .call_id()
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default();
        let utc = self.wall.utc(now);
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        leg.call.sip_call_id = call_id;
        leg.call.attempts.push(CallAttempt {
            trunk_id: route.trunk.as_ref().map(|t| t.id),
            route: route
                .trunk
                .as_ref()
                .map_or_else(|| "direct".to_owned(), |t| t.name.clone()),
            gateway: route.target.remote.to_string(),
            sip_code: None,
            reason: None,
            elapsed_ms: 0,
        });
        leg.call.tm_update = utc;
        let first = leg.call.attempts.len() == 1;
        if let Some(out) = leg.outbound_mut() {
            out.request = Some(req.clone());
        }
        if !first {
            self.emit(EventType::CallUpdated, id);
        }
        self.send_attempt(now, id, req, route.target);
    }

    fn send_attempt(&mut self, now: Instant, id: Uuid, req: Request, target: Target) {
        match self.ep.send_request(now, req, target.clone()) {
            Ok(k) => {
                self.clients.insert(k, Purpose::AppInvite(id));
                if let Some(out) = self.legs.get_mut(&id).and_then(|l| l.outbound_mut()) {
                    out.invite = Some(k);
                }
            }
            Err(e) => {
                tracing::warn!(call = %id, ?target, error = %e, "INVITE not sent");
                self.app_attempt_failed(now, id, 503, HangupReason::Failed);
            }
        }
    }

    /// A 1xx to a dialed call's INVITE.
    pub(super) fn on_app_provisional(
        &mut self,
        now: Instant,
        id: Uuid,
        resp: Response,
        dialog: Option<DialogId>,
    ) {
        if !self.note_ringing(id, resp.status, dialog) {
            return;
        }
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if let Some(out) = leg.outbound_mut() {
            out.rang = true;
        }
        self.set_status(now, id, CallStatus::Ringing);
        if let Some(sdp) = parse_body(&resp.body) {
            // Early media: the joined call hears the callee's ringback.
            self.set_leg_codec(id, super::codecs::leg_codec(&sdp));
            self.learn_media(id, &sdp);
            self.join_bridge(id);
        }
    }

    /// A final response to a dialed call's INVITE.
    pub(super) fn on_app_final(
        &mut self,
        now: Instant,
        id: Uuid,
        resp: Response,
        dialog: Option<DialogId>,
    ) {
        if let Some(d) = &dialog {
            self.index_dialog(d.clone(), id);
        }
        if resp.is_success() {
            self.on_app_answer(now, id, resp, dialog);
            return;
        }
        if (resp.status == 401 || resp.status == 407) && self.retry_with_credentials(now, id, &resp)
        {
            return;
        }
        let reason = HangupReason::for_final_response(resp.status);
        self.app_attempt_failed(now, id, resp.status, reason);
    }

    /// Answers a gateway's challenge once per attempt. Returns whether the
    /// INVITE was sent again.
    fn retry_with_credentials(&mut self, now: Instant, id: Uuid, resp: &Response) -> bool {
        let Some(leg) = self.legs.get_mut(&id) else {
            return false;
        };
        if !leg.is_live() {
            return false;
        }
        let Some(out) = leg.outbound_mut() else {
            return false;
        };
        let Some(trunk) = out.current.as_ref().and_then(|r| r.trunk.clone()) else {
            return false;
        };
        let (Some(user), Some(password)) = (trunk.username.clone(), trunk.password.clone()) else {
            return false;
        };
        if out.auth_tried {
            return false;
        }
        let Some(mut req) = out.request.clone() else {
            return false;
        };
        let cnonce = format!("{:016x}", rand::Rng::gen::<u64>(&mut self.rng));
        let uri = req.uri.to_string();
        let Some(auth) = sip::digest::authorize(resp, &user, &password, "INVITE", &uri, &cnonce)
        else {
            return false;
        };
        let cseq = req.headers.cseq().map(|c| c.seq + 1).unwrap_or(2);
        req.headers
            .set(Header::new(HeaderName::CSeq, format!("{cseq} INVITE")));
        req.headers.set(auth);
        let Some(out) = self.legs.get_mut(&id).and_then(|l| l.outbound_mut()) else {
            return false;
        };
        out.auth_tried = true;
        out.request = Some(req.clone());
        let target = out.current.as_ref().map(|r| r.target.clone());
        let Some(target) = target else { return false };
        self.send_attempt(now, id, req, target);
        true
    }

    /// The current attempt ended without an answer: fail over to the next
    /// route where the rules allow, else end the call.
    pub(super) fn app_attempt_failed(
        &mut self,
        now: Instant,
        id: Uuid,
        code: u16,
        reason: HangupReason,
    ) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if !leg.is_active() {
            return;
        }
        let elapsed = leg
            .outbound_mut()
            .map(|o| now.saturating_duration_since(o.attempt_started))
            .unwrap_or_default();
        if let Some(a) = leg.call.attempts.last_mut() {
            a.sip_code = Some(code);
            a.reason = Some(reason);
            a.elapsed_ms = elapsed.as_millis() as u64;
        }
        if let Some((by, r)) = leg.ending {
            // We cancelled it (ring timeout, hangup): this is the answer.
            self.finish(now, id, by, r, Some(code));
            return;
        }
        let group = leg.outbound_mut().map(|o| o.group);
        let more = leg.outbound_mut().is_some_and(|o| !o.routes.is_empty());
        let failover = group
            .and_then(|g| self.groups.get(&g))
            .is_some_and(|g| g.dial.failover && !g.stopped);
        if reason.allows_failover() && more && failover {
            tracing::info!(call = %id, code, "attempt failed; trying the next route");
            if let Some(l) = self.legs.get_mut(&id) {
                l.dialog = None;
            }
            self.start_attempt(now, id);
            return;
        }
        self.finish(now, id, HangupBy::Remote, reason, Some(code));
    }

    /// A dialed call answered.
    fn on_app_answer(&mut self, now: Instant, id: Uuid, resp: Response, dialog: Option<DialogId>) {
        let Some(d) = dialog else { return };
        let group = self
            .legs
            .get(&id)
            .and_then(|l| l.outbound().map(|o| o.group));
        let wanted = self.legs.get(&id).is_some_and(|l| l.is_live())
            && group
                .and_then(|g| self.groups.get(&g))
                .is_some_and(|g| g.winner.is_none());
        let sdp = parse_body(&resp.body);
        if !wanted || sdp.is_none() {
            self.refuse_answer(now, id, d);
            if wanted {
                // A 2xx without an answer to our offer: no call.
                self.app_attempt_failed(now, id, 488, HangupReason::Failed);
            }
            return;
        }
        let sdp = sdp.expect("checked above");
        let _ = self.ep.ack(now, &d, None);
        let elapsed = now.saturating_duration_since(
            self.legs
                .get_mut(&id)
                .and_then(|l| l.outbound_mut().map(|o| o.attempt_started))
                .unwrap_or(now),
        );
        if let Some(l) = self.legs.get_mut(&id) {
            l.dialog = Some(d);
            l.session = session_timer::from_response(&resp);
            l.timers.stop(LegTimer::Ring);
            if let Some(a) = l.call.attempts.last_mut() {
                a.sip_code = Some(200);
                a.elapsed_ms = elapsed.as_millis() as u64;
            }
        }
        if let Some(g) = group.and_then(|g| self.groups.get_mut(&g)) {
            g.winner = Some(id);
            g.pending.clear();
        }
        let others: Vec<Uuid> = group
            .and_then(|g| self.groups.get(&g))
            .map(|g| g.members.iter().copied().filter(|m| *m != id).collect())
            .unwrap_or_default();
        for other in others {
            self.end_leg(now, other, Cause::LostRace);
        }
        self.set_leg_codec(id, super::codecs::leg_codec(&sdp));
        self.set_sip_code(id, 200);
        self.set_status(now, id, CallStatus::Progressing);
        self.restart_session_timers(now, id);
        let max = now + self.config.max_call_duration;
        self.set_leg_timer(id, LegTimer::MaxDuration, max);
        self.learn_media(id, &sdp);
        self.join_bridge(id);
    }

    /// Bridges a dialed call with the call it joins, once both are open.
    fn join_bridge(&mut self, id: Uuid) {
        let Some(j) = self
            .legs
            .get(&id)
            .and_then(|l| l.app())
            .and_then(|a| a.join)
        else {
            return;
        };
        let open = |e: &Engine, x: Uuid| {
            e.legs
                .get(&x)
                .is_some_and(|l| l.media.opened && l.is_live())
        };
        if !open(self, id) || !open(self, j) {
            return;
        }
        let Some(a) = self.legs.get_mut(&j).and_then(|l| l.app_mut()) else {
            return;
        };
        if a.bridged == Some(id) {
            return;
        }
        // Early media of a ring_all sibling does not steal an answered bridge.
        if let Some(b) = a.bridged {
            let answered = self
                .legs
                .get(&b)
                .is_some_and(|l| l.is_live() && l.is_answered());
            let me_answered = self.legs.get(&id).is_some_and(|l| l.is_answered());
            if answered && !me_answered {
                return;
            }
        }
        if let Some(a) = self.legs.get_mut(&j).and_then(|l| l.app_mut()) {
            a.bridged = Some(id);
        }
        self.media(MediaCommand::Bridge { a: j, b: id });
    }

    /// After an application leg ended: unbridge the call it joined, dial
    /// the next destination of a linear dial.
    pub(super) fn after_app_end(&mut self, now: Instant, id: Uuid) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        if leg.is_active() {
            return;
        }
        let join = leg.app().and_then(|a| a.join);
        let group = leg.outbound().map(|o| o.group);
        if let Some(j) = join {
            let unbridge = self
                .legs
                .get_mut(&j)
                .and_then(|l| l.app_mut())
                .is_some_and(|a| {
                    if a.bridged == Some(id) {
                        a.bridged = None;
                        true
                    } else {
                        false
                    }
                });
            let live = self.legs.get(&j).is_some_and(|l| l.is_live());
            if unbridge && live {
                self.media(MediaCommand::Unbridge { leg: j });
            }
            if !live {
                if let Some(g) = group.and_then(|g| self.groups.get_mut(&g)) {
                    g.stopped = true;
                }
            }
        }
        let Some(gid) = group else { return };
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let live = g
            .members
            .iter()
            .any(|m| self.legs.get(m).is_some_and(|l| l.is_active()));
        if live {
            return;
        }
        // Every call of the dial has ended: dial the next destination of a
        // linear dial nobody answered, or forget the dial.
        let next = self
            .groups
            .get_mut(&gid)
            .filter(|g| g.winner.is_none() && !g.stopped)
            .and_then(|g| g.pending.pop_front());
        match next {
            Some((address, plans)) => {
                self.start_destination(now, gid, address, plans);
            }
            None => {
                self.groups.remove(&gid);
            }
        }
    }

    /// The dial (its id) that placed `call`, while the engine holds the call.
    pub fn dial_of(&self, call: Uuid) -> Option<Uuid> {
        self.legs.get(&call)?.outbound().map(|o| o.group)
    }

    /// Whether dial `dial` may still bring an answer or is up: one of its
    /// calls is active, or a destination is still to be dialed.
    pub fn dial_active(&self, dial: Uuid) -> bool {
        self.groups.contains_key(&dial)
    }

    /// Stops a dial from going on to more destinations.
    pub(super) fn stop_group_of(&mut self, id: Uuid) {
        let group = self
            .legs
            .get(&id)
            .and_then(|l| l.outbound().map(|o| o.group));
        if let Some(g) = group.and_then(|g| self.groups.get_mut(&g)) {
            g.stopped = true;
        }
    }

    /// An INVITE to a number with a flow.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn app_inbound(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        req: Request,
        source: Address,
        destination: Address,
        flow: Uuid,
        grant: Option<session_timer::SessionTimer>,
    ) {
        let id = self.new_id();
        let session_id = self.new_session_id();
        let call_id = req
            .headers
            .call_id()
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default();
        let mut call = Call::new(
            id,
            Direction::Incoming,
            source,
            destination,
            call_id,
            self.wall.utc(now),
        );
        call.flow_id = Some(flow);
        let offer = parse_body(&req.body);
        let supports = session_timer::supports_timer(&req.headers);
        self.legs.insert(
            id,
            Leg {
                call,
                role: Role::App(Box::new(App {
                    side: AppSide::Inbound {
                        invite: key,
                        request: Box::new(req),
                        grant,
                        supports_timer: supports,
                    },
                    joined: Vec::new(),
                    bridged: None,
                    join: None,
                })),
                dialog: None,
                media: LegMedia::new(None, session_id),
                session: None,
                timers: Default::default(),
                ending: None,
                dialog_keys: Vec::new(),
                info_dtmf: None,
            },
        );
        self.by_invite.insert(key, id);
        self.emit(EventType::CallCreated, id);
        let Some(offer) = offer else {
            // Dialtone answers with its own description: it needs an offer.
            self.app_reject(now, id, 488, "Not Acceptable Here", HangupReason::Failed);
            return;
        };
        if self.answer_sdp(&offer, 0).is_none() {
            self.app_reject(now, id, 488, "Not Acceptable Here", HangupReason::Failed);
            return;
        }
        let Some(port) = self.ports.allocate() else {
            tracing::warn!(call = %id, "no RTP port left");
            self.app_reject(now, id, 503, "Service Unavailable", HangupReason::Failed);
            return;
        };
        if let Some(l) = self.legs.get_mut(&id) {
            l.media.port = Some(port);
        }
        let sent = self.reply(now, key, 180, "Ringing", vec![], None);
        self.note_caller_dialog(id, sent.as_ref());
        self.set_status(now, id, CallStatus::Ringing);
        self.set_leg_timer(id, LegTimer::Ring, now + self.config.ring_timeout);
        self.events.push_back(Event::Incoming { call: id, flow });
    }

    fn app_reject(
        &mut self,
        now: Instant,
        id: Uuid,
        code: u16,
        phrase: &str,
        reason: HangupReason,
    ) {
        if let Some(key) = self.legs.get(&id).and_then(|l| l.server_invite()) {
            self.reply(now, key, code, phrase, vec![], None);
        }
        self.finish(now, id, HangupBy::Local, reason, Some(code));
    }

    /// Answers an inbound application call (a flow's `answer`, or its
    /// first media action): `200 OK` with Dialtone's SDP answer, the leg's
    /// media opens. Answering an answered call does nothing.
    pub fn answer(&mut self, now: Instant, id: Uuid) -> Result<(), EngineError> {
        let leg = self.legs.get(&id).ok_or(EngineError::UnknownCall)?;
        if !leg.is_live() {
            return Err(EngineError::CallEnded);
        }
        if leg.is_answered() {
            return Ok(());
        }
        let Some(App {
            side:
                AppSide::Inbound {
                    invite,
                    request,
                    grant,
                    supports_timer,
                },
            ..
        }) = leg.app()
        else {
            return Err(EngineError::Invalid(
                "only an inbound call running a flow can be answered".into(),
            ));
        };
        let (invite, grant, supports) = (*invite, *grant, *supports_timer);
        let offer = parse_body(&request.body).ok_or(EngineError::CallEnded)?;
        let session_id = 1;
        let answer = self
            .answer_sdp(&offer, session_id)
            .ok_or(EngineError::Invalid("no codec in common".into()))?;
        self.set_leg_codec(id, super::codecs::leg_codec(&answer));
        let body = self
            .legs
            .get_mut(&id)
            .map(|l| l.media.anchor(&answer, self.config.public_ip));
        self.accept_caller(now, id, invite, grant, supports, body);
        self.learn_media(id, &offer);
        self.drain(now);
        Ok(())
    }

    /// Our answer to `offer`: its first voice codec we handle, plus its
    /// `telephone-event` (at that codec's clock rate if offered so, else
    /// the first one).
    fn answer_sdp(
        &self,
        offer: &SessionDescription,
        session_id: u64,
    ) -> Option<SessionDescription> {
        let mut local: Vec<sdp::CodecSpec> = self
            .config
            .transcode
            .iter()
            .map(|c| c.spec.clone())
            .collect();
        for rate in [8000, 16000, 48000] {
            local.push(sdp::CodecSpec::new("telephone-event", rate, 1));
        }
        let ports: Vec<u16> = offer.media.iter().map(|_| 9).collect();
        let mut answer = sdp::answer(
            offer,
            &local,
            &self.config.public_ip.to_string(),
            &ports,
            session_id,
        )
        .ok()?;
        let list = sdp::codecs::audio_codecs(&answer);
        let voice = list.iter().find(|c| !sdp::codecs::is_auxiliary(c))?.clone();
        let te = list
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case("telephone-event"))
            .min_by_key(|c| c.clock_rate != voice.clock_rate)
            .cloned();
        let mut keep = vec![voice];
        keep.extend(te);
        sdp::codecs::set_codecs(&mut answer, &keep);
        Some(answer)
    }

    /// Dialtone's answer to an offer a peer made mid-call on an application
    /// leg (hold from the phone, a codec or address change): the codec in
    /// use when the offer still has it. `None`: no codec in common (488).
    pub(super) fn answer_app_reoffer(
        &mut self,
        id: Uuid,
        offer: &SessionDescription,
    ) -> Option<String> {
        let current = self.legs.get(&id)?.media.codec.clone();
        let mut answer = self.answer_sdp(offer, 1)?;
        if let Some(c) = current {
            let offered = sdp::codecs::audio_codecs(offer);
            if let Some(same) = offered
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(&c.name) && o.clock_rate == c.clock_rate)
            {
                let mut keep = vec![same.clone()];
                keep.extend(
                    sdp::codecs::audio_codecs(&answer)
                        .into_iter()
                        .filter(|x| x.name.eq_ignore_ascii_case("telephone-event")),
                );
                sdp::codecs::set_codecs(&mut answer, &keep);
            }
        }
        self.set_leg_codec(id, super::codecs::leg_codec(&answer));
        self.learn_media(id, offer);
        self.legs
            .get_mut(&id)
            .map(|l| l.media.anchor(&answer, self.config.public_ip))
    }
}

/// Dialtone's own offer: `codecs` in order (static payload types where
/// RFC 3551 has them, else dynamic from 96) and `telephone-event/8000` as 101.
pub(crate) fn own_offer(codecs: &[sdp::codecs::OfferCodec]) -> SessionDescription {
    let mut sdp = SessionDescription::parse(
        "v=0\r\no=dialtone 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
         m=audio 9 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
    )
    .expect("a valid description");
    sdp::codecs::extend_offer(&mut sdp, codecs);
    // Voice codecs first, in our preference; the event type last.
    let mut list = sdp::codecs::audio_codecs(&sdp);
    list.rotate_left(1);
    sdp::codecs::set_codecs(&mut sdp, &list);
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_offer_lists_every_codec_then_telephone_event() {
        let offer = own_offer(&crate::default_transcode_codecs());
        let names: Vec<String> = sdp::codecs::audio_codecs(&offer)
            .into_iter()
            .map(|c| format!("{}/{}/{}", c.payload_type, c.name, c.clock_rate))
            .collect();
        assert_eq!(
            names,
            [
                "0/PCMU/8000",
                "8/PCMA/8000",
                "9/G722/8000",
                "96/opus/48000",
                "101/telephone-event/8000"
            ]
        );
    }
}
