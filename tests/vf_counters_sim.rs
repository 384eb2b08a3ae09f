//! Per-VF traffic counters with real values (issue 17, point 4) on the simulated host: the
//! simulation's counters file stands in for the PF's IFLA_VF_STATS, and `vifman vf show`,
//! `vifman inventory --stats` and `vifman metrics` (the SR-IOV exporter's `sriov_vf_*` series,
//! labelled as the inventory names the VF) all show the same numbers.

mod common;

use common::*;

/// (PF netdev, VF index, VF address, counters as the PF driver reports them): two VFs of one
/// PF and one of the other port, every counter distinct and non-zero.
const VFS: [(&str, u32, &str, [u64; 8]); 3] = [
    (
        "enp59s0f0",
        1,
        "0000:3b:02.1",
        [1_500_000, 3_000_000, 1_000, 2_000, 20, 30, 7, 4],
    ),
    (
        "enp59s0f0",
        3,
        "0000:3b:02.3",
        [12_345, 67_890, 111, 222, 3, 5, 1, 2],
    ),
    (
        "enp59s0f1",
        2,
        "0000:3b:0a.2",
        [
            9_000_000_000,
            8_000_000_000,
            6_000_000,
            5_000_000,
            400,
            300,
            20,
            10,
        ],
    ),
];

/// The counters' names in `VfCounters` (what `vf show` and `inventory --stats` print), in the
/// order of [`VFS`]'s arrays, with the exporter's series each feeds.
const NAMES: [(&str, &str); 8] = [
    ("rx_bytes", "sriov_vf_rx_bytes"),
    ("tx_bytes", "sriov_vf_tx_bytes"),
    ("rx_packets", "sriov_vf_rx_packets"),
    ("tx_packets", "sriov_vf_tx_packets"),
    ("broadcast", "sriov_vf_rx_broadcast"),
    ("multicast", "sriov_vf_rx_multicast"),
    ("rx_dropped", "sriov_vf_rx_dropped"),
    ("tx_dropped", "sriov_vf_tx_dropped"),
];

/// A VF of a pooled PF the counters file says nothing about.
const SILENT: (&str, u32, &str) = ("enp59s0f0", 0, "0000:3b:02.0");

fn counters(c: &[u64; 8]) -> serde_json::Map<String, serde_json::Value> {
    NAMES
        .iter()
        .zip(c)
        .map(|((n, _), v)| (n.to_string(), (*v).into()))
        .collect()
}

/// The shipped host (its config pools every X710 VF) with [`VFS`]'s counters in the
/// simulated kernel.
fn sim_with_counters() -> SimEnv {
    let sim = SimEnv::shipped();
    let mut file = serde_json::Map::new();
    for (pf, n, _, c) in &VFS {
        let mut e = counters(c);
        e.insert("vf".into(), (*n).into());
        file.entry(pf.to_string())
            .or_insert_with(|| serde_json::json!([]))
            .as_array_mut()
            .unwrap()
            .push(e.into());
    }
    std::fs::write(
        sim_kernel(NFV, &sim.state).join(".vifman-sim-vfstats.json"),
        serde_json::Value::Object(file).to_string(),
    )
    .unwrap();
    sim
}

fn vf_show(sim: &SimEnv, pf: &str, n: u32) -> serde_json::Value {
    let n = n.to_string();
    serde_json::from_str(&run_ok(&["vf", "show", pf, &n, "--json"], &sim.host())).unwrap()
}

#[test]
fn vf_show_and_inventory_show_the_counters() {
    let sim = sim_with_counters();
    let inv: serde_json::Value =
        serde_json::from_str(&run_ok(&["inventory", "--json", "--stats"], &sim.host())).unwrap();
    for (pf, n, addr, c) in &VFS {
        let r = vf_show(&sim, pf, *n);
        assert_eq!(r["address"], *addr, "{r}");
        let mut want = counters(c);
        assert_eq!(
            inventory_device(&inv, addr)["stats"],
            serde_json::json!(want)
        );
        want.insert("vf".into(), (*n).into());
        assert_eq!(r["counters"], serde_json::json!(want), "{r}");
    }
    let (pf, n, addr) = SILENT;
    let r = vf_show(&sim, pf, n);
    assert_eq!(r["address"], addr);
    assert!(r["counters"].is_null(), "{r}");
    assert!(inventory_device(&inv, addr)["stats"].is_null());
}

/// Every `sriov_vf_*` series of each VF with counters, labelled `pf`, `vf`, `pciAddr` and
/// `numa_node` from what the inventory says of the VF (so dashboards keyed on the exporter's
/// labels find vifman's VFs); none for a VF the PF reports nothing for.
#[cfg(feature = "fleet")]
#[test]
fn metrics_export_the_counters_labelled_as_the_inventory() {
    let sim = sim_with_counters();
    let inv =
        serde_json::from_str::<serde_json::Value>(&run_ok(&["inventory", "--json"], &sim.host()))
            .unwrap();
    let m = run_ok(&["metrics"], &sim.host());
    for (_, _, addr, c) in &VFS {
        let (pf, vf) = inventory_pf_of(&inv, addr);
        let numa = match &vf["numa_node"] {
            serde_json::Value::Null => "-1".to_string(),
            n => n.to_string(),
        };
        let labels = format!(
            "{{pf=\"{pf}\",vf=\"{}\",pciAddr=\"{addr}\",numa_node=\"{numa}\"}}",
            vf["index"]
        );
        for ((_, series), v) in NAMES.iter().zip(c) {
            assert_eq!(
                metric(&m, &format!("{series}{labels}")),
                Some(*v as f64),
                "{series}{labels} in:\n{m}"
            );
        }
    }
    let silent = format!("pciAddr=\"{}\"", SILENT.2);
    assert!(
        !m.lines()
            .any(|l| l.starts_with("sriov_vf_") && l.contains(&silent)),
        "{m}"
    );
}

/// The uplink netdev of the PF holding VF `addr` in the inventory, and the VF's entry.
#[cfg(feature = "fleet")]
fn inventory_pf_of<'a>(inv: &'a serde_json::Value, addr: &str) -> (&'a str, &'a serde_json::Value) {
    inv["physical_functions"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|pf| {
            let vf = pf["vfs"]
                .as_array()?
                .iter()
                .find(|v| v["address"] == addr)?;
            Some((pf["netdevs"][0]["name"].as_str()?, vf))
        })
        .unwrap_or_else(|| panic!("{addr} not in the inventory"))
}
