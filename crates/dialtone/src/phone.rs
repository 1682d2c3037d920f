//! `dialtone phone`: the softphone SDK (`ua`) as a command line.
//!
//! - `dialtone phone call TARGET ...`: places one call, runs the scripted
//!   operations, exits 0 only on the expected outcome.
//! - `dialtone phone listen ...`: stays registered and handles incoming
//!   calls until killed or `--calls N` calls have ended.
//! - `dialtone phone shell ...`: an interactive prompt.
//!
//! Every mode prints the phone's events as they come: one JSON object per
//! line with `--json`, else one readable line.

use clap::{Args, Subcommand};
use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;
use ua::media::{AudioSink, AudioSource, RecordMode, RecordOptions};
use ua::{
    Account, AutoRecord, CallId, CallState, DtmfMode, EndReason, Event, ForwardCondition, Phone,
    PhoneConfig, Registration,
};

/// Exit status for a usage error (bad flags or values).
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Subcommand)]
pub enum PhoneCommand {
    /// Place one call and exit: 0 if it went as `--expect` says (default: it
    /// was answered and then ended by either side), 1 otherwise.
    Call(CallArgs),
    /// Stay registered and handle incoming calls until killed (SIGINT or
    /// SIGTERM: the phone unregisters) or `--calls N` calls have ended.
    Listen(ListenArgs),
    /// An interactive prompt: call, answer, reject, hold, mute, dtmf,
    /// transfer, stats, hangup, quit (`help` lists them).
    Shell(ShellArgs),
}

#[derive(Debug, Args, Clone)]
pub struct AccountArgs {
    /// The SIP server (registrar and outbound proxy): HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    server: String,
    /// The account's user (`1001` in sip:1001@domain).
    #[arg(long, default_value = "anonymous")]
    user: String,
    /// Digest password.
    #[arg(long, env = "DIALTONE_PHONE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Digest user name, when it differs from --user.
    #[arg(long)]
    auth_user: Option<String>,
    /// Domain of the address of record [default: the server's IP].
    #[arg(long)]
    domain: Option<String>,
    /// Display name in From.
    #[arg(long)]
    display_name: Option<String>,
    /// SIP transport to the server.
    #[arg(long, default_value = "udp", value_parser = ["udp", "tcp"])]
    transport: String,
    /// Local SIP address [default: the address that reaches the server, any port].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// RTP port range, e.g. 40000-40100 [default: any free ports].
    #[arg(long, value_name = "LO-HI")]
    rtp_ports: Option<String>,
    /// Registration expiry to ask for, seconds.
    #[arg(long, default_value_t = 300)]
    expires: u32,
    /// Print one JSON event per line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct MediaArgs {
    /// Send this WAV file (PCM, A-law or µ-law; any rate).
    #[arg(long, value_name = "FILE", conflicts_with = "tone")]
    play: Option<PathBuf>,
    /// Play the WAV file in a loop.
    #[arg(long = "loop", requires = "play")]
    looped: bool,
    /// Send a sine tone of this frequency (Hz) at -10 dBm0.
    #[arg(long, value_name = "HZ")]
    tone: Option<f64>,
    /// Record the call to this WAV file (`{call}` is replaced by the call id).
    #[arg(long, value_name = "FILE")]
    record: Option<String>,
    /// What to record: rx (the peer), tx (this phone) or mix.
    #[arg(long, default_value = "mix", value_parser = ["rx", "tx", "mix"])]
    record_mode: String,
    /// Write what the peer sends to this WAV file.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Output volume 0-11 (8 is unity gain).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=11))]
    volume: Option<u8>,
    /// Do not report received DTMF digits.
    #[arg(long)]
    no_dtmf_detect: bool,
    /// Send these DTMF digits once the call is established.
    #[arg(long, value_name = "DIGITS")]
    dtmf: Option<String>,
    /// How to send digits: rfc4733 or info.
    #[arg(long, default_value = "rfc4733", value_parser = ["rfc4733", "info"])]
    dtmf_method: String,
    /// Length of each digit, milliseconds.
    #[arg(long, default_value_t = 100)]
    dtmf_duration: u32,
    /// When to send --dtmf after the call is established.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    dtmf_delay: Duration,
    /// Hang up this long after the call is established.
    #[arg(long, value_parser = parse_duration)]
    hangup_after: Option<Duration>,
    /// Use the microphone (a device name; empty: the default input device).
    /// Needs the `device` feature.
    #[cfg(feature = "device")]
    #[arg(long, value_name = "DEVICE", num_args = 0..=1, default_missing_value = "")]
    mic: Option<String>,
    /// Play what the peer sends on a speaker (a device name; empty: the
    /// default output device). Needs the `device` feature.
    #[cfg(feature = "device")]
    #[arg(long, value_name = "DEVICE", num_args = 0..=1, default_missing_value = "")]
    speaker: Option<String>,
    /// Run a command at a time after the call is established, e.g.
    /// `--at 2s=hold --at 4s=unhold --at 5s="dtmf 12#"` (repeatable; the
    /// shell's commands).
    #[arg(long = "at", value_name = "TIME=COMMAND")]
    at: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Who to call: a number in the server's domain, user@host or a SIP URI.
    target: String,
    #[command(flatten)]
    account: AccountArgs,
    #[command(flatten)]
    media: MediaArgs,
    /// Do not register before calling.
    #[arg(long)]
    no_register: bool,
    /// Call anonymously: From anonymous, Privacy: id; never registers.
    #[arg(long)]
    anonymous: bool,
    /// Offer a video stream (pass-through).
    #[arg(long)]
    video: bool,
    /// Give up if the call is not answered within this time.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// The outcome that counts as success: established, busy, decline,
    /// noanswer, forwarded, cancel or failed.
    #[arg(long, default_value = "established")]
    expect: String,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    #[command(flatten)]
    account: AccountArgs,
    #[command(flatten)]
    media: MediaArgs,
    /// Answer incoming calls after N seconds (0-255; 0: at once).
    #[arg(long, value_name = "N")]
    auto_answer: Option<u8>,
    /// Reject every incoming call (603 Decline).
    #[arg(long)]
    auto_reject: bool,
    /// Reject every incoming call with this code (486 or 603).
    #[arg(long, value_name = "CODE")]
    reject: Option<u16>,
    /// Forward every incoming call with 302 to this target.
    #[arg(long, value_name = "TARGET")]
    forward: Option<String>,
    /// A call-forwarding rule, active at once: unconditional=TARGET,
    /// busy=TARGET, no_reply=TARGET[@SECONDS] (default 20) or not_reachable=TARGET.
    #[arg(long = "forward-rule", value_name = "COND=TARGET")]
    forward_rules: Vec<String>,
    /// What to do with a call that arrives while one is up: accept (holding
    /// the first), reject (486) or ring (leave it ringing).
    #[arg(long, default_value = "ring", value_parser = ["accept", "reject", "ring"])]
    call_waiting: String,
    /// Exit once this many calls have ended.
    #[arg(long, value_name = "N")]
    calls: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    #[command(flatten)]
    account: AccountArgs,
    #[command(flatten)]
    media: MediaArgs,
    /// Do not register.
    #[arg(long)]
    no_register: bool,
}

