//! What arrives from the network: parsing and the malformed-request answer,
//! transaction matching (§17.1.3, §17.2.3), CANCEL (§9.2), merged requests
//! (§8.2.2.2), in-dialog checks (§12.2.2, §14.2), ACK for 2xx (§13.3.1.4).

use super::{
    ClientTxKey, Endpoint, Event, MergeKey, Received, ServerEntry, ServerMatch, ServerTxKey,
    Target, TxRef,
};
use crate::dialog::{Dialog, DialogId, DialogState, Role};
use crate::routing::{reject_malformed, response_target, stamp_top_via};
use crate::transaction::ServerTransaction;
use bytes::Bytes;
use rand::Rng;
use sip::{Header, HeaderName, Message, Method, Request, Response, Via};
use std::time::Instant;

impl Endpoint {
    /// Handles one received message. Malformed requests get a stateless
    /// answer naming the fault (or nothing, if they cannot be answered);
    /// malformed responses are dropped.
    pub fn handle_receive(&mut self, now: Instant, rx: Received) {
        let msg = match sip::parse_datagram(rx.bytes.clone()) {
            Ok(msg) => msg,
            Err(e) => {
                self.reject(&rx, None, &e);
                return;
            }
        };
        if let Err(e) = sip::validate(&msg) {
            self.reject(&rx, Some(msg), &e);
            return;
        }
        match msg {
            Message::Request(req) => self.on_request(now, &rx, req),
            Message::Response(resp) => self.on_response(now, &rx, resp),
        }
        self.reap();
    }

    fn reject(&mut self, rx: &Received, msg: Option<Message>, fault: &sip::ParseError) {
        tracing::debug!(remote = %rx.remote, %fault, "malformed message");
        if let Some(r) = reject_malformed(rx, msg, fault) {
            self.transmit(&r.target, r.response.to_bytes());
        }
    }

    // ---- responses (client side) ----

    fn on_response(&mut self, now: Instant, rx: &Received, resp: Response) {
        let Ok(vias) = resp.headers.via() else {
            return;
        };
        // §8.1.3.3: a UAC drops responses carrying more than one Via;
        // §18.1.2: and those whose sent-by is not ours.
        let [top] = vias.as_slice() else {
            return;
        };
        if top.host != self.config.via_host || top.port != self.config.via_port {
            tracing::debug!(remote = %rx.remote, "response for another sent-by dropped");
            return;
        }
        let (Some(branch), Ok(cseq)) = (top.branch(), resp.headers.cseq()) else {
            return;
        };
        // §17.1.3: branch and CSeq method.
        let Some(&key) = self
            .client_index
            .get(&(branch.clone(), cseq.method.clone()))
        else {
            tracing::debug!(status = resp.status, "stray response dropped");
            return;
        };
        let mut out = Vec::new();
        self.touched.push(TxRef::Client(key));
        if let Some(e) = self.clients.get_mut(&key) {
            e.tx.on_response(now, resp, &mut out);
        }
        self.client_outputs(now, key, out);
    }

    /// The UAC core receives a response its transaction passed up.
    pub(super) fn on_client_response(&mut self, now: Instant, key: ClientTxKey, resp: Response) {
        self.touched.push(TxRef::Client(key));
        let Some(e) = self.clients.get(&key) else {
            return;
        };
        let method = e.tx.request.method.clone();
        let in_dialog = e.dialog.clone();
        let status = resp.status;
        let mut dialog = in_dialog.clone();
        if method == Method::Invite {
            if status < 200 {
                self.release_cancel(now, key);
            } else if let Some(e) = self.clients.get_mut(&key) {
                e.pending_cancel = None;
            }
            match status {
                101..=299 => {
                    dialog = self.uac_dialog_response(key, &resp);
                    if (200..300).contains(&status) && !self.first_2xx(key, &resp) {
                        return;
                    }
                }
                300.. => {
                    if let Some(id) = &in_dialog {
                        if let Some(d) = self.dialogs.get_mut(id) {
                            d.client_invite = None;
                        }
                    } else {
                        self.end_early_dialogs(key);
                    }
                }
                _ => {}
            }
        }
        if let Some(id) = in_dialog.as_ref().filter(|_| status >= 200) {
            if method == Method::Update && (200..300).contains(&status) {
                if let Some(d) = self.dialogs.get_mut(id) {
                    d.refresh_target(&resp.headers);
                }
            }
            // §12.2.1.2: 481 and 408 end the dialog; §15: so does any final answer to BYE.
            if status == 481 || status == 408 || method == Method::Bye {
                self.set_dialog_state(id, DialogState::Terminated);
            }
        }
        self.events.push_back(Event::Response {
            key,
            response: resp,
            dialog,
        });
    }

