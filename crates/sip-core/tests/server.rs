//! Server transactions and the UAS core, fed hand-written requests:
//! Timers G H I J L on UDP and TCP, RFC 6026 Accepted, 2xx retransmission,
//! merged requests, CANCEL, malformed requests, received/rport.

mod common;

use common::solo::*;
use sip::Transport;
use sip_core::{Event, ServerState, Timer};
use std::time::Duration;

const TAGGED_ACK: &str = "ACK sip:bob@10.0.0.2 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKack2\nMax-Forwards: 70\nFrom: <sip:alice@10.0.0.1>;tag=a1\nTo: <sip:bob@10.0.0.2>;tag=TAG\nCall-ID: call-1@10.0.0.1\nCSeq: 1 ACK\nContent-Length: 0\n\n";

fn to_tag(s: &str) -> String {
    s.split("To: ")
        .nth(1)
        .unwrap()
        .split("tag=")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn non_invite_server_timer_j_udp_64_t1_tcp_zero() {
    for (transport, j) in [
        (Transport::Udp, secs(32.0)),
        (Transport::Tcp, Duration::ZERO),
    ] {
        let mut s = Solo::new();
        let opt = request("OPTIONS", "z9hG4bKo1", "");
        s.feed_from(transport.clone(), PEER, &opt);
        let key = request_key(&s.events());
        assert_eq!(s.ep.server_state(key), Some(ServerState::Trying));
        s.feed_from(transport.clone(), PEER, &opt);
        assert!(
            s.sent().is_empty() && s.events().is_empty(),
            "Trying absorbs retransmissions"
        );
        let now = s.clock.now();
        s.ep.respond(now, key, 200, "OK").unwrap();
        assert_eq!(s.sent().len(), 1);
        assert_eq!(s.ep.server_state(key), Some(ServerState::Completed));
        assert_eq!(s.ep.poll_timeout(), Some(now + j), "{transport}");
        s.feed_from(transport, PEER, &opt);
        assert_eq!(s.sent().len(), 1, "Completed re-sends the final response");
        s.run(secs(60.0));
        assert_eq!(s.ep.server_state(key), None);
    }
}

#[test]
fn invite_server_non_2xx_timer_g_then_ack_and_timer_i() {
    let mut s = Solo::new();
    s.feed(&request("INVITE", "z9hG4bKi1", ""));
    let key = request_key(&s.events());
    assert!(first_line(&s.sent()[0].bytes).contains("100 Trying"));
    let now = s.clock.now();
    s.ep.respond(now, key, 486, "Busy Here").unwrap();
    assert_eq!(s.sent().len(), 1);
    // Timer G: T1, doubling to T2.
    let times: Vec<Duration> = s.run(secs(12.0)).into_iter().map(|(t, _)| t).collect();
    assert_eq!(times, [0.5, 1.5, 3.5, 7.5, 11.5].map(secs));
    s.feed(&request("ACK", "z9hG4bKi1", ";tag=x"));
    assert_eq!(s.ep.server_state(key), Some(ServerState::Confirmed));
    assert!(
        s.events().is_empty(),
        "ACK for a non-2xx stays in the transaction"
    );
    // Timer I: T4 on UDP.
    assert_eq!(s.ep.poll_timeout(), Some(s.clock.now() + secs(5.0)));
    s.feed(&request("ACK", "z9hG4bKi1", ";tag=x"));
    assert!(s.sent().is_empty());
    s.run(secs(60.0));
    assert_eq!(s.ep.server_state(key), None);
}

#[test]
fn invite_server_over_tcp_has_no_timer_g_and_zero_timer_i() {
    let mut s = Solo::new();
    s.feed_from(Transport::Tcp, PEER, &request("INVITE", "z9hG4bKt1", ""));
    let key = request_key(&s.events());
    s.sent();
    let now = s.clock.now();
    s.ep.respond(now, key, 603, "Decline").unwrap();
    s.sent();
    assert_eq!(s.ep.poll_timeout(), Some(now + secs(32.0)), "only Timer H");
    s.feed_from(Transport::Tcp, PEER, &request("ACK", "z9hG4bKt1", ";tag=x"));
    assert_eq!(s.ep.poll_timeout(), Some(now), "Timer I = 0");
    s.run(secs(1.0));
    assert_eq!(s.ep.server_state(key), None);
}

#[test]
fn timer_h_reports_a_missing_ack() {
    let mut s = Solo::new();
    s.feed(&request("INVITE", "z9hG4bKh1", ""));
    let key = request_key(&s.events());
    let now = s.clock.now();
    s.ep.respond(now, key, 480, "Temporarily Unavailable")
        .unwrap();
    s.run(secs(60.0));
    assert!(matches!(s.events()[..], [Event::AckTimeout { key: k, timer: Timer::H }] if k == key));
    assert_eq!(s.t(), secs(32.0));
}

#[test]
fn accepted_retransmits_2xx_until_ack_and_absorbs_invite_retransmissions() {
    let mut s = Solo::new();
    let inv = request("INVITE", "z9hG4bKa1", "");
    s.feed(&inv);
    let key = request_key(&s.events());
    s.sent();
    let now = s.clock.now();
    s.ep.respond(now, key, 200, "OK").unwrap();
    let ok = s.sent().remove(0);
    let dialog_events = s.events();
    assert!(matches!(
        &dialog_events[..],
        [
            Event::Dialog { .. },
            Event::Dialog {
                state: sip_core::DialogState::Confirmed,
                ..
            }
        ]
    ));
    let tag = to_tag(&String::from_utf8_lossy(&ok.bytes));
    assert_eq!(s.ep.server_state(key), Some(ServerState::Accepted));
    // §13.3.1.4: 2xx again at T1, 2*T1... capped at T2.
    let sent = s.run(secs(8.0));
    assert_eq!(
        sent.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        [0.5, 1.5, 3.5, 7.5].map(secs)
    );
    assert!(sent.iter().all(|(_, l)| l == "SIP/2.0 200 OK"));
    // RFC 6026 §8.7: a retransmitted INVITE is absorbed in Accepted.
    s.feed(&inv);
    let (sent, ev) = (s.sent(), s.events());
    assert!(sent.is_empty() && ev.is_empty(), "{sent:?} {ev:?}");
    // The ACK (a new branch) reaches the UAS core and stops the 2xx.
    s.feed(&TAGGED_ACK.replace("TAG", &tag));
    assert!(matches!(&s.events()[..], [Event::Ack { key: k, .. }] if *k == key));
    s.feed(&TAGGED_ACK.replace("TAG", &tag));
    assert!(s.events().is_empty(), "a repeated ACK is reported once");
    assert!(s.run(secs(60.0)).is_empty(), "no more 2xx after the ACK");
    assert!(s.events().is_empty(), "no AckTimeout");
    assert_eq!(
        s.ep.server_state(key),
        None,
        "Timer L ended the transaction"
    );
    assert_eq!(s.t(), secs(32.0));
}

#[test]
fn missing_ack_for_2xx_is_reported_after_64_t1() {
    let mut s = Solo::new();
    s.feed(&request("INVITE", "z9hG4bKm1", ""));
    let key = request_key(&s.events());
    let now = s.clock.now();
    s.ep.respond(now, key, 200, "OK").unwrap();
    assert_eq!(s.sent().len(), 2, "100 Trying, 200 OK");
    assert_eq!(s.events().len(), 2, "dialog early, confirmed");
    let sent = s.run(secs(60.0));
    assert_eq!(sent.len(), 10, "0.5 1.5 3.5 7.5 11.5 ... 31.5");
    let ev = s.events();
    assert!(matches!(ev[..], [Event::AckTimeout { key: k, timer: Timer::L }] if k == key));
    assert_eq!(s.t(), secs(32.0));
}

#[test]
fn merged_request_gets_482() {
    let mut s = Solo::new();
    s.feed(&request("INVITE", "z9hG4bKp1", ""));
    let ev = s.events();
    assert_eq!(ev.len(), 1);
    s.sent();
    // The same request forked back to us by another path: new branch, same From tag/Call-ID/CSeq.
    s.feed(&request("INVITE", "z9hG4bKp2", ""));
    assert!(s.events().is_empty(), "the application never sees it");
    let sent = s.sent();
    assert_eq!(first_line(&sent[0].bytes), "SIP/2.0 482 Loop Detected");
    assert!(String::from_utf8_lossy(&sent[0].bytes).contains("branch=z9hG4bKp2"));
}

#[test]
fn cancel_answers_200_and_the_invite_487() {
    let mut s = Solo::new();
    s.feed(&request("INVITE", "z9hG4bKc1", ""));
    let key = request_key(&s.events());
    s.sent();
    s.feed(&request("CANCEL", "z9hG4bKc1", ""));
    let lines: Vec<String> = s.sent().iter().map(|t| first_line(&t.bytes)).collect();
    assert_eq!(lines, ["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]);
    assert!(matches!(&s.events()[..], [Event::Cancelled { key: k, .. }] if *k == key));
    assert_eq!(s.ep.server_state(key), Some(ServerState::Completed));
    // A CANCEL matching nothing gets 481.
    s.feed(&request("CANCEL", "z9hG4bKnone", ""));
    assert_eq!(
        first_line(&s.sent()[0].bytes),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
}

#[test]
fn request_in_unknown_dialog_gets_481() {
    let mut s = Solo::new();
    s.feed(&request("BYE", "z9hG4bKb1", ";tag=nope"));
    assert!(s.events().is_empty());
    assert_eq!(
        first_line(&s.sent()[0].bytes),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
}

#[test]
fn malformed_request_gets_a_stateless_response_naming_the_fault() {
    let mut s = Solo::new();
    let bad = request("INVITE", "z9hG4bKx1", "").replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
    s.feed(&bad);
    assert!(s.events().is_empty());
    let sent = s.sent();
    assert_eq!(
        first_line(&sent[0].bytes),
        "SIP/2.0 400 CSeq method OPTIONS does not match the request method INVITE"
    );
    assert_eq!(sent[0].remote, PEER.parse().unwrap());
    assert_eq!(s.ep.transaction_count(), (0, 0), "stateless");

    // An unsupported version: 505, answered from the salvaged headers.
    s.feed(&request("OPTIONS", "z9hG4bKx2", "").replace("SIP/2.0\n", "SIP/7.0\n"));
    let line = first_line(&s.sent()[0].bytes);
    assert!(line.starts_with("SIP/2.0 505 "), "{line}");

    // A malformed CSeq is copied as written into the 400 that names it.
    s.feed(&request("OPTIONS", "z9hG4bKx5", "").replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS"));
    let sent = s.sent();
    let text = String::from_utf8_lossy(&sent[0].bytes).into_owned();
    assert!(
        first_line(&sent[0].bytes).starts_with("SIP/2.0 400 "),
        "{text}"
    );
    assert!(first_line(&sent[0].bytes).contains("CSeq"), "{text}");
    assert!(text.contains("\r\nCSeq: one OPTIONS\r\n"), "{text}");

    // No Call-ID: nothing to build a response from; dropped.
    s.feed(&request("OPTIONS", "z9hG4bKx3", "").replace("Call-ID: call-1@10.0.0.1\n", ""));
    assert!(s.sent().is_empty());
    // A malformed ACK or response is dropped silently.
    s.feed(&request("ACK", "z9hG4bKx4", "").replace("CSeq: 1 INVITE", "CSeq: x INVITE"));
    s.feed("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKq\nContent-Length: 0\n\n");
    assert!(s.sent().is_empty() && s.events().is_empty());
}

#[test]
fn received_and_rport_are_stamped_and_used_for_the_response() {
    let mut s = Solo::new();
    let nat = request("OPTIONS", "z9hG4bKr1", "").replace(
        "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKr1",
        "SIP/2.0/UDP client.example.com:5070;branch=z9hG4bKr1;rport",
    );
    s.feed_from(Transport::Udp, "192.0.2.9:6000", &nat);
    let ev = s.events();
    let Event::Request {
        key, request: req, ..
    } = &ev[0]
    else {
        panic!("{ev:?}")
    };
    let via = req.headers.top_via().unwrap();
    assert_eq!(via.received().unwrap().to_string(), "192.0.2.9");
    assert_eq!(via.rport(), Some(Some(6000)));
    let now = s.clock.now();
    s.ep.respond(now, *key, 200, "OK").unwrap();
    let out = s.sent().remove(0);
    assert_eq!(out.remote, "192.0.2.9:6000".parse().unwrap(), "RFC 3581 §4");
    let text = String::from_utf8_lossy(&out.bytes);
    assert!(
        text.contains("received=192.0.2.9;rport=6000")
            || text.contains("rport=6000;received=192.0.2.9"),
        "{text}"
    );

    // Without rport: the received IP and the sent-by port (§18.2.2).
    let plain = request("OPTIONS", "z9hG4bKr2", "")
        .replace("call-1@", "call-2@")
        .replace(
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKr2",
            "SIP/2.0/UDP client.example.com:5070;branch=z9hG4bKr2",
        );
    s.feed_from(Transport::Udp, "192.0.2.9:6000", &plain);
    let key = request_key(&s.events());
    s.ep.respond(now, key, 200, "OK").unwrap();
    assert_eq!(s.sent()[0].remote, "192.0.2.9:5070".parse().unwrap());

    // Over TCP the response goes back on the connection it came from.
    let tcp = plain
        .replace("z9hG4bKr2", "z9hG4bKr3")
        .replace("call-2@", "call-3@");
    s.feed_from(Transport::Tcp, "192.0.2.9:41000", &tcp);
    let key = request_key(&s.events());
    s.ep.respond(now, key, 200, "OK").unwrap();
    let out = s.sent().remove(0);
    assert_eq!(
        (out.transport, out.remote),
        (Transport::Tcp, "192.0.2.9:41000".parse().unwrap())
    );

    // Same host as the source and no rport: nothing added.
    s.feed(&request("OPTIONS", "z9hG4bKr4", "").replace("call-1@", "call-4@"));
    let ev = s.events();
    let Event::Request { request: req, .. } = &ev[0] else {
        panic!()
    };
    assert!(req.headers.top_via().unwrap().received().is_none());

    // Same host as the source but rport asked for: received is added anyway
    // (RFC 3581 §4: "even if it is identical to the value of the sent-by").
    let same = request("OPTIONS", "z9hG4bKr5", "")
        .replace("call-1@", "call-5@")
        .replace("branch=z9hG4bKr5", "branch=z9hG4bKr5;rport");
    s.feed(&same);
    let ev = s.events();
    let Event::Request { request: req, .. } = &ev[0] else {
        panic!()
    };
    let via = req.headers.top_via().unwrap();
    assert_eq!(
        via.received().unwrap().to_string(),
        PEER.split(':').next().unwrap()
    );
    assert_eq!(
        via.rport().flatten(),
        Some(PEER.parse::<std::net::SocketAddr>().unwrap().port())
    );
}

#[test]
fn responses_for_another_sent_by_are_dropped() {
    let mut s = Solo::new();
    let (_, req) = s.send(sip::Method::Options, Transport::Udp);
    let resp =
        response_to(&req, "200 OK", "x").replace("10.0.0.2:5060;branch", "10.0.0.3:5060;branch");
    s.feed(&resp);
    assert!(s.events().is_empty());
    s.feed(&response_to(&req, "200 OK", "x"));
    assert_eq!(s.events().len(), 1);
}
