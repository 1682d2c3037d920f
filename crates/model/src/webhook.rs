//! The webhook delivery resource (`/v1/webhooks/deliveries`): one event on
//! its way to one URL, with what happened at its last attempt.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet answered with a 2xx: waiting for its turn or its next attempt.
    Pending,
    /// The receiver answered an attempt with a 2xx.
    Delivered,
    /// Retried until the retry window ended without a 2xx (redeliverable).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// The inverse of [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One event sent (or to be sent) to one webhook URL. The body itself (the
/// event's envelope, byte for byte as signed) is not part of the resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: Uuid,
    /// The envelope's `event_id` (the same on every attempt and redelivery).
    pub event_id: Uuid,
    /// The envelope's `type` (`call_created`, `dtmf_received`...).
    pub event_type: String,
    /// The call the event belongs to (`None` for an event of no call).
    pub call_id: Option<Uuid>,
    /// The envelope's per-call `sequence`.
    pub sequence: u64,
    pub url: String,
    pub status: DeliveryStatus,
    /// Attempts made so far (a redelivery keeps counting).
    pub attempts: u32,
    /// The HTTP status of the last answered attempt.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed (`None` after a 2xx).
    pub last_error: Option<String>,
    /// When a pending delivery is next tried (`None` unless pending).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub tm_create: DateTime<Utc>,
    pub tm_update: DateTime<Utc>,
}
