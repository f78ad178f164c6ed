//! The S3 holes an outside probe found (issue 25, §2, items 3, 5, 6 and 7),
//! each test performing the attack against the running proxy and showing
//! it no longer works while normal use still does (docs/security.md).
//! The REST ones are in `attacks.rs`.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{self, free_port, random_bytes, sign, Backend, Proxy};
use crate::s3_wire::{python, setup, ALICE};
use crate::security::{read_reply, read_until};
use serde_json::{json, Value};

/// A proxy with an S3 listener (the buckets of `s3_wire::setup`: b1 for
/// alice, `pub` anyone may read and write; and `other`, which alice may
/// only read) and `extra` in `proxy`.
fn start(extra: Value) -> (Proxy, u16) {
    start_with(extra, 0)
}

/// [`start`] with every group limited to `size_limit` bytes (0 = none).
fn start_with(extra: Value, size_limit: u64) -> (Proxy, u16) {
    let port = free_port();
    let mut proxy = json!({"s3-address": format!("127.0.0.1:{port}")});
    for (k, v) in extra.as_object().unwrap() {
        proxy[k] = v.clone();
    }
    let mut s = setup(proxy);
    s.buckets["buckets"]["other"] = json!({"groups": [1, 3], "acl": [
        {"user": "alice", "token": ALICE, "flags": 0},
        {"user": "*", "token": "", "flags": 3}]});
    s.bucket_list.push("other".into());
    if size_limit > 0 {
        for g in &mut s.groups {
            g.size_limit = size_limit;
        }
    }
    (Proxy::start(s), port)
}

fn s3(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// §2.3: a PutObject trickling 5 bytes a second held its connection and
/// its space reservation for as long as the client liked. S3 bodies now
/// keep the floor REST uploads keep (`proxy.body-min-bytes-per-second`).
#[test]
fn a_trickling_s3_put_is_cut_and_its_reservation_released() {
    let local = common::backend() == Backend::Local;
    // 6 MiB groups (embedded store): a 5 MiB reservation leaves no room
    // for 4 MiB more while it is held.
    let (p, port) = start_with(
        json!({"body-min-bytes-per-second": 1000, "body-min-rate-window": 2}),
        if local { 6 << 20 } else { 0 },
    );
    let c = &p.client;
    let four = random_bytes(4 << 20, 3);
    let put = |key: &str| {
        c.put(s3(port, &format!("/pub/{key}")))
            .body(four.clone())
            .send()
            .unwrap()
    };
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /pub/slow HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        5 << 20
    )
    .unwrap();
    let mut w = s.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if w.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    if local {
        // The trickling PUT holds its 5 MiB: 4 MiB more do not fit.
        std::thread::sleep(Duration::from_millis(500));
        let r = put("while-held");
        assert_ne!(r.status(), 200, "the reservation is held meanwhile");
    }
    let (reply, first) = read_reply(&mut s, Duration::from_secs(15));
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply:?}");
    assert!(
        reply.contains("<Code>RequestTimeout</Code>")
            && reply.contains("proxy.body-min-bytes-per-second"),
        "{reply}"
    );
    let first = first.unwrap();
    assert!(first < Duration::from_secs(6), "cut after {first:?}");
    drop(s);
    trickle.join().unwrap();
    // Nothing of it is stored, its reservation and temp file are gone,
    // and the server keeps serving: 4 MiB at full speed fit again.
    assert_eq!(c.get(s3(port, "/pub/slow")).send().unwrap().status(), 404);
    if local {
        for g in [2, 3] {
            let tmp = p.dir.path().join(format!("store/group-{g}/tmp"));
            common::wait_for("the temp file to go", Duration::from_secs(10), || {
                std::fs::read_dir(&tmp).unwrap().next().is_none()
            });
        }
    }
    let r = put("after");
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let back = c.get(s3(port, "/pub/after")).send().unwrap();
    assert!(back.bytes().unwrap()[..] == four[..]);
    assert_eq!(p.get_path("/ping/").status(), 200);
}

