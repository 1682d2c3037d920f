//! `dialtone sip-check FILE... | -`: one JSON verdict line per SIP message.
//!
//! Each file (or standard input, `-`) holds one message as it would arrive in
//! a UDP datagram. The verdict is what Dialtone's SIP stack decides: `valid`
//! when it parses and passes `sip::validate`, else `invalid` with the reason
//! and the status code a UAS answers (for a response: it is dropped).
//! Valid messages may carry `notes`: unusual features a UAS would still
//! refuse by policy (unknown URI scheme → 416, unknown Require → 420, ...).

use bytes::Bytes;
use serde::Serialize;
use std::io::{Read, Write};

/// Exit status: every message valid.
pub const EXIT_VALID: i32 = 0;
/// Exit status: at least one message invalid (or unreadable).
pub const EXIT_INVALID: i32 = 1;
/// Exit status: usage error.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Serialize)]
pub struct Verdict {
    pub file: String,
    pub verdict: &'static str,
    pub reason: Option<String>,
    pub status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_code: Option<u16>,
    pub call_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Runs the checker over `paths`, writing JSON lines to `out`; returns the exit status.
pub fn run(paths: &[String], stdin: &mut dyn Read, out: &mut dyn Write) -> i32 {
    if paths.is_empty() {
        let _ = writeln!(std::io::stderr(), "usage: dialtone sip-check FILE... | -");
        return EXIT_USAGE;
    }
    let mut status = EXIT_VALID;
    for path in paths {
        let data = if path == "-" {
            let mut buf = Vec::new();
            stdin.read_to_end(&mut buf).map(|_| buf)
        } else {
            std::fs::read(path)
        };
        let verdict = match data {
            Ok(bytes) => check_bytes(path, &bytes),
            Err(e) => Verdict {
                file: path.clone(),
                verdict: "invalid",
                reason: Some(format!("cannot read file: {e}")),
                status_code: None,
                method: None,
                response_code: None,
                call_id: None,
                notes: Vec::new(),
            },
        };
        if verdict.verdict != "valid" {
            status = EXIT_INVALID;
        }
        let line = serde_json::to_string(&verdict).unwrap_or_else(|_| String::from("{}"));
        if writeln!(out, "{line}").is_err() {
            return EXIT_INVALID;
        }
    }
    status
}

/// The verdict on one message. Never panics: a panic in the parser would be a
/// bug, and is reported as an invalid message rather than crashing the tool.
pub fn check_bytes(file: &str, bytes: &[u8]) -> Verdict {
    let data = Bytes::copy_from_slice(bytes);
    match std::panic::catch_unwind(|| judge(file, data)) {
        Ok(v) => v,
        Err(_) => Verdict {
            file: file.to_owned(),
            verdict: "invalid",
            reason: Some("internal error while parsing (please report this message)".into()),
            status_code: Some(500),
            method: None,
            response_code: None,
            call_id: None,
            notes: Vec::new(),
        },
    }
}

fn judge(file: &str, data: Bytes) -> Verdict {
    let parsed = sip::parse_datagram(data.clone());
    let (method, response_code, call_id) = match &parsed {
        Ok(msg) => {
            let (m, r) = match msg {
                sip::Message::Request(req) => (Some(req.method.to_string()), None),
                sip::Message::Response(resp) => (None, Some(resp.status)),
            };
            let call_id = msg
                .headers()
                .get(&sip::HeaderName::CallId)
                .map(|h| String::from_utf8_lossy(&h.value).into_owned());
            (m, r, call_id)
        }
        Err(_) => best_effort_ids(&data),
    };
    let result = parsed.and_then(|msg| sip::validate(&msg).map(|()| msg));
    match result {
        Ok(msg) => Verdict {
            file: file.to_owned(),
            verdict: "valid",
            reason: None,
            status_code: None,
            method,
            response_code,
            call_id,
            notes: notes(&msg),
        },
        Err(e) => Verdict {
            file: file.to_owned(),
            verdict: "invalid",
            reason: Some(e.reason.into_owned()),
            status_code: Some(e.status),
            method,
            response_code,
            call_id,
            notes: Vec::new(),
        },
    }
}

/// For a message the parser rejected: the method or status code and the
/// Call-ID as they appear, so an admin can find the message in a capture.
fn best_effort_ids(data: &[u8]) -> (Option<String>, Option<u16>, Option<String>) {
    let text = String::from_utf8_lossy(&data[..data.len().min(64 * 1024)]);
    let mut lines = text.split("\r\n").skip_while(|l| l.is_empty());
    let first = lines.next().unwrap_or_default();
    let (mut method, mut code) = (None, None);
    if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
        code = rest
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (100..=699).contains(c));
    } else if let Some(tok) = first.split(' ').next() {
        if !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_graphic()) && !tok.starts_with("SIP/")
        {
            method = Some(tok.to_owned());
        }
    }
    let call_id = lines.take_while(|l| !l.is_empty()).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i"))
            .then(|| value.trim().to_owned())
    });
    (method, code, call_id)
}

