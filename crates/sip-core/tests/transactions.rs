//! One endpoint, hand-written peer messages: the §17 state machines, their
//! timers on UDP and TCP, RFC 6026 Accepted, merged requests, malformed input.

mod common;

use common::solo::*;
use sip::{Method, NameAddr, Transport, Uri};
use sip_core::{ClientState, Event, Target, Timer};
use std::net::SocketAddr;
use std::time::Duration;

// ---- client transactions ----

#[test]
fn timer_a_doubles_until_timer_b_fires_at_64_t1() {
    let mut s = Solo::new();
    let (key, _) = s.send(Method::Invite, Transport::Udp);
    let sent = s.run(secs(40.0));
    let times: Vec<Duration> = sent.iter().map(|(t, _)| *t).collect();
    // RFC 3261 §17.1.1.2: A = T1, 2*T1, 4*T1... (INVITE retransmissions are not capped at T2).
    assert_eq!(
        times,
        [ms(500), ms(1500), ms(3500), ms(7500), ms(15500), ms(31500)]
    );
    assert!(sent.iter().all(|(_, l)| l.starts_with("INVITE")));
    let ev = s.events();
    assert!(matches!(ev[..], [Event::Timeout { key: k, timer: Timer::B }] if k == key));
    assert_eq!(s.t(), secs(32.0));
    assert_eq!(s.ep.client_state(key), None);
}

#[test]
fn timer_e_doubles_to_t2_then_timer_f() {
    let mut s = Solo::new();
    let (key, _) = s.send(Method::Options, Transport::Udp);
    let times: Vec<Duration> = s.run(secs(40.0)).into_iter().map(|(t, _)| t).collect();
    let want: Vec<Duration> = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
        .into_iter()
        .map(secs)
        .collect();
    assert_eq!(times, want);
    assert!(matches!(s.events()[..], [Event::Timeout { key: k, timer: Timer::F }] if k == key));
}

#[test]
fn timer_e_is_t2_once_proceeding() {
    let mut s = Solo::new();
    let uri = Uri::from_text("sip:alice@10.0.0.1").unwrap();
    let from = NameAddr::new(Uri::from_text("sip:bob@10.0.0.2").unwrap());
    let req =
        s.ep.build_request(Method::Options, uri.clone(), from, NameAddr::new(uri));
    let now = s.clock.now();
    let key =
        s.ep.send_request(now, req, Target::udp(PEER.parse().unwrap()))
            .unwrap();
    let req = s.sent().remove(0).bytes;
    s.feed(&response_to(&req, "100 Trying", "x"));
    assert_eq!(s.ep.client_state(key), Some(ClientState::Proceeding));
    let times: Vec<Duration> = s.run(secs(10.0)).into_iter().map(|(t, _)| t).collect();
    assert_eq!(times, [secs(0.5), secs(4.5), secs(8.5)]);
}

#[test]
fn reliable_transport_sends_once_and_timer_k_is_zero() {
    for (transport, k) in [
        (Transport::Udp, secs(5.0)),
        (Transport::Tcp, Duration::ZERO),
    ] {
        let mut s = Solo::new();
        let uri = Uri::from_text("sip:alice@10.0.0.1").unwrap();
        let from = NameAddr::new(Uri::from_text("sip:bob@10.0.0.2").unwrap());
        let req =
            s.ep.build_request(Method::Options, uri.clone(), from, NameAddr::new(uri));
        let now = s.clock.now();
        let target = Target {
            transport: transport.clone(),
            remote: PEER.parse().unwrap(),
        };
        let key = s.ep.send_request(now, req, target).unwrap();
        let req = s.sent().remove(0).bytes;
        if transport == Transport::Tcp {
            // No Timer E over TCP: the next deadline is Timer F.
            assert_eq!(s.ep.poll_timeout(), Some(s.clock.now() + secs(32.0)));
        }
        s.clock.advance(ms(100));
        s.feed_from(transport.clone(), PEER, &response_to(&req, "200 OK", "x"));
        assert!(
            matches!(&s.events()[..], [Event::Response { response, .. }] if response.status == 200)
        );
        assert_eq!(s.ep.client_state(key), Some(ClientState::Completed));
        // Timer K: T4 on UDP, zero on TCP.
        assert_eq!(s.ep.poll_timeout(), Some(s.clock.now() + k), "{transport}");
        s.feed_from(transport, PEER, &response_to(&req, "200 OK", "x"));
        assert!(
            s.events().is_empty(),
            "retransmitted final response absorbed"
        );
        s.run(secs(60.0));
        assert_eq!(s.ep.client_state(key), None);
    }
}

