//! Call setup: a caller's INVITE becomes a master call and one fork per
//! callee contact; what the forks answer is carried back to the caller.

use super::{capabilities, ending::Cause, Engine, Purpose};
use crate::directory::{self, Contact};
use crate::event::MediaCommand;
use crate::leg::{Fork, Leg, Master, Role};
use crate::media::{parse_body, LegMedia};
use crate::session_timer;
use crate::timers::LegTimer;
use bytes::Bytes;
use model::{
    validate_e164, validate_extension, Address, Call, CallStatus, Direction, EventType,
    ExtensionSecret, HangupBy, HangupReason,
};
use sdp::SessionDescription;
use sip::{Header, HeaderName, Method, NameAddr, Request, Response, Uri};
use sip_core::{AuthOutcome, Challenger, DialogId, ServerTxKey, Target};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use uuid::Uuid;

/// Who is calling, once the INVITE is allowed in.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    /// The call records' `source`.
    pub address: Address,
    /// User part of the From we send to callees.
    pub user: String,
    /// Display name (quoted as written, or built from the extension's name).
    pub display: Option<Bytes>,
}

impl Engine {
    /// A new INVITE: checked, authorized, routed, forked.
    pub(super) fn on_invite(&mut self, now: Instant, key: ServerTxKey, req: Request) {
        let Some((source, _)) = self.source.clone() else {
            return;
        };
        if self.shutting_down {
            self.reply(now, key, 503, "Service Unavailable", vec![], None);
            return;
        }
        if self.overloaded {
            self.shed_calls += 1;
            let h = vec![Header::new(HeaderName::RetryAfter, "1")];
            self.reply(now, key, 503, "Service Unavailable", h, None);
            return;
        }
        // RFC 3261 §8.2.2.3: option tags we do not support. RFC 4028 `timer` we do.
        let unsupported: Vec<String> = req
            .headers
            .require()
            .unwrap_or_default()
            .iter()
            .filter(|t| !t.eq_ignore_ascii_case(b"timer"))
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect();
        if !unsupported.is_empty() {
            let h = vec![Header::new(HeaderName::Unsupported, unsupported.join(", "))];
            self.reply(now, key, 420, "Bad Extension", h, None);
            return;
        }
        let Some(caller) = self.authorize_invite(now, key, &req, source) else {
            return;
        };
        // A call through Dialtone back to Dialtone (a static contact naming
        // itself) must not loop forever: Max-Forwards carries over.
        let max_forwards = req.headers.max_forwards().ok().flatten().unwrap_or(70);
        if max_forwards == 0 {
            self.reply(now, key, 483, "Too Many Hops", vec![], None);
            return;
        }
        let grant = match session_timer::grant(&req) {
            Ok(g) => g,
            Err(session_timer::TooSmall) => {
                let h = session_timer::too_small_headers();
                self.reply(now, key, 422, "Session Interval Too Small", h, None);
                return;
            }
        };
        let number = req
            .uri
            .user_unescaped()
            .map(|u| String::from_utf8_lossy(&u).into_owned())
            .unwrap_or_default();
        if let Some(flow) = self.number_flow(&number) {
            let destination = if validate_e164(&number).is_ok() {
                Address::tel(&number)
            } else {
                Address::extension(&number)
            };
            self.app_inbound(now, key, req, caller.address, destination, flow, grant);
            return;
        }
        let ext = self.directory.get(&number).cloned();
        let destination = match &ext {
            Some(e) => Address::extension(&e.extension.extension).with_name(&e.extension.name),
            None if validate_extension(&number).is_ok() => Address::extension(&number),
            None => Address::sip(&req.uri.to_string()),
        };
        let offer = parse_body(&req.body);
        let late_offer = req.body.is_empty();
        let master = self.create_master(now, key, req, &caller, destination, grant);

        let Some(ext) = ext else {
            self.reject_master(now, master, 404, "Not Found", HangupReason::Failed);
            return;
        };
        if offer.is_none() && !late_offer {
            self.reject_master(
                now,
                master,
                488,
                "Not Acceptable Here",
                HangupReason::Failed,
            );
            return;
        }
        let contacts = self.contacts_of(&ext);
        if contacts.is_empty() {
            let reason = HangupReason::for_final_response(480);
            self.reject_master(now, master, 480, "Temporarily Unavailable", reason);
            return;
        }
        // One port per leg, all or nothing.
        let mut ports = Vec::with_capacity(contacts.len() + 1);
        for _ in 0..=contacts.len() {
            match self.ports.allocate() {
                Some(p) => ports.push(p),
                None => break,
            }
        }
        if ports.len() <= contacts.len() {
            tracing::warn!(call = %master, "no RTP port left");
            for p in ports {
                self.ports.release(p);
            }
            self.reject_master(
                now,
                master,
                503,
                "Service Unavailable",
                HangupReason::Failed,
            );
            return;
        }
        let master_port = ports.remove(0);
        if let Some(leg) = self.legs.get_mut(&master) {
            leg.media.port = Some(master_port);
        }
        if let Some(offer) = &offer {
            self.learn_media(master, offer);
        }
        let mut forks = Vec::with_capacity(contacts.len());
        for (contact, port) in contacts.into_iter().zip(ports) {
            let hops = max_forwards - 1;
            forks.push(self.start_fork(
                now,
                master,
                contact,
                port,
                &caller,
                &ext,
                offer.as_ref(),
                hops,
            ));
        }
        let utc = self.wall.utc(now);
        if let Some(leg) = self.legs.get_mut(&master) {
            leg.call.chained_call_ids = forks.clone();
            leg.call.tm_update = utc;
            if let Some(m) = leg.master_mut() {
                m.forks = forks;
            }
        }
        self.set_leg_timer(master, LegTimer::Ring, now + self.config.ring_timeout);
        self.emit(EventType::CallUpdated, master);
        // A fork may have failed at once (nothing to send it over).
        self.check_master_done(now, master);
    }

