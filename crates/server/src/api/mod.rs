//! The REST + WebSocket API (axum). [`app`] builds the whole router from a
//! state, so tests call it without a socket.
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | liveness, no auth |
//! | `GET /openapi.json` | this API's OpenAPI 3.1 document, no auth |
//! | `GET /metrics` | Prometheus text, no auth |
//! | `/v1/extensions` `GET POST`, `/v1/extensions/{id}` `GET PUT DELETE` | accounts |
//! | `GET /v1/registrations` | current registrar bindings |
//! | `GET /v1/calls`, `GET /v1/calls/{id}`, `POST /v1/calls/{id}/hangup`, `POST\|DELETE /v1/calls/{id}/mute`, `POST\|DELETE /v1/calls/{id}/hold`, `POST /v1/calls/{id}/dtmf`, `POST\|DELETE /v1/calls/{id}/play`, `POST /v1/calls/{id}/talk`, `POST\|DELETE /v1/calls/{id}/echo`, `GET /v1/calls/{id}/stats` | calls |
//! | `/v1/calls/{id}/recording_start`, `recording_stop` `POST`, `GET /v1/recordings`, `/v1/recordings/{id}` `GET DELETE`, `/file`, `/stream` | recordings |
//! | `GET /v1/events` | WebSocket event stream |
//! | `GET /v1/webhooks/deliveries`, `GET /v1/webhooks/deliveries/{id}`, `POST /v1/webhooks/deliveries/{id}/redeliver` | the webhook outbox: what was sent where, failures, redelivery |

mod auth;
pub(crate) mod calls;
mod error;
mod events;
mod extensions;
mod flows;
mod json;
pub(crate) mod play;
pub(crate) mod recordings;
pub mod routing;
mod stats;
mod talk;
mod webhooks;

pub use error::ApiError;
pub use json::JsonBody;

use crate::switch::SwitchHandle;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use model::Envelope;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::broadcast;
use uuid::Uuid;

/// What every handler can reach.
pub struct AppState {
    pub store: Arc<dyn store::Store>,
    pub switch: SwitchHandle,
    /// Every event the switch emits, already enveloped and persisted.
    pub events: broadcast::Sender<Arc<Envelope>>,
    pub api_key: String,
    /// Live media counters.
    pub relay: net::rtp::Relay,
    /// The address Dialtone puts in its SDP for media (the local side of
    /// each leg's `candidate-pair` in the stats).
    pub public_ip: std::net::IpAddr,
    /// Counters of legs that already ended.
    pub final_stats: FinalStats,
    pub recordings: Arc<crate::recordings::Recordings>,
    /// Fetches and decodes the audio of plays.
    pub fetcher: crate::playback::Fetcher,
    /// Plays in progress (shared with the event pump).
    pub plays: crate::playback::Plays,
    /// Flow runs on live calls.
    pub flows: crate::flows::Flows,
    /// Webhook URLs (global and per call) and the delivery worker's wake.
    pub webhooks: crate::webhooks::Webhooks,
    /// Text to speech and its prompt cache.
    pub tts: Arc<crate::tts::TtsService>,
    /// Who waits for answering-machine verdicts (shared with the pump).
    pub amds: crate::amd::Amds,
}

/// The last media counters of legs that ended, newest 10,000 kept.
#[derive(Debug, Clone, Default)]
pub struct FinalStats(
    std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<(Uuid, net::rtp::LegStats)>>>,
);

impl FinalStats {
    const KEEP: usize = 10_000;

