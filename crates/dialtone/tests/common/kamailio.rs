//! A real Kamailio 5.6 as registrar and proxy for the softphone's
//! end-to-end tests, and a SIPp UAS to stand behind it.
//!
//! ```ignore
//! if !kamailio_installed() { return; }
//! let uas = sipp_uas("ua_uas_echo.xml", "u1", &["-rtp_echo"], &dir);
//! let kam = Kamailio::start(&KamailioOptions::new("echo").route("^9", uas.addr()));
//! // phones register at kam.addr (UDP or TCP) as 1001..1009, password "secret";
//! // calls to 9... go to the UAS, others to the registered phone.
//! kam.wait_event("registered 1001 ", WAIT);
//! ```
//!
//! The config comes from `tests/e2e/kamailio/registrar.cfg.in` (its header
//! says what it does). Kamailio runs in the foreground (`-DD -E`) in its own
//! process group, with small shared memory and no database; its stderr goes
//! to `kamailio.log` in a temporary directory, printed when a test fails.
//! Every request and relayed reply shows in that log as one line starting
//! with `E2E ` (see [`Kamailio::events`]).

use super::softphone::WAIT;
use super::{free_port, sipp_installed, tail, temp_dir, Sipp};
use std::io::BufRead;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The digest realm of the registrar's challenges.
pub const REALM: &str = "dialtone.test";

/// The password of the default users, 1001 to 1009.
pub const PASSWORD: &str = "secret";

/// The binary: from `PATH`, else Debian's `/usr/sbin` (not in a
/// non-root `PATH`).
fn kamailio_bin() -> &'static str {
    static BIN: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let in_path = Command::new("kamailio")
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if in_path {
            "kamailio"
        } else {
            "/usr/sbin/kamailio"
        }
    })
}

/// Whether `kamailio` runs; says SKIPPED when it does not, for the test to
/// return (`.ci/run` installs it).
pub fn kamailio_installed() -> bool {
    let found = Command::new(kamailio_bin())
        .arg("-v")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIPPED: kamailio not installed (apt-get install kamailio)");
    }
    found
}

/// Whether both `sipp` and `kamailio` run; says SKIPPED when one does not.
pub fn sipp_and_kamailio_installed() -> bool {
    if !sipp_installed() {
        eprintln!("SKIPPED: sipp not installed (apt-get install sip-tester)");
        return false;
    }
    kamailio_installed()
}

/// The registrar's users and static routes.
#[derive(Clone, Debug)]
pub struct KamailioOptions {
    /// Names the temporary directory.
    pub name: String,
    /// `(user, password)`: who may register and call.
    pub users: Vec<(String, String)>,
    /// `(regex on the Request-URI user, sip: URI)`: requests for those users
    /// go to the URI, without the location table.
    pub routes: Vec<(String, String)>,
}

impl KamailioOptions {
    /// Users 1001 to 1009 with password [`PASSWORD`], no static route.
    pub fn new(name: &str) -> KamailioOptions {
        KamailioOptions {
            name: name.to_owned(),
            users: (1001..=1009)
                .map(|u| (u.to_string(), PASSWORD.to_owned()))
                .collect(),
            routes: Vec::new(),
        }
    }

    /// Adds `user` (or changes its password).
    pub fn user(mut self, user: &str, password: &str) -> KamailioOptions {
        self.users.retain(|(u, _)| u != user);
        self.users.push((user.to_owned(), password.to_owned()));
        self
    }

    /// Sends requests whose Request-URI user matches `pattern` (a POSIX
    /// regex, e.g. `^9`) to `target` over UDP.
    pub fn route(self, pattern: &str, target: SocketAddr) -> KamailioOptions {
        self.route_uri(pattern, &format!("sip:{target}"))
    }

    /// Sends requests whose Request-URI user matches `pattern` to `uri`
    /// (`sip:127.0.0.1:PORT;transport=tcp`...).
    pub fn route_uri(mut self, pattern: &str, uri: &str) -> KamailioOptions {
        self.routes.push((pattern.to_owned(), uri.to_owned()));
        self
    }

