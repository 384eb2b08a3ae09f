//! `vifman eswitch PF MODE` on the simulated host: the hwdb order rule of the PF's driver
//! carried out in order (ice: numvfs 0, mode, numvfs back; mlx5: unbind, mode, rebind), the
//! simulated drivers refusing a mode change out of order, a failure undone, the refusal
//! while an allocation holds a VF (and --force), and a VF rate routed through the devlink
//! rate leaf in switchdev mode. The real-kernel side is the VM scenario `netdevsim`.

mod common;

use common::*;

const POOLS: &str = r#"
[[device_spec]]
pf_names = ["enp134s0#5"]
physical_network = "physnet1"

[[device_spec]]
pf_names = ["enp94s0f0np0#1"]
physical_network = "physnet-sw"
"#;

type Sim = SimEnv;

impl Sim {
    fn new() -> Sim {
        Sim::with_config(POOLS)
    }
    fn mode(&self, pf: &str) -> String {
        let o = self.run(&["eswitch", pf, "--json"], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["mode"].as_str().unwrap().to_string()
    }
    fn journal(&self) -> Vec<String> {
        vifman::host::sim::read_journal(&sim_kernel(NFV, &self.state))
    }
    fn numvfs(&self, pf: &str) -> String {
        let k = sim_kernel(NFV, &self.state);
        std::fs::read_to_string(k.join(format!("sys/bus/pci/devices/{pf}/sriov_numvfs")))
            .unwrap()
            .trim()
            .to_string()
    }
}

/// Index of the first journal line containing `needle` at or after `from`.
fn at(j: &[String], from: usize, needle: &str) -> usize {
    j.iter()
        .skip(from)
        .position(|l| l.contains(needle))
        .map(|p| p + from)
        .unwrap_or_else(|| panic!("{needle:?} not in the journal after line {from}: {j:#?}"))
}

#[test]
fn ice_changes_mode_with_no_vfs_and_restores_the_count() {
    let sim = Sim::new();
    assert_eq!(sim.mode("enp134s0"), "legacy");
    let o = sim.run(&["eswitch", "enp134s0", "switchdev", "--json"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["order"], "no-vfs");
    assert_eq!(r["driver"], "ice");
    assert_eq!(sim.mode("enp134s0"), "switchdev");
    assert_eq!(sim.numvfs("0000:86:00.0"), "16", "the VF count is restored");
    let j = sim.journal();
    let zero = at(&j, 0, "0000:86:00.0/sriov_numvfs");
    assert!(j[zero].contains("\"0\""), "{}", j[zero]);
    let set = at(&j, zero, "devlink eswitch set 0000:86:00.0 mode switchdev");
    let back = at(&j, set, "0000:86:00.0/sriov_numvfs");
    assert!(j[back].contains("\"16\""), "{}", j[back]);

    // Already there: nothing written.
    let n = sim.journal().len();
    let o = sim.run(&["eswitch", "enp134s0", "switchdev"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sim.journal().len(), n);
}

#[test]
fn a_failed_mode_set_puts_the_vfs_back() {
    let sim = Sim::new();
    let o = sim.run(
        &["eswitch", "enp134s0", "switchdev"],
        &[("VIFMAN_SIM_FAIL", "eswitch:EBUSY")],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("hwdb order no-vfs")
            && e.contains("eswitch mode legacy -> switchdev failed")
            && e.contains("EBUSY")
            && e.contains("undone: sriov_numvfs 0 -> 16"),
        "{e}"
    );
    assert_eq!(sim.numvfs("0000:86:00.0"), "16");
    assert_eq!(sim.mode("enp134s0"), "legacy");
}

#[test]
fn the_simulated_drivers_refuse_out_of_order_changes() {
    // The bare kernel operation, without the engine's order: what ice and mlx5 answer.
    use vifman::devlink::EswitchMode;
    use vifman::host::{Host, PfId, SimHost};
    let sim = Sim::new();
    let host = SimHost::open(std::path::Path::new(NFV), &sim.state).unwrap();
    let ice = PfId::Pci("0000:86:00.0".parse().unwrap());
    let e = host
        .set_eswitch_mode(&ice, EswitchMode::Switchdev)
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EOPNOTSUPP), "{e}");
    let mlx = PfId::Pci("0000:5e:00.0".parse().unwrap());
    let e = host
        .set_eswitch_mode(&mlx, EswitchMode::Legacy)
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EBUSY), "{e}");
    // i40e: no switchdev in hwdb, so no eswitch at all.
    let i40e = PfId::Pci("0000:3b:00.1".parse().unwrap());
    assert!(host.eswitch_of(&i40e).unwrap().is_none());
}

