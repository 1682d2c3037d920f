//! Save-time validation and the JSON Schema.

use flow::{validate, validate_e164, ActionKind, Flow, ValidationError, KINDS};
use serde_json::{json, Value};

fn errors(flow: Value) -> Vec<ValidationError> {
    match validate(&flow) {
        Ok(f) => panic!("accepted: {f:?}"),
        Err(e) => e,
    }
}

fn error_at<'a>(errs: &'a [ValidationError], path: &str) -> &'a str {
    &errs
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no error at {path}: {errs:#?}"))
        .message
}

/// Every kind, each with its options set: a flow that must pass.
fn every_kind() -> Value {
    json!({"actions": [
        {"id": "start", "type": "answer"},
        {"type": "talk", "option": {"text": "Hello ${call.source.name}", "language": "ko-KR", "gender": "male"}},
        {"type": "play", "option": {"url": "https://m.example/a.wav", "urls": ["file:///m/b.wav"], "loop_count": 2}},
        {"type": "beep"},
        {"type": "digits_receive", "option": {"length": 4, "key": "#*", "duration": 8000}},
        {"type": "digits_send", "option": {"digits": "1234#*AD", "duration": 100}},
        {"type": "recording_start", "option": {"direction": "in", "channels": "stereo"}},
        {"type": "recording_stop"},
        {"type": "connect", "option": {"destinations": [
            {"type": "extension", "target": "200", "name": "Bob"},
            {"type": "tel", "target": "+821021656521"},
            {"type": "sip", "target": "sip:carol@example.com"}
        ], "ring_method": "linear", "ring_timeout": 20, "early_media": true}},
        {"type": "hangup", "option": {"reason": "busy"}},
        {"type": "sleep", "option": {"duration": 500}},
        {"type": "echo", "option": {"duration": 10000}},
        {"type": "mute", "option": {"direction": "both"}},
        {"type": "unmute"},
        {"type": "hold"},
        {"type": "unhold", "option": {}},
        {"type": "goto", "option": {"target_id": "start", "loop_count": 3}},
        {"type": "branch", "option": {"variable": "digits", "target_ids": {"1": "start"}, "default_target_id": "end"}},
        {"type": "condition_variable", "option": {"condition": "contains", "variable": "${call.source.target}", "value": "+82", "false_target_id": "end"}},
        {"type": "condition_datetime", "option": {"condition": "==", "hour": 9, "minute": 0, "day": 1, "month": 12,
            "weekdays": [1, 7], "timezone": "-05:30", "false_target_id": "end"}},
        {"type": "variable_set", "option": {"key": "customer.tier", "value": "gold"}},
        {"type": "fetch", "option": {"url": "https://app.example/next", "event_method": "GET"}},
        {"type": "webhook_send", "option": {"url": "https://app.example/hook", "sync": true, "data_type": "application/json"}},
        {"type": "amd", "option": {"machine_handle": "continue", "async": true}},
        {"id": "end", "next_id": "start", "type": "stop"}
    ]})
}

#[test]
fn every_kind_validates_and_round_trips() {
    let flow = validate(&every_kind()).unwrap_or_else(|e| panic!("{e:#?}"));
    let kinds: Vec<&str> = flow.actions.iter().map(|a| a.kind.name()).collect();
    assert_eq!(kinds, KINDS, "the sample covers every kind, in order");
    let json = serde_json::to_value(&flow).unwrap();
    assert_eq!(validate(&json).unwrap(), flow);
    let back: Flow = serde_json::from_value(json).unwrap();
    assert_eq!(back, flow);
    // Defaults are filled in.
    let ActionKind::Talk(t) =
        &validate(&json!({"actions": [{"type": "talk", "option": {"text": "x"}}]}))
            .unwrap()
            .actions[0]
            .kind
    else {
        panic!()
    };
    assert_eq!(
        (t.language.as_str(), t.gender),
        ("en-US", flow::Gender::Female)
    );
}

