//! The Kamailio harness the softphone's tests stand on, proven without the
//! softphone: SIPp phones register at a real Kamailio 5.6 with digest
//! (`tests/e2e/kamailio/registrar.cfg.in`), call each other through it, and
//! reach SIPp callees over static routes; each `ua_uas_*` / `ua_uac_*`
//! scenario of `tests/e2e/sipp/` passes against a peer that behaves and
//! fails against one that does not.
//! Each test says SKIPPED, and passes, where `kamailio` or `sipp` is not
//! installed (`.ci/run` installs both).

mod common;

use common::kamailio::*;
use common::*;
use std::path::Path;
use std::time::Duration;

/// The longest any SIPp run may take.
const WAIT: Duration = Duration::from_secs(20);

/// A SIPp phone: its digest user and password, the user it registers or
/// calls as (the digest user unless told), and its transport.
#[derive(Clone, Copy)]
struct Phone<'a> {
    user: &'a str,
    password: &'a str,
    address: &'a str,
    transport: &'a str,
}

impl<'a> Phone<'a> {
    /// `user` with [`PASSWORD`] over UDP.
    fn new(user: &'a str) -> Phone<'a> {
        Phone {
            user,
            password: PASSWORD,
            address: user,
            transport: "u1",
        }
    }

    fn password(self, password: &'a str) -> Phone<'a> {
        Phone { password, ..self }
    }

    /// Registers or calls as `address` with `user`'s credentials.
    fn address(self, address: &'a str) -> Phone<'a> {
        Phone { address, ..self }
    }

    /// `u1` or `t1`.
    fn transport(self, transport: &'a str) -> Phone<'a> {
        Phone { transport, ..self }
    }

    /// Runs `scenario_file` once at `kam` with `args` (`-s`, `-d`...), its
    /// logs in a directory of its own under `dir`.
    fn run(self, kam: &Kamailio, dir: &Path, scenario_file: &str, args: &[&str]) -> Sipp {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = dir.join(format!("{n}-{}-{}", self.address, self.transport));
        std::fs::create_dir_all(&dir).unwrap();
        let scenario_path = scenario(scenario_file);
        let mut all = vec![
            "-sf",
            &scenario_path,
            "-au",
            self.user,
            "-ap",
            self.password,
            "-m",
            "1",
            "-timeout",
            "15s",
            "-trace_msg",
        ];
        all.extend_from_slice(args);
        sipp(
            kam.addr,
            self.transport,
            &format!("{};", self.address),
            &all,
            &dir,
        )
    }
}

/// Waits for `sipp` to finish and returns whether it succeeded (every
/// call completed its scenario).
fn succeeded(sipp: &mut Sipp) -> bool {
    match sipp.wait(WAIT) {
        Some(status) => status.success(),
        None => panic!("sipp still running after {WAIT:?}: {}", sipp.errors()),
    }
}

fn assert_succeeds(what: &str, sipp: &mut Sipp) {
    assert!(succeeded(sipp), "{what}: {}", sipp.errors());
}

fn assert_fails(what: &str, sipp: &mut Sipp) {
    assert!(!succeeded(sipp), "{what} should have failed its scenario");
}

// ---- registration ---------------------------------------------------------

/// 1001 registers with digest over UDP and over TCP: 401, then 200 listing
/// the binding; Kamailio saved it from the right transport.
#[test]
fn register_with_digest_gets_200() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let dir = TestDir::new("kam-register");
    let kam = Kamailio::start(&KamailioOptions::new("register"));
    for (transport, proto) in [("u1", "udp"), ("t1", "tcp")] {
        let mut p = Phone::new("1001")
            .transport(transport)
            .run(&kam, &dir, "ua_register.xml", &[]);
        assert_succeeds(&format!("register over {proto}"), &mut p);
    }
    let registered: Vec<_> = kam
        .events()
        .into_iter()
        .filter(|e| e.starts_with("registered 1001 "))
        .collect();
    assert_eq!(registered.len(), 2, "{registered:#?}");
    assert!(registered[0].contains("via=udp:"), "{registered:#?}");
    assert!(registered[1].contains("via=tcp:"), "{registered:#?}");
}

/// A wrong password is challenged again (a second 401, which
/// ua_register.xml refuses and ua_register_rejected.xml expects); 1001's
/// credentials for 1002's address get 403.
#[test]
fn register_with_wrong_credentials_is_refused() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let dir = TestDir::new("kam-register-wrong");
    let kam = Kamailio::start(&KamailioOptions::new("register-wrong"));

    let mut p = Phone::new("1001")
        .password("wrong")
        .run(&kam, &dir, "ua_register.xml", &[]);
    assert_fails("ua_register.xml with a wrong password", &mut p);
    let mut p =
        Phone::new("1001")
            .password("wrong")
            .run(&kam, &dir, "ua_register_rejected.xml", &[]);
    assert_succeeds("a wrong password is refused", &mut p);
    // code -2: the password did not match.
    kam.wait_event("challenge 401 REGISTER sip:1001@", WAIT);
    kam.wait_event("(auth user 1001, code -2)", WAIT);

    // 1001's own password, but To: 1002.
    let mut p = Phone::new("1001")
        .address("1002")
        .run(&kam, &dir, "ua_register_rejected.xml", &[]);
    assert_succeeds("another user's address is refused", &mut p);
    kam.wait_event("forbidden REGISTER sip:1002@", WAIT);
    assert!(
        !kam.events().iter().any(|e| e.starts_with("registered ")),
        "{:#?}",
        kam.events()
    );
}

// ---- calls between registered phones ------------------------------------

/// 1002 registers (over `callee_transport`) and answers with
/// ua_uas_echo.xml; 1001 calls it over UDP with ua_uac_expect_200.xml
/// (407 digest, 180, 200, ACK, BYE): the call completes through Kamailio,
/// which relays the INVITE to 1002's binding and the ACK and BYE on the
/// Record-Route.
fn call_registered_phone(name: &str, callee_transport: &str) {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let dir = TestDir::new(&format!("kam-{name}"));
    let kam = Kamailio::start(&KamailioOptions::new(name));
    let _callee = Phone::new("1002").transport(callee_transport).run(
        &kam,
        &dir,
        "ua_register.xml",
        &["-d", "20000", "-oocsf", &scenario("ua_uas_echo.xml")],
    );
    kam.wait_event("registered 1002 ", WAIT);

    let mut caller = Phone::new("1001").run(
        &kam,
        &dir,
        "ua_uac_expect_200.xml",
        &["-s", "1002", "-d", "300"],
    );
    assert_succeeds("1001 calls 1002", &mut caller);
    kam.wait_event("challenge 407 INVITE from sip:1001@", WAIT);
    let relayed = kam.wait_event("relay INVITE sip:1002@", WAIT);
    if callee_transport.starts_with('t') {
        // Down the connection 1002 registered on.
        assert!(relayed.contains(";transport=tcp"), "{relayed}");
    }
    kam.wait_event("reply 180 Ringing INVITE", WAIT);
    kam.wait_event("reply 200 OK INVITE", WAIT);
    // In-dialog, to the Contact of 1002's answer.
    kam.wait_event("relay ACK sip:echo@", WAIT);
    kam.wait_event("relay BYE sip:echo@", WAIT);
    kam.wait_event("reply 200 OK BYE", WAIT);
}

#[test]
fn call_reaches_phone_registered_over_udp() {
    call_registered_phone("call-udp", "u1");
}

/// The callee on TCP, the caller on UDP: Kamailio bridges the transports
/// (double Record-Route) and reaches the callee on its own connection.
#[test]
fn call_reaches_phone_registered_over_tcp() {
    call_registered_phone("call-tcp", "t1");
}

/// A configured user that is not registered gets 480; a user Kamailio
/// does not know, 404 (call_rejected.xml accepts either; the log tells).
#[test]
fn unregistered_user_gets_480_and_unknown_user_404() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let dir = TestDir::new("kam-not-there");
    let kam = Kamailio::start(&KamailioOptions::new("not-there"));
    for (callee, event) in [
        ("1005", "unavailable INVITE sip:1005@"),
        ("7777", "not-found INVITE sip:7777@"),
    ] {
        let mut p = Phone::new("1001").run(&kam, &dir, "call_rejected.xml", &["-s", callee]);
        assert_succeeds(&format!("calling {callee}"), &mut p);
        kam.wait_event(event, WAIT);
    }
}

// ---- static routes and the phone-test scenarios -------------------------

/// Starts `uas_scenario` as a UAS, a Kamailio routing `^9` to it, and the
/// UAC `uac_scenario` as 1001 calling `9000`; returns (caller succeeded,
/// UAS succeeded).
fn through_static_route(
    name: &str,
    uas_scenario: &str,
    uas_args: &[&str],
    uac_scenario: &str,
    uac_args: &[&str],
) -> (bool, bool, Kamailio) {
    let dir = TestDir::new(&format!("kam-{name}"));
    let (mut uas, kam) = uas_behind_kamailio(name, uas_scenario, uas_args, &dir);
    let mut args = vec!["-s", "9000"];
    args.extend_from_slice(uac_args);
    let mut caller = Phone::new("1001").run(&kam, &dir, uac_scenario, &args);
    let caller_ok = succeeded(&mut caller);
    let uas_ok = uas.passed();
    if !caller_ok || !uas_ok {
        eprintln!(
            "{name}: caller {caller_ok} {}\nuas {uas_ok} {}",
            caller.errors(),
            uas.sipp.errors()
        );
    }
    (caller_ok, uas_ok, kam)
}

/// `^9` goes to a SIPp UAS without a registration; ua_uas_echo.xml
/// answers (PCMU, telephone-event) and, run with -rtp_echo, sends RTP back
/// where it came from.
#[test]
fn static_route_reaches_echo_uas() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let dir = TestDir::new("kam-echo");
    let (mut uas, kam) = uas_behind_kamailio("echo", "ua_uas_echo.xml", &["-rtp_echo"], &dir);
    let mut caller = Phone::new("1001").run(
        &kam,
        &dir,
        "ua_uac_expect_200.xml",
        &["-s", "9100", "-d", "1500"],
    );
    kam.wait_event("reply 200 OK INVITE", WAIT);
    // An RTP header (PCMU, seq 1) and 160 bytes of silence.
    let mut rtp = vec![0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78];
    rtp.extend(std::iter::repeat_n(0xff, 160));
    let echoed = rtp_round_trip(uas.media_port, &rtp, Duration::from_secs(2));
    assert_eq!(echoed.as_deref(), Some(&rtp[..]), "the UAS echoes RTP");
    assert_succeeds("1001 calls 9100", &mut caller);
    uas.assert_passed();
    let relayed = kam.wait_event("relay INVITE sip:9100@", WAIT);
    assert!(
        relayed.contains(&format!("du=sip:{}", uas.addr())),
        "{relayed}"
    );
    // No location lookup for a static route.
    assert!(!kam.events().iter().any(|e| e.starts_with("not-found")));
}

