//! # `flow`: Dialtone's JSON call flows
//!
//! The call-flow language (seed `001`: "control the flow of inbound and
//! outbound calls in JSON with actions"), its save-time validation and its
//! interpreter. Sans-IO like the rest of the core: a [`FlowRun`] takes the
//! call's events and the time in, and hands back [`Command`]s for the I/O
//! layer to perform, [`FlowEvent`]s for webhooks, and its next deadline. It
//! never reads the clock, sleeps, or touches the network: `fetch` and
//! `webhook_send` are commands too.
//!
//! ## A flow
//!
//! ```json
//! {"actions": [
//!   {"type": "answer"},
//!   {"id": "menu", "type": "talk", "option": {"text": "Press 1 for sales, 2 for support."}},
//!   {"type": "digits_receive", "option": {"length": 1, "duration": 5000}},
//!   {"type": "branch", "option": {"target_ids": {"1": "sales", "2": "support"}}},
//!   {"type": "goto", "option": {"target_id": "menu", "loop_count": 2}},
//!   {"type": "hangup"},
//!   {"id": "sales", "type": "connect", "option": {"destinations": [{"type": "extension", "target": "200"}]}},
//!   {"type": "stop"},
//!   {"id": "support", "type": "talk", "option": {"text": "Call ${call.source.target} back later."}}
//! ]}
//! ```
//!
//! An action is `{"id"?, "next_id"?, "type", "option"?}`. Actions run from
//! the first, each after the one above it, unless `next_id` (on any
//! action) or a jump says otherwise. Running off the end finishes the flow,
//! and the call is hung up ([`CommandKind::Finished`]).
//!
//! ## Actions and their option fields
//!
//! `field` = value gives a default; *waits* means the run waits for the command's
//! answer ([`Input::CommandDone`]) before the next action; *internal*
//! means the run does it itself, with no command.
//!
//! | type | option fields | behaviour |
//! | --- | --- | --- |
//! | `answer` | — | waits; a failure ends the flow |
//! | `talk` | `text`, `language` = `en-US`, `gender` `male`\|`female`\|`neutral` = `female` | waits until spoken |
//! | `play` | `urls` (and/or `url`), `loop_count` 1–100 = 1 | waits until played |
//! | `beep` | — | waits |
//! | `digits_receive` | `length` 1–64, `key` (terminators from `0-9A-D*#`), `duration` ms 100–600000 = 5000 | internal: sets `${digits}` |
//! | `digits_send` | `digits` (≤ 32 of `0-9A-D*#`), `duration` ms per digit 100–1000 = 250 | waits |
//! | `recording_start` | `direction` `in`\|`out`\|`both` = both, `channels` `mono`\|`stereo` = mono | waits |
//! | `recording_stop` | — | waits |
//! | `connect` | `destinations` (list of {`type` `extension`\|`tel`\|`sip`, `target`, `name`?}), `ring_method` `ring_all`\|`linear` = ring_all, `ring_timeout` s 1–600 = 60, `early_media` = false | waits until the bridged call ends; sets `${connect.result}`; a failure ends the flow |
//! | `hangup` | `reason` `normal`\|`failed`\|`busy`\|`cancel`\|`timeout`\|`noanswer`\|`dialout`\|`amd` = normal | the flow ends |
//! | `sleep` | `duration` ms 1–3600000 | internal timer |
//! | `echo` | `duration` ms 1–3600000 | waits |
//! | `mute` | `direction` `in`\|`out`\|`both` | waits |
//! | `unmute`, `hold`, `unhold` | — | wait |
//! | `goto` | `target_id`, `loop_count` 1–1000 | internal: jumps at most `loop_count` times per run, then goes on |
//! | `branch` | `variable` = `${digits}`, `target_ids` {value: id}, `default_target_id`? | internal: no match and no default goes on |
//! | `condition_variable` | `condition` `==` `!=` `>` `>=` `<` `<=` `contains`, `variable`, `value`, `false_target_id` | internal: true goes on |
//! | `condition_datetime` | `condition`, `hour`?, `minute`?, `day`?, `month`?, `weekdays`? (1 = Monday … 7 = Sunday), `timezone`? = UTC, `false_target_id` | internal: true goes on |
//! | `variable_set` | `key`, `value` | internal |
//! | `fetch` | `url`, `method` `GET`\|`POST` = POST (`event_method`: synonym) | waits; the actions it returns replace the rest of the flow |
//! | `webhook_send` | `url`, `sync` = false, `data_type` = `application/json` | waits only with `sync`; the answer's fields become variables |
//! | `amd` | `machine_handle` `hangup`\|`continue`, `async` = false | waits unless `async`; sets `${amd.result}`; a machine + `hangup` hangs up with reason `amd` |
//! | `stop` | — | the flow ends |
//!
//! The option structs ([`TalkOption`], [`ConnectOption`], ...) document
//! each field and carry a JSON example. Unknown fields are errors.
//!
//! ## Decisions
//!
//! - **Failures.** A command that fails is reported
//!   ([`ActionResult::Failed`]) and the flow goes on with the next action,
//!   except `answer` and `connect`, whose failure ends the flow (nothing
//!   sensible follows a call that cannot be answered or connected). A
//!   `connect` that nobody answered is not a failure: `${connect.result}`
//!   says `busy`, `noanswer`... and the flow goes on (a voicemail prompt).
//! - **Digits.** DTMF is accepted at any time. Digits that arrive while no
//!   `digits_receive` runs (over a `talk` or `play`) are kept (up to
//!   [`TYPE_AHEAD_MAX`]) and count for the next `digits_receive`, like a
//!   caller typing ahead over a prompt; prompts are not interrupted. A
//!   `digits_receive` ends on `length` digits, a `key` digit (not kept), or
//!   `duration` ms without a digit, counted from its start and again from
//!   each digit (an inter-digit timeout). `${digits}` is then set, maybe
//!   empty. Without `length` and `key` only the timeout ends it.
//! - **Variables.** `${name}` is substituted in every string option (text,
//!   urls, digits, targets, URLs, values). Unknown variables become the
//!   empty string. The call's fields are variables under `call.`
//!   ([`Variables::from_call`]); substitution is one pass (see [`Variables`]).
//! - **Loops.** `goto` counts per action over the whole run (a fetch or
//!   redirect starts the counts over). At most [`MAX_STEPS`] actions run in
//!   one call of `start`/`handle`/`handle_timeout` without waiting; more is
//!   a loop and ends the flow with an error.
//! - **Ends.** The flow ends by running off its end, `stop`, `hangup`,
//!   an `amd` hangup, a failure above, or the call's hangup
//!   ([`Input::Hangup`]: the run stops at once and emits no command, not
//!   even one queued and not yet polled). Each end but the call's hangup and
//!   the hangup commands emits [`CommandKind::Finished`], for which the I/O
//!   layer hangs the call up with `normal`; every end emits
//!   [`FlowEvent::FlowFinished`].
//! - **Redirect.** [`Input::Redirect`] replaces the rest of the flow and
//!   starts at its first action; the action running gets
//!   [`CommandKind::Cancel`] (a talk stops mid-sentence).
//!
//! ## The run loop
//!
//! Mutate (`start`, `handle`, `handle_timeout`), then drain `poll_command`
//! and `poll_event`, then sleep until `poll_timeout` or the next input.
//! Here a caller hears a prompt, presses 2 while it plays, and is sent to
//! support:
//!
//! ```
//! use flow::{CommandKind, Input, FlowRun, Outcome, Variables};
//! use chrono::{TimeZone, Utc};
//! use serde_json::json;
//! use std::time::Duration;
//! use testkit::FakeClock;
//!
//! let flow = flow::validate(&json!({"actions": [
//!     {"type": "answer"},
//!     {"type": "talk", "option": {"text": "Hi ${call.source.name}. Press 1 for sales, 2 for support."}},
//!     {"type": "digits_receive", "option": {"length": 1}},
//!     {"type": "branch", "option": {"target_ids": {"1": "sales", "2": "support"}}},
//!     {"id": "sales", "type": "talk", "option": {"text": "Sales."}, "next_id": "bye"},
//!     {"id": "support", "type": "talk", "option": {"text": "Support."}},
//!     {"id": "bye", "type": "hangup"}
//! ]})).expect("a valid flow");
//!
//! let mut clock = FakeClock::new();
//! let wall = Utc.with_ymd_and_hms(2025, 1, 6, 9, 0, 0).unwrap();
//! let call = json!({"id": "5a4e...", "source": {"type": "tel", "target": "+15550100", "name": "Ann"}});
//! let mut run = FlowRun::new(flow, Variables::from(call), clock.now());
//! run.start(clock.now(), wall);
//!
//! let mut said = Vec::new();
//! while !run.is_finished() {
//!     // The I/O layer performs each command; here every one is done at once,
//!     // and the caller presses 2 during the first prompt.
//!     while let Some(command) = run.poll_command() {
//!         match &command.kind {
//!             CommandKind::Talk { text, .. } => said.push(text.clone()),
//!             CommandKind::Hangup { reason } => assert_eq!(reason.as_str(), "normal"),
//!             _ => {}
//!         }
//!         if said.len() == 1 && matches!(command.kind, CommandKind::Talk { .. }) {
//!             run.handle(clock.now(), wall, Input::Digit('2'));
//!         }
//!         if !matches!(command.kind, CommandKind::Hangup { .. } | CommandKind::Finished) {
//!             run.handle(clock.now(), wall, Input::CommandDone { id: command.id, result: Ok(Outcome::Done) });
//!         }
//!     }
//!     while let Some(event) = run.poll_event() {
//!         let _webhook_body = serde_json::to_string(&event).unwrap();
//!     }
//!     if let Some(deadline) = run.poll_timeout() {
//!         clock.set(deadline);
//!         run.handle_timeout(clock.now(), wall + (clock.now() - clock.base()));
//!     }
//! }
//! assert_eq!(said, ["Hi Ann. Press 1 for sales, 2 for support.", "Support."]);
//! assert_eq!(run.variables().get("digits"), Some("2"));
//! ```
//!
//! ## Validation and schema
//!
//! [`validate`] turns a user's JSON into a [`Flow`] or returns every
//! [`ValidationError`], each with a `$`-path (`$.actions[3].option.digits`)
//! and a message. [`schema`] is the JSON Schema (draft 2020-12) generated
//! from the same types, for editors and API documentation.
//! [`validate_e164`] is the E.164 check, shared with the server.

mod action;
mod datetime;
mod io;
mod json_schema;
mod run;
mod validate;
mod vars;

pub use action::*;
pub use io::{
    ActionRef, ActionResult, AmdResult, Command, CommandId, CommandKind, ConnectResult,
    FinishReason, FlowEvent, Input, Outcome,
};
pub use json_schema::schema;
pub use run::{FlowRun, MAX_STEPS, TYPE_AHEAD_MAX};
pub use validate::{is_dtmf, validate, validate_e164, validate_flow, ValidationError, MAX_ACTIONS};
pub use vars::Variables;
