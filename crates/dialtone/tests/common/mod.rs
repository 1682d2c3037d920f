//! A real `dialtone serve` for end-to-end tests: free ports, a temporary
//! data directory and config file, a known API key, a tiny HTTP client,
//! SIPp runs with bounded time, and what the tests with real phones share
//! (`baresip`, the configs in `tests/e2e/phones/`, failure diagnostics).
#![allow(dead_code)]

pub mod baresip;
pub mod kamailio;
pub mod pcap;
pub mod softphone;
pub mod tmux;
pub mod torture;

#[allow(unused_imports)]
pub use pcap::{ethernet_udp, rfc4733_pcap};

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const API_KEY: &str = "e2e-test-key-0123456789";

/// The server process; killed on drop if a test failed before stopping it.
pub struct Dialtone {
    pub child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub dir: PathBuf,
}

impl Drop for Dialtone {
    fn drop(&mut self) {
        // Only the child this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A port free for both UDP and TCP on loopback right now.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dialtone-e2e-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A temporary directory for a test's files; removed on drop unless the
/// test failed (then its path is printed).
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        TestDir(temp_dir(name))
    }
}

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Dialtone {
    /// Starts the binary with `config` (TOML) plus the listen addresses,
    /// and waits until `/healthz` answers.
    pub fn start(name: &str, config: &str, extra_args: &[&str]) -> Dialtone {
        Dialtone::start_with_env(name, config, extra_args, &[])
    }

    /// [`Dialtone::start`] with environment variables set for the server
    /// (`PATH`, to choose which programs it finds).
    pub fn start_with_env(
        name: &str,
        config: &str,
        extra_args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Dialtone {
        let dir = temp_dir(name);
        let sip: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        std::fs::write(dir.join("dialtone.toml"), config).unwrap();
        Dialtone::spawn(dir, sip, http, extra_args, env)
    }

    /// Kills the server with SIGKILL (a crash: nothing is cleaned up) and
    /// starts it again on the same data directory and ports.
    pub fn crash_and_restart(mut self) -> Dialtone {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (dir, sip, http) = (self.dir.clone(), self.sip, self.http);
        // Keep the directory: forget it before Drop removes it.
        self.dir = PathBuf::new();
        drop(self);
        Dialtone::spawn(dir, sip, http, &[], &[])
    }

    /// SIGTERM, and keep the data directory (see [`Dialtone::restart_on`]).
    pub fn stop_keeping_data(mut self) -> ExitStatus {
        let dir = std::mem::take(&mut self.dir);
        let http = self.http;
        let status = self.stop_inner();
        std::fs::write(dir.join("http-port"), http.port().to_string()).unwrap();
        status
    }

    /// Starts a server again on a data directory an earlier one left.
    pub fn restart_on(dir: PathBuf, sip: SocketAddr) -> Dialtone {
        let port: u16 = std::fs::read_to_string(dir.join("http-port"))
            .unwrap()
            .parse()
            .unwrap();
        Dialtone::spawn(dir, sip, SocketAddr::from(([127, 0, 0, 1], port)), &[], &[])
    }

    fn spawn(
        dir: PathBuf,
        sip: SocketAddr,
        http: SocketAddr,
        extra_args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Dialtone {
        // A private RTP range per server so parallel tests do not collide.
        let base = 20000 + (sip.port() % 200) * 100;
        let config_path = dir.join("dialtone.toml");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("stderr.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--sip-listen", &sip.to_string()])
            .args(["--http-listen", &http.to_string()])
            .args(["--rtp-ports", &format!("{base}-{}", base + 99)])
            .args(extra_args)
            .envs(env.iter().copied())
            .env("DIALTONE_API_KEY", API_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn dialtone serve");
        let mut d = Dialtone {
            child,
            sip,
            http,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = d.try_get("/healthz") {
                return d;
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("dialtone exited at start ({status}): {}", d.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "dialtone did not start: {}",
                d.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `/v1/events` as a WebSocket (`types`: the `types=` filter, empty for
    /// every event), reads timing out after `timeout`.
    pub fn events(
        &self,
        types: &str,
        timeout: Duration,
    ) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>> {
        let mut url = format!("ws://{}/v1/events?api_key={API_KEY}", self.http);
        if !types.is_empty() {
            url += &format!("&types={types}");
        }
        let (mut ws, _) = tungstenite::connect(url.as_str()).expect("WebSocket connects");
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
            s.set_read_timeout(Some(timeout)).unwrap();
        }
        ws
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    fn try_get(&self, path: &str) -> std::io::Result<(u16, Value)> {
        http(self.http, "GET", path, None)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        http(self.http, "GET", path, None).expect("HTTP GET")
    }

    pub fn post(&self, path: &str, body: Option<&Value>) -> (u16, Value) {
        http(self.http, "POST", path, body).expect("HTTP POST")
    }

    pub fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        http(self.http, "PUT", path, Some(body)).expect("HTTP PUT")
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        http(self.http, "DELETE", path, None).expect("HTTP DELETE")
    }

    /// A GET whose body is not JSON (a file): status, `Content-Type`, body.
    pub fn get_bytes(&self, path: &str) -> (u16, String, Vec<u8>) {
        let mut conn = TcpStream::connect_timeout(&self.http, Duration::from_secs(2)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {API_KEY}\r\n\
             Connection: close\r\n\r\n",
            self.http
        );
        conn.write_all(req.as_bytes()).unwrap();
        let mut resp = Vec::new();
        conn.read_to_end(&mut resp).unwrap();
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response");
        let head = String::from_utf8_lossy(&resp[..split]).to_string();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let content_type = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default();
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "a file is sent with its length: {head}"
        );
        (status, content_type, resp[split + 4..].to_vec())
    }

    /// Every call record, following pagination.
    pub fn all_calls(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let path = match &token {
                Some(t) => format!("/v1/calls?page_size=500&page_token={t}"),
                None => "/v1/calls?page_size=500".to_owned(),
            };
            let (status, body) = self.get(&path);
            assert_eq!(status, 200, "{body}");
            out.extend(body["items"].as_array().unwrap().iter().cloned());
            match body["next_page_token"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => return out,
            }
        }
    }

    /// Waits until no call is active (every record reached `hangup`).
    pub fn wait_all_hung_up(&self, expected: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let calls = self.all_calls();
            if calls.len() >= expected && calls.iter().all(|c| c["status"] == "hangup") {
                return calls;
            }
            if Instant::now() > deadline {
                let active: Vec<_> = calls.iter().filter(|c| c["status"] != "hangup").collect();
                panic!(
                    "{} calls, {} not hung up after {within:?}: {active:#?}",
                    calls.len(),
                    active.len()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(mut self) -> ExitStatus {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running 15 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One HTTP/1.1 request with the test API key; returns status and JSON body
/// (`Value::Null` for an empty or non-JSON body).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(req.as_bytes())?;
    let mut resp = Vec::new();
    conn.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad HTTP response: {text}")))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

pub fn sipp_installed() -> bool {
    Command::new("sipp").arg("-v").output().is_ok()
}

pub fn scenario(name: &str) -> String {
    format!("{}/../../tests/e2e/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A SIPp process started in the background (killed on drop).
pub struct Sipp {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sipp` against `server` with `args`, from its own local port, with
/// an injection file holding `csv` lines.
pub fn sipp(server: SocketAddr, transport: &str, csv: &str, args: &[&str], dir: &Path) -> Sipp {
    let port = free_port();
    let inf = dir.join(format!("inf-{port}.csv"));
    std::fs::write(&inf, format!("SEQUENTIAL\n{csv}\n")).unwrap();
    let child = Command::new("sipp")
        .arg(server.to_string())
        .args(["-t", transport, "-i", "127.0.0.1", "-p", &port.to_string()])
        .arg("-inf")
        .arg(&inf)
        .args(["-nostdin", "-trace_err", "-mp", &free_port().to_string()])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sipp");
    Sipp {
        child,
        port,
        dir: dir.to_owned(),
    }
}

impl Sipp {
    /// Waits at most `within` for SIPp to finish; `None` if it did not.
    pub fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIPp's error log, for failure messages.
    pub fn errors(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with("_errors.log") {
                    out += &std::fs::read_to_string(e.path()).unwrap_or_default();
                }
            }
        }
        out.chars()
            .rev()
            .take(4000)
            .collect::<String>()
            .chars()
            .rev()
            .collect()
    }
}

/// Goertzel: the power of the `hz` component of `window` (sampled at
/// `rate`), |X(f)|².
pub fn goertzel_power(window: &[i16], hz: f64, rate: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * hz / rate).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in window {
        let s0 = f64::from(x) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}

/// A mono 16-bit 8 kHz WAV of a `hz` sine, `secs` long.
pub fn write_tone_wav(path: &std::path::Path, hz: f64, secs: u32) {
    const RATE: u32 = 8000;
    let samples = RATE * secs;
    let data_len = samples * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes()); // bytes per second
    wav.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for n in 0..samples {
        let t = f64::from(n) / f64::from(RATE);
        let sample = (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    std::fs::write(path, wav).unwrap();
}

// ---- real phones ------------------------------------------------------------

/// Whether `(binary, harmless argument, apt package)` runs; says SKIPPED
/// when it does not.
pub fn installed((binary, arg, package): (&str, &str, &str)) -> bool {
    let found = Command::new(binary)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        println!("SKIPPED: {binary} not installed (apt-get install {package})");
    }
    found
}

/// What a failure message shows of a phone.
pub trait Phone {
    fn describe(&self) -> String;
}

/// Everything a failure message shows: the server's log and each phone's.
pub fn diag(d: &Dialtone, phones: &[&dyn Phone]) -> String {
    let mut out = format!("--- dialtone ---\n{}", tail(&d.stderr(), 4000));
    for p in phones {
        out += "\n";
        out += &p.describe();
    }
    out
}

/// Waits until `/v1/registrations` lists every extension.
pub fn wait_registered(d: &Dialtone, extensions: &[&str], phones: &[&dyn Phone]) {
    const WAIT: Duration = softphone::WAIT;
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, regs) = d.get("/v1/registrations");
        let items = regs["items"].as_array().cloned().unwrap_or_default();
        if extensions
            .iter()
            .all(|e| items.iter().any(|r| r["extension"] == *e))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not all of {extensions:?} registered within {WAIT:?}: {regs}\n{}",
            diag(d, phones)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `tests/e2e/phones/NAME` (a phone's config) with each `{key}` replaced.
pub fn phone_template(name: &str, vars: &[(&str, String)]) -> String {
    let path = format!(
        "{}/../../tests/e2e/phones/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (key, value) in vars {
        text = text.replace(&format!("{{{key}}}"), value);
    }
    assert!(
        !text.contains("{"),
        "unfilled placeholder in {path}: {text}"
    );
    text
}

/// A tiny HTTP/1.1 server on loopback for the play test: `GET PATH`
/// answers the file registered under that path (404 otherwise), one
/// request per connection. It stops when dropped (or after 2 minutes).
pub struct FileServer {
    pub addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FileServer {
    pub fn start(files: Vec<(&'static str, Vec<u8>)>) -> FileServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                use std::io::BufRead;
                let mut reader = std::io::BufReader::new(&conn);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                // The rest of the head, up to the empty line.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = line.split(' ').nth(1).unwrap_or("");
                let response = match files.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = (&conn).write_all(&response);
            }
        });
        FileServer { addr, stop }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The last `max` bytes of `s` (at a character boundary), for failure messages.
pub fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