    /// Who may call: a trusted peer by source address, else an extension
    /// by digest (RFC 3261 §22.3: 407 with Proxy-Authenticate).
    fn authorize_invite(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        req: &Request,
        source: SocketAddr,
    ) -> Option<Caller> {
        let from = req.headers.from().ok()?;
        if self.trusted_source(source.ip()) {
            return Some(trunk_caller(&from));
        }
        let dir = &self.directory;
        let outcome = self
            .auth
            .check(now, req, source.ip(), Challenger::Proxy, |u| {
                dir.get(u).map(|e| e.password.clone())
            });
        match outcome {
            AuthOutcome::Authenticated { username } => {
                // The authenticator only accepts users the directory knows.
                let ext = self.directory.get(&username)?;
                Some(extension_caller(ext))
            }
            AuthOutcome::Challenge {
                status,
                reason,
                headers,
            } => {
                self.reply(now, key, status, reason, headers, None);
                None
            }
            AuthOutcome::Forbidden { status, reason } => {
                self.reply(now, key, status, reason, vec![], None);
                None
            }
        }
    }

    fn create_master(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        req: Request,
        caller: &Caller,
        destination: Address,
        grant: Option<session_timer::SessionTimer>,
    ) -> Uuid {
        let id = self.new_id();
        let session_id = self.new_session_id();
        let call_id = req
            .headers
            .call_id()
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default();
        let call = Call::new(
            id,
            Direction::Incoming,
            caller.address.clone(),
            destination,
            call_id,
            self.wall.utc(now),
        );
        let caller_supports_timer = session_timer::supports_timer(&req.headers);
        let late_offer = req.body.is_empty();
        let leg = Leg {
            call,
            role: Role::Master(Box::new(Master {
                invite: key,
                request: req,
                forks: Vec::new(),
                winner: None,
                outcomes: Vec::new(),
                redirects: Vec::new(),
                bridged: None,
                early_media: None,
                late_offer,
                pending_fork_ack: None,
                acked: false,
                session_grant: grant,
                caller_supports_timer,
            })),
            dialog: None,
            media: LegMedia::new(None, session_id),
            session: None,
            timers: Default::default(),
            ending: None,
            dialog_keys: Vec::new(),
            info_dtmf: None,
        };
        self.legs.insert(id, leg);
        self.by_invite.insert(key, id);
        self.emit(EventType::CallCreated, id);
        id
    }

