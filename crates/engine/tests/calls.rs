//! Call scenarios end to end: phones and trunks through the engine, the
//! records the server would store, the media commands, the ports. Every
//! scenario ends with `assert_clean`: no active call, no port allocated,
//! every OpenLeg closed, events in order.

mod common;

use common::*;
use engine::MediaCommand;
use model::{AddressType, Call, CallStatus::*, Direction, HangupBy::*, HangupReason::*};
use sip::{Header, HeaderName, Method};
use sip_core::Event;
use std::collections::HashMap;
use std::time::Duration;
use testkit::NetConfig;
use uuid::Uuid;

/// bob (one phone) registered.
fn world(seed: u64) -> World {
    let mut w = World::new(seed, NetConfig::default());
    w.register("bob");
    w
}

fn outcome(
    c: &Call,
) -> (
    Option<model::HangupBy>,
    Option<model::HangupReason>,
    Option<u16>,
) {
    (c.hangup_by, c.hangup_reason, c.sip_code)
}

/// RTP port of each opened leg.
fn leg_ports(w: &World) -> HashMap<Uuid, u16> {
    w.media_commands()
        .into_iter()
        .filter_map(|m| match m {
            MediaCommand::OpenLeg { leg, rtp_port, .. } => Some((leg, rtp_port)),
            _ => None,
        })
        .collect()
}

fn sdp(text: &str) -> sdp::SessionDescription {
    sdp::SessionDescription::parse(text).unwrap()
}

/// The SDP of the first 2xx to INVITE `name` got.
fn answer_body(w: &World, name: &str) -> String {
    w.phone_ref(name)
        .log
        .iter()
        .find_map(|(_, e)| match e {
            Event::Response { response, .. }
                if response.status == 200
                    && response.headers.cseq().unwrap().method == Method::Invite =>
            {
                Some(String::from_utf8_lossy(&response.body).into_owned())
            }
            _ => None,
        })
        .expect("a 200 to INVITE")
}

/// The final statuses (>= 200) of INVITEs a phone got.
fn invite_finals(w: &World, name: &str) -> Vec<u16> {
    w.phone_ref(name)
        .finals
        .iter()
        .filter(|(_, m, _)| *m == Method::Invite)
        .map(|(_, _, s)| *s)
        .collect()
}

/// Runs until every call ended and `name` got its final answers.
fn run_to_end(w: &mut World, name: &str, finals: usize) {
    let ok = w.run_until(|w| w.all_ended() && invite_finals(w, name).len() >= finals);
    assert!(ok, "{}", w.ladder);
}

/// alice calls 200; runs until alice has the 200.
fn answered_call(w: &mut World) {
    w.with("alice", |p, now| p.invite(now, "200"));
    let ok = w.run_until(|w| invite_finals(w, "alice").contains(&200));
    assert!(ok, "not answered\n{}", w.ladder);
}

