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

use actix_web::http::StatusCode;

use crate::config::ProxyConfig;

/// Why a request body could not be read; each API turns it into its own
/// error reply with [`BodyError::status`].
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection failed while the body was read (400).
    #[error("{0}")]
    Unreadable(String),
    /// The client was idle too long or sent too slowly (408).
    #[error("{0}")]
    TooSlow(String),
    /// More bytes than the reader's limit (413).
    #[error("{0}")]
    TooLarge(String),
}

impl BodyError {
    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::Unreadable(_) => StatusCode::BAD_REQUEST,
            BodyError::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

/// A request body read under the idle timeout and the throughput floor.
///
/// Both clocks run only while the reader waits for the client: time the
/// caller spends writing a chunk to the store (when the client cannot send,
/// held back by TCP) is not held against the client.
pub struct BodyReader {
    payload: web::Payload,
    idle: Duration,
    /// Least bytes per second; 0 = no floor.
    floor: u64,
    window: Duration,
    /// Waiting time spent in the current window.
    window_waited: Duration,
    window_bytes: u64,
    received: u64,
}

impl BodyReader {
    /// Wraps `payload` with the limits of `proxy`.
    pub fn new(payload: web::Payload, proxy: &ProxyConfig) -> BodyReader {
        BodyReader {
            payload,
            idle: Duration::from_secs(proxy.idle_timeout.max(1)),
            floor: proxy.body_min_bytes_per_second,
            window: Duration::from_secs(proxy.body_min_rate_window.max(1)),
            window_waited: Duration::ZERO,
            window_bytes: 0,
            received: 0,
        }
    }

    /// Bytes read so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The next chunk, `None` at the end of the body; 408 when the client
    /// is idle too long or too slow, 400 when the body cannot be read.
    pub async fn next(&mut self) -> Result<Option<Bytes>, BodyError> {
        let idle_deadline = Instant::now() + self.idle;
        loop {
            let started = Instant::now();
            let mut deadline = idle_deadline;
            if self.floor > 0 {
                deadline = deadline.min(started + self.window.saturating_sub(self.window_waited));
            }
            // `StreamExt::next` is cancel safe: a timeout loses no bytes.
            let next = timeout(
                deadline.saturating_duration_since(started),
                self.payload.next(),
            )
            .await;
            let now = Instant::now();
            self.window_waited += now.saturating_duration_since(started);
            match next {
                Ok(None) => return Ok(None),
                Ok(Some(chunk)) => {
                    let chunk = chunk
                        .map_err(|e| BodyError::Unreadable(format!("reading the body: {e}")))?;
                    self.received += chunk.len() as u64;
                    self.window_bytes += chunk.len() as u64;
                    self.check_rate()?;
                    return Ok(Some(chunk));
                }
                Err(_) if now >= idle_deadline => {
                    return Err(BodyError::TooSlow(format!(
                        "no body data for {}s (proxy.idle-timeout) after {} bytes",
                        self.idle.as_secs(),
                        self.received
                    )));
                }
                Err(_) => self.check_rate()?,
            }
        }
    }

    /// The rest of the body as a stream; it ends after the first error.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, BodyError>> + Unpin {
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
    fn check_rate(&mut self) -> Result<(), BodyError> {
        if self.floor == 0 || self.window_waited < self.window {
            return Ok(());
        }
        let need = self.floor.saturating_mul(self.window.as_secs());
        if self.window_bytes < need {
            return Err(BodyError::TooSlow(format!(
                "body arrived at {} bytes in {}s, below proxy.body-min-bytes-per-second {} \
                 (averaged over proxy.body-min-rate-window); cut after {} bytes",
                self.window_bytes,
                self.window.as_secs(),
                self.floor,
                self.received
            )));
        }
        self.window_waited = Duration::ZERO;
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
) -> Result<Vec<u8>, BodyError> {
    let mut reader = BodyReader::new(payload, proxy);
    let mut body = Vec::new();
    while let Some(chunk) = reader.next().await? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(BodyError::TooLarge(format!(
                "body is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
