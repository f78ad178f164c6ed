//! The integration tests: one crate, so the harness in `common` compiles
//! once. Each module is one area of behaviour, checked over HTTP against the
//! real binaries (`cargo test --test it api::` runs one area).

mod common;

mod alerts;
mod api;
mod attacks;
mod attacks_s3;
mod backrunner_replies;
mod browser;
mod cas;
mod check_config;
mod cli;
mod cluster_faults;
mod compat;
mod connection_budget;
mod dashboard;
mod elliptics;
mod hardening;
mod index_crash;
mod keepalive;
mod logging;
mod metrics;
mod parsers_fuzz;
mod placement;
mod progress;
mod redirect;
mod reload;
mod s3;
mod s3_access;
mod s3_checksums;
mod s3_cli;
mod s3_clients;
mod s3_empty;
mod s3_list;
mod s3_multipart;
mod s3_multipart_big;
mod s3_parts;
mod s3_presign;
mod s3_sigv2;
mod s3_sync;
mod s3_tagging;
mod s3_versions;
mod s3_wire;
mod security;
mod static_root;
mod status_page;
mod streaming;
mod structure;
mod tls;
mod vod;
mod vod_players;
mod vod_replicas;
mod vod_titles;
mod vod_tokens;
mod write_races;
