//! What a read checks its replica against, looked up while it opens.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use super::pool::blocking;
use crate::cluster::consistency;
use crate::cluster::tombstone::{self, Found};
use crate::storage::{Context, ReplicaInfo, Storage};

/// What a read checks its replica against, looked up while it opens: the
/// key's tombstone and the newest replica it does not bury among the
/// groups after the first of `ctx` (the open reads the first one itself:
/// looking it up too cost every GET a second lookup there). A node that
/// was away may hold an older version (overwritten, or deleted): such a
/// replica is never served. Each group waits at most
/// [`tombstone::LOOKUP_TIMEOUT`]; nothing for a bucket of one group.
pub(super) fn versions(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
) -> (Option<SystemTime>, Option<ReplicaInfo>) {
    if ctx.groups.len() < 2 {
        return (None, None);
    }
    let tomb = tombstone::find(storage, ctx, key);
    let mut found = storage.lookup(&others(ctx), key);
    tombstone::bury(tomb, &mut found);
    (tomb, consistency::newest(&found).cloned())
}

/// The groups of `ctx` after its first, each waited for at most
/// [`tombstone::LOOKUP_TIMEOUT`].
fn others(ctx: &Context) -> Context {
    Context {
        timeout: Some(tombstone::LOOKUP_TIMEOUT),
        groups: ctx.groups[1..].to_vec(),
        ..ctx.clone()
    }
}

/// [`versions`] without a blocking hop, both lookups at once, when the
/// store answers lookups as futures (Elliptics); `None` when it can't. A
/// tombstone found expired is removed in the background.
pub(super) fn started(
    storage: &Arc<dyn Storage>,
    ctx: &Context,
    key: &str,
) -> Option<impl Future<Output = (Option<SystemTime>, Option<ReplicaInfo>)>> {
    if ctx.groups.len() < 2 {
        return None;
    }
    let tctx = tombstone::tomb_ctx(ctx);
    let tombs = storage.start_lookup(&tctx, key)?;
    let found = storage.start_lookup(&others(ctx), key)?;
    let (storage, key) = (storage.clone(), key.to_string());
    Some(async move {
        let (tombs, mut found) = futures_util::future::join(tombs, found).await;
        let tomb = match tombstone::newest(&tombs) {
            Found::Expired => {
                let remove = blocking(move || storage.remove(&tctx, &key));
                actix_web::rt::spawn(remove);
                None
            }
            live => live.live(),
        };
        tombstone::bury(tomb, &mut found);
        (tomb, consistency::newest(&found).cloned())
    })
}
