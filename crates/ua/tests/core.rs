//! The softphone's sans-IO core against a scripted peer on a fake clock:
//! every event order of the seeds (register, calls in and out, hold,
//! forwarding, auto-answer, call waiting, DTMF, transfer, video), each test
//! asserting what the application sees and the SIP the peer receives.

mod common;

use common::*;
use sip::{HeaderName, Method};
use sip_core::{AuthOutcome, Challenger, ClientTxKey, DialogId};
use std::time::Duration;
use ua::{
    Account, Action, By, CallId, CallState, DtmfMethod, EndReason, Event, ForwardCondition,
    ForwardRule, Op, Party, Registration, UaError,
};

fn ended(reason: EndReason, by: By, sip_code: Option<u16>) -> CallState {
    CallState::Ended {
        reason,
        by,
        sip_code,
    }
}

/// The call is answered: its media opens both ways, then it is established.
fn established(call: CallId) -> Vec<ua::Output> {
    vec![
        media_action(call, pcma(true, true)),
        state(call, CallState::Established),
    ]
}

/// Our hold succeeded: the media stops both ways, the op reports, the call is held.
fn held(call: CallId) -> Vec<ua::Output> {
    vec![
        media_action(call, pcma(false, false)),
        ev(op_ok(call, Op::Hold)),
        state(call, CallState::Held),
    ]
}

/// The call ended as told and the driver is to close its media.
fn closed(call: CallId, reason: EndReason, by: By, sip_code: Option<u16>) -> Vec<ua::Output> {
    vec![
        state(call, ended(reason, by, sip_code)),
        act(Action::Close { call }),
    ]
}

fn op_ok(call: CallId, op: Op) -> Event {
    Event::Op {
        call,
        op,
        ok: true,
        error: None,
    }
}

fn reg(r: Registration) -> Event {
    Event::Registration(r)
}

fn bob() -> Party {
    Party {
        uri: format!("sip:1002@{DOMAIN}"),
        user: Some("1002".into()),
        display_name: Some("Bob".into()),
    }
}

fn me() -> Party {
    Party {
        uri: format!("sip:{USER}@{DOMAIN}"),
        user: Some(USER.into()),
        display_name: None,
    }
}

fn incoming(call: CallId, video: bool) -> Event {
    Event::Incoming {
        call,
        from: bob(),
        to: me(),
        video,
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

// ------------------------------------------------------------------ set-ups

/// We call 1002; returns the call and the INVITE the peer received.
fn dial(w: &mut World) -> (CallId, PeerReq) {
    let now = w.now();
    let call = w.ua.call(now, "1002", audio_only(), false).unwrap();
    let invite = w.request(Method::Invite);
    assert_eq!(w.take(), [state(call, CallState::Dialing)]);
    (call, invite)
}

/// We call 1002 and it answers at once; returns the call and the peer's dialog.
fn outgoing_call(w: &mut World) -> (CallId, DialogId) {
    let (call, invite) = dial(w);
    w.respond_sdp(&invite, 200, &peer_sdp("sendrecv"));
    assert_eq!(w.take(), established(call));
    assert_eq!(w.acks().len(), 1);
    (call, w.dialog_of(&invite.call_id()))
}

/// 1002 calls us with `sdp`; returns our call and the peer's INVITE.
fn ring(w: &mut World, sdp: &str) -> (CallId, ClientTxKey) {
    let key = w.peer_invite(Some(sdp));
    let out = w.take();
    let Some(ua::Output::Event(Event::Incoming { call, .. })) = out.first() else {
        panic!("no Incoming: {out:?}");
    };
    let call = *call;
    assert_eq!(
        out,
        [ev(incoming(call, false)), state(call, CallState::Ringing)]
    );
    assert_eq!(w.statuses(key), [100, 180]);
    (call, key)
}

/// 1002 calls us and we accept; returns the call, the peer's INVITE and dialog.
fn incoming_call(w: &mut World) -> (CallId, ClientTxKey, DialogId) {
    let (call, key) = ring(w, &peer_sdp("sendrecv"));
    let now = w.now();
    w.ua.accept(now, call, audio_only(), false).unwrap();
    let ok = w.responses(key);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].status, 200);
    let d = w.dialog_of(&ok[0].headers.call_id().unwrap());
    w.peer_ack(&d);
    assert_eq!(w.take(), established(call));
    (call, key, d)
}

// ------------------------------------------------------------------ 1. registration

#[test]
fn register_answers_the_401_and_refreshes_at_half_the_granted_expiry() {
    let mut w = World::new();
    let now = w.now();
    w.ua.register(now).unwrap();
    let first = w.request(Method::Register);
    assert_eq!(first.req.uri.to_string(), format!("sip:{DOMAIN}"));
    assert_eq!(first.header("Expires").as_deref(), Some("300"));
    assert!(first.header("Authorization").is_none());
    assert!(!w.authenticate(&first, Challenger::Www), "401");

    let second = w.request(Method::Register);
    assert!(second.header("Authorization").is_some());
    assert_eq!(second.call_id(), first.call_id());
    assert!(second.cseq() > first.cseq());
    assert!(w.authenticate(&second, Challenger::Www));
    // The registrar grants less than asked: the binding's expires wins.
    let contact = second.header("Contact").unwrap();
    w.respond_with(&second, 200, |r| {
        r.headers
            .push(h(HeaderName::Contact, &format!("{contact};expires=120")))
    });
    assert_eq!(
        w.events(),
        [
            reg(Registration::Registering),
            reg(Registration::Registered { expires: 120 })
        ]
    );

    // RFC 3261 §10.2.4: refreshed at half the expiry, same Call-ID, CSeq up.
    let refresh = w.wait_request(Method::Register, secs(200));
    assert_eq!(w.elapsed(), secs(60));
    assert_eq!(refresh.call_id(), first.call_id());
    assert!(refresh.cseq() > second.cseq());
    assert!(!w.authenticate(&refresh, Challenger::Www));
    let again = w.request(Method::Register);
    assert!(again.cseq() > refresh.cseq());
    assert!(w.authenticate(&again, Challenger::Www));
    w.respond_with(&again, 200, |r| {
        r.headers
            .push(h(HeaderName::Contact, &format!("{contact};expires=120")))
    });
    // A refresh is not a change the user sees.
    assert_eq!(w.events(), []);
    assert_eq!(
        w.ua.registration(),
        &Registration::Registered { expires: 120 }
    );
    // The next one follows 60 s later.
    w.wait_request(Method::Register, secs(200));
    assert_eq!(w.elapsed(), secs(120));
}

