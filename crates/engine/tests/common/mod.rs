//! `World`: the engine and scripted phones (sip-core endpoints) over a
//! seeded virtual network on a fake clock. Each step delivers what is due,
//! fires due timers and jumps time to the next deadline; a step bound
//! catches livelock. Call records are read from the engine's events, as
//! the server stores them.

#![allow(dead_code)]

use bytes::Bytes;
use chrono::{DateTime, Utc};
use engine::{Engine, EngineConfig, Event as EngineEvent, MediaCommand, PortAllocator, WallClock};
use model::{Call, CallStatus, Direction, EventType, Extension, ExtensionSecret, Origin};
use sip::digest::DigestCredentials;
use sip::{Header, HeaderName, Method, NameAddr, Request, Response, Transport, Uri};
use sip_core::{
    ClientTxKey, DialogState, Endpoint, EndpointConfig, Event, Received, ServerTxKey, Target,
};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::{FakeClock, Ladder, NetConfig, VirtualNet};
use uuid::Uuid;

pub const ENGINE: &str = "10.0.0.100:5060";
pub const ENGINE_HOST: &str = "10.0.0.100";
pub const PUBLIC_IP: &str = "198.51.100.10";

pub fn engine_addr() -> SocketAddr {
    ENGINE.parse().unwrap()
}

// ---- ports ----

#[derive(Debug, Default)]
struct PortState {
    next: u16,
    out: BTreeSet<u16>,
    limit: Option<usize>,
    allocated: usize,
}

/// A pure-number port pool shared with the test, so it can count.
#[derive(Debug, Clone)]
pub struct Ports(Arc<Mutex<PortState>>);

impl Ports {
    pub fn new() -> Ports {
        Ports(Arc::new(Mutex::new(PortState {
            next: 30000,
            ..PortState::default()
        })))
    }
    pub fn out(&self) -> usize {
        self.0.lock().unwrap().out.len()
    }
    pub fn allocated(&self) -> usize {
        self.0.lock().unwrap().allocated
    }
    pub fn set_limit(&self, limit: usize) {
        self.0.lock().unwrap().limit = Some(limit);
    }
}

impl PortAllocator for Ports {
    fn allocate(&mut self) -> Option<u16> {
        let mut s = self.0.lock().unwrap();
        if s.limit.is_some_and(|l| s.out.len() >= l) {
            return None;
        }
        let p = s.next;
        s.next += 2;
        s.out.insert(p);
        s.allocated += 1;
        Some(p)
    }
    fn release(&mut self, rtp_port: u16) {
        let mut s = self.0.lock().unwrap();
        assert!(s.out.remove(&rtp_port), "port {rtp_port} released twice");
    }
}

// ---- phones ----

/// What a phone does with a new INVITE.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OnInvite {
    /// 180 and nothing more.
    Ring,
    /// 200 at once.
    Answer,
    /// 180, then 200 after the delay.
    RingThenAnswer(Duration),
    /// 183 with SDP, then 200 after the delay.
    EarlyMediaThenAnswer(Duration),
    /// This final response at once.
    Reject(u16),
    /// 180, then this final response after the delay.
    RingThenReject(Duration, u16),
    /// 302 Moved Temporarily with this Contact (a phone forwarding the call).
    Redirect(&'static str),
    /// A gateway that wants digest credentials (user `gwuser`, password
    /// `gwpass`, realm `gw`): 401 to an INVITE without them, 200 to one
    /// whose response is right, 403 otherwise.
    Challenge,
    /// Nothing at all (sip-core still sends 100 Trying).
    Silent,
}

pub type Action = Box<dyn FnOnce(&mut Phone, Instant)>;

pub struct Phone {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub ep: Endpoint,
    pub on_invite: OnInvite,
    /// (username, password) for digest.
    pub creds: Option<(String, String)>,
    /// Which digest algorithm to answer with when both are offered.
    pub algorithm: &'static str,
    /// From user part when not the credentials' user.
    pub from_user: Option<String>,
    /// Extra headers of the 200 answering a new INVITE.
    pub answer_headers: Vec<Header>,
    /// Never ACK a 2xx (a broken caller).
    pub no_ack: bool,
    /// Bodies of the ACKs received.
    pub acks: Vec<String>,
    pub log: Vec<(Duration, Event)>,
    pub later: Vec<(Instant, Action)>,
    /// Requests sent, as built (no Via), to resend with credentials.
    sent: HashMap<ClientTxKey, Request>,
    /// Requests already resent with credentials (no second try).
    retried: BTreeSet<ClientTxKey>,
    /// The last Authorization / Proxy-Authorization value sent.
    pub last_credentials: Option<(HeaderName, String)>,
    /// INVITEs received (server key, request).
    pub incoming: Vec<(ServerTxKey, Request)>,
    /// REGISTERs received (by a challenging gateway).
    pub registers: Vec<Request>,
    /// SDP bodies received in requests (INVITE, re-INVITE, UPDATE).
    pub offers_received: Vec<String>,
    /// Final responses received: (request key, status).
    pub finals: Vec<(ClientTxKey, Method, u16)>,
    /// The Contact of every 3xx received.
    pub redirect_contacts: Vec<String>,
    pub media_port: u16,
    /// Codecs this phone answers with (default PCMU, PCMA, telephone-event).
    pub answer_codecs: Vec<sdp::CodecSpec>,
    base: Instant,
    cnonce: u32,
}

