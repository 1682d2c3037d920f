//! `GET /v1/events`: a WebSocket that streams every event as the contract's
//! envelope, one JSON text message per event, in the order the switch made
//! them. Optional filters: `?call_id=<uuid>` (events of one call, chained
//! calls included when the filter names the master) and
//! `?types=call_hangup,call_ringing`.
//!
//! A client that reads too slowly to keep up loses events rather than
//! slowing calls down; it is then sent `{"type":"events_lost","count":N}`
//! and should re-read `/v1/calls`.

use super::{ApiError, AppState, ErrorBody};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use model::Envelope;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;
use uuid::Uuid;

/// `GET /v1/events` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events of this call and of calls chained to it.
    #[param(value_type = Option<Uuid>)]
    call_id: Option<String>,
    /// Only these event types, comma-separated (`call_hangup,dtmf_received`).
    #[param(example = "call_ringing,call_hangup")]
    types: Option<String>,
    /// Accepted here for browsers; checked by the auth middleware (and
    /// documented as the `api_key` security scheme).
    #[allow(dead_code)]
    #[param(ignore)]
    api_key: Option<String>,
}

/// The event stream: a WebSocket with one `Envelope` per text message, in
/// the order the switch made them. A client too slow to keep up is sent
/// `{"type":"events_lost","count":N}` and should re-read `/v1/calls`.
#[utoipa::path(get, path = "/v1/events", tag = "events", operation_id = "events",
    params(EventsQuery),
    responses(
        (status = 101, description = "switching to WebSocket; each text message is an `Envelope`",
            body = model::Envelope),
        (status = 400, description = "a filter is invalid, or the request is not a WebSocket upgrade", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn events(
    State(state): State<Arc<AppState>>,
    Query(q): Query<EventsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let call = match q.call_id.as_deref() {
        Some(s) => Some(
            Uuid::parse_str(s)
                .map_err(|_| ApiError::invalid(format!("call_id: '{s}' is not a UUID")))?,
        ),
        None => None,
    };
    let types = match q.types.as_deref() {
        Some(list) => Some(
            list.split(',')
                .map(|t| {
                    serde_json::from_value::<model::EventType>(serde_json::Value::from(t.trim()))
                        .map_err(|_| ApiError::invalid(format!("types: unknown event type '{t}'")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let rx = state.events.subscribe();
    Ok(ws.on_upgrade(move |socket| stream(socket, rx, call, types)))
}

async fn stream(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Envelope>>,
    call: Option<Uuid>,
    types: Option<Vec<model::EventType>>,
) {
    loop {
        tokio::select! {
            event = rx.recv() => {
                let text = match event {
                    Ok(env) => {
                        if !wanted(&env, call, types.as_deref()) {
                            continue;
                        }
                        match serde_json::to_string(&*env) {
                            Ok(t) => t,
                            Err(_) => continue,
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        serde_json::json!({"type": "events_lost", "count": n}).to_string()
                    }
                    Err(RecvError::Closed) => break,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                // Clients only talk to close (or ping, which axum answers).
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

fn wanted(env: &Envelope, call: Option<Uuid>, types: Option<&[model::EventType]>) -> bool {
    if let Some(types) = types {
        if !types.contains(&env.kind) {
            return false;
        }
    }
    let Some(call) = call else {
        return true;
    };
    let field = |name: &str| {
        env.data
            .get(name)
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    field("id") == Some(call)
        || field("master_call_id") == Some(call)
        || field("call_id") == Some(call)
}