#[test]
fn unregister_sends_expires_0() {
    let mut w = World::new();
    let now = w.now();
    w.ua.register(now).unwrap();
    let r = w.request(Method::Register);
    w.respond(&r, 200);
    assert_eq!(
        w.events(),
        [
            reg(Registration::Registering),
            reg(Registration::Registered { expires: 300 })
        ]
    );
    let now = w.now();
    w.ua.unregister(now);
    let un = w.request(Method::Register);
    assert_eq!(un.header("Expires").as_deref(), Some("0"));
    assert_eq!(un.call_id(), r.call_id());
    assert!(!w.authenticate(&un, Challenger::Www));
    let un2 = w.request(Method::Register);
    assert_eq!(un2.header("Expires").as_deref(), Some("0"));
    assert!(w.authenticate(&un2, Challenger::Www));
    w.respond(&un2, 200);
    assert_eq!(w.events(), [reg(Registration::Unregistered)]);
    // No refresh follows.
    w.run_for(secs(600));
    w.no_request();
}

#[test]
fn a_wrong_password_fails_with_401_and_is_retried_30_s_later() {
    let mut a = account();
    a.password = Some("wrong".into());
    let mut w = World::with_account(a);
    let now = w.now();
    w.ua.register(now).unwrap();
    let r = w.request(Method::Register);
    assert!(!w.authenticate(&r, Challenger::Www));
    let r = w.request(Method::Register);
    assert!(!w.authenticate(&r, Challenger::Www), "wrong credentials");
    let events = w.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], reg(Registration::Registering));
    assert!(
        matches!(
            &events[1],
            Event::Registration(Registration::Failed {
                sip_code: Some(401),
                ..
            })
        ),
        "{events:?}"
    );
    w.no_request();
    let retry = w.wait_request(Method::Register, secs(60));
    assert_eq!(w.elapsed(), secs(30));
    assert!(retry.header("Authorization").is_none());
}

#[test]
fn a_registrar_that_never_answers_fails_the_registration() {
    let mut w = World::new();
    w.peer_down = true;
    let now = w.now();
    w.ua.register(now).unwrap();
    assert_eq!(w.events(), [reg(Registration::Registering)]);
    w.wait_output(secs(60));
    // Timer F: 64*T1.
    assert_eq!(w.elapsed(), secs(32));
    let events = w.events();
    assert!(
        matches!(
            events.as_slice(),
            [Event::Registration(Registration::Failed {
                sip_code: None,
                ..
            })]
        ),
        "{events:?}"
    );
}

// ------------------------------------------------------------------ 2. outgoing

#[test]
fn an_outgoing_call_rings_is_answered_and_we_hang_up() {
    let mut w = World::new();
    let (call, invite) = dial(&mut w);
    assert_eq!(invite.req.uri.to_string(), format!("sip:1002@{DOMAIN}"));
    let offer = invite.sdp();
    assert_eq!(offer.media[0].port, 40000);
    assert_eq!(direction_of(&offer, 0), "sendrecv");
    w.respond(&invite, 180);
    assert_eq!(w.take(), [state(call, CallState::Ringing)]);
    w.respond_sdp(&invite, 200, &peer_sdp("sendrecv"));
    assert_eq!(w.take(), established(call));
    assert_eq!(w.acks().len(), 1);

    let now = w.now();
    w.ua.end(now, call).unwrap();
    let bye = w.request(Method::Bye);
    w.respond(&bye, 200);
    assert_eq!(w.take(), closed(call, EndReason::Normal, By::Local, None));
}

#[test]
fn the_peer_hangs_up_an_outgoing_call() {
    let mut w = World::new();
    let (call, d) = outgoing_call(&mut w);
    let key = w.peer_in_dialog(&d, Method::Bye, None, vec![]);
    assert_eq!(w.statuses(key), [200]);
    assert_eq!(w.take(), closed(call, EndReason::Normal, By::Remote, None));
}

// ------------------------------------------------------------------ 3. outgoing failures

#[test]
fn busy_and_decline_end_an_outgoing_call() {
    for (status, reason) in [(486, EndReason::Busy), (603, EndReason::Decline)] {
        let mut w = World::new();
        let (call, invite) = dial(&mut w);
        w.respond(&invite, 180);
        w.respond(&invite, status);
        assert_eq!(
            w.take(),
            [
                state(call, CallState::Ringing),
                state(call, ended(reason, By::Remote, Some(status))),
                act(Action::Close { call })
            ]
        );
        w.no_request();
    }
}

#[test]
fn a_407_is_answered_once_with_proxy_authorization() {
    let mut w = World::new();
    let (call, invite) = dial(&mut w);
    assert!(!w.authenticate(&invite, Challenger::Proxy));
    let again = w.request(Method::Invite);
    assert!(again.header("Proxy-Authorization").is_some());
    assert_eq!(again.call_id(), invite.call_id());
    assert!(again.cseq() > invite.cseq());
    assert!(w.authenticate(&again, Challenger::Proxy));
    w.respond_sdp(&again, 200, &peer_sdp("sendrecv"));
    assert_eq!(w.take(), established(call));
}

#[test]
fn a_second_407_ends_the_call_failed() {
    let mut w = World::new();
    let (call, invite) = dial(&mut w);
    let AuthOutcome::Challenge { headers, .. } = w.check_auth(&invite, Challenger::Proxy) else {
        panic!("a challenge");
    };
    let challenge = headers.clone();
    w.respond_with(&invite, 407, |r| {
        headers.into_iter().for_each(|h| r.headers.push(h))
    });
    let again = w.request(Method::Invite);
    assert!(again.header("Proxy-Authorization").is_some());
    w.respond_with(&again, 407, |r| {
        challenge.into_iter().for_each(|h| r.headers.push(h))
    });
    assert_eq!(
        w.take(),
        closed(call, EndReason::Failed, By::Remote, Some(407))
    );
    w.no_request();
}

#[test]
fn timer_b_ends_an_unanswered_invite_with_408() {
    let mut w = World::new();
    w.peer_down = true;
    let now = w.now();
    let call = w.ua.call(now, "1002", audio_only(), false).unwrap();
    assert_eq!(w.take(), [state(call, CallState::Dialing)]);
    w.wait_output(secs(60));
    assert_eq!(w.elapsed(), secs(32));
    assert_eq!(
        w.take(),
        closed(call, EndReason::Failed, By::Remote, Some(408))
    );
}

// ------------------------------------------------------------------ 4. early media

#[test]
fn early_media_listens_until_the_answer() {
    let mut w = World::new();
    let (call, invite) = dial(&mut w);
    w.respond_sdp(&invite, 183, &peer_sdp("sendrecv"));
    assert_eq!(
        w.take(),
        [
            media_action(call, pcma(false, true)),
            state(call, CallState::EarlyMedia)
        ]
    );
    w.respond_sdp(&invite, 200, &peer_sdp("sendrecv"));
    assert_eq!(w.take(), established(call));
}

// ------------------------------------------------------------------ 5. cancel

