//! `/v1/numbers` (a number → the flow its calls run) and `/v1/trunks`
//! (gateways `tel` calls leave through, with failover by priority).
//!
//! Every change is applied to the switch at once: numbers one by one,
//! trunks as a whole list (their gateway names resolved here: the engine
//! never resolves names).

use super::{page_size, ApiError, AppState, ErrorBody, JsonBody, ListQuery};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use model::{Number, Trunk, TrunkTransport};
use serde::Deserialize;
use std::sync::Arc;
use store::ResourceKind;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/numbers` and `PUT /v1/numbers/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberBody {
    /// An E.164 number (`+15550100`) or an extension-style one (`400`).
    number: String,
    #[serde(default)]
    name: String,
    /// The flow its calls run (an existing flow); `null`: none.
    #[serde(default)]
    flow_id: Option<Uuid>,
}

fn check_number(n: &str) -> Result<(), ApiError> {
    if n.starts_with('+') {
        model::validate_e164(n).map_err(|e| ApiError::invalid(format!("number: {e}")))
    } else {
        model::validate_extension(n).map_err(|e| {
            ApiError::invalid(format!("number: {e} (an E.164 number starts with '+')"))
        })
    }
}

async fn check_flow(state: &AppState, flow: Option<Uuid>) -> Result<(), ApiError> {
    if let Some(f) = flow {
        if state.store.resource(ResourceKind::Flow, f).await?.is_none() {
            return Err(ApiError::invalid(format!(
                "flow_id: flow {f} does not exist"
            )));
        }
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::internal(format!("stored resource: {e}")))
}

/// The stored flow, number or trunk `id`: 404 `<kind> <id> does not exist`.
pub(crate) async fn stored<T: serde::de::DeserializeOwned>(
    state: &AppState,
    kind: ResourceKind,
    id: Uuid,
) -> Result<T, ApiError> {
    match state.store.resource(kind, id).await? {
        Some(v) => decode(v),
        None => Err(ApiError::not_found(format!(
            "{} {id} does not exist",
            kind.as_str()
        ))),
    }
}

/// Adds a number and the flow its calls run.
#[utoipa::path(post, path = "/v1/numbers", tag = "numbers", operation_id = "create_number",
    request_body = NumberBody,
    responses(
        (status = 201, description = "added", body = Number),
        (status = 400, description = "a field is invalid, or the flow does not exist", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 409, description = "the number is taken", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create_number(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<NumberBody>,
) -> Result<(StatusCode, Json<Number>), ApiError> {
    check_number(&body.number)?;
    check_flow(&state, body.flow_id).await?;
    let now = Utc::now();
    let n = Number {
        id: Uuid::new_v4(),
        number: body.number,
        name: body.name,
        flow_id: body.flow_id,
        tm_create: now,
        tm_update: now,
    };
    let json = serde_json::to_value(&n).map_err(|e| ApiError::internal(e.to_string()))?;
    state
        .store
        .put_resource(ResourceKind::Number, n.id, &n.number, now, &json, true)
        .await?;
    state.switch.set_number(n.number.clone(), n.flow_id).await;
    Ok((StatusCode::CREATED, Json(n)))
}

/// Lists the numbers.
#[utoipa::path(get, path = "/v1/numbers", tag = "numbers", operation_id = "list_numbers",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of numbers", body = store::PageOf<Number>),
        (status = 400, description = "bad `page_size` or `page_token`", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
    ),
    security(("bearer" = [])))]
