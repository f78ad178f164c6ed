//! [`Scanner`]: a bucket's index entries in key order, read shard by
//! shard along the links, so a listing holds one shard in memory.

use std::sync::Arc;

use super::page::EntrySource;
use super::shard::{Entry, Root, Route, Shard};
use super::{corrupt, Index, MAX_HOPS};
use crate::storage::{Context, StorageError};

/// Reads a bucket's entries in order, one shard in memory at a time.
pub struct Scanner<'a> {
    pub(super) index: &'a Index,
    pub(super) ictx: Context,
    pub(super) root: Arc<Root>,
    pub(super) entries: Vec<Entry>,
    pub(super) pos: usize,
    pub(super) upper: Option<String>,
    pub(super) next: Option<u64>,
    pub(super) shards_read: u64,
}

impl Scanner<'_> {
    /// Shards read so far.
    pub fn shards_read(&self) -> u64 {
        self.shards_read
    }

    /// Shards the bucket's root lists: how many a full scan reads, give or
    /// take splits the root has not recorded yet.
    pub fn shards_known(&self) -> u64 {
        self.root.shards.len() as u64
    }

    fn load(&mut self, id: u64) -> Result<Shard, StorageError> {
        self.shards_read += 1;
        self.index.read_shard(&self.ictx, id)
    }

    /// Makes the shard holding `key` current (position 0).
    pub(super) fn seek(&mut self, key: &str) -> Result<(), StorageError> {
        let mut id = self.root.route(key);
        for _ in 0..MAX_HOPS {
            let shard = self.load(id)?;
            match shard.route(key) {
                Route::Next(Some(n)) => id = n,
                Route::Here | Route::Next(None) | Route::Below => {
                    self.upper = shard.upper;
                    self.next = shard.next;
                    self.entries = shard.entries;
                    self.pos = 0;
                    return Ok(());
                }
            }
        }
        Err(corrupt(&self.ictx, "too many links followed".into()))
    }
}

impl EntrySource for Scanner<'_> {
    fn next_entry(&mut self) -> Result<Option<Entry>, StorageError> {
        loop {
            if let Some(e) = self.entries.get(self.pos) {
                self.pos += 1;
                return Ok(Some(e.clone()));
            }
            let Some(n) = self.next else {
                return Ok(None);
            };
            let shard = self.load(n)?;
            self.upper = shard.upper;
            self.next = shard.next;
            self.entries = shard.entries;
            self.pos = 0;
        }
    }

    fn skip_prefix(&mut self, prefix: &str) -> Result<(), StorageError> {
        let skip = |s: &mut Self| {
            while s
                .entries
                .get(s.pos)
                .is_some_and(|e| e.key.starts_with(prefix))
            {
                s.pos += 1;
            }
        };
        skip(self);
        // The prefix goes on past this shard: jump to the shard of the
        // first key after it instead of reading the ones in between.
        if self.pos == self.entries.len()
            && self.upper.as_deref().is_some_and(|u| u.starts_with(prefix))
        {
            let beyond = format!("{prefix}\u{10FFFF}");
            self.seek(&beyond)?;
            self.pos = self
                .entries
                .partition_point(|e| e.key.as_str() < beyond.as_str());
            skip(self);
        }
        Ok(())
    }
}
