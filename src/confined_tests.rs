//! Tests of `confined`, kept beside it so the module stays one job per file.
use super::*;
use std::os::unix::fs::symlink;

fn setup() -> (tempfile::TempDir, tempfile::TempDir, Confined) {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("sys/dev")).unwrap();
    std::fs::write(root.path().join("sys/dev/attr"), "1\n").unwrap();
    std::fs::write(outside.path().join("victim"), "precious\n").unwrap();
    let c = Confined::open(root.path()).unwrap();
    (root, outside, c)
}

/// A rename anywhere on the system makes the kernel answer EAGAIN to a racing `..` lookup
/// under RESOLVE_IN_ROOT; that is routine on a busy host and must not fail a read.
#[test]
fn renames_elsewhere_do_not_fail_lookups_through_dotdot() {
    let (root, _out, c) = setup();
    std::fs::create_dir_all(root.path().join("sys/class/net")).unwrap();
    symlink("../../dev", root.path().join("sys/class/net/eth0")).unwrap();
    let churn = tempfile::tempdir().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renamer = {
        let (stop, d) = (stop.clone(), churn.path().to_path_buf());
        std::thread::spawn(move || {
            std::fs::write(d.join("a"), "x").unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::rename(d.join("a"), d.join("b")).unwrap();
                std::fs::rename(d.join("b"), d.join("a")).unwrap();
            }
        })
    };
    let rel = Path::new("sys/class/net/eth0/attr");
    let failures = (0..20_000).filter(|_| c.read_attr(rel).is_err()).count();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    renamer.join().unwrap();
    assert_eq!(
        failures, 0,
        "lookups failed while another thread renamed files"
    );
}

#[test]
fn never_writes_through_a_symlink() {
    let (root, out, c) = setup();
    let victim = out.path().join("victim");
    symlink(&victim, root.path().join("sys/dev/operstate")).unwrap();
    let e = c
        .write(Path::new("sys/dev/operstate"), b"up\n")
        .unwrap_err();
    assert!(matches!(e, AccessError::Symlink { .. }), "{e}");
    assert!(e.to_string().contains("/sys/dev/operstate"), "{e}");
    let e = c
        .replace(Path::new("sys/dev/operstate"), b"up\n")
        .unwrap_err();
    assert!(matches!(e, AccessError::Symlink { .. }), "{e}");
    // A planted spare is not written through either.
    symlink(&victim, root.path().join("sys/dev/.attr.spare")).unwrap();
    assert!(c.replace(Path::new("sys/dev/attr"), b"2\n").is_err());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn directory_links_stay_in_the_root() {
    let (root, out, c) = setup();
    // A relative link climbing out, and an absolute one: both resolve inside the root.
    symlink("../../../../../../../../..", root.path().join("sys/up")).unwrap();
    symlink("/sys/dev", root.path().join("sys/abs")).unwrap();
    assert_eq!(c.read_attr(Path::new("sys/abs/attr")).unwrap(), "1");
    let through = format!("sys/up{}", out.path().join("victim").display());
    let e = c.write(Path::new(&through), b"x").unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(
        std::fs::read_to_string(out.path().join("victim")).unwrap(),
        "precious\n"
    );
    assert!(c.read_attr(Path::new("../etc/passwd")).is_err());
}

#[test]
fn fifos_do_not_hang() {
    let (root, _out, c) = setup();
    let p = root.path().join("sys/dev/fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &p,
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let e = c.read_attr(Path::new("sys/dev/fifo")).unwrap_err();
    assert!(e.to_string().contains("FIFO"), "{e}");
    let e = c.write(Path::new("sys/dev/fifo"), b"1").unwrap_err();
    assert!(e.to_string().contains("FIFO"), "{e}");
}

#[test]
fn bounded_reads_and_tree_ops() {
    let (root, out, c) = setup();
    std::fs::write(root.path().join("sys/dev/big"), vec![b'1'; ATTR_LIMIT + 1]).unwrap();
    assert!(matches!(
        c.read_attr(Path::new("sys/dev/big")),
        Err(AccessError::TooLarge { .. })
    ));
    c.create_dir_all(Path::new("sys/a/b/c")).unwrap();
    c.symlink(Path::new("../../dev"), Path::new("sys/a/b/link"))
        .unwrap();
    assert_eq!(c.link_name(Path::new("sys/a/b/link")).unwrap(), "dev");
    c.replace(Path::new("sys/a/b/c/file"), b"v\n").unwrap();
    c.replace(Path::new("sys/a/b/c/file"), b"w\n").unwrap();
    assert_eq!(c.read_attr(Path::new("sys/a/b/c/file")).unwrap(), "w");
    // remove_all removes a link to outside, not what it points at.
    symlink(out.path(), root.path().join("sys/a/b/out")).unwrap();
    c.remove_all(Path::new("sys/a")).unwrap();
    assert!(!root.path().join("sys/a").exists());
    assert!(out.path().join("victim").exists());
    let mut l = c.list(Path::new("sys/dev")).unwrap();
    l.sort();
    assert_eq!(l, ["attr", "big"]);
}
