//! The driver: one task that owns the sans-IO endpoint, feeds it what the
//! transports receive, the time and the application's closures, and carries
//! out what it asks for.

use crate::sans_io::{Received, SansIo, Transmit};
use crate::tcp::{self, Connection, TcpShared};
use crate::udp::{self, UdpSockets};
use crate::{Config, Error};
use bytes::Bytes;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Messages and connection news from the transports; bounded, so a flood
/// makes the transports wait rather than the driver buffer without end.
/// Large enough to hold more than [`OVERLOAD_ENTER`] of input at full
/// load (a message costs the core about 50 µs), so the backlog it measures
/// can reach that mark instead of hiding in the kernel's socket buffer.
const INBOUND_QUEUE: usize = 8192;

/// What the transports tell the driver.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A message and when its transport read it: the driver's backlog is
    /// the difference to when the core gets it (see [`Overload`]).
    Message(Received, Instant),
    Opened {
        remote: SocketAddr,
        connection: Connection,
    },
    Closed {
        remote: SocketAddr,
        id: u64,
    },
}

/// A message that waited this long between its transport and the core
/// puts the driver in overload (the core is told, and sheds new work).
/// Shorter waits happen in bursts at normal load (a store write, a GC-like
/// pause of the allocator); a peer retransmits after 500 ms (T1).
pub(crate) const OVERLOAD_ENTER: Duration = Duration::from_millis(200);
/// ... and one that waited at most this long ends it.
pub(crate) const OVERLOAD_LEAVE: Duration = Duration::from_millis(20);

/// Overload detection on the input backlog, with hysteresis: the time a
/// message spent queued (after its transport read it, before the core got
/// it) is what every request's sender waits on top of the work itself.
/// Over [`OVERLOAD_ENTER`], the core is told to shed new calls (a cheap
/// 503) so the calls it already accepted finish in time; once a message
/// waits [`OVERLOAD_LEAVE`] or less, it takes new work again. Without this
/// a switch pushed past its capacity answers every call late, the peers
/// retransmit, and goodput collapses.
#[derive(Debug, Default)]
struct Overload {
    on: bool,
}

impl Overload {
    /// The state after a message that waited `lag`; `Some` when it changed.
    fn observe(&mut self, lag: Duration) -> Option<bool> {
        let next = if self.on {
            lag > OVERLOAD_LEAVE
        } else {
            lag >= OVERLOAD_ENTER
        };
        (next != self.on).then(|| {
            self.on = next;
            next
        })
    }
}

/// A closure to run on the endpoint, with the current time.
type Job<E> = Box<dyn FnOnce(&mut E, Instant) + Send>;

enum Command<E> {
    Run(Job<E>),
    Shutdown(oneshot::Sender<E>),
}

/// The addresses the transports are bound to (port 0 resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalAddrs {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
}

/// The application's side of a running driver; cheap to clone.
///
/// Dropping every handle shuts the driver down like [`Handle::shutdown`],
/// without getting the endpoint back.
pub struct Handle<E> {
    commands: mpsc::UnboundedSender<Command<E>>,
    local: Arc<LocalAddrs>,
}

impl<E> Clone for Handle<E> {
    fn clone(&self) -> Self {
        Handle {
            commands: self.commands.clone(),
            local: self.local.clone(),
        }
    }
}

impl<E> fmt::Debug for Handle<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl<E: Send + 'static> Handle<E> {
    /// Where the transports listen.
    pub fn local_addrs(&self) -> &LocalAddrs {
        &self.local
    }

    /// Runs `f` on the endpoint inside the driver task and returns its
    /// result; whatever `f` made the endpoint want to send is sent before the
    /// driver does anything else.
    pub async fn with<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut E) -> R + Send + 'static,
    {
        self.with_now(|ep, _now| f(ep)).await
    }

    /// [`Handle::with`], also given the current time for the endpoint's
    /// time-taking methods (`ep.send_request(now, ...)`).
    pub async fn with_now<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut E, Instant) -> R + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job<E> = Box::new(move |ep, now| {
            let _ = reply.send(f(ep, now));
        });
        self.commands
            .send(Command::Run(job))
            .map_err(|_| Error::Stopped)?;
        result.await.map_err(|_| Error::Stopped)
    }

    /// Stops the driver and returns the endpoint.
    ///
    /// Listeners and UDP sockets close at once; TCP connections write what is
    /// already queued for them, then close (waiting at most the write
    /// timeout). Messages still arriving are dropped. The event channel ends.
    pub async fn shutdown(&self) -> Result<E, Error> {
        let (reply, endpoint) = oneshot::channel();
        self.commands
            .send(Command::Shutdown(reply))
            .map_err(|_| Error::Stopped)?;
        endpoint.await.map_err(|_| Error::Stopped)
    }
}

