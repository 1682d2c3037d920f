//! The `dialtone` binary: `serve` and `sip-check` (and, as the issues land,
//! `phone`, `check-config`).

mod serve;
mod sip_check;

use clap::{Parser, Subcommand};

/// Dialtone: a self-hostable programmable voice-call platform.
#[derive(Debug, Parser)]
#[command(name = "dialtone", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: a SIP endpoint on UDP and TCP.
    ///
    /// Today it answers OPTIONS (200), other known methods with 405 and
    /// extension methods with 501, and malformed requests with a 400 naming
    /// the fault. Registrar, calls and the HTTP API come with the switch.
    /// SIGINT or SIGTERM stops it.
    Serve {
        /// SIP listen address, UDP and TCP.
        #[arg(long, env = "DIALTONE_SIP_LISTEN", default_value = "0.0.0.0:5060")]
        sip_listen: std::net::SocketAddr,
        /// The address peers reach this server at (Via, Contact). Default:
        /// the listen address, or the default route's source address when
        /// listening on 0.0.0.0.
        #[arg(long, env = "DIALTONE_PUBLIC_IP")]
        public_ip: Option<std::net::IpAddr>,
    },
    /// Check SIP messages: one JSON verdict line per FILE (`-` reads standard input).
    ///
    /// Exit status 0 if every message is valid, 1 if any is invalid, 2 on usage error.
    SipCheck {
        /// Files each holding one SIP message, or `-` for standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
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
        Command::Serve {
            sip_listen,
            public_ip,
        } => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("dialtone: cannot start the runtime: {e}");
                    std::process::exit(1);
                }
            };
            let opts = serve::Options {
                sip_listen,
                public_ip,
            };
            match runtime.block_on(serve::run(opts)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("dialtone: {e}");
                    1
                }
            }
        }
        Command::SipCheck { files } => sip_check::run(
            &files,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
        ),
    };
    std::process::exit(code);
}
