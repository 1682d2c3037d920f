//! [`FlowRun`]: one run of a flow on one call, sans-IO.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::action::{Action, ActionKind, DigitsReceiveOption, Flow, HangupReason, MachineHandle};
use crate::datetime::{compare_holds, datetime_holds};
use crate::io::*;
use crate::validate::{is_dtmf, validate, validate_e164};
use crate::vars::Variables;

/// At most this many actions run inside one `start`/`handle`/`handle_timeout`
/// call without waiting for the call (for a command, a digit or a timer);
/// one more and the flow ends with an error. Only a loop of internal
/// actions (branch, conditions, variable_set, goto with a large count...)
/// gets there.
pub const MAX_STEPS: usize = 1000;

/// Digits kept for a `digits_receive` to come (a caller typing ahead over
/// a prompt); older ones are dropped.
pub const TYPE_AHEAD_MAX: usize = 64;

/// One run of a flow on one call. See the crate docs for the run loop.
#[derive(Debug)]
pub struct FlowRun {
    actions: Vec<Action>,
    ids: HashMap<String, usize>,
    vars: Variables,
    state: State,
    /// Jumps left per `goto` (by index), set when it first runs.
    goto_left: HashMap<usize, u32>,
    typed_ahead: VecDeque<char>,
    /// Commands whose answer still matters after their action finished.
    detached: HashMap<CommandId, Detached>,
    next_command: u64,
    commands: VecDeque<Command>,
    events: VecDeque<FlowEvent>,
    created: Instant,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Created, `start` not called yet.
    Idle,
    /// About to run the action at this index (past the end: the flow ends).
    Next(usize),
    /// Waiting for the answer to `command`, issued by `action`.
    Waiting {
        action: usize,
        command: CommandId,
    },
    /// `sleep` until `until`.
    Sleeping {
        action: usize,
        until: Instant,
    },
    /// `digits_receive`: `digits` so far, ends at `deadline` without more.
    Collecting {
        action: usize,
        digits: String,
        deadline: Instant,
    },
    Finished,
}

#[derive(Debug, Clone)]
enum Detached {
    Amd {
        action: ActionRef,
        machine_handle: MachineHandle,
    },
    Webhook {
        action: ActionRef,
    },
}

impl FlowRun {
    /// A run of `flow` with `variables` (usually [`Variables::from_call`]),
    /// created at `now`. Nothing happens until [`FlowRun::start`].
    pub fn new(flow: Flow, variables: Variables, now: Instant) -> FlowRun {
        let mut run = FlowRun {
            actions: Vec::new(),
            ids: HashMap::new(),
            vars: variables,
            state: State::Idle,
            goto_left: HashMap::new(),
            typed_ahead: VecDeque::new(),
            detached: HashMap::new(),
            next_command: 1,
            commands: VecDeque::new(),
            events: VecDeque::new(),
            created: now,
        };
        run.replace_flow(flow);
        run
    }

    /// Begins at the first action. A second call does nothing.
    pub fn start(&mut self, now: Instant, wall: DateTime<Utc>) {
        if self.state == State::Idle {
            self.state = State::Next(0);
            self.drive(now, wall);
        }
    }

    /// Feeds what happened to the call. `wall` is the date and time now
    /// (for `condition_datetime`).
    pub fn handle(&mut self, now: Instant, wall: DateTime<Utc>, input: Input) {
        if self.state == State::Finished {
            return;
        }
        match input {
            Input::CommandDone { id, result } => self.on_done(id, result),
            Input::Digit(c) => self.on_digit(c.to_ascii_uppercase(), now),
            Input::Hangup { reason } => {
                self.interrupt();
                self.finish(FinishReason::CallEnded {
                    hangup_reason: reason,
                });
            }
            Input::Redirect(flow) => {
                if let Some(id) = self.interrupt() {
                    self.push_command(CommandKind::Cancel { id });
                }
                self.replace_flow(flow);
                if self.state != State::Idle {
                    self.state = State::Next(0);
                }
            }
            Input::SetVariables(vars) => self.vars.extend(vars),
        }
        self.drive(now, wall);
    }

