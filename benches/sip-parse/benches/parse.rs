//! Parse a typical ~900-byte INVITE with SDP and read the headers a stack
//! needs typed (Via branch, From tag and URI, To URI, CSeq number and method,
//! Call-ID, Contact URI): Dialtone's `sip` against `sipx-sip` 1.0.1 and
//! `rsipstack` 0.7.14's own parser (`rsipstack::sip`), in the same run. Also
//! Dialtone's parse + `validate`.
//!
//! Each library types every header exactly once with its public API and the
//! results are read through `black_box`; nothing of ours allocates inside the
//! measured loop. Before measuring, each library must have accepted the
//! message and read the expected values, and a strictness table is printed for
//! RFC 4475's invalid messages (read from `../../../shared/conformance` at run
//! time, skipped if absent).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rsipstack::sip::{HeadersExt, ToTypedHeader};
use std::hint::black_box;

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

/// The typed values every library must read from a message, borrowed from
/// that library's own typed headers.
#[derive(Debug, PartialEq, Eq)]
struct Typed<'a> {
    branch: &'a [u8],
    from_tag: &'a [u8],
    cseq: u32,
    call_id: &'a [u8],
}

const EXPECTED: Typed<'static> = Typed {
    branch: b"z9hG4bK776asdhds",
    from_tag: b"1928301774",
    cseq: 314159,
    call_id: b"a84b4c76e66710@pc33.atlanta.example.com",
};

// Each measured function is `#[inline(never)]`: one symbol per library for
// `valgrind --tool=callgrind --toggle-collect=...`, and no hoisting of work
// out of criterion's loop.

