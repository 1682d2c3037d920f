//! # `store`: what Dialtone keeps across restarts
//!
//! A [`Store`] trait (object-safe, so the server holds an
//! `Arc<dyn Store>` and PostgreSQL can follow) and its embedded SQLite
//! implementation, [`SqliteStore`], through sqlx. `SqliteStore::open(dir)`
//! creates `dir/dialtone.db` (WAL journal, 5 s busy timeout, foreign keys
//! on) and runs the migrations; `SqliteStore::open_in_memory()` is the same
//! schema in memory, for tests.
//!
//! What is stored where:
//!
//! | table | what |
//! |---|---|
//! | `extensions` | one row per extension, normalized; the digest password as given (see [`Store::create_extension`]) |
//! | `calls` | one row per call leg: the whole [`Call`] as JSON in `body`, plus `status`, `direction` and `tm_create` for filters and keyset pagination |
//! | `recordings` | one row per recording: the whole [`model::Recording`] as JSON in `body`, plus `call_id`, `status` and `tm_create` (its `tm_start`) for filters and pagination; the audio itself is a WAV file the server keeps beside the database |
//! | `webhook_deliveries` | the webhook outbox: one row per event per URL, with the exact body sent, `status`, `attempts`, `next_attempt_at` and the last result (see [`NewDelivery`]) |
//! | `meta` | settings the server generates once: the API key, the nonce secret, the webhook secret |
//!
//! Registrations are not stored: phones re-register after a restart.
//!
//! **Why calls are JSON.** A call is written on every change and read
//! whole; it is never queried by its inner fields except the three that
//! have columns. The body is `model::Call`'s own serde form (the API's
//! form), so chained ids, recording ids and nanosecond timestamps
//! round-trip exactly and a new field needs no schema change, as long as
//! old rows still decode: a field added to `Call` must be an `Option` or
//! `#[serde(default)]`, or come with a migration that rewrites `body`. The
//! index columns are written from the same `Call` in the same statement, so
//! they cannot disagree with the body. `tm_create` there is fixed-width
//! RFC 3339 UTC with microseconds, so text order is time order; filters and
//! pagination work at that precision.
//!
//! **Migrations** live in `crates/store/migrations/`, are embedded in the
//! binary with `sqlx::migrate!` and run on every open. They are numbered
//! (`0001_initial.sql`, `0002_...`) and append-only: a released file is
//! never edited (sqlx checks their checksums and refuses a database whose
//! applied migrations differ); a change is a new file (`build.rs` makes
//! cargo rebuild the crate when one is added). PostgreSQL will get
//! its own directory with the same numbering.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use store::{CallFilter, SqliteStore, Store};
//! let store = SqliteStore::open_in_memory().await.unwrap();
//! store.set_meta("api_key", "k").await.unwrap();
//! assert_eq!(store.meta("api_key").await.unwrap().as_deref(), Some("k"));
//! let page = store.list_calls(&CallFilter::default()).await.unwrap();
//! assert!(page.items.is_empty() && page.next_page_token.is_none());
//! # });
//! ```

mod sqlite;
mod token;
mod webhooks;

pub use sqlite::{SqliteStore, BUSY_TIMEOUT};
pub use webhooks::{DeliveryAttempt, DeliveryFilter, DueDelivery, NewDelivery};

use chrono::{DateTime, Utc};
use model::{
    Call, CallStatus, Direction, Extension, ExtensionSecret, Recording, RecordingStatus,
    WebhookDelivery,
};
use serde::Serialize;
use uuid::Uuid;

