//! The softphone's public vocabulary: accounts, events, call states, operations.

use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// SIP transport to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}

impl std::str::FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Transport, String> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Ok(Transport::Udp),
            "tcp" => Ok(Transport::Tcp),
            other => Err(format!("unknown transport '{other}': use udp or tcp")),
        }
    }
}

/// A SIP account (the seeds' `SIPAccount`): who the phone is and where its server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The registrar and outbound proxy: every out-of-dialog request goes here.
    pub server: SocketAddr,
    pub transport: Transport,
    /// User part of the address of record (`1001` in `sip:1001@domain`).
    pub user: String,
    /// Digest password; `None`: challenges are not answered.
    pub password: Option<String>,
    /// Digest user name when it differs from `user`.
    pub auth_user: Option<String>,
    /// Host part of the address of record; `None`: the server's IP address.
    pub domain: Option<String>,
    pub display_name: Option<String>,
    /// Keep a registration (the seed's `registrationRequired`).
    pub register: bool,
    /// Expiry asked for in REGISTER, seconds.
    pub expires: u32,
    /// Anonymous (the CPaaS seed): From `anonymous`, `Privacy: id`, outgoing calls only, no registration.
    pub anonymous: bool,
}

impl Account {
    /// A registering account `user` at `server` over UDP, expiry 300 s.
    pub fn new(server: SocketAddr, user: &str, password: Option<&str>) -> Account {
        Account {
            server,
            transport: Transport::Udp,
            user: user.to_owned(),
            password: password.map(str::to_owned),
            auth_user: None,
            domain: None,
            display_name: None,
            register: true,
            expires: 300,
            anonymous: false,
        }
    }

    /// An anonymous account: places calls through `server`, never registers, takes no calls.
    pub fn anonymous(server: SocketAddr) -> Account {
        Account {
            register: false,
            anonymous: true,
            ..Account::new(server, "anonymous", None)
        }
    }

    /// The domain of the address of record.
    pub fn domain(&self) -> String {
        self.domain
            .clone()
            .unwrap_or_else(|| host_text(self.server.ip()))
    }
}

/// An IP address as the host of a SIP URI (RFC 3261 §25.1: IPv6 in brackets).
pub(crate) fn host_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// A call's id, unique within one phone (the seeds' `callId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CallId(pub u32);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The registration's state (the Ozeki seed's `RegState`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Registration {
    /// A REGISTER is on its way.
    Registering,
    /// Bound at the registrar for `expires` seconds; refreshed at half of it.
    Registered { expires: u32 },
    /// The registrar refused or did not answer; retried every 30 s.
    Failed {
        sip_code: Option<u16>,
        reason: String,
    },
    /// The binding was removed (`Expires: 0`) or never made.
    Unregistered,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Hung up after it was established.
    Normal,
    /// Cancelled before it was answered (by the caller), or abandoned by us.
    Cancel,
    /// 486 / 600: busy.
    Busy,
    /// 603: declined.
    Decline,
    /// Nobody answered (408, 480, 487 after our ring timeout).
    Noanswer,
    /// Moved elsewhere (302 sent or received).
    Forwarded,
    /// Handed over by a transfer.
    Transferred,
    /// Anything else (4xx-6xx, no answer to a request, transport error).
    Failed,
}

impl EndReason {
    /// The reason as the JSON events spell it.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Normal => "normal",
            EndReason::Cancel => "cancel",
            EndReason::Busy => "busy",
            EndReason::Decline => "decline",
            EndReason::Noanswer => "noanswer",
            EndReason::Forwarded => "forwarded",
            EndReason::Transferred => "transferred",
            EndReason::Failed => "failed",
        }
    }

    /// The reason for a final non-2xx answer to an INVITE.
    pub fn for_status(status: u16) -> EndReason {
        match status {
            486 | 600 => EndReason::Busy,
            603 => EndReason::Decline,
            408 | 480 => EndReason::Noanswer,
            487 => EndReason::Cancel,
            300..=399 => EndReason::Forwarded,
            _ => EndReason::Failed,
        }
    }
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Local,
    Remote,
}

/// A call's state (the CPaaS seed's states). `Held` wins over `RemotelyHeld`
/// when both sides hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallState {
    /// Outgoing: the INVITE is on its way.
    Dialing,
    /// Outgoing: the callee is alerted (180). Incoming: we are alerting.
    Ringing,
    /// Outgoing: the callee sends media before answering (183 with SDP).
    EarlyMedia,
    Established,
    /// We put the call on hold.
    Held,
    /// The peer put us on hold.
    RemotelyHeld,
    Ended {
        reason: EndReason,
        by: By,
        sip_code: Option<u16>,
    },
}

impl CallState {
    pub fn is_ended(&self) -> bool {
        matches!(self, CallState::Ended { .. })
    }

