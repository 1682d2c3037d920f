//! A program in a terminal: a detached tmux session on a tmux server of the
//! test's own, typed into with `send-keys` and read with `capture-pane`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// For [`super::installed`]: the binary, a harmless argument, the apt package.
pub const TMUX: (&str, &str, &str) = ("tmux", "-V", "tmux");

/// The longest any wait on the terminal may take.
const WAIT: Duration = Duration::from_secs(20);

/// A program in a detached tmux session on a tmux server of its own
/// (`tmux -L NAME`), the pane kept after the program exits so its status
/// can be read; the server is killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (the program, then its arguments) in the session;
    /// the server's socket is named after `dir` (unique per test).
    pub fn start(dir: &Path, command: &[&str]) -> Tmux {
        let socket = format!(
            "dialtone-e2e-{}-{}",
            std::process::id(),
            dir.file_name().unwrap().to_string_lossy()
        );
        let tmux = Tmux { socket };
        let status = tmux
            .tmux()
            .args(["new-session", "-d", "-s", "phone", "-x", "200", "-y", "50"])
            .args(command)
            .args([";", "set-option", "-w", "remain-on-exit", "on"])
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session: {status}");
        tmux
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"])
            .stdin(Stdio::null());
        c
    }

    /// Types `line` and Enter.
    pub fn send(&self, line: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", "phone", "-l", line])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self
            .tmux()
            .args(["send-keys", "-t", "phone", "Enter"])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The pane's text, its history included.
    pub fn capture(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-J", "-S", "-", "-t", "phone"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the pane shows `text`.
    pub fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.capture().contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the shell did not show {text:?} within {WAIT:?}:\n{}",
                self.capture()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the pane's program has exited; its exit status.
    ///
    /// tmux marks the pane dead when its terminal closes and learns the
    /// status when it reaps the process, which tmux 3.3 sometimes misses
    /// (the program stays a zombie, `pane_dead_status` empty); the status
    /// is then read from the zombie (`/proc/PID/stat`, field 52).
    pub fn wait_exit(&self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self
                .tmux()
                .args([
                    "display-message",
                    "-p",
                    "-t",
                    "phone",
                    "#{pane_dead} #{pane_pid} #{pane_dead_status}",
                ])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let fields: Vec<&str> = text.split_whitespace().collect();
            match fields[..] {
                ["1", _, status] => return status.parse().unwrap_or(-1),
                ["1", pid] => {
                    if let Some(status) = zombie_exit_status(pid) {
                        return status;
                    }
                }
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "the shell still runs after quit ({text}):\n{}",
                self.capture()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The exit status of process `pid` if it is a zombie (exited, not reaped).
fn zombie_exit_status(pid: &str) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (comm) ": field 3 (state) onwards.
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    if fields.first() != Some(&"Z") {
        return None;
    }
    // Field 52, exit_code, as waitpid(2) reports it.
    let code: i32 = fields.get(52 - 3)?.parse().ok()?;
    Some(if code & 0x7f == 0 { code >> 8 } else { -1 })
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- tmux pane ---\n{}", self.capture());
        }
        // This test's own tmux server (and the shell in it).
        let _ = self
            .tmux()
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}
