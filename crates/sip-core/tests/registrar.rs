//! The registrar as phones see it: what each REGISTER is answered and which
//! bindings calls would use, on a fake clock.

use sip::{Header, HeaderName, Request, Transport, Uri};
use sip_core::{RegisterOutcome, Registrar, RegistrarConfig};
use std::net::SocketAddr;
use std::time::Duration;
use testkit::FakeClock;

const AOR: &str = "1001";

/// A REGISTER builder: `contacts` are Contact header values, one header each.
struct Reg<'a> {
    call_id: &'a str,
    cseq: u32,
    contacts: Vec<&'a str>,
    expires: Option<&'a str>,
}

fn reg<'a>(call_id: &'a str, cseq: u32, contacts: &[&'a str]) -> Reg<'a> {
    Reg {
        call_id,
        cseq,
        contacts: contacts.to_vec(),
        expires: None,
    }
}

impl Reg<'_> {
    fn expires(mut self, e: &'static str) -> Self {
        self.expires = Some(e);
        self
    }

    fn build(&self) -> Request {
        let mut text = format!(
            "REGISTER sip:pbx.test SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-{}-{}\r\n\
             From: <sip:1001@pbx.test>;tag=f\r\nTo: <sip:1001@pbx.test>\r\n\
             Call-ID: {}\r\nCSeq: {} REGISTER\r\nMax-Forwards: 70\r\n\
             User-Agent: TestPhone/1.0\r\n",
            self.call_id, self.cseq, self.call_id, self.cseq
        );
        for c in &self.contacts {
            text += &format!("Contact: {c}\r\n");
        }
        if let Some(e) = self.expires {
            text += &format!("Expires: {e}\r\n");
        }
        text += "Content-Length: 0\r\n\r\n";
        sip::parse_message(text.as_bytes())
            .unwrap()
            .into_request()
            .unwrap()
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const NAT: &str = "203.0.113.7:40001";

fn send(r: &mut Registrar, clock: &FakeClock, req: &Reg<'_>) -> RegisterOutcome {
    r.register(clock.now(), AOR, &req.build(), addr(NAT), Transport::Udp)
}

/// The Contact values of a 200, as text.
fn contacts(outcome: &RegisterOutcome) -> Vec<String> {
    match outcome {
        RegisterOutcome::Ok { headers, .. } => {
            assert!(headers.iter().all(|h| h.name == HeaderName::Contact));
            headers
                .iter()
                .map(|h| String::from_utf8(h.value.to_vec()).unwrap())
                .collect()
        }
        other => panic!("expected 200, got {other:?}"),
    }
}

fn changed(outcome: &RegisterOutcome) -> bool {
    match outcome {
        RegisterOutcome::Ok { changed, .. } => *changed,
        other => panic!("expected 200, got {other:?}"),
    }
}

fn rejected(outcome: &RegisterOutcome) -> (u16, String, Vec<Header>) {
    match outcome {
        RegisterOutcome::Reject {
            status,
            reason,
            headers,
        } => (*status, reason.clone(), headers.clone()),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn count(r: &Registrar) -> usize {
    r.bindings(AOR).count()
}

#[test]
fn register_creates_a_binding_listed_with_its_expiry() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    let out = send(&mut r, &clock, &reg("c1", 1, &["<sip:1001@10.0.0.5:5060>"]));
    assert_eq!(contacts(&out), ["<sip:1001@10.0.0.5:5060>;expires=3600"]);
    assert!(changed(&out));
    let b = r.bindings(AOR).next().unwrap();
    assert_eq!(b.aor, AOR);
    assert_eq!(b.contact.to_string(), "sip:1001@10.0.0.5:5060");
    assert_eq!(b.user_agent, "TestPhone/1.0");
    assert_eq!((b.call_id.as_str(), b.cseq), ("c1", 1));
    assert_eq!(b.expires_at, clock.now() + Duration::from_secs(3600));
    assert_eq!(b.updated_at, clock.now());
    assert_eq!(r.all().count(), 1);
}

#[test]
fn calls_go_to_the_source_address_not_the_private_contact() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    let req = reg("c1", 1, &["<sip:1001@192.168.1.20:5060>"]).build();
    r.register(clock.now(), AOR, &req, addr(NAT), Transport::Tcp);
    let b = r.bindings(AOR).next().unwrap();
    assert_eq!(b.source, addr(NAT));
    assert_eq!(b.transport, Transport::Tcp);
}

#[test]
fn contact_expires_param_beats_the_expires_header_which_beats_the_default() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    let req = reg(
        "c1",
        1,
        &["<sip:a@10.0.0.5>;expires=120", "<sip:b@10.0.0.5>"],
    )
    .expires("300");
    let out = send(&mut r, &clock, &req);
    assert_eq!(
        contacts(&out),
        [
            "<sip:a@10.0.0.5>;expires=120",
            "<sip:b@10.0.0.5>;expires=300"
        ]
    );
}

#[test]
fn long_intervals_are_cut_to_the_maximum() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    let out = send(
        &mut r,
        &clock,
        &reg("c1", 1, &["<sip:a@10.0.0.5>"]).expires("4294967295"),
    );
    assert_eq!(contacts(&out), ["<sip:a@10.0.0.5>;expires=3600"]);
}

