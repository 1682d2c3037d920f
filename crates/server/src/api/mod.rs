//! The REST + WebSocket API (axum). [`app`] builds the whole router from a
//! state, so tests call it without a socket.
//!
//! Every route is a handler annotated with `#[utoipa::path]` (method, path,
//! parameters, body, responses) and registered with `utoipa_axum::routes!`
//! in [`public_routes`] or [`v1_routes`]: the router and the OpenAPI
//! document served at `GET /openapi.json` ([`openapi`]) are made from that
//! one list, so a route cannot be served undocumented or documented
//! unserved. `GET /healthz`, `GET /metrics` and `GET /openapi.json` need no
//! key; every `/v1` route needs `Authorization: Bearer <key>` ([`auth`]).

mod auth;
pub(crate) mod calls;
mod error;
mod events;
mod extensions;
mod flows;
mod json;
pub mod openapi;
pub(crate) mod play;
pub(crate) mod recordings;
pub mod routing;
mod stats;
mod talk;
mod webhooks;

pub use error::{ApiError, ErrorBody, ErrorCode, Unauthorized};
pub use json::JsonBody;

use crate::switch::SwitchHandle;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Json, Router};
use model::{Envelope, Registration};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
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
    let (v1, _) = v1_routes().split_for_parts();
    let v1 = v1.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_key,
    ));
    let (public, _) = public_routes().split_for_parts();
    public.merge(v1).fallback(not_found).with_state(state)
}

/// The routes anyone may call.
pub fn public_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::default()
        .routes(routes!(healthz))
        .routes(routes!(openapi::serve))
        .routes(routes!(metrics))
}

/// The `/v1` routes: each needs the API key (the caller adds
/// [`auth::require_key`]). One `routes!` per path; only handlers annotated
/// with `#[utoipa::path]` can be registered this way.
pub fn v1_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::default()
        .routes(routes!(extensions::list, extensions::create))
        .routes(routes!(
            extensions::get,
            extensions::update,
            extensions::delete
        ))
        .routes(routes!(registrations))
        .routes(routes!(calls::list, calls::create))
        .routes(routes!(calls::get))
        .routes(routes!(calls::redirect))
        .routes(routes!(calls::hangup))
        .routes(routes!(calls::mute, calls::unmute))
        .routes(routes!(calls::hold, calls::unhold))
        .routes(routes!(calls::dtmf))
        .routes(routes!(calls::dtmf_detection))
        .routes(routes!(play::play, play::stop))
        .routes(routes!(talk::talk))
        .routes(routes!(talk::echo_on, talk::echo_off))
        .routes(routes!(calls::stats))
        .routes(routes!(recordings::start))
        .routes(routes!(recordings::stop))
        .routes(routes!(recordings::list))
        .routes(routes!(recordings::get, recordings::delete))
        .routes(routes!(recordings::file))
        .routes(routes!(recordings::stream))
        .routes(routes!(flows::list, flows::create))
        .routes(routes!(flows::schema))
        .routes(routes!(flows::get, flows::update, flows::delete))
        .routes(routes!(routing::list_numbers, routing::create_number))
        .routes(routes!(
            routing::get_number,
            routing::update_number,
            routing::delete_number
        ))
        .routes(routes!(routing::list_trunks, routing::create_trunk))
        .routes(routes!(
            routing::get_trunk,
            routing::update_trunk,
            routing::delete_trunk
        ))
        .routes(routes!(events::events))
        .routes(routes!(webhooks::list))
        .routes(routes!(webhooks::get))
        .routes(routes!(webhooks::redeliver))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /openapi.json")
}

/// `GET /healthz` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the process answers HTTP.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: 200 while the process answers HTTP. No key needed.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, description = "alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Prometheus metrics (text exposition format 0.0.4): calls active,
/// registrations, calls created, calls shed. No key needed.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "the metrics", body = String,
        content_type = "text/plain; version=0.0.4")))]
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

/// A whole list (not paged): `{"items": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// The registrar's current bindings: one per contact an extension
/// registered, until it expires.
#[utoipa::path(get, path = "/v1/registrations", tag = "registrations",
    responses(
        (status = 200, description = "every current binding", body = Items<Registration>),
        (status = 401, response = Unauthorized),
    ),
    security(("bearer" = [])))]
async fn registrations(State(state): State<Arc<AppState>>) -> Json<Items<Registration>> {
    let items = state.switch.registrations().await;
    Json(Items { items })
}

/// The paging parameters of a listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page, 1-500; default 50.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<u32>,
    /// The `next_page_token` of the previous page.
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
