//! `/v1/extensions`: the accounts phones register as.
//!
//! Numbers follow the seed's extension format (letters and digits only);
//! passwords are write-only (never returned) and at least 8 characters;
//! extensions from the config file are read-only here (409).

use super::{page_size, ApiError, AppState, ErrorBody, JsonBody, ListQuery};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use model::{Extension, ExtensionSecret, Origin};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// Shortest password accepted: digest auth is only as strong as it.
pub const MIN_PASSWORD: usize = 8;

/// `POST /v1/extensions` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExtension {
    /// Letters and digits, 1 to 32 (`100`); unique.
    extension: String,
    /// Write-only (never returned); at least 8 characters.
    #[schema(min_length = 8, write_only)]
    password: String,
    /// Display name.
    #[serde(default)]
    name: String,
    /// `sip:host:port` for a device that never registers.
    #[serde(default)]
    static_contact: Option<String>,
}

/// `PUT /v1/extensions/{id}` body: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateExtension {
    /// At least 8 characters.
    #[serde(default)]
    #[schema(min_length = 8, write_only)]
    password: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// `null` removes the static contact; absent leaves it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    static_contact: Option<Option<String>>,
}

fn check_password(p: &str) -> Result<(), ApiError> {
    if p.chars().count() < MIN_PASSWORD {
        return Err(ApiError::invalid(format!(
            "password: must be at least {MIN_PASSWORD} characters"
        )));
    }
    Ok(())
}

fn check_static_contact(c: &Option<String>) -> Result<(), ApiError> {
    if let Some(c) = c {
        crate::config::validate_static_contact(c)
            .map_err(|m| ApiError::invalid(format!("static_contact: {m}")))?;
    }
    Ok(())
}

/// Creates an extension phones can register as.
#[utoipa::path(post, path = "/v1/extensions", tag = "extensions", operation_id = "create_extension",
    request_body = CreateExtension,
    responses(
        (status = 201, description = "created", body = Extension),
        (status = 400, description = "a field is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 409, description = "the extension number is taken", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<CreateExtension>,
) -> Result<(StatusCode, Json<Extension>), ApiError> {
    model::validate_extension(&body.extension)
        .map_err(|e| ApiError::invalid(format!("extension: {e}")))?;
    check_password(&body.password)?;
    check_static_contact(&body.static_contact)?;
    let now = Utc::now();
    let secret = ExtensionSecret {
        extension: Extension {
            id: Uuid::new_v4(),
            extension: body.extension,
            name: body.name,
            static_contact: body.static_contact,
            origin: Origin::Api,
            tm_create: now,
            tm_update: now,
        },
        password: body.password,
    };
    state.store.create_extension(&secret).await?;
    state.switch.extension_changed(secret.clone()).await;
    Ok((StatusCode::CREATED, Json(secret.extension)))
}

/// Lists extensions, ordered by number.
#[utoipa::path(get, path = "/v1/extensions", tag = "extensions", operation_id = "list_extensions",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of extensions", body = store::PageOf<Extension>),
        (status = 400, description = "bad `page_size` or `page_token`", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<store::PageOf<Extension>>, ApiError> {
    let page = state
        .store
        .list_extensions(page_size(q.page_size)?, q.page_token.clone())
        .await?;
    Ok(Json(page))
}

/// One extension (never its password).
#[utoipa::path(get, path = "/v1/extensions/{id}", tag = "extensions", operation_id = "get_extension",
    params(("id" = Uuid, Path, description = "the extension's id")),
    responses(
        (status = 200, description = "the extension", body = Extension),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such extension", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Extension>, ApiError> {
    let id = super::parse_id(&id)?;
    match state.store.extension(id).await? {
        Some(e) => Ok(Json(e.extension)),
        None => Err(ApiError::not_found(format!(
            "extension {id} does not exist"
        ))),
    }
}

/// Changes an extension's password, name or static contact (not one
/// from the config file).
#[utoipa::path(put, path = "/v1/extensions/{id}", tag = "extensions", operation_id = "update_extension",
    params(("id" = Uuid, Path, description = "the extension's id")),
    request_body = UpdateExtension,
    responses(
        (status = 200, description = "the extension as it is now", body = Extension),
        (status = 400, description = "a field is invalid (named in the message)", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such extension", body = ErrorBody),
        (status = 409, description = "the extension is defined in the config file", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateExtension>,
) -> Result<Json<Extension>, ApiError> {
    let mut secret = editable(&state, &id, "change").await?;
    if let Some(p) = body.password {
        check_password(&p)?;
        secret.password = p;
    }
    if let Some(n) = body.name {
        secret.extension.name = n;
    }
    if let Some(c) = body.static_contact {
        check_static_contact(&c)?;
        secret.extension.static_contact = c;
    }
    secret.extension.tm_update = Utc::now();
    state.store.update_extension(&secret).await?;
    state.switch.extension_changed(secret.clone()).await;
    Ok(Json(secret.extension))
}

/// Removes an extension (not one from the config file).
#[utoipa::path(delete, path = "/v1/extensions/{id}", tag = "extensions", operation_id = "delete_extension",
    params(("id" = Uuid, Path, description = "the extension's id")),
    responses(
        (status = 204, description = "removed"),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "no such extension", body = ErrorBody),
        (status = 409, description = "the extension is defined in the config file", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let secret = editable(&state, &id, "remove").await?;
    state.store.delete_extension(secret.extension.id).await?;
    state
        .switch
        .extension_removed(secret.extension.extension)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The extension `id` names, if it exists and may be changed over the API
/// (extensions from the config file may not: 409 telling where to `verb` it).
async fn editable(state: &AppState, id: &str, verb: &str) -> Result<ExtensionSecret, ApiError> {
    let id = super::parse_id(id)?;
    let secret = state
        .store
        .extension(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("extension {id} does not exist")))?;
    if secret.extension.origin == Origin::Config {
        return Err(ApiError::conflict(format!(
            "extension {} is defined in the config file; {verb} it there",
            secret.extension.extension
        )));
    }
    Ok(secret)
}

/// Tells "absent" (leave as is) from `null` (clear) for optional fields.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}