    /// Whether this 2xx is the first from its dialog; a retransmission is
    /// absorbed, and re-ACKed if the application already sent the ACK (§13.2.2.4).
    fn first_2xx(&mut self, key: ClientTxKey, resp: &Response) -> bool {
        let tag = resp
            .headers
            .to()
            .ok()
            .and_then(|t| t.tag().cloned())
            .unwrap_or_default();
        self.touched.push(TxRef::Client(key));
        let Some(e) = self.clients.get_mut(&key) else {
            return false;
        };
        if !e.seen_2xx.contains(&tag) {
            e.seen_2xx.push(tag);
            return true;
        }
        let seq = resp.headers.cseq().map(|c| c.seq).ok();
        let ack = self.dialogs.values().find_map(|d| match &d.last_ack {
            Some((s, bytes, target)) if Some(*s) == seq && d.id.remote_tag == tag => {
                Some((bytes.clone(), target.clone()))
            }
            _ => None,
        });
        if let Some((bytes, target)) = ack {
            self.transmit(&target, bytes);
        }
        false
    }

    /// §12.1.2 / §13.2.2.4: a 101-299 to INVITE creates, confirms or refreshes a dialog.
    fn uac_dialog_response(&mut self, key: ClientTxKey, resp: &Response) -> Option<DialogId> {
        let e = self.clients.get(&key)?;
        let req = &e.tx.request;
        let remote_uri = resp.headers.to().ok()?;
        let local_uri = req.headers.from().ok()?;
        let id = DialogId {
            call_id: req.headers.call_id().ok()?,
            local_tag: local_uri.tag()?.clone(),
            remote_tag: remote_uri.tag()?.clone(),
        };
        let seq = req.headers.cseq().ok()?.seq;
        let confirmed = resp.is_success();
        let mut route_set = resp.headers.record_route().unwrap_or_default();
        route_set.reverse();
        let peer = e.target.clone();
        let in_dialog = e.dialog.is_some();
        match self.dialogs.get_mut(&id) {
            Some(d) => {
                if confirmed {
                    d.pending_ack = Some(seq);
                    if d.client_invite == Some(key) {
                        d.client_invite = None;
                    }
                    if !in_dialog {
                        d.route_set = route_set;
                    }
                }
                d.refresh_target(&resp.headers);
            }
            None if in_dialog => return None,
            None => {
                let mut d = Dialog {
                    id: id.clone(),
                    state: DialogState::Early,
                    role: Role::Uac,
                    local_seq: Some(seq),
                    remote_seq: None,
                    local_uri,
                    remote_uri: remote_uri.clone(),
                    remote_target: remote_uri.uri,
                    route_set,
                    peer,
                    client_invite: (!confirmed).then_some(key),
                    server_invite: None,
                    last_ack: None,
                    pending_ack: confirmed.then_some(seq),
                    awaiting_ack: None,
                };
                d.refresh_target(&resp.headers);
                if !confirmed {
                    self.link(TxRef::Client(key), &id);
                }
                self.dialogs.insert(id.clone(), Box::new(d));
                self.events.push_back(Event::Dialog {
                    id: id.clone(),
                    state: DialogState::Early,
                });
            }
        }
        if confirmed {
            self.set_dialog_state(&id, DialogState::Confirmed);
        }
        Some(id)
    }

    // ---- requests (server side) ----

