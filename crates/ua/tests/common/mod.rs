//! `World`: a [`UaCore`] and a scripted peer (a `sip_core::Endpoint` acting
//! as registrar, proxy and the other phone) exchanging datagrams in memory
//! on a [`FakeClock`]. Nothing runs on its own: the test answers every
//! request the peer receives, and time only moves when the test asks, by
//! jumping to the next `poll_timeout` of either side. A step bound catches
//! livelock.

#![allow(dead_code)]

use bytes::Bytes;
use sip::{Header, HeaderName, Method, NameAddr, Request, Response, Transport, Uri};
use sip_core::{
    AuthConfig, AuthOutcome, Authenticator, Challenger, ClientTxKey, DialogId, DialogState,
    Endpoint, EndpointConfig, Event as PeerEvent, Received, ServerTxKey, Target,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use testkit::{FakeClock, Ladder};
use ua::core::media_sdp::LocalMedia;
use ua::media::{CodecKind, MediaParams, VideoParams};
use ua::{Account, Action, CallId, CallState, CoreConfig, Event, Output, UaCore};

pub const UA_ADDR: &str = "10.0.0.1:5060";
pub const SERVER: &str = "10.0.0.2:5060";
pub const DOMAIN: &str = "pbx.test";
pub const USER: &str = "1001";
pub const PASSWORD: &str = "secret";
/// The peer's media address in its SDP.
pub const PEER_MEDIA: &str = "10.0.0.2:6000";
pub const PEER_VIDEO: &str = "10.0.0.2:6002";

/// Steps one `settle` may take before the test is declared livelocked.
const MAX_STEPS: usize = 10_000;

pub fn ua_addr() -> SocketAddr {
    UA_ADDR.parse().unwrap()
}

pub fn server() -> SocketAddr {
    SERVER.parse().unwrap()
}

/// `1001` at `pbx.test`, password `secret`, served by the peer.
pub fn account() -> Account {
    let mut a = Account::new(server(), USER, Some(PASSWORD));
    a.domain = Some(DOMAIN.into());
    a
}

/// Our media sockets (fake: nothing is bound).
pub fn media() -> LocalMedia {
    LocalMedia {
        audio: "10.0.0.1:40000".parse().unwrap(),
        video: Some("10.0.0.1:40002".parse().unwrap()),
    }
}

pub fn audio_only() -> LocalMedia {
    LocalMedia {
        video: None,
        ..media()
    }
}

/// The peer's SDP: G.729 (which we do not have), PCMA, PCMU and telephone-event,
/// with this direction.
pub fn peer_sdp(direction: &str) -> String {
    format!(
        "v=0\r\no=peer 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
         m=audio 6000 RTP/AVP 18 8 0 101\r\na=rtpmap:18 G729/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na={direction}\r\n"
    )
}

/// [`peer_sdp`] plus a VP8 video line.
pub fn peer_sdp_video(direction: &str, video_direction: &str) -> String {
    format!(
        "{}m=video 6002 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\na={video_direction}\r\n",
        peer_sdp(direction)
    )
}

/// The audio stream both sides settle on with [`peer_sdp`]: PCMA, events on 101.
pub fn pcma(send: bool, recv: bool) -> MediaParams {
    MediaParams {
        remote: PEER_MEDIA.parse().unwrap(),
        codec: CodecKind::Pcma,
        payload_type: 8,
        dtmf_payload_type: Some(101),
        send,
        recv,
    }
}

pub fn video(send: bool, recv: bool) -> VideoParams {
    VideoParams {
        remote: PEER_VIDEO.parse().unwrap(),
        send,
        recv,
    }
}

pub fn state(call: CallId, state: CallState) -> Output {
    Output::Event(Event::State { call, state })
}

pub fn ev(e: Event) -> Output {
    Output::Event(e)
}

pub fn act(a: Action) -> Output {
    Output::Action(a)
}

pub fn media_action(call: CallId, params: MediaParams) -> Output {
    Output::Action(Action::Media { call, params })
}

/// A request the peer received: answer it with the `World`'s helpers.
#[derive(Debug, Clone)]
pub struct PeerReq {
    pub key: ServerTxKey,
    pub req: Request,
    pub dialog: Option<DialogId>,
}

impl PeerReq {
    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.req.headers, name)
    }

    pub fn body(&self) -> String {
        String::from_utf8_lossy(&self.req.body).into_owned()
    }

    pub fn sdp(&self) -> sdp::SessionDescription {
        sdp::SessionDescription::parse(&self.body()).expect("an SDP body")
    }

    pub fn call_id(&self) -> Bytes {
        self.req.headers.call_id().unwrap()
    }

    pub fn cseq(&self) -> u32 {
        self.req.headers.cseq().unwrap().seq
    }
}

