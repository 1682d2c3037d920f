//! A real peer: SIPp (Debian package `sip-tester`) sends OPTIONS over UDP
//! and TCP to the test responder and must get 200 OK. Skipped, with a
//! message, where `sipp` is not installed.

mod common;

use common::*;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sipp_installed() -> bool {
    Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs `sipp` for `calls` OPTIONS against `server`; true when every call got 200.
fn run_sipp(server: SocketAddr, transport: &str, calls: u32) -> bool {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/options.xml");
    let mut child = Command::new("sipp")
        .arg(server.to_string())
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
        .args([
            "-m",
            &calls.to_string(),
            "-r",
            "50",
            "-timeout",
            "4s",
            "-nostdin",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir(std::env::temp_dir())
        .spawn()
        .expect("spawn sipp");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for sipp") {
            return status.success();
        }
        if started.elapsed() > Duration::from_millis(4500) {
            // Only the child this test started.
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_options_over_udp_and_tcp() {
    if !sipp_installed() {
        println!("skipped: sipp not installed (apt-get install sip-tester)");
        return;
    }
    let (handle, _events) = start(loopback_config()).await;
    let udp = handle.local_addrs().udp[0];
    let tcp = handle.local_addrs().tcp[0];
    let udp_ok = tokio::task::spawn_blocking(move || run_sipp(udp, "u1", 5))
        .await
        .unwrap();
    assert!(udp_ok, "sipp OPTIONS over UDP failed");
    let tcp_ok = tokio::task::spawn_blocking(move || run_sipp(tcp, "t1", 5))
        .await
        .unwrap();
    assert!(tcp_ok, "sipp OPTIONS over TCP failed");
    handle.shutdown().await.unwrap();
}
