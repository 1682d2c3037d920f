//! The event envelope of `/v1/events` and webhooks (the public contract):
//! `{"type", "event_id", "sequence", "tm_event", "data"}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The kinds of events Dialtone emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventType {
    CallCreated,
    CallUpdated,
    CallRinging,
    CallProgressing,
    CallHangup,
    /// A DTMF digit the call's party sent (RFC 4733 telephone-event or SIP
    /// INFO); `data`: `call_id`, `digit`, `duration` (ms), `method`.
    DtmfReceived,
    /// A recording of the call began; `data`: the recording
    /// (`/v1/recordings/{id}`).
    RecordingStarted,
    /// A recording of the call ended (stopped, call ended, error); `data`:
    /// the recording with its `duration_ms`, `size_bytes` and `sha256`.
    RecordingFinished,
    /// A play (`POST /v1/calls/{id}/play`, `.../talk`) began: the call's
    /// party hears it; `data`: `call_id`, `play_id`, `kind`, `urls` (see
    /// [`EventType::PlayFinished`]).
    PlayStarted,
    /// A play ended; `data`: `call_id`, `play_id`, `urls`, `reason`:
    /// `finished` (played `loop_count` times), `stopped` (`DELETE
    /// /v1/calls/{id}/play`, or replaced by a new play), `hangup` (the call
    /// ended first). Both play events also carry `kind`: `play` (WAV
    /// files, with `urls`), `talk` (text to speech, with `text`,
    /// `language`, `gender`, `voice` instead of `urls`) or `beep`.
    PlayFinished,
    /// A flow began on the call; `data`: `call_id`, `flow_id`.
    FlowStarted,
    /// A flow action began; `data`: `call_id`, `action` (`index`, `id`,
    /// `type`).
    FlowActionStarted,
    /// A flow action ended; `data`: `call_id`, `action`, `result`
    /// (`status`: ok | failed (with `error`) | interrupted).
    FlowActionFinished,
    /// A flow ended; `data`: `call_id`, `reason` (end | stop | hangup |
    /// call_ended | failed, with `error` or `hangup_reason`), `variables`.
    FlowFinished,
    /// Answering-machine detection on the call reached its verdict;
    /// `data`: `call_id`, `result` (`human`, `machine`, `notsure`),
    /// `reason` (the rule: `after_greeting_silence`, `long_greeting`,
    /// `max_words`, `max_word_length`, `initial_silence`, `too_long`),
    /// `analysis_ms`, `initial_silence_ms`, `greeting_ms`, `words`,
    /// `silence_ms`.
    AmdResult,
}

/// One event. `sequence` counts the events of one call from 1, so a
/// consumer can order them and notice a gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub event_id: Uuid,
    pub sequence: u64,
    pub tm_event: DateTime<Utc>,
    /// The event's subject: the call for `call_*` events, the recording
    /// for `recording_*`, an object with `call_id` and the event's fields
    /// for the others (`dtmf_received`: `digit`, `duration`, `method`...).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}
