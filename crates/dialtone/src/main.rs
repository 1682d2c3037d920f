//! The `dialtone` binary: `sip-check` (and, as the issues land, `serve`,
//! `phone`, `check-config`).

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
        Command::SipCheck { files } => sip_check::run(
            &files,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
        ),
    };
    std::process::exit(code);
}
