//! Webhooks end to end: SIPp phones call through the real `dialtone serve`
//! with a `webhook_uri` pointing at a real HTTP receiver (axum on
//! 127.0.0.1, in the test). The receiver checks every request as a user's
//! would: the signature verifies with the secret (HMAC-SHA256 of
//! "t.body", constant-time, timestamp within 5 minutes), the event id
//! header matches the body, each event comes once and each call's events in
//! `sequence` order, also when the receiver was down, answered 500, or the
//! server restarted in between. Skipped, with a message, where `sipp` is
//! not installed.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "e2e-webhook-secret-0123456789";

/// The SIPp phones' accounts (SIPp 3.6 answers only MD5 challenges), and
/// the webhook settings.
fn config(url: &str, secret: Option<&str>) -> String {
    let secret = secret
        .map(|s| format!("webhook_secret = \"{s}\"\n"))
        .unwrap_or_default();
    format!(
        "ring_timeout = 5\nauth_algorithms = [\"MD5\", \"SHA-256\"]\n\
         webhook_uri = \"{url}\"\n{secret}\
         [[extensions]]\nextension = \"100\"\npassword = \"alice-secret-1\"\n\
         [[extensions]]\nextension = \"200\"\npassword = \"bob-secret-22\"\n"
    )
}

fn skip() -> bool {
    if !sipp_installed() {
        println!("SKIPPED: sipp not installed (apt-get install sip-tester)");
        return true;
    }
    false
}

// --- The receiver ---------------------------------------------------------

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Hit {
    headers: HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone, Default)]
struct Shared {
    hits: Arc<Mutex<Vec<Hit>>>,
    status: Arc<AtomicU16>,
}

