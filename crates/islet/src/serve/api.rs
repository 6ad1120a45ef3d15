//! Rust errors → HTTP responses: the serve API's one translation point. The body is always
//! `{"error": {"code": "…", "message": "…"}}`; storage and I/O details are logged, not sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub(super) struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", message)
    }
}

impl ApiError {
    /// The response for an error with a stable `code`: its status from the code; storage
    /// and I/O details logged, not sent.
    fn coded(code: &str, message: String) -> Self {
        if matches!(code, "STORAGE" | "IO") {
            tracing::error!(code, "storage failure: {message}");
            return Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code,
                "the server could not read or write its storage; the details are in the server log",
            );
        }
        Self::new(status_of(code), code, message)
    }
}

impl From<agents::Error> for ApiError {
    fn from(e: agents::Error) -> Self {
        // The agent chose the status (`throw new HttpError(404, …)`).
        if let Some(status) = e.http_status().and_then(|s| StatusCode::from_u16(s).ok()) {
            return Self::new(status, e.code(), e.to_string());
        }
        Self::coded(e.code(), e.to_string())
    }
}

impl From<think::Error> for ApiError {
    fn from(e: think::Error) -> Self {
        match e {
            think::Error::Agent(e) => e.into(),
            think::Error::NotThink { .. } | think::Error::InvalidInput(_) => {
                Self::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
            }
            // The server's configuration, not the request, is what is missing.
            think::Error::Model(_) if e.code() == "NO_MODEL" => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
            }
            think::Error::Model(_) => Self::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()),
        }
    }
}

impl From<::memory::Error> for ApiError {
    fn from(e: ::memory::Error) -> Self {
        Self::coded(e.code(), e.to_string())
    }
}

/// Host functions report failures as `HostError`s with a stable code; the same codes map
/// to the same statuses as everywhere else.
impl From<sandbox::HostError> for ApiError {
    fn from(e: sandbox::HostError) -> Self {
        Self::coded(&e.code, e.message)
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        agents::Error::Store(e).into()
    }
}

fn status_of(code: &str) -> StatusCode {
    match code {
        "UNKNOWN_CLASS" | "UNKNOWN_METHOD" | "NOT_FOUND" => StatusCode::NOT_FOUND,
        "UNAUTHORIZED" => StatusCode::UNAUTHORIZED,
        "METHOD_NOT_ALLOWED" => StatusCode::METHOD_NOT_ALLOWED,
        "INVALID_INPUT" | "INVALID_PATH" | "INVALID_NAME" | "INVALID_CRON" | "INVALID_ARGUMENT"
        | "SQL" | "NOT_A_DIRECTORY" | "IS_A_DIRECTORY" | "INVALID_PROFILE" | "INVALID_INGEST"
        | "NOT_CONFIGURED" => StatusCode::BAD_REQUEST,
        "EMBEDDINGS_MODEL_MISMATCH" => StatusCode::CONFLICT,
        "LLM_UNAVAILABLE" | "LLM_BAD_REPLY" | "EMBEDDINGS_UNAVAILABLE" => StatusCode::BAD_GATEWAY,
        "ALREADY_EXISTS" | "DIRECTORY_NOT_EMPTY" | "REENTRANT_CALL" => StatusCode::CONFLICT,
        "TOO_LARGE" => StatusCode::PAYLOAD_TOO_LARGE,
        "SHUTTING_DOWN" => StatusCode::SERVICE_UNAVAILABLE,
        // Also AGENT_ERROR and LIMIT: the agent's own code threw or hit a limit (the
        // message is the agent's, not ours).
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            format!("{body}\n"),
        )
            .into_response()
    }
}

/// A JSON response body.
pub(super) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        format!("{value}\n"),
    )
        .into_response()
}
