//! packaging/prometheus/alerts.yml: `promtool check rules`, then
//! `promtool test rules` against `/metrics` scrapes recorded from a proxy
//! put into each state an alert is for. Each scenario scrapes a healthy
//! proxy, puts it into the state and scrapes again; the series given to
//! promtool hold the first scrape for 10 minutes, then the second, with
//! counters going on growing by what they grew between the scrapes each
//! minute (the state persists). Every alert must stay quiet on the healthy
//! part (minute 9) and exactly the alerts of tests/prometheus/alerts_test.yml
//! fire at minute 40. The recorded scrapes are kept in
//! `target/ci-artifacts/scrapes/`. The scenarios run on the suite's
//! store: they damage replicas behind the proxy's back in the embedded
//! store's files or through a second Elliptics client.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::common::{self, eventually, random_bytes, wait_for, Group, Proxy, Setup};
use crate::hardening::{corrupted, flip_bit, replica};

const JOB: &str = "job=\"backrunner\",instance=\"proxy\"";
/// Minutes of the healthy part, then of the state.
const BEFORE: u32 = 10;
const AFTER: u32 = 50;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scrape: series (with the job's labels) to value. `None` = the scrape failed.
type Recorded = Option<BTreeMap<String, f64>>;

/// What a scenario names in its expectations: `{NAME}` there is replaced
/// by the value (a backend's group and address, known once it ran).
type Names = Vec<(&'static str, String)>;

/// A state to put a proxy in: its scrapes before and after.
type Scenario = fn() -> (Recorded, Recorded, Names);

fn record(p: &Proxy, name: &str) -> Recorded {
    let r = p.client.get(p.url("/metrics")).send().ok()?;
    let text = r.text().ok()?;
    let dir = repo().join("target/ci-artifacts/scrapes");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.txt")), &text).unwrap();
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("SERIES VALUE");
        let series = match series.strip_suffix('}') {
            Some(s) => format!("{s},{JOB}}}"),
            None => format!("{series}{{{JOB}}}"),
        };
        out.insert(series, value.parse::<f64>().expect("a number"));
    }
    Some(out)
}

fn is_counter(series: &str) -> bool {
    let name = &series[..series.find('{').unwrap_or(series.len())];
    ["_total", "_count", "_sum", "_bucket"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// promtool's `input_series` from the two scrapes.
fn input_series(before: &Recorded, after: &Recorded) -> String {
    let empty = BTreeMap::new();
    let (a, b) = (
        before.as_ref().expect("the healthy proxy answers"),
        after.as_ref().unwrap_or(&empty),
    );
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = String::new();
    let up = |v: u8| format!("{v}+0x{}", BEFORE - 1);
    let _ = writeln!(
        out,
        "      - series: 'up{{{JOB}}}'\n        values: '{} {}+0x{}'",
        up(1),
        u8::from(after.is_some()),
        AFTER
    );
    for n in names {
        let first = match a.get(n) {
            Some(v) => format!("{v}+0x{}", BEFORE - 1),
            None => format!("_x{BEFORE}"),
        };
        let then = match b.get(n) {
            Some(v) if is_counter(n) => {
                let grew = v - a.get(n).copied().unwrap_or(0.0);
                format!("{v}+{grew}x{AFTER}")
            }
            Some(v) => format!("{v}+0x{AFTER}"),
            None => format!("_x{}", AFTER + 1),
        };
        let _ = writeln!(
            out,
            "      - series: '{}'\n        values: '{first} {then}'",
            n.replace('\'', "''")
        );
    }
    out
}

/// Every alert's name in the rules.
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(|n| n.trim().to_string())
        .collect()
}

/// The expectations of each scenario in tests/prometheus/alerts_test.yml:
/// `# scenario: NAME` starts the `alert_rule_test` entries of NAME.
fn expectations() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo().join("tests/prometheus/alerts_test.yml")).unwrap();
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("# scenario: ") {
            current = Some(name.trim().to_string());
            out.insert(name.trim().to_string(), String::new());
        } else if let Some(c) = &current {
            let s = out.get_mut(c).unwrap();
            s.push_str(line);
            s.push('\n');
        }
    }
    out
}