#[test]
fn ending_a_ringing_outgoing_call_cancels_it() {
    let mut w = World::new();
    let (call, invite) = dial(&mut w);
    w.respond(&invite, 180);
    assert_eq!(w.take(), [state(call, CallState::Ringing)]);
    let now = w.now();
    w.ua.end(now, call).unwrap();
    // The peer's endpoint answered the CANCEL 200 and the INVITE 487.
    assert_eq!(w.cancelled(), [invite.key]);
    assert_eq!(
        w.take(),
        closed(call, EndReason::Cancel, By::Local, Some(487))
    );
    assert_eq!(w.ladder.count("CANCEL"), 1);
}

#[test]
fn a_200_racing_the_cancel_is_acked_and_byed() {
    let mut w = World::new();
    let (call, invite) = dial(&mut w);
    w.respond(&invite, 180);
    assert_eq!(w.take(), [state(call, CallState::Ringing)]);
    // The CANCEL is still on its way when the peer answers.
    let now = w.now();
    w.ua.end(now, call).unwrap();
    w.respond_sdp(&invite, 200, &peer_sdp("sendrecv"));
    assert!(w.cancelled().is_empty());
    assert_eq!(w.acks().len(), 1);
    let bye = w.request(Method::Bye);
    w.respond(&bye, 200);
    assert_eq!(w.take(), closed(call, EndReason::Cancel, By::Local, None));
}

// ------------------------------------------------------------------ 6. incoming

#[test]
fn an_incoming_call_rings_and_is_accepted() {
    let mut w = World::new();
    let (call, key) = ring(&mut w, &peer_sdp("sendrecv"));
    let now = w.now();
    w.ua.accept(now, call, audio_only(), false).unwrap();
    let ok = w.responses(key);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].status, 200);
    let answer = sdp_of(&ok[0]);
    // One voice codec (the peer's first we have) and its telephone-event.
    assert_eq!(answer.media.len(), 1);
    assert_eq!(answer.media[0].formats, ["8", "101"]);
    assert_eq!(answer.media[0].port, 40000);
    assert_eq!(direction_of(&answer, 0), "sendrecv");
    let d = w.dialog_of(&ok[0].headers.call_id().unwrap());
    w.peer_ack(&d);
    assert_eq!(w.take(), established(call));
    // The caller hangs up.
    let bye = w.peer_in_dialog(&d, Method::Bye, None, vec![]);
    assert_eq!(w.statuses(bye), [200]);
    assert_eq!(w.take(), closed(call, EndReason::Normal, By::Remote, None));
}

#[test]
fn the_caller_cancels_before_the_answer() {
    let mut w = World::new();
    let (call, key) = ring(&mut w, &peer_sdp("sendrecv"));
    w.peer_cancel(key);
    assert_eq!(w.statuses(key), [487]);
    assert_eq!(
        w.take(),
        [state(call, ended(EndReason::Cancel, By::Remote, Some(487)))]
    );
    // Nothing else happens at the ring timeout.
    w.run_for(secs(120));
    assert_eq!(w.take(), []);
    let now = w.now();
    assert!(w.ua.accept(now, call, audio_only(), false).is_err());
}

// ------------------------------------------------------------------ 7. reject, ignore, forward

#[test]
fn reject_sends_486_or_603() {
    for (status, reason) in [(486, EndReason::Busy), (603, EndReason::Decline)] {
        let mut w = World::new();
        let (call, key) = ring(&mut w, &peer_sdp("sendrecv"));
        let now = w.now();
        w.ua.reject(now, call, status).unwrap();
        assert_eq!(w.statuses(key), [status]);
        assert_eq!(
            w.take(),
            [state(call, ended(reason, By::Local, Some(status)))]
        );
    }
}

#[test]
fn an_ignored_call_gets_480_at_the_ring_timeout() {
    let mut w = World::new();
    let (call, key) = ring(&mut w, &peer_sdp("sendrecv"));
    w.ua.ignore(call).unwrap();
    w.run_for(secs(59));
    assert!(w.statuses(key).is_empty());
    assert_eq!(w.take(), []);
    w.run_for(secs(1));
    assert_eq!(w.statuses(key), [480]);
    assert_eq!(
        w.take(),
        [state(
            call,
            ended(EndReason::Noanswer, By::Local, Some(480))
        )]
    );
}

#[test]
fn forward_redirects_the_caller_with_302() {
    let mut w = World::new();
    let (call, key) = ring(&mut w, &peer_sdp("sendrecv"));
    let now = w.now();
    w.ua.forward(now, call, "1003").unwrap();
    let resp = w.responses(key);
    assert_eq!(resp.len(), 1);
    assert_eq!(resp[0].status, 302);
    assert_eq!(
        common::header(&resp[0].headers, "Contact").as_deref(),
        Some(format!("<sip:1003@{DOMAIN}>").as_str())
    );
    assert_eq!(
        w.take(),
        [state(
            call,
            ended(EndReason::Forwarded, By::Local, Some(302))
        )]
    );
}

// ------------------------------------------------------------------ 8. hold

/// We hold `call`; the peer answers `recvonly`.
fn hold(w: &mut World, call: CallId, peer_answer: &str) -> PeerReq {
    let now = w.now();
    w.ua.hold(now, call).unwrap();
    let re = w.request(Method::Invite);
    assert!(re.dialog.is_some());
    assert_eq!(direction_of(&re.sdp(), 0), "sendonly");
    w.respond_sdp(&re, 200, &peer_sdp(peer_answer));
    assert_eq!(w.acks().len(), 1);
    re
}

#[test]
fn hold_and_unhold_follow_the_seeds_rules() {
    let mut w = World::new();
    let (call, _) = outgoing_call(&mut w);
    let now = w.now();
    assert!(matches!(w.ua.unhold(now, call), Err(UaError::State { .. })));
    hold(&mut w, call, "recvonly");
    assert_eq!(w.take(), held(call));
    // A call already on hold may not be placed on hold.
    let now = w.now();
    assert!(matches!(w.ua.hold(now, call), Err(UaError::State { .. })));
    w.no_request();

    w.ua.unhold(now, call).unwrap();
    let re = w.request(Method::Invite);
    assert_eq!(direction_of(&re.sdp(), 0), "sendrecv");
    w.respond_sdp(&re, 200, &peer_sdp("sendrecv"));
    assert_eq!(
        w.take(),
        [
            media_action(call, pcma(true, true)),
            ev(op_ok(call, Op::Unhold)),
            state(call, CallState::Established)
        ]
    );
    // Unhold of a call that is not on hold fails.
    let now = w.now();
    assert!(matches!(w.ua.unhold(now, call), Err(UaError::State { .. })));
    w.no_request();
}

