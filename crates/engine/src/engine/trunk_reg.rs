//! Outbound registration to trunks (`register: true`): Dialtone keeps a
//! binding at the gateway so the provider sends inbound calls to it.
//!
//! ```text
//! set_trunks ─▶ due now ─▶ REGISTER (Expires: 300)
//!   401/407 ─▶ once per REGISTER: again with the trunk's credentials
//!   2xx     ─▶ registered until now + granted expiry; refresh at half of it
//!   other / no answer ─▶ failed; try again in 30 s
//! ```
//!
//! Every change is reported as [`Event::TrunkRegistration`].

use super::{Engine, Purpose};
use crate::dial::TrunkRoute;
use crate::event::Event;
use sip::{Header, HeaderName, Method, NameAddr, Request, Response, Uri};
use sip_core::Target;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The expiry Dialtone asks for.
pub const REGISTER_EXPIRES: u32 = 300;
/// How long after a failure the next attempt goes.
pub const REGISTER_RETRY: Duration = Duration::from_secs(30);

/// One trunk's registration.
#[derive(Debug)]
pub(crate) struct TrunkReg {
    trunk: TrunkRoute,
    /// When the next REGISTER goes (`None`: at the next timeout, i.e. now).
    next: Option<Instant>,
    /// The REGISTER sent last (same Call-ID for every refresh, RFC 3261 §10.2.4).
    request: Option<Request>,
    cseq: u32,
    auth_tried: bool,
    in_flight: bool,
}

/// A trunk registration's state, as the server shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkRegistration {
    pub trunk: Uuid,
    /// `registered` or `failed`.
    pub registered: bool,
    /// The gateway's last final answer (none when it did not answer).
    pub sip_code: Option<u16>,
    /// Seconds the gateway granted (registered only).
    pub expires: Option<u32>,
}

impl Engine {
    /// Starts, keeps or drops the registrations of `trunks` (those with
    /// `register` and credentials).
    pub(super) fn sync_trunk_registrations(&mut self) {
        let wanted: Vec<TrunkRoute> = self
            .trunks
            .iter()
            .filter(|t| t.register && t.username.is_some() && t.password.is_some())
            .cloned()
            .collect();
        self.trunk_regs
            .retain(|id, _| wanted.iter().any(|t| t.id == *id));
        for t in wanted {
            let same = self.trunk_regs.get(&t.id).is_some_and(|r| {
                r.trunk.gateway == t.gateway
                    && r.trunk.username == t.username
                    && r.trunk.password == t.password
            });
            if !same {
                self.trunk_regs.insert(
                    t.id,
                    TrunkReg {
                        trunk: t,
                        next: None,
                        request: None,
                        cseq: 0,
                        auth_tried: false,
                        in_flight: false,
                    },
                );
            } else if let Some(r) = self.trunk_regs.get_mut(&t.id) {
                r.trunk = t;
            }
        }
    }

    /// The earliest registration deadline (a due one: the wall clock's origin, in the past).
    pub(super) fn trunk_reg_timeout(&self) -> Option<Instant> {
        self.trunk_regs
            .values()
            .filter(|r| !r.in_flight)
            .map(|r| r.next.unwrap_or(self.wall.origin))
            .min()
    }

