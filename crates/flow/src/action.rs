//! The flow language: a [`Flow`] is a list of [`Action`]s, each
//! `{"id"?, "next_id"?, "type", "option"?}` with a typed option per kind.
//!
//! Every option struct rejects unknown fields, so a typo (`"lenght"`) is an
//! error at save time rather than a silently ignored setting. Fields with a
//! default may be left out; a kind whose fields all have defaults (or that
//! has none) may leave out `option` altogether.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A call flow: the actions run in order, from the first.
///
/// `Deserialize` checks the shape of each action (its type and option
/// fields); [`crate::validate`] also checks ranges, ids and targets. Use
/// `validate` for anything a user sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// The actions, run from the first.
    pub actions: Vec<Action>,
}

impl Flow {
    pub fn new(actions: Vec<Action>) -> Flow {
        Flow { actions }
    }
}

/// One step of a flow.
///
/// On the wire: `{"id"?: string, "next_id"?: string, "type": "<kind>",
/// "option"?: {...}}`. `id` names the action for `goto`, `branch`, the
/// conditions and `next_id`; `next_id`, when set, is where the flow goes
/// after this action instead of the action below it.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub id: Option<String>,
    pub next_id: Option<String>,
    pub kind: ActionKind,
}

impl Action {
    /// An action without an id or a `next_id`.
    pub fn new(kind: ActionKind) -> Action {
        Action {
            id: None,
            next_id: None,
            kind,
        }
    }

    /// The same action with an id.
    pub fn with_id(mut self, id: &str) -> Action {
        self.id = Some(id.to_owned());
        self
    }

    /// The same action with a `next_id`.
    pub fn with_next_id(mut self, next_id: &str) -> Action {
        self.next_id = Some(next_id.to_owned());
        self
    }
}

impl From<ActionKind> for Action {
    fn from(kind: ActionKind) -> Action {
        Action::new(kind)
    }
}

