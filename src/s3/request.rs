//! One S3 request being served ([`S3Req`]) and bucket loading.

use std::sync::Arc;

use actix_web::{web, HttpRequest};

use crate::bucket::BucketMeta;
use crate::s3::error::S3Error;
use crate::s3::sign::access::Caller;
use crate::state::{AppState, Snapshot};
use crate::storage::Context;

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
    /// Signed aws-chunked bodies: where their chunk signature chain starts.
    pub chunk_seed: Option<crate::s3::sign::chunksig::Seed>,
    /// Which headers the signature covers: only those may set what is
    /// stored (Content-Type and the other stored headers).
    pub coverage: crate::s3::sign::coverage::Coverage,
    /// The `x-amz-request-id` of the reply.
    pub request_id: String,
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

    /// The writer the name index records: the S3 user, none when anonymous.
    pub fn owner(&self) -> Option<String> {
        match &self.caller {
            Caller::User(u) => Some(u.clone()),
            Caller::Anonymous => None,
        }
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
            timestamp: None,
            every_group: false,
        }
    }
}

/// Loads a bucket: from the cache without leaving the worker, else from
/// the metadata groups on the blocking pool.
pub(in crate::s3) async fn load_bucket(
    snap: &Snapshot,
    name: &str,
) -> Result<Arc<BucketMeta>, S3Error> {
    if let Some(m) = snap.buckets.cached(name) {
        return Ok(m);
    }
    let buckets = snap.buckets.clone();
    let name = name.to_string();
    Ok(web::block(move || buckets.get(&name)).await??)
}
