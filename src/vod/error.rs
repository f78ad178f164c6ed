//! The VOD front door's one error type and its mapping to a status: the
//! one place where packager, store, bucket and ACL errors become replies
//! (one line of text naming the cause).

use actix_web::http::header::{ALLOW, CONTENT_RANGE};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::auth::AuthError;
use crate::bucket::BucketError;
use crate::core::ObjectError;
use crate::http::cors::CorsError;
use crate::http::message::storage_status;
use crate::media::source::VodError;
use crate::storage::error::ErrorClass;
use crate::storage::StorageError;

/// Why a `/hls/` or `/dash/` request failed.
#[derive(Debug, thiserror::Error)]
pub enum VodHttpError {
    /// The path or a header is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Request headers over the limit.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// Not GET, HEAD or OPTIONS.
    #[error("method {0} is not allowed here (allowed: GET, HEAD, OPTIONS)")]
    WrongMethod(String),
    /// No such title, track or segment.
    #[error("{0}")]
    NotFound(String),
    /// The proxy cannot serve it now.
    #[error("{0}")]
    Unavailable(String),
    /// A segment range outside the segment.
    #[error("range not satisfiable: segment has {size} bytes")]
    RangeNotSatisfiable {
        /// The segment's size.
        size: u64,
    },
    /// A precondition header did not hold.
    #[error("{0}")]
    PreconditionFailed(String),
    /// A stored file the packager cannot read (not MP4, a codec or box it
    /// does not handle).
    #[error("{0}")]
    UnsupportedMedia(String),
    /// From the store.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// From the bucket registry.
    #[error("{0}")]
    Bucket(#[from] BucketError),
    /// From the ACL check.
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// A CORS preflight no `proxy.vod-cors` rule allows, or without its headers.
    #[error("CORS: {0}")]
    Cors(#[from] CorsError),
    /// A blocking task was cancelled or panicked.
    #[error("internal: {0}")]
    Internal(String),
}

impl VodHttpError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            VodHttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            VodHttpError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            VodHttpError::WrongMethod(_) => StatusCode::METHOD_NOT_ALLOWED,
            VodHttpError::NotFound(_) => StatusCode::NOT_FOUND,
            VodHttpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            VodHttpError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            VodHttpError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            VodHttpError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            VodHttpError::Storage(e) => storage_status(e),
            VodHttpError::Bucket(BucketError::Unknown(_) | BucketError::Reserved(..)) => {
                StatusCode::NOT_FOUND
            }
            VodHttpError::Bucket(BucketError::Corrupt(..)) => StatusCode::SERVICE_UNAVAILABLE,
            VodHttpError::Bucket(BucketError::Storage(_, e)) => match e.class() {
                ErrorClass::InvalidArgument => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
            VodHttpError::Auth(AuthError::Hmac(_)) | VodHttpError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            VodHttpError::Auth(_) => StatusCode::FORBIDDEN,
            VodHttpError::Cors(CorsError::Incomplete) => StatusCode::BAD_REQUEST,
            VodHttpError::Cors(_) => StatusCode::FORBIDDEN,
        }
    }

    /// The reply: one line of text naming the URL, the status and the
    /// cause, worded as `/get/`'s.
    pub fn response(&self, url: &str) -> HttpResponse {
        let mut resp = crate::http::message::plain_error(self.status());
        match self {
            VodHttpError::WrongMethod(_) => {
                resp.insert_header((ALLOW, "GET, HEAD, OPTIONS"));
            }
            VodHttpError::RangeNotSatisfiable { size } => {
                resp.insert_header((CONTENT_RANGE, format!("bytes */{size}")));
            }
            _ => {}
        }
        resp.body(self.line(url) + "\n")
    }

    /// The one-line body of the reply (without its newline); `/proxy_stat/`
    /// keeps it as the error's `Error`.
    pub fn line(&self, url: &str) -> String {
        crate::http::message::error_line(url, self.status(), self)
    }
}

impl From<ObjectError> for VodHttpError {
    fn from(e: ObjectError) -> Self {
        match e {
            ObjectError::Storage(e) => VodHttpError::Storage(e),
            ObjectError::NoBucket(why) => VodHttpError::Unavailable(why.to_string()),
            e @ ObjectError::BodyLength { .. } => VodHttpError::Internal(e.to_string()),
            ObjectError::Internal(why) => VodHttpError::Internal(why),
        }
    }
}

impl From<VodError> for VodHttpError {
    fn from(e: VodError) -> Self {
        match e {
            VodError::Object(e) => e.into(),
            VodError::Mp4(e) => VodHttpError::UnsupportedMedia(e.to_string()),
            VodError::NoSuch(why) => VodHttpError::NotFound(why.into()),
            e @ VodError::Changed => VodHttpError::Unavailable(e.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for VodHttpError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        VodHttpError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_one_line() {
        let s = |e: VodHttpError| e.status().as_u16();
        assert_eq!(s(VodHttpError::UnsupportedMedia("x".into())), 415);
        assert_eq!(s(VodHttpError::Storage(StorageError::not_found("x"))), 404);
        assert_eq!(
            s(VodHttpError::Storage(StorageError::new(
                libc::ETIMEDOUT,
                "x"
            ))),
            503
        );
        assert_eq!(
            s(VodHttpError::Bucket(BucketError::Unknown("b".into()))),
            404
        );
        assert_eq!(s(VodHttpError::WrongMethod("PUT".into())), 405);
        assert_eq!(s(VodHttpError::Cors(CorsError::Incomplete)), 400);
        assert_eq!(s(VodHttpError::Cors(CorsError::Disabled("k"))), 403);
        let line = VodHttpError::NotFound("no such\nsegment".into()).line("/hls/b/k");
        assert_eq!(
            line,
            "url: /hls/b/k: error status: 404, returned data: 'no such segment'"
        );
    }
}