#[test]
fn a_second_operation_while_one_is_in_flight_is_busy() {
    let mut w = World::new();
    let (call, _) = outgoing_call(&mut w);
    let now = w.now();
    w.ua.hold(now, call).unwrap();
    let re = w.request(Method::Invite);
    let busy = Err(UaError::Busy { call, op: Op::Hold });
    assert_eq!(w.ua.hold(now, call), busy);
    assert_eq!(w.ua.unhold(now, call), busy);
    assert_eq!(w.ua.send_dtmf_info(now, call, "1", 100), busy);
    assert_eq!(w.ua.transfer(now, call, "1003"), busy);
    w.no_request();
    w.respond_sdp(&re, 200, &peer_sdp("recvonly"));
    assert_eq!(
        w.events(),
        [
            op_ok(call, Op::Hold),
            Event::State {
                call,
                state: CallState::Held
            }
        ]
    );
}

#[test]
fn a_491_to_the_hold_is_retried_after_the_glare_delay() {
    let mut w = World::new();
    let (call, _) = outgoing_call(&mut w);
    let now = w.now();
    w.ua.hold(now, call).unwrap();
    let re = w.request(Method::Invite);
    w.respond(&re, 491);
    assert_eq!(w.take(), []);
    let start = w.elapsed();
    let retry = w.wait_request(Method::Invite, secs(5));
    // RFC 3261 §14.1: the Call-ID's owner waits 2.1 to 4 s.
    let waited = w.elapsed() - start;
    assert!(
        waited >= ms(2100) && waited <= secs(4),
        "retried after {waited:?}"
    );
    assert!(retry.cseq() > re.cseq());
    assert_eq!(direction_of(&retry.sdp(), 0), "sendonly");
    w.respond_sdp(&retry, 200, &peer_sdp("recvonly"));
    assert_eq!(w.take(), held(call));
}

// ------------------------------------------------------------------ 9. remote hold

#[test]
fn the_peer_holds_and_resumes() {
    let mut w = World::new();
    let (call, _, d) = incoming_call(&mut w);
    let answer = w.peer_reinvite(&d, "sendonly");
    let answer = sdp_of(&answer);
    assert_eq!(direction_of(&answer, 0), "recvonly");
    assert_eq!(
        w.take(),
        [
            media_action(call, pcma(false, true)),
            state(call, CallState::RemotelyHeld)
        ]
    );
    let answer = w.peer_reinvite(&d, "sendrecv");
    let answer = sdp_of(&answer);
    assert_eq!(direction_of(&answer, 0), "sendrecv");
    assert_eq!(w.take(), established(call));
}

#[test]
fn when_both_hold_ours_wins() {
    let mut w = World::new();
    let (call, d) = outgoing_call(&mut w);
    w.peer_reinvite(&d, "sendonly");
    assert_eq!(
        w.take(),
        [
            media_action(call, pcma(false, true)),
            state(call, CallState::RemotelyHeld)
        ]
    );
    // We hold too: the peer (holding) answers inactive.
    hold(&mut w, call, "inactive");
    assert_eq!(w.take(), held(call));
    // We resume: the peer still holds.
    let now = w.now();
    w.ua.unhold(now, call).unwrap();
    let re = w.request(Method::Invite);
    assert_eq!(direction_of(&re.sdp(), 0), "sendrecv");
    w.respond_sdp(&re, 200, &peer_sdp("sendonly"));
    assert_eq!(
        w.take(),
        [
            media_action(call, pcma(false, true)),
            ev(op_ok(call, Op::Unhold)),
            state(call, CallState::RemotelyHeld)
        ]
    );
}

#[test]
fn the_peers_answer_to_our_reinvite_updates_its_hold() {
    // The peer held us, then resumed in its answer to our hold.
    let mut w = World::new();
    let (call, d) = outgoing_call(&mut w);
    w.peer_reinvite(&d, "sendonly");
    w.take();
    hold(&mut w, call, "recvonly");
    w.take();
    let now = w.now();
    w.ua.unhold(now, call).unwrap();
    let re = w.request(Method::Invite);
    w.respond_sdp(&re, 200, &peer_sdp("sendrecv"));
    assert_eq!(
        w.take(),
        [
            media_action(call, pcma(true, true)),
            ev(op_ok(call, Op::Unhold)),
            state(call, CallState::Established)
        ]
    );
}

// ------------------------------------------------------------------ 10. auto-answer, auto-reject

#[test]
fn auto_answer_fires_exactly_after_2_s() {
    let mut w = World::new();
    w.ua.set_auto_answer(Some(2));
    let (call, _) = ring(&mut w, &peer_sdp("sendrecv"));
    w.run_for(ms(1999));
    assert_eq!(w.take(), []);
    w.run_for(ms(1));
    assert_eq!(w.take(), [act(Action::AutoAnswer { call })]);
    // The driver opens the media and accepts.
    let now = w.now();
    w.ua.accept(now, call, audio_only(), false).unwrap();
    assert_eq!(w.take(), established(call));
}

#[test]
fn auto_answer_0_answers_at_once() {
    let mut w = World::new();
    w.ua.set_auto_answer(Some(0));
    let key = w.peer_invite(Some(&peer_sdp("sendrecv")));
    let call = CallId(1);
    assert_eq!(
        w.take(),
        [
            ev(incoming(call, false)),
            state(call, CallState::Ringing),
            act(Action::AutoAnswer { call })
        ]
    );
    assert_eq!(w.elapsed(), Duration::ZERO);
    assert_eq!(w.statuses(key), [100, 180]);
}

#[test]
fn auto_reject_declines_with_603() {
    let mut w = World::new();
    w.ua.set_auto_reject(true);
    let key = w.peer_invite(Some(&peer_sdp("sendrecv")));
    let call = CallId(1);
    assert_eq!(w.statuses(key), [100, 603]);
    assert_eq!(
        w.take(),
        [
            ev(incoming(call, false)),
            state(call, ended(EndReason::Decline, By::Local, Some(603)))
        ]
    );
}

// ------------------------------------------------------------------ 11. call waiting

#[test]
fn a_second_call_waits_and_accepting_it_holds_the_first() {
    let mut w = World::new();
    w.ua.set_auto_answer(Some(0));
    let (first, first_dialog) = outgoing_call(&mut w);
    let key = w.peer_invite(Some(&peer_sdp("sendrecv")));
    assert_eq!(w.statuses(key), [100, 180]);
    let second = CallId(2);
    assert_eq!(
        w.take(),
        [
            ev(Event::CallWaiting {
                call: second,
                from: bob(),
                to: me(),
                video: false,
                active: first
            }),
            state(second, CallState::Ringing)
        ]
    );
    // No auto-answer for a waiting call.
    w.run_for(secs(10));
    assert_eq!(w.take(), []);

    let now = w.now();
    w.ua.accept(now, second, audio_only(), false).unwrap();
    let re = w.request(Method::Invite);
    assert_eq!(re.dialog.as_ref(), Some(&first_dialog));
    assert_eq!(direction_of(&re.sdp(), 0), "sendonly");
    let ok = w.responses(key);
    assert_eq!(ok.iter().map(|r| r.status).collect::<Vec<_>>(), [200]);
    w.respond_sdp(&re, 200, &peer_sdp("recvonly"));
    let d2 = w.dialog_of(&ok[0].headers.call_id().unwrap());
    w.peer_ack(&d2);
    assert_eq!(w.take(), [established(second), held(first)].concat());
}

