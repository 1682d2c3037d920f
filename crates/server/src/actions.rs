//! Media actions on a live call, for the REST API and the flow runtime
//! (`talk`, `play`, `beep`, `echo`, `amd`): each checks the call is
//! answered, does its work off the engine and relay threads, and hands
//! the relay what to do. The HTTP handlers (`api/play.rs`, `api/talk.rs`)
//! are thin wrappers over the `start_*` functions here.
//!
//! ```text
//! talk(state, call, text, language, gender)
//!   ─▶ answered? ─▶ TtsService::prompt (cache, espeak-ng) ─▶ at the leg's rate
//!   ─▶ Plays::add ─▶ Relay::play ─▶ PlayId
//! Plays::finished(PlayId).await  ─▶ Finished | Stopped | Hangup   (woken by the event pump)
//! amd(state, call, config).await ─▶ Relay::start_amd ─▶ … RelayEvent::Amd ─▶ pump ─▶ AmdVerdict
//! ```
//!
//! Every play-like action (WAV files, text, beep) goes through the same
//! relay source: a new one replaces the one running (which ends
//! `stopped`), and each is reported `play_started` / `play_finished` with
//! its play id and `kind`.

use crate::api::{ApiError, AppState};
use crate::playback::{PlayKind, PlayOutcome, PlayRecord, MAX_URLS};
use crate::tts::Gender;
use media::amd::{AmdConfig, AmdVerdict};
use media::Frame;
use model::CallStatus;
use net::rtp::PlayId;
use std::sync::Arc;
use uuid::Uuid;

/// Most passes over a play's list.
pub const MAX_LOOPS: u32 = 100;
/// The language of a talk that names none.
pub const DEFAULT_LANGUAGE: &str = "en-US";
/// The beep: 1 kHz for 250 ms, at about −10 dBFS.
pub const BEEP_HZ: f64 = 1000.0;
pub const BEEP_MS: u32 = 250;
const BEEP_AMPLITUDE: i16 = 10_000;

/// A play that started: its id and how long one pass lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub play: PlayId,
    pub duration_ms: u64,
    /// What plays (as the events describe it).
    pub record: PlayRecord,
    /// A talk whose prompt came from the cache.
    pub cached: bool,
}

/// Plays WAV files (`http(s)://`, or `file://` inside `media_dir`) to the
/// call's party, the list `loop_count` times (0: until stopped), in place
/// of the other party, as `POST /v1/calls/{id}/play` does.
pub async fn play(
    state: &AppState,
    call: Uuid,
    urls: &[String],
    loop_count: u32,
) -> Result<PlayId, ApiError> {
    start_play(state, call, urls.to_vec(), loop_count)
        .await
        .map(|s| s.play)
}

/// Says `text` (1-4000 characters) to the call's party in `language`
/// (BCP 47, default `en-US`) with a `gender` voice (default neutral), as
/// `POST /v1/calls/{id}/talk` does: 400 for bad text or a language
/// without a voice, 409 if the call is not answered, 503
/// `tts_unavailable` without espeak-ng.
pub async fn talk(
    state: &AppState,
    call: Uuid,
    text: &str,
    language: Option<&str>,
    gender: Option<Gender>,
) -> Result<PlayId, ApiError> {
    start_talk(state, call, text, language, gender)
        .await
        .map(|s| s.play)
}

/// A 1 kHz beep of 250 ms to the call's party (the tone before a
/// recording), through the same play source.
pub async fn beep(state: &AppState, call: Uuid) -> Result<PlayId, ApiError> {
    answered(state, call, "beep").await?;
    let leg = leg(call);
    let rate = state.relay.source_rate(leg);
    let mut samples = vec![0i16; (rate * BEEP_MS / 1000) as usize];
    media::tones::Generator::fill(
        &mut media::tones::Sine::new(rate, BEEP_HZ, BEEP_AMPLITUDE),
        &mut samples,
    );
    let record = PlayRecord {
        call,
        kind: PlayKind::Beep,
    };
    let clip = Arc::new(Frame::new(rate, samples));
    start(state, call, record, vec![clip], 1, false)
        .await
        .map(|s| s.play)
}

/// Resolves when play `play` ends (no polling): [`PlayOutcome::Finished`],
/// `Stopped` (stopped or replaced) or `Hangup`.
pub fn play_finished(
    state: &AppState,
    play: PlayId,
) -> impl std::future::Future<Output = PlayOutcome> + Send + 'static {
    state.plays.finished(play)
}

/// Echo on or off for the call's party: it hears itself (its audio,
/// nothing of the other party, who hears nothing of it); off restores the
/// bridge. 409 if the call is not answered.
pub async fn set_echo(state: &AppState, call: Uuid, on: bool) -> Result<(), ApiError> {
    answered(state, call, "echo").await?;
    state
        .relay
        .set_echo(leg(call), on)
        .map_err(|why| ApiError::conflict(format!("call {call}: {why}")))
}

