//! Digest authentication as a phone (or an attacker) sees it: what each
//! request is answered, on a fake clock.

use bytes::Bytes;
use sip::digest::{Algorithm, AuthHeader, DigestCredentials, DigestInput};
use sip::{HeaderName, Request};
use sip_core::{AuthConfig, AuthOutcome, Authenticator, Challenger};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use testkit::FakeClock;

const REALM: &str = "pbx.test";
const URI: &str = "sip:pbx.test";

fn passwords(user: &str) -> Option<String> {
    match user {
        "1001" => Some("alpha-1001".into()),
        "1002" => Some("bravo-1002".into()),
        _ => None,
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

fn authenticator() -> Authenticator {
    Authenticator::new(AuthConfig::new(REALM, [9; 32]), 7)
}

/// A REGISTER (or, with `proxy`, an INVITE) carrying these credential headers.
fn request(method: &str, uri: &str, creds: &[(HeaderName, String)]) -> Request {
    let mut text = format!(
        "{method} {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK-t1\r\n\
         From: <sip:1001@pbx.test>;tag=f1\r\nTo: <sip:1001@pbx.test>\r\n\
         Call-ID: auth-test\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
    );
    for (name, value) in creds {
        text += &format!("{name}: {value}\r\n");
    }
    text += "Content-Length: 0\r\n\r\n";
    sip::parse_message(text.as_bytes())
        .unwrap()
        .into_request()
        .unwrap()
}

fn register(creds: Option<String>) -> Request {
    let list: Vec<_> = creds
        .into_iter()
        .map(|c| (HeaderName::Authorization, c))
        .collect();
    request("REGISTER", URI, &list)
}

/// The challenges of a Challenge outcome, parsed.
fn challenges(outcome: &AuthOutcome) -> Vec<AuthHeader> {
    match outcome {
        AuthOutcome::Challenge { headers, .. } => headers
            .iter()
            .map(|h| AuthHeader::parse(&h.value).unwrap())
            .collect(),
        other => panic!("expected a challenge, got {other:?}"),
    }
}

fn param(h: &AuthHeader, name: &str) -> String {
    String::from_utf8(h.param(name).unwrap().to_vec()).unwrap()
}

fn is_stale(outcome: &AuthOutcome) -> bool {
    challenges(outcome)
        .iter()
        .all(|c| c.param("stale").is_some_and(|s| s == "true"))
}

/// Credentials answering `challenge` (a Digest header value).
fn answer(challenge: &AuthHeader, user: &str, password: &str, nc: u32) -> String {
    DigestCredentials::answer(challenge, user, password, "REGISTER", URI, "0a4f113b", nc)
        .unwrap()
        .to_string()
}

/// A REGISTER-style check (401, Authorization) with the test's users.
fn www(auth: &mut Authenticator, now: Instant, req: &Request, source: IpAddr) -> AuthOutcome {
    auth.check(now, req, source, Challenger::Www, passwords)
}

fn authenticated(outcome: &AuthOutcome) -> bool {
    matches!(outcome, AuthOutcome::Authenticated { .. })
}

fn forbidden(outcome: &AuthOutcome) -> bool {
    matches!(outcome, AuthOutcome::Forbidden { status: 403, .. })
}

/// Asks for a challenge and answers it (SHA-256, the first one offered).
fn sign_in(
    auth: &mut Authenticator,
    clock: &FakeClock,
    source: IpAddr,
    user: &str,
    password: &str,
) -> AuthOutcome {
    let first = www(auth, clock.now(), &register(None), source);
    if !matches!(first, AuthOutcome::Challenge { .. }) {
        return first;
    }
    let ch = &challenges(&first)[0];
    let req = register(Some(answer(ch, user, password, 1)));
    www(auth, clock.now(), &req, source)
}

#[test]
fn request_without_credentials_gets_401_sha256_then_md5() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let out = www(&mut auth, clock.now(), &register(None), ip(1));
    let AuthOutcome::Challenge {
        status,
        reason,
        headers,
    } = &out
    else {
        panic!("{out:?}");
    };
    assert_eq!((*status, *reason), (401, "Unauthorized"));
    assert_eq!(headers.len(), 2);
    assert!(headers
        .iter()
        .all(|h| h.name == HeaderName::WwwAuthenticate));
    let ch = challenges(&out);
    assert_eq!(param(&ch[0], "algorithm"), "SHA-256");
    assert_eq!(param(&ch[1], "algorithm"), "MD5");
    for c in &ch {
        assert!(c.is_digest());
        assert_eq!(param(c, "realm"), REALM);
        assert_eq!(param(c, "qop"), "auth");
        assert!(c.param("stale").is_none());
    }
}

#[test]
fn requests_without_credentials_never_lock_out() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    for _ in 0..20 {
        let out = www(&mut auth, clock.now(), &register(None), ip(1));
        assert!(matches!(out, AuthOutcome::Challenge { status: 401, .. }));
    }
    assert!(authenticated(&sign_in(
        &mut auth,
        &clock,
        ip(1),
        "1001",
        "alpha-1001"
    )));
}