/// §2.5: an `x-amz-copy-source` added, unsigned, to alice's signed
/// PutObject turned it into a copy of an object of another bucket. Now a
/// signed request carrying an `x-amz-*` header its signature does not
/// cover is refused (AccessDenied, HeadersNotSigned, as AWS), whether
/// signed in the header (V4) or presigned; with Signature V2 every
/// `x-amz-*` header is in the string to sign. An unsigned Content-Type is
/// not stored. boto3 signs; its `before-send` hook adds headers after.
#[test]
fn an_unsigned_x_amz_header_added_to_a_signed_request_is_refused() {
    if !common::boto3() || !common::installed("curl", "--version") {
        return;
    }
    let (p, port) = start(json!({}));
    // What the attacker wants copied: an object of `other`, which alice
    // may read.
    let r = p
        .client
        .put(s3(port, "/other/secret"))
        .body("from another bucket")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let code = format!(
        r#"
import boto3, botocore, subprocess
from botocore.config import Config
def client(sig):
    return boto3.client("s3", endpoint_url="{endpoint}", aws_access_key_id="alice",
        aws_secret_access_key="{ALICE}", region_name="us-east-1",
        config=Config(signature_version=sig, s3={{"addressing_style": "path"}}))
c = client("s3v4")
c.put_object(Bucket="b1", Key="target.bin", Body=b"original")
added = {{}}
def add(request, **kw):
    for k, v in added.items():
        request.headers[k] = v
c.meta.events.register("before-send.s3.PutObject", add)
def refused(what, code, client=c, **kw):
    try:
        client.put_object(Bucket="b1", Key="target.bin", Body=b"attacker", **kw)
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        assert err["Code"] == code, (what, err)
        print(what, err["Code"], err.get("HeadersNotSigned", ""), "|", err["Message"])
        return
    raise AssertionError(what + " was accepted")
added = {{"x-amz-copy-source": "/other/secret"}}
refused("copy-source", "AccessDenied")
added = {{"x-amz-meta-evil": "1", "x-amz-tagging": "a=b"}}
refused("meta", "AccessDenied")
assert c.get_object(Bucket="b1", Key="target.bin")["Body"].read() == b"original"
# An unsigned Content-Type is ignored: the key's own type is stored.
added = {{"Content-Type": "text/html"}}
c.put_object(Bucket="b1", Key="target.bin", Body=b"original")
print("unsigned type", c.head_object(Bucket="b1", Key="target.bin")["ContentType"])
added = {{}}
c.put_object(Bucket="b1", Key="typed.bin", Body=b"t", ContentType="text/plain", Metadata={{"m": "1"}})
h = c.head_object(Bucket="b1", Key="typed.bin")
print("signed type", h["ContentType"], h["Metadata"])
# Signature V2 signs every x-amz-* header: one added breaks the signature.
v2 = client("s3")
v2.meta.events.register("before-send.s3.PutObject", add)
added = {{"x-amz-copy-source": "/other/secret"}}
refused("v2", "SignatureDoesNotMatch", client=v2)
# Presigned URLs: only X-Amz-SignedHeaders are signed (here: host).
url = c.generate_presigned_url("put_object", Params={{"Bucket": "b1", "Key": "target.bin"}}, ExpiresIn=300)
def curl(*headers):
    args = ["curl", "-sS", "-o", "/dev/stdout", "-w", " %{{http_code}}", "-X", "PUT", "--data-binary", "presigned"]
    for h in headers:
        args += ["-H", h]
    return subprocess.run(args + [url], capture_output=True, text=True).stdout.replace("\n", " ")
print("presigned copy-source", curl("x-amz-copy-source: /other/secret"))
assert c.get_object(Bucket="b1", Key="target.bin")["Body"].read() == b"original"
print("presigned sha256", curl("x-amz-content-sha256: UNSIGNED-PAYLOAD", "Content-Type: text/html"))
h = c.head_object(Bucket="b1", Key="target.bin")
print("presigned body", c.get_object(Bucket="b1", Key="target.bin")["Body"].read(), h["ContentType"])
# A copy alice signs herself still works.
c.copy_object(Bucket="b1", Key="copied", CopySource={{"Bucket": "other", "Key": "secret"}})
print("copied", c.get_object(Bucket="b1", Key="copied")["Body"].read())
"#,
        endpoint = s3(port, "")
    );
    let out = python(&p, &["-c", &code], &[]);
    let line = |prefix: &str| -> &str {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
    };
    assert!(
        line("copy-source ").starts_with("copy-source AccessDenied x-amz-copy-source |")
            && line("copy-source ").contains("not signed"),
        "{out}"
    );
    assert!(
        line("meta ").starts_with("meta AccessDenied x-amz-meta-evil, x-amz-tagging |"),
        "{out}"
    );
    assert_eq!(
        line("unsigned type"),
        "unsigned type application/octet-stream"
    );
    assert_eq!(line("signed type"), "signed type text/plain {'m': '1'}");
    assert!(line("v2 ").starts_with("v2 SignatureDoesNotMatch"), "{out}");
    let presigned = line("presigned copy-source");
    assert!(
        presigned.ends_with(" 403")
            && presigned.contains("<HeadersNotSigned>x-amz-copy-source</HeadersNotSigned>"),
        "{out}"
    );
    assert!(line("presigned sha256").ends_with(" 200"), "{out}");
    assert_eq!(
        line("presigned body"),
        "presigned body b'presigned' application/octet-stream"
    );
    assert_eq!(line("copied"), "copied b'from another bucket'");
}

