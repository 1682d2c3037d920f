//! `dialtone phone` against real peers: the binary runs as one or more
//! phones (`call`, `listen`, `shell`), each printing its events as JSON
//! lines (`--json`) that the tests read back, and registers at the real
//! `dialtone serve` or at a real Kamailio 5.6 (`common::kamailio`). The peers
//! are baresip, SIPp UASes behind Kamailio's static routes
//! (`tests/e2e/sipp/ua_*.xml`, each failing its call when the phone does not
//! do what it checks) and other `dialtone phone`s.
//!
//! Every test asserts what a user would notice: the call was established
//! and ended `normal`, the digits came back in order, the recording holds
//! the 1 kHz tone, the caller ended up talking to the forwarding target, the
//! exit status. Each test says SKIPPED, and passes, where a tool it needs
//! (`sipp`, `kamailio`, `baresip`, `tmux`) is not installed; `.ci/run`
//! installs them. Every wait is bounded; every process is the test's own and
//! is killed when the test ends (its output printed if the test failed).

mod common;

use common::baresip::*;
use common::kamailio::*;
use common::softphone::*;
use common::tmux::{Tmux, TMUX};
use common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Dialtone's extensions for the phones (the default digest: SHA-256
/// offered first, then MD5).
const DIALTONE_EXTENSIONS: &str = r#"
[[extensions]]
extension = "100"
password = "alice-secret-1"
[[extensions]]
extension = "200"
password = "bob-secret-22"
[[extensions]]
extension = "300"
password = "carol-secret-3"
"#;

/// The same for baresip, which gives up on a challenge naming SHA-256
/// (see `e2e_phones.rs`): MD5 alone.
const DIALTONE_MD5_ONLY: &str = r#"
auth_algorithms = ["MD5"]
[[extensions]]
extension = "100"
password = "alice-secret-1"
[[extensions]]
extension = "200"
password = "bob-secret-22"
"#;

// ---- 1. calls with baresip through Dialtone --------------------------------

/// The phone (100) registers at Dialtone and calls baresip (200, answering
/// by itself): established, then `--hangup-after` ends it `normal` by the
/// phone, which exits 0 and leaves baresip without a call. Then baresip
/// calls the phone (`listen --auto-answer 0 --calls 1`): incoming from 200,
/// established, ended by baresip's hangup; the listener exits 0.
#[test]
fn phone_calls_baresip_and_baresip_calls_phone_through_dialtone() {
    if !installed(BARESIP) {
        return;
    }
    let dir = TestDir::new("phone-baresip");
    let d = Dialtone::start("phone-baresip", DIALTONE_MD5_ONLY, &[]);
    let baresip = Baresip::start(&d, "200", "bob-secret-22", true);
    let phones: [&dyn Phone; 1] = [&baresip];
    wait_registered(&d, &["200"], &phones);

    let mut caller = PhoneCli::call(
        &dir,
        "caller",
        d.sip,
        ("100", "alice-secret-1"),
        "200",
        &["--hangup-after", "2s"],
    );
    assert_eq!(caller.wait_exit(), 0, "{}", caller.describe());
    let call = caller.call_of("established");
    assert_eq!(
        caller.state_names(call),
        ["dialing", "ringing", "established", "ended"],
        "{}",
        caller.describe()
    );
    assert_eq!(caller.ended(call), ("normal".into(), "local".into()));
    baresip.wait_no_call(&d, &phones);

    let mut callee = PhoneCli::listen(
        &dir,
        "callee",
        d.sip,
        ("100", "alice-secret-1"),
        &["--auto-answer", "0", "--calls", "1"],
    );
    wait_registered(&d, &["100"], &phones);
    baresip.command("dial", &format!("sip:100@{}", d.sip), &d, &phones);
    let incoming = callee.wait_event("incoming call", |e| e["event"] == "incoming");
    assert_eq!(incoming["from"]["user"], "200", "{incoming}");
    let call = incoming["call"].as_u64().unwrap();
    callee.wait_state(call, "established");
    std::thread::sleep(Duration::from_secs(1));
    baresip.command("hangup", "", &d, &phones);
    assert_eq!(callee.wait_exit(), 0, "{}", callee.describe());
    assert_eq!(callee.ended(call), ("normal".into(), "remote".into()));
    assert_eq!(
        callee.state_names(call),
        ["ringing", "established", "ended"],
        "{}",
        callee.describe()
    );
}

