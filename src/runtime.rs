//! Running the proxy: the one place that binds the listeners (REST, S3
//! and VOD), spawns every
//! background loop (SIGHUP, periodic reload, cluster statistics, the
//! cleanup of abandoned S3 multipart uploads, the repair pass) and
//! declares, in order, the work redone on SIGHUP.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use crate::logging::LogFile;
use crate::reload::Trigger;
use crate::state::AppState;

/// Work redone on SIGHUP, with its name for the log.
type ReloadHook = (&'static str, Box<dyn Fn(&AppState) + Send + Sync>);

/// Serves until the process is stopped.
pub fn run(state: web::Data<AppState>, log_file: Option<Arc<LogFile>>) -> std::io::Result<()> {
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        // SIGHUP's handler goes in before any listener answers: its default
        // action ends the process, and a reload sent as soon as `/ping/`
        // answered (a test's, or `systemctl reload` right after start) once
        // killed the proxy before the reload task first ran.
        let hup =
            actix_web::rt::signal::unix::signal(actix_web::rt::signal::unix::SignalKind::hangup());
        let mut listeners = crate::rest::bind(&state)?;
        // The S3 API (docs/s3.md) on its own listeners; all stop together.
        if let Some((s3, tls)) = crate::s3::server(&state)? {
            listeners.add(s3, tls);
        }
        // The VOD API (docs/vod.md) on its own listeners too.
        if let Some((vod, tls)) = crate::vod::server(&state)? {
            listeners.add(vod, tls);
        }
        // In this order: the config first, since the hooks after it read it.
        let mut hooks: Vec<ReloadHook> = vec![(
            "config+buckets",
            Box::new(|s: &AppState| {
                s.reload.reload(Trigger::Signal);
            }),
        )];
        if let Some(file) = log_file {
            hooks.push((
                "logs",
                Box::new(move |_: &AppState| {
                    if let Err(e) = file.reopen() {
                        log::error!("log file {}: cannot reopen: {e}", file.path().display());
                    }
                }),
            ));
        }
        // A reload may add or switch groups: placement needs fresh statistics.
        hooks.push((
            "count reloads, refresh statistics",
            Box::new(|s: &AppState| {
                s.stats.reloads.signals.fetch_add(1, Ordering::Relaxed);
                s.cluster.refresh(s.storage.as_ref());
            }),
        ));
        for (name, reloader) in std::mem::take(&mut listeners.tls) {
            hooks.push((
                name,
                Box::new(move |s: &AppState| crate::http::reload_tls(s, &reloader)),
            ));
        }
        match hup {
            Ok(hup) => {
                actix_web::rt::spawn(reload_on_sighup(hup, state.clone(), Arc::new(hooks)));
            }
            Err(e) => log::error!("cannot listen for SIGHUP: {e}"),
        }
        actix_web::rt::spawn(reload_periodically(state.clone()));
        actix_web::rt::spawn(crate::s3::multipart::cleanup::clean_periodically(
            state.clone(),
        ));
        actix_web::rt::spawn(replay_index(state.clone()));
        let passes = state.clone();
        let spawned = std::thread::Builder::new()
            .name("repair-pass".into())
            .spawn(move || repair_passes(&passes));
        if let Err(e) = spawned {
            log::error!("cannot start the repair pass: {e}");
        }
        let last = state.clone();
        actix_web::rt::spawn(update_statistics(state));
        let served = listeners.run().await;
        // Stopped (SIGTERM, SIGINT): what waits in this proxy's index logs
        // goes to the shards now rather than to another proxy a minute on.
        let merged = last.objects.merge_index_logs(true).await;
        if merged > 0 {
            log::info!("name index: {merged} logged changes merged at stop");
        }
        served
    })
}

/// Runs the reload hooks on every SIGHUP, on the blocking pool.
async fn reload_on_sighup(
    mut hup: actix_web::rt::signal::unix::Signal,
    state: web::Data<AppState>,
    hooks: Arc<Vec<ReloadHook>>,
) {
    while hup.recv().await.is_some() {
        log::info!("SIGHUP: reloading");
        let (s, hooks) = (state.clone(), hooks.clone());
        let done = web::block(move || {
            for (name, hook) in hooks.iter() {
                log::info!("reload: {name}");
                hook(&s);
            }
        });
        if let Err(e) = done.await {
            log::error!("reload failed: {e}");
        }
    }
}

