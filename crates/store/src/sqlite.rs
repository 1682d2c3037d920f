//! [`Store`] on an embedded SQLite database.

mod webhooks;

use crate::token::{self, TimeCursor};
use crate::{
    page_limit, CallFilter, DeliveryAttempt, DeliveryFilter, DueDelivery, NewDelivery, PageOf,
    RecordingFilter, ResourceKind, Store, StoreError,
};
use chrono::{DateTime, SecondsFormat, Utc};
use model::{
    Call, CallStatus, Extension, ExtensionSecret, HangupBy, HangupReason, Origin, Recording,
    WebhookDelivery,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// The embedded store: one SQLite file in WAL mode, a small connection
/// pool (readers run beside the one writer; writers queue on SQLite's write
/// lock for up to [`BUSY_TIMEOUT`] instead of failing with "database is
/// locked").
///
/// `synchronous = NORMAL`: a commit is durable against a process crash at
/// once and against power loss from the next WAL checkpoint; the database
/// is never corrupted. That is what makes per-change [`Store::upsert_call`]
/// cheap.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// How long a statement waits for another connection's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Writers start with the write lock (`BEGIN IMMEDIATE`), so a transaction
/// that reads first never fails to upgrade when another writer committed
/// meanwhile (`SQLITE_BUSY_SNAPSHOT` skips the busy timeout).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// Fixed-width UTC text with microseconds, so that text order is time order
/// (the index columns; the JSON body keeps full precision).
fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Database(format!("bad timestamp {s:?}: {e}")))
}

fn parse_uuid(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::Database(format!("bad id {s:?}: {e}")))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The `Conflict` for a unique violation on `extensions`: the number, or
/// (rarely: a client cannot choose ids) the id.
fn extension_conflict(err: sqlx::Error, x: &Extension) -> StoreError {
    if !is_unique_violation(&err) {
        return err.into();
    }
    if err.to_string().contains("extensions.id") {
        StoreError::Conflict(format!("extension id {} already exists", x.id))
    } else {
        StoreError::Conflict(format!("extension {} already exists", x.extension))
    }
}

impl SqliteStore {
    /// Opens (or creates) `data_dir/dialtone.db` and migrates it.
    pub async fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Database(format!("{}: {e}", data_dir.display())))?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("dialtone.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A local file needs no ping before each use (one less trip to
            // the connection thread per query).
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Self::migrate(pool).await
    }

    /// A private in-memory database (tests). It lives as long as the store.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection, never retired by the pool: every in-memory
        // connection is its own database, and closing it drops the data.
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrate(pool).await
    }

    async fn migrate(pool: SqlitePool) -> Result<SqliteStore, StoreError> {
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

fn extension_row(row: &sqlx::sqlite::SqliteRow) -> Result<ExtensionSecret, StoreError> {
    let origin = match row.try_get::<String, _>("origin")?.as_str() {
        "api" => Origin::Api,
        "config" => Origin::Config,
        other => return Err(StoreError::Database(format!("bad origin {other:?}"))),
    };
    Ok(ExtensionSecret {
        extension: Extension {
            id: parse_uuid(&row.try_get::<String, _>("id")?)?,
            extension: row.try_get("number")?,
            name: row.try_get("name")?,
            static_contact: row.try_get("static_contact")?,
            origin,
            tm_create: parse_ts(&row.try_get::<String, _>("tm_create")?)?,
            tm_update: parse_ts(&row.try_get::<String, _>("tm_update")?)?,
        },
        password: row.try_get("password")?,
    })
}

fn origin_text(o: Origin) -> &'static str {
    match o {
        Origin::Api => "api",
        Origin::Config => "config",
    }
}

fn direction_text(d: model::Direction) -> &'static str {
    match d {
        model::Direction::Incoming => "incoming",
        model::Direction::Outgoing => "outgoing",
    }
}

fn call_body(c: &Call) -> Result<String, StoreError> {
    serde_json::to_string(c).map_err(|e| StoreError::Database(format!("encode call: {e}")))
}

fn call_from(body: &str) -> Result<Call, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Database(format!("decode call: {e}")))
}