impl Phone {
    pub fn new(
        name: &'static str,
        addr: &str,
        creds: Option<(&str, &str)>,
        on_invite: OnInvite,
        base: Instant,
        seed: u64,
    ) -> Phone {
        let addr: SocketAddr = addr.parse().unwrap();
        Phone {
            name,
            addr,
            ep: Endpoint::new(EndpointConfig::new(addr, seed)),
            on_invite,
            creds: creds.map(|(u, p)| (u.to_owned(), p.to_owned())),
            algorithm: "SHA-256",
            from_user: None,
            answer_headers: Vec::new(),
            no_ack: false,
            acks: Vec::new(),
            log: Vec::new(),
            later: Vec::new(),
            sent: HashMap::new(),
            retried: BTreeSet::new(),
            last_credentials: None,
            incoming: Vec::new(),
            registers: Vec::new(),
            offers_received: Vec::new(),
            finals: Vec::new(),
            redirect_contacts: Vec::new(),
            media_port: match addr.ip() {
                std::net::IpAddr::V4(a) => 4000 + u16::from(a.octets()[3]) * 10,
                std::net::IpAddr::V6(_) => 4000,
            },
            answer_codecs: vec![
                sdp::CodecSpec::new("PCMU", 8000, 1),
                sdp::CodecSpec::new("PCMA", 8000, 1),
                sdp::CodecSpec::new("telephone-event", 8000, 1),
            ],
            base,
            cnonce: 0,
        }
    }

    pub fn user(&self) -> String {
        if let Some(u) = &self.from_user {
            return u.clone();
        }
        self.creds
            .as_ref()
            .map_or(self.name.to_owned(), |(u, _)| u.clone())
    }

    pub fn offer(&self, direction: &str) -> String {
        let ip = self.addr.ip();
        format!(
            "v=0\r\no={} 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n",
            self.name, self.media_port
        )
    }

    /// An RFC 3264 answer to `offer` from this phone's media address.
    pub fn answer(&self, offer: &[u8]) -> Option<String> {
        let offer = sdp::SessionDescription::parse(std::str::from_utf8(offer).ok()?).ok()?;
        let ip = self.addr.ip().to_string();
        sdp::answer(&offer, &self.answer_codecs, &ip, &[self.media_port], 5)
            .ok()
            .map(|a| a.to_text())
    }

    fn request(&mut self, method: Method, uri: &str, to: &str) -> Request {
        let from =
            NameAddr::new(Uri::from_text(&format!("sip:{}@{ENGINE_HOST}", self.user())).unwrap());
        let to = NameAddr::new(Uri::from_text(to).unwrap());
        self.ep
            .build_request(method, Uri::from_text(uri).unwrap(), from, to)
    }

    fn send(&mut self, now: Instant, req: Request) -> ClientTxKey {
        let key = self
            .ep
            .send_request(now, req.clone(), Target::udp(engine_addr()))
            .unwrap();
        self.sent.insert(key, req);
        key
    }

    /// Calls `number` at the engine with an SDP offer.
    pub fn invite(&mut self, now: Instant, number: &str) -> ClientTxKey {
        self.invite_with(
            now,
            number,
            vec![Header::new(HeaderName::Supported, "timer")],
        )
    }

    /// Calls `number` with these extra headers.
    pub fn invite_with(&mut self, now: Instant, number: &str, headers: Vec<Header>) -> ClientTxKey {
        let uri = format!("sip:{number}@{ENGINE_HOST}");
        let mut req = self.request(Method::Invite, &uri, &uri);
        for h in headers {
            req.headers.push(h);
        }
        let offer = self.offer("sendrecv");
        req.set_body(Some("application/sdp"), Bytes::from(offer));
        self.send(now, req)
    }