/// Reloads every `proxy.bucket-update-interval` seconds (read from the
/// running config each time; 0 turns it off).
async fn reload_periodically(state: web::Data<AppState>) {
    loop {
        let secs = state.snapshot().config.proxy.bucket_update_interval;
        actix_web::rt::time::sleep(Duration::from_secs(secs.max(1))).await;
        if secs == 0 {
            continue;
        }
        let s = state.clone();
        if let Err(e) = web::block(move || s.reload.reload(Trigger::Periodic)).await {
            log::error!("reload: periodic refresh did not run: {e}");
        }
    }
}

/// Refreshes the cluster statistics every `bucket-stat-update-interval`
/// seconds (re-read from the running config each round) and starts the
/// defragmentations that are due.
async fn update_statistics(state: web::Data<AppState>) {
    loop {
        let s = state.clone();
        let done = web::block(move || {
            let snap = s.snapshot();
            s.cluster.update(s.storage.as_ref(), &snap.config.proxy);
        })
        .await;
        if let Err(e) = done {
            state.cluster.note_stat_error();
            log::error!("statistics update failed: {e}");
        }
        let secs = state.snapshot().config.proxy.bucket_stat_update_interval;
        actix_web::rt::time::sleep(Duration::from_secs(secs.max(1))).await;
    }
}

/// Runs a repair pass (src/core/repair_pass.rs) every
/// `proxy.repair-pass-interval` seconds after the last one ended, the first
/// one interval after start-up; re-read from the running config each round
/// (0: none; a pass under way stops when it turns 0). On a thread of its
/// own: a pass over a big cluster takes hours.
fn repair_passes(state: &AppState) {
    let interval = || state.snapshot().config.proxy.repair_pass_interval;
    loop {
        let secs = interval();
        std::thread::sleep(Duration::from_secs(secs.max(1)));
        if secs == 0 || interval() == 0 {
            continue;
        }
        let snap = state.snapshot();
        let p = &snap.config.proxy;
        let started = std::time::Instant::now();
        let report = state.objects.repair_pass(
            &snap.buckets.all(),
            p.repair_pass_keys_per_second,
            p.recover_bytes_per_second,
            &|| interval() != 0,
        );
        log::info!(
            "repair pass: {} keys of {} buckets checked in {:.1}s, {} out of sync, {} listings failed",
            report.keys,
            report.buckets,
            started.elapsed().as_secs_f64(),
            report.out_of_sync,
            report.errors
        );
    }
}

/// Every second, replays the name index changes that wait for their
/// bucket's primary (src/index/pending.rs); at start, every
/// `index-journal-replay-interval` and when those are through, the
/// buckets' journals (src/index/journal.rs), where other proxies' changes
/// may wait too.
async fn replay_index(state: web::Data<AppState>) {
    let mut journals_at: Option<std::time::Instant> = None;
    loop {
        actix_web::rt::time::sleep(Duration::from_secs(1)).await;
        let waited = state
            .objects
            .index()
            .is_some_and(|i| i.pending().len().0 > 0);
        let n = state.objects.replay_index().await;
        if n > 0 {
            log::info!("name index: {n} waiting changes replayed");
        }
        state.objects.merge_index_logs(false).await;
        let through = waited
            && state
                .objects
                .index()
                .is_some_and(|i| i.pending().len().0 == 0);
        let snap = state.snapshot();
        let every = snap.config.proxy.index_journal_replay_interval;
        let due = journals_at.map_or(true, |t| {
            every > 0 && t.elapsed() >= Duration::from_secs(every)
        });
        if due || through {
            journals_at = Some(std::time::Instant::now());
            let buckets = snap
                .buckets
                .all()
                .iter()
                .map(|b| crate::storage::Context::new(b.name.clone(), b.groups.clone()))
                .collect();
            let n = state.objects.replay_journals(buckets).await;
            if n > 0 {
                log::info!(
                    "name index: {n} journaled changes and silent proxies' logged changes written"
                );
            }
        }
    }
}