#[test]
fn non_2xx_final_is_acked_by_the_invite_client_transaction() {
    let mut s = Solo::new();
    let (key, inv) = s.send(Method::Invite, Transport::Udp);
    s.clock.advance(ms(100));
    let busy = response_to(&inv, "486 Busy Here", "b1");
    s.feed(&busy);
    assert!(
        matches!(&s.events()[..], [Event::Response { response, .. }] if response.status == 486)
    );
    let ack = s.sent();
    assert_eq!(ack.len(), 1);
    let ack_text = String::from_utf8_lossy(&ack[0].bytes).into_owned();
    assert!(ack_text.starts_with("ACK sip:alice@10.0.0.1 SIP/2.0"));
    assert!(ack_text.contains("CSeq: 1 ACK") && ack_text.contains(";tag=b1"));
    let inv_text = String::from_utf8_lossy(&inv).into_owned();
    let branch = |t: &str| t.split("branch=").nth(1).unwrap()[..23].to_string();
    assert_eq!(
        branch(&ack_text),
        branch(&inv_text),
        "same branch as the INVITE (§17.1.1.3)"
    );
    assert_eq!(s.ep.client_state(key), Some(ClientState::Completed));
    // Retransmitted 486: ACK again, nothing for the TU.
    s.feed(&busy);
    assert_eq!(s.sent().len(), 1);
    assert!(s.events().is_empty());
    // Timer D: 32 s on UDP.
    assert_eq!(s.ep.poll_timeout(), Some(s.clock.now() + secs(32.0)));
    s.run(secs(60.0));
    assert_eq!(s.ep.client_state(key), None);
}

#[test]
fn accepted_client_forwards_2xx_once_and_reacks_retransmissions() {
    let mut s = Solo::new();
    let uri = Uri::from_text("sip:alice@10.0.0.1").unwrap();
    let from = NameAddr::new(Uri::from_text("sip:bob@10.0.0.2").unwrap());
    let req =
        s.ep.build_request(Method::Invite, uri.clone(), from, NameAddr::new(uri));
    let now = s.clock.now();
    let key =
        s.ep.send_request(now, req, Target::udp(PEER.parse().unwrap()))
            .unwrap();
    let inv = s.sent().remove(0).bytes;
    let ok = response_to(&inv, "200 OK", "t1");
    s.feed(&ok);
    assert_eq!(s.ep.client_state(key), Some(ClientState::Accepted));
    let dialog = s
        .events()
        .into_iter()
        .find_map(|e| match e {
            Event::Response { dialog, .. } => dialog,
            _ => None,
        })
        .expect("2xx with its dialog");
    assert!(
        s.sent().is_empty(),
        "the UAC core, not the transaction, ACKs a 2xx"
    );
    let now = s.clock.now();
    s.ep.ack(now, &dialog, None).unwrap();
    let ack = s.sent().remove(0);
    assert!(first_line(&ack.bytes).starts_with("ACK sip:alice@10.0.0.1 "));
    assert_eq!(ack.remote, PEER.parse::<SocketAddr>().unwrap());

    // RFC 6026 §8.4: retransmitted 2xx reach the TU, which re-sends its ACK.
    s.clock.advance(ms(500));
    s.feed(&ok);
    assert!(s.events().is_empty(), "no second Response event");
    assert_eq!(s.sent(), vec![ack.clone()]);
    // A 2xx from another fork is a new dialog for the application.
    s.feed(&response_to(&inv, "200 OK", "t2"));
    assert!(
        matches!(&s.events()[..], [Event::Response { response, .. }, Event::Dialog { .. }, ..] | [Event::Dialog { .. }, .., Event::Response { response, .. }] if response.status == 200)
    );
    // Timer M ends the transaction at 64*T1.
    s.run(secs(60.0));
    assert_eq!(s.ep.client_state(key), None);
    assert_eq!(s.t(), secs(32.0));
}