#[test]
fn options_may_be_left_out_only_without_required_fields() {
    let flow = validate(&json!({"actions": [
        {"type": "answer"}, {"type": "hangup"}, {"type": "recording_start", "option": null},
        {"type": "digits_receive"}, {"type": "stop"}
    ]}))
    .unwrap();
    assert_eq!(flow.actions.len(), 5);
    let errs = errors(json!({"actions": [{"type": "talk"}]}));
    assert_eq!(
        error_at(&errs, "$.actions[0].option"),
        "missing field `text`"
    );
}

#[test]
fn many_errors_at_once_each_with_its_path() {
    let errs = errors(json!({
        "actions": [
            {"id": "a", "type": "answer", "option": {"early": true}},
            {"type": "tlak", "option": {"text": "hi"}},
            {"type": "digits_receive", "option": {"lenght": 4}},
            {"type": "digits_send", "option": {"digits": "12x4"}},
            {"id": "a", "type": "goto", "option": {"target_id": "menu", "loop_count": 0}},
            {"type": "connect", "option": {"destinations": []}},
            {"type": "connect", "option": {"destinations": [
                {"type": "tel", "target": "+82 10 2165"},
                {"type": "extension", "target": "20-0"},
                {"type": "tel", "target": "+821021656521"}
            ], "ring_timeout": 0}},
            {"type": "sleep", "option": {"duration": 0}},
            {"type": "talk", "option": {"text": "hi"}, "next_id": "nowhere", "label": "x"},
            {"type": "branch", "option": {"target_ids": {"1": "a", "2": "two"}}},
            {"type": "condition_datetime", "option": {"condition": "contains", "hour": 25, "weekdays": [0], "timezone": "Asia/Seoul", "false_target_id": "a"}},
            {"type": "digits_receive", "option": {"length": 65, "key": "#x", "duration": 50}},
            {"type": "play", "option": {"urls": ["ftp://x/y.wav"]}},
            {"type": "fetch", "option": {"url": "https://a.example", "method": "POST", "event_method": "GET"}},
            {"type": "talk", "option": {"text": "x", "language": "english!"}},
            {"type": "mute", "option": {"direction": "sideways"}},
            {"type": "variable_set", "option": {"key": "bad key", "value": "1"}},
            "answer"
        ],
        "name": "my flow"
    }));
    let expect = [
        ("$.name", "unknown field `name`"),
        ("$.actions[0].option.early", "unknown field `early`"),
        (
            "$.actions[1].type",
            "unknown action type `tlak`, expected one of answer, talk, play,",
        ),
        (
            "$.actions[2].option.lenght",
            "unknown field `lenght`, expected one of `length`, `key`, `duration`",
        ),
        (
            "$.actions[3].option.digits",
            "`x` in `12x4` is not a DTMF digit",
        ),
        (
            "$.actions[4].id",
            "duplicate id `a`: $.actions[0] has it too",
        ),
        ("$.actions[4].option.target_id", "no action has id `menu`"),
        (
            "$.actions[4].option.loop_count",
            "`loop_count` must be 1 to 1000, got 0",
        ),
        (
            "$.actions[5].option.destinations",
            "give at least one destination",
        ),
        (
            "$.actions[6].option.destinations[0].target",
            "'+82 10 2165' is not an E.164 number",
        ),
        (
            "$.actions[6].option.destinations[1].target",
            "extension `20-0` must be 1 to 32 letters and digits",
        ),
        (
            "$.actions[6].option.ring_timeout",
            "`ring_timeout` must be 1 to 600 s, got 0",
        ),
        (
            "$.actions[7].option.duration",
            "`duration` must be 1 to 3600000 ms, got 0",
        ),
        ("$.actions[8].label", "unknown field `label`"),
        ("$.actions[9].option.target_ids.2", "no action has id `two`"),
        (
            "$.actions[10].option.hour",
            "`hour` must be 0 to 23, got 25",
        ),
        (
            "$.actions[10].option.weekdays[0]",
            "weekday 0 is not 1 (Monday) to 7 (Sunday)",
        ),
        (
            "$.actions[10].option.timezone",
            "`Asia/Seoul` is not a UTC offset",
        ),
        (
            "$.actions[10].option.condition",
            "`contains` does not apply to dates",
        ),
        (
            "$.actions[11].option.length",
            "`length` must be 1 to 64 digits, got 65",
        ),
        (
            "$.actions[11].option.key",
            "`x` in key `#x` is not a DTMF digit",
        ),
        (
            "$.actions[11].option.duration",
            "`duration` must be 100 to 600000 ms, got 50",
        ),
        (
            "$.actions[12].option.urls[0]",
            "`ftp://x/y.wav` is not a URL starting with http://, https:// or file://",
        ),
        ("$.actions[13].option.event_method", "synonym of `method`"),
        (
            "$.actions[14].option.language",
            "`english!` is not a language tag",
        ),
        (
            "$.actions[15].option.direction",
            "unknown variant `sideways`, expected one of `in`, `out`, `both`",
        ),
        (
            "$.actions[16].option.key",
            "`bad key` is not a variable name",
        ),
        ("$.actions[17]", "an action is a JSON object"),
    ];
    for (path, message) in expect {
        let got = error_at(&errs, path);
        assert!(got.contains(message), "{path}: {got:?} lacks {message:?}");
    }
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    // next_id of an action with an unknown field is not checked (the
    // action did not parse); with a clean action it is.
    let errs = errors(json!({"actions": [{"type": "answer", "next_id": "nowhere"}]}));
    assert_eq!(
        error_at(&errs, "$.actions[0].next_id"),
        "no action has id `nowhere`"
    );
}