/// `1500ms`, `2s`, `1.5s`, `1m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (e.g. 500ms, 2s, 1m)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' is not a duration (e.g. 500ms, 2s, 1m)"));
    }
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" | "min" => v * 60.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use ms, s or m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn resolve(server: &str) -> Result<SocketAddr, String> {
    let with_port = if server.contains(':') && !server.starts_with('[') || server.contains("]:") {
        server.to_owned()
    } else {
        format!("{server}:5060")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("--server {server}: {e}"))?
        .next()
        .ok_or_else(|| format!("--server {server}: no address"))
}

fn port_range(s: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = s
        .split_once('-')
        .ok_or_else(|| format!("--rtp-ports {s}: use LO-HI, e.g. 40000-40100"))?;
    let lo: u16 = lo
        .trim()
        .parse()
        .map_err(|_| format!("--rtp-ports {s}: bad port"))?;
    let hi: u16 = hi
        .trim()
        .parse()
        .map_err(|_| format!("--rtp-ports {s}: bad port"))?;
    if lo > hi || hi - lo < 1 {
        return Err(format!(
            "--rtp-ports {s}: the range needs at least two ports"
        ));
    }
    Ok((lo, hi))
}

fn phone_config(a: &AccountArgs, register: bool, anonymous: bool) -> Result<PhoneConfig, String> {
    let server = resolve(&a.server)?;
    let mut account = if anonymous {
        Account::anonymous(server)
    } else {
        Account::new(server, &a.user, a.password.as_deref())
    };
    account.password = a.password.clone();
    account.auth_user = a.auth_user.clone();
    account.domain = a.domain.clone();
    account.display_name = a.display_name.clone();
    account.transport = a.transport.parse().map_err(|e: String| e)?;
    account.expires = a.expires;
    account.register = register && !anonymous;
    let mut config = PhoneConfig::new(account);
    if let Some(l) = a.listen {
        config.listen = l;
    }
    if let Some(r) = &a.rtp_ports {
        config.rtp_ports = Some(port_range(r)?);
    }
    Ok(config)
}

