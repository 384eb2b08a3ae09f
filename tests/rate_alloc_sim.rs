//! `vifman allocate --rate-parent NODE` on the simulated host: the allocated VF's devlink rate
//! leaf parented to an existing node of its switchdev PF (mlx5 0000:5e:00.0, VF 1), its
//! original parent saved in the record and put back by release and by a rollback; refused
//! with the reason and nothing changed on a legacy PF (ice), for a node that does not exist
//! and for a bad node name. After a reboot `apply --boot` parents the new leaf to the node
//! the policy recreated (its original: none), or, when the node is gone, restores the
//! allocation without it and warns. The real-kernel rate path is the VM scenario `netdevsim`.

mod common;

use common::*;
use serde_json::Value;

const POOLS: &str = r#"
[[device_spec]]
pf_names = ["enp134s0#5"]
physical_network = "physnet1"

[[device_spec]]
pf_names = ["enp94s0f0np0#1"]
physical_network = "physnet-sw"
"#;

const PF: &str = "enp94s0f0np0";

struct Sim(SimEnv);

impl Sim {
    fn new() -> Sim {
        Sim(SimEnv::with_config(POOLS))
    }
    fn ok(&self, cmd: &[&str]) -> String {
        let o = self.0.run(cmd, &[]);
        assert!(o.status.success(), "vifman {cmd:?}: {}", stderr(&o));
        text(&o.stdout)
    }
    /// VF `vf`'s leaf parent as the rate dump reads it.
    fn parent(&self, vf: u64) -> Value {
        let v: Value =
            serde_json::from_str(&self.ok(&["rate-node", "list", PF, "--json"])).unwrap();
        v["rates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "leaf" && r["vf"] == vf)
            .unwrap_or_else(|| panic!("no leaf of VF {vf}: {v:#}"))["parent"]
            .clone()
    }
    fn records(&self) -> Vec<Value> {
        serde_json::from_str(&self.ok(&["allocations", "--json"])).unwrap()
    }
    fn journal(&self) -> Vec<String> {
        vifman::host::sim::read_journal(&self.0.kernel_dir())
    }
}

#[test]
fn the_leaf_parent_is_set_recorded_and_restored_on_release() {
    let sim = Sim::new();
    sim.ok(&["rate-node", "add", PF, "grp1", "--max-tx-rate", "500"]);
    sim.ok(&["rate-node", "add", PF, "old"]);
    // Without an original parent: none comes back.
    let o = sim
        .0
        .allocate_vif("physnet-sw", VIF_ID, &["--rate-parent", "grp1"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sim.parent(1), "grp1");
    let recs = sim.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0]["rate_parent"],
        serde_json::json!({"node": "grp1", "original": null})
    );
    sim.ok(&["release", "--vif-id", VIF_ID]);
    assert_eq!(sim.parent(1), Value::Null);