#[test]
fn unknown_type_lists_every_kind() {
    let errs = errors(json!({"actions": [{"type": "dial"}]}));
    let message = error_at(&errs, "$.actions[0].type");
    for kind in KINDS {
        assert!(message.contains(kind), "{message} lacks {kind}");
    }
    let errs = errors(json!({"actions": [{"option": {}}]}));
    assert!(error_at(&errs, "$.actions[0].type").starts_with("missing field `type`"));
}

#[test]
fn shape_errors_of_the_flow_itself() {
    assert_eq!(errors(json!([]))[0].path, "$");
    assert_eq!(errors(json!({}))[0].message, "missing field `actions`");
    assert_eq!(errors(json!({"actions": 3}))[0].path, "$.actions");
    let too_many: Vec<Value> = (0..1001).map(|_| json!({"type": "beep"})).collect();
    let errs = errors(json!({ "actions": too_many }));
    assert!(errs[0].message.contains("at most 1000 actions"));
    let errs = errors(json!({"actions": [{"type": "talk", "option": "hi"}]}));
    assert_eq!(
        error_at(&errs, "$.actions[0].option"),
        "`option` must be a JSON object"
    );
    let errs = errors(json!({"actions": [{"type": "talk", "option": {"text": 5}}]}));
    assert_eq!(
        error_at(&errs, "$.actions[0].option.text"),
        "invalid type: integer `5`, expected a string"
    );
    let errs = errors(
        json!({"actions": [{"type": "connect", "option": {"destinations": [{"type": "tel"}]}}]}),
    );
    assert_eq!(
        error_at(&errs, "$.actions[0].option.destinations[0]"),
        "missing field `target`"
    );
}

#[test]
fn templated_values_are_checked_where_they_can_be() {
    // Variables may hold the number, the URL's host, some digits.
    validate(&json!({"actions": [
        {"type": "connect", "option": {"destinations": [{"type": "tel", "target": "${call.source.target}"}]}},
        {"type": "webhook_send", "option": {"url": "${base}/hook"}},
        {"type": "digits_send", "option": {"digits": "${pin}#"}}
    ]}))
    .unwrap();
    // ...but the fixed text around them is still checked.
    let errs =
        errors(json!({"actions": [{"type": "digits_send", "option": {"digits": "${pin}!"}}]}));
    assert!(error_at(&errs, "$.actions[0].option.digits").contains("`!`"));
}

