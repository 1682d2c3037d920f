//! Why and by whom a call ended (seed `001`, "Understanding Hangup Reasons"),
//! and the one place that maps SIP outcomes to those reasons.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who ended the call, seen from the call itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HangupBy {
    /// Dialtone ended it: the API, a flow, a timeout, shutdown, or the
    /// other leg of a bridge ending (the master hanging up ends its chain).
    Local,
    /// The party on this leg ended it: BYE, CANCEL, or a final error response.
    Remote,
}

/// Why the call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HangupReason {
    /// Ended after it was answered; someone hung up.
    Normal,
    /// Never connected: the network or the far end failed.
    Failed,
    /// The destination is busy.
    Busy,
    /// The caller hung up before the destination answered.
    Cancel,
    /// The call exceeded its maximum duration after it was answered.
    Timeout,
    /// The destination rang (or refused) and nobody answered.
    Noanswer,
    /// Dialtone's dialing timeout expired before the destination even rang.
    Dialout,
    /// Answering-machine detection hung up.
    Amd,
}

impl HangupReason {
    /// The reason for a call leg that got a final non-2xx response `code`.
    ///
    /// | SIP response                                   | reason     |
    /// |------------------------------------------------|------------|
    /// | 486 Busy Here, 600 Busy Everywhere             | `busy`     |
    /// | 487 Request Terminated (our CANCEL)            | `cancel`   |
    /// | 408 Request Timeout, 480 Temporarily Unavailable, 603 Decline | `noanswer` |
    /// | every other 3xx–6xx (404, 403, 488, 5xx, 604...) | `failed` |
    ///
    /// The outcomes that are not responses are mapped by the switch:
    /// no response at all (Timer B, transport error) → `failed`; our ring
    /// timeout while the callee rings → `noanswer`, while it has not rung
    /// yet → `dialout`; the maximum call duration → `timeout`; a BYE or an
    /// API hangup after answer → `normal`; the caller's CANCEL → `cancel`.
    pub fn for_final_response(code: u16) -> HangupReason {
        match code {
            486 | 600 => HangupReason::Busy,
            487 => HangupReason::Cancel,
            408 | 480 | 603 => HangupReason::Noanswer,
            _ => HangupReason::Failed,
        }
    }

    /// Whether an outbound route may be retried on another trunk after this
    /// outcome (seed `001`, "Failover Rules"): only `failed`.
    pub fn allows_failover(self) -> bool {
        self == HangupReason::Failed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HangupReason::Normal => "normal",
            HangupReason::Failed => "failed",
            HangupReason::Busy => "busy",
            HangupReason::Cancel => "cancel",
            HangupReason::Timeout => "timeout",
            HangupReason::Noanswer => "noanswer",
            HangupReason::Dialout => "dialout",
            HangupReason::Amd => "amd",
        }
    }
}

impl HangupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            HangupBy::Local => "local",
            HangupBy::Remote => "remote",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HangupReason::{self, *};

    #[test]
    fn sip_codes_map_to_the_documented_reasons() {
        let table = [
            (486, Busy),
            (600, Busy),
            (487, Cancel),
            (408, Noanswer),
            (480, Noanswer),
            (603, Noanswer),
            (404, Failed),
            (403, Failed),
            (488, Failed),
            (500, Failed),
            (503, Failed),
            (302, Failed),
            (604, Failed),
        ];
        for (code, reason) in table {
            assert_eq!(HangupReason::for_final_response(code), reason, "{code}");
        }
    }

    #[test]
    fn only_failed_fails_over() {
        assert!(Failed.allows_failover());
        for r in [Busy, Noanswer, Cancel, Normal, Dialout, Timeout, Amd] {
            assert!(!r.allows_failover(), "{r:?}");
        }
    }
}