#[test]
fn right_password_authenticates_with_sha256_and_md5() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let ch = challenges(&first);
    assert_eq!(
        param(&ch[0], "nonce"),
        param(&ch[1], "nonce"),
        "one nonce, two algorithms"
    );
    // SHA-256 with nc=1, then MD5 on the same nonce with nc=2.
    for (nc, c) in [(1, &ch[0]), (2, &ch[1])] {
        let req = register(Some(answer(c, "1002", "bravo-1002", nc)));
        let out = www(&mut auth, clock.now(), &req, ip(1));
        let algorithm = param(c, "algorithm");
        let expected = AuthOutcome::Authenticated {
            username: "1002".into(),
        };
        assert_eq!(out, expected, "{algorithm}");
    }
}

#[test]
fn config_debug_hides_the_secret() {
    let text = format!("{:?}", AuthConfig::new(REALM, [0xab; 32]));
    assert!(text.contains("redacted") && !text.contains("171"), "{text}");
}

#[test]
fn algorithm_absent_means_md5_and_is_case_insensitive() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let ch = challenges(&first);
    let md5 = answer(&ch[1], "1001", "alpha-1001", 1).replace(", algorithm=MD5", "");
    assert!(!md5.contains("algorithm"), "{md5}");
    let out = www(&mut auth, clock.now(), &register(Some(md5)), ip(1));
    assert!(authenticated(&out), "{out:?}");
    let sha =
        answer(&ch[0], "1001", "alpha-1001", 2).replace("algorithm=SHA-256", "algorithm=sha-256");
    let out = www(&mut auth, clock.now(), &register(Some(sha)), ip(1));
    assert!(authenticated(&out), "{out:?}");
}

#[test]
fn unsupported_algorithm_is_refused() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let creds = answer(&challenges(&first)[1], "1001", "alpha-1001", 1)
        .replace("algorithm=MD5", "algorithm=MD5-sess");
    let out = www(&mut auth, clock.now(), &register(Some(creds)), ip(1));
    assert!(matches!(out, AuthOutcome::Challenge { status: 401, .. }));
}

#[test]
fn wrong_password_is_challenged_again() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let out = sign_in(&mut auth, &clock, ip(1), "1001", "not-it");
    assert!(matches!(out, AuthOutcome::Challenge { status: 401, .. }));
    assert!(!is_stale(&out));
}

#[test]
fn unknown_user_and_wrong_password_answer_identically() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let wrong = sign_in(&mut auth, &clock, ip(1), "1001", "guess");
    let unknown = sign_in(&mut auth, &clock, ip(1), "7777", "guess");
    // Mask the nonces: everything else must be byte for byte the same.
    let masked = |o: &AuthOutcome| -> AuthOutcome {
        let AuthOutcome::Challenge {
            status,
            reason,
            headers,
        } = o.clone()
        else {
            panic!("{o:?}");
        };
        let headers = headers
            .into_iter()
            .map(|mut h| {
                let parsed = AuthHeader::parse(&h.value).unwrap();
                let nonce = String::from_utf8(parsed.param("nonce").unwrap().to_vec()).unwrap();
                let text = String::from_utf8(h.value.to_vec()).unwrap();
                h.value = Bytes::from(text.replace(&nonce, "NONCE"));
                h
            })
            .collect();
        AuthOutcome::Challenge {
            status,
            reason,
            headers,
        }
    };
    assert_eq!(masked(&wrong), masked(&unknown));
    assert_ne!(wrong, unknown, "the nonces differ");
}

#[test]
fn unknown_user_is_never_authenticated() {
    // Whatever password an unknown user tries (even empty), it fails.
    let clock = FakeClock::new();
    let mut auth = authenticator();
    for pw in ["", "alpha-1001", "x"] {
        let out = sign_in(&mut auth, &clock, ip(1), "9999", pw);
        assert!(!authenticated(&out), "{pw:?}: {out:?}");
    }
}