// ------------------------------------------------------------------ 12. forwarding

fn forwarded(w: &mut World, key: ClientTxKey, target: &str) {
    let resp = w.responses(key);
    let statuses: Vec<u16> = resp.iter().map(|r| r.status).collect();
    assert_eq!(statuses.last(), Some(&302), "{statuses:?}");
    assert_eq!(
        common::header(&resp.last().unwrap().headers, "Contact"),
        Some(format!("<sip:{target}@{DOMAIN}>"))
    );
}

#[test]
fn unconditional_forwarding_redirects_at_once() {
    let mut w = World::new();
    w.ua.forwarding_register(ForwardCondition::Unconditional, "1003", Duration::ZERO)
        .unwrap();
    w.ua.forwarding_activate(ForwardCondition::Unconditional)
        .unwrap();
    let key = w.peer_invite(Some(&peer_sdp("sendrecv")));
    assert_eq!(w.statuses(key), [100, 302]);
    let call = CallId(1);
    assert_eq!(
        w.take(),
        [
            ev(Event::Forwarded {
                call,
                condition: ForwardCondition::Unconditional,
                target: "1003".into()
            }),
            state(call, ended(EndReason::Forwarded, By::Local, Some(302)))
        ]
    );
}

#[test]
fn busy_forwarding_applies_while_a_call_is_up() {
    let mut w = World::new();
    w.ua.forwarding_register(ForwardCondition::Busy, "1003", Duration::ZERO)
        .unwrap();
    w.ua.forwarding_activate(ForwardCondition::Busy).unwrap();
    let (first, _) = outgoing_call(&mut w);
    let key = w.peer_invite(Some(&peer_sdp("sendrecv")));
    forwarded(&mut w, key, "1003");
    let second = CallId(2);
    assert_eq!(
        w.take(),
        [
            ev(Event::Forwarded {
                call: second,
                condition: ForwardCondition::Busy,
                target: "1003".into()
            }),
            state(second, ended(EndReason::Forwarded, By::Local, Some(302)))
        ]
    );
    assert_eq!(w.ua.call_state(first), Some(&CallState::Established));
}

#[test]
fn busy_forwarding_applies_when_the_user_rejects_busy() {
    let mut w = World::new();
    w.ua.forwarding_register(ForwardCondition::Busy, "1003", Duration::ZERO)
        .unwrap();
    w.ua.forwarding_activate(ForwardCondition::Busy).unwrap();
    let (call, key) = ring(&mut w, &peer_sdp("sendrecv"));
    let now = w.now();
    w.ua.reject(now, call, 486).unwrap();
    forwarded(&mut w, key, "1003");
    assert_eq!(
        w.take(),
        [
            ev(Event::Forwarded {
                call,
                condition: ForwardCondition::Busy,
                target: "1003".into()
            }),
            state(call, ended(EndReason::Forwarded, By::Local, Some(302)))
        ]
    );
}

#[test]
fn no_reply_forwarding_redirects_after_its_time() {
    let mut w = World::new();
    w.ua.forwarding_register(ForwardCondition::NoReply, "1004", secs(5))
        .unwrap();
    w.ua.forwarding_activate(ForwardCondition::NoReply).unwrap();
    let (call, key) = ring(&mut w, &peer_sdp("sendrecv"));
    w.run_for(ms(4999));
    assert_eq!(w.take(), []);
    assert!(w.statuses(key).is_empty());
    w.run_for(ms(1));
    forwarded(&mut w, key, "1004");
    assert_eq!(
        w.take(),
        [
            ev(Event::Forwarded {
                call,
                condition: ForwardCondition::NoReply,
                target: "1004".into()
            }),
            state(call, ended(EndReason::Forwarded, By::Local, Some(302)))
        ]
    );
}

#[test]
fn not_reachable_forwarding_redirects_a_call_the_phone_cannot_take() {
    let mut w = World::new();
    w.ua.forwarding_register(ForwardCondition::NotReachable, "1005", Duration::ZERO)
        .unwrap();
    w.ua.forwarding_activate(ForwardCondition::NotReachable)
        .unwrap();
    let (call, key) = ring(&mut w, &peer_sdp("sendrecv"));
    let now = w.now();
    w.ua.unreachable(now, call);
    forwarded(&mut w, key, "1005");
    assert_eq!(
        w.take(),
        [
            ev(Event::Forwarded {
                call,
                condition: ForwardCondition::NotReachable,
                target: "1005".into()
            }),
            state(call, ended(EndReason::Forwarded, By::Local, Some(302)))
        ]
    );
}

#[test]
fn forwarding_rules_are_registered_activated_queried_and_erased() {
    let mut w = World::new();
    assert!(matches!(
        w.ua.forwarding_activate(ForwardCondition::Unconditional),
        Err(UaError::Invalid(_))
    ));
    assert_eq!(w.ua.forwarding_query(ForwardCondition::Unconditional), None);
    w.ua.forwarding_register(ForwardCondition::Unconditional, "1003", Duration::ZERO)
        .unwrap();
    let rule = |active| ForwardRule {
        condition: ForwardCondition::Unconditional,
        target: "1003".into(),
        active,
        no_reply_after: Duration::ZERO,
    };
    assert_eq!(
        w.ua.forwarding_query(ForwardCondition::Unconditional),
        Some(rule(false))
    );
    w.ua.forwarding_activate(ForwardCondition::Unconditional)
        .unwrap();
    assert_eq!(
        w.ua.forwarding_query(ForwardCondition::Unconditional),
        Some(rule(true))
    );
    w.ua.forwarding_deactivate(ForwardCondition::Unconditional)
        .unwrap();
    assert_eq!(
        w.ua.forwarding_query(ForwardCondition::Unconditional),
        Some(rule(false))
    );
    // Deactivated: the call rings.
    ring(&mut w, &peer_sdp("sendrecv"));
    assert!(w.ua.forwarding_erase(ForwardCondition::Unconditional));
    assert_eq!(w.ua.forwarding_query(ForwardCondition::Unconditional), None);
    assert!(!w.ua.forwarding_erase(ForwardCondition::Unconditional));
    assert!(w
        .ua
        .forwarding_deactivate(ForwardCondition::Unconditional)
        .is_err());
    assert!(w
        .ua
        .forwarding_register(ForwardCondition::Busy, "", Duration::ZERO)
        .is_err());
}

// ------------------------------------------------------------------ 13. anonymous

