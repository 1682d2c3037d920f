//! `dialtone serve` as a peer sees it: the real binary on loopback, spoken
//! to over UDP and TCP with hand-written requests, and stopped with SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process; killed on drop if a test failed before stopping it.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only the child this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dialtone serve` on a free loopback port and waits until it
/// answers OPTIONS.
fn start() -> Server {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["serve", "--sip-listen", &addr.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dialtone serve");
    let server = Server { child, addr };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(r) = udp_exchange(addr, &options("probe"), Duration::from_millis(200)) {
            if r.starts_with("SIP/2.0 200") {
                return server;
            }
        }
    }
    panic!("dialtone serve did not answer OPTIONS on {addr} within 10 s");
}

/// A port free for both UDP and TCP on loopback right now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn request(method: &str, branch: &str, cseq_method: &str, transport: &str) -> String {
    format!(
        "{method} sip:dialtone@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} 127.0.0.1:5999;rport;branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tester@127.0.0.1>;tag=t{branch}\r\n\
         To: <sip:dialtone@127.0.0.1>\r\n\
         Call-ID: {branch}@test\r\n\
         CSeq: 1 {cseq_method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn options(branch: &str) -> String {
    request("OPTIONS", branch, "OPTIONS", "UDP")
}

/// Sends `msg` from a fresh socket and returns the first final response
/// (provisional ones are skipped), or `None` when nothing came in `wait`.
fn udp_exchange(server: SocketAddr, msg: &str, wait: Duration) -> Option<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(msg.as_bytes(), server).unwrap();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("SIP/2.0 1") {
            return Some(text);
        }
    }
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn options_gets_200_with_allow_and_a_versionless_server_header() {
    let server = start();
    let resp = udp_exchange(server.addr, &options("opt1"), Duration::from_secs(5))
        .expect("a response to OPTIONS");
    assert!(resp.starts_with("SIP/2.0 200 OK\r\n"), "{resp}");
    assert!(
        header(&resp, "Allow").unwrap().contains("OPTIONS"),
        "{resp}"
    );
    assert_eq!(header(&resp, "Server"), Some("Dialtone"), "{resp}");
    assert_eq!(header(&resp, "Call-ID"), Some("opt1@test"));
    let via = header(&resp, "Via").unwrap();
    assert!(via.contains("branch=z9hG4bKopt1"), "{via}");
    assert!(via.contains("received=127.0.0.1"), "{via}");
    assert!(header(&resp, "To").unwrap().contains("tag="), "{resp}");
}

#[test]
fn unsupported_and_unknown_methods_get_405_and_501() {
    let server = start();
    let resp = udp_exchange(
        server.addr,
        &request("REGISTER", "reg1", "REGISTER", "UDP"),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(resp.starts_with("SIP/2.0 405 "), "{resp}");
    assert!(
        header(&resp, "Allow").is_some(),
        "405 must carry Allow: {resp}"
    );

    let resp = udp_exchange(
        server.addr,
        &request("FROBNICATE", "ext1", "FROBNICATE", "UDP"),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(resp.starts_with("SIP/2.0 501 "), "{resp}");
}

#[test]
fn a_malformed_request_gets_400_naming_the_fault_and_the_server_goes_on() {
    let server = start();
    let bad = request("OPTIONS", "bad1", "OPTIONS", "UDP").replace("CSeq: 1 ", "CSeq: one ");
    let resp = udp_exchange(server.addr, &bad, Duration::from_secs(5)).unwrap();
    assert!(resp.starts_with("SIP/2.0 400 "), "{resp}");
    let reason = resp.lines().next().unwrap();
    assert!(
        reason.contains("CSeq"),
        "the reason must name the header: {reason}"
    );

    // Bytes that are not SIP at all are dropped; the server keeps answering.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(&[0xff, 0x00, 0x13, 0x37], server.addr)
        .unwrap();
    let resp = udp_exchange(server.addr, &options("after"), Duration::from_secs(5)).unwrap();
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
}

#[test]
fn options_over_tcp() {
    let server = start();
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(request("OPTIONS", "tcp1", "OPTIONS", "TCP").as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).expect("a response over TCP");
        assert!(n > 0, "connection closed before a response");
        got.extend_from_slice(&buf[..n]);
    }
    let resp = String::from_utf8_lossy(&got);
    assert!(resp.starts_with("SIP/2.0 200 OK\r\n"), "{resp}");
    assert!(header(&resp, "Via").unwrap().contains("branch=z9hG4bKtcp1"));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = start();
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status after SIGTERM: {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The port is free again.
    UdpSocket::bind(server.addr).expect("port released after stop");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["serve", "--sip-listen", &addr.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen for SIP on"), "{err}");
}

/// A real peer: SIPp (Debian `sip-tester`) pings the server with 50 OPTIONS
/// over UDP and 20 over TCP and must get 200 for each. Skipped, with a
/// message, where `sipp` is not installed.
#[test]
fn sipp_options_pings_get_200() {
    if Command::new("sipp").arg("-v").output().is_err() {
        println!("SKIPPED: sipp not installed (apt-get install sip-tester)");
        return;
    }
    let server = start();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../net/tests/sipp/options.xml");
    for (transport, calls) in [("u1", "50"), ("t1", "20")] {
        let status = Command::new("sipp")
            .arg(server.addr.to_string())
            .args([
                "-sf",
                scenario,
                "-t",
                transport,
                "-i",
                "127.0.0.1",
                "-p",
                "0",
            ])
            .args(["-m", calls, "-r", "100", "-timeout", "15s", "-nostdin"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(std::env::temp_dir())
            .status()
            .expect("run sipp");
        assert!(status.success(), "sipp over {transport}: {status}");
    }
}