    /// The caller gets a final error before any fork exists.
    fn reject_master(
        &mut self,
        now: Instant,
        master: Uuid,
        code: u16,
        phrase: &str,
        reason: HangupReason,
    ) {
        if let Some(key) = self
            .legs
            .get(&master)
            .and_then(|l| l.master())
            .map(|m| m.invite)
        {
            self.reply(now, key, code, phrase, vec![], None);
        }
        self.finish(now, master, HangupBy::Local, reason, Some(code));
    }

    /// Where calls to `ext` go: every registrar binding (to the address
    /// the REGISTER came from, over its transport; Request-URI = the bound
    /// Contact), then the static contact. One fork per transport address.
    pub(super) fn contacts_of(&self, ext: &ExtensionSecret) -> Vec<Contact> {
        let mut out: Vec<Contact> = Vec::new();
        for b in self.registrar.bindings(&ext.extension.extension) {
            let target = Target {
                transport: b.transport.clone(),
                remote: b.source,
            };
            if !out.iter().any(|c| c.target == target) {
                out.push(Contact {
                    uri: b.contact.clone(),
                    target,
                });
            }
        }
        if let Some(text) = &ext.extension.static_contact {
            match directory::static_contact(text) {
                Some(c) if out.iter().any(|o| o.target == c.target) => {}
                Some(c) => out.push(c),
                None => tracing::warn!(
                    extension = %ext.extension.extension,
                    contact = %text,
                    "static contact is not sip:IP[:port]; ignored"
                ),
            }
        }
        out
    }

    /// Creates one fork and sends its INVITE.
    #[allow(clippy::too_many_arguments)]
    fn start_fork(
        &mut self,
        now: Instant,
        master: Uuid,
        contact: Contact,
        port: u16,
        caller: &Caller,
        ext: &ExtensionSecret,
        offer: Option<&SessionDescription>,
        max_forwards: u8,
    ) -> Uuid {
        let id = self.new_id();
        let mut media = LegMedia::new(Some(port), self.new_session_id());
        let body = offer.map(|o| media.anchor(&self.offer_for(None, o), self.config.public_ip));
        let host = host_text(self.config.public_ip);
        let number = &ext.extension.extension;
        let from = from_header(&caller.user, &host, caller.display.clone());
        let to_uri =
            Uri::from_text(&format!("sip:{number}@{host}")).unwrap_or_else(|_| contact.uri.clone());
        let mut req =
            self.ep
                .build_request(Method::Invite, contact.uri, from, NameAddr::new(to_uri));
        req.headers.set(Header::new(
            HeaderName::MaxForwards,
            max_forwards.to_string(),
        ));
        for h in capabilities() {
            req.headers.push(h);
        }
        for h in session_timer::request_headers(None) {
            req.headers.push(h);
        }
        if let Some(b) = body {
            req.set_body(Some("application/sdp"), Bytes::from(b));
        }
        let call_id = req
            .headers
            .call_id()
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default();
        let mut call = Call::new(
            id,
            Direction::Outgoing,
            caller.address.clone(),
            Address::extension(number).with_name(&ext.extension.name),
            call_id,
            self.wall.utc(now),
        );
        call.master_call_id = Some(master);
        let sent = self.ep.send_request(now, req, contact.target.clone());
        let invite = match &sent {
            Ok(k) => Some(*k),
            Err(e) => {
                tracing::warn!(call = %id, target = ?contact.target, error = %e, "INVITE not sent");
                None
            }
        };
        self.legs.insert(
            id,
            Leg {
                call,
                role: Role::Fork(Fork {
                    master,
                    invite,
                    rang: false,
                }),
                dialog: None,
                media,
                session: None,
                timers: Default::default(),
                ending: None,
                dialog_keys: Vec::new(),
                info_dtmf: None,
            },
        );
        self.emit(EventType::CallCreated, id);
        match invite {
            Some(k) => {
                self.clients.insert(k, Purpose::Invite(id));
            }
            None => self.fork_failed(now, id, 503, "Service Unavailable", HangupReason::Failed),
        }
        id
    }

