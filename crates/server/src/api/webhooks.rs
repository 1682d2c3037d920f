//! The webhook outbox: `GET /v1/webhooks/deliveries` (newest first;
//! `?status=pending|delivered|failed`, `?call_id=`, pages),
//! `GET /v1/webhooks/deliveries/{id}` and
//! `POST /v1/webhooks/deliveries/{id}/redeliver` (sends the same body, with
//! the same `event_id`, again).

use super::{page_size, parse_id, ApiError, AppState, ErrorBody};
use axum::extract::{Path, Query, State};
use axum::Json;
use model::{DeliveryStatus, WebhookDelivery};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

/// `GET /v1/webhooks/deliveries` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(value_type = Option<DeliveryStatus>)]
    status: Option<String>,
    /// Only deliveries of this call's events.
    #[param(value_type = Option<Uuid>)]
    call_id: Option<String>,
    /// Items per page, 1-500; default 50.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<u32>,
    /// The `next_page_token` of the previous page.
    page_token: Option<String>,
}

/// Webhook deliveries, newest first.
#[utoipa::path(get, path = "/v1/webhooks/deliveries", tag = "webhooks", operation_id = "list_webhook_deliveries",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of deliveries", body = store::PageOf<WebhookDelivery>),
        (status = 400, description = "a filter is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
    ),
    security(("bearer" = [])))]
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

/// One delivery: where it went, how often, what came back.
#[utoipa::path(get, path = "/v1/webhooks/deliveries/{id}", tag = "webhooks", operation_id = "get_webhook_delivery",
    params(("id" = Uuid, Path, description = "the delivery's id")),
    responses(
        (status = 200, description = "the delivery", body = WebhookDelivery),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such delivery", body = ErrorBody),
    ),
    security(("bearer" = [])))]
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
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{id}/redeliver", tag = "webhooks", operation_id = "redeliver_webhook",
    params(("id" = Uuid, Path, description = "the delivery's id")),
    responses(
        (status = 200, description = "the delivery, pending again", body = WebhookDelivery),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such delivery", body = ErrorBody),
    ),
    security(("bearer" = [])))]
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
