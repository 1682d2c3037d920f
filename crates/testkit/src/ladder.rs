//! A textual ladder diagram of the messages a test exchanged.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Records one line per message: time, `src -> dst`, and the message's first
/// line (`INVITE sip:bob@b SIP/2.0`, `SIP/2.0 180 Ringing`).
///
/// ```
/// let mut l = testkit::Ladder::new();
/// let (a, b) = ("10.0.0.1:5060".parse().unwrap(), "10.0.0.2:5060".parse().unwrap());
/// l.record(std::time::Duration::from_millis(5), a, b, b"SIP/2.0 180 Ringing\r\n\r\n", false);
/// assert_eq!(l.first_lines(), vec!["SIP/2.0 180 Ringing"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Ladder {
    lines: Vec<Rung>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rung {
    at: Duration,
    from: SocketAddr,
    to: SocketAddr,
    first_line: String,
    lost: bool,
}

impl Ladder {
    pub fn new() -> Ladder {
        Ladder::default()
    }

    /// Records a message sent at `at` (time since the test's start); `lost` marks a dropped send.
    pub fn record(
        &mut self,
        at: Duration,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
        lost: bool,
    ) {
        let end = bytes
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(bytes.len());
        self.lines.push(Rung {
            at,
            from,
            to,
            first_line: String::from_utf8_lossy(&bytes[..end]).into_owned(),
            lost,
        });
    }

    /// The first line of every recorded message, in order.
    pub fn first_lines(&self) -> Vec<&str> {
        self.lines.iter().map(|r| r.first_line.as_str()).collect()
    }

    /// Number of recorded messages whose first line contains `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .iter()
            .filter(|r| r.first_line.contains(needle))
            .count()
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

impl fmt::Display for Ladder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.lines {
            writeln!(
                f,
                "{:>9.3}s {} -> {} {}{}",
                r.at.as_secs_f64(),
                r.from,
                r.to,
                r.first_line,
                if r.lost { "  (lost)" } else { "" }
            )?;
        }
        Ok(())
    }
}
