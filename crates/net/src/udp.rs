//! UDP transport (RFC 3261 §18.1.1, §18.2.1): one socket per listen
//! address, a receive loop per socket feeding the driver, `send_to` for
//! transmits.

use crate::driver::Inbound;
use crate::sans_io::Received;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Largest UDP payload; a buffer this size never truncates a datagram.
const MAX_DATAGRAM: usize = 65_535;

/// Receives datagrams on `socket` until the driver goes away.
///
/// Datagrams made only of CR and LF (NAT keep-alives some phones send over
/// UDP) carry no message and are dropped here.
pub(crate) async fn recv_loop(
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    inbound: mpsc::Sender<Inbound>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, remote) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // An ICMP error reported on the socket, or a transient
                // resource shortage: the socket itself is still usable.
                tracing::debug!(%local, error = %e, "udp recv error");
                tokio::task::yield_now().await;
                continue;
            }
        };
        let data = &buf[..n];
        if data.iter().all(|&b| b == b'\r' || b == b'\n') {
            continue;
        }
        let rx = Received {
            transport: sip::Transport::Udp,
            local,
            remote,
            bytes: Bytes::copy_from_slice(data),
        };
        if inbound
            .send(Inbound::Message(rx, std::time::Instant::now()))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Socket receive buffer asked for: a burst of requests (thousands of
/// calls a second arrive in bursts) waits in the kernel instead of being
/// dropped while the driver is busy. The kernel caps it at
/// `net.core.rmem_max`.
const RECEIVE_BUFFER: usize = 8 << 20;

/// Asks for [`RECEIVE_BUFFER`]; a refusal only costs burst tolerance.
pub(crate) fn grow_receive_buffer(socket: &UdpSocket, local: SocketAddr) {
    if let Err(e) = rustix::net::sockopt::set_socket_recv_buffer_size(socket, RECEIVE_BUFFER) {
        tracing::debug!(%local, error = %e, "cannot enlarge the UDP receive buffer");
    }
}

/// The driver's view of its UDP sockets.
#[derive(Debug, Default)]
pub(crate) struct UdpSockets {
    sockets: Vec<(SocketAddr, Arc<UdpSocket>)>,
}

impl UdpSockets {
    pub(crate) fn push(&mut self, local: SocketAddr, socket: Arc<UdpSocket>) {
        self.sockets.push((local, socket));
    }

    /// Sends from the first socket of the remote's address family.
    ///
    /// `Transmit` names no local address, so with several UDP listen
    /// addresses of one family the first one is the source.
    pub(crate) async fn send(&self, remote: SocketAddr, bytes: &[u8]) {
        let Some((local, socket)) = self
            .sockets
            .iter()
            .find(|(local, _)| local.is_ipv4() == remote.is_ipv4())
        else {
            tracing::warn!(%remote, "no UDP socket for this address family; message dropped");
            return;
        };
        if let Err(e) = socket.send_to(bytes, remote).await {
            tracing::debug!(%local, %remote, error = %e, "udp send failed");
        }
    }
}
