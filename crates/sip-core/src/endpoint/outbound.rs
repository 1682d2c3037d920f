//! The application's side: requests we send (UAC core, §8.1, §12.2.1, §13.2,
//! §9.1) and responses we send (UAS core, §8.2.6, §12.1.1, §13.3).

use super::{ClientEntry, ClientTxKey, Endpoint, ServerTxKey, Target, TxRef};
use crate::dialog::{Dialog, DialogId, DialogState, Role};
use crate::error::Error;
use crate::transaction::{ClientState, ClientTransaction};
use bytes::Bytes;
use rand::Rng;
use sip::{Header, HeaderName, Method, NameAddr, Request, Response, Uri, Via};
use std::time::{Duration, Instant};

impl Endpoint {
    /// A new out-of-dialog request (§8.1.1): From gets a fresh tag, a new
    /// Call-ID, CSeq 1, Max-Forwards 70 and our Contact. Send it with
    /// [`Endpoint::send_request`].
    pub fn build_request(
        &mut self,
        method: Method,
        uri: Uri,
        mut from: NameAddr,
        to: NameAddr,
    ) -> Request {
        if from.tag().is_none() {
            let tag = self.random_hex(10);
            from.set_tag(&tag);
        }
        let call_id = format!("{}@{}", self.random_hex(20), self.config.via_host);
        let mut req = Request::new(method.clone(), uri);
        let h = &mut req.headers;
        h.push(Header::new(HeaderName::MaxForwards, "70"));
        h.push(Header::typed(HeaderName::From, &from));
        h.push(Header::typed(HeaderName::To, &to));
        h.push(Header::new(HeaderName::CallId, call_id));
        h.push(Header::new(HeaderName::CSeq, format!("1 {method}")));
        h.push(Header::typed(
            HeaderName::Contact,
            &NameAddr::new(self.config.contact.clone()),
        ));
        if let Some(ua) = &self.config.user_agent {
            h.push(Header::new(HeaderName::UserAgent, ua.clone()));
        }
        h.push(Header::new(HeaderName::ContentLength, "0"));
        req
    }

    /// Sends a request in a new client transaction: adds our Via (fresh
    /// `z9hG4bK` branch, `rport`), starts Timers A/B or E/F. ACK for 2xx goes
    /// through [`Endpoint::ack`], CANCEL through [`Endpoint::cancel`].
    pub fn send_request(
        &mut self,
        now: Instant,
        mut req: Request,
        target: Target,
    ) -> Result<ClientTxKey, Error> {
        match req.method {
            Method::Ack => return Err(Error::WrongMethod("ACK")),
            Method::Cancel => return Err(Error::WrongMethod("CANCEL")),
            _ => {}
        }
        let dialog = self.dialog_of_request(&req)?;
        if req.method == Method::Invite {
            if let Some(d) = dialog.as_ref().and_then(|id| self.dialogs.get(id)) {
                if d.invite_pending() {
                    return Err(Error::InvitePending);
                }
            }
        }
        let branch = self.new_branch();
        let via = Via::new(
            target.transport.clone(),
            self.config.via_host.clone(),
            self.config.via_port,
            &branch,
        );
        req.headers.push_front(Header::typed(HeaderName::Via, &via));
        if req.headers.get(&HeaderName::MaxForwards).is_none() {
            req.headers.push(Header::new(HeaderName::MaxForwards, "70"));
        }
        let key = ClientTxKey(self.next_id());
        if req.method == Method::Invite {
            if let Some(d) = dialog.as_ref().and_then(|id| self.dialogs.get_mut(id)) {
                d.client_invite = Some(key);
                let id = d.id.clone();
                self.link(TxRef::Client(key), &id);
            }
        }
        self.start_client(now, key, req, target, Bytes::from(branch), dialog);
        Ok(key)
    }

    fn start_client(
        &mut self,
        now: Instant,
        key: ClientTxKey,
        req: Request,
        target: Target,
        branch: Bytes,
        dialog: Option<DialogId>,
    ) {
        let bytes = req.to_bytes();
        let method = req.method.clone();
        let reliable = target.transport.is_reliable();
        let tx = ClientTransaction::start(now, req, bytes.clone(), reliable, self.config.timers);
        tracing::debug!(%key, %method, "client transaction started");
        self.transmit(&target, bytes);
        self.client_index.insert((branch.clone(), method), key);
        self.touched.push(TxRef::Client(key));
        self.clients.insert(
            key,
            Box::new(ClientEntry {
                tx,
                target,
                branch,
                dialog,
                got_provisional: false,
                pending_cancel: None,
                seen_2xx: Vec::new(),
            }),
        );
    }

