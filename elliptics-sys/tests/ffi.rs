//! Raw FFI smoke test against a real `dnet_ioserv` on loopback: every shim
//! function once, checking what comes back through the callbacks.

use std::ffi::{c_void, CStr, CString};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use elliptics_sys::*;

fn ioserv_path() -> Option<PathBuf> {
    let p = std::env::var_os("DNET_IOSERV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("ELLIPTICS_PREFIX").unwrap_or("/opt/elliptics".into()))
                .join("bin/dnet_ioserv")
        });
    p.is_file().then_some(p)
}

struct Server {
    child: Child,
    addr: String,
    _dir: tempfile_lite::Dir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal temp dir (the sys crate keeps no dev-dependencies).
mod tempfile_lite {
    use std::path::PathBuf;
    pub struct Dir(pub PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let p = std::env::temp_dir().join(format!(
                "elliptics-sys-ffi-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn start_server(bin: &Path) -> Server {
    let dir = tempfile_lite::Dir::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}:2");
    let monitor_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let backends: Vec<String> = (1..=3)
        .map(|g| {
            let d = dir.0.join(format!("eblob.{g}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::create_dir_all(dir.0.join(format!("history.{g}"))).unwrap();
            format!(
                r#"{{"backend_id": {g}, "type": "blob", "group": {g}, "history": "{}", "data": "{}/data",
                "sync": "-1", "blob_flags": "0", "blob_size": "10M", "records_in_blob": "10000",
                "periodic_timeout": 15, "read_only": false}}"#,
                dir.0.join(format!("history.{g}")).display(),
                d.display()
            )
        })
        .collect();
    let cfg = format!(
        r#"{{"logger": {{"level": "error", "root": [{{"type": "blocking",
            "formatter": {{"type": "string", "pattern": "{{timestamp}} {{severity}}: {{message}}"}},
            "sinks": [{{"type": "file", "path": "{log}", "flush": 1}}]}}]}},
        "options": {{"join": true, "flags": 4, "remote": [], "address": ["{addr}"],
            "wait_timeout": 10, "check_timeout": 20, "io_thread_num": 2, "nonblocking_io_thread_num": 2,
            "net_thread_num": 1, "daemon": false, "auth_cookie": "ffi-test", "monitor": {{"port": {monitor_port}, "address": "127.0.0.1"}}}},
        "backends": [{backends}]}}"#,
        log = dir.0.join("ioserv.log").display(),
        monitor_port = monitor_port,
        backends = backends.join(",")
    );
    let cfg_path = dir.0.join("ioserv.json");
    std::fs::write(&cfg_path, cfg).unwrap();
    let child = Command::new(bin)
        .arg("-c")
        .arg(&cfg_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "dnet_ioserv did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        addr,
        _dir: dir,
    }
}

#[derive(Default, Debug, Clone)]
struct Entry {
    status: i32,
    message: String,
    group: i32,
    backend: u32,
    address: String,
    key_index: i64,
    has_info: bool,
    path: String,
    size: u64,
    data: Vec<u8>,
    total_size: u64,
}

