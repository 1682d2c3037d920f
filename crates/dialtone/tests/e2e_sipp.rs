//! End to end with real SIP peers: SIPp phones register with digest and
//! call each other through the real `dialtone serve`; the call records on
//! `/v1/calls` must show the two-call model with the right statuses,
//! chaining, timestamps, `hangup_by` and `hangup_reason`.
//! Skipped, with a message, where `sipp` is not installed.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

// SIPp 3.6 answers the first challenge whatever its algorithm and knows
// only MD5: offer MD5 first (SHA-256 is still accepted).
const CONFIG: &str = r#"
ring_timeout = 2
auth_algorithms = ["MD5", "SHA-256"]
[[extensions]]
extension = "100"
password = "alice-secret-1"
name = "Alice"
[[extensions]]
extension = "200"
password = "bob-secret-22"
name = "Bob"
"#;

fn skip() -> bool {
    if !sipp_installed() {
        println!("SKIPPED: sipp not installed (apt-get install sip-tester)");
        return true;
    }
    false
}

/// Bob (200) registers from a SIPp that answers calls with `callee`
/// (out-of-call scenario), and stays up for `secs`.
fn register_bob(d: &Dialtone, transport: &str, callee: &str, secs: u64) -> Sipp {
    register_bob_with(d, transport, callee, secs, &[])
}

/// [`register_bob`] with more SIPp arguments (`-trace_msg`...).
fn register_bob_with(
    d: &Dialtone,
    transport: &str,
    callee: &str,
    secs: u64,
    extra: &[&str],
) -> Sipp {
    let dir = d.dir.join(format!("bob-{transport}-{callee}"));
    std::fs::create_dir_all(&dir).unwrap();
    let duration = (secs * 1000).to_string();
    let (register, answer) = (scenario("register.xml"), scenario(callee));
    let mut args = vec![
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
        &duration,
    ];
    args.extend_from_slice(extra);
    let mut bob = sipp(d.sip, transport, "200;bob-secret-22;", &args, &dir);
    // Registered once /v1/registrations lists it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, regs) = d.get("/v1/registrations");
        if regs["items"]
            .as_array()
            .is_some_and(|r| r.iter().any(|b| b["extension"] == "200"))
        {
            return bob;
        }
        if let Some(status) = bob.wait(Duration::from_millis(100)) {
            panic!(
                "bob's sipp ended before registering ({status}): {}\n{}",
                bob.errors(),
                d.stderr()
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob did not register: {}\n{}",
            bob.errors(),
            d.stderr()
        );
    }
}

fn alice(d: &Dialtone, transport: &str, scenario_file: &str, calls: u32, hold_ms: u32) -> Sipp {
    let dir = d.dir.join(format!("alice-{transport}-{scenario_file}"));
    std::fs::create_dir_all(&dir).unwrap();
    // SIPp puts the server's address, not the Request-URI, in the digest
    // `uri` unless told; Dialtone checks it against the Request-URI.
    let auth_uri = format!("200@{}", d.sip); // SIPp adds "sip:"
    sipp(
        d.sip,
        transport,
        "100;alice-secret-1;",
        &[
            "-au",
            "100",
            "-ap",
            "alice-secret-1",
            "-auth_uri",
            &auth_uri,
            "-sf",
            &scenario(scenario_file),
            "-s",
            "200",
            "-m",
            &calls.to_string(),
            "-r",
            "20",
            "-l",
            "20",
            "-d",
            &hold_ms.to_string(),
            "-timeout",
            "60s",
        ],
        &dir,
    )
}

fn by_direction<'a>(calls: &'a [Value], dir: &str) -> Vec<&'a Value> {
    calls.iter().filter(|c| c["direction"] == dir).collect()
}