    /// The config file: the template with the placeholders filled.
    fn config(&self, addr: SocketAddr) -> String {
        let quoted = |s: &str| {
            assert!(
                !s.contains(['"', '\\', '\n']),
                "no quote, backslash or newline in Kamailio strings: {s:?}"
            );
            format!("\"{s}\"")
        };
        let users: String = self
            .users
            .iter()
            .map(|(user, password)| {
                format!(
                    "    if ($var(user) == {}) {{ $var(known) = 1; $var(password) = {}; }}\n",
                    quoted(user),
                    quoted(password)
                )
            })
            .collect();
        let routes: String = self
            .routes
            .iter()
            .map(|(pattern, uri)| {
                format!(
                    "    if ($rU =~ {}) {{ $du = {}; route(RELAY); }}\n",
                    quoted(pattern),
                    quoted(uri)
                )
            })
            .collect();
        let template = std::fs::read_to_string(template()).expect("registrar.cfg.in");
        template
            .replace("@ADDR@", &addr.to_string())
            .replace("@REALM@", REALM)
            .replace("@USERS@", users.trim_end())
            .replace("@ROUTES@", routes.trim_end())
    }
}

fn template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/kamailio/registrar.cfg.in")
}

/// A running Kamailio; stopped (its whole process group) on drop, its log
/// printed if the test is failing.
pub struct Kamailio {
    child: Child,
    /// Where it listens, over UDP and TCP.
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Kamailio {
    /// Writes the config and starts Kamailio on a free port; returns once
    /// it answers an OPTIONS over UDP and accepts TCP connections.
    pub fn start(options: &KamailioOptions) -> Kamailio {
        let dir = temp_dir(&format!("kamailio-{}", options.name));
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let cfg = dir.join("kamailio.cfg");
        std::fs::write(&cfg, options.config(addr)).unwrap();
        let log = std::fs::File::create(dir.join("kamailio.log")).unwrap();
        let child = Command::new(kamailio_bin())
            // -DD: no daemon (the workers are still forked); -E: log to stderr.
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-f"])
            .arg(&cfg)
            // The runtime directory (nothing in /run).
            .arg("-Y")
            .arg(&dir)
            // Its own process group: Kamailio signals its group when it stops,
            // and Drop ends the workers with it.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn kamailio");
        let mut kam = Kamailio { child, addr, dir };
        kam.wait_ready();
        kam
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        for n in 0.. {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kamailio exited at start ({status}), its log follows");
            }
            assert!(
                Instant::now() < deadline,
                "kamailio did not answer OPTIONS within 15 s, its log follows"
            );
            let _ = probe.send_to(options_request(&probe, self.addr, n).as_bytes(), self.addr);
            let mut buf = [0u8; 2048];
            if let Ok((len, _)) = probe.recv_from(&mut buf) {
                if buf[..len].starts_with(b"SIP/2.0 200")
                    && TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok()
                {
                    return;
                }
            }
        }
    }

    /// Everything Kamailio wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }

    /// The `E2E ` lines of the config so far, without that prefix:
    /// `request METHOD RURI from=... to=... via=PROTO:IP:PORT totag=...`,
    /// `challenge 401 REGISTER ...`, `registered USER contact=...`,
    /// `relay METHOD ...`, `reply CODE REASON METHOD ...`, `not-found ...`,
    /// `unavailable ...`, `forbidden ...`, `no-route ...`, `anonymous METHOD
    /// RURI privacy=...` (no digest for anonymous@anonymous.invalid).
    pub fn events(&self) -> Vec<String> {
        let log = std::fs::File::open(self.dir.join("kamailio.log")).unwrap();
        std::io::BufReader::new(log)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.split_once("<script>: E2E ").map(|(_, e)| e.to_owned()))
            .collect()
    }

    /// Waits for an event that contains `needle`; panics with the log if
    /// none comes `within`.
    pub fn wait_event(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| e.contains(needle)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "kamailio logged no event with {needle:?} within {within:?}, its log follows"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A user's address at this registrar: `sip:USER@127.0.0.1:PORT`.
    pub fn uri(&self, user: &str) -> String {
        format!("sip:{user}@{}", self.addr)
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- kamailio log ({}) ---\n{}",
                self.dir.display(),
                tail(&self.log(), 12_000)
            );
        }
        // SIGTERM to the main process (it stops its workers), then SIGKILL
        // to what is left of its process group: only what this test started.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// An OPTIONS to the server itself, which the config answers 200.
