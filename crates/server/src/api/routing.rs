//! `/v1/numbers` (a number → the flow its calls run) and `/v1/trunks`
//! (gateways `tel` calls leave through, with failover by priority).
//!
//! Every change is applied to the switch at once: numbers one by one,
//! trunks as a whole list (their gateway names resolved here: the engine
//! never resolves names).

use super::{page_size, ApiError, AppState, JsonBody, ListQuery};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use model::{Number, Trunk, TrunkTransport};
use serde::Deserialize;
use std::sync::Arc;
use store::ResourceKind;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberBody {
    number: String,
    #[serde(default)]
    name: String,
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

pub async fn list_numbers(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<store::PageOf<Number>>, ApiError> {
    let page = state
        .store
        .list_resources(ResourceKind::Number, page_size(q.page_size)?, q.page_token)
        .await?;
    Ok(Json(store::PageOf {
        items: page
            .items
            .into_iter()
            .map(decode)
            .collect::<Result<_, _>>()?,
        next_page_token: page.next_page_token,
    }))
}

async fn number(state: &AppState, id: &str) -> Result<Number, ApiError> {
    let id = super::parse_id(id)?;
    match state.store.resource(ResourceKind::Number, id).await? {
        Some(v) => decode(v),
        None => Err(ApiError::not_found(format!("number {id} does not exist"))),
    }
}

pub async fn get_number(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Number>, ApiError> {
    Ok(Json(number(&state, &id).await?))
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkBody {
    name: String,
    host: String,
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default)]
    transport: TrunkTransport,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    register: bool,
    #[serde(default)]
    inbound_addresses: Vec<String>,
    #[serde(default)]
    codecs: Vec<String>,
    #[serde(default = "default_priority")]
    priority: u32,
    #[serde(default = "yes")]
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
    if b.register {
        return Err(ApiError::invalid(
            "register: outbound registration to a trunk is not supported yet; \
             have the provider authorize Dialtone's address (inbound_addresses) instead",
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
    }
}

/// Stores a trunk with its password (the API never shows it).
fn trunk_json(t: &Trunk) -> Result<serde_json::Value, ApiError> {
    let mut v = serde_json::to_value(t).map_err(|e| ApiError::internal(e.to_string()))?;
    v["password"] = serde_json::json!(t.password);
    Ok(v)
}

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

pub async fn list_trunks(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<store::PageOf<Trunk>>, ApiError> {
    let page = state
        .store
        .list_resources(ResourceKind::Trunk, page_size(q.page_size)?, q.page_token)
        .await?;
    Ok(Json(store::PageOf {
        items: page
            .items
            .into_iter()
            .map(decode)
            .collect::<Result<_, _>>()?,
        next_page_token: page.next_page_token,
    }))
}

async fn trunk(state: &AppState, id: &str) -> Result<Trunk, ApiError> {
    let id = super::parse_id(id)?;
    match state.store.resource(ResourceKind::Trunk, id).await? {
        Some(v) => decode(v),
        None => Err(ApiError::not_found(format!("trunk {id} does not exist"))),
    }
}

pub async fn get_trunk(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Trunk>, ApiError> {
    Ok(Json(trunk(&state, &id).await?))
}

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
        let password = v["password"].as_str().map(str::to_owned);
        let Ok(mut t) = serde_json::from_value::<Trunk>(v) else {
            continue;
        };
        t.password = password;
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
