//! baresip 1.0 as a phone under test: a config directory per instance
//! (`baresip -f DIR`, from the templates in `tests/e2e/phones/`), a tone
//! (`ausine`) or a WAV file (`aufile`) as microphone, and an `aubridge`
//! player that goes nowhere; driven over `ctrl_tcp` (netstring-framed
//! JSON: `dial`, `hangup`, `listcalls`, `sndcode`), its events read on a
//! connection of their own.
//!
//! baresip (libre) gives up on a 401 as soon as one `WWW-Authenticate`
//! names an algorithm other than MD5, so a server it registers with must
//! offer MD5 alone (`auth_algorithms = ["MD5"]`).
//!
//! ```ignore
//! if !installed(BARESIP) { return; }
//! let bob = Baresip::start(&d, "200", "bob-secret-22", true);
//! wait_registered(&d, &["200"], &[&bob]);
//! bob.command("dial", &format!("sip:100@{}", d.sip), &d, &[&bob]);
//! ```

use super::{diag, free_port, phone_template, tail, Dialtone, Phone};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest any wait on baresip may take.
const WAIT: Duration = Duration::from_secs(20);

/// For [`super::installed`]: the binary, a harmless argument, the apt package.
pub const BARESIP: (&str, &str, &str) = ("baresip", "-h", "baresip");

/// A baresip's audio: the codec modules it loads, the tone it sends (its
/// microphone), and whether it dumps the audio it decodes to WAV files.
pub struct Audio {
    pub codecs: Vec<&'static str>,
    /// baresip's `audio_codecs` account parameter (e.g. `PCMA`): the codecs
    /// it offers and accepts, of those its modules provide.
    pub only: Option<&'static str>,
    pub tone_hz: u32,
    pub dump: bool,
    /// A WAV file as microphone instead of the tone (48 kHz stereo: the
    /// rate and layout baresip's `aufile` source is configured for).
    pub source: Option<PathBuf>,
}

impl Default for Audio {
    fn default() -> Audio {
        Audio {
            codecs: vec!["g711.so"],
            only: None,
            tone_hz: 440,
            dump: false,
            source: None,
        }
    }
}

/// A baresip instance with its own config directory; killed on drop, its
/// log printed if the test failed.
pub struct Baresip {
    child: Child,
    ctrl: SocketAddr,
    pub extension: String,
    /// Its config, log and (with [`Audio::dump`]) decoded-audio dumps.
    pub dir: PathBuf,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        // Only the child this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.describe());
        }
    }
}

impl Phone for Baresip {
    fn describe(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default();
        format!("--- baresip {} ---\n{}", self.extension, tail(&log, 6000))
    }
}

impl Baresip {
    /// Starts baresip for `extension` registering at `d`, answering calls
    /// by itself if `auto_answer`, and waits until its control port opens.
    pub fn start(d: &Dialtone, extension: &str, password: &str, auto_answer: bool) -> Baresip {
        Baresip::start_with(d, extension, password, auto_answer, &Audio::default())
    }