    fn on_request(&mut self, now: Instant, rx: &Received, mut req: Request) {
        // §18.2.1 / RFC 3581 §4: received and rport before anything else.
        let Some(top) = stamp_top_via(&mut req, rx.remote) else {
            return;
        };
        let matcher = server_match(&top, &req.method);
        if req.method == Method::Ack {
            self.on_ack(now, req, &matcher);
            return;
        }
        if let Some(&key) = self.server_index.get(&matcher) {
            // §17.2.3: a retransmission.
            let mut out = Vec::new();
            self.touched.push(TxRef::Server(key));
            if let Some(e) = self.servers.get_mut(&key) {
                e.tx.on_retransmission(&mut out);
            }
            self.server_outputs(key, out);
            return;
        }
        let target = response_target(&top, &rx.transport, rx.remote);
        if req.method == Method::Cancel {
            self.on_cancel(now, req, matcher, target);
            return;
        }
        let (Ok(to), Ok(from), Ok(call_id), Ok(cseq)) = (
            req.headers.to(),
            req.headers.from(),
            req.headers.call_id(),
            req.headers.cseq(),
        ) else {
            return;
        };
        let merge = to.tag().is_none().then(|| MergeKey {
            from_tag: from.tag().cloned().unwrap_or_default(),
            call_id: call_id.clone(),
            cseq: cseq.seq,
            method: req.method.clone(),
        });
        if let Some(m) = &merge {
            if self.merge_index.contains_key(m) {
                // §8.2.2.2: same request arriving by another path.
                let key = self.new_server(req, matcher, None, target, None);
                self.answer(now, key, 482, "Loop Detected", None);
                return;
            }
        }
        let Some(remote_tag) = to.tag().cloned() else {
            self.new_request(now, req, matcher, merge, target, None);
            return;
        };
        let id = DialogId {
            call_id,
            local_tag: remote_tag,
            remote_tag: from.tag().cloned().unwrap_or_default(),
        };
        let verdict = self.check_in_dialog(&id, &req, cseq.seq, &target);
        match verdict {
            Ok(()) => self.new_request(now, req, matcher, None, target, Some(id)),
            Err((status, reason, retry)) => {
                let key = self.new_server(req, matcher, None, target, None);
                self.answer(now, key, status, reason, retry);
            }
        }
    }

    /// §12.2.2 and §14.2: may this in-dialog request proceed? Updates the
    /// dialog if so (remote CSeq, target refresh, BYE).
    fn check_in_dialog(
        &mut self,
        id: &DialogId,
        req: &Request,
        seq: u32,
        target: &Target,
    ) -> Result<(), (u16, &'static str, Option<u32>)> {
        let retry_after = self.rng.gen_range(0..=10);
        let Some(d) = self.dialogs.get_mut(id) else {
            return Err((481, "Call/Transaction Does Not Exist", None));
        };
        if d.state == DialogState::Terminated {
            return Err((481, "Call/Transaction Does Not Exist", None));
        }
        if d.remote_seq.is_some_and(|r| seq < r) {
            return Err((500, "CSeq Out of Order", None));
        }
        if req.method == Method::Invite {
            if d.client_invite.is_some() {
                return Err((491, "Request Pending", None));
            }
            if d.server_invite.is_some() {
                return Err((500, "Previous INVITE Pending", Some(retry_after)));
            }
        }
        d.remote_seq = Some(seq);
        d.peer = target.clone();
        if matches!(req.method, Method::Invite | Method::Update) {
            d.refresh_target(&req.headers);
        }
        if req.method == Method::Bye {
            self.set_dialog_state(id, DialogState::Terminated);
        }
        Ok(())
    }

    /// A request the application must answer.
    fn new_request(
        &mut self,
        now: Instant,
        req: Request,
        matcher: ServerMatch,
        merge: Option<MergeKey>,
        target: Target,
        dialog: Option<DialogId>,
    ) {
        let invite = req.method == Method::Invite;
        let request = req.clone();
        let key = self.new_server(req, matcher, merge, target, dialog.clone());
        if let (true, Some(id)) = (invite, &dialog) {
            if let Some(d) = self.dialogs.get_mut(id) {
                d.server_invite = Some(key);
                self.link(TxRef::Server(key), id);
            }
        }
        if invite {
            // §17.2.1: the transaction answers 100 at once so the UAC stops retransmitting.
            self.answer(now, key, 100, "Trying", None);
        }
        self.events.push_back(Event::Request {
            key,
            request,
            dialog,
        });
    }

