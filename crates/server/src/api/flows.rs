//! `/v1/flows`: stored call flows (`{name, actions}`), validated when
//! saved; `GET /v1/flows/schema`: the JSON Schema of a flow's actions,
//! generated from the interpreter's types.

use super::{page_size, ApiError, AppState, ListQuery};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};
use std::sync::Arc;
use store::ResourceKind;
use uuid::Uuid;

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

fn flow_from(
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
    match state.store.resource(ResourceKind::Flow, id).await? {
        Some(v) => Ok((id, v)),
        None => Err(ApiError::not_found(format!("flow {id} does not exist"))),
    }
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(stored(&state, &id).await?.1))
}

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

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (id, _) = stored(&state, &id).await?;
    state.store.delete_resource(ResourceKind::Flow, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn schema() -> Json<Value> {
    Json(flow::schema())
}
