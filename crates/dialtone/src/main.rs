//! The `dialtone` binary: `serve`, `check-config`, `sip-check` and `phone`
//! (the softphone).

mod phone;
mod sip_check;

/// mimalloc (built from C with gcc by its crate): glibc's allocator grows
/// and trims its per-thread heaps under call load, a measurable share of
/// the switch's CPU (see bench/switch/cps.sh and the issue notes).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand};
use server::config::{parse_cidr_list, Config, Overrides, PortRange};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Dialtone: a self-hostable programmable voice-call platform.
#[derive(Debug, Parser)]
#[command(name = "dialtone", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: SIP registrar and switch (UDP and TCP), anchored
    /// media, the REST API and event stream.
    ///
    /// Every setting comes from a flag, else its DIALTONE_* variable, else
    /// the config file, else the default. SIGINT or SIGTERM stops it: active
    /// calls are hung up (BYE/CANCEL) and recorded as such.
    Serve(ServeArgs),
    /// Load the configuration as `serve` would, print the effective
    /// settings as JSON (passwords left out, the webhook secret redacted)
    /// and exit: 0 if valid, 1 if not.
    CheckConfig(ServeArgs),
    /// Check SIP messages: one JSON verdict line per FILE (`-` reads standard input).
    ///
    /// Exit status 0 if every message is valid, 1 if any is invalid, 2 on usage error.
    SipCheck {
        /// Files each holding one SIP message, or `-` for standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// The softphone: register to any SIP server, place and answer calls,
    /// play and record audio, send and receive DTMF (`call`, `listen`, `shell`).
    #[command(subcommand)]
    Phone(phone::PhoneCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Config file (TOML); unknown keys are errors.
    #[arg(long, env = "DIALTONE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database and generated secrets [default: ./data]
    #[arg(long, env = "DIALTONE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// SIP listen address, UDP and TCP [default: 0.0.0.0:5060]
    #[arg(long, env = "DIALTONE_SIP_LISTEN", value_name = "ADDR")]
    sip_listen: Option<SocketAddr>,
    /// REST API and WebSocket events [default: 127.0.0.1:8080]
    #[arg(long, env = "DIALTONE_HTTP_LISTEN", value_name = "ADDR")]
    http_listen: Option<SocketAddr>,
    /// RTP/RTCP ports for anchored media [default: 10000-20000]
    #[arg(long, env = "DIALTONE_RTP_PORTS", value_name = "LO-HI")]
    rtp_ports: Option<PortRange>,
    /// The address phones reach this server at (Via, Contact, SDP)
    /// [default: the listen address, or the default route's address]
    #[arg(long, env = "DIALTONE_PUBLIC_IP", value_name = "IP")]
    public_ip: Option<IpAddr>,
    /// Digest realm [default: dialtone]
    #[arg(long, env = "DIALTONE_REALM")]
    realm: Option<String>,
    /// Comma-separated digest algorithms to challenge for, preferred first
    /// [default: SHA-256,MD5]
    #[arg(
        long,
        env = "DIALTONE_AUTH_ALGORITHMS",
        value_name = "LIST",
        value_delimiter = ','
    )]
    auth_algorithms: Option<Vec<String>>,
    /// Comma-separated addresses/CIDRs allowed to send INVITEs without
    /// digest auth (trunks, PBXs)
    #[arg(long, env = "DIALTONE_TRUSTED_PEERS", value_name = "CIDRS", value_parser = parse_cidr_list)]
    trusted_peers: Option<std::vec::Vec<server::config::Cidr>>,
    /// Seconds a callee may ring before the call ends noanswer [default: 60]
    #[arg(long, env = "DIALTONE_RING_TIMEOUT", value_name = "SECS")]
    ring_timeout: Option<u64>,
    /// Longest answered call in seconds, then it ends timeout [default: 14400]
    #[arg(long, env = "DIALTONE_MAX_CALL_DURATION", value_name = "SECS")]
    max_call_duration: Option<u64>,
    /// Let the media relay transcode between PCMU, PCMA, G.722 and Opus
    /// (false: both phones must share a codec) [default: true]
    #[arg(long, env = "DIALTONE_TRANSCODING", value_name = "BOOL")]
    transcoding: Option<bool>,
    /// WAV file (PCM or G.711) held calls hear, looped, instead of the
    /// built-in music on hold; decoded at start [default: built-in music]
    #[arg(long, env = "DIALTONE_MOH_FILE", value_name = "FILE")]
    moh_file: Option<PathBuf>,
    /// How a digit sent as RFC 4733 events reaches a phone that did not
    /// negotiate telephone-event: inband (tones in its audio) or sip_info
    /// [default: inband]
    #[arg(long, env = "DIALTONE_DTMF_INTERWORKING", value_name = "HOW")]
    dtmf_interworking: Option<server::config::DtmfInterworking>,
    /// The only directory file:// URLs of the play API may read from
    /// [default: DATA_DIR/media]
    #[arg(long, env = "DIALTONE_MEDIA_DIR", value_name = "DIR")]
    media_dir: Option<PathBuf>,
    /// http(s) URL every event is POSTed to, signed, unless its call has
    /// its own [default: none]
    #[arg(long, env = "DIALTONE_WEBHOOK_URI", value_name = "URL")]
    webhook_uri: Option<String>,
    /// HMAC-SHA256 key of X-Dialtone-Signature, 16 characters or more
    /// [default: generated at the first start, stored, printed once]
    #[arg(
        long,
        env = "DIALTONE_WEBHOOK_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    webhook_secret: Option<String>,
    /// The espeak-ng program talk renders text with (a path, or a name
    /// looked up in PATH) [default: espeak-ng]
    #[arg(long, env = "DIALTONE_TTS_COMMAND", value_name = "PROGRAM")]
    tts_command: Option<PathBuf>,
}

