//! # `net`: the I/O layer of Dialtone
//!
//! Sockets, tasks and the clock live here and nowhere below. The SIP cores
//! are sans-IO ([`SansIo`]); this crate runs one of them over real
//! transports:
//!
//! - **UDP** (RFC 3261 §18.1.1, §18.2.1): one socket per listen address,
//!   64 KiB datagrams, one datagram = one [`Received`].
//! - **TCP** (RFC 3261 §18.3 framing by Content-Length, via
//!   [`sip::StreamDecoder`]): listeners and outbound connects share one
//!   connection table keyed by remote address, so responses and later
//!   requests to a peer reuse its connection (§18.2.2, §18.1.1); RFC 5626
//!   double-CRLF pings get a CRLF pong; each connection has an idle timeout,
//!   a write timeout and a *read deadline per message*: once the first byte
//!   of a message is buffered the whole message must arrive in time, so a
//!   slow sender cannot pin a connection; a framing error (bad or missing
//!   Content-Length, a message over [`sip::Limits`]) closes the connection,
//!   after a 400/413 naming the fault when the request head is readable;
//!   the number of connections is capped.
//! - **The driver**: one task owns the endpoint. Its loop:
//!
//! ```text
//! loop {
//!     select! {
//!         message from a transport  => endpoint.handle_receive(now, received),
//!         sleep_until(endpoint.poll_timeout()) => endpoint.handle_timeout(now),
//!         handle.with(closure)     => closure(&mut endpoint, now),
//!     }
//!     while let Some(t) = endpoint.poll_transmit() { send on t.transport to t.remote }
//!     while let Some(e) = endpoint.poll_event()    { events.send(e) }
//! }
//! ```
//!
//! A complete program: an endpoint that answers every datagram with
//! `pong`, driven over UDP on a port the OS picks.
//!
//! ```
//! use net::{Config, Driver, Received, SansIo, Transmit};
//! use std::time::Instant;
//!
//! #[derive(Default)]
//! struct Pong { out: Vec<Transmit> }
//!
//! impl SansIo for Pong {
//!     type Event = ();
//!     fn handle_receive(&mut self, _now: Instant, rx: Received) {
//!         self.out.push(Transmit { transport: rx.transport, remote: rx.remote, bytes: "pong".into() });
//!     }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//!     fn poll_transmit(&mut self) -> Option<Transmit> { self.out.pop() }
//!     fn poll_event(&mut self) -> Option<()> { None }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::default();
//! config.udp.push("127.0.0.1:0".parse()?);
//! let (handle, _events) = Driver::bind(config, Pong::default()).await?;
//! let server = handle.local_addrs().udp[0];
//!
//! let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
//! client.send_to(b"ping", server).await?;
//! let mut buf = [0u8; 16];
//! let (n, _) = client.recv_from(&mut buf).await?;
//! assert_eq!(&buf[..n], b"pong");
//!
//! let queued = handle.with(|ep| ep.out.len()).await?;
//! assert_eq!(queued, 0);
//! handle.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod driver;
mod error;
mod reject;
pub mod rtp;
mod sans_io;
mod tcp;
mod udp;

pub use config::Config;
pub use driver::{Driver, Handle, LocalAddrs};
pub use error::Error;
pub use sans_io::{Received, SansIo, Transmit};