/// Runs a [`SansIo`] endpoint over UDP and TCP; see the crate docs for the loop.
pub struct Driver<E: SansIo> {
    endpoint: E,
    udp: UdpSockets,
    tcp: Arc<TcpShared>,
    /// RFC 3261 §18: one connection per remote address, reused for everything
    /// sent there.
    connections: HashMap<SocketAddr, Connection>,
    /// Kept for outbound connections; dropped on shutdown so the driver can
    /// tell when every transport task has finished.
    inbound_tx: Option<mpsc::Sender<Inbound>>,
    inbound: mpsc::Receiver<Inbound>,
    commands: mpsc::UnboundedReceiver<Command<E>>,
    events: mpsc::UnboundedSender<E::Event>,
    /// Listener and UDP receive tasks, aborted when the driver ends.
    tasks: AbortOnDrop,
    linger: Duration,
    overload: Overload,
}

impl<E: SansIo> fmt::Debug for Driver<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("udp", &self.udp)
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl<E> Driver<E>
where
    E: SansIo + Send + 'static,
    E::Event: Send + 'static,
{
    /// Binds every address in `config`, then spawns the driver task (call
    /// this inside a tokio runtime). Returns the handle and the channel on
    /// which the endpoint's events arrive.
    ///
    /// The event channel is unbounded so the driver never waits on the
    /// application (which may itself be waiting in [`Handle::with`]); an
    /// application that stops reading it should drop it, and events are then
    /// discarded.
    pub async fn bind(
        config: Config,
        endpoint: E,
    ) -> Result<(Handle<E>, mpsc::UnboundedReceiver<E::Event>), Error> {
        // Bind everything before spawning anything: a failure leaves nothing running.
        let mut local = LocalAddrs::default();
        let mut udp_sockets = Vec::new();
        for &addr in &config.udp {
            let bind_err = |source| Error::Bind {
                transport: "udp",
                addr,
                source,
            };
            let socket = UdpSocket::bind(addr).await.map_err(bind_err)?;
            let bound = socket.local_addr().map_err(bind_err)?;
            udp::grow_receive_buffer(&socket, bound);
            local.udp.push(bound);
            udp_sockets.push((bound, Arc::new(socket)));
        }
        let mut listeners = Vec::new();
        for &addr in &config.tcp {
            let bind_err = |source| Error::Bind {
                transport: "tcp",
                addr,
                source,
            };
            let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
            let bound = listener.local_addr().map_err(bind_err)?;
            local.tcp.push(bound);
            listeners.push((bound, listener));
        }

        let (inbound_tx, inbound) = mpsc::channel(INBOUND_QUEUE);
        let tcp = Arc::new(TcpShared::new(&config));
        let mut tasks = AbortOnDrop::default();
        let mut udp = UdpSockets::default();
        for (bound, socket) in udp_sockets {
            udp.push(bound, socket.clone());
            let task = udp::recv_loop(socket, bound, inbound_tx.clone());
            tasks.0.push(tokio::spawn(task));
        }
        for (bound, listener) in listeners {
            let task = tcp::accept_loop(listener, bound, tcp.clone(), inbound_tx.clone());
            tasks.0.push(tokio::spawn(task));
        }

        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let driver = Driver {
            endpoint,
            udp,
            tcp,
            connections: HashMap::new(),
            inbound_tx: Some(inbound_tx),
            inbound,
            commands,
            events,
            tasks,
            linger: config.write_timeout,
            overload: Overload::default(),
        };
        tokio::spawn(driver.run());
        let handle = Handle {
            commands: commands_tx,
            local: Arc::new(local),
        };
        Ok((handle, events_rx))
    }

    /// The loop: wait for input or the endpoint's deadline, hand it over,
    /// drain what the endpoint wants sent and said.
    async fn run(mut self) {
        let shutdown = loop {
            let deadline = self.endpoint.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let step = tokio::select! {
                command = self.commands.recv() => Step::Command(command),
                // Never `None`: the driver holds a sender until it shuts down.
                Some(inbound) = self.inbound.recv() => Step::Inbound(inbound),
                () = sleep => Step::Timeout,
            };
            match step {
                Step::Command(Some(Command::Run(job))) => job(&mut self.endpoint, now()),
                Step::Command(Some(Command::Shutdown(reply))) => break Some(reply),
                Step::Command(None) => break None,
                Step::Inbound(inbound) => self.handle_inbound(inbound),
                Step::Timeout => {
                    let now = now();
                    // Timers round to the millisecond; never fire early.
                    if deadline.is_some_and(|at| now >= at) {
                        self.endpoint.handle_timeout(now);
                    }
                }
            }
            self.flush().await;
        };
        self.stop().await;
        if let Some(reply) = shutdown {
            let _ = reply.send(self.endpoint);
        }
    }

    fn handle_inbound(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::Message(rx, read_at) => {
                let now = now();
                if let Some(on) = self
                    .overload
                    .observe(now.saturating_duration_since(read_at))
                {
                    if on {
                        tracing::warn!("SIP input backlog over {:?}: new calls are refused with 503 until it drains", OVERLOAD_ENTER);
                    } else {
                        tracing::info!("SIP input backlog drained: new calls accepted again");
                    }
                    self.endpoint.set_overloaded(on);
                }
                self.endpoint.handle_receive(now, rx)
            }
            Inbound::Opened { remote, connection } => {
                // A newer connection to the same address wins; the old one
                // keeps running until it idles out or its peer closes it.
                self.connections.insert(remote, connection);
            }
            Inbound::Closed { remote, id } => {
                if self.connections.get(&remote).is_some_and(|c| c.id == id) {
                    self.connections.remove(&remote);
                }
            }
        }
    }

    /// Sends everything the endpoint has queued, forwards its events.
    async fn flush(&mut self) {
        while let Some(transmit) = self.endpoint.poll_transmit() {
            self.send(transmit).await;
        }
        while let Some(event) = self.endpoint.poll_event() {
            // A dropped receiver means the application does not want events.
            let _ = self.events.send(event);
        }
    }

    async fn send(&mut self, transmit: Transmit) {
        let Transmit {
            transport,
            remote,
            bytes,
        } = transmit;
        match transport {
            sip::Transport::Udp => self.udp.send(remote, &bytes).await,
            sip::Transport::Tcp => self.send_tcp(remote, bytes),
            other => {
                tracing::warn!(transport = other.as_str(), %remote, "transport not supported; message dropped");
            }
        }
    }

    /// Queues `bytes` on the connection to `remote`, opening one if none is open.
    fn send_tcp(&mut self, remote: SocketAddr, bytes: Bytes) {
        let bytes = match self.connections.get(&remote) {
            Some(connection) => match connection.writer.try_send(bytes) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(%remote, "tcp write queue full (peer not reading); message dropped");
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(bytes)) => {
                    self.connections.remove(&remote);
                    bytes
                }
            },
            None => bytes,
        };
        let Some(inbound) = self.inbound_tx.clone() else {
            return;
        };
        let Some(connection) = tcp::connect(remote, &self.tcp, inbound) else {
            tracing::warn!(%remote, "tcp connection limit reached; message dropped");
            return;
        };
        // A fresh queue has room for at least one message.
        let _ = connection.writer.try_send(bytes);
        self.connections.insert(remote, connection);
    }

    /// Closes the transports and waits (at most `linger`) for every
    /// connection task to write what it has queued and finish.
    async fn stop(&mut self) {
        self.tasks.abort_all();
        self.connections.clear();
        self.inbound_tx = None;
        let inbound = &mut self.inbound;
        let drain = async { while inbound.recv().await.is_some() {} };
        if tokio::time::timeout(self.linger, drain).await.is_err() {
            tracing::debug!("some tcp connections were still writing at shutdown");
        }
    }
}

