//! # `server`: Dialtone's server
//!
//! [`config`] (defaults < file < env < flags), the REST + WebSocket
//! [`api`], the [`switch`] handle on the running engine, [`playback`]
//! (the audio of plays and music on hold), [`tts`] (text to speech and
//! its cache), [`actions`] (talk, play, beep, echo, answering-machine
//! detection: what the API and the flow runtime call), [`amd`] (waiting
//! for verdicts), DTMF interworking (`dtmf`: digits handed on between
//! phones that share no DTMF method), [`webhooks`] (signed event delivery
//! through an outbox in the store), [`flows`] (flow runs on live calls),
//! and [`run`], which wires switch, media relay, store and API together.

pub mod actions;
pub mod amd;
pub mod api;
pub mod config;
mod dtmf;
pub mod emit;
pub mod flows;
pub mod playback;
pub mod recordings;
pub mod run;
pub mod switch;
pub mod tts;
pub mod webhooks;

pub use run::{run, Server, StartError};
