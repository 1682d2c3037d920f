//! A scripted caller for [`flow::FlowRun`] on a fake clock.
//!
//! The script says what the caller does and when (digits, hangup, a
//! redirect from the API) and how long the I/O layer takes to perform each
//! command (with what outcome). [`Caller::run`] steps the run, always to the
//! earliest of: the next scripted input, the next command completion, the
//! run's own timer. Nothing sleeps; ties go scripted input, then
//! completions (in the order issued), then the timer.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use flow::{
    AmdResult, Command, CommandId, CommandKind, ConnectResult, FlowEvent, FlowRun, HangupReason,
    Input, Outcome, Variables,
};
use serde_json::{json, Value};
use testkit::FakeClock;

/// How the I/O layer answers a command.
pub enum Reply {
    /// `CommandDone` after this long.
    After(Duration, Result<Outcome, String>),
    /// No answer (hangup, finished, cancel; or a command left hanging).
    Never,
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn ok_after(n: u64) -> Reply {
    Reply::After(ms(n), Ok(Outcome::Done))
}

type Responder = Box<dyn FnMut(&CommandKind) -> Option<Reply>>;

pub struct Caller {
    pub clock: FakeClock,
    /// Wall-clock time at the fake clock's base.
    pub wall0: DateTime<Utc>,
    pub run: FlowRun,
    /// Scripted inputs: (time since start, order, input).
    inputs: Vec<(Duration, u64, Input)>,
    /// Command answers due: (when, order, id, result).
    pending: Vec<(Instant, u64, CommandId, Result<Outcome, String>)>,
    seq: u64,
    responder: Responder,
    /// Every command, described, with the time it was issued.
    pub timeline: Vec<(Duration, String)>,
    /// Every command as issued.
    pub issued: Vec<Command>,
    pub events: Vec<FlowEvent>,
    /// Inputs (and timer firings) delivered so far.
    pub steps: usize,
    /// Hang up (reason normal) right after this many steps.
    pub hangup_after_steps: Option<usize>,
    /// How many commands had been issued when a hangup was delivered.
    pub commands_at_hangup: Option<usize>,
    /// The step at which the run was seen finished.
    pub finished_at_step: Option<usize>,
    started: bool,
}

/// A call from Ann at +15550100 to extension 100.
pub fn call_json() -> Value {
    json!({
        "id": "8a7c3f0e-0000-4000-8000-000000000001",
        "direction": "incoming",
        "source": {"type": "tel", "target": "+15550100", "name": "Ann"},
        "destination": {"type": "extension", "target": "100", "name": ""},
        "status": "progressing",
        "chained_call_ids": [],
    })
}

impl Caller {
    /// A caller on a flow given as JSON (which must validate), with
    /// [`call_json`]'s call fields, on Monday 2024-01-01 00:00 UTC.
    pub fn new(flow: Value) -> Caller {
        Caller::with_call(flow, call_json())
    }

    pub fn with_call(flow: Value, call: Value) -> Caller {
        let flow = flow::validate(&flow).unwrap_or_else(|e| panic!("test flow invalid: {e:#?}"));
        let clock = FakeClock::new();
        let run = FlowRun::new(flow, Variables::from(call), clock.now());
        Caller {
            clock,
            wall0: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
            run,
            inputs: Vec::new(),
            pending: Vec::new(),
            seq: 0,
            responder: Box::new(|_| None),
            timeline: Vec::new(),
            issued: Vec::new(),
            events: Vec::new(),
            steps: 0,
            hangup_after_steps: None,
            commands_at_hangup: None,
            finished_at_step: None,
            started: false,
        }
    }

    /// The wall clock starts at `wall0` instead.
    pub fn at_wall(mut self, wall0: DateTime<Utc>) -> Caller {
        self.wall0 = wall0;
        self
    }

    /// Answers commands with `f`; where it returns `None`, [`default_reply`].
    pub fn respond(mut self, f: impl FnMut(&CommandKind) -> Option<Reply> + 'static) -> Caller {
        self.responder = Box::new(f);
        self
    }

    fn script(&mut self, at: Duration, input: Input) {
        self.seq += 1;
        self.inputs.push((at, self.seq, input));
    }

