//! `/v1/calls`: the call records (live and finished) and hangup.

use super::json::JsonBody;
use super::{page_size, parse_id, ApiError, AppState, ErrorBody, Items};
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use model::{Address, Call, CallStatus, Direction, MuteDirection, RingMethod};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `GET /v1/calls` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallsQuery {
    #[param(value_type = Option<CallStatus>)]
    status: Option<String>,
    #[param(value_type = Option<Direction>)]
    direction: Option<String>,
    /// RFC 3339; calls created at or after.
    #[param(value_type = Option<DateTime<Utc>>)]
    since: Option<String>,
    /// RFC 3339; calls created before.
    #[param(value_type = Option<DateTime<Utc>>)]
    until: Option<String>,
    /// Items per page, 1-500; default 50.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<u32>,
    /// The `next_page_token` of the previous page.
    page_token: Option<String>,
}

fn time(field: &str, v: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    v.as_deref()
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::invalid(format!(
                        "{field}: '{s}' is not an RFC 3339 time (2026-11-23T10:00:00Z)"
                    ))
                })
        })
        .transpose()
}

/// Lists calls, newest first.
#[utoipa::path(get, path = "/v1/calls", tag = "calls", operation_id = "list_calls",
    params(CallsQuery),
    responses(
        (status = 200, description = "a page of calls", body = store::PageOf<Call>),
        (status = 400, description = "a filter is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<CallsQuery>,
) -> Result<Json<store::PageOf<Call>>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            CallStatus::parse(s).ok_or_else(|| {
                ApiError::invalid(format!(
                    "status: '{s}' is not one of dialing, ringing, progressing, terminating, canceling, hangup"
                ))
            })
        })
        .transpose()?;
    let direction = q
        .direction
        .as_deref()
        .map(|s| match s {
            "incoming" => Ok(Direction::Incoming),
            "outgoing" => Ok(Direction::Outgoing),
            _ => Err(ApiError::invalid(format!(
                "direction: '{s}' is not incoming or outgoing"
            ))),
        })
        .transpose()?;
    let filter = store::CallFilter {
        status,
        direction,
        since: time("since", &q.since)?,
        until: time("until", &q.until)?,
        page_size: page_size(q.page_size)?,
        page_token: q.page_token.clone(),
    };
    Ok(Json(state.store.list_calls(&filter).await?))
}

/// One call, live or finished.
#[utoipa::path(get, path = "/v1/calls/{id}", tag = "calls", operation_id = "get_call",
    params(("id" = Uuid, Path, description = "the call's id")),
    responses(
        (status = 200, description = "the call", body = Call),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&id)?;
    if let Some(call) = state.switch.call(id).await {
        return Ok(Json(call));
    }
    match state.store.call(id).await? {
        Some(c) => Ok(Json(c)),
        None => Err(ApiError::not_found(format!("call {id} does not exist"))),
    }
}

/// Ends the call (and, for a master, every chained call): BYE if answered,
/// CANCEL or a final error response if not. `hangup_by` is `local`.
#[utoipa::path(post, path = "/v1/calls/{id}/hangup", tag = "calls", operation_id = "hangup_call",
    params(("id" = Uuid, Path, description = "the call's id")),
    responses(
        (status = 200, description = "the call, now ending", body = Call),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call ended", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn hangup(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&id)?;
    match state.switch.hangup(id).await {
        Ok(call) => Ok(Json(call)),
        Err(e) => not_live(&state, id, e).await,
    }
}

/// Puts an answered call on hold: a re-INVITE offers `sendonly` to its
/// party, who hears music on hold; the other party hears silence.
#[utoipa::path(post, path = "/v1/calls/{id}/hold", tag = "calls", operation_id = "hold_call",
    params(("id" = Uuid, Path, description = "the call's id")),
    responses(
        (status = 200, description = "the call", body = Call),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call is not answered, or it ended", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn hold(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&id)?;
    hold_or_resume(&state, id, true).await
}

/// Takes a call off hold (`sendrecv` again).
#[utoipa::path(delete, path = "/v1/calls/{id}/hold", tag = "calls", operation_id = "resume_call",
    params(("id" = Uuid, Path, description = "the call's id")),
    responses(
        (status = 200, description = "the call", body = Call),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call is not answered, or it ended", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn unhold(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&id)?;
    hold_or_resume(&state, id, false).await
}