/// Dialtone: headers are kept raw and typed on demand by `Headers` accessors.
#[inline(never)]
fn dialtone<R>(raw: &Bytes, read: impl FnOnce(Typed<'_>) -> R) -> Option<R> {
    let msg = sip::parse_datagram(raw.clone()).ok()?;
    let h = msg.headers();
    let via = h.top_via().ok()?;
    let from = h.from().ok()?;
    let to = h.to().ok()?;
    let cseq = h.cseq().ok()?;
    let call_id = h.call_id().ok()?;
    let contact = h.contact().ok()??;
    black_box((&to.uri, &from.uri, &contact, &cseq.method));
    Some(read(Typed {
        branch: via.branch()?,
        from_tag: from.tag()?,
        cseq: cseq.seq,
        call_id: &call_id,
    }))
}

/// sipx-sip: headers are kept raw and typed on demand by `Headers::typed`.
#[inline(never)]
fn sipx<R>(raw: &Bytes, read: impl FnOnce(Typed<'_>) -> R) -> Option<R> {
    let msg = sipx_sip::parse_datagram(raw.clone(), &sipx_sip::Limits::datagram()).ok()?;
    let h = msg.headers();
    let via = h.typed::<sipx_sip::Via>()?.ok()?;
    let from = h.typed::<sipx_sip::headers::From>()?.ok()?;
    let to = h.typed::<sipx_sip::headers::To>()?.ok()?;
    let cseq = h.typed::<sipx_sip::CSeq>()?.ok()?;
    let call_id = h.typed::<sipx_sip::CallId>()?.ok()?;
    let contact = h.typed::<sipx_sip::headers::ContactValue>()?.ok()?;
    black_box((&to.0.uri, &from.0.uri, &contact, &cseq.method));
    Some(read(Typed {
        branch: via.branch()?,
        from_tag: from.0.tag()?,
        cseq: cseq.sequence,
        call_id: &call_id.0,
    }))
}

/// rsipstack: `parse_message` splits the head into untyped string headers;
/// `typed()` (its accessor, which clones the string and parses it) types
/// each one once. Call-ID has no typed form beyond its string.
#[inline(never)]
fn rsipstack_parse<R>(raw: &Bytes, read: impl FnOnce(Typed<'_>) -> R) -> Option<R> {
    let msg = rsipstack::sip::parser::parse_message(raw).ok()?;
    let via = msg.via_header().ok()?.typed().ok()?;
    let from = msg.from_header().ok()?.typed().ok()?;
    let to = msg.to_header().ok()?.typed().ok()?;
    let cseq = msg.cseq_header().ok()?.typed().ok()?;
    let call_id = msg.call_id_header().ok()?;
    let contact = msg.contact_header().ok()?.typed().ok()?;
    black_box((&to.uri, &from.uri, &contact.uri, &cseq.method));
    Some(read(Typed {
        branch: via.branch()?.value().as_bytes(),
        from_tag: from.tag()?.value().as_bytes(),
        cseq: cseq.seq,
        call_id: call_id.value().as_bytes(),
    }))
}

/// Dialtone's full UAS check: parse, then `validate` (types every header it knows).
#[inline(never)]
fn dialtone_validated(raw: &Bytes) -> Option<sip::Message> {
    let msg = sip::parse_datagram(raw.clone()).ok()?;
    sip::validate(&msg).ok()?;
    Some(msg)
}

/// RFC 4475 invalid messages: which library takes each one as a message it
/// could act on. Printed, not asserted: it is context for the timings.
fn strictness() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/rfc4475");
    let Ok(manifest) = std::fs::read_to_string(dir.join("manifest.tsv")) else {
        println!(
            "strictness: {} absent, skipped",
            dir.join("manifest.tsv").display()
        );
        return;
    };
    println!("\nstrictness on RFC 4475 invalid messages (A = accepted, - = rejected):");
    println!("  dialtone: parse_datagram | + validate");
    println!("  sipx-sip: parse_datagram | + validate() with no findings");
    println!("  rsipstack: parse_message | + typed Via, From, To, CSeq (it has no validator)");
    println!(
        "{:<11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "message", "dt parse", "dt valid", "sx parse", "sx valid", "rs parse", "rs typed"
    );
    let mut accepted = [0; 6];
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
        let dt = sip::parse_datagram(raw.clone()).ok();
        let sx = sipx_sip::parse_datagram(raw.clone(), &sipx_sip::Limits::datagram()).ok();
        let rs = rsipstack::sip::parser::parse_message(&raw).ok();
        let verdicts = [
            dt.is_some(),
            dt.is_some_and(|m| sip::validate(&m).is_ok()),
            sx.is_some(),
            sx.is_some_and(|m| sipx_sip::validate::validate(&m).is_empty()),
            rs.is_some(),
            rs.is_some_and(|m| {
                m.via_header().is_ok_and(|v| v.typed().is_ok())
                    && m.from_header().is_ok_and(|v| v.typed().is_ok())
                    && m.to_header().is_ok_and(|v| v.typed().is_ok())
                    && m.cseq_header().is_ok_and(|v| v.typed().is_ok())
            }),
        ];
        let mut row = format!("{:<11}", cols[0]);
        for (n, ok) in accepted.iter_mut().zip(verdicts) {
            *n += usize::from(ok);
            row.push_str(&format!(" {:>9}", if ok { "A" } else { "-" }));
        }
        println!("{row}");
        total += 1;
    }
    let mut row = format!("{:<11}", format!("accepted/{total}"));
    for n in accepted {
        row.push_str(&format!(" {n:>9}"));
    }
    println!("{row}\n");
}

fn bench(c: &mut Criterion) {
    let raw = Bytes::from_static(INVITE.as_bytes());
    assert!(
        (850..=1000).contains(&raw.len()),
        "INVITE is {} bytes",
        raw.len()
    );
    // Never measure an error path: each library must accept the INVITE and
    // read the expected values.
    dialtone(&raw, |t| assert_eq!(t, EXPECTED, "dialtone")).expect("dialtone rejected it");
    sipx(&raw, |t| assert_eq!(t, EXPECTED, "sipx-sip")).expect("sipx-sip rejected it");
    rsipstack_parse(&raw, |t| assert_eq!(t, EXPECTED, "rsipstack")).expect("rsipstack rejected it");
    dialtone_validated(&raw).expect("dialtone validate rejected it");
    strictness();

    let mut g = c.benchmark_group("invite_parse_and_type");
    g.throughput(Throughput::Elements(1));
    g.bench_function("dialtone", |b| {
        b.iter(|| dialtone(black_box(&raw), |t| black_box(t).cseq))
    });
    g.bench_function("sipx-sip", |b| {
        b.iter(|| sipx(black_box(&raw), |t| black_box(t).cseq))
    });
    g.bench_function("rsipstack", |b| {
        b.iter(|| rsipstack_parse(black_box(&raw), |t| black_box(t).cseq))
    });
    g.finish();

    let mut g = c.benchmark_group("invite_parse_and_validate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("dialtone", |b| {
        b.iter(|| dialtone_validated(black_box(&raw)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
