//! `dialtone serve`: the SIP endpoint on UDP and TCP.
//!
//! Until the switch lands (registrar, B2BUA, REST), the server is the SIP
//! stack alone: it answers `OPTIONS` with 200 (the keep-alive probe every
//! trunk and proxy sends), answers methods it knows but does not serve yet
//! with 405 and an `Allow` header, extension methods with 501 (RFC 3261
//! §8.2.1), malformed requests with a 400 naming the fault (in `sip-core`),
//! and stops on SIGINT or SIGTERM.
//!
//! The run loop: the `net` driver owns the sans-IO [`Endpoint`] and feeds
//! it datagrams, stream messages and timeouts; this task reads the
//! endpoint's events and answers each new request through the driver
//! handle.

use net::{Config, Driver, Handle, Received, SansIo, Transmit};
use sip::{Header, HeaderName, Method};
use sip_core::{Endpoint, EndpointConfig, Event};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Instant;

/// What `serve` needs to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// UDP and TCP listen address.
    pub sip_listen: SocketAddr,
    /// The address peers reach us at (Via sent-by, Contact); when unset, the
    /// listen address, or for a wildcard listen address the address of the
    /// interface that holds the default route (127.0.0.1 when there is none).
    pub public_ip: Option<IpAddr>,
}

/// The methods this server answers itself today.
const ALLOW: &str = "OPTIONS, ACK, CANCEL";

/// Runs the server until SIGINT/SIGTERM. Returns an error message for the
/// user when a listener cannot be bound.
pub async fn run(opts: Options) -> Result<(), String> {
    let (handle, mut events) = Driver::bind(
        Config::listen(opts.sip_listen),
        SipEndpoint(Endpoint::new(endpoint_config(&opts))),
    )
    .await
    .map_err(|e| format!("cannot listen for SIP on {}: {e}", opts.sip_listen))?;
    let addrs = handle.local_addrs();
    eprintln!(
        "dialtone: SIP on udp {} and tcp {}; Ctrl-C or SIGTERM stops",
        list(&addrs.udp),
        list(&addrs.tcp)
    );

    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => answer(&handle, event).await,
                None => break,
            },
            _ = &mut stop => break,
        }
    }
    let _ = handle.shutdown().await;
    eprintln!("dialtone: stopped");
    Ok(())
}

/// Answers one endpoint event; everything but a new request is the
/// endpoint's own business today.
async fn answer(handle: &Handle<SipEndpoint>, event: Event) {
    let Event::Request { key, request, .. } = event else {
        return;
    };
    let method = request.method.clone();
    let _ = handle
        .with_now(move |SipEndpoint(ep), now| {
            let (status, reason) = status_for(&method);
            let Ok(mut resp) = ep.response_for(key, status, reason) else {
                return;
            };
            if status != 501 {
                resp.headers.push(Header::new(HeaderName::Allow, ALLOW));
            }
            let _ = ep.send_response(now, key, resp);
        })
        .await;
}

/// RFC 3261 §8.2.1: 405 (with Allow) for a method we know but do not serve,
/// 501 for one we do not implement at all.
fn status_for(method: &Method) -> (u16, &'static str) {
    match method {
        Method::Options => (200, "OK"),
        Method::Extension(_) => (501, "Not Implemented"),
        _ => (405, "Method Not Allowed"),
    }
}

fn endpoint_config(opts: &Options) -> EndpointConfig {
    let ip = opts.public_ip.unwrap_or_else(|| {
        if opts.sip_listen.ip().is_unspecified() {
            default_route_ip()
        } else {
            opts.sip_listen.ip()
        }
    });
    let mut config = EndpointConfig::new(SocketAddr::new(ip, opts.sip_listen.port()), rand_seed());
    // No version in Server/User-Agent: it only helps an attacker pick exploits.
    config.user_agent = Some("Dialtone".to_owned());
    config
}

/// The source address the OS would use for an outside destination. A UDP
/// `connect` sends nothing; it only asks the routing table.
fn default_route_ip() -> IpAddr {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| {
            s.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS; good enough for branch/tag entropy seeds.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `sip_core::Endpoint` as the `net` driver's [`SansIo`]: the two crates
/// do not know each other, so the field-for-field copy lives here.
#[derive(Debug)]
pub struct SipEndpoint(pub Endpoint);

impl SansIo for SipEndpoint {
    type Event = Event;

    fn handle_receive(&mut self, now: Instant, rx: Received) {
        let Received {
            transport,
            local,
            remote,
            bytes,
        } = rx;
        self.0.handle_receive(
            now,
            sip_core::Received {
                transport,
                local,
                remote,
                bytes,
            },
        );
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.0.poll_transmit().map(|t| Transmit {
            transport: t.transport,
            remote: t.remote,
            bytes: t.bytes,
        })
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.0.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
}