#[test]
fn forged_nonce_gets_a_fresh_challenge_without_stale_and_is_not_a_failure() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let ch = &challenges(&first)[0];
    let nonce = param(ch, "nonce");
    assert_eq!(nonce.len(), 80);
    // Flip the last hex digit of the MAC; and a nonce of another server's secret.
    let mut tampered = nonce.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let foreign = {
        let mut other = Authenticator::new(AuthConfig::new(REALM, [1; 32]), 7);
        let out = www(&mut other, clock.now(), &register(None), ip(1));
        param(&challenges(&out)[0], "nonce")
    };
    for bad in [tampered, foreign, "abc".to_string()] {
        let fake_challenge = AuthHeader::parse(&Bytes::from(format!(
            "Digest realm=\"{REALM}\", nonce=\"{bad}\", algorithm=SHA-256, qop=\"auth\""
        )))
        .unwrap();
        // Ten times: not counted as failures, so no lockout.
        for _ in 0..10 {
            let creds = answer(&fake_challenge, "1001", "alpha-1001", 1);
            let out = www(&mut auth, clock.now(), &register(Some(creds)), ip(1));
            assert!(
                matches!(out, AuthOutcome::Challenge { status: 401, .. }),
                "{out:?}"
            );
            assert!(
                !is_stale(&out),
                "a nonce that is not ours is unknown, not stale"
            );
        }
    }
    let creds = answer(ch, "1001", "alpha-1001", 1);
    let out = www(&mut auth, clock.now(), &register(Some(creds)), ip(1));
    assert!(authenticated(&out), "{out:?}");
}

#[test]
fn expired_nonce_with_the_right_password_is_stale() {
    let mut clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let ch = &challenges(&first)[0];
    clock.advance(Duration::from_secs(300));
    let out = www(
        &mut auth,
        clock.now(),
        &register(Some(answer(ch, "1001", "alpha-1001", 1))),
        ip(1),
    );
    assert!(matches!(out, AuthOutcome::Challenge { status: 401, .. }));
    assert!(is_stale(&out), "{out:?}");
    // The client retries on the new nonce without asking its user.
    let fresh = &challenges(&out)[0];
    assert_ne!(param(fresh, "nonce"), param(ch, "nonce"));
    let out = www(
        &mut auth,
        clock.now(),
        &register(Some(answer(fresh, "1001", "alpha-1001", 1))),
        ip(1),
    );
    assert!(authenticated(&out), "{out:?}");
}

#[test]
fn nonce_just_inside_its_ttl_still_works() {
    let mut clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    clock.advance(Duration::from_secs(299));
    let creds = answer(&challenges(&first)[0], "1001", "alpha-1001", 1);
    let out = www(&mut auth, clock.now(), &register(Some(creds)), ip(1));
    assert!(authenticated(&out), "{out:?}");
}

#[test]
fn expired_nonce_with_a_wrong_password_is_not_stale() {
    let mut clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    clock.advance(Duration::from_secs(301));
    let creds = answer(&challenges(&first)[0], "1001", "wrong", 1);
    let out = www(&mut auth, clock.now(), &register(Some(creds)), ip(1));
    assert!(!is_stale(&out), "stale=true would tell the guess apart");
}

#[test]
fn nonce_of_an_earlier_run_is_stale_even_with_the_same_secret() {
    let clock = FakeClock::new();
    let mut before = Authenticator::new(AuthConfig::new(REALM, [9; 32]), 1);
    let first = www(&mut before, clock.now(), &register(None), ip(1));
    let creds = answer(&challenges(&first)[0], "1001", "alpha-1001", 1);
    let mut after = Authenticator::new(AuthConfig::new(REALM, [9; 32]), 2);
    let out = www(&mut after, clock.now(), &register(Some(creds)), ip(1));
    assert!(is_stale(&out), "{out:?}");
}

#[test]
fn replayed_authorization_is_rejected() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let ch = &challenges(&first)[0];
    let captured = register(Some(answer(ch, "1001", "alpha-1001", 1)));
    let out = www(&mut auth, clock.now(), &captured, ip(1));
    assert!(authenticated(&out));
    // The same bytes again, from the attacker's address.
    let out = www(&mut auth, clock.now(), &captured, ip(66));
    assert!(
        matches!(out, AuthOutcome::Challenge { status: 401, .. }),
        "{out:?}"
    );
}