/// Declares [`ActionKind`], its type names and the per-kind plumbing
/// (parsing an option, serializing it, its schema) from one list.
macro_rules! action_kinds {
    ( $( $(#[$meta:meta])* $variant:ident $( ( $opt:ty ) )? = $name:literal, )* ) => {
        /// What an action does, with its typed option. See the crate docs
        /// for each kind's behaviour.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum ActionKind {
            $( $(#[$meta])* $variant $( ($opt) )?, )*
        }

        /// Every action type, as spelled in `"type"`, in documentation order.
        pub const KINDS: &[&str] = &[ $( $name, )* ];

        impl ActionKind {
            /// The action's `"type"`.
            pub fn name(&self) -> &'static str {
                match self {
                    $( action_kinds!(@pat $variant $( $opt )?) => $name, )*
                }
            }

            /// Parses the option of an action of type `kind` (`None` when
            /// the action has no `"option"`). The error is the path inside
            /// the option (empty for the option itself) and a message; an
            /// unknown `kind` is `None`.
            pub(crate) fn parse(kind: &str, option: Option<&Value>) -> Option<Result<ActionKind, (String, String)>> {
                let empty = Value::Object(Default::default());
                let option = match option {
                    None | Some(Value::Null) => &empty,
                    Some(v) => v,
                };
                Some(match kind {
                    $( $name => action_kinds!(@parse option, $variant $( $opt )?), )*
                    _ => return None,
                })
            }

            /// The option as JSON (`None` for a kind without fields).
            pub(crate) fn option_json(&self) -> Option<Value> {
                match self {
                    $( action_kinds!(@bind o, $variant $( $opt )?) => action_kinds!(@json o, $( $opt )?), )*
                }
            }

            /// `(type, option schema, option required)` for every kind.
            pub(crate) fn option_schemas(generator: &mut schemars::SchemaGenerator) -> Vec<(&'static str, schemars::Schema, bool)> {
                vec![ $( (
                    $name,
                    action_kinds!(@schema generator, $( $opt )?),
                    action_kinds!(@required $( $opt )?),
                ), )* ]
            }
        }
    };
    (@pat $variant:ident) => { ActionKind::$variant };
    (@pat $variant:ident $opt:ty) => { ActionKind::$variant(_) };
    (@bind $o:ident, $variant:ident) => { ActionKind::$variant };
    (@bind $o:ident, $variant:ident $opt:ty) => { ActionKind::$variant($o) };
    (@parse $option:ident, $variant:ident) => {
        parse_option::<NoOption>($option).map(|NoOption {}| ActionKind::$variant)
    };
    (@parse $option:ident, $variant:ident $opt:ty) => {
        parse_option::<$opt>($option).map(ActionKind::$variant)
    };
    (@json $o:ident, ) => { None };
    (@json $o:ident, $opt:ty) => {
        Some(serde_json::to_value($o).expect("option structs serialize to JSON"))
    };
    (@schema $g:ident, ) => { $g.subschema_for::<NoOption>() };
    (@schema $g:ident, $opt:ty) => { $g.subschema_for::<$opt>() };
    (@required ) => { false };
    (@required $opt:ty) => {
        serde_json::from_value::<$opt>(Value::Object(Default::default())).is_err()
    };
}

action_kinds! {
    /// Answers the call (a no-op for a call that is already answered).
    Answer = "answer",
    /// Speaks text (text-to-speech).
    Talk(TalkOption) = "talk",
    /// Plays audio files.
    Play(PlayOption) = "play",
    /// Plays a short beep.
    Beep = "beep",
    /// Collects DTMF digits into `${digits}`.
    DigitsReceive(DigitsReceiveOption) = "digits_receive",
    /// Sends DTMF digits to the call's party.
    DigitsSend(DigitsSendOption) = "digits_send",
    /// Starts recording the call.
    RecordingStart(RecordingStartOption) = "recording_start",
    /// Stops the call's recording.
    RecordingStop = "recording_stop",
    /// Calls one or more destinations and bridges the one that answers.
    Connect(ConnectOption) = "connect",
    /// Hangs the call up; the flow ends.
    Hangup(HangupOption) = "hangup",
    /// Waits, doing nothing.
    Sleep(SleepOption) = "sleep",
    /// Sends the caller's audio back to them.
    Echo(EchoOption) = "echo",
    /// Mutes the call in one or both directions.
    Mute(MuteOption) = "mute",
    /// Unmutes the call.
    Unmute = "unmute",
    /// Puts the call on hold.
    Hold = "hold",
    /// Takes the call off hold.
    Unhold = "unhold",
    /// Jumps to an action, at most `loop_count` times.
    Goto(GotoOption) = "goto",
    /// Jumps to the action that a variable's value selects.
    Branch(BranchOption) = "branch",
    /// Compares a variable; goes on when true, jumps when false.
    ConditionVariable(ConditionVariableOption) = "condition_variable",
    /// Compares the date and time; goes on when true, jumps when false.
    ConditionDatetime(ConditionDatetimeOption) = "condition_datetime",
    /// Sets a variable.
    VariableSet(VariableSetOption) = "variable_set",
    /// Fetches actions over HTTP; they replace the rest of the flow.
    Fetch(FetchOption) = "fetch",
    /// Sends the flow's variables to a URL.
    WebhookSend(WebhookSendOption) = "webhook_send",
    /// Answering-machine detection.
    Amd(AmdOption) = "amd",
    /// Ends the flow.
    Stop = "stop",
}

/// Deserializes an option, keeping the path of the first error inside it.
fn parse_option<T: serde::de::DeserializeOwned>(option: &Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(option).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = e.into_inner().to_string();
        (path, message)
    })
}

/// The option of a kind without fields: absent, `null` or `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoOption {}

/// `talk`: speaks `text` with text-to-speech.
///
/// ```json
/// {"type": "talk", "option": {"text": "Hello ${call.source.name}", "language": "en-US", "gender": "female"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TalkOption {
    /// What to say (variables are substituted). 1 to 5000 characters.
    pub text: String,
    /// Language and accent, BCP-47 style (`en-US`, `ko-KR`, `de`).
    #[serde(default = "default_language")]
    pub language: String,
    /// Voice gender.
    #[serde(default)]
    pub gender: Gender,
}

fn default_language() -> String {
    "en-US".to_owned()
}

/// A text-to-speech voice's gender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    #[default]
    Female,
    Neutral,
}

/// `play`: plays audio files (WAV) one after the other.
///
/// ```json
/// {"type": "play", "option": {"urls": ["https://example.com/welcome.wav"], "loop_count": 2}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlayOption {
    /// One file (played before `urls` when both are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Files played in order (`http://`, `https://` or `file://`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// How many times the whole list is played, 1 to 100.
    #[serde(default = "one")]
    pub loop_count: u32,
}

