//! Parser, typed headers and builders on hand-written messages.

use bytes::Bytes;
use sip::{
    Contact, Header, HeaderName, Host, Message, Method, NameAddr, Request, Response, Transport,
    Uri, Via,
};

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Supported: replaces, timer\r\n\
Session-Expires: 1800;refresher=uac\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

fn parse(s: &str) -> Result<Message, sip::ParseError> {
    sip::parse_message(s.as_bytes())
}

#[test]
fn typed_headers_of_a_plain_invite() {
    let msg = parse(INVITE).unwrap();
    sip::validate(&msg).unwrap();
    let req = msg.as_request().unwrap();
    assert_eq!(req.method, Method::Invite);
    assert_eq!(
        req.uri.host,
        Some(Host::Domain(Bytes::from_static(b"biloxi.example.com")))
    );
    let h = &req.headers;
    let via = h.top_via().unwrap();
    assert_eq!(via.transport, Transport::Udp);
    assert_eq!(via.branch().unwrap(), "z9hG4bK776asdhds");
    assert_eq!(via.rport(), Some(None));
    assert!(via.has_rfc3261_branch());
    assert_eq!(h.from().unwrap().tag().unwrap(), "1928301774");
    assert_eq!(h.from().unwrap().display_name_text().unwrap(), b"Alice");
    assert_eq!(h.to().unwrap().tag(), None);
    assert_eq!(
        h.call_id().unwrap(),
        "a84b4c76e66710@pc33.atlanta.example.com"
    );
    assert_eq!(h.cseq().unwrap().seq, 314159);
    assert_eq!(h.max_forwards().unwrap(), Some(70));
    assert_eq!(h.supported().unwrap(), vec!["replaces", "timer"]);
    let se = h.session_expires().unwrap().unwrap();
    assert_eq!((se.delta, se.refresher), (1800, Some(sip::Refresher::Uac)));
    assert!(h.content_type().unwrap().unwrap().is("application", "sdp"));
    assert_eq!(&msg.body()[..], b"v=0\n");
    assert_eq!(&msg.to_bytes()[..], INVITE.as_bytes());
}

#[test]
fn folded_and_compact_headers() {
    let raw = "OPTIONS sip:a@example.com SIP/2.0\r\nv: SIP/2.0/TCP h.example.com\r\n ;branch=z9hG4bKx\r\n\
f: <sip:b@example.com>\r\n\t;tag=7\r\nt: sip:a@example.com\r\ni: abc\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
    let msg = parse(raw).unwrap();
    sip::validate(&msg).unwrap();
    let h = msg.headers();
    assert_eq!(h.top_via().unwrap().branch().unwrap(), "z9hG4bKx");
    assert_eq!(h.from().unwrap().tag().unwrap(), "7");
    assert!(h
        .get(&HeaderName::Via)
        .unwrap()
        .value
        .starts_with(b"SIP/2.0/TCP h.example.com"));
    assert_eq!(
        &msg.to_bytes()[..],
        raw.as_bytes(),
        "folding is kept on the wire"
    );
}

#[test]
fn methods_are_case_sensitive() {
    let msg = parse(&INVITE.replacen("INVITE sip", "invite sip", 1)).unwrap();
    assert!(matches!(&msg.as_request().unwrap().method, Method::Extension(m) if m == "invite"));
    assert_eq!(
        sip::validate(&msg).unwrap_err().status,
        501,
        "CSeq says INVITE, method is 'invite'"
    );
}

#[test]
fn framing_of_datagrams() {
    let no_cl = INVITE.replace("Content-Length: 4\r\n", "");
    let msg = parse(&no_cl).unwrap();
    assert_eq!(
        &msg.body()[..],
        b"v=0\n",
        "no Content-Length on UDP: body is the rest"
    );
    let extra = format!("{INVITE}trailing junk");
    let msg = parse(&extra).unwrap();
    assert_eq!(&msg.body()[..], b"v=0\n");
    assert_eq!(&msg.to_bytes()[..], INVITE.as_bytes());
    let msg = parse(&format!("\r\n\r\n{INVITE}")).unwrap();
    assert_eq!(
        &msg.to_bytes()[..],
        INVITE.as_bytes(),
        "leading CRLFs are skipped"
    );
}

