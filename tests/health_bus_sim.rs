//! Non-PCI SR-IOV PFs in the one health model, on the simulated host with a netdevsim bus
//! device (`netdevsim/netdevsim7`, PF netdev eni7np0, see `common::nsim`): a devlink
//! reporter of its instance going to error and back, debounced across one-shot `vifman
//! health` runs like a PCI PF's (time injected with `--now`, no clock), the exit status
//! counting it, its PF netdev's link, the inventory's `bus_functions[].health` as the same
//! verdict, the metrics' health series for it and the per-VF counter series for VFs outside
//! every pool (PCI and the bus PF's), and a state file written before non-PCI PFs were judged.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::{json, Value};

/// A `health.json` written by vifman before non-PCI PFs had a debounce history (PCI keys
/// only), by `vifman health --now 100` on the shipped host: PF 0000:af:00.1 (link down)
/// unhealthy since 100.
const OLD_STATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/health-state-pci-only.json"
);

const WHY: &str = "devlink health reporter dummy in error (1 errors)";

/// Netdevsim device 7 with 2 VFs next to the shipped host, whose own faults (two PF links
/// down, two VFs without a driver) are repaired so that the exit status is the bus PF's.
fn healthy_host() -> Nsim {
    let n = Nsim::new(2);
    for nd in ["eno2", "enp175s0f1"] {
        std::fs::write(
            n.kernel.join("sys/class/net").join(nd).join("operstate"),
            "up\n",
        )
        .unwrap();
    }
    for (vf, sibling) in [
        ("0000:3b:0a.7", "0000:3b:0a.6"),
        ("0000:86:02.3", "0000:86:02.2"),
    ] {
        let dev = |a: &str| n.kernel.join("sys/bus/pci/devices").join(a);
        let target = std::fs::read_link(dev(sibling).join("driver")).unwrap();
        std::os::unix::fs::symlink(target, dev(vf).join("driver")).unwrap();
    }
    n
}

fn reporters(n: &Nsim) -> PathBuf {
    n.kernel.join(".vifman-sim-devlink-health.json")
}

/// The instance's `dummy` reporter in `state`, as the simulated kernel reports it.
fn plant(n: &Nsim, state: &str) {
    let r = json!([{"dev": {"bus": "netdevsim", "dev": "netdevsim7"}, "name": "dummy",
        "state": state, "error_count": 1, "recover_count": 0}]);
    std::fs::write(reporters(n), r.to_string()).unwrap();
}

/// `vifman health --json --all --now T`: the report and the exit status.
fn at(n: &Nsim, now: u64) -> (Value, i32) {
    let t = now.to_string();
    let o = n.sim.run(&["health", "--json", "--all", "--now", &t], &[]);
    let code = o.status.code().unwrap_or(-1);
    assert!(matches!(code, 0 | 1), "{}", text(&o.stderr));
    (serde_json::from_slice(&o.stdout).unwrap(), code)
}