fn one() -> u32 {
    1
}

impl PlayOption {
    /// `url` then `urls`.
    pub fn all_urls(&self) -> impl Iterator<Item = &String> {
        self.url.iter().chain(self.urls.iter())
    }
}

/// `digits_receive`: collects DTMF digits into the variable `digits`.
///
/// Ends when `length` digits are in, when a `key` digit is pressed (the key
/// is not kept), or when no digit came for `duration` ms (the wait for the
/// first digit and between digits). Digits pressed before it started (over
/// a prompt) count. `${digits}` is set when it ends, possibly empty.
///
/// ```json
/// {"type": "digits_receive", "option": {"length": 4, "key": "#", "duration": 5000}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DigitsReceiveOption {
    /// Stop after this many digits, 1 to 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
    /// Terminator digits, any of `0-9 A-D * #` (for example `"#"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Milliseconds to wait for the first digit and between digits, 100 to 600000.
    #[serde(default = "default_digits_duration")]
    pub duration: u64,
}

fn default_digits_duration() -> u64 {
    5000
}

/// `digits_send`: sends DTMF digits to the call's party.
///
/// ```json
/// {"type": "digits_send", "option": {"digits": "1234#", "duration": 250}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DigitsSendOption {
    /// 1 to 32 of `0-9 A-D * #` (variables are substituted).
    pub digits: String,
    /// Milliseconds per digit, 100 to 1000.
    #[serde(default = "default_digit_duration")]
    pub duration: u32,
}

fn default_digit_duration() -> u32 {
    250
}

/// `recording_start`: starts recording the call (WAV).
///
/// ```json
/// {"type": "recording_start", "option": {"direction": "both", "channels": "stereo"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingStartOption {
    /// What to record: what the party hears (`in`), says (`out`), or both.
    #[serde(default)]
    pub direction: Direction,
    /// `mono` (directions mixed) or `stereo` (one direction per channel).
    #[serde(default)]
    pub channels: Channels,
}

/// A direction of the call's audio, seen from the call (seed `001`, "Mute").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Towards the call's party (what it hears).
    In,
    /// From the call's party (what it says).
    Out,
    #[default]
    Both,
}

/// Recording channel layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channels {
    #[default]
    Mono,
    Stereo,
}

/// `connect`: calls the destinations and bridges the first that answers.
///
/// The flow waits until the connected call ends (or nobody answered), sets
/// `${connect.result}` (`answered`, or the hangup reason such as `busy`,
/// `noanswer`), and goes on with the next action.
///
/// ```json
/// {"type": "connect", "option": {"destinations": [{"type": "extension", "target": "200"},
///   {"type": "tel", "target": "+821021656521"}], "ring_method": "linear", "ring_timeout": 20}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectOption {
    /// Who to call, 1 to 16 destinations.
    pub destinations: Vec<Destination>,
    /// `ring_all` (at once; the first to answer wins) or `linear` (one after the other).
    #[serde(default)]
    pub ring_method: RingMethod,
    /// Seconds to ring (each destination, for `linear`), 1 to 600.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout: u32,
    /// Pass the destination's early media (ringback) to the caller.
    #[serde(default)]
    pub early_media: bool,
}

fn default_ring_timeout() -> u32 {
    60
}

/// One party to call: the shape of a call's `source`/`destination`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    #[serde(rename = "type")]
    pub kind: DestinationType,
    /// Extension number, E.164 number (`+16062067563`) or SIP URI (variables are substituted).
    pub target: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a [`Destination`]'s target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DestinationType {
    Extension,
    Tel,
    Sip,
}

/// How `connect` rings several destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RingMethod {
    #[default]
    RingAll,
    Linear,
}

/// `hangup`: hangs the call up with a reason; the flow ends.
///
/// ```json
/// {"type": "hangup", "option": {"reason": "busy"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HangupOption {
    #[serde(default)]
    pub reason: HangupReason,
}

/// Why a call ended (seed `001`, "Understanding Hangup Reasons").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HangupReason {
    #[default]
    Normal,
    Failed,
    Busy,
    Cancel,
    Timeout,
    Noanswer,
    Dialout,
    Amd,
}

