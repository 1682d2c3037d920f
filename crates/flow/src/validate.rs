//! Save-time validation: a flow as JSON in, a typed [`Flow`] or every
//! error out, each with a `$`-path to the action and field it is about.
//!
//! Paths are JSONPath-style: `$` is the flow, `$.actions[3]` its fourth
//! action, `$.actions[3].option.destinations[0].target` a field inside its
//! option. Map keys are joined with a dot as they are
//! (`$.actions[2].option.target_ids.1`).

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::action::*;
use crate::datetime::parse_offset;
use crate::vars::is_name;

/// At most this many actions in one flow.
pub const MAX_ACTIONS: usize = 1000;

/// One thing wrong with a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    /// Where: `$.actions[3].option.digits`.
    pub path: String,
    /// What is wrong, in words a flow author can act on.
    pub message: String,
}

/// Checks a flow sent by a user (`{"actions": [...]}`) and returns it typed,
/// or every error found (not just the first): unknown action types (the
/// message lists the valid ones), unknown or mistyped option fields,
/// values out of range, duplicate ids, targets and `next_id`s that name no
/// action, DTMF digit strings, URLs, E.164 numbers.
pub fn validate(value: &Value) -> Result<Flow, Vec<ValidationError>> {
    let mut errs = Errors::default();
    let Some(top) = value.as_object() else {
        errs.push("$", "a flow is a JSON object: {\"actions\": [...]}");
        return Err(errs.0);
    };
    for key in top.keys().filter(|k| *k != "actions") {
        errs.push(
            format!("$.{key}"),
            format!("unknown field `{key}`, expected `actions`"),
        );
    }
    let items = match top.get("actions") {
        None => {
            errs.push("$.actions", "missing field `actions`");
            return Err(errs.0);
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            errs.push("$.actions", "`actions` must be an array of actions");
            return Err(errs.0);
        }
    };
    if items.len() > MAX_ACTIONS {
        errs.push(
            "$.actions",
            format!(
                "a flow has at most {MAX_ACTIONS} actions, this one has {}",
                items.len()
            ),
        );
    }

    // Ids are collected from the JSON, so targets are checked even when
    // the action that holds the id has errors of its own.
    let ids: Vec<Option<&str>> = items
        .iter()
        .map(|a| a.get("id").and_then(Value::as_str))
        .collect();
    let mut actions = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        actions.push(parse_action(i, item, &mut errs));
    }
    check_ids(&ids, &mut errs);
    let known: HashSet<&str> = ids.iter().flatten().copied().collect();
    for (i, action) in actions.iter().enumerate() {
        if let Some(action) = action {
            check_action(i, action, &known, &mut errs);
        }
    }
    if !errs.0.is_empty() {
        return Err(errs.0);
    }
    Ok(Flow::new(actions.into_iter().flatten().collect()))
}

/// Checks a typed flow (one built in code, or received with a redirect)
/// as [`validate`] checks a JSON one.
pub fn validate_flow(flow: &Flow) -> Result<(), Vec<ValidationError>> {
    let mut errs = Errors::default();
    if flow.actions.len() > MAX_ACTIONS {
        errs.push(
            "$.actions",
            format!(
                "a flow has at most {MAX_ACTIONS} actions, this one has {}",
                flow.actions.len()
            ),
        );
    }
    let ids: Vec<Option<&str>> = flow.actions.iter().map(|a| a.id.as_deref()).collect();
    check_ids(&ids, &mut errs);
    let known: HashSet<&str> = ids.iter().flatten().copied().collect();
    for (i, action) in flow.actions.iter().enumerate() {
        check_action(i, action, &known, &mut errs);
    }
    if errs.0.is_empty() {
        Ok(())
    } else {
        Err(errs.0)
    }
}

/// Checks an E.164 number (seed `001`, "PSTN/Phone Number Format"): `+`,
/// then 2 to 15 digits, the first not 0 (ITU-T E.164: at most 15 digits;
/// country codes never start with 0); no spaces, parentheses or hyphens.
/// The error names the number.
pub fn validate_e164(number: &str) -> Result<(), String> {
    model::validate_e164(number).map_err(|e| e.to_string())
}

/// A DTMF keypad character: `0-9`, `A-D`, `*`, `#`.
pub fn is_dtmf(c: char) -> bool {
    matches!(c, '0'..='9' | 'A'..='D' | '*' | '#')
}

#[derive(Default)]
struct Errors(Vec<ValidationError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }
}

const ACTION_FIELDS: [&str; 4] = ["id", "next_id", "type", "option"];