#[test]
fn an_anonymous_account_calls_hidden_and_takes_no_calls() {
    let mut w = World::with_account(Account::anonymous(server()));
    let now = w.now();
    assert!(matches!(w.ua.register(now), Err(UaError::Invalid(_))));
    w.no_request();
    let call = w.ua.call(now, "1002", audio_only(), false).unwrap();
    let invite = w.request(Method::Invite);
    let from = invite.header("From").unwrap();
    assert!(from.contains("<sip:anonymous@anonymous.invalid>"), "{from}");
    assert_eq!(invite.header("Privacy").as_deref(), Some("id"));
    assert_eq!(w.take(), [state(call, CallState::Dialing)]);

    let key = w.peer_invite(Some(&peer_sdp("sendrecv")));
    assert_eq!(w.statuses(key), [100, 403]);
    assert_eq!(w.take(), []);
}

// ------------------------------------------------------------------ 14. DTMF over INFO

#[test]
fn digits_go_as_one_info_after_another() {
    let mut w = World::new();
    let (call, _) = outgoing_call(&mut w);
    let now = w.now();
    w.ua.send_dtmf_info(now, call, "12#", 160).unwrap();
    for digit in ['1', '2', '#'] {
        let info = w.request(Method::Info);
        assert_eq!(
            info.header("Content-Type").as_deref(),
            Some("application/dtmf-relay")
        );
        assert_eq!(info.body(), format!("Signal={digit}\r\nDuration=160\r\n"));
        // The next one waits for this one's answer.
        w.no_request();
        assert_eq!(w.take(), []);
        w.respond(&info, 200);
    }
    assert_eq!(w.take(), [ev(op_ok(call, Op::SendDtmf))]);
    w.no_request();
}

#[test]
fn a_received_info_digit_is_reported_while_detection_is_on() {
    let mut w = World::new();
    let (call, _, d) = incoming_call(&mut w);
    let body = Some(("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"));
    let key = w.peer_in_dialog(&d, Method::Info, body, vec![]);
    assert_eq!(w.statuses(key), [200]);
    assert_eq!(
        w.take(),
        [ev(Event::Dtmf {
            call,
            digit: '5',
            method: DtmfMethod::Info,
            duration_ms: 160
        })]
    );
    w.ua.set_dtmf_detection(false);
    let key = w.peer_in_dialog(&d, Method::Info, body, vec![]);
    assert_eq!(w.statuses(key), [200]);
    assert_eq!(w.take(), []);
}

#[test]
fn bad_digits_are_refused_naming_the_character() {
    let mut w = World::new();
    let (call, _) = outgoing_call(&mut w);
    let now = w.now();
    let Err(UaError::Invalid(msg)) = w.ua.send_dtmf_info(now, call, "12x", 100) else {
        panic!("an error");
    };
    assert!(msg.contains("'x'"), "{msg}");
    assert!(w.ua.send_dtmf_info(now, call, "", 100).is_err());
    w.no_request();
    // The slot is free.
    w.ua.send_dtmf_info(now, call, "9", 100).unwrap();
    let info = w.request(Method::Info);
    w.respond(&info, 200);
    assert_eq!(w.take(), [ev(op_ok(call, Op::SendDtmf))]);
}

// ------------------------------------------------------------------ 15. redirect

#[test]
fn a_302_to_our_invite_is_followed() {
    let mut w = World::new();
    let (call, invite) = dial(&mut w);
    w.respond_with(&invite, 302, |r| {
        r.headers
            .push(h(HeaderName::Contact, &format!("<sip:1003@{DOMAIN}>")))
    });
    let again = w.request(Method::Invite);
    assert_eq!(again.req.uri.to_string(), format!("sip:1003@{DOMAIN}"));
    assert_eq!(again.call_id(), invite.call_id());
    assert!(again.cseq() > invite.cseq());
    assert_eq!(w.take(), []);
    w.respond_sdp(&again, 200, &peer_sdp("sendrecv"));
    assert_eq!(w.take(), established(call));
}

// ------------------------------------------------------------------ 16. transfer

#[test]
fn a_blind_transfer_ends_the_call_once_the_target_answers() {
    let mut w = World::new();
    let (call, d) = outgoing_call(&mut w);
    let now = w.now();
    w.ua.transfer(now, call, "1003").unwrap();
    let refer = w.request(Method::Refer);
    assert_eq!(
        refer.header("Refer-To").as_deref(),
        Some(format!("<sip:1003@{DOMAIN}>").as_str())
    );
    w.respond(&refer, 202);
    assert_eq!(w.take(), []);
    let notify = |w: &mut World, frag: &str| {
        w.peer_in_dialog(
            &d,
            Method::Notify,
            Some(("message/sipfrag;version=2.0", frag)),
            vec![
                h(HeaderName::Event, "refer"),
                h(
                    HeaderName::Other(bytes::Bytes::from_static(b"Subscription-State")),
                    "active;expires=60",
                ),
            ],
        )
    };
    let key = notify(&mut w, "SIP/2.0 100 Trying\r\n");
    assert_eq!(w.statuses(key), [200]);
    assert_eq!(w.take(), []);
    let key = notify(&mut w, "SIP/2.0 200 OK\r\n");
    assert_eq!(w.statuses(key), [200]);
    let bye = w.request(Method::Bye);
    w.respond(&bye, 200);
    assert_eq!(
        w.take(),
        [
            ev(op_ok(call, Op::Transfer)),
            state(call, ended(EndReason::Transferred, By::Local, None)),
            act(Action::Close { call })
        ]
    );
}

// ------------------------------------------------------------------ 17. video

#[test]
fn a_video_call_is_accepted_with_video_and_video_stops_and_starts() {
    let mut w = World::new();
    let key = w.peer_invite(Some(&peer_sdp_video("sendrecv", "sendrecv")));
    let call = CallId(1);
    assert_eq!(
        w.take(),
        [ev(incoming(call, true)), state(call, CallState::Ringing)]
    );
    let now = w.now();
    w.ua.accept(now, call, media(), true).unwrap();
    let ok = w.responses(key);
    assert_eq!(
        ok.iter().map(|r| r.status).collect::<Vec<_>>(),
        [100, 180, 200]
    );
    let ok = &ok[2..];
    let answer = sdp_of(&ok[0]);
    assert_eq!(answer.media[1].media, "video");
    assert_eq!(answer.media[1].port, 40002);
    assert_eq!(direction_of(&answer, 1), "sendrecv");
    let d = w.dialog_of(&ok[0].headers.call_id().unwrap());
    w.peer_ack(&d);
    assert_eq!(
        w.take(),
        [
            media_action(call, pcma(true, true)),
            act(Action::Video {
                call,
                params: Some(video(true, true))
            }),
            state(call, CallState::Established)
        ]
    );

    for (on, dir, peer_dir, op) in [
        (false, "recvonly", "sendonly", Op::VideoStop),
        (true, "sendrecv", "sendrecv", Op::VideoStart),
    ] {
        let now = w.now();
        w.ua.video(now, call, on).unwrap();
        let re = w.request(Method::Invite);
        assert_eq!(direction_of(&re.sdp(), 0), "sendrecv");
        assert_eq!(direction_of(&re.sdp(), 1), dir);
        w.respond_sdp(&re, 200, &peer_sdp_video("sendrecv", peer_dir));
        assert_eq!(
            w.take(),
            [
                media_action(call, pcma(true, true)),
                act(Action::Video {
                    call,
                    params: Some(video(on, true))
                }),
                ev(op_ok(call, op))
            ]
        );
    }
    let now = w.now();
    assert!(matches!(
        w.ua.video(now, call, true),
        Err(UaError::State { .. })
    ));
}