// ---- 2. calls and DTMF through Kamailio to SIPp ----------------------------

/// 1001 registers at Kamailio and calls SIPp UASes on a static route:
/// - `9100` (ua_uas_info_dtmf.xml, PCMU alone): established; `--dtmf 12#
///   --dtmf-method info` sends three INFOs that the UAS checks (1, 2, # in
///   order: SIPp exits 0); the phone hangs up and exits 0.
/// - `9200` (ua_uas_echo.xml run with `-rtp_echo`): `--dtmf 12#` as RFC 4733
///   events, which the UAS sends back, so the phone reports its own digits
///   as `dtmf` events with method `rfc4733`, in order.
#[test]
fn phone_calls_sipp_through_kamailio_and_sends_dtmf_both_ways() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let dir = TestDir::new("phone-dtmf");
    let mut info = sipp_uas("ua_uas_info_dtmf.xml", "u1", &[], &dir.join("info"));
    let mut echo = sipp_uas("ua_uas_echo.xml", "u1", &["-rtp_echo"], &dir.join("echo"));
    let kam = Kamailio::start(
        &KamailioOptions::new("phone-dtmf")
            .route("^91", info.addr())
            .route("^92", echo.addr()),
    );

    let mut phone = PhoneCli::call(
        &dir,
        "info",
        kam.addr,
        ("1001", PASSWORD),
        "9100",
        &[
            "--dtmf",
            "12#",
            "--dtmf-method",
            "info",
            "--dtmf-delay",
            "300ms",
            "--hangup-after",
            "2s",
        ],
    );
    assert_eq!(phone.wait_exit(), 0, "{}", phone.describe());
    let call = phone.call_of("established");
    assert_eq!(phone.ended(call), ("normal".into(), "local".into()));
    assert!(phone.has_op(call, "send_dtmf"), "{}", phone.describe());
    info.assert_passed();
    kam.wait_event("relay INFO sip:info@", WAIT);

    let mut phone = PhoneCli::call(
        &dir,
        "rfc4733",
        kam.addr,
        ("1001", PASSWORD),
        "9200",
        &[
            "--dtmf",
            "12#",
            "--dtmf-delay",
            "500ms",
            "--hangup-after",
            "3s",
        ],
    );
    assert_eq!(phone.wait_exit(), 0, "{}", phone.describe());
    let call = phone.call_of("established");
    assert!(phone.has_op(call, "send_dtmf"), "{}", phone.describe());
    let digits: Vec<(String, String)> = phone
        .events()
        .iter()
        .filter(|e| e["event"] == "dtmf")
        .map(|e| {
            (
                e["digit"].as_str().unwrap_or("").to_owned(),
                e["method"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        digits,
        [("1", "rfc4733"), ("2", "rfc4733"), ("#", "rfc4733")].map(|(d, m)| (d.into(), m.into())),
        "{}",
        phone.describe()
    );
    echo.assert_passed();
}

// ---- 3. a tone from one phone, recorded by the other -----------------------

/// Phone A listens and records what it hears (`--record rx.wav
/// --record-mode rx`); phone B calls it sending a 1 kHz tone and hangs up
/// after 3 s. A's recording holds at least 1.5 s of audio whose energy is
/// mostly at 1 kHz: through Dialtone (which anchors the media; A
/// registered over TCP) ...
#[test]
fn a_tone_reaches_the_other_phone_intact_through_dialtone() {
    let dir = TestDir::new("phone-tone-dialtone");
    let d = Dialtone::start("phone-tone", DIALTONE_EXTENSIONS, &[]);
    tone_between_phones(
        &dir,
        d.sip,
        ("100", "alice-secret-1"),
        ("200", "bob-secret-22"),
        "tcp",
    );
}

/// ... and through Kamailio (media straight between the phones).
#[test]
fn a_tone_reaches_the_other_phone_intact_through_kamailio() {
    if !kamailio_installed() {
        return;
    }
    let dir = TestDir::new("phone-tone-kamailio");
    let kam = Kamailio::start(&KamailioOptions::new("phone-tone"));
    tone_between_phones(
        &dir,
        kam.addr,
        ("1001", PASSWORD),
        ("1002", PASSWORD),
        "udp",
    );
}

/// A (`a`, over `transport`) records, B (`b`, over UDP) calls it with the tone.
fn tone_between_phones(
    dir: &Path,
    server: SocketAddr,
    a: (&str, &str),
    b: (&str, &str),
    transport: &str,
) {
    let wav = dir.join("rx.wav");
    let wav_arg = wav.to_string_lossy().into_owned();
    let mut callee = PhoneCli::listen(
        dir,
        "A",
        server,
        a,
        &[
            "--auto-answer",
            "0",
            "--record",
            &wav_arg,
            "--record-mode",
            "rx",
            "--calls",
            "1",
            "--transport",
            transport,
        ],
    );
    let mut caller = PhoneCli::call(
        dir,
        "B",
        server,
        b,
        a.0,
        &["--tone", "1000", "--hangup-after", "3s"],
    );
    assert_eq!(caller.wait_exit(), 0, "{}", caller.describe());
    assert_eq!(callee.wait_exit(), 0, "{}", callee.describe());
    let recording = callee.wait_event("the recording", |e| e["event"] == "recording");
    assert_eq!(recording["path"], wav_arg.as_str(), "{recording}");
    let audio = media::wav::decode(&std::fs::read(&wav).expect("the recording exists"))
        .expect("the recording is a WAV file");
    let tone = tone_share(&audio.samples, audio.rate, 1000.0);
    println!(
        "tone via {server}: {:.2} s recorded ({} ms reported), {:.2} s of audio, {:.1} % at 1 kHz",
        audio.samples.len() as f64 / f64::from(audio.rate),
        recording["duration_ms"],
        tone.audible_secs,
        tone.share * 100.0
    );
    assert!(
        tone.audible_secs >= 1.5,
        "at least 1.5 s of audio: {:.2} s\n{}",
        tone.audible_secs,
        callee.describe()
    );
    assert!(
        tone.share > 0.8,
        "most of the energy at 1 kHz: {:.1} %",
        tone.share * 100.0
    );
}

/// What a recording holds of a tone.
struct ToneShare {
    /// Seconds of 100 ms windows louder than -40 dBFS.
    audible_secs: f64,
    /// The share of those windows' energy at the tone's frequency (10 Hz wide).
    share: f64,
}

/// Goertzel over 100 ms windows (10 Hz bins, so 1 kHz sits on one): the
/// energy of the bin at `hz` (counted for both its halves of the spectrum,
/// 2|X|²/N) over the windows' whole energy (Parseval: Σx²). A pure tone
/// at `hz` gives 1.
fn tone_share(samples: &[i16], rate: u32, hz: f64) -> ToneShare {
    let n = rate as usize / 10;
    let (mut at_hz, mut total, mut audible) = (0.0, 0.0, 0usize);
    for w in samples.chunks_exact(n) {
        let energy: f64 = w.iter().map(|&s| f64::from(s).powi(2)).sum();
        // -40 dBFS RMS.
        if energy / n as f64 > (32768.0f64 * 0.01).powi(2) {
            audible += 1;
            total += energy;
            at_hz += 2.0 * goertzel_power(w, hz, f64::from(rate)) / n as f64;
        }
    }
    ToneShare {
        audible_secs: audible as f64 * 0.1,
        share: if total > 0.0 { at_hz / total } else { 0.0 },
    }
}

// ---- 4. hold and unhold ------------------------------------------------------

/// `--at 1s=hold --at 2s=unhold --hangup-after 3s` against
/// ua_uas_hold.xml (which checks the hold offer is `sendonly` and the resume
/// offer `sendrecv`: SIPp exits 0); the phone prints op hold ok, state held,
/// op unhold ok, state established, in that order.
#[test]
fn hold_and_unhold_against_sipp() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let dir = TestDir::new("phone-hold-sipp");
    let (mut uas, kam) = uas_behind_kamailio("phone-hold", "ua_uas_hold.xml", &[], &dir);
    let mut phone = PhoneCli::call(
        &dir,
        "holder",
        kam.addr,
        ("1001", PASSWORD),
        "9000",
        &[
            "--at",
            "1s=hold",
            "--at",
            "2s=unhold",
            "--hangup-after",
            "3s",
        ],
    );
    assert_eq!(phone.wait_exit(), 0, "{}", phone.describe());
    let call = phone.call_of("established");
    let seen: Vec<String> = phone
        .events()
        .iter()
        .filter(|e| e["call"] == call)
        .filter_map(|e| match e["event"].as_str() {
            Some("op") => Some(format!("op {} {}", e["op"].as_str()?, e["ok"])),
            Some("state") => Some(format!("state {}", e["state"].as_str()?)),
            _ => None,
        })
        .collect();
    assert_eq!(
        seen,
        [
            "state dialing",
            "state ringing",
            "state established",
            "op hold true",
            "state held",
            "op unhold true",
            "state established",
            "state ended",
        ],
        "{}",
        phone.describe()
    );
    uas.assert_passed();
}

/// Phone to phone through Kamailio (the callee on TCP): when the caller
/// holds and resumes, the callee sees `remotely_held`, then `established`.
#[test]
fn the_held_phone_sees_remotely_held_then_established() {
    if !kamailio_installed() {
        return;
    }
    let dir = TestDir::new("phone-hold-phones");
    let kam = Kamailio::start(&KamailioOptions::new("phone-hold-phones"));
    let mut callee = PhoneCli::listen(
        &dir,
        "held",
        kam.addr,
        ("1002", PASSWORD),
        &["--auto-answer", "0", "--calls", "1", "--transport", "tcp"],
    );
    let mut caller = PhoneCli::call(
        &dir,
        "holder",
        kam.addr,
        ("1001", PASSWORD),
        "1002",
        &[
            "--at",
            "1s=hold",
            "--at",
            "2s=unhold",
            "--hangup-after",
            "3s",
        ],
    );
    assert_eq!(caller.wait_exit(), 0, "{}", caller.describe());
    assert_eq!(callee.wait_exit(), 0, "{}", callee.describe());
    let call = callee.call_of("established");
    assert_eq!(
        callee.state_names(call),
        [
            "ringing",
            "established",
            "remotely_held",
            "established",
            "ended"
        ],
        "{}",
        callee.describe()
    );
    assert_eq!(callee.ended(call), ("normal".into(), "remote".into()));
}

// ---- 5. forwarding -----------------------------------------------------------

/// B (1002) forwards every call to C (1003) with 302, by `--forward 1003`
/// and by `--forward-rule unconditional=1003`; A (1001) calls B through
/// Kamailio and ends up established with C, who sees the call come from
/// 1001; B's call ends `forwarded`.
#[test]
fn a_forwarded_call_reaches_the_target() {
    if !kamailio_installed() {
        return;
    }
    let dir = TestDir::new("phone-forward");
    let kam = Kamailio::start(&KamailioOptions::new("phone-forward"));
    for (n, how) in [
        ["--forward", "1003"],
        ["--forward-rule", "unconditional=1003"],
    ]
    .iter()
    .enumerate()
    {
        let (b, a) = forward_once(&dir, &kam, &format!("{n}"), how);
        if how[0] == "--forward-rule" {
            let f = b.wait_event("forwarded", |e| e["event"] == "forwarded");
            assert_eq!(f["condition"], "unconditional", "{f}");
            assert_eq!(f["target"], "1003", "{f}");
        }
        drop((b, a));
    }
}

/// The same through Dialtone: the B2BUA passes B's 302 (with its Contact)
/// to A, which calls C through Dialtone.
#[test]
fn a_forwarded_call_reaches_the_target_through_dialtone() {
    let dir = TestDir::new("phone-forward-dialtone");
    let d = Dialtone::start("phone-forward", DIALTONE_EXTENSIONS, &[]);
    let mut c = PhoneCli::listen(
        &dir,
        "C",
        d.sip,
        ("300", "carol-secret-3"),
        &["--auto-answer", "0", "--calls", "1"],
    );
    let mut b = PhoneCli::listen(
        &dir,
        "B",
        d.sip,
        ("200", "bob-secret-22"),
        &["--forward", "300", "--calls", "1"],
    );
    wait_registered(&d, &["200", "300"], &[]);
    let mut a = PhoneCli::call(
        &dir,
        "A",
        d.sip,
        ("100", "alice-secret-1"),
        "200",
        &["--hangup-after", "2s"],
    );
    assert_eq!(a.wait_exit(), 0, "A: {}", a.describe());
    assert_eq!(c.wait_exit(), 0, "C: {}", c.describe());
    assert_eq!(b.wait_exit(), 0, "B: {}", b.describe());
    let incoming = c.wait_event("C's incoming call", |e| e["event"] == "incoming");
    assert_eq!(incoming["from"]["user"], "100", "{incoming}");
    let at_c = incoming["call"].as_u64().unwrap();
    assert_eq!(
        c.state_names(at_c),
        ["ringing", "established", "ended"],
        "C: {}",
        c.describe()
    );
    let at_b = b.wait_event("B's incoming call", |e| e["event"] == "incoming")["call"]
        .as_u64()
        .unwrap();
    assert_eq!(b.ended(at_b).0, "forwarded", "B: {}", b.describe());
    let at_a = a.call_of("established");
    assert_eq!(a.ended(at_a), ("normal".into(), "local".into()));
}

/// `--forward-rule no_reply=1003@2`: B rings for 2 s, then forwards; A
/// rings first and ends up established with C.
#[test]
fn a_call_nobody_answers_is_forwarded_after_the_rule_time() {
    if !kamailio_installed() {
        return;
    }
    let dir = TestDir::new("phone-forward-noreply");
    let kam = Kamailio::start(&KamailioOptions::new("phone-forward-noreply"));
    let (b, a) = forward_once(
        &dir,
        &kam,
        "noreply",
        &["--forward-rule", "no_reply=1003@2"],
    );
    let f = b.wait_event("forwarded", |e| e["event"] == "forwarded");
    assert_eq!(f["condition"], "no_reply", "{f}");
    let rang = b.time_of(|e| e["event"] == "incoming");
    let forwarded = b.time_of(|e| e["event"] == "forwarded");
    assert!(
        forwarded - rang >= Duration::from_millis(1800),
        "B rang {:?} before forwarding\n{}",
        forwarded - rang,
        b.describe()
    );
    let call = a.call_of("established");
    assert!(
        a.state_names(call).contains(&"ringing".to_owned()),
        "{}",
        a.describe()
    );
}

/// One forwarded call: C (1003) answers, B (1002) forwards with `how`, A
/// (1001) calls 1002 for 2 s. Checks what each sees; returns B and A.
fn forward_once(dir: &Path, kam: &Kamailio, name: &str, how: &[&str]) -> (PhoneCli, PhoneCli) {
    let mut c = PhoneCli::listen(
        dir,
        &format!("C{name}"),
        kam.addr,
        ("1003", PASSWORD),
        &["--auto-answer", "0", "--calls", "1"],
    );
    let mut args = vec!["--calls", "1"];
    args.extend_from_slice(how);
    let mut b = PhoneCli::listen(
        dir,
        &format!("B{name}"),
        kam.addr,
        ("1002", PASSWORD),
        &args,
    );
    let mut a = PhoneCli::call(
        dir,
        &format!("A{name}"),
        kam.addr,
        ("1001", PASSWORD),
        "1002",
        &["--hangup-after", "2s"],
    );
    assert_eq!(a.wait_exit(), 0, "A: {}", a.describe());
    assert_eq!(c.wait_exit(), 0, "C: {}", c.describe());
    assert_eq!(b.wait_exit(), 0, "B: {}", b.describe());
    let incoming = c.wait_event("C's incoming call", |e| e["event"] == "incoming");
    assert_eq!(incoming["from"]["user"], "1001", "{incoming}");
    let at_c = incoming["call"].as_u64().unwrap();
    assert_eq!(
        c.state_names(at_c),
        ["ringing", "established", "ended"],
        "C: {}",
        c.describe()
    );
    // A rule forwards at once, without an `incoming` event.
    let at_b = b.wait_event("B's call", |e| e["call"].is_u64())["call"]
        .as_u64()
        .unwrap();
    assert_eq!(b.ended(at_b).0, "forwarded", "B: {}", b.describe());
    assert!(
        !b.state_names(at_b).contains(&"established".to_owned()),
        "B never answered: {}",
        b.describe()
    );
    let at_a = a.call_of("established");
    assert_eq!(a.ended(at_a), ("normal".into(), "local".into()));
    kam.wait_event("reply 302 Moved Temporarily INVITE", WAIT);
    kam.wait_event("relay INVITE sip:1003@", WAIT);
    (b, a)
}

// ---- 6. call waiting ---------------------------------------------------------

/// B (1002) takes a second call while one is up (`--call-waiting accept`):
/// A (1001) calls B; 1.5 s later C (1003) calls B. B prints `call_waiting`
/// for C's call (from 1003, while A's is active), A's phone sees
/// `remotely_held` (B held it to take C), and C's call is established.
#[test]
fn call_waiting_accepts_the_second_call_and_holds_the_first() {
    if !kamailio_installed() {
        return;
    }
    let dir = TestDir::new("phone-call-waiting");
    let kam = Kamailio::start(&KamailioOptions::new("phone-call-waiting"));
    let mut b = PhoneCli::listen(
        &dir,
        "B",
        kam.addr,
        ("1002", PASSWORD),
        &[
            "--auto-answer",
            "0",
            "--call-waiting",
            "accept",
            "--calls",
            "2",
        ],
    );
    let mut a = PhoneCli::call(
        &dir,
        "A",
        kam.addr,
        ("1001", PASSWORD),
        "1002",
        &["--hangup-after", "5s"],
    );
    let first = a.wait_event("A established", |e| is_state(e, "established"))["call"]
        .as_u64()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut c = PhoneCli::call(
        &dir,
        "C",
        kam.addr,
        ("1003", PASSWORD),
        "1002",
        &["--hangup-after", "1s"],
    );
    let waiting = b.wait_event("call_waiting", |e| e["event"] == "call_waiting");
    assert_eq!(waiting["from"]["user"], "1003", "{waiting}");
    let at_b_first = b.wait_event("B's first call", |e| e["event"] == "incoming")["call"].clone();
    assert_eq!(waiting["active"], at_b_first, "{waiting}");
    a.wait_state(first, "remotely_held");
    assert_eq!(c.wait_exit(), 0, "C: {}", c.describe());
    let at_c = c.call_of("established");
    assert_eq!(c.ended(at_c), ("normal".into(), "local".into()));
    assert_eq!(a.wait_exit(), 0, "A: {}", a.describe());
    assert_eq!(b.wait_exit(), 0, "B: {}", b.describe());
    let second = waiting["call"].as_u64().unwrap();
    assert!(
        b.state_names(second).contains(&"established".to_owned()),
        "B: {}",
        b.describe()
    );
}

// ---- 7. anonymous calls --------------------------------------------------------

/// `call --anonymous` through Kamailio (whose config lets an INVITE from
/// `anonymous@anonymous.invalid` reach a static route without digest) to
/// ua_uas_anonymous.xml, which checks `From: ...<sip:anonymous@anonymous.invalid>`
/// and `Privacy: id` (SIPp exits 0). The same UAS fails a call that is
/// not anonymous (the scenario's own check).
#[test]
fn an_anonymous_call_hides_the_caller() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let dir = TestDir::new("phone-anonymous");
    let (mut uas, kam) = uas_behind_kamailio(
        "phone-anonymous",
        "ua_uas_anonymous.xml",
        &["-m", "2"],
        &dir,
    );
    let mut phone = PhoneCli::start(
        &dir,
        "anonymous",
        &[
            "call",
            "9000",
            "--server",
            &kam.addr.to_string(),
            "--anonymous",
            "--hangup-after",
            "1s",
            "--timeout",
            "15s",
            "--json",
        ],
    );
    assert_eq!(phone.wait_exit(), 0, "{}", phone.describe());
    let call = phone.call_of("established");
    assert_eq!(phone.ended(call), ("normal".into(), "local".into()));
    assert!(
        !phone.events().iter().any(|e| e["event"] == "registration"),
        "an anonymous phone does not register: {}",
        phone.describe()
    );
    kam.wait_event("anonymous INVITE sip:9000@", WAIT);

    // 1001, not anonymous: the UAS refuses the second call.
    let mut named = PhoneCli::call(
        &dir,
        "named",
        kam.addr,
        ("1001", PASSWORD),
        "9000",
        &["--hangup-after", "1s"],
    );
    named.wait_exit();
    let status = uas.sipp.wait(WAIT).expect("the UAS ends");
    assert_eq!(
        status.code(),
        Some(1),
        "one call passed the checks, the other failed: {}",
        uas.sipp.errors()
    );
    let errors = uas.sipp.errors();
    assert!(
        errors.contains("<sip:1001@") && errors.contains("anonymous@anonymous"),
        "the UAS refused 1001's From: {errors}"
    );
}