fn record_mode(s: &str) -> RecordMode {
    match s {
        "rx" => RecordMode::Rx,
        "tx" => RecordMode::Tx,
        _ => RecordMode::Mix,
    }
}

/// A timed command of `--at`.
#[derive(Debug, Clone)]
struct Timed {
    after: Duration,
    command: String,
}

fn timed_commands(m: &MediaArgs) -> Result<Vec<Timed>, String> {
    let mut out = Vec::new();
    for at in &m.at {
        let (t, c) = at
            .split_once('=')
            .ok_or_else(|| format!("--at {at}: use TIME=COMMAND, e.g. 2s=hold"))?;
        let after = parse_duration(t).map_err(|e| format!("--at {at}: {e}"))?;
        Command::parse(c).map_err(|e| format!("--at {at}: {e}"))?;
        out.push(Timed {
            after,
            command: c.trim().to_owned(),
        });
    }
    if let Some(d) = &m.dtmf {
        ua::core::check_digits(d).map_err(|e| format!("--dtmf: {e}"))?;
        out.push(Timed {
            after: m.dtmf_delay,
            command: format!("dtmf {d}"),
        });
    }
    if let Some(h) = m.hangup_after {
        out.push(Timed {
            after: h,
            command: "hangup".into(),
        });
    }
    Ok(out)
}

/// Applies the media flags to the phone's defaults.
fn apply_media(phone: &Phone, m: &MediaArgs) -> Result<(), String> {
    if let Some(p) = &m.play {
        phone
            .set_default_source(AudioSource::Wav {
                path: p.clone(),
                looped: m.looped,
            })
            .map_err(|e| format!("--play: {e}"))?;
    } else if let Some(hz) = m.tone {
        if !(20.0..=20000.0).contains(&hz) {
            return Err(format!("--tone {hz}: use 20 to 20000 Hz"));
        }
        phone
            .set_default_source(AudioSource::Tone {
                freq_hz: hz,
                dbm0: -10.0,
            })
            .map_err(|e| e.to_string())?;
    }
    if let Some(o) = &m.output {
        phone.set_default_sink(AudioSink::Wav(o.clone()));
    }
    #[cfg(feature = "device")]
    {
        let named = |d: &String| (!d.is_empty()).then(|| d.clone());
        if let Some(mic) = &m.mic {
            phone
                .set_default_source(AudioSource::Device(named(mic)))
                .map_err(|e| format!("--mic: {e}"))?;
        }
        if let Some(speaker) = &m.speaker {
            phone.set_default_sink(AudioSink::Device(named(speaker)));
        }
    }
    if let Some(v) = m.volume {
        phone.set_volume(v).map_err(|e| e.to_string())?;
    }
    if let Some(r) = &m.record {
        phone.set_auto_record(Some(AutoRecord {
            mode: record_mode(&m.record_mode),
            path: r.clone(),
        }));
    }
    Ok(())
}

/// Prints events: JSON lines or readable lines.
#[derive(Debug, Clone, Copy)]
struct Printer {
    json: bool,
}