/// The shape of one action: its fields, type and typed option.
fn parse_action(i: usize, item: &Value, errs: &mut Errors) -> Option<Action> {
    let at = format!("$.actions[{i}]");
    let Some(obj) = item.as_object() else {
        errs.push(
            at,
            "an action is a JSON object: {\"type\": ..., \"option\": {...}}",
        );
        return None;
    };
    let mut ok = true;
    for key in obj.keys().filter(|k| !ACTION_FIELDS.contains(&k.as_str())) {
        errs.push(
            format!("{at}.{key}"),
            format!("unknown field `{key}`, expected one of `id`, `next_id`, `type`, `option`"),
        );
        ok = false;
    }
    let mut string_field = |name: &str| -> Option<String> {
        match obj.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errs.push(format!("{at}.{name}"), format!("`{name}` must be a string"));
                ok = false;
                None
            }
        }
    };
    let id = string_field("id");
    let next_id = string_field("next_id");
    let kind = match obj.get("type") {
        None => {
            errs.push(
                format!("{at}.type"),
                format!("missing field `type`, expected one of {}", KINDS.join(", ")),
            );
            return None;
        }
        Some(Value::String(kind)) => kind,
        Some(_) => {
            errs.push(
                format!("{at}.type"),
                format!("`type` must be a string, one of {}", KINDS.join(", ")),
            );
            return None;
        }
    };
    let option = obj.get("option");
    if let Some(option) = option {
        if !option.is_object() && !option.is_null() {
            errs.push(
                format!("{at}.option"),
                "`option` must be a JSON object".to_owned(),
            );
            return None;
        }
    }
    match ActionKind::parse(kind, option) {
        None => {
            errs.push(
                format!("{at}.type"),
                format!(
                    "unknown action type `{kind}`, expected one of {}",
                    KINDS.join(", ")
                ),
            );
            None
        }
        Some(Err((path, message))) => {
            errs.push(option_error_path(&at, &path, &message), message);
            None
        }
        Some(Ok(kind)) if ok => Some(Action { id, next_id, kind }),
        Some(Ok(_)) => None,
    }
}

/// The path of a serde error inside an option; for an unknown field, the
/// field itself (serde reports its parent).
fn option_error_path(at: &str, path: &str, message: &str) -> String {
    let mut full = format!("{at}.option");
    if !path.is_empty() {
        full.push('.');
        full.push_str(path);
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some(end) = rest.find('`') {
            let field = &rest[..end];
            if !full.ends_with(&format!(".{field}")) {
                full.push('.');
                full.push_str(field);
            }
        }
    }
    full
}

fn check_ids(ids: &[Option<&str>], errs: &mut Errors) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        let Some(id) = id else { continue };
        if id.is_empty() {
            errs.push(format!("$.actions[{i}].id"), "`id` must not be empty");
            continue;
        }
        if let Some(j) = first.get(id) {
            errs.push(
                format!("$.actions[{i}].id"),
                format!("duplicate id `{id}`: $.actions[{j}] has it too"),
            );
        } else {
            first.insert(id, i);
        }
    }
}