/// Runs a newest-first listing: `sql` selects `id, tm_create` and what
/// `decode` reads from a row, with its filters bound by `binds`; the keyset
/// position of `page.1` (a token of listing `kind`), the order and the
/// limit of `page.0` are added here.
async fn newest_first<T>(
    pool: &SqlitePool,
    mut sql: String,
    mut binds: Vec<String>,
    kind: &str,
    (size, page_token): (u32, Option<&str>),
    decode: fn(&sqlx::sqlite::SqliteRow) -> Result<T, StoreError>,
) -> Result<PageOf<T>, StoreError> {
    if let Some(token) = page_token {
        let after = TimeCursor::decode(kind, token)?;
        sql += " AND (tm_create < ? OR (tm_create = ? AND id < ?))";
        binds.push(after.tm_create.clone());
        binds.push(after.tm_create);
        binds.push(after.id);
    }
    sql += " ORDER BY tm_create DESC, id DESC LIMIT ?";
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q.bind(i64::from(size) + 1).fetch_all(pool).await?;
    let more = rows.len() > size as usize;
    let rows = &rows[..rows.len().min(size as usize)];
    let next_page_token = match (more, rows.last()) {
        (true, Some(last)) => Some(
            TimeCursor {
                tm_create: last.try_get("tm_create")?,
                id: last.try_get("id")?,
            }
            .encode(kind),
        ),
        _ => None,
    };
    let items = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    Ok(PageOf {
        items,
        next_page_token,
    })
}

fn json_from(body: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Database(format!("decode resource: {e}")))
}

fn recording_from(body: &str) -> Result<Recording, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Database(format!("decode recording: {e}")))
}

fn upsert_call_query(
    c: &Call,
) -> Result<
    sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'static>>,
    StoreError,
> {
    Ok(sqlx::query(
        "INSERT INTO calls (id, status, direction, tm_create, body) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status,
           direction = excluded.direction, tm_create = excluded.tm_create, body = excluded.body",
    )
    .bind(c.id.to_string())
    .bind(c.status.as_str())
    .bind(direction_text(c.direction))
    .bind(ts(&c.tm_create))
    .bind(call_body(c)?))
}

/// Rows per multi-row upsert (5 parameters each, far below SQLite's limit).
const UPSERT_CHUNK: usize = 64;