impl Printer {
    fn event(&self, e: &Event) {
        let line = if self.json {
            serde_json::to_string(e).unwrap_or_default()
        } else {
            human(e)
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn value(&self, v: &serde_json::Value) {
        let line = if self.json {
            v.to_string()
        } else {
            serde_json::to_string_pretty(v).unwrap_or_default()
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn error(&self, msg: &str) {
        if self.json {
            self.value(&serde_json::json!({"event": "error", "message": msg}));
        } else {
            eprintln!("error: {msg}");
        }
    }
}

fn human(e: &Event) -> String {
    match e {
        Event::Registration(r) => match r {
            Registration::Registering => "registration: registering".into(),
            Registration::Registered { expires } => {
                format!("registration: registered (expires in {expires} s)")
            }
            Registration::Failed { sip_code, reason } => format!(
                "registration: failed ({}{reason})",
                sip_code.map(|c| format!("{c} ")).unwrap_or_default()
            ),
            Registration::Unregistered => "registration: unregistered".into(),
        },
        Event::Incoming {
            call, from, video, ..
        } => {
            format!(
                "call {call}: incoming from {}{}",
                from.display_name
                    .as_ref()
                    .map(|d| format!("\"{d}\" "))
                    .unwrap_or_default(),
                from.uri
            ) + if *video { " (video)" } else { "" }
        }
        Event::CallWaiting {
            call, from, active, ..
        } => {
            format!(
                "call {call}: waiting, from {} (call {active} is up)",
                from.uri
            )
        }
        Event::State { call, state } => match state {
            CallState::Ended {
                reason,
                by,
                sip_code,
            } => format!(
                "call {call}: ended {} by {}{}",
                reason.name(),
                if *by == ua::By::Local {
                    "local"
                } else {
                    "remote"
                },
                sip_code.map(|c| format!(" ({c})")).unwrap_or_default()
            ),
            s => format!("call {call}: {}", s.name()),
        },
        Event::Dtmf {
            call,
            digit,
            method,
            ..
        } => {
            format!("call {call}: dtmf {digit} ({method:?})")
        }
        Event::Op {
            call,
            op,
            ok,
            error,
        } => match (ok, error) {
            (true, _) => format!("call {call}: {op:?} done"),
            (false, e) => format!(
                "call {call}: {op:?} failed: {}",
                e.clone().unwrap_or_default()
            ),
        },
        Event::Forwarded {
            call,
            condition,
            target,
        } => format!("call {call}: forwarded to {target} ({condition:?})"),
        Event::PlaybackFinished { call } => format!("call {call}: playback finished"),
        Event::Recording {
            call,
            path,
            duration_ms,
            ..
        } => format!(
            "call {call}: recording finished, {duration_ms} ms{}",
            path.as_ref()
                .map(|p| format!(" in {p}"))
                .unwrap_or_default()
        ),
        Event::Error { call, message } => match call {
            Some(c) => format!("call {c}: error: {message}"),
            None => format!("error: {message}"),
        },
    }
}

/// One command of the shell and of `--at`.
#[derive(Debug, Clone, PartialEq)]
enum Command {
    Call(String),
    Answer(Option<CallId>),
    Reject(Option<CallId>, u16),
    Ignore(Option<CallId>),
    Forward(String),
    Hold,
    Unhold,
    Mute,
    Unmute,
    VideoStart,
    VideoStop,
    Dtmf(String, Option<DtmfMode>),
    Transfer(String),
    Stats,
    Hangup(Option<CallId>),
    Record(Option<String>),
    Volume(u8),
    Calls,
    Help,
    Quit,
}

const HELP: &str =
    "commands: call TARGET | answer [ID] | reject [ID] [486|603] | ignore [ID] | forward TARGET | \
hold | unhold | mute | unmute | video on|off | dtmf DIGITS [info] | transfer TARGET | stats | \
hangup [ID] | record FILE|stop | volume 0-11 | calls | help | quit";

impl Command {
    fn parse(line: &str) -> Result<Command, String> {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("").to_ascii_lowercase();
        let rest: Vec<&str> = words.collect();
        let id = |i: usize| -> Result<Option<CallId>, String> {
            rest.get(i)
                .map(|w| {
                    w.parse::<u32>()
                        .map(CallId)
                        .map_err(|_| format!("'{w}' is not a call id"))
                })
                .transpose()
        };
        let arg = |what: &str| -> Result<String, String> {
            if rest.is_empty() {
                Err(format!("{cmd} needs {what}"))
            } else {
                Ok(rest.join(" "))
            }
        };
        Ok(match cmd.as_str() {
            "call" | "dial" => Command::Call(arg("a target")?),
            "answer" | "accept" => Command::Answer(id(0)?),
            "reject" => {
                let (call, code) = match rest.as_slice() {
                    [] => (None, 486),
                    [one] if *one == "486" || *one == "603" => (None, one.parse().unwrap_or(486)),
                    [_] => (id(0)?, 486),
                    [_, code, ..] => (
                        id(0)?,
                        code.parse()
                            .map_err(|_| format!("'{code}' is not a SIP code"))?,
                    ),
                };
                Command::Reject(call, code)
            }
            "ignore" => Command::Ignore(id(0)?),
            "forward" => Command::Forward(arg("a target")?),
            "hold" => Command::Hold,
            "unhold" | "resume" => Command::Unhold,
            "mute" => Command::Mute,
            "unmute" => Command::Unmute,
            "video" => match rest.first().copied() {
                Some("on") | Some("start") => Command::VideoStart,
                Some("off") | Some("stop") => Command::VideoStop,
                _ => return Err("video on|off".into()),
            },
            "dtmf" => {
                let digits = rest.first().ok_or("dtmf needs digits")?.to_string();
                ua::core::check_digits(&digits).map_err(|e| e.to_string())?;
                let mode = rest.get(1).map(|m| m.parse::<DtmfMode>()).transpose()?;
                Command::Dtmf(digits, mode)
            }
            "transfer" => Command::Transfer(arg("a target")?),
            "stats" => Command::Stats,
            "hangup" | "end" | "bye" => Command::Hangup(id(0)?),
            "record" => match rest.first().copied() {
                Some("stop") => Command::Record(None),
                Some(p) => Command::Record(Some(p.to_owned())),
                None => return Err("record FILE|stop".into()),
            },
            "volume" => Command::Volume(
                rest.first()
                    .and_then(|v| v.parse::<u8>().ok())
                    .filter(|v| *v <= 11)
                    .ok_or("volume needs 0 to 11")?,
            ),
            "calls" => Command::Calls,
            "help" | "?" => Command::Help,
            "quit" | "exit" => Command::Quit,
            "" => return Err("empty command".into()),
            other => return Err(format!("unknown command '{other}' ({HELP})")),
        })
    }
}

/// The phone's state as the CLI tracks it from events.
#[derive(Debug, Default)]
struct Tracker {
    /// Calls in the order they appeared, with their last state.
    calls: Vec<(CallId, CallState)>,
    ringing: Vec<CallId>,
    ended: u32,
}

impl Tracker {
    fn on(&mut self, e: &Event) {
        match e {
            Event::Incoming { call, .. } | Event::CallWaiting { call, .. } => {
                self.ringing.push(*call);
                self.calls.push((*call, CallState::Ringing));
            }
            Event::State { call, state } => {
                if let Some(c) = self.calls.iter_mut().find(|c| c.0 == *call) {
                    c.1 = state.clone();
                } else {
                    self.calls.push((*call, state.clone()));
                }
                if *state != CallState::Ringing {
                    self.ringing.retain(|c| c != call);
                }
                if state.is_ended() {
                    self.ended += 1;
                }
            }
            _ => {}
        }
    }

    /// The call a command without an id means: the latest live call.
    fn current(&self) -> Option<CallId> {
        self.calls
            .iter()
            .rev()
            .find(|c| !c.1.is_ended())
            .map(|c| c.0)
    }

    fn ringing(&self) -> Option<CallId> {
        self.ringing.last().copied()
    }
}

async fn run_command(
    phone: &Phone,
    printer: Printer,
    tracker: &Tracker,
    cmd: Command,
    media: &MediaArgs,
) -> Result<(), String> {
    let current = || tracker.current().ok_or_else(|| "no call is up".to_owned());
    let e = |e: ua::UaError| e.to_string();
    match cmd {
        Command::Call(target) => phone.call(&target, false).await.map(|_| ()).map_err(e),
        Command::Answer(id) => {
            let id = id.or(tracker.ringing()).ok_or("no call is ringing")?;
            phone.accept(id, true).await.map_err(e)
        }
        Command::Reject(id, code) => {
            let id = id.or(tracker.ringing()).ok_or("no call is ringing")?;
            phone.reject(id, code).await.map_err(e)
        }
        Command::Ignore(id) => {
            let id = id.or(tracker.ringing()).ok_or("no call is ringing")?;
            phone.ignore(id).await.map_err(e)
        }
        Command::Forward(target) => {
            let id = tracker.ringing().ok_or("no call is ringing")?;
            phone.forward(id, &target).await.map_err(e)
        }
        Command::Hold => phone.hold(current()?).await.map_err(e),
        Command::Unhold => phone.unhold(current()?).await.map_err(e),
        Command::Mute => phone.mute(current()?).await.map_err(e),
        Command::Unmute => phone.unmute(current()?).await.map_err(e),
        Command::VideoStart => phone.video_start(current()?).await.map_err(e),
        Command::VideoStop => phone.video_stop(current()?).await.map_err(e),
        Command::Dtmf(digits, mode) => {
            let mode = mode.unwrap_or_else(|| media.dtmf_method.parse().unwrap_or_default());
            phone
                .send_dtmf(current()?, &digits, media.dtmf_duration, mode)
                .await
                .map_err(e)
        }
        Command::Transfer(target) => phone.transfer(current()?, &target).await.map_err(e),
        Command::Stats => {
            let v = phone.stats(current()?).await.map_err(e)?;
            printer
                .value(&serde_json::json!({"event": "stats", "call": v.get("call"), "stats": v}));
            Ok(())
        }
        Command::Hangup(id) => {
            let id = match id {
                Some(id) => id,
                None => current()?,
            };
            phone.end(id).await.map_err(e)
        }
        Command::Record(Some(path)) => {
            let call = current()?;
            phone
                .start_recording(
                    call,
                    RecordOptions {
                        mode: record_mode(&media.record_mode),
                        path: Some(PathBuf::from(path.replace("{call}", &call.to_string()))),
                        stream: None,
                    },
                )
                .await
                .map_err(e)
        }
        Command::Record(None) => phone.stop_recording(current()?).await.map_err(e),
        Command::Volume(v) => phone.set_volume(v).map_err(e),
        Command::Calls => {
            for (id, state) in &tracker.calls {
                if !state.is_ended() {
                    printer.value(
                        &serde_json::json!({"event": "call", "call": id, "state": state.name()}),
                    );
                }
            }
            Ok(())
        }
        Command::Help => {
            println!("{HELP}");
            Ok(())
        }
        Command::Quit => Ok(()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("dialtone phone: cannot start the runtime: {e}");
            1
        })
}

/// Runs `dialtone phone ...`; returns the exit status.
pub fn run(cmd: PhoneCommand) -> i32 {
    crate::init_log();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        match cmd {
            PhoneCommand::Call(a) => call(a).await,
            PhoneCommand::Listen(a) => listen(a).await,
            PhoneCommand::Shell(a) => shell(a).await,
        }
    })
}

/// Starts the phone and registers when asked; `Err` is the exit status.
async fn start(
    a: &AccountArgs,
    m: &MediaArgs,
    register: bool,
    anonymous: bool,
    printer: Printer,
) -> Result<(Phone, ua::Events), i32> {
    let config = phone_config(a, register, anonymous).map_err(|e| {
        eprintln!("dialtone phone: {e}");
        EXIT_USAGE
    })?;
    let (phone, mut events) = Phone::start(config).await.map_err(|e| {
        eprintln!("dialtone phone: {e}");
        1
    })?;
    if let Err(e) = apply_media(&phone, m) {
        eprintln!("dialtone phone: {e}");
        phone.shutdown().await;
        return Err(EXIT_USAGE);
    }
    let _ = phone.set_dtmf_detection(!m.no_dtmf_detect).await;
    if register && !anonymous {
        if let Err(e) = phone.register().await {
            eprintln!("dialtone phone: {e}");
            phone.shutdown().await;
            return Err(1);
        }
        let outcome = events
            .wait_for(Duration::from_secs(40), |e| {
                printer.event(e);
                matches!(
                    e,
                    Event::Registration(
                        Registration::Registered { .. } | Registration::Failed { .. }
                    )
                )
            })
            .await;
        if !matches!(
            outcome,
            Some(Event::Registration(Registration::Registered { .. }))
        ) {
            if outcome.is_none() {
                printer.error("the registrar did not answer");
            }
            phone.shutdown().await;
            return Err(1);
        }
    }
    Ok((phone, events))
}

/// Runs the `--at` commands of an established call in time order.
fn schedule(phone: &Phone, printer: Printer, call: CallId, timed: &[Timed], media: &MediaArgs) {
    let mut timed = timed.to_vec();
    timed.sort_by_key(|t| t.after);
    let phone = phone.clone();
    let media = media.clone();
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for t in timed {
            tokio::time::sleep_until(start + t.after).await;
            if !matches!(phone.state(call).await, Ok(s) if !s.is_ended()) {
                return;
            }
            let Ok(cmd) = Command::parse(&t.command) else {
                continue;
            };
            let tracker = Tracker {
                calls: vec![(call, CallState::Established)],
                ringing: Vec::new(),
                ended: 0,
            };
            if let Err(e) = run_command(&phone, printer, &tracker, cmd, &media).await {
                printer.error(&format!("{}: {e}", t.command));
            }
        }
    });
}