fn hundred_calls(transport: &str) {
    if skip() {
        return;
    }
    let d = Dialtone::start(&format!("hundred-{transport}"), CONFIG, &[]);
    let _bob = register_bob(&d, transport, "answer.xml", 120);
    let mut a = alice(&d, transport, "call.xml", 100, 300);
    let status = a
        .wait(Duration::from_secs(90))
        .expect("alice's sipp finished");
    assert!(
        status.success(),
        "alice: {status}: {}\n{}",
        a.errors(),
        d.stderr()
    );

    let calls = d.wait_all_hung_up(200, Duration::from_secs(10));
    assert_eq!(calls.len(), 200, "100 calls are 200 call records");
    let incoming = by_direction(&calls, "incoming");
    let outgoing = by_direction(&calls, "outgoing");
    assert_eq!((incoming.len(), outgoing.len()), (100, 100));
    for m in &incoming {
        assert!(m["master_call_id"].is_null(), "{m}");
        let chained = m["chained_call_ids"].as_array().unwrap();
        assert_eq!(chained.len(), 1, "{m}");
        let o = outgoing
            .iter()
            .find(|o| o["id"] == chained[0])
            .expect("the chained call exists");
        assert_eq!(o["master_call_id"], m["id"]);
        // The caller hung up: its leg remote/normal, the callee's local/normal.
        assert_eq!(
            (&m["hangup_by"], &m["hangup_reason"]),
            (&"remote".into(), &"normal".into()),
            "{m}"
        );
        assert_eq!(
            (&o["hangup_by"], &o["hangup_reason"]),
            (&"local".into(), &"normal".into()),
            "{o}"
        );
        assert_eq!(m["sip_code"], 200);
        assert_eq!(m["source"]["target"], "100");
        assert_eq!(m["destination"]["target"], "200");
        for c in [*m, *o] {
            let t = |f: &str| {
                chrono::DateTime::parse_from_rfc3339(
                    c[f].as_str().unwrap_or_else(|| panic!("{f} in {c}")),
                )
                .unwrap()
            };
            assert!(t("tm_create") <= t("tm_ringing"), "{c}");
            assert!(t("tm_ringing") <= t("tm_progressing"), "{c}");
            assert!(t("tm_progressing") <= t("tm_hangup"), "{c}");
            assert_eq!(c["tm_update"], c["tm_hangup"], "{c}");
        }
    }
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn hundred_calls_over_udp() {
    hundred_calls("u1");
}

#[test]
fn hundred_calls_over_tcp() {
    hundred_calls("t1");
}

/// One call whose records end as the scenario says.
fn one_call(name: &str, callee: &str, caller: &str) -> (Value, Value) {
    let d = Dialtone::start(name, CONFIG, &[]);
    let _bob = register_bob(&d, "u1", callee, 60);
    let mut a = alice(&d, "u1", caller, 1, 1000);
    let status = a
        .wait(Duration::from_secs(30))
        .expect("alice's sipp finished");
    assert!(
        status.success(),
        "alice: {status}: {}\n{}",
        a.errors(),
        d.stderr()
    );
    let calls = d.wait_all_hung_up(2, Duration::from_secs(10));
    let m = by_direction(&calls, "incoming")[0].clone();
    let o = by_direction(&calls, "outgoing")[0].clone();
    assert_eq!(d.stop().code(), Some(0));
    (m, o)
}

fn ended(c: &Value) -> (String, String, i64) {
    (
        c["hangup_by"].as_str().unwrap_or("").to_owned(),
        c["hangup_reason"].as_str().unwrap_or("").to_owned(),
        c["sip_code"].as_i64().unwrap_or(0),
    )
}

#[test]
fn busy_callee() {
    if skip() {
        return;
    }
    let (m, o) = one_call("busy", "busy.xml", "call_rejected.xml");
    assert_eq!(ended(&m), ("remote".into(), "busy".into(), 486), "{m}");
    assert_eq!(ended(&o), ("remote".into(), "busy".into(), 486), "{o}");
}

#[test]
fn nobody_answers_before_the_ring_timeout() {
    if skip() {
        return;
    }
    let (m, o) = one_call("noanswer", "ring.xml", "call_rejected.xml");
    assert_eq!(ended(&m), ("local".into(), "noanswer".into(), 480), "{m}");
    assert_eq!(ended(&o), ("local".into(), "noanswer".into(), 487), "{o}");
    assert!(
        m["tm_ringing"].is_string() && m["tm_progressing"].is_null(),
        "{m}"
    );
}

#[test]
fn caller_cancels_while_it_rings() {
    if skip() {
        return;
    }
    let (m, o) = one_call("cancel", "ring.xml", "call_cancel.xml");
    assert_eq!(ended(&m), ("remote".into(), "cancel".into(), 487), "{m}");
    assert_eq!(ended(&o), ("local".into(), "cancel".into(), 487), "{o}");
}

#[test]
fn callee_hangs_up() {
    if skip() {
        return;
    }
    let (m, o) = one_call(
        "remote-bye",
        "answer_hangup.xml",
        "call_answered_remote_bye.xml",
    );
    assert_eq!(ended(&m), ("local".into(), "normal".into(), 200), "{m}");
    assert_eq!(ended(&o), ("remote".into(), "normal".into(), 200), "{o}");
}

/// `/v1/events` streams the call's life as it happens: for each of the
/// two calls, `call_created` first, then updates with `call_ringing`,
/// `call_progressing` and finally `call_hangup`, numbered 1, 2, 3...
#[test]
fn events_stream_the_call_live() {
    if skip() {
        return;
    }
    let d = Dialtone::start("events", CONFIG, &[]);
    let mut ws = d.events("", Duration::from_secs(20));
    let _bob = register_bob(&d, "u1", "answer.xml", 60);
    let mut a = alice(&d, "u1", "call.xml", 1, 500);

    let mut events: Vec<Value> = Vec::new();
    while events.iter().filter(|e| e["type"] == "call_hangup").count() < 2 {
        let msg = ws.read().expect("an event within 20 s");
        if let tungstenite::Message::Text(t) = msg {
            events.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }
    assert!(a.wait(Duration::from_secs(10)).is_some_and(|s| s.success()));
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["id"].as_str().unwrap())
        .collect();
    ids.dedup();
    let mut calls: Vec<&str> = ids.clone();
    calls.sort();
    calls.dedup();
    assert_eq!(calls.len(), 2, "two calls: {events:#?}");
    for id in calls {
        let mine: Vec<&Value> = events.iter().filter(|e| e["data"]["id"] == id).collect();
        let types: Vec<&str> = mine.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types[0], "call_created", "{types:?}");
        assert_eq!(*types.last().unwrap(), "call_hangup", "{types:?}");
        for t in ["call_updated", "call_ringing", "call_progressing"] {
            assert!(types.contains(&t), "{t} missing: {types:?}");
        }
        let pos = |t: &str| types.iter().position(|x| *x == t).unwrap();
        assert!(pos("call_ringing") < pos("call_progressing"));
        let seqs: Vec<u64> = mine
            .iter()
            .map(|e| e["sequence"].as_u64().unwrap())
            .collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "sequence per call"
        );
        for e in &mine {
            assert!(e["event_id"].as_str().is_some_and(|s| s.len() == 36), "{e}");
            assert!(e["tm_event"].is_string(), "{e}");
        }
        assert_eq!(mine.last().unwrap()["data"]["status"], "hangup");
    }
    drop(ws);
    assert_eq!(d.stop().code(), Some(0));
}

