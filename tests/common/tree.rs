//! Copies, digests and special files for the trees tests damage.

use std::path::{Path, PathBuf};

use super::sim::NFV;

/// A copy of `src` (links copied as links, so loops and dangling links stay as they are) at
/// `dst`, which may already exist. Any entry that cannot be copied fails the test.
///
/// Not shared with the simulated kernel's `copy_tree` (src/host/sim/tree.rs) on purpose: that
/// one leaves special files out and turns unreadable files into empty ones so a damaged
/// fixture still opens; here the same condition means the test's setup is broken and must
/// panic. One function with a policy flag would also have to become public library API for
/// the tests to reach it, exposing a simulation internal.
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

/// A private copy of the shipped fixture `fixtures/sysfs/<name>` at `<dir>/<name>`.
pub fn fixture_copy(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sysfs")
        .join(name);
    let p = dir.join(name);
    copy_tree(&src, &p);
    p
}

/// A private copy of the shipped nfv-host fixture, to damage.
pub fn nfv_copy(dir: &Path) -> PathBuf {
    let p = dir.join("fixture");
    copy_tree(Path::new(NFV), &p);
    p
}

/// Everything under `root` with its content, by path relative to `root`: a file's bytes, a
/// link's target, `<dir>` for a directory, `<special MODE>` for anything else. Two equal
/// digests mean "no state change".
pub fn tree_digest(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    fn walk(root: &Path, p: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let ft = m.file_type();
            let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
            if ft.is_symlink() {
                let t = std::fs::read_link(e.path()).unwrap();
                out.push((rel, t.as_os_str().as_encoded_bytes().to_vec()));
            } else if ft.is_dir() {
                out.push((rel, b"<dir>".to_vec()));
                walk(root, &e.path(), out);
            } else if ft.is_file() {
                out.push((rel, std::fs::read(e.path()).unwrap_or_default()));
            } else {
                let special = format!("<special {:o}>", m.permissions().mode());
                out.push((rel, special.into_bytes()));
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
