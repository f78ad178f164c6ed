//! `backrunner -config FILE [-buckets FILE]`: the HTTP proxy.
//! `backrunner --check-config FILE`: validate a config and print it.

use std::process::ExitCode;

use actix_web::web;
use clap::Parser;

use backrunner::cli::{normalize_args, ProxyArgs};
use backrunner::config::Config;
use backrunner::state::{AppState, Sources};
use backrunner::{logging, storage};

fn main() -> ExitCode {
    backrunner::memory::configure_allocator();
    backrunner::sys::ignore_sighup_while_starting();
    let args = ProxyArgs::parse_from(normalize_args(std::env::args_os()));
    if let Some(path) = &args.check_config {
        return check_config(path);
    }
    let Some(config_path) = args.config.clone() else {
        eprintln!("backrunner: --config FILE is required");
        return ExitCode::FAILURE;
    };
    let config = match Config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("backrunner: {e}");
            return ExitCode::FAILURE;
        }
    };
    let log_file = match logging::init(&config.elliptics) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("backrunner: config {}: {e}", config_path.display());
            return ExitCode::FAILURE;
        }
    };
    let sources = Sources {
        config_path,
        buckets_path: args.buckets.clone(),
    };
    if let Some(w) = config.root_warning(&sources.guarded(&config)) {
        log::warn!("config {}: {w}", sources.config_path.display());
    }
    let storage = match storage::open(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("backrunner: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state = match AppState::new(config, storage, sources) {
        Ok(s) => web::Data::new(s),
        Err(e) => {
            eprintln!("backrunner: {e}");
            return ExitCode::FAILURE;
        }
    };
    match backrunner::runtime::run(state, log_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backrunner: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--check-config FILE`: the effective config as JSON with secrets hidden
/// on stdout and exit 0, or one line on stderr and exit 1.
/// A root covering guarded paths is a warning on stderr, as at start.
fn check_config(path: &std::path::Path) -> ExitCode {
    let checked = Config::load(path).map_err(|e| e.to_string()).and_then(|c| {
        logging::check(&c.elliptics)
            .map_err(|e| format!("config {}: {e}", path.display()))
            .map(|()| c)
    });
    if let Ok(c) = &checked {
        let sources = Sources {
            config_path: path.to_path_buf(),
            buckets_path: None,
        };
        if let Some(w) = c.root_warning(&sources.guarded(c)) {
            eprintln!("backrunner: warning: config {}: {w}", path.display());
        }
    }
    match checked
        .and_then(|c| serde_json::to_string_pretty(&c.without_secrets()).map_err(|e| e.to_string()))
    {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("backrunner: {e}");
            ExitCode::FAILURE
        }
    }
}