/// ua_uas_hold.xml passes a phone that holds with a=sendonly and resumes
/// with a=sendrecv, and fails one that "holds" with a=sendrecv or resumes
/// with a=inactive.
#[test]
fn hold_scenario_checks_the_directions() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let keys = |hold, resume| ["-key", "hold", hold, "-key", "resume", resume];
    let (caller, uas, kam) = through_static_route(
        "hold",
        "ua_uas_hold.xml",
        &[],
        "ua_phone_hold.xml",
        &keys("sendonly", "sendrecv"),
    );
    assert!(caller && uas, "a proper hold and resume");
    // The re-INVITEs went through the proxy on the Record-Route.
    let reinvites = kam
        .events()
        .iter()
        .filter(|e| e.starts_with("relay INVITE sip:hold@"))
        .count();
    assert_eq!(reinvites, 2, "{:#?}", kam.events());
    for (name, hold, resume) in [
        ("hold-sendrecv", "sendrecv", "sendrecv"),
        ("resume-inactive", "sendonly", "inactive"),
    ] {
        let (_, uas, _) = through_static_route(
            name,
            "ua_uas_hold.xml",
            &[],
            "ua_phone_hold.xml",
            &keys(hold, resume),
        );
        assert!(
            !uas,
            "ua_uas_hold.xml must fail hold={hold} resume={resume}"
        );
    }
}

