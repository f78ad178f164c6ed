//! The S3-compatible API on its own listener (`proxy.s3-address`), over the
//! same buckets and objects as Backrunner's routes: the router (endpoint
//! and operation from method, host, path and query), authentication
//! (Signature V4 against the ACL users), and the reply decoration every
//! answer gets (`x-amz-request-id`, `proxy.headers`, counters, access log).
//! Operations live in [`bucket`] and [`object`]; errors in [`error`].

pub mod access;
pub mod bucket;
pub mod chunked;
pub mod error;
pub mod list;
pub mod meta;
pub mod object;
pub mod sigv4;
pub mod xml;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use actix_web::http::Method;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use percent_encoding::percent_decode_str;

use crate::bucket::BucketMeta;
use crate::state::{AppState, Snapshot};
use crate::storage::Context;
use access::Caller;
use error::{S3Error, S3ErrorCode};

/// What a request addresses, from the Host header and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The bucket, if any (`GET /` addresses the service).
    pub bucket: Option<String>,
    /// The object key, if any.
    pub key: Option<String>,
}

/// Splits a request into bucket and key: virtual-host style when the Host
/// is `BUCKET.<s3-domain>`, else path style `/BUCKET/KEY`. The key is the
/// percent-decoded rest of the path (`+` stays `+`, as S3 reads paths).
pub fn parse_target(host: Option<&str>, raw_path: &str, domain: &str) -> Result<Target, S3Error> {
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    format!("path {raw_path:?} is not UTF-8 once percent-decoded"),
                )
            })
    };
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let host_bucket = host
        .filter(|_| !domain.is_empty())
        .map(|h| {
            h.rsplit_once(':').map_or(h, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    name
                } else {
                    h
                }
            })
        })
        .and_then(|h| {
            let h = h.to_ascii_lowercase();
            let d = domain.to_ascii_lowercase();
            h.strip_suffix(&d)
                .and_then(|p| p.strip_suffix('.'))
                .filter(|b| !b.is_empty())
                .map(str::to_string)
        });
    if let Some(bucket) = host_bucket {
        let key = (!path.is_empty()).then(|| decode(path)).transpose()?;
        return Ok(Target {
            bucket: Some(bucket),
            key,
        });
    }
    if path.is_empty() {
        return Ok(Target {
            bucket: None,
            key: None,
        });
    }
    let (b, k) = match path.split_once('/') {
        Some((b, k)) => (b, (!k.is_empty()).then_some(k)),
        None => (path, None),
    };
    let bucket = decode(b)?;
    // `B/s3` is the namespace of B's metadata sidecars (meta.rs): a bucket
    // name with a `/` is never served here.
    if bucket.contains('/') {
        return Err(S3Error::new(
            S3ErrorCode::InvalidBucketName,
            format!("bucket name {bucket:?} contains '/'"),
        ));
    }
    Ok(Target {
        bucket: Some(bucket),
        key: k.map(decode).transpose()?,
    })
}

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

/// One S3 request being served.
pub struct S3Req {
    /// The HTTP request.
    pub http: HttpRequest,
    /// Shared state.
    pub state: web::Data<AppState>,
    /// Config and buckets for this request.
    pub snap: Arc<Snapshot>,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The `x-amz-content-sha256` the request was signed with
    /// (`UNSIGNED-PAYLOAD` for anonymous requests).
    pub payload_hash: String,
    /// Who sent it.
    pub caller: Caller,
}

impl S3Req {
    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.http.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A storage session for `bucket` (config io flags, a fresh trace id).
    pub fn storage_ctx(&self, bucket: &BucketMeta, write: bool) -> Context {
        let p = &self.snap.config.proxy;
        Context {
            namespace: bucket.name.clone(),
            groups: bucket.groups.clone(),
            ioflags: if write {
                p.writer_io_flags
            } else {
                p.reader_io_flags
            },
            cflags: 0,
            trace_id: rand::random(),
            timeout: None,
        }
    }
}