#[test]
fn too_brief_interval_gets_423_with_min_expires_and_changes_nothing() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    // One acceptable contact and one too brief: the whole request fails.
    let req = reg(
        "c1",
        1,
        &["<sip:a@10.0.0.5>", "<sip:b@10.0.0.5>;expires=59"],
    );
    let (status, reason, headers) = rejected(&send(&mut r, &clock, &req));
    assert_eq!((status, reason.as_str()), (423, "Interval Too Brief"));
    assert_eq!(headers, [Header::new(HeaderName::MinExpires, "60")]);
    assert_eq!(count(&r), 0);
    // The minimum itself is fine.
    let out = send(
        &mut r,
        &clock,
        &reg("c1", 2, &["<sip:a@10.0.0.5>"]).expires("60"),
    );
    assert_eq!(contacts(&out), ["<sip:a@10.0.0.5>;expires=60"]);
}

#[test]
fn expires_zero_removes_only_that_contact() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    send(
        &mut r,
        &clock,
        &reg("c1", 1, &["<sip:a@10.0.0.5>", "<sip:b@10.0.0.5>"]),
    );
    let out = send(
        &mut r,
        &clock,
        &reg("c1", 2, &["<sip:a@10.0.0.5>;expires=0"]),
    );
    assert!(changed(&out));
    assert_eq!(contacts(&out), ["<sip:b@10.0.0.5>;expires=3600"]);
    // Expires: 0 header form, for a contact we do not have: nothing changes.
    let out = send(
        &mut r,
        &clock,
        &reg("c1", 3, &["<sip:zzz@10.0.0.5>"]).expires("0"),
    );
    assert!(!changed(&out));
    assert_eq!(count(&r), 1);
}

#[test]
fn star_with_expires_zero_removes_every_binding() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    send(&mut r, &clock, &reg("c1", 1, &["<sip:a@10.0.0.5>"]));
    send(&mut r, &clock, &reg("c2", 1, &["<sip:b@10.0.0.6>"]));
    let out = send(&mut r, &clock, &reg("c3", 1, &["*"]).expires("0"));
    assert!(changed(&out));
    assert!(contacts(&out).is_empty());
    assert_eq!(count(&r), 0);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn star_without_expires_zero_or_with_other_contacts_is_400() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    send(&mut r, &clock, &reg("c1", 1, &["<sip:a@10.0.0.5>"]));
    for req in [
        reg("c1", 2, &["*"]),
        reg("c1", 3, &["*"]).expires("60"),
        reg("c1", 4, &["*", "<sip:b@10.0.0.5>"]).expires("0"),
    ] {
        let (status, reason, _) = rejected(&send(&mut r, &clock, &req));
        assert_eq!(status, 400, "{reason}");
        assert!(reason.contains('*'), "the reason names the fault: {reason}");
    }
    assert_eq!(count(&r), 1);
}

