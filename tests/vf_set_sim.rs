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
    let o = sim.run(
        &[
            "allocate",
            "--physnet",
            "physnet1",
            "--instance",
            INST,
            "--vif-id",
            VIF_ID,
            "--vlan",
            "117",
        ],
        &[],
    );
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