impl ServeArgs {
    fn load(&self) -> Result<Config, String> {
        let text = match &self.config {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("config file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let overrides = Overrides {
            data_dir: self.data_dir.clone(),
            sip_listen: self.sip_listen,
            http_listen: self.http_listen,
            rtp_ports: self.rtp_ports,
            public_ip: self.public_ip,
            realm: self.realm.clone(),
            auth_algorithms: self.auth_algorithms.clone(),
            trusted_peers: self.trusted_peers.clone(),
            ring_timeout: self.ring_timeout,
            max_call_duration: self.max_call_duration,
            transcoding: self.transcoding,
            moh_file: self.moh_file.clone(),
            dtmf_interworking: self.dtmf_interworking,
            media_dir: self.media_dir.clone(),
            webhook_uri: self.webhook_uri.clone(),
            webhook_secret: self.webhook_secret.clone(),
            tts_command: self.tts_command.clone(),
        };
        Config::load(text.as_deref(), &overrides).map_err(|e| match &self.config {
            Some(p) => format!("{}: {e}", p.display()),
            None => e.to_string(),
        })
    }
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                sip_check::EXIT_USAGE
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::CheckConfig(args) => match args.load() {
            Ok(config) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&config).unwrap_or_default()
                );
                0
            }
            Err(e) => {
                eprintln!("dialtone: {e}");
                1
            }
        },
        Command::SipCheck { files } => sip_check::run(
            &files,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
        ),
        Command::Phone(cmd) => phone::run(cmd),
    };
    std::process::exit(code);
}

fn serve(args: &ServeArgs) -> i32 {
    let config = match args.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dialtone: {e}");
            return 1;
        }
    };
    init_log();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dialtone: cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let server = match server::Server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("dialtone: {e}");
                return 1;
            }
        };
        eprintln!(
            "dialtone: SIP on udp {} and tcp {}, HTTP on http://{}; Ctrl-C or SIGTERM stops",
            server.sip_udp, server.sip_tcp, server.http
        );
        shutdown_signal().await;
        eprintln!("dialtone: stopping: ending active calls");
        server.stop().await;
        eprintln!("dialtone: stopped");
        0
    })
}

/// Logs to stderr, filtered by `DIALTONE_LOG` (default `warn`).
fn init_log() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DIALTONE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
