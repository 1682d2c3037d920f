//! Dialog state (RFC 3261 §12): identity, early/confirmed, route set,
//! local and remote CSeq, remote target and its refresh (§12.2, RFC 3311).

use crate::{ClientTxKey, ServerTxKey, Target};
use bytes::Bytes;
use sip::{Header, HeaderName, Method, NameAddr, Request, Transport, Uri};
use std::fmt;

/// Call-ID plus local and remote tag (§12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: Bytes,
    pub local_tag: Bytes,
    pub remote_tag: Bytes,
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            String::from_utf8_lossy(&self.call_id),
            String::from_utf8_lossy(&self.local_tag),
            String::from_utf8_lossy(&self.remote_tag)
        )
    }
}

/// §12: a dialog is early after a 101-199 with a To tag, confirmed after a 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
    Terminated,
}

/// Which side of the dialog-creating INVITE we were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Uac,
    Uas,
}

/// One dialog. Read it through [`crate::Endpoint::dialog`]; the endpoint mutates it.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub(crate) id: DialogId,
    pub(crate) state: DialogState,
    pub(crate) role: Role,
    /// Our CSeq for the next request minus one; `None` until we send one (UAS).
    pub(crate) local_seq: Option<u32>,
    pub(crate) remote_seq: Option<u32>,
    pub(crate) local_uri: NameAddr,
    pub(crate) remote_uri: NameAddr,
    pub(crate) remote_target: Uri,
    pub(crate) route_set: Vec<NameAddr>,
    /// Where the peer was last heard from: next hop when the target is a host name.
    pub(crate) peer: Target,
    pub(crate) client_invite: Option<ClientTxKey>,
    pub(crate) server_invite: Option<ServerTxKey>,
    /// UAC: the last ACK for a 2xx, re-sent on every retransmission of that 2xx (§13.2.2.4).
    pub(crate) last_ack: Option<(u32, Bytes, Target)>,
    /// UAC: CSeq of the INVITE whose 2xx the application has to ACK.
    pub(crate) pending_ack: Option<u32>,
    /// UAS: the INVITE transaction whose 2xx awaits an ACK, with its CSeq.
    pub(crate) awaiting_ack: Option<(u32, ServerTxKey)>,
}

impl Dialog {
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    pub fn state(&self) -> DialogState {
        self.state
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    pub fn local_uri(&self) -> &NameAddr {
        &self.local_uri
    }

    pub fn remote_uri(&self) -> &NameAddr {
        &self.remote_uri
    }

    /// Whether an INVITE (ours or the peer's) awaits its final response (§14).
    pub fn invite_pending(&self) -> bool {
        self.client_invite.is_some() || self.server_invite.is_some()
    }

    /// Whether we generated the Call-ID (§14.1 picks the 491 retry delay by this).
    pub fn owns_call_id(&self) -> bool {
        self.role == Role::Uac
    }

    /// §12.2.1.1: a request within the dialog. CSeq increments, except for
    /// ACK and CANCEL which reuse `seq` of the request they go with.
    pub(crate) fn build_request(
        &mut self,
        method: Method,
        contact: &Uri,
        ack_seq: Option<u32>,
        first_seq: u32,
    ) -> Request {
        let seq = match ack_seq {
            Some(s) => s,
            None => {
                let s = self.local_seq.map_or(first_seq, |s| s.wrapping_add(1));
                self.local_seq = Some(s);
                s
            }
        };
        // Loose routing when the first route has `lr`; strict routing otherwise.
        let strict = self
            .route_set
            .first()
            .is_some_and(|r| r.uri.param("lr").is_none());
        let (uri, routes): (Uri, Vec<NameAddr>) = if strict {
            let mut routes: Vec<NameAddr> = self.route_set[1..].to_vec();
            routes.push(NameAddr::new(self.remote_target.clone()));
            (self.route_set[0].uri.clone(), routes)
        } else {
            (self.remote_target.clone(), self.route_set.clone())
        };
        let mut req = Request::new(method.clone(), uri);
        let h = &mut req.headers;
        h.push(Header::new(HeaderName::MaxForwards, "70"));
        h.push(Header::typed(HeaderName::From, &self.local_uri));
        h.push(Header::typed(HeaderName::To, &self.remote_uri));
        h.push(Header::new(HeaderName::CallId, self.id.call_id.clone()));
        h.push(Header::new(HeaderName::CSeq, format!("{seq} {method}")));
        for r in &routes {
            h.push(Header::typed(HeaderName::Route, r));
        }
        if matches!(
            method,
            Method::Invite | Method::Update | Method::Subscribe | Method::Refer
        ) {
            h.push(Header::typed(
                HeaderName::Contact,
                &NameAddr::new(contact.clone()),
            ));
        }
        h.push(Header::new(HeaderName::ContentLength, "0"));
        req
    }

    /// Next hop for a request built by [`Dialog::build_request`].
    pub(crate) fn next_hop(&self, req: &Request) -> Target {
        let uri = req
            .headers
            .route()
            .ok()
            .and_then(|r| r.into_iter().next())
            .map_or_else(|| req.uri.clone(), |r| r.uri);
        let fallback: &Transport = &self.peer.transport;
        crate::routing::uri_target(&uri, fallback).unwrap_or_else(|| self.peer.clone())
    }

    /// §12.2: target refresh from a Contact, if the message has one.
    pub(crate) fn refresh_target(&mut self, headers: &sip::Headers) {
        if let Ok(Some(sip::Contact::Addrs(list))) = headers.contact() {
            if let Some(first) = list.into_iter().next() {
                self.remote_target = first.uri;
            }
        }
    }
}