    /// A 1xx to one of our INVITEs on leg `id`: its early dialog is
    /// routed to the leg (and kept as the leg's dialog if it has none).
    /// Returns whether it rings a live leg (180 or 183).
    pub(super) fn note_ringing(&mut self, id: Uuid, status: u16, dialog: Option<DialogId>) -> bool {
        if let Some(d) = &dialog {
            self.index_dialog(d.clone(), id);
        }
        let Some(leg) = self.legs.get_mut(&id) else {
            return false;
        };
        if !leg.is_live() {
            return false;
        }
        if leg.dialog.is_none() {
            leg.dialog = dialog;
        }
        status == 180 || status == 183
    }

    /// A 1xx from a fork: 180 and 183 ring both calls and go to the
    /// caller; a 183 with SDP brings early media.
    pub(super) fn on_fork_provisional(
        &mut self,
        now: Instant,
        fork: Uuid,
        resp: Response,
        dialog: Option<DialogId>,
    ) {
        if !self.note_ringing(fork, resp.status, dialog) {
            return;
        }
        let Some(leg) = self.legs.get_mut(&fork) else {
            return;
        };
        let master = match leg.fork_mut() {
            Some(f) => {
                f.rang = true;
                f.master
            }
            None => return,
        };
        self.set_status(now, fork, CallStatus::Ringing);
        let sdp = parse_body(&resp.body);
        if let Some(sdp) = &sdp {
            self.learn_media(fork, sdp);
        }
        let Some(mleg) = self.legs.get_mut(&master) else {
            return;
        };
        if !mleg.is_live() || mleg.is_answered() {
            return;
        }
        let first_ring = mleg.call.status == CallStatus::Dialing;
        let Some(m) = mleg.master_mut() else { return };
        let early = sdp.is_some() && !m.late_offer && m.early_media.is_none_or(|e| e == fork);
        if early {
            m.early_media = Some(fork);
        }
        let invite = m.invite;
        self.set_status(now, master, CallStatus::Ringing);
        if !first_ring && !early {
            return;
        }
        let body = match (&sdp, early) {
            (Some(s), true) => {
                let offer = self.caller_offer(master);
                let s = self.answer_for(master, fork, offer.as_ref(), s);
                self.legs
                    .get_mut(&master)
                    .map(|l| l.media.anchor(&s, self.config.public_ip))
            }
            _ => None,
        };
        let phrase = String::from_utf8_lossy(&resp.reason).into_owned();
        let sent = self.reply(now, invite, resp.status, &phrase, vec![], body);
        self.note_caller_dialog(master, sent.as_ref());
        if early {
            self.bridge(master, fork);
        }
    }

    /// A final response to a fork's INVITE.
    pub(super) fn on_fork_final(
        &mut self,
        now: Instant,
        fork: Uuid,
        resp: Response,
        dialog: Option<DialogId>,
    ) {
        if let Some(d) = &dialog {
            self.index_dialog(d.clone(), fork);
        }
        if resp.is_success() {
            self.on_fork_answer(now, fork, resp, dialog);
            return;
        }
        let phrase = String::from_utf8_lossy(&resp.reason).into_owned();
        let reason = HangupReason::for_final_response(resp.status);
        if (300..400).contains(&resp.status) {
            // A phone forwarding the call (302): the caller follows the Contact.
            let master = self.master_of(fork);
            let contacts: Vec<sip::Header> = resp
                .headers
                .get_all(&sip::HeaderName::Contact)
                .cloned()
                .collect();
            if let Some(m) = self.legs.get_mut(&master).and_then(|l| l.master_mut()) {
                m.redirects.extend(contacts);
            }
        }
        self.fork_failed(now, fork, resp.status, &phrase, reason);
    }

