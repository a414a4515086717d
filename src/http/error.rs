//! The HTTP error type: every failure a handler can return, mapped in one place to a status code
//! and a JSON body `{"message", "code", "type", "link"}`: a human message, a stable
//! machine-readable code, a category, and where to read more.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::wire::rest::ErrorBody;
use crate::{auth, blobs, documents, pdf};

/// Everything an HTTP handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Auth(#[from] auth::Error),
    #[error(transparent)]
    Documents(#[from] documents::Error),
    #[error(transparent)]
    Blob(#[from] blobs::Error),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body exceeds the limit of {0} bytes")]
    PayloadTooLarge(u64),
    #[error("the requested range is not satisfiable for a document of {0} bytes")]
    RangeNotSatisfiable(u64),
    #[error("{0}")]
    NoDocumentBytes(String),
    #[error("{0}")]
    NotFound(String),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Unavailable(String),
    #[error("this origin may not open WebSockets; add it to --cors-origins")]
    OriginNotAllowed,
    #[error(transparent)]
    Document(#[from] crate::actors::document::DocumentError),
    #[error(transparent)]
    Exchange(#[from] crate::exchange::Error),
    #[error("the audit history of this layer before sequence number {oldest} was pruned by the audit retention; the oldest readable `at_seq` is {oldest}")]
    HistoryPruned { oldest: i64 },
}

impl From<crate::audit::ReplayError> for Error {
    fn from(e: crate::audit::ReplayError) -> Error {
        match e {
            crate::audit::ReplayError::Pruned { oldest } => Error::HistoryPruned { oldest },
            crate::audit::ReplayError::Database(e) => Error::Database(e),
        }
    }
}

impl Error {
    /// Status, stable code and category for this error.
    fn classify(&self) -> (StatusCode, &'static str, &'static str) {
        use auth::Error as A;
        use documents::Error as D;
        match self {
            Error::Auth(a) => match a {
                A::MissingCredentials(_) => {
                    (StatusCode::UNAUTHORIZED, "missing_credentials", "auth")
                }
                A::InvalidApiKey => (StatusCode::UNAUTHORIZED, "invalid_api_key", "auth"),
                A::Malformed(_) => (StatusCode::UNAUTHORIZED, "token_malformed", "auth"),
                A::TooLarge { .. } => (StatusCode::UNAUTHORIZED, "token_too_large", "auth"),
                A::TooManyBlocks { .. } => {
                    (StatusCode::UNAUTHORIZED, "token_too_many_blocks", "auth")
                }
                A::BlockNotAllowed(_) => {
                    (StatusCode::UNAUTHORIZED, "token_block_not_allowed", "auth")
                }
                A::TooComplex(_) => (StatusCode::UNAUTHORIZED, "token_too_complex", "auth"),
                A::DocumentReplaced => {
                    (StatusCode::UNAUTHORIZED, "token_document_replaced", "auth")
                }
                A::BadSignature => (StatusCode::UNAUTHORIZED, "token_bad_signature", "auth"),
                A::Expired => (StatusCode::UNAUTHORIZED, "token_expired", "auth"),
                A::Revoked => (StatusCode::UNAUTHORIZED, "token_revoked", "auth"),
                A::WrongDocument => (StatusCode::FORBIDDEN, "wrong_document", "auth"),
                A::RightMissing(_) => (StatusCode::FORBIDDEN, "right_missing", "auth"),
                A::InvalidRequest(_) => (
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "invalid_request",
                ),
                A::RootKey(_) | A::Database(_) | A::Internal(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal")
                }
            },
            Error::Documents(d) => match d {
                D::NotFound(_) => (
                    StatusCode::NOT_FOUND,
                    "document_not_found",
                    "invalid_request",
                ),
                D::AlreadyExists(_) => (
                    StatusCode::CONFLICT,
                    "document_already_exists",
                    "invalid_request",
                ),
                D::InvalidId(_) => (
                    StatusCode::BAD_REQUEST,
                    "invalid_document_id",
                    "invalid_request",
                ),
                D::InvalidTitle(_) => (StatusCode::BAD_REQUEST, "invalid_title", "invalid_request"),
                D::InvalidLimit(_) => (StatusCode::BAD_REQUEST, "invalid_limit", "invalid_request"),
                D::Pdf(pdf::Error::NotPdf(_)) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "not_a_pdf",
                    "invalid_request",
                ),
                D::Pdf(pdf::Error::Encrypted) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "pdf_encrypted",
                    "invalid_request",
                ),
                D::Pdf(pdf::Error::Damaged(_)) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "pdf_damaged",
                    "invalid_request",
                ),
                D::Pdf(pdf::Error::TooCostly(_)) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "pdf_too_costly",
                    "invalid_request",
                ),
                D::Pdf(pdf::Error::Busy) => (StatusCode::SERVICE_UNAVAILABLE, "busy", "internal"),
                D::Pdf(pdf::Error::Internal(_)) | D::Database(_) | D::Blob(_) | D::Spool(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal")
                }
            },
            Error::Blob(blobs::Error::NotFound(_)) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "blob_missing",
                "internal",
            ),
            Error::Blob(_) | Error::Database(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal")
            }
            Error::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "invalid_request",
            ),
            Error::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "invalid_request",
            ),
            Error::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "invalid_request",
            ),
            Error::RangeNotSatisfiable(_) => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                "invalid_request",
            ),
            Error::NoDocumentBytes(_) => (
                StatusCode::CONFLICT,
                "app_provided_document",
                "invalid_request",
            ),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "invalid_request"),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "internal"),
            Error::OriginNotAllowed => (StatusCode::FORBIDDEN, "origin_not_allowed", "auth"),
            Error::HistoryPruned { .. } => (StatusCode::GONE, "history_pruned", "invalid_request"),
            Error::Document(crate::actors::document::DocumentError::NotFound(_)) => (
                StatusCode::NOT_FOUND,
                "document_not_found",
                "invalid_request",
            ),
            Error::Document(crate::actors::document::DocumentError::Unavailable) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "internal")
            }
            Error::Exchange(e) => {
                use crate::exchange::Error as X;
                match e {
                    X::Document(crate::actors::document::DocumentError::NotFound(_)) => (
                        StatusCode::NOT_FOUND,
                        "document_not_found",
                        "invalid_request",
                    ),
                    X::Document(crate::actors::document::DocumentError::Unavailable)
                    | X::Unavailable
                    | X::Pdf(pdf::Error::Busy) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "internal")
                    }
                    _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal"),
                }
            }
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.classify().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, kind) = self.classify();
        let message = if status.is_server_error() {
            // Internals are logged with context and never returned.
            tracing::error!(error = %self, code, "request failed");
            match self {
                Error::Unavailable(m) => m.clone(),
                Error::Documents(documents::Error::Pdf(pdf::Error::Busy)) => self.to_string(),
                Error::Document(d) => d.to_string(),
                Error::Exchange(e @ crate::exchange::Error::Unavailable) => e.to_string(),
                _ => "internal server error; the server log has the details".to_string(),
            }
        } else {
            self.to_string()
        };
        let mut response = HttpResponse::build(status);
        if let Error::RangeNotSatisfiable(size) = self {
            response.insert_header(("Content-Range", format!("bytes */{size}")));
        }
        if let Error::Documents(documents::Error::Pdf(pdf::Error::Busy)) = self {
            // Parse slots free up within seconds: say when to come back.
            response.insert_header(("Retry-After", "5"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(ErrorBody {
            message,
            code,
            kind,
            link: format!("docs/api.md#{code}"),
        })
    }
}
