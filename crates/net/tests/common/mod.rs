//! A test-only endpoint (an OPTIONS responder with a settable timer) and
//! socket helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses a different part

use bytes::Bytes;
use net::{Config, Driver, Handle, Received, SansIo, Transmit};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;

/// What the responder tells the test.
#[derive(Debug)]
pub enum Event {
    Received(Received),
    Timeout { now: Instant, deadline: Instant },
}

/// Answers every valid request 200 OK and every invalid one 400 naming the
/// fault (`sip::validate`), on the transport and address it came from.
#[derive(Debug, Default)]
pub struct Responder {
    pub out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    pub deadline: Option<Instant>,
}

impl SansIo for Responder {
    type Event = Event;

    fn handle_receive(&mut self, _now: Instant, rx: Received) {
        if let Ok(msg) = sip::parse_datagram(rx.bytes.clone()) {
            if let Some(req) = msg.as_request() {
                let resp = match sip::validate(&msg) {
                    Ok(()) => sip::Response::for_request(req, 200, "OK"),
                    Err(e) => sip::Response::for_request(req, e.status, &e.reason),
                };
                self.out.push_back(Transmit {
                    transport: rx.transport.clone(),
                    remote: rx.remote,
                    bytes: resp.to_bytes(),
                });
            }
        }
        self.events.push_back(Event::Received(rx));
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.deadline.take() {
            self.events.push_back(Event::Timeout { now, deadline });
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}

pub type Events = UnboundedReceiver<Event>;

/// A config listening on loopback (ports picked by the OS) with short timeouts.
pub fn loopback_config() -> Config {
    let mut config = Config::listen("127.0.0.1:0".parse().unwrap());
    config.read_deadline = Duration::from_millis(200);
    config.idle_timeout = Duration::from_secs(3);
    config.write_timeout = Duration::from_secs(1);
    config.connect_timeout = Duration::from_secs(1);
    config
}

pub async fn start(config: Config) -> (Handle<Responder>, Events) {
    Driver::bind(config, Responder::default()).await.unwrap()
}

/// An OPTIONS request whose Via names `transport` and `branch`.
pub fn options(transport: &str, branch: &str) -> String {
    format!(
        "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} 127.0.0.1:5999;branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=t{branch}\r\n\
         To: <sip:bob@127.0.0.1>\r\n\
         Call-ID: c{branch}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Reads one response with `Content-Length: 0` (ends at the empty line).
pub async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(2), async {
        while !got.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).await.expect("read");
            assert!(
                n > 0,
                "connection closed mid-response: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.push(byte[0]);
        }
    })
    .await
    .expect("a response within 2 s");
    String::from_utf8(got).unwrap()
}

/// Waits (at most `limit`) until the peer closes the connection; returns
/// how long it took. Panics if it sends anything.
pub async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(limit, stream.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("connection still open after {limit:?}"));
    match read {
        Ok(0) | Err(_) => start.elapsed(),
        Ok(n) => panic!(
            "expected close, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

pub async fn write(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).await.unwrap();
}

/// The next `Received` event (skipping timer events), within 2 s.
pub async fn next_received(events: &mut Events) -> Received {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .expect("an event within 2 s")
            .expect("driver running");
        if let Event::Received(rx) = event {
            return rx;
        }
    }
}

pub fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or("")
}

pub fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}
