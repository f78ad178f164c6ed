//! The operation of a request, from its method, target, query and headers.

use actix_web::http::Method;

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::target::Target;

/// The operation of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /`.
    ListBuckets,
    /// `HEAD /BUCKET`.
    HeadBucket,
    /// `GET /BUCKET?location`.
    GetBucketLocation,
    /// `PUT /BUCKET`.
    CreateBucket,
    /// `DELETE /BUCKET`.
    DeleteBucket,
    /// `POST /BUCKET?delete`.
    DeleteObjects,
    /// `GET /BUCKET/KEY`.
    GetObject,
    /// `HEAD /BUCKET/KEY`.
    HeadObject,
    /// `PUT /BUCKET/KEY`.
    PutObject,
    /// `DELETE /BUCKET/KEY`.
    DeleteObject,
    /// `PUT /BUCKET/KEY` with `x-amz-copy-source`.
    CopyObject,
    /// `POST /BUCKET/KEY?uploads`.
    CreateMultipartUpload,
    /// `PUT /BUCKET/KEY?partNumber=N&uploadId=ID`.
    UploadPart,
    /// UploadPart with `x-amz-copy-source`.
    UploadPartCopy,
    /// `POST /BUCKET/KEY?uploadId=ID`.
    CompleteMultipartUpload,
    /// `DELETE /BUCKET/KEY?uploadId=ID`.
    AbortMultipartUpload,
    /// `GET /BUCKET/KEY?uploadId=ID`.
    ListParts,
    /// `GET /BUCKET?uploads`.
    ListMultipartUploads,
    /// `GET /BUCKET` (V1) and `GET /BUCKET?list-type=2` (V2).
    ListObjects {
        /// ListObjectsV2.
        v2: bool,
    },
    /// `GET /BUCKET?versions`: every object as its `null` version.
    ListObjectVersions,
    /// `GET /BUCKET/KEY?tagging`.
    GetObjectTagging,
    /// `PUT /BUCKET/KEY?tagging`.
    PutObjectTagging,
    /// `DELETE /BUCKET/KEY?tagging`.
    DeleteObjectTagging,
    /// `GET /BUCKET?tagging`.
    GetBucketTagging,
    /// `PUT /BUCKET?tagging`.
    PutBucketTagging,
    /// `DELETE /BUCKET?tagging`.
    DeleteBucketTagging,
    /// `GET /BUCKET?versioning`.
    GetBucketVersioning,
    /// `GET /BUCKET/KEY?attributes`.
    GetObjectAttributes,
    /// `GET /BUCKET?acl`.
    GetBucketAcl,
    /// `PUT /BUCKET?acl`.
    PutBucketAcl,
    /// `GET /BUCKET/KEY?acl`.
    GetObjectAcl,
    /// `PUT /BUCKET/KEY?acl`.
    PutObjectAcl,
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
            Op::CreateBucket => "s3_create_bucket",
            Op::DeleteBucket => "s3_delete_bucket",
            Op::DeleteObjects => "s3_delete_objects",
            Op::GetObject => "s3_get_object",
            Op::HeadObject => "s3_head_object",
            Op::PutObject => "s3_put_object",
            Op::DeleteObject => "s3_delete_object",
            Op::CopyObject => "s3_copy_object",
            Op::CreateMultipartUpload => "s3_create_multipart_upload",
            Op::UploadPart => "s3_upload_part",
            Op::UploadPartCopy => "s3_upload_part_copy",
            Op::CompleteMultipartUpload => "s3_complete_multipart_upload",
            Op::AbortMultipartUpload => "s3_abort_multipart_upload",
            Op::ListParts => "s3_list_parts",
            Op::ListMultipartUploads => "s3_list_multipart_uploads",
            Op::ListObjects { v2: false } => "s3_list_objects",
            Op::ListObjects { v2: true } => "s3_list_objects_v2",
            Op::ListObjectVersions => "s3_list_object_versions",
            Op::GetObjectTagging => "s3_get_object_tagging",
            Op::PutObjectTagging => "s3_put_object_tagging",
            Op::DeleteObjectTagging => "s3_delete_object_tagging",
            Op::GetBucketTagging => "s3_get_bucket_tagging",
            Op::PutBucketTagging => "s3_put_bucket_tagging",
            Op::DeleteBucketTagging => "s3_delete_bucket_tagging",
            Op::GetBucketVersioning => "s3_get_bucket_versioning",
            Op::GetObjectAttributes => "s3_get_object_attributes",
            Op::GetBucketAcl => "s3_get_bucket_acl",
            Op::PutBucketAcl => "s3_put_bucket_acl",
            Op::GetObjectAcl => "s3_get_object_acl",
            Op::PutObjectAcl => "s3_put_object_acl",
            Op::NotImplemented(_) => "s3_not_implemented",
        }
    }

    /// Whether the operation writes (needs ACL write rights in its bucket).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Op::PutObject
                | Op::DeleteObject
                | Op::DeleteObjects
                | Op::DeleteBucket
                | Op::CopyObject
                | Op::CreateMultipartUpload
                | Op::UploadPart
                | Op::UploadPartCopy
                | Op::CompleteMultipartUpload
                | Op::AbortMultipartUpload
                | Op::PutObjectTagging
                | Op::DeleteObjectTagging
                | Op::PutBucketTagging
                | Op::DeleteBucketTagging
                | Op::PutBucketAcl
                | Op::PutObjectAcl
        )
    }
}

