//! HTTPS beside HTTP against the running binary, with certificates made at
//! test time by the `openssl` command line tool and a `curl` client.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{config_json, eventually, free_port, random_bytes, Proxy, Setup, BACKRUNNER};
use serde_json::json;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Key kinds a server may be given.
#[derive(Clone, Copy, Debug)]
enum KeyKind {
    RsaPkcs8,
    RsaTraditional,
    EcPkcs8,
    EcTraditional,
}

/// A test PKI: root CA -> intermediate CA -> server certificates.
struct Pki {
    dir: PathBuf,
    root: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let dir = dir.join("pki");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("ca.ext"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "root.key",
                "-out",
                "root.pem",
                "-days",
                "2",
                "-subj",
                "/CN=test-root",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "int.key",
                "-out",
                "int.csr",
                "-subj",
                "/CN=test-intermediate",
            ],
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "int.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-CAcreateserial",
                "-out",
                "int.pem",
                "-days",
                "2",
                "-extfile",
                "ca.ext",
            ],
        );
        Pki {
            root: dir.join("root.pem"),
            dir,
        }
    }

    /// A server key and a chain file (server certificate + intermediate) for
    /// `localhost` and 127.0.0.1, with `name` as its common name.
    fn server(&self, name: &str, kind: KeyKind) -> (PathBuf, PathBuf) {
        let key = format!("{name}.key");
        match kind {
            KeyKind::RsaPkcs8 => openssl(
                &self.dir,
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    &key,
                ],
            ),
            KeyKind::RsaTraditional => {
                openssl(&self.dir, &["genrsa", "-traditional", "-out", &key, "2048"])
            }
            KeyKind::EcPkcs8 => openssl(
                &self.dir,
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                    &key,
                ],
            ),
            KeyKind::EcTraditional => openssl(
                &self.dir,
                &[
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                    &key,
                ],
            ),
        }
        let pem = std::fs::read_to_string(self.dir.join(&key)).unwrap();
        let want = match kind {
            KeyKind::RsaPkcs8 | KeyKind::EcPkcs8 => "BEGIN PRIVATE KEY",
            KeyKind::RsaTraditional => "BEGIN RSA PRIVATE KEY",
            KeyKind::EcTraditional => "BEGIN EC PRIVATE KEY",
        };
        assert!(pem.contains(want), "{kind:?}: {pem}");
        std::fs::write(
            self.dir.join(format!("{name}.ext")),
            "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n\
             subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        let csr = format!("{name}.csr");
        let cert = format!("{name}.pem");
        let ext = format!("{name}.ext");
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "int.pem",
                "-CAkey",
                "int.key",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        let chain = self.dir.join(format!("{name}.chain.pem"));
        let mut text = std::fs::read_to_string(self.dir.join(&cert)).unwrap();
        text += &std::fs::read_to_string(self.dir.join("int.pem")).unwrap();
        std::fs::write(&chain, text).unwrap();
        (chain, self.dir.join(key))
    }
}

struct CurlOut {
    ok: bool,
    code: u16,
    version: String,
    body: Vec<u8>,
    stderr: String,
}

static CURL_N: AtomicUsize = AtomicUsize::new(0);