#[test]
fn faults_are_named() {
    let cases = [
        (
            INVITE.replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\n"),
            "bare LF",
        ),
        (
            INVITE.replace("Max-Forwards: 70", "Max-Forwards: 7\r0"),
            "bare CR",
        ),
        (
            INVITE.replace("Max-Forwards: 70", "Max-Forwards 70"),
            "without ':'",
        ),
        (
            INVITE.replace("Max-Forwards: 70", "Max Forwards: 70"),
            "invalid header name",
        ),
        (
            INVITE.replace("Max-Forwards: 70", "Max-Forwards: 256"),
            "Max-Forwards exceeds 255",
        ),
        (
            INVITE.replace("CSeq: 314159 INVITE", "CSeq: INVITE"),
            "CSeq: sequence number missing",
        ),
        (
            INVITE.replace(";branch=z9hG4bK776asdhds", ";branch="),
            "Via: parameter 'branch' has '=' but no value",
        ),
        (
            INVITE.replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia"),
            "SIP version 'SIP/3.0' is not supported",
        ),
        (
            INVITE.replace("sip:bob@biloxi.example.com SIP", "sip:bob@bi loxi SIP"),
            "white space",
        ),
        (
            INVITE.replace("sip:bob@biloxi.example.com SIP", "sip:bob@[::1 SIP"),
            "']'",
        ),
        (
            INVITE.replace(
                "Contact: <sip:alice@pc33.atlanta.example.com>",
                "Contact: <sip:alice@pc33.atlanta.example.com>;q=2",
            ),
            "q value",
        ),
        (
            INVITE.replace(
                "Session-Expires: 1800;refresher=uac",
                "Session-Expires: 1800;refresher=me",
            ),
            "refresher",
        ),
        (
            INVITE.replace(
                "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
                "Call-ID: a b",
            ),
            "Call-ID",
        ),
        (
            INVITE.replace("Content-Length: 4", "Content-Length: 5"),
            "exceeds the 4 octets",
        ),
    ];
    for (raw, needle) in cases {
        let err = parse(&raw).and_then(|m| sip::validate(&m)).unwrap_err();
        assert!(
            err.reason.contains(needle),
            "expected {needle:?} in {:?}",
            err.reason
        );
    }
}

#[test]
fn response_status_lines() {
    let base =
        "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKa\r\nTo: <sip:a@example.com>;tag=1\r\n\
From: <sip:b@example.com>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let ok = parse(&format!("SIP/2.0 180 Ringing\r\n{base}")).unwrap();
    assert_eq!(ok.as_response().unwrap().status, 180);
    assert!(
        parse(&format!("SIP/2.0 180\r\n{base}")).is_err(),
        "the SP before the phrase is required"
    );
    assert!(parse(&format!("SIP/2.0 099 Low\r\n{base}")).is_err());
    assert!(parse(&format!("SIP/2.0 18 Short\r\n{base}")).is_err());
    let empty_phrase = parse(&format!("SIP/2.0 100 \r\n{base}")).unwrap();
    assert_eq!(&empty_phrase.as_response().unwrap().reason[..], b"");
}

#[test]
fn contact_forms() {
    let v = |s: &'static str| Bytes::from_static(s.as_bytes());
    assert_eq!(Contact::parse(&v(" * ")).unwrap(), Contact::Star);
    let Contact::Addrs(list) = Contact::parse(&v(
        "\"A, B\" <sip:a@x.example>;q=0.5;expires=60, sip:b@y.example;q=1",
    ))
    .unwrap() else {
        panic!()
    };
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].params.value("expires").unwrap(), "60");
    assert!(!list[1].angle);
    assert!(
        NameAddr::parse_list(&v("sip:r@x.example"), true).is_err(),
        "Route needs <>"
    );
}

