//! The allocation store and the config against hostile or unlucky input, through the real
//! `vifman` binary on a simulated host: corrupted, emptied and swapped store files, a FIFO at
//! the lock, one VIF id spelled two ways, bad ids, config typos. Each case asserts a clear
//! one-line error (or the documented warning) and that nothing in the state dir changed.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::*;

const VIF: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";
const VIF2: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d02";

/// Every command here answers at once; 20 s means it hung.
const QUICK: Duration = Duration::from_secs(20);

/// The shared simulated-host harness on the shipped config, every command limited to
/// [`QUICK`]; this file's own helpers are in the `impl` below.
type Sim = SimEnv;

impl Sim {
    fn new() -> Sim {
        Sim::shipped().with_limit(QUICK)
    }
    fn ok(&self, cmd: &str, extra: &[&str]) -> Output {
        let o = self.runner(cmd, extra).output();
        assert!(o.status.success(), "{cmd} {extra:?}: {}", text(&o.stderr));
        o
    }
    /// A clean failure: non-zero exit, one line on stderr containing every needle.
    fn fails(&self, cmd: &str, extra: &[&str], needles: &[&str]) -> String {
        let o = self.runner(cmd, extra).output();
        let err = text(&o.stderr);
        assert!(!o.status.success(), "{cmd} {extra:?} succeeded: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{cmd}: not one line: {err}"
        );
        for n in needles {
            assert!(err.contains(n), "{cmd} {extra:?}: no {n:?} in: {err}");
        }
        err
    }
    /// Allocate with a VLAN only (no MAC): the VF then looks free to anyone without the record,
    /// which is what makes a lost store dangerous.
    fn allocate(&self, vif: &str) -> Output {
        self.runner(
            "allocate",
            &[
                "--physnet",
                "physnet3",
                "--instance",
                INST,
                "--vif-id",
                vif,
                "--vlan",
                "100",
            ],
        )
        .output()
    }
    fn allocations(&self) -> serde_json::Value {
        let o = vifman_within(
            &[
                "allocations",
                "--json",
                "--state-dir",
                &self.state.display().to_string(),
            ],
            QUICK,
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }
    fn slot(&self, name: &str) -> PathBuf {
        self.state.join(name)
    }
}

/// Every file under `dir` (the store and the simulated kernel's copy) with its content.
#[test]
fn state_dir_is_0700_whatever_the_umask() {
    let sim = Sim::new();
    let a = sim.args_for("pools", &[]);
    let cmd = format!(
        "umask 000; exec '{}' {}",
        BIN,
        a.iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut sh = under("sh");
    sh.args(["-c", &cmd]);
    let o = output_within(sh, None, QUICK);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mode = std::fs::metadata(&sim.state).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700);
    assert!(sim.allocate(VIF).status.success());
    let lock = std::fs::metadata(sim.slot("lock"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(lock & 0o077, 0, "lock mode {lock:o}");
}

#[test]
fn emptied_or_deleted_slots_are_an_error_never_an_empty_store() {
    for how in ["empty", "deleted"] {
        let sim = Sim::new();
        assert!(sim.allocate(VIF).status.success());
        let held_vf = sim.allocations()[0]["vf"].as_str().unwrap().to_string();
        for s in ["state.a", "state.b"] {
            match how {
                "empty" => std::fs::write(sim.slot(s), b"").unwrap(),
                _ => std::fs::remove_file(sim.slot(s)).unwrap(),
            }
        }
        let before = tree_digest(&sim.state);
        let needles = [
            "has held allocations",
            "state.a is",
            "state.b is",
            "vifman reconcile --repair",
        ];
        // The VF held by VIF is not handed to a second VIF; nothing reads "no allocations".
        sim.fails(
            "allocate",
            &[
                "--physnet",
                "physnet3",
                "--instance",
                INST,
                "--vif-id",
                VIF2,
                "--vlan",
                "7",
            ],
            &needles,
        );
        sim.fails("allocations", &[], &needles);
        sim.fails("release", &["--vif-id", VIF], &needles);
        sim.fails("reconcile", &[], &needles);
        let st = sim.state.display().to_string();
        let o = vifman_within(
            &["inventory", "--sysfs-root", NFV, "--state-dir", &st],
            QUICK,
        );
        assert!(!o.status.success(), "{how}: inventory hid the loss");
        assert!(text(&o.stderr).contains("has held allocations"));
        assert_eq!(tree_digest(&sim.state), before, "{how}: state changed");

        // The documented way out: repair sets the files aside and re-records the VF that
        // still carries VIF's VLAN, so a new VIF gets another VF.
        let o = sim.ok("reconcile", &["--repair", "--json"]);
        assert!(
            text(&o.stderr).contains("the store was lost"),
            "{}",
            text(&o.stderr)
        );
        let drift: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let recovered = drift
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["vf"] == held_vf.as_str())
            .unwrap_or_else(|| panic!("{how}: {held_vf} not recovered: {drift}"))
            .clone();
        assert!(
            recovered["repaired"]
                .as_str()
                .unwrap()
                .contains("recovered VIF"),
            "{recovered}"
        );
        let list = sim.allocations();
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|a| a["vf"] == held_vf.as_str()),
            "{list}"
        );
        // VFs someone else gave an admin MAC stay unrecorded and untouched.
        assert!(
            !list.as_array().unwrap().iter().any(|a| a["requested"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["knob"] == "mac")),
            "{list}"
        );
        let o = sim.ok(
            "allocate",
            &[
                "--physnet",
                "physnet3",
                "--instance",
                INST,
                "--vif-id",
                VIF2,
                "--vlan",
                "7",
                "--dry-run",
            ],
        );
        let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_ne!(plan["vf"], held_vf.as_str(), "{how}: handed out twice");
        // The recovered record can be released like any other.
        let id = recovered["vif_id"].as_str().unwrap();
        sim.ok("release", &["--vif-id", id]);
        assert!(!sim
            .allocations()
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["vf"] == held_vf.as_str()));
        // A second repair finds a healthy store and changes nothing.
        let before = tree_digest(&sim.state);
        let o = sim.ok("reconcile", &["--repair"]);
        assert!(!text(&o.stderr).contains("the store was lost"));
        assert_eq!(tree_digest(&sim.state), before);
    }
}

