//! The operation of a request, from its method, target, query and headers.

use actix_web::http::Method;

use super::error::{S3Error, S3ErrorCode};
use super::target::Target;

/// The operation of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /`.
    ListBuckets,
    /// `HEAD /BUCKET`.
    HeadBucket,
    /// `GET /BUCKET?location`.
    GetBucketLocation,
    /// `GET /BUCKET/KEY`.
    GetObject,
    /// `HEAD /BUCKET/KEY`.
    HeadObject,
    /// `PUT /BUCKET/KEY`.
    PutObject,
    /// `DELETE /BUCKET/KEY`.
    DeleteObject,
    /// `GET /BUCKET` (V1) and `GET /BUCKET?list-type=2` (V2).
    ListObjects {
        /// ListObjectsV2.
        v2: bool,
    },
    /// An S3 operation not built yet (its name).
    NotImplemented(&'static str),
}

impl Op {
    /// The handler name in `/proxy_stat/` and `/metrics`.
    pub fn stat_name(self) -> &'static str {
        match self {
            Op::ListBuckets => "s3_list_buckets",
            Op::HeadBucket => "s3_head_bucket",
            Op::GetBucketLocation => "s3_get_bucket_location",
            Op::GetObject => "s3_get_object",
            Op::HeadObject => "s3_head_object",
            Op::PutObject => "s3_put_object",
            Op::DeleteObject => "s3_delete_object",
            Op::ListObjects { v2: false } => "s3_list_objects",
            Op::ListObjects { v2: true } => "s3_list_objects_v2",
            Op::NotImplemented(_) => "s3_not_implemented",
        }
    }

    /// Whether the operation writes (needs ACL write rights).
    pub fn writes(self) -> bool {
        matches!(self, Op::PutObject | Op::DeleteObject)
    }
}

/// Sub-resources of a bucket that select operations of their own.
const BUCKET_SUBRESOURCES: &[(&str, &str)] = &[
    ("acl", "bucket ACLs"),
    ("cors", "bucket CORS"),
    ("delete", "DeleteObjects"),
    ("encryption", "bucket encryption"),
    ("lifecycle", "bucket lifecycle"),
    ("logging", "bucket logging"),
    ("notification", "bucket notifications"),
    ("object-lock", "object lock"),
    ("ownershipControls", "bucket ownership controls"),
    ("policy", "bucket policies"),
    ("publicAccessBlock", "public access blocks"),
    ("replication", "bucket replication"),
    ("requestPayment", "request payment"),
    ("tagging", "bucket tagging"),
    ("uploads", "ListMultipartUploads"),
    ("versioning", "bucket versioning"),
    ("versions", "ListObjectVersions"),
    ("website", "bucket websites"),
];

/// Sub-resources of an object that select operations of their own.
const OBJECT_SUBRESOURCES: &[(&str, &str)] = &[
    ("acl", "object ACLs"),
    ("attributes", "GetObjectAttributes"),
    ("legal-hold", "object legal holds"),
    ("partNumber", "multipart uploads"),
    ("restore", "RestoreObject"),
    ("retention", "object retention"),
    ("select", "SelectObjectContent"),
    ("tagging", "object tagging"),
    ("torrent", "torrents"),
    ("uploadId", "multipart uploads"),
    ("uploads", "multipart uploads"),
    ("versionId", "object versions"),
];