pub async fn list_numbers(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<store::PageOf<Number>>, ApiError> {
    Ok(Json(page_of(&state, ResourceKind::Number, q, Ok).await?))
}

/// A page of stored resources of `kind`, each decoded and passed through `fill`.
async fn page_of<T: serde::de::DeserializeOwned>(
    state: &AppState,
    kind: ResourceKind,
    q: ListQuery,
    fill: impl Fn(T) -> Result<T, ApiError>,
) -> Result<store::PageOf<T>, ApiError> {
    let page = state
        .store
        .list_resources(kind, page_size(q.page_size)?, q.page_token)
        .await?;
    Ok(store::PageOf {
        items: page
            .items
            .into_iter()
            .map(|v| decode(v).and_then(&fill))
            .collect::<Result<_, _>>()?,
        next_page_token: page.next_page_token,
    })
}

async fn number(state: &AppState, id: &str) -> Result<Number, ApiError> {
    stored(state, ResourceKind::Number, super::parse_id(id)?).await
}

/// One number.
#[utoipa::path(get, path = "/v1/numbers/{id}", tag = "numbers", operation_id = "get_number",
    params(("id" = Uuid, Path, description = "the number's id")),
    responses(
        (status = 200, description = "the number", body = Number),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such number", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get_number(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Number>, ApiError> {
    Ok(Json(number(&state, &id).await?))
}

/// Replaces a number's fields.
#[utoipa::path(put, path = "/v1/numbers/{id}", tag = "numbers", operation_id = "update_number",
    params(("id" = Uuid, Path, description = "the number's id")),
    request_body = NumberBody,
    responses(
        (status = 200, description = "the number as it is now", body = Number),
        (status = 400, description = "`id` or a field is invalid, or the flow does not exist", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such number", body = ErrorBody),
        (status = 409, description = "the new number is taken", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update_number(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NumberBody>,
) -> Result<Json<Number>, ApiError> {
    let mut n = number(&state, &id).await?;
    check_number(&body.number)?;
    check_flow(&state, body.flow_id).await?;
    let old = std::mem::replace(&mut n.number, body.number);
    n.name = body.name;
    n.flow_id = body.flow_id;
    n.tm_update = Utc::now();
    let json = serde_json::to_value(&n).map_err(|e| ApiError::internal(e.to_string()))?;
    state
        .store
        .put_resource(
            ResourceKind::Number,
            n.id,
            &n.number,
            n.tm_create,
            &json,
            false,
        )
        .await?;
    if old != n.number {
        state.switch.set_number(old, None).await;
    }
    state.switch.set_number(n.number.clone(), n.flow_id).await;
    Ok(Json(n))
}

/// Removes a number: calls to it get 404 again.
#[utoipa::path(delete, path = "/v1/numbers/{id}", tag = "numbers", operation_id = "delete_number",
    params(("id" = Uuid, Path, description = "the number's id")),
    responses(
        (status = 204, description = "removed"),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such number", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete_number(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let n = number(&state, &id).await?;
    state
        .store
        .delete_resource(ResourceKind::Number, n.id)
        .await?;
    state.switch.set_number(n.number, None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/trunks` and `PUT /v1/trunks/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkBody {
    name: String,
    /// The gateway: an IP address or a DNS name (resolved when saved).
    host: String,
    #[serde(default = "default_port")]
    #[schema(minimum = 1, default = 5060)]
    port: u16,
    #[serde(default)]
    transport: TrunkTransport,
    /// Digest credentials the gateway may challenge for (give both or
    /// neither).
    #[serde(default)]
    username: Option<String>,
    /// Write-only (never returned).
    #[serde(default)]
    #[schema(write_only)]
    password: Option<String>,
    /// Outbound registration: not supported yet (`true` is a 400).
    #[serde(default)]
    register: bool,
    /// Source addresses (IP or CIDR) whose INVITEs are this trunk's
    /// inbound calls.
    #[serde(default)]
    inbound_addresses: Vec<String>,
    /// Codecs offered, in preference order: `PCMU`, `PCMA`, `G722`,
    /// `opus`; empty: all.
    #[serde(default)]
    codecs: Vec<String>,
    /// Lower goes first.
    #[serde(default = "default_priority")]
    #[schema(default = 100)]
    priority: u32,
    #[serde(default = "yes")]
    #[schema(default = true)]
    enabled: bool,
}

fn default_port() -> u16 {
    5060
}
fn default_priority() -> u32 {
    100
}
fn yes() -> bool {
    true
}

const CODECS: [&str; 4] = ["PCMU", "PCMA", "G722", "opus"];

async fn check_trunk(b: &TrunkBody) -> Result<std::net::SocketAddr, ApiError> {
    if b.name.trim().is_empty() {
        return Err(ApiError::invalid("name: must not be empty"));
    }
    if b.host.trim().is_empty() {
        return Err(ApiError::invalid("host: must not be empty"));
    }
    if b.port == 0 {
        return Err(ApiError::invalid("port: must be 1-65535"));
    }
    for (i, c) in b.codecs.iter().enumerate() {
        if !CODECS.iter().any(|k| k.eq_ignore_ascii_case(c)) {
            return Err(ApiError::invalid(format!(
                "codecs[{i}]: '{c}' is not one of {}",
                CODECS.join(", ")
            )));
        }
    }
    for (i, a) in b.inbound_addresses.iter().enumerate() {
        a.parse::<engine::Cidr>()
            .map_err(|e| ApiError::invalid(format!("inbound_addresses[{i}]: '{a}': {e}")))?;
    }
    if b.username.is_some() != b.password.is_some() {
        return Err(ApiError::invalid(
            "username, password: give both or neither",
        ));
    }
    if b.register && b.username.is_none() {
        return Err(ApiError::invalid(
            "register: registering to the gateway needs username and password",
        ));
    }
    resolve(&b.host, b.port)
        .await
        .map_err(ApiError::unprocessable)
}

/// A gateway's address: an IP literal as it is, a name through the
/// system resolver (the first address).
pub async fn resolve(host: &str, port: u16) -> Result<std::net::SocketAddr, String> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, port));
    }
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("host: cannot resolve '{host}': {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("host: '{host}' has no address"))
}

fn trunk_from(b: TrunkBody, id: Uuid, tm_create: chrono::DateTime<Utc>) -> Trunk {
    Trunk {
        id,
        name: b.name,
        host: b.host,
        port: b.port,
        transport: b.transport,
        username: b.username,
        password: b.password,
        register: b.register,
        inbound_addresses: b.inbound_addresses,
        codecs: b.codecs,
        priority: b.priority,
        enabled: b.enabled,
        tm_create,
        tm_update: Utc::now(),
        registration: None,
    }
}

/// Stores a trunk with its password (the API never shows it).
fn trunk_json(t: &Trunk) -> Result<serde_json::Value, ApiError> {
    let mut v = serde_json::to_value(t).map_err(|e| ApiError::internal(e.to_string()))?;
    v["password"] = serde_json::json!(t.password);
    Ok(v)
}

/// Adds a trunk; `tel` calls use it at once.
#[utoipa::path(post, path = "/v1/trunks", tag = "trunks", operation_id = "create_trunk",
    request_body = TrunkBody,
    responses(
        (status = 201, description = "added", body = Trunk),
        (status = 400, description = "a field is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 409, description = "the name is taken", body = ErrorBody),
        (status = 422, description = "`host` cannot be resolved", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create_trunk(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<TrunkBody>,
) -> Result<(StatusCode, Json<Trunk>), ApiError> {
    check_trunk(&body).await?;
    let t = trunk_from(body, Uuid::new_v4(), Utc::now());
    state
        .store
        .put_resource(
            ResourceKind::Trunk,
            t.id,
            &t.name,
            t.tm_create,
            &trunk_json(&t)?,
            true,
        )
        .await?;
    reload_trunks(&state).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Lists the trunks.
#[utoipa::path(get, path = "/v1/trunks", tag = "trunks", operation_id = "list_trunks",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of trunks", body = store::PageOf<Trunk>),
        (status = 400, description = "bad `page_size` or `page_token`", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
    ),
    security(("bearer" = [])))]
pub async fn list_trunks(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<store::PageOf<Trunk>>, ApiError> {
    let page = page_of(&state, ResourceKind::Trunk, q, |t| {
        Ok(with_registration(&state, t))
    })
    .await?;
    Ok(Json(page))
}

/// The trunk with its registration state (kept by the switch, not stored).
fn with_registration(state: &AppState, mut t: Trunk) -> Trunk {
    t.registration = state.switch.trunk_registration(t.id);
    t
}

async fn trunk(state: &AppState, id: &str) -> Result<Trunk, ApiError> {
    let t = stored(state, ResourceKind::Trunk, super::parse_id(id)?).await?;
    Ok(with_registration(state, t))
}

/// One trunk (never its password).
#[utoipa::path(get, path = "/v1/trunks/{id}", tag = "trunks", operation_id = "get_trunk",
    params(("id" = Uuid, Path, description = "the trunk's id")),
    responses(
        (status = 200, description = "the trunk", body = Trunk),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such trunk", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get_trunk(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Trunk>, ApiError> {
    Ok(Json(trunk(&state, &id).await?))
}

/// Replaces a trunk's fields.
#[utoipa::path(put, path = "/v1/trunks/{id}", tag = "trunks", operation_id = "update_trunk",
    params(("id" = Uuid, Path, description = "the trunk's id")),
    request_body = TrunkBody,
    responses(
        (status = 200, description = "the trunk as it is now", body = Trunk),
        (status = 400, description = "`id` or a field is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such trunk", body = ErrorBody),
        (status = 409, description = "the new name is taken", body = ErrorBody),
        (status = 422, description = "`host` cannot be resolved", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update_trunk(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TrunkBody>,
) -> Result<Json<Trunk>, ApiError> {
    let old = trunk(&state, &id).await?;
    check_trunk(&body).await?;
    let t = trunk_from(body, old.id, old.tm_create);
    state
        .store
        .put_resource(
            ResourceKind::Trunk,
            t.id,
            &t.name,
            t.tm_create,
            &trunk_json(&t)?,
            false,
        )
        .await?;
    reload_trunks(&state).await?;
    Ok(Json(t))
}

/// Removes a trunk; `tel` calls stop using it at once.
#[utoipa::path(delete, path = "/v1/trunks/{id}", tag = "trunks", operation_id = "delete_trunk",
    params(("id" = Uuid, Path, description = "the trunk's id")),
    responses(
        (status = 204, description = "removed"),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such trunk", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete_trunk(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = trunk(&state, &id).await?;
    state
        .store
        .delete_resource(ResourceKind::Trunk, t.id)
        .await?;
    reload_trunks(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives the switch every enabled trunk (names resolved now; a trunk whose
/// name no longer resolves is left out, logged).
pub async fn reload_trunks(state: &AppState) -> Result<(), ApiError> {
    let routes = trunk_routes(&*state.store).await?;
    state.switch.set_trunks(routes).await;
    Ok(())
}

/// The enabled trunks as the engine takes them.
pub async fn trunk_routes(
    store: &dyn store::Store,
) -> Result<Vec<engine::TrunkRoute>, store::StoreError> {
    let mut out = Vec::new();
    for v in store.all_resources(ResourceKind::Trunk).await? {
        // The password is read back (it is only never serialized).
        let Ok(t) = serde_json::from_value::<Trunk>(v) else {
            continue;
        };
        if !t.enabled {
            continue;
        }
        let gateway = match resolve(&t.host, t.port).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(trunk = %t.name, error = %e, "trunk left out");
                continue;
            }
        };
        out.push(engine::TrunkRoute {
            id: t.id,
            name: t.name,
            gateway,
            transport: match t.transport {
                TrunkTransport::Udp => sip::Transport::Udp,
                TrunkTransport::Tcp => sip::Transport::Tcp,
            },
            username: t.username,
            password: t.password,
            codecs: t.codecs,
            priority: t.priority,
            register: t.register,
            inbound: t
                .inbound_addresses
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
        });
    }
    Ok(out)
}

/// Every number with a flow, for the switch at start.
pub async fn numbers(store: &dyn store::Store) -> Result<Vec<Number>, store::StoreError> {
    Ok(store
        .all_resources(ResourceKind::Number)
        .await?
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect())
}