/// One promtool test group: quiet on the healthy part, the scenario's
/// expectations at minute 40 and quiet there for every other alert but
/// those the scenario marks `# unchecked: NAME`.
fn test_group(alerts: &[String], expect: &str, series: &str) -> String {
    let mut t = format!("  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n");
    for a in alerts {
        let _ = writeln!(
            t,
            "      - eval_time: {}m\n        alertname: {a}\n        exp_alerts: []",
            BEFORE - 1
        );
        let unchecked = expect.contains(&format!("# unchecked: {a}\n"));
        if !unchecked && !expect.contains(&format!("alertname: {a}\n")) {
            let _ = writeln!(
                t,
                "      - eval_time: 40m\n        alertname: {a}\n        exp_alerts: []"
            );
        }
    }
    t.push_str(expect);
    t
}

fn wait_stat(p: &Proxy) {
    // Two statistics updates (1 s apart in the tests' config).
    std::thread::sleep(Duration::from_millis(2500));
    let _ = p.json("/stat/");
}

fn group_full() -> (Recorded, Recorded, Names) {
    let mut small = Group::new(3);
    small.size_limit = 1 << 20;
    let p = Proxy::start(Setup {
        groups: vec![Group::new(1), Group::new(2), small],
        ..Setup::default()
    });
    wait_stat(&p);
    let a = record(&p, "group_full-before");
    assert_eq!(
        p.upload("b2", "big", random_bytes(900 << 10, 1)).status(),
        200
    );
    wait_for("group 3 past its limits", Duration::from_secs(20), || {
        p.json("/stat/b2")["Buckets"]["b2"]["Group"]["3"]["Backends"][0]["FreeSpaceRatio"]
            .as_f64()
            .is_some_and(|r| r < 0.15)
    });
    wait_stat(&p);
    (a, record(&p, "group_full-after"), vec![])
}

fn backend_error() -> (Recorded, Recorded, Names) {
    let p = Proxy::start(Setup::default());
    assert_eq!(p.upload("b1", "k", random_bytes(5000, 2)).status(), 200);
    wait_stat(&p);
    let a = record(&p, "backend_error-before");
    // One replica rots on disk: its checksum no longer matches. Which one
    // a read meets first is placement's choice: group 2's, else (good
    // again) group 1's, so the other stays good and every read succeeds.
    let rotted = [2, 1].into_iter().find(|&g| {
        let (file, offset) = replica(&p, "b1", "k", g);
        flip_bit(&file, offset, 100);
        for _ in 0..3 {
            assert_eq!(p.get("b1", "k").status(), 200);
        }
        let seen = eventually(Duration::from_secs(4), || corrupted(&p, "b1", g) >= 1);
        if !seen {
            flip_bit(&file, offset, 100);
        }
        seen
    });
    let group = rotted.expect("a read met the rotten replica");
    wait_stat(&p);
    let stat = p.json("/stat/b1");
    let backend = &stat["Buckets"]["b1"]["Group"][group.to_string()]["Backends"][0];
    let names = vec![
        ("GROUP", group.to_string()),
        ("BACKEND", backend["Backend"].to_string()),
        ("ADDRESS", backend["Address"].as_str().unwrap().to_string()),
    ];
    (a, record(&p, "backend_error-after"), names)
}

fn out_of_sync() -> (Recorded, Recorded, Names) {
    let p = Proxy::start(Setup::default());
    assert_eq!(p.upload("b1", "obj", b"hello".to_vec()).status(), 200);
    wait_stat(&p);
    let a = record(&p, "out_of_sync-before");
    p.remove_replica("b1", "obj", 1);
    assert_eq!(p.json("/lookup/b1/obj")["out-of-sync-groups"], json!([1]));
    (a, record(&p, "out_of_sync-after"), vec![])
}

fn index_failures() -> (Recorded, Recorded, Names) {
    let p = Proxy::start(Setup::default());
    assert_eq!(p.upload("b2", "first", b"x".to_vec()).status(), 200);
    wait_stat(&p);
    let a = record(&p, "index_failures-before");
    // The name index of b2 rots: index updates fail, the objects are
    // still written.
    match &p.ioserv {
        Some(io) => {
            // Its root and its only shard, in b2's groups.
            for key in ["root".to_string(), backrunner::index::shard_key(0)] {
                io.write("b2/index", &key, &[2, 3], b"rotten");
            }
        }
        None => {
            // b2's groups (2, 3) hold no bucket metadata: every file there
            // but the object's is the name index.
            let object: Vec<String> = p.json("/lookup/b2/first")["info"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["filename"].as_str().unwrap().to_string())
                .collect();
            for g in [2, 3] {
                let mut all = Vec::new();
                common::files_under(&p.dir.path().join(format!("store/group-{g}")), &mut all);
                for f in all {
                    if !object.contains(&f.display().to_string()) {
                        std::fs::write(&f, b"rotten").unwrap();
                    }
                }
            }
        }
    }
    for i in 0..3 {
        assert_eq!(
            p.upload("b2", &format!("k{i}"), b"y".to_vec()).status(),
            200
        );
    }
    wait_stat(&p);
    (a, record(&p, "index_failures-after"), vec![])
}

