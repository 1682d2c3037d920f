//! The call resource (seed `001`: "Call Lifecycle", "Call Chaining",
//! "Timestamps Explained") and its forward-only status.

use crate::{Address, HangupBy, HangupReason};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Which way a call leg points, seen from Dialtone.
///
/// In the two-call model an A→B call is the `incoming` call from A (the
/// master) and an `outgoing` call to B chained to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// Where a call is in its lifecycle. The order of the variants is the order
/// of the lifecycle: a call only ever moves to a later status.
///
/// ```text
/// dialing → ringing → progressing → terminating → hangup
///    │         │                                    ▲
///    ├─────────┴──→ canceling ──────────────────────┤
///    └──────────────────────────────────────────────┘ (failed, busy, ...)
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Dialing,
    Ringing,
    Progressing,
    Terminating,
    Canceling,
    Hangup,
}

impl CallStatus {
    /// Whether the lifecycle allows `self → next` (seed: "States only move
    /// forward, never backward"; "canceling" comes only before an answer).
    pub fn can_move_to(self, next: CallStatus) -> bool {
        use CallStatus::*;
        match (self, next) {
            (Hangup, _) => false,
            (_, Hangup) => true,
            (Dialing, Ringing | Progressing | Terminating | Canceling) => true,
            (Ringing, Progressing | Terminating | Canceling) => true,
            (Progressing, Terminating) => true,
            _ => false,
        }
    }

    /// True until the call reaches `hangup`.
    pub fn is_active(self) -> bool {
        self != CallStatus::Hangup
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Dialing => "dialing",
            CallStatus::Ringing => "ringing",
            CallStatus::Progressing => "progressing",
            CallStatus::Terminating => "terminating",
            CallStatus::Canceling => "canceling",
            CallStatus::Hangup => "hangup",
        }
    }

    pub fn parse(s: &str) -> Option<CallStatus> {
        Some(match s {
            "dialing" => CallStatus::Dialing,
            "ringing" => CallStatus::Ringing,
            "progressing" => CallStatus::Progressing,
            "terminating" => CallStatus::Terminating,
            "canceling" => CallStatus::Canceling,
            "hangup" => CallStatus::Hangup,
            _ => return None,
        })
    }
}

/// Which direction of a call's audio is muted (seed `001`, "Mute").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MuteDirection {
    /// The call cannot hear incoming audio.
    In,
    /// The call's audio is not sent to others.
    Out,
    Both,
}

/// One call leg, as `/v1/calls` shows it and events carry it.
///
/// `master_call_id` is `null` on a master (and on a call with no chain);
/// a chained call names its master, and the master lists its chained calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Call {
    pub id: Uuid,
    pub direction: Direction,
    pub source: Address,
    pub destination: Address,
    pub status: CallStatus,
    pub hangup_by: Option<HangupBy>,
    pub hangup_reason: Option<HangupReason>,
    /// The final SIP status of the leg (200 for an answered call, 486 for
    /// busy...), once known.
    pub sip_code: Option<u16>,
    pub master_call_id: Option<Uuid>,
    // `default` on list fields: records stored before a field existed still load.
    #[serde(default)]
    pub chained_call_ids: Vec<Uuid>,
    pub recording_id: Option<Uuid>,
    #[serde(default)]
    pub recording_ids: Vec<Uuid>,
    pub mute_direction: Option<MuteDirection>,
    /// The SIP Call-ID of this leg's dialog, for matching with packet captures.
    pub sip_call_id: String,
    pub tm_create: DateTime<Utc>,
    pub tm_ringing: Option<DateTime<Utc>>,
    pub tm_progressing: Option<DateTime<Utc>>,
    pub tm_hangup: Option<DateTime<Utc>>,
    pub tm_update: DateTime<Utc>,
    /// Outbound routing attempts of this call, in order: one per trunk
    /// tried for a `tel` destination (failover), one for any other
    /// destination Dialtone dialed itself. Empty for calls it did not dial.
    #[serde(default)]
    pub attempts: Vec<CallAttempt>,
    /// The flow run on this call, if any.
    #[serde(default)]
    pub flow_id: Option<Uuid>,
}

/// One attempt to reach a call's destination over one route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CallAttempt {
    /// The trunk used (`null` for extensions and SIP URIs dialed directly).
    pub trunk_id: Option<Uuid>,
    /// The trunk's name, or `direct`.
    pub route: String,
    /// Where the INVITE went (`IP:port`).
    pub gateway: String,
    /// The final SIP status of the attempt (`null` while it runs, or when
    /// nothing answered at all: then `reason` says why).
    pub sip_code: Option<u16>,
    /// How the attempt ended (`null` while it runs).
    pub reason: Option<crate::HangupReason>,
    /// Milliseconds from this attempt's INVITE to its end (or to now).
    pub elapsed_ms: u64,
}