fn curl(dir: &Path, args: &[&str]) -> CurlOut {
    let out_path = dir.join(format!(
        "curl-{}.out",
        CURL_N.fetch_add(1, Ordering::SeqCst)
    ));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o"])
        .arg(&out_path)
        .args(["-w", "%{http_code} %{http_version}"])
        .args(args)
        .output()
        .expect("run curl");
    let w = String::from_utf8_lossy(&out.stdout).to_string();
    let (code, version) = w.split_once(' ').unwrap_or(("0", ""));
    CurlOut {
        ok: out.status.success(),
        code: code.parse().unwrap_or(0),
        version: version.to_string(),
        body: std::fs::read(&out_path).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// The common name of the certificate served on `port`, seen by a verifying
/// client, through `host` (an IP: no SNI; `localhost`: SNI).
fn served_cn(dir: &Path, root: &Path, host: &str, port: u16) -> String {
    let url = format!("https://{host}:{port}/ping/");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let out = curl(
        dir,
        &[
            "-v",
            "--cacert",
            root.to_str().unwrap(),
            "--resolve",
            &resolve,
            &url,
        ],
    );
    assert!(out.ok && out.code == 200, "{url}: {}", out.stderr);
    out.stderr
        .lines()
        .find_map(|l| {
            l.split_once("subject: CN=")
                .map(|(_, cn)| cn.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no subject in {}", out.stderr))
}

fn tls_setup(cert: &Path, key: &Path, https_port: u16) -> Setup {
    Setup {
        proxy: json!({
            "https_address": format!("127.0.0.1:{https_port}"),
            "cert_file": cert,
            "key_file": key,
        }),
        ..Setup::default()
    }
}

#[test]
fn http_and_https_at_once_for_every_key_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let root = pki.root.to_str().unwrap().to_string();
    for (i, kind) in [
        KeyKind::RsaPkcs8,
        KeyKind::RsaTraditional,
        KeyKind::EcPkcs8,
        KeyKind::EcTraditional,
    ]
    .into_iter()
    .enumerate()
    {
        let (cert, key) = pki.server(&format!("server-{i}"), kind);
        let port = free_port();
        let p = Proxy::start(tls_setup(&cert, &key, port));
        // Upload over TLS (HTTP/1.1), read back over plain HTTP.
        let body = random_bytes(300_000 + i, i as u64);
        let file = tmp.path().join(format!("body-{i}"));
        std::fs::write(&file, &body).unwrap();
        let up = curl(
            tmp.path(),
            &[
                "--http1.1",
                "--cacert",
                &root,
                "--data-binary",
                &format!("@{}", file.display()),
                &format!("https://127.0.0.1:{port}/upload/b1/tls-{i}"),
            ],
        );
        assert!(
            up.ok && up.code == 200,
            "{kind:?}: {} {}",
            up.code,
            up.stderr
        );
        assert_eq!(up.version, "1.1");
        let got = p.get("b1", &format!("tls-{i}"));
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().unwrap().as_ref(), &body[..], "{kind:?}");
        // And the other way round, through SNI, TLS 1.2 and 1.3 both.
        assert_eq!(p.upload("b1", "plain", b"over http".to_vec()).status(), 200);
        for tls in [
            ["--tlsv1.2", "--tls-max", "1.2"],
            ["--tlsv1.3", "--tls-max", "1.3"],
        ] {
            let down = curl(
                tmp.path(),
                &[
                    tls[0],
                    tls[1],
                    tls[2],
                    "--cacert",
                    &root,
                    "--resolve",
                    &format!("localhost:{port}:127.0.0.1"),
                    &format!("https://localhost:{port}/get/b1/plain"),
                ],
            );
            assert!(
                down.ok && down.code == 200,
                "{kind:?} {tls:?}: {}",
                down.stderr
            );
            assert_eq!(down.body, b"over http");
        }
        assert_eq!(
            served_cn(tmp.path(), &pki.root, "127.0.0.1", port),
            format!("server-{i}")
        );
    }
}

#[test]
fn http2_is_negotiated_over_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let root = pki.root.to_str().unwrap().to_string();
    let (cert, key) = pki.server("h2", KeyKind::EcPkcs8);
    let port = free_port();
    let p = Proxy::start(tls_setup(&cert, &key, port));
    let body = random_bytes(2 << 20, 5);
    assert_eq!(p.upload("b1", "big", body.clone()).status(), 200);
    for host in ["127.0.0.1", "localhost"] {
        let out = curl(
            tmp.path(),
            &[
                "--http2",
                "--cacert",
                &root,
                "--resolve",
                &format!("localhost:{port}:127.0.0.1"),
                &format!("https://{host}:{port}/get/b1/big"),
            ],
        );
        assert!(out.ok && out.code == 200, "{}", out.stderr);
        assert_eq!(out.version, "2", "{host}");
        assert!(out.body == body, "{host}: body differs");
    }
    // A client that offers only HTTP/1.1 keeps it.
    let out = curl(
        tmp.path(),
        &[
            "--http1.1",
            "--cacert",
            &root,
            &format!("https://127.0.0.1:{port}/ping/"),
        ],
    );
    assert_eq!(
        (out.code, out.version.as_str()),
        (200, "1.1"),
        "{}",
        out.stderr
    );
}

#[test]
fn https_only_without_plain_http() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let (cert, key) = pki.server("only", KeyKind::RsaPkcs8);
    let port = free_port();
    let mut setup = tls_setup(&cert, &key, port);
    setup.proxy["address"] = json!("");
    let mut child = start_raw(tmp.path(), &setup);
    let mut stderr = String::new();
    let answered = eventually(Duration::from_secs(20), || {
        let out = curl(
            tmp.path(),
            &[
                "--cacert",
                pki.root.to_str().unwrap(),
                &format!("https://127.0.0.1:{port}/ping/"),
            ],
        );
        if out.code == 200 {
            return true;
        }
        assert!(child.try_wait().unwrap().is_none(), "proxy exited");
        stderr = out.stderr;
        false
    });
    assert!(answered, "no https answer: {stderr}");
    let _ = child.kill();
    let _ = child.wait();
}

/// Writes config and bucket list for `setup` into `dir` and starts the
/// binary without waiting for it.
fn start_raw(dir: &Path, setup: &Setup) -> std::process::Child {
    let cfg = config_json(setup, dir, free_port());
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    std::fs::write(dir.join("buckets.txt"), "b1\n").unwrap();
    Command::new(BACKRUNNER)
        .arg("-config")
        .arg(&config_path)
        .arg("-buckets")
        .arg(dir.join("buckets.txt"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start backrunner")
}

/// Starts the binary and expects it to exit with an error; returns stderr.
fn refused(dir: &Path, setup: &Setup) -> String {
    let mut child = start_raw(dir, setup);
    if !eventually(Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    }) {
        let _ = child.kill();
        panic!("backrunner kept running with a bad certificate");
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn bad_certificates_refuse_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let (cert, key) = pki.server("good", KeyKind::EcTraditional);
    let (_, other_key) = pki.server("other", KeyKind::EcPkcs8);
    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    let encrypted = tmp.path().join("encrypted.key");
    openssl(
        tmp.path(),
        &[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            encrypted.to_str().unwrap(),
        ],
    );
    let missing = tmp.path().join("missing.pem");
    let dir_as_file = tmp.path().to_path_buf();
    let cases: Vec<(&Path, &Path, &Path, &str)> = vec![
        (&missing, &key, &missing, "cert_file"),
        (&cert, &missing, &missing, "key_file"),
        (&dir_as_file, &key, &dir_as_file, "cert_file"),
        (&junk, &key, &junk, "cert_file"),
        (&key, &key, &key, "cert_file"),
        (&cert, &junk, &junk, "key_file"),
        (&cert, &cert, &cert, "key_file"),
        (&cert, &other_key, &other_key, "key_file"),
        (&cert, &encrypted, &encrypted, "key_file"),
    ];
    for (i, (c, k, named, kind)) in cases.into_iter().enumerate() {
        let run = tmp.path().join(format!("run-{i}"));
        std::fs::create_dir_all(&run).unwrap();
        let stderr = refused(&run, &tls_setup(c, k, free_port()));
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("backrunner:"))
            .collect();
        assert_eq!(lines.len(), 1, "case {i}: {stderr}");
        println!("case {i}: {}", lines[0]);
        let want = format!(
            "backrunner: config {}: {kind} {}",
            run.join("config.json").display(),
            named.display()
        );
        assert!(
            lines[0].starts_with(&want),
            "case {i}: want {want:?}, got {stderr}"
        );
    }
}

#[test]
fn sighup_serves_a_replaced_certificate_without_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let (cert_a, key_a) = pki.server("cert-a", KeyKind::RsaPkcs8);
    let (cert_b, key_b) = pki.server("cert-b", KeyKind::EcTraditional);
    let cert = tmp.path().join("live.pem");
    let key = tmp.path().join("live.key");
    std::fs::copy(&cert_a, &cert).unwrap();
    std::fs::copy(&key_a, &key).unwrap();
    let port = free_port();
    let p = Proxy::start(tls_setup(&cert, &key, port));
    let pid = p.pid();
    for host in ["127.0.0.1", "localhost"] {
        assert_eq!(served_cn(tmp.path(), &pki.root, host, port), "cert-a");
    }

    std::fs::copy(&cert_b, &cert).unwrap();
    std::fs::copy(&key_b, &key).unwrap();
    // Until the signal the old certificate stays.
    assert_eq!(
        served_cn(tmp.path(), &pki.root, "127.0.0.1", port),
        "cert-a"
    );
    p.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || {
            served_cn(tmp.path(), &pki.root, "127.0.0.1", port) == "cert-b"
        }),
        "new certificate not served: {}",
        p.log()
    );
    assert_eq!(
        served_cn(tmp.path(), &pki.root, "localhost", port),
        "cert-b"
    );
    assert_eq!(p.pid(), pid);

    // A broken replacement keeps the current certificate and says why.
    std::fs::write(&cert, "garbage").unwrap();
    p.signal("HUP");
    let failed = "keeping the previous certificate";
    assert!(
        eventually(Duration::from_secs(10), || p.log().contains(failed)),
        "no reload error logged: {}",
        p.log()
    );
    let log = p.log();
    let line = log.lines().find(|l| l.contains(failed)).unwrap();
    assert!(
        line.contains(&format!("tls: cert_file {}", cert.display())),
        "{line}"
    );
    let stat = p.json("/proxy_stat/").to_string();
    assert!(stat.contains(failed), "not in /proxy_stat/: {stat}");
    assert_eq!(
        served_cn(tmp.path(), &pki.root, "127.0.0.1", port),
        "cert-b"
    );
    assert_eq!(p.get_path("/ping/").status(), 200);
}