/// A header's value by name (case-insensitive), as text.
pub fn header(headers: &sip::Headers, name: &str) -> Option<String> {
    headers
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
}

pub struct World {
    pub clock: FakeClock,
    pub ua: UaCore,
    pub peer: Endpoint,
    /// The peer's digest checks (realm `pbx.test`; `1001` / `secret`).
    pub auth: Authenticator,
    /// What the UA put out, not yet taken by the test.
    pub out: VecDeque<Output>,
    /// What the peer's endpoint reported, not yet taken (dialog changes dropped).
    pub peer_events: VecDeque<PeerEvent>,
    /// Every datagram, both ways.
    pub ladder: Ladder,
    /// The peer is unreachable: what the UA sends is lost.
    pub peer_down: bool,
}

impl World {
    pub fn new() -> World {
        World::with_account(account())
    }

    pub fn with_account(account: Account) -> World {
        World::with_config(CoreConfig::new(account, ua_addr(), 7))
    }

    pub fn with_config(config: CoreConfig) -> World {
        let clock = FakeClock::new();
        World {
            ua: UaCore::new(config),
            peer: Endpoint::new(EndpointConfig::new(server(), 11)),
            auth: Authenticator::new(AuthConfig::new(DOMAIN, [9; 32]), 13),
            out: VecDeque::new(),
            peer_events: VecDeque::new(),
            ladder: Ladder::new(),
            peer_down: false,
            clock,
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Time since the test started.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    // ------------------------------------------------------------ running

    /// Delivers every datagram and fires every timer due now, until both sides are quiet.
    pub fn settle(&mut self) {
        let now = self.now();
        for _ in 0..MAX_STEPS {
            let mut busy = false;
            while let Some(t) = self.ua.poll_transmit() {
                busy = true;
                let lost = self.peer_down || t.remote != server();
                self.ladder
                    .record(self.elapsed(), ua_addr(), t.remote, &t.bytes, lost);
                if !lost {
                    self.peer
                        .handle_receive(now, rx(server(), ua_addr(), t.bytes));
                }
            }
            while let Some(t) = self.peer.poll_transmit() {
                busy = true;
                let lost = t.remote != ua_addr();
                self.ladder
                    .record(self.elapsed(), server(), t.remote, &t.bytes, lost);
                if !lost {
                    self.ua
                        .handle_receive(now, rx(ua_addr(), server(), t.bytes));
                }
            }
            while let Some(e) = self.peer.poll_event() {
                busy = true;
                if !matches!(e, PeerEvent::Dialog { .. }) {
                    self.peer_events.push_back(e);
                }
            }
            while let Some(o) = self.ua.poll_output() {
                busy = true;
                self.out.push_back(o);
            }
            if self.ua.poll_timeout().is_some_and(|t| t <= now) {
                busy = true;
                self.ua.handle_timeout(now);
            }
            if self.peer.poll_timeout().is_some_and(|t| t <= now) {
                busy = true;
                self.peer.handle_timeout(now);
            }
            if !busy {
                return;
            }
        }
        panic!(
            "livelock: no quiet after {MAX_STEPS} steps\n{}",
            self.ladder
        );
    }

    /// The earliest deadline of either side.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.ua
            .poll_timeout()
            .into_iter()
            .chain(self.peer.poll_timeout())
            .min()
    }

    /// Jumps to the next deadline (if any, and not after `limit`) and fires it.
    fn step_until(&mut self, limit: Instant) -> bool {
        self.settle();
        match self.next_deadline() {
            Some(t) if t <= limit => {
                self.clock.set(t);
                let now = self.now();
                self.ua.handle_timeout(now);
                self.peer.handle_timeout(now);
                self.settle();
                true
            }
            _ => false,
        }
    }

    /// Lets `d` pass, firing every deadline on the way.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now() + d;
        while self.step_until(until) {}
        self.clock.set(until);
        self.settle();
    }

