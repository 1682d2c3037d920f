//! In-dialog requests: BYE, re-INVITE and UPDATE carried across the
//! bridge (hold, codec change, new address, session refresh), INFO passed
//! through, and the RFC 4028 refreshes the engine sends itself.

use super::{capabilities, ending::Cause, Engine, Purpose, Relay, ServerSide, ALLOW};
use crate::error::EngineError;
use crate::event::MediaCommand;
use crate::media::parse_body;
use crate::session_timer::{self, SessionTimer};
use crate::timers::LegTimer;
use bytes::Bytes;
use model::CallStatus;
use sdp::SessionDescription;
use sip::{Header, HeaderName, Method, Request, Response};
use sip_core::{DialogId, ServerTxKey};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a refresh waits when an INVITE is already pending on the dialog.
const REFRESH_RETRY: Duration = Duration::from_secs(2);

impl Engine {
    pub(super) fn on_dialog_request(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        req: Request,
        dialog: DialogId,
    ) {
        let Some(id) = self.by_dialog.get(&dialog).copied() else {
            self.reply_481(now, key);
            return;
        };
        let app = self.legs.get(&id).is_some_and(|l| l.app().is_some());
        match req.method {
            Method::Bye => {
                self.reply(now, key, 200, "OK", vec![], None);
                self.on_peer_bye(now, id);
            }
            Method::Info if app => {
                self.note_info_dtmf(id, &req);
                self.reply(now, key, 200, "OK", vec![], None);
            }
            Method::Invite | Method::Update => self.on_reoffer(now, key, req, id),
            Method::Info => {
                self.note_info_dtmf(id, &req);
                self.relay_plain(now, key, req, id)
            }
            Method::Options => {
                self.reply(now, key, 200, "OK", capabilities(), None);
            }
            _ => {
                let h = vec![Header::new(HeaderName::Allow, ALLOW)];
                self.reply(now, key, 405, "Method Not Allowed", h, None);
            }
        }
    }

    /// The other leg of an answered bridge, if it can take a request.
    fn peer_leg(&self, id: Uuid) -> Option<(Uuid, DialogId)> {
        let leg = self.legs.get(&id)?;
        let peer = match (leg.master(), leg.fork()) {
            (Some(m), _) => m.winner?,
            (_, Some(f)) => f.master,
            _ => return None,
        };
        let p = self.legs.get(&peer)?;
        if !p.is_live() || !p.is_answered() {
            return None;
        }
        Some((peer, p.dialog.clone()?))
    }

    /// A SIP INFO carrying a DTMF digit becomes an [`Event::Dtmf`] of the
    /// leg's call; other INFO bodies (or unreadable ones) are just carried.
    fn note_info_dtmf(&mut self, id: Uuid, req: &Request) {
        let Some(ct) = req.headers.get(&HeaderName::ContentType) else {
            return;
        };
        let ct = String::from_utf8_lossy(&ct.value);
        match media::dtmf::DtmfRelay::parse_info(&ct, &req.body) {
            Ok(d) => self.events.push_back(crate::event::Event::Dtmf {
                call: id,
                digit: d.digit.to_char(),
                duration_ms: d.duration_ms,
            }),
            Err(e) => tracing::debug!(call = %id, error = %e, "INFO without a DTMF digit"),
        }
    }