/// The checks serde cannot make: ranges, charsets, URLs, targets.
fn check_action(i: usize, action: &Action, known: &HashSet<&str>, errs: &mut Errors) {
    let at = format!("$.actions[{i}]");
    let o = format!("{at}.option");
    let target = |errs: &mut Errors, field: &str, id: &str| {
        if !known.contains(id) {
            errs.push(format!("{o}.{field}"), format!("no action has id `{id}`"));
        }
    };
    if let Some(next) = &action.next_id {
        if !known.contains(next.as_str()) {
            errs.push(
                format!("{at}.next_id"),
                format!("no action has id `{next}`"),
            );
        }
    }
    match &action.kind {
        ActionKind::Talk(t) => {
            if t.text.trim().is_empty() {
                errs.push(format!("{o}.text"), "`text` must not be empty");
            } else if t.text.chars().count() > 5000 {
                errs.push(format!("{o}.text"), "`text` is longer than 5000 characters");
            }
            if !is_language(&t.language) {
                errs.push(
                    format!("{o}.language"),
                    format!(
                        "`{}` is not a language tag like `en-US`, `ko-KR` or `de`",
                        t.language
                    ),
                );
            }
        }
        ActionKind::Play(p) => {
            if p.all_urls().next().is_none() {
                errs.push(
                    format!("{o}.urls"),
                    "give at least one file in `urls` (or `url`)",
                );
            }
            if let Some(url) = &p.url {
                check_url(errs, format!("{o}.url"), url, true);
            }
            for (j, url) in p.urls.iter().enumerate() {
                check_url(errs, format!("{o}.urls[{j}]"), url, true);
            }
            range(errs, &o, "loop_count", p.loop_count, 1, 100, "");
        }
        ActionKind::DigitsReceive(d) => {
            if let Some(length) = d.length {
                range(errs, &o, "length", length, 1, 64, " digits");
            }
            if let Some(key) = &d.key {
                if key.is_empty() {
                    errs.push(
                        format!("{o}.key"),
                        "`key` must not be empty (leave it out for no terminator)",
                    );
                } else if let Some(c) = key.chars().find(|c| !is_dtmf(*c)) {
                    errs.push(
                        format!("{o}.key"),
                        format!("`{c}` in key `{key}` is not a DTMF digit (0-9, A-D, *, #)"),
                    );
                }
            }
            range(errs, &o, "duration", d.duration, 100, 600_000, " ms");
        }
        ActionKind::DigitsSend(d) => {
            check_digits(errs, format!("{o}.digits"), &d.digits);
            range(errs, &o, "duration", d.duration, 100, 1000, " ms");
        }
        ActionKind::Connect(c) => {
            if c.destinations.is_empty() {
                errs.push(format!("{o}.destinations"), "give at least one destination");
            } else if c.destinations.len() > 16 {
                errs.push(
                    format!("{o}.destinations"),
                    format!("at most 16 destinations, got {}", c.destinations.len()),
                );
            }
            for (j, d) in c.destinations.iter().enumerate() {
                if let Err(message) = check_destination(d) {
                    errs.push(format!("{o}.destinations[{j}].target"), message);
                }
            }
            range(errs, &o, "ring_timeout", c.ring_timeout, 1, 600, " s");
        }
        ActionKind::Sleep(s) => range(errs, &o, "duration", s.duration, 1, 3_600_000, " ms"),
        ActionKind::Echo(e) => range(errs, &o, "duration", e.duration, 1, 3_600_000, " ms"),
        ActionKind::Goto(g) => {
            target(errs, "target_id", &g.target_id);
            range(errs, &o, "loop_count", g.loop_count, 1, 1000, "");
        }
        ActionKind::Branch(b) => {
            if b.variable.trim().is_empty() {
                errs.push(format!("{o}.variable"), "`variable` must not be empty");
            }
            if b.target_ids.is_empty() {
                errs.push(
                    format!("{o}.target_ids"),
                    "give at least one value: {\"1\": \"<action id>\"}",
                );
            }
            for (value, id) in &b.target_ids {
                target(errs, &format!("target_ids.{value}"), id);
            }
            if let Some(id) = &b.default_target_id {
                target(errs, "default_target_id", id);
            }
        }
        ActionKind::ConditionVariable(c) => {
            if c.variable.trim().is_empty() {
                errs.push(format!("{o}.variable"), "`variable` must not be empty");
            }
            target(errs, "false_target_id", &c.false_target_id);
        }
        ActionKind::ConditionDatetime(c) => {
            check_datetime(errs, &o, c);
            target(errs, "false_target_id", &c.false_target_id);
        }
        ActionKind::VariableSet(v) => {
            if !is_name(&v.key) {
                errs.push(
                    format!("{o}.key"),
                    format!(
                        "`{}` is not a variable name: 1 to 128 letters, digits, `_`, `.`, `-`",
                        v.key
                    ),
                );
            }
        }
        ActionKind::Fetch(f) => {
            check_url(errs, format!("{o}.url"), &f.url, false);
            if let (Some(m), Some(e)) = (f.method, f.event_method) {
                if m != e {
                    errs.push(
                        format!("{o}.event_method"),
                        "`event_method` is a synonym of `method`: give one of them",
                    );
                }
            }
        }
        ActionKind::WebhookSend(w) => check_url(errs, format!("{o}.url"), &w.url, false),
        ActionKind::Answer
        | ActionKind::Beep
        | ActionKind::RecordingStart(_)
        | ActionKind::RecordingStop
        | ActionKind::Hangup(_)
        | ActionKind::Mute(_)
        | ActionKind::Unmute
        | ActionKind::Hold
        | ActionKind::Unhold
        | ActionKind::Amd(_)
        | ActionKind::Stop => {}
    }
}

fn range<T: PartialOrd + fmt::Display>(
    errs: &mut Errors,
    option: &str,
    field: &str,
    value: T,
    lo: T,
    hi: T,
    unit: &str,
) {
    if value < lo || value > hi {
        errs.push(
            format!("{option}.{field}"),
            format!("`{field}` must be {lo} to {hi}{unit}, got {value}"),
        );
    }
}