#[test]
fn alice_calls_bob_answered_then_alice_hangs_up() {
    let mut w = world(1);
    answered_call(&mut w);
    assert_eq!(invite_finals(&w, "alice"), [407, 200], "digest first (407)");
    let m = w.master();
    let forks = w.forks();
    assert_eq!(forks.len(), 1);
    let f = &forks[0];
    // The two-call model: chained ids both ways.
    assert_eq!(m.direction, Direction::Incoming);
    assert_eq!(f.direction, Direction::Outgoing);
    assert_eq!(m.chained_call_ids, [f.id]);
    assert_eq!(f.master_call_id, Some(m.id));
    assert_eq!(m.master_call_id, None);
    assert_eq!(
        (
            m.source.kind,
            m.source.target.as_str(),
            m.source.name.as_str()
        ),
        (AddressType::Extension, "100", "Alice")
    );
    assert_eq!(
        (
            m.destination.kind,
            m.destination.target.as_str(),
            m.destination.name.as_str()
        ),
        (AddressType::Extension, "200", "Bob")
    );
    assert_eq!(f.source, m.source);
    assert_eq!(f.destination, m.destination);
    assert_eq!((m.status, f.status), (Progressing, Progressing));
    assert_eq!((m.sip_code, f.sip_code), (Some(200), Some(200)));

    // Media anchored: each side talks to Dialtone on its own leg's port.
    let ports = leg_ports(&w);
    let to_bob = sdp(&w.phone_ref("bob").offers_received[0]);
    assert_eq!(to_bob.media_address(0), Some(PUBLIC_IP));
    assert_eq!(to_bob.origin.address, PUBLIC_IP);
    assert_eq!(to_bob.media[0].port, ports[&f.id]);
    assert_eq!(
        to_bob.media[0].formats,
        ["0", "8", "101", "9", "96"],
        "the caller's codecs first, then those Dialtone can transcode to (G.722, Opus)"
    );
    let to_alice = sdp(&answer_body(&w, "alice"));
    assert_eq!(to_alice.media_address(0), Some(PUBLIC_IP));
    assert_eq!(to_alice.media[0].port, ports[&m.id]);
    let cmds = w.media_commands();
    let pcmu = Some(engine::LegCodec {
        name: "PCMU".into(),
        clock_rate: 8000,
        channels: 1,
        payload_type: 0,
        dtmf: Some((101, 8000)),
    });
    assert_eq!(
        cmds[..5],
        [
            MediaCommand::OpenLeg {
                leg: m.id,
                rtp_port: ports[&m.id],
                remote_hint: Some("10.0.0.1:4010".parse().unwrap())
            },
            MediaCommand::OpenLeg {
                leg: f.id,
                rtp_port: ports[&f.id],
                remote_hint: Some("10.0.0.2:4020".parse().unwrap())
            },
            MediaCommand::SetCodec {
                leg: m.id,
                codec: pcmu.clone()
            },
            MediaCommand::SetCodec {
                leg: f.id,
                codec: pcmu
            },
            MediaCommand::Bridge { a: m.id, b: f.id },
        ]
    );
    assert_eq!(w.ports.out(), 2);

    w.run_for(Duration::from_secs(10));
    w.with("alice", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    let (m, f) = (w.record(m.id), w.record(f.id));
    assert_eq!(w.status_path(m.id), [Dialing, Ringing, Progressing, Hangup]);
    assert_eq!(
        w.status_path(f.id),
        [Dialing, Ringing, Progressing, Terminating, Hangup]
    );
    assert_eq!(outcome(&m), (Some(Remote), Some(Normal), Some(200)));
    assert_eq!(outcome(&f), (Some(Local), Some(Normal), Some(200)));
    assert!(w.phone_ref("bob").got_request(Method::Bye));
    let talk = m.tm_hangup.unwrap() - m.tm_progressing.unwrap();
    assert!(talk >= chrono::Duration::seconds(10), "{talk}");
    w.assert_clean();
}

#[test]
fn alice_calls_bob_answered_then_bob_hangs_up() {
    let mut w = world(2);
    answered_call(&mut w);
    w.run_for(Duration::from_secs(3));
    w.with("bob", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    let (m, f) = (w.master(), w.forks()[0].clone());
    assert_eq!(
        w.status_path(m.id),
        [Dialing, Ringing, Progressing, Terminating, Hangup]
    );
    assert_eq!(w.status_path(f.id), [Dialing, Ringing, Progressing, Hangup]);
    assert_eq!(outcome(&m), (Some(Local), Some(Normal), Some(200)));
    assert_eq!(outcome(&f), (Some(Remote), Some(Normal), Some(200)));
    assert!(w.phone_ref("alice").got_request(Method::Bye));
    w.assert_clean();
}

#[test]
fn basic_call_survives_10_percent_loss() {
    for seed in 1..=20 {
        let mut w = World::new(seed, NetConfig::lossy(0.1));
        w.register("bob");
        answered_call(&mut w);
        w.run_for(Duration::from_secs(5));
        w.with("alice", |p, now| p.bye(now));
        assert!(w.run_until(|w| w.all_ended()), "seed {seed}\n{}", w.ladder);
        let (m, f) = (w.master(), w.forks()[0].clone());
        assert_eq!(
            outcome(&m),
            (Some(Remote), Some(Normal), Some(200)),
            "seed {seed}"
        );
        assert_eq!(
            outcome(&f),
            (Some(Local), Some(Normal), Some(200)),
            "seed {seed}"
        );
        w.assert_clean();
    }
}

#[test]
fn two_phones_ring_first_answer_wins_other_is_cancelled() {
    let mut w = World::new(4, NetConfig::default());
    w.register("bob");
    w.register("bob2"); // rings forever
    answered_call(&mut w);
    assert!(
        w.run_until(|w| w.phone_ref("bob2").got_cancel()),
        "{}",
        w.ladder
    );
    let m = w.master();
    let forks = w.forks();
    assert_eq!(forks.len(), 2);
    assert_eq!(
        m.chained_call_ids,
        forks.iter().map(|f| f.id).collect::<Vec<_>>()
    );
    assert!(
        w.phone_ref("bob").incoming.len() == 1 && w.phone_ref("bob2").incoming.len() == 1,
        "both rang"
    );
    w.run_until(|w| w.forks().iter().any(|f| f.status == Hangup));
    let (won, lost): (Vec<Call>, Vec<Call>) =
        w.forks().into_iter().partition(|f| f.status == Progressing);
    assert_eq!(won.len(), 1);
    assert_eq!(
        w.status_path(lost[0].id),
        [Dialing, Ringing, Canceling, Hangup]
    );
    assert_eq!(outcome(&lost[0]), (Some(Local), Some(Cancel), Some(487)));
    assert_eq!(w.status_path(m.id), [Dialing, Ringing, Progressing]);
    w.run_for(Duration::from_secs(2));
    w.with("bob", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    assert_eq!(outcome(&w.master()), (Some(Local), Some(Normal), Some(200)));
    w.assert_clean();
}

#[test]
fn an_ended_call_stays_readable_for_a_few_seconds_then_is_forgotten() {
    let mut w = world(3);
    answered_call(&mut w);
    w.with("bob", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    let (m, f) = (w.master().id, w.forks()[0].id);
    w.run_for(Duration::from_secs(2));
    assert!(w.engine.call(m).is_some() && w.engine.call(f).is_some());
    w.run_for(Duration::from_secs(3));
    assert!(w.engine.call(m).is_none(), "master still held 5 s after");
    assert!(w.engine.call(f).is_none(), "fork still held 5 s after");
    // Nothing left to wake up for but the endpoint's own housekeeping.
    let next = w.engine.poll_timeout();
    assert!(next.is_none_or(|t| t > w.now()), "{next:?}");
}

#[test]
fn busy_callee() {
    let mut w = world(5);
    w.phone("bob").on_invite = OnInvite::RingThenReject(Duration::from_secs(1), 486);
    w.with("alice", |p, now| p.invite(now, "200"));
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 486]);
    let (m, f) = (w.master(), w.forks()[0].clone());
    assert_eq!(w.status_path(m.id), [Dialing, Ringing, Hangup]);
    assert_eq!(w.status_path(f.id), [Dialing, Ringing, Hangup]);
    assert_eq!(outcome(&m), (Some(Remote), Some(Busy), Some(486)));
    assert_eq!(outcome(&f), (Some(Remote), Some(Busy), Some(486)));
    w.assert_clean();
}

#[test]
fn a_callee_forwarding_with_302_passes_its_contact_to_the_caller() {
    let mut w = world(5);
    w.phone("bob").on_invite = OnInvite::Redirect("<sip:1003@192.0.2.99>");
    w.with("alice", |p, now| p.invite(now, "200"));
    run_to_end(&mut w, "alice", 2);
    // The caller is told where to go, and can follow it (the softphone does).
    assert_eq!(invite_finals(&w, "alice"), [407, 302]);
    assert_eq!(
        w.phone_ref("alice").redirect_contacts,
        ["<sip:1003@192.0.2.99>"]
    );
    let (m, f) = (w.master(), w.forks()[0].clone());
    assert_eq!(m.sip_code, Some(302));
    assert_eq!(f.sip_code, Some(302));
    w.assert_clean();
}

#[test]
fn declined_and_busy_forks_the_caller_gets_the_6xx() {
    let mut w = World::new(6, NetConfig::default());
    w.register("bob");
    w.register("bob2");
    w.phone("bob").on_invite = OnInvite::Reject(486);
    w.phone("bob2").on_invite = OnInvite::RingThenReject(Duration::from_secs(1), 603);
    w.with("alice", |p, now| p.invite(now, "200"));
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 603]);
    let m = w.master();
    assert_eq!(outcome(&m), (Some(Remote), Some(Noanswer), Some(603)));
    let mut forks: Vec<_> = w.forks().iter().map(outcome).collect();
    forks.sort_by_key(|o| o.2);
    assert_eq!(
        forks,
        [
            (Some(Remote), Some(Busy), Some(486)),
            (Some(Remote), Some(Noanswer), Some(603))
        ]
    );
    w.assert_clean();
}