/// Unusual but valid features, and what a UAS does about them (RFC 4475 §3.3).
fn notes(msg: &sip::Message) -> Vec<String> {
    let mut notes = Vec::new();
    let h = msg.headers();
    if let Ok(via) = h.top_via() {
        if !via.has_rfc3261_branch()
            || via
                .branch()
                .is_some_and(|b| b.len() == sip::BRANCH_MAGIC_COOKIE.len())
        {
            notes.push(
                "top Via has no RFC 3261 branch: RFC 2543 transaction matching applies".into(),
            );
        }
    }
    if let Ok(vias) = h.via() {
        for via in vias.iter().skip(1) {
            if let Some(std::net::IpAddr::V4(a)) = via.host.ip() {
                if a.is_broadcast() || a.is_multicast() {
                    notes.push(format!(
                        "a Via names {a}: a proxy must never send the response there"
                    ));
                }
            }
        }
    }
    let sip::Message::Request(req) = msg else {
        return notes;
    };
    if let sip::Scheme::Other(s) = &req.uri.scheme {
        notes.push(format!(
            "Request-URI scheme '{}' is not supported: a UAS answers 416",
            String::from_utf8_lossy(s)
        ));
    }
    if let Ok(req_tags) = h.require() {
        if !req_tags.is_empty() {
            let tags: Vec<_> = req_tags
                .iter()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .collect();
            notes.push(format!(
                "Require: {}: a UAS that lacks these extensions answers 420",
                tags.join(", ")
            ));
        }
    }
    if h.max_forwards().ok().flatten() == Some(0) {
        notes.push("Max-Forwards is 0: a proxy answers 483, an endpoint processes it".into());
    }
    if h.max_forwards().ok().flatten().is_none() {
        notes.push("no Max-Forwards header (RFC 2543 style)".into());
    }
    if let Ok(Some(ct)) = h.content_type() {
        if req.method == sip::Method::Invite
            && !ct.is("application", "sdp")
            && !ct.is("multipart", "mixed")
        {
            notes.push("INVITE body is not SDP: a UAS answers 415".into());
        }
    }
    for name in [sip::HeaderName::From, sip::HeaderName::To] {
        let scheme_ok = match name {
            sip::HeaderName::From => h
                .from()
                .map(|a| a.uri.is_sip() || a.uri.scheme == sip::Scheme::Tel),
            _ => h
                .to()
                .map(|a| a.uri.is_sip() || a.uri.scheme == sip::Scheme::Tel),
        };
        if scheme_ok == Ok(false) {
            notes.push(format!("{name} URI is neither SIP, SIPS nor tel"));
        }
    }
    if h.authorization()
        .is_ok_and(|a| a.iter().any(|a| !a.is_digest()))
    {
        notes.push("Authorization uses an unknown scheme: it never authenticates".into());
    }
    notes
}
