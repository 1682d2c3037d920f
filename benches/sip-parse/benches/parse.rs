//! Parse a typical ~900-byte INVITE with SDP and read the headers a stack
//! needs typed (Via branch, From tag and URI, To URI, CSeq, Call-ID,
//! Contact URI): Dialtone's `sip` against `sipx-sip` 1.0.1 and `rsipstack`
//! 0.7.14's parser, in the same run. Also Dialtone's parse + `validate`.
//! Before measuring, each library must have accepted the message and read
//! the right values, and a strictness table is printed for RFC 4475's
//! invalid messages (read from ../../../shared/conformance if present).

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rsipstack::sip::{HeadersExt, ToTypedHeader};

const INVITE: &str = "INVITE sip:bob@biloxi.example.com:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: \"Bob Biloxi\" <sip:bob@biloxi.example.com>\r\n\
From: \"Alice Atlanta\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: Dialtone-Bench/1.0 (softphone)\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 318\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=Session SDP\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 9 101 111\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// What each library must read from INVITE.
#[derive(Debug, PartialEq)]
struct Seen {
    branch: String,
    from_tag: String,
    cseq: u32,
    call_id: String,
}

fn expected() -> Seen {
    Seen {
        branch: "z9hG4bK776asdhds".into(),
        from_tag: "1928301774".into(),
        cseq: 314159,
        call_id: "a84b4c76e66710@pc33.atlanta.example.com".into(),
    }
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn dialtone(raw: &Bytes) -> Option<Seen> {
    let msg = sip::parse_datagram(raw.clone()).ok()?;
    let h = msg.headers();
    let via = h.top_via().ok()?;
    let from = h.from().ok()?;
    let to = h.to().ok()?;
    let cseq = h.cseq().ok()?;
    let call_id = h.call_id().ok()?;
    let contact = h.contact().ok()?;
    black_box((&to.uri, &from.uri, &contact, &cseq.method));
    Some(Seen {
        branch: s(via.branch()?),
        from_tag: s(from.tag()?),
        cseq: cseq.seq,
        call_id: s(&call_id),
    })
}

fn sipx(raw: &Bytes) -> Option<Seen> {
    let msg = sipx_sip::parse_datagram(raw.clone(), &sipx_sip::Limits::datagram()).ok()?;
    let h = msg.headers();
    let via = h.typed::<sipx_sip::Via>()?.ok()?;
    let from = h.typed::<sipx_sip::headers::From>()?.ok()?;
    let to = h.typed::<sipx_sip::headers::To>()?.ok()?;
    let cseq = h.typed::<sipx_sip::CSeq>()?.ok()?;
    let call_id = h.typed::<sipx_sip::CallId>()?.ok()?;
    let contact = h.typed::<sipx_sip::headers::ContactValue>()?.ok()?;
    black_box((&to.0.uri, &from.0.uri, &contact, &cseq.method));
    Some(Seen {
        branch: s(via.branch()?),
        from_tag: s(from.0.tag()?),
        cseq: cseq.sequence,
        call_id: s(&call_id.0),
    })
}

fn rsipstack_parse(raw: &Bytes) -> Option<Seen> {
    let msg = rsipstack::sip::parser::parse_message(raw).ok()?;
    let rsipstack::sip::SipMessage::Request(req) = msg else {
        return None;
    };
    let via = req.via_header().ok()?.typed().ok()?;
    let from = req.from_header().ok()?;
    let to = req.to_header().ok()?;
    let cseq = req.cseq_header().ok()?;
    let call_id = req.call_id_header().ok()?;
    let contact = req.contact_header().ok()?.typed().ok()?;
    black_box((
        to.uri().ok()?,
        from.uri().ok()?,
        &contact,
        cseq.method().ok()?,
    ));
    Some(Seen {
        branch: via.branch()?.to_string(),
        from_tag: from.tag().ok()??.to_string(),
        cseq: cseq.seq().ok()?,
        call_id: call_id.value().to_string(),
    })
}

fn strictness() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/rfc4475");
    let Ok(manifest) = std::fs::read_to_string(dir.join("manifest.tsv")) else {
        println!("strictness: ../shared/conformance absent, skipped");
        return;
    };
    println!("\nstrictness on RFC 4475 invalid messages (each library's own verdict: Dialtone parse + validate,");
    println!("sipx-sip parse_datagram + validate() with no findings, rsipstack parse_message):");
    println!(
        "{:<12} {:>10} {:>10} {:>10}",
        "message", "dialtone", "sipx-sip", "rsipstack"
    );
    let mut accepted = [0; 3];
    let mut total = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.get(3) != Some(&"invalid") {
            continue;
        }
        let Ok(bytes) = std::fs::read(dir.join(format!("{}.dat", cols[0]))) else {
            continue;
        };
        let raw = Bytes::from(bytes);
        // Dialtone's verdict is parse + validate, what its UAS applies.
        let d = sip::parse_datagram(raw.clone()).is_ok_and(|m| sip::validate(&m).is_ok());
        let x = sipx_sip::parse_datagram(raw.clone(), &sipx_sip::Limits::datagram())
            .is_ok_and(|m| sipx_sip::validate::validate(&m).is_empty());
        let r = rsipstack::sip::parser::parse_message(&raw).is_ok();
        for (i, ok) in [d, x, r].into_iter().enumerate() {
            accepted[i] += usize::from(ok);
        }
        total += 1;
        let v = |ok: bool| if ok { "ACCEPTS" } else { "rejects" };
        println!("{:<12} {:>10} {:>10} {:>10}", cols[0], v(d), v(x), v(r));
    }
    println!(
        "invalid messages accepted: dialtone {}/{total}, sipx-sip {}/{total}, rsipstack {}/{total}\n",
        accepted[0], accepted[1], accepted[2]
    );
}

fn bench(c: &mut Criterion) {
    let raw = Bytes::from_static(INVITE.as_bytes());
    assert!(
        (850..=1000).contains(&raw.len()),
        "INVITE is {} bytes",
        raw.len()
    );
    assert_eq!(dialtone(&raw), Some(expected()), "dialtone");
    assert_eq!(sipx(&raw), Some(expected()), "sipx-sip");
    assert_eq!(rsipstack_parse(&raw), Some(expected()), "rsipstack");
    strictness();

    let mut g = c.benchmark_group("invite_parse_and_type");
    g.throughput(Throughput::Elements(1));
    g.bench_function("dialtone", |b| b.iter(|| dialtone(black_box(&raw))));
    g.bench_function("sipx-sip", |b| b.iter(|| sipx(black_box(&raw))));
    g.bench_function("rsipstack", |b| b.iter(|| rsipstack_parse(black_box(&raw))));
    g.finish();

    let mut g = c.benchmark_group("invite_parse_and_validate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("dialtone", |b| {
        b.iter(|| {
            let m = sip::parse_datagram(black_box(raw.clone())).unwrap();
            sip::validate(&m).unwrap();
            m
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
