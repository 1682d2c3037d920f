//! The two tasks behind [`WebhookService`](super::WebhookService): the
//! outbox writer (events → store, in batches) and the delivery worker
//! (store → HTTP, lane by lane), and the retry policy they follow.

use super::{Outgoing, Webhooks};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use model::DeliveryStatus;
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use store::{DeliveryAttempt, DueDelivery, NewDelivery, Store};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

/// Requests under way at once (each to a different lane).
pub const MAX_IN_FLIGHT: usize = 16;
/// One attempt: connect, send, and the answer's head.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
/// A delivery still failing this long after its event is `failed` (a
/// redelivered one older than that gets one attempt).
pub const GIVE_UP_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// How long a stop waits for attempts under way.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(2);
/// Most events the writer stores in one transaction.
const WRITE_BATCH: usize = 512;
/// Lane heads fetched per look at the outbox.
const POLL_LIMIT: u32 = 64;
/// The worker looks at the outbox at least this often, whatever it was told.
const IDLE_POLL: Duration = Duration::from_secs(10);
/// How much of a failed answer's body goes into `last_error`.
const ERROR_BODY_BYTES: usize = 200;

/// `t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">`, keyed with the
/// secret's bytes: the contract's `X-Dialtone-Signature`.
pub fn signature_header(secret: &[u8], unix: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length (RFC 2104 §2).
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait after the `attempts`-th failed attempt (1-based): 1 s, 2 s,
/// 4 s... at most [`MAX_RETRY_DELAY`], shortened by up to 20 % by `jitter`
/// (0.0..1.0) so that lanes failing together do not retry together.
pub fn retry_delay(attempts: u32, jitter: f64) -> Duration {
    let doubled = 1u64 << attempts.saturating_sub(1).min(16);
    let base = Duration::from_secs(doubled).min(MAX_RETRY_DELAY);
    base.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0))
}

/// What to record after an attempt of `d` that ended at `now` with
/// `status_code` / `error` (`error: None` is a 2xx).
fn outcome(
    d: &DueDelivery,
    status_code: Option<u16>,
    error: Option<String>,
    now: DateTime<Utc>,
    jitter: f64,
) -> DeliveryAttempt {
    let (status, next_attempt_at) = match &error {
        None => (DeliveryStatus::Delivered, None),
        Some(_) if now - d.tm_create >= GIVE_UP_AFTER => (DeliveryStatus::Failed, None),
        Some(_) => {
            let wait = retry_delay(d.attempts + 1, jitter);
            let wait = chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
            (DeliveryStatus::Pending, Some(now + wait))
        }
    };
    DeliveryAttempt {
        status,
        status_code,
        error,
        next_attempt_at,
        at: now,
    }
}

/// The HTTP client of every attempt: rustls on *ring* (as playback's),
/// [`ATTEMPT_TIMEOUT`], no redirects (a 3xx is a failed attempt), no proxy
/// from the environment.
pub(super) fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(ATTEMPT_TIMEOUT)
        .user_agent("Dialtone")
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| format!("webhook HTTP client: {e}"))
}

/// Stores what the emitter hands on, a batch at a time, and wakes the
/// worker. On stop, stores what is still queued, then ends.
pub(super) async fn writer(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    webhooks: Webhooks,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch = Vec::new();
    loop {
        let open = tokio::select! {
            n = rx.recv_many(&mut batch, WRITE_BATCH) => n > 0,
            _ = stop.changed() => {
                while let Ok(o) = rx.try_recv() {
                    batch.push(o);
                }
                false
            }
        };
        for chunk in batch.chunks(WRITE_BATCH) {
            store_batch(&*store, chunk).await;
        }
        if !batch.is_empty() {
            batch.clear();
            webhooks.wake();
        }
        if !open {
            break;
        }
    }
}

