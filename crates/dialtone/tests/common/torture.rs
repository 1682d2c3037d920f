//! The RFC 4475 torture messages (read from `../shared/conformance`,
//! skipped with a message if absent) sent to a running `dialtone serve`
//! over UDP and TCP: every invalid request that can be answered gets the
//! status `dialtone sip-check` names for it (400, 505, 501...), none gets a
//! 2xx, the server survives, and a normal call completes afterwards.
//!
//! The messages name foreign hosts in their Via headers; Dialtone answers
//! to the address a request came from (`received`), so nothing leaves the
//! machine.

use super::*;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/rfc4475");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("SKIPPED: ../shared/conformance not found");
        None
    }
}

/// sip-check's verdict per file name.
fn verdicts(files: &[PathBuf]) -> HashMap<String, Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .arg("sip-check")
        .args(files)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let name = v["file"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            (name, v)
        })
        .collect()
}

/// The status of the first final response read from `conn` (provisional
/// ones skipped), or `None` if the server closed or said nothing in time.
fn tcp_answer(conn: &mut TcpStream) -> Option<u16> {
    conn.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        for msg in text.split("\r\n\r\n") {
            if let Some(rest) = msg.trim_start().strip_prefix("SIP/2.0 ") {
                let code: u16 = rest.get(..3)?.parse().ok()?;
                if code >= 200 {
                    return Some(code);
                }
            }
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends every RFC 4475 message to `d` over UDP and TCP and checks the
/// answers; returns false (after saying so) when the corpus is absent.
pub fn torture(d: &Dialtone) -> bool {
    let Some(dir) = corpus() else { return false };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .collect();
    files.sort();
    assert!(files.len() >= 49);
    let verdicts = verdicts(&files);

    // UDP: every message, as sent; answers go to the Via port, not to us.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for f in &files {
        udp.send_to(&std::fs::read(f).unwrap(), d.sip).unwrap();
    }

    // TCP: one connection per message, in parallel (some wait for bytes
    // their Content-Length promises and are closed by the read deadline).
    let handles: Vec<_> = files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).unwrap();
            let sip = d.sip;
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            std::thread::spawn(move || {
                let mut conn = TcpStream::connect(sip).unwrap();
                conn.write_all(&bytes).unwrap();
                (name, tcp_answer(&mut conn))
            })
        })
        .collect();
    let mut exact = 0;
    let mut dropped = Vec::new();
    let mut unterminated = Vec::new();
    for h in handles {
        let (name, answer) = h.join().unwrap();
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        if !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
            // Cut before the blank line: on a stream the head never ends.
            unterminated.push(name.clone());
        }
        let v = &verdicts[&name];
        let is_request = v["method"].is_string();
        if v["verdict"] == "invalid" && is_request {
            let want = v["status_code"].as_u64().unwrap() as u16;
            match answer {
                Some(code) => {
                    assert_eq!(code, want, "{name}: {}", v["reason"]);
                    exact += 1;
                }
                None => dropped.push(name),
            }
        } else if let Some(code) = answer {
            // Valid requests get a real answer (407, 404, 200...), never a crash.
            assert!((200..700).contains(&code), "{name}: {code}");
        }
    }
    println!("invalid requests answered with their status: {exact}; dropped (no answer possible): {dropped:?}");
    // Dropped only where no answer can be built: a missing Call-ID, From,
    // To or CSeq, a body that never fully arrives, a head never terminated.
    assert!(exact >= 17, "answered {exact}, dropped {dropped:?}");
    for name in &dropped {
        let reason = verdicts[name]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("missing")
                || reason.contains("exceeds the")
                || unterminated.contains(name),
            "{name} was dropped but could be answered: {reason}"
        );
    }

    // The server is alive and still serves: OPTIONS gets 200.
    let mut conn = TcpStream::connect(d.sip).unwrap();
    let options = format!(
        "OPTIONS sip:100@{0} SIP/2.0\r\nVia: SIP/2.0/TCP {1};branch=z9hG4bKafter\r\nMax-Forwards: 70\r\n\
         From: <sip:t@{1}>;tag=1\r\nTo: <sip:100@{0}>\r\nCall-ID: after@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        d.sip,
        conn.local_addr().unwrap()
    );
    conn.write_all(options.as_bytes()).unwrap();
    assert_eq!(tcp_answer(&mut conn), Some(200));
    assert_eq!(d.get("/healthz").0, 200);
    true
}