#[test]
fn nonce_reuse_needs_a_strictly_higher_nc() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let ch = &challenges(&first)[0];
    let try_nc = |auth: &mut Authenticator, nc| {
        let req = register(Some(answer(ch, "1001", "alpha-1001", nc)));
        authenticated(&www(auth, clock.now(), &req, ip(1)))
    };
    assert!(!try_nc(&mut auth, 0), "nc starts at 1");
    assert!(try_nc(&mut auth, 1));
    assert!(try_nc(&mut auth, 2));
    assert!(!try_nc(&mut auth, 2));
    assert!(!try_nc(&mut auth, 1));
    assert!(try_nc(&mut auth, 7), "gaps are fine");
}

#[test]
fn credentials_without_qop_nc_or_cnonce_fail() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let ch = &challenges(&first)[0];
    let nonce = param(ch, "nonce");
    // RFC 2069 form: a correct digest without qop, nc, cnonce.
    let input = DigestInput {
        algorithm: Algorithm::Sha256,
        username: b"1001",
        realm: REALM.as_bytes(),
        password: b"alpha-1001",
        method: b"REGISTER",
        uri: URI.as_bytes(),
        nonce: nonce.as_bytes(),
        qop_auth: None,
    };
    let rfc2069 = format!(
        "Digest username=\"1001\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{URI}\", \
         response=\"{}\", algorithm=SHA-256",
        input.response()
    );
    let good = answer(ch, "1001", "alpha-1001", 1);
    let no_nc = good.replace(", nc=00000001", "");
    let no_cnonce = good.replace(", cnonce=\"0a4f113b\"", "");
    for creds in [rfc2069, no_nc, no_cnonce] {
        let out = www(
            &mut auth,
            clock.now(),
            &register(Some(creds.clone())),
            ip(1),
        );
        assert!(!authenticated(&out), "{creds}");
    }
    // None of them used the nonce up.
    let out = www(&mut auth, clock.now(), &register(Some(good)), ip(1));
    assert!(authenticated(&out));
}

#[test]
fn digest_uri_must_be_the_request_uri() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let ch = &challenges(&first)[0];
    // Signed for sip:pbx.test, sent to sip:other.test.
    let creds = answer(ch, "1001", "alpha-1001", 1);
    let req = request(
        "REGISTER",
        "sip:other.test",
        &[(HeaderName::Authorization, creds)],
    );
    let out = www(&mut auth, clock.now(), &req, ip(1));
    assert!(!authenticated(&out), "{out:?}");
}

#[test]
fn credentials_are_picked_by_realm() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let ours = answer(&challenges(&first)[0], "1001", "alpha-1001", 1);
    let theirs = "Digest username=\"bob\", realm=\"carrier.example\", nonce=\"n\", \
                  uri=\"sip:pbx.test\", response=\"00\", qop=auth, nc=00000001, cnonce=\"c\""
        .to_string();
    let both = request(
        "REGISTER",
        URI,
        &[
            (HeaderName::Authorization, theirs.clone()),
            (HeaderName::Authorization, ours),
        ],
    );
    let out = www(&mut auth, clock.now(), &both, ip(1));
    assert_eq!(
        out,
        AuthOutcome::Authenticated {
            username: "1001".into()
        }
    );
    // Credentials only for another realm: as if there were none, not a failure.
    let only_theirs = request("REGISTER", URI, &[(HeaderName::Authorization, theirs)]);
    for _ in 0..10 {
        let out = www(&mut auth, clock.now(), &only_theirs, ip(2));
        assert!(
            matches!(out, AuthOutcome::Challenge { status: 401, .. }),
            "{out:?}"
        );
    }
}

#[test]
fn proxy_challenge_is_407_and_reads_proxy_authorization() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let invite = |creds: &[(HeaderName, String)]| request("INVITE", "sip:1002@pbx.test", creds);
    let first = auth.check(
        clock.now(),
        &invite(&[]),
        ip(1),
        Challenger::Proxy,
        passwords,
    );
    let AuthOutcome::Challenge {
        status,
        reason,
        headers,
    } = &first
    else {
        panic!("{first:?}");
    };
    assert_eq!((*status, *reason), (407, "Proxy Authentication Required"));
    assert!(headers
        .iter()
        .all(|h| h.name == HeaderName::ProxyAuthenticate));
    let ch = &challenges(&first)[0];
    let creds = DigestCredentials::answer(
        ch,
        "1001",
        "alpha-1001",
        "INVITE",
        "sip:1002@pbx.test",
        "cn",
        1,
    )
    .unwrap()
    .to_string();
    // In Authorization it is not for the proxy.
    let wrong_header = invite(&[(HeaderName::Authorization, creds.clone())]);
    let out = auth.check(
        clock.now(),
        &wrong_header,
        ip(1),
        Challenger::Proxy,
        passwords,
    );
    assert!(matches!(out, AuthOutcome::Challenge { status: 407, .. }));
    let right = invite(&[(HeaderName::ProxyAuthorization, creds)]);
    let out = auth.check(clock.now(), &right, ip(1), Challenger::Proxy, passwords);
    assert!(authenticated(&out), "{out:?}");
}