#[test]
fn one_fork_busy_the_other_answers() {
    let mut w = World::new(7, NetConfig::default());
    w.register("bob");
    w.register("bob2");
    w.phone("bob2").on_invite = OnInvite::Reject(486);
    answered_call(&mut w);
    let m = w.master();
    assert_eq!(m.status, Progressing);
    let busy: Vec<Call> = w
        .forks()
        .into_iter()
        .filter(|f| f.status == Hangup)
        .collect();
    assert_eq!(outcome(&busy[0]), (Some(Remote), Some(Busy), Some(486)));
    w.engine.hangup(w.now(), m.id).unwrap();
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn ring_timeout_while_ringing_is_noanswer() {
    let mut w = world(8);
    w.phone("bob").on_invite = OnInvite::Ring;
    w.with("alice", |p, now| p.invite(now, "200"));
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 480]);
    assert!(w.phone_ref("bob").got_cancel());
    let (m, f) = (w.master(), w.forks()[0].clone());
    assert_eq!(w.status_path(m.id), [Dialing, Ringing, Hangup]);
    assert_eq!(w.status_path(f.id), [Dialing, Ringing, Canceling, Hangup]);
    assert_eq!(outcome(&m), (Some(Local), Some(Noanswer), Some(480)));
    assert_eq!(outcome(&f), (Some(Local), Some(Noanswer), Some(487)));
    let rang_for = m.tm_hangup.unwrap() - m.tm_create;
    assert!(
        (60_000..60_100).contains(&rang_for.num_milliseconds()),
        "{rang_for}"
    );
    w.assert_clean();
}

#[test]
fn ring_timeout_before_any_ringing_is_dialout() {
    let mut w = world(9);
    w.phone("bob").on_invite = OnInvite::Silent; // only sip-core's 100 Trying
    w.with("alice", |p, now| p.invite(now, "200"));
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 480]);
    let (m, f) = (w.master(), w.forks()[0].clone());
    assert_eq!(w.status_path(m.id), [Dialing, Hangup]);
    assert_eq!(w.status_path(f.id), [Dialing, Canceling, Hangup]);
    assert_eq!(outcome(&m), (Some(Local), Some(Dialout), Some(480)));
    assert_eq!(outcome(&f), (Some(Local), Some(Dialout), Some(487)));
    w.assert_clean();
}

#[test]
fn caller_cancels_while_ringing() {
    let mut w = world(10);
    w.phone("bob").on_invite = OnInvite::Ring;
    w.with("alice", |p, now| p.invite(now, "200"));
    assert!(w.run_until(|w| w.phone_ref("bob").incoming.len() == 1
        && w.forks().first().is_some_and(|f| f.status == Ringing)));
    w.run_for(Duration::from_secs(3));
    // CANCEL the INVITE that carried the credentials.
    let key = w.phone_ref("alice").finals.first().map(|_| ()).and(
        w.phone_ref("alice")
            .log
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                Event::Response { key, response, .. } if response.status == 180 => Some(*key),
                _ => None,
            }),
    );
    w.with("alice", |p, now| p.cancel(now, key.unwrap()));
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 487]);
    assert!(w.phone_ref("bob").got_cancel());
    let (m, f) = (w.master(), w.forks()[0].clone());
    assert_eq!(w.status_path(m.id), [Dialing, Ringing, Hangup]);
    assert_eq!(w.status_path(f.id), [Dialing, Ringing, Canceling, Hangup]);
    assert_eq!(outcome(&m), (Some(Remote), Some(Cancel), Some(487)));
    assert_eq!(outcome(&f), (Some(Local), Some(Cancel), Some(487)));
    w.assert_clean();
}

