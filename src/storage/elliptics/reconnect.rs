//! Nodes that left the route table are reconnected as soon as a
//! statistics round notices, instead of at the client library's next
//! check (`check-timeout`, 20 s by default): until then, writes skip the
//! returned node's groups and index changes wait for it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::ffi::Node;

/// The node addresses seen in the route table, and whether an attempt to
/// reconnect is under way.
#[derive(Default)]
pub(super) struct Reconnect {
    seen: Mutex<BTreeSet<String>>,
    busy: Arc<AtomicBool>,
}

impl Reconnect {
    /// Notes the addresses routed now; those seen before and missing now
    /// are tried again in the background (one attempt at a time: a
    /// connection to an unreachable host may take the connect timeout).
    pub(super) fn note(&self, node: &Arc<Node>, routed: impl IntoIterator<Item = String>) {
        let lost = lost(&mut self.seen.lock(), routed.into_iter().collect());
        if lost.is_empty() || self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let (node, busy) = (node.clone(), self.busy.clone());
        let spawned = std::thread::Builder::new()
            .name("reconnect".into())
            .spawn(move || {
                for addr in &lost {
                    match node.add_remotes(std::slice::from_ref(addr)) {
                        Ok(()) => log::info!("elliptics: node {addr} is back: reconnected"),
                        Err(e) => log::debug!("elliptics: node {addr} still away: {e}"),
                    }
                }
                busy.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            log::warn!("elliptics: cannot start a reconnection: {e}");
            self.busy.store(false, Ordering::Release);
        }
    }
}

/// Adds `routed` to `seen`; answers the addresses of `seen` not routed.
fn lost(seen: &mut BTreeSet<String>, routed: BTreeSet<String>) -> Vec<String> {
    let lost = seen.difference(&routed).cloned().collect();
    seen.extend(routed);
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(a: &[&str]) -> BTreeSet<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_address_seen_once_and_missing_now_is_lost() {
        let mut seen = BTreeSet::new();
        assert!(lost(&mut seen, set(&["a:1:2", "b:1:2"])).is_empty());
        assert_eq!(lost(&mut seen, set(&["a:1:2"])), ["b:1:2"]);
        // Still missing: still tried; back: no longer.
        assert_eq!(lost(&mut seen, set(&[])), ["a:1:2", "b:1:2"]);
        assert!(lost(&mut seen, set(&["b:1:2", "a:1:2", "c:1:2"])).is_empty());
    }
}
