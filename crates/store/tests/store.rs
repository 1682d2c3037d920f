//! The SQLite store as the server uses it: extensions, call records with
//! filters and pagination, restart behaviour, concurrency. The behaviour
//! tests run on both the in-memory and the on-disk database, through
//! `dyn Store` as the server holds it.

use chrono::{DateTime, Duration, Utc};
use model::*;
use std::path::PathBuf;
use std::sync::Arc;
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

/// A fresh directory under the system temp dir (not created: `open` must
/// create it), removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        TempDir(std::env::temp_dir().join(format!("dialtone-store-{}/data", Uuid::new_v4())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

/// The same empty schema in memory and on disk.
async fn stores() -> Vec<(Arc<dyn Store>, Option<TempDir>)> {
    let dir = TempDir::new();
    let disk = SqliteStore::open(&dir.0).await.unwrap();
    let memory = SqliteStore::open_in_memory().await.unwrap();
    vec![(Arc::new(memory), None), (Arc::new(disk), Some(dir))]
}

#[tokio::test]
async fn extensions_crud_and_conflicts() {
    for (s, _dir) in stores().await {
        extensions_crud_and_conflicts_on(&*s).await;
    }
}

async fn extensions_crud_and_conflicts_on(s: &dyn Store) {
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
    assert_eq!(s.extension_by_number("999").await.unwrap(), None);
    assert_eq!(s.extension(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        s.update_extension(&ext("999")).await,
        Err(StoreError::NotFound)
    );
    for n in ["103", "101", "102"] {
        let mut e = ext(n);
        e.extension.origin = Origin::Config;
        s.create_extension(&e).await.unwrap();
    }
    let mut renamed = a.clone();
    renamed.extension.extension = "101".into();
    assert!(matches!(
        s.update_extension(&renamed).await,
        Err(StoreError::Conflict(m)) if m.contains("101")
    ));
    let mut same_id = ext("555");
    same_id.extension.id = a.extension.id;
    assert!(matches!(
        s.create_extension(&same_id).await,
        Err(StoreError::Conflict(m)) if m.contains("id")
    ));

    let p1 = s.list_extensions(3, None).await.unwrap();
    let numbers: Vec<_> = p1.items.iter().map(|e| e.extension.as_str()).collect();
    assert_eq!(numbers, ["100", "101", "102"]);
    assert_eq!(p1.items[1].origin, Origin::Config);
    let p2 = s.list_extensions(3, p1.next_page_token).await.unwrap();
    assert_eq!(p2.items.len(), 1);
    assert!(p2.next_page_token.is_none());
    assert_eq!(
        s.list_extensions(0, None).await.unwrap().items.len(),
        4,
        "0 is the default size"
    );
    assert_eq!(
        s.list_extensions(3, Some("not-a-token".into())).await,
        Err(StoreError::InvalidPageToken)
    );

    s.delete_extension(a.extension.id).await.unwrap();
    assert_eq!(
        s.delete_extension(a.extension.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(s.extension(a.extension.id).await.unwrap(), None);
    let all = s.all_extensions().await.unwrap();
    let numbers: Vec<_> = all.iter().map(|e| e.extension.extension.as_str()).collect();
    assert_eq!(numbers, ["101", "102", "103"]);
    assert!(all.iter().all(|e| e.password == "password1"));
}

#[tokio::test]
async fn a_call_with_every_field_round_trips() {
    for (s, _dir) in stores().await {
        a_call_with_every_field_round_trips_on(&*s).await;
    }
}

async fn a_call_with_every_field_round_trips_on(s: &dyn Store) {
    assert_eq!(s.call(Uuid::new_v4()).await.unwrap(), None);
    let mut c = call(5, Direction::Incoming);
    c.source = Address::tel("+15551234567").with_name("Bob | \"B\" ü");
    c.destination = Address::sip("sip:carol@example.com;transport=tcp");
    c.set_status(CallStatus::Ringing, t(6)).unwrap();
    c.set_status(CallStatus::Progressing, t(7)).unwrap();
    c.master_call_id = Some(Uuid::new_v4());
    c.chained_call_ids = vec![Uuid::new_v4(), Uuid::new_v4()];
    c.recording_id = Some(Uuid::new_v4());
    c.recording_ids = vec![Uuid::new_v4(), c.recording_id.unwrap()];
    c.mute_direction = Some(MuteDirection::Both);
    c.sip_call_id = "a84b4c76e66710@pc33.example.com".into();
    c.tm_update = t(7) + Duration::nanoseconds(123_456_789);
    s.upsert_call(&c).await.unwrap();
    assert_eq!(s.call(c.id).await.unwrap(), Some(c.clone()));
    c.hang_up(HangupBy::Remote, HangupReason::Normal, Some(200), t(9));
    s.upsert_call(&c).await.unwrap();
    let back = s.call(c.id).await.unwrap().unwrap();
    assert_eq!(back, c);
    assert!(back.hangup_by.is_some() && back.hangup_reason.is_some() && back.sip_code.is_some());
    assert!(back.tm_ringing.is_some() && back.tm_progressing.is_some() && back.tm_hangup.is_some());
    let listed = s
        .list_calls(&CallFilter {
            status: Some(CallStatus::Hangup),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.items, [c], "the upsert moved the index columns too");
}

#[tokio::test]
async fn filters_and_keyset_pagination() {
    for (s, _dir) in stores().await {
        filters_and_keyset_pagination_on(&*s).await;
    }
}

/// Every page of `f`, following the tokens.
async fn all_pages(s: &dyn Store, mut f: CallFilter) -> (Vec<usize>, Vec<Call>) {
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    loop {
        let page = s.list_calls(&f).await.unwrap();
        sizes.push(page.items.len());
        seen.extend(page.items);
        match page.next_page_token {
            Some(tok) => f.page_token = Some(tok),
            None => return (sizes, seen),
        }
    }
}

async fn filters_and_keyset_pagination_on(s: &dyn Store) {
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
    let (sizes, seen) = all_pages(
        s,
        CallFilter {
            page_size: 50,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(sizes, [50, 50, 20]);
    let mut unique: Vec<_> = seen.iter().map(|c| c.id).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 120, "no duplicates, none missing");
    assert!(
        seen.windows(2)
            .all(|w| (w[0].tm_create, w[0].id) > (w[1].tm_create, w[1].id)),
        "newest first, ties by id"
    );
    let page_one = s.list_calls(&CallFilter::default()).await.unwrap();
    assert_eq!(page_one.items, seen[..50], "the default page is 50");

    // A filter and pagination together: 40 hung up, in pages of 15.
    let (sizes, hung) = all_pages(
        s,
        CallFilter {
            status: Some(CallStatus::Hangup),
            page_size: 15,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(sizes, [15, 15, 10]);
    let expected: Vec<_> = seen
        .iter()
        .filter(|c| c.status == CallStatus::Hangup)
        .cloned()
        .collect();
    assert_eq!(hung, expected);

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
    let both = s
        .list_calls(&only(Some(CallStatus::Hangup), Some(Direction::Outgoing)))
        .await
        .unwrap();
    assert_eq!(both.items.len(), 20);
    // since is inclusive, until exclusive: calls at t(10) ..= t(19), two each.
    let window = CallFilter {
        since: Some(t(10)),
        until: Some(t(20)),
        page_size: 500,
        ..Default::default()
    };
    let in_window = s.list_calls(&window).await.unwrap().items;
    assert_eq!(in_window.len(), 20);
    assert!(in_window
        .iter()
        .all(|c| (t(10)..t(20)).contains(&c.tm_create)));
    let until_only = CallFilter {
        until: Some(t(1)),
        ..Default::default()
    };
    assert_eq!(s.list_calls(&until_only).await.unwrap().items.len(), 2);

    let extension_token = {
        s.create_extension(&ext("100")).await.unwrap();
        s.create_extension(&ext("101")).await.unwrap();
        s.list_extensions(1, None).await.unwrap().next_page_token
    };
    for bad in [Some("zz".to_owned()), extension_token] {
        let f = CallFilter {
            page_token: bad,
            ..Default::default()
        };
        assert_eq!(s.list_calls(&f).await, Err(StoreError::InvalidPageToken));
    }
}

#[tokio::test]
async fn meta_is_a_key_value_table() {
    for (s, _dir) in stores().await {
        assert_eq!(s.meta("api_key").await.unwrap(), None);
        s.set_meta("api_key", "one").await.unwrap();
        s.set_meta("api_key", "two").await.unwrap();
        s.set_meta("nonce_secret", "n").await.unwrap();
        assert_eq!(s.meta("api_key").await.unwrap().as_deref(), Some("two"));
        assert_eq!(s.meta("nonce_secret").await.unwrap().as_deref(), Some("n"));
    }
}

#[tokio::test]
async fn open_creates_the_directory_and_a_wal_database() {
    let dir = TempDir::new();
    assert!(!dir.0.exists());
    let s = SqliteStore::open(&dir.0).await.unwrap();
    s.set_meta("k", "v").await.unwrap();
    assert!(dir.0.join("dialtone.db").is_file());
    assert!(dir.0.join("dialtone.db-wal").is_file(), "WAL journal");
    // Opening again runs no migration twice.
    drop(s);
    SqliteStore::open(&dir.0).await.unwrap();
}

#[tokio::test]
async fn restart_keeps_calls_and_fails_the_active_ones() {
    let dir = TempDir::new();
    let (done, active, early) = {
        let s = SqliteStore::open(&dir.0).await.unwrap();
        let mut done = call(1, Direction::Incoming);
        done.hang_up(HangupBy::Remote, HangupReason::Normal, Some(200), t(3));
        let mut active = call(2, Direction::Outgoing);
        active.set_status(CallStatus::Progressing, t(3)).unwrap();
        active.sip_code = Some(200);
        active.master_call_id = Some(done.id);
        active.recording_ids = vec![Uuid::new_v4()];
        let early = call(4, Direction::Incoming);
        for c in [&done, &active, &early] {
            s.upsert_call(c).await.unwrap();
        }
        s.set_meta("api_key", "secret").await.unwrap();
        s.create_extension(&ext("100")).await.unwrap();
        (done, active, early)
    };
    let s = SqliteStore::open(&dir.0).await.unwrap();
    assert_eq!(s.all_extensions().await.unwrap().len(), 1);
    assert_eq!(s.meta("api_key").await.unwrap().as_deref(), Some("secret"));
    assert_eq!(s.fail_active_calls(t(50)).await.unwrap(), 2);
    assert_eq!(s.call(done.id).await.unwrap(), Some(done), "untouched");
    for before in [active, early] {
        let after = s.call(before.id).await.unwrap().unwrap();
        let mut expected = before.clone();
        expected.status = CallStatus::Hangup;
        expected.hangup_by = Some(HangupBy::Local);
        expected.hangup_reason = Some(HangupReason::Failed);
        expected.tm_hangup = Some(t(50));
        expected.tm_update = t(50);
        assert_eq!(after, expected, "only the hangup fields change");
    }
    let active_left = s
        .list_calls(&CallFilter {
            status: Some(CallStatus::Progressing),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(active_left.items.is_empty(), "index column follows");
    assert_eq!(s.fail_active_calls(t(60)).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_do_not_fail() {
    let dir = TempDir::new();
    let s = Arc::new(SqliteStore::open(&dir.0).await.unwrap());
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
    // A reader beside them, as the API is.
    let reader = {
        let s = s.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                s.list_calls(&CallFilter::default()).await.unwrap();
            }
        })
    };
    reader.await.unwrap();
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
    assert!(all.next_page_token.is_some(), "1600 ringing in all");
}

#[tokio::test]
async fn a_batch_is_applied_in_order() {
    let dir = TempDir::new();
    let s = SqliteStore::open(&dir.0).await.unwrap();
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
}

#[tokio::test]
async fn a_small_batch_is_one_statement_and_the_later_state_wins() {
    let s = SqliteStore::open_in_memory().await.unwrap();
    let mut c = call(1, Direction::Outgoing);
    let first = c.clone();
    c.set_status(CallStatus::Ringing, t(2)).unwrap();
    let other = call(3, Direction::Incoming);
    s.upsert_calls(&[first, other.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(s.call(c.id).await.unwrap(), Some(c));
    assert_eq!(s.call(other.id).await.unwrap(), Some(other));
    s.upsert_calls(&[]).await.unwrap();
}

/// The rate of single upserts from one task (each its own transaction),
/// as the server does without batching. Printed, not asserted; run with
/// `cargo test -p store --release -- --nocapture upsert_rate`.
#[tokio::test]
async fn upsert_rate() {
    let dir = TempDir::new();
    let s = SqliteStore::open(&dir.0).await.unwrap();
    let n = 1000;
    let started = std::time::Instant::now();
    for i in 0..n {
        let mut c = call(i, Direction::Incoming);
        s.upsert_call(&c).await.unwrap();
        c.set_status(CallStatus::Ringing, t(i + 1)).unwrap();
        s.upsert_call(&c).await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} upserts (half inserts, half updates) from one task in {secs:.2} s: {:.0} upserts/s (on-disk, WAL)",
        2 * n,
        2.0 * n as f64 / secs
    );
}

fn recording(call_id: Uuid, at: i64) -> Recording {
    Recording {
        id: Uuid::new_v4(),
        call_id,
        status: RecordingStatus::Recording,
        format: "wav".into(),
        direction: RecordingDirection::Both,
        channels: RecordingChannels::Stereo,
        sample_rate: 8000,
        duration_ms: 0,
        size_bytes: 0,
        sha256: None,
        end_reason: None,
        error: None,
        tm_start: t(at),
        tm_end: None,
    }
}

#[tokio::test]
async fn recordings_round_trip_filter_by_call_and_page() {
    for (s, _dir) in stores().await {
        recordings_on(&*s).await;
    }
}

async fn recordings_on(s: &dyn Store) {
    let (c1, c2) = (Uuid::new_v4(), Uuid::new_v4());
    let mut all = Vec::new();
    for i in 0..5 {
        let r = recording(if i % 2 == 0 { c1 } else { c2 }, i);
        s.upsert_recording(&r).await.unwrap();
        all.push(r);
    }
    // Finishing one: the same row, the new state.
    let mut done = all[0].clone();
    done.status = RecordingStatus::Finished;
    done.duration_ms = 61_020;
    done.size_bytes = 976_364;
    done.sha256 = Some("ab".repeat(32));
    done.end_reason = Some("stopped".into());
    done.tm_end = Some(t(70));
    s.upsert_recording(&done).await.unwrap();
    assert_eq!(s.recording(done.id).await.unwrap(), Some(done.clone()));
    assert_eq!(s.recording(Uuid::new_v4()).await.unwrap(), None);

    let unfinished = s.unfinished_recordings().await.unwrap();
    assert_eq!(unfinished.len(), 4);
    assert!(unfinished
        .iter()
        .all(|r| r.status == RecordingStatus::Recording));

    // c1's recordings (times 0, 2, 4), newest first, two per page.
    let mut f = store::RecordingFilter {
        call_id: Some(c1),
        page_size: 2,
        ..Default::default()
    };
    let first = s.list_recordings(&f).await.unwrap();
    assert_eq!(
        first.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [all[4].id, all[2].id]
    );
    f.page_token = first.next_page_token;
    let second = s.list_recordings(&f).await.unwrap();
    assert_eq!(second.items, [done.clone()]);
    assert_eq!(second.next_page_token, None);

    let finished = s
        .list_recordings(&store::RecordingFilter {
            status: Some(RecordingStatus::Finished),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(finished.items, [done.clone()]);
    // A call listing's token is refused.
    let bad = store::RecordingFilter {
        page_token: Some("63317c323032362d30312d30315430303a30303a30302e3030303030305a7c78".into()),
        ..Default::default()
    };
    assert_eq!(
        s.list_recordings(&bad).await,
        Err(StoreError::InvalidPageToken)
    );
    s.delete_recording(done.id).await.unwrap();
    assert_eq!(s.delete_recording(done.id).await, Err(StoreError::NotFound));
    assert_eq!(s.recording(done.id).await.unwrap(), None);
}

#[tokio::test]
async fn resources_are_unique_by_key_within_a_kind_and_listed_newest_first() {
    use store::ResourceKind::{Number, Trunk};
    for (s, _dir) in stores().await {
        let s = &*s;
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        let body = |n: &str| serde_json::json!({ "number": n });
        s.put_resource(Number, a, "+15550100", t(1), &body("+15550100"), true)
            .await
            .unwrap();
        s.put_resource(Number, b, "+15550101", t(2), &body("+15550101"), true)
            .await
            .unwrap();
        // The same key in another kind is fine; twice in one kind is not.
        s.put_resource(Trunk, Uuid::new_v4(), "+15550100", t(1), &body("x"), true)
            .await
            .unwrap();
        let e = s
            .put_resource(Number, Uuid::new_v4(), "+15550100", t(3), &body("y"), true)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(m) if m.contains("+15550100")));
        let e = s
            .put_resource(Number, b, "+15550100", t(3), &body("z"), false)
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreError::Conflict(_)),
            "an update may not take another's key"
        );
        s.put_resource(Number, b, "+15550199", t(3), &body("+15550199"), false)
            .await
            .unwrap();
        assert_eq!(
            s.resource(Number, b).await.unwrap(),
            Some(body("+15550199"))
        );
        let page = s.list_resources(Number, 1, None).await.unwrap();
        assert_eq!(page.items, vec![body("+15550199")]);
        let next = s
            .list_resources(Number, 1, page.next_page_token)
            .await
            .unwrap();
        assert_eq!(next.items, vec![body("+15550100")]);
        assert!(next.next_page_token.is_none());
        assert_eq!(s.all_resources(Number).await.unwrap().len(), 2);
        s.delete_resource(Number, a).await.unwrap();
        assert!(matches!(
            s.delete_resource(Number, a).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.put_resource(Number, a, "k", t(1), &body("k"), false)
                .await,
            Err(StoreError::NotFound)
        ));
    }
}