/// SIGTERM during a call: the call is ended with BYE on both legs and
/// recorded `hangup_by: local`, `normal`; the server exits 0.
#[test]
fn sigterm_hangs_up_active_calls_and_records_them() {
    if skip() {
        return;
    }
    let d = Dialtone::start("sigterm", CONFIG, &[]);
    let mut bob = register_bob(&d, "u1", "answer.xml", 60);
    let mut a = alice(&d, "u1", "call_answered_remote_bye.xml", 1, 0);
    wait_for_status(&d, "progressing", 2);
    let dir = d.dir.clone();
    let sip = d.sip;
    // Stop; the data directory survives for a second look.
    assert_eq!(d.stop_keeping_data().code(), Some(0));
    // Both SIPp phones got a BYE and answered it: their scenarios end well.
    assert!(
        a.wait(Duration::from_secs(10)).is_some_and(|s| s.success()),
        "alice: {}",
        a.errors()
    );
    let _ = bob.wait(Duration::from_millis(100));
    let d = Dialtone::restart_on(dir, sip);
    let calls = d.all_calls();
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert_eq!(ended(c), ("local".into(), "normal".into(), 200), "{c}");
    }
}

/// A crash (SIGKILL) mid-call: at the next start the calls that were
/// active are closed as `failed`; finished ones are kept as they were.
#[test]
fn calls_active_at_a_crash_are_closed_as_failed_at_the_next_start() {
    if skip() {
        return;
    }
    let d = Dialtone::start("crash", CONFIG, &[]);
    let _bob = register_bob(&d, "u1", "answer.xml", 60);
    // One finished call...
    let mut a = alice(&d, "u1", "call.xml", 1, 200);
    assert!(a.wait(Duration::from_secs(20)).is_some_and(|s| s.success()));
    d.wait_all_hung_up(2, Duration::from_secs(5));
    // ...and one in progress when the process dies.
    let _a2 = alice(&d, "u1", "call_answered_remote_bye.xml", 1, 0);
    wait_for_status(&d, "progressing", 2);
    let d = d.crash_and_restart();
    let calls = d.all_calls();
    assert_eq!(calls.len(), 4);
    let normal = calls
        .iter()
        .filter(|c| c["hangup_reason"] == "normal")
        .count();
    let failed: Vec<_> = calls
        .iter()
        .filter(|c| c["hangup_reason"] == "failed")
        .collect();
    assert_eq!((normal, failed.len()), (2, 2), "{calls:#?}");
    for c in failed {
        assert_eq!(
            (&c["status"], &c["hangup_by"]),
            (&"hangup".into(), &"local".into())
        );
        assert!(
            c["tm_progressing"].is_string(),
            "it was answered before the crash: {c}"
        );
    }
}

fn wait_for_status(d: &Dialtone, status: &str, count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let n = d
            .all_calls()
            .iter()
            .filter(|c| c["status"] == status)
            .count();
        if n >= count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {count} calls {status}: {}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The RFC 4475 torture messages over UDP and TCP (see
/// `common/torture.rs`), then a normal call still completes.
#[test]
fn torture_messages_then_a_normal_call() {
    if skip() {
        return;
    }
    let d = Dialtone::start("torture", CONFIG, &[]);
    if !common::torture::torture(&d) {
        return;
    }
    let _bob = register_bob(&d, "u1", "answer.xml", 60);
    let mut a = alice(&d, "u1", "call.xml", 1, 200);
    let status = a
        .wait(Duration::from_secs(30))
        .expect("alice's sipp finished");
    assert!(
        status.success(),
        "alice: {status}: {}\n{}",
        a.errors(),
        d.stderr()
    );
    let calls = d.wait_all_hung_up(2, Duration::from_secs(10));
    assert!(
        calls.iter().all(|c| c["hangup_reason"] == "normal"),
        "{calls:#?}"
    );
    assert_eq!(d.stop().code(), Some(0), "clean exit after the torture run");
}

/// `POST /v1/calls/{id}/hangup` on the master of an answered call: both
/// phones get a BYE, both records end `local`/`normal`; a second hangup is
/// a 409 that says the call already ended.
#[test]
fn api_hangup_ends_both_legs() {
    if skip() {
        return;
    }
    let d = Dialtone::start("api-hangup", CONFIG, &[]);
    let mut bob = register_bob(&d, "u1", "answer.xml", 60);
    let mut a = alice(&d, "u1", "call_answered_remote_bye.xml", 1, 0);
    wait_for_status(&d, "progressing", 2);
    let calls = d.all_calls();
    let master = by_direction(&calls, "incoming")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = d.post(&format!("/v1/calls/{master}/hangup"), None);
    assert_eq!(status, 200, "{body}");
    assert!(
        a.wait(Duration::from_secs(10)).is_some_and(|s| s.success()),
        "alice: {}",
        a.errors()
    );
    let calls = d.wait_all_hung_up(2, Duration::from_secs(10));
    for c in &calls {
        assert_eq!(ended(c), ("local".into(), "normal".into(), 200), "{c}");
    }
    let (status, body) = d.post(&format!("/v1/calls/{master}/hangup"), None);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already ended"),
        "{body}"
    );
    let (status, _) = d.post(
        "/v1/calls/00000000-0000-4000-8000-000000000000/hangup",
        None,
    );
    assert_eq!(status, 404);
    let _ = bob.wait(Duration::from_millis(10));
}

/// DTMF from SIPp: alice's SIPp offers telephone-event and, once the call
/// is up, plays a capture of RFC 4733 events for the digits 1, 5, # and 9
/// (written here as a pcap: 60 ms of updates, three end packets, 100 ms
/// apart); each arrives once, in order, as a `dtmf_received` event of
/// alice's call with the duration the end packets carry.
#[test]
fn sipp_rfc4733_digits_arrive_as_dtmf_events_in_order() {
    if skip() {
        return;
    }
    let d = Dialtone::start("sipp-dtmf", CONFIG, &[]);
    let mut ws = d.events("dtmf_received", Duration::from_secs(20));
    let _bob = register_bob(&d, "u1", "answer_dtmf.xml", 60);
    let dir = d.dir.join("alice-u1-call_dtmf.xml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("dtmf.pcap"),
        rfc4733_pcap(&['1', '5', '#', '9'], 0),
    )
    .unwrap();
    let mut a = alice(&d, "u1", "call_dtmf.xml", 1, 3000);
    let mut got: Vec<Value> = Vec::new();
    while got.len() < 4 {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                got.push(serde_json::from_str(t.as_str()).unwrap())
            }
            Ok(_) => {}
            Err(e) => panic!(
                "dtmf events so far {got:#?}: {e}\n{}\n{}",
                a.errors(),
                d.stderr()
            ),
        }
    }
    assert!(
        a.wait(Duration::from_secs(20)).is_some_and(|s| s.success()),
        "{}",
        a.errors()
    );
    let calls = d.wait_all_hung_up(2, Duration::from_secs(10));
    let m = by_direction(&calls, "incoming")[0];
    let digits: Vec<&str> = got
        .iter()
        .map(|e| e["data"]["digit"].as_str().unwrap())
        .collect();
    assert_eq!(digits, ["1", "5", "#", "9"], "{got:#?}");
    for e in &got {
        assert_eq!(e["data"]["call_id"], m["id"], "alice's call: {e}");
        assert_eq!(e["data"]["method"], "rfc4733");
        // 60 ms of updates at 8 kHz: the end packets say 480 samples.
        assert_eq!(e["data"]["duration"], 60, "{e}");
    }
    assert_eq!(d.stop().code(), Some(0));
}

