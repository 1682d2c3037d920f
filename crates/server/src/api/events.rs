//! `GET /v1/events`: a WebSocket that streams every event as the contract's
//! envelope, one JSON text message per event, in the order the switch made
//! them. Optional filters: `?call_id=<uuid>` (events of one call, chained
//! calls included when the filter names the master) and
//! `?types=call_hangup,call_ringing`.
//!
//! A client that reads too slowly to keep up loses events rather than
//! slowing calls down; it is then sent `{"type":"events_lost","count":N}`
//! and should re-read `/v1/calls`.

use super::{ApiError, AppState};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use model::Envelope;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    call_id: Option<String>,
    types: Option<String>,
    /// Accepted here for browsers; checked by the auth middleware.
    #[allow(dead_code)]
    api_key: Option<String>,
}

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
