//! The webhook outbox: lanes (a call's events are due one at a time, in
//! sequence order), attempts, redelivery, listing with filters and keyset
//! pages, and a restart that keeps what was pending. On the in-memory and
//! the on-disk database, through `dyn Store`.

use chrono::{DateTime, Utc};
use model::{DeliveryStatus, Uuid};
use std::path::PathBuf;
use std::sync::Arc;
use store::{DeliveryAttempt, DeliveryFilter, NewDelivery, SqliteStore, Store, StoreError};

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

const URL: &str = "https://hooks.example.com/dialtone";

fn event(call: Option<Uuid>, sequence: u64, at: i64) -> NewDelivery {
    let event_id = Uuid::new_v4();
    NewDelivery {
        id: Uuid::new_v4(),
        event_id,
        event_type: "call_updated".into(),
        call_id: call,
        sequence,
        url: URL.into(),
        body: format!(r#"{{"type":"call_updated","event_id":"{event_id}","sequence":{sequence}}}"#),
        tm_create: t(at),
    }
}

fn delivered(at: i64) -> DeliveryAttempt {
    DeliveryAttempt {
        status: DeliveryStatus::Delivered,
        status_code: Some(204),
        error: None,
        next_attempt_at: None,
        at: t(at),
    }
}

fn retry(at: i64, code: Option<u16>, error: &str, next: i64) -> DeliveryAttempt {
    DeliveryAttempt {
        status: DeliveryStatus::Pending,
        status_code: code,
        error: Some(error.into()),
        next_attempt_at: Some(t(next)),
        at: t(at),
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        TempDir(std::env::temp_dir().join(format!("dialtone-outbox-{}/data", Uuid::new_v4())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

async fn stores() -> Vec<(Arc<dyn Store>, Option<TempDir>)> {
    let dir = TempDir::new();
    let disk = SqliteStore::open(&dir.0).await.unwrap();
    let memory = SqliteStore::open_in_memory().await.unwrap();
    vec![(Arc::new(memory), None), (Arc::new(disk), Some(dir))]
}

/// The ids `due_webhook_deliveries` returns at `now`.
async fn due(s: &dyn Store, now: i64) -> Vec<Uuid> {
    s.due_webhook_deliveries(t(now), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect()
}

#[tokio::test]
async fn a_lane_is_due_one_event_at_a_time_in_sequence_order() {
    for (s, _dir) in stores().await {
        lanes_on(&*s).await;
    }
}

async fn lanes_on(s: &dyn Store) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    // Enqueued out of order within call a: the sequence decides.
    let a2 = event(Some(a), 2, 0);
    let a1 = event(Some(a), 1, 0);
    let a3 = event(Some(a), 3, 1);
    let b1 = event(Some(b), 1, 0);
    let mut a1_other_url = event(Some(a), 1, 0);
    a1_other_url.url = "http://127.0.0.1:9/other".into();
    let none1 = event(None, 1, 0);
    let none2 = event(None, 1, 0);
    s.enqueue_webhook_deliveries(&[
        a2.clone(),
        a1.clone(),
        a3.clone(),
        b1.clone(),
        a1_other_url.clone(),
        none1.clone(),
        none2.clone(),
    ])
    .await
    .unwrap();
    // Nothing is due before it was created.
    assert!(due(s, -1).await.is_empty());
    // One head per (url, call) lane; events of no call are each their own.
    let mut heads = due(s, 0).await;
    heads.sort();
    let mut want = vec![a1.id, b1.id, a1_other_url.id, none1.id, none2.id];
    want.sort();
    assert_eq!(heads, want);
    let got = s.due_webhook_deliveries(t(0), 100).await.unwrap();
    let d = got.iter().find(|d| d.id == a1.id).unwrap();
    assert_eq!(
        (
            d.event_id,
            d.call_id,
            d.sequence,
            d.url.as_str(),
            &d.body,
            d.attempts
        ),
        (a1.event_id, Some(a), 1, URL, &a1.body, 0)
    );
    assert_eq!(s.due_webhook_deliveries(t(0), 2).await.unwrap().len(), 2);

    // a1 fails: a retry later keeps the lane waiting, the other lanes go on.
    s.record_webhook_attempt(a1.id, &retry(1, Some(500), "HTTP 500", 3))
        .await
        .unwrap();
    assert!(!due(s, 2).await.contains(&a1.id));
    assert!(!due(s, 2).await.contains(&a2.id), "a2 waits for a1");
    assert_eq!(s.next_webhook_attempt(t(2)).await.unwrap(), Some(t(3)));
    assert!(due(s, 3).await.contains(&a1.id));
    let d = s.webhook_delivery(a1.id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(d.attempts, 1);
    assert_eq!(d.last_status_code, Some(500));
    assert_eq!(d.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(d.next_attempt_at, Some(t(3)));
    assert_eq!(d.tm_update, t(1));

    // a1 delivered: a2 is next, then (given up on) a3's turn.
    s.record_webhook_attempt(a1.id, &delivered(4))
        .await
        .unwrap();
    let d = s.webhook_delivery(a1.id).await.unwrap().unwrap();
    assert_eq!(
        (
            d.status,
            d.attempts,
            d.last_status_code,
            d.last_error,
            d.next_attempt_at
        ),
        (DeliveryStatus::Delivered, 2, Some(204), None, None)
    );
    assert!(due(s, 4).await.contains(&a2.id));
    assert!(!due(s, 4).await.contains(&a3.id));
    let gave_up = DeliveryAttempt {
        status: DeliveryStatus::Failed,
        status_code: None,
        error: Some("connection refused".into()),
        next_attempt_at: None,
        at: t(5),
    };
    s.record_webhook_attempt(a2.id, &gave_up).await.unwrap();
    assert!(
        due(s, 5).await.contains(&a3.id),
        "a failed event frees its lane"
    );
    let d = s.webhook_delivery(a2.id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.last_error.as_deref(), Some("connection refused"));

    // Redelivery: the failed a2 is pending again, due now, first in its
    // lane again (a3 waits).
    let d = s.redeliver_webhook(a2.id, t(6)).await.unwrap();
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(d.next_attempt_at, Some(t(6)));
    assert_eq!(d.attempts, 1, "the count goes on");
    let heads = due(s, 6).await;
    assert!(
        heads.contains(&a2.id) && !heads.contains(&a3.id),
        "{heads:?}"
    );
    // A delivered one can be sent again too.
    let d = s.redeliver_webhook(a1.id, t(7)).await.unwrap();
    assert_eq!(
        (d.status, d.event_id),
        (DeliveryStatus::Pending, a1.event_id)
    );

    let unknown = Uuid::new_v4();
    assert_eq!(
        s.redeliver_webhook(unknown, t(7)).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        s.record_webhook_attempt(unknown, &delivered(7)).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(s.webhook_delivery(unknown).await.unwrap(), None);
    // Ids are unique: a batch with a taken one adds nothing.
    let fresh = event(Some(b), 2, 8);
    assert!(matches!(
        s.enqueue_webhook_deliveries(&[fresh.clone(), a1.clone()])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.webhook_delivery(fresh.id).await.unwrap(), None);
}

#[tokio::test]
async fn deliveries_list_newest_first_with_filters_and_pages() {
    for (s, _dir) in stores().await {
        list_on(&*s).await;
    }
}

async fn list_on(s: &dyn Store) {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    // 130 rows: more than one insert chunk.
    let rows: Vec<NewDelivery> = (0..130)
        .map(|i| event(Some(if i % 2 == 0 { a } else { b }), i / 2 + 1, i as i64))
        .collect();
    s.enqueue_webhook_deliveries(&rows).await.unwrap();
    for r in rows.iter().filter(|r| r.call_id == Some(a)).take(10) {
        s.record_webhook_attempt(r.id, &delivered(200))
            .await
            .unwrap();
    }
    let all = |f: DeliveryFilter| async move {
        let mut f = f;
        let mut out = Vec::new();
        loop {
            let page = s.list_webhook_deliveries(&f).await.unwrap();
            assert!(page.items.len() <= f.page_size as usize);
            out.extend(page.items);
            match page.next_page_token {
                Some(tok) => f.page_token = Some(tok),
                None => return out,
            }
        }
    };
    let every = all(DeliveryFilter {
        page_size: 7,
        ..DeliveryFilter::default()
    })
    .await;
    assert_eq!(every.len(), 130);
    assert!(
        every.windows(2).all(|w| w[0].tm_create >= w[1].tm_create),
        "newest first"
    );
    assert_eq!(every[0].id, rows[129].id);
    let of_a = all(DeliveryFilter {
        call_id: Some(a),
        page_size: 9,
        ..DeliveryFilter::default()
    })
    .await;
    assert_eq!(of_a.len(), 65);
    assert!(of_a.iter().all(|d| d.call_id == Some(a)));
    let done = all(DeliveryFilter {
        status: Some(DeliveryStatus::Delivered),
        ..DeliveryFilter::default()
    })
    .await;
    assert_eq!(done.len(), 10);
    let pending_of_b = all(DeliveryFilter {
        status: Some(DeliveryStatus::Pending),
        call_id: Some(b),
        page_size: 500,
        ..DeliveryFilter::default()
    })
    .await;
    assert_eq!(pending_of_b.len(), 65);
    let first = &pending_of_b[64];
    assert_eq!(
        (
            first.event_type.as_str(),
            first.sequence,
            first.url.as_str(),
            first.attempts
        ),
        ("call_updated", 1, URL, 0)
    );
    assert_eq!(first.next_attempt_at, Some(first.tm_create));
    // Another listing's token is refused.
    let bad = DeliveryFilter {
        page_token: Some(hex_token(
            "c1|2027-01-15T08:00:00.000000Z|00000000-0000-0000-0000-000000000000",
        )),
        ..DeliveryFilter::default()
    };
    assert_eq!(
        s.list_webhook_deliveries(&bad).await,
        Err(StoreError::InvalidPageToken)
    );
}

fn hex_token(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// What was pending when the process stopped is pending (and due) when
/// the database is opened again; what was delivered stays delivered.
#[tokio::test]
async fn pending_deliveries_survive_a_restart() {
    let dir = TempDir::new();
    let call = Uuid::new_v4();
    let (e1, e2) = (event(Some(call), 1, 0), event(Some(call), 2, 0));
    {
        let s = SqliteStore::open(&dir.0).await.unwrap();
        s.enqueue_webhook_deliveries(&[e1.clone(), e2.clone()])
            .await
            .unwrap();
        s.record_webhook_attempt(e1.id, &delivered(1))
            .await
            .unwrap();
    }
    let s = SqliteStore::open(&dir.0).await.unwrap();
    assert_eq!(due(&s, 2).await, vec![e2.id]);
    let d = s.due_webhook_deliveries(t(2), 1).await.unwrap().remove(0);
    assert_eq!(d.body, e2.body, "the exact bytes");
    assert_eq!(
        s.webhook_delivery(e1.id).await.unwrap().unwrap().status,
        DeliveryStatus::Delivered
    );
    assert_eq!(s.next_webhook_attempt(t(2)).await.unwrap(), None);
}
