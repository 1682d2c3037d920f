//! Video pass-through: a second RTP/RTCP pair for the video m-line whose
//! datagrams are relayed untouched between the peer and the application.
//!
//! On each socket, a datagram from the application's address (RTP: `app`,
//! RTCP: `app` port + 1) goes to the peer (RTP: `remote`, RTCP: `remote`
//! port + 1) when sending; any other datagram is the peer's and goes to
//! the application when receiving. Nothing is relayed before
//! `configure_video(Some(..))` or after `configure_video(None)`.

use super::ports::SocketPair;
use super::util::{rtcp_of, MAX_DATAGRAM};
use super::VideoParams;
use serde_json::{json, Value};
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// The video pair and what crossed it.
#[derive(Debug)]
pub(super) struct Video {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// One receive buffer per socket, so both are read at once.
    rtp_buf: Vec<u8>,
    rtcp_buf: Vec<u8>,
    local: SocketAddr,
    app: Option<SocketAddr>,
    params: Option<VideoParams>,
    counters: Counters,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    packets_received: u64,
    bytes_received: u64,
    packets_sent: u64,
    bytes_sent: u64,
    send_errors: u64,
}

/// Which socket of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Rtp,
    Rtcp,
}

impl Video {
    pub(super) fn new(pair: SocketPair, app: Option<SocketAddr>) -> Video {
        Video {
            rtp: pair.rtp,
            rtcp: pair.rtcp,
            rtp_buf: vec![0; MAX_DATAGRAM],
            rtcp_buf: vec![0; MAX_DATAGRAM],
            local: pair.local,
            app,
            params: None,
            counters: Counters::default(),
        }
    }

    /// The RTP address the SDP announces.
    pub(super) fn local(&self) -> SocketAddr {
        self.local
    }

    pub(super) fn set_app(&mut self, app: Option<SocketAddr>) {
        self.app = app;
    }

    pub(super) fn configure(&mut self, params: Option<VideoParams>) {
        self.params = params;
    }

    /// The next datagram on either socket: which one, its length (in this
    /// socket's buffer, for [`handle_datagram`](Self::handle_datagram)),
    /// and its source.
    pub(super) async fn recv(&mut self) -> std::io::Result<(Kind, usize, SocketAddr)> {
        tokio::select! {
            r = self.rtp.recv_from(&mut self.rtp_buf) => r.map(|(n, from)| (Kind::Rtp, n, from)),
            r = self.rtcp.recv_from(&mut self.rtcp_buf) => r.map(|(n, from)| (Kind::Rtcp, n, from)),
        }
    }

    /// Relays the datagram of `n` bytes that [`recv`](Self::recv) read on
    /// socket `kind` from `from`.
    pub(super) fn handle_datagram(&mut self, kind: Kind, from: SocketAddr, n: usize) {
        let Some(params) = &self.params else {
            return;
        };
        let data = match kind {
            Kind::Rtp => &self.rtp_buf[..n],
            Kind::Rtcp => &self.rtcp_buf[..n],
        };
        let (app, remote) = match kind {
            Kind::Rtp => (self.app, params.remote),
            Kind::Rtcp => (self.app.map(rtcp_of), rtcp_of(params.remote)),
        };
        let socket = match kind {
            Kind::Rtp => &self.rtp,
            Kind::Rtcp => &self.rtcp,
        };
        if Some(from) == app {
            if params.send
                && send(socket, data, remote, &mut self.counters.send_errors)
                && kind == Kind::Rtp
            {
                self.counters.packets_sent += 1;
                self.counters.bytes_sent += data.len() as u64;
            }
            return;
        }
        if kind == Kind::Rtp {
            self.counters.packets_received += 1;
            self.counters.bytes_received += data.len() as u64;
        }
        if let (true, Some(app)) = (params.recv, app) {
            send(socket, data, app, &mut self.counters.send_errors);
        }
    }

    /// The `video` object of the stats.
    pub(super) fn stats(&self) -> Value {
        let c = self.counters;
        json!({
            "localAddress": self.local.to_string(),
            "remoteAddress": self.params.as_ref().map(|p| p.remote.to_string()),
            "packetsReceived": c.packets_received,
            "bytesReceived": c.bytes_received,
            "packetsSent": c.packets_sent,
            "bytesSent": c.bytes_sent,
            "sendErrors": c.send_errors,
        })
    }
}

/// Sends without waiting (a full socket buffer drops the datagram, as the
/// network would); true when sent.
fn send(socket: &UdpSocket, data: &[u8], to: SocketAddr, errors: &mut u64) -> bool {
    match socket.try_send_to(data, to) {
        Ok(_) => true,
        Err(e) => {
            *errors += 1;
            tracing::debug!(%to, error = %e, "video datagram not relayed");
            false
        }
    }
}