#[test]
fn star_with_an_old_cseq_of_the_same_call_id_is_500() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    send(&mut r, &clock, &reg("c1", 5, &["<sip:a@10.0.0.5>"]));
    let (status, ..) = rejected(&send(&mut r, &clock, &reg("c1", 5, &["*"]).expires("0")));
    assert_eq!(status, 500);
    assert_eq!(count(&r), 1);
}

#[test]
fn register_without_contact_is_a_query() {
    let mut clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    let out = send(&mut r, &clock, &reg("q", 1, &[]));
    assert!(contacts(&out).is_empty() && !changed(&out));
    send(
        &mut r,
        &clock,
        &reg("c1", 1, &["<sip:a@10.0.0.5>"]).expires("600"),
    );
    clock.advance(Duration::from_millis(100_500));
    let out = send(&mut r, &clock, &reg("q", 2, &[]));
    assert!(!changed(&out));
    // 499.5 s left, reported rounded up.
    assert_eq!(contacts(&out), ["<sip:a@10.0.0.5>;expires=500"]);
}

#[test]
fn refresh_extends_the_binding_and_is_not_a_change() {
    let mut clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    send(
        &mut r,
        &clock,
        &reg("c1", 1, &["<sip:a@10.0.0.5>"]).expires("300"),
    );
    clock.advance(Duration::from_secs(200));
    let out = send(
        &mut r,
        &clock,
        &reg("c1", 2, &["<sip:a@10.0.0.5>"]).expires("300"),
    );
    assert!(!changed(&out));
    assert_eq!(contacts(&out), ["<sip:a@10.0.0.5>;expires=300"]);
    let b = r.bindings(AOR).next().unwrap();
    assert_eq!((b.cseq, b.updated_at), (2, clock.now()));
    assert_eq!(
        r.poll_timeout(),
        Some(clock.now() + Duration::from_secs(300))
    );
}

#[test]
fn same_call_id_without_a_higher_cseq_is_500_and_changes_nothing() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    send(
        &mut r,
        &clock,
        &reg("c1", 7, &["<sip:a@10.0.0.5>"]).expires("300"),
    );
    for (cseq, contact) in [
        (7, "<sip:a@10.0.0.5>"),
        (6, "<sip:a@10.0.0.5>"),
        (7, "<sip:a@10.0.0.5>;expires=0"),
    ] {
        let (status, reason, _) = rejected(&send(&mut r, &clock, &reg("c1", cseq, &[contact])));
        assert_eq!(status, 500);
        assert!(reason.contains("CSeq"), "{reason}");
    }
    // All or nothing: a new contact next to a stale one is not added either.
    let req = reg("c1", 7, &["<sip:new@10.0.0.5>", "<sip:a@10.0.0.5>"]);
    assert_eq!(rejected(&send(&mut r, &clock, &req)).0, 500);
    assert_eq!(count(&r), 1);
    let b = r.bindings(AOR).next().unwrap();
    assert_eq!(b.expires_at, clock.now() + Duration::from_secs(300));
}

#[test]
fn a_rebooted_phone_with_a_new_call_id_replaces_its_binding() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    send(
        &mut r,
        &clock,
        &reg("before-reboot", 900, &["<sip:a@10.0.0.5>"]),
    );
    let out = send(
        &mut r,
        &clock,
        &reg("after-reboot", 1, &["<sip:a@10.0.0.5>"]),
    );
    assert_eq!(contacts(&out).len(), 1);
    let b = r.bindings(AOR).next().unwrap();
    assert_eq!((b.call_id.as_str(), b.cseq), ("after-reboot", 1));
}

