//! The HTTP layer's error and its mapping to a status: the one place where
//! storage, bucket and ACL errors become HTTP replies.

use actix_web::http::header::{HeaderValue, ALLOW, CONTENT_RANGE, CONTENT_TYPE};
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;

use crate::auth::AuthError;
use crate::bucket::BucketError;
use crate::storage::error::ErrorClass;
use crate::storage::StorageError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Request headers over the limit.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// An upload without Content-Length.
    #[error("{0}")]
    LengthRequired(String),
    /// The method is not served on this path.
    #[error("method {method} is not allowed here (allowed: {})", allow_list(.allow))]
    WrongMethod {
        /// The method used.
        method: Method,
        /// The methods served.
        allow: &'static [Method],
    },
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// The proxy cannot serve it now.
    #[error("{0}")]
    Unavailable(String),
    /// Requested range outside the object.
    #[error("range not satisfiable: object has {size} bytes")]
    RangeNotSatisfiable {
        /// The object's size.
        size: u64,
    },
    /// A precondition header did not hold.
    #[error("{0}")]
    PreconditionFailed(String),
    /// From the store.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// From the bucket registry.
    #[error("{0}")]
    Bucket(#[from] BucketError),
    /// From the ACL check.
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// A blocking task was cancelled or panicked.
    #[error("internal: {0}")]
    Internal(String),
    /// The client sent nothing for longer than `proxy.idle-timeout`.
    #[error("{0}")]
    RequestTimeout(String),
    /// A declared body or object size over a limit.
    #[error("{0}")]
    PayloadTooLarge(String),
}

fn allow_list(allow: &[Method]) -> String {
    allow
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ApiError {
    /// The HTTP status for this error (SPEC.md, Status codes).
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::WrongMethod { .. } => StatusCode::BAD_REQUEST,
            ApiError::LengthRequired(_) => StatusCode::LENGTH_REQUIRED,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::Storage(e) => match e.class() {
                ErrorClass::NotFound => StatusCode::NOT_FOUND,
                ErrorClass::InvalidArgument => StatusCode::BAD_REQUEST,
                ErrorClass::Forbidden => StatusCode::FORBIDDEN,
                ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            },
            // Backrunner answers an unknown bucket with 400.
            ApiError::Bucket(BucketError::Unknown(_) | BucketError::Reserved(..)) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Bucket(BucketError::Corrupt(..)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Bucket(BucketError::Storage(_, e)) => match e.class() {
                ErrorClass::InvalidArgument => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::Auth(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The reply: one line of text naming the URL and the cause.
    pub fn response(&self, url: &str) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status());
        resp.insert_header((
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ));
        match self {
            ApiError::WrongMethod { allow, .. } => {
                resp.insert_header((ALLOW, allow_list(allow)));
            }
            ApiError::RangeNotSatisfiable { size } => {
                resp.insert_header((CONTENT_RANGE, format!("bytes */{size}")));
            }
            _ => {}
        }
        let line = format!("{url}: {self}").replace(['\n', '\r'], " ");
        resp.body(line + "\n")
    }
}

impl From<crate::limits::TooLarge> for ApiError {
    fn from(e: crate::limits::TooLarge) -> Self {
        ApiError::PayloadTooLarge(e.0)
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let s = |e: ApiError| e.status().as_u16();
        assert_eq!(s(ApiError::Storage(StorageError::not_found("x"))), 404);
        assert_eq!(
            s(ApiError::Storage(StorageError::new(libc::ETIMEDOUT, "x"))),
            503
        );
        assert_eq!(
            s(ApiError::Storage(StorageError::new(libc::ENXIO, "x"))),
            503
        );
        assert_eq!(s(ApiError::Storage(StorageError::invalid("x"))), 400);
        assert_eq!(s(ApiError::Bucket(BucketError::Unknown("b".into()))), 400);
        assert_eq!(
            s(ApiError::WrongMethod {
                method: Method::DELETE,
                allow: &[Method::GET]
            }),
            400
        );
    }
}
