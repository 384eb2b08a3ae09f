//! `vifman inventory --stats` (issue 17 point 4): per-VF counters from the PF's
//! IFLA_VF_STATS in the table and JSON, on the simulated host (the simulation's counters
//! file stands in for the PF driver; dummy and veth links have no VFs to report on).

mod common;

use common::*;

const VF0: &str = "0000:3b:02.0";
const VF1: &str = "0000:3b:02.1";

fn inventory(state: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let s = state.display().to_string();
    let mut a = vec![
        "inventory",
        "--simulate",
        "--sysfs-root",
        NFV,
        "--state-dir",
        &s,
    ];
    a.extend_from_slice(extra);
    vifman(&a)
}

#[test]
fn counters_per_vf_in_json_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let kernel = sim_kernel(NFV, &state);
    // The PF of VF0 and VF1 is enp59s0f0 in nfv-host.
    std::fs::write(
        kernel.join(".vifman-sim-vfstats.json"),
        r#"{"enp59s0f0": [
            {"vf": 0, "rx_bytes": 1500, "tx_bytes": 3000, "rx_packets": 10, "tx_packets": 20,
             "broadcast": 2, "multicast": 3, "rx_dropped": 1, "tx_dropped": 4}
        ]}"#,
    )
    .unwrap();
    let o = inventory(&state, &["--json", "--stats"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let inv: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &inventory_device(&inv, VF0)["stats"];
    assert_eq!(
        s,
        &serde_json::json!({"rx_bytes": 1500, "tx_bytes": 3000, "rx_packets": 10,
            "tx_packets": 20, "broadcast": 2, "multicast": 3, "rx_dropped": 1, "tx_dropped": 4})
    );
    // A VF the PF reports nothing for: the key, null.
    assert_eq!(
        inventory_device(&inv, VF1)["stats"],
        serde_json::Value::Null
    );
    assert!(inventory_device(&inv, VF1)
        .as_object()
        .unwrap()
        .contains_key("stats"));
    // Without --stats the key is absent (the JSON contract stays as it was).
    let plain = sim_inventory(NFV, &state);
    assert!(!inventory_device(&plain, VF0)
        .as_object()
        .unwrap()
        .contains_key("stats"));
    // The table: a counters table after the inventory.
    let o = inventory(&state, &["--stats"]);
    let out = text(&o.stdout);
    let row = out
        .lines()
        .find(|l| l.contains(&format!("vf0 {VF0}")) && l.contains("1500"))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols[3..],
        ["1500", "3000", "10", "20", "2", "3", "1", "4"],
        "{row}"
    );
    assert!(out.contains("RX_BYTES"));
}

#[test]
fn a_broken_counters_source_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let kernel = sim_kernel(NFV, &state);
    std::fs::write(kernel.join(".vifman-sim-vfstats.json"), "{not json").unwrap();
    let o = inventory(&state, &["--json", "--stats"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let inv: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        inventory_device(&inv, VF0)["stats"],
        serde_json::Value::Null
    );
    assert!(
        inv["warnings"]
            .to_string()
            .contains("VF counters unavailable"),
        "{}",
        inv["warnings"]
    );
}