    /// Sends every REGISTER that is due.
    pub(super) fn trunk_reg_timers(&mut self, now: Instant) {
        let due: Vec<Uuid> = self
            .trunk_regs
            .iter()
            .filter(|(_, r)| !r.in_flight && r.next.is_none_or(|n| n <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(r) = self.trunk_regs.get_mut(&id) {
                r.auth_tried = false;
            }
            self.send_register(now, id, None);
        }
    }

    fn send_register(&mut self, now: Instant, id: Uuid, auth: Option<Header>) {
        let Some(r) = self.trunk_regs.get(&id) else {
            return;
        };
        let t = r.trunk.clone();
        let mut req = match r.request.clone() {
            Some(req) => req,
            None => {
                let host = super::calls::host_text(t.gateway.ip());
                let user = t.username.clone().unwrap_or_default();
                let (Ok(uri), Ok(aor)) = (
                    Uri::from_text(&format!("sip:{host}:{}", t.gateway.port())),
                    Uri::from_text(&format!("sip:{user}@{host}")),
                ) else {
                    tracing::warn!(trunk = %t.name, "cannot build a REGISTER for this trunk");
                    return;
                };
                let mut req = self.ep.build_request(
                    Method::Register,
                    uri,
                    NameAddr::new(aor.clone()),
                    NameAddr::new(aor),
                );
                req.headers.push(Header::new(
                    HeaderName::Expires,
                    REGISTER_EXPIRES.to_string(),
                ));
                req
            }
        };
        req.headers.remove(&HeaderName::Authorization);
        req.headers.remove(&HeaderName::ProxyAuthorization);
        req.headers.remove(&HeaderName::Via);
        let Some(r) = self.trunk_regs.get_mut(&id) else {
            return;
        };
        r.cseq += 1;
        req.headers.set(Header::new(
            HeaderName::CSeq,
            format!("{} REGISTER", r.cseq),
        ));
        r.request = Some(req.clone());
        if let Some(auth) = auth {
            req.headers.push(auth);
        }
        let target = Target {
            transport: t.transport.clone(),
            remote: t.gateway,
        };
        match self.ep.send_request(now, req, target) {
            Ok(k) => {
                self.clients.insert(k, Purpose::TrunkRegister(id));
                if let Some(r) = self.trunk_regs.get_mut(&id) {
                    r.in_flight = true;
                }
            }
            Err(e) => {
                tracing::warn!(trunk = %t.name, error = %e, "REGISTER not sent");
                self.trunk_reg_failed(now, id, None);
            }
        }
    }

    /// A final answer to a trunk's REGISTER (`None`: no answer at all).
    pub(super) fn on_trunk_register(&mut self, now: Instant, id: Uuid, resp: Option<&Response>) {
        let Some(r) = self.trunk_regs.get_mut(&id) else {
            return;
        };
        r.in_flight = false;
        let Some(resp) = resp else {
            self.trunk_reg_failed(now, id, None);
            return;
        };
        if resp.is_success() {
            let asked = REGISTER_EXPIRES;
            let granted = resp
                .headers
                .contact()
                .ok()
                .flatten()
                .and_then(|c| match c {
                    sip::Contact::Addrs(a) => a.first().and_then(|n| {
                        n.params
                            .get("expires")
                            .flatten()
                            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                    }),
                    sip::Contact::Star => None,
                })
                .or_else(|| resp.headers.expires().ok().flatten())
                .unwrap_or(asked)
                .clamp(10, 86_400);
            r.next = Some(now + Duration::from_secs(u64::from(granted / 2)));
            r.auth_tried = false;
            self.events
                .push_back(Event::TrunkRegistration(TrunkRegistration {
                    trunk: id,
                    registered: true,
                    sip_code: Some(resp.status),
                    expires: Some(granted),
                }));
            return;
        }
        if matches!(resp.status, 401 | 407) && !r.auth_tried {
            r.auth_tried = true;
            let t = r.trunk.clone();
            let uri = r
                .request
                .as_ref()
                .map(|q| q.uri.to_string())
                .unwrap_or_default();
            let cnonce = format!("{:016x}", rand::Rng::gen::<u64>(&mut self.rng));
            let auth = sip::digest::authorize(
                resp,
                t.username.as_deref().unwrap_or_default(),
                t.password.as_deref().unwrap_or_default(),
                "REGISTER",
                &uri,
                &cnonce,
            );
            if let Some(auth) = auth {
                self.send_register(now, id, Some(auth));
                return;
            }
        }
        self.trunk_reg_failed(now, id, Some(resp.status));
    }

    fn trunk_reg_failed(&mut self, now: Instant, id: Uuid, code: Option<u16>) {
        let Some(r) = self.trunk_regs.get_mut(&id) else {
            return;
        };
        r.in_flight = false;
        r.next = Some(now + REGISTER_RETRY);
        tracing::info!(trunk = %r.trunk.name, ?code, "trunk registration failed");
        self.events
            .push_back(Event::TrunkRegistration(TrunkRegistration {
                trunk: id,
                registered: false,
                sip_code: code,
                expires: None,
            }));
    }
}
