//! Clean handoff on the simulated host (issue 17): release resets the VF with no driver bound,
//! restores and reads back; every failure quarantines; a quarantined VF is never handed out
//! and is visible in pools, allocations, inventory, the device plugin, Placement and metrics;
//! the quarantine is cleared by `release --clear-quarantine` or `reconcile --repair`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// One single-VF pool per reset case, all on enp59s0f1 (its VFs 1-4 are free in nfv-host):
/// `flr` (default policy, VF offers flr), `plain` (reset = "none", VF offers flr), `auto`
/// (default policy, VF offers no reset), `strict` (reset = "flr", VF offers no reset).
const POOLS: &str = r#"
[[device_spec]]
pf_names = ["enp59s0f1#1"]
physical_network = "flr"

[[device_spec]]
pf_names = ["enp59s0f1#2"]
physical_network = "plain"
reset = "none"

[[device_spec]]
pf_names = ["enp59s0f1#3"]
physical_network = "auto"

[[device_spec]]
pf_names = ["enp59s0f1#4"]
physical_network = "strict"
reset = "flr"
"#;

const FLR_VF: &str = "0000:3b:0a.1";
const PLAIN_VF: &str = "0000:3b:0a.2";
const AUTO_VF: &str = "0000:3b:0a.3";
const STRICT_VF: &str = "0000:3b:0a.4";

/// The shared simulated-host harness; this file's own helpers are in the `impl` below.
type Sim = SimEnv;

