//! Shared test support for the newer test targets: the `vifman` runner, fixture copies and
//! the shipped host's paths. (Older targets still carry their own copies; they move here as
//! they are touched.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub const NFV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sysfs/nfv-host");
pub const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nfv-host.toml");
pub const INST: &str = "11111111-2222-3333-4444-555555555555";

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `vifman args`, killed after `limit` (a hang is a test failure, not a stuck CI).
/// Output is collected while it runs, so a big answer cannot block the child on a full pipe.
pub fn vifman_within(args: &[&str], limit: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_vifman"))
        .args(args)
        .env_remove("VIFMAN_SIM_FAIL")
        .env_remove("VIFMAN_SIM_CRASH")
        .env_remove("VIFMAN_STATE_DIR")
        .env_remove("VIFMAN_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vifman");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(o) => o.expect("vifman output"),
        Err(_) => {
            // SAFETY: signalling our own child by pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let o = rx.recv().expect("reaped").expect("output");
            panic!(
                "vifman {args:?} hung for {limit:?}; stderr: {}",
                text(&o.stderr)
            );
        }
    }
}

pub fn vifman(args: &[&str]) -> Output {
    vifman_within(args, Duration::from_secs(60))
}

/// A copy of `src` (links copied as links) at `dst`.
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &to).unwrap();
        } else if ft.is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// A private copy of the shipped nfv-host fixture, to damage.
pub fn nfv_copy(dir: &Path) -> PathBuf {
    let p = dir.join("fixture");
    copy_tree(Path::new(NFV), &p);
    p
}

/// Every file under `root` with its bytes (links as their targets): "no state change".
pub fn tree_digest(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(root: &Path, p: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
            if ft.is_symlink() {
                let t = std::fs::read_link(e.path()).unwrap();
                out.push((rel, t.as_os_str().as_encoded_bytes().to_vec()));
            } else if ft.is_dir() {
                walk(root, &e.path(), out);
            } else if ft.is_file() {
                out.push((rel, std::fs::read(e.path()).unwrap_or_default()));
            } else {
                out.push((rel, b"<special>".to_vec()));
            }
        }
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

pub fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
        0,
        "mkfifo {p:?}"
    );
}

/// An os-vif primitive of class `name` with `data` as its fields, all marked changed (what
/// os-vif's `obj_to_primitive` gives for a freshly built object).
pub fn os_vif_obj(name: &str, data: serde_json::Value) -> serde_json::Value {
    let changes: Vec<String> = data.as_object().unwrap().keys().cloned().collect();
    serde_json::json!({
        "versioned_object.name": name,
        "versioned_object.namespace": "os_vif",
        "versioned_object.version": vifman::vif::registry::class_by_name(name).unwrap().version,
        "versioned_object.data": data,
        "versioned_object.changes": changes,
    })
}

/// `cmd` is on PATH.
pub fn have(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}