#[test]
fn damaged_slots_fall_back_with_a_warning_or_are_refused() {
    let sim = Sim::new();
    assert!(sim.allocate(VIF).status.success());
    // allocate wrote two generations: pending (state.a), active (state.b).
    let b = std::fs::read(sim.slot("state.b")).unwrap();
    // Truncated newest slot: the older one is used, and stderr says so.
    std::fs::write(sim.slot("state.b"), &b[..b.len() / 2]).unwrap();
    let before = tree_digest(&sim.state);
    let o = sim.ok("allocations", &["--json"]);
    let err = text(&o.stderr);
    assert!(
        err.contains("WARN") && err.contains("state.b is damaged (truncated)"),
        "{err}"
    );
    assert!(err.contains("using state.a (generation 1)"), "{err}");
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["phase"], "pending");
    assert_eq!(tree_digest(&sim.state), before);
    // Garbage in both: refused, naming both, nothing changed.
    std::fs::write(sim.slot("state.a"), b"\x00\x01garbage").unwrap();
    std::fs::write(sim.slot("state.b"), b"{\"seq\":9}\nxx").unwrap();
    let before = tree_digest(&sim.state);
    for cmd in ["allocations", "reconcile"] {
        sim.fails(
            cmd,
            &[],
            &[
                "no slot can be read",
                "state.a is damaged (no header line)",
                "state.b is damaged (unreadable header)",
                "vifman reconcile --repair",
            ],
        );
    }
    sim.fails(
        "allocate",
        &[
            "--physnet",
            "physnet3",
            "--instance",
            INST,
            "--vif-id",
            VIF2,
        ],
        &["no slot can be read"],
    );
    assert_eq!(tree_digest(&sim.state), before);
}

