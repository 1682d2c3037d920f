//! Application calls on the fake clock: inbound calls to numbers with a
//! flow (answered by Dialtone), calls Dialtone dials (extensions, SIP
//! URIs, `tel` numbers over trunks with failover), ring_all and linear
//! dials, and `connect` (a dialed call joined to a flow's call).

mod common;

use common::*;
use engine::{Dial, DialDestination, Event as EngineEvent, MediaCommand, TrunkRoute};
use model::{Address, CallStatus::*, HangupBy::*, HangupReason::*, RingMethod};
use sip::Method;
use std::time::Duration;
use testkit::NetConfig;
use uuid::Uuid;

const FLOW: Uuid = Uuid::from_u128(0xf10);

fn gateway(w: &mut World, name: &'static str, addr: &str, on: OnInvite) {
    let base = w.now();
    let n = w.phones.len() as u64;
    w.phones
        .push(Phone::new(name, addr, None, on, base, 900 + n));
}

fn trunk(name: &str, addr: &str, priority: u32) -> TrunkRoute {
    TrunkRoute {
        id: Uuid::new_v4(),
        name: name.into(),
        gateway: addr.parse().unwrap(),
        transport: sip::Transport::Udp,
        username: None,
        password: None,
        codecs: Vec::new(),
        priority,
        register: false,
        inbound: Vec::new(),
    }
}

fn dial(destinations: Vec<Address>) -> Dial {
    Dial {
        source: Address::tel("+15550199"),
        destinations: destinations.into_iter().map(DialDestination::new).collect(),
        ring_method: RingMethod::RingAll,
        ring_timeout: None,
        join: None,
        failover: true,
        flow_id: Some(FLOW),
    }
}

