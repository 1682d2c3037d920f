//! The one error type of the `net` crate.

use std::net::SocketAddr;

/// What went wrong starting or talking to the driver.
///
/// Per-peer trouble (a connection reset, a framing error, a slow sender) is
/// not an error of the driver: it closes that connection, logs it, and goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot bind {transport} on {addr}: {source}")]
    Bind {
        transport: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The driver task has ended (shut down, or a closure run on the endpoint panicked).
    #[error("the driver has stopped")]
    Stopped,
}