#[test]
fn video_on_a_call_without_video_is_an_error() {
    let mut w = World::new();
    let (call, _) = outgoing_call(&mut w);
    let now = w.now();
    assert!(!w.ua.has_video(call));
    assert!(matches!(
        w.ua.video(now, call, false),
        Err(UaError::State { .. })
    ));
    w.no_request();
}

#[test]
fn a_video_offer_accepted_without_video_refuses_the_video_line() {
    let mut w = World::new();
    let key = w.peer_invite(Some(&peer_sdp_video("sendrecv", "sendrecv")));
    let call = CallId(1);
    w.take();
    let now = w.now();
    w.ua.accept(now, call, media(), false).unwrap();
    let ok = w.responses(key);
    let ok = &ok[2..];
    let answer = sdp_of(&ok[0]);
    assert!(answer.media[1].is_rejected());
    let d = w.dialog_of(&ok[0].headers.call_id().unwrap());
    w.peer_ack(&d);
    assert_eq!(w.take(), established(call));
    assert!(w.ua.video(now, call, true).is_err());
}

// ------------------------------------------------------------------ 18. bad offers

#[test]
fn an_invite_with_a_bad_sdp_gets_400_and_without_a_common_codec_488() {
    let mut w = World::new();
    let key = w.peer_invite(Some("this is not SDP"));
    assert_eq!(w.statuses(key), [100, 400]);
    let g729 = "v=0\r\no=peer 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
                m=audio 6000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    let key = w.peer_invite(Some(g729));
    assert_eq!(w.statuses(key), [100, 488]);
    assert_eq!(w.take(), []);
    assert!(w.ua.live_calls().is_empty());
}

// ------------------------------------------------------------------ beyond the seeds' happy paths

#[test]
fn unregister_while_a_register_is_in_flight_waits_for_its_answer() {
    let mut w = World::new();
    let now = w.now();
    w.ua.register(now).unwrap();
    let r = w.request(Method::Register);
    w.ua.unregister(now);
    // One REGISTER at a time: the removal waits for the answer.
    w.no_request();
    w.respond(&r, 200);
    let un = w.request(Method::Register);
    assert_eq!(un.header("Expires").as_deref(), Some("0"));
    assert!(un.cseq() > r.cseq());
    w.respond(&un, 200);
    assert_eq!(
        w.events(),
        [
            reg(Registration::Registering),
            reg(Registration::Registered { expires: 300 }),
            reg(Registration::Unregistered)
        ]
    );
    w.run_for(secs(600));
    w.no_request();
}

#[test]
fn register_while_the_removal_is_in_flight_registers_again_after_it() {
    let mut w = World::new();
    let now = w.now();
    w.ua.register(now).unwrap();
    let r = w.request(Method::Register);
    w.respond(&r, 200);
    w.ua.unregister(now);
    let un = w.request(Method::Register);
    assert_eq!(un.header("Expires").as_deref(), Some("0"));
    w.ua.register(now).unwrap();
    w.no_request();
    w.respond(&un, 200);
    let again = w.request(Method::Register);
    assert_eq!(again.header("Expires").as_deref(), Some("300"));
    w.respond(&again, 200);
    assert_eq!(
        w.events(),
        [
            reg(Registration::Registering),
            reg(Registration::Registered { expires: 300 }),
            reg(Registration::Unregistered),
            reg(Registration::Registering),
            reg(Registration::Registered { expires: 300 })
        ]
    );
}

#[test]
fn ending_a_call_nobody_answered_yet_ends_it_at_once() {
    let mut w = World::new();
    w.peer_down = true;
    let now = w.now();
    let call = w.ua.call(now, "1002", audio_only(), false).unwrap();
    w.run_for(ms(100));
    let now = w.now();
    w.ua.end(now, call).unwrap();
    assert_eq!(
        w.take(),
        [
            state(call, CallState::Dialing),
            state(call, ended(EndReason::Cancel, By::Local, None)),
            act(Action::Close { call })
        ]
    );
    // RFC 3261 §9.1: no CANCEL before a provisional response.
    w.run_for(secs(40));
    assert_eq!(w.ladder.count("CANCEL"), 0);
    assert_eq!(w.take(), []);
}

#[test]
fn a_reinvite_from_the_peer_while_we_hold_keeps_the_hold() {
    // A session refresh (or any re-offer) from the peer must not resume a held call.
    let mut w = World::new();
    let (call, d) = outgoing_call(&mut w);
    hold(&mut w, call, "recvonly");
    w.take();
    let answer = w.peer_reinvite(&d, "sendrecv");
    let answer = sdp_of(&answer);
    assert_eq!(direction_of(&answer, 0), "sendonly");
    assert_eq!(w.take(), [media_action(call, pcma(false, false))]);
    assert_eq!(w.ua.call_state(call), Some(&CallState::Held));
}

#[test]
fn accepting_a_waiting_call_holds_a_remotely_held_one_too() {
    let mut w = World::new();
    let (first, d1) = outgoing_call(&mut w);
    w.peer_reinvite(&d1, "sendonly");
    assert_eq!(
        w.take(),
        [
            media_action(first, pcma(false, true)),
            state(first, CallState::RemotelyHeld)
        ]
    );
    let key = w.peer_invite(Some(&peer_sdp("sendrecv")));
    let second = CallId(2);
    w.take();
    let now = w.now();
    w.ua.accept(now, second, audio_only(), false).unwrap();
    let re = w.request(Method::Invite);
    assert_eq!(re.dialog.as_ref(), Some(&d1));
    assert_eq!(direction_of(&re.sdp(), 0), "sendonly");
    w.respond_sdp(&re, 200, &peer_sdp("inactive"));
    let ok = w.responses(key);
    let d2 = w.dialog_of(&ok.last().unwrap().headers.call_id().unwrap());
    w.peer_ack(&d2);
    assert_eq!(w.take(), [established(second), held(first)].concat());
}

