//! The REST API's error and its mapping to a status: the one place where
//! storage, bucket, ACL and body errors become Backrunner's replies.

use actix_web::http::header::{ALLOW, CONTENT_RANGE};
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;

use crate::auth::AuthError;
use crate::bucket::BucketError;
use crate::core::ObjectError;
use crate::http::body::BodyError;
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
    /// Refused for another reason than a bucket's ACL (admin routes).
    #[error("{0}")]
    Forbidden(String),
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
            ApiError::Storage(e) => crate::http::message::storage_status(e),
            // Backrunner answers an unknown bucket with 400.
            ApiError::Bucket(BucketError::Unknown(_) | BucketError::Reserved(..)) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Bucket(BucketError::Corrupt(..)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Bucket(BucketError::Storage(_, e)) => match e.class() {
                ErrorClass::InvalidArgument => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::Auth(AuthError::Hmac(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Auth(_) | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The reply: one line of text naming the URL, the status and the cause,
    /// worded as Backrunner's (`url: URL: error status: N, returned data:
    /// 'CAUSE'`), with the headers of Go's `http.Error`.
    pub fn response(&self, url: &str) -> HttpResponse {
        let mut resp = crate::http::message::plain_error(self.status());
        match self {
            ApiError::WrongMethod { allow, .. } => {
                resp.insert_header((ALLOW, allow_list(allow)));
            }
            ApiError::RangeNotSatisfiable { size } => {
                resp.insert_header((CONTENT_RANGE, format!("bytes */{size}")));
            }
            _ => {}
        }
        resp.body(self.line(url) + "\n")
    }

    /// The one-line body of the error reply (without its newline), worded as
    /// Backrunner's; `/proxy_stat/` keeps it as the error's `Error`.
    pub fn line(&self, url: &str) -> String {
        crate::http::message::error_line(url, self.status(), self)
    }
}

impl From<ObjectError> for ApiError {
    fn from(e: ObjectError) -> Self {
        match e {
            ObjectError::Storage(e) => ApiError::Storage(e),
            ObjectError::NoBucket(why) => ApiError::Unavailable(why.to_string()),
            e @ ObjectError::BodyLength { .. } => ApiError::BadRequest(e.to_string()),
            ObjectError::Internal(why) => ApiError::Internal(why),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Unreadable(why) => ApiError::BadRequest(why),
            BodyError::TooSlow(why) => ApiError::RequestTimeout(why),
            BodyError::TooLarge(why) => ApiError::PayloadTooLarge(why),
        }
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
    use actix_web::http::header::X_CONTENT_TYPE_OPTIONS;

    #[test]
    fn body_as_backrunner() {
        let r = ApiError::NotFound("no such file".into()).response("/x?a=1");
        assert_eq!(r.headers().get(X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        let body = actix_web::body::to_bytes(r.into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .unwrap()
            .unwrap();
        assert_eq!(
            body,
            "url: /x?a=1: error status: 404, returned data: 'no such file'\n"
        );
    }

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