/// Loads a bucket: from the cache without leaving the worker, else from
/// the metadata groups on the blocking pool.
async fn load_bucket(snap: &Snapshot, name: &str) -> Result<Arc<BucketMeta>, S3Error> {
    if let Some(m) = snap.buckets.cached(name) {
        return Ok(m);
    }
    let buckets = snap.buckets.clone();
    let name = name.to_string();
    Ok(web::block(move || buckets.get(&name)).await??)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Authenticates a request: Signature V4 in the Authorization header, or
/// anonymous. Answers the caller and the payload hash the body must match.
fn authenticate(
    http: &HttpRequest,
    snap: &Snapshot,
    bucket: Option<&BucketMeta>,
    query: &[(String, String)],
) -> Result<(Caller, String), S3Error> {
    let header = |n: &str| http.headers().get(n).and_then(|v| v.to_str().ok());
    if query
        .iter()
        .any(|(k, _)| k == "X-Amz-Signature" || k == "X-Amz-Algorithm")
    {
        return Err(S3Error::not_implemented(
            "presigned URLs (query-string authentication)",
        ));
    }
    let Some(value) = header("authorization") else {
        return Ok((Caller::Anonymous, sigv4::UNSIGNED_PAYLOAD.into()));
    };
    let auth = sigv4::parse_authorization(value)?;
    if auth.service != "s3" {
        return Err(S3Error::new(
            S3ErrorCode::AuthorizationHeaderMalformed,
            format!("credential scope service {:?} must be \"s3\"", auth.service),
        ));
    }
    let region = &snap.config.proxy.s3_region;
    if !region.is_empty() && auth.region != *region {
        return Err(S3Error::new(
            S3ErrorCode::AuthorizationHeaderMalformed,
            format!(
                "the region {:?} is wrong; expecting {region:?}",
                auth.region
            ),
        ));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::AccessDenied,
            "Signature V4 needs an x-amz-date header",
        )
    })?;
    let t = sigv4::parse_amz_date(amz_date).ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::AccessDenied,
            format!("x-amz-date {amz_date:?} is not YYYYMMDDTHHMMSSZ"),
        )
    })?;
    let skew = (now_secs() - t).abs();
    if skew > sigv4::MAX_SKEW_SECS {
        return Err(S3Error::new(
            S3ErrorCode::RequestTimeTooSkewed,
            format!(
                "the request time {amz_date} is {skew} s away from the server's time (at most {} s allowed)",
                sigv4::MAX_SKEW_SECS
            ),
        ));
    }
    if !amz_date.starts_with(&auth.date) {
        return Err(S3Error::new(
            S3ErrorCode::SignatureDoesNotMatch,
            format!(
                "credential date {} is not the date of x-amz-date {amz_date}",
                auth.date
            ),
        ));
    }
    let payload_hash = header("x-amz-content-sha256").ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::InvalidRequest,
            "missing required header for this request: x-amz-content-sha256",
        )
    })?;
    if payload_hash.starts_with("STREAMING-") && payload_hash != chunked::UNSIGNED_TRAILER {
        return Err(S3Error::not_implemented(&format!(
            "x-amz-content-sha256 {payload_hash} (aws-chunked uploads)"
        )));
    }
    let raw_path = http.uri().path();
    let raw_query = http.uri().query().unwrap_or("");
    let mut headers: Vec<(&str, &str)> = http
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), std::str::from_utf8(v.as_bytes()).ok()?)))
        .collect();
    let authority = http.uri().authority().map(|a| a.as_str().to_string());
    if !headers.iter().any(|(k, _)| *k == "host") {
        if let Some(a) = authority.as_deref() {
            headers.push(("host", a));
        }
    }
    let req = sigv4::Request {
        method: http.method().as_str(),
        raw_path,
        raw_query,
        headers,
        payload_hash,
    };
    let all = snap.buckets.all();
    let caller = access::verify(&auth, amz_date, &req, bucket, &all)?;
    Ok((caller, payload_hash.to_string()))
}

