//! REGISTER through the engine: digest (RFC 3261 §22.4, RFC 7616), the
//! registrar's bindings, and the registration events.

mod common;

use common::*;
use engine::Event;
use sip::{Header, HeaderName, Method};
use std::time::Duration;
use testkit::NetConfig;

fn registration_events(w: &World) -> Vec<(String, String, bool)> {
    w.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Registration {
                extension,
                contact,
                registration,
            } => Some((extension.clone(), contact.clone(), registration.is_some())),
            _ => None,
        })
        .collect()
}

fn registers_with(algorithm: &'static str) {
    let mut w = World::new(1, NetConfig::default());
    w.phone("bob").algorithm = algorithm;
    w.register("bob");
    let bob = w.phone_ref("bob");
    assert_eq!(bob.statuses(), [401, 200]);
    let (name, value) = bob.last_credentials.clone().unwrap();
    assert_eq!(
        name,
        HeaderName::Authorization,
        "REGISTER uses 401/Authorization"
    );
    assert!(value.contains(&format!("algorithm={algorithm}")), "{value}");
    let regs = w.engine.registrations(w.now());
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].extension, "200");
    assert_eq!(regs[0].contact, "sip:200@10.0.0.2:5060");
    assert_eq!(regs[0].source, "10.0.0.2:5060");
    assert_eq!(regs[0].transport, "udp");
    assert_eq!(
        regs[0].expires,
        origin_utc() + chrono::Duration::milliseconds(600_030)
    );
    assert_eq!(
        registration_events(&w),
        [("200".into(), "sip:200@10.0.0.2:5060".into(), true)]
    );
}

#[test]
fn register_with_md5_digest() {
    registers_with("MD5");
}

#[test]
fn register_with_sha256_digest() {
    registers_with("SHA-256");
}

#[test]
fn challenge_and_answers_carry_no_version() {
    let mut w = World::new(1, NetConfig::default());
    w.register("bob");
    let bob = w.phone_ref("bob");
    for (_, e) in &bob.log {
        if let sip_core::Event::Response { response, .. } = e {
            let server = response.headers.get(&HeaderName::Server).unwrap();
            assert_eq!(&server.value[..], b"Dialtone");
        }
    }
}

/// The 401 a wrong password gets and the one an unknown user gets differ
/// only in their nonces.
#[test]
fn wrong_password_and_unknown_user_look_identical() {
    let answer_to = |user: &str, password: &str| {
        let mut w = World::new(3, NetConfig::default());
        let p = w.phone("bob");
        p.creds = Some((user.into(), password.into()));
        w.with("bob", |p, now| p.register_as(now, "200", 600));
        w.run_until_idle();
        let bob = w.phone_ref("bob");
        assert_eq!(bob.statuses(), [401, 401], "{}", w.ladder);
        let last = bob
            .log
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                sip_core::Event::Response { response, .. } => Some(response.clone()),
                _ => None,
            })
            .unwrap();
        let mut shape = Vec::new();
        for h in last.headers.iter() {
            let v = match h.name {
                HeaderName::WwwAuthenticate => {
                    let a = sip::digest::AuthHeader::parse(&h.value).unwrap();
                    a.params
                        .iter()
                        .filter(|(n, _)| !n.eq_ignore_ascii_case(b"nonce"))
                        .map(|(n, v)| {
                            format!(
                                "{}={}",
                                String::from_utf8_lossy(n),
                                String::from_utf8_lossy(v)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                }
                HeaderName::Via | HeaderName::From | HeaderName::To | HeaderName::CallId => {
                    continue
                }
                _ => String::from_utf8_lossy(&h.value).into_owned(),
            };
            shape.push(format!("{}: {v}", h.name.as_str()));
        }
        (
            last.status,
            String::from_utf8_lossy(&last.reason).into_owned(),
            shape,
        )
    };
    let wrong = answer_to("200", "not-bobs-password");
    let unknown = answer_to("999", "whatever");
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.0, 401);
}

#[test]
fn replayed_authorization_is_rejected() {
    let mut w = World::new(1, NetConfig::default());
    w.register("bob");
    let (name, value) = w.phone_ref("bob").last_credentials.clone().unwrap();
    // The very same Authorization (nonce, nc=1, cnonce) on a new REGISTER.
    let key = w.with("bob", |p, now| {
        let k = p.register(now, 600);
        p.retried_insert(k); // do not answer the challenge again
        k
    });
    w.run_until_idle();
    let first = w.phone_ref("bob").final_status(key);
    assert_eq!(first, Some(401));
    let replay = w.with("bob", |p, now| {
        let k = p.resend_with(now, key, Header::new(name, value));
        p.retried_insert(k);
        k
    });
    w.run_until(|w| w.phone_ref("bob").final_status(replay).is_some());
    let bob = w.phone_ref("bob");
    assert_eq!(bob.final_status(replay), Some(401), "{}", w.ladder);
    let resp = bob.final_response(replay).unwrap();
    let challenge = resp.headers.www_authenticate().unwrap();
    assert!(
        challenge
            .iter()
            .all(|c| c.param("stale").is_some_and(|s| &s[..] == b"true")),
        "a replay with the right digest is answered stale=true"
    );
}

#[test]
fn an_extension_registers_only_its_own_address() {
    let mut w = World::new(1, NetConfig::default());
    // alice's credentials, bob's address of record
    let key = w.with("alice", |p, now| p.register_as(now, "200", 600));
    w.run_until_idle();
    let alice = w.phone_ref("alice");
    assert_eq!(alice.statuses(), [401, 403]);
    let _ = key;
    assert!(w.engine.registrations(w.now()).is_empty());
}

#[test]
fn bindings_expire_and_unregister() {
    let mut w = World::new(1, NetConfig::default());
    w.with("bob", |p, now| p.register(now, 60));
    w.with("bob2", |p, now| p.register(now, 120));
    w.run_until(|w| w.engine.registrations(w.now()).len() == 2);
    w.run_for(Duration::from_secs(61));
    let regs = w.engine.registrations(w.now());
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].contact, "sip:200@10.0.0.3:5060");
    w.with("bob2", |p, now| p.register(now, 0));
    w.run_until_idle();
    assert!(w.engine.registrations(w.now()).is_empty());
    let events = registration_events(&w);
    assert_eq!(
        events.iter().filter(|e| !e.2).count(),
        2,
        "expiry and unregister both reported: {events:?}"
    );
    assert!(w
        .phone_ref("bob2")
        .finals
        .iter()
        .any(|(_, m, s)| *m == Method::Register && *s == 200));
}

#[test]
fn removing_an_extension_drops_its_registrations() {
    let mut w = World::new(1, NetConfig::default());
    w.register("bob");
    w.engine.remove_extension("200");
    w.pump();
    assert!(w.engine.registrations(w.now()).is_empty());
    assert!(!registration_events(&w).last().unwrap().2);
    // Nor can it authenticate any more.
    w.with("bob", |p, now| p.register(now, 600));
    w.run_until_idle();
    assert_eq!(w.phone_ref("bob").statuses().last(), Some(&401));
}
