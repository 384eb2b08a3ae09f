//! Whole-device passthrough on the simulated nfv-host, through the real `vifman` binary: a PF
//! by physnet, plain PCI devices by alias, nova's parent/child rule and the IOMMU-group rule,
//! each read back from the simulated kernel's own files.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use common::*;

const VIF_PF: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0000000000a1";
const VIF_VF: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0000000000a2";

/// Pools for these tests: the 82576 PF (4 VFs enabled, one configured outside vifman) and its
/// VFs on physnet3, the first onboard i350 port and its VFs on physnet4, both i350 ports as an
/// alias of whole PFs, the GPU and the NVMe drive as aliases.
const CONFIG: &str = r#"
exclude_default_route = false
pf_passthrough_removes_vfs = true

[[device_spec]]
devname = "enp175s0f0"
physical_network = "physnet3"

[[device_spec]]
address = "0000:18:00.0"
physical_network = "physnet4"

[[device_spec]]
address = "0000:18:00.*"

[[device_spec]]
vendor_id = "10de"
product_id = "2230"

[[device_spec]]
vendor_id = "144d"
product_id = "a808"

[[alias]]
name = "i350"
vendor_id = "8086"
product_id = "1521"
device_type = "type-PF"

[[alias]]
name = "a6000"
vendor_id = "10de"
product_id = "2230"
device_type = "type-PCI"
numa_policy = "required"

[[alias]]
name = "nvme"
vendor_id = "144d"
product_id = "a808"
"#;

/// The shared simulated-host harness; this file's own helpers are in the `impl` below.
type Sim = SimEnv;

/// Per device: driver, driver_override; plus each PF's sriov_numvfs.
type Snapshot = BTreeMap<String, (Option<String>, String, String)>;

impl Sim {
    fn new(config: &str) -> Sim {
        Sim::with_config(config)
    }
    /// `vifman cmd extra… host…`.
    fn cmd(&self, cmd: &str, extra: &[&str]) -> Output {
        self.run(&[&[cmd], extra].concat(), &[])
    }
    fn ok(&self, cmd: &str, extra: &[&str]) -> String {
        let o = self.cmd(cmd, extra);
        assert!(o.status.success(), "{cmd} {extra:?}: {}", text(&o.stderr));
        text(&o.stdout)
    }
    /// Fails, says `why` on stderr.
    fn refused(&self, cmd: &str, extra: &[&str], why: &str) -> String {
        let o = self.cmd(cmd, extra);
        let err = text(&o.stderr);
        assert!(!o.status.success(), "{cmd} {extra:?} succeeded");
        assert!(err.contains(why), "{cmd} {extra:?}: {err:?} lacks {why:?}");
        err
    }
    fn root(&self) -> PathBuf {
        sim_kernel(NFV, &self.state)
    }
    fn snapshot(&self) -> Snapshot {
        let root = self.root();
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(root.join("sys/bus/pci/devices")).unwrap() {
            let p = e.unwrap().path();
            let drv = std::fs::read_link(p.join("driver"))
                .ok()
                .map(|l| l.file_name().unwrap().to_string_lossy().into_owned());
            let ovr = std::fs::read_to_string(p.join("driver_override")).unwrap_or_default();
            let nv = std::fs::read_to_string(p.join("sriov_numvfs")).unwrap_or_default();
            out.insert(
                p.file_name().unwrap().to_string_lossy().into_owned(),
                (drv, ovr.trim().to_string(), nv.trim().to_string()),
            );
        }
        out
    }
    fn driver(&self, addr: &str) -> Option<String> {
        self.snapshot()[addr].0.clone()
    }
    fn pools(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok("pools", &["--json", "--explain"])).unwrap()
    }
}

fn pool<'a>(p: &'a serde_json::Value, name: &str, t: &str) -> &'a serde_json::Value {
    p["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["physnet"] == name && x["device_type"] == t)
        .unwrap_or_else(|| panic!("no pool {name} {t} in {p}"))
}