    /// A fork answered. The first 2xx wins the call; any other is ACKed
    /// and ended with BYE (RFC 3261 §13.2.2.4: the only way to end it).
    fn on_fork_answer(
        &mut self,
        now: Instant,
        fork: Uuid,
        resp: Response,
        dialog: Option<DialogId>,
    ) {
        let Some(d) = dialog else {
            return;
        };
        let Some(leg) = self.legs.get(&fork) else {
            let _ = self.ep.ack(now, &d, None);
            self.bye_stray(now, &d);
            return;
        };
        let master = leg.fork().map_or(fork, |f| f.master);
        let wanted = leg.is_live()
            && self
                .legs
                .get(&master)
                .is_some_and(|m| m.is_live() && m.master().is_some_and(|m| m.winner.is_none()));
        if !wanted {
            self.refuse_answer(now, fork, d);
            return;
        }
        let sdp = parse_body(&resp.body);
        let late_offer = self
            .legs
            .get(&master)
            .and_then(|l| l.master())
            .is_some_and(|m| m.late_offer);
        let Some(sdp) = sdp else {
            // RFC 3264: the 2xx must carry the answer (or, after a late
            // offer, the offer). Without one there is no call on this fork.
            let _ = self.ep.ack(now, &d, None);
            self.bye_stray(now, &d);
            self.set_sip_code(fork, 200);
            self.finish(now, fork, HangupBy::Remote, HangupReason::Failed, Some(200));
            self.record_outcome(master, 488, "Not Acceptable Here", HangupReason::Failed);
            self.check_master_done(now, master);
            return;
        };

        // The winner.
        if late_offer {
            // The ACK must carry our answer: it waits for the caller's ACK.
            if let Some(m) = self.legs.get_mut(&master).and_then(|l| l.master_mut()) {
                m.pending_fork_ack = Some(fork);
            }
        } else {
            let _ = self.ep.ack(now, &d, None);
        }
        if let Some(l) = self.legs.get_mut(&fork) {
            l.dialog = Some(d);
            l.session = session_timer::from_response(&resp);
        }
        self.set_sip_code(fork, 200);
        self.set_status(now, fork, CallStatus::Progressing);
        self.restart_session_timers(now, fork);
        self.learn_media(fork, &sdp);

        let (invite, others, grant, supports) = {
            let Some(m) = self.legs.get_mut(&master).and_then(|l| l.master_mut()) else {
                return;
            };
            m.winner = Some(fork);
            let others: Vec<Uuid> = m.forks.iter().copied().filter(|f| *f != fork).collect();
            (m.invite, others, m.session_grant, m.caller_supports_timer)
        };
        for other in others {
            self.end_leg(now, other, Cause::LostRace);
        }
        // A late-offer 200 carries the callee's offer: passed on as it is.
        let offer = if late_offer {
            None
        } else {
            self.caller_offer(master)
        };
        let for_caller = self.answer_for(master, fork, offer.as_ref(), &sdp);
        let body = self
            .legs
            .get_mut(&master)
            .map(|l| l.media.anchor(&for_caller, self.config.public_ip));
        self.accept_caller(now, master, invite, grant, supports, body);
        self.bridge(master, fork);
    }

    /// Answers the caller's INVITE on leg `id` with `200 OK` (`body`: the
    /// SDP) and the RFC 4028 grant: the call is answered (`progressing`,
    /// sip_code 200), its ring timer stops and its maximum duration and
    /// session timers start.
    pub(super) fn accept_caller(
        &mut self,
        now: Instant,
        id: Uuid,
        invite: ServerTxKey,
        grant: Option<session_timer::SessionTimer>,
        supports: bool,
        body: Option<String>,
    ) {
        let mut headers = capabilities();
        if let Some(g) = grant {
            headers.extend(session_timer::grant_headers(g, supports));
        }
        let sent = self.reply(now, invite, 200, "OK", headers, body);
        self.note_caller_dialog(id, sent.as_ref());
        if let Some(l) = self.legs.get_mut(&id) {
            l.session = grant;
            l.timers.stop(LegTimer::Ring);
        }
        let max = now + self.config.max_call_duration;
        self.set_leg_timer(id, LegTimer::MaxDuration, max);
        self.set_sip_code(id, 200);
        self.set_status(now, id, CallStatus::Progressing);
        self.restart_session_timers(now, id);
    }