    /// Calls `number` with extra headers and this body as `application/sdp`.
    pub fn invite_raw(
        &mut self,
        now: Instant,
        number: &str,
        headers: Vec<Header>,
        body: &str,
    ) -> ClientTxKey {
        let uri = format!("sip:{number}@{ENGINE_HOST}");
        let mut req = self.request(Method::Invite, &uri, &uri);
        for h in headers {
            req.headers.set(h);
        }
        req.set_body(Some("application/sdp"), Bytes::from(body.to_owned()));
        self.send(now, req)
    }

    /// Calls `number` without an SDP offer (late offer).
    pub fn invite_without_sdp(&mut self, now: Instant, number: &str) -> ClientTxKey {
        let uri = format!("sip:{number}@{ENGINE_HOST}");
        let req = self.request(Method::Invite, &uri, &uri);
        self.send(now, req)
    }

    /// INFO in the confirmed dialog.
    pub fn info(&mut self, now: Instant, content_type: &str, body: &str) -> ClientTxKey {
        let d = self.dialog().expect("a confirmed dialog");
        let mut req = self.ep.dialog_request(&d, Method::Info).unwrap();
        req.set_body(Some(content_type), Bytes::from(body.to_owned()));
        self.ep.send_in_dialog(now, &d, req).unwrap()
    }

    /// REGISTER for its own user.
    pub fn register(&mut self, now: Instant, expires: u32) -> ClientTxKey {
        let user = self.user();
        self.register_as(now, &user, expires)
    }

    /// REGISTER for the address of record of `user`.
    pub fn register_as(&mut self, now: Instant, user: &str, expires: u32) -> ClientTxKey {
        let aor = format!("sip:{user}@{ENGINE_HOST}");
        let mut req = self.request(Method::Register, &format!("sip:{ENGINE_HOST}"), &aor);
        let contact = format!("<sip:{user}@{}>", self.addr);
        req.headers.set(Header::new(HeaderName::Contact, contact));
        req.headers
            .push(Header::new(HeaderName::Expires, expires.to_string()));
        self.send(now, req)
    }

    /// Sends `req` again as a new transaction with one header replaced.
    pub fn resend_with(&mut self, now: Instant, key: ClientTxKey, h: Header) -> ClientTxKey {
        let mut req = self.sent.get(&key).expect("a request we sent").clone();
        let cseq = req.headers.cseq().unwrap();
        req.headers.set(Header::new(
            HeaderName::CSeq,
            format!("{} {}", cseq.seq + 1, cseq.method),
        ));
        req.headers.set(h);
        self.send(now, req)
    }

    /// Marks a request as not to be answered with credentials.
    pub fn retried_insert(&mut self, key: ClientTxKey) {
        self.retried.insert(key);
    }

    pub fn dialog(&self) -> Option<sip_core::DialogId> {
        self.ep
            .dialogs()
            .find(|d| d.state() == DialogState::Confirmed)
            .map(|d| d.id().clone())
    }

    pub fn bye(&mut self, now: Instant) -> ClientTxKey {
        let d = self.dialog().expect("a confirmed dialog");
        let bye = self.ep.dialog_request(&d, Method::Bye).unwrap();
        self.ep.send_in_dialog(now, &d, bye).unwrap()
    }

    /// re-INVITE (or UPDATE) with an offer whose direction is `direction`.
    pub fn reoffer(&mut self, now: Instant, method: Method, direction: &str) -> ClientTxKey {
        let d = self.dialog().expect("a confirmed dialog");
        let mut req = self.ep.dialog_request(&d, method).unwrap();
        let offer = self.offer(direction);
        req.set_body(Some("application/sdp"), Bytes::from(offer));
        self.ep.send_in_dialog(now, &d, req).unwrap()
    }

    /// A session refresh: UPDATE without a body (RFC 4028 §7.4).
    pub fn refresh(&mut self, now: Instant) -> ClientTxKey {
        let d = self.dialog().expect("a confirmed dialog");
        let req = self.ep.dialog_request(&d, Method::Update).unwrap();
        self.ep.send_in_dialog(now, &d, req).unwrap()
    }

    pub fn cancel(&mut self, now: Instant, invite: ClientTxKey) {
        self.ep.cancel(now, invite).unwrap();
    }

