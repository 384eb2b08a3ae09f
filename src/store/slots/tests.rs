use std::os::unix::fs::PermissionsExt;

use super::*;

#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct S {
    n: u32,
    items: Vec<String>,
}

fn s(n: u32) -> S {
    S { n, items: vec![] }
}

fn saved(dir: &Path, ns: &[u32]) {
    let mut st = Store::open(dir).unwrap();
    for n in ns {
        st.save(&s(*n)).unwrap();
    }
}

fn load(dir: &Path) -> Result<(S, Vec<String>), StoreError> {
    let mut st = Store::open(dir)?;
    Ok((st.load()?, st.warnings().to_vec()))
}

#[test]
fn save_load_and_torn_writes() {
    let d = tempfile::tempdir().unwrap();
    {
        let mut st = Store::open(d.path()).unwrap();
        assert_eq!(st.load::<S>().unwrap(), S::default());
        st.save(&S {
            n: 1,
            items: vec!["a".into()],
        })
        .unwrap();
        st.save(&s(2)).unwrap();
    }
    let mut st = Store::open(d.path()).unwrap();
    assert_eq!(st.load::<S>().unwrap().n, 2);
    assert!(st.warnings().is_empty());
    st.save(&s(3)).unwrap();
    drop(st);
    // Tear the newest slot (seq 3 lives in state.a): the previous state comes back, with a
    // warning naming the damaged file.
    let a = d.path().join("state.a");
    let text = std::fs::read(&a).unwrap();
    std::fs::write(&a, &text[..text.len() - 3]).unwrap();
    let (got, warn) = load(d.path()).unwrap();
    assert_eq!(got.n, 2);
    assert_eq!(warn.len(), 1, "{warn:?}");
    assert!(
        warn[0].contains("state.a is damaged (truncated)"),
        "{warn:?}"
    );
    // Writing again goes to the damaged slot, never over the good one.
    let mut st = Store::open(d.path()).unwrap();
    st.save(&s(4)).unwrap();
    drop(st);
    let (got, warn) = load(d.path()).unwrap();
    assert_eq!((got.n, warn.len()), (4, 0));
    // Both damaged: a clear refusal naming both files, not an empty state.
    std::fs::write(d.path().join("state.a"), b"junk").unwrap();
    std::fs::write(d.path().join("state.b"), b"junk\n").unwrap();
    let e = Store::open(d.path()).err().unwrap();
    assert!(matches!(e, StoreError::Damaged { .. }), "{e}");
    let m = e.to_string();
    assert!(m.contains("state.a is damaged (no header line)"), "{m}");
    assert!(m.contains("state.b is damaged (unreadable header)"), "{m}");
    assert!(m.contains("a repair") && !m.contains("--repair"), "{m}");
}

#[test]
fn fresh_directory_is_0700_and_peek_creates_nothing() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("a/b/state");
    assert_eq!(Store::peek::<S>(&dir).unwrap(), None);
    assert!(!dir.exists());
    drop(Store::open(&dir).unwrap());
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700);
    // Opening creates only the lock: the slots appear with the first save.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["lock"]);
    assert_eq!(Store::peek::<S>(&dir).unwrap(), Some(S::default()));
    saved(&dir, &[7]);
    assert_eq!(Store::peek::<S>(&dir).unwrap().unwrap().n, 7);
    assert!(dir.join("marker").exists());
}

#[test]
fn lost_slots_are_an_error_once_a_store_existed() {
    for damage in ["empty", "missing", "one-empty-one-missing"] {
        let d = tempfile::tempdir().unwrap();
        saved(d.path(), &[1, 2]);
        let (a, b) = (d.path().join("state.a"), d.path().join("state.b"));
        match damage {
            "empty" => {
                std::fs::write(&a, b"").unwrap();
                std::fs::write(&b, b"").unwrap();
            }
            "missing" => {
                std::fs::remove_file(&a).unwrap();
                std::fs::remove_file(&b).unwrap();
            }
            _ => {
                std::fs::write(&a, b"").unwrap();
                std::fs::remove_file(&b).unwrap();
            }
        }
        let e = Store::open(d.path()).err().unwrap();
        assert!(matches!(e, StoreError::Lost { .. }), "{damage}: {e}");
        let m = e.to_string();
        assert!(m.contains("state.a is") && m.contains("state.b is"), "{m}");
        assert!(m.contains("a repair") && !m.contains("--repair"), "{m}");
        assert!(Store::peek::<S>(d.path()).is_err(), "{damage}");
        // Nothing was recreated by the refusal.
        assert_eq!(damage == "missing", !a.exists(), "{damage}");
    }
}

