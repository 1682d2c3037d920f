//! End-to-end scenarios: two endpoints, a seeded lossy network, a fake clock.

mod common;

use common::{acking_app, answering_app, Pair, Side};
use sip::Method;
use sip_core::{DialogState, Event, Timer};
use std::time::Duration;
use testkit::NetConfig;

/// INVITE / 180 / 200 / ACK, a few seconds of call, BYE / 200; then everything winds down.
fn basic_call(seed: u64, loss: f64) -> u64 {
    let mut p = Pair::new(seed, NetConfig::lossy(loss));
    p.set_app(Side::A, acking_app());
    p.set_app(Side::B, answering_app());
    let call = p.invite();
    let established = p.run_until(|p| {
        p.saw_dialog(Side::A, DialogState::Confirmed)
            && p.log(Side::B)
                .iter()
                .any(|(_, e)| matches!(e, Event::Ack { .. }))
    });
    assert!(
        established,
        "seed {seed} loss {loss}: call not established\n{}",
        p.ladder
    );
    assert_eq!(p.final_response(Side::A, call).unwrap().status, 200);
    assert!(p.saw_dialog(Side::B, DialogState::Confirmed));

    p.run_for(Duration::from_secs(3));
    let id = p.dialog(Side::A).expect("A's dialog is confirmed");
    let now = p.now();
    let bye = p.a.dialog_request(&id, Method::Bye).unwrap();
    let bye = p.a.send_in_dialog(now, &id, bye).unwrap();
    let done = p.run_until(|p| p.final_response(Side::A, bye).is_some());
    assert!(
        done,
        "seed {seed} loss {loss}: BYE unanswered\n{}",
        p.ladder
    );
    assert_eq!(p.final_response(Side::A, bye).unwrap().status, 200);
    assert!(p.saw_dialog(Side::A, DialogState::Terminated));
    assert!(p.saw_dialog(Side::B, DialogState::Terminated));

    p.run_until_idle();
    assert_eq!(
        p.a.transaction_count(),
        (0, 0),
        "A has dangling transactions"
    );
    assert_eq!(
        p.b.transaction_count(),
        (0, 0),
        "B has dangling transactions"
    );
    assert_eq!(p.a.dialogs().count(), 0);
    assert_eq!(p.b.dialogs().count(), 0);
    let timeouts = p
        .a_log
        .iter()
        .chain(&p.b_log)
        .filter(|(_, e)| matches!(e, Event::Timeout { .. } | Event::AckTimeout { .. }))
        .count();
    assert_eq!(timeouts, 0, "seed {seed} loss {loss}\n{}", p.ladder);
    p.net.dropped()
}

#[test]
fn call_completes_without_loss() {
    let dropped: u64 = (1..=5).map(|seed| basic_call(seed, 0.0)).sum();
    assert_eq!(dropped > 0, 0.0 > 0.0, "dropped {dropped}");
}

#[test]
fn call_completes_with_10_percent_loss() {
    let dropped: u64 = (1..=20).map(|seed| basic_call(seed, 0.1)).sum();
    assert_eq!(dropped > 0, 0.1 > 0.0, "dropped {dropped}");
}

#[test]
fn call_completes_with_30_percent_loss() {
    let dropped: u64 = (1..=20).map(|seed| basic_call(seed, 0.3)).sum();
    assert_eq!(dropped > 0, 0.3 > 0.0, "dropped {dropped}");
}

#[test]
fn lossless_call_ladder() {
    let mut p = Pair::new(1, NetConfig::default());
    p.set_app(Side::A, acking_app());
    p.set_app(Side::B, answering_app());
    p.invite();
    p.run_until(|p| {
        p.log(Side::B)
            .iter()
            .any(|(_, e)| matches!(e, Event::Ack { .. }))
    });
    assert_eq!(
        p.ladder.first_lines(),
        vec![
            "INVITE sip:bob@10.0.0.2 SIP/2.0",
            "SIP/2.0 100 Trying",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 200 OK",
            "ACK sip:10.0.0.2:5060 SIP/2.0",
        ]
    );
    assert_eq!(
        p.elapsed(),
        Duration::from_millis(30),
        "three one-way delays"
    );
}

