//! Rust errors → HTTP responses: the serve API's one translation point. The body is always
//! `{"error": {"code": "…", "message": "…"}}`; storage and I/O details are logged, not sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base::ErrorKind;
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
    /// The response for an error of `kind` with a stable `code`: the status from the kind;
    /// the server's own failures logged, not sent.
    fn classified(kind: ErrorKind, code: &str, message: String) -> Self {
        if kind == ErrorKind::Internal {
            tracing::error!(code, "internal failure: {message}");
            return Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code,
                "the server could not read or write its storage; the details are in the server log",
            );
        }
        Self::new(status_of(kind), code, message)
    }
}

impl From<agents::Error> for ApiError {
    fn from(e: agents::Error) -> Self {
        // The agent chose the status (`throw new HttpError(404, …)`).
        if let Some(status) = e.http_status().and_then(|s| StatusCode::from_u16(s).ok()) {
            return Self::new(status, e.code(), e.to_string());
        }
        Self::classified(e.kind(), e.code(), e.to_string())
    }
}

impl From<think::Error> for ApiError {
    fn from(e: think::Error) -> Self {
        match e {
            think::Error::Agent(e) => e.into(),
            e => Self::classified(e.kind(), e.code(), e.to_string()),
        }
    }
}

impl From<::memory::Error> for ApiError {
    fn from(e: ::memory::Error) -> Self {
        Self::classified(e.kind(), e.code(), e.to_string())
    }
}

/// Host functions report failures as `HostError`s with a stable code and a kind.
impl From<sandbox::HostError> for ApiError {
    fn from(e: sandbox::HostError) -> Self {
        Self::classified(e.kind, &e.code, e.message)
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        agents::Error::Store(e).into()
    }
}

/// Every kind of failure has its status; a new kind does not compile until it has one.
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        // The agent's own code threw or hit a limit: the message is the agent's, not ours.
        ErrorKind::Limit | ErrorKind::CodeFailed | ErrorKind::Internal => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue12_every_kind_maps_to_a_status_of_its_class() {
        for kind in ErrorKind::ALL {
            let status = status_of(kind);
            let caller_fault = matches!(
                kind,
                ErrorKind::Invalid
                    | ErrorKind::NotFound
                    | ErrorKind::Conflict
                    | ErrorKind::TooLarge
            );
            assert_eq!(
                status.is_client_error(),
                caller_fault,
                "{kind:?} → {status}"
            );
            assert!(status.is_client_error() || status.is_server_error());
        }
    }

    #[test]
    fn issue12_internal_failures_are_logged_not_sent() {
        let e = ApiError::from(store::Error::Io {
            path: "/secret/path/agent.sqlite".into(),
            message: "disk full".into(),
        });
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code, "IO");
        assert!(!e.message.contains("/secret/path"), "{}", e.message);
    }

    #[test]
    fn issue12_statuses_follow_the_kinds_of_each_crate() {
        let not_found = ApiError::from(store::Error::NotFound("no file /a".into()));
        assert_eq!(not_found.status, StatusCode::NOT_FOUND);
        let exists = ApiError::from(store::Error::AlreadyExists("/a exists".into()));
        assert_eq!(exists.status, StatusCode::CONFLICT);
        let too_large = ApiError::from(store::Error::TooLarge("over 1 MiB".into()));
        assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
        let no_model = ApiError::from(think::Error::Model(llm::Error::NoModel));
        assert_eq!(
            (no_model.status, no_model.code.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "NO_MODEL")
        );
        let llm_down = ApiError::from(::memory::Error::Llm {
            url: "http://127.0.0.1:9/v1".into(),
            reason: "connection refused".into(),
        });
        assert_eq!(llm_down.status, StatusCode::BAD_GATEWAY);
        let memory_binding = ApiError::from(sandbox::HostError::from(
            ::memory::Error::InvalidInput("`query` is blank".into()),
        ));
        assert_eq!(
            (memory_binding.status, memory_binding.code.as_str()),
            (StatusCode::BAD_REQUEST, "INVALID_INPUT")
        );
        let refused = ApiError::from(agents::Error::Http {
            status: 418,
            message: "teapot".into(),
        });
        assert_eq!(refused.status.as_u16(), 418);
    }
}