    /// A re-INVITE or UPDATE from leg `x` (RFC 3261 §14, RFC 3311). With an
    /// offer it is carried to the other leg, rewritten (on an application
    /// leg: answered here); without one it is a session refresh answered
    /// here (a re-INVITE gets our last offer).
    fn on_reoffer(&mut self, now: Instant, key: ServerTxKey, req: Request, x: Uuid) {
        self.servers.insert(
            key,
            ServerSide {
                leg: x,
                relay: None,
            },
        );
        let Some(leg) = self.legs.get(&x) else { return };
        if !leg.is_live() {
            self.reply_481(now, key);
            return;
        }
        if !leg.is_answered() {
            // Early UPDATE (RFC 3311 §5.1) is not carried; the peer may retry.
            self.reply(now, key, 491, "Request Pending", vec![], None);
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
        let supports = session_timer::supports_timer(&req.headers);
        if req.body.is_empty() {
            let body = if req.method == Method::Invite {
                leg.media.last_sent().map(str::to_owned)
            } else {
                None
            };
            self.answer_refresh(now, key, x, grant, supports, body);
            return;
        }
        let Some(sdp) = parse_body(&req.body) else {
            self.reply(now, key, 488, "Not Acceptable Here", vec![], None);
            return;
        };
        if leg.app().is_some() {
            // Dialtone is this leg's far end: answered here, never carried.
            let body = self.answer_app_reoffer(x, &sdp);
            if body.is_none() {
                self.reply(now, key, 488, "Not Acceptable Here", vec![], None);
                return;
            }
            self.answer_refresh(now, key, x, grant, supports, body);
            return;
        }
        let Some((y, dy)) = self.peer_leg(x) else {
            self.reply(now, key, 491, "Request Pending", vec![], None);
            return;
        };
        let mut out = match self.ep.dialog_request(&dy, req.method.clone()) {
            Ok(r) => r,
            Err(e) => {
                // §14.1: an INVITE is pending on the other leg: glare, the sender retries.
                tracing::debug!(call = %y, error = %e, "re-offer not carried");
                self.reply(now, key, 491, "Request Pending", vec![], None);
                return;
            }
        };
        let y_session = self.legs.get(&y).and_then(|l| l.session);
        for h in capabilities() {
            out.headers.push(h);
        }
        for h in session_timer::request_headers(y_session) {
            out.headers.push(h);
        }
        let for_y = self.offer_for(Some(y), &sdp);
        let body = self
            .legs
            .get_mut(&y)
            .map(|l| l.media.anchor(&for_y, self.config.public_ip))
            .unwrap_or_default();
        out.set_body(Some("application/sdp"), Bytes::from(body));
        match self.ep.send_in_dialog(now, &dy, out) {
            Ok(ck) => {
                self.learn_media(x, &sdp);
                self.clients.insert(
                    ck,
                    Purpose::Relay(Relay {
                        from: x,
                        to: y,
                        server: key,
                        method: req.method.clone(),
                        grant,
                        from_supports_timer: supports,
                        offer: Some(Box::new(sdp.clone())),
                    }),
                );
                self.servers.insert(
                    key,
                    ServerSide {
                        leg: x,
                        relay: Some(ck),
                    },
                );
            }
            Err(e) => {
                tracing::debug!(call = %y, error = %e, "re-offer not sent");
                self.reply(now, key, 491, "Request Pending", vec![], None);
            }
        }
    }

    /// 200 to a bodiless refresh: the session timer restarts.
    fn answer_refresh(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        x: Uuid,
        grant: Option<SessionTimer>,
        supports: bool,
        body: Option<String>,
    ) {
        let mut headers = capabilities();
        if let Some(g) = grant {
            headers.extend(session_timer::grant_headers(g, supports));
        }
        if self.reply(now, key, 200, "OK", headers, body).is_some() {
            if let Some(l) = self.legs.get_mut(&x) {
                l.session = grant;
            }
            self.restart_session_timers(now, x);
        }
    }

    /// INFO (DTMF, fast picture update...) goes through unchanged.
    fn relay_plain(&mut self, now: Instant, key: ServerTxKey, req: Request, x: Uuid) {
        let Some((y, dy)) = self.peer_leg(x) else {
            self.reply_481(now, key);
            return;
        };
        let Ok(mut out) = self.ep.dialog_request(&dy, req.method.clone()) else {
            self.reply(now, key, 500, "Server Internal Error", vec![], None);
            return;
        };
        let ct = req
            .headers
            .get(&HeaderName::ContentType)
            .map(|h| String::from_utf8_lossy(&h.value).into_owned());
        if !req.body.is_empty() {
            out.set_body(ct.as_deref(), req.body.clone());
        }
        if let Ok(ck) = self.ep.send_in_dialog(now, &dy, out) {
            self.clients.insert(
                ck,
                Purpose::Relay(Relay {
                    from: x,
                    to: y,
                    server: key,
                    method: req.method,
                    grant: None,
                    from_supports_timer: false,
                    offer: None,
                }),
            );
            self.servers.insert(
                key,
                ServerSide {
                    leg: x,
                    relay: Some(ck),
                },
            );
        }
    }

    /// The other leg answered a request we carried: the answer goes back,
    /// its SDP rewritten for the sender's leg.
    pub(super) fn on_relay_response(&mut self, now: Instant, r: Relay, resp: Response) {
        let status = resp.status;
        let phrase = String::from_utf8_lossy(&resp.reason).into_owned();
        let reoffer = matches!(r.method, Method::Invite | Method::Update);
        if !resp.is_success() {
            self.reply(now, r.server, status, &phrase, vec![], None);
            // §12.2.1.2: 481 and 408 mean the other leg's dialog is gone.
            if status == 481 || status == 408 {
                let master = self.master_of(r.to);
                self.end_bridge(now, master, Cause::DialogFailed);
            }
            return;
        }
        if r.method == Method::Invite {
            if let Some(dy) = self.legs.get(&r.to).and_then(|l| l.dialog.clone()) {
                let _ = self.ep.ack(now, &dy, None);
            }
        }
        if !reoffer {
            let ct = resp
                .headers
                .get(&HeaderName::ContentType)
                .map(|h| String::from_utf8_lossy(&h.value).into_owned());
            if let Ok(mut out) = self.ep.response_for(r.server, status, &phrase) {
                if !resp.body.is_empty() {
                    out.set_body(ct.as_deref(), resp.body.clone());
                }
                let _ = self.ep.send_response(now, r.server, out);
            }
            return;
        }
        if let Some(timer) = session_timer::from_response(&resp) {
            if let Some(l) = self.legs.get_mut(&r.to) {
                l.session = Some(timer);
            }
        }
        self.restart_session_timers(now, r.to);
        let sdp = parse_body(&resp.body);
        let body = match &sdp {
            Some(s) => {
                self.learn_media(r.to, s);
                let s = self.answer_for(r.from, r.to, r.offer.as_deref(), s);
                self.legs
                    .get_mut(&r.from)
                    .map(|l| l.media.anchor(&s, self.config.public_ip))
            }
            None => None,
        };
        let mut headers = capabilities();
        if let Some(g) = r.grant {
            headers.extend(session_timer::grant_headers(g, r.from_supports_timer));
        }
        if self
            .reply(now, r.server, status, &phrase, headers, body)
            .is_some()
        {
            if let Some(l) = self.legs.get_mut(&r.from) {
                l.session = r.grant;
            }
            self.restart_session_timers(now, r.from);
        }
    }

    /// RFC 4028 §10: we are the refresher: re-INVITE with the description
    /// last sent on the leg (unchanged, so its version stays), or UPDATE
    /// without a body when there is none.
    pub(super) fn send_refresh(&mut self, now: Instant, id: Uuid) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        if !leg.is_live() || !leg.is_answered() {
            return;
        }
        let Some(d) = leg.dialog.clone() else { return };
        let offer = leg.media.last_sent().map(str::to_owned);
        let session = leg.session;
        let method = if offer.is_some() {
            Method::Invite
        } else {
            Method::Update
        };
        let mut req = match self.ep.dialog_request(&d, method.clone()) {
            Ok(r) => r,
            Err(_) => {
                // An INVITE is in progress on the dialog: try again shortly.
                self.set_leg_timer(id, LegTimer::SessionRefresh, now + REFRESH_RETRY);
                return;
            }
        };
        for h in capabilities() {
            req.headers.push(h);
        }
        for h in session_timer::request_headers(session) {
            req.headers.push(h);
        }
        if let Some(o) = offer {
            req.set_body(Some("application/sdp"), Bytes::from(o));
        }
        match self.ep.send_in_dialog(now, &d, req) {
            Ok(k) => {
                self.clients.insert(k, Purpose::Refresh { leg: id, method });
            }
            Err(_) => {
                self.set_leg_timer(id, LegTimer::SessionRefresh, now + REFRESH_RETRY);
            }
        }
    }

