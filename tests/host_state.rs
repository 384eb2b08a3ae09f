//! Host state (`vifman apply`, `--boot`, `generate`) through the real binary on the simulated
//! kernel: every claim read back from the simulation's own files and its write journal.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use vifman::engine::apply::stable_mac;

const VIF1: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";
const VIF2: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d02";
const VIF3: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d03";

/// Three PFs of the shipped host: an 82576 port and a ConnectX-5 port with no VFs (bare),
/// and an X710 port whose 8 VFs become 4.
const FULL: &str = r#"
[[pf]]
netdev = "enp175s0f1"
numvfs = 4
mtu = 9000
up = true
manage_nm = true

[[pf.vf]]
vfs = "0-3"
mac = "stable"
spoofchk = false
trust = true

[[pf.vf]]
vfs = "2-3"
driver = "vfio-pci"

[[pf]]
address = "0000:5e:00.1"
numvfs = 4

[[pf.vf]]
vfs = "0-3"
driver = "kernel"
mac = "stable"
link_state = "enable"
max_tx_rate = 1000

[[pf]]
address = "0000:3b:00.1"
numvfs = 4

[[pf.vf]]
vfs = "0-1"
mac = "stable"

[[pf.vf]]
vfs = "2-3"
driver = "none"
"#;

/// The shared simulated-host harness on the shipped config; this file's own helpers are in
/// the `impl` below.
type Sim = SimEnv;