/// A BCP-47-ish tag: a 2-3 letter language, then `-` subtags of 2 to 8
/// letters or digits.
fn is_language(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let lang = parts.next().unwrap_or("");
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A template whose fixed text is a URL: checked unless it starts with a
/// variable (which may hold the scheme and host).
fn check_url(errs: &mut Errors, path: String, url: &str, allow_file: bool) {
    if url.trim().is_empty() {
        errs.push(path, "the URL must not be empty");
        return;
    }
    if url.starts_with("${") {
        return;
    }
    let ok = ["http://", "https://"]
        .iter()
        .chain(if allow_file {
            ["file://"].iter()
        } else {
            [].iter()
        })
        .any(|scheme| url.len() > scheme.len() && url[..scheme.len()].eq_ignore_ascii_case(scheme));
    if !ok {
        let schemes = if allow_file {
            "http://, https:// or file://"
        } else {
            "http:// or https://"
        };
        errs.push(
            path,
            format!("`{url}` is not a URL starting with {schemes}"),
        );
    }
}

/// The fixed text of a template, without its `${...}` parts.
fn literal_text(template: &str) -> String {
    crate::Variables::new().substitute(template)
}

fn check_digits(errs: &mut Errors, path: String, digits: &str) {
    let templated = digits.contains("${");
    let fixed = literal_text(digits);
    if !templated && fixed.is_empty() {
        errs.push(
            path,
            "`digits` must not be empty: 1 to 32 of 0-9, A-D, *, #",
        );
    } else if let Some(c) = fixed.chars().find(|c| !is_dtmf(*c)) {
        errs.push(
            path,
            format!("`{c}` in `{digits}` is not a DTMF digit (0-9, A-D, *, #)"),
        );
    } else if fixed.chars().count() > 32 {
        errs.push(
            path,
            format!("at most 32 digits, got {}", fixed.chars().count()),
        );
    }
}

/// A destination's target for its type (skipped when it holds variables:
/// checked again when the flow runs).
fn check_destination(d: &Destination) -> Result<(), String> {
    let t = &d.target;
    if t.trim().is_empty() {
        return Err("`target` must not be empty".to_owned());
    }
    if t.contains("${") {
        return Ok(());
    }
    match d.kind {
        DestinationType::Tel => validate_e164(t),
        DestinationType::Extension => {
            if t.len() <= 32 && t.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Ok(())
            } else {
                Err(format!(
                    "extension `{t}` must be 1 to 32 letters and digits (no spaces, parentheses, hyphens or other special characters)"
                ))
            }
        }
        DestinationType::Sip => {
            let rest = t
                .strip_prefix("sip:")
                .or_else(|| t.strip_prefix("sips:"))
                .unwrap_or("");
            if rest.is_empty() || rest.contains(char::is_whitespace) {
                Err(format!(
                    "`{t}` is not a SIP URI like `sip:alice@example.com`"
                ))
            } else {
                Ok(())
            }
        }
    }
}

fn check_datetime(errs: &mut Errors, o: &str, c: &ConditionDatetimeOption) {
    if let Some(v) = c.hour {
        range(errs, o, "hour", v, 0, 23, "");
    }
    if let Some(v) = c.minute {
        range(errs, o, "minute", v, 0, 59, "");
    }
    if let Some(v) = c.day {
        range(errs, o, "day", v, 1, 31, "");
    }
    if let Some(v) = c.month {
        range(errs, o, "month", v, 1, 12, "");
    }
    if let Some(days) = &c.weekdays {
        if days.is_empty() {
            errs.push(
                format!("{o}.weekdays"),
                "`weekdays` must not be empty (leave it out for every day)",
            );
        }
        for (j, d) in days.iter().enumerate() {
            if !(1..=7).contains(d) {
                errs.push(
                    format!("{o}.weekdays[{j}]"),
                    format!("weekday {d} is not 1 (Monday) to 7 (Sunday)"),
                );
            }
        }
    }
    if let Some(tz) = &c.timezone {
        if parse_offset(tz).is_none() {
            errs.push(
                format!("{o}.timezone"),
                format!("`{tz}` is not a UTC offset like `+09:00`, `-05:30` or `UTC`"),
            );
        }
    }
    let ordered = c.hour.is_some() || c.minute.is_some() || c.day.is_some() || c.month.is_some();
    match c.condition {
        Condition::Contains => errs.push(
            format!("{o}.condition"),
            "`contains` does not apply to dates: use ==, !=, >, >=, <, <=",
        ),
        Condition::Eq | Condition::Ne if !ordered && c.weekdays.is_none() => errs.push(
            o.to_owned(),
            "give at least one of `hour`, `minute`, `day`, `month`, `weekdays`",
        ),
        Condition::Gt | Condition::Ge | Condition::Lt | Condition::Le if !ordered => errs.push(
            o.to_owned(),
            "an ordering condition needs at least one of `hour`, `minute`, `day`, `month`",
        ),
        _ => {}
    }
}