pub(crate) async fn hold_or_resume(
    state: &AppState,
    id: uuid::Uuid,
    on: bool,
) -> Result<Json<Call>, ApiError> {
    match state.switch.set_hold(id, on).await {
        Ok(call) => Ok(Json(call)),
        Err(e) => not_live(state, id, e).await,
    }
}

/// The error for an action on a call the switch refused: 409 if the call
/// ended, 404 if it never existed, else the switch's own error.
async fn not_live<T>(state: &AppState, id: uuid::Uuid, e: ApiError) -> Result<T, ApiError> {
    match state.store.call(id).await? {
        Some(c) if c.status == CallStatus::Hangup => Err(ApiError::conflict(format!(
            "call {id} already ended ({})",
            c.hangup_reason.map(|r| r.as_str()).unwrap_or("hangup")
        ))),
        Some(_) => Err(e),
        None => Err(ApiError::not_found(format!("call {id} does not exist"))),
    }
}

/// `POST /v1/calls/{id}/dtmf` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DtmfBody {
    /// 1 to 32 of `0-9 A-D * #`.
    #[schema(example = "123#", min_length = 1, max_length = 32)]
    digits: String,
    /// Milliseconds per digit, 100-1000; default 250.
    #[schema(minimum = 100, maximum = 1000)]
    duration: Option<u32>,
    /// `rfc4733` (telephone-events in the RTP stream), `sip_info` (one SIP
    /// INFO `application/dtmf-relay` per digit), `inband` (tones in the
    /// audio, in place of the other party's while they sound), or `auto`
    /// (default: rfc4733 when the call's phone negotiated telephone-event,
    /// else inband, as Asterisk's `dtmf_mode=auto` does: a phone says in
    /// its SDP whether it reads events, never whether it takes INFO).
    #[schema(example = "auto")]
    method: Option<String>,
}

/// Sends DTMF digits to the call's party: RFC 4733 telephone-events (the
/// call's phone must have negotiated telephone-event), SIP INFO, or tones
/// in its audio (queued after digits still sounding).
#[utoipa::path(post, path = "/v1/calls/{id}/dtmf", tag = "calls", operation_id = "send_dtmf",
    params(("id" = Uuid, Path, description = "the call's id")),
    request_body = DtmfBody,
    responses(
        (status = 200, description = "the digits are on their way", body = Call),
        (status = 400, description = "a field is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call is not answered, ended, or cannot take that method", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn dtmf(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DtmfBody>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&id)?;
    if body.digits.is_empty() || body.digits.chars().count() > 32 {
        return Err(ApiError::invalid("digits: 1 to 32 of 0-9 A-D * #"));
    }
    let digits = media::dtmf::parse_digits(&body.digits).map_err(|_| {
        ApiError::invalid(format!(
            "digits: '{}' has a character that is not one of 0-9 A-D * #",
            body.digits
        ))
    })?;
    let method = body.method.as_deref().unwrap_or("auto");
    if !["auto", "rfc4733", "sip_info", "inband"].contains(&method) {
        return Err(ApiError::invalid(format!(
            "method: '{method}' is not one of auto, rfc4733, sip_info, inband"
        )));
    }
    let duration = body.duration.unwrap_or(250);
    if !(100..=1000).contains(&duration) {
        return Err(ApiError::invalid(format!(
            "duration: {duration} ms is not within 100-1000"
        )));
    }
    let Some(call) = state.switch.call(id).await else {
        return not_live(
            &state,
            id,
            ApiError::not_found(format!("call {id} does not exist")),
        )
        .await;
    };
    if call.status != CallStatus::Progressing {
        return Err(ApiError::conflict(format!(
            "call {id} is not answered (status {}): DTMF needs status progressing",
            call.status.as_str()
        )));
    }
    let leg = net::rtp::LegId(id.as_u128());
    let method = match method {
        "auto" => {
            let events = state
                .relay
                .stats(leg)
                .and_then(|s| s.codec)
                .is_some_and(|c| c.dtmf.is_some());
            if events {
                "rfc4733"
            } else {
                "inband"
            }
        }
        other => other,
    };
    let sent = match method {
        "sip_info" => {
            return match state.switch.send_info_dtmf(id, digits, duration).await {
                Ok(call) => Ok(Json(call)),
                Err(e) => not_live(&state, id, e).await,
            };
        }
        "inband" => state.relay.send_inband_dtmf(leg, &digits, duration),
        _ => state.relay.send_dtmf(leg, &digits, duration),
    };
    sent.map_err(|why| ApiError::conflict(format!("call {id}: {why}")))?;
    Ok(Json(call))
}

/// `POST /v1/calls/{id}/mute` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    #[schema(value_type = MuteDirection)]
    direction: String,
}

