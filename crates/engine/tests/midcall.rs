//! Mid-call and less common call setups: late offer, INFO, glare, a
//! caller that never ACKs, OPTIONS.

mod common;

use common::*;
use engine::MediaCommand;
use model::{CallStatus::*, HangupBy::*, HangupReason::*};
use sip::{Header, HeaderName, Method};
use sip_core::Event;
use std::time::Duration;
use testkit::NetConfig;

fn world(seed: u64) -> World {
    let mut w = World::new(seed, NetConfig::default());
    w.register("bob");
    w
}

fn invite_finals(w: &World, name: &str) -> Vec<u16> {
    w.phone_ref(name)
        .finals
        .iter()
        .filter(|(_, m, _)| *m == Method::Invite)
        .map(|(_, _, s)| *s)
        .collect()
}

#[test]
fn late_offer_call_carries_the_answer_in_the_acks() {
    let mut w = world(1);
    w.with("trunk", |p, now| p.invite_without_sdp(now, "200"));
    assert!(
        w.run_until(|w| !w.phone_ref("bob").acks.is_empty()),
        "{}",
        w.ladder
    );
    // bob got an INVITE without offer, made one in his 200, and the trunk's
    // answer reached him in the ACK, anchored on his leg's port.
    let bob = w.phone_ref("bob");
    assert!(bob.incoming[0].1.body.is_empty());
    let ack = sdp::SessionDescription::parse(&bob.acks[0]).unwrap();
    let (m, f) = (w.master(), w.forks()[0].clone());
    let ports: std::collections::HashMap<_, _> = w
        .media_commands()
        .into_iter()
        .filter_map(|c| match c {
            MediaCommand::OpenLeg { leg, rtp_port, .. } => Some((leg, rtp_port)),
            _ => None,
        })
        .collect();
    assert_eq!(ack.media_address(0), Some(PUBLIC_IP));
    assert_eq!(ack.media[0].port, ports[&f.id]);
    assert!(w
        .media_commands()
        .contains(&MediaCommand::Bridge { a: m.id, b: f.id }));
    assert_eq!((m.status, f.status), (Progressing, Progressing));
    w.with("trunk", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn info_passes_through() {
    let mut w = world(2);
    w.with("alice", |p, now| p.invite(now, "200"));
    assert!(w.run_until(|w| invite_finals(w, "alice").contains(&200)));
    let key = w.with("alice", |p, now| {
        p.info(
            now,
            "application/dtmf-relay",
            "Signal=5\r\nDuration=160\r\n",
        )
    });
    assert!(w.run_until(|w| w.phone_ref("alice").final_status(key).is_some()));
    assert_eq!(w.phone_ref("alice").final_status(key), Some(200));
    let info = w.phone_ref("bob").log.iter().find_map(|(_, e)| match e {
        Event::Request { request, .. } if request.method == Method::Info => Some(request.clone()),
        _ => None,
    });
    let info = info.expect("bob got the INFO");
    assert_eq!(&info.body[..], b"Signal=5\r\nDuration=160\r\n");
    // ... and the digit is an event of alice's call.
    let master = w.master().id;
    let digits: Vec<_> = w
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            engine::Event::Dtmf {
                call,
                digit,
                duration_ms,
            } => Some((*call, *digit, *duration_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(digits, [(master, '5', Some(160))]);
    // An INFO with another body is carried and reports nothing.
    let key = w.with("alice", |p, now| {
        p.info(now, "application/x-other", "hello")
    });
    assert!(w.run_until(|w| w.phone_ref("alice").final_status(key).is_some()));
    let count = w
        .events
        .iter()
        .filter(|(_, e)| matches!(e, engine::Event::Dtmf { .. }))
        .count();
    assert_eq!(count, 1);
    w.with("bob", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn glare_both_get_491_and_a_retry_succeeds() {
    let mut w = world(3);
    w.with("alice", |p, now| p.invite(now, "200"));
    assert!(w.run_until(|w| invite_finals(w, "alice").contains(&200)));
    w.run_for(Duration::from_secs(1));
    let now = w.now();
    let a = w.phone("alice").reoffer(now, Method::Invite, "sendonly");
    let b = w.phone("bob").reoffer(now, Method::Invite, "sendonly");
    w.pump();
    assert!(
        w.run_until(|w| {
            w.phone_ref("alice").final_status(a).is_some()
                && w.phone_ref("bob").final_status(b).is_some()
        }),
        "{}",
        w.ladder
    );
    assert_eq!(
        w.phone_ref("alice").final_status(a),
        Some(491),
        "{}",
        w.ladder
    );
    assert_eq!(w.phone_ref("bob").final_status(b), Some(491));
    // RFC 3261 §14.1: try again later.
    w.run_for(Duration::from_secs(3));
    let a = w.with("alice", |p, now| p.reoffer(now, Method::Invite, "sendonly"));
    assert!(w.run_until(|w| w.phone_ref("alice").final_status(a).is_some()));
    assert_eq!(w.phone_ref("alice").final_status(a), Some(200));
    assert_eq!(w.master().status, Progressing);
    w.with("alice", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn a_caller_that_never_acks_is_hung_up() {
    let mut w = world(4);
    w.phone("trunk").no_ack = true;
    w.with("trunk", |p, now| p.invite(now, "200"));
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    let (m, f) = (w.master(), w.forks()[0].clone());
    assert_eq!(
        w.status_path(m.id),
        [Dialing, Ringing, Progressing, Terminating, Hangup]
    );
    assert_eq!((m.hangup_by, m.hangup_reason), (Some(Local), Some(Failed)));
    assert_eq!((f.hangup_by, f.hangup_reason), (Some(Local), Some(Failed)));
    w.assert_clean();
}

#[test]
fn options_is_answered_with_capabilities() {
    let mut w = World::new(5, NetConfig::default());
    let key = w.with("trunk", |p, now| {
        let uri = format!("sip:{ENGINE_HOST}");
        let from = sip::NameAddr::new(sip::Uri::from_text("sip:ping@10.0.1.1").unwrap());
        let to = sip::NameAddr::new(sip::Uri::from_text(&uri).unwrap());
        let req = p.ep.build_request(
            Method::Options,
            sip::Uri::from_text(&uri).unwrap(),
            from,
            to,
        );
        p.ep.send_request(now, req, sip_core::Target::udp(engine_addr()))
            .unwrap()
    });
    w.run_until_idle();
    let r = w.phone_ref("trunk").final_response(key).unwrap();
    assert_eq!(r.status, 200);
    let allow = String::from_utf8_lossy(&r.headers.get(&sip::HeaderName::Allow).unwrap().value)
        .into_owned();
    assert!(
        allow.contains("INVITE") && allow.contains("UPDATE"),
        "{allow}"
    );
}

#[test]
fn requests_refused_before_any_call_exists() {
    let mut w = world(6);
    let offer = w.phone_ref("trunk").offer("sendrecv");
    let h = |n: HeaderName, v: &str| Header::new(n, v.to_owned());
    let cases = [
        (vec![h(HeaderName::Require, "100rel")], offer.clone(), 420),
        (vec![h(HeaderName::MaxForwards, "0")], offer.clone(), 483),
    ];
    for (headers, body, want) in cases {
        let key = w.with("trunk", |p, now| p.invite_raw(now, "200", headers, &body));
        w.run_until_idle();
        assert_eq!(w.phone_ref("trunk").final_status(key), Some(want));
    }
    assert!(w.call_ids().is_empty());
    w.assert_clean_no_calls();
}

#[test]
fn an_unparseable_offer_is_488_and_recorded_failed() {
    let mut w = world(7);
    let key = w.with("trunk", |p, now| {
        p.invite_raw(now, "200", vec![], "v=0\r\nthis is not SDP\r\n")
    });
    w.run_until(|w| w.phone_ref("trunk").final_status(key).is_some());
    assert_eq!(w.phone_ref("trunk").final_status(key), Some(488));
    let m = w.master();
    assert_eq!(
        (m.hangup_by, m.hangup_reason, m.sip_code),
        (Some(Local), Some(Failed), Some(488))
    );
    assert!(w.phone_ref("bob").incoming.is_empty());
    w.assert_clean();
}

#[test]
fn a_callee_challenge_reaches_the_caller_as_403() {
    let mut w = world(8);
    w.phone("bob").on_invite = OnInvite::Reject(407);
    let key = w.with("trunk", |p, now| p.invite(now, "200"));
    w.run_until(|w| w.all_ended() && w.phone_ref("trunk").final_status(key).is_some());
    assert_eq!(w.phone_ref("trunk").final_status(key), Some(403));
    let (m, f) = (w.master(), w.forks()[0].clone());
    assert_eq!(
        (m.hangup_by, m.hangup_reason, m.sip_code),
        (Some(Remote), Some(Failed), Some(403))
    );
    assert_eq!(
        (f.hangup_by, f.hangup_reason, f.sip_code),
        (Some(Remote), Some(Failed), Some(407))
    );
    w.assert_clean();
}

/// The API sends digits to bob as SIP INFO: one INFO per digit, the next
/// only after the previous one's 200, so bob receives them in order even
/// over a lossy network; an unanswered call is refused.
#[test]
fn dtmf_sent_as_info_arrives_one_digit_per_info_in_order() {
    let mut w = World::new(
        5,
        NetConfig {
            loss: 0.2,
            ..NetConfig::default()
        },
    );
    w.register("bob");
    w.with("alice", |p, now| p.invite(now, "200"));
    assert!(
        w.run_until(|w| invite_finals(w, "alice").contains(&200)),
        "{}",
        w.ladder
    );
    let bob_leg = w.forks()[0].id;
    let digits = media::dtmf::parse_digits("19#A").unwrap();
    w.engine
        .send_info_dtmf(w.now(), bob_leg, &digits, 160)
        .unwrap();
    w.pump();
    let infos = |w: &World| -> Vec<String> {
        w.phone_ref("bob")
            .log
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Request { request, .. } if request.method == Method::Info => {
                    Some(String::from_utf8_lossy(&request.body).into_owned())
                }
                _ => None,
            })
            .collect()
    };
    assert!(w.run_until(|w| infos(w).len() == 4), "{}", w.ladder);
    w.run_for(Duration::from_secs(5));
    let got = infos(&w);
    assert_eq!(
        got,
        [
            "Signal=1\r\nDuration=160\r\n",
            "Signal=9\r\nDuration=160\r\n",
            "Signal=#\r\nDuration=160\r\n",
            "Signal=A\r\nDuration=160\r\n"
        ],
        "{}",
        w.ladder
    );
    let ct = w.phone_ref("bob").log.iter().find_map(|(_, e)| match e {
        Event::Request { request, .. } if request.method == Method::Info => request
            .headers
            .get(&HeaderName::ContentType)
            .map(|h| String::from_utf8_lossy(&h.value).into_owned()),
        _ => None,
    });
    assert_eq!(ct.as_deref(), Some("application/dtmf-relay"));
    w.with("bob", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    assert_eq!(
        w.engine.send_info_dtmf(w.now(), bob_leg, &digits, 160),
        Err(engine::EngineError::CallEnded)
    );
}