    /// The final status of the request `key` got, if any.
    pub fn final_status(&self, key: ClientTxKey) -> Option<u16> {
        self.finals
            .iter()
            .rev()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, s)| *s)
    }

    /// The final response of the request `key` (or of its resend with credentials).
    pub fn final_response(&self, key: ClientTxKey) -> Option<&Response> {
        self.log.iter().find_map(|(_, e)| match e {
            Event::Response {
                key: k, response, ..
            } if *k == key && response.status >= 200 => Some(response),
            _ => None,
        })
    }

    /// Every response status received, in order, for any request.
    pub fn statuses(&self) -> Vec<u16> {
        self.log
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Response { response, .. } => Some(response.status),
                _ => None,
            })
            .collect()
    }

    pub fn got_cancel(&self) -> bool {
        self.log
            .iter()
            .any(|(_, e)| matches!(e, Event::Cancelled { .. }))
    }

    pub fn got_request(&self, method: Method) -> bool {
        self.log
            .iter()
            .any(|(_, e)| matches!(e, Event::Request { request, .. } if request.method == method))
    }

    fn react(&mut self, now: Instant, ev: &Event) {
        match ev {
            Event::Request {
                key,
                request,
                dialog,
            } => {
                if !request.body.is_empty() {
                    self.offers_received
                        .push(String::from_utf8_lossy(&request.body).into_owned());
                }
                match (&request.method, dialog) {
                    (Method::Invite, None) => self.on_new_invite(now, *key, request.clone()),
                    (Method::Invite | Method::Update, Some(_)) => {
                        let answer = self.answer(&request.body);
                        let mut resp = self.ep.response_for(*key, 200, "OK").unwrap();
                        if let Some(a) = answer {
                            resp.set_body(Some("application/sdp"), Bytes::from(a));
                        }
                        let _ = self.ep.send_response(now, *key, resp);
                    }
                    (Method::Register, _) if self.on_invite == OnInvite::Challenge => {
                        self.registers.push(request.clone());
                        match gateway_digest(request, "REGISTER") {
                            None => {
                                let mut resp =
                                    self.ep.response_for(*key, 401, "Unauthorized").unwrap();
                                resp.headers.push(Header::new(
                                    HeaderName::WwwAuthenticate,
                                    GATEWAY_CHALLENGE,
                                ));
                                let _ = self.ep.send_response(now, *key, resp);
                            }
                            Some(true) => {
                                let mut resp = self.ep.response_for(*key, 200, "OK").unwrap();
                                resp.headers.push(Header::new(HeaderName::Expires, "120"));
                                let _ = self.ep.send_response(now, *key, resp);
                            }
                            Some(false) => {
                                let _ = self.ep.respond(now, *key, 403, "Forbidden");
                            }
                        }
                    }
                    _ => {
                        let _ = self.ep.respond(now, *key, 200, "OK");
                    }
                }
            }
            Event::Response {
                key,
                response,
                dialog,
            } => {
                let method = response.headers.cseq().unwrap().method;
                if response.status >= 200 {
                    self.finals.push((*key, method.clone(), response.status));
                }
                if (300..400).contains(&response.status) {
                    if let Ok(Some(sip::Contact::Addrs(list))) = response.headers.contact() {
                        self.redirect_contacts
                            .extend(list.iter().map(|c| c.to_string()));
                    }
                }
                if response.is_success() && method == Method::Invite && !self.no_ack {
                    // After a late offer the 2xx carries the offer: the ACK answers it.
                    let late = self.sent.get(key).is_some_and(|r| r.body.is_empty());
                    let body = if late && !response.body.is_empty() {
                        self.answer(&response.body)
                            .map(|a| ("application/sdp", Bytes::from(a)))
                    } else {
                        None
                    };
                    if let Some(d) = dialog {
                        let _ = self.ep.ack(now, d, body);
                    }
                }
                if matches!(response.status, 401 | 407) && !self.retried.contains(key) {
                    self.retried.insert(*key);
                    self.authenticate(now, *key, response);
                }
            }
            Event::Ack { request, .. } => {
                self.acks
                    .push(String::from_utf8_lossy(&request.body).into_owned());
            }
            _ => {}
        }
    }

    /// Answers a challenge by resending the request with credentials.
    fn authenticate(&mut self, now: Instant, key: ClientTxKey, resp: &Response) {
        let Some((user, password)) = self.creds.clone() else {
            return;
        };
        let Some(req) = self.sent.get(&key).cloned() else {
            return;
        };
        let (challenge_name, credentials_name) = if resp.status == 401 {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        } else {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            )
        };
        let challenges = resp.headers.auth(&challenge_name).unwrap();
        let challenge = challenges
            .iter()
            .find(|c| {
                c.param("algorithm")
                    .is_some_and(|a| a.eq_ignore_ascii_case(self.algorithm.as_bytes()))
            })
            .or(challenges.first())
            .expect("a challenge");
        self.cnonce += 1;
        let creds = DigestCredentials::answer(
            challenge,
            &user,
            &password,
            &req.method.to_string(),
            &req.uri.to_string(),
            &format!("cn{}", self.cnonce),
            1,
        )
        .unwrap();
        let value = creds.to_string();
        self.last_credentials = Some((credentials_name.clone(), value.clone()));
        // One try: a second challenge is final.
        let new = self.resend_with(now, key, Header::new(credentials_name, value));
        self.retried.insert(new);
    }

    fn on_new_invite(&mut self, now: Instant, key: ServerTxKey, req: Request) {
        self.incoming.push((key, req.clone()));
        // No offer (RFC 3261 §13.2.1 late offer): the 200 carries ours.
        let answer = if req.body.is_empty() {
            Some(self.offer("sendrecv"))
        } else {
            self.answer(&req.body)
        };
        let answer_later = |d: Duration, a: Option<String>| -> (Instant, Action) {
            (
                now + d,
                Box::new(move |p: &mut Phone, now| {
                    let mut resp = match p.ep.response_for(key, 200, "OK") {
                        Ok(r) => r,
                        Err(_) => return,
                    };
                    for h in &p.answer_headers {
                        resp.headers.push(h.clone());
                    }
                    if let Some(a) = a {
                        resp.set_body(Some("application/sdp"), Bytes::from(a));
                    }
                    let _ = p.ep.send_response(now, key, resp);
                }),
            )
        };
        match self.on_invite {
            OnInvite::Ring => {
                let _ = self.ep.respond(now, key, 180, "Ringing");
            }
            OnInvite::Answer => {
                let later = answer_later(Duration::ZERO, answer);
                (later.1)(self, now);
            }
            OnInvite::RingThenAnswer(d) => {
                let _ = self.ep.respond(now, key, 180, "Ringing");
                let later = answer_later(d, answer);
                self.later.push(later);
            }
            OnInvite::EarlyMediaThenAnswer(d) => {
                let mut resp = self.ep.response_for(key, 183, "Session Progress").unwrap();
                if let Some(a) = &answer {
                    resp.set_body(Some("application/sdp"), Bytes::from(a.clone()));
                }
                let _ = self.ep.send_response(now, key, resp);
                let later = answer_later(d, answer);
                self.later.push(later);
            }
            OnInvite::Reject(code) => {
                let _ = self.ep.respond(now, key, code, "Rejected");
            }
            OnInvite::Redirect(contact) => {
                if let Ok(mut resp) = self.ep.response_for(key, 302, "Moved Temporarily") {
                    resp.headers.remove(&HeaderName::Contact);
                    resp.headers.push(Header::new(HeaderName::Contact, contact));
                    let _ = self.ep.send_response(now, key, resp);
                }
            }
            OnInvite::RingThenReject(d, code) => {
                let _ = self.ep.respond(now, key, 180, "Ringing");
                self.later.push((
                    now + d,
                    Box::new(move |p: &mut Phone, now| {
                        let _ = p.ep.respond(now, key, code, "Rejected");
                    }),
                ));
            }
            OnInvite::Challenge => match gateway_digest(&req, "INVITE") {
                None => {
                    let mut resp = self.ep.response_for(key, 401, "Unauthorized").unwrap();
                    resp.headers
                        .push(Header::new(HeaderName::WwwAuthenticate, GATEWAY_CHALLENGE));
                    let _ = self.ep.send_response(now, key, resp);
                }
                Some(true) => {
                    let later = answer_later(Duration::ZERO, answer);
                    (later.1)(self, now);
                }
                Some(false) => {
                    let _ = self.ep.respond(now, key, 403, "Forbidden");
                }
            },
            OnInvite::Silent => {}
        }
    }
}