/// One transaction; retried a few times if the database fails (the events
/// are lost, and logged, if it keeps failing).
async fn store_batch(store: &dyn Store, batch: &[Outgoing]) {
    let rows: Vec<NewDelivery> = batch
        .iter()
        .filter_map(|o| {
            let body = serde_json::to_string(&*o.env).ok()?;
            let event_type = serde_json::to_value(o.env.kind).ok()?.as_str()?.to_owned();
            Some(NewDelivery {
                id: Uuid::new_v4(),
                event_id: o.env.event_id,
                event_type,
                call_id: o.call,
                sequence: o.env.sequence,
                url: o.url.to_string(),
                body,
                tm_create: o.env.tm_event,
            })
        })
        .collect();
    for tries in 1.. {
        match store.enqueue_webhook_deliveries(&rows).await {
            Ok(()) => return,
            Err(e) if tries < 3 => {
                tracing::warn!(error = %e, events = rows.len(), "cannot store webhook events; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, events = rows.len(), "webhook events lost: the outbox cannot be written");
                return;
            }
        }
    }
}

/// Events of one call to one URL are one lane; an event of no call is a
/// lane of its own.
type Lane = (String, Uuid);

fn lane(d: &DueDelivery) -> Lane {
    (d.url.clone(), d.call_id.unwrap_or(d.id))
}

/// Sends lane heads as they fall due, [`MAX_IN_FLIGHT`] at once, records
/// each result, and sleeps until the next is due, a completion, a wake or
/// the stop.
pub(super) async fn worker(
    store: Arc<dyn Store>,
    client: reqwest::Client,
    secret: Arc<[u8]>,
    webhooks: Webhooks,
    mut stop: watch::Receiver<bool>,
) {
    let mut in_flight: JoinSet<(DueDelivery, Option<u16>, Option<String>)> = JoinSet::new();
    let mut lanes: HashMap<tokio::task::Id, Lane> = HashMap::new();
    let mut busy: HashSet<Lane> = HashSet::new();
    while !*stop.borrow() {
        let now = Utc::now();
        if in_flight.len() < MAX_IN_FLIGHT {
            match store.due_webhook_deliveries(now, POLL_LIMIT).await {
                Ok(due) => {
                    for d in due {
                        if in_flight.len() >= MAX_IN_FLIGHT {
                            break;
                        }
                        let lane = lane(&d);
                        if busy.contains(&lane) {
                            continue;
                        }
                        busy.insert(lane.clone());
                        let task = in_flight.spawn(attempt(client.clone(), secret.clone(), d));
                        lanes.insert(task.id(), lane);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the webhook outbox");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        let next = store.next_webhook_attempt(now).await.ok().flatten();
        let sleep = next
            .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(IDLE_POLL)
            .min(IDLE_POLL);
        tokio::select! {
            Some(done) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                finish(&*store, done, &mut lanes, &mut busy).await;
                while let Some(done) = in_flight.try_join_next_with_id() {
                    finish(&*store, done, &mut lanes, &mut busy).await;
                }
            }
            () = webhooks.inner.wake.notified() => {}
            () = tokio::time::sleep(sleep) => {}
            changed = stop.changed() => {
                // The service was dropped without `stop`: stop too.
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    // Stopping: attempts under way get a moment to finish and be recorded.
    let grace = tokio::time::sleep(STOP_GRACE);
    tokio::pin!(grace);
    while !in_flight.is_empty() {
        tokio::select! {
            Some(done) = in_flight.join_next_with_id() => {
                finish(&*store, done, &mut lanes, &mut busy).await;
            }
            () = &mut grace => break,
        }
    }
    in_flight.abort_all();
}

type Done =
    Result<(tokio::task::Id, (DueDelivery, Option<u16>, Option<String>)), tokio::task::JoinError>;

/// Records a finished attempt and frees its lane.
async fn finish(
    store: &dyn Store,
    done: Done,
    lanes: &mut HashMap<tokio::task::Id, Lane>,
    busy: &mut HashSet<Lane>,
) {
    let id = match &done {
        Ok((id, _)) => *id,
        Err(e) => e.id(),
    };
    if let Some(lane) = lanes.remove(&id) {
        busy.remove(&lane);
    }
    let Ok((_, (d, status_code, error))) = done else {
        // A panicked attempt: the row stays pending and is tried again.
        return;
    };
    let result = outcome(&d, status_code, error, Utc::now(), rand::random());
    if result.status != DeliveryStatus::Delivered {
        tracing::debug!(delivery = %d.id, url = %d.url, error = ?result.error, status = ?result.status, "webhook attempt failed");
    }
    if let Err(e) = store.record_webhook_attempt(d.id, &result).await {
        // The row stays as it was: it is sent again (at least once).
        tracing::error!(delivery = %d.id, error = %e, "cannot record a webhook attempt");
    }
}

/// One POST of `d`'s stored body, signed now. `(status code, error)`:
/// no error for a 2xx.
async fn attempt(
    client: reqwest::Client,
    secret: Arc<[u8]>,
    d: DueDelivery,
) -> (DueDelivery, Option<u16>, Option<String>) {
    let signature = signature_header(&secret, Utc::now().timestamp(), d.body.as_bytes());
    let sent = client
        .post(&d.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Dialtone-Signature", signature)
        .header("X-Dialtone-Event-Id", d.event_id.to_string())
        .body(d.body.clone())
        .send()
        .await;
    let (code, error) = match sent {
        Ok(resp) if resp.status().is_success() => (Some(resp.status().as_u16()), None),
        Ok(mut resp) => {
            let status = resp.status();
            let mut body = Vec::new();
            while body.len() < ERROR_BODY_BYTES {
                match resp.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            body.truncate(ERROR_BODY_BYTES);
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            let mut error = format!("HTTP {status}");
            if !text.is_empty() {
                error += ": ";
                error += text;
            }
            (Some(status.as_u16()), Some(error))
        }
        Err(e) => (None, Some(describe(&e))),
    };
    (d, code, error)
}

/// A failed request in words: a timeout, or the innermost causes (the
/// connection refused, the name not found...).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs());
    }
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_dot_body() {
        // Computed apart, with Python's hmac module.
        let body = br#"{"type":"call_created","sequence":1}"#;
        assert_eq!(
            signature_header(b"whsec-test-0123456789", 1_800_000_000, body),
            "t=1800000000,v1=831ebd81e13384a6fa94999237c07ca7f0ef82f0d2983fc304e2c852d9a96615"
        );
    }

    #[test]
    fn retries_double_from_one_second_to_a_minute_with_jitter_below() {
        let secs: Vec<u64> = (1..=9).map(|n| retry_delay(n, 0.0).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_delay(1000, 0.0), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(1, 1.0), Duration::from_millis(800));
        assert!(retry_delay(7, 0.5) < MAX_RETRY_DELAY);
    }

    fn due(attempts: u32, created: DateTime<Utc>) -> DueDelivery {
        DueDelivery {
            id: Uuid::from_u128(1),
            event_id: Uuid::from_u128(2),
            call_id: None,
            sequence: 1,
            url: "http://127.0.0.1:9/".into(),
            body: "{}".into(),
            attempts,
            tm_create: created,
        }
    }

    #[test]
    fn a_failure_is_retried_until_a_day_after_the_event_then_failed() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let ok = outcome(&due(0, t0), Some(204), None, t0, 0.0);
        assert_eq!(
            (ok.status, ok.next_attempt_at),
            (DeliveryStatus::Delivered, None)
        );
        let err = || Some("HTTP 500 Internal Server Error".to_owned());
        let r = outcome(&due(0, t0), Some(500), err(), t0, 0.0);
        assert_eq!(r.status, DeliveryStatus::Pending);
        assert_eq!(r.next_attempt_at, Some(t0 + chrono::TimeDelta::seconds(1)));
        assert_eq!(r.status_code, Some(500));
        let r = outcome(&due(3, t0), None, err(), t0, 0.0);
        assert_eq!(r.next_attempt_at, Some(t0 + chrono::TimeDelta::seconds(8)));
        let late = t0 + GIVE_UP_AFTER;
        let r = outcome(&due(1400, t0), None, err(), late, 0.0);
        assert_eq!(
            (r.status, r.next_attempt_at),
            (DeliveryStatus::Failed, None)
        );
        assert_eq!(r.error, err());
    }
}
