//! PutObject bodies of unknown length: `Transfer-Encoding: chunked` with
//! neither `Content-Length` nor `x-amz-decoded-content-length` (plain HTTP
//! clients, as Garage, moto and Ceph RGW take them). The stores need an
//! object's size before its first byte, so such a body is first spooled to
//! an unnamed temporary file (in `TMPDIR`, gone when the request ends
//! whatever happens) in [`PIECE`]-sized writes, at most the PUT size limit,
//! its digests checked at its end as any body's; then it is stored from
//! there with its size known. Memory stays bounded by one piece.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use actix_web::web;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::S3Req;

/// Bytes gathered before one write to the spool file, and read back at once.
const PIECE: usize = 1 << 20;

/// A body stream of the S3 layer.
pub type Body = Box<dyn Stream<Item = Result<Bytes, S3Error>> + Unpin>;

/// Whether the request's missing length (`missing`, the
/// `MissingContentLength` its length check raised) is one a chunked body
/// may lack: `Ok(None)` (spool it) for `Transfer-Encoding: chunked`, else
/// the error.
pub fn unknown_length(req: &S3Req, missing: S3Error) -> Result<Option<u64>, S3Error> {
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if missing.code == S3ErrorCode::MissingContentLength && chunked {
        Ok(None)
    } else {
        Err(missing)
    }
}

/// The body with its size: as it is when `size` is known, else spooled
/// (at most `max` bytes: `EntityTooLarge` past that).
pub async fn sized<S>(size: Option<u64>, body: S, max: u64) -> Result<(u64, Body), S3Error>
where
    S: Stream<Item = Result<Bytes, S3Error>> + Unpin + 'static,
{
    match size {
        Some(n) => Ok((n, Box::new(body))),
        None => {
            let (file, size) = spool(body, max).await?;
            Ok((size, Box::new(read_back(file, size))))
        }
    }
}

fn io_error(what: &str, e: std::io::Error) -> S3Error {
    S3Error::new(
        S3ErrorCode::ServiceUnavailable,
        format!("spooling a body of unknown length: {what}: {e}"),
    )
}

async fn spool<S>(mut body: S, max: u64) -> Result<(Arc<File>, u64), S3Error>
where
    S: Stream<Item = Result<Bytes, S3Error>> + Unpin,
{
    let file = web::block(tempfile::tempfile)
        .await?
        .map_err(|e| io_error("temporary file", e))?;
    let file = Arc::new(file);
    let mut buf = BytesMut::new();
    let mut size = 0u64;
    let write = |data: Bytes| {
        let f = file.clone();
        async move {
            web::block(move || (&*f).write_all(&data))
                .await?
                .map_err(|e| io_error("write", e))
        }
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > max {
            return Err(S3Error::new(
                S3ErrorCode::EntityTooLarge,
                format!("a single PUT takes at most {max} bytes (5 GiB and proxy.max-object-size); this chunked body has more"),
            ));
        }
        buf.extend_from_slice(&chunk);
        if buf.len() >= PIECE {
            write(buf.split().freeze()).await?;
        }
    }
    if !buf.is_empty() {
        write(buf.freeze()).await?;
    }
    Ok((file, size))
}

fn read_back(file: Arc<File>, size: u64) -> impl Stream<Item = Result<Bytes, S3Error>> + Unpin {
    Box::pin(futures_util::stream::unfold(
        (file, 0u64),
        move |(file, at)| async move {
            if at >= size {
                return None;
            }
            let n = (size - at).min(PIECE as u64) as usize;
            let f = file.clone();
            let read = web::block(move || {
                let mut buf = vec![0; n];
                f.read_exact_at(&mut buf, at).map(|_| Bytes::from(buf))
            })
            .await;
            Some(match read {
                Ok(Ok(b)) => (Ok(b), (file, at + n as u64)),
                Ok(Err(e)) => (Err(io_error("read", e)), (file, size)),
                Err(e) => (Err(e.into()), (file, size)),
            })
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn spools_and_reads_back_in_order() {
        let data: Vec<u8> = (0..(PIECE * 2 + 123)).map(|i| (i % 251) as u8).collect();
        let chunks: Vec<Result<Bytes, S3Error>> = data
            .chunks(70_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let (size, mut body) = sized(None, futures_util::stream::iter(chunks), 10 << 20)
            .await
            .unwrap();
        assert_eq!(size, data.len() as u64);
        let mut back = Vec::new();
        while let Some(c) = body.next().await {
            back.extend_from_slice(&c.unwrap());
        }
        assert_eq!(back, data);
        let chunks = vec![Ok(Bytes::from(vec![0u8; 100]))];
        let e = sized(None, futures_util::stream::iter(chunks), 99)
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, S3ErrorCode::EntityTooLarge);
    }
}