/// ua_uas_info_dtmf.xml passes INFOs carrying 1, 2, # in that order, and
/// fails another digit or another order.
#[test]
fn info_dtmf_scenario_checks_the_digits() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let keys = |a, b, c| ["-key", "d1", a, "-key", "d2", b, "-key", "d3", c];
    let (caller, uas, _) = through_static_route(
        "info",
        "ua_uas_info_dtmf.xml",
        &[],
        "ua_phone_info_dtmf.xml",
        &keys("1", "2", "#"),
    );
    assert!(caller && uas, "1, 2, # as INFO");
    for (name, digits) in [("info-3", ["1", "2", "3"]), ("info-21", ["2", "1", "#"])] {
        let (_, uas, _) = through_static_route(
            name,
            "ua_uas_info_dtmf.xml",
            &[],
            "ua_phone_info_dtmf.xml",
            &keys(digits[0], digits[1], digits[2]),
        );
        assert!(!uas, "ua_uas_info_dtmf.xml must fail {digits:?}");
    }
}

/// ua_uas_302.xml redirects to the Contact it is given, which Kamailio
/// relays; ua_uac_expect_302.xml passes that Contact and fails another.
#[test]
fn redirect_scenarios_agree_on_the_contact() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let target = "sip:1003@127.0.0.1:5999";
    let uas = ["-key", "redirect_to", target];
    let (caller, uas_ok, kam) = through_static_route(
        "redirect",
        "ua_uas_302.xml",
        &uas,
        "ua_uac_expect_302.xml",
        &["-key", "redirect_to", target],
    );
    assert!(caller && uas_ok, "302 to {target}");
    kam.wait_event("reply 302 Moved Temporarily INVITE", WAIT);
    let (caller, _, _) = through_static_route(
        "redirect-other",
        "ua_uas_302.xml",
        &uas,
        "ua_uac_expect_302.xml",
        &["-key", "redirect_to", "sip:1004@127.0.0.1:5999"],
    );
    assert!(!caller, "ua_uac_expect_302.xml must fail another Contact");
}

/// ua_uac_expect_486.xml passes a busy callee (busy.xml) and
/// ua_uac_expect_200.xml fails it.
#[test]
fn busy_callee_scenarios() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let (caller, uas, _) =
        through_static_route("busy", "busy.xml", &[], "ua_uac_expect_486.xml", &[]);
    assert!(caller && uas, "486 expected and seen");
    let (caller, _, _) =
        through_static_route("busy-200", "busy.xml", &[], "ua_uac_expect_200.xml", &[]);
    assert!(!caller, "ua_uac_expect_200.xml must fail a 486");
}

/// A CANCEL before the answer reaches the ringing callee (ring.xml: 200 to
/// the CANCEL, 487 to the INVITE) and the caller gets its 487
/// (call_cancel.xml).
#[test]
fn cancel_goes_through() {
    if !sipp_and_kamailio_installed() {
        return;
    }
    let (caller, uas, kam) =
        through_static_route("cancel", "ring.xml", &[], "call_cancel.xml", &[]);
    assert!(caller && uas, "cancelled call");
    kam.wait_event("relay CANCEL sip:9000@", WAIT);
    kam.wait_event("reply 487 Request Terminated INVITE", WAIT);
}