/// What a challenging gateway asks for (user `gwuser`, password `gwpass`).
pub const GATEWAY_CHALLENGE: &str =
    "Digest realm=\"gw\", nonce=\"n0nce\", algorithm=MD5, qop=\"auth\"";

/// A challenging gateway's check of `req`: `None` without credentials,
/// else whether they answer [`GATEWAY_CHALLENGE`] for `gwuser`/`gwpass`.
pub fn gateway_digest(req: &Request, method: &str) -> Option<bool> {
    let given = req.headers.authorization().ok()?.into_iter().next()?;
    let param = |n: &str| {
        given
            .param(n)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let challenge = sip::digest::AuthHeader::parse(&Bytes::from(GATEWAY_CHALLENGE)).unwrap();
    let expected = DigestCredentials::answer(
        &challenge,
        "gwuser",
        "gwpass",
        method,
        &param("uri"),
        &param("cnonce"),
        1,
    )?;
    Some(param("username") == "gwuser" && param("response") == expected.response)
}

// ---- the world ----

pub fn extension(
    number: &str,
    name: &str,
    password: &str,
    static_contact: Option<&str>,
) -> ExtensionSecret {
    ExtensionSecret {
        extension: Extension {
            id: Uuid::nil(),
            extension: number.into(),
            name: name.into(),
            static_contact: static_contact.map(str::to_owned),
            origin: Origin::Api,
            tm_create: DateTime::UNIX_EPOCH,
            tm_update: DateTime::UNIX_EPOCH,
        },
        password: password.into(),
    }
}

pub fn origin_utc() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap() // 2026-01-01T00:00:00Z
}

