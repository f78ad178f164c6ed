//! Recording object writes and removals in the name index
//! (docs/index.md): in the proxy's log (merged into the shards in the
//! background), else at once, or, when the bucket's primary is away, in
//! the proxy's queue and the bucket's journal in the cluster; and the
//! replays of both.

use std::sync::Arc;

use super::error::ObjectError;
use super::pool::blocking;
use super::{Objects, Written};
use crate::index::intents::FLUSH_AFTER;
use crate::index::journal;
use crate::index::logs::Record;
use crate::index::pending::Change;
use crate::index::Index;
use crate::storage::{Context, StorageError};

impl Objects {
    /// Records `changes` in the name index of the bucket of `ctx`: at once,
    /// or in the queue of changes waiting for the bucket's primary
    /// (src/index/pending.rs) when changes already wait there or the
    /// update fails because a group is unreachable (down, hung).
    pub(super) async fn record(
        &self,
        index: Arc<Index>,
        ctx: Context,
        changes: Vec<(String, Change)>,
        what: &str,
        key: &str,
    ) {
        if index.pending().waiting(&ctx) {
            self.wait_for_primary(&index, ctx, changes, what, key).await;
            return;
        }
        // The fast way: this proxy's log, merged into the shards later.
        let records = changes
            .iter()
            .map(|(k, c)| match c {
                Change::Put(entry) => Record::put(entry.clone()),
                Change::Remove => Record::remove(k),
            })
            .collect();
        let (i, c) = (index.clone(), ctx.clone());
        match blocking(move || i.log(&c, records)).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => log::warn!(
                "name index: the {what} of {key:?} goes to the shards at once (not logged: {e})"
            ),
            Err(e) => log::warn!("name index: the {what} of {key:?} not logged: {e}"),
        }
        let (i, c, ch) = (index.clone(), ctx.clone(), changes.clone());
        let r = blocking(move || {
            let removes: Vec<String> = ch
                .iter()
                .filter(|(_, c)| matches!(c, Change::Remove))
                .map(|(k, _)| k.clone())
                .collect();
            if !removes.is_empty() {
                i.remove(&c, &removes)?;
            }
            for (_, change) in &ch {
                if let Change::Put(entry) = change {
                    i.put(&c, entry)?;
                }
            }
            Ok::<(), StorageError>(())
        })
        .await;
        match r {
            Ok(Err(e)) if e.is_unreachable() => {
                log::warn!("name index: the {what} of {key:?} waits for the primary: {e}");
                self.wait_for_primary(&index, ctx, changes, what, key).await;
            }
            r => self.index_outcome(what, key, r),
        }
    }

    /// Runs `write` (an upload of `key` into the bucket of `ctx`) while the
    /// intent of the write goes into this proxy's log (docs/index.md,
    /// "Intents"), so that the two store writes overlap instead of
    /// following each other; once the object is stored its entry replaces
    /// the intent. When the intent could not be logged, or a merge took it
    /// before the object was stored, the entry is recorded the usual way.
    pub(super) async fn put_with_intent<E>(
        &self,
        index: Arc<Index>,
        ctx: Context,
        key: &str,
        write: impl std::future::Future<Output = Result<Written, E>>,
    ) -> Result<Written, E> {
        let uploading = index.logs().uploading();
        let intent = Record::intent(key);
        let (i, c, r) = (index.clone(), ctx.clone(), intent.clone());
        let logging = blocking(move || i.log(&c, vec![r]));
        let started = std::time::Instant::now();
        let write = async {
            let w = write.await;
            index.logs().note_upload(started.elapsed());
            w
        };
        let (written, logged) = futures_util::future::join(write, logging).await;
        drop(uploading);
        let logged = match logged {
            Ok(Ok(())) => true,
            Ok(Err(e)) => note_unlogged(key, &e),
            Err(e) => note_unlogged(key, &e),
        };
        // A failed write leaves its intent: a lookup resolves it.
        let written = written?;
        if let Some(entry) = super::index_entry(key, &written.results) {
            let record = Record::put(entry.clone());
            if logged && index.logs().settle(&ctx, &intent, record) {
                schedule_flush(index);
            } else {
                let change = vec![(key.to_string(), Change::Put(entry))];
                self.record(index, ctx, change, "write", key).await;
            }
        }
        Ok(written)
    }

    /// Queues `changes` until the bucket's primary is back, in this proxy
    /// and in the bucket's journal in the cluster (src/index/journal.rs),
    /// which any proxy replays if this one stops first.
    async fn wait_for_primary(
        &self,
        index: &Index,
        ctx: Context,
        changes: Vec<(String, Change)>,
        what: &str,
        key: &str,
    ) {
        let records: Vec<journal::Record> = changes
            .into_iter()
            .map(|(k, c)| {
                let nonce = index.pending().push(&ctx, &k, c.clone());
                journal::Record::new(&k, nonce, &c)
            })
            .collect();
        let storage = self.storage.clone();
        let r = blocking(move || journal::append(storage.as_ref(), &ctx, records)).await;
        match r {
            Ok(Ok(())) => index.note_journaled(),
            Ok(Err(e)) => {
                index.note_failure();
                log::error!(
                    "name index: the {what} of {key:?} is not journaled (it waits in this proxy only): {e}"
                );
            }
            Err(e) => log::error!("name index: the {what} of {key:?} is not journaled: {e}"),
        }
    }

    /// Replays the index changes waiting for their primary (every second,
    /// src/runtime.rs); answers how many were applied.
    pub async fn replay_index(&self) -> usize {
        let Some(index) = self.index.clone() else {
            return 0;
        };
        if index.pending().len().0 == 0 {
            return 0;
        }
        blocking(move || index.replay_pending()).await.unwrap_or(0)
    }

    /// Merges what waited long enough in this proxy's index logs into the
    /// shards (every second, src/runtime.rs; `all` at shutdown).
    pub async fn merge_index_logs(&self, all: bool) -> usize {
        let Some(index) = self.index.clone() else {
            return 0;
        };
        blocking(move || index.merge_logs(all)).await.unwrap_or(0)
    }

    /// Replays the index journals of `buckets` (src/index/journal.rs):
    /// changes any proxy queued while a bucket's primary was away. Answers
    /// the records written to the index.
    pub async fn replay_journals(&self, buckets: Vec<Context>) -> usize {
        let Some(index) = self.index.clone() else {
            return 0;
        };
        blocking(move || {
            let mut applied = 0;
            // A bucket whose changes wait here is replayed every second
            // already; its journal comes next, once they are through.
            let due = |c: &&Context| crate::index::is_listed(c) && !index.pending().waiting(c);
            for ctx in buckets.iter().filter(|c| crate::index::is_listed(c)) {
                match index.adopt_logs(ctx) {
                    Ok(n) => applied += n,
                    Err(e) => log::warn!(
                        "name index of {}: logs of silent proxies not merged yet: {e}",
                        ctx.namespace
                    ),
                }
            }
            for ctx in buckets.iter().filter(due) {
                match index.replay_journal(ctx) {
                    Ok(r) if r.found > 0 => {
                        log::info!(
                            "name index journal of {}: {} waiting changes found, {} written",
                            ctx.namespace,
                            r.found,
                            r.applied
                        );
                        applied += r.applied;
                    }
                    Ok(_) => {}
                    Err(e) => log::warn!(
                        "name index journal of {}: not replayed yet: {e}",
                        ctx.namespace
                    ),
                }
            }
            applied
        })
        .await
        .unwrap_or(0)
    }

    /// Logs and counts an index update that failed after its object
    /// operation succeeded: the operation still succeeds (docs/index.md).
    fn index_outcome(
        &self,
        what: &str,
        key: &str,
        r: Result<Result<(), StorageError>, ObjectError>,
    ) {
        let err = match r {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        if let Some(index) = &self.index {
            index.note_failure();
        }
        log::error!("name index not updated after the {what} of {key:?}: {err}");
    }
}

/// Logs why an intent was not logged (its write is then recorded the
/// usual way); answers `false`.
fn note_unlogged(key: &str, e: &dyn std::fmt::Display) -> bool {
    log::debug!("name index: intent of {key:?} not logged: {e}");
    false
}

/// Writes settled records once the logs have been idle for
/// [`FLUSH_AFTER`] (at most one such task at a time), so that stored logs
/// soon say what each write stored rather than that it was under way.
fn schedule_flush(index: Arc<Index>) {
    if !index.logs().schedule_flush() {
        return;
    }
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(FLUSH_AFTER).await;
            match index.logs().unwritten(FLUSH_AFTER) {
                Some(true) => {
                    let i = index.clone();
                    let _ = blocking(move || i.flush_logs(FLUSH_AFTER)).await;
                }
                Some(false) => continue,
                None => {}
            }
            index.logs().flush_done();
            // A record settled after the check and before the mark above
            // found a flush scheduled: look again.
            if index.logs().unwritten(FLUSH_AFTER).is_none() || !index.logs().schedule_flush() {
                return;
            }
        }
    });
}