#[test]
fn source_ip_is_locked_after_five_failures_then_recovers() {
    let mut clock = FakeClock::new();
    let mut auth = authenticator();
    // Five different usernames: only the IP's counter reaches five.
    for (i, user) in ["1001", "1002", "a", "b"].iter().enumerate() {
        let out = sign_in(&mut auth, &clock, ip(1), user, "wrong");
        assert!(matches!(out, AuthOutcome::Challenge { .. }), "failure {i}");
    }
    assert!(forbidden(&sign_in(&mut auth, &clock, ip(1), "c", "wrong")));
    // Locked: even the right password, even without credentials.
    assert!(forbidden(&sign_in(
        &mut auth,
        &clock,
        ip(1),
        "1001",
        "alpha-1001"
    )));
    assert!(forbidden(&www(
        &mut auth,
        clock.now(),
        &register(None),
        ip(1)
    )));
    // Another address is not affected.
    assert!(authenticated(&sign_in(
        &mut auth,
        &clock,
        ip(2),
        "1001",
        "alpha-1001"
    )));
    // Requests during the lock do not extend it.
    clock.advance(Duration::from_secs(299));
    assert!(forbidden(&sign_in(
        &mut auth,
        &clock,
        ip(1),
        "1001",
        "wrong"
    )));
    clock.advance(Duration::from_secs(1));
    assert!(authenticated(&sign_in(
        &mut auth,
        &clock,
        ip(1),
        "1001",
        "alpha-1001"
    )));
}

#[test]
fn username_is_locked_across_source_addresses() {
    let mut clock = FakeClock::new();
    let mut auth = authenticator();
    for i in 0..4 {
        let out = sign_in(&mut auth, &clock, ip(10 + i), "1001", "wrong");
        assert!(matches!(out, AuthOutcome::Challenge { .. }));
    }
    assert!(forbidden(&sign_in(
        &mut auth,
        &clock,
        ip(14),
        "1001",
        "wrong"
    )));
    assert!(forbidden(&sign_in(
        &mut auth,
        &clock,
        ip(99),
        "1001",
        "alpha-1001"
    )));
    // Other users on the same addresses are fine.
    assert!(authenticated(&sign_in(
        &mut auth,
        &clock,
        ip(10),
        "1002",
        "bravo-1002"
    )));
    clock.advance(Duration::from_secs(300));
    assert!(authenticated(&sign_in(
        &mut auth,
        &clock,
        ip(99),
        "1001",
        "alpha-1001"
    )));
}

#[test]
fn unknown_usernames_lock_out_like_known_ones() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    let mut answers = Vec::new();
    for user in ["1001", "4242"] {
        let run: Vec<_> = (0..6)
            .map(|i| {
                let out = sign_in(&mut auth, &clock, ip(20 + i), user, "wrong");
                matches!(out, AuthOutcome::Forbidden { .. })
            })
            .collect();
        answers.push(run);
    }
    assert_eq!(answers[0], answers[1], "lockout does not reveal who exists");
    assert_eq!(answers[0], [false, false, false, false, true, true]);
}

#[test]
fn failures_spread_wider_than_the_window_do_not_lock() {
    let mut clock = FakeClock::new();
    let mut auth = authenticator();
    for _ in 0..3 {
        for _ in 0..4 {
            let out = sign_in(&mut auth, &clock, ip(1), "1001", "wrong");
            assert!(matches!(out, AuthOutcome::Challenge { .. }), "{out:?}");
        }
        clock.advance(Duration::from_secs(60));
    }
    assert!(authenticated(&sign_in(
        &mut auth,
        &clock,
        ip(1),
        "1001",
        "alpha-1001"
    )));
}