    /// Puts an answered call on hold (or takes it off): a re-INVITE on its
    /// leg re-offering the last description with `sendonly` (`sendrecv`
    /// again to resume), answered like a session refresh.
    pub fn set_hold(&mut self, now: Instant, id: Uuid, on: bool) -> Result<(), EngineError> {
        let leg = self.legs.get_mut(&id).ok_or(EngineError::UnknownCall)?;
        if !leg.is_active() {
            return Err(EngineError::CallEnded);
        }
        if leg.call.status != CallStatus::Progressing {
            return Err(EngineError::NotAnswered);
        }
        if leg.media.held == on {
            return Ok(());
        }
        leg.media.held = on;
        let last = leg
            .media
            .last_sent()
            .and_then(|t| SessionDescription::parse(t).ok());
        if let Some(mut sdp) = last {
            if !on {
                if let Some(m) = sdp
                    .media
                    .iter_mut()
                    .find(|m| m.media == "audio" && !m.is_rejected())
                {
                    m.set_direction(sdp::Direction::SendRecv);
                }
            }
            // Re-anchoring our own description applies (or lifts) the hold
            // direction and bumps its version.
            leg.media.anchor(&sdp, self.config.public_ip);
        }
        let opened = leg.media.opened;
        if opened {
            self.media(MediaCommand::Hold { leg: id, on });
        }
        self.send_refresh(now, id);
        self.drain(now);
        Ok(())
    }

