//! A sip-core endpoint driven by a fuzzed script of operations: requests
//! from the peer built from a template (method, branch, CSeq, tags,
//! transport), responses and ACKs to what the endpoint sent, replays of
//! what it received, raw bytes, time jumps, and the application's calls
//! (send, send in a dialog, respond, CANCEL, ACK a 2xx). After each step
//! the output is drained and kept for later steps to answer.
//!
//! Asserted: no panic, and once `handle_timeout(now)` has run the next
//! deadline is after `now` (`Endpoint::handle_timeout` "fires every timer
//! due at `now`"; `poll_timeout` says when it must be called next).
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip::{Header, HeaderName, Message, Method, NameAddr, Request, Response, Transport, Uri};
use sip_core::{
    ClientTxKey, DialogId, Endpoint, EndpointConfig, Event, Received, ServerTxKey, Target,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How many past messages, keys and dialogs of each kind are kept to pick from.
const KEEP: usize = 32;

#[derive(Arbitrary, Debug)]
enum Op {
    /// A request from the peer. The small ranges of branch, CSeq and
    /// Call-ID make retransmissions, merged requests, CANCELs and ACKs that
    /// match something likely.
    PeerRequest {
        method: PeerMethod,
        /// `None`: the CSeq method is the request's.
        cseq_method: Option<PeerMethod>,
        branch: u8,
        magic_cookie: bool,
        cseq: u8,
        call: u8,
        to_tag: Option<u8>,
        tcp: bool,
    },
    /// The peer answers a request the endpoint sent.
    PeerResponse {
        which: u8,
        status: Status,
        to_tag: u8,
    },
    /// The peer ACKs a final response the endpoint sent to an INVITE; a 2xx
    /// is ACKed with a new branch (RFC 3261 §13.2.2.4, §17.1.1.3).
    PeerAck { which: u8, new_branch: bool },
    /// A message the endpoint received before, again.
    Replay { which: u8 },
    /// Arbitrary bytes from the peer.
    Raw { bytes: Vec<u8>, tcp: bool },
    /// Up to 65.5 s pass, then the timers due fire.
    Advance { millis: u16 },
    /// Time jumps to the next deadline, which fires.
    AdvanceToDeadline,
    /// The application sends an out-of-dialog request.
    Send { method: OurMethod, tcp: bool },
    /// The application sends a request in a dialog.
    SendInDialog { which: u8, method: OurMethod },
    /// The application answers a request it received.
    Respond { which: u8, status: Status },
    /// The application cancels a request it sent.
    Cancel { which: u8 },
    /// The application ACKs the 2xx that confirmed a dialog.
    AckDialog { which: u8 },
    /// The driver could not reach the peer.
    TransportError,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum PeerMethod {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Update,
    Register,
    Prack,
    Extension,
}

impl PeerMethod {
    fn token(self) -> &'static str {
        match self {
            PeerMethod::Invite => "INVITE",
            PeerMethod::Ack => "ACK",
            PeerMethod::Bye => "BYE",
            PeerMethod::Cancel => "CANCEL",
            PeerMethod::Options => "OPTIONS",
            PeerMethod::Update => "UPDATE",
            PeerMethod::Register => "REGISTER",
            PeerMethod::Prack => "PRACK",
            PeerMethod::Extension => "FOO",
        }
    }
}

/// A status code: the common ones by name so that calls get answered and
/// confirmed often, any other in 100..=699.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Status {
    Ringing,
    Ok,
    Busy,
    Any(u16),
}

