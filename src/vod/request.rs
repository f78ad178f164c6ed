//! The request context of a VOD handler: the HTTP request, the shared
//! state, the snapshot it runs on; the bucket's read ACL (`/get/`'s) and
//! the storage session of a read.

use std::sync::Arc;
use std::time::SystemTime;

use percent_encoding::percent_decode_str;

use actix_web::{web, HttpRequest};

use super::error::VodHttpError;
use crate::auth;
use crate::state::{AppState, Snapshot};
use crate::storage::Context;

/// One request being served.
pub struct VodReq {
    /// The HTTP request.
    pub http: HttpRequest,
    /// Shared state.
    pub state: web::Data<AppState>,
    /// Config and buckets for this request.
    pub snap: Arc<Snapshot>,
}

impl VodReq {
    /// The `token` query parameter, percent-decoded.
    fn title_token(&self) -> Option<String> {
        let query = self.http.uri().query()?;
        query.split('&').find_map(|pair| {
            let v = pair.strip_prefix("token=")?;
            Some(
                percent_decode_str(&v.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
    }

    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.http.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// Loads `bucket` (from the registry's cache, else the metadata
    /// groups), checks its read ACL as `/get/` does (riftv1 where the ACL
    /// asks for one), or the title token of `title` when the query carries
    /// one (`token=USER:EXPIRES:SIGNATURE`, docs/vod.md), and builds the
    /// read session: the bucket's groups, `proxy.reader-io-flags`, the
    /// trace id of `X-Request` or a new one.
    pub async fn read_session(&self, bucket: &str, title: &str) -> Result<Context, VodHttpError> {
        let meta = match self.snap.buckets.cached(bucket) {
            Some(m) => m,
            None => {
                let buckets = self.snap.buckets.clone();
                let name = bucket.to_string();
                web::block(move || buckets.get(&name)).await??
            }
        };
        let proxy = &self.snap.config.proxy;
        match self.title_token() {
            Some(token) => auth::check_title_token(&meta, title, &token, SystemTime::now())?,
            None => {
                let signed = crate::http::message::signed(&self.http, proxy.signature_max_age);
                auth::check(&meta, &signed, false)?;
            }
        }
        let trace = self
            .header("x-request")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(rand::random);
        Ok(Context {
            namespace: meta.name.clone(),
            groups: meta.groups.clone(),
            ioflags: proxy.reader_io_flags,
            cflags: 0,
            trace_id: trace,
            timeout: None,
            timestamp: None,
            every_group: false,
        })
    }
}
