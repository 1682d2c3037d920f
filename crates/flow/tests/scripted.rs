//! Flows driven by scripted callers on a fake clock: the exact commands a
//! caller's actions lead to, and when.

mod harness;

use chrono::{TimeZone, Utc};
use flow::{
    ActionResult, AmdResult, CommandKind, ConnectResult, FinishReason, FlowEvent, HangupReason,
    Input, Outcome, MAX_STEPS,
};
use harness::{ms, ok_after, Caller, Reply};
use serde_json::{json, Value};

/// The IVR of the issue: answer, a menu, one digit, a branch to two talks,
/// then recording and hangup.
fn ivr() -> Value {
    json!({"actions": [
        {"type": "answer"},
        {"id": "menu", "type": "talk", "option": {"text": "Press 1 for sales, 2 for support."}},
        {"type": "digits_receive", "option": {"length": 1, "duration": 5000}},
        {"type": "branch", "option": {"target_ids": {"1": "sales", "2": "support"}, "default_target_id": "nothing"}},
        {"id": "sales", "type": "talk", "option": {"text": "Sales, one moment."}, "next_id": "record"},
        {"id": "support", "type": "talk", "option": {"text": "Support, one moment."}, "next_id": "record"},
        {"id": "nothing", "type": "talk", "option": {"text": "We did not get your choice."}},
        {"id": "record", "type": "recording_start", "option": {"direction": "both"}},
        {"type": "hangup"}
    ]})
}

#[test]
fn ivr_branch_one() {
    let c = Caller::new(ivr()).press(2500, "1").run();
    assert_eq!(
        c.commands(),
        [
            "answer",
            "talk:Press 1 for sales, 2 for support.",
            "talk:Sales, one moment.",
            "recording_start:both/mono",
            "hangup:normal",
        ]
    );
    assert_eq!(
        c.issued_at("talk:Sales, one moment."),
        2500,
        "as the digit comes"
    );
    assert_eq!(c.var("digits").as_deref(), Some("1"));
    assert!(c.run.is_finished());
    assert_eq!(
        c.finish_reason(),
        FinishReason::Hangup {
            hangup_reason: HangupReason::Normal
        }
    );
}

#[test]
fn ivr_branch_two() {
    let c = Caller::new(ivr()).press(3000, "2").run();
    assert_eq!(
        c.commands(),
        [
            "answer",
            "talk:Press 1 for sales, 2 for support.",
            "talk:Support, one moment.",
            "recording_start:both/mono",
            "hangup:normal",
        ]
    );
}

#[test]
fn ivr_unknown_digit_takes_the_default() {
    let c = Caller::new(ivr()).press(3000, "9").run();
    assert_eq!(c.commands()[2], "talk:We did not get your choice.");
}

#[test]
fn digits_typed_over_the_prompt_count() {
    // The 2 comes 500 ms into the 2-second prompt: the prompt plays to its
    // end, then digits_receive finds the digit at once.
    let c = Caller::new(ivr()).press(500, "2").run();
    assert_eq!(c.commands()[2], "talk:Support, one moment.");
    assert_eq!(c.issued_at("talk:Support, one moment."), 2000);
}

#[test]
fn type_ahead_is_consumed_digit_by_digit() {
    let c = Caller::new(json!({"actions": [
        {"type": "talk", "option": {"text": "Account and PIN."}},
        {"type": "digits_receive", "option": {"length": 2}},
        {"type": "variable_set", "option": {"key": "account", "value": "${digits}"}},
        {"type": "digits_receive", "option": {"length": 1}},
        {"type": "talk", "option": {"text": "${account}/${digits}"}}
    ]}))
    .press(0, "123")
    .run();
    assert_eq!(
        c.commands(),
        ["talk:Account and PIN.", "talk:12/3", "finished"]
    );
}

