//! GetBucketVersioning. Buckets keep one version of each object (its
//! `null` version, [`crate::s3::list::list_versions`]), so every bucket answers the
//! empty `<VersioningConfiguration/>` of a bucket whose versioning was
//! never enabled, as S3 does; PutBucketVersioning is `NotImplemented`
//! (routed in [`crate::s3::op`]).

use actix_web::HttpResponse;

use crate::s3::error::S3Error;
use crate::s3::xml;

/// GetBucketVersioning: `GET /B?versioning`.
pub fn get() -> Result<HttpResponse, S3Error> {
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .body(document()))
}

fn document() -> String {
    format!(
        "{}<VersioningConfiguration xmlns=\"{}\"/>",
        xml::DECL,
        xml::NS
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn unversioned_document() {
        assert!(super::document().ends_with(
            "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"
        ));
    }
}