    /// Fires the timer when `now` has reached [`FlowRun::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant, wall: DateTime<Utc>) {
        match self.state {
            State::Sleeping { action, until } if now >= until => {
                self.complete(action, ActionResult::Ok)
            }
            State::Collecting { deadline, .. } if now >= deadline => self.end_collecting(),
            _ => {}
        }
        self.drive(now, wall);
    }

    /// The next command for the I/O layer.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// The next event (for webhooks and logs).
    pub fn poll_event(&mut self) -> Option<FlowEvent> {
        self.events.pop_front()
    }

    /// When to call [`FlowRun::handle_timeout`] (a `sleep` or a
    /// `digits_receive` waiting), if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Sleeping { until, .. } => Some(until),
            State::Collecting { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    /// The run is over: no command or event will come any more (once the
    /// queues are drained).
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    pub fn variables(&self) -> &Variables {
        &self.vars
    }

    /// When the run was created.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// The action running now (waiting for a command, a timer or digits).
    pub fn current_action(&self) -> Option<ActionRef> {
        match self.state {
            State::Waiting { action, .. }
            | State::Sleeping { action, .. }
            | State::Collecting { action, .. } => Some(self.action_ref(action)),
            _ => None,
        }
    }

    // ---- running actions ----

    /// Runs actions until one waits or the flow ends (or the loop guard).
    fn drive(&mut self, now: Instant, wall: DateTime<Utc>) {
        let mut steps = 0;
        while let State::Next(i) = self.state {
            if i >= self.actions.len() {
                self.finish(FinishReason::End);
                return;
            }
            if steps == MAX_STEPS {
                self.finish(FinishReason::Failed {
                    error: format!(
                        "loop guard: {MAX_STEPS} actions ran without waiting for the call; the flow ends"
                    ),
                });
                return;
            }
            steps += 1;
            self.execute(i, now, wall);
        }
    }

    fn execute(&mut self, i: usize, now: Instant, wall: DateTime<Utc>) {
        self.events.push_back(FlowEvent::ActionStarted {
            action: self.action_ref(i),
        });
        let kind = self.actions[i].kind.clone();
        let vars = &self.vars;
        match kind {
            ActionKind::Answer => self.wait_for(i, CommandKind::Answer),
            ActionKind::Talk(t) => {
                let text = vars.substitute(&t.text);
                self.wait_for(
                    i,
                    CommandKind::Talk {
                        text,
                        language: t.language,
                        gender: t.gender,
                    },
                )
            }
            ActionKind::Play(p) => {
                let urls = p.all_urls().map(|u| vars.substitute(u)).collect();
                self.wait_for(
                    i,
                    CommandKind::Play {
                        urls,
                        loop_count: p.loop_count,
                    },
                )
            }
            ActionKind::Beep => self.wait_for(i, CommandKind::Beep),
            ActionKind::DigitsReceive(d) => self.start_collecting(i, &d, now),
            ActionKind::DigitsSend(d) => {
                let digits = vars.substitute(&d.digits);
                if digits.is_empty() || digits.chars().count() > 32 || !digits.chars().all(is_dtmf)
                {
                    let error = format!("`{digits}` is not 1 to 32 DTMF digits (0-9, A-D, *, #)");
                    self.complete(i, ActionResult::Failed { error });
                } else {
                    self.wait_for(
                        i,
                        CommandKind::DigitsSend {
                            digits,
                            duration: Duration::from_millis(d.duration.into()),
                        },
                    )
                }
            }
            ActionKind::RecordingStart(r) => self.wait_for(
                i,
                CommandKind::RecordingStart {
                    direction: r.direction,
                    channels: r.channels,
                },
            ),
            ActionKind::RecordingStop => self.wait_for(i, CommandKind::RecordingStop),
            ActionKind::Connect(c) => {
                let mut destinations = c.destinations;
                for d in &mut destinations {
                    d.target = vars.substitute(&d.target);
                }
                let bad = destinations.iter().find_map(|d| match d.kind {
                    crate::DestinationType::Tel => validate_e164(&d.target).err(),
                    _ if d.target.is_empty() => Some("a destination's target is empty".to_owned()),
                    _ => None,
                });
                match bad {
                    Some(error) => self.fail_flow(i, error),
                    None => self.wait_for(
                        i,
                        CommandKind::Connect {
                            destinations,
                            ring_method: c.ring_method,
                            ring_timeout: Duration::from_secs(c.ring_timeout.into()),
                            early_media: c.early_media,
                        },
                    ),
                }
            }
            ActionKind::Hangup(h) => self.hang_up(i, h.reason, ActionResult::Ok),
            ActionKind::Sleep(s) => {
                self.state = State::Sleeping {
                    action: i,
                    until: later(now, s.duration),
                }
            }
            ActionKind::Echo(e) => self.wait_for(
                i,
                CommandKind::Echo {
                    duration: Duration::from_millis(e.duration),
                },
            ),
            ActionKind::Mute(m) => self.wait_for(
                i,
                CommandKind::Mute {
                    direction: m.direction,
                },
            ),
            ActionKind::Unmute => self.wait_for(i, CommandKind::Unmute),
            ActionKind::Hold => self.wait_for(i, CommandKind::Hold),
            ActionKind::Unhold => self.wait_for(i, CommandKind::Unhold),
            ActionKind::Goto(g) => {
                let left = self.goto_left.entry(i).or_insert(g.loop_count);
                if *left > 0 {
                    *left -= 1;
                    self.jump(i, &g.target_id);
                } else {
                    self.complete(i, ActionResult::Ok);
                }
            }
            ActionKind::Branch(b) => {
                let value = vars.resolve(&b.variable);
                match b.target_ids.get(&value).or(b.default_target_id.as_ref()) {
                    Some(target) => self.jump(i, target),
                    None => self.complete(i, ActionResult::Ok),
                }
            }
            ActionKind::ConditionVariable(c) => {
                let left = vars.resolve(&c.variable);
                let right = vars.substitute(&c.value);
                if compare_holds(c.condition, &left, &right) {
                    self.complete(i, ActionResult::Ok);
                } else {
                    self.jump(i, &c.false_target_id);
                }
            }
            ActionKind::ConditionDatetime(c) => {
                if datetime_holds(&c, wall) {
                    self.complete(i, ActionResult::Ok);
                } else {
                    self.jump(i, &c.false_target_id);
                }
            }
            ActionKind::VariableSet(v) => {
                let value = vars.substitute(&v.value);
                self.vars.set(v.key, value);
                self.complete(i, ActionResult::Ok);
            }
            ActionKind::Fetch(f) => {
                let command = CommandKind::Fetch {
                    url: vars.substitute(&f.url),
                    method: f.effective_method(),
                    variables: vars.to_map(),
                };
                self.wait_for(i, command)
            }
            ActionKind::WebhookSend(w) => {
                let command = CommandKind::WebhookSend {
                    url: vars.substitute(&w.url),
                    sync: w.sync,
                    data_type: w.data_type,
                    data: vars.to_map(),
                };
                if w.sync {
                    self.wait_for(i, command);
                } else {
                    let id = self.push_command(command);
                    let action = self.action_ref(i);
                    self.detached.insert(id, Detached::Webhook { action });
                    self.complete(i, ActionResult::Ok);
                }
            }
            ActionKind::Amd(a) => {
                let command = CommandKind::Amd {
                    machine_handle: a.machine_handle,
                    asynchronous: a.asynchronous,
                };
                if a.asynchronous {
                    let id = self.push_command(command);
                    let action = self.action_ref(i);
                    self.detached.insert(
                        id,
                        Detached::Amd {
                            action,
                            machine_handle: a.machine_handle,
                        },
                    );
                    self.complete(i, ActionResult::Ok);
                } else {
                    self.wait_for(i, command);
                }
            }
            ActionKind::Stop => {
                self.finish_action(i, ActionResult::Ok);
                self.finish(FinishReason::Stop);
            }
        }
    }

    /// Issues `command` for action `i` and waits for its answer.
    fn wait_for(&mut self, i: usize, command: CommandKind) {
        let id = self.push_command(command);
        self.state = State::Waiting {
            action: i,
            command: id,
        };
    }

    fn push_command(&mut self, kind: CommandKind) -> CommandId {
        let id = CommandId(self.next_command);
        self.next_command += 1;
        self.commands.push_back(Command { id, kind });
        id
    }

    // ---- answers ----

    fn on_done(&mut self, id: CommandId, result: Result<Outcome, String>) {
        if let Some(detached) = self.detached.remove(&id) {
            return self.on_detached_done(detached, result);
        }
        let State::Waiting { action, command } = self.state else {
            return;
        };
        if command != id {
            return; // a cancelled or unknown command
        }
        let kind = self.actions[action].kind.clone();
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => {
                return match kind {
                    ActionKind::Answer | ActionKind::Connect(_) => self.fail_flow(action, error),
                    _ => self.complete(action, ActionResult::Failed { error }),
                }
            }
        };
        match (kind, outcome) {
            (ActionKind::Fetch(_), Outcome::Actions(body)) => self.on_fetched(action, body),
            (ActionKind::Fetch(_), _) => self.complete(
                action,
                ActionResult::Failed {
                    error: "fetch answered without actions".to_owned(),
                },
            ),
            (ActionKind::WebhookSend(_), outcome) => {
                if let Outcome::Data(data) = outcome {
                    self.vars.set_from_json(&data);
                }
                self.complete(action, ActionResult::Ok);
            }
            (ActionKind::Amd(a), outcome) => {
                let result = match outcome {
                    Outcome::Amd(r) => r,
                    _ => AmdResult::NotSure,
                };
                self.vars.set("amd.result", result.as_str());
                if result == AmdResult::Machine && a.machine_handle == MachineHandle::Hangup {
                    self.hang_up(action, HangupReason::Amd, ActionResult::Ok);
                } else {
                    self.complete(action, ActionResult::Ok);
                }
            }
            (ActionKind::Connect(_), outcome) => {
                let result = match outcome {
                    Outcome::Connect(ConnectResult::NotAnswered(reason)) => reason.as_str(),
                    _ => "answered",
                };
                self.vars.set("connect.result", result);
                self.complete(action, ActionResult::Ok);
            }
            _ => self.complete(action, ActionResult::Ok),
        }
    }

    fn on_detached_done(&mut self, detached: Detached, result: Result<Outcome, String>) {
        match (detached, result) {
            (Detached::Amd { action, .. } | Detached::Webhook { action }, Err(error)) => {
                self.events
                    .push_back(FlowEvent::CommandFailed { action, error });
            }
            (Detached::Webhook { .. }, Ok(_)) => {}
            (Detached::Amd { machine_handle, .. }, Ok(outcome)) => {
                let result = match outcome {
                    Outcome::Amd(r) => r,
                    _ => AmdResult::NotSure,
                };
                self.vars.set("amd.result", result.as_str());
                if result == AmdResult::Machine && machine_handle == MachineHandle::Hangup {
                    self.interrupt();
                    self.push_command(CommandKind::Hangup {
                        reason: HangupReason::Amd,
                    });
                    self.finish(FinishReason::Hangup {
                        hangup_reason: HangupReason::Amd,
                    });
                }
            }
        }
    }

    /// `fetch` answered: its actions replace the flow, or it failed.
    fn on_fetched(&mut self, action: usize, body: Value) {
        let body = match body {
            Value::Array(_) => json!({ "actions": body }),
            other => other,
        };
        match validate(&body) {
            Ok(flow) => {
                self.finish_action(action, ActionResult::Ok);
                self.replace_flow(flow);
                self.state = State::Next(0);
            }
            Err(errors) => {
                let mut error = String::from("fetched actions are invalid: ");
                let shown: Vec<String> = errors.iter().take(5).map(|e| e.to_string()).collect();
                error.push_str(&shown.join("; "));
                if errors.len() > 5 {
                    error.push_str(&format!("; and {} more", errors.len() - 5));
                }
                self.complete(action, ActionResult::Failed { error });
            }
        }
    }

    // ---- digits ----

    fn on_digit(&mut self, c: char, now: Instant) {
        if !is_dtmf(c) {
            return;
        }
        if matches!(self.state, State::Collecting { .. }) {
            if self.collect(c, now) {
                self.end_collecting();
            }
        } else {
            if self.typed_ahead.len() == TYPE_AHEAD_MAX {
                self.typed_ahead.pop_front();
            }
            self.typed_ahead.push_back(c);
        }
    }

    fn start_collecting(&mut self, i: usize, option: &DigitsReceiveOption, now: Instant) {
        self.state = State::Collecting {
            action: i,
            digits: String::new(),
            deadline: later(now, option.duration),
        };
        while let Some(c) = self.typed_ahead.pop_front() {
            if self.collect(c, now) {
                self.end_collecting();
                return;
            }
        }
    }

    /// Adds a digit to the collection; true when it is complete.
    fn collect(&mut self, c: char, now: Instant) -> bool {
        let State::Collecting {
            action,
            digits,
            deadline,
        } = &mut self.state
        else {
            return false;
        };
        let ActionKind::DigitsReceive(option) = &self.actions[*action].kind else {
            return true;
        };
        if option.key.as_deref().is_some_and(|k| k.contains(c)) {
            return true;
        }
        digits.push(c);
        if option
            .length
            .is_some_and(|n| digits.chars().count() >= n as usize)
        {
            return true;
        }
        // The wait restarts with each digit (inter-digit timeout).
        *deadline = later(now, option.duration);
        false
    }

    fn end_collecting(&mut self) {
        let State::Collecting { action, digits, .. } =
            std::mem::replace(&mut self.state, State::Idle)
        else {
            return;
        };
        self.vars.set("digits", digits);
        self.complete(action, ActionResult::Ok);
    }

    // ---- moving on ----

    /// Action `i` ended: on to its `next_id`, or the action below it.
    fn complete(&mut self, i: usize, result: ActionResult) {
        self.finish_action(i, result);
        match self.actions[i].next_id.clone() {
            Some(next) => self.go_to_id(&next),
            None => self.state = State::Next(i + 1),
        }
    }

    /// Action `i` ended by jumping to `target`.
    fn jump(&mut self, i: usize, target: &str) {
        self.finish_action(i, ActionResult::Ok);
        self.go_to_id(target);
    }

    fn go_to_id(&mut self, id: &str) {
        match self.ids.get(id) {
            Some(&index) => self.state = State::Next(index),
            None => self.finish(FinishReason::Failed {
                error: format!("no action has id `{id}`"),
            }),
        }
    }

    /// Action `i` hangs the call up: the run is over.
    fn hang_up(&mut self, i: usize, reason: HangupReason, result: ActionResult) {
        self.finish_action(i, result);
        self.push_command(CommandKind::Hangup { reason });
        self.finish(FinishReason::Hangup {
            hangup_reason: reason,
        });
    }

    /// Action `i` failed in a way that ends the flow (`answer`, `connect`).
    fn fail_flow(&mut self, i: usize, error: String) {
        let kind = self.actions[i].kind.name();
        self.finish_action(
            i,
            ActionResult::Failed {
                error: error.clone(),
            },
        );
        self.finish(FinishReason::Failed {
            error: format!("{kind} failed: {error}"),
        });
    }

    fn finish_action(&mut self, i: usize, result: ActionResult) {
        self.events.push_back(FlowEvent::ActionFinished {
            action: self.action_ref(i),
            result,
        });
    }

    /// Ends the action running, if any; returns the command it waited for.
    fn interrupt(&mut self) -> Option<CommandId> {
        let (action, command) = match self.state {
            State::Waiting { action, command } => (action, Some(command)),
            State::Sleeping { action, .. } | State::Collecting { action, .. } => (action, None),
            _ => return None,
        };
        self.finish_action(action, ActionResult::Interrupted);
        self.state = State::Next(action); // replaced by the caller
        command
    }

    fn finish(&mut self, reason: FinishReason) {
        match reason {
            FinishReason::CallEnded { .. } => self.commands.clear(),
            FinishReason::Hangup { .. } => {}
            FinishReason::End | FinishReason::Stop | FinishReason::Failed { .. } => {
                self.push_command(CommandKind::Finished);
            }
        }
        self.events.push_back(FlowEvent::FlowFinished { reason });
        self.state = State::Finished;
        self.detached.clear();
        self.typed_ahead.clear();
    }

    fn replace_flow(&mut self, flow: Flow) {
        self.actions = flow.actions;
        self.ids.clear();
        for (i, action) in self.actions.iter().enumerate() {
            if let Some(id) = &action.id {
                self.ids.entry(id.clone()).or_insert(i);
            }
        }
        self.goto_left.clear();
    }

    fn action_ref(&self, i: usize) -> ActionRef {
        let action = &self.actions[i];
        ActionRef {
            index: i,
            id: action.id.clone(),
            kind: action.kind.name(),
        }
    }
}

/// `now` plus `ms` milliseconds (saturating far in the future).
fn later(now: Instant, ms: u64) -> Instant {
    let d = Duration::from_millis(ms);
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365)))
        .unwrap_or(now)
}
