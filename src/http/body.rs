//! Reading request bodies with deadlines: every read waits at most
//! `proxy.idle-timeout` for the next bytes, and the body must keep an
//! average of `proxy.body-min-bytes-per-second` over every
//! `proxy.body-min-rate-window`, so a client trickling one byte at a time
//! cannot hold a connection, a size reservation or a temp file for hours.

use std::time::Duration;

use actix_web::rt::time::{timeout, Instant};
use actix_web::web;
use bytes::Bytes;
use futures_util::StreamExt;

use super::error::ApiError;
use crate::config::ProxyConfig;

/// A request body read under the idle timeout and the throughput floor.
pub struct BodyReader {
    payload: web::Payload,
    idle: Duration,
    /// Least bytes per second; 0 = no floor.
    floor: u64,
    window: Duration,
    window_start: Instant,
    window_bytes: u64,
    received: u64,
    last_data: Instant,
}

impl BodyReader {
    /// Wraps `payload` with the limits of `proxy`.
    pub fn new(payload: web::Payload, proxy: &ProxyConfig) -> BodyReader {
        let now = Instant::now();
        BodyReader {
            payload,
            idle: Duration::from_secs(proxy.idle_timeout.max(1)),
            floor: proxy.body_min_bytes_per_second,
            window: Duration::from_secs(proxy.body_min_rate_window.max(1)),
            window_start: now,
            window_bytes: 0,
            received: 0,
            last_data: now,
        }
    }

    /// Bytes read so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The next chunk, `None` at the end of the body; 408 when the client
    /// is idle too long or too slow, 400 when the body cannot be read.
    pub async fn next(&mut self) -> Result<Option<Bytes>, ApiError> {
        loop {
            let idle_deadline = self.last_data + self.idle;
            let window_end = self.window_start + self.window;
            let deadline = if self.floor > 0 {
                idle_deadline.min(window_end)
            } else {
                idle_deadline
            };
            // `StreamExt::next` is cancel safe: a timeout loses no bytes.
            let wait = deadline.saturating_duration_since(Instant::now());
            match timeout(wait, self.payload.next()).await {
                Ok(None) => return Ok(None),
                Ok(Some(chunk)) => {
                    let chunk = chunk
                        .map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
                    let now = Instant::now();
                    self.received += chunk.len() as u64;
                    self.window_bytes += chunk.len() as u64;
                    self.last_data = now;
                    self.check_rate(now)?;
                    return Ok(Some(chunk));
                }
                Err(_) => {
                    let now = Instant::now();
                    if now >= idle_deadline {
                        return Err(ApiError::RequestTimeout(format!(
                            "no body data for {}s (proxy.idle-timeout) after {} bytes",
                            self.idle.as_secs(),
                            self.received
                        )));
                    }
                    self.check_rate(now)?;
                }
            }
        }
    }

    /// The rest of the body as a stream; it ends after the first error.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, ApiError>> + Unpin {
        Box::pin(futures_util::stream::unfold(
            (self, false),
            |(mut reader, failed)| async move {
                if failed {
                    return None;
                }
                match reader.next().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), (reader, false))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), (reader, true))),
                }
            },
        ))
    }

    /// At the end of each window: too few bytes in it is a 408, else a new
    /// window starts.
    fn check_rate(&mut self, now: Instant) -> Result<(), ApiError> {
        if self.floor == 0 || now < self.window_start + self.window {
            return Ok(());
        }
        let need = self.floor.saturating_mul(self.window.as_secs());
        if self.window_bytes < need {
            return Err(ApiError::RequestTimeout(format!(
                "body arrived at {} bytes in {}s, below proxy.body-min-bytes-per-second {} \
                 (averaged over proxy.body-min-rate-window); cut after {} bytes",
                self.window_bytes,
                self.window.as_secs(),
                self.floor,
                self.received
            )));
        }
        self.window_start = now;
        self.window_bytes = 0;
        Ok(())
    }
}

/// Reads a small request body whole under the limits of [`BodyReader`],
/// refusing more than `limit` bytes.
pub async fn read_body(
    payload: web::Payload,
    proxy: &ProxyConfig,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut reader = BodyReader::new(payload, proxy);
    let mut body = Vec::new();
    while let Some(chunk) = reader.next().await? {
        if body.len() + chunk.len() > limit {
            return Err(ApiError::BadRequest(format!(
                "body is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
