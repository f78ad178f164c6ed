//! `/status/` in a real browser: headless Chromium loads the page (which
//! has no scripts and whose Content-Security-Policy forbids any, and any
//! resource from elsewhere), the numbers it shows are compared with `/stat/` and
//! `/metrics`, and a screenshot is saved under `target/ci-artifacts/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{json, Value};

use crate::common::{self, random_bytes, wait_for, Group, Proxy, Setup};
use crate::metrics::{scrape, value};

/// Every `data-check="NAME=VALUE"` of a page.
fn checks(dom: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for part in dom.split("data-check=\"").skip(1) {
        let attr = &part[..part.find('"').expect("closed attribute")];
        let attr = attr.replace("&amp;", "&").replace("&quot;", "\"");
        let (k, v) = attr.rsplit_once('=').expect("NAME=VALUE");
        out.insert(k.to_string(), v.to_string());
    }
    out
}

fn num(checks: &BTreeMap<String, String>, name: &str) -> f64 {
    let v = checks
        .get(name)
        .unwrap_or_else(|| panic!("the page shows no {name}: {:?}", checks.keys()));
    v.parse()
        .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
}

/// The DOM Chromium built from `url`.
fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = common::chromium::command(profile.path())
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "chromium --dump-dom: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 DOM")
}

/// Saves a screenshot of `url` as `target/ci-artifacts/NAME`.
fn screenshot(url: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ci-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    let _ = std::fs::remove_file(&file);
    let profile = tempfile::tempdir().unwrap();
    let out = common::chromium::command(profile.path())
        .args(["--hide-scrollbars", "--window-size=1400,2200"])
        .arg(format!("--screenshot={}", file.display()))
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium --screenshot: {}",
        out.status
    );
    let png = std::fs::read(&file).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{}",
        png.len()
    );
    file
}

/// Sum of `backrunner_http_requests_total` over `handlers`, in status `class` if given.
fn requests(s: &prometheus_parse::Scrape, handlers: &[&str], class: Option<&str>) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == "backrunner_http_requests_total")
        .filter(|x| handlers.iter().any(|h| x.labels.get("handler") == Some(*h)))
        .filter(|x| class.map_or(true, |c| x.labels.get("class") == Some(c)))
        .map(value)
        .sum()
}