/// An HTTP server on a fixed loopback port that can go down (its runtime,
/// listener and connections dropped: the port refuses connections) and
/// come back on the same port.
struct Receiver {
    port: u16,
    shared: Shared,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Receiver {
    /// A receiver not yet listening.
    fn new() -> Receiver {
        let shared = Shared::default();
        shared.status.store(200, Ordering::SeqCst);
        Receiver {
            port: free_port(),
            shared,
            runtime: None,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn up(&mut self) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", self.port)))
            .expect("the receiver's port is free again");
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(self.shared.clone());
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        self.runtime = Some(rt);
    }

    fn down(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }

    /// What later requests are answered.
    fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// The hits once `done` holds for them, or a panic after `within`.
    fn wait(&self, within: Duration, what: &str, done: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let deadline = Instant::now() + within;
        loop {
            let hits = self.hits();
            if done(&hits) {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not received within {within:?}; got {:#?}",
                hits.iter().map(Hit::event).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

async fn hook(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let answered = s.status.load(Ordering::SeqCst);
    s.hits.lock().unwrap().push(Hit {
        headers,
        body: body.to_vec(),
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

/// What the README tells receivers to do: `t` within 5 minutes, then the
/// HMAC-SHA256 of "t.body" compared in constant time.
fn verify(secret: &str, hit: &Hit) -> Result<i64, String> {
    let header = hit.header("x-dialtone-signature");
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(format!("malformed signature header {header:?}"));
    };
    let now = chrono::Utc::now().timestamp();
    if (now - t).abs() > 300 {
        return Err(format!("timestamp {t} is more than 5 minutes from {now}"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(&hit.body);
    mac.verify_slice(&v1)
        .map(|()| t)
        .map_err(|_| format!("signature {header:?} does not verify"))
}

/// Every request: signed with `secret`, JSON, the event id header is the
/// body's, Dialtone's user agent.
fn check_requests(secret: &str, hits: &[Hit]) {
    for h in hits {
        let e = h.event();
        verify(secret, h).unwrap_or_else(|m| panic!("{m}: {e}"));
        assert_eq!(h.header("content-type"), "application/json", "{e}");
        assert_eq!(h.header("user-agent"), "Dialtone", "{e}");
        assert_eq!(h.header("x-dialtone-event-id"), e["event_id"], "{e}");
        for key in ["type", "event_id", "sequence", "tm_event", "data"] {
            assert!(!e[key].is_null(), "{key} missing: {e}");
        }
    }
}

/// The call an event belongs to (`data.id` of a call, else `data.call_id`).
fn call_of(e: &Value) -> String {
    let d = &e["data"];
    if e["type"].as_str().unwrap().starts_with("call_") {
        d["id"].as_str().unwrap().to_owned()
    } else {
        d["call_id"].as_str().unwrap().to_owned()
    }
}

/// The events the receiver took (answered 2xx), each event id once, each
/// call's in `sequence` order 1, 2, 3...: per call, in arrival order.
fn accepted_in_order(hits: &[Hit]) -> BTreeMap<String, Vec<Value>> {
    let mut seen = HashSet::new();
    let mut calls: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for h in hits.iter().filter(|h| (200..300).contains(&h.answered)) {
        let e = h.event();
        let id = e["event_id"].as_str().unwrap().to_owned();
        assert!(seen.insert(id), "delivered twice: {e}");
        calls.entry(call_of(&e)).or_default().push(e);
    }
    for (call, events) in &calls {
        let seqs: Vec<u64> = events
            .iter()
            .map(|e| e["sequence"].as_u64().unwrap())
            .collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "call {call}: events out of order or missing: {events:#?}"
        );
    }
    calls
}

/// Both calls ended and their `call_hangup` taken.
fn both_hung_up(hits: &[Hit]) -> bool {
    hits.iter()
        .filter(|h| h.answered == 200 && h.event()["type"] == "call_hangup")
        .count()
        >= 2
}

// --- The server side ------------------------------------------------------

/// Every delivery on `/v1/webhooks/deliveries` (`query` added), following
/// the pages.
fn deliveries(d: &Dialtone, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let path = format!("/v1/webhooks/deliveries?page_size=7{query}{token}");
        let (status, body) = d.get(&path);
        assert_eq!(status, 200, "{path}: {body}");
        out.extend(body["items"].as_array().unwrap().iter().cloned());
        match body["next_page_token"].as_str() {
            Some(t) => token = format!("&page_token={t}"),
            None => return out,
        }
    }
}

/// Waits until `done` holds for the deliveries.
fn wait_deliveries(d: &Dialtone, within: Duration, what: &str, done: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let all = deliveries(d, "");
        if done(&all) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not within {within:?}: {all:#?}\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn all_delivered(all: &[Value]) -> bool {
    !all.is_empty() && all.iter().all(|x| x["status"] == "delivered")
}

/// Bob (200) registers from a SIPp that answers with `answer`.
fn bob(d: &Dialtone, answer: &str) -> Sipp {
    let dir = d.dir.join("bob");
    std::fs::create_dir_all(&dir).unwrap();
    let (register, answer) = (scenario("register.xml"), scenario(answer));
    let args = [
        "-au",
        "200",
        "-ap",
        "bob-secret-22",
        "-sf",
        &register,
        "-oocsf",
        &answer,
        "-m",
        "1",
        "-d",
        "60000",
    ];
    let mut bob = sipp(d.sip, "u1", "200;bob-secret-22;", &args, &dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, regs) = d.get("/v1/registrations");
        if regs["items"]
            .as_array()
            .is_some_and(|r| r.iter().any(|b| b["extension"] == "200"))
        {
            return bob;
        }
        assert!(
            bob.wait(Duration::from_millis(100)).is_none() && Instant::now() < deadline,
            "bob did not register: {}\n{}",
            bob.errors(),
            d.stderr()
        );
    }
}

/// Alice (100) calls 200 once with `scenario_file`, holding `hold_ms`;
/// `pcap`: the `dtmf.pcap` that scenario plays.
fn alice(d: &Dialtone, scenario_file: &str, hold_ms: u32, pcap: Option<Vec<u8>>) -> Sipp {
    let dir = d.dir.join(format!("alice-{scenario_file}"));
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(pcap) = pcap {
        std::fs::write(dir.join("dtmf.pcap"), pcap).unwrap();
    }
    let auth_uri = format!("200@{}", d.sip);
    let (sf, hold) = (scenario(scenario_file), hold_ms.to_string());
    let args = [
        "-au",
        "100",
        "-ap",
        "alice-secret-1",
        "-auth_uri",
        &auth_uri,
        "-sf",
        &sf,
        "-s",
        "200",
        "-m",
        "1",
        "-d",
        &hold,
        "-timeout",
        "30s",
    ];
    sipp(d.sip, "u1", "100;alice-secret-1;", &args, &dir)
}

/// One call from alice to bob with `scenario_file`, to its end.
fn one_call(d: &Dialtone, scenario_file: &str, hold_ms: u32) {
    let mut a = alice(d, scenario_file, hold_ms, None);
    let status = a.wait(Duration::from_secs(20)).expect("alice's call ended");
    assert!(status.success(), "alice: {}\n{}", a.errors(), d.stderr());
    d.wait_all_hung_up(2, Duration::from_secs(10));
}

// --- The tests --------------------------------------------------------------

/// A call with DTMF and a recording: every event (call_*, dtmf_received,
/// recording_*) of both calls arrives signed, once, each call's in
/// sequence order; the outbox lists them all delivered at the first
/// attempt. A redelivery sends the same body and event id again, signed
/// anew; an unknown delivery is a 404.
#[test]
fn a_calls_events_arrive_signed_once_in_order_and_a_redelivery_comes_again() {
    if skip() {
        return;
    }
    let mut rx = Receiver::new();
    rx.up();
    let d = Dialtone::start("webhooks-signed", &config(&rx.url(), Some(SECRET)), &[]);
    let _bob = bob(&d, "answer_dtmf.xml");
    let pcap = rfc4733_pcap(&['1', '5', '#', '9'], 0);
    let mut a = alice(&d, "call_dtmf.xml", 3000, Some(pcap));
    // Record alice's call while it is up.
    let deadline = Instant::now() + Duration::from_secs(10);
    let master = loop {
        let calls = d.all_calls();
        if let Some(m) = calls
            .iter()
            .find(|c| c["direction"] == "incoming" && c["status"] == "progressing")
        {
            break m["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no answered call: {calls:#?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (status, body) = d.post(&format!("/v1/calls/{master}/recording_start"), None);
    assert_eq!(status, 201, "{body}");
    assert!(
        a.wait(Duration::from_secs(20)).is_some_and(|s| s.success()),
        "alice: {}",
        a.errors()
    );
    d.wait_all_hung_up(2, Duration::from_secs(10));
    // The recording finishes (hashed) just after the hangup.
    wait_deliveries(&d, Duration::from_secs(10), "all delivered", |all| {
        all_delivered(all) && all.iter().any(|x| x["event_type"] == "recording_finished")
    });
    let expected = deliveries(&d, "").len();
    let hits = rx.wait(Duration::from_secs(5), "every event", |h| {
        h.len() >= expected
    });
    assert_eq!(hits.len(), expected, "one request per delivery");
    check_requests(SECRET, &hits);
    let calls = accepted_in_order(&hits);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let types = |call: &str| -> Vec<String> {
        calls[call]
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    };
    let mine = types(&master);
    assert_eq!(mine[0], "call_created", "{mine:?}");
    for t in [
        "call_ringing",
        "call_progressing",
        "call_hangup",
        "recording_started",
        "recording_finished",
    ] {
        assert!(mine.iter().any(|x| x == t), "{t} missing: {mine:?}");
    }
    let digits: Vec<&str> = calls[&master]
        .iter()
        .filter(|e| e["type"] == "dtmf_received")
        .map(|e| e["data"]["digit"].as_str().unwrap())
        .collect();
    assert_eq!(digits, ["1", "5", "#", "9"]);
    let other = calls.keys().find(|c| **c != master).unwrap();
    let theirs = types(other);
    assert_eq!(theirs[0], "call_created");
    assert_eq!(theirs.last().unwrap(), "call_hangup", "{theirs:?}");

    // The outbox: one delivery per event, delivered at the first attempt.
    let listed = deliveries(&d, "&status=delivered");
    assert_eq!(listed.len(), hits.len());
    for x in &listed {
        assert_eq!(x["url"], rx.url().as_str(), "{x}");
        assert_eq!(
            (&x["attempts"], &x["last_status_code"]),
            (&1.into(), &200.into()),
            "{x}"
        );
        assert!(
            x["last_error"].is_null() && x["next_attempt_at"].is_null(),
            "{x}"
        );
    }
    let of_master = deliveries(&d, &format!("&call_id={master}"));
    assert_eq!(of_master.len(), calls[&master].len());
    assert!(deliveries(&d, "&status=failed").is_empty());

    // Redeliver alice's call_created: the same bytes and event id again.
    let first = of_master.iter().find(|x| x["sequence"] == 1).unwrap();
    assert_eq!(first["event_type"], "call_created");
    let id = first["id"].as_str().unwrap();
    let (status, body) = d.post(&format!("/v1/webhooks/deliveries/{id}/redeliver"), None);
    assert_eq!(
        (status, &body["status"]),
        (200, &"pending".into()),
        "{body}"
    );
    let event_id = first["event_id"].as_str().unwrap().to_owned();
    let again = rx.wait(Duration::from_secs(10), "the redelivery", |h| {
        h.len() > expected
    });
    let twice: Vec<&Hit> = again
        .iter()
        .filter(|h| h.header("x-dialtone-event-id") == event_id)
        .collect();
    assert_eq!(twice.len(), 2);
    assert_eq!(twice[0].body, twice[1].body, "the body never changes");
    check_requests(SECRET, &again[expected..]);
    assert!(verify(SECRET, twice[1]).unwrap() >= verify(SECRET, twice[0]).unwrap());
    wait_deliveries(
        &d,
        Duration::from_secs(5),
        "the redelivery recorded",
        |all| {
            all.iter()
                .any(|x| x["id"] == id && x["status"] == "delivered" && x["attempts"] == 2)
        },
    );
    let (status, body) = d.get(&format!("/v1/webhooks/deliveries/{id}"));
    assert_eq!(
        (status, &body["event_id"]),
        (200, &event_id.as_str().into()),
        "{body}"
    );
    let unknown = "00000000-0000-4000-8000-000000000000";
    let (status, body) = d.post(
        &format!("/v1/webhooks/deliveries/{unknown}/redeliver"),
        None,
    );
    assert_eq!(status, 404, "{body}");
    assert_eq!(d.get(&format!("/v1/webhooks/deliveries/{unknown}")).0, 404);
    assert_eq!(d.get("/v1/webhooks/deliveries/nope").0, 400);
    assert_eq!(d.get("/v1/webhooks/deliveries?status=lost").0, 400);
    assert_eq!(d.stop().code(), Some(0));
}

/// The receiver is down (its port refuses connections) for the first 10
/// seconds: the outbox shows the failed attempts (`last_error`, no status
/// code) of the first event of each call only (the others wait their
/// turn); once it is back on the same port it gets every event, once, each
/// call's in order.
#[test]
fn a_receiver_down_for_ten_seconds_gets_every_event_once_in_order_when_back() {
    if skip() {
        return;
    }
    let mut rx = Receiver::new();
    let down_since = Instant::now();
    let d = Dialtone::start("webhooks-down", &config(&rx.url(), Some(SECRET)), &[]);
    let _bob = bob(&d, "answer.xml");
    one_call(&d, "call.xml", 300);
    wait_deliveries(&d, Duration::from_secs(10), "failed attempts", |all| {
        all.iter().filter(|x| x["last_error"].is_string()).count() >= 2
    });
    let all = deliveries(&d, "");
    for x in &all {
        assert_eq!(x["status"], "pending", "{x}");
        if x["sequence"] == 1 {
            assert!(x["attempts"].as_u64().unwrap() >= 1, "{x}");
            assert!(x["last_status_code"].is_null(), "{x}");
            let error = x["last_error"].as_str().unwrap();
            assert!(error.to_lowercase().contains("refused"), "{x}");
            assert!(x["next_attempt_at"].is_string(), "{x}");
        } else {
            assert_eq!(x["attempts"], 0, "later events wait for the first: {x}");
        }
    }
    assert_eq!(
        deliveries(&d, "&status=pending").len(),
        all.len(),
        "the status filter"
    );
    std::thread::sleep(Duration::from_secs(10).saturating_sub(down_since.elapsed()));
    rx.up();
    wait_deliveries(&d, Duration::from_secs(25), "all delivered", all_delivered);
    let n = deliveries(&d, "").len();
    let hits = rx.wait(Duration::from_secs(5), "every event", |h| h.len() >= n);
    assert_eq!(hits.len(), n, "each event once");
    check_requests(SECRET, &hits);
    let calls = accepted_in_order(&hits);
    assert_eq!(calls.len(), 2);
    assert!(both_hung_up(&hits));
    assert_eq!(d.stop().code(), Some(0));
}

/// A receiver answering 500: the outbox shows `last_status_code: 500` and
/// the answer's body in `last_error`; when it answers 200 again every
/// event is taken once, in order (the 500s do not count).
#[test]
fn a_receiver_answering_500_is_retried_and_its_code_shown() {
    if skip() {
        return;
    }
    let mut rx = Receiver::new();
    rx.answer(500);
    rx.up();
    let d = Dialtone::start("webhooks-500", &config(&rx.url(), Some(SECRET)), &[]);
    let _bob = bob(&d, "answer.xml");
    one_call(&d, "call.xml", 300);
    wait_deliveries(&d, Duration::from_secs(10), "a 500 recorded", |all| {
        all.iter().any(|x| x["last_status_code"] == 500)
    });
    let failing: Vec<Value> = deliveries(&d, "")
        .into_iter()
        .filter(|x| x["last_status_code"] == 500)
        .collect();
    for x in &failing {
        assert_eq!(
            (&x["status"], &x["sequence"]),
            (&"pending".into(), &1.into()),
            "{x}"
        );
        let error = x["last_error"].as_str().unwrap();
        assert!(error.starts_with("HTTP 500"), "{x}");
    }
    let refused = rx.hits();
    assert!(
        refused.iter().all(|h| h.event()["sequence"] == 1),
        "only the first events were tried"
    );
    rx.answer(200);
    wait_deliveries(&d, Duration::from_secs(15), "all delivered", all_delivered);
    let hits = rx.hits();
    check_requests(SECRET, &hits);
    let calls = accepted_in_order(&hits);
    let taken: usize = calls.values().map(Vec::len).sum();
    assert_eq!(taken, deliveries(&d, "").len());
    assert!(both_hung_up(&hits));
    assert_eq!(d.stop().code(), Some(0));
}

/// Deliveries pending at a stop (the receiver is down) are sent after the
/// next start on the same data directory, once the receiver is up: every
/// event arrives, once, in order. Without `webhook_secret` the server made
/// one at its first start, printed it once, and signs with it after the
/// restart too.
#[test]
fn pending_deliveries_survive_a_restart_signed_with_the_generated_secret() {
    if skip() {
        return;
    }
    let mut rx = Receiver::new();
    let d = Dialtone::start("webhooks-restart", &config(&rx.url(), None), &[]);
    {
        let _bob = bob(&d, "answer.xml");
        one_call(&d, "call.xml", 300);
    }
    wait_deliveries(&d, Duration::from_secs(10), "both hangups queued", |all| {
        all.iter()
            .filter(|x| x["event_type"] == "call_hangup")
            .count()
            == 2
    });
    let before: HashMap<String, Value> = deliveries(&d, "")
        .into_iter()
        .map(|x| (x["event_id"].as_str().unwrap().to_owned(), x))
        .collect();
    assert!(before.values().all(|x| x["status"] == "pending"));
    let (dir, sip) = (d.dir.clone(), d.sip);
    assert_eq!(d.stop_keeping_data().code(), Some(0));

    let d = Dialtone::restart_on(dir, sip);
    rx.up();
    wait_deliveries(&d, Duration::from_secs(25), "all delivered", all_delivered);
    let after = deliveries(&d, "");
    assert_eq!(after.len(), before.len(), "nothing lost, nothing added");
    let log = d.stderr();
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("generated a webhook signing secret"))
        .collect();
    assert_eq!(said.len(), 1, "printed once over two starts: {log}");
    let secret = log
        .lines()
        .skip_while(|l| !l.contains("generated a webhook signing secret"))
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(secret.len(), 64, "{log}");
    let hits = rx.wait(Duration::from_secs(5), "every event", |h| {
        h.len() >= before.len()
    });
    assert_eq!(hits.len(), before.len(), "each event once");
    check_requests(&secret, &hits);
    let calls = accepted_in_order(&hits);
    for events in calls.values() {
        for e in events {
            assert!(before.contains_key(e["event_id"].as_str().unwrap()), "{e}");
        }
    }
    assert!(both_hung_up(&hits));
    assert_eq!(d.stop().code(), Some(0));
}

/// `check-config` shows the webhook settings (flag beats variable beats
/// file), the secret redacted, and names a bad URL or a short secret.
#[test]
fn check_config_shows_webhook_settings_with_the_secret_redacted() {
    let dir = temp_dir("webhook-config");
    let file = dir.join("d.toml");
    std::fs::write(
        &file,
        "webhook_uri = \"https://file.example/in\"\nwebhook_secret = \"file-secret-0123456789\"\n",
    )
    .unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dialtone"));
        cmd.args(["check-config", "--config"]).arg(&file).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(
        &[],
        &[("DIALTONE_WEBHOOK_URI", "http://127.0.0.1:9000/env")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["webhook_uri"], "http://127.0.0.1:9000/env",
        "variable beats file"
    );
    assert_eq!(v["webhook_secret"], "<redacted>");
    assert!(!text.contains("file-secret"), "{text}");
    let out = run(
        &[
            "--webhook-uri",
            "https://flag.example/in",
            "--webhook-secret",
            "flag-secret-0123456789",
        ],
        &[("DIALTONE_WEBHOOK_URI", "http://127.0.0.1:9000/env")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["webhook_uri"], "https://flag.example/in", "flag wins");
    assert!(!text.contains("flag-secret"), "{text}");
    let out = run(&["--webhook-uri", "ftp://files.example/"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("webhook_uri:") && err.contains("http:// or https://"),
        "{err}"
    );
    let out = run(&[], &[("DIALTONE_WEBHOOK_SECRET", "short")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("webhook_secret:") && err.contains("16"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// --- Flows -----------------------------------------------------------------

/// A number runs a flow: the trunk's call is answered by Dialtone, hears
/// a prompt (a WAV from the media directory) and a spoken menu (espeak-ng), presses 2 (RFC 4733 from
/// SIPp), the flow branches on it, records and hangs up. The receiver gets
/// every event of the call as a signed webhook, once, in the call's
/// sequence, in the order the flow ran; the recording exists; the flow's
/// variables say what was pressed.
#[test]
fn a_number_runs_an_ivr_flow_that_branches_on_sipp_digits() {
    if skip() {
        return;
    }
    let mut receiver = Receiver::new();
    receiver.up();
    let config = format!(
        "trusted_peers = [\"127.0.0.1\"]\nwebhook_uri = \"{}\"\nwebhook_secret = \"{SECRET}\"\n",
        receiver.url()
    );
    let d = Dialtone::start("webhooks-flow", &config, &[]);
    let prompt = d.dir.join("data/media/prompt.wav");
    write_tone_wav(&prompt, 440.0, 1);
    let prompt = format!("file://{}", prompt.display());
    let flow = serde_json::json!({
        "name": "ivr",
        "actions": [
            {"type": "answer"},
            {"type": "play", "option": {"urls": [prompt]}},
            {"type": "talk", "option": {"text": "Press one for sales, two for support.", "language": "en-US", "gender": "male"}},
            {"type": "digits_receive", "option": {"length": 1, "duration": 5000}},
            {"type": "branch", "option": {"target_ids": {"1": "sales", "2": "support"}, "default_target_id": "sales"}},
            {"id": "sales", "type": "variable_set", "option": {"key": "queue", "value": "sales"}, "next_id": "record"},
            {"id": "support", "type": "variable_set", "option": {"key": "queue", "value": "support ${digits}"}},
            {"id": "record", "type": "recording_start", "option": {"channels": "stereo"}},
            {"type": "sleep", "option": {"duration": 1000}},
            {"type": "hangup"}
        ]
    });
    let (status, saved) = d.post("/v1/flows", Some(&flow));
    assert_eq!(status, 201, "{saved}");
    let flow_id = saved["id"].as_str().unwrap().to_owned();
    let (status, number) = d.post(
        "/v1/numbers",
        Some(&serde_json::json!({"number": "+15550100", "flow_id": flow_id})),
    );
    assert_eq!(status, 201, "{number}");

    let dir = d.dir.join("trunk");
    std::fs::create_dir_all(&dir).unwrap();
    // The digit comes 1.5 s after the answer, after the 1 s prompt.
    std::fs::write(dir.join("dtmf.pcap"), rfc4733_pcap(&['2'], 1500)).unwrap();
    let mut trunk = sipp(
        d.sip,
        "u1",
        "x;",
        &[
            "-sf",
            &scenario("call_flow.xml"),
            "-s",
            "+15550100",
            "-m",
            "1",
            "-timeout",
            "40s",
        ],
        &dir,
    );
    let hits = receiver.wait(Duration::from_secs(30), "the recording's end", |h| {
        h.iter().any(|h| h.event()["type"] == "recording_finished")
    });
    check_requests(SECRET, &hits);
    let calls = accepted_in_order(&hits);
    assert_eq!(calls.len(), 1, "one call: {calls:#?}");
    let got = calls.into_values().next().unwrap();
    assert!(
        trunk
            .wait(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "{}",
        trunk.errors()
    );
    let kinds: Vec<String> = got
        .iter()
        .map(|e| {
            let t = e["type"].as_str().unwrap().to_owned();
            match e["data"]["action"]["type"].as_str() {
                Some(a) => format!("{t}:{a}"),
                None => t,
            }
        })
        .filter(|k| k != "call_updated")
        .collect();
    let expected = [
        "call_created",
        "call_ringing",
        "flow_started",
        "flow_action_started:answer",
        "call_progressing",
        "flow_action_finished:answer",
        "flow_action_started:play",
        "play_started",
        "play_finished",
        "flow_action_finished:play",
        "flow_action_started:talk",
        "play_started",
        "play_finished",
        "flow_action_finished:talk",
        "flow_action_started:digits_receive",
        "flow_action_finished:digits_receive",
        "flow_action_started:branch",
        "flow_action_finished:branch",
        "flow_action_started:variable_set",
        "flow_action_finished:variable_set",
        "flow_action_started:recording_start",
        "recording_started",
        "flow_action_finished:recording_start",
        "flow_action_started:sleep",
        "flow_action_finished:sleep",
        "flow_action_started:hangup",
        "flow_action_finished:hangup",
        "flow_finished",
    ];
    // The digit comes while the menu is spoken or after (typed ahead, it
    // counts for digits_receive either way): checked apart.
    let at = |k: &str| kinds.iter().position(|x| x == k).unwrap_or(usize::MAX);
    let digit = at("dtmf_received");
    assert!(
        at("flow_action_started:talk") < digit && digit < at("flow_action_finished:digits_receive"),
        "{kinds:#?}"
    );
    let kinds: Vec<String> = kinds.into_iter().filter(|k| k != "dtmf_received").collect();
    let got_prefix: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .take(expected.len())
        .collect();
    assert_eq!(got_prefix, expected, "all: {kinds:#?}");
    // The recording ends with the call.
    assert_eq!(
        &kinds[expected.len()..],
        ["call_hangup", "recording_finished"],
        "{kinds:#?}"
    );
    // One call, numbered 1, 2, 3... in its sequence.
    let call_id = got[0]["data"]["id"].clone();
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e["sequence"], i + 1, "{e}");
        let id = if e["type"].as_str().unwrap().starts_with("call_") {
            &e["data"]["id"]
        } else {
            &e["data"]["call_id"]
        };
        assert_eq!(*id, call_id, "{e}");
    }
    let finished = got.iter().find(|e| e["type"] == "flow_finished").unwrap();
    assert_eq!(
        finished["data"]["variables"]["queue"], "support 2",
        "{finished}"
    );
    assert_eq!(finished["data"]["variables"]["digits"], "2");
    assert_eq!(finished["data"]["reason"], "hangup", "{finished}");
    let calls = d.wait_all_hung_up(1, Duration::from_secs(10));
    let c = &calls[0];
    assert_eq!(c["direction"], "incoming");
    assert_eq!(c["destination"]["target"], "+15550100");
    assert_eq!(c["source"]["target"], "+15550123");
    assert_eq!(c["flow_id"], flow_id.as_str());
    assert_eq!(
        (c["hangup_by"].as_str(), c["hangup_reason"].as_str()),
        (Some("local"), Some("normal"))
    );
    let rec = c["recording_ids"][0].as_str().expect("a recording");
    let (_, r) = d.get(&format!("/v1/recordings/{rec}"));
    assert_eq!(r["status"], "finished", "{r}");
    assert!(r["duration_ms"].as_u64().unwrap() >= 900, "{r}");
    assert_eq!(d.stop().code(), Some(0));
}