#[test]
fn two_phones_on_one_extension() {
    let mut clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    let desk = reg("desk", 1, &["<sip:1001@192.168.1.20:5060>"]).expires("600");
    r.register(
        clock.now(),
        AOR,
        &desk.build(),
        addr("203.0.113.7:40001"),
        Transport::Udp,
    );
    let mobile = reg("mobile", 1, &["<sip:1001@10.9.9.9:5062;transport=tcp>"]).expires("300");
    let out = r.register(
        clock.now(),
        AOR,
        &mobile.build(),
        addr("198.51.100.3:5062"),
        Transport::Tcp,
    );
    assert_eq!(contacts(&out).len(), 2);
    let mut sources: Vec<_> = r.bindings(AOR).map(|b| b.source).collect();
    sources.sort();
    assert_eq!(
        sources,
        [addr("198.51.100.3:5062"), addr("203.0.113.7:40001")]
    );
    // The mobile expires first; the desk phone stays reachable.
    clock.set(r.poll_timeout().unwrap());
    let gone = r.handle_timeout(clock.now());
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].call_id, "mobile");
    assert_eq!(r.bindings(AOR).next().unwrap().call_id, "desk");
}

#[test]
fn contacts_are_matched_by_uri_equivalence() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    send(
        &mut r,
        &clock,
        &reg("c1", 1, &["<sip:1001@PHONE.example:5060;transport=UDP>"]),
    );
    let out = send(
        &mut r,
        &clock,
        &reg("c2", 1, &["<sip:1001@phone.example:5060;transport=udp>"]),
    );
    assert_eq!(contacts(&out).len(), 1, "{:?}", contacts(&out));
    // A different port is another contact.
    let out = send(
        &mut r,
        &clock,
        &reg("c3", 1, &["<sip:1001@phone.example:5070>"]),
    );
    assert_eq!(contacts(&out).len(), 2);
}

#[test]
fn moving_a_binding_to_a_new_source_is_a_change() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    let req = reg("c1", 1, &["<sip:a@10.0.0.5>"]);
    r.register(clock.now(), AOR, &req.build(), addr(NAT), Transport::Udp);
    let req = reg("c1", 2, &["<sip:a@10.0.0.5>"]);
    let out = r.register(
        clock.now(),
        AOR,
        &req.build(),
        addr("203.0.113.7:40002"),
        Transport::Udp,
    );
    assert!(changed(&out));
    assert_eq!(
        r.bindings(AOR).next().unwrap().source,
        addr("203.0.113.7:40002")
    );
}

#[test]
fn over_the_cap_the_least_recently_updated_binding_is_dropped() {
    let mut clock = FakeClock::new();
    let config = RegistrarConfig {
        max_bindings_per_aor: 2,
        ..RegistrarConfig::default()
    };
    let mut r = Registrar::new(config);
    send(&mut r, &clock, &reg("a", 1, &["<sip:a@10.0.0.5>"]));
    clock.advance(Duration::from_secs(1));
    send(&mut r, &clock, &reg("b", 1, &["<sip:b@10.0.0.5>"]));
    clock.advance(Duration::from_secs(1));
    // `a` refreshes, so `b` is now the least recently updated.
    send(&mut r, &clock, &reg("a", 2, &["<sip:a@10.0.0.5>"]));
    clock.advance(Duration::from_secs(1));
    let out = send(&mut r, &clock, &reg("c", 1, &["<sip:c@10.0.0.5>"]));
    assert!(changed(&out));
    let mut left: Vec<_> = r.bindings(AOR).map(|b| b.call_id.clone()).collect();
    left.sort();
    assert_eq!(left, ["a", "c"]);
}