#[test]
fn success_resets_the_username_counter() {
    let clock = FakeClock::new();
    let mut auth = authenticator();
    // Distinct addresses so that no IP counter gets near the limit.
    for i in 0..4 {
        sign_in(&mut auth, &clock, ip(30 + i), "1001", "wrong");
    }
    assert!(authenticated(&sign_in(
        &mut auth,
        &clock,
        ip(40),
        "1001",
        "alpha-1001"
    )));
    for i in 0..4 {
        let out = sign_in(&mut auth, &clock, ip(50 + i), "1001", "wrong");
        assert!(matches!(out, AuthOutcome::Challenge { .. }), "{out:?}");
    }
    assert!(authenticated(&sign_in(
        &mut auth,
        &clock,
        ip(60),
        "1001",
        "alpha-1001"
    )));
}

#[test]
fn state_is_forgotten_at_its_deadlines() {
    let mut clock = FakeClock::new();
    let mut auth = authenticator();
    assert_eq!(auth.poll_timeout(), None);
    assert!(authenticated(&sign_in(
        &mut auth,
        &clock,
        ip(1),
        "1001",
        "alpha-1001"
    )));
    sign_in(&mut auth, &clock, ip(2), "1002", "wrong");
    assert_eq!(auth.tracked_entries(), 3, "one nonce, one IP, one username");
    let mut wakeups = 0;
    while let Some(t) = auth.poll_timeout() {
        clock.set(t);
        auth.handle_timeout(clock.now());
        wakeups += 1;
        assert!(wakeups < 10);
    }
    assert_eq!(auth.tracked_entries(), 0);
    assert_eq!(
        clock.elapsed(),
        Duration::from_secs(300),
        "the nonce lives longest"
    );
}

#[test]
fn nonce_table_is_bounded_without_reopening_replays() {
    let clock = FakeClock::new();
    let mut config = AuthConfig::new(REALM, [9; 32]);
    config.max_tracked = 2;
    let mut auth = Authenticator::new(config, 3);
    let mut captured = Vec::new();
    for _ in 0..5 {
        let first = www(&mut auth, clock.now(), &register(None), ip(1));
        let req = register(Some(answer(
            &challenges(&first)[0],
            "1001",
            "alpha-1001",
            1,
        )));
        assert!(authenticated(&www(&mut auth, clock.now(), &req, ip(1))));
        captured.push(req);
        assert!(auth.tracked_entries() <= 2);
    }
    for req in &captured {
        let out = www(&mut auth, clock.now(), req, ip(1));
        assert!(
            !authenticated(&out),
            "a replay after eviction must still fail"
        );
    }
}

#[test]
fn failure_tables_are_bounded() {
    let clock = FakeClock::new();
    let mut config = AuthConfig::new(REALM, [9; 32]);
    config.max_tracked = 3;
    let mut auth = Authenticator::new(config, 3);
    for i in 0..50 {
        sign_in(&mut auth, &clock, ip(i), &format!("user{i}"), "wrong");
        assert!(auth.tracked_entries() <= 6);
    }
}

#[test]
fn same_seed_same_challenges() {
    let clock = FakeClock::new();
    let run = || {
        let mut auth = authenticator();
        www(&mut auth, clock.now(), &register(None), ip(1))
    };
    assert_eq!(run(), run());
}

#[test]
fn the_offered_algorithms_are_configurable_and_enforced() {
    let clock = FakeClock::new();
    let mut config = AuthConfig::new(REALM, [9; 32]);
    config.algorithms = vec![Algorithm::Md5];
    let mut auth = Authenticator::new(config, 7);
    // Only an MD5 challenge is offered (for clients that take the first one).
    let first = www(&mut auth, clock.now(), &register(None), ip(1));
    let ch = challenges(&first);
    assert_eq!(ch.len(), 1);
    assert_eq!(param(&ch[0], "algorithm"), "MD5");
    let req = register(Some(answer(&ch[0], "1001", "alpha-1001", 1)));
    assert!(authenticated(&www(&mut auth, clock.now(), &req, ip(1))));

    // SHA-256 credentials are refused when SHA-256 is not offered.
    let again = www(&mut auth, clock.now(), &register(None), ip(1));
    let AuthOutcome::Challenge { headers, .. } = &again else {
        panic!("{again:?}")
    };
    let text =
        String::from_utf8_lossy(&headers[0].value).replace("algorithm=MD5", "algorithm=SHA-256");
    let sha = AuthHeader::parse(&Bytes::from(text)).unwrap();
    let req = register(Some(answer(&sha, "1001", "alpha-1001", 1)));
    assert!(!authenticated(&www(&mut auth, clock.now(), &req, ip(1))));
}