/// DTMF interworking: the same SIPp caller sends RFC 4733 events, but the
/// callee (a SIPp answering PCMU only, without telephone-event) could not
/// read them: Dialtone plays each digit to it as tones instead. A
/// recording of the callee's call (`out`: what it heard) holds the tones
/// of 1 5 # 9 in order, found by the Goertzel detector.
#[test]
fn rfc4733_digits_reach_a_phone_without_telephone_event_as_tones() {
    if skip() {
        return;
    }
    let d = Dialtone::start("sipp-dtmf-interwork", CONFIG, &[]);
    let _bob = register_bob(&d, "u1", "answer.xml", 60);
    let dir = d.dir.join("alice-u1-call_dtmf.xml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("dtmf.pcap"),
        rfc4733_pcap(&['1', '5', '#', '9'], 2500),
    )
    .unwrap();
    let mut a = alice(&d, "u1", "call_dtmf.xml", 1, 4000);
    // Record bob's call as soon as it is up (the digits start 2.5 s in).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let bob_call = loop {
        let (_, page) = d.get("/v1/calls?direction=outgoing&status=progressing");
        if let Some(c) = page["items"].as_array().and_then(|i| i.first()) {
            break c["id"].as_str().unwrap().to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answered call: {}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (status, rec) = d.post(
        &format!("/v1/calls/{bob_call}/recording_start"),
        Some(&serde_json::json!({"direction": "out"})),
    );
    assert_eq!(status, 201, "{rec}");
    assert!(
        a.wait(Duration::from_secs(20)).is_some_and(|s| s.success()),
        "{}",
        a.errors()
    );
    d.wait_all_hung_up(2, Duration::from_secs(10));
    let rid = rec["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while d.get(&format!("/v1/recordings/{rid}")).1["status"] == "recording" {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _, wav) = d.get_bytes(&format!("/v1/recordings/{rid}/file"));
    assert_eq!(status, 200);
    let audio = media::wav::decode(&wav).unwrap();
    let mut detector = media::dtmf::Detector::new(audio.rate).unwrap();
    detector.process(&audio.samples);
    detector.flush();
    let mut heard = String::new();
    while let Some(ev) = detector.poll_event() {
        if let media::dtmf::ToneEvent::Ended { digit, .. } = ev {
            heard.push(digit.to_char());
        }
    }
    assert_eq!(heard, "15#9", "the tones bob heard");
    assert_eq!(d.stop().code(), Some(0));
}

/// In-band DTMF from a phone that can only send tones: alice's SIPp offers
/// PCMU alone (no telephone-event) and plays a capture of PCMU audio
/// holding the tones of 2 5 8 0 (100 ms each, 100 ms apart, after 1.5 s
/// of silence). Her leg detects tones by default: each digit arrives once,
/// in order, as a `dtmf_received` event with method `inband`. Dialtone
/// then sends her 7 and # with the default method (`auto`): without
/// telephone-event that is tones, and a recording of what she heard holds
/// them.
#[test]
fn tones_from_a_phone_without_telephone_event_arrive_and_auto_answers_in_tones() {
    if skip() {
        return;
    }
    let d = Dialtone::start("sipp-inband", CONFIG, &[]);
    let mut ws = d.events("dtmf_received", Duration::from_secs(20));
    let _bob = register_bob(&d, "u1", "answer_dtmf.xml", 60);
    let dir = d.dir.join("alice-u1-call_inband.xml");
    std::fs::create_dir_all(&dir).unwrap();
    let mut tones =
        media::dtmf::DtmfGenerator::new(8000, media::dtmf::ToneLevels::default()).unwrap();
    let mut pcm = vec![0i16; 1500 * 8];
    for digit in media::dtmf::parse_digits("2580").unwrap() {
        tones.push(digit, 100, 100);
    }
    let mut digits = vec![0i16; 4 * 200 * 8 + 200 * 8];
    tones.fill(&mut digits);
    pcm.extend_from_slice(&digits);
    std::fs::write(dir.join("inband.pcap"), pcmu_pcap(&pcm)).unwrap();
    let mut a = alice(&d, "u1", "call_inband.xml", 1, 5000);
    let mut got: Vec<Value> = Vec::new();
    while got.len() < 4 {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                got.push(serde_json::from_str(t.as_str()).unwrap())
            }
            Ok(_) => {}
            Err(e) => {
                let calls = d.all_calls();
                let stats: Vec<Value> = calls
                    .iter()
                    .map(|c| {
                        d.get(&format!("/v1/calls/{}/stats", c["id"].as_str().unwrap()))
                            .1
                    })
                    .collect();
                panic!(
                    "dtmf events so far {got:#?}: {e}\n{}\n{}\n{stats:#?}",
                    a.errors(),
                    d.stderr()
                )
            }
        }
    }
    let digits: String = got
        .iter()
        .map(|e| e["data"]["digit"].as_str().unwrap())
        .collect();
    assert_eq!(digits, "2580", "{got:#?}");
    let (_, page) = d.get("/v1/calls?direction=incoming&status=progressing");
    let alice_call = page["items"][0]["id"].as_str().unwrap().to_owned();
    for e in &got {
        assert_eq!(
            e["data"]["call_id"],
            alice_call.as_str(),
            "alice's call: {e}"
        );
        assert_eq!(e["data"]["method"], "inband", "{e}");
        let ms = e["data"]["duration"].as_u64().unwrap();
        assert!((80..=120).contains(&ms), "about the 100 ms sent: {e}");
    }
    let (status, rec) = d.post(
        &format!("/v1/calls/{alice_call}/recording_start"),
        Some(&serde_json::json!({"direction": "out"})),
    );
    assert_eq!(status, 201, "{rec}");
    let (status, e) = d.post(
        &format!("/v1/calls/{alice_call}/dtmf"),
        Some(&serde_json::json!({"digits": "7#", "duration": 120})),
    );
    assert_eq!(status, 200, "{e}");
    assert!(
        a.wait(Duration::from_secs(20)).is_some_and(|s| s.success()),
        "{}",
        a.errors()
    );
    d.wait_all_hung_up(2, Duration::from_secs(10));
    let rid = rec["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while d.get(&format!("/v1/recordings/{rid}")).1["status"] == "recording" {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _, wav) = d.get_bytes(&format!("/v1/recordings/{rid}/file"));
    assert_eq!(status, 200);
    let audio = media::wav::decode(&wav).unwrap();
    let mut detector = media::dtmf::Detector::new(audio.rate).unwrap();
    detector.process(&audio.samples);
    detector.flush();
    let mut heard = String::new();
    while let Some(ev) = detector.poll_event() {
        if let media::dtmf::ToneEvent::Ended { digit, .. } = ev {
            heard.push(digit.to_char());
        }
    }
    assert_eq!(
        heard, "7#",
        "the tones alice heard (auto: no telephone-event)"
    );
    assert_eq!(d.stop().code(), Some(0));
}

/// A pcap (libpcap, Ethernet) of one PCMU RTP stream carrying `pcm`
/// (8 kHz), 20 ms per packet at its real pace, for SIPp's
/// `play_pcap_audio`.
fn pcmu_pcap(pcm: &[i16]) -> Vec<u8> {
    let mut out = Vec::new();
    // Global header: magic, v2.4, UTC offset, accuracy, snaplen, Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (k, chunk) in pcm.chunks(160).enumerate() {
        let mut rtp = vec![0x80, if k == 0 { 0x80 } else { 0 }];
        rtp.extend_from_slice(&(2000u16.wrapping_add(k as u16)).to_be_bytes());
        rtp.extend_from_slice(&(160 * k as u32).to_be_bytes());
        rtp.extend_from_slice(&0x5199_0002u32.to_be_bytes());
        media::codec::g711::ulaw_encode_slice(chunk, &mut rtp);
        let frame = ethernet_udp(&rtp);
        let t_us = k as u64 * 20_000;
        out.extend_from_slice(&((t_us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((t_us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// DTMF interworking as SIP INFO (`dtmf_interworking = "sip_info"`): the
/// SIPp caller sends 1 5 # 9 as RFC 4733 events; the callee's SIPp answered
/// without telephone-event, so Dialtone sends it one SIP INFO
/// (`application/dtmf-relay`) per digit, in order, each after the previous
/// one's 200, with the duration the events carried.
#[test]
fn rfc4733_digits_reach_a_phone_without_telephone_event_as_sip_info() {
    if skip() {
        return;
    }
    let config = format!("dtmf_interworking = \"sip_info\"{CONFIG}");
    let d = Dialtone::start("sipp-dtmf-info", &config, &[]);
    let bob = register_bob_with(&d, "u1", "answer_info.xml", 60, &["-trace_msg"]);
    let dir = d.dir.join("alice-u1-call_dtmf.xml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("dtmf.pcap"),
        rfc4733_pcap(&['1', '5', '#', '9'], 1000),
    )
    .unwrap();
    let mut a = alice(&d, "u1", "call_dtmf.xml", 1, 3000);
    assert!(
        a.wait(Duration::from_secs(20)).is_some_and(|s| s.success()),
        "{}",
        a.errors()
    );
    d.wait_all_hung_up(2, Duration::from_secs(10));
    let log: String = std::fs::read_dir(&bob.dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_messages.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    // Each INFO received: its Signal and Duration lines, in order.
    let infos: Vec<(String, String)> = log
        .split("INFO sip:")
        .skip(1)
        .map(|m| {
            let line = |key: &str| {
                m.lines()
                    .find_map(|l| l.trim().strip_prefix(key))
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_default()
            };
            (line("Signal="), line("Duration="))
        })
        .collect();
    let digits: String = infos.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        digits,
        "15#9",
        "INFO bodies bob got: {infos:?}\n{}",
        d.stderr()
    );
    assert!(infos.iter().all(|(_, ms)| ms == "60"), "{infos:?}");
    assert!(log.contains("application/dtmf-relay"), "{log}");
    assert_eq!(d.stop().code(), Some(0));
}

const FLOW_CONFIG: &str = r#"
trusted_peers = ["127.0.0.1"]
"#;

/// An outbound call to a `tel` number over two trunks: the first gateway
/// answers 503, the call fails over to the second, which answers; the
/// flow runs after the answer and hangs up. Both attempts are on the call.
#[test]
fn an_outbound_tel_call_fails_over_from_a_503_gateway_to_the_next() {
    if skip() {
        return;
    }
    let d = Dialtone::start("sipp-failover", FLOW_CONFIG, &[]);
    let dir = d.dir.join("gateways");
    std::fs::create_dir_all(&dir).unwrap();
    let mut gw1 = sipp(
        d.sip,
        "u1",
        "x;",
        &["-sf", &scenario("gw_503.xml"), "-m", "1", "-timeout", "30s"],
        &dir,
    );
    let mut gw2 = sipp(
        d.sip,
        "u1",
        "x;",
        &["-sf", &scenario("answer.xml"), "-m", "1", "-timeout", "30s"],
        &dir,
    );
    for (name, port, priority) in [("first", gw1.port, 1), ("second", gw2.port, 2)] {
        let (s, t) = d.post(
            "/v1/trunks",
            Some(&serde_json::json!({
                "name": name, "host": "127.0.0.1", "port": port, "priority": priority
            })),
        );
        assert_eq!(s, 201, "{t}");
    }
    // Bad input first: a clear 400 naming the number, nothing dialed.
    let (s, e) = d.post(
        "/v1/calls",
        Some(&serde_json::json!({
            "source": {"type": "tel", "target": "+15550199"},
            "destinations": [{"type": "tel", "target": "4930123456"}],
            "actions": [{"type": "hangup"}]
        })),
    );
    assert_eq!(s, 400, "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("destinations[0]") && msg.contains("4930123456"),
        "{msg}"
    );

    let (s, created) = d.post(
        "/v1/calls",
        Some(&serde_json::json!({
            "source": {"type": "tel", "target": "+15550199"},
            "destinations": [{"type": "tel", "target": "+4930123456"}],
            "actions": [{"type": "sleep", "option": {"duration": 500}}, {"type": "hangup"}],
            "webhook_uri": "http://127.0.0.1:9/per-call"
        })),
    );
    assert_eq!(s, 201, "{created}");
    let id = created["items"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        gw1.wait(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "{}",
        gw1.errors()
    );
    assert!(
        gw2.wait(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "{}",
        gw2.errors()
    );
    let calls = d.wait_all_hung_up(1, Duration::from_secs(10));
    let c = calls.iter().find(|c| c["id"] == id.as_str()).unwrap();
    let attempts = c["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{c}");
    assert_eq!(attempts[0]["route"], "first");
    assert_eq!(attempts[0]["sip_code"], 503);
    assert_eq!(attempts[0]["reason"], "failed");
    assert_eq!(attempts[1]["route"], "second");
    assert_eq!(attempts[1]["sip_code"], 200);
    assert_eq!(c["direction"], "outgoing");
    assert_eq!(
        (c["hangup_by"].as_str(), c["hangup_reason"].as_str()),
        (Some("local"), Some("normal"))
    );
    assert!(c["tm_progressing"].is_string());
    // The call's events go to its own webhook_uri (nothing listens there:
    // queued, retried), from its first event on.
    let (s, page) = d.get(&format!("/v1/webhooks/deliveries?call_id={id}"));
    assert_eq!(s, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{page}");
    assert!(
        items
            .iter()
            .all(|i| i["url"] == "http://127.0.0.1:9/per-call"),
        "{page}"
    );
    assert!(items.iter().any(|i| i["sequence"] == 1), "{page}");
    assert_eq!(d.stop().code(), Some(0));
}

/// [`CONFIG`]'s phones, and 127.0.0.1 as a trusted trunk.
fn flow_config() -> String {
    format!("trusted_peers = [\"127.0.0.1\"]\n{CONFIG}")
}

/// Saves `actions` as a flow and points `number` at it.
fn flow_number(d: &Dialtone, number: &str, actions: Value) {
    let (s, f) = d.post(
        "/v1/flows",
        Some(&serde_json::json!({ "actions": actions })),
    );
    assert_eq!(s, 201, "{f}");
    let (s, n) = d.post(
        "/v1/numbers",
        Some(&serde_json::json!({"number": number, "flow_id": f["id"]})),
    );
    assert_eq!(s, 201, "{n}");
}

/// A trunk (SIPp, trusted) calls `number` and stays until Dialtone's BYE.
fn trunk_call(d: &Dialtone, number: &str, name: &str) -> Sipp {
    let dir = d.dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dtmf.pcap"), rfc4733_pcap(&[], 0)).unwrap();
    sipp(
        d.sip,
        "u1",
        "x;",
        &[
            "-sf",
            &scenario("call_flow.xml"),
            "-s",
            number,
            "-m",
            "1",
            "-timeout",
            "40s",
        ],
        &dir,
    )
}

/// A flow's `connect` dials a registered extension (a SIPp that answers
/// and hangs up after a while): the two calls are bridged, the extension's
/// call is chained to the flow's call, and when it hangs up the flow goes
/// on (a `hangup` with reason `busy`, as the flow says).
#[test]
fn a_flow_connects_the_caller_to_an_extension_then_goes_on() {
    if skip() {
        return;
    }
    let d = Dialtone::start("sipp-connect", &flow_config(), &[]);
    let _bob = register_bob(&d, "u1", "answer_hangup.xml", 30);
    flow_number(
        &d,
        "+15550100",
        serde_json::json!([
            {"type": "answer"},
            {"type": "connect", "option": {"destinations": [{"type": "extension", "target": "200"}]}},
            {"type": "hangup", "option": {"reason": "busy"}}
        ]),
    );
    let mut trunk = trunk_call(&d, "+15550100", "trunk-connect");
    assert!(
        trunk
            .wait(Duration::from_secs(30))
            .is_some_and(|s| s.success()),
        "{}\n{}",
        trunk.errors(),
        d.stderr()
    );
    let calls = d.wait_all_hung_up(2, Duration::from_secs(10));
    let flow_call = by_direction(&calls, "incoming")[0];
    let bob_call = by_direction(&calls, "outgoing")[0];
    assert_eq!(bob_call["master_call_id"], flow_call["id"]);
    assert_eq!(flow_call["chained_call_ids"][0], bob_call["id"]);
    assert_eq!(bob_call["destination"]["target"], "200");
    assert_eq!(bob_call["source"]["target"], "+15550123", "the caller's id");
    assert!(bob_call["tm_progressing"].is_string(), "{bob_call}");
    assert_eq!(bob_call["hangup_by"], "remote", "bob hung up: {bob_call}");
    assert_eq!(
        (
            flow_call["hangup_by"].as_str(),
            flow_call["hangup_reason"].as_str()
        ),
        (Some("local"), Some("busy")),
        "the flow went on after the connect: {flow_call}"
    );
    assert_eq!(d.stop().code(), Some(0));
}

/// `POST /v1/calls/{id}/redirect` replaces a running flow: the caller
/// waits in a long `sleep`, the redirect hangs it up at once.
#[test]
fn a_redirect_replaces_the_running_flow() {
    if skip() {
        return;
    }
    let d = Dialtone::start("sipp-redirect", &flow_config(), &[]);
    flow_number(
        &d,
        "+15550100",
        serde_json::json!([{"type": "answer"}, {"type": "sleep", "option": {"duration": 60000}}]),
    );
    let mut trunk = trunk_call(&d, "+15550100", "trunk-redirect");
    wait_for_status(&d, "progressing", 1);
    let call = d.all_calls()[0]["id"].as_str().unwrap().to_owned();
    // Bad actions: 400 naming the path; the flow goes on.
    let (s, e) = d.post(
        &format!("/v1/calls/{call}/redirect"),
        Some(&serde_json::json!({"actions": [{"type": "hangup", "option": {"reason": "later"}}]})),
    );
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("actions[0].option"),
        "{e}"
    );
    let started = std::time::Instant::now();
    let (s, c) = d.post(
        &format!("/v1/calls/{call}/redirect"),
        Some(
            &serde_json::json!({"actions": [{"type": "hangup", "option": {"reason": "noanswer"}}]}),
        ),
    );
    assert_eq!(s, 200, "{c}");
    assert!(
        trunk
            .wait(Duration::from_secs(10))
            .is_some_and(|s| s.success()),
        "{}",
        trunk.errors()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut the sleep short"
    );
    let calls = d.wait_all_hung_up(1, Duration::from_secs(10));
    assert_eq!(calls[0]["hangup_reason"], "noanswer");
    let (s, _) = d.post(
        &format!("/v1/calls/{call}/redirect"),
        Some(&serde_json::json!({"actions": [{"type": "hangup"}]})),
    );
    assert_eq!(s, 404, "an ended call has no flow to redirect");
    assert_eq!(d.stop().code(), Some(0));
}

/// The flow actions not covered by the other flow tests, on one real call
/// (a SIPp trunk): beep, digits_send, mute/unmute, echo, recording
/// start/stop, webhook_send (sync: the answer sets variables), goto with a
/// loop count, condition_variable, condition_datetime, amd (on a caller
/// who says nothing: notsure, after the 2.5 s initial silence), fetch
/// (its actions replace the rest) and stop. Every action finishes `ok`, in
/// the order written, and the variables show what each did.
#[test]
fn every_flow_action_runs_on_a_real_call() {
    if skip() {
        return;
    }
    let web = FileServer::start(vec![
        ("/crm", br#"{"tier": "gold", "agent": "ana"}"#.to_vec()),
        (
            "/next",
            br#"[{"type": "variable_set", "option": {"key": "fetched", "value": "yes ${agent}"}}, {"type": "stop"}, {"type": "variable_set", "option": {"key": "after_stop", "value": "x"}}]"#
                .to_vec(),
        ),
    ]);
    let url = |p: &str| format!("http://{}{p}", web.addr);
    let d = Dialtone::start("sipp-actions", &flow_config(), &[]);
    flow_number(
        &d,
        "+15550100",
        serde_json::json!([
            {"type": "answer"},
            {"type": "beep"},
            {"type": "digits_send", "option": {"digits": "12", "duration": 100}},
            {"type": "mute", "option": {"direction": "both"}},
            {"type": "unmute"},
            {"type": "echo", "option": {"duration": 300}},
            {"type": "recording_start", "option": {"direction": "in"}},
            {"type": "recording_stop"},
            {"type": "webhook_send", "option": {"url": url("/crm"), "sync": true}},
            {"id": "again", "type": "variable_set", "option": {"key": "n", "value": "${n}x"}},
            {"type": "goto", "option": {"target_id": "again", "loop_count": 2}},
            {"type": "condition_variable", "option": {"condition": "==", "variable": "tier", "value": "gold", "false_target_id": "end"}},
            {"type": "condition_datetime", "option": {"condition": ">=", "hour": 0, "false_target_id": "end"}},
            {"type": "amd", "option": {"machine_handle": "continue"}},
            {"type": "fetch", "option": {"url": url("/next")}},
            {"id": "end", "type": "hangup", "option": {"reason": "failed"}}
        ]),
    );
    let mut ws = d.events("", Duration::from_secs(30));
    let mut trunk = trunk_call(&d, "+15550100", "trunk-actions");
    let mut got: Vec<Value> = Vec::new();
    while !got.iter().any(|e| e["type"] == "call_hangup") {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                got.push(serde_json::from_str(t.as_str()).unwrap())
            }
            Ok(_) => {}
            Err(e) => panic!("{e}: {got:#?}\n{}", d.stderr()),
        }
    }
    assert!(
        trunk
            .wait(Duration::from_secs(10))
            .is_some_and(|s| s.success()),
        "{}",
        trunk.errors()
    );
    let finished: Vec<(String, String)> = got
        .iter()
        .filter(|e| e["type"] == "flow_action_finished")
        .map(|e| {
            (
                e["data"]["action"]["type"].as_str().unwrap().to_owned(),
                e["data"]["result"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let failed: Vec<&Value> = got
        .iter()
        .filter(|e| e["type"] == "flow_action_finished" && e["data"]["result"]["status"] != "ok")
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let order: Vec<&str> = finished.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        order,
        [
            "answer",
            "beep",
            "digits_send",
            "mute",
            "unmute",
            "echo",
            "recording_start",
            "recording_stop",
            "webhook_send",
            "variable_set",
            "goto",
            "variable_set",
            "goto",
            "variable_set",
            "goto",
            "condition_variable",
            "condition_datetime",
            "amd",
            "fetch",
            "variable_set",
            "stop"
        ],
        "{got:#?}"
    );
    let kinds: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for k in [
        "play_started",
        "recording_started",
        "recording_finished",
        "amd_result",
    ] {
        assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
    }
    let amd = got.iter().find(|e| e["type"] == "amd_result").unwrap();
    assert_eq!(amd["data"]["result"], "notsure", "{amd}");
    let end = got.iter().find(|e| e["type"] == "flow_finished").unwrap();
    let vars = &end["data"]["variables"];
    assert_eq!(vars["tier"], "gold", "{end}");
    assert_eq!(vars["n"], "xxx", "goto looped twice: {end}");
    assert_eq!(vars["fetched"], "yes ana", "{end}");
    assert!(vars["after_stop"].is_null(), "stop stops: {end}");
    assert_eq!(end["data"]["reason"], "stop", "{end}");
    let call = got.iter().find(|e| e["type"] == "call_hangup").unwrap();
    assert_eq!(
        call["data"]["hangup_reason"], "normal",
        "a finished flow hangs up normal"
    );
    assert_eq!(d.stop().code(), Some(0));
}

/// A trunk with `register: true` registers at its gateway (SIPp as the
/// provider's registrar: a digest challenge, then 200 for 60 s), and the
/// trunk shows it.
#[test]
fn a_registering_trunk_registers_at_its_gateway() {
    if skip() {
        return;
    }
    let d = Dialtone::start("sipp-trunk-register", &flow_config(), &[]);
    let dir = d.dir.join("registrar");
    std::fs::create_dir_all(&dir).unwrap();
    let mut registrar = sipp(
        d.sip,
        "u1",
        "x;",
        &[
            "-sf",
            &scenario("registrar.xml"),
            "-m",
            "1",
            "-timeout",
            "20s",
        ],
        &dir,
    );
    // Credentials are required to register: a clear 400 otherwise.
    let (s, e) = d.post(
        "/v1/trunks",
        Some(&serde_json::json!({"name": "p", "host": "127.0.0.1", "port": registrar.port, "register": true})),
    );
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("register"),
        "{e}"
    );
    let (s, t) = d.post(
        "/v1/trunks",
        Some(&serde_json::json!({
            "name": "provider", "host": "127.0.0.1", "port": registrar.port,
            "username": "gwuser", "password": "gwpass", "register": true
        })),
    );
    assert_eq!(s, 201, "{t}");
    assert!(
        t.get("password").is_none_or(|p| p.is_null()),
        "write-only: {t}"
    );
    let id = t["id"].as_str().unwrap().to_owned();
    assert!(
        registrar
            .wait(Duration::from_secs(15))
            .is_some_and(|s| s.success()),
        "{}\n{}",
        registrar.errors(),
        d.stderr()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, t) = d.get(&format!("/v1/trunks/{id}"));
        if t["registration"]["status"] == "registered" {
            assert_eq!(t["registration"]["sip_code"], 200, "{t}");
            assert_eq!(t["registration"]["expires"], 60, "{t}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not registered: {t}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(d.stop().code(), Some(0));
}

/// `POST /v1/calls` with `ring_method: linear`: the first destination (a
/// SIPp answering 486) fails, the second (a SIPp that answers) is dialed
/// next, and the flow runs on it (its `hangup` reason is on that call).
#[test]
fn a_linear_outbound_call_runs_its_flow_on_the_destination_that_answers() {
    if skip() {
        return;
    }
    let d = Dialtone::start("sipp-linear", &flow_config(), &[]);
    let dir = d.dir.join("linear");
    std::fs::create_dir_all(&dir).unwrap();
    let mut busy = sipp(
        d.sip,
        "u1",
        "x;",
        &["-sf", &scenario("busy.xml"), "-m", "1", "-timeout", "30s"],
        &dir,
    );
    let mut answers = sipp(
        d.sip,
        "u1",
        "x;",
        &["-sf", &scenario("answer.xml"), "-m", "1", "-timeout", "30s"],
        &dir,
    );
    let (s, created) = d.post(
        "/v1/calls",
        Some(&serde_json::json!({
            "source": {"type": "tel", "target": "+15550199"},
            "destinations": [
                {"type": "sip", "target": format!("sip:first@127.0.0.1:{}", busy.port)},
                {"type": "sip", "target": format!("sip:second@127.0.0.1:{}", answers.port)}
            ],
            "ring_method": "linear",
            "actions": [{"type": "sleep", "option": {"duration": 300}}, {"type": "hangup", "option": {"reason": "busy"}}]
        })),
    );
    assert_eq!(s, 201, "{created}");
    assert_eq!(
        created["items"].as_array().unwrap().len(),
        1,
        "linear: the first only"
    );
    assert!(
        busy.wait(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "{}",
        busy.errors()
    );
    assert!(
        answers
            .wait(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "{}",
        answers.errors()
    );
    let calls = d.wait_all_hung_up(2, Duration::from_secs(10));
    let second = calls
        .iter()
        .find(|c| {
            c["destination"]["target"]
                .as_str()
                .is_some_and(|t| t.contains("second"))
        })
        .expect("the second destination was dialed");
    assert_eq!(
        (
            second["hangup_by"].as_str(),
            second["hangup_reason"].as_str()
        ),
        (Some("local"), Some("busy")),
        "the flow ran on it: {second}"
    );
    let first = calls
        .iter()
        .find(|c| c["id"] == created["items"][0]["id"])
        .unwrap();
    assert_eq!(first["hangup_reason"], "busy");
    assert_eq!(first["sip_code"], 486);
    assert_eq!(d.stop().code(), Some(0));
}
