//! The webhook outbox: what the `*_webhook_*` methods of
//! [`Store`](crate::Store) take and return.
//!
//! Every event bound for a webhook URL is a row (a
//! [`model::WebhookDelivery`] plus the exact body) written before the
//! first attempt, so a restart resumes what was pending. Rows with the same
//! `url` and `call_id` form a *lane*: only the lane's first pending row (by
//! `sequence`) is ever due ([`Store::due_webhook_deliveries`](crate::Store::due_webhook_deliveries)),
//! so a receiver sees each call's events in order; a row of no call is a
//! lane of its own.

use chrono::{DateTime, Utc};
use model::DeliveryStatus;
use uuid::Uuid;

/// An event to deliver, as the outbox is given it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub call_id: Option<Uuid>,
    pub sequence: u64,
    pub url: String,
    /// The envelope's JSON, exactly as it will be signed and sent.
    pub body: String,
    /// Also its first `next_attempt_at`.
    pub tm_create: DateTime<Utc>,
}

/// A delivery whose turn it is: what an attempt needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub call_id: Option<Uuid>,
    pub sequence: u64,
    pub url: String,
    pub body: String,
    pub attempts: u32,
    pub tm_create: DateTime<Utc>,
}

/// What one attempt came to (see
/// [`Store::record_webhook_attempt`](crate::Store::record_webhook_attempt)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// `Delivered`, `Pending` (tried again at `next_attempt_at`) or
    /// `Failed` (given up).
    pub status: DeliveryStatus,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed (`None` for a 2xx).
    pub error: Option<String>,
    /// For `Pending`: when to try again.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the attempt ended (`tm_update`).
    pub at: DateTime<Utc>,
}

/// Which deliveries `list_webhook_deliveries` returns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    /// Only this call's.
    pub call_id: Option<Uuid>,
    /// As in [`CallFilter::page_size`](crate::CallFilter::page_size).
    pub page_size: u32,
    pub page_token: Option<String>,
}

impl Default for DeliveryFilter {
    fn default() -> Self {
        DeliveryFilter {
            status: None,
            call_id: None,
            page_size: crate::DEFAULT_PAGE_SIZE,
            page_token: None,
        }
    }
}
