//! Real-kernel SR-IOV tier: boots a Debian kernel under QEMU (TCG) with two emulated igb
//! (82576) SR-IOV NICs and runs vifman against the real igb/igbvf/vfio-pci drivers.
//!
//! One guest boot runs every scenario in tests/vm/guest/scenarios/ (see docs/vm-tests.md);
//! each prints `SCENARIO <name> PASS|FAIL|SKIP <detail>`. This test fails on any FAIL, on a
//! scenario with no verdict, and on a guest that does not boot or finish (never a skip).
//! SKIP means vifman lacks the command the scenario drives; VIFMAN_VM_STRICT=1 fails those too.
//! Afterwards the fixture tree captured in the guest is inventoried here, on the host, and
//! must give the guest's live inventory (row `capture-host`).
//!
//! Knobs: VIFMAN_VM_TESTS=0 skips the tier (say so loudly: CI must not set it),
//! VIFMAN_VM_SCENARIOS="numvfs inventory" runs a subset, VIFMAN_VM_TIMEOUT=secs.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Written straight to stderr: libtest captures only the print macros, and the table and
/// timings belong in every CI log, passing or not.
fn say(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{s}");
}

#[derive(Debug)]
struct Row {
    name: String,
    result: String,
    detail: String,
    ms: Option<u64>,
}

/// Scenario names in run order: file stem without its NN- ordering prefix.
fn scenario_names() -> Vec<String> {
    let dir = repo().join("tests/vm/guest/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            match stem.split_once('-') {
                Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => rest.to_string(),
                _ => stem,
            }
        })
        .collect()
}

fn parse(log: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for line in log.lines() {
        let mut it = line.splitn(4, ' ');
        match (it.next(), it.next(), it.next()) {
            // First verdict wins (a failing command substitution can echo a second).
            (Some("SCENARIO"), Some(name), Some(result)) if rows.iter().all(|r| r.name != name) => {
                rows.push(Row {
                    name: name.into(),
                    result: result.into(),
                    detail: it.next().unwrap_or("").into(),
                    ms: None,
                });
            }
            (Some("TIMING"), Some(name), Some(ms)) => {
                if let Some(r) = rows.iter_mut().find(|r| r.name == name) {
                    r.ms = ms.parse().ok();
                }
            }
            _ => {}
        }
    }
    rows
}

/// First difference between two JSON values, as a path and both sides.
fn first_diff(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = first_diff(u, v, &p) {
                            return Some(d);
                        }
                    }
                    (u, v) => return Some(format!("{p}: guest {u:?}, host {v:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_diff(u, v, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: guest {a}, host {b}")),
    }
}

/// The guest's capture, inventoried by the host's vifman, must equal the guest's live view.
/// Uses the very binary the guest ran (share/bin/vifman): target/debug/vifman may have been
/// rebuilt by another cargo command during the guest run.
fn capture_on_host(share: &Path) -> Row {
    let out = share.join("out");
    let row = |result: &str, detail: String| Row {
        name: "capture-host".into(),
        result: result.into(),
        detail,
        ms: None,
    };
    let cap = out.join("capture");
    let live = out.join("inventory-guest.json");
    if !cap.is_dir() || !live.is_file() {
        return row("SKIP", "no capture from the guest".into());
    }
    let t = Instant::now();
    let o = Command::new(share.join("bin/vifman"))
        .args(["inventory", "--json", "--sysfs-root"])
        .arg(&cap)
        .output()
        .expect("run vifman");
    if !o.status.success() {
        return row(
            "FAIL",
            format!(
                "vifman inventory --sysfs-root {}: {}",
                cap.display(),
                String::from_utf8_lossy(&o.stderr)
            ),
        );
    }
    let norm = |mut v: Value| {
        if let Some(m) = v.as_object_mut() {
            m.remove("sysfs_root");
            m.remove("vf_state_source");
        }
        v
    };
    let host: Value = norm(serde_json::from_slice(&o.stdout).expect("host inventory JSON"));
    let guest: Value =
        norm(serde_json::from_str(&std::fs::read_to_string(&live).unwrap()).expect("guest JSON"));
    let mut r = match first_diff(&guest, &host, "") {
        None => {
            let vfs: usize = host["physical_functions"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .map(|p| p["vfs"].as_array().map_or(0, Vec::len))
                        .sum()
                })
                .unwrap_or(0);
            row(
                "PASS",
                format!("host inventory of the captured tree = guest live ({vfs} VFs)"),
            )
        }
        Some(d) => row("FAIL", format!("host vs guest inventory differ at {d}")),
    };
    r.ms = Some(t.elapsed().as_millis() as u64);
    r
}