#[test]
fn status_page_shows_what_stat_and_metrics_say() {
    if !common::installed("chromium", "--version") {
        return;
    }
    let tls = tempfile::tempdir().unwrap();
    let (cert, key) = common::self_signed(tls.path());
    let mut small = Group::new(3);
    small.size_limit = 1 << 20;
    // Limits well under the disk's free space, so a group's avail is its
    // limit less its use, not the file system's free space, which other
    // processes move between the page and /stat/.
    let (mut one, mut two) = (Group::new(1), Group::new(2));
    one.size_limit = 1 << 30;
    two.size_limit = 1 << 30;
    let setup = Setup {
        groups: vec![one, two, small],
        buckets: json!({"buckets": {
            "b1": {"groups": [1, 2]}, "b2": {"groups": [2, 3]}, "b4": {"groups": [4]}}}),
        proxy: json!({
            "https_address": format!("127.0.0.1:{}", common::free_port()),
            "cert_file": cert, "key_file": key,
        }),
        ..Setup::default()
    };
    let p = Proxy::start(setup);
    for i in 0..20 {
        let r = p.upload(
            "b1",
            &format!("k{i}"),
            random_bytes(10_000 + i * 100, i as u64),
        );
        assert_eq!(r.status(), 200);
    }
    // Group 3 past its free-space limits: 900 KiB of its 1 MiB.
    assert_eq!(
        p.upload("b2", "big", random_bytes(900 << 10, 7)).status(),
        200
    );
    for i in 0..10 {
        assert_eq!(p.get("b1", &format!("k{i}")).status(), 200);
    }
    // The name index's background merge (docs/index.md, "The log") done,
    // so no write moves the groups' use between the page and /stat/.
    p.index_merged();
    assert_eq!(p.get("b1", "absent").status(), 404);
    // b4's group does not exist: 503.
    assert_eq!(p.upload("b4", "k", b"x".to_vec()).status(), 503);
    // A replica deleted behind the proxy's back, found by a lookup.
    p.remove_replica("b1", "k1", 1);
    assert_eq!(p.json("/lookup/b1/k1")["out-of-sync-groups"], json!([1]));
    // The statistics update has seen every write.
    wait_for(
        "statistics with b2/big",
        std::time::Duration::from_secs(20),
        || {
            let st = p.json("/stat/b2");
            st["Buckets"]["b2"]["Group"]["3"]["Backends"][0]["FreeSpaceRatio"]
                .as_f64()
                .is_some_and(|r| r < 0.15)
        },
    );

    // One more statistics update (1 s apart) after the replica was deleted.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let stat: Value = p.json("/stat/");
    let metrics = scrape(&p);
    let url = p.url("/status/");
    let dom = dump_dom(&url);
    let stat_after: Value = p.json("/stat/");
    assert!(dom.contains("<h1>backrunner on"), "{dom}");
    assert!(!dom.contains("<script"), "the page has no scripts");
    for external in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!dom.contains(external), "external resource {external}");
    }
    let c = checks(&dom);

    // Cluster numbers against /stat/.
    let mut backends = 0;
    for (bucket, b) in stat["Buckets"].as_object().unwrap() {
        // Pain includes the smoothed write cost, which moves with every
        // statistics update: the page's lies between /stat/ before and after.
        let pain = num(&c, &format!("bucket_pain/{bucket}"));
        let (a, z) = (
            b["Pain"].as_f64().unwrap(),
            stat_after["Buckets"][bucket]["Pain"].as_f64().unwrap(),
        );
        assert!(
            pain >= a.min(z) * 0.99 && pain <= a.max(z) * 1.01,
            "{bucket}: page pain {pain}, /stat/ {a} then {z}"
        );
        assert_eq!(
            num(&c, &format!("discrepancy/{bucket}")),
            b["RecordsDiscrepancy"].as_f64().unwrap()
        );
        for (g, group) in b["Group"].as_object().unwrap() {
            for be in group["Backends"].as_array().unwrap() {
                backends += 1;
                let k = format!("{g}/{}/{}", be["Address"].as_str().unwrap(), be["Backend"]);
                let vfs = &be["Stat"]["VFS"];
                assert_eq!(
                    num(&c, &format!("avail/{k}")),
                    vfs["Avail"].as_f64().unwrap(),
                    "{k}"
                );
                assert_eq!(
                    num(&c, &format!("total/{k}")),
                    vfs["Total"].as_f64().unwrap(),
                    "{k}"
                );
                assert_eq!(
                    num(&c, &format!("records/{k}")),
                    vfs["RecordsTotal"].as_f64().unwrap(),
                    "{k}"
                );
                let free = num(&c, &format!("free_ratio/{k}"));
                assert!(
                    (free - be["FreeSpaceRatio"].as_f64().unwrap()).abs() < 1e-9,
                    "{k}"
                );
            }
        }
    }
    assert!(backends >= 3, "{stat}");
    let oos: u64 = stat["Buckets"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|b| b["Group"].as_object().unwrap().values())
        .map(|g| g["OutOfSyncReplicas"].as_u64().unwrap())
        .sum();
    // /stat/ counts a group once per bucket holding it; the page sums pairs.
    assert_eq!(num(&c, "out_of_sync"), oos as f64);
    assert!(oos >= 1);

    // Proxy numbers against /metrics (scraped before the page: only
    // monitoring requests happened in between).
    assert_eq!(
        num(&c, "requests/write"),
        requests(&metrics, &["upload", "nobucket_upload"], None)
    );
    assert_eq!(num(&c, "requests/write"), 22.0);
    assert_eq!(
        num(&c, "5xx/write"),
        requests(&metrics, &["upload"], Some("5xx"))
    );
    assert_eq!(num(&c, "5xx/write"), 1.0);
    let reads = ["get", "lookup", "redirect", "/"];
    assert_eq!(num(&c, "requests/read"), requests(&metrics, &reads, None));
    assert_eq!(num(&c, "4xx/read"), requests(&metrics, &reads, Some("4xx")));
    for (name, metric) in [
        ("index_updates", "backrunner_index_updates_total"),
        ("index_failures", "backrunner_index_failures_total"),
        ("index_pending", "backrunner_index_pending_updates"),
    ] {
        let m = crate::metrics::find(&metrics, metric, &[]).map(value);
        assert_eq!(Some(num(&c, name)), m, "{name}");
    }
    let group3 = metrics
        .samples
        .iter()
        .find(|x| {
            x.metric == "backrunner_backend_free_space_ratio" && x.labels.get("group") == Some("3")
        })
        .map(value)
        .expect("free-space ratio of group 3");
    let k3 = c
        .keys()
        .find(|k| k.starts_with("free_ratio/3/"))
        .expect("group 3 shown")
        .clone();
    assert!((num(&c, &k3) - group3).abs() < 1e-9);
    assert!(
        dom.contains("past the hard free-space limit"),
        "group 3's reason"
    );
    // The certificate: expiry time on the page, seconds left in /metrics.
    let left = crate::metrics::find(&metrics, "backrunner_tls_certificate_expiry_seconds", &[])
        .map(value)
        .expect("certificate expiry metric");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((num(&c, "cert_expiry") - (now + left)).abs() < 120.0);
    assert!(
        (1.0 * 86_400.0..2.0 * 86_400.0 + 60.0).contains(&left),
        "{left}"
    );
    // The config is shown, without secrets.
    assert!(dom.contains("free-space-ratio-hard") || dom.contains("free_space_ratio_hard"));

    // Readable without JavaScript, nothing fetched from elsewhere.
    let r = p.get_path("/status/");
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'none'"),
        "{csp}"
    );

    // ?refresh=N asks the browser to reload, at least every 5 s.
    let r = p.get_path("/status/?refresh=1").text().unwrap();
    assert!(r.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(!p
        .get_path("/status/")
        .text()
        .unwrap()
        .contains("http-equiv"));

    let shot = screenshot(&url, "status-page.png");
    eprintln!("status page screenshot: {}", shot.display());
}