unsafe fn cstr(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

unsafe extern "C" fn collect(priv_: *mut c_void, e: *const ell_entry) {
    let out = &mut *(priv_ as *mut Vec<Entry>);
    let e = &*e;
    out.push(Entry {
        status: e.status,
        message: cstr(e.message),
        group: e.group,
        backend: e.backend,
        address: cstr(e.address),
        key_index: e.key_index,
        has_info: e.has_info != 0,
        path: cstr(e.path),
        size: e.size,
        data: if e.data.is_null() {
            Vec::new()
        } else {
            std::slice::from_raw_parts(e.data, e.data_len).to_vec()
        },
        total_size: e.total_size,
    });
}

unsafe extern "C" fn collect_backend(priv_: *mut c_void, s: *const ell_backend_status) {
    let out = &mut *(priv_ as *mut Vec<(String, u32, bool, u32)>);
    let s = &*s;
    out.push((cstr(s.address), s.backend, s.read_only != 0, s.delay_ms));
}

unsafe extern "C" fn collect_route(priv_: *mut c_void, r: *const ell_route) {
    let out = &mut *(priv_ as *mut Vec<(i32, u32)>);
    out.push(((*r).group, (*r).backend));
}

unsafe extern "C" fn collect_stat(
    priv_: *mut c_void,
    _addr: *const std::os::raw::c_char,
    json: *const std::os::raw::c_char,
    len: usize,
) {
    let out = &mut *(priv_ as *mut Vec<String>);
    out.push(
        String::from_utf8_lossy(std::slice::from_raw_parts(json as *const u8, len)).into_owned(),
    );
}

/// EBADFD on Linux (the sys crate keeps no libc dependency).
fn libc_ebadfd() -> i32 {
    77
}

fn err() -> ell_error {
    ell_error {
        code: 0,
        message: [0; 512],
    }
}

fn msg(e: &ell_error) -> String {
    unsafe { cstr(e.message.as_ptr()) }
}

#[test]
fn ffi_round_trip_against_dnet_ioserv() {
    let Some(bin) = ioserv_path() else {
        eprintln!("elliptics-sys FFI test skipped: dnet_ioserv not found (set DNET_IOSERV or ELLIPTICS_PREFIX)");
        return;
    };
    let server = start_server(&bin);
    unsafe {
        let cfg = ell_node_config {
            wait_timeout: 10,
            check_timeout: 20,
            log_level: 4,
            ..Default::default()
        };
        let mut e = err();
        let node = ell_node_new(&cfg, &mut e);
        assert!(!node.is_null(), "node: {}", msg(&e));
        let remote = CString::new(server.addr.clone()).unwrap();
        let remotes = [remote.as_ptr()];
        assert_eq!(
            ell_node_add_remotes(node, remotes.as_ptr(), 1, &mut e),
            0,
            "{}",
            msg(&e)
        );

        let ns = "ffi-bucket";
        let groups = [1, 2, 3];
        let scfg = ell_session_config {
            ns: ns.as_ptr() as *const _,
            ns_len: ns.len(),
            groups: groups.as_ptr(),
            groups_len: 3,
            trace_id: 42,
            timeout: 10,
            ..Default::default()
        };
        let s = ell_session_new(node, &scfg, &mut e);
        assert!(!s.is_null(), "session: {}", msg(&e));

        let key = "smoke/key";
        let body = b"hello elliptics";
        let mut out: Vec<Entry> = Vec::new();
        let rc = ell_write(
            s,
            ELL_WRITE_DATA as i32,
            key.as_ptr() as *const _,
            key.len(),
            body.as_ptr() as *const _,
            body.len(),
            0,
            0,
            Some(collect),
            &mut out as *mut _ as *mut c_void,
            &mut e,
        );
        assert_eq!(rc, 0, "write: {}", msg(&e));
        let mut groups_written: Vec<i32> = out
            .iter()
            .filter(|x| x.status == 0)
            .map(|x| x.group)
            .collect();
        groups_written.sort();
        assert_eq!(groups_written, vec![1, 2, 3], "{out:?}");
        assert!(out
            .iter()
            .all(|x| x.has_info && x.size == body.len() as u64 && !x.path.is_empty()));
        assert!(
            out.iter()
                .all(|x| x.address == server.addr && x.backend == x.group as u32),
            "{out:?} vs {}",
            server.addr
        );

        // Compare-and-swap: all-zero checksum (= "absent") is refused where
        // the record exists and taken where it does not (tests/it/cas.rs
        // checks real versions).
        for (k, want) in [(key, -libc_ebadfd()), ("cas-new", 0)] {
            let mut o: Vec<Entry> = Vec::new();
            let zeros = [0u8; ELL_ID_SIZE as usize];
            ell_write_cas(
                s,
                k.as_ptr() as *const _,
                k.len(),
                b"cas".as_ptr() as *const _,
                3,
                zeros.as_ptr(),
                Some(collect),
                &mut o as *mut _ as *mut c_void,
                &mut e,
            );
            let statuses: Vec<i32> = o.iter().map(|x| x.status).collect();
            assert_eq!(statuses, vec![want; 3], "write_cas {k}: {o:?}");
        }

        // Chunked write: prepare reserves the full size, commit publishes it.
        let parts: [&[u8]; 3] = [b"aaaa", b"bbbb", b"cc"];
        let total = 10u64;
        let mut off = 0u64;
        for (i, p) in parts.iter().enumerate() {
            let kind = match i {
                0 => ELL_WRITE_PREPARE,
                2 => ELL_WRITE_COMMIT,
                _ => ELL_WRITE_PLAIN,
            };
            let mut o: Vec<Entry> = Vec::new();
            let rc = ell_write(
                s,
                kind as i32,
                "chunked".as_ptr() as *const _,
                7,
                p.as_ptr() as *const _,
                p.len(),
                off,
                total,
                Some(collect),
                &mut o as *mut _ as *mut c_void,
                &mut e,
            );
            assert_eq!(rc, 0, "chunk {i}: {}", msg(&e));
            assert_eq!(o.iter().filter(|x| x.status == 0).count(), 3, "{o:?}");
            off += p.len() as u64;
        }

        let mut r: Vec<Entry> = Vec::new();
        let rc = ell_read(
            s,
            "chunked".as_ptr() as *const _,
            7,
            2,
            5,
            Some(collect),
            &mut r as *mut _ as *mut c_void,
            &mut e,
        );
        assert_eq!(rc, 0, "read: {}", msg(&e));
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].data, b"aabbb");
        assert_eq!(r[0].total_size, 10);

        let mut l: Vec<Entry> = Vec::new();
        let rc = ell_lookup(
            s,
            key.as_ptr() as *const _,
            key.len(),
            Some(collect),
            &mut l as *mut _ as *mut c_void,
            &mut e,
        );
        assert_eq!(rc, 0, "lookup: {}", msg(&e));
        assert_eq!(
            l.iter()
                .filter(|x| x.has_info && x.size == body.len() as u64)
                .count(),
            3,
            "{l:?}"
        );

        // Missing key: every group answers -ENOENT.
        let mut m: Vec<Entry> = Vec::new();
        let rc = ell_lookup(
            s,
            "nope".as_ptr() as *const _,
            4,
            Some(collect),
            &mut m as *mut _ as *mut c_void,
            &mut e,
        );
        assert_eq!(rc, -2, "missing lookup rc, {}", msg(&e));
        assert!(m.iter().all(|x| x.status == -2), "{m:?}");
        // The message carries Elliptics' own text, copied out of the callback.
        assert!(
            m.iter()
                .all(|x| x.message.contains("No such file or directory")),
            "{m:?}"
        );

        let mut rm: Vec<Entry> = Vec::new();
        let rc = ell_remove(
            s,
            key.as_ptr() as *const _,
            key.len(),
            Some(collect),
            &mut rm as *mut _ as *mut c_void,
            &mut e,
        );
        assert_eq!(rc, 0, "remove: {}", msg(&e));
        assert_eq!(rm.iter().filter(|x| x.status == 0).count(), 3, "{rm:?}");

        let keys = [
            b"chunked".as_ptr() as *const std::os::raw::c_char,
            b"absent".as_ptr() as *const _,
        ];
        let lens = [7usize, 6];
        let mut br: Vec<Entry> = Vec::new();
        ell_bulk_remove(
            s,
            keys.as_ptr(),
            lens.as_ptr(),
            2,
            Some(collect),
            &mut br as *mut _ as *mut c_void,
            &mut e,
        );
        assert!(
            br.iter().any(|x| x.key_index == 0 && x.status == 0),
            "{br:?}"
        );
        assert!(
            br.iter().all(|x| x.key_index != 0 || x.status == 0),
            "{br:?}"
        );
        assert!(
            br.iter().all(|x| x.key_index != 1 || x.status == -2),
            "{br:?}"
        );

        let mut routes: Vec<(i32, u32)> = Vec::new();
        assert_eq!(
            ell_routes(
                s,
                Some(collect_route),
                &mut routes as *mut _ as *mut c_void,
                &mut e
            ),
            0
        );
        for g in 1..=3 {
            assert!(routes.contains(&(g, g as u32)), "{routes:?}");
        }

        let mut id = [0u8; 64];
        assert_eq!(
            ell_transform(
                s,
                key.as_ptr() as *const _,
                key.len(),
                id.as_mut_ptr(),
                &mut e
            ),
            0
        );
        assert_ne!(id, [0u8; 64]);

        let mut st: Vec<(String, u32, bool, u32)> = Vec::new();
        let rc = ell_backend_control(
            s,
            remote.as_ptr(),
            2,
            ELL_BACKEND_READ_ONLY as i32,
            0,
            Some(collect_backend),
            &mut st as *mut _ as *mut c_void,
            &mut e,
        );
        assert_eq!(rc, 0, "read-only: {}", msg(&e));
        let mut st: Vec<(String, u32, bool, u32)> = Vec::new();
        ell_backend_control(
            s,
            remote.as_ptr(),
            0,
            ELL_BACKEND_STATUS as i32,
            0,
            Some(collect_backend),
            &mut st as *mut _ as *mut c_void,
            &mut e,
        );
        assert!(st.iter().any(|b| b.1 == 2 && b.2), "{st:?}");
        assert!(st.iter().any(|b| b.1 == 1 && !b.2), "{st:?}");

        // A write to a read-only backend fails in that group only.
        let mut w: Vec<Entry> = Vec::new();
        ell_write(
            s,
            ELL_WRITE_DATA as i32,
            "ro".as_ptr() as *const _,
            2,
            body.as_ptr() as *const _,
            body.len(),
            0,
            0,
            Some(collect),
            &mut w as *mut _ as *mut c_void,
            &mut e,
        );
        assert!(w.iter().any(|x| x.group == 2 && x.status != 0), "{w:?}");
        assert_eq!(w.iter().filter(|x| x.status == 0).count(), 2, "{w:?}");

        let mut stats: Vec<String> = Vec::new();
        let rc = ell_monitor_stat(
            s,
            1 << 4,
            Some(collect_stat),
            &mut stats as *mut _ as *mut c_void,
            &mut e,
        );
        assert_eq!(rc, 0, "monitor_stat: {}", msg(&e));
        assert_eq!(stats.len(), 1);
        eprintln!("{}", &stats[0][..stats[0].len().min(6000)]);
        assert!(stats[0].contains("\"backends\""), "{}", stats[0]);

        ell_session_free(s);
        ell_node_free(node);
    }
    drop(server);
}