    /// The dialog a request with a To tag belongs to; such a request needs a live dialog.
    fn dialog_of_request(&self, req: &Request) -> Result<Option<DialogId>, Error> {
        let to = req.headers.to().map_err(|_| Error::Malformed("To"))?;
        let Some(remote_tag) = to.tag() else {
            return Ok(None);
        };
        let from = req.headers.from().map_err(|_| Error::Malformed("From"))?;
        let id = DialogId {
            call_id: req
                .headers
                .call_id()
                .map_err(|_| Error::Malformed("Call-ID"))?,
            local_tag: from.tag().cloned().ok_or(Error::Malformed("From tag"))?,
            remote_tag: remote_tag.clone(),
        };
        match self.dialogs.get(&id).map(|d| d.state) {
            None => Err(Error::UnknownDialog),
            Some(DialogState::Terminated) if req.method != Method::Bye => {
                Err(Error::DialogTerminated)
            }
            Some(_) => Ok(Some(id)),
        }
    }

    /// §9.1: CANCEL a pending INVITE. If no provisional response has arrived
    /// yet, the CANCEL waits for one (and is dropped if a final response comes first).
    pub fn cancel(&mut self, now: Instant, invite: ClientTxKey) -> Result<ClientTxKey, Error> {
        let key = ClientTxKey(self.next_id());
        self.touched.push(TxRef::Client(invite));
        let e = self
            .clients
            .get_mut(&invite)
            .ok_or(Error::UnknownTransaction)?;
        if !e.tx.is_invite() {
            return Err(Error::WrongMethod("CANCEL of a non-INVITE"));
        }
        if !matches!(e.tx.state, ClientState::Calling | ClientState::Proceeding) {
            return Err(Error::InvalidState(
                "the INVITE already has a final response",
            ));
        }
        let cancel = cancel_for(&e.tx.request);
        if e.got_provisional {
            let (target, branch) = (e.target.clone(), e.branch.clone());
            self.start_client(now, key, cancel, target, branch, None);
        } else {
            e.pending_cancel = Some((key, cancel));
        }
        Ok(key)
    }

    /// Sends the pending CANCEL of an INVITE, once a provisional response arrived.
    pub(super) fn release_cancel(&mut self, now: Instant, invite: ClientTxKey) {
        self.touched.push(TxRef::Client(invite));
        let Some(e) = self.clients.get_mut(&invite) else {
            return;
        };
        e.got_provisional = true;
        if let Some((key, cancel)) = e.pending_cancel.take() {
            let (target, branch) = (e.target.clone(), e.branch.clone());
            self.start_client(now, key, cancel, target, branch, None);
        }
    }

    /// §13.2.2.4: ACK the 2xx that confirmed (or refreshed) `dialog`. The ACK
    /// is its own transaction-less request; the endpoint re-sends it for every
    /// retransmission of that 2xx. `body` is an optional (Content-Type, body).
    pub fn ack(
        &mut self,
        _now: Instant,
        dialog: &DialogId,
        body: Option<(&str, Bytes)>,
    ) -> Result<(), Error> {
        let contact = self.config.contact.clone();
        let branch = self.new_branch();
        let d = self.dialogs.get_mut(dialog).ok_or(Error::UnknownDialog)?;
        let seq = d
            .pending_ack
            .ok_or(Error::InvalidState("no 2xx awaits an ACK"))?;
        let mut ack = d.build_request(Method::Ack, &contact, Some(seq), 0);
        if let Some((ct, b)) = body {
            ack.set_body(Some(ct), b);
        }
        let target = d.next_hop(&ack);
        let via = Via::new(
            target.transport.clone(),
            self.config.via_host.clone(),
            self.config.via_port,
            &branch,
        );
        ack.headers.push_front(Header::typed(HeaderName::Via, &via));
        let bytes = ack.to_bytes();
        d.last_ack = Some((seq, bytes.clone(), target.clone()));
        self.transmit(&target, bytes);
        Ok(())
    }