#[test]
fn symlinked_slots_and_a_fifo_lock_are_refused_at_once() {
    let sim = Sim::new();
    assert!(sim.allocate(VIF).status.success());
    let outside = sim.dir().join("precious");
    std::fs::write(&outside, b"not vifman's").unwrap();
    // A slot replaced by a symlink to a file outside the state dir.
    let a = sim.slot("state.a");
    let saved = std::fs::read(&a).unwrap();
    std::fs::remove_file(&a).unwrap();
    std::os::unix::fs::symlink(&outside, &a).unwrap();
    let before = tree_digest(&sim.state);
    for cmd in ["allocations", "release"] {
        sim.fails(
            cmd,
            if cmd == "release" {
                &["--vif-id", VIF][..]
            } else {
                &[]
            },
            &["state.a: is a symbolic link", "refusing"],
        );
    }
    sim.fails(
        "allocate",
        &[
            "--physnet",
            "physnet3",
            "--instance",
            INST,
            "--vif-id",
            VIF2,
        ],
        &["symbolic link"],
    );
    assert_eq!(std::fs::read(&outside).unwrap(), b"not vifman's");
    assert_eq!(tree_digest(&sim.state), before);
    std::fs::remove_file(&a).unwrap();
    std::fs::write(&a, saved).unwrap();
    // A FIFO at the lock: every command used to hang on it.
    let lock = sim.slot("lock");
    std::fs::remove_file(&lock).unwrap();
    mkfifo(&lock);
    let before = tree_digest(&sim.state);
    for cmd in ["allocations", "reconcile", "pools"] {
        sim.fails(
            cmd,
            &[],
            &["lock: is a FIFO, not a regular file", "refusing"],
        );
    }
    let st = sim.state.display().to_string();
    let o = vifman_within(
        &["inventory", "--sysfs-root", NFV, "--state-dir", &st],
        QUICK,
    );
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("is a FIFO"), "{}", text(&o.stderr));
    assert_eq!(tree_digest(&sim.state), before);
}

#[test]
fn one_vif_id_in_two_spellings_is_one_vif() {
    let sim = Sim::new();
    assert!(sim.allocate(VIF).status.success());
    let before = tree_digest(&sim.state);
    for spelling in [
        VIF.to_uppercase(),
        VIF.replace('-', ""),
        VIF.replace('-', "").to_uppercase(),
    ] {
        sim.fails(
            "allocate",
            &[
                "--physnet",
                "physnet3",
                "--instance",
                INST,
                "--vif-id",
                &spelling,
            ],
            &[&format!("VIF {VIF} already has an allocation")],
        );
    }
    assert_eq!(tree_digest(&sim.state), before);
    // The record is stored in the canonical form, whatever was typed; release accepts any.
    let list = sim.allocations();
    assert_eq!(list[0]["vif_id"], VIF);
    sim.ok("release", &["--vif-id", &VIF.to_uppercase()]);
    assert_eq!(sim.allocations(), serde_json::json!([]));
    // And an upper-case instance id is stored lower-case.
    let o = sim
        .runner(
            "allocate",
            &[
                "--physnet",
                "physnet3",
                "--instance",
                &INST.to_uppercase(),
                "--vif-id",
                &VIF.replace('-', ""),
            ],
        )
        .output();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let list = sim.allocations();
    assert_eq!(list[0]["vif_id"], VIF);
    assert_eq!(list[0]["instance_uuid"], INST);
}

#[test]
fn bad_ids_are_refused_before_anything_happens() {
    let sim = Sim::new();
    assert!(sim.allocate(VIF).status.success());
    let before = tree_digest(&sim.state);
    for bad in [
        "not-a-uuid",
        "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d0",
        "6f0f6f2c--7c9a4b9d-9c9f-0a3a5b1b1d01",
        "",
    ] {
        let o = sim.runner("release", &["--vif-id", bad]).output();
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(
            text(&o.stderr).contains("is not a UUID"),
            "{bad:?}: {}",
            text(&o.stderr)
        );
        let o = sim
            .runner(
                "allocate",
                &["--physnet", "physnet3", "--instance", bad, "--vif-id", VIF2],
            )
            .output();
        assert!(
            text(&o.stderr).contains("is not a UUID"),
            "{bad:?}: {}",
            text(&o.stderr)
        );
        // plug validates its instance id before reading the VIF or touching the kernel.
        let o = vifman_within(
            &["plug", "/nonexistent.json", "--instance-uuid", bad],
            QUICK,
        );
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(
            text(&o.stderr).contains("is not a UUID"),
            "{bad:?}: {}",
            text(&o.stderr)
        );
        let o = vifman_within(
            &["unplug", "/nonexistent.json", "--instance-uuid", bad],
            QUICK,
        );
        assert!(
            text(&o.stderr).contains("is not a UUID"),
            "{bad:?}: {}",
            text(&o.stderr)
        );
    }
    assert_eq!(tree_digest(&sim.state), before);
}