/// Mutes an answered call (seed `001`, "Mute"): `in`, the call's party
/// hears nothing; `out`, nothing it says is sent on; `both`.
#[utoipa::path(post, path = "/v1/calls/{id}/mute", tag = "calls", operation_id = "mute_call",
    params(("id" = Uuid, Path, description = "the call's id")),
    request_body = MuteBody,
    responses(
        (status = 200, description = "the call, with its `mute_direction`", body = Call),
        (status = 400, description = "`direction` is not one of in, out, both", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call is not answered, or it ended", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn mute(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MuteBody>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&id)?;
    let direction = match body.direction.as_str() {
        "in" => model::MuteDirection::In,
        "out" => model::MuteDirection::Out,
        "both" => model::MuteDirection::Both,
        other => {
            return Err(ApiError::invalid(format!(
                "direction: '{other}' is not one of in, out, both"
            )))
        }
    };
    set_mute(&state, id, Some(direction)).await
}

/// Lifts a call's mute (in every direction).
#[utoipa::path(delete, path = "/v1/calls/{id}/mute", tag = "calls", operation_id = "unmute_call",
    params(("id" = Uuid, Path, description = "the call's id")),
    responses(
        (status = 200, description = "the call", body = Call),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call is not answered, or it ended", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn unmute(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&id)?;
    set_mute(&state, id, None).await
}

pub(crate) async fn set_mute(
    state: &AppState,
    id: uuid::Uuid,
    direction: Option<model::MuteDirection>,
) -> Result<Json<Call>, ApiError> {
    match state.switch.set_mute(id, direction).await {
        Ok(call) => Ok(Json(call)),
        Err(e) => not_live(state, id, e).await,
    }
}

/// Media statistics of the call's leg, named after the WebRTC statistics
/// (`inbound-rtp`, `outbound-rtp`, `remote-inbound-rtp`, ...). Live while
/// the call runs; the last values for a while after it ended.
// The body and where each figure comes from: `super::stats`.
#[utoipa::path(get, path = "/v1/calls/{id}/stats", tag = "calls", operation_id = "call_stats",
    params(("id" = Uuid, Path, description = "the call's id")),
    responses(
        (status = 200, description = "`{call_id, live, inbound-rtp, outbound-rtp, remote-inbound-rtp, \
            remote-outbound-rtp, rtcp, codec, transcoding, candidate-pair}`, each object with \
            the W3C webrtc-stats member names (times and jitter in seconds)", body = Object),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call, or it has no media statistics", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn stats(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    let leg = net::rtp::LegId(id.as_u128());
    let (live, stats) = match state.relay.stats(leg) {
        Some(s) => (true, Some(s)),
        None => (false, state.final_stats.get(id)),
    };
    let Some(s) = stats else {
        return match state.store.call(id).await? {
            Some(_) => Err(ApiError::not_found(format!(
                "call {id} has no media statistics (no media was set up, or they expired)"
            ))),
            None => Err(ApiError::not_found(format!("call {id} does not exist"))),
        };
    };
    Ok(Json(super::stats::render(id, live, &s, state.public_ip)))
}

/// `PUT /v1/calls/{id}/dtmf_detection` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectionBody {
    /// Detect DTMF tones in the audio the call's phone sends: `true`,
    /// `false`, or `null` for the default (on exactly when the phone did
    /// not negotiate telephone-event).
    inband: Option<bool>,
}