#[test]
fn igb_sriov_in_qemu() {
    if std::env::var("VIFMAN_VM_TESTS").as_deref() == Ok("0") {
        say("vm_igb: SKIPPED because VIFMAN_VM_TESTS=0");
        return;
    }
    let start = Instant::now();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_vifman"));
    let target = exe.parent().and_then(Path::parent).expect("target dir");
    let rundir = target.join("vm-cache/run");
    let selected: Vec<String> = std::env::var("VIFMAN_VM_SCENARIOS")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let timeout = std::env::var("VIFMAN_VM_TIMEOUT").unwrap_or_else(|_| "1500".into());

    say(&format!(
        "vm_igb: building/booting the guest (cache {})",
        target.join("vm-cache").display()
    ));
    // The kubelet stand-in the passthrough scenario drives the device plugin with (built by
    // `cargo test` with the fleet feature; the scenario skips that part without it).
    let probe = exe
        .parent()
        .map(|d| d.join("examples/kubelet_probe"))
        .filter(|p| p.exists());
    assert!(
        probe.is_some() || std::env::var("VIFMAN_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "VIFMAN_REQUIRE_INTEROP=1 but target/*/examples/kubelet_probe is missing (cargo test --all-features builds it)"
    );
    let mut child = Command::new("bash")
        .env(
            "VIFMAN_VM_EXTRA_BINS",
            probe.map(|p| p.display().to_string()).unwrap_or_default(),
        )
        .arg(repo().join("tests/vm/run.sh"))
        .args(["-n", "2", "-t", &timeout, "-b"])
        .arg(&exe)
        .arg("-o")
        .arg(&rundir)
        .args(&selected)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tests/vm/run.sh");
    // Merge stderr into the log from a thread; verdict lines echo live so a slow run shows
    // progress in the CI log.
    let err = child.stderr.take().unwrap();
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if l.starts_with("vm-") {
                say(&format!("vm_igb: {l}"));
            }
            s.push_str(&l);
            s.push('\n');
        }
        s
    });
    let mut log = String::new();
    for l in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if l.starts_with("SCENARIO ") || l.starts_with("guest: ") {
            say(&format!("vm_igb: {l}"));
        }
        log.push_str(&l);
        log.push('\n');
    }
    let status = child.wait().expect("wait run.sh");
    let stderr_log = errs.join().unwrap_or_default();
    let code = status.code().unwrap_or(-1);

    let mut rows = parse(&log);
    let mut problems = Vec::new();
    match code {
        0 | 1 => {}
        124 => problems.push("the guest timed out (console log above)".to_string()),
        125 => problems.push("the guest did not boot or died (console log above)".to_string()),
        c => problems.push(format!("tests/vm/run.sh failed with exit code {c}")),
    }
    for name in scenario_names() {
        if !selected.is_empty() && !selected.contains(&name) {
            continue;
        }
        if rows.iter().all(|r| r.name != name) {
            problems.push(format!("scenario {name}: no verdict"));
            rows.push(Row {
                name,
                result: "MISSING".into(),
                detail: String::new(),
                ms: None,
            });
        }
    }
    if code == 0 || code == 1 {
        rows.push(capture_on_host(&rundir.join("share")));
    }
    let strict = std::env::var("VIFMAN_VM_STRICT").as_deref() == Ok("1");
    for r in &rows {
        if r.result == "FAIL" || (strict && r.result == "SKIP") {
            problems.push(format!("scenario {} {}: {}", r.name, r.result, r.detail));
        }
    }
    if code == 1 && !rows.iter().any(|r| r.result == "FAIL") {
        problems.push("the guest script exited 1 without a FAIL verdict".into());
    }

    let mut table = String::from("vm_igb: scenario           result   time  detail\n");
    for r in &rows {
        let t =
            r.ms.map_or("-".to_string(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
        let mut d: String = r.detail.chars().take(140).collect();
        if d.len() < r.detail.len() {
            d.push('…');
        }
        table.push_str(&format!(
            "vm_igb: {:<18} {:<7} {:>6}  {}\n",
            r.name, r.result, t, d
        ));
    }
    table.push_str(&format!(
        "vm_igb: tier wall time {:.1}s (guest log: {})",
        start.elapsed().as_secs_f64(),
        rundir.join("share/out/log.txt").display()
    ));
    say(&table);

    if !problems.is_empty() {
        // Captured output: shown by libtest for this failing test only.
        eprintln!("----- tests/vm/run.sh stderr -----\n{stderr_log}");
        eprintln!("----- guest log -----\n{log}");
        panic!(
            "real-kernel SR-IOV tier failed:\n  {}",
            problems.join("\n  ")
        );
    }
}