/// Puts `body` at `key` of b1 through Backrunner's `/upload/`, signed by
/// alice (REST takes any key; S3 lists what REST wrote).
fn rest_upload(p: &Proxy, key: &str, body: &str) {
    // riftv1 signs the path decoded once.
    let signed = sign(ALICE, "POST", &format!("/upload/b1/{key}"));
    let r = p
        .client
        .post(p.url(&format!("/upload/b1/{}", common::escape(key))))
        .header("Authorization", format!("riftv1 alice:{signed}"))
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{key:?}");
}

/// §2.6: a key with U+FFFE or U+FFFF made every listing of its bucket
/// invalid XML (s3cmd could not list it), and CR came back as LF. S3 now
/// refuses to create keys XML 1.0 cannot carry (400 naming the character);
/// keys written through REST are listed with U+FFFD in their place, and
/// exactly with `encoding-type=url`; CR is sent as `&#13;`. Every listing
/// parses with a real XML parser (Python's expat) and with s3cmd.
#[test]
fn every_listing_parses_whatever_the_keys() {
    let s3cmd = common::installed("s3cmd", "--version");
    if !common::boto3() {
        return;
    }
    let (p, port) = start(json!({}));
    let c = &p.client;
    // S3 refuses to create them, naming the character.
    for (key, named) in [("bad%EF%BF%BE", "U+FFFE"), ("bad%01", "U+0001")] {
        let r = c
            .put(s3(port, &format!("/pub/{key}")))
            .body("x")
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{key}");
        let text = r.text().unwrap();
        assert!(
            text.contains("<Code>InvalidArgument</Code>")
                && text.contains(named)
                && text.contains("XML 1.0"),
            "{text}"
        );
        let r = c
            .post(s3(port, &format!("/pub/{key}?uploads")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "CreateMultipartUpload {key}");
    }
    assert_eq!(
        c.put(s3(port, "/pub/ok"))
            .body("x")
            .send()
            .unwrap()
            .status(),
        200
    );
    let r = c
        .put(s3(port, "/pub/bad%EF%BF%BF"))
        .header("x-amz-copy-source", "/pub/ok")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400, "CopyObject to such a key");
    // CR and LF keys are fine.
    let r = c.put(s3(port, "/pub/cr%0Dlf%0A")).body("x").send().unwrap();
    assert_eq!(r.status(), 200);
    // REST writes what it likes; S3 lists it.
    for key in ["rest\u{ffff}", "rest\u{fffe}", "rest\u{1}", "rest\r"] {
        rest_upload(&p, key, "x");
    }
    // Listings of both buckets, parsed by expat: plain and url-encoded.
    let code = format!(
        r#"
import boto3, urllib.request, urllib.parse, xml.etree.ElementTree as ET
from botocore.config import Config
NS = "{{http://s3.amazonaws.com/doc/2006-03-01/}}"
def keys(doc, url):
    root = ET.fromstring(doc)
    ks = [k.text for k in root.iter(NS + "Key")]
    return [urllib.parse.unquote(k) for k in ks] if url else ks
for q in ["list-type=2", "list-type=2&encoding-type=url", "", "encoding-type=url", "versions"]:
    doc = urllib.request.urlopen("{endpoint}/pub?" + q).read()
    print("pub", q, repr(sorted(keys(doc, "url" in q))))
c = boto3.client("s3", endpoint_url="{endpoint}", aws_access_key_id="alice",
    aws_secret_access_key="{ALICE}", region_name="us-east-1",
    config=Config(s3={{"addressing_style": "path"}}))
print("b1 boto3", repr(sorted(o["Key"] for o in c.list_objects_v2(Bucket="b1")["Contents"])))
c.meta.events.register("before-parameter-build.s3.ListObjectsV2",
    lambda params, **kw: params.pop("EncodingType", None))
print("b1 plain", repr(sorted(o["Key"] for o in c.list_objects_v2(Bucket="b1")["Contents"])))
"#,
        endpoint = s3(port, "")
    );
    let out = python(&p, &["-c", &code], &[("PYTHONIOENCODING", "utf-8")]);
    let plain = r"['cr\rlf\n', 'ok']";
    for (prefix, want) in [
        ("pub list-type=2 ", plain),
        ("pub list-type=2&encoding-type=url ", plain),
        ("pub  ", plain),
        ("pub encoding-type=url ", plain),
        ("pub versions ", plain),
        (
            "b1 boto3 ",
            r"['rest\x01', 'rest\r', 'rest\ufffe', 'rest\uffff']",
        ),
        ("b1 plain ", r"['rest\r', 'rest�', 'rest�', 'rest�']"),
    ] {
        let got = out
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in\n{out}"));
        assert_eq!(got, want, "{prefix}\n{out}");
    }
    if !s3cmd {
        return;
    }
    let work = p.dir.path().join("s3cmd");
    let host = format!("127.0.0.1:{port}");
    let cfg = crate::s3_cli::write_file(
        &work,
        "s3cfg",
        format!(
            "[default]\naccess_key = alice\nsecret_key = {ALICE}\nhost_base = {host}\n\
             host_bucket = {host}\nuse_https = False\nbucket_location = us-east-1\n"
        )
        .as_bytes(),
    );
    let listed = crate::s3_cli::run(
        &p,
        "s3cmd",
        &["-c", cfg.to_str().unwrap(), "ls", "s3://b1"],
        &[],
    );
    assert_eq!(listed.matches("s3://b1/rest").count(), 4, "{listed}");
}

