//! `dialtone phone` as a process under test: its `--json` event lines read
//! back as they come, with bounded waits on them.
//!
//! ```ignore
//! let b = PhoneCli::listen(&dir, "B", kam.addr, ("1002", PASSWORD), &["--auto-answer", "0"]);
//! let mut a = PhoneCli::call(&dir, "A", kam.addr, ("1001", PASSWORD), "1002", &["--hangup-after", "2s"]);
//! assert_eq!(a.wait_exit(), 0, "{}", a.describe());
//! let call = b.call_of("established");
//! assert_eq!(b.ended(call), ("normal".into(), "remote".into()));
//! ```

use super::tail;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest any wait on a phone may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A `dialtone phone` process; its stdout read line by line as it comes
/// (JSON events with `--json`), its stderr in a file. Killed on drop, its
/// output printed if the test failed.
pub struct PhoneCli {
    name: String,
    child: Child,
    /// Each stdout line with when it arrived.
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    stderr: PathBuf,
    status: Option<i32>,
}

impl PhoneCli {
    /// `dialtone phone ARGS...`.
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> PhoneCli {
        let stderr = dir.join(format!("{name}.stderr"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .arg("phone")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn dialtone phone");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), line));
            }
        });
        PhoneCli {
            name: name.to_owned(),
            child,
            lines,
            stderr,
            status: None,
        }
    }

    /// `phone call TARGET` as `user` at `server`, with JSON events and a
    /// bounded time to answer.
    pub fn call(
        dir: &Path,
        name: &str,
        server: SocketAddr,
        (user, password): (&str, &str),
        target: &str,
        extra: &[&str],
    ) -> PhoneCli {
        let server = server.to_string();
        let mut args = vec![
            "call",
            target,
            "--server",
            &server,
            "--user",
            user,
            "--password",
            password,
            "--timeout",
            "15s",
            "--json",
        ];
        args.extend_from_slice(extra);
        PhoneCli::start(dir, name, &args)
    }

    /// `phone listen` as `user` at `server`, with JSON events; returns once
    /// it is registered.
    pub fn listen(
        dir: &Path,
        name: &str,
        server: SocketAddr,
        (user, password): (&str, &str),
        extra: &[&str],
    ) -> PhoneCli {
        let server = server.to_string();
        let mut args = vec![
            "listen",
            "--server",
            &server,
            "--user",
            user,
            "--password",
            password,
            "--json",
        ];
        args.extend_from_slice(extra);
        let cli = PhoneCli::start(dir, name, &args);
        cli.wait_event("registered", |e| {
            e["event"] == "registration" && e["state"] == "registered"
        });
        cli
    }

    /// The JSON lines so far.
    pub fn events(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, l)| serde_json::from_str(l).ok())
            .collect()
    }

    /// The first event that `matches`; panics if none comes within [`WAIT`].
    pub fn wait_event(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.events().into_iter().find(&matches) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {what} within {WAIT:?}\n{}",
                self.name,
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `call` reaches `state`; returns that event.
    pub fn wait_state(&self, call: u64, state: &str) -> Value {
        self.wait_event(&format!("call {call} {state}"), |e| {
            e["call"] == call && is_state(e, state)
        })
    }

    /// When the first line parsing to an event that `matches` arrived.
    pub fn time_of(&self, matches: impl Fn(&Value) -> bool) -> Instant {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|(_, l)| serde_json::from_str(l).is_ok_and(|e| matches(&e)))
            .map(|(t, _)| *t)
            .unwrap_or_else(|| panic!("{}: no such event\n{}", self.name, self.describe()))
    }

    /// The call that reached `state` first.
    pub fn call_of(&self, state: &str) -> u64 {
        self.wait_event(state, |e| is_state(e, state))["call"]
            .as_u64()
            .unwrap()
    }

    /// `call`'s states in order.
    pub fn state_names(&self, call: u64) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e["event"] == "state" && e["call"] == call)
            .map(|e| e["state"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// How `call` ended: (reason, by).
    pub fn ended(&self, call: u64) -> (String, String) {
        let e = self.wait_state(call, "ended");
        (
            e["reason"].as_str().unwrap_or("").to_owned(),
            e["by"].as_str().unwrap_or("").to_owned(),
        )
    }

    /// Whether `call`'s operation `op` reported success.
    pub fn has_op(&self, call: u64, op: &str) -> bool {
        self.events()
            .iter()
            .any(|e| e["event"] == "op" && e["call"] == call && e["op"] == op && e["ok"] == true)
    }

    /// Waits for the process to exit (within [`WAIT`]); its exit status.
    pub fn wait_exit(&mut self) -> i32 {
        if let Some(code) = self.status {
            return code;
        }
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader take the last lines.
                std::thread::sleep(Duration::from_millis(50));
                let code = status.code().unwrap_or(-1);
                self.status = Some(code);
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "{} still runs after {WAIT:?}\n{}",
                self.name,
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Its output so far, for failure messages.
    pub fn describe(&self) -> String {
        let out: Vec<String> = self
            .lines
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        format!(
            "--- dialtone phone {} (exit {:?}) stdout ---\n{}\n--- stderr ---\n{}",
            self.name,
            self.status,
            out.join("\n"),
            tail(&self.stderr(), 6000)
        )
    }
}

impl Drop for PhoneCli {
    fn drop(&mut self) {
        // Only the process this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.describe());
        }
    }
}

/// Whether `e` is a state event for `state`.
pub fn is_state(e: &Value, state: &str) -> bool {
    e["event"] == "state" && e["state"] == state
}