#[test]
fn unreachable_callee_times_out_failed() {
    let mut w = world(11);
    w.with("alice", |p, now| p.invite(now, "400")); // static contact: nobody there
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 408]);
    let (m, f) = (w.master(), w.forks()[0].clone());
    assert_eq!(w.status_path(m.id), [Dialing, Hangup]);
    assert_eq!(outcome(&m), (Some(Remote), Some(Failed), Some(408)));
    assert_eq!(outcome(&f), (Some(Remote), Some(Failed), Some(408)));
    let waited = m.tm_hangup.unwrap() - m.tm_create;
    assert!(waited >= chrono::Duration::seconds(32), "Timer B: {waited}");
    w.assert_clean();
}

#[test]
fn unknown_extension_is_404() {
    let mut w = world(12);
    w.with("alice", |p, now| p.invite(now, "999"));
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 404]);
    let records = w.records();
    assert_eq!(records.len(), 1);
    assert_eq!(w.status_path(records[0].id), [Dialing, Hangup]);
    assert_eq!(outcome(&records[0]), (Some(Local), Some(Failed), Some(404)));
    assert_eq!(records[0].destination.target, "999");
    assert_eq!(w.ports.allocated(), 0);
    w.assert_clean();
}

#[test]
fn known_extension_without_contact_is_480() {
    let mut w = world(13);
    w.with("alice", |p, now| p.invite(now, "500"));
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 480]);
    let m = w.master();
    assert_eq!(outcome(&m), (Some(Local), Some(Noanswer), Some(480)));
    assert!(w.forks().is_empty());
    w.assert_clean();
}

#[test]
fn unauthenticated_invite_gets_407_and_reaches_nobody() {
    let mut w = world(14);
    // A stranger without credentials, and one with a wrong password.
    w.phones.push(Phone::new(
        "mallory",
        "10.0.0.66:5060",
        None,
        OnInvite::Ring,
        w.clock.base(),
        66,
    ));
    w.phones.push(Phone::new(
        "eve",
        "10.0.0.67:5060",
        Some(("100", "guess")),
        OnInvite::Ring,
        w.clock.base(),
        67,
    ));
    w.with("mallory", |p, now| p.invite(now, "200"));
    w.with("eve", |p, now| p.invite(now, "200"));
    w.run_until_idle();
    assert_eq!(invite_finals(&w, "mallory"), [407]);
    assert_eq!(invite_finals(&w, "eve"), [407, 407]);
    let challenge = w
        .phone_ref("mallory")
        .log
        .iter()
        .find_map(|(_, e)| match e {
            Event::Response { response, .. } if response.status == 407 => Some(response.clone()),
            _ => None,
        });
    assert!(challenge
        .unwrap()
        .headers
        .get(&HeaderName::ProxyAuthenticate)
        .is_some());
    assert!(
        w.phone_ref("bob").incoming.is_empty(),
        "nothing was sent to bob"
    );
    assert!(w.call_ids().is_empty(), "no call record");
    assert_eq!(w.ports.allocated(), 0);
    w.assert_clean_no_calls();
}

#[test]
fn trusted_peer_calls_without_auth() {
    let mut w = world(15);
    w.phone("trunk").from_user = Some("+15551234567".into());
    w.with("trunk", |p, now| p.invite(now, "200"));
    assert!(
        w.run_until(|w| invite_finals(w, "trunk").contains(&200)),
        "{}",
        w.ladder
    );
    assert_eq!(invite_finals(&w, "trunk"), [200], "no challenge");
    let m = w.master();
    assert_eq!(
        (m.source.kind, m.source.target.as_str()),
        (AddressType::Tel, "+15551234567")
    );
    let from = w.phone_ref("bob").incoming[0].1.headers.from().unwrap();
    assert_eq!(
        from.uri.user.as_deref(),
        Some(&b"+15551234567"[..]),
        "caller id passes to the callee"
    );
    w.engine.hangup(w.now(), m.id).unwrap();
    assert!(w.run_until(|w| w.all_ended()));
    assert_eq!(outcome(&w.master()), (Some(Local), Some(Normal), Some(200)));
    assert_eq!(
        outcome(&w.forks()[0]),
        (Some(Local), Some(Normal), Some(200))
    );
    w.assert_clean();
}

