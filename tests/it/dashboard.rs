//! packaging/grafana/backrunner.json and packaging/prometheus/alerts.yml
//! name only metrics the proxy exports: every `backrunner_*` name in a
//! panel query, a dashboard variable or an alert expression must be a
//! series of a real scrape (name index on, an HTTPS listener, a bucket with
//! traffic, so every family has samples). The panel queries must also be
//! PromQL: promtool checks them as recording rules.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use crate::common::{self, random_bytes, Proxy, Setup};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `backrunner_*` names in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("backrunner_") {
        let before = rest[..i].chars().next_back();
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '#') {
            out.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

/// Every query of the dashboard: panel targets and variable queries.
fn dashboard_queries(d: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(t["expr"].as_str().expect("a target's expr").to_string());
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["definition"].as_str() {
            out.push(q.to_string());
        }
    }
    out
}

#[test]
fn dashboard_and_alerts_name_exported_metrics() {
    let tls = tempfile::tempdir().unwrap();
    let (cert, key) = common::self_signed(tls.path());
    let p = Proxy::start(Setup {
        proxy: json!({
            "https_address": format!("127.0.0.1:{}", common::free_port()),
            "cert_file": cert, "key_file": key,
        }),
        ..Setup::default()
    });
    assert_eq!(p.upload("b1", "k", random_bytes(3000, 1)).status(), 200);
    assert_eq!(p.get("b1", "k").status(), 200);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let text = p.get_path("/metrics").text().unwrap();
    let exported: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l[..l.find(['{', ' ']).unwrap()].to_string())
        .collect();

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("packaging/grafana/backrunner.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 15, "{queries:?}");
    let rules = std::fs::read_to_string(repo().join("packaging/prometheus/alerts.yml")).unwrap();
    let mut used = BTreeSet::new();
    for q in queries.iter().map(String::as_str).chain([rules.as_str()]) {
        for name in metric_names(q) {
            assert!(
                exported.contains(&name),
                "{name} (in {q}) is not exported; /metrics has {exported:?}"
            );
            used.insert(name);
        }
    }
    // The dashboard and the rules read what the status page shows.
    for must in [
        "backrunner_backend_free_space_ratio",
        "backrunner_http_request_duration_seconds_bucket",
        "backrunner_replicas_out_of_sync_total",
        "backrunner_index_failures_total",
        "backrunner_tls_certificate_expiry_seconds",
    ] {
        assert!(used.contains(must), "{must} is not used");
    }

    // The panel queries parse: promtool checks them as recording rules.
    if !common::installed("promtool", "--version") {
        return;
    }
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, q) in queries.iter().enumerate() {
        let q = q
            .replace("$__rate_interval", "5m")
            .replace("$instance", ".*")
            .replace('\'', "''");
        if q.starts_with("label_values(") {
            continue;
        }
        file.push_str(&format!(
            "      - record: dashboard_query_{i}\n        expr: '{q}'\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard_rules.yml");
    std::fs::write(&path, file).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metric_names_are_found_in_expressions() {
    let names = metric_names(
        "sum by (le) (rate(backrunner_a_total{x=\"y\"}[5m])) / backrunner_b + my_backrunner_c",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["backrunner_a_total", "backrunner_b"]
    );
}
