//! What goes into a [`crate::FlowRun`] and what comes out of it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::action::{
    Channels, DataType, Destination, Direction, Flow, Gender, HangupReason, HttpMethod,
    MachineHandle, RingMethod,
};

/// Something that happened to the call, fed to [`crate::FlowRun::handle`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Input {
    /// A command that takes time finished (or failed: the error says why).
    /// Answers to commands the run no longer waits for are ignored.
    CommandDone {
        id: CommandId,
        result: Result<Outcome, String>,
    },
    /// A DTMF digit from the call's party (`0-9 A-D * #`; `a-d` are taken
    /// as `A-D`, anything else is ignored), at any time.
    Digit(char),
    /// The call ended. The run stops at once and emits no command after it
    /// (commands not yet polled are dropped).
    Hangup { reason: HangupReason },
    /// Replace the rest of the flow with these actions, from the first
    /// (a mid-call `/redirect`). The action running is cancelled
    /// ([`CommandKind::Cancel`]). Ignored once the run has finished.
    Redirect(Flow),
    /// Set (or overwrite) variables.
    SetVariables(BTreeMap<String, String>),
}

/// What a finished command reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done, nothing to report.
    Done,
    /// `fetch`: the answer's body, an array of actions or `{"actions": [...]}`.
    Actions(Value),
    /// `webhook_send` with `sync`: the answer's JSON object.
    Data(Map<String, Value>),
    /// `amd`: who answered.
    Amd(AmdResult),
    /// `connect`: how the connected call went.
    Connect(ConnectResult),
}

/// What answering-machine detection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AmdResult {
    Human,
    Machine,
    NotSure,
}

impl AmdResult {
    /// As stored in `${amd.result}`: `human`, `machine`, `notsure`.
    pub fn as_str(self) -> &'static str {
        match self {
            AmdResult::Human => "human",
            AmdResult::Machine => "machine",
            AmdResult::NotSure => "notsure",
        }
    }
}

/// How a `connect` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectResult {
    /// A destination answered; the bridged call has since ended.
    Answered,
    /// Nobody answered: why (`busy`, `noanswer`, `failed`, ...).
    NotAnswered(HangupReason),
}

/// Names one command of a run, for its [`Input::CommandDone`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CommandId(pub u64);

/// Something the I/O layer must do to the call.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub id: CommandId,
    pub kind: CommandKind,
}

/// The commands. "Waits" means the run waits for this command's
/// [`Input::CommandDone`] before the next action; the others need none.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CommandKind {
    /// Answer the call; `Ok(Done)` at once if it already is. Waits; an
    /// error ends the flow.
    Answer,
    /// Speak `text` (variables substituted). Waits until spoken.
    Talk {
        text: String,
        language: String,
        gender: Gender,
    },
    /// Play the files in order, `loop_count` times. Waits until played.
    Play { urls: Vec<String>, loop_count: u32 },
    /// Play a beep. Waits.
    Beep,
    /// Send DTMF, `duration` per digit. Waits until sent.
    DigitsSend { digits: String, duration: Duration },
    /// Start recording. Waits (so an error is reported).
    RecordingStart {
        direction: Direction,
        channels: Channels,
    },
    /// Stop recording. Waits.
    RecordingStop,
    /// Call the destinations (targets substituted) and bridge the first
    /// that answers. Waits until the bridged call ends or nobody answered
    /// ([`Outcome::Connect`]); an error (could not place the calls) ends
    /// the flow.
    Connect {
        destinations: Vec<Destination>,
        ring_method: RingMethod,
        ring_timeout: Duration,
        early_media: bool,
    },
    /// Hang the call up. The run has finished; no answer is needed.
    Hangup { reason: HangupReason },
    /// Echo the party's audio for `duration`. Waits.
    Echo { duration: Duration },
    /// Mute. Waits.
    Mute { direction: Direction },
    /// Unmute. Waits.
    Unmute,
    /// Hold. Waits.
    Hold,
    /// Unhold. Waits.
    Unhold,
    /// Request `url` with the variables; answer [`Outcome::Actions`].
    /// Waits.
    Fetch {
        url: String,
        method: HttpMethod,
        variables: BTreeMap<String, String>,
    },
    /// Send the variables to `url`. Waits only when `sync` (answer
    /// [`Outcome::Data`]). Answer it without `sync` too: a failure is
    /// then reported as [`FlowEvent::CommandFailed`].
    WebhookSend {
        url: String,
        sync: bool,
        data_type: DataType,
        data: BTreeMap<String, String>,
    },
    /// Detect an answering machine; answer [`Outcome::Amd`]. Waits unless
    /// `asynchronous`. The run acts on `machine_handle` itself.
    Amd {
        machine_handle: MachineHandle,
        asynchronous: bool,
    },
    /// Stop command `id` (a redirect replaced the flow while it ran). Its
    /// answer, if one still comes, is ignored.
    Cancel { id: CommandId },
    /// The flow has finished by itself (ran off its end, `stop`, or an
    /// error). The I/O layer hangs the call up with `normal` (seed `001`:
    /// "after executing the call flow ... ends the call").
    Finished,
}

impl CommandKind {
    /// The command's name, as the action type that issues it where there is one.
    pub fn name(&self) -> &'static str {
        match self {
            CommandKind::Answer => "answer",
            CommandKind::Talk { .. } => "talk",
            CommandKind::Play { .. } => "play",
            CommandKind::Beep => "beep",
            CommandKind::DigitsSend { .. } => "digits_send",
            CommandKind::RecordingStart { .. } => "recording_start",
            CommandKind::RecordingStop => "recording_stop",
            CommandKind::Connect { .. } => "connect",
            CommandKind::Hangup { .. } => "hangup",
            CommandKind::Echo { .. } => "echo",
            CommandKind::Mute { .. } => "mute",
            CommandKind::Unmute => "unmute",
            CommandKind::Hold => "hold",
            CommandKind::Unhold => "unhold",
            CommandKind::Fetch { .. } => "fetch",
            CommandKind::WebhookSend { .. } => "webhook_send",
            CommandKind::Amd { .. } => "amd",
            CommandKind::Cancel { .. } => "cancel",
            CommandKind::Finished => "finished",
        }
    }
}

/// What the run reports, for webhooks and logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FlowEvent {
    /// An action began.
    ActionStarted { action: ActionRef },
    /// An action ended.
    ActionFinished {
        action: ActionRef,
        result: ActionResult,
    },
    /// A command that the flow did not wait for (`amd` with `async`,
    /// `webhook_send` without `sync`) failed after its action had finished.
    CommandFailed { action: ActionRef, error: String },
    /// The run is over; nothing more comes out of it.
    FlowFinished { reason: FinishReason },
}

/// An action, as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionRef {
    /// Its position in the flow it belongs to (fetch and redirect start new flows).
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ActionResult {
    Ok,
    /// Its command failed (or its input was bad once variables were
    /// substituted). The flow goes on with the next action unless the
    /// action was `answer` or `connect`.
    Failed {
        error: String,
    },
    /// A hangup, a redirect or an `amd` hangup cut it short.
    Interrupted,
}

/// Why a run finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum FinishReason {
    /// It ran off the end of its actions.
    End,
    /// A `stop` action.
    Stop,
    /// A `hangup` action, or `amd` finding a machine with `machine_handle: hangup`.
    Hangup { hangup_reason: HangupReason },
    /// The call ended ([`Input::Hangup`]).
    CallEnded { hangup_reason: HangupReason },
    /// `answer` or `connect` failed, a jump named no action, or the loop guard tripped.
    Failed { error: String },
}
