//! The SQLite store as the server uses it: extensions, call records with
//! filters and pagination, restart behaviour, concurrency.

use chrono::{DateTime, Duration, Utc};
use model::*;
use store::{CallFilter, SqliteStore, Store, StoreError};

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn ext(number: &str) -> ExtensionSecret {
    ExtensionSecret {
        extension: Extension {
            id: Uuid::new_v4(),
            extension: number.into(),
            name: format!("Phone {number}"),
            static_contact: None,
            origin: Origin::Api,
            tm_create: t(0),
            tm_update: t(0),
        },
        password: "password1".into(),
    }
}

fn call(at: i64, dir: Direction) -> Call {
    Call::new(
        Uuid::new_v4(),
        dir,
        Address::extension("100").with_name("Alice"),
        Address::extension("200"),
        format!("sip-{at}"),
        t(at),
    )
}

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("dialtone-store-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn extensions_crud_and_conflicts() {
    let s = SqliteStore::open_in_memory().await.unwrap();
    let mut a = ext("100");
    s.create_extension(&a).await.unwrap();
    let dup = ext("100");
    assert!(matches!(
        s.create_extension(&dup).await,
        Err(StoreError::Conflict(m)) if m.contains("100")
    ));
    a.password = "changed-pw".into();
    a.extension.static_contact = Some("sip:192.0.2.1:5060".into());
    s.update_extension(&a).await.unwrap();
    assert_eq!(s.extension(a.extension.id).await.unwrap(), Some(a.clone()));
    assert_eq!(s.extension_by_number("100").await.unwrap(), Some(a.clone()));
    assert_eq!(
        s.update_extension(&ext("999")).await,
        Err(StoreError::NotFound)
    );
    for n in ["101", "102", "103"] {
        s.create_extension(&ext(n)).await.unwrap();
    }
    let p1 = s.list_extensions(3, None).await.unwrap();
    let numbers: Vec<_> = p1.items.iter().map(|e| e.extension.as_str()).collect();
    assert_eq!(numbers, ["100", "101", "102"]);
    let p2 = s.list_extensions(3, p1.next_page_token).await.unwrap();
    assert_eq!(p2.items.len(), 1);
    assert!(p2.next_page_token.is_none());
    s.delete_extension(a.extension.id).await.unwrap();
    assert_eq!(
        s.delete_extension(a.extension.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(s.all_extensions().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_call_with_every_field_round_trips() {
    let s = SqliteStore::open_in_memory().await.unwrap();
    let mut c = call(5, Direction::Incoming);
    c.set_status(CallStatus::Ringing, t(6)).unwrap();
    c.set_status(CallStatus::Progressing, t(7)).unwrap();
    c.master_call_id = Some(Uuid::new_v4());
    c.chained_call_ids = vec![Uuid::new_v4(), Uuid::new_v4()];
    c.recording_id = Some(Uuid::new_v4());
    c.recording_ids = vec![c.recording_id.unwrap()];
    c.mute_direction = Some(MuteDirection::Both);
    c.tm_update = t(7) + Duration::microseconds(123);
    s.upsert_call(&c).await.unwrap();
    assert_eq!(s.call(c.id).await.unwrap(), Some(c.clone()));
    c.hang_up(HangupBy::Remote, HangupReason::Normal, Some(200), t(9));
    s.upsert_call(&c).await.unwrap();
    assert_eq!(s.call(c.id).await.unwrap(), Some(c));
}

#[tokio::test]
async fn filters_and_keyset_pagination() {
    let s = SqliteStore::open_in_memory().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..120 {
        let dir = if i % 2 == 0 {
            Direction::Incoming
        } else {
            Direction::Outgoing
        };
        // Pairs share a timestamp, as a master and its chained call do.
        let mut c = call(i / 2, dir);
        if i % 3 == 0 {
            c.hang_up(HangupBy::Local, HangupReason::Busy, Some(486), t(100));
        }
        s.upsert_call(&c).await.unwrap();
        ids.push(c.id);
    }
    let mut seen = Vec::new();
    let mut f = CallFilter {
        page_size: 50,
        ..Default::default()
    };
    let mut sizes = Vec::new();
    loop {
        let page = s.list_calls(&f).await.unwrap();
        sizes.push(page.items.len());
        seen.extend(page.items);
        match page.next_page_token {
            Some(tok) => f.page_token = Some(tok),
            None => break,
        }
    }
    assert_eq!(sizes, [50, 50, 20]);
    let mut unique: Vec<_> = seen.iter().map(|c| c.id).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 120, "no duplicates, none missing");
    assert!(
        seen.windows(2).all(|w| w[0].tm_create >= w[1].tm_create),
        "newest first"
    );

    let only = |status, direction| CallFilter {
        status,
        direction,
        page_size: 500,
        ..Default::default()
    };
    let hung = s
        .list_calls(&only(Some(CallStatus::Hangup), None))
        .await
        .unwrap();
    assert_eq!(hung.items.len(), 40);
    let out = s
        .list_calls(&only(None, Some(Direction::Outgoing)))
        .await
        .unwrap();
    assert_eq!(out.items.len(), 60);
    let window = CallFilter {
        since: Some(t(10)),
        until: Some(t(20)),
        page_size: 500,
        ..Default::default()
    };
    assert_eq!(s.list_calls(&window).await.unwrap().items.len(), 20);
    let bad = CallFilter {
        page_token: Some("zz".into()),
        ..Default::default()
    };
    assert_eq!(s.list_calls(&bad).await, Err(StoreError::InvalidPageToken));
}

#[tokio::test]
async fn restart_keeps_calls_and_fails_the_active_ones() {
    let dir = temp_dir();
    let (done, active) = {
        let s = SqliteStore::open(&dir).await.unwrap();
        let mut done = call(1, Direction::Incoming);
        done.hang_up(HangupBy::Remote, HangupReason::Normal, Some(200), t(3));
        let mut active = call(2, Direction::Outgoing);
        active.set_status(CallStatus::Progressing, t(3)).unwrap();
        s.upsert_call(&done).await.unwrap();
        s.upsert_call(&active).await.unwrap();
        s.set_meta("api_key", "secret").await.unwrap();
        (done, active)
    };
    let s = SqliteStore::open(&dir).await.unwrap();
    assert_eq!(s.fail_active_calls(t(50)).await.unwrap(), 1);
    assert_eq!(s.call(done.id).await.unwrap(), Some(done));
    let a = s.call(active.id).await.unwrap().unwrap();
    assert_eq!(a.status, CallStatus::Hangup);
    assert_eq!(
        (a.hangup_by, a.hangup_reason),
        (Some(HangupBy::Local), Some(HangupReason::Failed))
    );
    assert_eq!(a.tm_hangup, Some(t(50)));
    assert_eq!(s.meta("api_key").await.unwrap().as_deref(), Some("secret"));
    assert_eq!(s.fail_active_calls(t(60)).await.unwrap(), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_do_not_fail() {
    let dir = temp_dir();
    let s = std::sync::Arc::new(SqliteStore::open(&dir).await.unwrap());
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..200 {
                let mut c = call(w * 1000 + i, Direction::Incoming);
                s.upsert_call(&c).await.unwrap();
                c.set_status(CallStatus::Ringing, t(w * 1000 + i + 1))
                    .unwrap();
                s.upsert_call(&c).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "3200 upserts from 8 tasks in {secs:.2} s: {:.0} upserts/s (on-disk, WAL)",
        3200.0 / secs
    );
    let all = s
        .list_calls(&CallFilter {
            page_size: 500,
            status: Some(CallStatus::Ringing),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 500);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_batch_is_applied_in_order() {
    let dir = temp_dir();
    let s = SqliteStore::open(&dir).await.unwrap();
    let mut batch = Vec::new();
    for i in 0..300 {
        let mut c = call(i, Direction::Incoming);
        batch.push(c.clone());
        c.set_status(CallStatus::Ringing, t(i + 1)).unwrap();
        batch.push(c);
    }
    let started = std::time::Instant::now();
    s.upsert_calls(&batch).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "600 upserts in one batch: {:.0} upserts/s (on-disk, WAL)",
        600.0 / secs
    );
    let ringing = s
        .list_calls(&CallFilter {
            status: Some(CallStatus::Ringing),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ringing.items.len(),
        300,
        "the later state of each call wins"
    );
    let _ = std::fs::remove_dir_all(dir);
}