/// Persistence as the server needs it. Every method is one short
/// transaction; none holds a lock across an await of the caller.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Adds an extension. `Conflict` if the number (or the id) exists.
    ///
    /// The password is stored as given, and [`ExtensionSecret::password`]
    /// is what the registrar computes digests from: one password gives
    /// both the MD5 and the SHA-256 HA1 (RFC 7616 §3.4.2), for whatever
    /// realm the configuration names. The alternative, storing
    /// `HA1 = H(user:realm:password)` per algorithm, keeps the password out
    /// of the file but is just as good a credential for that realm (HA1 is
    /// all a client needs to answer a challenge), and it breaks every
    /// extension when the realm changes or an algorithm is added. So the
    /// data directory must be protected like a password file (it also
    /// holds the API key).
    async fn create_extension(&self, e: &ExtensionSecret) -> Result<(), StoreError>;
    /// Replaces the extension with `e.extension.id` (all but `tm_create`);
    /// `NotFound`, or `Conflict` if the new number belongs to another
    /// extension.
    async fn update_extension(&self, e: &ExtensionSecret) -> Result<(), StoreError>;
    /// `NotFound` if there is no such extension.
    async fn delete_extension(&self, id: Uuid) -> Result<(), StoreError>;
    async fn extension(&self, id: Uuid) -> Result<Option<ExtensionSecret>, StoreError>;
    async fn extension_by_number(
        &self,
        number: &str,
    ) -> Result<Option<ExtensionSecret>, StoreError>;
    /// Ordered by number, keyset-paginated; `page_size` as in
    /// [`CallFilter::page_size`].
    async fn list_extensions(
        &self,
        page_size: u32,
        page_token: Option<String>,
    ) -> Result<PageOf<Extension>, StoreError>;
    /// Every extension with its password, ordered by number: what the
    /// switch loads at start.
    async fn all_extensions(&self) -> Result<Vec<ExtensionSecret>, StoreError>;

    /// Inserts or replaces the call with `c.id` (called on every change):
    /// one statement, one implicit transaction.
    async fn upsert_call(&self, c: &Call) -> Result<(), StoreError>;
    /// Several [`Store::upsert_call`]s in one transaction (one disk sync),
    /// in order: what the event pump uses under load.
    async fn upsert_calls(&self, calls: &[Call]) -> Result<(), StoreError> {
        for c in calls {
            self.upsert_call(c).await?;
        }
        Ok(())
    }
    async fn call(&self, id: Uuid) -> Result<Option<Call>, StoreError>;
    /// Newest first (`tm_create`, then id, both descending),
    /// keyset-paginated; `InvalidPageToken` for a token this listing did
    /// not issue.
    async fn list_calls(&self, f: &CallFilter) -> Result<PageOf<Call>, StoreError>;
    /// At start: every call not in `hangup` (it was active when the
    /// process died) becomes `hangup`, `hangup_by: local`,
    /// `hangup_reason: failed`, `tm_hangup = tm_update = now`; every other
    /// field is kept. Returns how many.
    async fn fail_active_calls(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Inserts or replaces the recording with `r.id` (its `call_id` and
    /// `tm_start` never change).
    async fn upsert_recording(&self, r: &Recording) -> Result<(), StoreError>;
    async fn recording(&self, id: Uuid) -> Result<Option<Recording>, StoreError>;
    /// Newest first (`tm_start`, then id, both descending), keyset-paginated
    /// like [`Store::list_calls`].
    async fn list_recordings(&self, f: &RecordingFilter) -> Result<PageOf<Recording>, StoreError>;
    /// Every recording still `recording`: at start, the ones a crash cut
    /// off (their files need repairing).
    async fn unfinished_recordings(&self) -> Result<Vec<Recording>, StoreError>;
    /// `NotFound` if there is no such recording.
    async fn delete_recording(&self, id: Uuid) -> Result<(), StoreError>;

    /// Stores a flow, number or trunk (`body`: the whole resource as
    /// JSON). `create`: `Conflict` if the id or the `key` exists; else it
    /// replaces the resource with this id (`NotFound` if none), keeping its
    /// `tm_create`, and `Conflict` if another has the `key`.
    async fn put_resource(
        &self,
        kind: ResourceKind,
        id: Uuid,
        key: &str,
        tm_create: DateTime<Utc>,
        body: &serde_json::Value,
        create: bool,
    ) -> Result<(), StoreError>;
    async fn resource(
        &self,
        kind: ResourceKind,
        id: Uuid,
    ) -> Result<Option<serde_json::Value>, StoreError>;
    /// `NotFound` if there is none.
    async fn delete_resource(&self, kind: ResourceKind, id: Uuid) -> Result<(), StoreError>;
    /// Newest first, keyset-paginated like [`Store::list_calls`].
    async fn list_resources(
        &self,
        kind: ResourceKind,
        page_size: u32,
        page_token: Option<String>,
    ) -> Result<PageOf<serde_json::Value>, StoreError>;
    /// Every resource of a kind (what the switch loads at start).
    async fn all_resources(&self, kind: ResourceKind)
        -> Result<Vec<serde_json::Value>, StoreError>;

    /// A value [`Store::set_meta`] stored, if any.
    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Inserts or replaces `key`.
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;

    // The webhook outbox (see `webhooks.rs`: lanes, what each row holds).

    /// Adds deliveries, `pending` and due at their `tm_create`, in one
    /// transaction. `Conflict` if an id exists (nothing is added then).
    async fn enqueue_webhook_deliveries(&self, d: &[NewDelivery]) -> Result<(), StoreError>;
    /// At most `limit` pending deliveries due at `now` that are first in
    /// their lane (no pending row of the same `url` and `call_id` has a
    /// lower `sequence`), the longest due first.
    async fn due_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    /// The earliest `next_attempt_at` of a pending delivery after `now`:
    /// when the worker has something to do next, if nothing comes in.
    async fn next_webhook_attempt(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Records one attempt: `attempts + 1`, the new status, the status code
    /// and error (both replaced, `None` included), `next_attempt_at` (kept
    /// when `None`), `tm_update = a.at`. `NotFound` if there is no such
    /// delivery.
    async fn record_webhook_attempt(&self, id: Uuid, a: &DeliveryAttempt)
        -> Result<(), StoreError>;
    async fn webhook_delivery(&self, id: Uuid) -> Result<Option<WebhookDelivery>, StoreError>;
    /// Newest first (`tm_create`, then id, both descending),
    /// keyset-paginated like [`Store::list_calls`].
    async fn list_webhook_deliveries(
        &self,
        f: &DeliveryFilter,
    ) -> Result<PageOf<WebhookDelivery>, StoreError>;
    /// Sends a delivery again: `pending`, due at `now`, `tm_update = now`
    /// (attempts and the last result are kept until the next attempt).
    /// Returns it as it is now; `NotFound` if there is no such delivery.
    async fn redeliver_webhook(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<WebhookDelivery, StoreError>;
}

/// The kinds [`Store::put_resource`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Flow,
    Number,
    Trunk,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Flow => "flow",
            ResourceKind::Number => "number",
            ResourceKind::Trunk => "trunk",
        }
    }
}