    /// §12.2.1.1: a request within `dialog` (route set, remote target, next
    /// CSeq). Add a body if needed, then [`Endpoint::send_in_dialog`].
    pub fn dialog_request(&mut self, dialog: &DialogId, method: Method) -> Result<Request, Error> {
        let first_seq = self.rng.gen_range(1..=0x7fff);
        let contact = self.config.contact.clone();
        let d = self.dialogs.get_mut(dialog).ok_or(Error::UnknownDialog)?;
        if d.state == DialogState::Terminated {
            return Err(Error::DialogTerminated);
        }
        match method {
            Method::Ack | Method::Cancel => return Err(Error::WrongMethod("ACK/CANCEL")),
            // §14.1: one INVITE at a time on a dialog, in either direction.
            Method::Invite if d.invite_pending() => return Err(Error::InvitePending),
            _ => {}
        }
        Ok(d.build_request(method, &contact, None, first_seq))
    }

    /// Sends a request built by [`Endpoint::dialog_request`] to the dialog's next hop.
    pub fn send_in_dialog(
        &mut self,
        now: Instant,
        dialog: &DialogId,
        req: Request,
    ) -> Result<ClientTxKey, Error> {
        let target = self
            .dialogs
            .get(dialog)
            .ok_or(Error::UnknownDialog)?
            .next_hop(&req);
        self.send_request(now, req, target)
    }

    /// §14.1: how long to wait before retrying a re-INVITE that got 491:
    /// 2.1-4 s if we own the Call-ID, 0-2 s otherwise, in 10 ms steps.
    pub fn glare_retry_delay(&mut self, dialog: &DialogId) -> Result<Duration, Error> {
        let owner = self
            .dialogs
            .get(dialog)
            .ok_or(Error::UnknownDialog)?
            .owns_call_id();
        let tens = if owner {
            self.rng.gen_range(210..=400)
        } else {
            self.rng.gen_range(0..=200)
        };
        Ok(Duration::from_millis(tens * 10))
    }

    /// A response to the request of `key` (§8.2.6): Via, From, To (with our
    /// tag), Call-ID, CSeq; for 101-299 to INVITE also Contact and Record-Route (§12.1.1).
    pub fn response_for(
        &self,
        key: ServerTxKey,
        status: u16,
        reason: &str,
    ) -> Result<Response, Error> {
        let e = self.servers.get(&key).ok_or(Error::UnknownTransaction)?;
        let req = &e.tx.request;
        let mut resp = Response::for_request(req, status, reason);
        if status > 100 {
            if let (Some(tag), Ok(mut to)) = (&e.local_tag, resp.headers.to()) {
                if to.tag().is_none() {
                    to.set_tag(&String::from_utf8_lossy(tag));
                    resp.headers.set(Header::typed(HeaderName::To, &to));
                }
            }
        }
        if req.method == Method::Invite && (101..300).contains(&status) {
            for rr in req.headers.get_all(&HeaderName::RecordRoute) {
                resp.headers.push(rr.clone());
            }
            resp.headers.push(Header::typed(
                HeaderName::Contact,
                &NameAddr::new(self.config.contact.clone()),
            ));
        }
        if let Some(ua) = &self.config.user_agent {
            resp.headers
                .push(Header::new(HeaderName::Server, ua.clone()));
        }
        Ok(resp)
    }

    /// Builds and sends a bodiless response.
    pub fn respond(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        status: u16,
        reason: &str,
    ) -> Result<(), Error> {
        let resp = self.response_for(key, status, reason)?;
        self.send_response(now, key, resp)
    }

    /// Sends a response on a server transaction. For INVITE, a 101-299 with
    /// a To tag creates (or confirms) the dialog; a 2xx is retransmitted
    /// until its ACK arrives (§13.3.1.4).
    pub fn send_response(
        &mut self,
        now: Instant,
        key: ServerTxKey,
        resp: Response,
    ) -> Result<(), Error> {
        let mut out = Vec::new();
        self.touched.push(TxRef::Server(key));
        let e = self
            .servers
            .get_mut(&key)
            .ok_or(Error::UnknownTransaction)?;
        e.tx.send_response(now, resp.status, resp.to_bytes(), &mut out)
            .map_err(Error::InvalidState)?;
        if e.tx.is_invite() {
            self.uas_invite_response(key, &resp);
        }
        self.server_outputs(key, out);
        self.reap();
        Ok(())
    }

