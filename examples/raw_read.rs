//! The raw client's read rate, for `bench/get.sh`: the same store calls the
//! proxy's GET makes (open with the first chunk, then read chunks), in a tight loop on `THREADS`
//! threads for `SECONDS`, with no HTTP. Prints "requests/s MB/s".
//!
//! `raw_read CONFIG BUCKET KEY THREADS SECONDS`; `CHUNK=bytes` reads in
//! chunks of that size instead of the store's `read_chunk()`, as the proxy reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backrunner::config::Config;
use backrunner::storage::Context;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, bucket, key, threads, secs] = args.as_slice() else {
        eprintln!("usage: raw_read CONFIG BUCKET KEY THREADS SECONDS");
        std::process::exit(2);
    };
    let cfg = Config::load(config.as_ref()).unwrap_or_else(|e| panic!("{config}: {e}"));
    let storage = backrunner::storage::open(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let meta =
        backrunner::bucket::read_meta(storage.as_ref(), &cfg.elliptics.metadata_groups, bucket)
            .unwrap_or_else(|e| panic!("{e}"));
    let ctx = Context::new(bucket.clone(), meta.groups.clone());
    let threads: usize = threads.parse().expect("THREADS");
    let chunk: usize = std::env::var("CHUNK")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| storage.read_chunk());
    let until = Instant::now() + Duration::from_secs(secs.parse().expect("SECONDS"));
    let (reqs, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (storage, ctx, reqs, bytes) = (&storage, &ctx, &reqs, &bytes);
            s.spawn(move || {
                while Instant::now() < until {
                    // As the proxy's GET: the open reads the first chunk.
                    let (mut r, first) = storage.open_read(ctx, key, 0, chunk).expect("open");
                    let size = r.info().size;
                    let mut at = first.len() as u64;
                    while at < size {
                        let c = r.read_at(at, chunk).expect("read");
                        assert!(!c.is_empty(), "object ended early");
                        at += c.len() as u64;
                    }
                    reqs.fetch_add(1, Ordering::Relaxed);
                    bytes.fetch_add(size, Ordering::Relaxed);
                }
            });
        }
    });
    let t = started.elapsed().as_secs_f64();
    println!(
        "{:.0} {:.0}",
        reqs.load(Ordering::Relaxed) as f64 / t,
        bytes.load(Ordering::Relaxed) as f64 / t / 1e6
    );
}
