//! Dialog rules over the Pair harness: glare (§14), CSeq ordering (§12.2.2),
//! target refresh by UPDATE (RFC 3311), route set use.

mod common;

use common::{acking_app, answering_app, Later, Pair, Side};
use sip::{Header, HeaderName, Method};
use sip_core::{ClientTxKey, DialogState, Endpoint, Event};
use std::time::{Duration, Instant};
use testkit::NetConfig;

fn established(seed: u64) -> Pair {
    let mut p = Pair::new(seed, NetConfig::default());
    p.set_app(Side::A, acking_app());
    p.set_app(Side::B, answering_app());
    p.invite();
    assert!(p.run_until(|p| p
        .log(Side::B)
        .iter()
        .any(|(_, e)| matches!(e, Event::Ack { .. }))));
    p.run_for(Duration::from_secs(1));
    p
}

fn reinvite(ep: &mut Endpoint, now: Instant) -> ClientTxKey {
    let id = ep
        .dialogs()
        .find(|d| d.state() == DialogState::Confirmed)
        .unwrap()
        .id()
        .clone();
    let req = ep.dialog_request(&id, Method::Invite).unwrap();
    ep.send_in_dialog(now, &id, req).unwrap()
}

/// Both apps: answer in-dialog requests 200, ACK 2xx, retry a 491 after the §14.1 delay.
fn glare_app() -> common::App {
    Box::new(|ep, now, ev, later: &mut Vec<Later>| match ev {
        Event::Request { key, .. } => ep.respond(now, *key, 200, "OK").unwrap(),
        Event::Response {
            response,
            dialog: Some(d),
            ..
        } => {
            if response.is_success() && response.headers.cseq().unwrap().method == Method::Invite {
                ep.ack(now, d, None).unwrap();
            }
            if response.status == 491 {
                let wait = ep.glare_retry_delay(d).unwrap();
                later.push((
                    now + wait,
                    Box::new(|ep, now| {
                        reinvite(ep, now);
                    }),
                ));
            }
        }
        _ => {}
    })
}

#[test]
fn reinvite_glare_gets_491_on_both_sides_then_retries_succeed() {
    let mut p = established(11);
    p.set_app(Side::A, glare_app());
    p.set_app(Side::B, glare_app());
    let t0 = p.elapsed();
    let now = p.now();
    let a1 = reinvite(&mut p.a, now);
    let b1 = reinvite(&mut p.b, now);
    // A second INVITE while one is pending is refused locally (§14.1).
    let id = p.dialog(Side::A).unwrap();
    assert_eq!(
        p.a.dialog_request(&id, Method::Invite),
        Err(sip_core::Error::InvitePending)
    );

    p.run_until_idle();
    assert_eq!(p.final_response(Side::A, a1).unwrap().status, 491);
    assert_eq!(p.final_response(Side::B, b1).unwrap().status, 491);
    assert_eq!(p.ladder.count("491 Request Pending"), 2);

    // The retries: B (not the Call-ID owner) waits 0-2 s, A 2.1-4 s; both succeed.
    let ok_reinvites = |log: &[(Duration, Event)]| -> Vec<Duration> {
        log.iter()
            .filter_map(|(at, e)| match e {
                Event::Response { response, .. }
                    if response.status == 200
                        && response.headers.cseq().unwrap().method == Method::Invite =>
                {
                    at.checked_sub(t0)
                }
                _ => None,
            })
            .collect()
    };
    let a_ok = ok_reinvites(&p.a_log[..]);
    let b_ok = ok_reinvites(&p.b_log[..]);
    assert_eq!(a_ok.len(), 1, "A's retry");
    assert_eq!(b_ok.len(), 1);
    assert!(
        b_ok[0] <= Duration::from_millis(2040),
        "B retried at {:?}",
        b_ok[0]
    );
    let a_retry = *a_ok.last().unwrap();
    assert!(a_retry >= Duration::from_millis(2100) && a_retry <= Duration::from_millis(4040));
    assert_eq!(p.a.dialogs().count(), 1, "the dialog survived");
    assert_eq!(p.a.transaction_count(), (0, 0));
    assert_eq!(p.b.transaction_count(), (0, 0));
}