#[test]
fn key_terminates_and_is_not_kept() {
    let c = Caller::new(json!({"actions": [
        {"type": "digits_receive", "option": {"key": "#*", "duration": 3000}},
        {"type": "talk", "option": {"text": "You entered ${digits}."}}
    ]}))
    .press(1000, "4711#")
    .run();
    assert_eq!(c.commands(), ["talk:You entered 4711.", "finished"]);
    assert_eq!(c.issued_at("talk:You entered 4711."), 1400, "at the #");
}

#[test]
fn silence_times_out_to_empty_digits_and_the_default_branch() {
    let c = Caller::new(ivr()).run();
    // Prompt ends at 2 s, then 5 s of silence.
    assert_eq!(c.commands()[2], "talk:We did not get your choice.");
    assert_eq!(c.issued_at("talk:We did not get your choice."), 7000);
    assert_eq!(c.var("digits").as_deref(), Some(""));
}

#[test]
fn the_digit_timeout_restarts_with_each_digit() {
    let c = Caller::new(json!({"actions": [
        {"type": "digits_receive", "option": {"duration": 3000}},
        {"type": "talk", "option": {"text": "[${digits}]"}}
    ]}))
    .press(2500, "1")
    .press(5000, "2")
    .run();
    // Digits at 2.5 s and 5 s, each within 3 s of the one before: the wait
    // ends 3 s after the last.
    assert_eq!(c.issued_at("talk:[12]"), 8000);
}

#[test]
fn goto_jumps_loop_count_times_then_goes_on() {
    let c = Caller::new(json!({"actions": [
        {"id": "menu", "type": "talk", "option": {"text": "Menu."}},
        {"type": "digits_receive", "option": {"length": 1, "duration": 1000}},
        {"type": "branch", "option": {"target_ids": {"1": "one"}}},
        {"type": "goto", "option": {"target_id": "menu", "loop_count": 2}},
        {"type": "talk", "option": {"text": "Goodbye."}},
        {"type": "hangup", "option": {"reason": "noanswer"}},
        {"id": "one", "type": "talk", "option": {"text": "One."}}
    ]}))
    .run();
    assert_eq!(
        c.commands(),
        [
            "talk:Menu.",
            "talk:Menu.",
            "talk:Menu.",
            "talk:Goodbye.",
            "hangup:noanswer"
        ]
    );
}

fn caller_from(number: &str) -> Value {
    let mut call = harness::call_json();
    call["source"]["target"] = json!(number);
    call
}

#[test]
fn condition_variable_both_ways() {
    let flow = json!({"actions": [
        {"type": "condition_variable", "option": {"condition": "contains", "variable": "call.source.target",
            "value": "+82", "false_target_id": "english"}},
        {"type": "talk", "option": {"text": "안녕하세요", "language": "ko-KR"}},
        {"type": "stop"},
        {"id": "english", "type": "talk", "option": {"text": "Hello"}}
    ]});
    let korea = Caller::with_call(flow.clone(), caller_from("+821021656521")).run();
    assert_eq!(korea.commands(), ["talk:안녕하세요", "finished"]);
    assert_eq!(korea.finish_reason(), FinishReason::Stop);
    let us = Caller::with_call(flow, caller_from("+16062067563")).run();
    assert_eq!(us.commands(), ["talk:Hello", "finished"]);
    assert_eq!(us.finish_reason(), FinishReason::End);

    // Numbers compare as numbers.
    let numeric = json!({"actions": [
        {"type": "variable_set", "option": {"key": "balance", "value": "10"}},
        {"type": "condition_variable", "option": {"condition": ">", "variable": "${balance}",
            "value": "9", "false_target_id": "low"}},
        {"type": "talk", "option": {"text": "enough"}},
        {"type": "stop"},
        {"id": "low", "type": "talk", "option": {"text": "low"}}
    ]});
    assert_eq!(Caller::new(numeric).run().commands()[0], "talk:enough");
}