/// Answering-machine detection on what the call's party says, from now
/// (see [`media::amd`] for the rules and `config`): resolves with the
/// verdict, which is also emitted as an `amd_result` event. 400 for a
/// config out of range, 409 if the call is not answered or ends first.
/// A detection already running on the call starts over (both callers
/// get its verdict).
pub async fn amd(state: &AppState, call: Uuid, config: AmdConfig) -> Result<AmdVerdict, ApiError> {
    config
        .check()
        .map_err(|m| ApiError::invalid(format!("amd: {m}")))?;
    answered(state, call, "answering-machine detection").await?;
    let verdict = state.amds.wait(call);
    if let Err(why) = state.relay.start_amd(leg(call), config) {
        state.amds.cancel_call(call);
        return Err(ApiError::conflict(format!("call {call}: {why}")));
    }
    verdict.await.map_err(|_| {
        ApiError::conflict(format!(
            "call {call} ended before answering-machine detection reached a verdict"
        ))
    })
}

/// [`play`], with what the API answers.
pub async fn start_play(
    state: &AppState,
    call: Uuid,
    urls: Vec<String>,
    loop_count: u32,
) -> Result<Started, ApiError> {
    if urls.is_empty() || urls.len() > MAX_URLS {
        return Err(ApiError::invalid(format!(
            "urls: {} URLs; give 1 to {MAX_URLS}",
            urls.len()
        )));
    }
    if loop_count > MAX_LOOPS {
        return Err(ApiError::invalid(format!(
            "loop_count: {loop_count} is not within 0-{MAX_LOOPS} (0: until stopped)"
        )));
    }
    answered(state, call, "play").await?;
    let clips = state
        .fetcher
        .load_all(&urls, state.relay.source_rate(leg(call)))
        .await?;
    let record = PlayRecord::urls(call, urls.into());
    start(state, call, record, clips, loop_count, false).await
}

/// [`talk`], with what the API answers.
pub async fn start_talk(
    state: &AppState,
    call: Uuid,
    text: &str,
    language: Option<&str>,
    gender: Option<Gender>,
) -> Result<Started, ApiError> {
    crate::tts::check_text(text)?;
    let language = language.unwrap_or(DEFAULT_LANGUAGE);
    let gender = gender.unwrap_or_default();
    answered(state, call, "talk").await?;
    let prompt = state.tts.prompt(text, language, gender).await?;
    let rate = state.relay.source_rate(leg(call));
    let frame = prompt.frame.clone();
    let clip = tokio::task::spawn_blocking(move || {
        Arc::new(crate::playback::at_rate((*frame).clone(), rate))
    })
    .await
    .map_err(|e| ApiError::internal(format!("resampling task: {e}")))?;
    let record = PlayRecord {
        call,
        kind: PlayKind::Talk {
            text: text.into(),
            language: language.to_owned(),
            gender,
            voice: prompt.voice,
        },
    };
    start(state, call, record, vec![clip], 1, prompt.cached).await
}

/// Registers the play and hands its clips to the relay.
async fn start(
    state: &AppState,
    call: Uuid,
    record: PlayRecord,
    clips: Vec<Arc<Frame>>,
    loop_count: u32,
    cached: bool,
) -> Result<Started, ApiError> {
    let duration_ms: u64 = clips
        .iter()
        .map(|c| c.samples.len() as u64 * 1000 / u64::from(c.rate.max(1)))
        .sum();
    let play = state.plays.add(record.clone());
    if let Err(why) = state.relay.play(leg(call), play, clips, loop_count) {
        state.plays.remove(play);
        return Err(ApiError::conflict(format!("call {call}: {why}")));
    }
    Ok(Started {
        play,
        duration_ms,
        record,
        cached,
    })
}

/// `Ok` for a live, answered call; 409 if it is not answered or ended,
/// 404 if it does not exist. `what` names the action in the message.
pub async fn answered(state: &AppState, id: Uuid, what: &str) -> Result<(), ApiError> {
    let Some(call) = state.switch.call(id).await else {
        return match state.store.call(id).await? {
            Some(c) if c.status == CallStatus::Hangup => Err(ApiError::conflict(format!(
                "call {id} already ended ({})",
                c.hangup_reason.map(|r| r.as_str()).unwrap_or("hangup")
            ))),
            _ => Err(ApiError::not_found(format!("call {id} does not exist"))),
        };
    };
    if call.status != CallStatus::Progressing {
        return Err(ApiError::conflict(format!(
            "call {id} is not answered (status {}): {what} needs status progressing",
            call.status.as_str()
        )));
    }
    Ok(())
}

fn leg(call: Uuid) -> net::rtp::LegId {
    net::rtp::LegId(call.as_u128())
}