#[test]
fn invite_to_a_black_hole_times_out_with_timer_b() {
    let mut p = Pair::new(3, NetConfig::default());
    let call = p.invite_to("10.9.9.9:5060".parse().unwrap()); // nobody there
    p.run_until_idle();
    let (at, ev) = p
        .a_log
        .iter()
        .find(|(_, e)| matches!(e, Event::Timeout { .. }))
        .expect("a timeout");
    assert!(matches!(ev, Event::Timeout { key, timer: Timer::B } if *key == call));
    assert_eq!(*at, Duration::from_secs(32), "Timer B = 64*T1");
    // Timer A: sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    assert_eq!(p.ladder.count("INVITE"), 7);
    assert_eq!(p.a.transaction_count(), (0, 0));
}

#[test]
fn cancel_crossing_200_ends_in_ack_and_bye() {
    let mut p = Pair::new(4, NetConfig::default());
    // A: ACK the 2xx that won the race, then hang up with BYE.
    p.set_app(
        Side::A,
        Box::new(|ep, now, ev, _| {
            if let Event::Response {
                response,
                dialog: Some(d),
                ..
            } = ev
            {
                if response.is_success()
                    && response.headers.cseq().unwrap().method == Method::Invite
                {
                    ep.ack(now, d, None).unwrap();
                    let bye = ep.dialog_request(d, Method::Bye).unwrap();
                    ep.send_in_dialog(now, d, bye).unwrap();
                }
            }
        }),
    );
    // B: ring only; answers BYE.
    p.set_app(
        Side::B,
        Box::new(|ep, now, ev, _| {
            if let Event::Request { key, request, .. } = ev {
                let status = if request.method == Method::Invite {
                    180
                } else {
                    200
                };
                ep.respond(now, *key, status, "OK").unwrap();
            }
        }),
    );
    let call = p.invite();
    p.run_until(|p| p.saw_dialog(Side::A, DialogState::Early));
    // B answers and A cancels at the same instant: the 200 and the CANCEL cross.
    let invite_key = p
        .b_log
        .iter()
        .find_map(|(_, e)| match e {
            Event::Request { key, .. } => Some(*key),
            _ => None,
        })
        .unwrap();
    let now = p.now();
    p.b.respond(now, invite_key, 200, "OK").unwrap();
    let cancel = p.a.cancel(now, call).unwrap();
    p.run_until_idle();

    let cancel_status = p.final_response(Side::A, cancel).unwrap().status;
    assert!(
        cancel_status == 200 || cancel_status == 481,
        "CANCEL got {cancel_status}"
    );
    assert_eq!(p.final_response(Side::A, call).unwrap().status, 200);
    assert_eq!(p.ladder.count("487"), 0, "the INVITE was already answered");
    assert!(!p
        .b_log
        .iter()
        .any(|(_, e)| matches!(e, Event::Cancelled { .. })));
    assert!(p.b_log.iter().any(|(_, e)| matches!(e, Event::Ack { .. })));
    assert_eq!(p.ladder.count("BYE"), 1);
    assert!(p.saw_dialog(Side::B, DialogState::Terminated));
    assert_eq!(p.a.transaction_count(), (0, 0));
    assert_eq!(p.b.transaction_count(), (0, 0));
    assert_eq!(p.a.dialogs().count() + p.b.dialogs().count(), 0);
}

#[test]
fn cancel_before_answer_gets_487() {
    let mut p = Pair::new(5, NetConfig::default());
    p.set_app(
        Side::B,
        Box::new(|ep, now, ev, _| {
            if let Event::Request { key, .. } = ev {
                ep.respond(now, *key, 180, "Ringing").unwrap();
            }
        }),
    );
    let call = p.invite();
    // Cancel at once: no provisional yet, so the CANCEL waits for the 100 (§9.1).
    let now = p.now();
    let cancel = p.a.cancel(now, call).unwrap();
    assert_eq!(p.ladder.count("CANCEL"), 0);
    p.run_until_idle();
    assert_eq!(p.final_response(Side::A, call).unwrap().status, 487);
    assert_eq!(p.final_response(Side::A, cancel).unwrap().status, 200);
    assert!(p
        .b_log
        .iter()
        .any(|(_, e)| matches!(e, Event::Cancelled { .. })));
    assert_eq!(
        p.ladder.count("ACK"),
        1,
        "the 487 is ACKed by the transaction"
    );
    assert!(
        p.saw_dialog(Side::A, DialogState::Terminated),
        "early dialog ended"
    );
    assert_eq!(p.a.transaction_count(), (0, 0));
    assert_eq!(p.b.transaction_count(), (0, 0));
}
