//! `dialtone serve` as a peer sees it: the real binary on loopback, spoken
//! to over UDP and TCP with hand-written requests and over HTTP, and
//! stopped with SIGTERM.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn start() -> Dialtone {
    Dialtone::start("serve", CONFIG, &[])
}

const CONFIG: &str = "[[extensions]]\nextension = \"100\"\npassword = \"secret-100\"\n";

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
    let resp = udp_exchange(server.sip, &options("opt1"), Duration::from_secs(5))
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
fn register_without_credentials_is_challenged_and_unknown_methods_get_405_with_allow() {
    let server = start();
    let resp = udp_exchange(
        server.sip,
        &request("REGISTER", "reg1", "REGISTER", "UDP"),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(resp.starts_with("SIP/2.0 401 "), "{resp}");
    let challenges: Vec<&str> = resp
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
        .collect();
    assert_eq!(challenges.len(), 2, "SHA-256 and MD5 challenges: {resp}");
    assert!(challenges[0].contains("algorithm=SHA-256"), "{resp}");
    assert!(
        challenges.iter().all(|c| c.contains("qop=\"auth\"")),
        "{resp}"
    );

    let resp = udp_exchange(
        server.sip,
        &request("FROBNICATE", "ext1", "FROBNICATE", "UDP"),
        Duration::from_secs(5),
    )
    .unwrap();
    // RFC 3261 §8.2.1: a method the UAS does not support gets 405 and Allow.
    assert!(resp.starts_with("SIP/2.0 405 "), "{resp}");
    assert!(header(&resp, "Allow").unwrap().contains("INVITE"), "{resp}");
}

#[test]
fn the_api_needs_the_key_and_speaks_json_errors() {
    let server = start();
    let (status, body) = server.get("/healthz");
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    // Without the key.
    let mut conn = TcpStream::connect(server.http).unwrap();
    conn.write_all(b"GET /v1/calls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    assert!(resp.contains("\"code\":\"unauthorized\""), "{resp}");
    // With it: the config's extension is listed, its password is not.
    let (status, body) = server.get("/v1/extensions");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["extension"], "100");
    assert_eq!(body["items"][0]["origin"], "config");
    assert!(!body.to_string().contains("secret-100"), "{body}");
    // A bad body names the field.
    let (status, body) = server.post(
        "/v1/extensions",
        Some(&serde_json::json!({"extension": "1 01", "password": "longenough"})),
    );
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("extension:"),
        "{body}"
    );
    let (status, body) = server.post(
        "/v1/extensions",
        Some(&serde_json::json!({"extension": "101"})),
    );
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{body}"
    );
    let (status, body) = server.post(
        "/v1/extensions",
        Some(&serde_json::json!({"extension": "101", "password": "longenough"})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, _) = server.post(
        "/v1/extensions",
        Some(&serde_json::json!({"extension": "101", "password": "longenough"})),
    );
    assert_eq!(status, 409);
    let (status, body) = server.get("/v1/calls?status=bogus");
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("status:"),
        "{body}"
    );
}

#[test]
fn a_malformed_request_gets_400_naming_the_fault_and_the_server_goes_on() {
    let server = start();
    let bad = request("OPTIONS", "bad1", "OPTIONS", "UDP").replace("CSeq: 1 ", "CSeq: one ");
    let resp = udp_exchange(server.sip, &bad, Duration::from_secs(5)).unwrap();
    assert!(resp.starts_with("SIP/2.0 400 "), "{resp}");
    let reason = resp.lines().next().unwrap();
    assert!(
        reason.contains("CSeq"),
        "the reason must name the header: {reason}"
    );

    // Bytes that are not SIP at all are dropped; the server keeps answering.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(&[0xff, 0x00, 0x13, 0x37], server.sip).unwrap();
    let resp = udp_exchange(server.sip, &options("after"), Duration::from_secs(5)).unwrap();
    assert!(resp.starts_with("SIP/2.0 200"), "{resp}");
}