/// §2.7: S3 took keys of any length, and 60 kB keys filled a bucket's
/// open-upload list (8 MiB) in a minute, after which every
/// CreateMultipartUpload there failed for 7 days. Keys over 1,024 bytes
/// are now refused (KeyTooLongError), and a bucket holds at most
/// `proxy.s3-max-uploads-per-bucket` open uploads, counted, whatever the
/// length of their keys.
#[test]
fn long_keys_are_refused_and_open_uploads_are_counted() {
    let (p, port) = start(json!({"s3-max-uploads-per-bucket": 5}));
    let c = &p.client;
    let long = "k".repeat(1025);
    let longest = "k".repeat(1024);
    let r = c
        .put(s3(port, &format!("/pub/{long}")))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().unwrap();
    assert!(
        text.contains("<Code>KeyTooLongError</Code>") && text.contains("1025 bytes"),
        "{text}"
    );
    let r = c
        .put(s3(port, &format!("/pub/{longest}")))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .put(s3(port, &format!("/pub/{long}")))
        .header("x-amz-copy-source", format!("/pub/{longest}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400, "CopyObject");
    assert!(r.text().unwrap().contains("KeyTooLongError"));
    let r = c
        .post(s3(port, &format!("/pub/{long}?uploads")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400, "CreateMultipartUpload");
    assert!(r.text().unwrap().contains("KeyTooLongError"));
    // Five uploads of the longest keys fit; the sixth is refused, naming
    // the limit and its key.
    let create = |key: String| {
        c.post(s3(port, &format!("/pub/{key}?uploads")))
            .send()
            .unwrap()
    };
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = create(format!("{i}{}", &longest[1..]));
        assert_eq!(r.status(), 200);
        let doc = r.text().unwrap();
        let id = doc
            .split("<UploadId>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap()
            .to_string();
        ids.push(id);
    }
    let r = create("sixth".into());
    assert_eq!(r.status(), 403);
    let text = r.text().unwrap();
    assert!(
        text.contains("<Code>QuotaExceeded</Code>")
            && text.contains("has 5 multipart uploads open")
            && text.contains("proxy.s3-max-uploads-per-bucket"),
        "{text}"
    );
    let listed = c
        .get(s3(port, "/pub?uploads"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(listed.matches("<Upload>").count(), 5, "{listed}");
    // Aborting one makes room again.
    let r = c
        .delete(s3(
            port,
            &format!("/pub/0{}?uploadId={}", &longest[1..], ids[0]),
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(create("sixth".into()).status(), 200);
    assert_eq!(create("seventh".into()).status(), 403);
}

/// An error answered before the body is read (here UploadPart to an upload
/// that does not exist, found out after a store read) while the client is
/// still sending a chunked body, as boto3 does for every checksummed part:
/// actix-http's dispatcher, its read buffer full, waited for the dropped
/// payload to wake it and stalled until the idle timeout; the client,
/// still writing, timed out (vendor/README.md, the payload fix). Now the
/// rest of the body is drained at once, the reply arrives and the
/// connection serves the next request. With Content-Length the reply says
/// `Connection: close` and arrives as well.
#[test]
fn an_early_error_during_a_chunked_upload_drains_the_body() {
    let (p, port) = start(json!({}));
    let body = vec![b'a'; 4 << 20];
    let path = "/pub/k?partNumber=1&uploadId=0123456789abcdef0123456789abcdef";
    for (round, chunked) in (0..24).map(|i| (i, i % 3 != 2)) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut request = if chunked {
            format!(
                "PUT {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
                body.len()
            )
        } else {
            format!(
                "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
        }
        .into_bytes();
        request.extend_from_slice(&body);
        if chunked {
            request.extend_from_slice(b"\r\n0\r\n\r\n");
        }
        let mut w = s.try_clone().unwrap();
        w.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        let writer = std::thread::spawn(move || w.write_all(&request).map_err(|e| e.to_string()));
        let (reply, first) = read_until(&mut s, Some("</Error>"), Duration::from_secs(15));
        assert!(
            reply.starts_with("HTTP/1.1 404") && reply.contains("<Code>NoSuchUpload</Code>"),
            "round {round}: {reply:?}"
        );
        let first = first.unwrap();
        assert!(
            first < Duration::from_secs(5),
            "round {round}: the reply took {first:?}"
        );
        if chunked {
            writer
                .join()
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: the body was not taken: {e}"));
            assert!(!reply.contains("connection: close"), "{reply}");
            write!(s, "HEAD /pub/none HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let (next, _) = read_until(&mut s, Some("\r\n\r\n"), Duration::from_secs(5));
            assert!(
                next.starts_with("HTTP/1.1 404"),
                "round {round}: after the drain: {next:?}"
            );
        } else {
            assert!(reply.contains("connection: close"), "{reply}");
            drop(s);
            let _ = writer.join().unwrap();
        }
    }
    assert_eq!(p.get_path("/ping/").status(), 200);
}