/// One turn of the driver loop.
enum Step<E> {
    Command(Option<Command<E>>),
    Inbound(Inbound),
    Timeout,
}

/// The only clock reading in Dialtone's SIP path (tokio's, so tests may pause it).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Transport tasks that must not outlive the driver, even if it panics.
#[derive(Debug, Default)]
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl AbortOnDrop {
    fn abort_all(&mut self) {
        for task in self.0.drain(..) {
            task.abort();
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.abort_all();
    }
}

#[cfg(test)]
mod overload_tests {
    use super::*;

    #[test]
    fn overload_starts_at_the_enter_lag_and_ends_only_once_drained() {
        let mut o = Overload::default();
        let ms = Duration::from_millis;
        let between = (OVERLOAD_ENTER + OVERLOAD_LEAVE) / 2;
        assert_eq!(o.observe(ms(1)), None);
        assert_eq!(
            o.observe(OVERLOAD_ENTER - ms(1)),
            None,
            "just under: still normal"
        );
        assert_eq!(o.observe(OVERLOAD_ENTER), Some(true));
        assert_eq!(
            o.observe(between),
            None,
            "between the marks: still overloaded"
        );
        assert_eq!(o.observe(OVERLOAD_LEAVE + ms(1)), None);
        assert_eq!(o.observe(OVERLOAD_LEAVE), Some(false));
        assert_eq!(o.observe(between), None, "between the marks: still normal");
    }
}