fn options_request(from: &UdpSocket, to: SocketAddr, n: u32) -> String {
    let local = from.local_addr().unwrap();
    format!(
        "OPTIONS sip:{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-probe-{n}-{port};rport\r\n\
         From: <sip:probe@{local}>;tag=probe{n}\r\n\
         To: <sip:{to}>\r\n\
         Call-ID: probe-{n}-{port}@127.0.0.1\r\n\
         CSeq: {cseq} OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        port = local.port(),
        cseq = n + 1,
    )
}

/// A SIPp UAS playing `scenario` (in `tests/e2e/sipp/`) on its own free
/// ports, for a static route to point at; killed on drop.
pub struct Uas {
    pub sipp: Sipp,
    /// The scenario file's name, for failure messages.
    pub scenario: String,
    /// Its RTP port (`-mp`: where `-rtp_echo` echoes).
    pub media_port: u16,
}

impl Uas {
    /// Its SIP address (UDP, or TCP if started with `t1`).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sipp.port))
    }

    /// Its verdict, once it ends (within [`WAIT`]): whether it ran its calls
    /// to the end of the scenario.
    pub fn passed(&mut self) -> bool {
        self.sipp
            .wait(WAIT)
            .unwrap_or_else(|| panic!("{} still runs: {}", self.scenario, self.sipp.errors()))
            .success()
    }

    /// Panics with SIPp's errors unless [`Uas::passed`].
    pub fn assert_passed(&mut self) {
        assert!(
            self.passed(),
            "{} failed the call: {}",
            self.scenario,
            self.sipp.errors()
        );
    }
}

/// A SIPp UAS playing `scenario` over UDP with `args` (its logs in
/// `dir/uas`) and a Kamailio named `name` routing the users `^9` to it.
pub fn uas_behind_kamailio(
    name: &str,
    scenario: &str,
    args: &[&str],
    dir: &Path,
) -> (Uas, Kamailio) {
    let uas = sipp_uas(scenario, "u1", args, &dir.join("uas"));
    let kam = Kamailio::start(&KamailioOptions::new(name).route("^9", uas.addr()));
    (uas, kam)
}

/// Starts a SIPp UAS with `scenario` over `transport` (`u1`, `t1`) and
/// `args` (`-m 1` unless given), its logs in `dir`.
pub fn sipp_uas(scenario: &str, transport: &str, args: &[&str], dir: &Path) -> Uas {
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let media_port = free_port();
    let mut cmd = Command::new("sipp");
    cmd.arg("-sf")
        .arg(super::scenario(scenario))
        .args(["-t", transport, "-i", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-mp", &media_port.to_string()])
        .args(["-nostdin", "-trace_err", "-trace_msg"]);
    if !args.contains(&"-m") {
        cmd.args(["-m", "1"]);
    }
    let child = cmd
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sipp");
    let mut uas = Uas {
        sipp: Sipp {
            child,
            port,
            dir: dir.to_owned(),
        },
        scenario: scenario.to_owned(),
        media_port,
    };
    wait_listening(&mut uas, transport);
    uas
}

/// Until SIPp has bound its SIP port (read from /proc/net, without
/// touching the port).
fn wait_listening(uas: &mut Uas, transport: &str) {
    let tcp = transport.starts_with('t');
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if bound(uas.sipp.port, tcp) {
            return;
        }
        if let Ok(Some(status)) = uas.sipp.child.try_wait() {
            panic!("sipp exited at start ({status}): {}", uas.sipp.errors());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("sipp {transport} did not bind {}", uas.addr());
}

/// Whether a socket is bound to `port` on 127.0.0.1 (UDP), or listens
/// there (TCP).
fn bound(port: u16, tcp: bool) -> bool {
    let table = if tcp {
        "/proc/net/tcp"
    } else {
        "/proc/net/udp"
    };
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string(table)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // sl local_address rem_address st ...; 0A is LISTEN.
            cols.get(1) == Some(&local.as_str()) && (!tcp || cols.get(3) == Some(&"0A"))
        })
}

/// Sends one RTP-sized datagram to `port` and returns what comes back
/// within `within` (`None` if nothing): checks `-rtp_echo`.
pub fn rtp_round_trip(port: u16, payload: &[u8], within: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(within)).unwrap();
    sock.send_to(payload, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 2048];
    let (len, _) = sock.recv_from(&mut buf).ok()?;
    Some(buf[..len].to_vec())
}