#[test]
fn one_request_with_more_contacts_than_the_cap_is_403() {
    let clock = FakeClock::new();
    let config = RegistrarConfig {
        max_bindings_per_aor: 2,
        ..RegistrarConfig::default()
    };
    let mut r = Registrar::new(config);
    send(&mut r, &clock, &reg("old", 1, &["<sip:old@10.0.0.5>"]));
    let req = reg(
        "c1",
        1,
        &["<sip:a@10.0.0.5>", "<sip:b@10.0.0.5>", "<sip:c@10.0.0.5>"],
    );
    let (status, reason, _) = rejected(&send(&mut r, &clock, &req));
    assert_eq!(status, 403, "{reason}");
    assert_eq!(r.bindings(AOR).next().unwrap().call_id, "old");
}

#[test]
fn expired_bindings_are_collected_at_their_deadline() {
    let mut clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    assert_eq!(r.poll_timeout(), None);
    assert!(r.handle_timeout(clock.now()).is_empty());
    send(
        &mut r,
        &clock,
        &reg("c1", 1, &["<sip:a@10.0.0.5>"]).expires("60"),
    );
    send(
        &mut r,
        &clock,
        &reg("c2", 1, &["<sip:b@10.0.0.5>"]).expires("120"),
    );
    let start = clock.now();
    assert_eq!(r.poll_timeout(), Some(start + Duration::from_secs(60)));
    // Early wake-ups collect nothing.
    clock.advance(Duration::from_secs(59));
    assert!(r.handle_timeout(clock.now()).is_empty());
    clock.set(r.poll_timeout().unwrap());
    let gone = r.handle_timeout(clock.now());
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].contact, Uri::from_text("sip:a@10.0.0.5").unwrap());
    assert_eq!(r.poll_timeout(), Some(start + Duration::from_secs(120)));
    clock.set(r.poll_timeout().unwrap());
    assert_eq!(r.handle_timeout(clock.now()).len(), 1);
    assert_eq!(r.all().count(), 0);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn expired_but_uncollected_bindings_are_not_reported_to_the_phone() {
    let mut clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    send(
        &mut r,
        &clock,
        &reg("c1", 1, &["<sip:a@10.0.0.5>"]).expires("60"),
    );
    clock.advance(Duration::from_secs(61));
    let out = send(&mut r, &clock, &reg("c2", 1, &["<sip:b@10.0.0.5>"]));
    assert_eq!(contacts(&out), ["<sip:b@10.0.0.5>;expires=3600"]);
    // Until handle_timeout runs, the stale one is still held (and then returned).
    assert_eq!(count(&r), 2);
    let gone = r.handle_timeout(clock.now());
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].call_id, "c1");
}

#[test]
fn malformed_register_gets_400_naming_the_fault() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    let cases = [
        (reg("c1", 1, &["<sip:a@10.0.0.5>;expires=soon"]), "Contact"),
        (
            reg("c1", 1, &["<sip:a@10.0.0.5>"]).expires("later"),
            "Expires",
        ),
        (reg("c1", 1, &["<sip:a@10.0.0.5"]), "Contact"),
    ];
    for (req, names) in cases {
        let (status, reason, _) = rejected(&send(&mut r, &clock, &req));
        assert_eq!(status, 400);
        assert!(reason.contains(names), "{reason:?} should name {names}");
    }
    assert_eq!(count(&r), 0);
}

#[test]
fn remove_aor_forgets_every_binding() {
    let clock = FakeClock::new();
    let mut r = Registrar::new(RegistrarConfig::default());
    send(
        &mut r,
        &clock,
        &reg("c1", 1, &["<sip:a@10.0.0.5>", "<sip:b@10.0.0.5>"]),
    );
    let other = reg("x", 1, &["<sip:1002@10.0.0.7>"]).build();
    r.register(clock.now(), "1002", &other, addr(NAT), Transport::Udp);
    r.remove_aor(AOR);
    assert_eq!(count(&r), 0);
    assert_eq!(r.all().count(), 1);
    assert_eq!(r.bindings("1002").count(), 1);
}