#[test]
fn static_contact_is_called() {
    let mut w = world(16);
    w.with("alice", |p, now| p.invite(now, "300"));
    assert!(
        w.run_until(|w| invite_finals(w, "alice").contains(&200)),
        "{}",
        w.ladder
    );
    let desk = w.phone_ref("desk");
    assert_eq!(desk.incoming.len(), 1);
    assert_eq!(desk.incoming[0].1.uri.to_string(), "sip:10.0.0.5:5060");
    w.with("desk", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn early_media_reaches_the_caller_rewritten() {
    let mut w = world(17);
    w.phone("bob").on_invite = OnInvite::EarlyMediaThenAnswer(Duration::from_secs(3));
    w.with("alice", |p, now| p.invite(now, "200"));
    let got_183 = |w: &World| {
        w.phone_ref("alice").log.iter().find_map(|(_, e)| match e {
            Event::Response { response, .. } if response.status == 183 => Some(response.clone()),
            _ => None,
        })
    };
    assert!(w.run_until(|w| got_183(w).is_some()), "{}", w.ladder);
    let r = got_183(&w).unwrap();
    let body = sdp(std::str::from_utf8(&r.body).unwrap());
    let m = w.master();
    let f = w.forks()[0].clone();
    assert_eq!(body.media_address(0), Some(PUBLIC_IP));
    assert_eq!(body.media[0].port, leg_ports(&w)[&m.id]);
    assert!(
        w.media_commands()
            .contains(&MediaCommand::Bridge { a: m.id, b: f.id }),
        "bridged before the answer"
    );
    assert_eq!(m.status, Ringing);
    assert!(w.run_until(|w| invite_finals(w, "alice").contains(&200)));
    let bridges = w
        .media_commands()
        .iter()
        .filter(|c| matches!(c, MediaCommand::Bridge { .. }))
        .count();
    assert_eq!(bridges, 1, "the answer keeps the early bridge");
    let answer = sdp(&answer_body(&w, "alice"));
    assert_eq!(
        answer.origin.session_version, body.origin.session_version,
        "same description, same version"
    );
    w.engine.hangup(w.now(), f.id).unwrap();
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn hold_reinvite_reaches_the_other_leg_rewritten() {
    let mut w = world(18);
    answered_call(&mut w);
    let (m, f) = (w.master(), w.forks()[0].clone());
    let ports = leg_ports(&w);
    w.run_for(Duration::from_secs(2));
    let key = w.with("alice", |p, now| p.reoffer(now, Method::Invite, "sendonly"));
    assert!(
        w.run_until(|w| w.phone_ref("alice").final_status(key).is_some()),
        "{}",
        w.ladder
    );
    assert_eq!(w.phone_ref("alice").final_status(key), Some(200));
    let bob = w.phone_ref("bob");
    assert_eq!(
        bob.offers_received.len(),
        2,
        "the initial offer and the hold"
    );
    let hold = sdp(&bob.offers_received[1]);
    assert_eq!(hold.media[0].direction(), sdp::Direction::SendOnly);
    assert_eq!(hold.media_address(0), Some(PUBLIC_IP));
    assert_eq!(hold.media[0].port, ports[&f.id]);
    let first = sdp(&bob.offers_received[0]);
    assert_eq!(hold.origin.session_id, first.origin.session_id);
    assert_eq!(
        hold.origin.session_version,
        first.origin.session_version + 1,
        "changed: version + 1"
    );
    let reply = w.phone_ref("alice").final_response(key).unwrap().clone();
    let reply = sdp(std::str::from_utf8(&reply.body).unwrap());
    assert_eq!(reply.media[0].direction(), sdp::Direction::RecvOnly);
    assert_eq!(reply.media_address(0), Some(PUBLIC_IP));
    assert_eq!(reply.media[0].port, ports[&m.id]);

    // bob resumes with UPDATE from his side.
    let key = w.with("bob", |p, now| p.reoffer(now, Method::Update, "sendrecv"));
    assert!(w.run_until(|w| w.phone_ref("bob").final_status(key).is_some()));
    assert_eq!(w.phone_ref("bob").final_status(key), Some(200));
    let resumed = sdp(w.phone_ref("alice").offers_received.last().unwrap());
    assert_eq!(resumed.media[0].direction(), sdp::Direction::SendRecv);
    assert_eq!(resumed.media[0].port, ports[&m.id]);
    assert_eq!(
        w.master().status,
        Progressing,
        "mid-call changes do not change status"
    );
    w.with("bob", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn a_moved_peer_updates_its_leg() {
    let mut w = world(19);
    answered_call(&mut w);
    let m = w.master();
    w.phone("alice").media_port = 5555;
    let key = w.with("alice", |p, now| p.reoffer(now, Method::Invite, "sendrecv"));
    assert!(w.run_until(|w| w.phone_ref("alice").final_status(key) == Some(200)));
    assert!(w.media_commands().contains(&MediaCommand::UpdateLeg {
        leg: m.id,
        remote_hint: Some("10.0.0.1:5555".parse().unwrap())
    }));
    w.with("alice", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn max_call_duration_ends_both_legs() {
    let mut cfg = default_config(20);
    cfg.max_call_duration = Duration::from_secs(30);
    let mut w = World::with_config(20, NetConfig::default(), cfg);
    w.register("bob");
    answered_call(&mut w);
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    let (m, f) = (w.master(), w.forks()[0].clone());
    assert_eq!(
        w.status_path(m.id),
        [Dialing, Ringing, Progressing, Terminating, Hangup]
    );
    assert_eq!(
        w.status_path(f.id),
        [Dialing, Ringing, Progressing, Terminating, Hangup]
    );
    assert_eq!(outcome(&m), (Some(Local), Some(Timeout), Some(200)));
    assert_eq!(outcome(&f), (Some(Local), Some(Timeout), Some(200)));
    let talked = m.tm_hangup.unwrap() - m.tm_progressing.unwrap();
    assert!(
        (30_000..30_100).contains(&talked.num_milliseconds()),
        "{talked}"
    );
    w.assert_clean();
}

#[test]
fn api_hangup_before_answer_cancels_everything() {
    let mut w = world(21);
    w.phone("bob").on_invite = OnInvite::Ring;
    w.with("alice", |p, now| p.invite(now, "200"));
    assert!(w.run_until(|w| w.forks().first().is_some_and(|f| f.status == Ringing)));
    let m = w.master();
    w.engine.hangup(w.now(), m.id).unwrap();
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 487]);
    assert_eq!(outcome(&w.master()), (Some(Local), Some(Cancel), Some(487)));
    assert_eq!(
        outcome(&w.forks()[0]),
        (Some(Local), Some(Cancel), Some(487))
    );
    assert_eq!(
        w.engine.hangup(w.now(), m.id),
        Err(engine::EngineError::CallEnded)
    );
    assert_eq!(
        w.engine.hangup(w.now(), Uuid::nil()),
        Err(engine::EngineError::UnknownCall)
    );
    w.assert_clean();
}

#[test]
fn shutdown_ends_every_call() {
    let mut w = world(22);
    w.phone("desk").on_invite = OnInvite::Ring;
    answered_call(&mut w); // alice -> bob, answered
    w.with("trunk", |p, now| p.invite(now, "300")); // trunk -> desk, ringing
    assert!(w.run_until(|w| w.records().iter().filter(|c| c.status == Ringing).count() == 2));
    w.engine.shutdown(w.now());
    w.pump();
    w.with("trunk", |p, now| p.invite(now, "200"));
    assert!(
        w.run_until(|w| w.all_ended() && invite_finals(w, "trunk").len() == 2),
        "{}",
        w.ladder
    );
    assert_eq!(
        invite_finals(&w, "trunk"),
        [503, 503],
        "the ringing call and the new one"
    );
    for c in w.records() {
        let answered = c.tm_progressing.is_some();
        let want = match (answered, c.direction) {
            (true, _) => (Some(Local), Some(Normal), Some(200)),
            (false, Direction::Incoming) => (Some(Local), Some(Failed), Some(503)),
            (false, Direction::Outgoing) => (Some(Local), Some(Failed), Some(487)),
        };
        assert_eq!(outcome(&c), want, "{c:#?}");
    }
    assert_eq!(
        w.records().len(),
        4,
        "no record for the INVITE refused at shutdown"
    );
    assert!(w.phone_ref("desk").got_cancel());
    w.assert_clean();
}

/// The codec the relay was last told for `leg`.
fn codec_of(w: &World, leg: Uuid) -> Option<engine::LegCodec> {
    w.media_commands()
        .into_iter()
        .filter_map(|c| match c {
            MediaCommand::SetCodec { leg: l, codec } if l == leg => Some(codec),
            _ => None,
        })
        .next_back()
        .flatten()
}

#[test]
fn a_callee_answering_in_a_codec_the_caller_lacks_is_transcoded() {
    let mut w = world(28);
    w.phone("bob").answer_codecs = vec![sdp::CodecSpec::new("opus", 48000, 2)];
    answered_call(&mut w);
    let (m, f) = (w.master(), w.forks()[0].clone());
    let to_bob = sdp(&w.phone_ref("bob").offers_received[0]);
    let offered: Vec<String> = to_bob.media[0]
        .codecs()
        .into_iter()
        .map(|c| format!("{}/{}", c.name, c.clock_rate))
        .collect();
    assert!(offered.contains(&"opus/48000".to_string()), "{offered:?}");
    // Alice offered PCMU, PCMA and telephone-event: she is answered in
    // her first codec, with her telephone-event, never in Opus.
    let to_alice = sdp(&answer_body(&w, "alice"));
    let answered: Vec<(u8, String)> = to_alice.media[0]
        .codecs()
        .into_iter()
        .map(|c| (c.payload_type, c.name))
        .collect();
    assert_eq!(
        answered,
        [(0, "PCMU".into()), (101, "telephone-event".into())]
    );
    let alice_leg = codec_of(&w, m.id).expect("master codec");
    let bob_leg = codec_of(&w, f.id).expect("fork codec");
    assert_eq!(
        (alice_leg.name.as_str(), alice_leg.payload_type),
        ("PCMU", 0)
    );
    assert_eq!(alice_leg.dtmf, Some((101, 8000)));
    assert_eq!(
        (bob_leg.name.as_str(), bob_leg.clock_rate, bob_leg.channels),
        ("opus", 48000, 2)
    );
    assert_eq!(bob_leg.dtmf, None);
    w.with("alice", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    w.assert_clean();
}

#[test]
fn transcoding_off_passes_codec_lists_untouched() {
    let mut cfg = default_config(29);
    cfg.transcode.clear();
    let mut w = World::with_config(29, NetConfig::default(), cfg);
    w.register("bob");
    w.phone("bob").answer_codecs = vec![sdp::CodecSpec::new("PCMA", 8000, 1)];
    answered_call(&mut w);
    let to_bob = sdp(&w.phone_ref("bob").offers_received[0]);
    assert_eq!(to_bob.media[0].formats, ["0", "8", "101"]);
    let to_alice = sdp(&answer_body(&w, "alice"));
    assert_eq!(to_alice.media[0].formats, ["8"], "bob's answer as it is");
}

#[test]
fn mute_is_recorded_on_the_call_and_sent_to_the_relay() {
    use model::MuteDirection::*;
    let mut w = world(30);
    w.phone("bob").on_invite = OnInvite::Ring;
    w.with("alice", |p, now| p.invite(now, "200"));
    assert!(w.run_until(|w| w.records().iter().any(|c| c.status == Ringing)));
    let ringing = w.master().id;
    assert_eq!(
        w.engine.set_mute(w.now(), ringing, Some(In)),
        Err(engine::EngineError::NotAnswered)
    );
    assert_eq!(
        w.engine.set_mute(w.now(), Uuid::nil(), Some(In)),
        Err(engine::EngineError::UnknownCall)
    );
    w.engine.hangup(w.now(), ringing).unwrap();
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);

    let mut w = world(31);
    answered_call(&mut w);
    let (m, f) = (w.master(), w.forks()[0].clone());
    let updates = w.call_events(f.id).len();
    w.engine.set_mute(w.now(), f.id, Some(Out)).unwrap();
    w.pump();
    assert_eq!(w.record(f.id).mute_direction, Some(Out));
    assert_eq!(w.record(m.id).mute_direction, None, "only the call named");
    assert_eq!(w.call_events(f.id).len(), updates + 1, "one call_updated");
    let mute = |w: &World| {
        w.media_commands()
            .into_iter()
            .filter(|c| matches!(c, MediaCommand::Mute { .. }))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        mute(&w),
        [MediaCommand::Mute {
            leg: f.id,
            direction: Some(Out)
        }]
    );
    w.engine.set_mute(w.now(), f.id, Some(Out)).unwrap();
    w.pump();
    assert_eq!(mute(&w).len(), 1, "the same setting again changes nothing");
    w.engine.set_mute(w.now(), f.id, None).unwrap();
    w.pump();
    assert_eq!(w.record(f.id).mute_direction, None);
    assert_eq!(mute(&w).len(), 2);
    w.with("alice", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    assert_eq!(
        w.engine.set_mute(w.now(), f.id, Some(Both)),
        Err(engine::EngineError::CallEnded)
    );
}

#[test]
fn hold_reoffers_sendonly_to_the_held_party_and_resume_sendrecv() {
    let mut w = world(32);
    answered_call(&mut w);
    let f = w.forks()[0].clone();
    let offers = w.phone_ref("bob").offers_received.len();
    w.engine.set_hold(w.now(), f.id, true).unwrap();
    w.pump();
    assert!(w.run_until(|w| w.phone_ref("bob").offers_received.len() == offers + 1));
    w.run_for(Duration::from_secs(1));
    let held = sdp(w.phone_ref("bob").offers_received.last().unwrap());
    assert_eq!(held.media[0].direction(), sdp::Direction::SendOnly);
    let first = sdp(&w.phone_ref("bob").offers_received[0]);
    assert!(held.origin.session_version > first.origin.session_version);
    assert_eq!(
        held.media[0].port, first.media[0].port,
        "same anchored port"
    );
    assert!(w.media_commands().contains(&MediaCommand::Hold {
        leg: f.id,
        on: true
    }));
    assert_eq!(w.record(f.id).status, Progressing, "a held call stays up");

    w.engine.set_hold(w.now(), f.id, false).unwrap();
    w.pump();
    assert!(w.run_until(|w| w.phone_ref("bob").offers_received.len() == offers + 2));
    let resumed = sdp(w.phone_ref("bob").offers_received.last().unwrap());
    assert_eq!(resumed.media[0].direction(), sdp::Direction::SendRecv);
    assert!(w.media_commands().contains(&MediaCommand::Hold {
        leg: f.id,
        on: false
    }));
    w.with("alice", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    assert_eq!(
        outcome(&w.record(f.id)),
        (Some(Local), Some(Normal), Some(200))
    );
    w.assert_clean();
}

#[test]
fn overloaded_switch_refuses_new_calls_with_503_and_finishes_the_ones_it_has() {
    let mut w = world(27);
    answered_call(&mut w); // alice -> bob, up before the overload
    w.engine.set_overloaded(true);
    let refused = w.with("trunk", |p, now| p.invite(now, "200"));
    assert!(
        w.run_until(|w| invite_finals(w, "trunk").len() == 1),
        "{}",
        w.ladder
    );
    assert_eq!(invite_finals(&w, "trunk"), [503]);
    let retry_after = w
        .phone_ref("trunk")
        .final_response(refused)
        .and_then(|r| r.headers.get(&sip::HeaderName::RetryAfter))
        .map(|h| h.value.clone());
    assert_eq!(retry_after.as_deref(), Some(&b"1"[..]));
    assert_eq!(w.engine.shed_calls(), 1);
    assert_eq!(w.records().len(), 2, "no record for the refused call");
    // The call that was up still ends normally while overloaded.
    w.with("alice", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    assert_eq!(
        outcome(&w.master()),
        (Some(Remote), Some(Normal), Some(200))
    );
    // Caught up: new calls go through again.
    w.engine.set_overloaded(false);
    w.with("trunk", |p, now| p.invite(now, "200"));
    assert!(
        w.run_until(|w| invite_finals(w, "trunk").len() == 2),
        "{}",
        w.ladder
    );
    assert_eq!(invite_finals(&w, "trunk"), [503, 200]);
    assert_eq!(w.engine.shed_calls(), 1);
}

#[test]
fn no_port_left_is_503() {
    let mut w = world(23);
    w.ports.set_limit(1);
    w.with("alice", |p, now| p.invite(now, "200"));
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 503]);
    assert_eq!(outcome(&w.master()), (Some(Local), Some(Failed), Some(503)));
    assert!(w.forks().is_empty());
    assert!(w.phone_ref("bob").incoming.is_empty());
    w.assert_clean();
}

#[test]
fn session_interval_below_min_se_is_422() {
    let mut w = world(24);
    w.with("trunk", |p, now| {
        p.invite_with(
            now,
            "200",
            vec![
                Header::new(HeaderName::Supported, "timer"),
                Header::new(HeaderName::SessionExpires, "60"),
            ],
        )
    });
    w.run_until_idle();
    assert_eq!(invite_finals(&w, "trunk"), [422]);
    let r = w.phone_ref("trunk").log.iter().find_map(|(_, e)| match e {
        Event::Response { response, .. } if response.status == 422 => Some(response.clone()),
        _ => None,
    });
    assert_eq!(
        &r.unwrap().headers.get(&HeaderName::MinSE).unwrap().value[..],
        b"90"
    );
    assert!(w.call_ids().is_empty());
    w.assert_clean_no_calls();
}

#[test]
fn a_session_nobody_refreshes_expires() {
    let mut w = world(25);
    // The trunk asks for a 120 s session and never refreshes it.
    w.with("trunk", |p, now| {
        p.invite_with(
            now,
            "200",
            vec![
                Header::new(HeaderName::Supported, "timer"),
                Header::new(HeaderName::SessionExpires, "120"),
            ],
        )
    });
    assert!(w.run_until(|w| invite_finals(w, "trunk").contains(&200)));
    let ok = w
        .phone_ref("trunk")
        .log
        .iter()
        .find_map(|(_, e)| match e {
            Event::Response { response, .. } if response.status == 200 => Some(response.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        &ok.headers.get(&HeaderName::SessionExpires).unwrap().value[..],
        b"120;refresher=uac"
    );
    assert_eq!(
        &ok.headers.get(&HeaderName::Require).unwrap().value[..],
        b"timer"
    );
    assert!(w.run_until(|w| w.all_ended()), "{}", w.ladder);
    let (m, f) = (w.master(), w.forks()[0].clone());
    // RFC 4028 §10: 120 - min(32, 120/3) = 88 s after the answer.
    let lasted = m.tm_hangup.unwrap() - m.tm_progressing.unwrap();
    assert!(
        (88_000..88_100).contains(&lasted.num_milliseconds()),
        "{lasted}"
    );
    assert_eq!(outcome(&m), (Some(Local), Some(Failed), Some(200)));
    assert_eq!(outcome(&f), (Some(Local), Some(Failed), Some(200)));
    w.assert_clean();
}

#[test]
fn refreshed_sessions_stay_up() {
    let mut w = world(26);
    w.with("trunk", |p, now| {
        p.invite_with(
            now,
            "200",
            vec![
                Header::new(HeaderName::Supported, "timer"),
                Header::new(HeaderName::SessionExpires, "120"),
            ],
        )
    });
    assert!(w.run_until(|w| invite_finals(w, "trunk").contains(&200)));
    for _ in 0..5 {
        w.run_for(Duration::from_secs(60));
        w.with("trunk", |p, now| p.refresh(now));
    }
    w.run_for(Duration::from_secs(10));
    assert_eq!(w.master().status, Progressing, "{}", w.ladder);
    w.with("trunk", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn a_callee_that_asks_us_to_refresh_gets_refreshes() {
    // A desk phone granting 90 s with refresher=uac: Dialtone refreshes it
    // every 45 s by re-offering the same description.
    let mut w = world(27);
    w.phone("desk").on_invite = OnInvite::Answer;
    w.phone("desk").answer_headers = vec![
        Header::new(HeaderName::SessionExpires, "90;refresher=uac"),
        Header::new(HeaderName::Require, "timer"),
    ];
    w.with("alice", |p, now| p.invite(now, "300"));
    assert!(w.run_until(|w| invite_finals(w, "alice").contains(&200)));
    w.run_for(Duration::from_secs(600));
    assert_eq!(w.master().status, Progressing, "{}", w.ladder);
    let offers = &w.phone_ref("desk").offers_received;
    assert_eq!(offers.len(), 1 + 13, "the INVITE and a refresh every 45 s");
    assert!(
        offers.iter().skip(1).all(|o| *o == offers[0]),
        "refreshes re-offer the same description"
    );
    w.with("alice", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn a_2xx_crossing_our_cancel_is_acked_and_ended() {
    let mut w = World::new(28, NetConfig::default());
    w.register("bob");
    w.register("bob2");
    // bob2 answers 5 ms after bob: its 200 crosses the CANCEL on the wire.
    w.phone("bob2").on_invite = OnInvite::RingThenAnswer(Duration::from_millis(2005));
    answered_call(&mut w);
    assert!(
        w.run_until(|w| w.phone_ref("bob2").got_request(Method::Bye)),
        "{}",
        w.ladder
    );
    w.run_until(|w| w.forks().iter().all(|f| f.status != Canceling));
    let late = w
        .forks()
        .into_iter()
        .find(|f| w.status_path(f.id).contains(&Canceling))
        .expect("the late fork was cancelled");
    assert_eq!(
        w.status_path(late.id),
        [Dialing, Ringing, Canceling, Hangup]
    );
    assert_eq!(outcome(&late), (Some(Local), Some(Cancel), Some(200)));
    assert_eq!(
        invite_finals(&w, "alice"),
        [407, 200],
        "the caller sees one answer"
    );
    w.with("alice", |p, now| p.bye(now));
    assert!(w.run_until(|w| w.all_ended()));
    w.assert_clean();
}

#[test]
fn a_transport_error_fails_the_fork_at_once() {
    let mut w = world(29);
    w.with("alice", |p, now| p.invite(now, "400"));
    assert!(w.run_until(|w| w.forks().len() == 1));
    w.run_for(Duration::from_secs(1));
    let now = w.now();
    w.engine
        .handle_transport_error(now, "10.9.9.9:5060".parse().unwrap());
    run_to_end(&mut w, "alice", 2);
    assert_eq!(invite_finals(&w, "alice"), [407, 500]);
    assert_eq!(
        outcome(&w.master()),
        (Some(Remote), Some(Failed), Some(500))
    );
    assert_eq!(
        outcome(&w.forks()[0]),
        (Some(Remote), Some(Failed), Some(503))
    );
    w.assert_clean();
}