fn outcome_name(state: &CallState) -> &'static str {
    match state {
        CallState::Ended {
            reason: EndReason::Normal | EndReason::Transferred,
            ..
        } => "established",
        CallState::Ended { reason, .. } => reason.name(),
        _ => "",
    }
}

async fn call(a: CallArgs) -> i32 {
    let printer = Printer {
        json: a.account.json,
    };
    let expected = [
        "established",
        "busy",
        "decline",
        "noanswer",
        "forwarded",
        "cancel",
        "failed",
    ];
    if !expected.contains(&a.expect.as_str()) {
        eprintln!(
            "dialtone phone: --expect {}: use one of {}",
            a.expect,
            expected.join(", ")
        );
        return EXIT_USAGE;
    }
    let timed = match timed_commands(&a.media) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("dialtone phone: {e}");
            return EXIT_USAGE;
        }
    };
    let register = !a.no_register && a.account.password.is_some();
    let (phone, mut events) =
        match start(&a.account, &a.media, register, a.anonymous, printer).await {
            Ok(p) => p,
            Err(code) => return code,
        };
    let call = match phone.call(&a.target, a.video).await {
        Ok(c) => c.id(),
        Err(e) => {
            eprintln!("dialtone phone: {e}");
            phone.shutdown().await;
            return if matches!(e, ua::UaError::Invalid(_)) {
                EXIT_USAGE
            } else {
                1
            };
        }
    };
    let mut answered = false;
    let deadline = tokio::time::Instant::now() + a.timeout;
    let mut last = CallState::Dialing;
    let mut interrupted = false;
    let mut timed_out = false;
    let signal = crate::shutdown_signal();
    tokio::pin!(signal);
    loop {
        // Each of the two ends the call once; the loop then waits for its end.
        let e = tokio::select! {
            e = events.next() => e,
            _ = tokio::time::sleep_until(deadline), if !answered && !timed_out => {
                timed_out = true;
                printer.error("no answer within --timeout");
                let _ = phone.end(call).await;
                continue;
            }
            _ = &mut signal, if !interrupted => {
                interrupted = true;
                let _ = phone.end(call).await;
                continue;
            }
        };
        let Some(e) = e else { break };
        printer.event(&e);
        if let Event::State { call: c, state } = &e {
            if *c != call {
                continue;
            }
            if *state == CallState::Established && !answered {
                answered = true;
                schedule(&phone, printer, call, &timed, &a.media);
            }
            last = state.clone();
            if state.is_ended() {
                break;
            }
        }
    }
    // Let a recording's last event through before shutting down.
    phone.shutdown().await;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), events.next()).await {
        printer.event(&e);
    }
    let got = if answered && last.is_ended() {
        if matches!(
            last,
            CallState::Ended {
                reason: EndReason::Normal | EndReason::Transferred,
                ..
            }
        ) {
            "established"
        } else {
            "failed"
        }
    } else {
        outcome_name(&last)
    };
    if !interrupted && got == a.expect {
        0
    } else {
        1
    }
}

