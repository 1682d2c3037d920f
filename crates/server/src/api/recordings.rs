//! Recordings: `POST /v1/calls/{id}/recording_start|recording_stop`,
//! `/v1/recordings` (list, get, delete), `/v1/recordings/{id}/file` (the
//! WAV) and `/v1/recordings/{id}/stream` (a WebSocket with the live audio).

use super::json::parse;
use super::{page_size, parse_id, ApiError, AppState, ErrorBody, Items};
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use model::{CallStatus, Recording, RecordingChannels, RecordingDirection, RecordingStatus};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};

/// `POST /v1/calls/{id}/recording_start` body (every field optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// `wav` (the only format).
    #[schema(example = "wav")]
    format: Option<String>,
    /// `in` (what the call's party said), `out` (what it heard), `both`
    /// (default).
    #[schema(value_type = Option<RecordingDirection>)]
    direction: Option<String>,
    /// `mono` (default: the directions mixed) or `stereo` (left: the
    /// party, right: what it heard).
    #[schema(value_type = Option<RecordingChannels>)]
    channels: Option<String>,
}

/// A recording's WAV file (`GET /v1/recordings/{id}/file`), described
/// for the document; the handler streams the file.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, content_media_type = "audio/wav")]
#[allow(dead_code)]
pub struct WavFile(Vec<u8>);

/// `POST /v1/calls/{id}/recording_stop` body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    /// Stop only this recording; default: every running one of the call.
    #[schema(value_type = Option<Uuid>)]
    recording_id: Option<String>,
}

/// An optional JSON body: empty is the default.
fn optional_body<T: serde::de::DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse(bytes)
}

/// Starts a recording of an answered call; 201 with the recording.
#[utoipa::path(post, path = "/v1/calls/{id}/recording_start", tag = "recordings", operation_id = "start_recording",
    params(("id" = Uuid, Path, description = "the call's id")),
    request_body(content = Option<StartBody>, description = "optional: an empty body takes the defaults"),
    responses(
        (status = 201, description = "recording", body = Recording),
        (status = 400, description = "a field is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call is not answered, or it ended", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn start(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Recording>), ApiError> {
    let id = parse_id(&id)?;
    let body: StartBody = optional_body(&body)?;
    match body.format.as_deref() {
        None | Some("wav") => {}
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "format: '{other}' is not supported (wav)"
            )))
        }
    }
    let direction = match body.direction.as_deref() {
        None | Some("both") => RecordingDirection::Both,
        Some("in") => RecordingDirection::In,
        Some("out") => RecordingDirection::Out,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "direction: '{other}' is not one of in, out, both"
            )))
        }
    };
    let channels = match body.channels.as_deref() {
        None | Some("mono") => RecordingChannels::Mono,
        Some("stereo") => RecordingChannels::Stereo,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "channels: '{other}' is not one of mono, stereo"
            )))
        }
    };
    answered(&state, id).await?;
    let r = state.recordings.start(id, direction, channels).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Stops the call's running recording(s); 200 with the finished ones
/// (`{"items": [...]}`, each with its duration, size and SHA-256).
#[utoipa::path(post, path = "/v1/calls/{id}/recording_stop", tag = "recordings", operation_id = "stop_recording",
    params(("id" = Uuid, Path, description = "the call's id")),
    request_body(content = Option<StopBody>, description = "optional: an empty body stops every running recording of the call"),
    responses(
        (status = 200, description = "the recordings that finished", body = Items<Recording>),
        (status = 400, description = "a field is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn stop(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Items<Recording>>, ApiError> {
    let id = parse_id(&id)?;
    let body: StopBody = optional_body(&body)?;
    let only = body
        .recording_id
        .as_deref()
        .map(|s| {
            uuid::Uuid::parse_str(s)
                .map_err(|_| ApiError::invalid(format!("recording_id: '{s}' is not a UUID")))
        })
        .transpose()?;
    if state.switch.call(id).await.is_none() && state.store.call(id).await?.is_none() {
        return Err(ApiError::not_found(format!("call {id} does not exist")));
    }
    let items = state.recordings.stop(id, only).await?;
    Ok(Json(Items { items }))
}

/// 404 for an unknown call, 409 for one that ended or is not answered.
async fn answered(state: &AppState, id: uuid::Uuid) -> Result<(), ApiError> {
    match state.switch.call(id).await {
        Some(c) if c.status == CallStatus::Progressing => Ok(()),
        Some(c) => Err(ApiError::conflict(format!(
            "call {id} is not answered (status {}): recording needs status progressing",
            c.status.as_str()
        ))),
        None => match state.store.call(id).await? {
            Some(c) => Err(ApiError::conflict(format!(
                "call {id} already ended ({})",
                c.hangup_reason.map(|r| r.as_str()).unwrap_or("hangup")
            ))),
            None => Err(ApiError::not_found(format!("call {id} does not exist"))),
        },
    }
}

/// `GET /v1/recordings` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this call's recordings.
    #[param(value_type = Option<Uuid>)]
    call_id: Option<String>,
    #[param(value_type = Option<RecordingStatus>)]
    status: Option<String>,
    /// Items per page, 1-500; default 50.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<u32>,
    /// The `next_page_token` of the previous page.
    page_token: Option<String>,
}