impl From<HangupReason> for model::HangupReason {
    fn from(r: HangupReason) -> model::HangupReason {
        match r {
            HangupReason::Normal => model::HangupReason::Normal,
            HangupReason::Failed => model::HangupReason::Failed,
            HangupReason::Busy => model::HangupReason::Busy,
            HangupReason::Cancel => model::HangupReason::Cancel,
            HangupReason::Timeout => model::HangupReason::Timeout,
            HangupReason::Noanswer => model::HangupReason::Noanswer,
            HangupReason::Dialout => model::HangupReason::Dialout,
            HangupReason::Amd => model::HangupReason::Amd,
        }
    }
}

impl HangupReason {
    /// The reason as spelled in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            HangupReason::Normal => "normal",
            HangupReason::Failed => "failed",
            HangupReason::Busy => "busy",
            HangupReason::Cancel => "cancel",
            HangupReason::Timeout => "timeout",
            HangupReason::Noanswer => "noanswer",
            HangupReason::Dialout => "dialout",
            HangupReason::Amd => "amd",
        }
    }
}

/// `sleep`: waits `duration` ms.
///
/// ```json
/// {"type": "sleep", "option": {"duration": 1500}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepOption {
    /// Milliseconds, 1 to 3600000.
    pub duration: u64,
}

/// `echo`: sends the party's audio back to it for `duration` ms.
///
/// ```json
/// {"type": "echo", "option": {"duration": 10000}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoOption {
    /// Milliseconds, 1 to 3600000.
    pub duration: u64,
}

/// `mute`: mutes the call.
///
/// ```json
/// {"type": "mute", "option": {"direction": "out"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteOption {
    /// `in`: the party hears nothing; `out`: nobody hears the party; `both`.
    pub direction: Direction,
}

/// `goto`: jumps to `target_id`, at most `loop_count` times over the run;
/// after that it goes on with the next action. A menu followed by
/// `goto` with `loop_count: 2` is heard three times.
///
/// ```json
/// {"type": "goto", "option": {"target_id": "menu", "loop_count": 2}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GotoOption {
    /// The `id` of the action to jump to.
    pub target_id: String,
    /// How many times this goto jumps, 1 to 1000.
    pub loop_count: u32,
}

/// `branch`: jumps to the action that the variable's value names.
///
/// `variable` is a template (`"${digits}"`) or a bare variable name
/// (`"digits"`, meaning `${digits}`). No match: `default_target_id`, or the
/// next action when there is none.
///
/// ```json
/// {"type": "branch", "option": {"target_ids": {"1": "sales", "2": "support"}, "default_target_id": "menu"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchOption {
    /// The value to branch on; default `${digits}` (the digits last received).
    #[serde(default = "default_branch_variable")]
    pub variable: String,
    /// Value → the `id` of the action to jump to.
    pub target_ids: BTreeMap<String, String>,
    /// Where to go when no value matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_target_id: Option<String>,
}

fn default_branch_variable() -> String {
    "${digits}".to_owned()
}

/// A comparison (`condition_variable`, `condition_datetime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Condition {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    /// The variable's value contains `value` (`condition_variable` only).
    #[serde(rename = "contains")]
    Contains,
}

/// `condition_variable`: `variable <condition> value`; when true the flow
/// goes on with the next action, when false it jumps to `false_target_id`.
///
/// Both sides are compared as numbers when both are numbers (`"10" > "9"`),
/// else as strings (byte order). `contains` is a substring test.
///
/// ```json
/// {"type": "condition_variable", "option": {"condition": ">=", "variable": "${balance}",
///   "value": "100", "false_target_id": "topup"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionVariableOption {
    pub condition: Condition,
    /// A template (`"${call.source.target}"`) or a bare variable name.
    pub variable: String,
    /// What to compare with (variables are substituted).
    pub value: String,
    /// Where to go when the condition is false.
    pub false_target_id: String,
}

/// `condition_datetime`: compares the current date and time in `timezone`;
/// true goes on, false jumps to `false_target_id`.
///
/// `==` is true when every field given matches (the weekday is one of
/// `weekdays`); `!=` is its negation. `>`, `>=`, `<`, `<=` compare the
/// month, day, hour, minute given (in that order, as one value: `>=` with
/// hour 9 and minute 30 means "09:30 or later"), and when `weekdays` is
/// given the day must also be one of them. Weekdays are ISO 8601: 1 is
/// Monday, 7 is Sunday.
///
/// ```json
/// {"type": "condition_datetime", "option": {"condition": ">=", "hour": 9, "minute": 30,
///   "weekdays": [1, 2, 3, 4, 5], "timezone": "+09:00", "false_target_id": "closed"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionDatetimeOption {
    /// `==`, `!=`, `>`, `>=`, `<`, `<=`.
    pub condition: Condition,
    /// 0 to 23.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u32>,
    /// 0 to 59.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<u32>,
    /// Day of the month, 1 to 31.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u32>,
    /// 1 to 12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<u32>,
    /// ISO weekdays, 1 (Monday) to 7 (Sunday).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<u32>>,
    /// A fixed UTC offset: `+09:00`, `-05:30`, `+02`, `Z` or `UTC` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Where to go when the condition is false.
    pub false_target_id: String,
}