#[test]
fn datetime_conditions_need_something_to_compare() {
    let errs = errors(json!({"actions": [
        {"id": "x", "type": "condition_datetime", "option": {"condition": "==", "false_target_id": "x"}},
        {"type": "condition_datetime", "option": {"condition": ">=", "weekdays": [1], "false_target_id": "x"}}
    ]}));
    assert!(error_at(&errs, "$.actions[0].option").contains("at least one of"));
    assert!(error_at(&errs, "$.actions[1].option").contains("ordering condition"));
}

#[test]
fn serde_deserialize_reports_the_field() {
    let err = serde_json::from_value::<Flow>(
        json!({"actions": [{"type": "talk", "option": {"txt": "x"}}]}),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("option.txt: unknown field `txt`"), "{err}");
    let err = serde_json::from_value::<Flow>(json!({"actions": [{"type": "nope"}]}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown action type `nope`"), "{err}");
}

#[test]
fn validate_flow_checks_typed_flows() {
    let flow: Flow = serde_json::from_value(json!({"actions": [
        {"type": "goto", "option": {"target_id": "missing", "loop_count": 1}}
    ]}))
    .unwrap();
    let errs = flow::validate_flow(&flow).unwrap_err();
    assert_eq!(errs[0].path, "$.actions[0].option.target_id");
    assert_eq!(
        errs[0].to_string(),
        "$.actions[0].option.target_id: no action has id `missing`"
    );
}

#[test]
fn e164() {
    for good in ["+16062067563", "+821021656521", "+44", "+123456789012345"] {
        assert_eq!(validate_e164(good), Ok(()), "{good}");
    }
    for bad in [
        "16062067563",
        "+1 606",
        "+(1)606",
        "+1-606",
        "+0123",
        "+1",
        "+1234567890123456",
        "+",
        "",
    ] {
        let err = validate_e164(bad).unwrap_err();
        assert!(err.contains(&format!("'{bad}'")), "{err}");
    }
}

// ---- the JSON Schema ----

#[test]
fn schema_names_every_kind_and_option() {
    let schema = flow::schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let branches = schema["$defs"]["Action"]["oneOf"]
        .as_array()
        .expect("Action is a oneOf");
    let consts: Vec<&str> = branches
        .iter()
        .map(|b| b["properties"]["type"]["const"].as_str().unwrap())
        .collect();
    assert_eq!(consts, KINDS);
    // option is required exactly where a field has no default.
    let talk = &branches[KINDS.iter().position(|k| *k == "talk").unwrap()];
    assert_eq!(talk["required"], json!(["type", "option"]));
    let hangup = &branches[KINDS.iter().position(|k| *k == "hangup").unwrap()];
    assert_eq!(hangup["required"], json!(["type"]));
    assert_eq!(schema["$defs"]["TalkOption"]["additionalProperties"], false);
}

#[test]
fn sample_flows_check_against_the_schema() {
    let schema = flow::schema();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let good = every_kind();
    let problems: Vec<String> = validator
        .iter_errors(&good)
        .map(|e| e.to_string())
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let minimal =
        json!({"actions": [{"type": "answer"}, {"type": "talk", "option": {"text": "hi"}}]});
    assert!(validator.is_valid(&minimal));
    for bad in [
        json!({"actions": [{"type": "tlak"}]}),
        json!({"actions": [{"type": "talk", "option": {"txt": "hi"}}]}),
        json!({"actions": [{"type": "talk"}]}),
        json!({"actions": [{"type": "mute", "option": {"direction": "sideways"}}]}),
        json!({"actions": [{"type": "answer", "extra": 1}]}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
}