#[test]
fn mlx5_unbinds_its_vfs_around_the_mode_change() {
    let sim = Sim::new();
    // The fixture's mlx5 PF has representors: switchdev.
    assert_eq!(sim.mode("enp94s0f0np0"), "switchdev");
    let o = sim.run(&["eswitch", "0000:5e:00.0", "legacy", "--json"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["order"], "vfs-unbound");
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    let set = steps.iter().position(|s| *s == "set_mode").unwrap();
    assert!(set > 0, "unbinds before the mode: {steps:?}");
    assert!(steps[..set].iter().all(|s| *s == "unbind"), "{steps:?}");
    assert!(steps[set + 1..].iter().all(|s| *s == "rebind"), "{steps:?}");
    assert_eq!(set, steps.len() - 1 - set, "every unbound VF is rebound");
    assert_eq!(sim.mode("enp94s0f0np0"), "legacy");
    let j = sim.journal();
    let unbind = at(&j, 0, "/unbind");
    let mode = at(&j, unbind, "devlink eswitch set 0000:5e:00.0 mode legacy");
    at(&j, mode, "drivers_probe");
    // The VFs are bound again, to the driver they had.
    let inv = sim_inventory(NFV, &sim.state);
    let pf = inventory_device(&inv, "0000:5e:00.0");
    for vf in pf["vfs"].as_array().unwrap() {
        assert!(vf["driver"].is_string(), "{vf}");
    }
}

#[test]
fn an_allocated_vf_blocks_the_mode_change_unless_forced() {
    let sim = Sim::new();
    let o = sim.allocate_vif("physnet1", VIF_ID, &[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let n = sim.journal().len();
    let o = sim.run(&["eswitch", "enp134s0", "switchdev"], &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("refusing eswitch mode switchdev")
            && e.contains(VIF_ID)
            && e.contains("VF 5")
            && e.contains("--force"),
        "{e}"
    );
    assert_eq!(sim.journal().len(), n, "nothing written");
    assert_eq!(sim.mode("enp134s0"), "legacy");
    // The same mode is not a change: no refusal.
    let o = sim.run(&["eswitch", "enp134s0", "legacy"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sim.run(&["eswitch", "enp134s0", "switchdev", "--force"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: forced: "), "{}", stderr(&o));
    assert_eq!(sim.mode("enp134s0"), "switchdev");
}

#[test]
fn switchdev_rates_go_through_the_devlink_rate_leaf() {
    let sim = Sim::new();
    // mlx5 PF in switchdev (fixture representors): the rate goes to the leaf.
    let o = sim.run(
        &["vf", "set", "enp94s0f0np0", "1", "max_tx_rate", "100"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let j = sim.journal();
    assert!(
        j.iter()
            .any(|l| l.contains("devlink rate set enp94s0f0np0 vf 1 tx_share 0 tx_max 100")),
        "{j:#?}"
    );
    assert!(!j
        .iter()
        .any(|l| l.contains("enp94s0f0np0 vf 1 min_tx_rate")));
    // The bare IFLA_VF_RATE is refused there, as the drivers refuse it.
    {
        use vifman::host::{Host, Knob, SimHost};
        let host = SimHost::open(std::path::Path::new(NFV), &sim.state).unwrap();
        let e = host
            .set_vf(
                &"enp94s0f0np0".parse().unwrap(),
                1,
                &Knob::Rate {
                    min_mbps: 0,
                    max_mbps: 5,
                },
            )
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EOPNOTSUPP), "{e}");
    }
    // A legacy PF (i40e) keeps IFLA_VF_RATE.
    let o = sim.run(&["vf", "set", "enp59s0f1", "1", "max_tx_rate", "100"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(sim
        .journal()
        .iter()
        .any(|l| l.contains("enp59s0f1 vf 1 min_tx_rate 0 max_tx_rate 100")));
}

impl Sim {
    fn policy(&self, body: &str) -> String {
        let p = self.state.with_file_name("policy.toml");
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    }
}

const SWITCHDEV_POLICY: &str = r#"
[[pf]]
address = "0000:86:00.0"
eswitch = "switchdev"

[[pf]]
address = "0000:5e:00.1"
numvfs = 2
eswitch = "switchdev"
"#;

#[test]
fn apply_puts_eswitches_in_switchdev_in_hardware_order_once() {
    let sim = Sim::new();
    let pol = sim.policy(SWITCHDEV_POLICY);
    let o = sim.run(&["apply", "--dry-run", "--json", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = r["steps"].as_array().unwrap();
    let objects: Vec<&str> = steps
        .iter()
        .map(|s| s["object"].as_str().unwrap())
        .collect();
    let ice = steps
        .iter()
        .find(|s| s["object"] == "devlink pci/0000:86:00.0 eswitch mode")
        .unwrap_or_else(|| panic!("{objects:#?}"));
    assert_eq!(
        (ice["old"].as_str(), ice["new"].as_str()),
        (Some("legacy"), Some("switchdev"))
    );
    assert!(
        ice["rule"].as_str().unwrap().contains("no-vfs (ice)"),
        "{ice}"
    );
    // mlx5 with no VFs yet: the mode before the VFs are created.
    let esw = objects
        .iter()
        .position(|o| *o == "devlink pci/0000:5e:00.1 eswitch mode")
        .unwrap();
    let nv = objects
        .iter()
        .position(|o| *o == "/sys/bus/pci/devices/0000:5e:00.1/sriov_numvfs")
        .unwrap();
    assert!(esw < nv, "{objects:#?}");
    assert!(sim.journal().is_empty(), "a dry run writes nothing");

    let o = sim.run(&["apply", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sim.mode("enp134s0"), "switchdev");
    assert_eq!(sim.mode("0000:5e:00.1"), "switchdev");
    assert_eq!(sim.numvfs("0000:86:00.0"), "16");
    assert_eq!(sim.numvfs("0000:5e:00.1"), "2");
    let j = sim.journal();
    let zero = at(&j, 0, "0000:86:00.0/sriov_numvfs");
    let set = at(&j, zero, "devlink eswitch set 0000:86:00.0 mode switchdev");
    at(
        &j,
        set,
        "\"16\" to /sys/bus/pci/devices/0000:86:00.0/sriov_numvfs",
    );
    let mset = at(&j, 0, "devlink eswitch set 0000:5e:00.1 mode switchdev");
    at(
        &j,
        mset,
        "\"2\" to /sys/bus/pci/devices/0000:5e:00.1/sriov_numvfs",
    );

    // In sync now: --check says so, and a re-apply writes nothing.
    let n = sim.journal().len();
    let o = sim.run(&["apply", "--check", "--policy", &pol], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = sim.run(&["apply", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sim.journal().len(), n);
}

#[test]
fn apply_eswitch_refusals() {
    let sim = Sim::new();
    // No eswitch (i40e): switchdev is an error before anything is written; legacy is what
    // it has, so no step.
    let pol = sim.policy("[[pf]]\naddress = \"0000:3b:00.0\"\neswitch = \"switchdev\"\n");
    let o = sim.run(&["apply", "--policy", &pol], &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("has no devlink eswitch"),
        "{}",
        stderr(&o)
    );
    let pol = sim.policy("[[pf]]\naddress = \"0000:3b:00.0\"\neswitch = \"legacy\"\n");
    let o = sim.run(&["apply", "--check", "--policy", &pol], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // An allocated VF on the ice PF: the mode change (which re-creates VFs) is a conflict.
    let o = sim.allocate_vif("physnet1", VIF_ID, &[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pol = sim.policy("[[pf]]\naddress = \"0000:86:00.0\"\neswitch = \"switchdev\"\n");
    let o = sim.run(&["apply", "--policy", &pol], &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("would disturb allocated VFs")
            && e.contains(VIF_ID)
            && e.contains("eswitch mode legacy -> switchdev"),
        "{e}"
    );
    assert_eq!(sim.mode("enp134s0"), "legacy");
}

#[test]
fn an_allocations_rate_in_switchdev_is_set_and_restored_through_the_rate_leaf() {
    let sim = Sim::new();
    let o = sim.allocate_vif("physnet-sw", VIF_ID, &["--max-tx-rate", "300"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = sim.journal();
    at(
        &j,
        0,
        "devlink rate set enp94s0f0np0 vf 1 tx_share 0 tx_max 300",
    );
    let n = j.len();
    let o = sim.run(&["release", "--vif-id", VIF_ID], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = sim.journal();
    at(
        &j,
        n,
        "devlink rate set enp94s0f0np0 vf 1 tx_share 0 tx_max 0",
    );
    assert!(
        !j.iter()
            .any(|l| l.contains("enp94s0f0np0 vf 1 min_tx_rate")),
        "no IFLA_VF_RATE in switchdev mode: {j:#?}"
    );
}

/// ice re-creates its VFs for a mode change: the policy's VF settings planned in the same
/// apply are made on the new VFs, so one apply leaves the host in sync.
#[test]
fn apply_resets_vf_settings_after_a_no_vfs_mode_change() {
    let sim = Sim::new();
    let mac =
        "[[pf]]\naddress = \"0000:86:00.0\"\n[[pf.vf]]\nvfs = \"6\"\nmac = \"02:00:00:00:86:06\"\n";
    let pol = sim.policy(mac);
    let o = sim.run(&["apply", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let both = mac.replace(
        "address = \"0000:86:00.0\"\n",
        "address = \"0000:86:00.0\"\neswitch = \"switchdev\"\n",
    );
    let pol = sim.policy(&both);
    let o = sim.run(&["apply", "--dry-run", "--json", "--policy", &pol], &[]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let objects: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["object"].as_str().unwrap())
        .collect();
    let esw = objects
        .iter()
        .position(|o| o.contains("eswitch mode"))
        .unwrap();
    let knob = objects
        .iter()
        .position(|o| *o == "enp134s0 vf 6 mac")
        .unwrap_or_else(|| {
            panic!("the MAC is planned again after the VFs are re-created: {objects:#?}")
        });
    assert!(esw < knob, "{objects:#?}");
    let o = sim.run(&["apply", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sim.run(&["apply", "--check", "--policy", &pol], &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "in sync after one apply: {}",
        stderr(&o)
    );
}

/// Inline and encap modes: the simulated eswitch has none and refuses them as netdevsim
/// does (EOPNOTSUPP), and in the kernel's order: a mode change in the same request goes in
/// first, so vifman puts the mode back (and the VFs it unbound) and says so.
#[test]
fn inline_and_encap_modes_refused_with_the_mode_put_back() {
    let sim = Sim::new();
    assert_eq!(sim.mode("enp94s0f0np0"), "switchdev");
    let o = sim.run(&["eswitch", "0000:5e:00.0", "--inline-mode", "link"], &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("inline-mode link"), "{e}");
    assert!(e.contains("EOPNOTSUPP"), "{e}");
    assert!(e.contains("nothing was changed"), "{e}");
    assert_eq!(sim.mode("enp94s0f0np0"), "switchdev");

    let o = sim.run(
        &["eswitch", "0000:5e:00.0", "legacy", "--encap-mode", "basic"],
        &[],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("encap-mode basic"), "{e}");
    assert!(
        e.contains("eswitch mode legacy -> switchdev (the kernel had applied the mode before refusing encap-mode basic)"),
        "{e}"
    );
    assert!(!e.contains("NOT undone"), "{e}");
    assert_eq!(sim.mode("enp94s0f0np0"), "switchdev");
    let j = sim.journal();
    let legacy = at(&j, 0, "devlink eswitch set 0000:5e:00.0 mode legacy");
    at(
        &j,
        legacy,
        "devlink eswitch set 0000:5e:00.0 mode switchdev",
    );
    let inv = sim_inventory(NFV, &sim.state);
    let pf = inventory_device(&inv, "0000:5e:00.0");
    for vf in pf["vfs"].as_array().unwrap() {
        assert!(vf["driver"].is_string(), "rebound: {vf}");
    }

    // Not a value devlink knows: a usage error before anything runs.
    let o = sim.run(&["eswitch", "0000:5e:00.0", "--inline-mode", "ip"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// ice's order re-creates the VFs after the mode; when the kernel refuses the new count the
/// mode goes back and the count is restored, and the error says both.
#[test]
fn a_refused_vf_re_creation_rolls_back_mode_and_count() {
    let sim = Sim::new();
    let o = sim.run(
        &["eswitch", "enp134s0", "switchdev"],
        &[("VIFMAN_SIM_FAIL", "numvfs.enable:EIO")],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("sriov_numvfs 0 -> 16 failed")
            && e.contains("EIO")
            && e.contains("undone: eswitch mode switchdev -> legacy, sriov_numvfs 0 -> 16"),
        "{e}"
    );
    assert_eq!(sim.mode("enp134s0"), "legacy");
    assert_eq!(sim.numvfs("0000:86:00.0"), "16");
}

/// `--order` overrides hwdb's rule for the driver: mlx5 (vfs-unbound) taken through ice's
/// no-vfs order instead, with the same rollback.
#[test]
fn the_order_rule_can_be_overridden() {
    let sim = Sim::new();
    let o = sim.run(
        &[
            "eswitch",
            "0000:5e:00.0",
            "legacy",
            "--order",
            "no-vfs",
            "--json",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["order"], "no-vfs");
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["remove_vfs", "set_mode", "restore_vfs"]);
    assert_eq!(sim.mode("enp94s0f0np0"), "legacy");
    let o = sim.run(
        &["eswitch", "0000:5e:00.0", "switchdev", "--order", "no-vfs"],
        &[("VIFMAN_SIM_FAIL", "numvfs.enable:EIO")],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("order no-vfs as asked, instead of hwdb's vfs-unbound for driver mlx5_core"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("undone: eswitch mode switchdev -> legacy"),
        "{}",
        stderr(&o)
    );
    assert_eq!(sim.mode("enp94s0f0np0"), "legacy");
    let o = sim.run(
        &["eswitch", "0000:5e:00.0", "legacy", "--order", "sideways"],
        &[],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no-vfs"), "{}", stderr(&o));
}