pub struct World {
    pub clock: FakeClock,
    pub net: VirtualNet,
    pub engine: Engine,
    pub phones: Vec<Phone>,
    pub ports: Ports,
    pub events: Vec<(Duration, EngineEvent)>,
    pub ladder: Ladder,
    pub steps: usize,
    pub max_steps: usize,
}

/// Settings a test may change before the world starts.
pub fn default_config(seed: u64) -> EngineConfig {
    let mut cfg = EngineConfig::new(
        EndpointConfig::new(engine_addr(), seed),
        PUBLIC_IP.parse().unwrap(),
        [7; 32],
    );
    cfg.trusted_peers = vec!["10.0.1.0/24".parse().unwrap()];
    cfg.rng_seed = seed;
    cfg
}

impl World {
    /// The engine with extensions 100 (alice), 200 (bob, two phones), 300
    /// (a desk phone at a static contact), 400 (static contact nobody
    /// answers at), 500 (no contact at all); phones alice, bob, bob2, desk
    /// and a trusted trunk. Nothing is registered yet.
    pub fn new(seed: u64, net: NetConfig) -> World {
        World::with_config(seed, net, default_config(seed))
    }

    pub fn with_config(seed: u64, net: NetConfig, cfg: EngineConfig) -> World {
        let clock = FakeClock::new();
        let wall = WallClock {
            origin: clock.now(),
            origin_utc: origin_utc(),
        };
        let ports = Ports::new();
        let mut engine = Engine::new(cfg, wall, Box::new(ports.clone()));
        engine.upsert_extension(extension("100", "Alice", "alice-pw", None));
        engine.upsert_extension(extension("200", "Bob", "bob-pw", None));
        engine.upsert_extension(extension(
            "300",
            "Desk",
            "desk-pw",
            Some("sip:10.0.0.5:5060"),
        ));
        engine.upsert_extension(extension("400", "Gone", "gone-pw", Some("sip:10.9.9.9")));
        engine.upsert_extension(extension("500", "Nobody", "nobody-pw", None));
        let base = clock.now();
        let phones = vec![
            Phone::new(
                "alice",
                "10.0.0.1:5060",
                Some(("100", "alice-pw")),
                OnInvite::RingThenAnswer(Duration::from_secs(2)),
                base,
                seed * 10 + 1,
            ),
            Phone::new(
                "bob",
                "10.0.0.2:5060",
                Some(("200", "bob-pw")),
                OnInvite::RingThenAnswer(Duration::from_secs(2)),
                base,
                seed * 10 + 2,
            ),
            Phone::new(
                "bob2",
                "10.0.0.3:5060",
                Some(("200", "bob-pw")),
                OnInvite::Ring,
                base,
                seed * 10 + 3,
            ),
            Phone::new(
                "desk",
                "10.0.0.5:5060",
                None,
                OnInvite::RingThenAnswer(Duration::from_secs(1)),
                base,
                seed * 10 + 5,
            ),
            Phone::new(
                "trunk",
                "10.0.1.1:5060",
                None,
                OnInvite::RingThenAnswer(Duration::from_secs(1)),
                base,
                seed * 10 + 6,
            ),
        ];
        World {
            clock,
            net: VirtualNet::new(seed, net),
            engine,
            phones,
            ports,
            events: Vec::new(),
            ladder: Ladder::new(),
            steps: 0,
            max_steps: 200_000,
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    pub fn phone(&mut self, name: &str) -> &mut Phone {
        self.phones
            .iter_mut()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no phone {name}"))
    }

    pub fn phone_ref(&self, name: &str) -> &Phone {
        self.phones.iter().find(|p| p.name == name).unwrap()
    }

    /// Runs `f` on a phone at the current time.
    pub fn with<R>(&mut self, name: &str, f: impl FnOnce(&mut Phone, Instant) -> R) -> R {
        let now = self.now();
        let r = f(self.phone(name), now);
        self.pump();
        r
    }

    /// Registers a phone (digest included) and waits for the 200.
    pub fn register(&mut self, name: &str) {
        self.with(name, |p, now| p.register(now, 600));
        let ok = self.run_until(|w| {
            w.phone_ref(name)
                .finals
                .iter()
                .any(|(_, m, s)| *m == Method::Register && *s == 200)
        });
        assert!(ok, "{name} did not register\n{}", self.ladder);
    }

    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            let now = self.clock.now();
            let engine = engine_addr();
            while let Some(t) = self.engine.poll_transmit() {
                moved = true;
                self.send(now, engine, t.remote, t.bytes);
            }
            while let Some(e) = self.engine.poll_event() {
                moved = true;
                self.events.push((self.clock.elapsed(), e));
            }
            for i in 0..self.phones.len() {
                while let Some(t) = self.phones[i].ep.poll_transmit() {
                    moved = true;
                    let from = self.phones[i].addr;
                    self.send(now, from, t.remote, t.bytes);
                }
                while let Some(ev) = self.phones[i].ep.poll_event() {
                    moved = true;
                    let p = &mut self.phones[i];
                    p.react(now, &ev);
                    let at = now - p.base;
                    p.log.push((at, ev));
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: Bytes) {
        let before = self.net.dropped();
        self.net.send(now, from, to, bytes.clone());
        let lost = self.net.dropped() > before;
        self.ladder
            .record(self.clock.elapsed(), from, to, &bytes, lost);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let phones = self.phones.iter().flat_map(|p| {
            p.ep.poll_timeout()
                .into_iter()
                .chain(p.later.iter().map(|l| l.0))
        });
        [self.net.next_delivery_time(), self.engine.poll_timeout()]
            .into_iter()
            .flatten()
            .chain(phones)
            .min()
    }

    /// One step: jump to the next deadline and process everything due.
    pub fn step(&mut self) -> bool {
        self.pump();
        let Some(next) = self.next_deadline() else {
            return false;
        };
        self.steps += 1;
        assert!(self.steps < self.max_steps, "livelock\n{}", self.ladder);
        self.clock.set(next);
        let now = self.clock.now();
        for d in self.net.deliver_due(now) {
            let rx = Received {
                transport: Transport::Udp,
                local: d.to,
                remote: d.from,
                bytes: d.bytes,
            };
            if d.to == engine_addr() {
                self.engine.handle_receive(now, rx);
            } else if let Some(p) = self.phones.iter_mut().find(|p| p.addr == d.to) {
                p.ep.handle_receive(now, rx);
            }
            self.pump();
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        for p in &mut self.phones {
            if p.ep.poll_timeout().is_some_and(|t| t <= now) {
                p.ep.handle_timeout(now);
            }
            let (due, rest): (Vec<_>, Vec<_>) = p.later.drain(..).partition(|l| l.0 <= now);
            p.later = rest;
            for (_, f) in due {
                f(p, now);
            }
        }
        self.pump();
        true
    }

    pub fn run_until(&mut self, done: impl Fn(&World) -> bool) -> bool {
        loop {
            self.pump();
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.clock.now() + d;
        while self.next_deadline().is_some_and(|t| t <= end) {
            self.step();
        }
        self.clock.set(end);
    }

    pub fn run_until_idle(&mut self) {
        while self.step() {}
    }

    // ---- what the server would have stored ----

    /// Call ids in creation order.
    pub fn call_ids(&self) -> Vec<Uuid> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                EngineEvent::Call {
                    kind: EventType::CallCreated,
                    call,
                } => Some(call.id),
                _ => None,
            })
            .collect()
    }

    /// The latest record of a call, from the events.
    pub fn record(&self, id: Uuid) -> Call {
        self.events
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                EngineEvent::Call { call, .. } if call.id == id => Some(call.clone()),
                _ => None,
            })
            .expect("a call with events")
    }