#[test]
fn condition_datetime_both_ways() {
    let flow = json!({"actions": [
        {"type": "condition_datetime", "option": {"condition": ">=", "hour": 9, "minute": 30,
            "weekdays": [1, 2, 3, 4, 5], "timezone": "+09:00", "false_target_id": "closed"}},
        {"type": "condition_datetime", "option": {"condition": "<", "hour": 18,
            "timezone": "+09:00", "false_target_id": "closed"}},
        {"type": "talk", "option": {"text": "open"}},
        {"type": "stop"},
        {"id": "closed", "type": "talk", "option": {"text": "closed"}}
    ]});
    // Monday 09:45 in Seoul.
    let monday = Utc.with_ymd_and_hms(2024, 1, 1, 0, 45, 0).unwrap();
    let c = Caller::new(flow.clone()).at_wall(monday).run();
    assert_eq!(c.commands()[0], "talk:open");
    // Monday 09:15: too early.
    let early = Utc.with_ymd_and_hms(2024, 1, 1, 0, 15, 0).unwrap();
    assert_eq!(
        Caller::new(flow.clone()).at_wall(early).run().commands()[0],
        "talk:closed"
    );
    // Monday 18:00: too late.
    let late = Utc.with_ymd_and_hms(2024, 1, 1, 9, 0, 0).unwrap();
    assert_eq!(
        Caller::new(flow.clone()).at_wall(late).run().commands()[0],
        "talk:closed"
    );
    // Sunday 10:00: not a weekday.
    let sunday = Utc.with_ymd_and_hms(2024, 1, 7, 1, 0, 0).unwrap();
    assert_eq!(
        Caller::new(flow).at_wall(sunday).run().commands()[0],
        "talk:closed"
    );
}

#[test]
fn the_wall_clock_moves_with_the_run() {
    // 08:59:59 UTC at the start; the talk takes 2 s, so the condition
    // sees 09:00:01.
    let flow = json!({"actions": [
        {"type": "talk", "option": {"text": "one moment"}},
        {"type": "condition_datetime", "option": {"condition": ">=", "hour": 9, "false_target_id": "early"}},
        {"type": "talk", "option": {"text": "nine"}},
        {"type": "stop"},
        {"id": "early", "type": "talk", "option": {"text": "early"}}
    ]});
    let wall = Utc.with_ymd_and_hms(2024, 1, 1, 8, 59, 59).unwrap();
    assert_eq!(
        Caller::new(flow).at_wall(wall).run().commands()[1],
        "talk:nine"
    );
}