/// Recordings, newest first; `?call_id=`, `?status=recording|finished|failed`.
#[utoipa::path(get, path = "/v1/recordings", tag = "recordings", operation_id = "list_recordings",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of recordings", body = store::PageOf<Recording>),
        (status = 400, description = "a filter is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<store::PageOf<Recording>>, ApiError> {
    let call_id = q
        .call_id
        .as_deref()
        .map(|s| {
            uuid::Uuid::parse_str(s)
                .map_err(|_| ApiError::invalid(format!("call_id: '{s}' is not a UUID")))
        })
        .transpose()?;
    let status = q
        .status
        .as_deref()
        .map(|s| match s {
            "recording" => Ok(RecordingStatus::Recording),
            "finished" => Ok(RecordingStatus::Finished),
            "failed" => Ok(RecordingStatus::Failed),
            other => Err(ApiError::invalid(format!(
                "status: '{other}' is not one of recording, finished, failed"
            ))),
        })
        .transpose()?;
    let filter = store::RecordingFilter {
        call_id,
        status,
        page_size: page_size(q.page_size)?,
        page_token: q.page_token,
    };
    Ok(Json(state.store.list_recordings(&filter).await?))
}

/// One recording.
#[utoipa::path(get, path = "/v1/recordings/{id}", tag = "recordings", operation_id = "get_recording",
    params(("id" = Uuid, Path, description = "the recording's id")),
    responses(
        (status = 200, description = "the recording", body = Recording),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such recording", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Recording>, ApiError> {
    let id = parse_id(&id)?;
    match state.store.recording(id).await? {
        Some(r) => Ok(Json(r)),
        None => Err(ApiError::not_found(format!(
            "recording {id} does not exist"
        ))),
    }
}

/// Deletes a recording that is not running: its file and its record.
#[utoipa::path(delete, path = "/v1/recordings/{id}", tag = "recordings", operation_id = "delete_recording",
    params(("id" = Uuid, Path, description = "the recording's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such recording", body = ErrorBody),
        (status = 409, description = "the recording is running", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let Some(r) = state.store.recording(id).await? else {
        return Err(ApiError::not_found(format!(
            "recording {id} does not exist"
        )));
    };
    if r.status == RecordingStatus::Recording || state.recordings.running(id).is_some() {
        return Err(ApiError::conflict(format!(
            "recording {id} is running: stop it first (POST /v1/calls/{}/recording_stop)",
            r.call_id
        )));
    }
    match tokio::fs::remove_file(state.recordings.path(id)).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ApiError::internal(format!(
                "cannot delete the file of recording {id}: {e}"
            )))
        }
    }
    state.store.delete_recording(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The WAV file (`audio/wav`). A running recording's file is served as
/// it is now: valid, covering up to its last one-second checkpoint.
#[utoipa::path(get, path = "/v1/recordings/{id}/file", tag = "recordings", operation_id = "recording_file",
    params(("id" = Uuid, Path, description = "the recording's id")),
    responses(
        (status = 200, description = "the WAV file (16-bit linear PCM)", body = WavFile, content_type = "audio/wav"),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such recording, or it has no file", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn file(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    if state.store.recording(id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "recording {id} does not exist"
        )));
    }
    let path = state.recordings.path(id);
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!(
                "recording {id} has no file (it failed before writing one, or it was removed)"
            )))
        }
        Err(e) => return Err(ApiError::internal(format!("recording {id}: {e}"))),
    };
    let len = file.metadata().await.map(|m| m.len()).ok();
    let body = Body::from_stream(futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    }));
    let mut response = (
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.wav\""),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(len) = len {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    }
    Ok(response)
}

/// A WebSocket carrying the running recording's audio live (the seed's record stream). The first message
/// is a WAV header whose sizes are unknown (`0xFFFFFFFF`), then binary
/// messages of 16-bit little-endian PCM in the recording's layout, 20 ms
/// each; when the recording ends a text message
/// `{"type":"recording_finished","recording_id":...,"lost_chunks":N}` and
/// the close. A client too slow to keep up loses chunks (counted).
#[utoipa::path(get, path = "/v1/recordings/{id}/stream", tag = "recordings", operation_id = "stream_recording",
    params(("id" = Uuid, Path, description = "the recording's id")),
    responses(
        (status = 101, description = "switching to WebSocket: a WAV header, then binary 16-bit \
            PCM messages of 20 ms, then `{\"type\":\"recording_finished\",\"recording_id\",\"lost_chunks\"}` and the close"),
        (status = 400, description = "`id` is not a UUID, or the request is not a WebSocket upgrade", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such recording", body = ErrorBody),
        (status = 409, description = "the recording is not running (download its file instead)", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn stream(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let Some(live) = state.recordings.subscribe(id) else {
        return match state.store.recording(id).await? {
            Some(r) => Err(ApiError::conflict(format!(
                "recording {id} is not running (status {}): download it from /v1/recordings/{id}/file",
                r.status.as_str()
            ))),
            None => Err(ApiError::not_found(format!("recording {id} does not exist"))),
        };
    };
    Ok(ws.on_upgrade(move |socket| send_stream(socket, id, live)))
}

async fn send_stream(mut socket: WebSocket, id: uuid::Uuid, live: crate::recordings::LiveStream) {
    let crate::recordings::LiveStream { header, mut chunks } = live;
    if socket
        .send(Message::Binary(Bytes::copy_from_slice(&header)))
        .await
        .is_err()
    {
        return;
    }
    let mut lost = 0u64;
    loop {
        tokio::select! {
            chunk = chunks.recv() => match chunk {
                Ok(c) => {
                    if socket.send(Message::Binary(c)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => lost += n,
                Err(RecvError::Closed) => break,
            },
            msg = socket.recv() => match msg {
                // The client left.
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let end = serde_json::json!({
        "type": "recording_finished",
        "recording_id": id,
        "lost_chunks": lost,
    });
    let _ = socket.send(Message::Text(end.to_string().into())).await;
    let _ = socket.send(Message::Close(None)).await;
}