    pub fn records(&self) -> Vec<Call> {
        self.call_ids()
            .into_iter()
            .map(|id| self.record(id))
            .collect()
    }

    /// The (only) master call.
    pub fn master(&self) -> Call {
        let masters: Vec<Call> = self
            .records()
            .into_iter()
            .filter(|c| c.direction == Direction::Incoming)
            .collect();
        assert_eq!(masters.len(), 1, "{masters:#?}");
        masters.into_iter().next().unwrap()
    }

    pub fn forks(&self) -> Vec<Call> {
        self.records()
            .into_iter()
            .filter(|c| c.direction == Direction::Outgoing)
            .collect()
    }

    /// The events of one call: (kind, status after it).
    pub fn call_events(&self, id: Uuid) -> Vec<(EventType, CallStatus)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                EngineEvent::Call { kind, call } if call.id == id => Some((*kind, call.status)),
                _ => None,
            })
            .collect()
    }

    /// The statuses a call went through, in order (from its events).
    pub fn status_path(&self, id: Uuid) -> Vec<CallStatus> {
        let mut path: Vec<CallStatus> = Vec::new();
        for (_, s) in self.call_events(id) {
            if path.last() != Some(&s) {
                path.push(s);
            }
        }
        path
    }

    pub fn media_commands(&self) -> Vec<MediaCommand> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                EngineEvent::Media(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether an event stream holds a call in `status`.
    pub fn reached(&self, id: Uuid, status: CallStatus) -> bool {
        self.call_events(id).iter().any(|(_, s)| *s == status)
    }

    pub fn all_ended(&self) -> bool {
        !self.call_ids().is_empty()
            && self
                .records()
                .iter()
                .all(|c| c.status == CallStatus::Hangup)
    }

    /// For scenarios that create no call: nothing active, no port out.
    pub fn assert_clean_no_calls(&mut self) {
        self.run_until_idle();
        assert_eq!(self.engine.active_calls(), 0);
        assert_eq!(self.ports.out(), 0);
        assert!(self.media_commands().is_empty());
    }

    /// Runs everything down and checks what every scenario must leave:
    /// no active call, no port out, every OpenLeg closed, event order sane.
    pub fn assert_clean(&mut self) {
        self.run_until_idle();
        assert_eq!(
            self.engine.active_calls(),
            0,
            "active calls left\n{}",
            self.ladder
        );
        assert_eq!(self.ports.out(), 0, "ports left allocated");
        for c in self.records() {
            assert_eq!(c.status, CallStatus::Hangup, "{c:#?}");
            assert!(c.hangup_by.is_some() && c.hangup_reason.is_some(), "{c:#?}");
            check_timestamps(&c);
            check_event_order(self, c.id);
        }
        let cmds = self.media_commands();
        let opened: Vec<Uuid> = cmds
            .iter()
            .filter_map(|m| match m {
                MediaCommand::OpenLeg { leg, .. } => Some(*leg),
                _ => None,
            })
            .collect();
        let closed: Vec<Uuid> = cmds
            .iter()
            .filter_map(|m| match m {
                MediaCommand::CloseLeg { leg } => Some(*leg),
                _ => None,
            })
            .collect();
        let mut o = opened.clone();
        o.sort();
        let mut c = closed.clone();
        c.sort();
        assert_eq!(o, c, "every OpenLeg has exactly one CloseLeg");
        assert!(
            self.engine.calls().next().is_none(),
            "ended calls are forgotten"
        );
    }
}

