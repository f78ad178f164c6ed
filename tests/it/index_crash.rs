//! The name index's promise under a crash (docs/index.md, "Group commit"):
//! a proxy killed with SIGKILL while eight writers upload through it has
//! listed every upload it acknowledged once it is started again, although
//! concurrent uploads shared shard updates.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;

use crate::common::{eventually, free_port, Proxy};
use crate::s3_list::{list_all, setup};

#[test]
fn kill_9_during_uploads_loses_no_acknowledged_entry() {
    let s3 = free_port();
    let mut p = Proxy::start(setup(s3, json!({"index-shard-entries": 16})));
    let acked = Mutex::new(Vec::new());
    let killed = AtomicBool::new(false);
    std::thread::scope(|s| {
        for w in 0..8 {
            let (p, acked, killed) = (&p, &acked, &killed);
            s.spawn(move || {
                for i in 0..5000 {
                    let key = format!("w{w}/{i:05}");
                    let r = p
                        .client
                        .post(p.url(&format!("/upload/pub/{key}")))
                        .body(vec![b'x'; 100 + i % 50])
                        .send();
                    match r {
                        Ok(r) if r.status() == 200 => acked.lock().push(key),
                        Ok(r) if !killed.load(Ordering::SeqCst) => {
                            panic!("{key}: {} before the kill", r.status())
                        }
                        _ => return,
                    }
                }
            });
        }
        let enough = eventually(Duration::from_secs(60), || acked.lock().len() >= 300);
        killed.store(true, Ordering::SeqCst);
        p.signal("KILL");
        assert!(enough, "uploads too slow: {}", acked.lock().len());
    });
    p.wait_exit(Duration::from_secs(10));
    p.spawn();
    let listed: std::collections::BTreeSet<String> =
        list_all(&p, &format!("http://127.0.0.1:{s3}"), "pub", "", 1000)
            .into_iter()
            .collect();
    let acked = acked.into_inner();
    let lost: Vec<&String> = acked.iter().filter(|k| !listed.contains(*k)).collect();
    assert!(lost.is_empty(), "acknowledged but not listed: {lost:?}");
    eprintln!(
        "{} uploads acknowledged before the kill, {} listed after it",
        acked.len(),
        listed.len()
    );
}