impl Sim {
    /// A simulated nfv-host whose pool VFs `flr` and `plain` have the kernel's reset files.
    fn new() -> Sim {
        let sim = Sim::with_config(POOLS);
        for vf in [FLR_VF, PLAIN_VF] {
            sim.give_reset(vf, "flr\n");
        }
        sim
    }
    /// Behind vifman's back: the VF's `reset_method` (and its `reset` file), as the kernel
    /// shows them for a function that can be reset.
    fn give_reset(&self, vf: &str, methods: &str) {
        let d = self.root().join("sys/bus/pci/devices").join(vf);
        std::fs::write(d.join("reset_method"), methods).unwrap();
        std::fs::write(d.join("reset"), "").unwrap();
    }
    fn root(&self) -> PathBuf {
        sim_kernel(NFV, &self.state)
    }
    fn ok(&self, cmd: &[&str]) -> String {
        run_ok(cmd, &self.host())
    }
    fn journal(&self) -> Vec<String> {
        vifman::host::sim::read_journal(&self.root())
    }
    /// (driver, driver_override, VF netlink state) of `vf`: what a tenant would inherit.
    fn vf_snapshot(&self, vf: &str, index: u64) -> (Option<String>, String, serde_json::Value) {
        let d = self.root().join("sys/bus/pci/devices").join(vf);
        let drv = std::fs::read_link(d.join("driver"))
            .ok()
            .map(|l| l.file_name().unwrap().to_string_lossy().into_owned());
        let ovr = std::fs::read_to_string(d.join("driver_override")).unwrap();
        let st = sim_vf_state(&self.root());
        let link = st["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == "enp59s0f1")
            .unwrap();
        let s = link["vfs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["vf"] == index)
            .unwrap()
            .clone();
        (drv, ovr, s)
    }
    fn allocate(&self, pool: &str, id: &str, env: &[(&str, &str)]) -> Output {
        self.allocate_vif(
            pool,
            id,
            &["--mac", "fa:16:3e:17:00:01", "--vlan", "117"],
            env,
        )
    }
    fn records(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["allocations", "--json"])).unwrap()
    }
    fn pool(&self, name: &str) -> serde_json::Value {
        let p: serde_json::Value = serde_json::from_str(&self.ok(&["pools", "--json"])).unwrap();
        p["pools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["physnet"] == name)
            .unwrap()
            .clone()
    }
}

fn uuid(n: u32) -> String {
    format!("6f0f6f2c-7c9a-4b9d-9c9f-{n:012x}")
}

/// The journal lines after `from` that touch `vf` (sysfs writes name it; VF setlinks name the
/// PF and index).
fn steps_for(journal: &[String], from: usize, vf: &str, index: u32) -> Vec<String> {
    let setlink = format!("enp59s0f1 vf {index} ");
    journal[from..]
        .iter()
        .filter(|l| l.contains(vf) || l.starts_with(&setlink))
        .cloned()
        .collect()
}

#[test]
fn release_resets_with_no_driver_bound_then_restores_and_rebinds() {
    let sim = Sim::new();
    let before = sim.vf_snapshot(FLR_VF, 1);
    let id = uuid(1);
    let o = sim.allocate("flr", &id, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let from = sim.journal().len();
    sim.ok(&["release", "--vif-id", &id]);
    let steps = steps_for(&sim.journal(), from, FLR_VF, 1);
    let at = |what: &str| {
        steps
            .iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in {steps:#?}"))
    };
    let unbind = at("/unbind");
    let reset = at("/reset");
    let probe = at("drivers_probe");
    let mac = at("vf 1 mac");
    let vlan = at("vf 1 vlan");
    // unbind → reset → PF-side knobs (MAC first) → probe the original driver.
    assert!(unbind < reset, "{steps:#?}");
    assert!(reset < mac && mac < vlan && vlan < probe, "{steps:#?}");
    assert_eq!(
        steps.iter().filter(|l| l.contains("/reset")).count(),
        1,
        "{steps:#?}"
    );
    assert_eq!(sim.vf_snapshot(FLR_VF, 1), before, "not restored");
    assert!(sim.records().is_empty());
    // Free again: the next tenant gets it.
    let o = sim.allocate("flr", &uuid(2), &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn reset_policy_none_and_default_without_flr_never_reset() {
    let sim = Sim::new();
    for (pool, vf, index, n) in [("plain", PLAIN_VF, 2, 10), ("auto", AUTO_VF, 3, 11)] {
        let before = sim.vf_snapshot(vf, index);
        let id = uuid(n);
        let o = sim.allocate(pool, &id, &[]);
        assert!(o.status.success(), "{pool}: {}", text(&o.stderr));
        let from = sim.journal().len();
        sim.ok(&["release", "--vif-id", &id]);
        let steps = steps_for(&sim.journal(), from, vf, index as u32);
        assert!(
            !steps.iter().any(|l| l.contains("/reset")),
            "{pool}: {steps:#?}"
        );
        assert!(!steps.is_empty(), "{pool}: nothing restored");
        assert_eq!(sim.vf_snapshot(vf, index), before, "{pool}");
    }
    assert!(sim.records().is_empty());
    // The record keeps the pool's policy: a release reading another config (here one without
    // the pool) still does not reset a `reset = "none"` VF.
    let id = uuid(12);
    assert!(sim.allocate("plain", &id, &[]).status.success());
    assert_eq!(sim.records()[0]["reset"], "none");
    let other = sim.state.parent().unwrap().join("other.toml");
    std::fs::write(
        &other,
        "[[device_spec]]\npf_names = [\"enp134s0\"]\nphysical_network = \"x\"\n",
    )
    .unwrap();
    let from = sim.journal().len();
    run_ok(
        &["release", "--vif-id", &id],
        &host_args(&sim.state, &other.display().to_string()),
    );
    let steps = steps_for(&sim.journal(), from, PLAIN_VF, 2);
    assert!(!steps.iter().any(|l| l.contains("/reset")), "{steps:#?}");
    assert!(sim.records().is_empty());
}

/// The quarantine every failing release step leads to, and what it looks like.
fn assert_quarantined(sim: &Sim, pool: &str, vf: &str, o: &Output, why: &str) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{pool}: {err}");
    assert!(
        err.contains("quarantined") && err.contains(why),
        "{pool}: {err}"
    );
    let recs = sim.records();
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0]["phase"], "quarantined");
    assert_eq!(recs[0]["vf"], vf);
    let reason = recs[0]["quarantine"]["reason"].as_str().unwrap();
    assert!(reason.contains(why), "{reason}");
    assert!(recs[0]["quarantine"]["since"].as_u64().unwrap() > 0);
    let p = sim.pool(pool);
    assert_eq!(
        (p["quarantined"].as_u64(), p["free"].as_u64()),
        (Some(1), Some(0)),
        "{p}"
    );
    // Never handed out again.
    let o = sim.allocate(pool, &uuid(999), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("quarantined"),
        "{}",
        text(&o.stderr)
    );
    let inv = sim_inventory(NFV, &sim.state);
    let d = inventory_device(&inv, vf);
    assert_eq!(d["free"], false);
    assert_eq!(d["allocation"]["phase"], "quarantined", "{d}");
    assert_eq!(d["status"]["state"], "quarantined", "{d}");
    assert_eq!(d["health"]["healthy"], false, "{d}");
    assert!(
        d["health"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("quarantined: "),
        "{d}"
    );
    assert!(d["allocation"]["quarantine"]["reason"]
        .as_str()
        .unwrap()
        .contains(why));
    assert!(sim.ok(&["allocations"]).contains("quarantined:"));
    let index = d["index"].as_u64().unwrap().to_string();
    let r: serde_json::Value =
        serde_json::from_str(&sim.ok(&["vf", "show", "enp59s0f1", &index, "--json"])).unwrap();
    assert!(
        r["status"].as_str().unwrap().starts_with("quarantined ("),
        "{r}"
    );
}

#[test]
fn every_failed_release_step_quarantines_and_is_never_reallocated() {
    // (fault on the release, what the reason names)
    let cases = [
        ("reset:EIO", "EIO"),
        ("reset:ENOTTY", "ENOTTY"),
        ("unbind:EBUSY", "EBUSY"),
        ("vf.mac:EPERM", "EPERM"),
        ("vf.vlan:EIO", "EIO"),
        ("probe:ENODEV", "ENODEV"),
        ("driver_override:EIO", "EIO"),
        // Accepted and not carried out: only the read-back sees it.
        ("vf.vlan:IGNORE", "reads back as"),
    ];
    for (n, (fault, why)) in cases.iter().enumerate() {
        let sim = Sim::new();
        let id = uuid(100 + n as u32);
        let o = sim.allocate("flr", &id, &[]);
        assert!(o.status.success(), "{fault}: {}", text(&o.stderr));
        let o = sim.run(&["release", "--vif-id", &id], &[("VIFMAN_SIM_FAIL", fault)]);
        assert_quarantined(&sim, "flr", FLR_VF, &o, why);
        // reconcile reports it (read-only) and keeps it.
        let d: serde_json::Value = serde_json::from_str(&sim.ok(&["reconcile", "--json"])).unwrap();
        assert!(
            d.as_array()
                .unwrap()
                .iter()
                .any(|x| x["kind"] == "quarantined" && x["vf"] == FLR_VF),
            "{fault}: {d}"
        );
        assert_eq!(sim.records().len(), 1, "{fault}");
    }
}

#[test]
fn flr_policy_on_a_vf_without_flr_quarantines() {
    let sim = Sim::new();
    let id = uuid(200);
    let o = sim.allocate("strict", &id, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let from = sim.journal().len();
    let o = sim.run(&["release", "--vif-id", &id], &[]);
    assert_quarantined(&sim, "strict", STRICT_VF, &o, "offers nothing");
    // No reset write, and no unbind for a reset that cannot happen; the knobs were put back
    // and the driver never left.
    let steps = steps_for(&sim.journal(), from, STRICT_VF, 4);
    assert!(
        !steps
            .iter()
            .any(|l| l.contains("/reset") || l.contains("/unbind")),
        "{steps:#?}"
    );
    assert!(
        steps.iter().any(|l| l.contains("vf 4 vlan 0")),
        "{steps:#?}"
    );
    assert_eq!(sim.vf_snapshot(STRICT_VF, 4).0.as_deref(), Some("iavf"));
    // An emptied reset_method (what an operator's `echo > reset_method` leaves): the default
    // policy becomes "none" (released without a reset), an explicit flr quarantines.
    let sim = Sim::new();
    sim.give_reset(FLR_VF, "\n");
    sim.give_reset(STRICT_VF, "\n");
    let id = uuid(201);
    assert!(sim.allocate("flr", &id, &[]).status.success());
    let from = sim.journal().len();
    let o = sim.run(&["release", "--vif-id", &id], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(sim.records().is_empty());
    assert!(!steps_for(&sim.journal(), from, FLR_VF, 1)
        .iter()
        .any(|l| l.contains("/reset")));
    let id = uuid(202);
    assert!(sim.allocate("strict", &id, &[]).status.success());
    let o = sim.run(&["release", "--vif-id", &id], &[]);
    assert_quarantined(&sim, "strict", STRICT_VF, &o, "offers nothing (emptied)");
}

#[test]
fn quarantine_is_cleared_by_repair_or_by_the_operator() {
    let sim = Sim::new();
    let before = sim.vf_snapshot(FLR_VF, 1);
    // 1. reconcile --repair retries the clean release and frees the VF.
    let id = uuid(300);
    assert!(sim.allocate("flr", &id, &[]).status.success());
    let o = sim.run(
        &["release", "--vif-id", &id],
        &[("VIFMAN_SIM_FAIL", "reset:EIO")],
    );
    assert_quarantined(&sim, "flr", FLR_VF, &o, "EIO");
    // A repair that fails again keeps it quarantined (with the new reason).
    let o = sim.run(
        &["reconcile", "--repair", "--json"],
        &[("VIFMAN_SIM_FAIL", "reset:ENOTTY")],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let recs = sim.records();
    assert_eq!(recs[0]["phase"], "quarantined");
    assert!(recs[0]["quarantine"]["reason"]
        .as_str()
        .unwrap()
        .contains("ENOTTY"));
    let from = sim.journal().len();
    let d: serde_json::Value =
        serde_json::from_str(&sim.ok(&["reconcile", "--repair", "--json"])).unwrap();
    let x = d
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "quarantined")
        .unwrap();
    assert!(x["repaired"].as_str().unwrap().contains("freed"), "{x}");
    assert!(sim.records().is_empty());
    assert!(steps_for(&sim.journal(), from, FLR_VF, 1)
        .iter()
        .any(|l| l.contains("/reset")));
    assert_eq!(sim.vf_snapshot(FLR_VF, 1), before);
    assert_eq!(sim.pool("flr")["free"], 1);

    // 2. Releasing a quarantined VIF again retries the release.
    let id = uuid(301);
    assert!(sim.allocate("flr", &id, &[]).status.success());
    let o = sim.run(
        &["release", "--vif-id", &id],
        &[("VIFMAN_SIM_FAIL", "probe:EIO")],
    );
    assert_quarantined(&sim, "flr", FLR_VF, &o, "EIO");
    sim.ok(&["release", "--vif-id", &id]);
    assert!(sim.records().is_empty());

    // 3. The operator's word: drop the record by VF address (or VIF id), hardware untouched.
    for (n, by_vf) in [(302, true), (303, false)] {
        let id = uuid(n);
        assert!(sim.allocate("flr", &id, &[]).status.success());
        let o = sim.run(
            &["release", "--vif-id", &id],
            &[("VIFMAN_SIM_FAIL", "reset:EIO")],
        );
        assert_quarantined(&sim, "flr", FLR_VF, &o, "EIO");
        let from = sim.journal().len();
        let what = if by_vf {
            FLR_VF.to_string()
        } else {
            id.clone()
        };
        sim.ok(&["release", "--clear-quarantine", &what]);
        assert!(sim.records().is_empty());
        assert_eq!(sim.journal().len(), from, "clearing touched the hardware");
        assert_eq!(sim.pool("flr")["free"], 1);
    }
    // Only a quarantined record can be cleared.
    let id = uuid(304);
    assert!(sim.allocate("flr", &id, &[]).status.success());
    let o = sim.run(&["release", "--clear-quarantine", &id], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("not quarantined"));
    assert_eq!(sim.records().len(), 1);
}

#[test]
fn the_host_layer_never_writes_reset_with_a_driver_bound() {
    use vifman::host::{Host, SimHost, SysWrite};
    let dir = tempfile::tempdir().unwrap();
    let root = nfv_copy(dir.path());
    let vf: vifman::types::PciAddress = FLR_VF.parse().unwrap();
    let d = root.join("sys/bus/pci/devices").join(FLR_VF);
    std::fs::write(d.join("reset_method"), "flr\n").unwrap();
    std::fs::write(d.join("reset"), "").unwrap();
    let host = SimHost::in_place(&root).unwrap();
    assert_eq!(host.driver_of(&vf).as_deref(), Some("iavf"));
    for r in [host.write(&SysWrite::Reset(vf)), host.reset_function(&vf)] {
        let e = r.expect_err("reset with iavf bound");
        assert!(e.to_string().contains("bound to iavf"), "{e}");
    }
    assert!(
        !vifman::host::sim::read_journal(&root)
            .iter()
            .any(|l| l.contains("/reset")),
        "a refused reset reached the kernel"
    );
    // Unbound, the same write goes through.
    host.write(&SysWrite::Unbind(vf, "iavf".parse().unwrap()))
        .unwrap();
    host.reset_function(&vf).unwrap();
    assert!(vifman::host::sim::read_journal(&root)
        .iter()
        .any(|l| l.contains(&format!("{FLR_VF}/reset"))));
}

#[test]
fn vf_reset_command_unbinds_resets_and_rebinds() {
    let sim = Sim::new();
    let before = sim.vf_snapshot(FLR_VF, 1);
    let from = sim.journal().len();
    let o = sim.run(&["vf", "reset", "enp59s0f1", "1"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let steps = steps_for(&sim.journal(), from, FLR_VF, 1);
    let pos = |w: &str| steps.iter().position(|l| l.contains(w)).unwrap();
    assert!(
        pos("/unbind") < pos("/reset") && pos("/reset") < pos("drivers_probe"),
        "{steps:#?}"
    );
    assert_eq!(sim.vf_snapshot(FLR_VF, 1), before);
    // By PCI address of the PF too; refused for an allocated VF and for one with no reset.
    let id = uuid(400);
    assert!(sim.allocate("flr", &id, &[]).status.success());
    let o = sim.run(&["vf", "reset", "0000:3b:00.1", "1"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("is allocated"),
        "{}",
        text(&o.stderr)
    );
    let o = sim.run(&["vf", "reset", "enp59s0f1", "3"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("no reset method"),
        "{}",
        text(&o.stderr)
    );
    // A failed reset puts the driver back.
    let o = sim.run(
        &["vf", "reset", "enp59s0f1", "2"],
        &[("VIFMAN_SIM_FAIL", "reset:EIO")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("back on its driver"));
    assert_eq!(sim.vf_snapshot(PLAIN_VF, 2).0.as_deref(), Some("iavf"));
}

#[cfg(feature = "fleet")]
#[test]
fn quarantined_vf_is_unhealthy_reserved_and_counted() {
    use vifman::fleet::snapshot::Holder;
    let sim = Sim::new();
    let id = uuid(500);
    assert!(sim.allocate("flr", &id, &[]).status.success());
    let o = sim.run(
        &["release", "--vif-id", &id],
        &[("VIFMAN_SIM_FAIL", "reset:EIO")],
    );
    assert_eq!(o.status.code(), Some(1));
    let host = vifman::host::SimHost::open(Path::new(NFV), &sim.state).unwrap();
    let config = vifman::config::Config::load(Path::new(&sim.config)).unwrap();
    let engine = vifman::engine::Engine::new(&host, &config, &sim.state);
    let snap = vifman::fleet::snapshot::take(&engine).unwrap();
    let v = snap.vf(&FLR_VF.parse().unwrap()).unwrap();
    assert_eq!(v.holder, Holder::Quarantined(id.clone()));
    assert!(!v.healthy);
    assert!(
        v.reason.as_deref().unwrap().starts_with("quarantined: ")
            && v.reason.as_deref().unwrap().contains("EIO"),
        "{v:?}"
    );
    // Placement: the flr pool's one VF is reserved.
    let desired = vifman::fleet::placement::sync::desired(&snap, "hv1", None);
    let inv = desired
        .iter()
        .flat_map(|p| p.inventories.iter())
        .find(|(rc, _)| rc.contains("FLR"))
        .map(|(_, i)| (i.total, i.reserved))
        .unwrap();
    assert_eq!(inv, (1, 1));
    // Metrics: the gauge, and the drift kind.
    let m = sim.ok(&["metrics"]);
    assert_eq!(
        metric(
            &m,
            "vifman_vfs_quarantined{pool=\"flr\",pf=\"0000:3b:00.1\"}"
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "vifman_reconcile_drift{kind=\"quarantined\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "vifman_vfs_free{pool=\"flr\",pf=\"0000:3b:00.1\"}"),
        Some(0.0),
        "{m}"
    );
}
