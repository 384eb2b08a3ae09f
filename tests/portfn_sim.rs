//! A VF's MAC through its devlink port function in switchdev mode, on the simulated host:
//! `vf set` and an allocation set hw_addr there (and activate a function that reports itself
//! inactive) before the VF driver binds, release puts hw_addr and state back, a failure
//! later in the allocation rolls the function back, a state refused after hw_addr was
//! applied leaves nothing half-set, EOPNOTSUPP falls back to IFLA_VF_MAC (and names both
//! refusals when that fails too), and a legacy-mode PF keeps IFLA_VF_MAC. netdevsim has no
//! port-function ops, so the real-kernel side is the recorded-message encoding only
//! (`src/devlink/tests.rs`).

mod common;

use std::process::Output;

use common::*;

const POOLS: &str = r#"
[[device_spec]]
pf_names = ["enp94s0f0np0#1"]
physical_network = "physnet-sw"
"#;

/// The fixture's mlx5 PF, in switchdev mode (it has VF representors).
const SW_PF: &str = "enp94s0f0np0";

type Sim = SimEnv;

impl Sim {
    fn new() -> Sim {
        Sim::with_config(POOLS)
    }
    fn journal(&self) -> Vec<String> {
        vifman::host::sim::read_journal(&sim_kernel(NFV, &self.state))
    }
    /// `vifman vf show PF N --json`.
    fn show(&self, pf: &str, vf: u32) -> serde_json::Value {
        let o = self.run(&["vf", "show", pf, &vf.to_string(), "--json"], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }
    /// Give VF `vf` of the switchdev PF a port function that reports `state`.
    fn plant_state(&self, vf: u32, state: &str) {
        let k = sim_kernel(NFV, &self.state);
        std::fs::write(
            k.join(vifman::host::sim::PORTFN_STATE_FILE),
            format!("{SW_PF} {vf} {state}\n"),
        )
        .unwrap();
    }
    fn allocate(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        self.allocate_vif("physnet-sw", VIF_ID, extra, env)
    }
    fn records(&self) -> usize {
        let o = self.run(&["allocations", "--json"], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array().map(|a| a.len()).unwrap_or(0)
    }
}

fn pos(j: &[String], needle: &str) -> usize {
    j.iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the journal: {j:#?}"))
}

#[test]
fn vf_set_mac_in_switchdev_goes_through_the_port_function() {
    let sim = Sim::new();
    let o = sim.run(&["vf", "set", SW_PF, "2", "mac", "02:00:00:5e:00:02"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = sim.journal();
    pos(
        &j,
        "devlink port function set enp94s0f0np0 vf 2 hw_addr 02:00:00:5e:00:02",
    );
    assert!(
        !j.iter().any(|l| l.contains("enp94s0f0np0 vf 2 mac")),
        "no IFLA_VF_MAC: {j:#?}"
    );
    let r = sim.show(SW_PF, 2);
    assert_eq!(r["port_function"]["hw_addr"], "02:00:00:5e:00:02", "{r}");
    assert_eq!(r["admin"]["mac"], "02:00:00:5e:00:02", "one vport MAC: {r}");
    assert!(r["port_function"].get("state").is_none(), "{r}");
    let o = sim.run(&["vf", "show", SW_PF, "2"], &[]);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("port function: pci/0000:5e:00.0/3 hw_addr 02:00:00:5e:00:02"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn legacy_mode_keeps_ifla_vf_mac() {
    let sim = Sim::new();
    // i40e: no switchdev at all.
    let o = sim.run(
        &["vf", "set", "enp59s0f1", "1", "mac", "02:00:00:3b:00:01"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let j = sim.journal();
    pos(&j, "enp59s0f1 vf 1 mac 02:00:00:3b:00:01");
    assert!(!j.iter().any(|l| l.contains("port function")), "{j:#?}");
    assert!(sim.show("enp59s0f1", 1).get("port_function").is_none());
    // mlx5 put in legacy mode: IFLA_VF_MAC again.
    let o = sim.run(&["eswitch", SW_PF, "legacy"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sim.run(&["vf", "set", SW_PF, "2", "mac", "02:00:00:5e:00:02"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = sim.journal();
    pos(&j, "enp94s0f0np0 vf 2 mac 02:00:00:5e:00:02");
    assert!(!j.iter().any(|l| l.contains("port function")), "{j:#?}");
}

#[test]
fn allocation_activates_before_the_bind_and_release_restores() {
    let sim = Sim::new();
    sim.plant_state(1, "inactive");
    let o = sim.allocate(
        &["--mac", "fa:16:3e:5e:00:01", "--mode", "hostdev-vfio"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let j = sim.journal();
    let set = pos(
        &j,
        "devlink port function set enp94s0f0np0 vf 1 hw_addr fa:16:3e:5e:00:01 state active",
    );
    let probe = pos(&j, "drivers_probe");
    assert!(set < probe, "the MAC before the VF driver binds: {j:#?}");
    let r = sim.show(SW_PF, 1);
    assert_eq!(r["port_function"]["hw_addr"], "fa:16:3e:5e:00:01", "{r}");
    assert_eq!(r["port_function"]["state"], "active", "{r}");
    assert_eq!(r["driver"], "vfio-pci", "{r}");

    let n = j.len();
    let o = sim.run(&["release", "--vif-id", VIF_ID], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = sim.journal();
    let back = &j[n..];
    pos(
        back,
        "devlink port function set enp94s0f0np0 vf 1 hw_addr 00:00:00:00:00:00",
    );
    pos(
        back,
        "devlink port function set enp94s0f0np0 vf 1 state inactive",
    );
    let r = sim.show(SW_PF, 1);
    assert_eq!(r["port_function"]["hw_addr"], "00:00:00:00:00:00", "{r}");
    assert_eq!(r["port_function"]["state"], "inactive", "{r}");
    assert_eq!(sim.records(), 0);
}

#[test]
fn a_failure_later_in_the_allocation_rolls_the_port_function_back() {
    let sim = Sim::new();
    sim.plant_state(1, "inactive");
    let o = sim.allocate(
        &["--mac", "fa:16:3e:5e:00:01", "--vlan", "100"],
        &[("VIFMAN_SIM_FAIL", "vf.vlan:EIO")],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("EIO") && e.contains("rolled back"), "{e}");
    let j = sim.journal();
    let set = pos(&j, "vf 1 hw_addr fa:16:3e:5e:00:01 state active");
    let undo = pos(&j, "vf 1 hw_addr 00:00:00:00:00:00");
    assert!(set < undo, "{j:#?}");
    pos(
        &j,
        "devlink port function set enp94s0f0np0 vf 1 state inactive",
    );
    let r = sim.show(SW_PF, 1);
    assert_eq!(r["port_function"]["hw_addr"], "00:00:00:00:00:00", "{r}");
    assert_eq!(r["port_function"]["state"], "inactive", "{r}");
    assert_eq!(sim.records(), 0);
}

#[test]
fn a_state_refused_after_hw_addr_leaves_nothing_half_set() {
    let sim = Sim::new();
    sim.plant_state(2, "inactive");
    let o = sim.run(
        &["vf", "set", SW_PF, "2", "mac", "02:00:00:5e:00:02"],
        &[("VIFMAN_SIM_FAIL", "devlink.portfn.state:EBUSY")],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("EBUSY"), "{}", stderr(&o));
    let j = sim.journal();
    let set = pos(&j, "vf 2 hw_addr 02:00:00:5e:00:02 state active");
    let put_back = pos(&j, "vf 2 hw_addr 00:00:00:00:00:00");
    assert!(set < put_back, "hw_addr put back: {j:#?}");
    let r = sim.show(SW_PF, 2);
    assert_eq!(r["port_function"]["hw_addr"], "00:00:00:00:00:00", "{r}");
    assert_eq!(r["port_function"]["state"], "inactive", "{r}");
}

#[test]
fn an_accepted_but_unapplied_set_is_caught_by_the_read_back() {
    let sim = Sim::new();
    let o = sim.run(
        &["vf", "set", SW_PF, "2", "mac", "02:00:00:5e:00:02"],
        &[("VIFMAN_SIM_FAIL", "devlink.portfn:IGNORE")],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("port dump reads hw_addr 00:00:00:00:00:00"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn eopnotsupp_falls_back_to_ifla_vf_mac() {
    let sim = Sim::new();
    let o = sim.run(
        &["vf", "set", SW_PF, "2", "mac", "02:00:00:5e:00:02"],
        &[("VIFMAN_SIM_FAIL", "devlink.portfn:EOPNOTSUPP")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    pos(&sim.journal(), "enp94s0f0np0 vf 2 mac 02:00:00:5e:00:02");
    assert_eq!(sim.show(SW_PF, 2)["admin"]["mac"], "02:00:00:5e:00:02");

    // Both refused: one error naming both, the MAC unchanged.
    let o = sim.run(
        &["vf", "set", SW_PF, "3", "mac", "02:00:00:5e:00:03"],
        &[("VIFMAN_SIM_FAIL", "devlink.portfn:EOPNOTSUPP,vf.mac:EPERM")],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("does not support hw_addr (EOPNOTSUPP)")
            && e.contains("IFLA_VF_MAC fallback was refused")
            && e.contains("EPERM"),
        "{e}"
    );
    assert_eq!(sim.show(SW_PF, 3)["admin"]["mac"], "00:00:00:00:00:00");
}

/// `vifman apply`: a policy MAC on a switchdev VF goes through the port function, and when a
/// later step of the same PF fails, the MAC step's undo puts hw_addr and state back.
#[test]
fn an_apply_plan_sets_and_undoes_through_the_port_function() {
    let sim = Sim::new();
    sim.plant_state(2, "inactive");
    let pol = sim.state.with_file_name("policy.toml");
    std::fs::write(
        &pol,
        "[[pf]]\naddress = \"0000:5e:00.0\"\n[[pf.vf]]\nvfs = \"2\"\nmac = \"02:00:00:5e:00:02\"\ntrust = true\n",
    )
    .unwrap();
    let pol = pol.display().to_string();
    let o = sim.run(
        &["apply", "--policy", &pol],
        &[("VIFMAN_SIM_FAIL", "vf.trust:EIO")],
    );
    assert!(!o.status.success());
    let j = sim.journal();
    let set = pos(&j, "vf 2 hw_addr 02:00:00:5e:00:02 state active");
    let undo = pos(&j, "vf 2 hw_addr 00:00:00:00:00:00");
    assert!(set < undo, "{j:#?}");
    pos(
        &j,
        "devlink port function set enp94s0f0np0 vf 2 state inactive",
    );
    let r = sim.show(SW_PF, 2);
    assert_eq!(r["port_function"]["hw_addr"], "00:00:00:00:00:00", "{r}");
    assert_eq!(r["port_function"]["state"], "inactive", "{r}");

    // Without the fault: set, and in sync after.
    let o = sim.run(&["apply", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = sim.show(SW_PF, 2);
    assert_eq!(r["port_function"]["hw_addr"], "02:00:00:5e:00:02", "{r}");
    assert_eq!(r["port_function"]["state"], "active", "{r}");
    let o = sim.run(&["apply", "--check", "--policy", &pol], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
