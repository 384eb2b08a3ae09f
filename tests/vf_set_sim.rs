//! `vifman vf set` on the simulated host: knobs applied one by one and read back, rollback
//! of the knobs already applied when a later one fails (an injected kernel error), refusal
//! of an allocated VF without --force, and bad input named with nothing changed. The real
//! kernel side (netdevsim, every knob) is the VM scenario `netdevsim`.

mod common;

use common::*;

const POOLS: &str = r#"
[[device_spec]]
pf_names = ["enp59s0f1#1"]
physical_network = "physnet1"
"#;

/// The shared simulated-host harness; this file's own helpers are in the `impl` below.
type Sim = SimEnv;

impl Sim {
    fn new() -> Sim {
        Sim::with_config(POOLS)
    }
    /// Runs `cmd`, asserting success; its stdout.
    fn ok(&self, cmd: &[&str]) -> String {
        let o = self.run(cmd, &[]);
        assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    }
    /// VF `index` of enp59s0f1 as the simulated kernel holds it.
    fn vf(&self, index: u64) -> serde_json::Value {
        let st = sim_vf_state(&sim_kernel(NFV, &self.state));
        st["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == "enp59s0f1")
            .unwrap()["vfs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["vf"] == index)
            .unwrap()
            .clone()
    }
}

#[test]
fn vf_set_applies_reads_back_and_rolls_back() {
    let sim = Sim::new();
    // Every knob the simulated driver (igb-like: no 802.1ad, no min rate) takes, in one
    // call, by netdev name.
    let o = sim.run(
        &[
            "vf",
            "set",
            "enp59s0f1",
            "2",
            "mac",
            "02:11:22:33:44:55",
            "vlan",
            "200",
            "qos",
            "3",
            "spoofchk",
            "off",
            "trust",
            "on",
            "state",
            "disable",
            "max_tx_rate",
            "100",
            "--json",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = sim.vf(2);
    assert_eq!(r["state"], v, "the report is the read-back state");
    assert_eq!(v["mac"], "02:11:22:33:44:55");
    assert_eq!(
        (v["vlan"].as_u64(), v["qos"].as_u64()),
        (Some(200), Some(3))
    );
    assert_eq!(v["vlan_proto"], "802.1Q");
    assert_eq!(
        (v["spoofchk"].as_bool(), v["trust"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(v["link_state"], "disable");
    assert_eq!(
        (v["min_tx_rate"].as_u64(), v["max_tx_rate"].as_u64()),
        (Some(0), Some(100))
    );

    // A later knob fails in the kernel: MAC and VLAN already applied are put back.
    let before = sim.vf(3);
    let o = sim.run(
        &[
            "vf",
            "set",
            "enp59s0f1",
            "3",
            "mac",
            "02:00:00:00:33:01",
            "vlan",
            "66",
            "trust",
            "on",
        ],
        &[("VIFMAN_SIM_FAIL", "vf.trust:EIO")],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("trust on") && e.contains("rolled back mac 02:00:00:00:33:01"),
        "{e}"
    );
    assert_eq!(sim.vf(3), before, "rollback left the VF as it was");

    // The simulated driver refuses 802.1ad (EPROTONOSUPPORT, as igb): the MAC set before
    // it is put back.
    let o = sim.run(
        &[
            "vf",
            "set",
            "enp59s0f1",
            "3",
            "mac",
            "02:00:00:00:33:02",
            "vlan",
            "30",
            "proto",
            "802.1ad",
        ],
        &[],
    );
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("EPROTONOSUPPORT"), "{e}");
    assert!(e.contains("rolled back mac 02:00:00:00:33:02"), "{e}");
    assert_eq!(sim.vf(3), before);

    // Bad input: named, non-zero exit, nothing changed.
    for (words, needle) in [
        (vec!["qos", "9"], "0-7"),
        (vec!["mac", "01:00:5e:00:00:01"], "multicast"),
        (vec!["colour", "red"], "unknown VF setting"),
    ] {
        let mut cmd = vec!["vf", "set", "enp59s0f1", "3"];
        cmd.extend(words);
        let o = sim.run(&cmd, &[]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
    }
    let o = sim.run(&["vf", "set", "enp59s0f1", "99", "trust", "on"], &[]);
    assert!(
        !o.status.success() && stderr(&o).contains("has no VF 99"),
        "{}",
        stderr(&o)
    );
    assert_eq!(sim.vf(3), before);
}

#[test]
fn vf_set_refuses_an_allocated_vf_unless_forced() {
    let sim = Sim::new();
    let o = sim.allocate_vif("physnet1", VIF_ID, &["--vlan", "117"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sim.run(&["vf", "set", "enp59s0f1", "1", "vlan", "5"], &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("is allocated") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(sim.vf(1)["vlan"], 117);
    let o = sim.run(
        &["vf", "set", "enp59s0f1", "1", "vlan", "5", "--force"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sim.vf(1)["vlan"], 5);
}

/// A PF whose VFs are not PCI functions (netdevsim's), modelled as a netdev with VF records
/// in the simulated kernel's netlink state and no device in the tree: `vf show` falls back
/// to the netlink records by netdev name, as `vf set` does; PCI-only fields are null.
#[test]
fn vf_show_and_set_a_non_pci_pf_by_netdev_name() {
    let sim = Sim::new();
    let kernel = sim_kernel(NFV, &sim.state);
    let shards = kernel.join("vf-state.d");
    std::fs::create_dir_all(&shards).unwrap();
    let vf = |i: u32| {
        serde_json::json!({"vf": i, "mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0,
            "vlan_proto": "802.1Q", "spoofchk": true, "trust": false, "link_state": "auto",
            "min_tx_rate": 0, "max_tx_rate": 0})
    };
    let link = serde_json::json!({"ifname": "eni0np0", "ifindex": 900, "num_vf": 2,
        "vfs": [vf(0), vf(1)]});
    std::fs::write(shards.join("eni0np0.json"), link.to_string()).unwrap();
    let none = serde_json::json!({"ifname": "eni1np0", "ifindex": 901, "num_vf": 0, "vfs": []});
    std::fs::write(shards.join("eni1np0.json"), none.to_string()).unwrap();

    let all: serde_json::Value =
        serde_json::from_str(&sim.ok(&["vf", "show", "eni0np0", "--json"])).unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r["vf_index"], i as u64);
        assert_eq!(r["address"], serde_json::Value::Null, "{r}");
        assert_eq!(r["pf"], "eni0np0");
        assert_eq!(r["pf_netdev"], "eni0np0");
        assert_eq!(r["driver"], serde_json::Value::Null);
        assert_eq!(r["reset_methods"], serde_json::Value::Null);
        assert_eq!(r["admin"], vf(i as u32), "{r}");
        assert!(r["status"].as_str().unwrap().contains("not a PCI"), "{r}");
    }

    sim.ok(&[
        "vf",
        "set",
        "eni0np0",
        "1",
        "mac",
        "02:00:00:00:01:01",
        "vlan",
        "7",
        "trust",
        "on",
    ]);
    let one: serde_json::Value =
        serde_json::from_str(&sim.ok(&["vf", "show", "eni0np0", "1", "--json"])).unwrap();
    assert_eq!(one["admin"]["mac"], "02:00:00:00:01:01", "{one}");
    assert_eq!(one["admin"]["vlan"], 7);
    assert_eq!(one["admin"]["trust"], true);
    assert_eq!(one["address"], serde_json::Value::Null);

    let o = sim.run(&["vf", "show", "eni0np0", "5"], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("eni0np0 has no VF 5"), "{}", stderr(&o));
    for args in [
        &["vf", "show", "eni1np0"][..],
        &["vf", "show", "eni1np0", "0"],
    ] {
        let o = sim.run(args, &[]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("eni1np0 has no VFs"), "{}", stderr(&o));
    }
    let o = sim.run(&["vf", "show", "nosuch0"], &[]);
    assert!(stderr(&o).contains("nosuch0 has no VFs"), "{}", stderr(&o));
    // A PCI PF still answers from the host view (with its PCI address).
    let pci: serde_json::Value =
        serde_json::from_str(&sim.ok(&["vf", "show", "enp59s0f1", "--json"])).unwrap();
    assert!(pci
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["address"].is_string()));
}