    /// A fork failed (final non-2xx, no response, could not be sent).
    pub(super) fn fork_failed(
        &mut self,
        now: Instant,
        fork: Uuid,
        code: u16,
        phrase: &str,
        reason: HangupReason,
    ) {
        let Some(leg) = self.legs.get(&fork) else {
            return;
        };
        if !leg.is_active() {
            return;
        }
        if let Some((by, r)) = leg.ending {
            // We cancelled it (or are ending it): this is the answer to that.
            self.finish(now, fork, by, r, Some(code));
            return;
        }
        let master = self.master_of(fork);
        self.finish(now, fork, HangupBy::Remote, reason, Some(code));
        self.record_outcome(master, code, phrase, reason);
        self.check_master_done(now, master);
    }

    fn record_outcome(&mut self, master: Uuid, code: u16, phrase: &str, reason: HangupReason) {
        if let Some(m) = self.legs.get_mut(&master).and_then(|l| l.master_mut()) {
            m.outcomes.push((code, phrase.to_owned(), reason));
        }
    }

    /// Once every fork has failed, the caller gets the best of their
    /// responses (see [`best_outcome`]) and the master ends with its reason.
    pub(super) fn check_master_done(&mut self, now: Instant, master: Uuid) {
        let Some(leg) = self.legs.get(&master) else {
            return;
        };
        let Some(m) = leg.master() else { return };
        if !leg.is_live() || m.winner.is_some() || m.forks.is_empty() {
            return;
        }
        let trying = m
            .forks
            .iter()
            .any(|f| self.legs.get(f).is_some_and(|l| l.is_live()));
        if trying {
            return;
        }
        let Some((code, phrase, reason)) = best_outcome(&m.outcomes) else {
            return;
        };
        let invite = m.invite;
        let headers = if (300..400).contains(&code) {
            m.redirects.clone()
        } else {
            vec![]
        };
        let (code, phrase) = caller_facing(code, &phrase);
        self.reply(now, invite, code, &phrase, headers, None);
        self.finish(now, master, HangupBy::Remote, reason, Some(code));
    }

    /// The caller's ACK for our 2xx; after a late offer it carries the
    /// answer, which goes on to the winner in its ACK.
    pub(super) fn on_master_ack(&mut self, now: Instant, master: Uuid, req: &Request) {
        let sdp = parse_body(&req.body);
        let Some(m) = self.legs.get_mut(&master).and_then(|l| l.master_mut()) else {
            return;
        };
        m.acked = true;
        let Some(fork) = m.pending_fork_ack.take() else {
            return;
        };
        if let Some(s) = &sdp {
            self.learn_media(master, s);
        }
        let Some(d) = self.legs.get(&fork).and_then(|l| l.dialog.clone()) else {
            return;
        };
        if let Some(s) = &sdp {
            // The caller's answer to the callee's (late) offer: one codec
            // on both legs.
            self.set_leg_codec(master, super::codecs::leg_codec(s));
            self.set_leg_codec(fork, super::codecs::leg_codec(s));
        }
        let body = match (&sdp, self.legs.get_mut(&fork)) {
            (Some(s), Some(l)) => Some(l.media.anchor(s, self.config.public_ip)),
            _ => None,
        };
        let body = body.map(Bytes::from);
        let _ = self.ep.ack(now, &d, body.map(|b| ("application/sdp", b)));
        self.bridge(master, fork);
    }