/// `variable_set`: sets `key` to `value` (variables in `value` are substituted).
///
/// ```json
/// {"type": "variable_set", "option": {"key": "customer.choice", "value": "${digits}"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableSetOption {
    /// Letters, digits, `_`, `.`, `-`; 1 to 128 characters.
    pub key: String,
    pub value: String,
}

/// `fetch`: requests `url` (sending the flow's variables) and runs the
/// actions it answers with in place of the rest of the flow.
///
/// The answer is a JSON array of actions or `{"actions": [...]}`, checked
/// like a saved flow. A failed request or invalid actions: the flow goes on
/// with the next action.
///
/// ```json
/// {"type": "fetch", "option": {"url": "https://example.com/ivr?call=${call.id}", "method": "POST"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchOption {
    /// `http://` or `https://` (variables are substituted).
    pub url: String,
    /// `GET` or `POST` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// The VoIPBIN spelling of `method`; accepted as a synonym.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_method: Option<HttpMethod>,
}

impl FetchOption {
    /// `method`, else `event_method`, else `POST`.
    pub fn effective_method(&self) -> HttpMethod {
        self.method
            .or(self.event_method)
            .unwrap_or(HttpMethod::Post)
    }
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
}

/// `webhook_send`: sends the flow's variables to `url`. With `sync` the
/// flow waits for the answer, and the string, number and boolean fields
/// of a JSON object answer become variables; without it the flow goes on
/// at once.
///
/// ```json
/// {"type": "webhook_send", "option": {"url": "https://example.com/lookup", "sync": true}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSendOption {
    /// `http://` or `https://` (variables are substituted).
    pub url: String,
    /// Wait for the answer and take variables from it.
    #[serde(default)]
    pub sync: bool,
    /// The body's content type (only `application/json`).
    #[serde(default)]
    pub data_type: DataType,
}

/// A webhook body's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub enum DataType {
    #[default]
    #[serde(rename = "application/json")]
    Json,
}

/// `amd`: answering-machine detection. Sets `${amd.result}` to `human`,
/// `machine` or `notsure`. A machine with `machine_handle: hangup` hangs
/// the call up with reason `amd` (even with `async`, whatever action is
/// running then).
///
/// ```json
/// {"type": "amd", "option": {"machine_handle": "hangup", "async": false}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmdOption {
    /// What to do when a machine answered: `hangup` or `continue`.
    pub machine_handle: MachineHandle,
    /// Go on with the next action at once; the result comes later.
    #[serde(default, rename = "async")]
    pub asynchronous: bool,
}

/// What `amd` does when a machine answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MachineHandle {
    Hangup,
    Continue,
}

// ---- serde for Action: one parser for Deserialize and validate ----

/// An action as it appears on the wire, before its option is typed.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    option: Option<Value>,
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireAction {
            id: self.id.clone(),
            next_id: self.next_id.clone(),
            kind: self.kind.name().to_owned(),
            option: self.kind.option_json(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Action, D::Error> {
        use serde::de::Error;
        let wire = WireAction::deserialize(deserializer)?;
        let kind = match ActionKind::parse(&wire.kind, wire.option.as_ref()) {
            None => {
                return Err(D::Error::custom(format!(
                    "unknown action type `{}`, expected one of {}",
                    wire.kind,
                    KINDS.join(", ")
                )))
            }
            Some(Err((path, message))) if path.is_empty() => {
                return Err(D::Error::custom(format!("option: {message}")))
            }
            Some(Err((path, message))) => {
                return Err(D::Error::custom(format!("option.{path}: {message}")))
            }
            Some(Ok(kind)) => kind,
        };
        Ok(Action {
            id: wire.id,
            next_id: wire.next_id,
            kind,
        })
    }
}