fn bus_pf(r: &Value) -> &Value {
    r["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == NSIM_DEV)
        .unwrap_or_else(|| panic!("{NSIM_DEV} not in {r:#}"))
}

fn unhealthy(r: &Value) -> Vec<String> {
    r["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["healthy"] == false)
        .map(|d| d["device"].as_str().unwrap().to_string())
        .collect()
}

fn inventory_health(n: &Nsim) -> Value {
    let o = n.sim.run(&["inventory", "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let inv: Value = serde_json::from_slice(&o.stdout).unwrap();
    inv["bus_functions"][0]["health"].clone()
}

#[test]
fn a_bus_pf_reporter_in_error_is_debounced_and_sets_the_exit_status() {
    let n = healthy_host();
    let (r, code) = at(&n, 0);
    assert_eq!((code, unhealthy(&r)), (0, vec![]), "{r:#}");
    // Named as the inventory names it: kind pf, BUS/NAME, no PCI address.
    let pf = bus_pf(&r);
    assert_eq!(pf["kind"], "pf");
    assert_eq!(pf["address"], Value::Null);
    assert_eq!(pf["netdev"], NSIM_ND);
    assert_eq!(pf["healthy"], true);

    plant(&n, "error");
    // One bad sample: pending, not yet unhealthy, exit 0.
    let (r, code) = at(&n, 5);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(bus_pf(&r)["pending"], json!([WHY]));
    assert_eq!(bus_pf(&r)["healthy"], true);
    // Held two samples over 10 s: unhealthy, and the exit status says so (no PCI device is).
    let (r, code) = at(&n, 15);
    assert_eq!(code, 1);
    assert_eq!(unhealthy(&r), vec![NSIM_DEV]);
    assert_eq!(bus_pf(&r)["reasons"], json!([WHY]));
    assert_eq!(bus_pf(&r)["devlink"][0]["error_count"], 1);
    assert_eq!(r["healthy"], false);
    // The inventory shows the same debounced verdict.
    let h = inventory_health(&n);
    assert_eq!(
        (&h["healthy"], &h["reasons"]),
        (&json!(false), &json!([WHY]))
    );
    // The table lists it by its device name.
    let o = n.sim.run(&["health", "--instant"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    let row = out
        .lines()
        .find(|l| l.contains(NSIM_DEV))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.trim_start().starts_with("pf") && row.contains(WHY),
        "{row}"
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(n.sim.state.join("health.json")).unwrap()).unwrap();
    assert_eq!(
        state["devices"]["pf:netdevsim/netdevsim7"]["healthy"],
        false
    );

    // Recovered: unhealthy until three clean samples over 60 s (the default debounce).
    plant(&n, "healthy");
    for now in [20, 50] {
        let (r, code) = at(&n, now);
        assert_eq!(code, 1, "at {now}");
        assert_eq!(bus_pf(&r)["pending"], json!(["clean, recovering"]));
    }
    let (r, code) = at(&n, 90);
    assert_eq!((code, unhealthy(&r)), (0, vec![]), "{r:#}");
    assert_eq!(bus_pf(&r)["since"], 90);
    assert_eq!(inventory_health(&n)["healthy"], true);
}

#[test]
fn the_bus_pf_netdev_link_is_judged() {
    let n = healthy_host();
    std::fs::write(
        n.kernel
            .join("sys/class/net")
            .join(NSIM_ND)
            .join("operstate"),
        "down\n",
    )
    .unwrap();
    let o = n.sim.run(&["health", "--json", "--instant"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(unhealthy(&r), vec![NSIM_DEV]);
    assert_eq!(
        bus_pf(&r)["reasons"],
        json!([format!("PF {NSIM_ND} link is down")])
    );
    // No PCIe, so no AER counts.
    assert_eq!(
        bus_pf(&r)["aer"],
        json!({"correctable": null, "fatal": null, "nonfatal": null})
    );
}

/// A state file from before non-PCI PFs were judged loads: its PCI history carries on (the
/// PF it holds unhealthy since 100 is still so, recovering, though its link is up now: a
/// fresh history would take this first sample as healthy), and the next write adds the bus
/// PF's key beside the unchanged PCI ones.
#[test]
fn a_state_file_without_bus_keys_loads() {
    let n = healthy_host();
    std::fs::create_dir_all(&n.sim.state).unwrap();
    std::fs::copy(OLD_STATE, n.sim.state.join("health.json")).unwrap();
    let (r, code) = at(&n, 110);
    assert_eq!(code, 1);
    let pf = r["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["address"] == "0000:af:00.1")
        .unwrap();
    assert_eq!(pf["healthy"], false, "{pf}");
    assert_eq!(pf["since"], 100);
    assert_eq!(pf["pending"], json!(["clean, recovering"]));
    assert_eq!(bus_pf(&r)["healthy"], true);
    let old: Value = serde_json::from_slice(&std::fs::read(OLD_STATE).unwrap()).unwrap();
    let new: Value =
        serde_json::from_slice(&std::fs::read(n.sim.state.join("health.json")).unwrap()).unwrap();
    let keys = |v: &Value| {
        v["devices"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
    };
    let added: Vec<String> = keys(&new).difference(&keys(&old)).cloned().collect();
    assert_eq!(added, vec!["pf:netdevsim/netdevsim7"]);
    assert!(keys(&old).is_subset(&keys(&new)));
}

/// `vifman metrics`: the bus PF's health series (labelled `kind="pf"`,
/// `device="netdevsim/netdevsim7"` as the inventory's `bus_functions[].device`), and the
/// per-VF counter series of VFs outside every pool, PCI (labelled as the inventory names
/// the VF) and the bus PF's (no PCI address, NUMA node unknown).
#[cfg(feature = "fleet")]
#[test]
fn metrics_cover_bus_pfs_and_vfs_outside_every_pool() {
    let n = healthy_host();
    plant(&n, "error");
    // enp59s0f0's VFs are in no pool (only enp175s0f0's are).
    let c = |vf: u32, base: u64| {
        json!({"vf": vf, "rx_bytes": base, "tx_bytes": base + 1, "rx_packets": base + 2,
            "tx_packets": base + 3, "broadcast": base + 4, "multicast": base + 5,
            "rx_dropped": base + 6, "tx_dropped": base + 7})
    };
    std::fs::write(
        n.kernel.join(".vifman-sim-vfstats.json"),
        json!({"enp59s0f0": [c(1, 1000)], (NSIM_ND): [c(1, 2000)]}).to_string(),
    )
    .unwrap();
    let m = run_ok(&["metrics"], &n.sim.host());
    assert_eq!(
        metric(
            &m,
            &format!(
                "vifman_device_healthy{{kind=\"pf\",device=\"{NSIM_DEV}\",netdev=\"{NSIM_ND}\"}}"
            )
        ),
        Some(0.0),
        "{m}"
    );
    assert!(
        !m.lines()
            .any(|l| l.starts_with("vifman_device_aer_errors") && l.contains(NSIM_DEV)),
        "no AER series without PCIe: {m}"
    );

    let o = n.sim.run(&["inventory", "--json"], &[]);
    let inv: Value = serde_json::from_slice(&o.stdout).unwrap();
    let vf = inventory_device(&inv, "0000:3b:02.1");
    assert_eq!(vf["pool"], Value::Null, "outside every pool: {vf}");
    let numa = match &vf["numa_node"] {
        Value::Null => "-1".to_string(),
        v => v.to_string(),
    };
    let pci = format!(
        "{{pf=\"enp59s0f0\",vf=\"{}\",pciAddr=\"0000:3b:02.1\",numa_node=\"{numa}\"}}",
        vf["index"]
    );
    let bus = format!("{{pf=\"{NSIM_ND}\",vf=\"1\",pciAddr=\"\",numa_node=\"-1\"}}");
    assert_eq!(inv["bus_functions"][0]["vfs"][1]["pf_netdev"], NSIM_ND);
    for (i, series) in [
        "sriov_vf_rx_bytes",
        "sriov_vf_tx_bytes",
        "sriov_vf_rx_packets",
        "sriov_vf_tx_packets",
        "sriov_vf_rx_broadcast",
        "sriov_vf_rx_multicast",
        "sriov_vf_rx_dropped",
        "sriov_vf_tx_dropped",
    ]
    .iter()
    .enumerate()
    {
        let i = i as f64;
        assert_eq!(
            metric(&m, &format!("{series}{pci}")),
            Some(1000.0 + i),
            "{m}"
        );
        assert_eq!(
            metric(&m, &format!("{series}{bus}")),
            Some(2000.0 + i),
            "{m}"
        );
    }
    // A VF its PF reports no counters for has no series.
    assert!(!m.contains("pciAddr=\"0000:3b:02.0\""), "{m}");
}
