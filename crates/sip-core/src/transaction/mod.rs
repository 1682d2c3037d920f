//! The four transaction state machines of RFC 3261 §17, with the Accepted
//! state and Timers L and M of RFC 6026.
//!
//! A transaction is pure: it takes messages and expired timers and appends
//! [`TxOut`] actions (send these bytes, tell the TU this, it timed out). The
//! endpoint owns the transport side and the transaction user.

mod client;
mod server;

pub use client::ClientState;
pub(crate) use client::ClientTransaction;
pub use server::ServerState;
pub(crate) use server::ServerTransaction;

use bytes::Bytes;
use sip::Response;

/// What a transaction asks of its owner.
#[derive(Debug)]
pub(crate) enum TxOut {
    /// Hand these bytes to the transport, to the transaction's peer.
    Send(Bytes),
    /// Pass a response up to the TU (client transactions).
    Response(Response),
    /// Timer B, F or H fired: the peer never answered (or never ACKed).
    Timeout(crate::Timer),
    /// RFC 3261 §13.3.1.4: 64*T1 passed without an ACK for our 2xx.
    AckTimeout,
}