    /// Runs until the peer has received a request (at most `within`); returns it.
    pub fn wait_request(&mut self, method: Method, within: Duration) -> PeerReq {
        let until = self.now() + within;
        self.settle();
        while !self.has_request() {
            if !self.step_until(until) {
                panic!(
                    "no {method} within {within:?} (at {:?})\n{}",
                    self.elapsed(),
                    self.ladder
                );
            }
        }
        self.request(method)
    }

    /// Runs until the UA has put something out (at most `within`).
    pub fn wait_output(&mut self, within: Duration) {
        let until = self.now() + within;
        self.settle();
        while self.out.is_empty() {
            if !self.step_until(until) {
                panic!("no output within {within:?}\n{}", self.ladder);
            }
        }
    }

    // ------------------------------------------------------------ the UA's side

    /// Everything the UA put out since the last call, in order.
    pub fn take(&mut self) -> Vec<Output> {
        self.settle();
        self.out.drain(..).collect()
    }

    /// Only the events the UA put out (actions are dropped: use [`World::take`]
    /// where they matter).
    pub fn events(&mut self) -> Vec<Event> {
        self.take()
            .into_iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e),
                Output::Action(_) => None,
            })
            .collect()
    }

    // ------------------------------------------------------------ the peer's side

    fn has_request(&self) -> bool {
        self.peer_events
            .iter()
            .any(|e| matches!(e, PeerEvent::Request { .. }))
    }

    /// The next request the peer received, which must be a `method`.
    pub fn request(&mut self, method: Method) -> PeerReq {
        self.settle();
        let i = self
            .peer_events
            .iter()
            .position(|e| matches!(e, PeerEvent::Request { .. }));
        let Some(PeerEvent::Request {
            key,
            request,
            dialog,
        }) = i.and_then(|i| self.peer_events.remove(i))
        else {
            panic!(
                "the peer received no request (wanted {method})\n{}",
                self.ladder
            );
        };
        assert_eq!(
            request.method, method,
            "the peer received {} instead of {method}\n{}",
            request.method, self.ladder
        );
        PeerReq {
            key,
            req: request,
            dialog,
        }
    }

    /// The peer received no request (retransmissions aside).
    pub fn no_request(&mut self) {
        self.settle();
        if let Some(PeerEvent::Request { request, .. }) = self
            .peer_events
            .iter()
            .find(|e| matches!(e, PeerEvent::Request { .. }))
        {
            panic!(
                "the peer received an unexpected {}\n{}",
                request.method, self.ladder
            );
        }
    }

    /// Statuses of the responses the peer received for its request `key`, in order.
    pub fn statuses(&mut self, key: ClientTxKey) -> Vec<u16> {
        self.responses(key).iter().map(|r| r.status).collect()
    }

    /// The responses the peer received for its request `key`, in order.
    pub fn responses(&mut self, key: ClientTxKey) -> Vec<Response> {
        self.settle();
        let mut got = Vec::new();
        self.peer_events.retain(|e| match e {
            PeerEvent::Response {
                key: k, response, ..
            } if *k == key => {
                got.push(response.clone());
                false
            }
            _ => true,
        });
        got
    }

    /// The ACKs for the peer's 2xx responses, in order.
    pub fn acks(&mut self) -> Vec<Request> {
        self.settle();
        let mut got = Vec::new();
        self.peer_events.retain(|e| match e {
            PeerEvent::Ack { request, .. } => {
                got.push(request.clone());
                false
            }
            _ => true,
        });
        got
    }

    /// The UA's INVITEs the peer's endpoint saw CANCELled (it answered them 487 itself).
    pub fn cancelled(&mut self) -> Vec<ServerTxKey> {
        self.settle();
        let mut got = Vec::new();
        self.peer_events.retain(|e| match e {
            PeerEvent::Cancelled { key, .. } => {
                got.push(*key);
                false
            }
            _ => true,
        });
        got
    }

    /// Answers a request the peer received with a bodiless response.
    pub fn respond(&mut self, r: &PeerReq, status: u16) {
        let now = self.now();
        self.peer
            .respond(now, r.key, status, reason(status))
            .unwrap();
        self.settle();
    }

    /// Answers with a response the test may change first.
    pub fn respond_with(&mut self, r: &PeerReq, status: u16, f: impl FnOnce(&mut Response)) {
        let now = self.now();
        let mut resp = self
            .peer
            .response_for(r.key, status, reason(status))
            .unwrap();
        f(&mut resp);
        self.peer.send_response(now, r.key, resp).unwrap();
        self.settle();
    }

    /// Answers with an SDP body.
    pub fn respond_sdp(&mut self, r: &PeerReq, status: u16, sdp: &str) {
        let body = Bytes::from(sdp.to_owned());
        self.respond_with(r, status, |resp| {
            resp.set_body(Some("application/sdp"), body)
        });
    }

    /// Checks the request's digest credentials as the registrar or proxy would.
    pub fn check_auth(&mut self, r: &PeerReq, challenger: Challenger) -> AuthOutcome {
        let now = self.now();
        self.auth
            .check(now, &r.req, ua_addr().ip(), challenger, |u| {
                (u == USER).then(|| PASSWORD.to_owned())
            })
    }

    /// Authenticates the request: `true` if its credentials are right, else
    /// the peer has answered it with a challenge (or 403).
    pub fn authenticate(&mut self, r: &PeerReq, challenger: Challenger) -> bool {
        match self.check_auth(r, challenger) {
            AuthOutcome::Authenticated { username } => {
                assert_eq!(username, USER);
                true
            }
            AuthOutcome::Challenge {
                status, headers, ..
            } => {
                self.respond_with(r, status, |resp| {
                    headers.into_iter().for_each(|h| resp.headers.push(h))
                });
                false
            }
            AuthOutcome::Forbidden { status, .. } => {
                self.respond(r, status);
                false
            }
        }
    }

    /// The peer calls the UA: an INVITE from `"Bob" <sip:1002@pbx.test>` with this SDP (if any).
    pub fn peer_invite(&mut self, sdp: Option<&str>) -> ClientTxKey {
        let uri = Uri::from_text(&format!("sip:{USER}@{UA_ADDR}")).unwrap();
        let mut from = NameAddr::new(Uri::from_text(&format!("sip:1002@{DOMAIN}")).unwrap());
        from.display_name = Some(Bytes::from_static(b"\"Bob\""));
        let to = NameAddr::new(Uri::from_text(&format!("sip:{USER}@{DOMAIN}")).unwrap());
        let mut req = self.peer.build_request(Method::Invite, uri, from, to);
        if let Some(sdp) = sdp {
            req.set_body(Some("application/sdp"), Bytes::from(sdp.to_owned()));
        }
        self.peer_send(req)
    }

    /// Sends a request the test built (out of dialog) to the UA.
    pub fn peer_send(&mut self, req: Request) -> ClientTxKey {
        let now = self.now();
        let key = self
            .peer
            .send_request(now, req, Target::udp(ua_addr()))
            .unwrap();
        self.settle();
        key
    }

    /// CANCELs the peer's INVITE `key`.
    pub fn peer_cancel(&mut self, key: ClientTxKey) {
        let now = self.now();
        self.peer.cancel(now, key).unwrap();
        self.settle();
    }

    /// The peer's confirmed dialog of this Call-ID.
    pub fn dialog_of(&self, call_id: &Bytes) -> DialogId {
        self.peer
            .dialogs()
            .find(|d| d.id().call_id == call_id && d.state() == DialogState::Confirmed)
            .map(|d| d.id().clone())
            .expect("a confirmed dialog at the peer")
    }

    /// The peer's only confirmed dialog.
    pub fn dialog(&self) -> DialogId {
        let mut ds = self
            .peer
            .dialogs()
            .filter(|d| d.state() == DialogState::Confirmed);
        let d = ds
            .next()
            .expect("a confirmed dialog at the peer")
            .id()
            .clone();
        assert!(ds.next().is_none(), "more than one dialog at the peer");
        d
    }

    /// The peer ACKs the 2xx that confirmed `dialog`.
    pub fn peer_ack(&mut self, dialog: &DialogId) {
        let now = self.now();
        self.peer.ack(now, dialog, None).unwrap();
        self.settle();
    }

    /// The peer sends a request in `dialog`, with an optional (Content-Type, body).
    pub fn peer_in_dialog(
        &mut self,
        dialog: &DialogId,
        method: Method,
        body: Option<(&str, &str)>,
        headers: Vec<Header>,
    ) -> ClientTxKey {
        let now = self.now();
        let mut req = self.peer.dialog_request(dialog, method).unwrap();
        if let Some((ct, b)) = body {
            req.set_body(Some(ct), Bytes::from(b.to_owned()));
        }
        for h in headers {
            req.headers.push(h);
        }
        let key = self.peer.send_in_dialog(now, dialog, req).unwrap();
        self.settle();
        key
    }

    /// A re-INVITE from the peer with [`peer_sdp`] in `direction`; ACKs the 2xx
    /// and returns the UA's answer.
    pub fn peer_reinvite(&mut self, dialog: &DialogId, direction: &str) -> Response {
        let sdp = peer_sdp(direction);
        let key = self.peer_in_dialog(
            dialog,
            Method::Invite,
            Some(("application/sdp", &sdp)),
            vec![],
        );
        let resp = self
            .responses(key)
            .into_iter()
            .find(|r| r.status >= 200)
            .expect("a final answer to the re-INVITE");
        assert_eq!(resp.status, 200, "{}", self.ladder);
        self.peer_ack(dialog);
        resp
    }

    /// The first lines of every datagram the UA sent, in order.
    pub fn ua_sent(&self) -> Vec<String> {
        let text = self.ladder.to_string();
        text.lines()
            .filter(|l| l.contains(&format!("{UA_ADDR} ->")))
            .map(str::to_owned)
            .collect()
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

fn rx(local: SocketAddr, remote: SocketAddr, bytes: Bytes) -> Received {
    Received {
        transport: Transport::Udp,
        local,
        remote,
        bytes,
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        302 => "Moved Temporarily",
        401 => "Unauthorized",
        403 => "Forbidden",
        407 => "Proxy Authentication Required",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        491 => "Request Pending",
        603 => "Decline",
        _ => "Whatever",
    }
}

/// A response's SDP body.
pub fn sdp_of(r: &Response) -> sdp::SessionDescription {
    sdp::SessionDescription::parse(std::str::from_utf8(&r.body).unwrap()).unwrap()
}

/// The direction attribute of an SDP's `i`th m-line.
pub fn direction_of(sdp: &sdp::SessionDescription, i: usize) -> &'static str {
    sdp.media[i].direction_or(sdp.direction()).as_str()
}

/// A header for a request the peer sends.
pub fn h(name: HeaderName, value: &str) -> Header {
    Header::new(name, value.to_owned())
}