fn http_5xx() -> (Recorded, Recorded, Names) {
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1, 2]}, "b4": {"groups": [4]}}}),
        bucket_list: vec!["b1".into()],
        ..Setup::default()
    });
    assert_eq!(p.upload("b1", "k", b"x".to_vec()).status(), 200);
    let a = record(&p, "http_5xx-before");
    for i in 0..20 {
        assert_eq!(
            p.upload("b4", &format!("k{i}"), b"x".to_vec()).status(),
            503
        );
        assert_eq!(p.get("b1", "k").status(), 200);
    }
    (a, record(&p, "http_5xx-after"), vec![])
}

fn certificate(dir: &Path, days: u32) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days"])
        .arg(days.to_string())
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(out.status.success());
    (cert, key)
}

fn certificate_expiring() -> (Recorded, Recorded, Names) {
    let tls = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(tls.path(), 90);
    let p = Proxy::start(Setup {
        proxy: json!({
            "https_address": format!("127.0.0.1:{}", common::free_port()),
            "cert_file": cert, "key_file": key,
        }),
        ..Setup::default()
    });
    let a = record(&p, "certificate_expiring-before");
    // The renewal that did not happen: a certificate with 5 days left.
    certificate(tls.path(), 5);
    p.signal("HUP");
    wait_for("the new certificate", Duration::from_secs(10), || {
        record(&p, "certificate_expiring-after")
            .and_then(|s| {
                s.get(&format!(
                    "backrunner_tls_certificate_expiry_seconds{{{JOB}}}"
                ))
                .copied()
            })
            .is_some_and(|left| left < 6.0 * 86_400.0)
    });
    (a, record(&p, "certificate_expiring-after"), vec![])
}

fn down() -> (Recorded, Recorded, Names) {
    let mut p = Proxy::start(Setup::default());
    let a = record(&p, "down-before");
    if let Some(mut c) = p.child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    let b = record(&p, "down-after");
    assert!(b.is_none(), "a killed proxy answered");
    (a, b, vec![])
}

#[test]
fn alert_rules_fire_in_the_states_they_are_for() {
    if !common::installed("promtool", "--version") {
        return;
    }
    let rules_path = repo().join("packaging/prometheus/alerts.yml");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let alerts = alert_names(&std::fs::read_to_string(&rules_path).unwrap());
    assert!(alerts.len() >= 7, "{alerts:?}");
    let expect = expectations();
    let scenarios: [(&str, Scenario); 7] = [
        ("group_full", group_full),
        ("backend_error", backend_error),
        ("out_of_sync", out_of_sync),
        ("index_failures", index_failures),
        ("http_5xx", http_5xx),
        ("certificate_expiring", certificate_expiring),
        ("down", down),
    ];
    // Every alert is expected to fire in some scenario.
    for a in &alerts {
        assert!(
            expect
                .values()
                .any(|e| e.contains(&format!("alertname: {a}\n"))),
            "no scenario fires {a}"
        );
    }
    let mut file = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n",
        rules_path.display()
    );
    for (name, run) in scenarios {
        let e = expect
            .get(name)
            .unwrap_or_else(|| panic!("no expectations for {name}"));
        let (a, b, names) = run();
        let e = names
            .iter()
            .fold(e.clone(), |e, (n, v)| e.replace(&format!("{{{n}}}"), v));
        let left = e
            .match_indices('{')
            .any(|(i, _)| e[i + 1..].starts_with(|c: char| c.is_ascii_uppercase()));
        assert!(!left, "{name}: a name not given in {e}");
        file.push_str(&format!("  # {name}\n"));
        file.push_str(&test_group(&alerts, &e, &input_series(&a, &b)));
    }
    let dir = repo().join("target/ci-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let test_file = dir.join("alerts_test.yml");
    std::fs::write(&test_file, &file).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&test_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules {}:\n{}{}",
        test_file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