    /// The dialog with the caller exists once we sent a 101-299 with our
    /// To tag (RFC 3261 §12.1.1).
    pub(super) fn note_caller_dialog(&mut self, id: Uuid, sent: Option<&Response>) {
        let Some(resp) = sent else { return };
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if leg.dialog.is_some() {
            return;
        }
        let Some(request) = leg.server_request() else {
            return;
        };
        let (Ok(call_id), Ok(from), Ok(to)) = (
            request.headers.call_id(),
            request.headers.from(),
            resp.headers.to(),
        ) else {
            return;
        };
        let Some(local_tag) = to.tag().cloned() else {
            return;
        };
        let remote_tag = from.tag().cloned().unwrap_or_default();
        let dialog = DialogId {
            call_id,
            local_tag,
            remote_tag,
        };
        leg.dialog = Some(dialog.clone());
        self.index_dialog(dialog, id);
    }

    /// A peer's description is known: open its leg, or update it if its
    /// address moved; bridge once both legs of a pair are open.
    pub(super) fn learn_media(&mut self, id: Uuid, sdp: &SessionDescription) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if !leg.is_active() {
            return;
        }
        let moved = leg.media.learn_remote(sdp);
        let remote_hint = leg.media.remote;
        if !leg.media.opened {
            if let Some(rtp_port) = leg.media.port {
                leg.media.opened = true;
                let codec = leg.media.codec.clone();
                self.media(MediaCommand::OpenLeg {
                    leg: id,
                    rtp_port,
                    remote_hint,
                });
                if codec.is_some() {
                    self.media(MediaCommand::SetCodec { leg: id, codec });
                }
            }
        } else if moved {
            self.media(MediaCommand::UpdateLeg {
                leg: id,
                remote_hint,
            });
        }
    }

    /// The caller's SDP offer (its INVITE's body), if it made one.
    pub(super) fn caller_offer(&self, master: Uuid) -> Option<SessionDescription> {
        let m = self.legs.get(&master)?.master()?;
        parse_body(&m.request.body)
    }

    /// Bridges the caller with `fork` once both legs are open.
    pub(super) fn bridge(&mut self, master: Uuid, fork: Uuid) {
        let open = |e: &Engine, id: Uuid| e.legs.get(&id).is_some_and(|l| l.media.opened);
        if !open(self, master) || !open(self, fork) {
            return;
        }
        let Some(m) = self.legs.get_mut(&master).and_then(|l| l.master_mut()) else {
            return;
        };
        if m.bridged == Some(fork) {
            return;
        }
        m.bridged = Some(fork);
        self.media(MediaCommand::Bridge { a: master, b: fork });
    }

    /// A 2xx to our INVITE on leg `id` that is not taken (the leg is being
    /// cancelled, another answer won, or it carries no SDP): ACKed, then
    /// ended with BYE, the only way to end it (RFC 3261 §13.2.2.4). If it
    /// is the leg's own dialog the leg records it (sip_code 200, BYE with
    /// its ending, by default local cancel); else it is a stray.
    pub(super) fn refuse_answer(&mut self, now: Instant, id: Uuid, d: DialogId) {
        let _ = self.ep.ack(now, &d, None);
        let winding_down = self
            .legs
            .get(&id)
            .is_some_and(|l| l.is_active() && l.dialog.as_ref().is_none_or(|x| *x == d));
        if !winding_down {
            self.bye_stray(now, &d);
            return;
        }
        // Cancelled, but the 2xx crossed the CANCEL: end it with BYE.
        self.set_sip_code(id, 200);
        if let Some(l) = self.legs.get_mut(&id) {
            l.dialog = Some(d);
        }
        let ending = self.legs.get(&id).and_then(|l| l.ending);
        let ending = ending.unwrap_or((HangupBy::Local, HangupReason::Cancel));
        self.send_bye(now, id, ending);
    }

    /// ACKed a 2xx nobody wants: BYE it without a call record.
    pub(super) fn bye_stray(&mut self, now: Instant, d: &DialogId) {
        if let Ok(bye) = self.ep.dialog_request(d, Method::Bye) {
            if let Ok(k) = self.ep.send_in_dialog(now, d, bye) {
                self.clients.insert(k, Purpose::Stray);
            }
        }
    }
}