impl Sim {
    fn new() -> Sim {
        Sim::shipped()
    }
    fn policy(&self, name: &str, body: &str) -> String {
        let p = self.dir().join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    }
    fn ok(&self, cmd: &[&str]) -> String {
        let o = self.run(cmd, &[]);
        assert!(
            o.status.success(),
            "{cmd:?}: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }
    fn root(&self) -> PathBuf {
        self.kernel_dir()
    }
    fn journal(&self) -> Vec<String> {
        vifman::host::sim::read_journal(&self.root())
    }
    fn attr(&self, dev: &str, a: &str) -> String {
        std::fs::read_to_string(self.root().join(format!("sys/bus/pci/devices/{dev}/{a}")))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
    fn driver(&self, dev: &str) -> Option<String> {
        std::fs::read_link(
            self.root()
                .join(format!("sys/bus/pci/devices/{dev}/driver")),
        )
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    }
    fn vf_state(&self, pf: &str) -> serde_json::Value {
        let p = self.root().join(format!("vf-state.d/{pf}.json"));
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }
    fn vf(&self, pf: &str, i: u64) -> serde_json::Value {
        self.vf_state(pf)["vfs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["vf"] == i)
            .cloned()
            .unwrap()
    }
    fn net(&self, ifname: &str, a: &str) -> String {
        std::fs::read_to_string(self.root().join(format!("sys/class/net/{ifname}/{a}")))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
    fn reboot(&self) {
        std::fs::remove_dir_all(self.root()).unwrap();
    }
}

fn index_of(j: &[String], pat: &str) -> usize {
    j.iter()
        .position(|l| l.contains(pat))
        .unwrap_or_else(|| panic!("{pat:?} not in journal:\n{}", j.join("\n")))
}

#[test]
fn bare_host_to_full_policy_then_reapply_writes_nothing() {
    let s = Sim::new();
    let pol = s.policy("p.toml", FULL);
    let out = s.ok(&["apply", "--policy", &pol]);
    assert!(out.contains("applied [simulated]"), "{out}");
    // The 82576 port: 4 VFs, MTU, up, stable MACs, spoofchk off, trust on, 2 kernel + 2 vfio.
    assert_eq!(s.attr("0000:af:00.1", "sriov_numvfs"), "4");
    assert_eq!(s.net("enp175s0f1", "mtu"), "9000");
    assert_eq!(s.net("enp175s0f1", "operstate"), "up");
    for (i, vf, drv) in [
        (0, "0000:af:10.1", "igbvf"),
        (1, "0000:af:10.3", "igbvf"),
        (2, "0000:af:10.5", "vfio-pci"),
        (3, "0000:af:10.7", "vfio-pci"),
    ] {
        let st = s.vf("enp175s0f1", i);
        assert_eq!(
            st["mac"],
            stable_mac("pci:0000:af:00.1", i as u32).to_string(),
            "{st}"
        );
        assert_eq!(st["spoofchk"], false);
        assert_eq!(st["trust"], true);
        assert_eq!(s.driver(vf).as_deref(), Some(drv), "{vf}");
    }
    assert_eq!(s.attr("0000:af:10.5", "driver_override"), "vfio-pci");
    assert_eq!(s.attr("0000:af:00.1", "sriov_drivers_autoprobe"), "1");
    // ConnectX-5: kernel driver, rate, link state.
    assert_eq!(s.attr("0000:5e:00.1", "sriov_numvfs"), "4");
    let st = s.vf("enp94s0f1np1", 3);
    assert_eq!(st["max_tx_rate"], 1000);
    assert_eq!(st["link_state"], "enable");
    // X710 port 1: 8 -> 4, two stable MACs, two unbound.
    assert_eq!(s.attr("0000:3b:00.1", "sriov_numvfs"), "4");
    assert_eq!(
        s.vf("enp59s0f1", 1)["mac"],
        stable_mac("pci:0000:3b:00.1", 1).to_string()
    );
    assert_eq!(s.driver("0000:3b:0a.2"), None);
    assert_eq!(s.driver("0000:3b:0a.1").as_deref(), Some("iavf"));
    let writes = s.journal().len();
    assert!(writes > 30, "{writes}");

    // Idempotent: the second apply plans nothing and the kernel sees zero writes.
    let again = s.ok(&["apply", "--policy", &pol]);
    assert!(again.contains("in sync"), "{again}");
    assert_eq!(s.journal().len(), writes, "a second apply wrote something");
    let check = s.run(&["apply", "--check", "--policy", &pol], &[]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert_eq!(s.journal().len(), writes);
}

#[test]
fn check_exit_codes_drift_listed_and_no_writes() {
    let s = Sim::new();
    let pol = s.policy("p.toml", FULL);
    let o = s.run(&["apply", "--check", "--policy", &pol], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("drift:")
            && out.contains("/sys/bus/pci/devices/0000:af:00.1/sriov_numvfs: 0 -> 4"),
        "{out}"
    );
    let o = s.run(&["apply", "--check", "--json", "--policy", &pol], &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["in_sync"], false);
    assert_eq!(v["outcome"], "planned");
    assert!(s.journal().is_empty(), "--check wrote: {:?}", s.journal());
    let bad = s.policy(
        "bad.toml",
        "[[pf]]\naddress = \"0000:af:00.1\"\nnumvfs = 99\n",
    );
    let o = s.run(&["apply", "--check", "--policy", &bad], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(
            "bad.toml:3:10: pf[0].numvfs: 99 is above sriov_totalvfs of 0000:af:00.1 (7)"
        ),
        "{}",
        text(&o.stderr)
    );
    s.ok(&["apply", "--policy", &pol]);
    let o = s.run(&["apply", "--check", "--policy", &pol], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("in sync"));
}

#[test]
fn ordering_rules_show_in_the_kernels_journal() {
    let s = Sim::new();
    let pol = s.policy("p.toml", FULL);
    s.ok(&["apply", "--policy", &pol]);
    let j = s.journal();
    // numvfs 0 before 8 -> 4 (the simulated kernel answers EBUSY to N -> M).
    let zero = index_of(
        &j,
        "write \"0\" to /sys/bus/pci/devices/0000:3b:00.1/sriov_numvfs",
    );
    let four = index_of(
        &j,
        "write \"4\" to /sys/bus/pci/devices/0000:3b:00.1/sriov_numvfs",
    );
    assert!(zero < four);
    // 82576: PF up and MTU first, autoprobe off before creating VFs for vfio-pci, MACs before
    // any bind, autoprobe back on last; no vfio VF ever passed through igbvf.
    let up = index_of(&j, "enp175s0f1 up");
    let mtu = index_of(&j, "enp175s0f1 mtu 9000");
    let ap_off = index_of(
        &j,
        "write \"0\" to /sys/bus/pci/devices/0000:af:00.1/sriov_drivers_autoprobe",
    );
    let create = index_of(
        &j,
        "write \"4\" to /sys/bus/pci/devices/0000:af:00.1/sriov_numvfs",
    );
    let last_mac = j
        .iter()
        .rposition(|l| l.starts_with("enp175s0f1 vf") && l.contains(" mac "))
        .unwrap();
    let first_bind = index_of(&j, "to /sys/bus/pci/devices/0000:af:10.1/driver_override");
    let ap_on = index_of(
        &j,
        "write \"1\" to /sys/bus/pci/devices/0000:af:00.1/sriov_drivers_autoprobe",
    );
    assert!(
        up < mtu
            && mtu < ap_off
            && ap_off < create
            && create < last_mac
            && last_mac < first_bind
            && first_bind < ap_on,
        "{}",
        j.join("\n")
    );
    assert!(
        !j.iter().any(|l| l.contains("igbvf/unbind")
            && (l.contains("0000:af:10.5") || l.contains("0000:af:10.7"))),
        "{}",
        j.join("\n")
    );

    // Without the 0-first rule the kernel refuses N -> M: an injected EBUSY on the first
    // numvfs write fails the apply, which undoes that PF's earlier steps.
    let s = Sim::new();
    let pol = s.policy(
        "p.toml",
        "[[pf]]\naddress = \"0000:3b:00.1\"\nnumvfs = 2\nmtu = 9000\n",
    );
    let o = s.run(
        &["apply", "--policy", &pol],
        &[("VIFMAN_SIM_FAIL", "numvfs:EBUSY")],
    );
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(
        out.contains("undone") && out.contains("failed") && out.contains("EBUSY"),
        "{out}"
    );
    assert_eq!(s.attr("0000:3b:00.1", "sriov_numvfs"), "8");
    assert_eq!(s.net("enp59s0f1", "mtu"), "1500");
}

/// A Broadcom PF whose netdev is down: bnxt_en refuses VF creation then (the simulated kernel
/// answers ENETDOWN), so the plan brings the PF up first, from hwdb data.
#[test]
fn pf_up_before_numvfs_where_the_model_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("bnxt");
    let o = Vifman::new([
        "fixture",
        "generate",
        "--pfs",
        "1",
        "--vfs",
        "0",
        "--model",
        "broadcom-bcm57414",
    ])
    .arg(&fx)
    .output();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let net = std::fs::read_dir(fx.join("sys/class/net"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n != "lo")
        .unwrap();
    let ndir = fx.join("sys/class/net").join(&net);
    std::fs::write(ndir.join("operstate"), "down\n").unwrap();
    let _ = std::fs::write(ndir.join("flags"), "0x1002\n");
    let run = |state: &Path, args: &[&str]| {
        Vifman::new(args)
            .arg("--sysfs-root")
            .arg(&fx)
            .args(["--simulate", "--state-dir"])
            .arg(state)
            .output()
    };
    // The kernel's refusal, without vifman's ordering: `vifman numvfs` does not bring PFs up.
    let raw = run(&dir.path().join("s1"), &["numvfs", &net, "4"]);
    assert!(!raw.status.success());
    assert!(
        text(&raw.stderr).contains("ENETDOWN"),
        "{}",
        text(&raw.stderr)
    );
    let pol = dir.path().join("p.toml");
    std::fs::write(&pol, format!("[[pf]]\nnetdev = \"{net}\"\nnumvfs = 4\n")).unwrap();
    let state = dir.path().join("s2");
    let o = run(&state, &["apply", "--policy", pol.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).contains("numvfs_needs_pf_up"),
        "{}",
        text(&o.stdout)
    );
    let j = vifman::host::sim::read_journal(&sim_kernel(fx.to_str().unwrap(), &state));
    assert!(
        j[0].ends_with(" up") && j[1].contains("sriov_numvfs"),
        "{j:?}"
    );
}

#[test]
fn partial_failure_is_reported_and_that_pf_undone() {
    let s = Sim::new();
    let pol = s.policy("p.toml", FULL);
    let o = s.run(
        &["apply", "--json", "--policy", &pol],
        &[("VIFMAN_SIM_FAIL", "vf.trust:EPERM")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("apply failed:"),
        "{}",
        text(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outcome"], "failed");
    let steps = v["steps"].as_array().unwrap();
    let status = |i: usize| steps[i]["status"].as_str().unwrap().to_string();
    let failed = steps.iter().position(|x| x["status"] == "failed").unwrap();
    assert!(steps[failed]["object"].as_str().unwrap().ends_with("trust"));
    assert!(steps[failed]["error"].as_str().unwrap().contains("EPERM"));
    for (i, x) in steps.iter().enumerate().take(failed) {
        assert_eq!(status(i), "undone", "{x}");
    }
    for (i, x) in steps.iter().enumerate().skip(failed + 1) {
        assert_eq!(status(i), "not-attempted", "{x}");
    }
    // The failing PF is as it was; the later PFs were never touched.
    assert_eq!(s.attr("0000:af:00.1", "sriov_numvfs"), "0");
    assert_eq!(s.net("enp175s0f1", "mtu"), "1500");
    assert_eq!(s.net("enp175s0f1", "operstate"), "down");
    assert_eq!(s.attr("0000:af:00.1", "sriov_drivers_autoprobe"), "1");
    assert_eq!(s.attr("0000:3b:00.1", "sriov_numvfs"), "8");
}

#[test]
fn an_allocation_blocks_a_conflicting_plan_unless_forced() {
    let s = Sim::new();
    s.ok(&[
        "allocate",
        "--physnet",
        "physnet3",
        "--instance",
        INST,
        "--vif-id",
        VIF1,
        "--mac",
        "fa:16:3e:00:00:aa",
        "--vlan",
        "100",
    ]);
    let before = s.journal().len();
    let pol = s.policy("p.toml", "[[pf]]\nnetdev = \"enp175s0f0\"\nnumvfs = 2\n");
    let o = s.run(&["apply", "--policy", &pol], &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("would disturb allocated VFs")
            && err.contains(VIF1)
            && err.contains("sriov_numvfs 4 -> 2"),
        "{err}"
    );
    assert_eq!(s.journal().len(), before, "a refused plan wrote");
    // A policy that only names what the allocation owns (its MAC) defers to it.
    let mac = s.policy(
        "m.toml",
        "[[pf]]\nnetdev = \"enp175s0f0\"\n[[pf.vf]]\nvfs = \"0-3\"\nmac = \"stable\"\n",
    );
    let out = s.ok(&["apply", "--dry-run", "--policy", &mac]);
    assert!(
        out.contains("left to its allocation") && out.contains("mac belongs to the allocation"),
        "{out}"
    );
    let o = s.run(&["apply", "--force", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let list = s.ok(&["allocations", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v[0]["phase"], "lost", "{v}");
    assert!(
        v[0]["lost_reason"]
            .as_str()
            .unwrap()
            .contains("a forced apply set sriov_numvfs"),
        "{v}"
    );
}

#[test]
fn reboot_then_apply_boot_restores_allocations_and_marks_the_impossible_lost() {
    let s = Sim::new();
    let pol = s.policy("p.toml", FULL);
    s.ok(&["apply", "--policy", &pol]);
    s.ok(&[
        "allocate",
        "--physnet",
        "physnet3",
        "--instance",
        INST,
        "--vif-id",
        VIF1,
        "--mac",
        "fa:16:3e:00:00:aa",
        "--vlan",
        "100:3",
        "--spoofchk",
        "off",
        "--max-tx-rate",
        "100",
    ]);
    s.ok(&[
        "allocate",
        "--physnet",
        "physnet3",
        "--instance",
        INST,
        "--vif-id",
        VIF2,
        "--mac",
        "fa:16:3e:00:00:bb",
        "--mode",
        "hostdev-vfio",
    ]);
    s.ok(&[
        "allocate",
        "--physnet",
        "physnet3",
        "--instance",
        INST,
        "--vif-id",
        VIF3,
        "--vlan",
        "300",
    ]);
    let inv = |s: &Sim| {
        let o = Vifman::new(["inventory", "--json", "--sysfs-root"])
            .arg(s.root())
            .output();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v
    };
    let before = inv(&s);
    let allocs_before = s.ok(&["allocations", "--json"]);

    s.reboot();
    // Boot 2: same policy, plus the allocated 82576 port shrunk to 3 VFs: VIF3 (VF 3) cannot come back.
    let boot_pol = s.policy(
        "b.toml",
        &format!("{FULL}\n[[pf]]\nnetdev = \"enp175s0f0\"\nnumvfs = 3\n"),
    );
    let o = s.run(&["apply", "--boot", "--policy", &boot_pol], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!("restored 0000:af:10.2 (vif {VIF1})")),
        "{out}"
    );
    assert!(
        out.contains(&format!("restored 0000:af:10.4 (vif {VIF2})"))
            && out.contains("bound to vfio-pci"),
        "{out}"
    );
    assert!(
        out.contains(&format!("LOST 0000:af:10.6 (vif {VIF3})")) && out.contains("VF 3 is gone"),
        "{out}"
    );
    assert!(
        text(&o.stderr).contains("1 allocation(s) could not be restored"),
        "{}",
        text(&o.stderr)
    );
    // VIF1's VF carries exactly what it had before the reboot.
    let after = inv(&s);
    let find = |v: &serde_json::Value, addr: &str| -> serde_json::Value {
        v["physical_functions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["vfs"].as_array().cloned().unwrap_or_default())
            .find(|x| x["address"] == addr)
            .unwrap_or_else(|| panic!("{addr} not in inventory"))
    };
    // The policy's VFs (82576 port 1) exactly; the allocated VF: everything the allocation
    // set (its PF was re-created at boot, so what the fixture had on top is gone by design).
    for vf in ["0000:af:10.1", "0000:af:10.5"] {
        let (b, a) = (find(&before, vf), find(&after, vf));
        for k in ["/admin", "/driver", "/driver_override", "/netdev/mac"] {
            assert_eq!(b.pointer(k), a.pointer(k), "{vf}{k}: {b} vs {a}");
        }
    }
    assert_eq!(find(&after, "0000:af:10.4")["driver"], "vfio-pci");
    assert_eq!(
        find(&after, "0000:af:10.4")["admin"]["mac"],
        "fa:16:3e:00:00:bb"
    );
    let (b, a) = (find(&before, "0000:af:10.2"), find(&after, "0000:af:10.2"));
    for k in [
        "/admin/mac",
        "/admin/vlan",
        "/admin/qos",
        "/admin/vlan_proto",
        "/admin/spoofchk",
        "/admin/max_tx_rate",
        "/driver",
        "/driver_override",
    ] {
        assert_eq!(b.pointer(k), a.pointer(k), "0000:af:10.2{k}: {b} vs {a}");
    }
    assert_eq!(find(&after, "0000:af:10.2")["admin"]["vlan"], 100);
    // The policy's own VFs are back too (stable MACs, vfio binding).
    assert_eq!(
        s.vf("enp175s0f1", 2)["mac"],
        stable_mac("pci:0000:af:00.1", 2).to_string()
    );
    assert_eq!(s.driver("0000:af:10.5").as_deref(), Some("vfio-pci"));
    // The lost record stays, with its reason, through reconcile --repair, until released.
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["allocations", "--json"])).unwrap();
    let lost = v
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["vif_id"] == VIF3)
        .unwrap()
        .clone();
    assert_eq!(lost["phase"], "lost");
    assert!(lost["lost_reason"]
        .as_str()
        .unwrap()
        .contains("VF 3 is gone"));
    let r = s.ok(&["reconcile", "--repair"]);
    assert!(r.contains("lost"), "{r}");
    assert!(s.ok(&["allocations", "--json"]).contains(VIF3));
    s.ok(&["release", "--vif-id", VIF3]);
    assert!(!s.ok(&["allocations", "--json"]).contains(VIF3));
    // The restored record re-captured its original from the post-boot VF.
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["allocations", "--json"])).unwrap();
    assert_eq!(v[0]["original"]["vf"]["mac"], "00:00:00:00:00:00", "{v}");
    assert_ne!(allocs_before, "");
    // A second --boot without a reboot writes nothing and keeps the original.
    let n = s.journal().len();
    let o = s.run(&["apply", "--boot", "--policy", &boot_pol], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("already in place"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(s.journal().len(), n);
}

#[test]
fn bad_policy_input_is_refused_before_anything_is_touched() {
    let cases: &[(&str, &str)] = &[
        ("[[pf]]\naddress = \"0000:af:00.1\"\nnumvfz = 2\n", "p.toml:3:1: pf[0].numvfz: unknown field"),
        ("[[pf]]\naddress = \"0000:af:00.1\"\neswitch = \"switchdev\"\n", "p.toml:3:11: pf[0].eswitch: 0000:af:00.1 has no devlink eswitch (hwdb: Intel 82576 Gigabit Network Connection has no switchdev)"),
        ("[[pf]]\naddress = \"0000:af:00.1\"\nnumvfs = 8\n", "p.toml:3:10: pf[0].numvfs: 8 is above sriov_totalvfs of 0000:af:00.1 (7)"),
        ("[[pf]]\nnetdev = \"eno1\"\nnumvfs = 2\n", "p.toml:1:1: pf[0]: 0000:18:00.0 (eno1) carries the default route"),
        ("[[pf]]\naddress = \"0000:af:00.1\"\n[[pf]]\nnetdev = \"enp175s0f1\"\n", "p.toml:3:1: pf[1]: 0000:af:00.1 is already selected by "),
        ("[[pf]]\naddress = \"0000:af:00.1\"\n[[pf.vf]]\nvfs = 0\nlink_state = \"enable\"\n", "p.toml:5:14: pf[0].vf[0].link_state: Intel 82576 Gigabit Network Connection cannot set link state"),
        ("[[pf]]\nserial = \"00-11-22-33-44-55-66-77\"\n", "matches no SR-IOV physical function"),
    ];
    for (body, want) in cases {
        let s = Sim::new();
        let pol = s.policy("p.toml", body);
        let o = s.run(&["apply", "--strict", "--policy", &pol], &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{body}: {err}");
        assert!(err.contains(want), "{body}\n got: {err}\nwant: {want}");
        assert!(s.journal().is_empty(), "{body}: wrote {:?}", s.journal());
    }
    // Without --strict a selector that matches nothing is a warning.
    let s = Sim::new();
    let pol = s.policy(
        "p.toml",
        "[[pf]]\nserial = \"00-11-22-33-44-55-66-77\"\n[[pf]]\naddress = \"0000:af:00.1\"\n",
    );
    let o = s.run(&["apply", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("warning: ")
            && text(&o.stderr).contains("no PF here exposes a serial"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn generated_unit_and_rules_validate() {
    let s = Sim::new();
    let pol = s.policy("p.toml", FULL);
    let out = s.dir().join("gen");
    let o = Vifman::new([
        "generate", "systemd", "--exec", BIN, "--policy", &pol, "--output",
    ])
    .arg(&out)
    .output();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let unit = std::fs::read_to_string(out.join("vifman-apply.service")).unwrap();
    for want in [
        "Type=oneshot",
        "RemainAfterExit=yes",
        "apply --boot",
        "Before=network-pre.target",
        "libvirtd.service",
        "nova-compute.service",
        "kubelet.service",
        "ovs-vswitchd.service",
        "After=systemd-udevd.service",
    ] {
        assert!(unit.contains(want), "{want}: {unit}");
    }
    match Command::new("systemd-analyze")
        .arg("verify")
        .arg(out.join("vifman-apply.service"))
        .output()
    {
        Ok(v) => assert!(
            v.status.success() && v.stderr.is_empty(),
            "systemd-analyze verify: {}",
            text(&v.stderr)
        ),
        Err(e) => eprintln!("systemd-analyze not installed ({e}); run scripts/deps.sh"),
    }
    let o = s.run(
        &[
            "generate",
            "udev",
            "--policy",
            &pol,
            "--output",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rules = std::fs::read_to_string(out.join("70-vifman.rules")).unwrap();
    assert!(rules.contains("ACTION==\"add|change|move\", SUBSYSTEM==\"net\", KERNELS==\"0000:af:10.1\", ENV{NM_UNMANAGED}=\"1\", ENV{ID_NET_MANAGED_BY}=\"io.vifman\""), "{rules}");
    assert!(rules.contains("ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"0000:af:10.5\", ATTR{driver_override}=\"vfio-pci\""), "{rules}");
    assert!(
        !rules.contains("KERNEL==\"0000:af:10.1\", ATTR{driver_override}"),
        "{rules}"
    );
    // manage_nm only where asked: the ConnectX-5 entry does not say it.
    assert!(!rules.contains("KERNELS==\"0000:5e:00.2\""), "{rules}");
    let help = Command::new("udevadm").args(["verify", "--help"]).output();
    if help.as_ref().is_ok_and(|h| h.status.success()) {
        let v = Command::new("udevadm")
            .arg("verify")
            .arg(out.join("70-vifman.rules"))
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "udevadm verify: {}{}",
            text(&v.stdout),
            text(&v.stderr)
        );
    } else {
        eprintln!("udevadm verify not available (systemd < 254); rules checked by content only");
    }
    assert!(s.journal().is_empty());
}

/// VFs the policy gave a stable MAC or bound to vfio-pci are vifman's own, not "in use
/// outside vifman": pools count them free, inventory says free, and allocate takes them.
#[test]
fn policy_configured_vfs_stay_free_for_allocation() {
    let work = tempfile::tempdir().unwrap();
    let fx = work.path().join("h");
    let o = vifman(&[
        "fixture",
        "generate",
        "--pfs",
        "1",
        "--vfs",
        "8",
        fx.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let cfg = work.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[[device_spec]]\naddress = \"0000:01:00.0\"\nphysical_network = \"physnet1\"\n\
         [[pf]]\naddress = \"0000:01:00.0\"\nnumvfs = 4\n\
         [[pf.vf]]\nvfs = \"0-3\"\nmac = \"stable\"\n[[pf.vf]]\nvfs = \"3\"\ndriver = \"vfio-pci\"\n",
    )
    .unwrap();
    let st = work.path().join("s");
    let host = [
        "--simulate",
        "--sysfs-root",
        fx.to_str().unwrap(),
        "--state-dir",
        st.to_str().unwrap(),
    ];
    let with = |cmd: &str, extra: &[&str]| -> Output {
        let mut a = vec![cmd];
        a.extend(host);
        a.extend(extra);
        vifman(&a)
    };
    let o = with("apply", &["--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = with("pools", &["--config", cfg.to_str().unwrap(), "--json"]);
    let pools: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pools["pools"][0]["free"], 4, "{pools}");
    let inv = with("inventory", &["--json"]);
    let inv: serde_json::Value = serde_json::from_slice(&inv.stdout).unwrap();
    let free: Vec<bool> = inv["physical_functions"][0]["vfs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["free"].as_bool().unwrap())
        .collect();
    assert_eq!(free, vec![true; 4]);
    for i in 0..4 {
        let id = format!("6f0f6f2c-7c9a-4b9d-9c9f-00000000000{i}");
        let o = with(
            "allocate",
            &[
                "--config",
                cfg.to_str().unwrap(),
                "--physnet",
                "physnet1",
                "--instance",
                "6f0f6f2c-7c9a-4b9d-9c9f-0000000000aa",
                "--vif-id",
                &id,
            ],
        );
        assert!(o.status.success(), "allocation {i}: {}", text(&o.stderr));
    }
}

/// A pod's CNI attachment across a reboot (its netns gone, no DEL): `apply --boot` restores
/// the record, says the attachment is stale, and re-captures what it saved for this boot;
/// `reconcile` reports it, `--repair` undoes it (the CNI's VLAN goes, back to this boot's
/// state) and leaves the allocation its holder's. The vfio-bound VF needs no netdev move.
#[test]
fn reboot_with_a_cni_attachment_whose_netns_is_gone() {
    let s = Sim::new();
    let pol = s.policy("p.toml", FULL);
    s.ok(&["apply", "--policy", &pol]);
    s.ok(&[
        "allocate",
        "--physnet",
        "physnet3",
        "--instance",
        INST,
        "--vif-id",
        VIF2,
        "--mode",
        "hostdev-vfio",
    ]);
    let rec = vifman::store::read_allocations(&s.state).unwrap()[0].clone();
    let (pf, idx) = (rec.pf_netdev.to_string(), rec.vf_index as u64);
    // The pod's namespace: any file will do for a VF that moves no netdev.
    let netns = s.dir().join("netns-pod");
    std::fs::write(&netns, "").unwrap();
    let conf = serde_json::json!({"cniVersion": "1.0.0", "name": "sriov-net",
        "type": "vifman-cni", "deviceID": rec.vf.to_string(), "vlan": 200});
    let o = s
        .runner("cni", &[])
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "c1")
        .env("CNI_IFNAME", "net1")
        .env("CNI_NETNS", &netns)
        .env("CNI_PATH", "/nonexistent")
        .env("CNI_ARGS", format!("K8S_POD_UID={INST}"))
        .stdin(conf.to_string())
        .output();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(s.vf(&pf, idx)["vlan"], 200);

    std::fs::remove_file(&netns).unwrap();
    s.reboot();
    let out = s.ok(&["apply", "--boot", "--policy", &pol]);
    assert!(
        out.contains(&format!("restored {} (vif {VIF2})", rec.vf))
            && out.contains("CNI attachment")
            && out.contains("which is gone; a repair undoes it (run `vifman reconcile --repair`)"),
        "{out}"
    );
    assert_eq!(
        s.vf(&pf, idx)["vlan"],
        200,
        "boot replay re-applies the record"
    );
    assert_eq!(s.driver(&rec.vf.to_string()).as_deref(), Some("vfio-pci"));

    let stale = |j: &str| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(j).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "stale-attachment")
            .cloned()
            .collect()
    };
    let d = stale(&s.ok(&["reconcile", "--json"]));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["vif_id"], VIF2);
    assert!(d[0]["repaired"].is_null());
    let d = stale(&s.ok(&["reconcile", "--repair", "--json"]));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0]["repaired"]
            .as_str()
            .unwrap()
            .starts_with("undid the attachment"),
        "{d:?}"
    );
    let recs = vifman::store::read_allocations(&s.state).unwrap();
    assert_eq!(recs.len(), 1, "the allocation stays its holder's");
    assert!(recs[0].cni.is_none());
    assert!(recs[0]
        .requested
        .iter()
        .all(|k| !k.describe().contains("vlan")));
    assert_eq!(s.vf(&pf, idx)["vlan"], 0, "this boot's VLAN is back");
    assert_eq!(s.driver(&rec.vf.to_string()).as_deref(), Some("vfio-pci"));
    assert!(stale(&s.ok(&["reconcile", "--json"])).is_empty());
}
