//! `/metrics` in the Prometheus text format, `/proxy_stat/` moving
//! averages and `/stat/` command counters, against the running binary.

use crate::common::{random_bytes, wait_for, Proxy, Setup};
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::Value as Json;

/// `/metrics`, parsed (its content type and `# EOF` checked).
pub fn scrape(p: &Proxy) -> Scrape {
    let r = p.get_path("/metrics");
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = r.text().unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

/// A sample's value (a histogram's count).
pub fn value(s: &Sample) -> f64 {
    match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(h) => h.last().map_or(0.0, |c| c.count),
        Value::Summary(_) => panic!("no summaries expected"),
    }
}

/// The sample of `metric` with `labels`.
pub fn find<'a>(s: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    s.samples
        .iter()
        .find(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
}

#[test]
fn metrics_parse_and_count_requests() {
    let p = Proxy::start(Setup::default());
    for i in 0..5 {
        assert_eq!(
            p.upload("b1", &format!("k{i}"), random_bytes(1000, i))
                .status(),
            200
        );
    }
    assert_eq!(p.get("b1", "k0").status(), 200);
    assert_eq!(p.get("b1", "missing").status(), 404);
    let s = scrape(&p);
    let uploads = find(
        &s,
        "backrunner_http_requests_total",
        &[("handler", "upload"), ("class", "2xx")],
    )
    .expect("upload counter");
    assert_eq!(value(uploads), 5.0);
    let misses = find(
        &s,
        "backrunner_http_requests_total",
        &[("handler", "get"), ("class", "4xx")],
    )
    .expect("404 counter");
    assert_eq!(value(misses), 1.0);
    let latency = find(
        &s,
        "backrunner_http_request_duration_seconds",
        &[("handler", "upload"), ("class", "2xx")],
    )
    .expect("latency histogram");
    match &latency.value {
        Value::Histogram(h) => {
            assert!(h.len() > 10);
            assert_eq!(h.last().unwrap().count, 5.0, "{h:?}");
        }
        v => panic!("latency is not a histogram: {v:?}"),
    }
    let bytes_in = find(
        &s,
        "backrunner_http_request_bytes_total",
        &[("handler", "upload")],
    )
    .unwrap();
    assert_eq!(value(bytes_in), 5000.0);
    let bytes_out = find(
        &s,
        "backrunner_http_response_bytes_total",
        &[("handler", "get")],
    )
    .unwrap();
    assert!(value(bytes_out) >= 1000.0);
    // Cluster gauges come from the statistics cache.
    let used = find(
        &s,
        "backrunner_backend_space_bytes",
        &[("group", "2"), ("kind", "used")],
    )
    .expect("backend space");
    assert!(value(used) >= 5000.0, "{used:?}");
    assert!(find(&s, "backrunner_backend_pain", &[("group", "1")]).is_some());
    // Command counters arrive with the next statistics update (1 s in tests).
    let writes = |s: &Scrape| {
        find(
            s,
            "backrunner_backend_commands_total",
            &[("group", "2"), ("command", "WRITE")],
        )
        .map_or(0.0, value)
    };
    let mut seen = writes(&s);
    for _ in 0..50 {
        if seen >= 5.0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        seen = writes(&scrape(&p));
    }
    assert!(seen >= 5.0, "{seen}");
    assert!(find(&s, "backrunner_reload_errors_total", &[]).is_some());
    assert!(find(&s, "backrunner_uptime_seconds", &[]).is_some());
}

#[test]
fn metrics_count_out_of_sync_replicas_and_reloads() {
    let p = Proxy::start(Setup::default());
    assert_eq!(p.upload("b1", "obj", b"hello".to_vec()).status(), 200);
    p.remove_replica("b1", "obj", 1);
    let v = p.json("/lookup/b1/obj");
    assert_eq!(v["out-of-sync-groups"], serde_json::json!([1]));
    p.signal("HUP");
    let mut ok = false;
    for _ in 0..50 {
        let s = scrape(&p);
        let oos = find(
            &s,
            "backrunner_replicas_out_of_sync_total",
            &[("bucket", "b1"), ("group", "1")],
        );
        let reloads: f64 = s
            .samples
            .iter()
            .filter(|x| x.metric == "backrunner_reload_signals_total")
            .map(value)
            .sum();
        if oos.map(value) == Some(1.0) && reloads == 1.0 {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ok, "{:?}", p.get_path("/metrics").text().unwrap());
}

#[test]
fn proxy_stat_keeps_moving_averages_by_code_and_class() {
    let p = Proxy::start(Setup::default());
    for i in 0..4 {
        assert_eq!(
            p.upload("b2", &format!("k{i}"), random_bytes(2000, i))
                .status(),
            200
        );
    }
    let v: Json = p.json("/proxy_stat/");
    let rs = &v["handlers"]["upload"]["RS"];
    for key in ["200", "2xx"] {
        assert_eq!(rs[key]["Requests"], 4, "{v}");
        assert!(rs[key]["RPS"].as_f64().unwrap() > 0.0, "{v}");
        assert!(rs[key]["BPS"].as_f64().unwrap() > 0.0, "{v}");
    }
    assert!(v["BucketCtlStat"]["Hostname"].is_string());
}

/// Backrunner's own `test_stats_update`: `/stat/`'s WRITE `RequestsSuccess`
/// grows by the uploads; `RPSSuccess` and `BPS` are the counters'
/// differences over the time between two statistics updates.
#[test]
fn stat_counts_writes_and_their_rates() {
    // Without the name index, whose shard writes would add to group 1's
    // counters bytes that depend on which uploads an interval saw.
    let p = Proxy::start(Setup {
        proxy: serde_json::json!({"name-index": false}),
        ..Setup::default()
    });
    let write = |v: &Json| {
        v["Buckets"]["b1"]["Group"]["1"]["Backends"][0]["Stat"]["Commands"]["WRITE"].clone()
    };
    let before = write(&p.json("/stat/"))["RequestsSuccess"]
        .as_u64()
        .unwrap();
    let n = 50;
    for i in 0..n {
        let r = p.upload("b1", &format!("k{i}"), random_bytes(1000, i));
        assert_eq!(r.status(), 200);
    }
    // The first update that counts the last upload also rates it.
    let mut seen = Json::Null;
    wait_for(
        "WRITE counters and rates",
        std::time::Duration::from_secs(20),
        || {
            seen = write(&p.json("/stat/"));
            seen["RequestsSuccess"].as_u64() >= Some(before + n)
                && seen["RPSSuccess"].as_f64() > Some(0.0)
        },
    );
    assert_eq!(seen["RequestsSuccess"], before + n, "{seen}");
    assert_eq!(seen["RequestsFailures"], 0, "{seen}");
    assert_eq!(seen["RPSFailures"], 0.0, "{seen}");
    let (rps, bps) = (
        seen["RPSSuccess"].as_f64().unwrap(),
        seen["BPS"].as_f64().unwrap(),
    );
    // At least one interval (1 s) passes between updates.
    assert!(rps <= n as f64, "{seen}");
    // Every upload moved 1000 bytes.
    let per_request = bps / rps;
    assert!(
        (999.999..1100.0).contains(&per_request),
        "{per_request} vs 1000: {seen}"
    );
    // With no more writes, the next interval's rates are 0 again.
    wait_for(
        "rates back to 0",
        std::time::Duration::from_secs(20),
        || {
            let w = write(&p.json("/stat/"));
            w["RPSSuccess"] == 0.0 && w["BPS"] == 0.0
        },
    );
}