#[test]
fn options_over_tcp() {
    let server = start();
    let mut conn = TcpStream::connect(server.sip).unwrap();
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
    UdpSocket::bind(server.sip).expect("port released after stop");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = temp_dir("taken");
    let out = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["serve", "--sip-listen", &addr.to_string()])
        .args(["--http-listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("DIALTONE_API_KEY", API_KEY)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen for SIP on"), "{err}");
}

/// `--moh-file` is decoded at start: a file that is not a WAV stops the
/// start with a message naming the setting, the file and the fault; a
/// WAV one is taken (and `check-config` shows it, with the media
/// directory).
#[test]
fn a_moh_file_that_is_not_a_wav_is_a_clear_start_error() {
    let dir = temp_dir("moh");
    let bad = dir.join("hold.mp3");
    std::fs::write(&bad, b"ID3 not a wav file").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args([
            "serve",
            "--sip-listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .args(["--http-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--rtp-ports", "39800-39819"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("DIALTONE_API_KEY", API_KEY)
        .env("DIALTONE_MOH_FILE", &bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("moh_file {}: not a RIFF/WAVE file", bad.display())),
        "{err}"
    );

    let good = dir.join("hold.wav");
    let spec = media::wav::WavSpec {
        rate: 8000,
        channels: 1,
    };
    let mut w = media::wav::WavWriter::new(std::fs::File::create(&good).unwrap(), spec).unwrap();
    w.write_samples(&[1000; 8000]).unwrap();
    w.finish().unwrap();
    let good_arg = good.display().to_string();
    let server = Dialtone::start("moh-good", "", &["--moh-file", &good_arg]);
    assert_eq!(server.get("/healthz").0, 200);
    assert_eq!(server.stop().code(), Some(0));

    let out = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args([
            "check-config",
            "--moh-file",
            &good_arg,
            "--data-dir",
            "/srv/dialtone",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["moh_file"], good_arg.as_str());
    assert_eq!(v["media_dir"], "/srv/dialtone/media");
    let _ = std::fs::remove_dir_all(&dir);
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
            .arg(server.sip.to_string())
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

/// The served document is OpenAPI 3.1, and every path and method it lists
/// is served by the real binary (called with the key, none falls through
/// to "no such route" or 405). `crates/server` checks the document itself
/// and that the router serves nothing else.
#[test]
fn the_openapi_document_matches_the_routes() {
    let server = start();
    let (status, served) = server.get("/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served["info"]["title"], "Dialtone");
    let paths = served["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{}", paths.len());
    for (path, ops) in paths {
        let concrete = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        for method in ops.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let body = serde_json::json!({});
            let (status, resp) = http(server.http, &method, &concrete, Some(&body)).unwrap();
            let message = resp["error"]["message"].as_str().unwrap_or("");
            assert!(
                !message.starts_with("no such route") && status != 405,
                "{method} {path}: {status} {resp}"
            );
        }
    }
}

/// `dialtone check-config`: flags beat variables beat the file; a bad file
/// is an error that names the key, exit 1; passwords are never printed.
#[test]
fn check_config_merges_and_names_faults() {
    let dir = temp_dir("check-config");
    let file = dir.join("d.toml");
    std::fs::write(
        &file,
        "sip_listen = \"127.0.0.1:5070\"\nhttp_listen = \"127.0.0.1:9000\"\nrealm = \"file\"\n\
         [[extensions]]\nextension = \"100\"\npassword = \"hunter2hunter2\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["check-config", "--config"])
        .arg(&file)
        .args(["--sip-listen", "127.0.0.1:5080"])
        .env("DIALTONE_SIP_LISTEN", "127.0.0.1:5090")
        .env("DIALTONE_REALM", "env")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["sip_listen"], "127.0.0.1:5080", "flag wins");
    assert_eq!(v["realm"], "env", "variable beats file");
    assert_eq!(v["http_listen"], "127.0.0.1:9000", "file beats default");
    assert_eq!(v["rtp_ports"], "10000-20000", "default");
    assert!(
        !text.contains("hunter2"),
        "no password in the output: {text}"
    );

    std::fs::write(&file, "ring_timout = 5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ring_timout"));
    let _ = std::fs::remove_dir_all(&dir);
}
