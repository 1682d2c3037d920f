//! Running flows on live calls: the I/O side of `flow::FlowRun`.
//!
//! One task per run owns its `FlowRun` and feeds it the call's events
//! (digits, the hangup) from the event stream, redirects from the API and
//! the answers of the commands it asked for. Each command runs in its own
//! task through the same code paths as the REST API (the same checks and
//! events: a flow's `play` is a `POST /v1/calls/{id}/play`), and answers
//! with `Input::CommandDone`.
//!
//! ```text
//!  engine Event::Incoming ─▶ Flows::incoming ──▶ run task ◀── /v1/events broadcast (dtmf_received, call_hangup)
//!  POST /v1/calls ─▶ Flows::after_answer ─▶ (call_progressing) ─▶ run task ◀── POST /v1/calls/{id}/redirect
//!  run task: poll_command ─▶ spawned command task ─▶ CommandDone ─▶ run.handle
//! ```
//!
//! When a flow finishes by itself (its end, `stop`, an error), its call is
//! hung up `normal` (seed `001`).

use crate::api::{ApiError, AppState, JsonBody};
use crate::emit::Emitter;
use axum::extract::{Path, State};
use chrono::Utc;
use flow::{
    Command, CommandId, CommandKind, ConnectResult, Flow, FlowEvent, FlowRun, Input, Outcome,
    Variables,
};
use model::{Envelope, EventType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

/// The flow runs of live calls (cheap to clone).
#[derive(Debug, Clone)]
pub struct Flows {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: OnceLock<Weak<AppState>>,
    emitter: Emitter,
    runs: Mutex<HashMap<Uuid, mpsc::UnboundedSender<Input>>>,
    http: reqwest::Client,
}

impl Flows {
    pub fn new(emitter: Emitter) -> Flows {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent("Dialtone")
            .build()
            .unwrap_or_default();
        Flows {
            inner: Arc::new(Inner {
                state: OnceLock::new(),
                emitter,
                runs: Mutex::default(),
                http,
            }),
        }
    }

    /// Gives the runs the API state they act through (once, at start).
    pub fn attach(&self, state: &Arc<AppState>) {
        let _ = self.inner.state.set(Arc::downgrade(state));
    }

    fn state(&self) -> Option<Arc<AppState>> {
        self.inner.state.get()?.upgrade()
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, mpsc::UnboundedSender<Input>>> {
        self.inner
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a flow runs on `call`.
    pub fn running(&self, call: Uuid) -> bool {
        self.runs().contains_key(&call)
    }

    /// An inbound call to a number: runs its flow (a flow deleted since
    /// the number was set ends the call `failed`).
    pub fn incoming(&self, call: Uuid, flow_id: Uuid) {
        let flows = self.clone();
        tokio::spawn(async move {
            let Some(state) = flows.state() else { return };
            let events = state.events.subscribe();
            match load(&state, flow_id).await {
                Ok(flow) => flows.run(state, call, flow, Some(flow_id), events),
                Err(e) => {
                    tracing::warn!(%call, %flow_id, error = %e.message, "flow not run");
                    let _ = state
                        .switch
                        .hangup_with(call, model::HangupReason::Failed)
                        .await;
                }
            }
        });
    }

    /// Runs `flow` on whichever of `calls` answers first (or at once on
    /// the first, `early`). `events` must be subscribed before the calls
    /// were placed, so no answer is missed.
    pub fn after_answer(
        &self,
        calls: Vec<Uuid>,
        flow: Flow,
        flow_id: Option<Uuid>,
        early: bool,
        mut events: broadcast::Receiver<Arc<Envelope>>,
    ) {
        let flows = self.clone();
        tokio::spawn(async move {
            let Some(state) = flows.state() else { return };
            if early {
                if let Some(first) = calls.first() {
                    flows.run(state, *first, flow, flow_id, events);
                }
                return;
            }
            // The engine knows which dial a call belongs to (a linear
            // dial creates its later calls as earlier ones fail).
            let Some(first) = calls.first().copied() else {
                return;
            };
            let Some(dial) = state.switch.dial_of(first).await else {
                return;
            };
            loop {
                let ev = match events.recv().await {
                    Ok(ev) => ev,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(id) = call_id(&ev) else { continue };
                let dialed =
                    ev.data["direction"] == "outgoing" && ev.data["master_call_id"].is_null();
                match ev.kind {
                    EventType::CallProgressing
                        if dialed && state.switch.dial_of(id).await == Some(dial) =>
                    {
                        flows.run(state, id, flow, flow_id, events);
                        return;
                    }
                    EventType::CallHangup if dialed && !state.switch.dial_active(dial).await => {
                        return;
                    }
                    _ => {}
                }
            }
        });
    }

    /// Replaces the running flow of `call` with `flow` (`/redirect`).
    pub fn redirect(&self, call: Uuid, flow: Flow) -> Result<(), ApiError> {
        match self.runs().get(&call) {
            Some(tx) if tx.send(Input::Redirect(flow)).is_ok() => Ok(()),
            _ => Err(ApiError::conflict(format!(
                "call {call} runs no flow (it ended, or its flow finished)"
            ))),
        }
    }

    /// Starts a run on `call`.
    fn run(
        &self,
        state: Arc<AppState>,
        call: Uuid,
        flow: Flow,
        flow_id: Option<Uuid>,
        events: broadcast::Receiver<Arc<Envelope>>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut runs = self.runs();
            if runs.contains_key(&call) {
                tracing::warn!(%call, "a flow already runs on this call");
                return;
            }
            runs.insert(call, tx.clone());
        }
        let flows = self.clone();
        tokio::spawn(async move {
            run_loop(&flows, state, call, flow, flow_id, events, rx, tx).await;
            flows.runs().remove(&call);
        });
    }

    fn emit(&self, call: Uuid, kind: EventType, data: serde_json::Value) {
        self.inner.emitter.emit(call, kind, false, || data);
    }
}

/// A stored flow.
pub async fn load(state: &AppState, id: Uuid) -> Result<Flow, ApiError> {
    let v: serde_json::Value =
        crate::api::routing::stored(state, store::ResourceKind::Flow, id).await?;
    let actions = v.get("actions").cloned().unwrap_or_default();
    flow::validate(&serde_json::json!({ "actions": actions }))
        .map_err(|errs| ApiError::internal(format!("stored flow {id} is invalid: {errs:?}")))
}

/// The call an event is about.
fn call_id(ev: &Envelope) -> Option<Uuid> {
    let v = match ev.kind {
        EventType::CallCreated
        | EventType::CallUpdated
        | EventType::CallRinging
        | EventType::CallProgressing
        | EventType::CallHangup => &ev.data["id"],
        _ => &ev.data["call_id"],
    };
    v.as_str().and_then(|s| s.parse().ok())
}

#[allow(clippy::too_many_arguments)]
async fn run_loop(
    flows: &Flows,
    state: Arc<AppState>,
    call: Uuid,
    flow: Flow,
    flow_id: Option<Uuid>,
    mut events: broadcast::Receiver<Arc<Envelope>>,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    tx: mpsc::UnboundedSender<Input>,
) {
    let record = state.switch.call(call).await;
    let Some(record) = record else { return };
    let vars = Variables::from_call(&serde_json::to_value(&record).unwrap_or_default());
    let mut run = FlowRun::new(flow, vars, Instant::now());
    flows.emit(
        call,
        EventType::FlowStarted,
        serde_json::json!({"call_id": call, "flow_id": flow_id}),
    );
    run.start(Instant::now(), Utc::now());
    let mut tasks: HashMap<CommandId, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        // What the run says first, then what it asks for: a hangup's
        // `call_hangup` comes after the flow's own events.
        while let Some(e) = run.poll_event() {
            let (kind, mut data) = match &e {
                FlowEvent::ActionStarted { .. } => (EventType::FlowActionStarted, json(&e)),
                FlowEvent::ActionFinished { .. } | FlowEvent::CommandFailed { .. } => {
                    (EventType::FlowActionFinished, json(&e))
                }
                FlowEvent::FlowFinished { .. } => (EventType::FlowFinished, json(&e)),
                _ => continue,
            };
            data["call_id"] = serde_json::json!(call);
            if kind == EventType::FlowFinished {
                // `reason` flat: {"reason": "hangup", "hangup_reason": "normal"}.
                if let Some(r) = data.get("reason").and_then(|r| r.as_object()).cloned() {
                    for (k, v) in r {
                        data[k.as_str()] = v;
                    }
                }
                data["variables"] = serde_json::json!(run.variables().to_map());
            }
            if let Some(o) = data.as_object_mut() {
                o.remove("type");
            }
            flows.emit(call, kind, data);
        }
        while let Some(cmd) = run.poll_command() {
            match cmd.kind {
                CommandKind::Cancel { id } => {
                    if let Some(t) = tasks.remove(&id) {
                        t.abort();
                    }
                    // A play, talk or echo cut short by a redirect stops.
                    let leg = net::rtp::LegId(call.as_u128());
                    state.relay.stop_play(leg);
                    let _ = state.relay.set_echo(leg, false);
                }
                CommandKind::Finished => {
                    let _ = state
                        .switch
                        .hangup_with(call, model::HangupReason::Normal)
                        .await;
                }
                CommandKind::Hangup { reason } => {
                    let _ = state.switch.hangup_with(call, reason.into()).await;
                }
                _ => {
                    let id = cmd.id;
                    let (state, tx, flows) = (state.clone(), tx.clone(), flows.clone());
                    tasks.retain(|_, t| !t.is_finished());
                    tasks.insert(
                        id,
                        tokio::spawn(async move {
                            let result = execute(&flows, &state, call, cmd).await;
                            let _ = tx.send(Input::CommandDone { id, result });
                        }),
                    );
                }
            }
        }
        if run.is_finished() {
            break;
        }
        let deadline = run.poll_timeout();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(input) = inputs.recv() => run.handle(Instant::now(), Utc::now(), input),
            ev = events.recv() => match ev {
                Ok(ev) if call_id(&ev) == Some(call) => match ev.kind {
                    EventType::DtmfReceived => {
                        if let Some(d) = ev.data["digit"].as_str().and_then(|d| d.chars().next()) {
                            run.handle(Instant::now(), Utc::now(), Input::Digit(d));
                        }
                    }
                    EventType::CallHangup => {
                        let reason = ev.data["hangup_reason"]
                            .as_str()
                            .and_then(|r| serde_json::from_value(serde_json::json!(r)).ok())
                            .unwrap_or_default();
                        run.handle(Instant::now(), Utc::now(), Input::Hangup { reason });
                    }
                    _ => {}
                },
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            () = sleep => run.handle_timeout(Instant::now(), Utc::now()),
        }
    }
    for (_, t) in tasks {
        t.abort();
    }
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Waits for an event of `call` that `pick` accepts; `None` when the call
/// hangs up first (or the stream ends).
async fn wait_for<T>(
    events: &mut broadcast::Receiver<Arc<Envelope>>,
    call: Uuid,
    mut pick: impl FnMut(&Envelope) -> Option<T>,
) -> Option<T> {
    loop {
        match events.recv().await {
            Ok(ev) if call_id(&ev) == Some(call) => {
                if let Some(t) = pick(&ev) {
                    return Some(t);
                }
                if ev.kind == EventType::CallHangup {
                    return None;
                }
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

fn err(e: ApiError) -> String {
    e.message
}

/// Carries out one command; the result goes back to the run.
async fn execute(
    flows: &Flows,
    state: &Arc<AppState>,
    call: Uuid,
    cmd: Command,
) -> Result<Outcome, String> {
    let st = || State(state.clone());
    let path = || Path(call.to_string());
    match cmd.kind {
        CommandKind::Answer => answer(state, call).await.map(|()| Outcome::Done),
        CommandKind::Play { urls, loop_count } => {
            answer(state, call).await?;
            let id = crate::actions::play(state, call, &urls, loop_count.max(1))
                .await
                .map_err(err)?;
            played(state, id).await
        }
        CommandKind::Talk {
            text,
            language,
            gender,
        } => {
            answer(state, call).await?;
            let gender = Some(match gender {
                flow::Gender::Male => crate::tts::Gender::Male,
                flow::Gender::Female => crate::tts::Gender::Female,
                _ => crate::tts::Gender::Neutral,
            });
            let id = crate::actions::talk(state, call, &text, Some(&language), gender)
                .await
                .map_err(err)?;
            played(state, id).await
        }
        CommandKind::Beep => {
            answer(state, call).await?;
            let id = crate::actions::beep(state, call).await.map_err(err)?;
            played(state, id).await
        }
        CommandKind::Echo { duration } => {
            answer(state, call).await?;
            crate::actions::set_echo(state, call, true)
                .await
                .map_err(err)?;
            tokio::time::sleep(duration).await;
            let _ = crate::actions::set_echo(state, call, false).await;
            Ok(Outcome::Done)
        }
        CommandKind::Amd { .. } => {
            answer(state, call).await?;
            let verdict = crate::actions::amd(state, call, media::amd::AmdConfig::default())
                .await
                .map_err(err)?;
            Ok(Outcome::Amd(match verdict.result {
                media::amd::AmdResult::Human => flow::AmdResult::Human,
                media::amd::AmdResult::Machine => flow::AmdResult::Machine,
                media::amd::AmdResult::NotSure => flow::AmdResult::NotSure,
            }))
        }
        CommandKind::DigitsSend { digits, duration } => {
            let ms = duration.as_millis() as u64;
            let body = serde_json::from_value(serde_json::json!({
                "digits": digits, "duration": ms
            }))
            .map_err(|e| e.to_string())?;
            let _sent = crate::api::calls::dtmf(st(), path(), JsonBody(body))
                .await
                .map_err(err)?;
            // Sent in real time: each digit, then a 100 ms pause.
            let n = digits.chars().count() as u64;
            tokio::time::sleep(Duration::from_millis(n * (ms + 100))).await;
            Ok(Outcome::Done)
        }
        CommandKind::RecordingStart {
            direction,
            channels,
        } => {
            answer(state, call).await?;
            let body = serde_json::json!({"direction": direction, "channels": channels});
            crate::api::recordings::start(st(), path(), body.to_string().into())
                .await
                .map(|_| Outcome::Done)
                .map_err(err)
        }
        CommandKind::RecordingStop => crate::api::recordings::stop(st(), path(), "".into())
            .await
            .map(|_| Outcome::Done)
            .map_err(err),
        CommandKind::Mute { direction } => {
            let direction = match direction {
                flow::Direction::In => model::MuteDirection::In,
                flow::Direction::Out => model::MuteDirection::Out,
                _ => model::MuteDirection::Both,
            };
            crate::api::calls::set_mute(state, call, Some(direction))
                .await
                .map(|_| Outcome::Done)
                .map_err(err)
        }
        CommandKind::Unmute => crate::api::calls::set_mute(state, call, None)
            .await
            .map(|_| Outcome::Done)
            .map_err(err),
        CommandKind::Hold | CommandKind::Unhold => {
            let on = matches!(cmd.kind, CommandKind::Hold);
            crate::api::calls::hold_or_resume(state, call, on)
                .await
                .map(|_| Outcome::Done)
                .map_err(err)
        }
        CommandKind::Connect {
            destinations,
            ring_method,
            ring_timeout,
            ..
        } => connect(state, call, destinations, ring_method, ring_timeout).await,
        CommandKind::Fetch {
            url,
            method,
            variables,
        } => {
            let req = match method {
                flow::HttpMethod::Get => flows.inner.http.get(&url).query(&variables),
                _ => flows.inner.http.post(&url).json(&variables),
            };
            let body: serde_json::Value = http_json(req).await?;
            Ok(Outcome::Actions(body))
        }
        CommandKind::WebhookSend {
            url, sync, data, ..
        } => {
            let req = flows.inner.http.post(&url).json(&data);
            if sync {
                match http_json(req).await? {
                    serde_json::Value::Object(m) => Ok(Outcome::Data(m)),
                    _ => Ok(Outcome::Data(Default::default())),
                }
            } else {
                let r = req.send().await.map_err(|e| format!("{url}: {e}"))?;
                if !r.status().is_success() {
                    return Err(format!("{url}: answered {}", r.status()));
                }
                Ok(Outcome::Done)
            }
        }
        other => Err(format!(
            "the {} action is not available in this build",
            other.name()
        )),
    }
}

/// Waits for a play (file, talk, beep) to end.
async fn played(state: &AppState, id: net::rtp::PlayId) -> Result<Outcome, String> {
    match crate::actions::play_finished(state, id).await {
        crate::playback::PlayOutcome::Hangup => Err("the call ended during the play".into()),
        _ => Ok(Outcome::Done),
    }
}

async fn http_json(req: reqwest::RequestBuilder) -> Result<serde_json::Value, String> {
    let r = req.send().await.map_err(|e| e.to_string())?;
    let url = r.url().to_string();
    if !r.status().is_success() {
        return Err(format!("{url}: answered {}", r.status()));
    }
    r.json()
        .await
        .map_err(|e| format!("{url}: the answer is not JSON: {e}"))
}

/// Answers the call if it is not yet: an inbound call is answered now, a
/// call Dialtone dialed (early execution) is waited for.
async fn answer(state: &AppState, call: Uuid) -> Result<(), String> {
    let mut events = state.events.subscribe();
    let now = state.switch.call(call).await.ok_or("the call has ended")?;
    if now.status == model::CallStatus::Progressing {
        return Ok(());
    }
    if now.direction == model::Direction::Incoming {
        state.switch.answer(call).await.map_err(err)?;
    }
    // Done once the answer is on the event stream (the flow's next events
    // come after `call_progressing`).
    wait_for(&mut events, call, |ev| {
        (ev.kind == EventType::CallProgressing).then_some(())
    })
    .await
    .ok_or_else(|| "the call ended before it was answered".to_owned())
}

/// `connect`: dials the destinations joined to `call` and waits until the
/// joined call ends, or nobody answered.
async fn connect(
    state: &Arc<AppState>,
    call: Uuid,
    destinations: Vec<flow::Destination>,
    ring_method: flow::RingMethod,
    ring_timeout: Duration,
) -> Result<Outcome, String> {
    answer(state, call).await?;
    let record = state.switch.call(call).await.ok_or("the call has ended")?;
    let from = record.chained_call_ids.len();
    let mut dests = Vec::new();
    for d in destinations {
        let address: model::Address =
            serde_json::from_value(serde_json::to_value(&d).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        dests.push(
            crate::api::calls::dial_destination(address)
                .await
                .map_err(err)?,
        );
    }
    let dial = engine::Dial {
        source: record.source.clone(),
        destinations: dests,
        ring_method: match ring_method {
            flow::RingMethod::Linear => model::RingMethod::Linear,
            _ => model::RingMethod::RingAll,
        },
        ring_timeout: Some(ring_timeout),
        join: Some(call),
        failover: true,
        flow_id: None,
    };
    let mut events = state.events.subscribe();
    state.switch.dial(dial, |_| {}).await.map_err(err)?;
    // Woken by the hangups of the joined calls (and of this one): the
    // engine says whether any of them still dials or talks.
    let mut reason = flow::HangupReason::Noanswer;
    loop {
        let (live, answered) = state.switch.joined_state(call, from).await;
        if !live {
            return Ok(Outcome::Connect(if answered {
                ConnectResult::Answered
            } else {
                ConnectResult::NotAnswered(reason)
            }));
        }
        match events.recv().await {
            Ok(ev) if ev.kind == EventType::CallHangup => {
                if ev.data["master_call_id"].as_str() == Some(call.to_string().as_str()) {
                    // Why the last joined call that ended did.
                    if let Some(r) = ev.data["hangup_reason"]
                        .as_str()
                        .and_then(|r| serde_json::from_value(serde_json::json!(r)).ok())
                    {
                        reason = r;
                    }
                } else if call_id(&ev) != Some(call) {
                    continue;
                }
            }
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return Err("the server is stopping".into()),
        }
    }
}