fn forward_rules(rules: &[String]) -> Result<Vec<(ForwardCondition, String, Duration)>, String> {
    rules
        .iter()
        .map(|r| {
            let (cond, target) = r
                .split_once('=')
                .ok_or_else(|| format!("--forward-rule {r}: use CONDITION=TARGET"))?;
            let condition: ForwardCondition = cond.parse()?;
            let (target, secs) = match target.rsplit_once('@') {
                Some((t, s))
                    if condition == ForwardCondition::NoReply && s.parse::<u64>().is_ok() =>
                {
                    (t.to_owned(), s.parse::<u64>().unwrap_or(20))
                }
                _ => (target.to_owned(), 20),
            };
            Ok((condition, target, Duration::from_secs(secs)))
        })
        .collect()
}

async fn listen(a: ListenArgs) -> i32 {
    let printer = Printer {
        json: a.account.json,
    };
    let timed = match timed_commands(&a.media) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("dialtone phone: {e}");
            return EXIT_USAGE;
        }
    };
    let rules = match forward_rules(&a.forward_rules) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dialtone phone: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(code) = a.reject {
        if !(400..700).contains(&code) {
            eprintln!("dialtone phone: --reject {code}: use a 4xx-6xx code such as 486 or 603");
            return EXIT_USAGE;
        }
    }
    let (phone, mut events) = match start(&a.account, &a.media, true, false, printer).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    let _ = phone.set_auto_answer(a.auto_answer).await;
    let _ = phone.set_auto_reject(a.auto_reject).await;
    for (condition, target, after) in rules {
        let r = phone.forwarding_register(condition, &target, after).await;
        let r = match r {
            Ok(()) => phone.forwarding_activate(condition).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            eprintln!("dialtone phone: --forward-rule: {e}");
            phone.shutdown().await;
            return EXIT_USAGE;
        }
    }
    let mut tracker = Tracker::default();
    let mut established = std::collections::HashSet::new();
    let signal = crate::shutdown_signal();
    tokio::pin!(signal);
    loop {
        let e = tokio::select! {
            e = events.next() => e,
            _ = &mut signal => break,
        };
        let Some(e) = e else { break };
        printer.event(&e);
        tracker.on(&e);
        match &e {
            Event::Incoming { call, .. } => {
                let r = if let Some(code) = a.reject {
                    phone.reject(*call, code).await
                } else if let Some(t) = &a.forward {
                    phone.forward(*call, t).await
                } else {
                    Ok(())
                };
                if let Err(err) = r {
                    printer.error(&err.to_string());
                }
            }
            Event::CallWaiting { call, .. } => {
                let r = match a.call_waiting.as_str() {
                    "accept" => phone.accept(*call, true).await,
                    "reject" => phone.reject(*call, 486).await,
                    _ => Ok(()),
                };
                if let Err(err) = r {
                    printer.error(&err.to_string());
                }
            }
            Event::State {
                call,
                state: CallState::Established,
            } if established.insert(*call) => {
                schedule(&phone, printer, *call, &timed, &a.media);
            }
            Event::State { state, .. }
                if state.is_ended() && a.calls.is_some_and(|n| tracker.ended >= n) =>
            {
                break;
            }
            _ => {}
        }
    }
    phone.shutdown().await;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), events.next()).await {
        printer.event(&e);
    }
    0
}