/// Which calls `list_calls` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFilter {
    pub status: Option<CallStatus>,
    pub direction: Option<Direction>,
    /// `tm_create >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `tm_create < until`.
    pub until: Option<DateTime<Utc>>,
    /// 1..=[`MAX_PAGE_SIZE`]; larger is clamped, 0 means
    /// [`DEFAULT_PAGE_SIZE`].
    pub page_size: u32,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

impl Default for CallFilter {
    fn default() -> Self {
        CallFilter {
            status: None,
            direction: None,
            since: None,
            until: None,
            page_size: DEFAULT_PAGE_SIZE,
            page_token: None,
        }
    }
}

/// Which recordings `list_recordings` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingFilter {
    /// Only this call's.
    pub call_id: Option<Uuid>,
    pub status: Option<RecordingStatus>,
    /// As in [`CallFilter::page_size`].
    pub page_size: u32,
    pub page_token: Option<String>,
}

impl Default for RecordingFilter {
    fn default() -> Self {
        RecordingFilter {
            call_id: None,
            status: None,
            page_size: DEFAULT_PAGE_SIZE,
            page_token: None,
        }
    }
}

/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page a listing returns.
pub const MAX_PAGE_SIZE: u32 = 500;

fn page_limit(page_size: u32) -> u32 {
    match page_size {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    /// Pass back as `page_token` for the next page; `null` on the last.
    pub next_page_token: Option<String>,
}

/// Everything that can go wrong, decided once into HTTP by the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record to update or delete does not exist (a lookup returns
    /// `Ok(None)` instead).
    #[error("not found")]
    NotFound,
    /// A unique key is taken; the message names it (`extension 100 already exists`).
    #[error("{0}")]
    Conflict(String),
    /// A page token that this listing did not issue.
    #[error("invalid page token")]
    InvalidPageToken,
    /// The database failed, or holds a row this version cannot read.
    #[error("database: {0}")]
    Database(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(format!("migration: {e}"))
    }
}