    fn new_server(
        &mut self,
        req: Request,
        matcher: ServerMatch,
        merge: Option<MergeKey>,
        target: Target,
        dialog: Option<DialogId>,
    ) -> ServerTxKey {
        let key = ServerTxKey(self.next_id());
        let has_tag = req.headers.to().is_ok_and(|t| t.tag().is_some());
        let local_tag = (!has_tag).then(|| Bytes::from(self.random_hex(10)));
        let reliable = target.transport.is_reliable();
        let tx = ServerTransaction::new(req, reliable, self.config.timers);
        self.server_index.insert(matcher.clone(), key);
        if let Some(m) = &merge {
            self.merge_index.insert(m.clone(), key);
        }
        self.touched.push(TxRef::Server(key));
        self.servers.insert(
            key,
            Box::new(ServerEntry {
                tx,
                target,
                matcher,
                merge,
                local_tag,
                dialog,
            }),
        );
        key
    }

    /// A response the endpoint itself sends (100, 482, 491, 481, 487, 500, CANCEL 200).
    fn answer(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        status: u16,
        reason: &str,
        retry_after: Option<u32>,
    ) {
        let Ok(mut resp) = self.response_for(key, status, reason) else {
            return;
        };
        if let Some(secs) = retry_after {
            resp.headers
                .push(Header::new(HeaderName::RetryAfter, secs.to_string()));
        }
        let _ = self.send_response(now, key, resp);
    }

    /// §9.2: CANCEL matches the INVITE server transaction with the same
    /// branch and sent-by; it is answered 200 (or 481), and a pending INVITE 487.
    fn on_cancel(&mut self, now: Instant, req: Request, matcher: ServerMatch, target: Target) {
        let invite_match = ServerMatch {
            method: Method::Invite,
            ..matcher.clone()
        };
        let invite = self.server_index.get(&invite_match).copied();
        let cancel = req.clone();
        let key = self.new_server(req, matcher, None, target, None);
        let Some(invite) = invite else {
            self.answer(now, key, 481, "Call/Transaction Does Not Exist", None);
            return;
        };
        self.answer(now, key, 200, "OK", None);
        let pending = self.servers.get(&invite).is_some_and(|e| !e.tx.is_final());
        if pending {
            self.answer(now, invite, 487, "Request Terminated", None);
            self.events.push_back(Event::Cancelled {
                key: invite,
                request: cancel,
            });
        }
    }

    /// ACK: for a non-2xx it belongs to the INVITE transaction (§17.2.1);
    /// for a 2xx the UAS core matches it to the dialog (§13.3.1.4).
    fn on_ack(&mut self, now: Instant, ack: Request, matcher: &ServerMatch) {
        if let Some(&key) = self.server_index.get(matcher) {
            self.touched.push(TxRef::Server(key));
            if let Some(e) = self.servers.get_mut(&key) {
                if !e.tx.is_invite() || e.tx.state != crate::ServerState::Accepted {
                    e.tx.on_ack(now);
                    return;
                }
            }
        }
        let h = &ack.headers;
        let (Ok(to), Ok(from), Ok(call_id), Ok(cseq)) = (h.to(), h.from(), h.call_id(), h.cseq())
        else {
            return;
        };
        let id = DialogId {
            call_id,
            local_tag: to.tag().cloned().unwrap_or_default(),
            remote_tag: from.tag().cloned().unwrap_or_default(),
        };
        let Some((seq, key)) = self.dialogs.get(&id).and_then(|d| d.awaiting_ack) else {
            return;
        };
        if seq != cseq.seq {
            return;
        }
        self.touched.push(TxRef::Server(key));
        let first = self
            .servers
            .get_mut(&key)
            .is_some_and(|e| e.tx.on_2xx_ack());
        if first {
            self.events.push_back(Event::Ack {
                key,
                dialog: id,
                request: ack,
            });
        }
    }
}

/// §17.2.3 matching key; ACK matches the INVITE it acknowledges.
/// Branches without the magic cookie are matched the same way (RFC 2543
/// fallback matching is not implemented).
fn server_match(top: &Via, method: &Method) -> ServerMatch {
    let sent_by = match top.port {
        Some(p) => format!("{}:{p}", top.host),
        None => top.host.to_string(),
    };
    ServerMatch {
        branch: top.branch().cloned().unwrap_or_default(),
        sent_by: sent_by.to_ascii_lowercase(),
        method: if *method == Method::Ack {
            Method::Invite
        } else {
            method.clone()
        },
    }
}
