//! Load target for `bench/rtp-relay.sh`: sets up CALLS bridged call legs on
//! the relay, writes the port map the load generator (`udpbench sgen`)
//! reads, relays for SECS seconds and stops by itself.
//!
//! ```text
//! rtp_relay_bench CALLS RELAY_BASE GEN_BASE MAPFILE SECS [WORKERS] [MODE]
//! ```
//!
//! Call `i`: endpoint ports `A = GEN_BASE + 2i` and `B = A + 1` (the layout
//! of the shared bench's `make_maps.py`), legs on two relay ports from the
//! pool (which starts at RELAY_BASE), each leg's SDP hint its endpoint. The
//! map lists `A PORT_A` and `B PORT_B`, one stream per line. MAPFILE appears
//! (renamed into place) once every leg is open.
//!
//! MODE `dialtone` (default) is `net::rtp::Relay` with WORKERS worker
//! threads (default 1). Two designs it was measured against do the same
//! forwarding (latching, symmetric sending) on one thread, without RTCP
//! sockets (idle ones cost nothing): MODE `mio`, an edge-triggered `mio`
//! poll loop that reads each ready socket until `WouldBlock`, and MODE
//! `tokio`, a tokio task per socket on a current-thread runtime.

use net::rtp::{LegId, Relay, RtpPool};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Args {
    calls: u16,
    relay_base: u16,
    gen_base: u16,
    map: String,
    secs: f64,
    workers: usize,
    mode: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        eprintln!(
            "usage: rtp_relay_bench CALLS RELAY_BASE GEN_BASE MAPFILE SECS [WORKERS] [dialtone|mio|tokio]"
        );
        std::process::exit(2);
    }
    let args = Args {
        calls: a[1].parse()?,
        relay_base: a[2].parse()?,
        gen_base: a[3].parse()?,
        map: a[4].clone(),
        secs: a[5].parse()?,
        workers: a.get(6).map_or(Ok(1), |w| w.parse())?,
        mode: a.get(7).cloned().unwrap_or_else(|| "dialtone".into()),
    };
    match args.mode.as_str() {
        "dialtone" => run_relay(&args),
        "mio" => run_mio(&args),
        "tokio" => run_tokio(&args),
        other => Err(format!("unknown mode {other}").into()),
    }
}

fn endpoints(args: &Args, call: u16) -> (SocketAddr, SocketAddr) {
    let a = args.gen_base + 2 * call;
    (
        SocketAddr::new(LOCALHOST, a),
        SocketAddr::new(LOCALHOST, a + 1),
    )
}

/// Writes the sgen map atomically: the script waits for the file.
fn write_map(path: &str, lines: &[(u16, u16)]) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    for (local, remote) in lines {
        writeln!(f, "{local} {remote}")?;
    }
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

fn run_relay(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    // Room for every pair plus some taken by other programs.
    let last = args
        .relay_base
        .saturating_add(args.calls.saturating_mul(4).saturating_add(199));
    let pool = RtpPool::new(LOCALHOST, args.relay_base..=last)?;
    let relay = Relay::new(pool, args.workers)?;
    let mut map = Vec::new();
    for call in 0..args.calls {
        let (ea, eb) = endpoints(args, call);
        let pa = relay.pool().allocate().ok_or("RTP pool exhausted")?;
        let pb = relay.pool().allocate().ok_or("RTP pool exhausted")?;
        let (la, lb) = (LegId(2 * u128::from(call)), LegId(2 * u128::from(call) + 1));
        relay.open_leg(la, pa, Some(ea));
        relay.open_leg(lb, pb, Some(eb));
        relay.bridge(la, lb);
        map.extend([(ea.port(), pa), (eb.port(), pb)]);
    }
    write_map(&args.map, &map)?;
    std::thread::sleep(Duration::from_secs_f64(args.secs));
    let (mut received, mut sent, mut dropped) = (0, 0, 0);
    for leg in 0..2 * u128::from(args.calls) {
        if let Some(s) = relay.stats(LegId(leg)) {
            received += s.rtp.received_packets;
            sent += s.rtp.sent_packets;
            dropped += s.rtp.dropped_wrong_source + s.rtp.dropped_unrouted + s.rtp.send_errors;
        }
    }
    println!(
        "mode=dialtone workers={} legs={} received={received} sent={sent} dropped={dropped}",
        args.workers,
        relay.legs()
    );
    relay.shutdown();
    Ok(())
}