fn incoming(w: &World) -> Vec<(Uuid, Uuid)> {
    w.events
        .iter()
        .filter_map(|(_, e)| match e {
            EngineEvent::Incoming { call, flow } => Some((*call, *flow)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_call_to_a_number_rings_until_the_flow_answers_with_our_own_sdp() {
    let mut w = World::new(1, NetConfig::default());
    w.engine.set_number("+15550100", Some(FLOW));
    let invite = w.with("trunk", |p, now| p.invite(now, "+15550100"));
    w.run_for(Duration::from_millis(500));
    let calls = incoming(&w);
    assert_eq!(calls.len(), 1, "the flow is asked to run");
    let (call, flow) = calls[0];
    assert_eq!(flow, FLOW);
    let rec = w.record(call);
    assert_eq!(rec.status, Ringing);
    assert_eq!(rec.destination, Address::tel("+15550100"));
    assert_eq!(rec.flow_id, Some(FLOW));
    assert_eq!(w.phone_ref("trunk").statuses(), vec![100, 180]);
    assert!(w.media_commands().is_empty(), "no media before the answer");

    let now = w.now();
    w.engine.answer(now, call).unwrap();
    w.run_for(Duration::from_millis(500));
    assert_eq!(w.phone_ref("trunk").final_status(invite), Some(200));
    let answer = w
        .phone_ref("trunk")
        .final_response(invite)
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .unwrap();
    assert!(answer.contains("m=audio "), "{answer}");
    assert!(
        answer.contains("RTP/AVP 0 101"),
        "one voice codec plus events: {answer}"
    );
    assert!(answer.contains(&format!("c=IN IP4 {PUBLIC_IP}")));
    let cmds = w.media_commands();
    assert!(matches!(cmds[0], MediaCommand::OpenLeg { leg, .. } if leg == call));
    assert!(
        matches!(&cmds[1], MediaCommand::SetCodec { leg, codec: Some(c) } if *leg == call && c.name == "PCMU" && c.dtmf.is_some())
    );
    assert_eq!(w.record(call).status, Progressing);
    // Answering twice changes nothing.
    let now = w.now();
    w.engine.answer(now, call).unwrap();

    w.with("trunk", |p, now| p.bye(now));
    w.run_until_idle();
    let rec = w.record(call);
    assert_eq!(
        (rec.hangup_by, rec.hangup_reason, rec.sip_code),
        (Some(Remote), Some(Normal), Some(200))
    );
    assert_eq!(
        w.status_path(call),
        vec![Dialing, Ringing, Progressing, Hangup]
    );
    w.assert_clean();
}

#[test]
fn a_caller_hanging_up_before_the_flow_answers_ends_the_call_cancel() {
    let mut w = World::new(2, NetConfig::default());
    w.engine.set_number("777", Some(FLOW));
    let invite = w.with("trunk", |p, now| p.invite(now, "777"));
    w.run_for(Duration::from_millis(300));
    let (call, _) = incoming(&w)[0];
    assert_eq!(w.record(call).destination, Address::extension("777"));
    w.with("trunk", |p, now| p.cancel(now, invite));
    w.run_until_idle();
    let rec = w.record(call);
    assert_eq!(
        (rec.hangup_by, rec.hangup_reason, rec.sip_code),
        (Some(Remote), Some(Cancel), Some(487))
    );
    let now = w.now();
    assert!(w.engine.answer(now, call).is_err());
    w.assert_clean();
}

#[test]
fn a_tel_call_fails_over_from_a_503_gateway_to_the_next_and_records_each_attempt() {
    let mut w = World::new(3, NetConfig::default());
    gateway(&mut w, "gw1", "10.0.2.1:5060", OnInvite::Reject(503));
    gateway(
        &mut w,
        "gw2",
        "10.0.2.2:5060",
        OnInvite::RingThenAnswer(Duration::from_secs(1)),
    );
    // Priority, not insertion order, decides.
    w.engine.set_trunks(vec![
        trunk("second", "10.0.2.2:5060", 20),
        trunk("first", "10.0.2.1:5060", 10),
    ]);
    let now = w.now();
    let ids = w
        .engine
        .dial(now, dial(vec![Address::tel("+4930123456")]))
        .unwrap();
    assert_eq!(ids.len(), 1);
    let call = ids[0];
    assert!(w.run_until(|w| w.reached(call, Progressing)));
    let rec = w.record(call);
    assert_eq!(rec.attempts.len(), 2, "{:#?}", rec.attempts);
    assert_eq!(rec.attempts[0].route, "first");
    assert_eq!(rec.attempts[0].gateway, "10.0.2.1:5060");
    assert_eq!(rec.attempts[0].sip_code, Some(503));
    assert_eq!(rec.attempts[0].reason, Some(Failed));
    assert_eq!(rec.attempts[1].route, "second");
    assert_eq!(rec.attempts[1].sip_code, Some(200));
    assert!(rec.attempts[1].elapsed_ms >= 1000);
    let uri = &w.phone_ref("gw2").incoming[0].1.uri;
    assert_eq!(uri.to_string(), "sip:+4930123456@10.0.2.2:5060;user=phone");
    assert_eq!(
        w.status_path(call),
        vec![Dialing, Ringing, Progressing],
        "one call through both attempts, states only forward"
    );
    let now = w.now();
    w.engine.hangup(now, call).unwrap();
    w.run_until_idle();
    let rec = w.record(call);
    assert_eq!(
        (rec.hangup_by, rec.hangup_reason),
        (Some(Local), Some(Normal))
    );
    w.assert_clean();
}

#[test]
fn busy_does_not_fail_over() {
    let mut w = World::new(4, NetConfig::default());
    gateway(&mut w, "gw1", "10.0.2.1:5060", OnInvite::Reject(486));
    gateway(&mut w, "gw2", "10.0.2.2:5060", OnInvite::Answer);
    w.engine.set_trunks(vec![
        trunk("first", "10.0.2.1:5060", 1),
        trunk("second", "10.0.2.2:5060", 2),
    ]);
    let now = w.now();
    let call = w
        .engine
        .dial(now, dial(vec![Address::tel("+4930123456")]))
        .unwrap()[0];
    w.run_until_idle();
    let rec = w.record(call);
    assert_eq!(
        (rec.hangup_by, rec.hangup_reason, rec.sip_code),
        (Some(Remote), Some(Busy), Some(486))
    );
    assert_eq!(rec.attempts.len(), 1);
    assert!(w.phone_ref("gw2").incoming.is_empty(), "busy is final");
    w.assert_clean();
}

#[test]
fn no_failover_when_the_dial_forbids_it() {
    let mut w = World::new(5, NetConfig::default());
    gateway(&mut w, "gw1", "10.0.2.1:5060", OnInvite::Reject(503));
    gateway(&mut w, "gw2", "10.0.2.2:5060", OnInvite::Answer);
    w.engine.set_trunks(vec![
        trunk("first", "10.0.2.1:5060", 1),
        trunk("second", "10.0.2.2:5060", 2),
    ]);
    let now = w.now();
    let mut d = dial(vec![Address::tel("+4930123456")]);
    d.failover = false;
    let call = w.engine.dial(now, d).unwrap()[0];
    w.run_until_idle();
    assert_eq!(w.record(call).hangup_reason, Some(Failed));
    assert!(w.phone_ref("gw2").incoming.is_empty());
    w.assert_clean();
}

#[test]
fn bad_destinations_are_refused_with_the_field_named() {
    let mut w = World::new(6, NetConfig::default());
    let now = w.now();
    let e = w
        .engine
        .dial(
            now,
            dial(vec![Address::extension("200"), Address::extension("999")]),
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "destinations[1]: no extension '999'");
    let e = w
        .engine
        .dial(now, dial(vec![Address::tel("+4930123456")]))
        .unwrap_err();
    assert!(e.to_string().contains("no trunk"), "{e}");
    let e = w
        .engine
        .dial(now, dial(vec![Address::tel("030123")]))
        .unwrap_err();
    assert!(e.to_string().contains("E.164"), "{e}");
    w.assert_clean_no_calls();
}

#[test]
fn ring_all_rings_every_contact_and_the_first_answer_wins() {
    let mut w = World::new(7, NetConfig::default());
    w.register("bob");
    w.register("bob2");
    let now = w.now();
    let ids = w
        .engine
        .dial(now, dial(vec![Address::extension("200")]))
        .unwrap();
    assert_eq!(ids.len(), 2, "one call per contact");
    assert!(w.run_until(|w| ids.iter().any(|id| w.reached(*id, Progressing))));
    w.run_for(Duration::from_secs(1));
    let recs: Vec<_> = ids.iter().map(|id| w.record(*id)).collect();
    let winner = recs.iter().find(|c| c.status == Progressing).unwrap();
    let loser = recs.iter().find(|c| c.status == Hangup).unwrap();
    assert_eq!(loser.hangup_reason, Some(Cancel));
    assert!(w.phone_ref("bob2").got_cancel());
    let now = w.now();
    w.engine.hangup(now, winner.id).unwrap();
    w.assert_clean();
}

#[test]
fn linear_tries_the_next_destination_after_one_fails() {
    let mut w = World::new(8, NetConfig::default());
    let now = w.now();
    let mut d = dial(vec![Address::extension("500"), Address::extension("300")]);
    d.ring_method = RingMethod::Linear;
    let ids = w.engine.dial(now, d).unwrap();
    assert_eq!(ids.len(), 1, "only the first destination is dialed now");
    w.run_for(Duration::from_secs(5));
    let recs = w.records();
    assert_eq!(recs.len(), 2, "{recs:#?}");
    assert_eq!(recs[0].hangup_reason, Some(Noanswer), "500 has no contact");
    assert_eq!(recs[1].destination.target, "300");
    assert_eq!(recs[1].status, Progressing, "the desk answered");
    let now = w.now();
    w.engine.hangup(now, recs[1].id).unwrap();
    w.assert_clean();
}

#[test]
fn linear_moves_on_after_the_ring_timeout() {
    let mut w = World::new(9, NetConfig::default());
    w.register("bob2"); // rings forever
    let now = w.now();
    let mut d = dial(vec![Address::extension("200"), Address::extension("300")]);
    d.ring_method = RingMethod::Linear;
    d.ring_timeout = Some(Duration::from_secs(10));
    let first = w.engine.dial(now, d).unwrap()[0];
    w.run_for(Duration::from_secs(15));
    let rec = w.record(first);
    assert_eq!(rec.hangup_reason, Some(Noanswer));
    let desk = w.records().into_iter().find(|c| c.id != first).unwrap();
    assert_eq!(desk.status, Progressing);
    let now = w.now();
    w.engine.hangup(now, desk.id).unwrap();
    w.assert_clean();
}

#[test]
fn connect_bridges_the_answered_call_with_the_flow_call_and_the_flow_call_goes_on() {
    let mut w = World::new(10, NetConfig::default());
    w.engine.set_number("+15550100", Some(FLOW));
    let invite = w.with("trunk", |p, now| p.invite(now, "+15550100"));
    assert!(w.run_until(|w| !incoming(w).is_empty()));
    let (call, _) = incoming(&w)[0];
    let now = w.now();
    w.engine.answer(now, call).unwrap();
    assert!(w.run_until(|w| w.phone_ref("trunk").final_status(invite) == Some(200)));
    w.run_for(Duration::from_millis(100));
    let now = w.now();
    let mut d = dial(vec![Address::extension("300")]);
    d.join = Some(call);
    let desk = w.engine.dial(now, d).unwrap()[0];
    assert!(w.run_until(|w| w.reached(desk, Progressing)));
    w.run_for(Duration::from_millis(100));
    assert!(w
        .media_commands()
        .contains(&MediaCommand::Bridge { a: call, b: desk }));
    assert_eq!(w.record(desk).master_call_id, Some(call));
    assert_eq!(w.record(call).chained_call_ids, vec![desk]);
    // The desk hangs up: the flow's call is unbridged and goes on.
    w.with("desk", |p, now| p.bye(now));
    w.run_for(Duration::from_secs(1));
    assert_eq!(w.record(desk).hangup_by, Some(Remote));
    assert_eq!(w.record(call).status, Progressing);
    assert!(w
        .media_commands()
        .contains(&MediaCommand::Unbridge { leg: call }));
    // A second connect, then the caller hangs up: the joined call ends too.
    let now = w.now();
    let mut d = dial(vec![Address::extension("300")]);
    d.join = Some(call);
    let desk2 = w.engine.dial(now, d).unwrap()[0];
    assert!(w.run_until(|w| w.reached(desk2, Progressing)));
    w.with("trunk", |p, now| p.bye(now));
    w.run_until_idle();
    let rec = w.record(desk2);
    assert_eq!(
        (rec.hangup_by, rec.hangup_reason),
        (Some(Local), Some(Normal))
    );
    w.assert_clean();
}

#[test]
fn a_phone_holding_a_flow_call_is_answered_here() {
    let mut w = World::new(11, NetConfig::default());
    w.engine.set_number("+15550100", Some(FLOW));
    let invite = w.with("trunk", |p, now| p.invite(now, "+15550100"));
    assert!(w.run_until(|w| !incoming(w).is_empty()));
    let (call, _) = incoming(&w)[0];
    let now = w.now();
    w.engine.answer(now, call).unwrap();
    assert!(w.run_until(|w| w.phone_ref("trunk").final_status(invite) == Some(200)));
    w.run_for(Duration::from_millis(100));
    let k = w.with("trunk", |p, now| p.reoffer(now, Method::Invite, "sendonly"));
    w.run_for(Duration::from_millis(300));
    let resp = w.phone_ref("trunk").final_response(k).unwrap().clone();
    assert_eq!(resp.status, 200);
    let body = String::from_utf8_lossy(&resp.body);
    assert!(body.contains("a=recvonly"), "{body}");
    w.with("trunk", |p, now| p.bye(now));
    w.assert_clean();
}

#[test]
fn a_gateway_challenge_is_answered_with_the_trunks_credentials_once() {
    let mut w = World::new(12, NetConfig::default());
    gateway(&mut w, "gw", "10.0.2.1:5060", OnInvite::Challenge);
    let mut good = trunk("carrier", "10.0.2.1:5060", 1);
    good.username = Some("gwuser".into());
    good.password = Some("gwpass".into());
    w.engine.set_trunks(vec![good.clone()]);
    let now = w.now();
    let call = w
        .engine
        .dial(now, dial(vec![Address::tel("+4930123456")]))
        .unwrap()[0];
    assert!(w.run_until(|w| w.reached(call, Progressing)));
    assert_eq!(
        w.phone_ref("gw").incoming.len(),
        2,
        "one challenge, one retry"
    );
    let rec = w.record(call);
    assert_eq!(rec.attempts.len(), 1, "a challenge is not an attempt");
    assert_eq!(rec.attempts[0].sip_code, Some(200));
    let now = w.now();
    w.engine.hangup(now, call).unwrap();
    w.assert_clean();

    // Wrong password: the gateway's 403 ends it (`failed`), no loop.
    let mut bad = good;
    bad.password = Some("wrong".into());
    w.engine.set_trunks(vec![bad]);
    let now = w.now();
    let call = w
        .engine
        .dial(now, dial(vec![Address::tel("+4930123456")]))
        .unwrap()[0];
    w.run_until_idle();
    let rec = w.record(call);
    assert_eq!((rec.hangup_reason, rec.sip_code), (Some(Failed), Some(403)));
    assert_eq!(w.phone_ref("gw").incoming.len(), 4);
    w.assert_clean();
}

#[test]
fn a_registering_trunk_keeps_a_binding_at_its_gateway() {
    let mut w = World::new(13, NetConfig::default());
    gateway(&mut w, "gw", "10.0.2.1:5060", OnInvite::Challenge);
    let mut t = trunk("carrier", "10.0.2.1:5060", 1);
    t.username = Some("gwuser".into());
    t.password = Some("gwpass".into());
    t.register = true;
    w.engine.set_trunks(vec![t.clone()]);
    let registered = |w: &World| {
        w.events
            .iter()
            .filter_map(|(_, e)| match e {
                EngineEvent::TrunkRegistration(r) => Some(r.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(w.run_until(|w| !registered(w).is_empty()));
    let first = &registered(&w)[0];
    assert!(first.registered, "{first:?}");
    assert_eq!((first.sip_code, first.expires), (Some(200), Some(120)));
    let regs = &w.phone_ref("gw").registers;
    assert_eq!(regs.len(), 2, "challenged once, then accepted");
    assert_eq!(
        regs[0].headers.call_id().unwrap(),
        regs[1].headers.call_id().unwrap()
    );
    let to = regs[1].headers.to().unwrap();
    assert_eq!(to.uri.to_string(), "sip:gwuser@10.0.2.1");
    // Refreshed at half the granted 120 s, with the same Call-ID.
    w.run_for(Duration::from_secs(61));
    assert_eq!(w.phone_ref("gw").registers.len(), 4);
    assert_eq!(registered(&w).len(), 2);
    // A wrong password: failed (403), retried every 30 s.
    t.password = Some("nope".into());
    w.engine.set_trunks(vec![t.clone()]);
    w.run_for(Duration::from_secs(31));
    let last = registered(&w).last().cloned().unwrap();
    assert!(!last.registered);
    assert_eq!(last.sip_code, Some(403));
    let before = w.phone_ref("gw").registers.len();
    w.run_for(Duration::from_secs(31));
    assert!(w.phone_ref("gw").registers.len() > before, "retried");
    // No longer registering: nothing more is sent.
    t.register = false;
    w.engine.set_trunks(vec![t]);
    w.run_for(Duration::from_secs(5));
    let n = w.phone_ref("gw").registers.len();
    w.run_for(Duration::from_secs(120));
    assert_eq!(w.phone_ref("gw").registers.len(), n);
}