/// A status change the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("call status cannot move from {from:?} to {to:?}")]
pub struct BackwardsTransition {
    pub from: CallStatus,
    pub to: CallStatus,
}

impl Call {
    /// A new call in `dialing`, created at `now`.
    pub fn new(
        id: Uuid,
        direction: Direction,
        source: Address,
        destination: Address,
        sip_call_id: String,
        now: DateTime<Utc>,
    ) -> Call {
        Call {
            id,
            direction,
            source,
            destination,
            status: CallStatus::Dialing,
            hangup_by: None,
            hangup_reason: None,
            sip_code: None,
            master_call_id: None,
            chained_call_ids: Vec::new(),
            recording_id: None,
            recording_ids: Vec::new(),
            mute_direction: None,
            sip_call_id,
            tm_create: now,
            tm_ringing: None,
            tm_progressing: None,
            tm_hangup: None,
            tm_update: now,
            attempts: Vec::new(),
            flow_id: None,
        }
    }

    /// Moves the call to `next` and sets the timestamp that status owns
    /// (`tm_ringing`, `tm_progressing`, `tm_hangup`) and `tm_update`.
    pub fn set_status(
        &mut self,
        next: CallStatus,
        now: DateTime<Utc>,
    ) -> Result<(), BackwardsTransition> {
        if !self.status.can_move_to(next) {
            return Err(BackwardsTransition {
                from: self.status,
                to: next,
            });
        }
        self.status = next;
        match next {
            CallStatus::Ringing => self.tm_ringing = Some(now),
            CallStatus::Progressing => self.tm_progressing = Some(now),
            CallStatus::Hangup => self.tm_hangup = Some(now),
            _ => {}
        }
        self.tm_update = now;
        Ok(())
    }

    /// Ends the call: `hangup` with who and why, unless it already ended
    /// (the first hangup wins). Returns whether anything changed.
    pub fn hang_up(
        &mut self,
        by: HangupBy,
        reason: HangupReason,
        sip_code: Option<u16>,
        now: DateTime<Utc>,
    ) -> bool {
        if self.status == CallStatus::Hangup {
            return false;
        }
        self.hangup_by = Some(by);
        self.hangup_reason = Some(reason);
        // A recording ends with its call (`recording_ids` keeps it).
        self.recording_id = None;
        if sip_code.is_some() {
            self.sip_code = sip_code;
        }
        self.set_status(CallStatus::Hangup, now)
            .expect("any active status may move to hangup");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallStatus::*;

    fn call() -> Call {
        let a = Address::extension("100");
        Call::new(
            Uuid::nil(),
            Direction::Incoming,
            a.clone(),
            a,
            "x".into(),
            DateTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn status_only_moves_forward() {
        assert!(Dialing.can_move_to(Ringing));
        assert!(Ringing.can_move_to(Progressing));
        assert!(Progressing.can_move_to(Terminating));
        assert!(Ringing.can_move_to(Canceling));
        assert!(!Progressing.can_move_to(Ringing));
        assert!(
            !Progressing.can_move_to(Canceling),
            "cancel only before answer"
        );
        assert!(!Hangup.can_move_to(Hangup));
        assert!(!Canceling.can_move_to(Progressing));
        for s in [Dialing, Ringing, Progressing, Terminating, Canceling] {
            assert!(s.can_move_to(Hangup));
        }
    }

    #[test]
    fn timestamps_follow_the_status() {
        let mut c = call();
        let t = |s| DateTime::UNIX_EPOCH + chrono::Duration::seconds(s);
        c.set_status(Ringing, t(1)).unwrap();
        c.set_status(Progressing, t(3)).unwrap();
        assert!(c.set_status(Ringing, t(4)).is_err());
        assert!(c.hang_up(HangupBy::Remote, HangupReason::Normal, Some(200), t(9)));
        assert!(!c.hang_up(HangupBy::Local, HangupReason::Failed, None, t(10)));
        assert_eq!(
            (c.tm_ringing, c.tm_progressing, c.tm_hangup, c.tm_update),
            (Some(t(1)), Some(t(3)), Some(t(9)), t(9))
        );
        assert_eq!(c.hangup_by, Some(HangupBy::Remote));
        assert_eq!(c.sip_code, Some(200));
    }

    #[test]
    fn json_uses_the_contract_names() {
        let v = serde_json::to_value(call()).unwrap();
        assert_eq!(v["status"], "dialing");
        assert_eq!(v["direction"], "incoming");
        assert_eq!(v["destination"]["type"], "extension");
        assert!(v["master_call_id"].is_null());
        assert_eq!(v["tm_create"], "1970-01-01T00:00:00Z");
    }
}