#[test]
fn an_empty_older_slot_after_generation_two_is_reported() {
    let d = tempfile::tempdir().unwrap();
    saved(d.path(), &[1, 2]);
    // Generation 1 (state.a) emptied: state.b still wins, but the loss is reported.
    std::fs::write(d.path().join("state.a"), b"").unwrap();
    let (got, warn) = load(d.path()).unwrap();
    assert_eq!(got.n, 2);
    assert!(warn[0].contains("state.a is empty"), "{warn:?}");
    // A store saved once has an empty second slot by design: no warning.
    let d = tempfile::tempdir().unwrap();
    saved(d.path(), &[1]);
    assert!(load(d.path()).unwrap().1.is_empty());
}

#[test]
fn symlinks_fifos_and_foreign_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    saved(d.path(), &[1, 2]);
    let outside = d.path().join("outside");
    std::fs::write(&outside, b"precious").unwrap();
    // A slot that is a symlink: refused, and the target is never written.
    let b = d.path().join("state.b");
    std::fs::remove_file(&b).unwrap();
    std::os::unix::fs::symlink(&outside, &b).unwrap();
    let e = Store::open(d.path()).err().unwrap();
    assert!(e.to_string().contains("state.b: is a symbolic link"), "{e}");
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
    std::fs::remove_file(&b).unwrap();
    // A FIFO at the lock: an error at once, not a hang.
    let lock = d.path().join("lock");
    std::fs::remove_file(&lock).unwrap();
    rustix::fs::mkfifoat(rustix::fs::CWD, &lock, Mode::from_raw_mode(0o600)).unwrap();
    let e = Store::open(d.path()).err().unwrap();
    assert!(
        e.to_string()
            .contains("lock: is a FIFO, not a regular file"),
        "{e}"
    );
    std::fs::remove_file(&lock).unwrap();
    // A lock owned by someone else.
    std::fs::write(&lock, b"").unwrap();
    if euid() == 0 {
        std::os::unix::fs::chown(&lock, Some(65534), None).unwrap();
        let e = Store::open(d.path()).err().unwrap();
        assert!(e.to_string().contains("owned by uid 65534"), "{e}");
        std::fs::remove_file(&lock).unwrap();
    }
    // A directory others may write to.
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = Store::open(d.path()).err().unwrap();
    assert!(e.to_string().contains("writable by other users"), "{e}");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    // A symlinked lock left dangling is not created through.
    std::os::unix::fs::symlink(d.path().join("elsewhere"), &lock).unwrap();
    assert!(Store::open(d.path()).is_err());
    assert!(!d.path().join("elsewhere").exists());
}

#[test]
fn the_generation_counter_never_wraps() {
    let d = tempfile::tempdir().unwrap();
    let body = serde_json::to_vec(&s(9)).unwrap();
    let header = serde_json::to_vec(&SlotHeader {
        seq: u64::MAX,
        len: body.len(),
        hash: fnv1a(&body),
    })
    .unwrap();
    let mut text = header;
    text.push(b'\n');
    text.extend_from_slice(&body);
    saved(d.path(), &[1]);
    std::fs::write(d.path().join("state.a"), &text).unwrap();
    let mut st = Store::open(d.path()).unwrap();
    assert_eq!(st.load::<S>().unwrap().n, 9);
    let e = st.save(&s(10)).unwrap_err();
    assert!(matches!(e, StoreError::Exhausted { .. }), "{e}");
    drop(st);
    assert_eq!(std::fs::read(d.path().join("state.a")).unwrap(), text);
    assert!(!d.path().join("state.b").exists());
}

#[test]
fn repair_sets_a_lost_store_aside() {
    let d = tempfile::tempdir().unwrap();
    saved(d.path(), &[1, 2]);
    std::fs::write(d.path().join("state.a"), b"").unwrap();
    std::fs::write(d.path().join("state.b"), b"garbage").unwrap();
    assert!(Store::open(d.path()).is_err());
    let (mut st, notes) = Store::open_for_repair(d.path()).unwrap();
    let notes = notes.unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[1].contains("state.b (damaged"), "{notes:?}");
    assert_eq!(st.load::<S>().unwrap(), S::default());
    st.save(&s(5)).unwrap();
    drop(st);
    assert_eq!(load(d.path()).unwrap().0.n, 5);
    let kept = std::fs::read_dir(d.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".damaged-")
        })
        .count();
    assert_eq!(kept, 2);
    // A healthy store is opened for repair as it is.
    let (mut st, notes) = Store::open_for_repair(d.path()).unwrap();
    assert!(notes.is_none());
    assert_eq!(st.load::<S>().unwrap().n, 5);
}
