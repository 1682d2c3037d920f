//! The surface a sans-IO SIP endpoint shows to the driver.
//!
//! `net` does not depend on `sip-core`: any core that takes datagrams, stream
//! messages and the time, and hands back bytes to send, events and its next
//! deadline, can be driven. Adapting `sip_core::Endpoint` is a field-for-field
//! copy of [`Received`] and [`Transmit`] and a forward of each method:
//!
//! ```text
//! impl SansIo for sip_core::Endpoint {
//!     type Event = sip_core::Event;
//!     fn handle_receive(&mut self, now: Instant, rx: Received) {
//!         let Received { transport, local, remote, bytes } = rx;
//!         sip_core::Endpoint::handle_receive(self, now, sip_core::Received { transport, local, remote, bytes })
//!     }
//!     fn poll_transmit(&mut self) -> Option<Transmit> {
//!         sip_core::Endpoint::poll_transmit(self)
//!             .map(|t| Transmit { transport: t.transport, remote: t.remote, bytes: t.bytes })
//!     }
//!     // handle_timeout, poll_event, poll_timeout: forward unchanged.
//! }
//! ```

use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Instant;

/// One SIP message as it came off the wire.
///
/// For UDP, `bytes` is the whole datagram (RFC 3261 §18.3: a datagram holds
/// one message). For TCP, `bytes` is exactly the octets of one message framed
/// by its Content-Length, as the peer sent them; CRLF keep-alives are answered
/// by the transport and never reach the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub transport: sip::Transport,
    /// The address the message arrived on (the bound address: with a wildcard
    /// UDP bind this is `0.0.0.0:port`).
    pub local: SocketAddr,
    /// The peer's source address; for TCP it also names the connection.
    pub remote: SocketAddr,
    pub bytes: Bytes,
}

/// One SIP message to send.
///
/// For TCP, `remote` names the connection: if one is open to that address it
/// is reused (RFC 3261 §18.2.2: a response goes back on the connection the
/// request came on; §18.1.1: requests may reuse a connection), otherwise one
/// is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: sip::Transport,
    pub remote: SocketAddr,
    pub bytes: Bytes,
}

/// A deterministic protocol core: input in through `handle_*`, output out
/// through `poll_*`; it never reads the clock and never touches a socket.
///
/// The driver calls `handle_*`, then drains [`SansIo::poll_transmit`] and
/// [`SansIo::poll_event`] until they return `None`, then sleeps until
/// [`SansIo::poll_timeout`] or the next input.
pub trait SansIo {
    /// What the core tells the application (a new request, a transaction
    /// outcome...). Forwarded unchanged to the application's event channel.
    type Event;

    fn handle_receive(&mut self, now: Instant, rx: Received);

    /// Called once `now` has reached the instant [`SansIo::poll_timeout`]
    /// returned, never earlier.
    fn handle_timeout(&mut self, now: Instant);

    fn poll_transmit(&mut self) -> Option<Transmit>;

    fn poll_event(&mut self) -> Option<Self::Event>;

    /// The earliest instant the core needs [`SansIo::handle_timeout`], if any.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The driver is falling behind (`true`: messages wait in its queue
    /// longer than it tolerates) or has caught up again (`false`). A core
    /// sheds new work while overloaded, so what it already accepted still
    /// completes instead of everything timing out together. Default: ignored.
    fn set_overloaded(&mut self, overloaded: bool) {
        let _ = overloaded;
    }
}
