//! One table from error kinds to HTTP status and a stable code. Bodies are
//! FHIR OperationOutcomes; internals (database messages, key errors) are
//! logged with the request id and never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use haven_store::StoreError;

/// One issue of an OperationOutcome (no PHI: paths and rules, never values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// FHIR issue type, e.g. `required`, `value`, `not-found`.
    pub code: &'static str,
    /// Where, as a FHIRPath-like expression.
    pub expression: Option<String>,
    /// What is wrong.
    pub diagnostics: String,
}

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// The resource fails validation; every issue is reported.
    #[error("the resource is not valid ({} issues)", .0.len())]
    Invalid(Vec<Issue>),
    /// Too large or too many elements.
    #[error("{0}")]
    TooLarge(String),
    /// An operation or parameter Haven does not support.
    #[error("{0}")]
    NotSupported(String),
    /// No valid credentials.
    #[error("authentication required")]
    Unauthorized,
    /// Valid credentials, but this action needs a fresher or stronger
    /// authentication (RFC 9470 step-up); the message says what to send.
    #[error("{0}")]
    StepUp(String),
    /// Authenticated but not allowed.
    #[error("not allowed")]
    Forbidden,
    /// A feature this installation has turned off; the message says which.
    #[error("{0}")]
    Disabled(String),
    /// No such resource (or not visible to the caller).
    #[error("not found")]
    NotFound,
    /// The URL names a type that is not a FHIR R4 resource type (internal
    /// record types look the same). The name is not repeated: it is input.
    #[error("the resource type in the URL is not a FHIR R4 resource type")]
    UnknownType,
    /// The resource was deleted.
    #[error("deleted")]
    Gone,
    /// A create collided with an existing resource.
    #[error("{0}")]
    Conflict(String),
    /// An If-Match precondition failed.
    #[error("{0}")]
    PreconditionFailed(String),
    /// Too many requests from this caller; try again later.
    #[error("too many requests; wait a minute and try again")]
    TooManyRequests,
    /// Something must happen first (e.g. accepting the disclaimer); the message says what.
    #[error("{0}")]
    PreconditionRequired(String),
    /// A dependency (database, key service) is unavailable.
    #[error("service unavailable")]
    Unavailable,
    /// A bug or an integrity failure; details are in the server log.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status and the FHIR issue type for this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid"),
            ApiError::Invalid(_) => (StatusCode::BAD_REQUEST, "structure"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too-costly"),
            ApiError::NotSupported(_) => (StatusCode::BAD_REQUEST, "not-supported"),
            ApiError::Unauthorized | ApiError::StepUp(_) => (StatusCode::UNAUTHORIZED, "login"),
            ApiError::Forbidden | ApiError::Disabled(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not-found"),
            ApiError::UnknownType => (StatusCode::NOT_FOUND, "not-supported"),
            ApiError::Gone => (StatusCode::GONE, "deleted"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "duplicate"),
            ApiError::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, "conflict"),
            ApiError::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            ApiError::PreconditionRequired(_) => (StatusCode::PRECONDITION_REQUIRED, "business-rule"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "transient"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "exception"),
        }
    }
}

/// A FHIR OperationOutcome with one issue.
pub fn operation_outcome(severity: &str, code: &str, diagnostics: &str) -> serde_json::Value {
    serde_json::json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]
    })
}

impl ApiError {
    /// The OperationOutcome this error is reported as.
    pub fn outcome(&self) -> serde_json::Value {
        let (_, code) = self.status_and_code();
        match self {
            ApiError::Invalid(issues) => serde_json::json!({
                "resourceType": "OperationOutcome",
                "issue": issues.iter().map(|i| {
                    let mut v = serde_json::json!({"severity": "error", "code": i.code, "diagnostics": i.diagnostics});
                    if let Some(e) = &i.expression {
                        v["expression"] = serde_json::json!([e]);
                    }
                    v
                }).collect::<Vec<_>>()
            }),
            _ => operation_outcome("error", code, &self.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        let body = self.outcome();
        let mut resp = (status, axum::Json(body)).into_response();
        if let Ok(v) = http::HeaderValue::from_str("application/fhir+json") {
            resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
        if matches!(self, ApiError::Unauthorized) {
            resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        }
        if matches!(self, ApiError::StepUp(_)) {
            let v = http::HeaderValue::from_static(r#"Bearer error="insufficient_user_authentication""#);
            resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Gone { .. } => ApiError::Gone,
            StoreError::VersionConflict { expected, current } => ApiError::PreconditionFailed(format!(
                "version conflict: If-Match expected version {expected}, current version is {current}"
            )),
            StoreError::AlreadyExists => ApiError::Conflict("a resource with this id already exists".into()),
            ref err if err.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            other => {
                // Store errors carry ids and versions, never payloads.
                tracing::error!(error = %other, "store failure");
                ApiError::Internal
            }
        }
    }
}

/// Turns error responses made outside the handlers (body limit, method not
/// allowed, timeout) into OperationOutcomes, so every error has one shape.
pub async fn outcome_for_plain_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    // JSON errors already have their shape; the console's HTML error pages keep theirs.
    let is_json_or_page = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json") || v.starts_with("text/html"));
    if is_json_or_page {
        return resp;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too-costly",
        StatusCode::METHOD_NOT_ALLOWED => "not-supported",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        s if s.is_server_error() => "exception",
        _ => "invalid",
    };
    let (mut parts, _) = resp.into_parts();
    let text = status.canonical_reason().unwrap_or("error").to_ascii_lowercase();
    let body = serde_json::to_vec(&operation_outcome("error", code, &text)).unwrap_or_default();
    parts.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/fhir+json"));
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}