// ---- 8. exit status ---------------------------------------------------------------

/// A call to a busy SIPp UAS (busy.xml: 486) exits 1 by default (not the
/// expected outcome) and 0 with `--expect busy`, ending `busy`; a bad
/// digit in `--dtmf` exits 2 with a message naming it.
#[test]
fn exit_status_tells_the_outcome() {
    let dir = TestDir::new("phone-exit");
    let mut bad = PhoneCli::start(
        &dir,
        "bad-flag",
        &[
            "call",
            "1002",
            "--server",
            "127.0.0.1:5060",
            "--dtmf",
            "12x",
        ],
    );
    assert_eq!(bad.wait_exit(), 2, "{}", bad.describe());
    let stderr = bad.stderr();
    assert!(stderr.contains("'x'"), "the message names x: {stderr}");

    if !sipp_and_kamailio_installed() {
        return;
    }
    let (mut uas, kam) = uas_behind_kamailio("phone-exit", "busy.xml", &["-m", "2"], &dir);
    for (expect, code) in [(None, 1), (Some("busy"), 0)] {
        let mut extra = vec![];
        if let Some(e) = expect {
            extra.extend(["--expect", e]);
        }
        let mut phone = PhoneCli::call(&dir, "busy", kam.addr, ("1001", PASSWORD), "9000", &extra);
        assert_eq!(
            phone.wait_exit(),
            code,
            "--expect {expect:?}: {}",
            phone.describe()
        );
        let call = phone.call_of("dialing");
        let ended = phone.wait_state(call, "ended");
        assert_eq!(ended["reason"], "busy", "{ended}");
        assert_eq!(ended["sip_code"], 486, "{ended}");
    }
    uas.assert_passed();
}

