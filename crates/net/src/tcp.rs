//! TCP transport (RFC 3261 §18): a listener per address, outbound connects,
//! and one task per connection that frames messages by Content-Length
//! (§18.3), answers RFC 5626 keep-alives, and enforces the idle timeout, the
//! per-message read deadline and the write timeout.
//!
//! The driver owns the connection table (remote address → writer queue);
//! connection tasks tell it when they open and close, so there is no lock.

use crate::driver::Inbound;
use crate::sans_io::Received;
use crate::{reject, Config};
use bytes::{Bytes, BytesMut};
use sip::{Frame, ParseError, StreamDecoder};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep_until, timeout, Instant};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;

/// What every connection task needs, shared by the listeners and the driver.
#[derive(Debug)]
pub(crate) struct TcpShared {
    limits: sip::Limits,
    idle_timeout: Duration,
    read_deadline: Duration,
    write_timeout: Duration,
    connect_timeout: Duration,
    write_queue: usize,
    /// One permit per open connection (`Config::max_connections`).
    slots: Arc<Semaphore>,
    next_id: AtomicU64,
}

impl TcpShared {
    pub(crate) fn new(config: &Config) -> Self {
        TcpShared {
            limits: config.limits,
            idle_timeout: config.idle_timeout,
            read_deadline: config.read_deadline,
            write_timeout: config.write_timeout,
            connect_timeout: config.connect_timeout,
            write_queue: config.write_queue.max(1),
            slots: Arc::new(Semaphore::new(
                config.max_connections.min(Semaphore::MAX_PERMITS),
            )),
            next_id: AtomicU64::new(1),
        }
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// The driver's handle on one connection: the queue its task writes from.
#[derive(Debug)]
pub(crate) struct Connection {
    /// Tells a connection from a later one to the same remote address.
    pub(crate) id: u64,
    pub(crate) writer: mpsc::Sender<Bytes>,
}

/// Accepts connections until the driver goes away.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    local: SocketAddr,
    shared: Arc<TcpShared>,
    inbound: mpsc::Sender<Inbound>,
) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep listening.
                tracing::warn!(%local, error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = shared.slots.clone().try_acquire_owned() else {
            tracing::warn!(%local, %remote, "tcp connection limit reached; closing new connection");
            continue;
        };
        let id = shared.next_id();
        let (writer, writes) = mpsc::channel(shared.write_queue);
        // Registered before the first message is read, so a response to it
        // finds this connection (RFC 3261 §18.2.2).
        let opened = Inbound::Opened {
            remote,
            connection: Connection { id, writer },
        };
        if inbound.send(opened).await.is_err() {
            return;
        }
        let local = stream.local_addr().unwrap_or(local);
        let peer = Peer { id, local, remote };
        tokio::spawn(run(
            stream,
            peer,
            writes,
            inbound.clone(),
            shared.clone(),
            permit,
        ));
    }
}

/// Starts an outbound connection to `remote`; messages queued on the
/// returned connection are written once it is up. `None` at the connection
/// limit.
pub(crate) fn connect(
    remote: SocketAddr,
    shared: &Arc<TcpShared>,
    inbound: mpsc::Sender<Inbound>,
) -> Option<Connection> {
    let permit = shared.slots.clone().try_acquire_owned().ok()?;
    let id = shared.next_id();
    let (writer, writes) = mpsc::channel(shared.write_queue);
    let shared = shared.clone();
    tokio::spawn(async move {
        match timeout(shared.connect_timeout, TcpStream::connect(remote)).await {
            Ok(Ok(stream)) => match stream.local_addr() {
                Ok(local) => {
                    let peer = Peer { id, local, remote };
                    run(stream, peer, writes, inbound, shared, permit).await;
                    return;
                }
                Err(e) => tracing::debug!(%remote, error = %e, "tcp connect: no local address"),
            },
            Ok(Err(e)) => tracing::debug!(%remote, error = %e, "tcp connect failed"),
            Err(_) => tracing::debug!(%remote, "tcp connect timed out"),
        }
        // Queued messages are lost; the transaction layer's timers notice.
        let _ = inbound.send(Inbound::Closed { remote, id }).await;
    });
    Some(Connection { id, writer })
}

/// Who a connection task talks to.
#[derive(Debug, Clone, Copy)]
struct Peer {
    id: u64,
    local: SocketAddr,
    remote: SocketAddr,
}

/// Why a connection was closed (logged).
#[derive(Debug)]
enum Close {
    PeerClosed,
    Io(std::io::Error),
    /// RFC 3261 §18.3: without a usable Content-Length the stream cannot be
    /// framed any more; the connection closes, after a 400 (or 413) naming
    /// the fault when the message was a request whose head arrived whole.
    Framing(ParseError),
    ReadDeadline,
    Idle,
    WriteTimeout,
    /// The driver dropped the connection (shutdown, or replaced it).
    Dropped,
}

impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Close::PeerClosed => f.write_str("closed by peer"),
            Close::Io(e) => write!(f, "i/o error: {e}"),
            Close::Framing(e) => write!(f, "framing lost ({}): {e}", e.status),
            Close::ReadDeadline => f.write_str("message not complete within the read deadline"),
            Close::Idle => f.write_str("idle timeout"),
            Close::WriteTimeout => f.write_str("peer not reading (write timeout)"),
            Close::Dropped => f.write_str("dropped by the driver"),
        }
    }
}

