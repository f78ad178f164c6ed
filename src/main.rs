//! `backrunner -config FILE [-buckets FILE]`: the HTTP proxy.

use std::process::ExitCode;

use actix_web::web;
use clap::Parser;

use backrunner::cli::{normalize_args, ProxyArgs};
use backrunner::config::Config;
use backrunner::state::{AppState, Sources};
use backrunner::{http, reload, storage};

fn main() -> ExitCode {
    let args = ProxyArgs::parse_from(normalize_args(std::env::args_os()));
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("backrunner: {e}");
            return ExitCode::FAILURE;
        }
    };
    let storage = match storage::open(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("backrunner: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sources = Sources {
        config_path: args.config.clone(),
        buckets_path: args.buckets.clone(),
    };
    let state = match AppState::new(config, storage, sources) {
        Ok(s) => web::Data::new(s),
        Err(e) => {
            eprintln!("backrunner: {e}");
            return ExitCode::FAILURE;
        }
    };
    reload::install(&state);
    let system = actix_web::rt::System::new();
    system.block_on(async {
        actix_web::rt::spawn(reload_on_sighup(state.clone()));
        actix_web::rt::spawn(reload::run_periodic(state.clone()));
    });
    match system.block_on(http::serve(state)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backrunner: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the reload hooks on every SIGHUP, on the blocking pool.
async fn reload_on_sighup(state: web::Data<AppState>) {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot listen for SIGHUP: {e}");
            return;
        }
    };
    while hup.recv().await.is_some() {
        log::info!("SIGHUP: reloading");
        let s = state.clone();
        if let Err(e) = web::block(move || s.run_reload_hooks()).await {
            log::error!("reload failed: {e}");
        }
    }
}