async fn shell(a: ShellArgs) -> i32 {
    use tokio::io::AsyncBufReadExt;
    let printer = Printer {
        json: a.account.json,
    };
    let register = !a.no_register && a.account.password.is_some();
    let (phone, mut events) = match start(&a.account, &a.media, register, false, printer).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut tracker = Tracker::default();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let prompt = || {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "phone> ");
        let _ = out.flush();
    };
    let signal = crate::shutdown_signal();
    tokio::pin!(signal);
    println!("{HELP}");
    prompt();
    loop {
        tokio::select! {
            e = events.next() => {
                let Some(e) = e else { break };
                println!();
                printer.event(&e);
                tracker.on(&e);
                prompt();
            }
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                if line.trim().is_empty() {
                    prompt();
                    continue;
                }
                match Command::parse(&line) {
                    Ok(Command::Quit) => break,
                    Ok(cmd) => {
                        if let Err(e) = run_command(&phone, printer, &tracker, cmd, &a.media).await {
                            printer.error(&e);
                        }
                    }
                    Err(e) => printer.error(&e),
                }
                prompt();
            }
            _ = &mut signal => break,
        }
    }
    phone.shutdown().await;
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration("2h").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn shell_commands_parse_and_bad_ones_say_why() {
        assert_eq!(
            Command::parse("call 1002").unwrap(),
            Command::Call("1002".into())
        );
        assert_eq!(
            Command::parse("reject 603").unwrap(),
            Command::Reject(None, 603)
        );
        assert_eq!(
            Command::parse("reject 2 603").unwrap(),
            Command::Reject(Some(CallId(2)), 603)
        );
        assert_eq!(
            Command::parse("dtmf 12# info").unwrap(),
            Command::Dtmf("12#".into(), Some(DtmfMode::Info))
        );
        assert!(Command::parse("dtmf 12x").unwrap_err().contains("'x'"));
        assert!(Command::parse("volume 12").unwrap_err().contains("0 to 11"));
        assert!(Command::parse("fly")
            .unwrap_err()
            .contains("unknown command 'fly'"));
    }

    #[test]
    fn forwarding_rules_parse() {
        let r = forward_rules(&["no_reply=1003@5".into(), "busy=sip:x@192.0.2.1".into()]).unwrap();
        assert_eq!(
            r[0],
            (
                ForwardCondition::NoReply,
                "1003".into(),
                Duration::from_secs(5)
            )
        );
        assert_eq!(r[1].1, "sip:x@192.0.2.1");
        assert!(forward_rules(&["sometimes=1".into()])
            .unwrap_err()
            .contains("unknown forwarding"));
    }
}
