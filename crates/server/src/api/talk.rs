//! `POST /v1/calls/{id}/talk` (text to speech played to an answered
//! call's party, see [`crate::tts`]) and `POST|DELETE
//! /v1/calls/{id}/echo` (the party hears itself). Both are thin wrappers
//! over [`crate::actions`], which the flow runtime calls too.

use super::json::JsonBody;
use super::{parse_id, ApiError, AppState};
use crate::tts::Gender;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// `POST /v1/calls/{id}/talk` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TalkBody {
    /// What to say: 1 to 4000 characters.
    text: String,
    /// BCP 47 tag (`en-US`, `de-DE`, `fr`); default `en-US`.
    language: Option<String>,
    /// `male`, `female` or `neutral` (default).
    gender: Option<String>,
}

/// Says the text to the call's party in place of the other party, as a
/// play (it replaces a play running; `play_started` / `play_finished`
/// with `kind: talk` and the text). The prompt is rendered (or taken
/// from the cache) before the answer: 201 with the play's id and length.
pub async fn talk(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TalkBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let id = parse_id(&id)?;
    let gender = body.gender.as_deref().map(Gender::parse).transpose()?;
    let started =
        crate::actions::start_talk(&state, id, &body.text, body.language.as_deref(), gender)
            .await?;
    let mut answer = serde_json::Map::new();
    answer.insert("call_id".into(), serde_json::json!(id));
    answer.insert("play_id".into(), serde_json::json!(started.play.0));
    started.record.describe(&mut answer);
    answer.insert("duration_ms".into(), serde_json::json!(started.duration_ms));
    answer.insert("cached".into(), serde_json::json!(started.cached));
    Ok((StatusCode::CREATED, Json(serde_json::Value::Object(answer))))
}

/// Echo on: the call's party hears itself instead of the other party,
/// who hears nothing of it.
pub async fn echo_on(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    echo(&state, &id, true).await
}

/// Echo off: the bridge is back.
pub async fn echo_off(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    echo(&state, &id, false).await
}

async fn echo(state: &AppState, id: &str, on: bool) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(id)?;
    crate::actions::set_echo(state, id, on).await?;
    Ok(Json(serde_json::json!({"call_id": id, "echo": on})))
}