    /// UAS core dialog bookkeeping for a response to INVITE (§12.1.1, §13.3.1).
    fn uas_invite_response(&mut self, key: ServerTxKey, resp: &Response) {
        self.touched.push(TxRef::Server(key));
        let Some(e) = self.servers.get_mut(&key) else {
            return;
        };
        let status = resp.status;
        let id = match &e.dialog {
            Some(id) => Some(id.clone()),
            None if (101..300).contains(&status) => {
                let d = uas_dialog(&e.tx.request, resp, e.target.clone(), key);
                let id = d.as_ref().map(|d| d.id.clone());
                e.dialog = id.clone();
                if let Some(d) = d {
                    if !self.dialogs.contains_key(&d.id) {
                        let id = d.id.clone();
                        self.link(TxRef::Server(key), &id);
                        self.dialogs.insert(id.clone(), Box::new(d));
                        self.events.push_back(super::Event::Dialog {
                            id,
                            state: DialogState::Early,
                        });
                    }
                }
                id
            }
            None => None,
        };
        let Some(id) = id else {
            return;
        };
        let cseq = resp.headers.cseq().map(|c| c.seq).unwrap_or(0);
        if let Some(d) = self.dialogs.get_mut(&id) {
            if status >= 200 {
                d.server_invite = None;
            }
            if (200..300).contains(&status) {
                d.awaiting_ack = Some((cseq, key));
            }
        }
        self.link(TxRef::Server(key), &id);
        match status {
            200..=299 => self.set_dialog_state(&id, DialogState::Confirmed),
            300..
                if self
                    .dialogs
                    .get(&id)
                    .is_some_and(|d| d.state == DialogState::Early) =>
            {
                self.set_dialog_state(&id, DialogState::Terminated);
            }
            _ => {}
        }
    }
}

/// §12.1.1: the UAS side of a new dialog.
fn uas_dialog(req: &Request, resp: &Response, peer: Target, key: ServerTxKey) -> Option<Dialog> {
    let local_uri = resp.headers.to().ok()?;
    let remote_uri = req.headers.from().ok()?;
    let id = DialogId {
        call_id: req.headers.call_id().ok()?,
        local_tag: local_uri.tag()?.clone(),
        remote_tag: remote_uri.tag().cloned().unwrap_or_default(),
    };
    let remote_target = match req.headers.contact() {
        Ok(Some(sip::Contact::Addrs(list))) if !list.is_empty() => list[0].uri.clone(),
        _ => remote_uri.uri.clone(),
    };
    Some(Dialog {
        id,
        state: DialogState::Early,
        role: Role::Uas,
        local_seq: None,
        remote_seq: req.headers.cseq().ok().map(|c| c.seq),
        local_uri,
        remote_uri,
        remote_target,
        route_set: req.headers.record_route().unwrap_or_default(),
        peer,
        client_invite: None,
        server_invite: Some(key),
        last_ack: None,
        pending_ack: None,
        awaiting_ack: None,
    })
}

/// §9.1: CANCEL copies Request-URI, Call-ID, To, From, CSeq number, the top
/// Via (same branch) and Route of the INVITE.
fn cancel_for(invite: &Request) -> Request {
    let mut c = Request::new(Method::Cancel, invite.uri.clone());
    let h = &invite.headers;
    if let Some(v) = h.get(&HeaderName::Via) {
        let top = Via::parse_list(&v.value)
            .ok()
            .and_then(|l| l.into_iter().next());
        match top {
            Some(top) => c.headers.push(Header::typed(HeaderName::Via, &top)),
            None => c.headers.push(v.clone()),
        }
    }
    c.headers.push(Header::new(HeaderName::MaxForwards, "70"));
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        if let Some(v) = h.get(&name) {
            c.headers.push(Header::new(name, v.value.clone()));
        }
    }
    let seq = h.cseq().map(|c| c.seq).unwrap_or(0);
    c.headers
        .push(Header::new(HeaderName::CSeq, format!("{seq} CANCEL")));
    for r in h.get_all(&HeaderName::Route) {
        c.headers
            .push(Header::new(HeaderName::Route, r.value.clone()));
    }
    c.headers.push(Header::new(HeaderName::ContentLength, "0"));
    c
}