/// tm_create ≤ tm_ringing ≤ tm_progressing ≤ tm_hangup, where set.
pub fn check_timestamps(c: &Call) {
    let mut last = c.tm_create;
    for t in [c.tm_ringing, c.tm_progressing, c.tm_hangup]
        .into_iter()
        .flatten()
    {
        assert!(t >= last, "timestamps out of order: {c:#?}");
        last = t;
    }
    assert!(c.tm_update >= last);
}

/// CallCreated first; CallRinging/Progressing/Hangup each right after a
/// CallUpdated with that status; exactly one CallHangup, last.
pub fn check_event_order(w: &World, id: Uuid) {
    let evs = w.call_events(id);
    assert_eq!(evs[0].0, EventType::CallCreated, "{evs:?}");
    assert_eq!(
        evs.iter().filter(|e| e.0 == EventType::CallCreated).count(),
        1
    );
    for (i, (kind, status)) in evs.iter().enumerate() {
        let want = match kind {
            EventType::CallRinging => CallStatus::Ringing,
            EventType::CallProgressing => CallStatus::Progressing,
            EventType::CallHangup => CallStatus::Hangup,
            _ => continue,
        };
        assert_eq!(*status, want, "{evs:?}");
        assert_eq!(evs[i - 1], (EventType::CallUpdated, want), "{evs:?}");
    }
    assert_eq!(evs.last().unwrap().0, EventType::CallHangup, "{evs:?}");
    assert_eq!(
        evs.iter().filter(|e| e.0 == EventType::CallHangup).count(),
        1
    );
}
