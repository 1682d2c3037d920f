//! The recording resource (`/v1/recordings`, `recording_*` events).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Which directions of a call a recording holds (the seed's RX / TX / MIX).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingDirection {
    /// RX: what the call's party said.
    In,
    /// TX: what the call's party heard.
    Out,
    /// Both.
    Both,
}

/// Channel layout of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingChannels {
    /// One channel: the recorded directions mixed.
    Mono,
    /// Two channels: left = what the party said, right = what it heard.
    Stereo,
}

/// Where a recording is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// Being written.
    Recording,
    /// Complete: `duration_ms`, `size_bytes` and `sha256` describe the file.
    Finished,
    /// Ended by an error (`error` says which); the file, if any, holds the
    /// audio up to it.
    Failed,
}

impl RecordingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingStatus::Recording => "recording",
            RecordingStatus::Finished => "finished",
            RecordingStatus::Failed => "failed",
        }
    }
}

/// One recording of one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recording {
    pub id: Uuid,
    pub call_id: Uuid,
    pub status: RecordingStatus,
    /// `wav`: 16-bit linear PCM.
    pub format: String,
    pub direction: RecordingDirection,
    pub channels: RecordingChannels,
    /// Samples per second: 8000 on G.711 calls, 16000 on G.722 and Opus.
    pub sample_rate: u32,
    /// Length of the audio (0 until the recording ends).
    pub duration_ms: u64,
    /// Size of the WAV file (0 until the recording ends).
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the whole file, once it ended.
    pub sha256: Option<String>,
    /// Why it ended: `stopped` (API), `hangup` (the call ended), `error`,
    /// `shutdown` (the server stopped), `crash` (found unfinished at start
    /// and repaired).
    pub end_reason: Option<String>,
    /// What went wrong, for `failed`.
    pub error: Option<String>,
    pub tm_start: DateTime<Utc>,
    pub tm_end: Option<DateTime<Utc>>,
}
