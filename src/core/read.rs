//! Reading objects: open with the first chunk in the same blocking hop, then
//! a pipelined body (the next chunk is read while the previous one goes to
//! the socket).

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::mpsc;

use super::error::ObjectError;
use super::pool::blocking;
use crate::storage::{Context, ObjectReader, ReplicaInfo, Storage, StorageError};

/// Chunks read ahead of the socket: a download holds at most this many
/// chunks in the channel, one being read and one being written, so
/// `(READ_AHEAD + 2)` chunks per download whatever its size: 1 MiB on the
/// embedded store (256 KiB chunks), 2 MiB on Elliptics (512 KiB).
const READ_AHEAD: usize = 2;

/// How a read is going to be used.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Where the body will most likely start; the first chunk from there is
    /// read in the same hop as the open. `None` for HEAD and the like.
    pub prefetch_from: Option<u64>,
    /// Check the other replicas in the background (recover-on-read) at most
    /// this many bytes/s.
    pub recover_rate: Option<u64>,
}

/// One piece of a response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal bytes (a part header or the closing delimiter).
    Literal(Bytes),
    /// Object bytes `[start, end)`.
    Object {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
}

impl Piece {
    /// Bytes this piece adds to the body.
    pub fn len(&self) -> u64 {
        match self {
            Piece::Literal(b) => b.len() as u64,
            Piece::Object { start, end } => end.saturating_sub(*start),
        }
    }

    /// Whether the piece adds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An open object: the replica being read and, when prefetched, its first chunk.
pub struct OpenObject {
    namespace: String,
    info: ReplicaInfo,
    /// `(offset, bytes)` read in the open hop.
    first: Option<(u64, Bytes)>,
    reader: Box<dyn ObjectReader>,
    /// Bytes per read: the store's [`Storage::read_chunk`].
    chunk: usize,
}

/// Opens `key` and reads the first chunk from `prefetch` on. Blocking.
pub(super) fn open(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    prefetch: Option<u64>,
) -> Result<OpenObject, StorageError> {
    let chunk = storage.read_chunk().max(1);
    let (reader, first) = match prefetch {
        Some(at) => {
            let (r, chunk) = storage.open_read(ctx, key, at, chunk)?;
            (r, Some((at, chunk)))
        }
        None => (storage.open(ctx, key)?, None),
    };
    Ok(OpenObject {
        namespace: ctx.namespace.clone(),
        info: reader.info().clone(),
        first,
        reader,
        chunk,
    })
}

/// A placeholder reader, only while [`OpenObject::wrap_reader`] swaps readers.
struct Nothing(ReplicaInfo);

impl ObjectReader for Nothing {
    fn info(&self) -> &ReplicaInfo {
        &self.0
    }

    fn read_at(&mut self, _: u64, _: usize) -> Result<Bytes, StorageError> {
        Err(StorageError::new(libc::EIO, "reader lost"))
    }
}

/// A response body: in memory when the prefetched chunk covers it, else a
/// pipelined stream.
pub enum Download {
    /// The whole body.
    Ready(Bytes),
    /// The body as it is read.
    Stream(Box<dyn Stream<Item = Result<Bytes, ObjectError>> + Unpin>),
}

impl OpenObject {
    /// The replica being read.
    pub fn info(&self) -> &ReplicaInfo {
        &self.info
    }

    /// Replaces the reader by one built around it (repair on read).
    pub(super) fn wrap_reader(
        &mut self,
        wrap: impl FnOnce(Box<dyn ObjectReader>) -> Box<dyn ObjectReader>,
    ) {
        let inner = std::mem::replace(&mut self.reader, Box::new(Nothing(self.info.clone())));
        self.reader = wrap(inner);
    }

    /// The reader itself, for a caller that reads a few ranges of its own
    /// on the blocking pool (the VOD packager's `moov` reads); the
    /// prefetched chunk, if any, is dropped.
    pub fn into_reader(self) -> Box<dyn ObjectReader> {
        self.reader
    }

    /// The namespace (bucket) it was opened in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The body made of `pieces`: assembled at once when every object piece
    /// lies in the prefetched chunk (small objects: no further hop, one
    /// write with the headers), else streamed with read-ahead.
    pub fn body(self, pieces: Vec<Piece>) -> Download {
        if let Some(bytes) = self.assemble(&pieces) {
            return Download::Ready(bytes);
        }
        Download::Stream(Box::new(self.stream(pieces)))
    }

    fn assemble(&self, pieces: &[Piece]) -> Option<Bytes> {
        let (at, chunk) = self.first.as_ref()?;
        let inside = |s: u64, e: u64| s >= *at && e <= at + chunk.len() as u64;
        if !pieces.iter().all(|p| match p {
            Piece::Literal(_) => true,
            Piece::Object { start, end } => inside(*start, *end),
        }) {
            return None;
        }
        if let [Piece::Object { start, end }] = pieces {
            return Some(chunk.slice((start - at) as usize..(end - at) as usize));
        }
        let mut out = BytesMut::with_capacity(pieces.iter().map(Piece::len).sum::<u64>() as usize);
        for p in pieces {
            match p {
                Piece::Literal(b) => out.extend_from_slice(b),
                Piece::Object { start, end } => {
                    out.extend_from_slice(&chunk[(start - at) as usize..(end - at) as usize])
                }
            }
        }
        Some(out.freeze())
    }

    /// Streams the pieces: a task on this worker reads each chunk on the
    /// blocking pool and queues it, at most [`READ_AHEAD`] ahead of the
    /// socket. Dropping the stream (client gone) ends the task and drops the
    /// reader.
    fn stream(self, pieces: Vec<Piece>) -> impl Stream<Item = Result<Bytes, ObjectError>> + Unpin {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        actix_web::rt::spawn(produce(self, pieces, tx));
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))
    }
}

async fn produce(
    open: OpenObject,
    pieces: Vec<Piece>,
    tx: mpsc::Sender<Result<Bytes, ObjectError>>,
) {
    let OpenObject {
        mut first,
        mut reader,
        chunk,
        ..
    } = open;
    for piece in pieces {
        let (mut pos, end) = match piece {
            Piece::Literal(b) => {
                if tx.send(Ok(b)).await.is_err() {
                    return;
                }
                continue;
            }
            Piece::Object { start, end } => (start, end),
        };
        while pos < end {
            let want = chunk.min((end - pos) as usize);
            let chunk = match first.take() {
                Some((at, c)) if at == pos && !c.is_empty() => c.slice(..want.min(c.len())),
                _ if let Some(read) = reader.read_at_without_waiting(pos, want) => match read {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                },
                _ => {
                    let read = blocking(move || {
                        let c = reader.read_at(pos, want);
                        (reader, c)
                    })
                    .await;
                    match read {
                        Ok((r, Ok(c))) => {
                            reader = r;
                            c
                        }
                        Ok((_, Err(e))) => {
                            let _ = tx.send(Err(e.into())).await;
                            return;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    }
                }
            };
            if chunk.is_empty() {
                let e =
                    StorageError::new(libc::EIO, format!("object ended at {pos} of {end} bytes"));
                let _ = tx.send(Err(e.into())).await;
                return;
            }
            pos += chunk.len() as u64;
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
    }
}