    /// The caller presses `digits`, the first at `at_ms`, then one every 100 ms.
    pub fn press(mut self, at_ms: u64, digits: &str) -> Caller {
        for (i, c) in digits.chars().enumerate() {
            self.script(ms(at_ms + 100 * i as u64), Input::Digit(c));
        }
        self
    }

    /// The call ends at `at_ms`.
    pub fn hangup_at(mut self, at_ms: u64) -> Caller {
        self.script(
            ms(at_ms),
            Input::Hangup {
                reason: HangupReason::Normal,
            },
        );
        self
    }

    /// The API redirects the call to `flow` at `at_ms`.
    pub fn redirect_at(mut self, at_ms: u64, flow: Value) -> Caller {
        let flow = flow::validate(&flow).expect("redirect flow valid");
        self.script(ms(at_ms), Input::Redirect(flow));
        self
    }

    /// Any other input at `at_ms`.
    pub fn input_at(mut self, at_ms: u64, input: Input) -> Caller {
        self.script(ms(at_ms), input);
        self
    }

    fn wall(&self) -> DateTime<Utc> {
        self.wall0 + self.clock.elapsed()
    }

    /// Runs the script to its end: the run finished and no input is left,
    /// or nothing more can happen.
    pub fn run(mut self) -> Caller {
        if !self.started {
            self.started = true;
            let (now, wall) = (self.clock.now(), self.wall());
            self.run.start(now, wall);
        }
        for _ in 0..100_000 {
            self.drain();
            if self.hangup_after_steps == Some(self.steps) && !self.run.is_finished() {
                self.deliver(Input::Hangup {
                    reason: HangupReason::Normal,
                });
                continue;
            }
            let next_input = self
                .inputs
                .iter()
                .map(|(t, s, _)| (self.clock.base() + *t, *s))
                .min();
            let next_done = self.pending.iter().map(|(t, s, _, _)| (*t, *s)).min();
            let timer = self.run.poll_timeout();
            let Some(next) = [next_input.map(|x| x.0), next_done.map(|x| x.0), timer]
                .into_iter()
                .flatten()
                .min()
            else {
                return self;
            };
            if self.run.is_finished() && next_input.is_none() && next_done.is_none() {
                return self;
            }
            self.clock.set(next);
            if let Some((t, s)) = next_input.filter(|(t, _)| *t == next) {
                let _ = t;
                let i = self
                    .inputs
                    .iter()
                    .position(|(_, seq, _)| *seq == s)
                    .unwrap();
                let (_, _, input) = self.inputs.remove(i);
                self.deliver(input);
            } else if let Some((_, s)) = next_done.filter(|(t, _)| *t == next) {
                let i = self
                    .pending
                    .iter()
                    .position(|(_, seq, _, _)| *seq == s)
                    .unwrap();
                let (_, _, id, result) = self.pending.remove(i);
                self.deliver(Input::CommandDone { id, result });
            } else {
                let (now, wall) = (self.clock.now(), self.wall());
                self.run.handle_timeout(now, wall);
                self.steps += 1;
            }
        }
        panic!("the script did not settle in 100000 steps: a livelock?");
    }

    fn deliver(&mut self, input: Input) {
        if matches!(input, Input::Hangup { .. }) && self.commands_at_hangup.is_none() {
            self.drain();
            self.commands_at_hangup = Some(self.issued.len());
        }
        let (now, wall) = (self.clock.now(), self.wall());
        self.run.handle(now, wall, input);
        self.steps += 1;
    }

    fn drain(&mut self) {
        while let Some(command) = self.run.poll_command() {
            let at = self.clock.elapsed();
            let text = describe(&command.kind, &self.issued);
            self.timeline.push((at, text));
            let reply =
                (self.responder)(&command.kind).unwrap_or_else(|| default_reply(&command.kind));
            if let Reply::After(delay, result) = reply {
                self.seq += 1;
                self.pending
                    .push((self.clock.now() + delay, self.seq, command.id, result));
            }
            self.issued.push(command);
        }
        while let Some(event) = self.run.poll_event() {
            self.events.push(event);
        }
        if self.run.is_finished() && self.finished_at_step.is_none() {
            self.finished_at_step = Some(self.steps);
        }
    }

    /// The commands issued, described.
    pub fn commands(&self) -> Vec<String> {
        self.timeline.iter().map(|(_, s)| s.clone()).collect()
    }