/// Chooses the operation; a method S3 does not serve on that resource is
/// `MethodNotAllowed`.
pub fn parse_op(
    method: &Method,
    target: &Target,
    query: &[(String, String)],
    headers: &actix_web::http::header::HeaderMap,
) -> Result<Op, S3Error> {
    let has = |name: &str| query.iter().any(|(k, _)| k == name);
    let not_allowed = || {
        S3Error::new(
            S3ErrorCode::MethodNotAllowed,
            format!("method {method} is not allowed against this resource"),
        )
    };
    match (&target.bucket, &target.key) {
        (None, _) => match *method {
            Method::GET => Ok(Op::ListBuckets),
            _ => Err(not_allowed()),
        },
        (Some(_), None) => {
            if *method == Method::GET && has("location") {
                return Ok(Op::GetBucketLocation);
            }
            if let Some((_, what)) = BUCKET_SUBRESOURCES.iter().find(|(k, _)| has(k)) {
                return Ok(Op::NotImplemented(what));
            }
            match *method {
                Method::HEAD => Ok(Op::HeadBucket),
                Method::GET => Ok(Op::ListObjects {
                    v2: query.iter().any(|(k, v)| k == "list-type" && v == "2"),
                }),
                Method::PUT => Ok(Op::NotImplemented("CreateBucket")),
                Method::DELETE => Ok(Op::NotImplemented("DeleteBucket")),
                Method::POST => Ok(Op::NotImplemented("POST object uploads")),
                _ => Err(not_allowed()),
            }
        }
        (Some(_), Some(_)) => {
            if let Some((_, what)) = OBJECT_SUBRESOURCES.iter().find(|(k, _)| has(k)) {
                return Ok(Op::NotImplemented(what));
            }
            match *method {
                Method::GET => Ok(Op::GetObject),
                Method::HEAD => Ok(Op::HeadObject),
                Method::PUT if headers.contains_key("x-amz-copy-source") => {
                    Ok(Op::NotImplemented("CopyObject"))
                }
                Method::PUT => Ok(Op::PutObject),
                Method::DELETE => Ok(Op::DeleteObject),
                Method::POST => Ok(Op::NotImplemented("POST object operations")),
                _ => Err(not_allowed()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn t(bucket: Option<&str>, key: Option<&str>) -> Target {
        Target {
            bucket: bucket.map(str::to_string),
            key: key.map(str::to_string),
        }
    }

    #[test]
    fn operations() {
        let h = actix_web::http::header::HeaderMap::new();
        let q = |s: &str| crate::auth::parse_query(s);
        let op = |m: Method, tg: Target, query: &str| parse_op(&m, &tg, &q(query), &h);
        assert_eq!(op(Method::GET, t(None, None), "").unwrap(), Op::ListBuckets);
        assert_eq!(
            op(Method::HEAD, t(Some("b"), None), "").unwrap(),
            Op::HeadBucket
        );
        assert_eq!(
            op(Method::GET, t(Some("b"), None), "location").unwrap(),
            Op::GetBucketLocation
        );
        assert_eq!(
            op(Method::GET, t(Some("b"), None), "list-type=2&prefix=a").unwrap(),
            Op::ListObjects { v2: true }
        );
        assert_eq!(
            op(Method::GET, t(Some("b"), None), "prefix=a").unwrap(),
            Op::ListObjects { v2: false }
        );
        assert!(matches!(
            op(Method::POST, t(Some("b"), None), "delete").unwrap(),
            Op::NotImplemented("DeleteObjects")
        ));
        assert_eq!(
            op(Method::GET, t(Some("b"), Some("k")), "").unwrap(),
            Op::GetObject
        );
        assert_eq!(
            op(
                Method::GET,
                t(Some("b"), Some("k")),
                "response-content-type=a"
            )
            .unwrap(),
            Op::GetObject
        );
        assert_eq!(
            op(Method::PUT, t(Some("b"), Some("k")), "").unwrap(),
            Op::PutObject
        );
        assert_eq!(
            op(Method::DELETE, t(Some("b"), Some("k")), "").unwrap(),
            Op::DeleteObject
        );
        assert!(matches!(
            op(
                Method::PUT,
                t(Some("b"), Some("k")),
                "partNumber=1&uploadId=x"
            )
            .unwrap(),
            Op::NotImplemented(_)
        ));
        let mut copy = actix_web::http::header::HeaderMap::new();
        copy.insert(
            HeaderName::from_static("x-amz-copy-source"),
            HeaderValue::from_static("/b/src"),
        );
        assert_eq!(
            parse_op(&Method::PUT, &t(Some("b"), Some("k")), &[], &copy).unwrap(),
            Op::NotImplemented("CopyObject")
        );
        assert_eq!(
            op(Method::PATCH, t(Some("b"), Some("k")), "")
                .unwrap_err()
                .code,
            S3ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            op(Method::DELETE, t(None, None), "").unwrap_err().code,
            S3ErrorCode::MethodNotAllowed
        );
    }
}