#[test]
fn extension_headers_parse() {
    let v = |s: &'static str| Bytes::from_static(s.as_bytes());
    let r = sip::Replaces::parse(&v(
        "98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff;early-only",
    ))
    .unwrap();
    assert_eq!(r.call_id, "98732@sip.example.com");
    assert_eq!(
        (r.from_tag.as_ref(), r.to_tag.as_ref(), r.early_only),
        (&b"r33th4x0r"[..], &b"ff87ff"[..], true)
    );
    assert!(sip::Replaces::parse(&v("98732@sip.example.com;from-tag=a")).is_err());
    let rack = sip::RAck::parse(&v("776656 1 INVITE")).unwrap();
    assert_eq!(
        (rack.rseq, rack.cseq, rack.method),
        (776656, 1, Method::Invite)
    );
    let na = NameAddr::parse_single(&v(
        "<sip:carol@chicago.example.com?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345>",
    ))
    .unwrap();
    assert!(
        na.uri.headers.is_some(),
        "Refer-To may embed escaped headers"
    );
}

#[test]
fn built_messages_are_canonical_and_reparse() {
    let uri = Uri::from_text("sip:bob@192.0.2.4:5062;transport=tcp").unwrap();
    let mut req = Request::new(Method::Invite, uri.clone());
    let via = Via::new(
        Transport::Tcp,
        Host::Ipv4("192.0.2.1".parse().unwrap()),
        Some(5060),
        "z9hG4bKabc",
    );
    req.headers.push(Header::typed(HeaderName::Via, &via));
    req.headers.push(Header::new(HeaderName::MaxForwards, "70"));
    let mut from = NameAddr::new(Uri::from_text("sip:alice@example.com").unwrap());
    from.set_tag("a1");
    req.headers.push(Header::typed(HeaderName::From, &from));
    req.headers
        .push(Header::typed(HeaderName::To, &NameAddr::new(uri)));
    req.headers
        .push(Header::new(HeaderName::CallId, "c1@example.com"));
    req.headers.push(Header::typed(
        HeaderName::CSeq,
        &sip::CSeq {
            seq: 1,
            method: Method::Invite,
        },
    ));
    req.set_body(Some("application/sdp"), Bytes::from_static(b"v=0\r\n"));
    let bytes = req.to_bytes();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with("INVITE sip:bob@192.0.2.4:5062;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKabc;rport\r\n"), "{text}");
    assert!(
        text.contains("\r\nFrom: <sip:alice@example.com>;tag=a1\r\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"),
        "{text}"
    );
    let back = sip::parse_datagram(bytes.clone()).unwrap();
    sip::validate(&back).unwrap();
    assert_eq!(back.to_bytes(), bytes);

    let mut resp = Response::for_request(back.as_request().unwrap(), 200, "OK");
    let mut to = resp.headers.to().unwrap();
    to.set_tag("b2");
    resp.headers.set(Header::typed(HeaderName::To, &to));
    let resp = sip::parse_datagram(resp.to_bytes()).unwrap();
    sip::validate(&resp).unwrap();
    assert_eq!(resp.headers().to().unwrap().tag().unwrap(), "b2");
    assert_eq!(
        resp.headers().top_via().unwrap().branch().unwrap(),
        "z9hG4bKabc"
    );
    assert_eq!(resp.headers().content_length().unwrap(), Some(0));
}

#[test]
fn via_received_and_rport() {
    let mut via = sip::parse_message(INVITE.as_bytes())
        .unwrap()
        .headers()
        .top_via()
        .unwrap();
    via.set_param("received", Some("192.0.2.7".into()));
    via.set_param("rport", Some("5099".into()));
    assert_eq!(via.rport(), Some(Some(5099)));
    assert_eq!(
        via.received().unwrap().ip(),
        Some("192.0.2.7".parse().unwrap())
    );
    let again = Via::parse_list(&Bytes::from(via.to_string())).unwrap();
    assert_eq!(again[0], via);
}
