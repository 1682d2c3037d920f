//! The webhook outbox on SQLite (table `webhook_deliveries`, migration
//! 0003). Timestamps are the fixed-width text of [`ts`], so `<=` on
//! `next_attempt_at` compares times.

use super::{newest_first, parse_ts, parse_uuid, ts, BEGIN_WRITE};
use crate::token;
use crate::StoreError;
use crate::{page_limit, DeliveryAttempt, DeliveryFilter, DueDelivery, NewDelivery, PageOf};
use chrono::{DateTime, Utc};
use model::{DeliveryStatus, WebhookDelivery};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

/// The resource's columns (everything but `body`).
const COLUMNS: &str = "id, event_id, event_type, call_id, sequence, url, status, attempts, \
     next_attempt_at, last_status_code, last_error, tm_create, tm_update";

/// Rows per multi-row insert (8 parameters each).
const INSERT_CHUNK: usize = 64;

pub(super) async fn enqueue(pool: &SqlitePool, d: &[NewDelivery]) -> Result<(), StoreError> {
    if d.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    for chunk in d.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO webhook_deliveries (id, event_id, event_type, call_id, sequence, url, \
             body, status, attempts, next_attempt_at, tm_create, tm_update) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql += ", ";
            }
            sql += "(?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)";
        }
        let mut q = sqlx::query(&sql);
        for n in chunk {
            let at = ts(&n.tm_create);
            q = q
                .bind(n.id.to_string())
                .bind(n.event_id.to_string())
                .bind(&n.event_type)
                .bind(n.call_id.map(|c| c.to_string()))
                .bind(sequence(n.sequence)?)
                .bind(&n.url)
                .bind(&n.body)
                .bind(at.clone())
                .bind(at.clone())
                .bind(at);
        }
        q.execute(&mut *tx).await.map_err(|e| {
            if super::is_unique_violation(&e) {
                StoreError::Conflict("a webhook delivery with this id already exists".into())
            } else {
                e.into()
            }
        })?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn due(
    pool: &SqlitePool,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<DueDelivery>, StoreError> {
    // A lane is (url, call_id); `call_id = NULL` matches nothing, so an
    // event of no call never waits for another.
    sqlx::query(
        "SELECT id, event_id, call_id, sequence, url, body, attempts, tm_create
         FROM webhook_deliveries d
         WHERE status = 'pending' AND next_attempt_at <= ?
           AND NOT EXISTS (
             SELECT 1 FROM webhook_deliveries p
             WHERE p.status = 'pending' AND p.url = d.url AND p.call_id = d.call_id
               AND (p.sequence < d.sequence OR (p.sequence = d.sequence AND p.id < d.id)))
         ORDER BY next_attempt_at, tm_create, id
         LIMIT ?",
    )
    .bind(ts(&now))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(DueDelivery {
            id: parse_uuid(&r.try_get::<String, _>("id")?)?,
            event_id: parse_uuid(&r.try_get::<String, _>("event_id")?)?,
            call_id: r
                .try_get::<Option<String>, _>("call_id")?
                .as_deref()
                .map(parse_uuid)
                .transpose()?,
            sequence: r.try_get::<i64, _>("sequence")?.max(0) as u64,
            url: r.try_get("url")?,
            body: r.try_get("body")?,
            attempts: r.try_get::<i64, _>("attempts")?.clamp(0, u32::MAX.into()) as u32,
            tm_create: parse_ts(&r.try_get::<String, _>("tm_create")?)?,
        })
    })
    .collect()
}

pub(super) async fn next_attempt(
    pool: &SqlitePool,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let next: Option<String> = sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at > ?",
    )
    .bind(ts(&now))
    .fetch_one(pool)
    .await?;
    next.as_deref().map(parse_ts).transpose()
}

pub(super) async fn record_attempt(
    pool: &SqlitePool,
    id: Uuid,
    a: &DeliveryAttempt,
) -> Result<(), StoreError> {
    let r = sqlx::query(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?,
           last_status_code = ?, last_error = ?,
           next_attempt_at = COALESCE(?, next_attempt_at), tm_update = ?
         WHERE id = ?",
    )
    .bind(a.status.as_str())
    .bind(a.status_code.map(i64::from))
    .bind(&a.error)
    .bind(a.next_attempt_at.as_ref().map(ts))
    .bind(ts(&a.at))
    .bind(id.to_string())
    .execute(pool)
    .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn get(
    pool: &SqlitePool,
    id: Uuid,
) -> Result<Option<WebhookDelivery>, StoreError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries WHERE id = ?"
    ))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(delivery_row)
    .transpose()
}

pub(super) async fn list(
    pool: &SqlitePool,
    f: &DeliveryFilter,
) -> Result<PageOf<WebhookDelivery>, StoreError> {
    let size = page_limit(f.page_size);
    let mut sql = format!("SELECT {COLUMNS} FROM webhook_deliveries WHERE 1 = 1");
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
    newest_first(pool, sql, binds, token::DELIVERIES, page, delivery_row).await
}

pub(super) async fn redeliver(
    pool: &SqlitePool,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<WebhookDelivery, StoreError> {
    let at = ts(&now);
    let row = sqlx::query(&format!(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, tm_update = ?
         WHERE id = ? RETURNING {COLUMNS}"
    ))
    .bind(&at)
    .bind(&at)
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    match row {
        Some(r) => delivery_row(&r),
        None => Err(StoreError::NotFound),
    }
}

fn sequence(s: u64) -> Result<i64, StoreError> {
    i64::try_from(s).map_err(|_| StoreError::Database(format!("sequence {s} out of range")))
}

fn delivery_row(r: &SqliteRow) -> Result<WebhookDelivery, StoreError> {
    let status_text: String = r.try_get("status")?;
    let status = DeliveryStatus::parse(&status_text)
        .ok_or_else(|| StoreError::Database(format!("bad delivery status {status_text:?}")))?;
    let next: String = r.try_get("next_attempt_at")?;
    Ok(WebhookDelivery {
        id: parse_uuid(&r.try_get::<String, _>("id")?)?,
        event_id: parse_uuid(&r.try_get::<String, _>("event_id")?)?,
        event_type: r.try_get("event_type")?,
        call_id: r
            .try_get::<Option<String>, _>("call_id")?
            .as_deref()
            .map(parse_uuid)
            .transpose()?,
        sequence: r.try_get::<i64, _>("sequence")?.max(0) as u64,
        url: r.try_get("url")?,
        status,
        attempts: r.try_get::<i64, _>("attempts")?.clamp(0, u32::MAX.into()) as u32,
        last_status_code: r
            .try_get::<Option<i64>, _>("last_status_code")?
            .and_then(|c| u16::try_from(c).ok()),
        last_error: r.try_get("last_error")?,
        next_attempt_at: match status {
            DeliveryStatus::Pending => Some(parse_ts(&next)?),
            _ => None,
        },
        tm_create: parse_ts(&r.try_get::<String, _>("tm_create")?)?,
        tm_update: parse_ts(&r.try_get::<String, _>("tm_update")?)?,
    })
}