/// The store's slot checksum (FNV-1a 64), so a test can write a slot the store accepts as
/// undamaged and only the record inside it is wrong.
fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Rewrite slot `name` with `edit` applied to its records, header and checksum kept valid.
fn rewrite_slot(path: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let buf = std::fs::read(path).unwrap();
    let nl = buf.iter().position(|b| *b == b'\n').unwrap();
    let header: serde_json::Value = serde_json::from_slice(&buf[..nl]).unwrap();
    let len = header["len"].as_u64().unwrap() as usize;
    let mut body: serde_json::Value = serde_json::from_slice(&buf[nl + 1..nl + 1 + len]).unwrap();
    edit(&mut body);
    let body = serde_json::to_vec(&body).unwrap();
    let header = serde_json::json!({"seq": header["seq"], "len": body.len(), "hash": fnv1a(&body)});
    let mut out = serde_json::to_vec(&header).unwrap();
    out.push(b'\n');
    out.extend_from_slice(&body);
    std::fs::write(path, out).unwrap();
}

/// Driver names in records are typed on load like every other id: a record whose saved
/// original driver is not a driver name (a path, a control character) would otherwise be
/// written to `driver_override` or spliced into `drivers/<name>/unbind` on release. Every
/// command refuses the store with one line naming the slot file and the bad value, exits
/// non-zero, and changes nothing.
#[test]
fn a_record_with_an_invalid_driver_name_is_refused_on_load() {
    for (bad, shown) in [
        (
            "../../evil",
            r#""../../evil" is not a driver name: contains '/'"#,
        ),
        (
            "igb\n",
            r#""igb\n" is not a driver name: contains a control character"#,
        ),
    ] {
        let sim = Sim::new();
        assert!(sim.allocate(VIF).status.success());
        let good = sim.allocations();
        assert!(good[0]["original"]["driver"].is_string(), "{good}");
        // allocate wrote two generations: pending (state.a), active (state.b).
        let slot = sim.slot("state.b");
        rewrite_slot(&slot, |b| {
            b["allocations"][0]["original"]["driver"] = bad.into()
        });
        let before = tree_digest(&sim.state);
        let needles = [slot.to_str().unwrap(), "cannot be decoded", shown];
        let err = sim.fails("allocations", &[], &needles);
        assert_eq!(err.matches(shown).count(), 1, "said once: {err}");
        sim.fails("release", &["--vif-id", VIF], &needles);
        sim.fails("reconcile", &[], &needles);
        sim.fails(
            "allocate",
            &[
                "--physnet",
                "physnet3",
                "--instance",
                INST,
                "--vif-id",
                VIF2,
                "--vlan",
                "7",
            ],
            &needles,
        );
        assert_eq!(tree_digest(&sim.state), before, "{bad:?}: state changed");
        // The same record with the name it had loads again: only the value was refused.
        rewrite_slot(&slot, |b| {
            b["allocations"][0]["original"]["driver"] = good[0]["original"]["driver"].clone()
        });
        assert_eq!(sim.allocations(), good);
    }
}

#[test]
fn config_typos_are_errors_with_line_and_column() {
    let cases = [
        (
            "exclude = [\"eno2\"]\nexclude_default_rout = true\n",
            ":2:1: exclude_default_rout: unknown field `exclude_default_rout`",
        ),
        (
            "[[device_spec]]\ndevname = \"enp175s0f0\"\nphysical_netwrok = \"physnet3\"\n",
            ":3:1: device_spec[0].physical_netwrok: unknown field",
        ),
        (
            "[[device_spec]]\naddress = { bus = \"5e\", fuction = \"[2-7]\" }\nphysical_network = \"offload\"\n",
            ":2:25: device_spec[0].address.fuction: unknown field `fuction`",
        ),
        (
            "[[device_spec]]\nvendor_id = \"8086\"\n\n[[device_spec]]\nproduct_id = \"zzzz\"\nphysical_network = \"p\"\n",
            ":5:14: device_spec[1].product_id: \"zzzz\" does not parse as a hex number",
        ),
    ];
    let sim = Sim::new();
    assert!(sim.allocate(VIF).status.success());
    for (toml, want) in cases {
        let cfg = sim.dir().join("typo.toml");
        std::fs::write(&cfg, toml).unwrap();
        let mut s = Sim::new();
        s.state = sim.state.clone();
        s.config = cfg.display().to_string();
        let before = tree_digest(&sim.state);
        for cmd in ["pools", "allocate"] {
            let extra: &[&str] = if cmd == "allocate" {
                &[
                    "--physnet",
                    "physnet3",
                    "--instance",
                    INST,
                    "--vif-id",
                    VIF2,
                ]
            } else {
                &[]
            };
            let err = s.fails(cmd, extra, &[want]);
            assert!(err.starts_with(&format!("{}:", cfg.display())), "{err}");
        }
        assert_eq!(tree_digest(&sim.state), before, "{toml}");
    }
}