    /// Established, held or remotely held: the dialog is up.
    pub fn is_up(&self) -> bool {
        matches!(
            self,
            CallState::Established | CallState::Held | CallState::RemotelyHeld
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            CallState::Dialing => "dialing",
            CallState::Ringing => "ringing",
            CallState::EarlyMedia => "early_media",
            CallState::Established => "established",
            CallState::Held => "held",
            CallState::RemotelyHeld => "remotely_held",
            CallState::Ended { .. } => "ended",
        }
    }
}

/// A mid-call operation (the CPaaS seed: one at a time, each reported as success or failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Hold,
    Unhold,
    Mute,
    Unmute,
    VideoStart,
    VideoStop,
    SendDtmf,
    Transfer,
    RecordStart,
    RecordStop,
}

/// How digits are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DtmfMode {
    /// RFC 4733 telephone-events in the RTP stream (in-band tones if the peer did not take them).
    #[default]
    Rfc4733,
    /// SIP INFO with `application/dtmf-relay`.
    Info,
}

impl std::str::FromStr for DtmfMode {
    type Err = String;
    fn from_str(s: &str) -> Result<DtmfMode, String> {
        match s.to_ascii_lowercase().as_str() {
            "rfc4733" | "rtp" => Ok(DtmfMode::Rfc4733),
            "info" => Ok(DtmfMode::Info),
            other => Err(format!(
                "unknown DTMF method '{other}': use rfc4733 or info"
            )),
        }
    }
}

/// The embedded seed's call-forwarding conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardCondition {
    /// Every incoming call.
    Unconditional,
    /// While another call is up or being placed, or when the user rejects as busy.
    Busy,
    /// Nobody answered within the rule's time.
    NoReply,
    /// The phone cannot take the call (its media cannot be opened).
    NotReachable,
}

impl std::str::FromStr for ForwardCondition {
    type Err = String;
    fn from_str(s: &str) -> Result<ForwardCondition, String> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "unconditional" | "always" => Ok(ForwardCondition::Unconditional),
            "busy" => Ok(ForwardCondition::Busy),
            "no_reply" | "noreply" | "noanswer" => Ok(ForwardCondition::NoReply),
            "not_reachable" | "unreachable" => Ok(ForwardCondition::NotReachable),
            other => Err(format!(
                "unknown forwarding condition '{other}': use unconditional, busy, no_reply or not_reachable"
            )),
        }
    }
}

/// A forwarding rule as queried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardRule {
    pub condition: ForwardCondition,
    /// Where calls go (a number in the account's domain or a SIP URI).
    pub target: String,
    pub active: bool,
    /// `NoReply` only: how long a call rings first.
    #[serde(with = "secs")]
    pub no_reply_after: Duration,
}

mod secs {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

/// A party of a call, from the From/To of its INVITE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Party {
    /// The SIP URI.
    pub uri: String,
    /// The user part (the number), if any.
    pub user: Option<String>,
    /// The display name, unquoted.
    pub display_name: Option<String>,
}

/// Where a DTMF digit came from.
pub use crate::media::DtmfMethod;

/// What the phone tells the application: one stream per phone (the seeds' listeners).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The registration changed.
    Registration(Registration),
    /// A call is ringing here: `accept`, `reject`, `ignore` or `forward` it.
    Incoming {
        call: CallId,
        from: Party,
        to: Party,
        /// The offer has a video m-line.
        video: bool,
    },
    /// A call arrived while another is up or being placed (the embedded
    /// seed's status 6): accepting it holds the other. (A call still ringing
    /// here does not make the next one wait.)
    CallWaiting {
        call: CallId,
        from: Party,
        to: Party,
        video: bool,
        /// The call that is up (or being placed).
        active: CallId,
    },
    /// A call changed state.
    State {
        call: CallId,
        #[serde(flatten)]
        state: CallState,
    },
    /// A digit the peer sent (while detection is on).
    Dtmf {
        call: CallId,
        digit: char,
        method: DtmfMethod,
        duration_ms: u32,
    },
    /// A mid-call operation finished.
    Op {
        call: CallId,
        op: Op,
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// An incoming call was forwarded by a rule (it then ends `forwarded`).
    Forwarded {
        call: CallId,
        condition: ForwardCondition,
        target: String,
    },
    /// A WAV source played to its end.
    PlaybackFinished { call: CallId },
    /// A recording finished.
    Recording {
        call: CallId,
        path: Option<String>,
        mode: crate::media::RecordMode,
        duration_ms: u64,
    },
    /// Something went wrong that the phone survives.
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        call: Option<CallId>,
        message: String,
    },
}

/// Why an operation was refused at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UaError {
    #[error("no call {0}")]
    NoCall(CallId),
    #[error("call {call}: {message}")]
    State { call: CallId, message: String },
    #[error("call {call}: another operation ({op:?}) is in progress")]
    Busy { call: CallId, op: Op },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Sip(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_reason_names_are_the_json_ones() {
        use EndReason::*;
        for r in [
            Normal,
            Cancel,
            Busy,
            Decline,
            Noanswer,
            Forwarded,
            Transferred,
            Failed,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
        }
    }
}