// ---- 9. the interactive shell ---------------------------------------------------

/// `dialtone phone shell` in a detached tmux session (its own server
/// socket): `call 9000` (ua_uas_hold.xml, echoing RTP) shows
/// `established`; `hold` shows `Hold done`; `stats` shows the `inbound-rtp`
/// statistics, which count the echoed packets; `unhold`
/// shows `Unhold done`; `hangup` shows `ended`; `quit` ends the shell with
/// status 0. The UAS checks the hold and resume offers (SIPp exits 0).
#[test]
fn the_shell_drives_a_call_under_tmux() {
    if !installed(TMUX) || !sipp_and_kamailio_installed() {
        return;
    }
    let dir = TestDir::new("phone-shell");
    let (mut uas, kam) =
        uas_behind_kamailio("phone-shell", "ua_uas_hold.xml", &["-rtp_echo"], &dir);
    let shell = Tmux::start(
        &dir,
        &[
            env!("CARGO_BIN_EXE_dialtone"),
            "phone",
            "shell",
            "--server",
            &kam.addr.to_string(),
            "--user",
            "1001",
            "--password",
            PASSWORD,
        ],
    );
    shell.wait_for("registration: registered");
    shell.send("call 9000");
    shell.wait_for(": established");
    // Let the UAS echo some of the phone's audio.
    std::thread::sleep(Duration::from_secs(1));
    shell.send("hold");
    shell.wait_for("Hold done");
    shell.send("stats");
    shell.wait_for("\"remote-outbound-rtp\"");
    let received = shell
        .capture()
        .split("\"inbound-rtp\"")
        .nth(1)
        .and_then(|s| s.split("\"packetsReceived\":").nth(1))
        .and_then(|s| s.split([',', '\n']).next())
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(
        received.is_some_and(|n| n > 0),
        "stats count the echoed RTP: {received:?}\n{}",
        shell.capture()
    );
    shell.send("unhold");
    shell.wait_for("Unhold done");
    shell.send("hangup");
    shell.wait_for(": ended normal by local");
    shell.send("quit");
    assert_eq!(shell.wait_exit(), 0, "{}", shell.capture());
    uas.assert_passed();
}