    /// [`Baresip::start`] with its codecs, tone and audio dump chosen.
    pub fn start_with(
        d: &Dialtone,
        extension: &str,
        password: &str,
        auto_answer: bool,
        audio: &Audio,
    ) -> Baresip {
        let dir = d.dir.join(format!("baresip-{extension}"));
        std::fs::create_dir_all(&dir).unwrap();
        let sip_port = free_port_pair();
        let ctrl = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let vars = [
            ("module_path", baresip_modules()),
            ("sip_port", sip_port.to_string()),
            ("ctrl_port", ctrl.port().to_string()),
            ("extension", extension.to_owned()),
            ("server", d.sip.to_string()),
            ("password", password.to_owned()),
            (
                "answermode",
                if auto_answer { "auto" } else { "manual" }.to_owned(),
            ),
            (
                "audio_source",
                match &audio.source {
                    Some(wav) => format!("aufile,{}", wav.display()),
                    None => format!("ausine,{}", audio.tone_hz),
                },
            ),
            (
                "account_params",
                audio
                    .only
                    .map(|c| format!(";audio_codecs={c}"))
                    .unwrap_or_default(),
            ),
            (
                "codec_modules",
                audio
                    .codecs
                    .iter()
                    .map(|m| format!("module\t\t\t{m}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            (
                "dump_modules",
                if audio.dump {
                    // sndfile writes what baresip encodes and decodes, as
                    // WAV files, into snd_path.
                    format!("module\t\t\tsndfile.so\nsnd_path\t\t{}", dir.display())
                } else {
                    String::new()
                },
            ),
        ];
        std::fs::write(dir.join("config"), phone_template("baresip.conf", &vars)).unwrap();
        std::fs::write(
            dir.join("accounts"),
            phone_template("baresip.accounts", &vars),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        // -v: debug output, -s: SIP trace; both only go to the log file.
        let child = Command::new("baresip")
            .args(["-v", "-s", "-f"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn baresip");
        let mut phone = Baresip {
            child,
            ctrl,
            extension: extension.to_owned(),
            dir,
        };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect_timeout(&ctrl, Duration::from_secs(1)).is_err() {
            if let Ok(Some(status)) = phone.child.try_wait() {
                panic!("baresip exited at start ({status})\n{}", phone.describe());
            }
            assert!(
                Instant::now() < deadline,
                "baresip's ctrl_tcp did not open\n{}",
                phone.describe()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        phone
    }

    /// Runs a `ctrl_tcp` command and returns its response's `data`; panics
    /// if baresip refuses it.
    pub fn command(
        &self,
        command: &str,
        params: &str,
        d: &Dialtone,
        phones: &[&dyn Phone],
    ) -> String {
        match self.try_command(command, params) {
            Ok(data) => data,
            Err(e) => panic!("baresip {command} {params}: {e}\n{}", diag(d, phones)),
        }
    }

    /// One command over a fresh connection: `LEN:{"command",...},` out,
    /// netstrings in until the one that is the response (events that
    /// baresip sends every client are skipped).
    pub fn try_command(&self, command: &str, params: &str) -> Result<String, String> {
        let conn = TcpStream::connect_timeout(&self.ctrl, Duration::from_secs(2))
            .map_err(|e| format!("connect: {e}"))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let body = serde_json::json!({ "command": command, "params": params, "token": command })
            .to_string();
        (&conn)
            .write_all(format!("{}:{body},", body.len()).as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let mut reader = BufReader::new(conn);
        loop {
            let message = read_netstring(&mut reader).map_err(|e| format!("read: {e}"))?;
            let v: Value = serde_json::from_slice(&message)
                .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&message)))?;
            if v["response"] == true {
                let data = v["data"].as_str().unwrap_or_default().to_owned();
                return if v["ok"] == true {
                    Ok(data)
                } else {
                    Err(format!("refused: {v}"))
                };
            }
        }
    }

    /// A ctrl_tcp connection that receives baresip's events.
    pub fn listen(&self) -> TcpStream {
        let conn =
            TcpStream::connect_timeout(&self.ctrl, Duration::from_secs(2)).expect("ctrl_tcp");
        conn.set_read_timeout(Some(WAIT)).unwrap();
        conn
    }

    /// The next `count` events of type `kind` on `conn` (others skipped).
    pub fn events(&self, conn: &TcpStream, kind: &str, count: usize) -> Vec<Value> {
        let mut reader = BufReader::new(conn);
        let mut out = Vec::new();
        while out.len() < count {
            let message = read_netstring(&mut reader)
                .unwrap_or_else(|e| panic!("baresip {} events {out:?}: {e}", self.extension));
            let v: Value = serde_json::from_slice(&message).unwrap_or_default();
            if v["event"] == true && v["type"] == kind {
                out.push(v);
            }
        }
        out
    }

    /// Waits until baresip lists no active call (it got, or sent, the BYE).
    pub fn wait_no_call(&self, d: &Dialtone, phones: &[&dyn Phone]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let calls = self.command("listcalls", "", d, phones);
            if calls.contains("Active calls (0)") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "baresip {} still has a call: {calls}\n{}",
                self.extension,
                diag(d, phones)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The directory holding baresip's modules: it loads them from `.`
/// unless told.
fn baresip_modules() -> String {
    let candidates = [
        "/usr/lib/baresip/modules",
        "/usr/local/lib/baresip/modules",
        "/usr/lib64/baresip/modules",
        "/usr/lib/x86_64-linux-gnu/baresip/modules",
        "/usr/lib/aarch64-linux-gnu/baresip/modules",
    ];
    candidates
        .iter()
        .find(|dir| Path::new(dir).join("ctrl_tcp.so").exists())
        .unwrap_or(&candidates[0])
        .to_string()
}

/// One netstring (`LEN:BYTES,`).
fn read_netstring(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut len = Vec::new();
    r.read_until(b':', &mut len)?;
    let len: usize = std::str::from_utf8(&len)
        .ok()
        .and_then(|s| s.trim_end_matches(':').trim().parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad netstring length {len:?}")))?;
    let mut body = vec![0; len + 1];
    r.read_exact(&mut body)?;
    if body.pop() != Some(b',') {
        return Err(std::io::Error::other("netstring without its ','"));
    }
    Ok(body)
}

/// baresip listens for SIP on UDP and TCP at a port and for TLS at the
/// next one: a port with both free.
fn free_port_pair() -> u16 {
    loop {
        let port = free_port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}