    pub fn keep(&self, leg: Uuid, stats: net::rtp::LegStats) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == Self::KEEP {
            q.pop_front();
        }
        q.push_back((leg, stats));
    }

    pub fn get(&self, leg: Uuid) -> Option<net::rtp::LegStats> {
        let q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.iter()
            .rev()
            .find(|(id, _)| *id == leg)
            .map(|(_, s)| s.clone())
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// The whole HTTP surface.
pub fn app(state: Arc<AppState>) -> Router {
    let v1 = Router::new()
        .route(
            "/extensions",
            get(extensions::list).post(extensions::create),
        )
        .route(
            "/extensions/{id}",
            get(extensions::get)
                .put(extensions::update)
                .delete(extensions::delete),
        )
        .route("/registrations", get(registrations))
        .route("/calls", get(calls::list).post(calls::create))
        .route("/calls/{id}/redirect", post(calls::redirect))
        .route("/flows", get(flows::list).post(flows::create))
        .route("/flows/schema", get(flows::schema))
        .route(
            "/flows/{id}",
            get(flows::get).put(flows::update).delete(flows::delete),
        )
        .route("/calls/{id}", get(calls::get))
        .route("/calls/{id}/hangup", post(calls::hangup))
        .route("/calls/{id}/mute", post(calls::mute).delete(calls::unmute))
        .route("/calls/{id}/hold", post(calls::hold).delete(calls::unhold))
        .route("/calls/{id}/dtmf", post(calls::dtmf))
        .route("/calls/{id}/dtmf_detection", put(calls::dtmf_detection))
        .route("/calls/{id}/play", post(play::play).delete(play::stop))
        .route("/calls/{id}/talk", post(talk::talk))
        .route(
            "/calls/{id}/echo",
            post(talk::echo_on).delete(talk::echo_off),
        )
        .route("/calls/{id}/stats", get(calls::stats))
        .route("/calls/{id}/recording_start", post(recordings::start))
        .route("/calls/{id}/recording_stop", post(recordings::stop))
        .route("/recordings", get(recordings::list))
        .route(
            "/recordings/{id}",
            get(recordings::get).delete(recordings::delete),
        )
        .route("/recordings/{id}/file", get(recordings::file))
        .route("/recordings/{id}/stream", get(recordings::stream))
        .route(
            "/numbers",
            get(routing::list_numbers).post(routing::create_number),
        )
        .route(
            "/numbers/{id}",
            get(routing::get_number)
                .put(routing::update_number)
                .delete(routing::delete_number),
        )
        .route(
            "/trunks",
            get(routing::list_trunks).post(routing::create_trunk),
        )
        .route(
            "/trunks/{id}",
            get(routing::get_trunk)
                .put(routing::update_trunk)
                .delete(routing::delete_trunk),
        )
        .route("/events", get(events::events))
        .route("/webhooks/deliveries", get(webhooks::list))
        .route("/webhooks/deliveries/{id}", get(webhooks::get))
        .route(
            "/webhooks/deliveries/{id}/redeliver",
            post(webhooks::redeliver),
        )
        .fallback(not_found)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .nest("/v1", v1)
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /openapi.json")
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// The OpenAPI document, kept beside the code and checked against the
/// router by a test.
pub const OPENAPI: &str = include_str!("../../openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let m = state.switch.metrics().await;
    let body = format!(
        "# HELP dialtone_calls_active Calls not yet ended.\n\
         # TYPE dialtone_calls_active gauge\n\
         dialtone_calls_active {}\n\
         # HELP dialtone_registrations Current registrar bindings.\n\
         # TYPE dialtone_registrations gauge\n\
         dialtone_registrations {}\n\
         # HELP dialtone_calls_created_total Call legs created since start.\n\
         # TYPE dialtone_calls_created_total counter\n\
         dialtone_calls_created_total {}\n\
         # HELP dialtone_calls_shed_total New calls refused with 503 because the switch was overloaded.\n\
         # TYPE dialtone_calls_shed_total counter\n\
         dialtone_calls_shed_total {}\n\
         # HELP dialtone_tts_renders_total Text-to-speech prompts rendered (not found in the cache).\n\
         # TYPE dialtone_tts_renders_total counter\n\
         dialtone_tts_renders_total {}\n\
         # HELP dialtone_tts_cache_hits_total Text-to-speech prompts served without a render of their own.\n\
         # TYPE dialtone_tts_cache_hits_total counter\n\
         dialtone_tts_cache_hits_total {}\n",
        m.active_calls,
        m.registrations,
        m.calls_created,
        m.calls_shed,
        state.tts.renders(),
        state.tts.hits()
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn registrations(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let items = state.switch.registrations().await;
    Json(serde_json::json!({ "items": items }))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    page_size: Option<u32>,
    page_token: Option<String>,
}

/// Default 50, at most 500.
pub fn page_size(v: Option<u32>) -> Result<u32, ApiError> {
    match v {
        None => Ok(50),
        Some(n @ 1..=500) => Ok(n),
        Some(n) => Err(ApiError::invalid(format!(
            "page_size: {n} is outside 1..=500"
        ))),
    }
}

pub fn parse_id(s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| ApiError::invalid(format!("id: '{s}' is not a UUID")))
}
