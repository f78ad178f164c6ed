//! The S3 listener: every request goes through [`dispatch`], which routes
//! it to its operation ([`handle`]) and decorates the answer
//! (`x-amz-request-id`, `proxy.headers`, CORS, counters, access log);
//! CORS preflights are answered by [`crate::s3::cors`].

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::http::listen::{Bound, Budget, Listener};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::op::{parse_op, Op};
use crate::s3::request::{load_bucket, S3Req};
use crate::s3::sign::auth::authenticate;
use crate::s3::target::{parse_target, Target};
use crate::s3::{
    bucket, bucket::bucket_admin, cors, multipart, multipart::upload_lists, object, object::copy,
    object::delete_objects, sign::access, tagging_ops,
};
use crate::state::{AppState, Snapshot};

async fn handle(
    http: &HttpRequest,
    state: &web::Data<AppState>,
    snap: &Arc<Snapshot>,
    op: Result<(Op, Target), S3Error>,
    query: Vec<(String, String)>,
    payload: web::Payload,
    request_id: &str,
) -> Result<HttpResponse, S3Error> {
    let bucket = match &op {
        Ok((
            _,
            Target {
                bucket: Some(b), ..
            },
        )) => Some(load_bucket(snap, b).await),
        _ => None,
    };
    // The admin bucket declares S3 users that may be in no other ACL yet:
    // it is loaded (once; it stays cached) before any signature is checked.
    let admin = &snap.config.proxy.s3_admin_bucket;
    if !admin.is_empty() && snap.buckets.cached(admin).is_none() {
        if let Err(e) = load_bucket(snap, admin).await {
            log::warn!("s3: admin bucket {admin}: {e}");
        }
    }
    // Authentication comes first: an unknown bucket is told only to a caller
    // whose signature holds.
    let meta = bucket
        .as_ref()
        .and_then(|b| b.as_ref().ok())
        .map(|m| m.as_ref());
    let (caller, payload_hash, chunk_seed, coverage) = authenticate(http, snap, meta, &query)?;
    let (op, target) = op?;
    let req = S3Req {
        http: http.clone(),
        state: state.clone(),
        snap: snap.clone(),
        query,
        payload_hash,
        caller,
        chunk_seed,
        coverage,
        request_id: request_id.to_string(),
    };
    if let Op::NotImplemented(what) = op {
        return Err(S3Error::not_implemented(what));
    }
    let Some(bucket) = bucket else {
        return match op {
            Op::ListBuckets => bucket::list_buckets(&req).await,
            _ => Err(S3Error::internal("operation without a bucket")),
        };
    };
    if op == Op::CreateBucket {
        let name = target.bucket.as_deref().unwrap_or_default();
        return bucket_admin::create(&req, name, payload).await;
    }
    let bucket = bucket?;
    access::authorize(&req.caller, &bucket, op.writes())?;
    super::admin_bucket::guard(&req, &bucket)?;
    let key = target.key.as_deref().unwrap_or_default();
    if matches!(
        op,
        Op::PutObject | Op::CopyObject | Op::CreateMultipartUpload
    ) {
        crate::s3::target::check_new_key(key)?;
    }
    match op {
        Op::HeadBucket => Ok(HttpResponse::Ok().finish()),
        Op::GetBucketLocation => bucket::location(&req),
        Op::GetObject | Op::HeadObject => object::get(&req, &bucket, key).await,
        Op::PutObject => object::put(&req, &bucket, key, payload).await,
        Op::DeleteObject => object::delete(&req, &bucket, key).await,
        Op::DeleteObjects => delete_objects::delete_objects(&req, &bucket, payload).await,
        Op::DeleteBucket => bucket_admin::delete(&req, &bucket).await,
        Op::CopyObject => copy::copy_object(&req, &bucket, key).await,
        Op::CreateMultipartUpload => multipart::create(&req, &bucket, key).await,
        Op::UploadPart => multipart::upload_part(&req, &bucket, key, payload).await,
        Op::UploadPartCopy => multipart::upload_part_copy(&req, &bucket, key).await,
        Op::CompleteMultipartUpload => multipart::complete(&req, &bucket, key, payload).await,
        Op::AbortMultipartUpload => multipart::abort(&req, &bucket, key).await,
        Op::ListObjects { .. } => crate::s3::list::list(&req, &bucket).await,
        Op::ListObjectVersions => {
            crate::s3::list::list_versions::list_versions(&req, &bucket).await
        }
        Op::ListParts => upload_lists::list_parts(&req, &bucket, key).await,
        Op::ListMultipartUploads => upload_lists::list_uploads(&req, &bucket).await,
        Op::GetBucketVersioning => super::versioning::get(),
        Op::GetBucketAcl => super::acl::get_bucket(&req, &bucket),
        Op::PutBucketAcl => super::acl::put_bucket(&req, &bucket, payload).await,
        Op::GetObjectAcl => super::acl::get_object(&req, &bucket, key).await,
        Op::PutObjectAcl => super::acl::put_object(&req, &bucket, key, payload).await,
        Op::GetObjectAttributes => {
            super::object::attributes::get_object_attributes(&req, &bucket, key).await
        }
        Op::GetObjectTagging => tagging_ops::get_object(&req, &bucket, key).await,
        Op::PutObjectTagging => tagging_ops::put_object(&req, &bucket, key, payload).await,
        Op::DeleteObjectTagging => tagging_ops::delete_object(&req, &bucket, key).await,
        Op::GetBucketTagging => tagging_ops::get_bucket(&req, &bucket).await,
        Op::PutBucketTagging => tagging_ops::put_bucket(&req, &bucket, payload).await,
        Op::DeleteBucketTagging => tagging_ops::delete_bucket(&req, &bucket).await,
        Op::ListBuckets | Op::CreateBucket | Op::NotImplemented(_) => {
            Err(S3Error::internal("unroutable operation"))
        }
    }
}

