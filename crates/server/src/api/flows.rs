//! `/v1/flows`: stored call flows (`{name, actions}`), validated when
//! saved; `GET /v1/flows/schema`: the JSON Schema of a flow's actions,
//! generated from the interpreter's types.

use super::{page_size, ApiError, AppState, ErrorBody, ListQuery};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::sync::Arc;
use store::ResourceKind;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/flows` and `PUT /v1/flows/{id}` body. The handlers parse it
/// by hand ([`flow_from`]) so that every action error is reported with
/// its path; this type only describes it.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct FlowBody {
    /// Default empty.
    name: Option<String>,
    #[schema(schema_with = super::openapi::flow_actions)]
    actions: Value,
}

/// A stored flow, as the handlers build it ([`flow_from`]).
#[derive(Debug, ToSchema)]
#[schema(as = Flow)]
#[allow(dead_code)]
pub struct FlowRecord {
    id: Uuid,
    name: String,
    #[schema(schema_with = super::openapi::flow_actions)]
    actions: Value,
    tm_create: DateTime<Utc>,
    tm_update: DateTime<Utc>,
}

/// A body's flow: `actions` checked by `flow::validate`, every error with
/// its JSON path (`$.actions[2].option.digits: ...`) in one 400.
pub fn checked_actions(actions: &Value, prefix: &str) -> Result<flow::Flow, ApiError> {
    flow::validate(&json!({ "actions": actions })).map_err(|errs| {
        let list: Vec<String> = errs
            .iter()
            .map(|e| {
                let path = e.path.replacen("$.actions", prefix, 1);
                format!("{path}: {}", e.message)
            })
            .collect();
        ApiError::invalid(list.join("; "))
    })
}

fn body_json(bytes: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid(
            "body: a JSON object {\"name\", \"actions\"} is needed",
        )),
        Err(e) => Err(ApiError::invalid(format!("body: not JSON: {e}"))),
    }
}

pub(super) fn flow_from(
    m: serde_json::Map<String, Value>,
    id: Uuid,
    tm_create: chrono::DateTime<Utc>,
) -> Result<Value, ApiError> {
    for k in m.keys() {
        if !["name", "actions"].contains(&k.as_str()) {
            return Err(ApiError::invalid(format!(
                "{k}: unknown field (a flow has name and actions)"
            )));
        }
    }
    let name = match m.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::invalid("name: must be a string")),
    };
    let actions = m
        .get("actions")
        .cloned()
        .ok_or_else(|| ApiError::invalid("actions: missing (a list of actions)"))?;
    checked_actions(&actions, "actions")?;
    Ok(json!({
        "id": id,
        "name": name,
        "actions": actions,
        "tm_create": tm_create,
        "tm_update": Utc::now(),
    }))
}

/// Saves a flow, its actions checked first (every error in one 400).
#[utoipa::path(post, path = "/v1/flows", tag = "flows", operation_id = "create_flow",
    request_body(content = FlowBody, description = "parsed by hand: unknown fields and invalid actions are 400s naming them"),
    responses(
        (status = 201, description = "saved", body = FlowRecord),
        (status = 400, description = "the body or an action is invalid (each error with its JSON path)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = Uuid::new_v4();
    let now = Utc::now();
    let v = flow_from(body_json(&body)?, id, now)?;
    state
        .store
        .put_resource(ResourceKind::Flow, id, &id.to_string(), now, &v, true)
        .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Lists the stored flows.
#[utoipa::path(get, path = "/v1/flows", tag = "flows", operation_id = "list_flows",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of flows", body = store::PageOf<FlowRecord>),
        (status = 400, description = "bad `page_size` or `page_token`", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<store::PageOf<Value>>, ApiError> {
    let page = state
        .store
        .list_resources(ResourceKind::Flow, page_size(q.page_size)?, q.page_token)
        .await?;
    Ok(Json(page))
}

async fn stored(state: &AppState, id: &str) -> Result<(Uuid, Value), ApiError> {
    let id = super::parse_id(id)?;
    Ok((
        id,
        super::routing::stored(state, ResourceKind::Flow, id).await?,
    ))
}

/// One stored flow.
#[utoipa::path(get, path = "/v1/flows/{id}", tag = "flows", operation_id = "get_flow",
    params(("id" = Uuid, Path, description = "the flow's id")),
    responses(
        (status = 200, description = "the flow", body = FlowRecord),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such flow", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(stored(&state, &id).await?.1))
}

/// Replaces a flow's name and actions (calls running it keep the old
/// actions).
#[utoipa::path(put, path = "/v1/flows/{id}", tag = "flows", operation_id = "update_flow",
    params(("id" = Uuid, Path, description = "the flow's id")),
    request_body(content = FlowBody, description = "parsed by hand: unknown fields and invalid actions are 400s naming them"),
    responses(
        (status = 200, description = "the flow as it is now", body = FlowRecord),
        (status = 400, description = "`id`, the body or an action is invalid (each error with its JSON path)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such flow", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (id, old) = stored(&state, &id).await?;
    let created = serde_json::from_value(old["tm_create"].clone()).unwrap_or_else(|_| Utc::now());
    let v = flow_from(body_json(&body)?, id, created)?;
    state
        .store
        .put_resource(ResourceKind::Flow, id, &id.to_string(), created, &v, false)
        .await?;
    Ok(Json(v))
}

/// Deletes a stored flow.
#[utoipa::path(delete, path = "/v1/flows/{id}", tag = "flows", operation_id = "delete_flow",
    params(("id" = Uuid, Path, description = "the flow's id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such flow", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (id, _) = stored(&state, &id).await?;
    state.store.delete_resource(ResourceKind::Flow, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The JSON Schema (draft 2020-12) of a flow, `{"actions": [...]}`,
/// generated from the interpreter's types.
#[utoipa::path(get, path = "/v1/flows/schema", tag = "flows", operation_id = "flow_schema",
    responses(
        (status = 200, description = "the JSON Schema (its definitions are also this document's `flow.*` components)", body = Object),
        (status = 401, response = super::Unauthorized),
    ),
    security(("bearer" = [])))]
pub async fn schema() -> Json<Value> {
    Json(flow::schema())
}