#[test]
fn variables_are_substituted_everywhere() {
    let c = Caller::new(json!({"actions": [
        {"type": "variable_set", "option": {"key": "ext", "value": "2${call.destination.target}"}},
        {"type": "variable_set", "option": {"key": "code", "value": "9#"}},
        {"type": "talk", "option": {"text": "Hi ${call.source.name} (${call.source.target}), call ${call.id}.${nope}"}},
        {"type": "play", "option": {"url": "https://media.example/${call.destination.target}.wav",
            "urls": ["file:///prompts/${ext}.wav"]}},
        {"type": "digits_send", "option": {"digits": "1${code}"}},
        {"type": "webhook_send", "option": {"url": "https://hooks.example/${call.id}?ext=${ext}"}},
        {"type": "connect", "option": {"destinations": [{"type": "extension", "target": "${ext}"}]}}
    ]}))
    .run();
    assert_eq!(
        c.commands(),
        [
            "talk:Hi Ann (+15550100), call 8a7c3f0e-0000-4000-8000-000000000001.",
            "play:https://media.example/100.wav,file:///prompts/2100.wavx1",
            "digits_send:19#",
            "webhook_send:https://hooks.example/8a7c3f0e-0000-4000-8000-000000000001?ext=2100 async",
            "connect:2100",
            "finished",
        ]
    );
    // The webhook carries every variable.
    let data = c
        .issued
        .iter()
        .find_map(|cmd| match &cmd.kind {
            CommandKind::WebhookSend { data, .. } => Some(data.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(data["ext"], "2100");
    assert_eq!(data["call.source.name"], "Ann");
    assert_eq!(c.var("connect.result").as_deref(), Some("answered"));
}

#[test]
fn next_id_and_sleep() {
    let c = Caller::new(json!({"actions": [
        {"type": "beep", "next_id": "later"},
        {"type": "talk", "option": {"text": "skipped"}},
        {"id": "later", "type": "sleep", "option": {"duration": 1500}},
        {"type": "talk", "option": {"text": "after the pause"}}
    ]}))
    .run();
    assert_eq!(c.commands(), ["beep", "talk:after the pause", "finished"]);
    assert_eq!(c.issued_at("talk:after the pause"), 500 + 1500);
}

fn fetch_flow() -> Value {
    json!({"actions": [
        {"type": "answer"},
        {"type": "fetch", "option": {"url": "https://app.example/next?from=${call.source.target}"}},
        {"type": "talk", "option": {"text": "after fetch"}}
    ]})
}

#[test]
fn fetched_actions_replace_the_rest_of_the_flow() {
    let c = Caller::new(fetch_flow())
        .respond(|k| match k {
            CommandKind::Fetch { variables, .. } => {
                assert_eq!(variables["call.source.target"], "+15550100");
                Some(Reply::After(
                    ms(150),
                    Ok(Outcome::Actions(json!([
                        {"id": "again", "type": "talk", "option": {"text": "fetched"}},
                        {"type": "goto", "option": {"target_id": "again", "loop_count": 1}},
                        {"type": "hangup", "option": {"reason": "busy"}}
                    ]))),
                ))
            }
            _ => None,
        })
        .run();
    assert_eq!(
        c.commands(),
        [
            "answer",
            "fetch:POST https://app.example/next?from=+15550100",
            "talk:fetched",
            "talk:fetched",
            "hangup:busy",
        ]
    );
}

#[test]
fn a_failed_or_invalid_fetch_goes_on_with_the_next_action() {
    // The default reply fails the fetch.
    let c = Caller::new(fetch_flow()).run();
    assert_eq!(c.commands()[2..], ["talk:after fetch", "finished"]);
    let c = Caller::new(fetch_flow())
        .respond(|k| {
            matches!(k, CommandKind::Fetch { .. }).then(|| {
                Reply::After(
                    ms(10),
                    Ok(Outcome::Actions(
                        json!({"actions": [{"type": "tlak", "option": {"text": "x"}}]}),
                    )),
                )
            })
        })
        .run();
    assert_eq!(c.commands()[2..], ["talk:after fetch", "finished"]);
    let failure = c
        .events
        .iter()
        .find_map(|e| match e {
            FlowEvent::ActionFinished {
                action,
                result: ActionResult::Failed { error },
            } if action.kind == "fetch" => Some(error.clone()),
            _ => None,
        })
        .unwrap();
    assert!(failure.contains("$.actions[0].type"), "{failure}");
    assert!(failure.contains("unknown action type `tlak`"), "{failure}");
}

#[test]
fn sync_webhook_answer_sets_variables() {
    let c = Caller::new(json!({"actions": [
        {"type": "webhook_send", "option": {"url": "https://crm.example/lookup", "sync": true}},
        {"type": "talk", "option": {"text": "${tier} customer, score ${score}, vip ${vip}, [${nested}]"}}
    ]}))
    .respond(|k| {
        matches!(k, CommandKind::WebhookSend { .. }).then(|| {
            let data = json!({"tier": "gold", "score": 7.5, "vip": true, "nested": {"a": 1}});
            Reply::After(ms(800), Ok(Outcome::Data(data.as_object().unwrap().clone())))
        })
    })
    .run();
    assert_eq!(
        c.commands(),
        [
            "webhook_send:https://crm.example/lookup sync",
            "talk:gold customer, score 7.5, vip true, []",
            "finished"
        ]
    );
    assert_eq!(
        c.issued_at("talk:gold customer, score 7.5, vip true, []"),
        800
    );
}

#[test]
fn async_webhook_does_not_wait_and_its_failure_is_reported() {
    let c = Caller::new(json!({"actions": [
        {"type": "webhook_send", "option": {"url": "https://crm.example/notify"}},
        {"type": "talk", "option": {"text": "at once"}}
    ]}))
    .respond(|k| {
        matches!(k, CommandKind::WebhookSend { .. })
            .then(|| Reply::After(ms(100), Err("HTTP 500".into())))
    })
    .run();
    assert_eq!(c.issued_at("talk:at once"), 0);
    assert!(c.events.iter().any(|e| matches!(e,
        FlowEvent::CommandFailed { action, error } if action.kind == "webhook_send" && error == "HTTP 500")));
}

fn amd_flow(handle: &str, asynchronous: bool) -> Value {
    json!({"actions": [
        {"type": "amd", "option": {"machine_handle": handle, "async": asynchronous}},
        {"type": "talk", "option": {"text": "Hello, this is a reminder. (${amd.result})"}},
        {"type": "hangup"}
    ]})
}

fn amd_says(result: AmdResult) -> impl FnMut(&CommandKind) -> Option<Reply> {
    move |k| {
        matches!(k, CommandKind::Amd { .. })
            .then(|| Reply::After(ms(2500), Ok(Outcome::Amd(result))))
    }
}

#[test]
fn amd_machine_hangs_up_with_reason_amd() {
    let c = Caller::new(amd_flow("hangup", false))
        .respond(amd_says(AmdResult::Machine))
        .run();
    assert_eq!(c.commands(), ["amd:hangup", "hangup:amd"]);
    assert_eq!(c.issued_at("hangup:amd"), 2500);
    assert_eq!(
        c.finish_reason(),
        FinishReason::Hangup {
            hangup_reason: HangupReason::Amd
        }
    );
}

#[test]
fn amd_machine_with_continue_and_a_human_go_on() {
    let c = Caller::new(amd_flow("continue", false))
        .respond(amd_says(AmdResult::Machine))
        .run();
    assert_eq!(
        c.commands(),
        [
            "amd:continue",
            "talk:Hello, this is a reminder. (machine)",
            "hangup:normal"
        ]
    );
    let c = Caller::new(amd_flow("hangup", false))
        .respond(amd_says(AmdResult::Human))
        .run();
    assert_eq!(c.commands()[1], "talk:Hello, this is a reminder. (human)");
}

#[test]
fn async_amd_hangs_up_in_the_middle_of_the_talk() {
    let mut amd = amd_says(AmdResult::Machine);
    let c = Caller::new(amd_flow("hangup", true))
        .respond(move |k| match k {
            CommandKind::Talk { .. } => Some(ok_after(5000)),
            _ => amd(k),
        })
        .run();
    assert_eq!(
        c.commands(),
        [
            "amd:hangup async",
            "talk:Hello, this is a reminder. ()",
            "hangup:amd"
        ]
    );
    assert_eq!(c.issued_at("hangup:amd"), 2500, "while the 5 s talk runs");
    assert!(c.events.iter().any(|e| matches!(e,
        FlowEvent::ActionFinished { action, result: ActionResult::Interrupted } if action.kind == "talk")));
}

#[test]
fn redirect_mid_talk_cancels_it_and_runs_the_new_flow() {
    let c = Caller::new(json!({"actions": [
        {"type": "answer"},
        {"type": "talk", "option": {"text": "A long announcement"}},
        {"type": "talk", "option": {"text": "never said"}}
    ]}))
    .respond(|k| match k {
        CommandKind::Talk { text, .. } if text.starts_with("A long") => Some(ok_after(60_000)),
        _ => None,
    })
    .redirect_at(
        1000,
        json!({"actions": [
            {"type": "talk", "option": {"text": "You are being transferred"}},
            {"type": "connect", "option": {"destinations": [{"type": "tel", "target": "+821021656521"}]}}
        ]}),
    )
    .run();
    assert_eq!(
        c.commands(),
        [
            "answer",
            "talk:A long announcement",
            "cancel:talk",
            "talk:You are being transferred",
            "connect:+821021656521",
            "finished",
        ]
    );
    assert_eq!(c.issued_at("cancel:talk"), 1000);
    // The cancelled talk's late answer (at 60 s) was ignored: the connect
    // ran its 30 s from 3 s on.
    assert_eq!(c.timeline.last().unwrap().0, ms(33_000));
}

/// A flow with every kind of waiting and internal action.
fn long_flow() -> Value {
    json!({"actions": [
        {"type": "answer"},
        {"type": "amd", "option": {"machine_handle": "continue", "async": true}},
        {"type": "recording_start", "option": {"channels": "stereo"}},
        {"id": "menu", "type": "talk", "option": {"text": "Menu"}},
        {"type": "digits_receive", "option": {"length": 2, "key": "#", "duration": 2000}},
        {"type": "branch", "option": {"target_ids": {"1": "one"}}},
        {"type": "goto", "option": {"target_id": "menu", "loop_count": 1}},
        {"id": "one", "type": "play", "option": {"urls": ["https://m.example/a.wav"]}},
        {"type": "beep"},
        {"type": "sleep", "option": {"duration": 700}},
        {"type": "variable_set", "option": {"key": "x", "value": "1"}},
        {"type": "condition_variable", "option": {"condition": "==", "variable": "x", "value": "1", "false_target_id": "menu"}},
        {"type": "condition_datetime", "option": {"condition": ">=", "hour": 0, "false_target_id": "menu"}},
        {"type": "digits_send", "option": {"digits": "12"}},
        {"type": "mute", "option": {"direction": "in"}},
        {"type": "unmute"},
        {"type": "hold"},
        {"type": "unhold"},
        {"type": "echo", "option": {"duration": 1000}},
        {"type": "webhook_send", "option": {"url": "https://h.example/", "sync": true}},
        {"type": "fetch", "option": {"url": "https://h.example/f"}},
        {"type": "connect", "option": {"destinations": [{"type": "sip", "target": "sip:bob@example.com"}]}},
        {"type": "recording_stop"},
        {"type": "hangup"}
    ]})
}

#[test]
fn the_long_flow_runs_through() {
    let c = Caller::new(long_flow()).press(3000, "1").run();
    assert_eq!(
        c.commands(),
        [
            "answer",
            "amd:continue async",
            "recording_start:both/stereo",
            "talk:Menu",
            "play:https://m.example/a.wavx1",
            "beep",
            "digits_send:12",
            "mute:in",
            "unmute",
            "hold",
            "unhold",
            "echo:1000",
            "webhook_send:https://h.example/ sync",
            "fetch:POST https://h.example/f",
            "connect:sip:bob@example.com",
            "recording_stop",
            "hangup:normal",
        ]
    );
}

#[test]
fn hangup_at_every_step_stops_the_run_at_once() {
    let full = Caller::new(long_flow())
        .press(1000, "5")
        .press(2500, "1")
        .run();
    let last = full.finished_at_step.unwrap();
    assert!(last > 20, "{last}");
    for k in 0..last {
        let mut c = Caller::new(long_flow()).press(1000, "5").press(2500, "1");
        c.hangup_after_steps = Some(k);
        let c = c.run();
        let at = c
            .commands_at_hangup
            .unwrap_or_else(|| panic!("step {k}: no hangup delivered"));
        assert_eq!(
            c.issued.len(),
            at,
            "step {k}: commands after the hangup: {:?}",
            &c.commands()[at..]
        );
        assert!(c.run.is_finished(), "step {k}");
        assert_eq!(c.run.poll_timeout(), None, "step {k}");
        assert_eq!(
            c.finish_reason(),
            FinishReason::CallEnded {
                hangup_reason: HangupReason::Normal
            },
            "step {k}"
        );
        let finished = c
            .events
            .iter()
            .filter(|e| matches!(e, FlowEvent::FlowFinished { .. }))
            .count();
        assert_eq!(finished, 1, "step {k}");
    }
}

#[test]
fn hangup_drops_commands_not_yet_polled() {
    let mut c = Caller::new(json!({"actions": [{"type": "talk", "option": {"text": "hi"}}]}));
    let now = c.clock.now();
    c.run.start(now, c.wall0);
    c.run.handle(
        now,
        c.wall0,
        Input::Hangup {
            reason: HangupReason::Cancel,
        },
    );
    assert_eq!(c.run.poll_command(), None);
    // Nothing after it revives the run.
    c.run.handle(now, c.wall0, Input::Digit('1'));
    c.run.handle_timeout(now, c.wall0);
    assert_eq!(c.run.poll_command(), None);
    assert!(c.run.is_finished());
}

#[test]
fn a_failing_command_is_reported_and_the_flow_goes_on() {
    let c = Caller::new(json!({"actions": [
        {"type": "play", "option": {"urls": ["https://m.example/missing.wav"]}},
        {"type": "talk", "option": {"text": "still here"}}
    ]}))
    .respond(|k| {
        matches!(k, CommandKind::Play { .. }).then(|| Reply::After(ms(40), Err("HTTP 404".into())))
    })
    .run();
    assert_eq!(
        c.commands(),
        [
            "play:https://m.example/missing.wavx1",
            "talk:still here",
            "finished"
        ]
    );
    assert!(c.events.contains(&FlowEvent::ActionFinished {
        action: flow::ActionRef {
            index: 0,
            id: None,
            kind: "play"
        },
        result: ActionResult::Failed {
            error: "HTTP 404".into()
        },
    }));
}

#[test]
fn answer_and_connect_failures_end_the_flow() {
    let c = Caller::new(json!({"actions": [
        {"type": "answer"},
        {"type": "talk", "option": {"text": "never"}}
    ]}))
    .respond(|k| {
        matches!(k, CommandKind::Answer).then(|| Reply::After(ms(5), Err("call gone".into())))
    })
    .run();
    assert_eq!(c.commands(), ["answer", "finished"]);
    assert_eq!(
        c.finish_reason(),
        FinishReason::Failed {
            error: "answer failed: call gone".into()
        }
    );

    let c = Caller::new(json!({"actions": [
        {"type": "connect", "option": {"destinations": [{"type": "extension", "target": "200"}]}},
        {"type": "talk", "option": {"text": "never"}}
    ]}))
    .respond(|k| {
        matches!(k, CommandKind::Connect { .. })
            .then(|| Reply::After(ms(5), Err("no route".into())))
    })
    .run();
    assert_eq!(c.commands(), ["connect:200", "finished"]);

    // A substituted tel target that is not E.164 fails before dialing.
    let c = Caller::new(json!({"actions": [
        {"type": "variable_set", "option": {"key": "n", "value": "555-0100"}},
        {"type": "connect", "option": {"destinations": [{"type": "tel", "target": "${n}"}]}}
    ]}))
    .run();
    assert_eq!(c.commands(), ["finished"]);
    match c.finish_reason() {
        FinishReason::Failed { error } => {
            assert!(error.contains("'555-0100' is not an E.164"), "{error}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn connect_not_answered_goes_on_with_the_reason() {
    let c = Caller::new(json!({"actions": [
        {"type": "connect", "option": {"destinations": [{"type": "extension", "target": "200"}], "ring_timeout": 20}},
        {"type": "condition_variable", "option": {"condition": "==", "variable": "connect.result", "value": "answered", "false_target_id": "vm"}},
        {"type": "hangup"},
        {"id": "vm", "type": "talk", "option": {"text": "Nobody answered (${connect.result}). Leave a message."}},
        {"type": "recording_start"}
    ]}))
    .respond(|k| match k {
        CommandKind::Connect { ring_timeout, .. } => {
            assert_eq!(*ring_timeout, ms(20_000));
            Some(Reply::After(ms(20_000), Ok(Outcome::Connect(ConnectResult::NotAnswered(HangupReason::Noanswer)))))
        }
        _ => None,
    })
    .run();
    assert_eq!(
        c.commands(),
        [
            "connect:200",
            "talk:Nobody answered (noanswer). Leave a message.",
            "recording_start:both/mono",
            "finished"
        ]
    );
}

#[test]
fn the_loop_guard_ends_an_endless_internal_loop() {
    let c = Caller::new(json!({"actions": [
        {"type": "answer"},
        {"id": "top", "type": "variable_set", "option": {"key": "n", "value": "${n}1"}},
        {"type": "condition_variable", "option": {"condition": "==", "variable": "done", "value": "yes", "false_target_id": "top"}},
        {"type": "talk", "option": {"text": "never"}}
    ]}))
    .run();
    assert_eq!(c.commands(), ["answer", "finished"]);
    match c.finish_reason() {
        FinishReason::Failed { error } => assert!(error.contains("loop guard"), "{error}"),
        other => panic!("{other:?}"),
    }
    let started = c
        .events
        .iter()
        .filter(|e| matches!(e, FlowEvent::ActionStarted { .. }))
        .count();
    assert_eq!(started, 1 + MAX_STEPS, "answer, then the guard's worth");
}

#[test]
fn set_variables_from_the_io_layer() {
    let mut vars = std::collections::BTreeMap::new();
    vars.insert("agent".to_owned(), "Bo".to_owned());
    let c = Caller::new(json!({"actions": [
        {"type": "sleep", "option": {"duration": 1000}},
        {"type": "talk", "option": {"text": "Agent ${agent}"}}
    ]}))
    .input_at(500, Input::SetVariables(vars))
    .run();
    assert_eq!(c.commands()[0], "talk:Agent Bo");
}

#[test]
fn events_pair_every_started_action_with_its_end() {
    let c = Caller::new(ivr()).press(2500, "2").run();
    let mut open = None;
    for e in &c.events {
        match e {
            FlowEvent::ActionStarted { action } => {
                assert!(open.is_none(), "{action:?} started inside {open:?}");
                open = Some(action.clone());
            }
            FlowEvent::ActionFinished { action, .. } => {
                assert_eq!(Some(action), open.as_ref());
                open = None;
            }
            _ => {}
        }
    }
    let json = serde_json::to_value(c.events.last().unwrap()).unwrap();
    assert_eq!(
        json,
        json!({"type": "flow_finished", "reason": {"reason": "hangup", "hangup_reason": "normal"}})
    );
    let first = serde_json::to_value(&c.events[0]).unwrap();
    assert_eq!(
        first,
        json!({"type": "action_started", "action": {"index": 0, "type": "answer"}})
    );
}

#[test]
fn lowercase_keypad_letters_count_and_other_characters_do_not() {
    let c = Caller::new(json!({"actions": [
        {"type": "digits_receive", "option": {"length": 2}},
        {"type": "talk", "option": {"text": "${digits}"}}
    ]}))
    .input_at(100, Input::Digit('x'))
    .input_at(200, Input::Digit('d'))
    .input_at(300, Input::Digit('#'))
    .run();
    assert_eq!(c.commands()[0], "talk:D#");
}

#[test]
fn redirect_before_start_and_after_the_end() {
    let mut c = Caller::new(json!({"actions": [{"type": "talk", "option": {"text": "old"}}]}));
    let (now, wall) = (c.clock.now(), c.wall0);
    let new =
        flow::validate(&json!({"actions": [{"type": "talk", "option": {"text": "new"}}]})).unwrap();
    c.run.handle(now, wall, Input::Redirect(new.clone()));
    assert_eq!(c.run.poll_command(), None, "nothing runs before start");
    let c = c.run();
    assert_eq!(c.commands(), ["talk:new", "finished"]);
    let mut run = c.run;
    run.handle(now, wall, Input::Redirect(new));
    assert_eq!(run.poll_command(), None, "a finished run stays finished");
}
