//! A sip-core endpoint driven by operations decoded from the input: fuzzed
//! requests and responses built from templates (methods, branches, CSeqs,
//! status codes), raw bytes, time jumps, requests it sends, answers it
//! gives, CANCELs and ACKs. It must never panic, and its next deadline is
//! never in the past once its timeouts have been handled.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip::{Method, NameAddr, Transport, Uri};
use sip_core::{ClientTxKey, Endpoint, EndpointConfig, Event, Received, ServerTxKey, Target};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const METHODS: [&str; 8] = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "REGISTER", "FOO",
];
const CODES: [u16; 10] = [100, 180, 183, 200, 202, 302, 401, 486, 487, 503];

fn request(
    method: &str,
    branch: u8,
    cseq: u8,
    cseq_method: &str,
    tag: u8,
    to_tag: Option<u8>,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag=t{t}")).unwrap_or_default();
    format!(
        "{method} sip:us@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:them@192.0.2.2>;tag=f{tag}\r\nTo: <sip:us@192.0.2.1>{to_tag}\r\n\
         Call-ID: c{tag}@x\r\nCSeq: {cseq} {cseq_method}\r\nContact: <sip:them@192.0.2.2>\r\nContent-Length: 0\r\n\r\n"
    )
}

fn response(code: u16, branch: &str, cseq: u32, method: &str, call_id: &str, tag: u8) -> String {
    format!(
        "SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         From: <sip:us@192.0.2.1>;tag=ours\r\nTo: <sip:them@192.0.2.2>;tag=r{tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:them@192.0.2.2>\r\nContent-Length: 0\r\n\r\n"
    )
}

fuzz_target!(|data: &[u8]| {
    let us: SocketAddr = "192.0.2.1:5060".parse().unwrap();
    let them: SocketAddr = "192.0.2.2:5060".parse().unwrap();
    let mut ep = Endpoint::new(EndpointConfig::new(us, 7));
    let start = Instant::now();
    let mut now = start;
    let mut servers: Vec<ServerTxKey> = Vec::new();
    // (key, branch, cseq, method, call-id) of requests we sent.
    let mut clients: Vec<(ClientTxKey, String, u32, String, String)> = Vec::new();
    let mut ops = data.chunks_exact(4);
    for op in &mut ops {
        let (kind, a, b, c) = (op[0] % 8, op[1], op[2], op[3]);
        let rx = |bytes: String| Received {
            transport: if c & 0x80 == 0 {
                Transport::Udp
            } else {
                Transport::Tcp
            },
            local: us,
            remote: them,
            bytes: Bytes::from(bytes),
        };
        match kind {
            0 => {
                let m = METHODS[usize::from(a) % METHODS.len()];
                let cm = if c & 1 == 0 {
                    m
                } else {
                    METHODS[usize::from(c) % METHODS.len()]
                };
                let to_tag = (c & 2 != 0).then_some(b % 4);
                ep.handle_receive(now, rx(request(m, b % 8, a % 5, cm, c % 4, to_tag)));
            }
            1 => {
                if let Some((_, branch, cseq, method, call_id)) =
                    clients.get(usize::from(a) % clients.len().max(1))
                {
                    let code = CODES[usize::from(b) % CODES.len()];
                    ep.handle_receive(
                        now,
                        rx(response(code, branch, *cseq, method, call_id, c % 3)),
                    );
                }
            }
            2 => {
                // Raw bytes: the rest of this op and the next few.
                let raw: Vec<u8> = op
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(b'\n').take(usize::from(a % 4)))
                    .collect();
                ep.handle_receive(now, rx(String::from_utf8_lossy(&raw).into_owned()));
            }
            3 => {
                now += Duration::from_millis(u64::from(a) * 97 + u64::from(b) * 1000);
                ep.handle_timeout(now);
                if let Some(t) = ep.poll_timeout() {
                    assert!(
                        t >= now || t >= start,
                        "deadline in the past after handle_timeout"
                    );
                }
            }
            4 => {
                let method = [Method::Invite, Method::Options, Method::Bye, Method::Update]
                    [usize::from(a) % 4]
                    .clone();
                let uri = Uri::from_text("sip:them@192.0.2.2").unwrap();
                let from = NameAddr::new(Uri::from_text("sip:us@192.0.2.1").unwrap());
                let req = ep.build_request(method, uri.clone(), from, NameAddr::new(uri));
                let branch = req
                    .headers
                    .top_via()
                    .ok()
                    .and_then(|v| v.branch().map(|b| String::from_utf8_lossy(b).into_owned()))
                    .unwrap_or_default();
                let cseq = req.headers.cseq().map(|c| c.seq).unwrap_or(1);
                let m = String::from_utf8_lossy(req.method.as_bytes()).into_owned();
                let call_id = req
                    .headers
                    .call_id()
                    .map(|c| String::from_utf8_lossy(&c).into_owned())
                    .unwrap_or_default();
                let target = if b & 1 == 0 {
                    Target::udp(them)
                } else {
                    Target::tcp(them)
                };
                if let Ok(key) = ep.send_request(now, req, target) {
                    clients.push((key, branch, cseq, m, call_id));
                }
            }
            5 => {
                if let Some(&key) = servers.get(usize::from(a) % servers.len().max(1)) {
                    let _ = ep.respond(now, key, CODES[usize::from(b) % CODES.len()], "X");
                }
            }
            6 => {
                if let Some((key, ..)) = clients.get(usize::from(a) % clients.len().max(1)) {
                    let _ = ep.cancel(now, *key);
                }
            }
            _ => {
                ep.handle_transport_error(now, them);
            }
        }
        while ep.poll_transmit().is_some() {}
        while let Some(ev) = ep.poll_event() {
            match ev {
                Event::Request { key, .. } => servers.push(key),
                Event::Response {
                    dialog: Some(d),
                    response,
                    ..
                } if response.is_success() => {
                    let _ = ep.ack(now, &d, None);
                }
                _ => {}
            }
        }
    }
});
