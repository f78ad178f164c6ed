//! The request context every REST handler gets, and small request helpers.

use std::sync::Arc;

use actix_web::{web, HttpRequest};

use super::error::ApiError;
use crate::auth::{self, SignedRequest};
use crate::bucket::BucketMeta;
use crate::state::{AppState, Snapshot};
use crate::storage::Context;

/// One request being served: the HTTP request, the shared state and the
/// snapshot of config and buckets it runs on.
pub struct Req {
    /// The HTTP request.
    pub http: HttpRequest,
    /// Shared state.
    pub state: web::Data<AppState>,
    /// Config and buckets for this request.
    pub snap: Arc<Snapshot>,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
}

impl Req {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric query parameter; a malformed value is a 400.
    pub fn num_param(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.param(name) {
            None | Some("") => Ok(None),
            Some(v) => parse_u64(v).map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!("query parameter {name}={v:?} is not a number"))
            }),
        }
    }

    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.http.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// Loads a bucket by name: from the registry's cache without leaving
    /// the worker, else from the metadata groups on the blocking pool.
    pub async fn bucket(&self, name: &str) -> Result<Arc<BucketMeta>, ApiError> {
        if let Some(m) = self.snap.buckets.cached(name) {
            return Ok(m);
        }
        let buckets = self.snap.buckets.clone();
        let name = name.to_string();
        Ok(web::block(move || buckets.get(&name)).await??)
    }

    /// Loads a bucket, checks its ACL (`write` for uploads and deletes) and
    /// builds the storage session for the operation.
    pub async fn bucket_session(
        &self,
        name: &str,
        write: bool,
    ) -> Result<(Arc<BucketMeta>, Context), ApiError> {
        let meta = self.bucket(name).await?;
        self.authorize(&meta, write)?;
        let ctx = self.storage_ctx(&meta, write)?;
        Ok((meta, ctx))
    }

    /// The parts of this request a riftv1 signature covers.
    pub fn signed(&self) -> SignedRequest<'_> {
        crate::http::message::signed(&self.http, self.snap.config.proxy.signature_max_age)
    }

    /// Checks the bucket's ACL; `write` for uploads and deletes.
    pub fn authorize(&self, bucket: &BucketMeta, write: bool) -> Result<(), ApiError> {
        Ok(auth::check(bucket, &self.signed(), write)?)
    }

    /// A storage session for `bucket`: its groups, io/command flags from the
    /// config or the `ioflags`/`cflags` parameters, and a trace id.
    pub fn storage_ctx(&self, bucket: &BucketMeta, write: bool) -> Result<Context, ApiError> {
        let p = &self.snap.config.proxy;
        let default_io = if write {
            p.writer_io_flags
        } else {
            p.reader_io_flags
        };
        let trace = self
            .header("x-request")
            .or_else(|| self.param("trace_id"))
            .and_then(parse_u64)
            .unwrap_or_else(rand::random);
        Ok(Context {
            namespace: bucket.name.clone(),
            groups: bucket.groups.clone(),
            ioflags: self.num_param("ioflags")?.unwrap_or(default_io),
            cflags: self.num_param("cflags")?.unwrap_or(0),
            trace_id: trace,
            timeout: None,
            timestamp: None,
            every_group: false,
        })
    }
}

/// Parses a decimal or `0x` hexadecimal number.
pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Runs blocking storage work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    Ok(web::block(f).await?)
}