#[test]
fn https_keep_alive_gets_do_not_stall() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let root = pki.root.to_str().unwrap().to_string();
    let (cert, key) = pki.server("ka", KeyKind::EcPkcs8);
    let port = free_port();
    let p = Proxy::start(tls_setup(&cert, &key, port));
    assert_eq!(p.upload("b1", "small", random_bytes(4096, 9)).status(), 200);
    // One curl, 20 URLs: curl reuses the connection for all of them.
    let url = format!("https://127.0.0.1:{port}/get/b1/small");
    let out = Command::new("curl")
        .args(["-sS", "--http1.1", "--max-time", "30", "--cacert", &root])
        .args(["-w", "%{num_connects} %{time_total}\\n"])
        .args((0..20).flat_map(|_| ["-o", "/dev/null", url.as_str()]))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout).to_string();
    let rows: Vec<(u32, f64)> = lines
        .lines()
        .map(|l| {
            let (c, t) = l.split_once(' ').unwrap();
            (c.parse().unwrap(), t.parse().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), 20, "{lines}");
    assert_eq!(
        rows.iter().map(|r| r.0).sum::<u32>(),
        1,
        "one connection for all: {lines}"
    );
    // The first includes the handshake; the reused ones must not stall.
    let mut reused: Vec<f64> = rows[1..].iter().map(|r| r.1).collect();
    reused.sort_by(f64::total_cmp);
    let med = reused[reused.len() / 2] * 1e3;
    assert!(
        med <= crate::keepalive::STALL_BOUND_MS,
        "median keep-alive HTTPS GET {med:.1} ms: {lines}"
    );
}
