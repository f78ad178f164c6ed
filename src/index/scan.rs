//! [`Scanner`]: a bucket's index entries (and removal markers) in key
//! order, read shard by shard along the links, so a listing holds one
//! shard in memory.

use std::sync::Arc;

use super::page::EntrySource;
use super::shard::{Entry, Root, Route, Shard};
use super::{corrupt, Index, MAX_HOPS};
use crate::storage::{Context, StorageError};

/// What a shard holds of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Its entry.
    Entry(Entry),
    /// A removal marker: the key and when it was removed.
    Gone(String, u64),
}

impl Item {
    /// The key.
    pub fn key(&self) -> &str {
        match self {
            Item::Entry(e) => &e.key,
            Item::Gone(k, _) => k,
        }
    }

    /// When the key was written or removed.
    pub fn at(&self) -> u64 {
        match self {
            Item::Entry(e) => e.order(),
            Item::Gone(_, t) => *t,
        }
    }
}

/// Reads a bucket's entries in order, one shard in memory at a time.
pub struct Scanner<'a> {
    pub(super) index: &'a Index,
    pub(super) ictx: Context,
    pub(super) root: Arc<Root>,
    pub(super) entries: Vec<Entry>,
    pub(super) pos: usize,
    pub(super) gone: Vec<(String, u64)>,
    pub(super) gone_pos: usize,
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

    fn take(&mut self, shard: Shard) {
        self.upper = shard.upper;
        self.next = shard.next;
        self.entries = shard.entries;
        self.gone = shard.gone;
        self.pos = 0;
        self.gone_pos = 0;
    }

    /// Positions the current shard's entries and markers at `key`
    /// (`after`: past it, else at it).
    pub(super) fn position(&mut self, key: &str, after: bool) {
        let before = |k: &str| if after { k <= key } else { k < key };
        self.pos = self.entries.partition_point(|e| before(&e.key));
        self.gone_pos = self.gone.partition_point(|(k, _)| before(k));
    }

    /// The next entry or removal marker, in key order.
    pub fn next_item(&mut self) -> Result<Option<Item>, StorageError> {
        loop {
            let e = self.entries.get(self.pos);
            let g = self.gone.get(self.gone_pos);
            match (e, g) {
                (Some(e), Some((k, t))) if *k < e.key => {
                    let item = Item::Gone(k.clone(), *t);
                    self.gone_pos += 1;
                    return Ok(Some(item));
                }
                (Some(e), _) => {
                    let item = Item::Entry(e.clone());
                    self.pos += 1;
                    return Ok(Some(item));
                }
                (None, Some((k, t))) => {
                    let item = Item::Gone(k.clone(), *t);
                    self.gone_pos += 1;
                    return Ok(Some(item));
                }
                (None, None) => {
                    let Some(n) = self.next else {
                        return Ok(None);
                    };
                    let shard = self.load(n)?;
                    self.take(shard);
                }
            }
        }
    }

    /// Makes the shard holding `key` current (position 0).
    pub(super) fn seek(&mut self, key: &str) -> Result<(), StorageError> {
        let mut id = self.root.route(key);
        for _ in 0..MAX_HOPS {
            let shard = self.load(id)?;
            match shard.route(key) {
                Route::Next(Some(n)) => id = n,
                Route::Here | Route::Next(None) | Route::Below => {
                    self.take(shard);
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
            match self.next_item()? {
                Some(Item::Entry(e)) => return Ok(Some(e)),
                Some(Item::Gone(..)) => {}
                None => return Ok(None),
            }
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
            while s
                .gone
                .get(s.gone_pos)
                .is_some_and(|(k, _)| k.starts_with(prefix))
            {
                s.gone_pos += 1;
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
            self.position(&beyond, false);
            skip(self);
        }
        Ok(())
    }
}