/// What `PUT /v1/calls/{id}/dtmf_detection` put in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct DtmfDetection {
    call_id: Uuid,
    /// Whether DTMF tones in the phone's audio are detected now.
    inband: bool,
}

/// Turns in-band DTMF detection on the call's leg on or off; returns
/// `{"call_id", "inband"}` with what is now in force.
#[utoipa::path(put, path = "/v1/calls/{id}/dtmf_detection", tag = "calls", operation_id = "set_dtmf_detection",
    params(("id" = Uuid, Path, description = "the call's id")),
    request_body = DetectionBody,
    responses(
        (status = 200, description = "what is now in force", body = DtmfDetection),
        (status = 400, description = "`id` or the body is invalid", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such call", body = ErrorBody),
        (status = 409, description = "the call has no media yet, or it ended", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn dtmf_detection(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DetectionBody>,
) -> Result<Json<DtmfDetection>, ApiError> {
    let id = parse_id(&id)?;
    let leg = net::rtp::LegId(id.as_u128());
    match state.relay.set_inband_detection(leg, body.inband) {
        Some(inband) => Ok(Json(DtmfDetection {
            call_id: id,
            inband,
        })),
        None => match state.switch.call(id).await {
            Some(c) => Err(ApiError::conflict(format!(
                "call {id} has no media yet (status {})",
                c.status.as_str()
            ))),
            None => {
                not_live(
                    &state,
                    id,
                    ApiError::not_found(format!("call {id} does not exist")),
                )
                .await
            }
        },
    }
}

/// `POST /v1/calls` body: whom to call from where, and the flow the
/// answered call runs (`flow_id` or `actions`, one of the two).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCall {
    /// The caller the destinations see.
    source: Address,
    /// Where to call: extensions, E.164 `tel` numbers (through the trunks),
    /// SIP URIs; at least one.
    #[schema(value_type = Vec<Address>, min_items = 1)]
    destinations: Vec<serde_json::Value>,
    /// A stored flow to run on the call that answers.
    #[serde(default)]
    flow_id: Option<Uuid>,
    /// Actions to run on the call that answers (instead of `flow_id`).
    #[serde(default)]
    #[schema(schema_with = super::openapi::flow_actions)]
    actions: Option<serde_json::Value>,
    /// Default `ring_all`.
    #[serde(default)]
    ring_method: Option<RingMethod>,
    /// Seconds each destination may ring, 1-600.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 600)]
    ring_timeout: Option<u32>,
    /// Run the flow at once, before an answer (no failover then).
    #[serde(default)]
    early_execution: bool,
    /// Where this call's events go as signed webhooks (instead of the
    /// global `webhook_uri`).
    #[serde(default)]
    webhook_uri: Option<String>,
}

/// A destination as the engine takes it: checked (an E.164 `tel`, an
/// extension, a SIP URI whose host name is resolved here).
pub async fn dial_destination(a: model::Address) -> Result<engine::DialDestination, ApiError> {
    use model::AddressType as T;
    match a.kind {
        T::Tel => {
            model::validate_e164(&a.target).map_err(|e| ApiError::invalid(format!("tel: {e}")))?
        }
        T::Extension => model::validate_extension(&a.target)
            .map_err(|e| ApiError::invalid(format!("extension: {e}")))?,
        T::Sip => {}
    }
    let mut d = engine::DialDestination::new(a.clone());
    if a.kind == T::Sip {
        let uri = sip::Uri::from_text(&a.target)
            .map_err(|_| ApiError::invalid(format!("sip: '{}' is not a SIP URI", a.target)))?;
        let host = uri.host.as_ref().map(|h| h.to_string()).unwrap_or_default();
        if host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_err()
        {
            let addr = super::routing::resolve(&host, uri.port.unwrap_or(5060))
                .await
                .map_err(ApiError::unprocessable)?;
            d.resolved = Some(addr);
        }
    }
    Ok(d)
}

/// Places calls and runs a flow on the one that answers (at once with
/// `early_execution`); 201 with the calls created now.
#[utoipa::path(post, path = "/v1/calls", tag = "calls", operation_id = "create_call",
    request_body = CreateCall,
    responses(
        (status = 201, description = "the outgoing calls created now", body = Items<Call>),
        (status = 400, description = "a field is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 422, description = "a destination's host cannot be resolved", body = ErrorBody),
        (status = 503, description = "the switch is overloaded or stopping", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<CreateCall>,
) -> Result<(axum::http::StatusCode, Json<Items<Call>>), ApiError> {
    if body.destinations.is_empty() {
        return Err(ApiError::invalid("destinations: at least one is needed"));
    }
    let mut dests = Vec::new();
    for (i, d) in body.destinations.iter().enumerate() {
        let a: model::Address = serde_json::from_value(d.clone()).map_err(|e| {
            ApiError::invalid(format!(
                "destinations[{i}]: {e} (an address is {{\"type\": extension|tel|sip, \"target\"}})"
            ))
        })?;
        let dest = dial_destination(a)
            .await
            .map_err(|e| ApiError::invalid(format!("destinations[{i}].target: {}", e.message)))?;
        dests.push(dest);
    }
    let (flow, flow_id) = match (&body.flow_id, &body.actions) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "give either flow_id or actions, not both",
            ))
        }
        (Some(id), None) => (
            crate::flows::load(&state, *id)
                .await
                .map_err(|e| ApiError::invalid(format!("flow_id: {}", e.message)))?,
            Some(*id),
        ),
        (None, Some(actions)) => (super::flows::checked_actions(actions, "actions")?, None),
        (None, None) => {
            return Err(ApiError::invalid(
                "flow_id or actions: a call needs a flow to run when it is answered",
            ))
        }
    };
    if let Some(uri) = &body.webhook_uri {
        crate::config::validate_webhook_uri(uri)
            .map_err(|m| ApiError::invalid(format!("webhook_uri: {m}")))?;
    }
    let ring_timeout = match body.ring_timeout {
        None => None,
        Some(s @ 1..=600) => Some(std::time::Duration::from_secs(s.into())),
        Some(s) => {
            return Err(ApiError::invalid(format!(
                "ring_timeout: {s} s is not within 1-600"
            )))
        }
    };
    let events = state.events.subscribe();
    let dial = engine::Dial {
        source: body.source,
        destinations: dests,
        ring_method: body.ring_method.unwrap_or_default(),
        ring_timeout,
        join: None,
        failover: !body.early_execution,
        flow_id,
    };
    let (webhooks, uri) = (state.webhooks.clone(), body.webhook_uri.clone());
    let calls = state
        .switch
        .dial(dial, move |ids| {
            if let Some(uri) = uri {
                for id in ids {
                    if let Err(e) = webhooks.set_call_uri(*id, &uri) {
                        tracing::warn!(call = %id, error = %e, "webhook_uri not set");
                    }
                }
            }
        })
        .await?;
    let ids: Vec<Uuid> = calls.iter().map(|c| c.id).collect();
    state
        .flows
        .after_answer(ids, flow, flow_id, body.early_execution, events);
    Ok((
        axum::http::StatusCode::CREATED,
        Json(Items { items: calls }),
    ))
}

/// `POST /v1/calls/{id}/redirect` body: the actions replacing the flow.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectBody {
    #[schema(schema_with = super::openapi::flow_actions)]
    actions: serde_json::Value,
}

/// Replaces the flow running on a call with new actions (the action
/// running now is cut short).
#[utoipa::path(post, path = "/v1/calls/{id}/redirect", tag = "calls", operation_id = "redirect_call",
    params(("id" = Uuid, Path, description = "the call's id")),
    request_body = RedirectBody,
    responses(
        (status = 200, description = "the call, now running the new actions", body = Call),
        (status = 400, description = "`id` or an action is invalid (each error with its path)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such live call", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn redirect(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RedirectBody>,
) -> Result<Json<Call>, ApiError> {
    let id = parse_id(&id)?;
    let flow = super::flows::checked_actions(&body.actions, "actions")?;
    let call = state
        .switch
        .call(id)
        .await
        .filter(|c| c.status != CallStatus::Hangup)
        .ok_or_else(|| ApiError::not_found(format!("call {id} is not live")))?;
    state.flows.redirect(id, flow)?;
    Ok(Json(call))
}
