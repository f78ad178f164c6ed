//! Reading objects: open with the first chunk in the same blocking hop, then
//! a pipelined body (the next chunk is read while the previous one goes to
//! the socket).

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::mpsc;

use super::error::ObjectError;
use super::pool::blocking;
use crate::storage::{Context, ObjectReader, ReplicaInfo, StartedRead, Storage, StorageError};

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

/// [`open`] with a prefetch, awaited without a blocking hop when the store
/// can start the read and answer it as a future (Elliptics); `None` when it
/// can't, and [`open`] goes to the blocking pool.
pub(super) fn open_started(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    prefetch: Option<u64>,
) -> Option<impl std::future::Future<Output = Result<Result<OpenObject, StorageError>, ObjectError>>>
{
    let at = prefetch?;
    let chunk = storage.read_chunk().max(1);
    let opening = storage.start_open_read(ctx, key, at, chunk)?;
    let namespace = ctx.namespace.clone();
    Some(async move {
        let opened = match opening.await {
            StartedRead::Done(r) => r,
            StartedRead::Then(rest) => blocking(rest).await?,
        };
        Ok(opened.map(|(reader, first)| OpenObject {
            namespace,
            info: reader.info().clone(),
            first: Some((at, first)),
            reader,
            chunk,
        }))
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

/// Object pieces at most this far apart are read together: a store reads
/// whole checksummed blocks (64 KiB on the embedded store) and pays a round
/// trip per read (Elliptics), so reading a small gap costs less than a
/// second read. A packaged segment is many small pieces (a video track's
/// samples with the audio interleaved between them, or the reverse).
const JOIN_GAP: u64 = 64 * 1024;

/// Pieces smaller than this are gathered into one body chunk of up to
/// [`BATCH`] bytes instead of going to the socket one by one.
const SMALL: usize = 16 * 1024;
const BATCH: usize = 64 * 1024;

/// How many bytes to read at `pos` for the object piece ending at `end`
/// and the object pieces of `rest` that follow close behind it: at most
/// `chunk`, at least what is left of the piece (up to `chunk`).
fn read_len(rest: &[Piece], pos: u64, end: u64, chunk: usize) -> usize {
    let chunk = chunk as u64;
    let mut last = end;
    for p in rest {
        if last.saturating_sub(pos) >= chunk {
            break;
        }
        if let Piece::Object { start, end } = p {
            if *start < last || start - last > JOIN_GAP {
                break;
            }
            last = *end;
        }
    }
    let len = last.saturating_sub(pos);
    if len <= chunk {
        return len as usize;
    }
    // Cut where a block ends, so the next read starts on one instead of
    // reading (and checking) the block across the cut twice.
    let cut = (pos + chunk) / JOIN_GAP * JOIN_GAP;
    (if cut > pos { cut - pos } else { chunk }) as usize
}

/// The body's way to the socket: small pieces are gathered, larger ones
/// go as they are (slices of what was read, not copies).
struct Out {
    tx: mpsc::Sender<Result<Bytes, ObjectError>>,
    batch: BytesMut,
}

impl Out {
    /// Queues `b`; `false` once the client is gone.
    async fn put(&mut self, b: Bytes) -> bool {
        if b.len() < SMALL {
            self.batch.extend_from_slice(&b);
            return self.batch.len() < BATCH || self.flush().await;
        }
        self.flush().await && self.tx.send(Ok(b)).await.is_ok()
    }

    /// Sends what was gathered; `false` once the client is gone.
    async fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let b = self.batch.split().freeze();
        self.tx.send(Ok(b)).await.is_ok()
    }

    /// Sends what was gathered, then `e`.
    async fn fail(mut self, e: ObjectError) {
        if self.flush().await {
            let _ = self.tx.send(Err(e)).await;
        }
    }
}

async fn produce(
    open: OpenObject,
    pieces: Vec<Piece>,
    tx: mpsc::Sender<Result<Bytes, ObjectError>>,
) {
    let OpenObject {
        first,
        mut reader,
        chunk,
        ..
    } = open;
    let mut out = Out {
        tx,
        batch: BytesMut::new(),
    };
    // The bytes last read (the prefetched chunk at first): pieces inside
    // it are sliced from it.
    let mut window: Option<(u64, Bytes)> = first.filter(|(_, c)| !c.is_empty());
    for (i, piece) in pieces.iter().enumerate() {
        let (mut pos, end) = match piece {
            Piece::Literal(b) => {
                if !out.put(b.clone()).await {
                    return;
                }
                continue;
            }
            Piece::Object { start, end } => (*start, *end),
        };
        while pos < end {
            let inside = window.as_ref().and_then(|(at, c)| {
                let stop = at + c.len() as u64;
                (pos >= *at && pos < stop)
                    .then(|| c.slice((pos - at) as usize..(end.min(stop) - at) as usize))
            });
            let part = match inside {
                Some(part) => part,
                None => {
                    let want = read_len(&pieces[i + 1..], pos, end, chunk);
                    let read = match reader.read_at_without_waiting(pos, want) {
                        Some(read) => read.map_err(ObjectError::from),
                        None => {
                            if !out.flush().await {
                                return;
                            }
                            match blocking(move || {
                                let c = reader.read_at(pos, want);
                                (reader, c)
                            })
                            .await
                            {
                                Ok((r, c)) => {
                                    reader = r;
                                    c.map_err(ObjectError::from)
                                }
                                Err(e) => {
                                    out.fail(e).await;
                                    return;
                                }
                            }
                        }
                    };
                    let c = match read {
                        Ok(c) if !c.is_empty() => c,
                        Ok(_) => {
                            let e = StorageError::new(
                                libc::EIO,
                                format!("object ended at {pos} of {end} bytes"),
                            );
                            out.fail(e.into()).await;
                            return;
                        }
                        Err(e) => {
                            out.fail(e).await;
                            return;
                        }
                    };
                    let part = c.slice(..c.len().min((end - pos) as usize));
                    window = Some((pos, c));
                    part
                }
            };
            pos += part.len() as u64;
            if !out.put(part).await {
                return;
            }
        }
    }
    out.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(start: u64, end: u64) -> Piece {
        Piece::Object { start, end }
    }

    #[test]
    fn close_pieces_are_read_together_up_to_a_chunk() {
        let lit = Piece::Literal(Bytes::from_static(b"x"));
        // a lone piece: what is left of it, at most a chunk
        assert_eq!(read_len(&[], 0, 100, 256), 100);
        assert_eq!(read_len(&[], 0, 1000, 256), 256);
        assert_eq!(read_len(&[], 900, 1000, 256), 100);
        // a chunk-long read ends on a block boundary when one is inside it
        let k = JOIN_GAP;
        assert_eq!(
            read_len(&[], 100, 10 * k, 4 * k as usize),
            (4 * k - 100) as usize
        );
        assert_eq!(read_len(&[], k, 10 * k, 4 * k as usize), 4 * k as usize);
        assert_eq!(read_len(&[], 1, 10 * k, 100), 100);
        // the next pieces, a small gap away, join (literals between don't
        // matter), up to the chunk
        assert_eq!(
            read_len(&[obj(110, 150), lit, obj(160, 200)], 0, 100, 256),
            200
        );
        assert_eq!(read_len(&[obj(110, 400)], 0, 100, 256), 256);
        assert_eq!(read_len(&[obj(110, 400)], 90, 100, 256), 256);
        // a far piece, or one behind, does not
        assert_eq!(
            read_len(
                &[obj(100 + JOIN_GAP + 1, 100 + JOIN_GAP + 9)],
                0,
                100,
                1 << 20
            ),
            100
        );
        assert_eq!(read_len(&[obj(50, 60), obj(110, 120)], 0, 100, 256), 100);
        // from the middle of a piece
        assert_eq!(read_len(&[obj(300, 310)], 200, 250, 256), 110);
    }
}
