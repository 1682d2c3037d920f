//! The webhook outbox: `GET /v1/webhooks/deliveries` (newest first;
//! `?status=pending|delivered|failed`, `?call_id=`, pages),
//! `GET /v1/webhooks/deliveries/{id}` and
//! `POST /v1/webhooks/deliveries/{id}/redeliver` (sends the same body, with
//! the same `event_id`, again).

use super::{page_size, parse_id, ApiError, AppState};
use axum::extract::{Path, Query, State};
use axum::Json;
use model::{DeliveryStatus, WebhookDelivery};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    call_id: Option<String>,
    page_size: Option<u32>,
    page_token: Option<String>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<store::PageOf<WebhookDelivery>>, ApiError> {
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
        .map(|s| {
            DeliveryStatus::parse(s).ok_or_else(|| {
                ApiError::invalid(format!(
                    "status: '{s}' is not one of pending, delivered, failed"
                ))
            })
        })
        .transpose()?;
    let filter = store::DeliveryFilter {
        status,
        call_id,
        page_size: page_size(q.page_size)?,
        page_token: q.page_token,
    };
    Ok(Json(state.store.list_webhook_deliveries(&filter).await?))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<WebhookDelivery>, ApiError> {
    let id = parse_id(&id)?;
    match state.store.webhook_delivery(id).await? {
        Some(d) => Ok(Json(d)),
        None => Err(not_found(id)),
    }
}

/// Back to `pending`, due now: the worker sends it (after the earlier
/// pending events of its call, if any). 200 with the delivery.
pub async fn redeliver(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<WebhookDelivery>, ApiError> {
    let id = parse_id(&id)?;
    match state.store.redeliver_webhook(id, chrono::Utc::now()).await {
        Ok(d) => {
            state.webhooks.wake();
            Ok(Json(d))
        }
        Err(store::StoreError::NotFound) => Err(not_found(id)),
        Err(e) => Err(e.into()),
    }
}

fn not_found(id: uuid::Uuid) -> ApiError {
    ApiError::not_found(format!("webhook delivery {id} does not exist"))
}