/// The comparison design: a task per socket, sending from the bridged
/// leg's socket to that leg's latched peer (or its hint).
fn run_tokio(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut map = Vec::new();
        let mut next = args.relay_base;
        for call in 0..args.calls {
            let (ea, eb) = endpoints(args, call);
            let (sa, pa) = bind_next(&mut next)?;
            let (sb, pb) = bind_next(&mut next)?;
            let sa = Arc::new(tokio::net::UdpSocket::from_std(sa)?);
            let sb = Arc::new(tokio::net::UdpSocket::from_std(sb)?);
            let peer_a = Arc::new(Mutex::new(None));
            let peer_b = Arc::new(Mutex::new(None));
            tokio::spawn(forward(
                sa.clone(),
                peer_a.clone(),
                sb.clone(),
                peer_b.clone(),
                eb,
            ));
            tokio::spawn(forward(sb, peer_b, sa, peer_a, ea));
            map.extend([(ea.port(), pa), (eb.port(), pb)]);
        }
        write_map(&args.map, &map)?;
        tokio::time::sleep(Duration::from_secs_f64(args.secs)).await;
        println!("mode=dialtone-tokio tasks={}", 2 * args.calls);
        Ok(())
    })
}

/// A non-blocking socket on the next free even port from `*next` on.
fn bind_next(next: &mut u16) -> std::io::Result<(std::net::UdpSocket, u16)> {
    loop {
        let port = *next;
        *next = port
            .checked_add(2)
            .ok_or(std::io::ErrorKind::AddrNotAvailable)?;
        if let Ok(s) = std::net::UdpSocket::bind((LOCALHOST, port)) {
            s.set_nonblocking(true)?;
            return Ok((s, port));
        }
    }
}

/// The edge-triggered design: socket `2i` is call `i`'s A side, `2i + 1`
/// its B side; a datagram read on one goes out of the other.
fn run_mio(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    struct Side {
        socket: mio::net::UdpSocket,
        peer: Option<SocketAddr>,
        hint: SocketAddr,
    }
    let mut poll = mio::Poll::new()?;
    let (mut sides, mut map, mut next) = (Vec::new(), Vec::new(), args.relay_base);
    for call in 0..args.calls {
        let (ea, eb) = endpoints(args, call);
        for endpoint in [ea, eb] {
            let (s, port) = bind_next(&mut next)?;
            let mut socket = mio::net::UdpSocket::from_std(s);
            let token = mio::Token(sides.len());
            poll.registry()
                .register(&mut socket, token, mio::Interest::READABLE)?;
            sides.push(Side {
                socket,
                peer: None,
                hint: endpoint,
            });
            map.push((endpoint.port(), port));
        }
    }
    write_map(&args.map, &map)?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.secs);
    let mut events = mio::Events::with_capacity(256);
    let mut buf = vec![0u8; 65_535];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Err(e) = poll.poll(&mut events, Some(left)) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        for event in events.iter() {
            let (i, o) = (event.token().0, event.token().0 ^ 1);
            // Edge-triggered: read until WouldBlock, or the rest waits for
            // the next datagram.
            while let Ok((n, from)) = sides[i].socket.recv_from(&mut buf) {
                match sides[i].peer {
                    Some(p) if p != from => continue,
                    Some(_) => {}
                    None => sides[i].peer = Some(from),
                }
                let to = sides[o].peer.unwrap_or(sides[o].hint);
                let _ = sides[o].socket.send_to(&buf[..n], to);
            }
        }
    }
    println!("mode=dialtone-mio sockets={}", sides.len());
    Ok(())
}

async fn forward(
    rx: Arc<tokio::net::UdpSocket>,
    rx_peer: Arc<Mutex<Option<SocketAddr>>>,
    tx: Arc<tokio::net::UdpSocket>,
    tx_peer: Arc<Mutex<Option<SocketAddr>>>,
    tx_hint: SocketAddr,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((n, from)) = rx.recv_from(&mut buf).await else {
            continue;
        };
        {
            let mut peer = rx_peer.lock().unwrap_or_else(|e| e.into_inner());
            match *peer {
                Some(p) if p != from => continue,
                Some(_) => {}
                None => *peer = Some(from),
            }
        }
        let to = tx_peer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(tx_hint);
        let _ = tx.send_to(&buf[..n], to).await;
    }
}
