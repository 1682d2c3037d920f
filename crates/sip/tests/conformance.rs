//! RFC 4475 and RFC 5118 torture messages, read from `../shared/conformance`
//! (never copied into the repo), one test per message. Each gets the verdict
//! its manifest gives: `valid` and `valid-but-unusual` messages parse and
//! validate; `invalid` ones are rejected by the parser or by `validate` with
//! a reason naming the fault and the status code a UAS answers.
//!
//! If the corpus is absent the tests say so and pass as skipped.

use bytes::Bytes;
use std::path::PathBuf;

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DIALTONE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        });
    dir.is_dir().then_some(dir)
}

/// The manifest's `expected` column for `tag`.
fn expected(corpus: &str, tag: &str) -> Option<String> {
    let manifest = std::fs::read_to_string(corpus_dir()?.join(corpus).join("manifest.tsv")).ok()?;
    manifest.lines().skip(1).find_map(|l| {
        let mut cols = l.split('\t');
        (cols.next() == Some(tag)).then(|| cols.nth(2).unwrap_or_default().to_owned())
    })
}

/// Parse + validate: `Ok(msg)` or the error.
fn verdict(bytes: &[u8]) -> Result<sip::Message, sip::ParseError> {
    let msg = sip::parse_datagram(Bytes::copy_from_slice(bytes))?;
    sip::validate(&msg)?;
    Ok(msg)
}

/// Checks one message against its manifest; returns the parse result for extra assertions.
fn check(corpus: &str, file: &str, tag: &str) -> Option<Result<sip::Message, sip::ParseError>> {
    let Some(dir) = corpus_dir() else {
        eprintln!("SKIPPED: conformance corpus not found (../shared/conformance); set DIALTONE_CONFORMANCE_DIR");
        return None;
    };
    let bytes = std::fs::read(dir.join(corpus).join(file)).expect("read conformance message");
    let want =
        expected(corpus, tag).unwrap_or_else(|| panic!("{tag} missing from {corpus}/manifest.tsv"));
    let got = verdict(&bytes);
    match (want.as_str(), &got) {
        ("valid" | "valid-but-unusual", Ok(msg)) => {
            // An accepted message re-serializes byte for byte (up to Content-Length).
            let out = msg.to_bytes();
            assert_eq!(&bytes[..out.len()], &out[..], "{tag}: round trip differs");
        }
        ("valid" | "valid-but-unusual", Err(e)) => {
            panic!("{tag}: expected {want}, rejected: {e} ({})", e.status)
        }
        ("invalid", Err(e)) => {
            assert!(!e.reason.is_empty());
            assert!(matches!(e.status, 400..=699), "{tag}: status {}", e.status);
        }
        ("invalid", Ok(_)) => panic!("{tag}: expected invalid, but it was accepted"),
        (other, _) => panic!("{tag}: unknown manifest verdict {other}"),
    }
    Some(got)
}

fn reject_reason(got: Option<Result<sip::Message, sip::ParseError>>) -> Option<(String, u16)> {
    got.map(|r| {
        let e = r.expect_err("invalid message must be rejected");
        (e.reason.into_owned(), e.status)
    })
}

macro_rules! rfc4475 {
    ($($tag:ident),* $(,)?) => { mod rfc4475 { use super::*; $(
        #[test]
        fn $tag() { check("rfc4475", concat!(stringify!($tag), ".dat"), stringify!($tag)); }
    )* } };
}

macro_rules! rfc5118 {
    ($($name:ident => $tag:literal),* $(,)?) => { mod rfc5118 { use super::*; $(
        #[test]
        fn $name() { check("rfc5118", concat!("wire/", $tag, ".dat"), $tag); }
    )* } };
}

rfc4475!(
    wsinv, intmeth, esc01, escnull, esc02, lwsdisp, longreq, dblreq, semiuri, transports, mpart01,
    unreason, noreason, badinv01, clerr, ncl, scalar02, scalarlg, quotbal, ltgtruri, lwsruri,
    lwsstart, trws, escruri, baddate, regbadct, badaspec, baddn, badvers, mismatch01, mismatch02,
    bigcode, badbranch, insuf, unkscm, novelsc, unksm2, bext01, invut, regaut01, multi01, mcl01,
    bcast, zeromf, cparam01, cparam02, regescrt, sdp01, inv2543,
);

