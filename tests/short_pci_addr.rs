//! PCI addresses typed without a domain (`3b:00.1`, meaning `0000:3b:00.1`, as lspci prints
//! them on a single-domain host) are accepted wherever an operator names a PF or a VF:
//! `vf show|set|reset` and `release --clear-quarantine`, on the simulated nfv-host. The
//! engine's refusals state the fact; the command line adds the flag that acts on it.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::*;

/// Two single-VF pools on enp59s0f1 (0000:3b:00.1): VF 1 (0000:3b:0a.1) resets by flr,
/// VF 2 (0000:3b:0a.2) is released without a reset.
const POOLS: &str = r#"
[[device_spec]]
pf_names = ["enp59s0f1#1"]
physical_network = "flr"

[[device_spec]]
pf_names = ["enp59s0f1#2"]
physical_network = "plain"
reset = "none"
"#;

const PF: &str = "0000:3b:00.1";
const PF_SHORT: &str = "3b:00.1";
const FLR_VF: &str = "0000:3b:0a.1";
const FLR_VF_SHORT: &str = "3b:0a.1";

/// The shared simulated-host harness; this file's own helpers are in the `impl` below.
type Sim = SimEnv;

impl Sim {
    fn new() -> Sim {
        let sim = Sim::with_config(POOLS);
        let d = sim.root().join("sys/bus/pci/devices").join(FLR_VF);
        std::fs::write(d.join("reset_method"), "flr\n").unwrap();
        std::fs::write(d.join("reset"), "").unwrap();
        sim
    }
    fn root(&self) -> PathBuf {
        sim_kernel(NFV, &self.state)
    }
    fn allocate(&self, pool: &str, id: &str, env: &[(&str, &str)]) -> Output {
        self.allocate_vif(pool, id, &["--vlan", "117"], env)
    }
    fn records(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&run_ok(&["allocations", "--json"], &self.host())).unwrap()
    }
    fn show(&self, pf: &str, index: u32) -> serde_json::Value {
        let o = self.run(&["vf", "show", pf, &index.to_string(), "--json"], &[]);
        assert!(o.status.success(), "vf show {pf} {index}: {}", err(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }
    /// VF `index` of enp59s0f1 as the simulated kernel holds it.
    fn vf_state(&self, index: u64) -> serde_json::Value {
        let st = sim_vf_state(&self.root());
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
    fn journal(&self) -> Vec<String> {
        vifman::host::sim::read_journal(&self.root())
    }
}

fn err(o: &Output) -> String {
    text(&o.stderr)
}

fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

#[test]
fn vf_show_takes_the_pf_without_its_domain() {
    let sim = Sim::new();
    for index in [0, 1] {
        let short = sim.show(PF_SHORT, index);
        assert_eq!(short, sim.show(PF, index), "VF {index}");
        assert_eq!(short, sim.show("enp59s0f1", index), "VF {index}");
        assert_eq!(short["pf"], PF);
        assert_eq!(short["vf_index"], index);
    }
    assert_eq!(sim.show(PF_SHORT, 1)["address"], FLR_VF);
    // A short address of no PF is still "no such VF", not some other device's.
    let o = sim.run(&["vf", "show", "3b:00.7", "0"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
}

#[test]
fn vf_set_takes_the_pf_without_its_domain_and_the_cli_names_force() {
    let sim = Sim::new();
    let o = sim.run(
        &["vf", "set", PF_SHORT, "3", "vlan", "42", "trust", "on"],
        &[],
    );
    assert!(o.status.success(), "{}", err(&o));
    let v = sim.vf_state(3);
    assert_eq!(
        (v["vlan"].as_u64(), v["trust"].as_bool()),
        (Some(42), Some(true))
    );

    // An allocated VF named by the short form is recognised as allocated: refused, with the
    // domain fact from the engine and the override flag from the CLI.
    let id = uuid(1);
    let o = sim.allocate("flr", &id, &[]);
    assert!(o.status.success(), "{}", err(&o));
    let o = sim.run(&["vf", "set", PF_SHORT, "1", "vlan", "5"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains(&format!(
            "{FLR_VF} (VF 1 of {PF_SHORT}) is allocated (VIF {id}, instance "
        )),
        "{e}"
    );
    assert!(e.trim_end().ends_with("; --force changes it anyway"), "{e}");
    assert_eq!(sim.vf_state(1)["vlan"], 117);
    let o = sim.run(&["vf", "set", PF_SHORT, "1", "vlan", "5", "--force"], &[]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(sim.vf_state(1)["vlan"], 5);
}

#[test]
fn vf_reset_takes_the_pf_without_its_domain() {
    let sim = Sim::new();
    let from = sim.journal().len();
    let o = sim.run(&["vf", "reset", PF_SHORT, "1"], &[]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        sim.journal()[from..]
            .iter()
            .any(|l| l.contains(&format!("{FLR_VF}/reset"))),
        "{:#?}",
        &sim.journal()[from..]
    );
    // Allocated: refused; the CLI says which release resets it.
    let id = uuid(2);
    assert!(sim.allocate("flr", &id, &[]).status.success());
    let o = sim.run(&["vf", "reset", PF_SHORT, "1"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains(&format!("{FLR_VF} is allocated (VIF {id})")),
        "{e}"
    );
    assert!(
        e.contains(&format!("`vifman release --vif-id {id}` resets it")),
        "{e}"
    );
}

#[test]
fn clear_quarantine_takes_the_vf_without_its_domain() {
    let sim = Sim::new();
    let id = uuid(3);
    assert!(sim.allocate("flr", &id, &[]).status.success());
    // Not quarantined yet: refused, and the CLI names the ordinary release.
    let o = sim.run(&["release", "--clear-quarantine", FLR_VF_SHORT], &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains(&format!("{FLR_VF} (VIF {id}) is not quarantined")),
        "{e}"
    );
    assert!(
        e.contains(&format!("`vifman release --vif-id {id}`")),
        "{e}"
    );
    // A failed reset quarantines it; the CLI names both ways out.
    let o = sim.run(
        &["release", "--vif-id", &id],
        &[("VIFMAN_SIM_FAIL", "reset:EIO")],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains(&format!("release of {FLR_VF} could not prove it clean")),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "clear it with `vifman release --clear-quarantine {FLR_VF}` or run `vifman reconcile --repair`"
        )),
        "{e}"
    );
    assert_eq!(sim.records()[0]["phase"], "quarantined");
    // The operator names it as lspci prints it.
    let from = sim.journal().len();
    let o = sim.run(&["release", "--clear-quarantine", FLR_VF_SHORT], &[]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(sim.records().is_empty());
    assert_eq!(sim.journal().len(), from, "clearing touched the hardware");
    // Something that is no address of a record is still "no allocation record".
    let o = sim.run(&["release", "--clear-quarantine", "3b:0a.7"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("no allocation record for 3b:0a.7"),
        "{}",
        err(&o)
    );
}
