//! The S3 layer's one error type and its one mapping to a reply: status,
//! and the XML body `<Error><Code/><Message/><Resource/><RequestId/></Error>`
//! (none on HEAD, as S3 sends none).

use actix_web::http::header::{HeaderValue, CONTENT_RANGE, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::bucket::BucketError;
use crate::core::ObjectError;
use crate::s3::xml;
use crate::storage::error::ErrorClass;
use crate::storage::StorageError;

/// The S3 error codes answered, each with its standard status.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3ErrorCode {
    AccessDenied,
    AccessForbidden,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BadDigest,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    EntityTooLarge,
    IllegalLocationConstraintException,
    EntityTooSmall,
    IncompleteBody,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    InvalidDigest,
    InvalidPart,
    InvalidPartOrder,
    InvalidRange,
    InvalidRequest,
    InvalidTag,
    KeyTooLongError,
    MalformedXML,
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    NoSuchBucket,
    NoSuchKey,
    NoSuchTagSet,
    NoSuchUpload,
    NotImplemented,
    PreconditionFailed,
    QuotaExceeded,
    RequestTimeTooSkewed,
    RequestTimeout,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
}

impl S3ErrorCode {
    /// The `<Code>` text.
    pub fn as_str(self) -> &'static str {
        use S3ErrorCode::*;
        match self {
            AccessDenied => "AccessDenied",
            AccessForbidden => "AccessForbidden",
            AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            BadDigest => "BadDigest",
            BucketAlreadyExists => "BucketAlreadyExists",
            BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            BucketNotEmpty => "BucketNotEmpty",
            IllegalLocationConstraintException => "IllegalLocationConstraintException",
            EntityTooLarge => "EntityTooLarge",
            EntityTooSmall => "EntityTooSmall",
            IncompleteBody => "IncompleteBody",
            InternalError => "InternalError",
            InvalidAccessKeyId => "InvalidAccessKeyId",
            InvalidArgument => "InvalidArgument",
            InvalidBucketName => "InvalidBucketName",
            InvalidDigest => "InvalidDigest",
            InvalidPart => "InvalidPart",
            InvalidPartOrder => "InvalidPartOrder",
            InvalidRange => "InvalidRange",
            InvalidRequest => "InvalidRequest",
            InvalidTag => "InvalidTag",
            KeyTooLongError => "KeyTooLongError",
            MalformedXML => "MalformedXML",
            MetadataTooLarge => "MetadataTooLarge",
            MethodNotAllowed => "MethodNotAllowed",
            MissingContentLength => "MissingContentLength",
            NoSuchBucket => "NoSuchBucket",
            NoSuchKey => "NoSuchKey",
            NoSuchTagSet => "NoSuchTagSet",
            NoSuchUpload => "NoSuchUpload",
            NotImplemented => "NotImplemented",
            PreconditionFailed => "PreconditionFailed",
            QuotaExceeded => "QuotaExceeded",
            RequestTimeTooSkewed => "RequestTimeTooSkewed",
            RequestTimeout => "RequestTimeout",
            ServiceUnavailable => "ServiceUnavailable",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The status S3 answers with this code.
    pub fn status(self) -> StatusCode {
        use S3ErrorCode::*;
        match self {
            AccessDenied
            | AccessForbidden
            | InvalidAccessKeyId
            | QuotaExceeded
            | RequestTimeTooSkewed
            | SignatureDoesNotMatch => StatusCode::FORBIDDEN,
            AuthorizationHeaderMalformed
            | AuthorizationQueryParametersError
            | BadDigest
            | EntityTooLarge
            | IllegalLocationConstraintException
            | EntityTooSmall
            | IncompleteBody
            | InvalidArgument
            | InvalidBucketName
            | InvalidDigest
            | InvalidPart
            | InvalidPartOrder
            | InvalidRequest
            | InvalidTag
            | KeyTooLongError
            | MalformedXML
            | MetadataTooLarge
            | RequestTimeout
            | XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
            BucketAlreadyExists | BucketAlreadyOwnedByYou | BucketNotEmpty => StatusCode::CONFLICT,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            InvalidRange => StatusCode::RANGE_NOT_SATISFIABLE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            MissingContentLength => StatusCode::LENGTH_REQUIRED,
            NoSuchBucket | NoSuchKey | NoSuchTagSet | NoSuchUpload => StatusCode::NOT_FOUND,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Why an S3 request failed: a code and a one-line message naming the cause.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct S3Error {
    /// The S3 error code.
    pub code: S3ErrorCode,
    /// What went wrong.
    pub message: String,
    /// For `InvalidRange`: the object's size (sent as `Content-Range: bytes */SIZE`).
    pub size: Option<u64>,
    /// Elements added to the XML body after `<RequestId>` (SignatureDoesNotMatch
    /// names what the server signed, as S3 does).
    pub details: Vec<(&'static str, String)>,
}

impl S3Error {
    /// An error with `code`.
    pub fn new(code: S3ErrorCode, message: impl Into<String>) -> S3Error {
        S3Error {
            code,
            message: message.into().replace(['\n', '\r'], " "),
            size: None,
            details: Vec::new(),
        }
    }

    /// An internal error.
    pub fn internal(message: impl Into<String>) -> S3Error {
        S3Error::new(S3ErrorCode::InternalError, message)
    }

    /// An operation not built yet.
    pub fn not_implemented(what: &str) -> S3Error {
        S3Error::new(
            S3ErrorCode::NotImplemented,
            format!("{what} is not implemented yet (docs/s3.md)"),
        )
    }

    /// The reply: status, XML body (unless `head`), and Content-Range for 416.
    pub fn response(&self, resource: &str, request_id: &str, head: bool) -> HttpResponse {
        let mut resp = HttpResponse::build(self.code.status());
        if let Some(size) = self.size {
            resp.insert_header((CONTENT_RANGE, format!("bytes */{size}")));
        }
        if head {
            return resp.finish();
        }
        resp.insert_header((CONTENT_TYPE, HeaderValue::from_static("application/xml")));
        resp.body(xml::error_with(
            self.code.as_str(),
            &self.message,
            resource,
            request_id,
            &self.details,
        ))
    }
}

fn storage_code(e: &StorageError, not_found: S3ErrorCode) -> S3ErrorCode {
    match e.class() {
        ErrorClass::NotFound => not_found,
        ErrorClass::InvalidArgument => S3ErrorCode::InvalidArgument,
        ErrorClass::Forbidden => S3ErrorCode::AccessDenied,
        ErrorClass::Unavailable => S3ErrorCode::ServiceUnavailable,
    }
}

impl From<StorageError> for S3Error {
    fn from(e: StorageError) -> S3Error {
        S3Error::new(
            storage_code(&e, S3ErrorCode::NoSuchKey),
            format!("storage: {e}"),
        )
    }
}

impl From<ObjectError> for S3Error {
    fn from(e: ObjectError) -> S3Error {
        match e {
            ObjectError::Storage(e) => e.into(),
            ObjectError::NoBucket(why) => {
                S3Error::new(S3ErrorCode::ServiceUnavailable, why.to_string())
            }
            e @ ObjectError::BodyLength { .. } => {
                S3Error::new(S3ErrorCode::IncompleteBody, e.to_string())
            }
            ObjectError::Internal(why) => S3Error::internal(why),
        }
    }
}

impl From<BucketError> for S3Error {
    fn from(e: BucketError) -> S3Error {
        let code = match &e {
            BucketError::Unknown(_) => S3ErrorCode::NoSuchBucket,
            BucketError::Reserved(..) => S3ErrorCode::InvalidBucketName,
            BucketError::Corrupt(..) => S3ErrorCode::ServiceUnavailable,
            BucketError::Storage(_, se) => storage_code(se, S3ErrorCode::NoSuchBucket),
        };
        S3Error::new(code, e.to_string())
    }
}

impl From<actix_web::error::BlockingError> for S3Error {
    fn from(e: actix_web::error::BlockingError) -> S3Error {
        S3Error::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_mapping() {
        let s = |c: S3ErrorCode| c.status().as_u16();
        assert_eq!(s(S3ErrorCode::NoSuchKey), 404);
        assert_eq!(s(S3ErrorCode::SignatureDoesNotMatch), 403);
        assert_eq!(s(S3ErrorCode::InvalidRange), 416);
        assert_eq!(s(S3ErrorCode::PreconditionFailed), 412);
        assert_eq!(s(S3ErrorCode::NotImplemented), 501);
        let e: S3Error = StorageError::not_found("gone").into();
        assert_eq!(e.code, S3ErrorCode::NoSuchKey);
        let e: S3Error = StorageError::new(libc::ETIMEDOUT, "slow").into();
        assert_eq!(e.code, S3ErrorCode::ServiceUnavailable);
        let e: S3Error = BucketError::Unknown("b".into()).into();
        assert_eq!(e.code, S3ErrorCode::NoSuchBucket);
    }

    #[test]
    fn xml_reply() {
        let e = S3Error::new(S3ErrorCode::NoSuchKey, "key <a&b> is not there");
        let r = e.response("/b/<a&b>", "ID1", false);
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers().get(CONTENT_TYPE).unwrap(), "application/xml");
    }
}