rfc5118!(
    ipv6_good => "ipv6-good",
    ipv6_bad => "ipv6-bad",
    port_ambiguous => "port-ambiguous",
    port_unambiguous => "port-unambiguous",
    via_received_param_with_delim => "via-received-param-with-delim",
    via_received_param_no_delim => "via-received-param-no-delim",
    ipv6_in_sdp => "ipv6-in-sdp",
    mult_ip_in_header => "mult-ip-in-header",
    mult_ip_in_sdp => "mult-ip-in-sdp",
    ipv4_mapped_ipv6 => "ipv4-mapped-ipv6",
    ipv6_bug_abnf_3_colons => "ipv6-bug-abnf-3-colons",
    ipv6_correct_abnf_2_colons => "ipv6-correct-abnf-2-colons",
);

/// Every message in the manifests has a test above (so a new one is not silently ignored).
#[test]
fn every_manifest_entry_is_covered() {
    let Some(dir) = corpus_dir() else {
        eprintln!("SKIPPED: conformance corpus not found");
        return;
    };
    let src = include_str!("conformance.rs");
    for corpus in ["rfc4475", "rfc5118"] {
        let manifest = std::fs::read_to_string(dir.join(corpus).join("manifest.tsv")).unwrap();
        for line in manifest.lines().skip(1) {
            let tag = line.split('\t').next().unwrap();
            let as_ident = tag.replace('-', "_");
            assert!(
                src.contains(&format!(" {as_ident},")) || src.contains(&format!("\"{tag}\"")),
                "{corpus}/{tag} has no test"
            );
        }
    }
}

// ---- What the verdicts mean in detail (beyond valid/invalid) ----

#[test]
fn specific_reasons_and_status_codes() {
    let cases: &[(&str, &str, u16)] = &[
        ("badvers", "SIP version 'SIP/7.0' is not supported", 505),
        (
            "mismatch01",
            "CSeq method INVITE does not match the request method OPTIONS",
            400,
        ),
        (
            "mismatch02",
            "CSeq method INVITE does not match the request method NEWMETHOD",
            501,
        ),
        ("clerr", "Content-Length 9999 exceeds", 400),
        ("ncl", "Content-Length", 400),
        ("mcl01", "more than one Content-Length header", 400),
        ("multi01", "more than one", 400),
        ("insuf", "missing", 400),
        ("quotbal", "quoted string", 400),
        ("ltgtruri", "Request-URI must not be enclosed", 400),
        ("lwsruri", "Request-URI contains white space", 400),
        ("lwsstart", "more than one SP", 400),
        ("trws", "white space at the end of the Request-Line", 400),
        (
            "escruri",
            "Request-URI must not contain escaped headers",
            400,
        ),
        ("baddate", "Date", 400),
        ("regbadct", "must be enclosed in '<' '>'", 400),
        ("badaspec", "white space inside '<' '>'", 400),
        ("baddn", "display name", 400),
        ("badinv01", "empty parameter", 400),
        ("scalar02", "2^32-1", 400),
        ("bigcode", "status code", 400),
        ("scalarlg", "2^32-1", 400),
    ];
    for (tag, needle, status) in cases {
        let Some((reason, got_status)) =
            reject_reason(check("rfc4475", &format!("{tag}.dat"), tag))
        else {
            return;
        };
        assert!(
            reason.contains(needle),
            "{tag}: reason {reason:?} should mention {needle:?}"
        );
        assert_eq!(got_status, *status, "{tag}: {reason}");
    }
    let Some((reason, _)) = reject_reason(check("rfc5118", "wire/ipv6-bad.dat", "ipv6-bad")) else {
        return;
    };
    assert!(reason.contains("IPv6"), "{reason}");
}