    // With one: the node it had comes back.
    sim.ok(&["vf", "rate", PF, "1", "--parent", "old"]);
    let o = sim
        .0
        .allocate_vif("physnet-sw", VIF_ID, &["--rate-parent", "grp1"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sim.parent(1), "grp1");
    assert_eq!(sim.records()[0]["rate_parent"]["original"], "old");
    // The node is in use: its delete is refused.
    let o = sim.0.run(&["rate-node", "del", PF, "grp1"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    sim.ok(&["release", "--vif-id", VIF_ID]);
    assert_eq!(sim.parent(1), "old");
    // An allocation without the flag records none (older records read the same).
    let o = sim.0.allocate_vif("physnet-sw", VIF_ID, &[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(sim.records()[0].get("rate_parent").is_none());
}

#[test]
fn a_later_failing_step_puts_the_parent_back() {
    let sim = Sim::new();
    sim.ok(&["rate-node", "add", PF, "grp1"]);
    sim.ok(&["rate-node", "add", PF, "old"]);
    sim.ok(&["vf", "rate", PF, "1", "--parent", "old"]);
    // The vfio-pci bind comes after the parent: it fails, the parent goes back.
    let o = sim.0.allocate_vif(
        "physnet-sw",
        VIF_ID,
        &["--rate-parent", "grp1", "--mode", "hostdev-vfio"],
        &[("VIFMAN_SIM_FAIL", "driver_override:EIO")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("rolled back"), "{e}");
    // Set before the failure, put back by the rollback.
    let j = sim.journal();
    assert_eq!(
        j[j.len() - 2..],
        [
            "devlink rate set 0000:5e:00.0/vf1 parent grp1",
            "devlink rate set 0000:5e:00.0/vf1 parent old"
        ],
        "{j:#?}"
    );
    assert_eq!(sim.parent(1), "old");
    assert!(sim.records().is_empty());
}

#[test]
fn rate_parent_is_refused_with_the_reason_and_nothing_changed() {
    let sim = Sim::new();
    sim.ok(&["rate-node", "add", PF, "grp1"]);
    let n = sim.journal().len();
    for (pool, node, why) in [
        (
            "physnet1",
            "grp1",
            "is in legacy eswitch mode; VF rate leaves and their parents exist in switchdev mode only",
        ),
        ("physnet-sw", "nosuch", "rate node nosuch does not exist on pci/0000:5e:00.0 (nodes: grp1)"),
        ("physnet-sw", "a/b", "--rate-parent"),
    ] {
        let o = sim
            .0
            .allocate_vif(pool, VIF_ID, &["--rate-parent", node], &[]);
        assert_eq!(o.status.code(), Some(1), "{node}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(why), "{node}: {e}");
        assert!(sim.records().is_empty(), "{node}: a record was left");
    }
    assert_eq!(sim.journal().len(), n, "nothing sent: {:#?}", sim.journal());
    assert_eq!(sim.parent(1), Value::Null);
}

/// The policy of the boot tests: node `grp1` on the switchdev PF, nothing on the VFs.
const NODE_POLICY: &str = r#"
[[pf]]
address = "0000:5e:00.0"

[[pf.rate_nodes]]
name = "grp1"
max_tx_rate = 500
"#;

impl Sim {
    fn policy(&self, body: &str) -> String {
        let p = self.0.dir().join("policy.toml");
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    }
    /// A reboot: the simulated kernel starts from its fixture again, the store is kept.
    fn reboot(&self) {
        std::fs::remove_dir_all(self.0.kernel_dir()).unwrap();
    }
    /// `apply --boot --json`: the boot outcome.
    fn boot(&self, pol: &str) -> Value {
        let v: Value =
            serde_json::from_str(&self.ok(&["apply", "--boot", "--json", "--policy", pol]))
                .unwrap();
        v["boot"].clone()
    }
}

#[test]
fn boot_replay_parents_the_new_leaf_to_the_recreated_node() {
    let sim = Sim::new();
    let pol = sim.policy(NODE_POLICY);
    sim.ok(&["apply", "--policy", &pol]);
    let o = sim
        .0
        .allocate_vif("physnet-sw", VIF_ID, &["--rate-parent", "grp1"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sim.parent(1), "grp1");

    sim.reboot();
    assert_eq!(
        sim.parent(1),
        Value::Null,
        "the fixture's leaf has no parent"
    );
    let b = sim.boot(&pol);
    assert_eq!(b["restored"].as_array().unwrap().len(), 1, "{b:#}");
    assert!(b["lost"].as_array().unwrap().is_empty(), "{b:#}");
    let r = &b["restored"][0];
    assert!(r.get("warnings").is_none(), "{b:#}");
    assert!(
        r["detail"].as_str().unwrap().contains("rate parent grp1"),
        "{b:#}"
    );
    // The node came first (the policy's step), then the leaf's parent.
    let j = sim.journal();
    let node = j
        .iter()
        .rposition(|l| l.contains("rate node grp1") || l.contains("rate add"))
        .unwrap_or_else(|| panic!("no node step: {j:#?}"));
    let leaf = j
        .iter()
        .rposition(|l| l == "devlink rate set 0000:5e:00.0/vf1 parent grp1")
        .unwrap_or_else(|| panic!("no leaf parent: {j:#?}"));
    assert!(node < leaf, "{j:#?}");
    assert_eq!(sim.parent(1), "grp1");
    // The fresh leaf had no parent: that is what release puts back.
    assert_eq!(
        sim.records()[0]["rate_parent"],
        serde_json::json!({"node": "grp1", "original": null})
    );
    // A second --boot (no reboot) writes nothing more.
    let n = sim.journal().len();
    sim.boot(&pol);
    assert_eq!(sim.journal().len(), n, "{:#?}", sim.journal());
    assert_eq!(sim.records()[0]["rate_parent"]["original"], Value::Null);
    sim.ok(&["release", "--vif-id", VIF_ID]);
    assert_eq!(sim.parent(1), Value::Null);
}

#[test]
fn boot_replay_without_the_node_restores_the_allocation_and_warns() {
    let sim = Sim::new();
    sim.ok(&["rate-node", "add", PF, "grp1"]);
    let o = sim
        .0
        .allocate_vif("physnet-sw", VIF_ID, &["--rate-parent", "grp1"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));

    // This boot's policy does not recreate grp1.
    sim.reboot();
    let pol = sim.policy("[[pf]]\naddress = \"0000:5e:00.0\"\n");
    let n = sim.journal().len();
    let o = sim.0.run(&["apply", "--boot", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = text(&o.stdout);
    assert!(out.contains("restored 0000:5e:"), "{out}");
    assert!(
        out.contains("warning: rate parent grp1 not restored (rate node grp1 does not exist"),
        "{out}"
    );
    assert!(
        !sim.journal()[n..].iter().any(|l| l.contains("parent")),
        "{:#?}",
        sim.journal()
    );
    let recs = sim.records();
    assert_eq!(recs[0]["phase"], "active", "{recs:#?}");
    assert!(recs[0].get("rate_parent").is_none(), "{recs:#?}");
    assert_eq!(sim.parent(1), Value::Null);
    // Release puts no parent back (there is none to put back, nor a node to name).
    let n = sim.journal().len();
    sim.ok(&["release", "--vif-id", VIF_ID]);
    assert!(
        !sim.journal()[n..].iter().any(|l| l.contains("parent")),
        "{:#?}",
        sim.journal()
    );
    assert!(sim.records().is_empty());
}