#[test]
fn an_accepted_call_whose_ack_never_comes_is_ended_with_bye() {
    let mut w = World::new();
    // Call 1 is up and ACKed; call 2 is accepted and never ACKed.
    let (first, _, _) = incoming_call(&mut w);
    let key = w.peer_invite(Some(&peer_sdp("sendrecv")));
    let second = CallId(2);
    w.take();
    let now = w.now();
    w.ua.accept(now, second, audio_only(), false).unwrap();
    // Accepting it held call 1.
    let re = w.request(Method::Invite);
    w.respond_sdp(&re, 200, &peer_sdp("recvonly"));
    w.take();
    w.run_for(secs(31));
    assert_eq!(w.take(), []);
    let start = w.elapsed();
    let bye = w.wait_request(Method::Bye, secs(5));
    // RFC 3261 §13.3.1.4: 64*T1 of 2xx retransmissions without an ACK.
    assert_eq!(w.elapsed(), secs(32));
    assert!(w.elapsed() > start);
    assert_eq!(
        bye.call_id(),
        w.responses(key).last().unwrap().headers.call_id().unwrap()
    );
    w.respond(&bye, 200);
    assert_eq!(
        w.take(),
        closed(second, EndReason::Failed, By::Remote, Some(408))
    );
    assert_eq!(w.ua.call_state(first), Some(&CallState::Held));
}

#[test]
fn an_offerless_invite_gets_our_offer_and_the_ack_answers() {
    let mut w = World::new();
    let key = w.peer_invite(None);
    let call = CallId(1);
    assert_eq!(
        w.take(),
        [ev(incoming(call, false)), state(call, CallState::Ringing)]
    );
    let now = w.now();
    w.ua.accept(now, call, audio_only(), false).unwrap();
    // Answered: the media follows with the ACK's answer.
    assert_eq!(w.take(), [state(call, CallState::Established)]);
    let ok = w.responses(key);
    let ok = ok.last().unwrap();
    assert_eq!(ok.status, 200);
    let offer = sdp_of(ok);
    assert_eq!(offer.media[0].formats, ["0", "8", "9", "96", "101", "102"]);
    let d = w.dialog_of(&ok.headers.call_id().unwrap());
    let now = w.now();
    let answer = "v=0\r\no=peer 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
                  m=audio 6000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    w.peer
        .ack(
            now,
            &d,
            Some(("application/sdp", bytes::Bytes::from(answer))),
        )
        .unwrap();
    assert_eq!(w.take(), [media_action(call, pcma(true, true))]);
}

#[test]
fn options_is_answered_with_what_the_phone_allows() {
    let mut w = World::new();
    let uri = sip::Uri::from_text(&format!("sip:{USER}@{UA_ADDR}")).unwrap();
    let na = sip::NameAddr::new(uri.clone());
    let req = w.peer.build_request(Method::Options, uri, na.clone(), na);
    let key = w.peer_send(req);
    let resp = w.responses(key);
    assert_eq!(resp.len(), 1);
    assert_eq!(resp[0].status, 200);
    let allow = common::header(&resp[0].headers, "Allow").unwrap();
    assert!(
        allow.contains("INVITE") && allow.contains("INFO"),
        "{allow}"
    );
    assert_eq!(w.take(), []);
}

#[test]
fn a_call_reports_its_parties_and_sip_call_id() {
    let mut w = World::new();
    let (call, invite) = dial(&mut w);
    let (from, to) = w.ua.parties(call).unwrap();
    assert_eq!(from, &me());
    assert_eq!(to.uri, format!("sip:1002@{DOMAIN}"));
    assert_eq!(
        w.ua.sip_call_id(call),
        Some(std::str::from_utf8(&invite.call_id()).unwrap())
    );
    assert_eq!(w.ua.parties(CallId(9)), None);
}

#[test]
fn a_refused_hold_is_reported_and_the_call_stays_up() {
    let mut w = World::new();
    let (call, _) = outgoing_call(&mut w);
    let now = w.now();
    w.ua.hold(now, call).unwrap();
    let re = w.request(Method::Invite);
    w.respond(&re, 488);
    assert_eq!(
        w.take(),
        [ev(Event::Op {
            call,
            op: Op::Hold,
            ok: false,
            error: Some("the peer answered 488".into())
        })]
    );
    assert_eq!(w.ua.call_state(call), Some(&CallState::Established));
    // The slot is free again.
    let now = w.now();
    w.ua.hold(now, call).unwrap();
    w.request(Method::Invite);
}

#[test]
fn crossing_reinvites_are_resolved_by_491_and_our_retry() {
    let mut w = World::new();
    let (call, d) = outgoing_call(&mut w);
    // Our hold and the peer's re-offer cross on the wire.
    let now = w.now();
    w.ua.hold(now, call).unwrap();
    let sdp = peer_sdp("sendrecv");
    let theirs = w.peer_in_dialog(&d, Method::Invite, Some(("application/sdp", &sdp)), vec![]);
    // RFC 3261 §14.2: each side's endpoint refuses the other's with 491.
    assert_eq!(w.statuses(theirs), [491]);
    assert_eq!(w.ladder.count("491 Request Pending"), 2);
    w.no_request();
    assert_eq!(w.take(), []);
    let start = w.elapsed();
    let retry = w.wait_request(Method::Invite, secs(5));
    assert!(w.elapsed() - start >= ms(2100));
    assert_eq!(direction_of(&retry.sdp(), 0), "sendonly");
    w.respond_sdp(&retry, 200, &peer_sdp("recvonly"));
    assert_eq!(w.take(), held(call));
}

#[test]
fn a_second_call_while_the_first_still_rings_is_incoming_not_waiting() {
    let mut w = World::new();
    let (first, _) = ring(&mut w, &peer_sdp("sendrecv"));
    let (second, _) = ring(&mut w, &peer_sdp("sendrecv"));
    assert_ne!(first, second);
    // ring() asserted Incoming (not CallWaiting) for both.
}

#[test]
fn an_operation_without_a_final_answer_fails_after_32_s_and_frees_the_slot() {
    let mut w = World::new();
    let (call, _) = outgoing_call(&mut w);
    let now = w.now();
    w.ua.hold(now, call).unwrap();
    let re = w.request(Method::Invite);
    // The peer says 180 to the re-INVITE and then nothing.
    w.respond(&re, 180);
    w.take();
    w.run_for(Duration::from_secs(31));
    assert!(w.events().is_empty(), "no verdict before 32 s");
    w.run_for(Duration::from_secs(2));
    let events = w.events();
    assert!(
        matches!(&events[..], [Event::Op { op: Op::Hold, ok: false, error: Some(e), .. }] if e.contains("no final answer")),
        "{events:?}"
    );
    // The call is still up and takes the next operation.
    let now = w.now();
    assert!(w.ua.hold(now, call).is_ok());
}

#[test]
fn a_long_lived_phone_keeps_only_its_last_ended_calls() {
    let mut w = World::new();
    let mut first = None;
    for _ in 0..40 {
        let (call, invite) = dial(&mut w);
        first.get_or_insert(call);
        w.respond(&invite, 486);
        w.take();
    }
    let first = first.unwrap();
    assert_eq!(
        w.ua.call_state(first),
        None,
        "the first ended call was dropped"
    );
    let last = CallId(first.0 + 39);
    assert!(matches!(
        w.ua.call_state(last),
        Some(CallState::Ended { .. })
    ));
}