    /// When (ms since start) the first command described as `what` was issued.
    pub fn issued_at(&self, what: &str) -> u64 {
        let (t, _) = self
            .timeline
            .iter()
            .find(|(_, s)| s == what)
            .unwrap_or_else(|| panic!("`{what}` never issued: {:?}", self.timeline));
        t.as_millis() as u64
    }

    pub fn var(&self, name: &str) -> Option<String> {
        self.run.variables().get(name).map(str::to_owned)
    }

    /// The last event, which for a finished run is `FlowFinished`.
    pub fn finish_reason(&self) -> flow::FinishReason {
        match self.events.last() {
            Some(FlowEvent::FlowFinished { reason }) => reason.clone(),
            other => panic!("the run has not finished: last event {other:?}"),
        }
    }
}

/// How long the I/O layer takes by default: answer at once, a talk 2 s, a
/// play 3 s, a beep 0.5 s, digits 250 ms each, media controls 10 ms, a
/// connected call 30 s (answered), an echo its duration, AMD 2 s (not
/// sure), a webhook 100 ms; a fetch fails (a test that fetches scripts it).
pub fn default_reply(kind: &CommandKind) -> Reply {
    match kind {
        CommandKind::Answer => ok_after(0),
        CommandKind::Talk { .. } => ok_after(2000),
        CommandKind::Play { .. } => ok_after(3000),
        CommandKind::Beep => ok_after(500),
        CommandKind::DigitsSend { digits, duration } => {
            Reply::After(*duration * digits.len() as u32, Ok(Outcome::Done))
        }
        CommandKind::Connect { .. } => {
            Reply::After(ms(30_000), Ok(Outcome::Connect(ConnectResult::Answered)))
        }
        CommandKind::Echo { duration } => Reply::After(*duration, Ok(Outcome::Done)),
        CommandKind::Fetch { .. } => Reply::After(ms(100), Err("no fetch scripted".into())),
        CommandKind::WebhookSend { .. } => ok_after(100),
        CommandKind::Amd { .. } => Reply::After(ms(2000), Ok(Outcome::Amd(AmdResult::NotSure))),
        CommandKind::Hangup { .. } | CommandKind::Finished | CommandKind::Cancel { .. } => {
            Reply::Never
        }
        _ => ok_after(10),
    }
}

/// A command in one line: `talk:Hello`, `hangup:busy`, `cancel:talk`.
pub fn describe(kind: &CommandKind, issued: &[Command]) -> String {
    match kind {
        CommandKind::Talk { text, .. } => format!("talk:{text}"),
        CommandKind::Play { urls, loop_count } => format!("play:{}x{loop_count}", urls.join(",")),
        CommandKind::DigitsSend { digits, .. } => format!("digits_send:{digits}"),
        CommandKind::RecordingStart {
            direction,
            channels,
        } => format!("recording_start:{direction:?}/{channels:?}").to_lowercase(),
        CommandKind::Connect { destinations, .. } => format!(
            "connect:{}",
            destinations
                .iter()
                .map(|d| d.target.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        CommandKind::Hangup { reason } => format!("hangup:{}", reason.as_str()),
        CommandKind::Echo { duration } => format!("echo:{}", duration.as_millis()),
        CommandKind::Mute { direction } => format!("mute:{direction:?}").to_lowercase(),
        CommandKind::Fetch { url, method, .. } => {
            let method = match method {
                flow::HttpMethod::Get => "GET",
                _ => "POST",
            };
            format!("fetch:{method} {url}")
        }
        CommandKind::WebhookSend { url, sync, .. } => {
            format!(
                "webhook_send:{url} {}",
                if *sync { "sync" } else { "async" }
            )
        }
        CommandKind::Amd {
            machine_handle,
            asynchronous,
        } => format!(
            "amd:{machine_handle:?}{}",
            if *asynchronous { " async" } else { "" }
        )
        .to_lowercase(),
        CommandKind::Cancel { id } => {
            let name = issued
                .iter()
                .find(|c| c.id == *id)
                .map(|c| c.kind.name())
                .unwrap_or("?");
            format!("cancel:{name}")
        }
        other => other.name().to_owned(),
    }
}
