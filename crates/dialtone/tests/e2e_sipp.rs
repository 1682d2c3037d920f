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
    let dir = d.dir.join(format!("bob-{transport}-{callee}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bob = sipp(
        d.sip,
        transport,
        "200;bob-secret-22;",
        &[
            "-au",
            "200",
            "-ap",
            "bob-secret-22",
            "-sf",
            &scenario("register.xml"),
            "-oocsf",
            &scenario(callee),
            "-m",
            "1",
            "-d",
            &(secs * 1000).to_string(),
        ],
        &dir,
    );
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