/// Sub-resources of a bucket that select operations of their own.
const BUCKET_SUBRESOURCES: &[(&str, &str)] = &[
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
    ("uploads", "ListMultipartUploads"),
    (
        "versioning",
        "PutBucketVersioning (versioning: a bucket keeps one version of each object)",
    ),
    ("website", "bucket websites"),
];

/// Sub-resources of an object that select operations of their own.
const OBJECT_SUBRESOURCES: &[(&str, &str)] = &[
    ("legal-hold", "object legal holds"),
    ("partNumber", "multipart uploads"),
    ("restore", "RestoreObject"),
    ("retention", "object retention"),
    ("select", "SelectObjectContent"),
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
            if *method == Method::POST && has("delete") {
                return Ok(Op::DeleteObjects);
            }
            if *method == Method::GET && has("uploads") {
                return Ok(Op::ListMultipartUploads);
            }
            if *method == Method::GET && has("versions") {
                return Ok(Op::ListObjectVersions);
            }
            if has("acl") {
                return match *method {
                    Method::GET => Ok(Op::GetBucketAcl),
                    Method::PUT => Ok(Op::PutBucketAcl),
                    _ => Err(not_allowed()),
                };
            }
            if *method == Method::GET && has("versioning") {
                return Ok(Op::GetBucketVersioning);
            }
            if has("tagging") {
                return match *method {
                    Method::GET => Ok(Op::GetBucketTagging),
                    Method::PUT => Ok(Op::PutBucketTagging),
                    Method::DELETE => Ok(Op::DeleteBucketTagging),
                    _ => Err(not_allowed()),
                };
            }
            if let Some((_, what)) = BUCKET_SUBRESOURCES.iter().find(|(k, _)| has(k)) {
                return Ok(Op::NotImplemented(what));
            }
            match *method {
                Method::HEAD => Ok(Op::HeadBucket),
                Method::GET => Ok(Op::ListObjects {
                    v2: query.iter().any(|(k, v)| k == "list-type" && v == "2"),
                }),
                Method::PUT => Ok(Op::CreateBucket),
                Method::DELETE => Ok(Op::DeleteBucket),
                Method::POST => Ok(Op::NotImplemented("POST object uploads")),
                _ => Err(not_allowed()),
            }
        }
        (Some(_), Some(_)) => {
            let copy = headers.contains_key("x-amz-copy-source");
            match *method {
                Method::POST if has("uploads") => return Ok(Op::CreateMultipartUpload),
                Method::POST if has("uploadId") => return Ok(Op::CompleteMultipartUpload),
                Method::PUT if has("uploadId") && has("partNumber") && copy => {
                    return Ok(Op::UploadPartCopy)
                }
                Method::PUT if has("uploadId") && has("partNumber") => return Ok(Op::UploadPart),
                Method::DELETE if has("uploadId") => return Ok(Op::AbortMultipartUpload),
                Method::GET if has("uploadId") => return Ok(Op::ListParts),
                _ => {}
            }
            // `versionId=null` names the one version of an object in a
            // bucket without versioning: the object itself.
            let null_version = query.iter().any(|(k, v)| k == "versionId" && v == "null");
            // GetObject and HeadObject read one part of an object.
            let read = *method == Method::GET || *method == Method::HEAD;
            if let Some((_, what)) = OBJECT_SUBRESOURCES.iter().find(|(k, _)| {
                has(k) && !(*k == "versionId" && null_version) && !(*k == "partNumber" && read)
            }) {
                return Ok(Op::NotImplemented(what));
            }
            if has("acl") {
                return match *method {
                    Method::GET => Ok(Op::GetObjectAcl),
                    Method::PUT => Ok(Op::PutObjectAcl),
                    _ => Err(not_allowed()),
                };
            }
            if *method == Method::GET && has("attributes") {
                return Ok(Op::GetObjectAttributes);
            }
            if has("tagging") {
                return match *method {
                    Method::GET => Ok(Op::GetObjectTagging),
                    Method::PUT => Ok(Op::PutObjectTagging),
                    Method::DELETE => Ok(Op::DeleteObjectTagging),
                    _ => Err(not_allowed()),
                };
            }
            match *method {
                Method::GET => Ok(Op::GetObject),
                Method::HEAD => Ok(Op::HeadObject),
                Method::PUT if copy => Ok(Op::CopyObject),
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
    use crate::s3::target::t;
    use actix_web::http::header::{HeaderName, HeaderValue};

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
        assert_eq!(
            op(Method::POST, t(Some("b"), None), "delete").unwrap(),
            Op::DeleteObjects
        );
        assert_eq!(
            op(Method::PUT, t(Some("b"), None), "").unwrap(),
            Op::CreateBucket
        );
        assert_eq!(
            op(Method::DELETE, t(Some("b"), None), "").unwrap(),
            Op::DeleteBucket
        );
        assert!(matches!(
            op(Method::PUT, t(Some("b"), None), "versioning").unwrap(),
            Op::NotImplemented(_)
        ));
        assert_eq!(
            op(Method::GET, t(Some("b"), None), "versioning").unwrap(),
            Op::GetBucketVersioning
        );
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
        assert_eq!(
            op(
                Method::PUT,
                t(Some("b"), Some("k")),
                "partNumber=1&uploadId=x"
            )
            .unwrap(),
            Op::UploadPart
        );
        let obj = t(Some("b"), Some("k"));
        assert_eq!(
            op(Method::POST, obj.clone(), "uploads").unwrap(),
            Op::CreateMultipartUpload
        );
        assert_eq!(
            op(Method::POST, obj.clone(), "uploadId=x").unwrap(),
            Op::CompleteMultipartUpload
        );
        assert_eq!(
            op(Method::DELETE, obj.clone(), "uploadId=x").unwrap(),
            Op::AbortMultipartUpload
        );
        assert_eq!(
            op(Method::GET, obj.clone(), "uploadId=x").unwrap(),
            Op::ListParts
        );
        assert_eq!(
            op(Method::GET, t(Some("b"), None), "uploads").unwrap(),
            Op::ListMultipartUploads
        );
        assert_eq!(
            op(Method::GET, obj.clone(), "versionId=null").unwrap(),
            Op::GetObject
        );
        assert!(matches!(
            op(Method::GET, obj.clone(), "versionId=3HL4kqtJ").unwrap(),
            Op::NotImplemented(_)
        ));
        assert_eq!(
            op(Method::PUT, obj.clone(), "tagging").unwrap(),
            Op::PutObjectTagging
        );
        assert_eq!(
            op(Method::GET, obj.clone(), "tagging&versionId=null").unwrap(),
            Op::GetObjectTagging
        );
        assert_eq!(
            op(Method::DELETE, t(Some("b"), None), "tagging").unwrap(),
            Op::DeleteBucketTagging
        );
        assert_eq!(
            op(Method::GET, t(Some("b"), None), "versions&prefix=a").unwrap(),
            Op::ListObjectVersions
        );
        assert_eq!(
            op(Method::GET, obj.clone(), "partNumber=1").unwrap(),
            Op::GetObject
        );
        assert_eq!(
            op(Method::GET, obj.clone(), "attributes").unwrap(),
            Op::GetObjectAttributes
        );
        assert!(matches!(
            op(Method::PUT, obj, "partNumber=1").unwrap(),
            Op::NotImplemented(_)
        ));
        let mut copy = actix_web::http::header::HeaderMap::new();
        copy.insert(
            HeaderName::from_static("x-amz-copy-source"),
            HeaderValue::from_static("/b/src"),
        );
        assert_eq!(
            parse_op(&Method::PUT, &t(Some("b"), Some("k")), &[], &copy).unwrap(),
            Op::CopyObject
        );
        assert_eq!(
            parse_op(
                &Method::PUT,
                &t(Some("b"), Some("k")),
                &q("partNumber=2&uploadId=x"),
                &copy
            )
            .unwrap(),
            Op::UploadPartCopy
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