/// A trusted peer's caller: an E.164 user part is a `tel` address, anything
/// else the From URI.
fn trunk_caller(from: &NameAddr) -> Caller {
    let user = from
        .uri
        .user
        .as_ref()
        .map(|u| String::from_utf8_lossy(u).into_owned())
        .unwrap_or_else(|| "anonymous".into());
    let unescaped = from
        .uri
        .user_unescaped()
        .map(|u| String::from_utf8_lossy(&u).into_owned())
        .unwrap_or_default();
    let name = from
        .display_name_text()
        .map(|n| String::from_utf8_lossy(&n).into_owned())
        .unwrap_or_default();
    let address = if validate_e164(&unescaped).is_ok() {
        Address::tel(&unescaped)
    } else {
        Address::sip(&from.uri.to_string())
    }
    .with_name(&name);
    Caller {
        address,
        user,
        display: from.display_name.clone(),
    }
}

/// An authenticated extension's caller.
fn extension_caller(ext: &ExtensionSecret) -> Caller {
    let name = &ext.extension.name;
    Caller {
        address: Address::extension(&ext.extension.extension).with_name(name),
        user: ext.extension.extension.clone(),
        display: quoted_display(name),
    }
}

/// A display name as a quoted string (RFC 3261 §25.1), `None` if empty.
pub(crate) fn quoted_display(name: &str) -> Option<Bytes> {
    (!name.is_empty()).then(|| {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        Bytes::from(format!("\"{escaped}\""))
    })
}

/// The From of an INVITE we send: `sip:user@host` (`anonymous` if `user`
/// cannot be a URI user part), with the display name.
pub(crate) fn from_header(user: &str, host: &str, display: Option<Bytes>) -> NameAddr {
    let mut from = NameAddr::new(
        Uri::from_text(&format!("sip:{user}@{host}"))
            .or_else(|_| Uri::from_text(&format!("sip:anonymous@{host}")))
            .expect("sip:anonymous@IP is a valid URI"),
    );
    from.display_name = display;
    from
}

/// The response the caller gets when every fork failed (RFC 3261 §16.7
/// in spirit): a 6xx wins (the callee spoke for all its devices), else 486
/// (someone is there, but busy), else the lowest status code.
pub(crate) fn best_outcome(
    outcomes: &[(u16, String, HangupReason)],
) -> Option<(u16, String, HangupReason)> {
    outcomes
        .iter()
        .find(|o| o.0 >= 600)
        .or_else(|| outcomes.iter().find(|o| o.0 == 486))
        .or_else(|| outcomes.iter().min_by_key(|o| o.0))
        .cloned()
}

/// What the caller is told for a callee's final response: a callee's
/// challenge (401/407) is not the caller's to answer (403), and a callee's
/// 503 is not this server being unavailable (500, RFC 3261 §16.7 step 6).
pub(crate) fn caller_facing(code: u16, phrase: &str) -> (u16, String) {
    match code {
        401 | 407 => (403, "Forbidden".into()),
        503 => (500, "Server Internal Error".into()),
        _ if phrase.is_empty() => (code, "Error".into()),
        _ => (code, phrase.to_owned()),
    }
}

/// An IP as the host of a SIP URI (RFC 3261 §25.1: IPv6 in brackets).
pub(crate) fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(code: u16) -> (u16, String, HangupReason) {
        (code, String::new(), HangupReason::for_final_response(code))
    }

    #[test]
    fn best_response_across_forks() {
        assert_eq!(best_outcome(&[o(480), o(603), o(486)]).unwrap().0, 603);
        assert_eq!(best_outcome(&[o(480), o(486), o(404)]).unwrap().0, 486);
        assert_eq!(best_outcome(&[o(480), o(404), o(408)]).unwrap().0, 404);
        assert!(best_outcome(&[]).is_none());
        assert_eq!(caller_facing(503, "x").0, 500);
        assert_eq!(caller_facing(407, "x").0, 403);
        assert_eq!(caller_facing(486, "Busy Here"), (486, "Busy Here".into()));
    }
}