async fn upsert_many<'e, E>(db: E, calls: &[Call]) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    if calls.is_empty() {
        return Ok(());
    }
    let mut sql =
        String::from("INSERT INTO calls (id, status, direction, tm_create, body) VALUES ");
    for i in 0..calls.len() {
        sql += if i == 0 {
            "(?, ?, ?, ?, ?)"
        } else {
            ", (?, ?, ?, ?, ?)"
        };
    }
    sql += " ON CONFLICT (id) DO UPDATE SET status = excluded.status,
           direction = excluded.direction, tm_create = excluded.tm_create, body = excluded.body";
    let mut q = sqlx::query(&sql);
    for c in calls {
        q = q
            .bind(c.id.to_string())
            .bind(c.status.as_str())
            .bind(direction_text(c.direction))
            .bind(ts(&c.tm_create))
            .bind(call_body(c)?);
    }
    q.execute(db).await?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn create_extension(&self, e: &ExtensionSecret) -> Result<(), StoreError> {
        let x = &e.extension;
        let result = sqlx::query(
            "INSERT INTO extensions (id, number, password, name, static_contact, origin, tm_create, tm_update)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(x.id.to_string())
        .bind(&x.extension)
        .bind(&e.password)
        .bind(&x.name)
        .bind(&x.static_contact)
        .bind(origin_text(x.origin))
        .bind(ts(&x.tm_create))
        .bind(ts(&x.tm_update))
        .execute(&self.pool)
        .await;
        result.map(drop).map_err(|err| extension_conflict(err, x))
    }

    async fn update_extension(&self, e: &ExtensionSecret) -> Result<(), StoreError> {
        let x = &e.extension;
        let result = sqlx::query(
            "UPDATE extensions SET number = ?, password = ?, name = ?, static_contact = ?,
             origin = ?, tm_update = ? WHERE id = ?",
        )
        .bind(&x.extension)
        .bind(&e.password)
        .bind(&x.name)
        .bind(&x.static_contact)
        .bind(origin_text(x.origin))
        .bind(ts(&x.tm_update))
        .bind(x.id.to_string())
        .execute(&self.pool)
        .await;
        match result {
            Ok(r) if r.rows_affected() == 0 => Err(StoreError::NotFound),
            Ok(_) => Ok(()),
            Err(err) => Err(extension_conflict(err, x)),
        }
    }

    async fn delete_extension(&self, id: Uuid) -> Result<(), StoreError> {
        let r = sqlx::query("DELETE FROM extensions WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn extension(&self, id: Uuid) -> Result<Option<ExtensionSecret>, StoreError> {
        sqlx::query("SELECT * FROM extensions WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(extension_row)
            .transpose()
    }

    async fn extension_by_number(
        &self,
        number: &str,
    ) -> Result<Option<ExtensionSecret>, StoreError> {
        sqlx::query("SELECT * FROM extensions WHERE number = ?")
            .bind(number)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(extension_row)
            .transpose()
    }

    async fn list_extensions(
        &self,
        page_size: u32,
        page_token: Option<String>,
    ) -> Result<PageOf<Extension>, StoreError> {
        let size = page_limit(page_size);
        let after = match page_token {
            Some(t) => token::decode_extension(&t)?,
            None => String::new(),
        };
        let rows = sqlx::query("SELECT * FROM extensions WHERE number > ? ORDER BY number LIMIT ?")
            .bind(&after)
            .bind(i64::from(size) + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut items = rows
            .iter()
            .map(extension_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next_page_token = if items.len() > size as usize {
            items.truncate(size as usize);
            items
                .last()
                .map(|e| token::encode_extension(&e.extension.extension))
        } else {
            None
        };
        Ok(PageOf {
            items: items.into_iter().map(|e| e.extension).collect(),
            next_page_token,
        })
    }

    async fn all_extensions(&self) -> Result<Vec<ExtensionSecret>, StoreError> {
        sqlx::query("SELECT * FROM extensions ORDER BY number")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(extension_row)
            .collect()
    }

    async fn upsert_call(&self, c: &Call) -> Result<(), StoreError> {
        upsert_call_query(c)?.execute(&self.pool).await?;
        Ok(())
    }

    async fn upsert_calls(&self, calls: &[Call]) -> Result<(), StoreError> {
        // One multi-row statement per chunk: each statement is one trip to
        // sqlx's connection thread, so a batch costs a few trips, not one
        // per call. Rows apply in order (a repeated id: the later wins).
        if calls.len() <= UPSERT_CHUNK {
            return upsert_many(&self.pool, calls).await;
        }
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for chunk in calls.chunks(UPSERT_CHUNK) {
            upsert_many(&mut *tx, chunk).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn call(&self, id: Uuid) -> Result<Option<Call>, StoreError> {
        let row = sqlx::query("SELECT body FROM calls WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| call_from(&r.try_get::<String, _>("body")?))
            .transpose()
    }

    async fn list_calls(&self, f: &CallFilter) -> Result<PageOf<Call>, StoreError> {
        let size = page_limit(f.page_size);
        let mut sql = String::from("SELECT id, tm_create, body FROM calls WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(s) = f.status {
            sql += " AND status = ?";
            binds.push(s.as_str().to_owned());
        }
        if let Some(d) = f.direction {
            sql += " AND direction = ?";
            binds.push(direction_text(d).to_owned());
        }
        if let Some(t) = &f.since {
            sql += " AND tm_create >= ?";
            binds.push(ts(t));
        }
        if let Some(t) = &f.until {
            sql += " AND tm_create < ?";
            binds.push(ts(t));
        }
        let page = (size, f.page_token.as_deref());
        newest_first(&self.pool, sql, binds, token::CALLS, page, |r| {
            call_from(&r.try_get::<String, _>("body")?)
        })
        .await
    }

    async fn fail_active_calls(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let rows = sqlx::query("SELECT body FROM calls WHERE status <> 'hangup'")
            .fetch_all(&mut *tx)
            .await?;
        let mut n = 0;
        for row in rows {
            let mut call = call_from(&row.try_get::<String, _>("body")?)?;
            if call.hang_up(HangupBy::Local, HangupReason::Failed, None, now) {
                sqlx::query("UPDATE calls SET status = ?, body = ? WHERE id = ?")
                    .bind(CallStatus::Hangup.as_str())
                    .bind(call_body(&call)?)
                    .bind(call.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                n += 1;
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn upsert_recording(&self, r: &Recording) -> Result<(), StoreError> {
        let body = serde_json::to_string(r)
            .map_err(|e| StoreError::Database(format!("encode recording: {e}")))?;
        sqlx::query(
            "INSERT INTO recordings (id, call_id, status, tm_create, body) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body",
        )
        .bind(r.id.to_string())
        .bind(r.call_id.to_string())
        .bind(r.status.as_str())
        .bind(ts(&r.tm_start))
        .bind(body)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn recording(&self, id: Uuid) -> Result<Option<Recording>, StoreError> {
        let row = sqlx::query("SELECT body FROM recordings WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| recording_from(&r.try_get::<String, _>("body")?))
            .transpose()
    }

    async fn list_recordings(&self, f: &RecordingFilter) -> Result<PageOf<Recording>, StoreError> {
        let size = page_limit(f.page_size);
        let mut sql = String::from("SELECT id, tm_create, body FROM recordings WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(call) = f.call_id {
            sql += " AND call_id = ?";
            binds.push(call.to_string());
        }
        if let Some(s) = f.status {
            sql += " AND status = ?";
            binds.push(s.as_str().to_owned());
        }
        let page = (size, f.page_token.as_deref());
        newest_first(&self.pool, sql, binds, token::RECORDINGS, page, |r| {
            recording_from(&r.try_get::<String, _>("body")?)
        })
        .await
    }

    async fn unfinished_recordings(&self) -> Result<Vec<Recording>, StoreError> {
        sqlx::query("SELECT body FROM recordings WHERE status = 'recording' ORDER BY tm_create")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| recording_from(&r.try_get::<String, _>("body")?))
            .collect()
    }

    async fn delete_recording(&self, id: Uuid) -> Result<(), StoreError> {
        let r = sqlx::query("DELETE FROM recordings WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn put_resource(
        &self,
        kind: ResourceKind,
        id: Uuid,
        key: &str,
        tm_create: DateTime<Utc>,
        body: &serde_json::Value,
        create: bool,
    ) -> Result<(), StoreError> {
        let text = body.to_string();
        let result = if create {
            sqlx::query(
                "INSERT INTO resources (kind, id, key, tm_create, body) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(kind.as_str())
            .bind(id.to_string())
            .bind(key)
            .bind(ts(&tm_create))
            .bind(text)
            .execute(&self.pool)
            .await
        } else {
            sqlx::query("UPDATE resources SET key = ?, body = ? WHERE kind = ? AND id = ?")
                .bind(key)
                .bind(text)
                .bind(kind.as_str())
                .bind(id.to_string())
                .execute(&self.pool)
                .await
        };
        match result {
            Ok(r) if !create && r.rows_affected() == 0 => Err(StoreError::NotFound),
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("{} {key} already exists", kind.as_str()),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn resource(
        &self,
        kind: ResourceKind,
        id: Uuid,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row = sqlx::query("SELECT body FROM resources WHERE kind = ? AND id = ?")
            .bind(kind.as_str())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| json_from(&r.try_get::<String, _>("body")?))
            .transpose()
    }

    async fn delete_resource(&self, kind: ResourceKind, id: Uuid) -> Result<(), StoreError> {
        let r = sqlx::query("DELETE FROM resources WHERE kind = ? AND id = ?")
            .bind(kind.as_str())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_resources(
        &self,
        kind: ResourceKind,
        page_size: u32,
        page_token: Option<String>,
    ) -> Result<PageOf<serde_json::Value>, StoreError> {
        let size = page_limit(page_size);
        let sql = String::from("SELECT id, tm_create, body FROM resources WHERE kind = ?");
        let page = (size, page_token.as_deref());
        newest_first(
            &self.pool,
            sql,
            vec![kind.as_str().to_owned()],
            kind.as_str(),
            page,
            |r| json_from(&r.try_get::<String, _>("body")?),
        )
        .await
    }

    async fn all_resources(
        &self,
        kind: ResourceKind,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        sqlx::query("SELECT body FROM resources WHERE kind = ? ORDER BY tm_create, id")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| json_from(&r.try_get::<String, _>("body")?))
            .collect()
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // The webhook outbox: `sqlite/webhooks.rs`.

    async fn enqueue_webhook_deliveries(&self, d: &[NewDelivery]) -> Result<(), StoreError> {
        webhooks::enqueue(&self.pool, d).await
    }

    async fn due_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        webhooks::due(&self.pool, now, limit).await
    }

    async fn next_webhook_attempt(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        webhooks::next_attempt(&self.pool, now).await
    }

    async fn record_webhook_attempt(
        &self,
        id: Uuid,
        a: &DeliveryAttempt,
    ) -> Result<(), StoreError> {
        webhooks::record_attempt(&self.pool, id, a).await
    }

    async fn webhook_delivery(&self, id: Uuid) -> Result<Option<WebhookDelivery>, StoreError> {
        webhooks::get(&self.pool, id).await
    }

    async fn list_webhook_deliveries(
        &self,
        f: &DeliveryFilter,
    ) -> Result<PageOf<WebhookDelivery>, StoreError> {
        webhooks::list(&self.pool, f).await
    }

    async fn redeliver_webhook(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<WebhookDelivery, StoreError> {
        webhooks::redeliver(&self.pool, id, now).await
    }
}