#[test]
fn lower_cseq_in_dialog_gets_500() {
    let mut p = established(12);
    let id = p.dialog(Side::A).unwrap();
    let now = p.now();
    let mut req = p.a.dialog_request(&id, Method::Options).unwrap();
    req.headers.set(Header::new(HeaderName::CSeq, "0 OPTIONS")); // the INVITE had CSeq 1
    let key = p.a.send_in_dialog(now, &id, req).unwrap();
    p.run_until_idle();
    let resp = p.final_response(Side::A, key).unwrap();
    assert_eq!(resp.status, 500);
    assert!(!p.b_log.iter().any(
        |(_, e)| matches!(e, Event::Request { request, .. } if request.method == Method::Options)
    ));
    // The next request, with a proper CSeq, goes through.
    let now = p.now();
    let req = p.a.dialog_request(&id, Method::Options).unwrap();
    let key = p.a.send_in_dialog(now, &id, req).unwrap();
    p.run_until_idle();
    assert_eq!(p.final_response(Side::A, key).unwrap().status, 200);
}

#[test]
fn request_in_unknown_dialog_is_refused_locally() {
    let mut p = established(13);
    let id = p.dialog(Side::A).unwrap();
    let now = p.now();
    let mut req = p.a.dialog_request(&id, Method::Info).unwrap();
    req.headers
        .set(Header::new(HeaderName::CallId, "nonexistent@10.0.0.1"));
    let r = p.a.send_request(now, req, sip_core::Target::udp(p.b_addr));
    assert_eq!(
        r,
        Err(sip_core::Error::UnknownDialog),
        "A refuses a dialog it lacks"
    );
}

#[test]
fn update_refreshes_the_remote_target() {
    let mut p = established(14);
    let id = p.dialog(Side::A).unwrap();
    let now = p.now();
    let mut upd = p.a.dialog_request(&id, Method::Update).unwrap();
    upd.headers.set(Header::new(
        HeaderName::Contact,
        "<sip:alice@10.0.0.1:5070>",
    ));
    let key = p.a.send_in_dialog(now, &id, upd).unwrap();
    p.run_until_idle();
    assert_eq!(p.final_response(Side::A, key).unwrap().status, 200);
    let b_id = p.dialog(Side::B).unwrap();
    assert_eq!(
        p.b.dialog(&b_id).unwrap().remote_target().to_string(),
        "sip:alice@10.0.0.1:5070"
    );
    // B's next request goes to the new target.
    let now = p.now();
    let bye = p.b.dialog_request(&b_id, Method::Bye).unwrap();
    assert_eq!(bye.uri.to_string(), "sip:alice@10.0.0.1:5070");
    p.b.send_in_dialog(now, &b_id, bye).unwrap();
    let t = p.b.poll_transmit().unwrap();
    assert_eq!(t.remote, "10.0.0.1:5070".parse().unwrap());
}

#[test]
fn in_dialog_cseq_increments_and_route_set_is_used() {
    let mut p = established(15);
    let id = p.dialog(Side::A).unwrap();
    let r1 = p.a.dialog_request(&id, Method::Options).unwrap();
    let r2 = p.a.dialog_request(&id, Method::Options).unwrap();
    assert_eq!(r1.headers.cseq().unwrap().seq, 2);
    assert_eq!(r2.headers.cseq().unwrap().seq, 3);
    assert!(r1.headers.route().unwrap().is_empty());
    let d = p.a.dialog(&id).unwrap();
    assert_eq!(d.local_seq(), Some(3));
    assert_eq!(d.remote_target().to_string(), "sip:10.0.0.2:5060");
}