    pub(super) fn on_refresh_response(
        &mut self,
        now: Instant,
        id: Uuid,
        method: Method,
        resp: Response,
    ) {
        let d = self.legs.get(&id).and_then(|l| l.dialog.clone());
        match resp.status {
            200..=299 => {
                if method == Method::Invite {
                    if let Some(d) = &d {
                        let _ = self.ep.ack(now, d, None);
                    }
                }
                if let Some(t) = session_timer::from_response(&resp) {
                    if let Some(l) = self.legs.get_mut(&id) {
                        l.session = Some(t);
                    }
                }
                if let Some(sdp) = parse_body(&resp.body) {
                    self.learn_media(id, &sdp);
                }
                self.restart_session_timers(now, id);
            }
            // RFC 4028 §10: these end the session.
            408 | 481 => {
                let master = self.master_of(id);
                self.end_bridge(now, master, Cause::DialogFailed);
            }
            491 => {
                let delay = d
                    .and_then(|d| self.ep.glare_retry_delay(&d).ok())
                    .unwrap_or(REFRESH_RETRY);
                self.set_leg_timer(id, LegTimer::SessionRefresh, now + delay);
            }
            422 => {
                // RFC 4028 §6: retry with the peer's Min-SE.
                let min = resp.headers.min_se().ok().flatten();
                let raised = match (min, self.legs.get_mut(&id).and_then(|l| l.session.as_mut())) {
                    (Some(min), Some(t)) if min > t.interval => {
                        t.interval = min;
                        true
                    }
                    _ => false,
                };
                if raised {
                    self.send_refresh(now, id);
                } else {
                    self.restart_session_timers(now, id);
                }
            }
            _ => {
                // The session goes on; the peer decides whether it expired.
                self.restart_session_timers(now, id);
            }
        }
    }
}