#[test]
fn typed_values_of_tricky_valid_messages() {
    let Some(Ok(msg)) = check("rfc4475", "wsinv.dat", "wsinv") else {
        return;
    };
    let h = msg.headers();
    assert_eq!(h.max_forwards().unwrap(), Some(68));
    assert_eq!(h.cseq().unwrap().seq, 9);
    let vias = h.via().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].branch().unwrap(), "z9hG4bK9ikj8");
    assert_eq!(h.to().unwrap().tag().unwrap(), "1918181833n");
    assert_eq!(
        h.from().unwrap().display_name_text().unwrap(),
        b"J Rosenberg \\\""
    );
    let unusual = h
        .iter()
        .find(|x| x.name.is("UnknownHeaderWithUnusualValue"))
        .unwrap();
    assert_eq!(unusual.value, ";;,,;;,;");

    let Some(Ok(msg)) = check("rfc4475", "intmeth.dat", "intmeth") else {
        return;
    };
    let sip::Message::Request(req) = msg else {
        panic!()
    };
    assert_eq!(
        req.method.as_bytes(),
        b"!interesting-Method0123456789_*+`.%indeed'~"
    );
    assert!(!req.method.is_known());

    let Some(Ok(msg)) = check("rfc4475", "esc02.dat", "esc02") else {
        return;
    };
    // 'C%6Fntact' is an unknown header: two Contact values, not three.
    let Some(sip::Contact::Addrs(c)) = msg.headers().contact().unwrap() else {
        panic!()
    };
    assert_eq!(c.len(), 2);

    let Some(Ok(msg)) = check("rfc4475", "semiuri.dat", "semiuri") else {
        return;
    };
    let req = msg.as_request().unwrap();
    assert_eq!(
        req.uri.user.as_deref().unwrap(),
        b"user;par=u%40example.net"
    );
    assert!(req.uri.params.is_empty());

    let Some(Ok(msg)) = check("rfc4475", "dblreq.dat", "dblreq") else {
        return;
    };
    assert!(
        msg.body().is_empty(),
        "trailing octets beyond Content-Length are not the body"
    );

    let Some(Ok(msg)) = check("rfc4475", "cparam01.dat", "cparam01") else {
        return;
    };
    let Some(sip::Contact::Addrs(c)) = msg.headers().contact().unwrap() else {
        panic!()
    };
    assert!(c[0].uri.params.is_empty() && c[0].params.contains("unknownparam"));
    let Some(Ok(msg)) = check("rfc4475", "cparam02.dat", "cparam02") else {
        return;
    };
    let Some(sip::Contact::Addrs(c)) = msg.headers().contact().unwrap() else {
        panic!()
    };
    assert!(c[0].uri.params.contains("unknownparam") && c[0].params.is_empty());

    let Some(Ok(msg)) = check("rfc4475", "escnull.dat", "escnull") else {
        return;
    };
    let Some(sip::Contact::Addrs(c)) = msg.headers().contact().unwrap() else {
        panic!()
    };
    assert_eq!(c.len(), 2);
    assert!(c
        .iter()
        .all(|na| na.uri.user_unescaped().unwrap().contains(&0)));

    let Some(Ok(msg)) = check("rfc5118", "wire/port-ambiguous.dat", "port-ambiguous") else {
        return;
    };
    let uri = &msg.as_request().unwrap().uri;
    assert_eq!(uri.port, None);
    assert_eq!(
        uri.host.as_ref().unwrap().ip(),
        Some("2001:db8::10:5070".parse().unwrap())
    );

    let Some(Ok(msg)) = check(
        "rfc5118",
        "wire/via-received-param-with-delim.dat",
        "via-received-param-with-delim",
    ) else {
        return;
    };
    let via = msg.headers().top_via().unwrap();
    assert_eq!(
        via.received().unwrap().ip(),
        Some("2001:db8::9:255".parse().unwrap())
    );

    let Some(Ok(msg)) = check(
        "rfc5118",
        "wire/ipv6-bug-abnf-3-colons.dat",
        "ipv6-bug-abnf-3-colons",
    ) else {
        return;
    };
    let want: std::net::IpAddr = "2001:db8::192.0.2.1".parse().unwrap();
    assert!(
        msg.headers()
            .via()
            .unwrap()
            .iter()
            .any(|v| v.host.ip() == Some(want))
            || msg
                .as_request()
                .unwrap()
                .uri
                .host
                .as_ref()
                .and_then(|h| h.ip())
                == Some(want)
    );
}