fn verdict(p: &serde_json::Value, addr: &str) -> String {
    p["explain"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["vf"] == addr)
        .unwrap_or_else(|| panic!("{addr} not explained in {p}"))["verdict"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn pf_passthrough_refuses_its_vfs_and_release_restores() {
    let sim = Sim::new(CONFIG);
    sim.ok("numvfs", &["0000:18:00.0", "2"]);
    let p = sim.pools();
    assert_eq!(pool(&p, "physnet4", "type-PF")["free"], 1, "{p}");
    assert_eq!(pool(&p, "physnet4", "type-VF")["total"], 2, "{p}");

    // A VF of the PF allocated: the PF is not offered (nova's parent/child rule).
    sim.ok(
        "allocate",
        &[
            "--physnet",
            "physnet4",
            "--instance",
            INST,
            "--vif-id",
            VIF_VF,
        ],
    );
    let before = sim.snapshot();
    sim.refused(
        "allocate",
        &[
            "--physnet",
            "physnet4",
            "--device-type",
            "pf",
            "--instance",
            INST,
            "--vif-id",
            VIF_PF,
        ],
        "1 of its VFs allocated",
    );
    assert_eq!(
        sim.snapshot(),
        before,
        "a refused PF allocation changed the host"
    );
    sim.ok("release", &["--vif-id", VIF_VF]);

    let before = sim.snapshot();
    let out = sim.ok(
        "allocate",
        &[
            "--physnet",
            "physnet4",
            "--device-type",
            "pf",
            "--instance",
            INST,
            "--vif-id",
            VIF_PF,
        ],
    );
    let vif: serde_json::Value = serde_json::from_str(&out).unwrap();
    let data = &vif["versioned_object.data"];
    assert_eq!(vif["versioned_object.name"], "VIFHostDevice");
    assert_eq!(data["dev_type"], "ethernet");
    assert_eq!(data["dev_address"], "0000:18:00.0");
    assert_eq!(data["id"], VIF_PF);
    let now = sim.snapshot();
    assert_eq!(now["0000:18:00.0"].0.as_deref(), Some("vfio-pci"));
    assert_eq!(now["0000:18:00.0"].2, "0", "the PF's VFs were not removed");

    // Meanwhile: no VF of it, no numvfs on it.
    sim.refused(
        "allocate",
        &[
            "--physnet",
            "physnet4",
            "--instance",
            INST,
            "--vif-id",
            VIF_VF,
        ],
        "no free VF",
    );
    sim.refused("numvfs", &["0000:18:00.0", "2"], "passed through whole");
    let p = sim.pools();
    assert_eq!(pool(&p, "physnet4", "type-PF")["allocated"], 1, "{p}");

    sim.ok("release", &["--vif-id", VIF_PF]);
    let after = sim.snapshot();
    for (addr, b) in &before {
        assert_eq!(after.get(addr), Some(b), "{addr} not restored");
    }
    assert_eq!(after["0000:18:00.0"].2, "2");
    // And its VFs are usable again.
    sim.ok(
        "allocate",
        &[
            "--physnet",
            "physnet4",
            "--instance",
            INST,
            "--vif-id",
            VIF_VF,
        ],
    );
}

#[test]
fn pf_whose_vfs_are_used_outside_vifman_is_not_offered() {
    // 0000:af:10.0 carries an admin MAC nobody recorded: removing it would pull it from
    // under whoever set it.
    let sim = Sim::new(CONFIG);
    let v = verdict(&sim.pools(), "0000:af:00.0");
    assert!(v.contains("0000:af:10.0 in use outside vifman"), "{v}");
}

#[test]
fn pf_with_vfs_is_excluded_unless_policy_allows_removing_them() {
    let sim = Sim::new(&CONFIG.replace(
        "pf_passthrough_removes_vfs = true",
        "pf_passthrough_removes_vfs = false",
    ));
    let p = sim.pools();
    let v = verdict(&p, "0000:af:00.0");
    assert!(
        v.contains("4 VFs enabled") && v.contains("pf_passthrough_removes_vfs"),
        "{v}"
    );
    sim.refused(
        "allocate",
        &[
            "--physnet",
            "physnet3",
            "--device-type",
            "pf",
            "--instance",
            INST,
            "--vif-id",
            VIF_PF,
        ],
        "pf_passthrough_removes_vfs",
    );
}

/// `pci --config` puts each device in the pools `pools` counts it in (one rule), and a PF
/// handed out whole (on vfio-pci, no netdev left to match) stays in the pool it came from.
#[test]
fn pci_shows_the_pools_that_pools_counts() {
    let sim = Sim::new(CONFIG);
    let check = |held: bool| {
        let pci: serde_json::Value = serde_json::from_str(&sim.ok("pci", &["--json"])).unwrap();
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        let mut of = BTreeMap::new();
        for d in pci["devices"].as_array().unwrap() {
            let names: Vec<String> = d["pools"]
                .as_array()
                .unwrap_or_else(|| panic!("no pools with --config: {d}"))
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            for n in &names {
                *by_name.entry(n.clone()).or_default() += 1;
            }
            of.insert(d["address"].as_str().unwrap().to_string(), names);
        }
        assert_eq!(
            of["0000:18:00.0"],
            ["physnet4", "alias:i350"],
            "held={held}"
        );
        assert_eq!(of["0000:18:00.1"], ["alias:i350"]);
        assert_eq!(of["0000:d9:00.0"], ["alias:nvme"]);
        assert!(of["0000:17:00.0"].is_empty(), "a bridge is in no pool");
        let p = sim.pools();
        let mut counted: BTreeMap<String, usize> = BTreeMap::new();
        for x in p["pools"].as_array().unwrap() {
            let n = x["total"].as_u64().unwrap() as usize;
            if n > 0 {
                *counted
                    .entry(x["physnet"].as_str().unwrap().into())
                    .or_default() += n;
            }
        }
        assert_eq!(by_name, counted, "pci and pools disagree (held={held})");
        let table = sim.ok("pci", &[]);
        let row = table.lines().find(|l| l.contains("0000:d9:00.0")).unwrap();
        assert!(
            table.contains("POOL") && row.ends_with("alias:nvme"),
            "{table}"
        );
    };
    check(false);
    sim.ok(
        "allocate",
        &[
            "--physnet",
            "physnet4",
            "--device-type",
            "pf",
            "--instance",
            INST,
            "--vif-id",
            VIF_PF,
        ],
    );
    assert_eq!(sim.driver("0000:18:00.0").as_deref(), Some("vfio-pci"));
    check(true);
    // Without a config there are no pools to show: no column, no key.
    let state = sim.state.display().to_string();
    let bare = vifman(&[
        "pci",
        "--json",
        "--sysfs-root",
        NFV,
        "--simulate",
        "--state-dir",
        &state,
    ]);
    assert!(bare.status.success(), "{}", text(&bare.stderr));
    assert!(!text(&bare.stdout).contains("\"pools\""));
}

#[test]
fn alias_device_goes_to_vfio_and_back() {
    let sim = Sim::new(CONFIG);
    let before = sim.snapshot();
    assert_eq!(before["0000:d9:00.0"].0.as_deref(), Some("nvme"));
    let out = sim.ok("allocate", &["--alias", "nvme", "--instance", INST]);
    let vif: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(vif["versioned_object.data"]["dev_type"], "generic");
    assert_eq!(vif["versioned_object.data"]["dev_address"], "0000:d9:00.0");
    let now = sim.snapshot();
    assert_eq!(now["0000:d9:00.0"].0.as_deref(), Some("vfio-pci"));
    assert_eq!(now["0000:d9:00.0"].1, "vfio-pci");
    // One device of the alias, and it is taken.
    sim.refused(
        "allocate",
        &["--alias", "nvme", "--instance", INST, "--vif-id", VIF_PF],
        "not enough free devices in alias nvme",
    );
    let listed = sim.ok("allocations", &[]);
    assert!(listed.contains("alias nvme"), "{listed}");
    sim.ok("release", &["--instance", INST, "--alias", "nvme"]);
    assert_eq!(sim.snapshot(), before, "release did not restore the drive");
    let drift = sim.ok("reconcile", &[]);
    assert!(!drift.contains("0000:d9:00.0"), "{drift}");
}

#[test]
fn alias_count_is_all_or_nothing() {
    let sim = Sim::new(CONFIG);
    let before = sim.snapshot();
    sim.refused(
        "allocate",
        &["--alias", "i350", "--count", "3", "--instance", INST],
        "2 free, 3 asked for",
    );
    assert_eq!(sim.snapshot(), before, "a refused request changed the host");
    assert_eq!(sim.ok("allocations", &[]).trim().lines().count(), 1);

    let out = sim.ok(
        "allocate",
        &["--alias", "i350", "--count", "2", "--instance", INST],
    );
    let vifs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = vifs.as_array().expect("a JSON list for --count 2");
    assert_eq!(list.len(), 2);
    let mut addrs: Vec<&str> = list
        .iter()
        .map(|v| {
            assert_eq!(v["versioned_object.data"]["dev_type"], "generic");
            v["versioned_object.data"]["dev_address"].as_str().unwrap()
        })
        .collect();
    addrs.sort();
    assert_eq!(addrs, ["0000:18:00.0", "0000:18:00.1"]);
    assert_ne!(
        list[0]["versioned_object.data"]["id"],
        list[1]["versioned_object.data"]["id"]
    );
    for a in addrs {
        assert_eq!(sim.driver(a).as_deref(), Some("vfio-pci"));
    }
    // Nothing left: a second request changes nothing.
    let mid = sim.snapshot();
    sim.refused(
        "allocate",
        &["--alias", "i350", "--instance", INST, "--vif-id", VIF_PF],
        "0 free, 1 asked for",
    );
    assert_eq!(sim.snapshot(), mid);
    sim.ok("release", &["--instance", INST, "--alias", "i350"]);
    assert_eq!(sim.snapshot(), before);
}

/// Moves the GPU's audio function to another driver behind vifman's back, making the GPU's
/// IOMMU group non-viable.
fn audio_to_other_driver(sim: &Sim) {
    let link = sim.root().join("sys/bus/pci/devices/0000:d8:00.1/driver");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../../../../bus/pci/drivers/nvme", &link).unwrap();
}

#[test]
fn non_viable_group_is_refused_with_the_same_reason_everywhere() {
    let sim = Sim::new(CONFIG);
    sim.snapshot();
    audio_to_other_driver(&sim);
    let before = sim.snapshot();
    let reason = "IOMMU group 55 member 0000:d8:00.1 is bound to nvme";
    let p = sim.pools();
    let v = verdict(&p, "0000:d8:00.0");
    assert!(
        v.contains(reason) && v.contains("whole group bound to vfio-pci (bind-group)"),
        "{v}"
    );
    assert_eq!(pool(&p, "alias:a6000", "type-PCI")["free"], 0, "{p}");
    let pci: serde_json::Value = serde_json::from_str(&vifman_ok(&[
        "pci",
        "--json",
        "--sysfs-root",
        sim.root().to_str().unwrap(),
    ]))
    .unwrap();
    let gpu = pci["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["address"] == "0000:d8:00.0")
        .unwrap();
    assert_eq!(gpu["group_viable"], false);
    assert!(
        gpu["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == reason),
        "{gpu}"
    );
    sim.refused(
        "allocate",
        &["--alias", "a6000", "--instance", INST],
        reason,
    );
    assert_eq!(sim.snapshot(), before);

    // --bind-group takes the member along, as one allocation, and gives it back.
    let out = sim.ok(
        "allocate",
        &["--alias", "a6000", "--instance", INST, "--bind-group"],
    );
    let vif: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(vif["versioned_object.data"]["dev_address"], "0000:d8:00.0");
    assert_eq!(sim.driver("0000:d8:00.1").as_deref(), Some("vfio-pci"));
    sim.ok("release", &["--instance", INST, "--alias", "a6000"]);
    assert_eq!(sim.snapshot(), before);
}

#[test]
fn bad_alias_requests_and_configs_are_clear_errors() {
    let sim = Sim::new(CONFIG);
    let before = sim.snapshot();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--alias", "tpu", "--instance", INST],
            "unknown alias \"tpu\"",
        ),
        (
            &["--alias", "nvme", "--count", "0", "--instance", INST],
            "--count must be at least 1",
        ),
        (
            &["--alias", "nvme", "--vlan", "100", "--instance", INST],
            "--vlan configures a VF",
        ),
        (
            &[
                "--physnet",
                "physnet3",
                "--device-type",
                "pci",
                "--instance",
                INST,
                "--vif-id",
                VIF_PF,
            ],
            "asked for by alias",
        ),
        (
            &[
                "--physnet",
                "physnet3",
                "--device-type",
                "gpu",
                "--instance",
                INST,
                "--vif-id",
                VIF_PF,
            ],
            "--device-type",
        ),
        (
            &[
                "--physnet",
                "physnet3",
                "--bind-group",
                "--instance",
                INST,
                "--vif-id",
                VIF_VF,
            ],
            "--bind-group applies to whole devices",
        ),
        (
            &[
                "--physnet",
                "nowhere",
                "--device-type",
                "pf",
                "--instance",
                INST,
                "--vif-id",
                VIF_PF,
            ],
            "unknown physnet",
        ),
    ];
    for (args, why) in cases {
        sim.refused("allocate", args, why);
    }
    assert_eq!(sim.snapshot(), before);

    for (bad, why) in [
        ("numa_policy = \"required\"", "numa_policy = \"socket\""),
        ("device_type = \"type-PCI\"", "device_type = \"type-VF\""),
        (
            "name = \"nvme\"\nvendor_id = \"144d\"",
            "name = \"nvme\"\nvendor_id = \"14z4\"",
        ),
    ] {
        let broken = Sim::new(&CONFIG.replacen(bad, why, 1));
        let o = broken.cmd("pools", &[]);
        assert!(!o.status.success(), "config with {why} accepted");
        assert!(
            text(&o.stderr).contains("alias["),
            "{why}: {}",
            text(&o.stderr)
        );
    }
}

#[test]
fn kernel_failure_part_way_rolls_every_device_back() {
    let sim = Sim::new(CONFIG);
    let before = sim.snapshot();
    for step in ["driver_override", "unbind", "probe"] {
        let o = sim.run(
            &[
                "allocate",
                "--alias",
                "i350",
                "--count",
                "2",
                "--instance",
                INST,
            ],
            &[("VIFMAN_SIM_FAIL", &format!("{step}:EIO"))],
        );
        let err = text(&o.stderr);
        assert!(!o.status.success(), "{step}: succeeded");
        assert!(
            err.contains("EIO") && err.contains("rolled back"),
            "{step}: {err}"
        );
        assert_eq!(sim.snapshot(), before, "{step}: not rolled back");
        assert!(
            !sim.ok("allocations", &[]).contains("i350"),
            "{step}: a record was left"
        );
    }
}

#[test]
fn crash_part_way_is_undone_by_reconcile_repair() {
    for (step, args) in [
        ("probe", vec!["--alias", "nvme", "--instance", INST]),
        (
            "probe",
            vec![
                "--physnet",
                "physnet4",
                "--device-type",
                "pf",
                "--instance",
                INST,
                "--vif-id",
                VIF_PF,
            ],
        ),
    ] {
        let sim = Sim::new(CONFIG);
        sim.ok("numvfs", &["0000:18:00.0", "2"]);
        let before = sim.snapshot();
        let o = sim.run(
            &[&["allocate"], &args[..]].concat(),
            &[("VIFMAN_SIM_CRASH", step)],
        );
        assert!(!o.status.success(), "{args:?}: survived the crash");
        assert_ne!(
            sim.snapshot(),
            before,
            "{args:?}: the crash changed nothing"
        );
        // The intent was recorded: the devices stay out of every pool until repaired.
        let drift = sim.ok("reconcile", &[]);
        assert!(drift.contains("interrupted-allocate"), "{args:?}: {drift}");
        let fixed = sim.ok("reconcile", &["--repair"]);
        assert!(
            fixed.contains("restored the original drivers"),
            "{args:?}: {fixed}"
        );
        assert_eq!(sim.snapshot(), before, "{args:?}: not restored");
        assert!(!sim.ok("allocations", &[]).contains("active"));
    }
}

/// A policy for a PF held whole (the second i350 port, by alias; the first one carries the
/// fixture's default route, which a policy may not touch).
const HELD_POLICY: &str = "[[pf]]\naddress = \"0000:18:00.1\"\nnumvfs = 2\n";

#[test]
fn boot_replay_puts_whole_devices_back_on_vfio_and_plans_nothing_over_them() {
    let sim = Sim::new(CONFIG);
    let pol = sim.state.parent().unwrap().join("p.toml");
    std::fs::write(&pol, HELD_POLICY).unwrap();
    let pol = pol.display().to_string();
    let pristine = sim.snapshot();
    sim.ok(
        "allocate",
        &["--alias", "i350", "--count", "2", "--instance", INST],
    );
    sim.ok("allocate", &["--alias", "nvme", "--instance", INST]);
    let held = sim.snapshot();
    assert_eq!(held["0000:18:00.1"].0.as_deref(), Some("vfio-pci"));
    assert_eq!(held["0000:d9:00.0"].0.as_deref(), Some("vfio-pci"));
    sim.refused("apply", &["--policy", &pol], "passed through whole");
    assert_eq!(sim.snapshot(), held, "a refused apply changed the host");

    // Reboot: the simulated kernel starts from its fixture again, the store is kept.
    std::fs::remove_dir_all(sim.root()).unwrap();
    assert_eq!(sim.snapshot(), pristine);
    let out = sim.ok("apply", &["--boot", "--policy", &pol]);
    assert!(out.contains("restored 0000:18:00.0,0000:18:00.1"), "{out}");
    assert!(out.contains("restored 0000:d9:00.0"), "{out}");
    assert!(out.contains("waits for the release"), "{out}");
    assert_eq!(
        sim.snapshot(),
        held,
        "boot replay did not rebuild the passthrough"
    );
    // A second --boot (no reboot in between) changes nothing and says so.
    let again = sim.ok("apply", &["--boot", "--policy", &pol]);
    assert!(again.contains("already on vfio-pci"), "{again}");
    sim.ok("release", &["--instance", INST, "--alias", "i350"]);
    sim.ok("release", &["--instance", INST, "--alias", "nvme"]);
    assert_eq!(sim.snapshot(), pristine, "release after boot replay");
}

#[test]
fn boot_replay_that_cannot_rebind_marks_lost_and_leaves_the_boot_state() {
    let sim = Sim::new(CONFIG);
    let pol = sim.state.parent().unwrap().join("p.toml");
    // A policy already in effect: the only work of this boot is the replay.
    std::fs::write(&pol, "[[pf]]\naddress = \"0000:18:00.1\"\nnumvfs = 0\n").unwrap();
    let pol = pol.display().to_string();
    let pristine = sim.snapshot();
    sim.ok("allocate", &["--alias", "nvme", "--instance", INST]);
    std::fs::remove_dir_all(sim.root()).unwrap();
    let o = sim.run(
        &["apply", "--boot", "--policy", &pol],
        &[("VIFMAN_SIM_FAIL", "probe:EIO")],
    );
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        out.contains("LOST 0000:d9:00.0") && out.contains("EIO"),
        "{out}"
    );
    assert_eq!(
        sim.snapshot(),
        pristine,
        "a failed replay left a device half-moved"
    );
    // Lost, not dropped: the drive is still held, reconcile names the reason.
    sim.refused(
        "allocate",
        &["--alias", "nvme", "--instance", INST, "--vif-id", VIF_VF],
        "not enough free devices in alias nvme",
    );
    let drift = sim.ok("reconcile", &[]);
    assert!(drift.contains("lost: 0000:d9:00.0 to vfio-pci"), "{drift}");
    sim.ok("release", &["--instance", INST, "--alias", "nvme"]);
    assert_eq!(sim.snapshot(), pristine);
}

/// nova's `managed = "no"` tag: the operator binds vfio-pci, vifman never does. A device not
/// on vfio-pci is not handed out; one the operator put there is, and release leaves it there.
#[test]
fn managed_no_devices_are_never_bound_or_unbound_by_vifman() {
    let cfg = CONFIG.replace(
        "vendor_id = \"144d\"\nproduct_id = \"a808\"\n\n[[alias]]",
        "vendor_id = \"144d\"\nproduct_id = \"a808\"\nmanaged = \"no\"\n\n[[alias]]",
    );
    assert_ne!(cfg, CONFIG);
    let sim = Sim::new(&cfg);
    let before = sim.snapshot();
    sim.refused(
        "allocate",
        &["--alias", "nvme", "--instance", INST],
        "managed = no and not on vfio-pci",
    );
    assert_eq!(
        sim.snapshot(),
        before,
        "a refused allocation changed the host"
    );
    // The operator binds it (here: as the kernel would show it).
    let link = sim.root().join("sys/bus/pci/devices/0000:d9:00.0/driver");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../../../../bus/pci/drivers/vfio-pci", &link).unwrap();
    let operator = sim.snapshot();
    sim.ok("allocate", &["--alias", "nvme", "--instance", INST]);
    assert_eq!(sim.driver("0000:d9:00.0").as_deref(), Some("vfio-pci"));
    sim.ok("release", &["--instance", INST, "--alias", "nvme"]);
    assert_eq!(
        sim.snapshot(),
        operator,
        "release moved an unmanaged device"
    );
}

/// nova's `one_time_use` tag: a device handed out once is kept back after release (nova
/// reserves it in Placement) until the operator says it was reset.
#[test]
fn one_time_use_devices_are_handed_out_once_until_an_operator_reset() {
    let cfg = CONFIG.replace(
        "vendor_id = \"144d\"\nproduct_id = \"a808\"\n\n[[alias]]",
        "vendor_id = \"144d\"\nproduct_id = \"a808\"\none_time_use = \"true\"\n\n[[alias]]",
    );
    assert_ne!(cfg, CONFIG);
    let sim = Sim::new(&cfg);
    let before = sim.snapshot();
    sim.ok("allocate", &["--alias", "nvme", "--instance", INST]);
    sim.ok("release", &["--instance", INST, "--alias", "nvme"]);
    assert_eq!(sim.snapshot(), before, "release restored the drive");
    sim.refused(
        "allocate",
        &["--alias", "nvme", "--instance", INST],
        "one_time_use: handed out once",
    );
    let sub = |words: &[&str]| sim.run(&[&["one-time-use"], words].concat(), &[]);
    let listed = sub(&["list"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert_eq!(text(&listed.stdout).trim(), "0000:d9:00.0");
    let other = sub(&["reset", "0000:d8:00.0"]);
    assert!(!other.status.success());
    assert!(
        text(&other.stderr).contains("0000:d8:00.0 is not held back as one_time_use"),
        "{}",
        text(&other.stderr)
    );
    let reset = sub(&["reset", "0000:d9:00.0"]);
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    sim.ok("allocate", &["--alias", "nvme", "--instance", INST]);
    sim.ok("release", &["--instance", INST, "--alias", "nvme"]);
}

/// `managed = "no"` on a VF pool: a VF for hostdev-vfio must already be on vfio-pci; vifman
/// refuses rather than bind it, and changes nothing.
#[test]
fn managed_no_vfs_are_not_bound_to_vfio_by_vifman() {
    let cfg = CONFIG.replace(
        "devname = \"enp175s0f0\"\nphysical_network = \"physnet3\"\n",
        "devname = \"enp175s0f0\"\nphysical_network = \"physnet3\"\nmanaged = \"no\"\n",
    );
    assert_ne!(cfg, CONFIG);
    let sim = Sim::new(&cfg);
    let before = sim.snapshot();
    sim.refused(
        "allocate",
        &[
            "--physnet",
            "physnet3",
            "--mode",
            "hostdev-vfio",
            "--instance",
            INST,
            "--vif-id",
            VIF_VF,
        ],
        "says managed = no (the operator binds vfio-pci, not vifman)",
    );
    assert_eq!(
        sim.snapshot(),
        before,
        "a refused allocation changed the host"
    );
    assert!(sim.ok("allocations", &[]).trim().lines().count() <= 1);
}

/// nova lets several `[pci] alias` entries share a name: the alias takes a device matching any
/// of them (`pci_device_prop_match`), counted once in one pool.
#[test]
fn alias_entries_sharing_a_name_are_one_pool() {
    let config = format!(
        "{CONFIG}\n[[alias]]\nname = \"storage-or-gpu\"\nvendor_id = \"144d\"\nproduct_id = \"a808\"\ndevice_type = \"type-PCI\"\n\
         [[alias]]\nname = \"storage-or-gpu\"\nvendor_id = \"10de\"\nproduct_id = \"2230\"\ndevice_type = \"type-PCI\"\n"
    );
    let sim = Sim::new(&config);
    let p = sim.pools();
    assert_eq!(
        pool(&p, "alias:storage-or-gpu", "type-PCI")["total"],
        2,
        "{p}"
    );
    let pci: serde_json::Value = serde_json::from_str(&sim.ok("pci", &["--json"])).unwrap();
    let of = |a: &str| -> Vec<String> {
        let d = pci["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["address"] == a)
            .unwrap();
        serde_json::from_value(d["pools"].clone()).unwrap()
    };
    assert_eq!(of("0000:d9:00.0"), ["alias:nvme", "alias:storage-or-gpu"]);
    assert_eq!(of("0000:d8:00.0"), ["alias:a6000", "alias:storage-or-gpu"]);
    let out = sim.ok(
        "allocate",
        &["--alias", "storage-or-gpu", "--instance", INST],
    );
    assert!(
        out.contains("0000:d9:00.0") || out.contains("0000:d8:00.0"),
        "{out}"
    );
    sim.ok(
        "release",
        &["--instance", INST, "--alias", "storage-or-gpu"],
    );
}
