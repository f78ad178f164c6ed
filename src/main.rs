//! `backrunner -config FILE [-buckets FILE]`: the HTTP proxy.

use std::process::ExitCode;

use actix_web::web;
use clap::Parser;

use backrunner::cli::{normalize_args, ProxyArgs};
use backrunner::config::Config;
use backrunner::state::{AppState, Sources};
use backrunner::{http, storage};

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
    match actix_web::rt::System::new().block_on(http::serve(state)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backrunner: {e}");
            ExitCode::FAILURE
        }
    }
}
