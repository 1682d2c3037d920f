//! The API's one error type and its one mapping to HTTP: every failure is
//! `{"error": {"code": "...", "message": "..."}}` with a status that says
//! what kind of failure it was.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::{ToResponse, ToSchema};

/// What went wrong, as the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// A stable machine-readable code.
    pub code: ErrorCode,
    /// A sentence for a human that names the field or thing at fault.
    pub message: String,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: ErrorCode::InvalidArgument,
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: ErrorCode::NotFound,
            message: what.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            code: ErrorCode::Conflict,
            message: message.into(),
        }
    }

    /// 422: the request is well-formed but what it names cannot be used
    /// (a URL that cannot be fetched, a file that is not a WAV).
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: ErrorCode::Unprocessable,
            message: message.into(),
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: ErrorCode::Unauthorized,
            message: "missing or wrong API key: send 'Authorization: Bearer <key>'".into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: ErrorCode::Internal,
            message: message.into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::Unavailable,
            message: message.into(),
        }
    }
}

/// The stable, machine-readable kinds of failure (`error.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: a field is missing, malformed or out of range.
    InvalidArgument,
    /// 404: no such record (or no such route).
    NotFound,
    /// 409: the record exists but is in the wrong state for the request.
    Conflict,
    /// 422: the request is well-formed but what it names cannot be used.
    Unprocessable,
    /// 401: missing or wrong API key.
    Unauthorized,
    /// 500: Dialtone failed; the request was not applied.
    Internal,
    /// 503: overloaded or shutting down; retry later.
    Unavailable,
    /// 503: text to speech cannot run (espeak-ng is not installed; the
    /// message says how to install it).
    TtsUnavailable,
    /// 500: text to speech failed on this text.
    TtsFailed,
}

/// Every error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A sentence for a human that names the field or thing at fault.
    pub message: String,
}

/// The 401 every `/v1` route answers without a right key (with
/// `WWW-Authenticate: Bearer`).
#[derive(Debug, ToResponse)]
#[response(description = "missing or wrong API key (`code`: `unauthorized`)")]
pub struct Unauthorized(#[allow(dead_code)] ErrorBody);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> ApiError {
        use store::StoreError as E;
        match e {
            E::NotFound => ApiError::not_found("no such record"),
            E::Conflict(m) => ApiError::conflict(m),
            E::InvalidPageToken => ApiError::invalid("page_token: not a token this server issued"),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal("the database failed; the request was not applied")
            }
        }
    }
}
