//! # `store`: what Dialtone keeps across restarts
//!
//! A [`Store`] trait (so PostgreSQL can follow) and its embedded SQLite
//! implementation, [`SqliteStore`], through sqlx. `SqliteStore::open(dir)`
//! creates `dir/dialtone.db` (WAL journal, 5 s busy timeout) and runs the
//! migrations in `crates/store/migrations/`, which are append-only and
//! numbered: a released migration is never edited.
//!
//! What is stored where:
//!
//! | table | what |
//! |---|---|
//! | `extensions` | one row per extension; the digest password as given (see [`Store::create_extension`]) |
//! | `calls` | one row per call leg: the whole [`Call`] as JSON in `body`, plus `status`, `direction` and `tm_create` for filters and keyset pagination |
//! | `meta` | settings the server generates once: the API key, the nonce secret |
//!
//! Registrations are not stored: phones re-register after a restart.
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

pub use sqlite::SqliteStore;

use chrono::{DateTime, Utc};
use model::{Call, CallStatus, Direction, Extension, ExtensionSecret};
use serde::Serialize;
use uuid::Uuid;

/// Persistence as the server needs it. Every method is one short
/// transaction; none holds a lock across an await of the caller.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Adds an extension. The password is stored as given: digest auth
    /// needs it to answer both MD5 and SHA-256 challenges (storing only
    /// HA1 would tie the rows to one realm), so the data directory must be
    /// protected like a password file. `Conflict` if the number exists.
    async fn create_extension(&self, e: &ExtensionSecret) -> Result<(), StoreError>;
    /// Replaces the extension with `e.extension.id`; `NotFound`, or
    /// `Conflict` if the new number belongs to another extension.
    async fn update_extension(&self, e: &ExtensionSecret) -> Result<(), StoreError>;
    async fn delete_extension(&self, id: Uuid) -> Result<(), StoreError>;
    async fn extension(&self, id: Uuid) -> Result<Option<ExtensionSecret>, StoreError>;
    async fn extension_by_number(
        &self,
        number: &str,
    ) -> Result<Option<ExtensionSecret>, StoreError>;
    /// Ordered by number.
    async fn list_extensions(
        &self,
        page_size: u32,
        page_token: Option<String>,
    ) -> Result<PageOf<Extension>, StoreError>;
    async fn all_extensions(&self) -> Result<Vec<ExtensionSecret>, StoreError>;

    /// Inserts or replaces the call with `c.id` (called on every change).
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
    /// Newest first (`tm_create`, then id), keyset-paginated.
    async fn list_calls(&self, f: &CallFilter) -> Result<PageOf<Call>, StoreError>;
    /// At start: every call not in `hangup` (it was active when the
    /// process died) becomes `hangup`, `hangup_by: local`,
    /// `hangup_reason: failed`, at `now`. Returns how many.
    async fn fail_active_calls(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;
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
    /// 1..=500 (clamped).
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
            page_size: 50,
            page_token: None,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    /// Pass back as `page_token` for the next page; `None` on the last.
    pub next_page_token: Option<String>,
}

/// Everything that can go wrong, decided once into HTTP by the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("invalid page token")]
    InvalidPageToken,
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
