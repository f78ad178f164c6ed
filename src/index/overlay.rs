//! [`Listing`]: a bucket's entries as a listing sees them, the records of
//! the proxies' logs not merged yet (src/index/logs.rs) laid over the
//! shards: of a key's changes, the newest wins by its time, whether it is
//! in a shard (entry or removal marker) or in a log.

use super::log_objects::resolve;
use super::logs::Record;
use super::page::{EntrySource, Start};
use super::scan::Item;
use super::shard::Entry;
use super::{Index, Scanner};
use crate::storage::{Context, StorageError};

impl Index {
    /// What a listing of `bucket` from `start` reads: the shards with the
    /// records of every proxy's log not merged yet laid over them.
    pub fn list(&self, bucket: &Context, start: &Start) -> Result<Listing<'_>, StorageError> {
        // Logs first: what a merge moves out of them meanwhile is in the
        // shards read after.
        let records = self.logs.overlay(self.storage.as_ref(), bucket)?;
        let records = records
            .into_iter()
            .filter(|r| match start {
                Start::After(k) => r.key.as_str() > k.as_str(),
                Start::From(k) => r.key.as_str() >= k.as_str(),
            })
            .collect();
        let records = resolve(self.storage.as_ref(), bucket, records, false)?;
        Ok(Listing::new(self.scan(bucket, start)?, records))
    }
}

/// The shards of a bucket with its logs' records laid over them.
pub struct Listing<'a> {
    scanner: Scanner<'a>,
    /// Sorted by key, one per key.
    records: Vec<Record>,
    pos: usize,
    /// The scanner's next item, read ahead to compare keys.
    ahead: Option<Item>,
    /// Whether `ahead` is filled (or the scanner is at its end).
    looked: bool,
}

impl<'a> Listing<'a> {
    /// `scanner` with `records` (sorted, one per key, none before where it
    /// starts) laid over it.
    pub fn new(scanner: Scanner<'a>, records: Vec<Record>) -> Listing<'a> {
        Listing {
            scanner,
            records,
            pos: 0,
            ahead: None,
            looked: false,
        }
    }

    /// Shards read so far.
    pub fn shards_read(&self) -> u64 {
        self.scanner.shards_read()
    }

    /// Shards the bucket's root lists (see [`Scanner::shards_known`]).
    pub fn shards_known(&self) -> u64 {
        self.scanner.shards_known()
    }

    fn peek(&mut self) -> Result<Option<&Item>, StorageError> {
        if !self.looked {
            self.ahead = self.scanner.next_item()?;
            self.looked = true;
        }
        Ok(self.ahead.as_ref())
    }

    fn take(&mut self) -> Option<Item> {
        self.looked = false;
        self.ahead.take()
    }
}

impl EntrySource for Listing<'_> {
    fn next_entry(&mut self) -> Result<Option<Entry>, StorageError> {
        loop {
            let record_key = self.records.get(self.pos).map(|r| r.key.clone());
            let item_key = self.peek()?.map(|i| i.key().to_string());
            let (from_record, from_item) = match (&record_key, &item_key) {
                (None, None) => return Ok(None),
                (Some(_), None) => (true, false),
                (None, Some(_)) => (false, true),
                (Some(r), Some(i)) => match r.cmp(i) {
                    std::cmp::Ordering::Less => (true, false),
                    std::cmp::Ordering::Greater => (false, true),
                    std::cmp::Ordering::Equal => (true, true),
                },
            };
            let item = if from_item { self.take() } else { None };
            let record = if from_record {
                self.pos += 1;
                self.records.get(self.pos - 1)
            } else {
                None
            };
            let found = match (record, item) {
                (Some(r), Some(i)) if i.at() > r.at => match i {
                    Item::Entry(e) => Some(e),
                    Item::Gone(..) => None,
                },
                (Some(r), _) => r.entry.clone(),
                (None, Some(Item::Entry(e))) => Some(e),
                (None, _) => None,
            };
            if found.is_some() {
                return Ok(found);
            }
        }
    }

    fn skip_prefix(&mut self, prefix: &str) -> Result<(), StorageError> {
        if self.peek()?.is_some_and(|i| i.key().starts_with(prefix)) {
            self.take();
            self.scanner.skip_prefix(prefix)?;
        }
        while self
            .records
            .get(self.pos)
            .is_some_and(|r| r.key.starts_with(prefix))
        {
            self.pos += 1;
        }
        Ok(())
    }
}
