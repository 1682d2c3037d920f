//! `Pair`: two endpoints over a seeded virtual network on a fake clock.
//! Each step delivers what is due, fires due timers, and jumps time to the
//! next deadline; a step bound catches livelock.

#![allow(dead_code)]

pub mod solo;

use bytes::Bytes;
use sip::{Method, NameAddr, Response, Transport, Uri};
use sip_core::{
    ClientTxKey, DialogId, DialogState, Endpoint, EndpointConfig, Event, Received, Target,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use testkit::{FakeClock, Ladder, NetConfig, VirtualNet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// Something an application does later: `(when, what)`.
pub type Later = (Instant, Box<dyn FnOnce(&mut Endpoint, Instant)>);
/// The application: reacts to an event, may schedule work for later.
pub type App = Box<dyn FnMut(&mut Endpoint, Instant, &Event, &mut Vec<Later>)>;

pub struct Pair {
    pub clock: FakeClock,
    pub net: VirtualNet,
    pub a: Endpoint,
    pub b: Endpoint,
    pub a_addr: SocketAddr,
    pub b_addr: SocketAddr,
    pub ladder: Ladder,
    pub a_log: Vec<(Duration, Event)>,
    pub b_log: Vec<(Duration, Event)>,
    app_a: Option<App>,
    app_b: Option<App>,
    later_a: Vec<Later>,
    later_b: Vec<Later>,
    pub steps: usize,
    pub max_steps: usize,
}

impl Pair {
    pub fn new(seed: u64, net: NetConfig) -> Pair {
        let a_addr: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        let b_addr: SocketAddr = "10.0.0.2:5060".parse().unwrap();
        Pair {
            clock: FakeClock::new(),
            net: VirtualNet::new(seed, net),
            a: Endpoint::new(EndpointConfig::new(a_addr, seed.wrapping_mul(2) + 1)),
            b: Endpoint::new(EndpointConfig::new(b_addr, seed.wrapping_mul(2) + 2)),
            a_addr,
            b_addr,
            ladder: Ladder::new(),
            a_log: Vec::new(),
            b_log: Vec::new(),
            app_a: None,
            app_b: None,
            later_a: Vec::new(),
            later_b: Vec::new(),
            steps: 0,
            max_steps: 100_000,
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    pub fn set_app(&mut self, side: Side, app: App) {
        match side {
            Side::A => self.app_a = Some(app),
            Side::B => self.app_b = Some(app),
        }
    }

    /// Drains transmits into the network and events into the applications until quiet.
    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            for side in [Side::A, Side::B] {
                let now = self.clock.now();
                let (ep, from) = match side {
                    Side::A => (&mut self.a, self.a_addr),
                    Side::B => (&mut self.b, self.b_addr),
                };
                while let Some(t) = ep.poll_transmit() {
                    moved = true;
                    let before = self.net.dropped();
                    self.net.send(now, from, t.remote, t.bytes.clone());
                    let lost = self.net.dropped() > before;
                    self.ladder
                        .record(self.clock.elapsed(), from, t.remote, &t.bytes, lost);
                }
                while let Some(ev) = ep.poll_event() {
                    moved = true;
                    let (app, later, log) = match side {
                        Side::A => (&mut self.app_a, &mut self.later_a, &mut self.a_log),
                        Side::B => (&mut self.app_b, &mut self.later_b, &mut self.b_log),
                    };
                    if let Some(app) = app.as_mut() {
                        app(ep, now, &ev, later);
                    }
                    log.push((self.clock.elapsed(), ev));
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.net.next_delivery_time(),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
            self.later_a.iter().map(|l| l.0).min(),
            self.later_b.iter().map(|l| l.0).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One step: jump to the next deadline and process everything due then.
    /// Returns false when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.pump();
        let Some(next) = self.next_deadline() else {
            return false;
        };
        self.steps += 1;
        assert!(
            self.steps < self.max_steps,
            "livelock: {} steps\n{}",
            self.steps,
            self.ladder
        );
        self.clock.set(next);
        let now = self.clock.now();
        for d in self.net.deliver_due(now) {
            let ep = if d.to == self.a_addr {
                &mut self.a
            } else if d.to == self.b_addr {
                &mut self.b
            } else {
                continue; // a black hole
            };
            ep.handle_receive(
                now,
                Received {
                    transport: Transport::Udp,
                    local: d.to,
                    remote: d.from,
                    bytes: d.bytes,
                },
            );
        }
        if self.a.poll_timeout().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now);
        }
        if self.b.poll_timeout().is_some_and(|t| t <= now) {
            self.b.handle_timeout(now);
        }
        for side in [Side::A, Side::B] {
            let (list, ep) = match side {
                Side::A => (&mut self.later_a, &mut self.a),
                Side::B => (&mut self.later_b, &mut self.b),
            };
            let (due, rest): (Vec<Later>, Vec<Later>) = list.drain(..).partition(|l| l.0 <= now);
            *list = rest;
            for (_, f) in due {
                f(ep, now);
            }
        }
        self.pump();
        true
    }

    /// Steps until `done` holds; false if everything went quiet first.
    pub fn run_until(&mut self, done: impl Fn(&Pair) -> bool) -> bool {
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

    /// Steps until no message is in flight and no timer is set.
    pub fn run_until_idle(&mut self) {
        while self.step() {}
    }

    /// Lets `d` of fake time pass.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.clock.now() + d;
        while self.next_deadline().is_some_and(|t| t <= end) {
            self.step();
        }
        self.clock.set(end);
    }

    pub fn log(&self, side: Side) -> &[(Duration, Event)] {
        match side {
            Side::A => &self.a_log,
            Side::B => &self.b_log,
        }
    }

    pub fn ep(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Whether `side` saw dialog `id` reach `state` (any dialog if `id` is None).
    pub fn saw_dialog(&self, side: Side, state: DialogState) -> bool {
        self.log(side)
            .iter()
            .any(|(_, e)| matches!(e, Event::Dialog { state: s, .. } if *s == state))
    }

    /// The final response `side` got for client transaction `key`.
    pub fn final_response(&self, side: Side, key: ClientTxKey) -> Option<&Response> {
        self.log(side).iter().find_map(|(_, e)| match e {
            Event::Response {
                key: k, response, ..
            } if *k == key && response.status >= 200 => Some(response),
            _ => None,
        })
    }

    /// A sends an INVITE to B.
    pub fn invite(&mut self) -> ClientTxKey {
        self.invite_to(self.b_addr)
    }

    /// A sends an INVITE to `to`.
    pub fn invite_to(&mut self, to: SocketAddr) -> ClientTxKey {
        let uri = Uri::from_text("sip:bob@10.0.0.2").unwrap();
        let from = NameAddr::new(Uri::from_text("sip:alice@10.0.0.1").unwrap());
        let req = self
            .a
            .build_request(Method::Invite, uri.clone(), from, NameAddr::new(uri));
        let target = Target::udp(to);
        let now = self.now();
        self.a.send_request(now, req, target).unwrap()
    }

    /// The confirmed dialog `side` knows of.
    pub fn dialog(&self, side: Side) -> Option<DialogId> {
        let ep = match side {
            Side::A => &self.a,
            Side::B => &self.b,
        };
        ep.dialogs()
            .find(|d| d.state() == DialogState::Confirmed)
            .map(|d| d.id().clone())
    }
}

/// B: ring then answer INVITEs, answer everything else 200.
pub fn answering_app() -> App {
    Box::new(|ep, now, ev, _| {
        if let Event::Request { key, request, .. } = ev {
            if request.method == Method::Invite && request.headers.to().unwrap().tag().is_none() {
                ep.respond(now, *key, 180, "Ringing").unwrap();
            }
            ep.respond(now, *key, 200, "OK").unwrap();
        }
    })
}

/// A: ACK every 2xx to INVITE.
pub fn acking_app() -> App {
    Box::new(|ep, now, ev, _| {
        if let Event::Response {
            response,
            dialog: Some(d),
            ..
        } = ev
        {
            if response.is_success() && response.headers.cseq().unwrap().method == Method::Invite {
                ep.ack(now, d, None).unwrap();
            }
        }
    })
}

pub fn body() -> Bytes {
    Bytes::from_static(b"v=0\r\n")
}