/// Runs one connection until it closes, then tells the driver.
async fn run(
    stream: TcpStream,
    peer: Peer,
    mut writes: mpsc::Receiver<Bytes>,
    inbound: mpsc::Sender<Inbound>,
    shared: Arc<TcpShared>,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let close = serve(stream, peer, &mut writes, &inbound, &shared).await;
    tracing::debug!(remote = %peer.remote, local = %peer.local, reason = %close, "tcp connection closed");
    drop(permit);
    let _ = inbound
        .send(Inbound::Closed {
            remote: peer.remote,
            id: peer.id,
        })
        .await;
}

/// The connection loop; returning drops (closes) the stream.
async fn serve(
    mut stream: TcpStream,
    peer: Peer,
    writes: &mut mpsc::Receiver<Bytes>,
    inbound: &mpsc::Sender<Inbound>,
    shared: &TcpShared,
) -> Close {
    let (mut reader, mut writer) = stream.split();
    let mut decoder = StreamDecoder::new(shared.limits);
    // The same bytes the decoder holds, so each message is handed on exactly
    // as the peer sent it rather than re-serialized.
    let mut raw = BytesMut::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut idle_at = Instant::now() + shared.idle_timeout;
    // Set when the first byte of a message is buffered.
    let mut message_deadline: Option<Instant> = None;
    loop {
        let wake = message_deadline.map_or(idle_at, |d| d.min(idle_at));
        let step = tokio::select! {
            read = reader.read(&mut buf) => Step::Read(read),
            write = writes.recv() => Step::Write(write),
            () = sleep_until(wake) => Step::Wake,
        };
        match step {
            Step::Read(Ok(0)) => return Close::PeerClosed,
            Step::Read(Err(e)) => return Close::Io(e),
            Step::Read(Ok(n)) => {
                let now = Instant::now();
                decoder.push(&buf[..n]);
                raw.extend_from_slice(&buf[..n]);
                if message_deadline.is_none() {
                    message_deadline = Some(now + shared.read_deadline);
                }
                let mut framed = false;
                loop {
                    let before = decoder.buffered();
                    let frame = match decoder.next_frame() {
                        Ok(Some(frame)) => frame,
                        Ok(None) => break,
                        Err(e) => {
                            if let Some(response) = reject::framing_error_response(&raw, &e) {
                                say_and_close(&mut reader, &mut writer, &response, shared).await;
                            }
                            return Close::Framing(e);
                        }
                    };
                    let consumed = (before - decoder.buffered()).min(raw.len());
                    let bytes = raw.split_to(consumed).freeze();
                    framed = true;
                    match frame {
                        // A malformed but framed message goes to the endpoint
                        // too: it answers a request with a 400 naming the fault.
                        Frame::Message(_) | Frame::Invalid { .. } => {
                            let rx = Received {
                                transport: sip::Transport::Tcp,
                                local: peer.local,
                                remote: peer.remote,
                                bytes,
                            };
                            if inbound
                                .send(Inbound::Message(rx, std::time::Instant::now()))
                                .await
                                .is_err()
                            {
                                return Close::Dropped;
                            }
                        }
                        // RFC 5626 §4.4.1: a double-CRLF ping gets a single-CRLF pong.
                        Frame::Ping => {
                            if let Err(close) = write(&mut writer, b"\r\n", shared).await {
                                return close;
                            }
                        }
                        Frame::Pong => {}
                    }
                }
                let keepalive_only = is_keepalive(&raw);
                if framed || keepalive_only {
                    idle_at = now + shared.idle_timeout;
                }
                if keepalive_only {
                    message_deadline = None;
                } else if framed {
                    // What is left began arriving in this read.
                    message_deadline = Some(now + shared.read_deadline);
                }
            }
            Step::Write(Some(bytes)) => {
                if let Err(close) = write(&mut writer, &bytes, shared).await {
                    return close;
                }
                idle_at = Instant::now() + shared.idle_timeout;
            }
            // Queued messages were all written before the queue reports closed.
            Step::Write(None) => return Close::Dropped,
            Step::Wake => {
                return match message_deadline {
                    Some(d) if d <= idle_at => Close::ReadDeadline,
                    _ => Close::Idle,
                };
            }
        }
    }
}

/// Writes a last response, sends FIN, and reads (discarding) until the
/// peer closes or the read deadline passes, so closing with the peer's
/// unread bytes in our buffer does not reset the connection and destroy the
/// response before the peer reads it.
async fn say_and_close<R, W>(reader: &mut R, writer: &mut W, response: &[u8], shared: &TcpShared)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if write(writer, response, shared).await.is_err() {
        return;
    }
    let _ = writer.shutdown().await;
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = timeout(shared.read_deadline, drain).await;
}

/// One turn of the connection loop.
enum Step {
    Read(std::io::Result<usize>),
    Write(Option<Bytes>),
    Wake,
}

/// Whether the unframed rest is no message at all: nothing, or a lone CRLF
/// keep-alive (pong) the decoder holds back in case a ping is arriving.
fn is_keepalive(rest: &[u8]) -> bool {
    rest.len() < 4 && rest.iter().all(|&b| b == b'\r' || b == b'\n')
}

async fn write<W: AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
    shared: &TcpShared,
) -> Result<(), Close> {
    match timeout(shared.write_timeout, writer.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Close::Io(e)),
        Err(_) => Err(Close::WriteTimeout),
    }
}

#[cfg(test)]
mod tests {
    use super::is_keepalive;

    #[test]
    fn lone_crlf_is_no_partial_message() {
        assert!(is_keepalive(b""));
        assert!(is_keepalive(b"\r\n"));
        assert!(is_keepalive(b"\r\n\r"));
        assert!(!is_keepalive(b"O"));
        assert!(!is_keepalive(b"\r\nO"));
    }
}
