//! `Solo`: one endpoint on a fake clock, fed hand-written peer messages.

#![allow(dead_code)]

use bytes::Bytes;
use sip::{Method, NameAddr, Transport, Uri};
use sip_core::{Endpoint, EndpointConfig, Event, Received, Target, Transmit};
use std::time::Duration;
use testkit::FakeClock;

const ME: &str = "10.0.0.2:5060";
pub const PEER: &str = "10.0.0.1:5060";

pub struct Solo {
    pub clock: FakeClock,
    pub ep: Endpoint,
}

impl Solo {
    pub fn new() -> Solo {
        Solo {
            clock: FakeClock::new(),
            ep: Endpoint::new(EndpointConfig::new(ME.parse().unwrap(), 99)),
        }
    }

    pub fn t(&self) -> Duration {
        self.clock.elapsed()
    }

    pub fn feed_from(&mut self, transport: Transport, remote: &str, text: &str) {
        let now = self.clock.now();
        self.ep.handle_receive(
            now,
            Received {
                transport,
                local: ME.parse().unwrap(),
                remote: remote.parse().unwrap(),
                bytes: Bytes::from(text.replace('\n', "\r\n")),
            },
        );
    }

    pub fn feed(&mut self, text: &str) {
        self.feed_from(Transport::Udp, PEER, text);
    }

    pub fn sent(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.ep.poll_transmit()).collect()
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ep.poll_event()).collect()
    }

    /// Jumps to each deadline until `until`, returning (time, first line) of every transmit.
    pub fn run(&mut self, until: Duration) -> Vec<(Duration, String)> {
        let mut out = Vec::new();
        while let Some(t) = self.ep.poll_timeout() {
            if t - self.clock.base() > until {
                break;
            }
            self.clock.set(t);
            self.ep.handle_timeout(t);
            for tx in self.sent() {
                out.push((self.t(), first_line(&tx.bytes)));
            }
        }
        out
    }

    pub fn send(&mut self, method: Method, transport: Transport) -> (sip_core::ClientTxKey, Bytes) {
        let uri = Uri::from_text("sip:alice@10.0.0.1").unwrap();
        let from = NameAddr::new(Uri::from_text("sip:bob@10.0.0.2").unwrap());
        let req = self
            .ep
            .build_request(method, uri.clone(), from, NameAddr::new(uri));
        let target = Target {
            transport,
            remote: PEER.parse().unwrap(),
        };
        let now = self.clock.now();
        let key = self.ep.send_request(now, req, target).unwrap();
        let mut first = self.sent();
        assert_eq!(first.len(), 1);
        (key, first.remove(0).bytes)
    }
}

pub fn first_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.lines().next().unwrap_or_default().to_string()
}

pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

pub fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

/// A response to a request sent by the endpoint, built from its bytes.
pub fn response_to(request: &Bytes, status: &str, to_tag: &str) -> String {
    let req = sip::parse_datagram(request.clone())
        .unwrap()
        .into_request()
        .unwrap();
    let h = &req.headers;
    let via = h.get(&sip::HeaderName::Via).unwrap();
    let to = h.get(&sip::HeaderName::To).unwrap();
    let from = h.get(&sip::HeaderName::From).unwrap();
    format!(
        "SIP/2.0 {status}\nVia: {}\nFrom: {}\nTo: {};tag={to_tag}\nCall-ID: {}\nCSeq: {}\nContact: <sip:alice@10.0.0.1>\nContent-Length: 0\n\n",
        String::from_utf8_lossy(&via.value),
        String::from_utf8_lossy(&from.value),
        String::from_utf8_lossy(&to.value),
        String::from_utf8_lossy(&h.get(&sip::HeaderName::CallId).unwrap().value),
        String::from_utf8_lossy(&h.get(&sip::HeaderName::CSeq).unwrap().value),
    )
}

pub fn request(method: &str, branch: &str, extra: &str) -> String {
    let cseq_method = if method == "ACK" { "INVITE" } else { method };
    format!(
        "{method} sip:bob@10.0.0.2 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\nMax-Forwards: 70\nFrom: <sip:alice@10.0.0.1>;tag=a1\nTo: <sip:bob@10.0.0.2>{extra}\nCall-ID: call-1@10.0.0.1\nCSeq: 1 {cseq_method}\nContact: <sip:alice@10.0.0.1>\nContent-Length: 0\n\n"
    )
}

pub fn request_key(events: &[Event]) -> sip_core::ServerTxKey {
    events
        .iter()
        .find_map(|e| match e {
            Event::Request { key, .. } => Some(*key),
            _ => None,
        })
        .expect("a Request event")
}