impl Status {
    fn code(self) -> u16 {
        match self {
            Status::Ringing => 180,
            Status::Ok => 200,
            Status::Busy => 486,
            Status::Any(n) => 100 + n % 600,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum OurMethod {
    Invite,
    Options,
    Bye,
    Update,
    Info,
    Message,
}

impl OurMethod {
    fn method(self) -> Method {
        match self {
            OurMethod::Invite => Method::Invite,
            OurMethod::Options => Method::Options,
            OurMethod::Bye => Method::Bye,
            OurMethod::Update => Method::Update,
            OurMethod::Info => Method::Info,
            OurMethod::Message => Method::Message,
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut h = Harness::new();
    for op in ops {
        h.apply(op);
        h.drain();
    }
});

/// The endpoint, the fake clock, and what the endpoint said so far.
struct Harness {
    ep: Endpoint,
    us: SocketAddr,
    peer: SocketAddr,
    start: Instant,
    now: Instant,
    /// Requests the endpoint sent (other than ACK), to answer.
    sent_requests: Vec<(Request, Transport)>,
    /// Final responses the endpoint sent to INVITEs, to ACK.
    sent_invite_finals: Vec<(Response, Transport)>,
    received: Vec<Received>,
    servers: Vec<ServerTxKey>,
    clients: Vec<ClientTxKey>,
    dialogs: Vec<DialogId>,
}

impl Harness {
    fn new() -> Harness {
        let us: SocketAddr = "192.0.2.1:5060".parse().expect("literal address");
        let start = Instant::now();
        Harness {
            ep: Endpoint::new(EndpointConfig::new(us, 7)),
            us,
            peer: "192.0.2.2:5060".parse().expect("literal address"),
            start,
            now: start,
            sent_requests: Vec::new(),
            sent_invite_finals: Vec::new(),
            received: Vec::new(),
            servers: Vec::new(),
            clients: Vec::new(),
            dialogs: Vec::new(),
        }
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::PeerRequest {
                method,
                cseq_method,
                branch,
                magic_cookie,
                cseq,
                call,
                to_tag,
                tcp,
            } => {
                let cookie = if magic_cookie { "z9hG4bK" } else { "" };
                let transport = if tcp { "TCP" } else { "UDP" };
                let to_tag = to_tag
                    .map(|t| format!(";tag=t{}", t % 4))
                    .unwrap_or_default();
                let text = format!(
                    "{m} sip:us@192.0.2.1:5060 SIP/2.0\r\n\
                     Via: SIP/2.0/{transport} 192.0.2.2:5060;branch={cookie}b{b};rport\r\n\
                     Max-Forwards: 70\r\n\
                     From: <sip:them@192.0.2.2>;tag=f{c}\r\n\
                     To: <sip:us@192.0.2.1>{to_tag}\r\n\
                     Call-ID: call{c}@192.0.2.2\r\n\
                     CSeq: {seq} {cm}\r\n\
                     Contact: <sip:them@192.0.2.2:5060>\r\n\
                     Content-Length: 0\r\n\r\n",
                    m = method.token(),
                    b = branch % 8,
                    c = call % 4,
                    seq = cseq % 8,
                    cm = cseq_method.unwrap_or(method).token(),
                );
                self.receive(Bytes::from(text), tcp);
            }
            Op::PeerResponse {
                which,
                status,
                to_tag,
            } => {
                let Some((req, transport)) = pick(&self.sent_requests, which) else {
                    return;
                };
                let status = status.code();
                let mut resp = Response::for_request(req, status, "Fuzz");
                if status > 100 && req.headers.to().is_ok_and(|to| to.tag().is_none()) {
                    if let Some(to) = req.headers.get(&HeaderName::To) {
                        let mut value = to.value.to_vec();
                        value.extend_from_slice(format!(";tag=r{}", to_tag % 4).as_bytes());
                        resp.headers.set(Header::new(HeaderName::To, value));
                    }
                }
                resp.headers.push(Header::new(
                    HeaderName::Contact,
                    "<sip:them@192.0.2.2:5060>",
                ));
                let tcp = *transport == Transport::Tcp;
                self.receive(resp.to_bytes(), tcp);
            }
            Op::PeerAck { which, new_branch } => {
                let Some((resp, transport)) = pick(&self.sent_invite_finals, which) else {
                    return;
                };
                let value = |name: HeaderName| {
                    resp.headers
                        .get(&name)
                        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
                        .unwrap_or_default()
                };
                let mut via = value(HeaderName::Via);
                if new_branch {
                    via = via.replacen("branch=", "branch=z9hG4bKack-", 1);
                }
                let seq = resp.headers.cseq().map(|c| c.seq).unwrap_or(0);
                let text = format!(
                    "ACK sip:us@192.0.2.1:5060 SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
                     From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {seq} ACK\r\n\
                     Content-Length: 0\r\n\r\n",
                    value(HeaderName::From),
                    value(HeaderName::To),
                    value(HeaderName::CallId),
                );
                let tcp = *transport == Transport::Tcp;
                self.receive(Bytes::from(text), tcp);
            }
            Op::Replay { which } => {
                if let Some(rx) = pick(&self.received, which).cloned() {
                    self.ep.handle_receive(now, rx);
                }
            }
            Op::Raw { bytes, tcp } => self.receive(Bytes::from(bytes), tcp),
            Op::Advance { millis } => {
                self.now += Duration::from_millis(u64::from(millis));
                self.fire_timers();
            }
            Op::AdvanceToDeadline => {
                if let Some(deadline) = self.ep.poll_timeout() {
                    self.now = self.now.max(deadline);
                }
                self.fire_timers();
            }
            Op::Send { method, tcp } => {
                let uri = Uri::from_text("sip:them@192.0.2.2:5060").expect("literal URI");
                let from = NameAddr::new(Uri::from_text("sip:us@192.0.2.1").expect("literal URI"));
                let req =
                    self.ep
                        .build_request(method.method(), uri.clone(), from, NameAddr::new(uri));
                let target = if tcp {
                    Target::tcp(self.peer)
                } else {
                    Target::udp(self.peer)
                };
                if let Ok(key) = self.ep.send_request(now, req, target) {
                    keep(&mut self.clients, key);
                }
            }
            Op::SendInDialog { which, method } => {
                let Some(dialog) = pick(&self.dialogs, which).cloned() else {
                    return;
                };
                if let Ok(req) = self.ep.dialog_request(&dialog, method.method()) {
                    if let Ok(key) = self.ep.send_in_dialog(now, &dialog, req) {
                        keep(&mut self.clients, key);
                    }
                }
            }
            Op::Respond { which, status } => {
                if let Some(&key) = pick(&self.servers, which) {
                    let _ = self.ep.respond(now, key, status.code(), "Fuzz");
                }
            }
            Op::Cancel { which } => {
                if let Some(&key) = pick(&self.clients, which) {
                    if let Ok(cancel) = self.ep.cancel(now, key) {
                        keep(&mut self.clients, cancel);
                    }
                }
            }
            Op::AckDialog { which } => {
                if let Some(dialog) = pick(&self.dialogs, which).cloned() {
                    let _ = self.ep.ack(now, &dialog, None);
                }
            }
            Op::TransportError => self.ep.handle_transport_error(now, self.peer),
        }
    }

    fn receive(&mut self, bytes: Bytes, tcp: bool) {
        let rx = Received {
            transport: if tcp { Transport::Tcp } else { Transport::Udp },
            local: self.us,
            remote: self.peer,
            bytes,
        };
        keep(&mut self.received, rx.clone());
        self.ep.handle_receive(self.now, rx);
    }

    fn fire_timers(&mut self) {
        self.ep.handle_timeout(self.now);
        if let Some(next) = self.ep.poll_timeout() {
            assert!(
                next > self.now,
                "after handle_timeout at {:?}, poll_timeout is {:?}: a timer due then did not fire",
                self.now - self.start,
                next.saturating_duration_since(self.start),
            );
        }
    }

    /// Takes every transmit and event, keeping what later steps can answer.
    fn drain(&mut self) {
        while let Some(t) = self.ep.poll_transmit() {
            // What the endpoint sends echoes fuzzed input, so it need not parse.
            match sip::parse_datagram(t.bytes) {
                Ok(Message::Request(req)) if req.method != Method::Ack => {
                    keep(&mut self.sent_requests, (req, t.transport));
                }
                Ok(Message::Response(resp))
                    if resp.status >= 200
                        && resp
                            .headers
                            .cseq()
                            .is_ok_and(|c| c.method == Method::Invite) =>
                {
                    keep(&mut self.sent_invite_finals, (resp, t.transport));
                }
                _ => {}
            }
        }
        while let Some(event) = self.ep.poll_event() {
            match event {
                Event::Request { key, dialog, .. } => {
                    keep(&mut self.servers, key);
                    if let Some(d) = dialog {
                        keep(&mut self.dialogs, d);
                    }
                }
                Event::Response {
                    dialog: Some(d), ..
                }
                | Event::Dialog { id: d, .. } => keep(&mut self.dialogs, d),
                _ => {}
            }
        }
    }
}

/// The `which`-th element, wrapping around; `None` if there is none.
fn pick<T>(items: &[T], which: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(which) % items.len()])
}

/// Appends `item`, dropping the oldest once `KEEP` are held.
fn keep<T>(items: &mut Vec<T>, item: T) {
    if items.len() == KEEP {
        items.remove(0);
    }
    items.push(item);
}
