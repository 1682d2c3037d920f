//! `POST /v1/calls/{id}/talk` (text to speech played to an answered
//! call's party, see [`crate::tts`]) and `POST|DELETE
//! /v1/calls/{id}/echo` (the party hears itself). Both are thin wrappers
//! over [`crate::actions`], which the flow runtime calls too.

use super::json::JsonBody;
use super::{parse_id, ApiError, AppState, ErrorBody};
use crate::tts::Gender;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/calls/{id}/talk` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TalkBody {
    /// What to say: 1 to 4000 characters.
    text: String,
    /// BCP 47 tag (`en-US`, `de-DE`, `fr`); default `en-US`.
    language: Option<String>,
    /// `male`, `female` or `neutral` (default).
    gender: Option<String>,
}

/// A talk that started.
#[derive(Debug, Serialize, ToSchema)]
pub struct TalkStarted {
    pub call_id: Uuid,
    /// Names the talk in `play_started` / `play_finished` (`kind: talk`).
    pub play_id: u64,
    pub kind: String,
    pub text: String,
    pub language: String,
    pub gender: String,
    /// The espeak-ng voice used.
    pub voice: String,
    /// Length of the rendered prompt.
    pub duration_ms: u64,
    /// Taken from the prompt cache.
    pub cached: bool,
}

/// Echo on or off.
#[derive(Debug, Serialize, ToSchema)]
pub struct EchoState {
    pub call_id: Uuid,
    pub echo: bool,
}

/// Says the text to the call's party in place of the other party, as a
/// play (it replaces a play running; `play_started` / `play_finished`
/// with `kind: talk` and the text). The prompt is rendered (or taken
/// from the cache) before the answer: 201 with the play's id and length.
#[utoipa::path(post, path = "/v1/calls/{id}/talk", tag = "calls", operation_id = "talk",
    params(("id" = Uuid, Path, description = "the call's id")),
    request_body = TalkBody,
    responses(
        (status = 201, description = "speaking", body = TalkStarted),
        (status = 400, description = "bad text, language or gender (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call is not answered, or it ended", body = ErrorBody),
        (status = 503, description = "`tts_unavailable`: espeak-ng cannot be run (the message says how to install it)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
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
#[utoipa::path(post, path = "/v1/calls/{id}/echo", tag = "calls", operation_id = "echo_on",
    params(("id" = Uuid, Path, description = "the call's id")),
    responses(
        (status = 200, description = "echo on", body = EchoState),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call is not answered, or it ended", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn echo_on(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    echo(&state, &id, true).await
}

/// Echo off: the bridge is back.
#[utoipa::path(delete, path = "/v1/calls/{id}/echo", tag = "calls", operation_id = "echo_off",
    params(("id" = Uuid, Path, description = "the call's id")),
    responses(
        (status = 200, description = "echo off", body = EchoState),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call is not answered, or it ended", body = ErrorBody),
    ),
    security(("bearer" = [])))]
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
