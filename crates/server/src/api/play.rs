//! `POST|DELETE /v1/calls/{id}/play`: WAV files played to an answered
//! call's party in place of the other party (fetching and decoding in
//! [`crate::playback`], starting in [`crate::actions`], sending in the
//! relay's generated sources).

use super::json::JsonBody;
use super::{parse_id, ApiError, AppState, ErrorBody};
use crate::actions::answered;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/calls/{id}/play` body: `urls` (or one `url`), `loop_count`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlayBody {
    /// WAV files, played one after the other (1 to 20): `http://`,
    /// `https://`, or `file://` inside the media directory.
    urls: Option<Vec<String>>,
    /// One WAV file (instead of `urls`).
    url: Option<String>,
    /// Passes over the whole list, 1-100, default 1; 0 plays until
    /// `DELETE /v1/calls/{id}/play` (or the hangup).
    #[schema(maximum = 100)]
    loop_count: Option<u32>,
}

/// A play that started.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlayStarted {
    pub call_id: Uuid,
    /// Names the play in `play_started` and `play_finished` events.
    pub play_id: u64,
    pub urls: Vec<String>,
    pub loop_count: u32,
    /// Length of one pass over the list.
    pub duration_ms: u64,
}

/// A play that was stopped: its `urls`, or for a talk its `kind`,
/// `text`, `language`, `gender` and `voice` (as its events say).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlayStopped {
    pub call_id: Uuid,
    pub play_id: u64,
    pub urls: Option<Vec<String>>,
    pub kind: Option<String>,
}

/// Plays WAV files (`http://`, `https://`, or `file://` inside the media
/// directory) to the call's party, one after the other, the list
/// `loop_count` times; the other party's audio resumes when it ends. The
/// files are fetched and decoded before the answer: any failure is a 4xx
/// naming the URL, and the call goes on as before.
#[utoipa::path(post, path = "/v1/calls/{id}/play", tag = "calls", operation_id = "play",
    params(("id" = Uuid, Path, description = "the call's id")),
    request_body = PlayBody,
    responses(
        (status = 200, description = "playing", body = PlayStarted),
        (status = 400, description = "a field or URL is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call is not answered, or it ended", body = ErrorBody),
        (status = 422, description = "a URL cannot be fetched or is not a WAV file (named in the message)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn play(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PlayBody>,
) -> Result<Json<PlayStarted>, ApiError> {
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
    Ok(Json(PlayStarted {
        call_id: id,
        play_id: started.play.0,
        urls: urls.to_vec(),
        loop_count,
        duration_ms: started.duration_ms,
    }))
}

/// Stops the call's play, talk or beep (reported `play_finished`, reason
/// `stopped`); 404 when none is running.
#[utoipa::path(delete, path = "/v1/calls/{id}/play", tag = "calls", operation_id = "stop_play",
    params(("id" = Uuid, Path, description = "the call's id")),
    responses(
        (status = 200, description = "stopped", body = PlayStopped),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call, or no play in progress", body = ErrorBody),
        (status = 409, description = "the call is not answered, or it ended", body = ErrorBody),
    ),
    security(("bearer" = [])))]
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
