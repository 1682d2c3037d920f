//! `POST|DELETE /v1/calls/{id}/play`: WAV files played to an answered
//! call's party in place of the other party (fetching and decoding in
//! [`crate::playback`], starting in [`crate::actions`], sending in the
//! relay's generated sources).

use super::json::JsonBody;
use super::{parse_id, ApiError, AppState};
use crate::actions::answered;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// `POST /v1/calls/{id}/play` body: `urls` (or one `url`), `loop_count`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayBody {
    urls: Option<Vec<String>>,
    url: Option<String>,
    /// Passes over the whole list, 1-100, default 1; 0 plays until
    /// `DELETE /v1/calls/{id}/play` (or the hangup).
    loop_count: Option<u32>,
}

/// Plays WAV files (`http://`, `https://`, or `file://` inside the media
/// directory) to the call's party, one after the other, the list
/// `loop_count` times; the other party's audio resumes when it ends. The
/// files are fetched and decoded before the answer: any failure is a 4xx
/// naming the URL, and the call goes on as before.
pub async fn play(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PlayBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    let urls = match (body.urls, body.url) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("give either urls or url, not both")),
        (Some(urls), None) => urls,
        (None, Some(url)) => vec![url],
        (None, None) => return Err(ApiError::invalid("urls: missing (a list of WAV file URLs)")),
    };
    let loop_count = body.loop_count.unwrap_or(1);
    let started = crate::actions::start_play(&state, id, urls, loop_count).await?;
    let crate::playback::PlayKind::Urls(urls) = &started.record.kind else {
        return Err(ApiError::internal("a play of URLs without URLs"));
    };
    Ok(Json(serde_json::json!({
        "call_id": id,
        "play_id": started.play.0,
        "urls": &**urls,
        "loop_count": loop_count,
        "duration_ms": started.duration_ms,
    })))
}

/// Stops the call's play, talk or beep (reported `play_finished`, reason
/// `stopped`); 404 when none is running.
pub async fn stop(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    answered(&state, id, "play").await?;
    // Read first: the event pump forgets the play once the relay reports
    // it stopped.
    let latest = state.plays.latest(id);
    let Some(play) = state.relay.stop_play(net::rtp::LegId(id.as_u128())) else {
        return Err(ApiError::not_found(format!(
            "call {id} has no play in progress"
        )));
    };
    let mut answer = serde_json::Map::new();
    answer.insert("call_id".into(), serde_json::json!(id));
    answer.insert("play_id".into(), serde_json::json!(play.0));
    match latest.filter(|(p, _)| *p == play) {
        Some((_, record)) => record.describe(&mut answer),
        None => {
            answer.insert("urls".into(), serde_json::json!([]));
        }
    }
    Ok(Json(serde_json::Value::Object(answer)))
}