async fn handle(
    http: &HttpRequest,
    state: &web::Data<AppState>,
    snap: &Arc<Snapshot>,
    op: Result<(Op, Target), S3Error>,
    query: Vec<(String, String)>,
    payload: web::Payload,
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
    // Authentication comes first: an unknown bucket is told only to a caller
    // whose signature holds.
    let meta = bucket
        .as_ref()
        .and_then(|b| b.as_ref().ok())
        .map(|m| m.as_ref());
    let (caller, payload_hash) = authenticate(http, snap, meta, &query)?;
    let (op, target) = op?;
    let req = S3Req {
        http: http.clone(),
        state: state.clone(),
        snap: snap.clone(),
        query,
        payload_hash,
        caller,
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
    let bucket = bucket?;
    access::authorize(&req.caller, &bucket, op.writes())?;
    let key = target.key.as_deref().unwrap_or_default();
    match op {
        Op::HeadBucket => Ok(HttpResponse::Ok().finish()),
        Op::GetBucketLocation => bucket::location(&req),
        Op::GetObject | Op::HeadObject => object::get(&req, &bucket, key).await,
        Op::PutObject => object::put(&req, &bucket, key, payload).await,
        Op::DeleteObject => object::delete(&req, &bucket, key).await,
        Op::ListObjects { .. } => list::list(&req, &bucket).await,
        Op::ListBuckets | Op::NotImplemented(_) => Err(S3Error::internal("unroutable operation")),
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
    let name = op
        .as_ref()
        .map(|(o, _)| o.stat_name())
        .unwrap_or("s3_invalid");
    let headers_size: usize = http
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    let result = if headers_size > crate::http::MAX_HEADER_BYTES {
        Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            format!(
                "request headers are {headers_size} bytes, more than {}",
                crate::http::MAX_HEADER_BYTES
            ),
        ))
    } else {
        handle(&http, &state, &snap, op, query, payload).await
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
    crate::http::router::add_proxy_headers(&mut resp, &snap.config.proxy.headers);
    if let Ok(v) = HeaderValue::try_from(request_id.as_str()) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-amz-request-id"), v);
    }
    let status = resp.status().as_u16();
    let bytes = match actix_web::body::MessageBody::size(resp.body()) {
        actix_web::body::BodySize::Sized(n) => n,
        _ => 0,
    };
    let bytes_in = http
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
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
/// both are unset.
pub fn server(state: &web::Data<AppState>) -> std::io::Result<Option<actix_web::dev::Server>> {
    let snap = state.snapshot();
    let proxy = &snap.config.proxy;
    if proxy.s3_address.is_empty() && proxy.s3_https_address.is_empty() {
        return Ok(None);
    }
    let idle = Duration::from_secs(proxy.idle_timeout.max(1));
    let data = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(dispatch))
    })
    .on_connect(crate::http::set_nodelay)
    .keep_alive(idle)
    .client_request_timeout(idle.min(Duration::from_secs(30)))
    .client_disconnect_timeout(Duration::from_secs(5))
    .shutdown_timeout(crate::http::SHUTDOWN_GRACE.as_secs());
    if !proxy.s3_address.is_empty() {
        server = server.bind(crate::http::listen_addr(&proxy.s3_address))?;
    }
    if !proxy.s3_https_address.is_empty() {
        let config_path = state.sources.config_path.display().to_string();
        let (acceptor, reloader) = crate::tls::TlsReloader::new(&proxy.cert_file, &proxy.key_file)
            .map_err(|e| std::io::Error::other(format!("config {config_path}: {e}")))?;
        server =
            server.bind_openssl(crate::http::listen_addr(&proxy.s3_https_address), acceptor)?;
        state.on_reload(
            "s3 tls",
            Box::new(move |st| crate::http::reload_tls(st, &reloader)),
        );
    }
    for addr in server.addrs_with_scheme() {
        log::info!("S3 API listening on {}://{}", addr.1, addr.0);
    }
    Ok(Some(server.run()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(bucket: Option<&str>, key: Option<&str>) -> Target {
        Target {
            bucket: bucket.map(str::to_string),
            key: key.map(str::to_string),
        }
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target(Some("h"), "/", "").unwrap(), t(None, None));
        assert_eq!(parse_target(None, "/b1", "").unwrap(), t(Some("b1"), None));
        assert_eq!(parse_target(None, "/b1/", "").unwrap(), t(Some("b1"), None));
        assert_eq!(
            parse_target(None, "/b1/dir/a%20b+c", "").unwrap(),
            t(Some("b1"), Some("dir/a b+c"))
        );
        assert_eq!(
            parse_target(None, "/b1/%D1%82//x/", "").unwrap(),
            t(Some("b1"), Some("т//x/"))
        );
        assert!(parse_target(None, "/b1/%FF", "").is_err());
        assert_eq!(
            parse_target(None, "/b1%2Fs3/k", "").unwrap_err().code,
            S3ErrorCode::InvalidBucketName
        );
        // virtual-host style only under the configured domain
        let d = "s3.example.com";
        assert_eq!(
            parse_target(Some("b1.s3.example.com:9000"), "/k/x", d).unwrap(),
            t(Some("b1"), Some("k/x"))
        );
        assert_eq!(
            parse_target(Some("B1.S3.Example.com"), "/", d).unwrap(),
            t(Some("b1"), None)
        );
        assert_eq!(
            parse_target(Some("s3.example.com"), "/b1/k", d).unwrap(),
            t(Some("b1"), Some("k"))
        );
        assert_eq!(
            parse_target(Some("b1.s3.example.com"), "/k", "").unwrap(),
            t(Some("k"), None)
        );
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
