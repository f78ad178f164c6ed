//! Replies to operations that may take long (CompleteMultipartUpload
//! assembling gigabytes, CopyObject, UploadPartCopy), sent as S3 sends
//! them: `200 OK` and the XML declaration at once, then a space every few
//! seconds while the work goes on (so no client read timeout fires), then
//! the result document, or an `<Error>` document when the work failed
//! after the 200 went out. The AWS SDKs read an `<Error>` in a 200 reply of
//! these operations as the error it names.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::future::{select, Either};

use crate::s3::error::S3Error;
use crate::s3::xml;

/// Time between two keep-alive spaces.
pub const KEEPALIVE: Duration = Duration::from_secs(5);

type Work = Pin<Box<dyn Future<Output = Result<String, S3Error>>>>;

enum Phase {
    Start(Work),
    Working(Work),
    Done,
}

/// A 200 reply whose body is `work`'s document (with the declaration
/// first), whitespace while it runs. `resource` and `request_id` go into
/// the `<Error>` document if it fails. Dropping the reply (the client left)
/// drops `work`, which aborts its writes.
pub fn long_reply(
    work: impl Future<Output = Result<String, S3Error>> + 'static,
    resource: String,
    request_id: String,
) -> HttpResponse {
    reply_every(KEEPALIVE, work, resource, request_id)
}

fn reply_every(
    keepalive: Duration,
    work: impl Future<Output = Result<String, S3Error>> + 'static,
    resource: String,
    request_id: String,
) -> HttpResponse {
    let phase = Phase::Start(Box::pin(work));
    let body = futures_util::stream::unfold(phase, move |phase| {
        let (resource, request_id) = (resource.clone(), request_id.clone());
        async move {
            match phase {
                Phase::Start(w) => Some((
                    Ok(Bytes::from_static(xml::DECL.as_bytes())),
                    Phase::Working(w),
                )),
                Phase::Working(w) => {
                    let tick = Box::pin(actix_web::rt::time::sleep(keepalive));
                    match select(w, tick).await {
                        Either::Left((result, _)) => {
                            let doc = match result {
                                Ok(doc) => doc,
                                Err(e) => {
                                    log::warn!("s3 {resource} (after 200): {e}");
                                    xml::error(e.code.as_str(), &e.message, &resource, &request_id)
                                }
                            };
                            let doc = doc.strip_prefix(xml::DECL).unwrap_or(&doc).to_string();
                            Some((Ok::<_, S3Error>(Bytes::from(doc)), Phase::Done))
                        }
                        Either::Right((_, w)) => {
                            Some((Ok(Bytes::from_static(b" ")), Phase::Working(w)))
                        }
                    }
                }
                Phase::Done => None,
            }
        }
    });
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/xml"))
        .streaming(Box::pin(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::error::S3ErrorCode;

    async fn body(r: HttpResponse) -> String {
        let b = actix_web::body::to_bytes(r.into_body()).await.unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[actix_web::test]
    async fn spaces_while_working_then_the_document() {
        let work = async {
            actix_web::rt::time::sleep(Duration::from_millis(130)).await;
            Ok(format!("{}<Done/>", xml::DECL))
        };
        let r = reply_every(Duration::from_millis(20), work, "/b/k".into(), "ID".into());
        assert_eq!(r.status(), 200);
        let text = body(r).await;
        let rest = text.strip_prefix(xml::DECL).expect("declaration first");
        let spaces = rest.len() - rest.trim_start().len();
        assert!(spaces >= 3, "{text:?}");
        assert_eq!(rest.trim_start(), "<Done/>");
    }

    #[actix_web::test]
    async fn an_error_after_the_200_is_an_error_document() {
        let work = async {
            Err(S3Error::new(
                S3ErrorCode::ServiceUnavailable,
                "storage: no route",
            ))
        };
        let r = long_reply(work, "/b/k".into(), "ID".into());
        assert_eq!(r.status(), 200);
        let text = body(r).await;
        assert!(text.starts_with(xml::DECL));
        assert_eq!(text.matches("<?xml").count(), 1, "{text}");
        assert!(
            text.contains("<Error><Code>ServiceUnavailable</Code>")
                && text.contains("<RequestId>ID</RequestId>"),
            "{text}"
        );
    }
}