/// Every S3 request comes here.
async fn dispatch(
    http: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let request_id = format!("{:016X}", rand::random::<u64>());
    let snap = state.snapshot();
    let method = http.method().clone();
    let head = method == Method::HEAD;
    let url = http.uri().to_string();
    let host = http
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| http.uri().authority().map(|a| a.to_string()));
    let query = crate::auth::parse_query(http.uri().query().unwrap_or(""));
    let op = parse_target(
        host.as_deref(),
        http.uri().path(),
        &snap.config.proxy.s3_domain,
    )
    .and_then(|t| Ok((parse_op(&method, &t, &query, http.headers())?, t)));
    let preflight = method == Method::OPTIONS;
    let name = match &op {
        _ if preflight => "s3_cors_preflight",
        Ok((o, _)) => o.stat_name(),
        Err(_) => "s3_invalid",
    };
    let headers_size = crate::http::message::header_bytes(&http);
    let mut over_cap = false;
    let result = if headers_size > crate::http::MAX_HEADER_BYTES {
        Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            format!(
                "request headers are {headers_size} bytes, more than {}",
                crate::http::MAX_HEADER_BYTES
            ),
        ))
    } else if state.connections.over_cap() {
        over_cap = true;
        Err(S3Error::new(
            S3ErrorCode::ServiceUnavailable,
            state.connections.refusal(),
        ))
    } else if preflight {
        cors::preflight(http.headers(), &snap.config.proxy.s3_cors)
    } else {
        handle(&http, &state, &snap, op, query, payload, &request_id).await
    };
    let peer = http
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "-".into());
    let mut error = String::new();
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            error = e.to_string();
            let resp = e.response(http.uri().path(), &request_id, head);
            state.stats.record_error(
                method.as_str(),
                &peer,
                &url,
                resp.status().as_u16(),
                &format!("{url}: {e}"),
            );
            resp
        }
    };
    crate::http::message::add_proxy_headers(&mut resp, &snap.config.proxy.headers);
    if over_cap {
        // Free the slot at once.
        resp.head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    cors::decorate(
        &mut resp,
        http.headers(),
        method.as_str(),
        &snap.config.proxy.s3_cors,
    );
    if let Ok(v) = HeaderValue::try_from(request_id.as_str()) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-amz-request-id"), v);
    }
    let status = resp.status().as_u16();
    let bytes = match actix_web::body::MessageBody::size(resp.body()) {
        actix_web::body::BodySize::Sized(n) => n,
        _ => 0,
    };
    let bytes_in = crate::http::message::declared_length(http.headers()).unwrap_or(0);
    state
        .stats
        .record_request(name, status, bytes, bytes_in, started.elapsed());
    log::info!(
        target: "access",
        "s3 method: {}, client: {}, x-fwd: {}, path: {}, status: {}, size: {}, time: {:.3} ms, request-id: {}, error: {}",
        method,
        peer,
        http.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or("-"),
        url,
        status,
        bytes,
        started.elapsed().as_secs_f64() * 1e3,
        request_id,
        if error.is_empty() { "-" } else { error.as_str() }
    );
    resp
}

/// The S3 listeners on `proxy.s3-address` (HTTP) and `proxy.s3-https-address`
/// (HTTPS with the proxy's certificate, re-read on SIGHUP), or `None` when
/// both are unset; with the certificate reloader of the HTTPS one.
pub fn server(state: &web::Data<AppState>) -> std::io::Result<Option<Bound>> {
    let snap = state.snapshot();
    let proxy = &snap.config.proxy;
    Listener {
        address: &proxy.s3_address,
        https_address: &proxy.s3_https_address,
        log_prefix: "S3 API ",
        tls_name: "s3 tls",
        budget: Budget::Cap,
    }
    .bind(state, dispatch)
}
