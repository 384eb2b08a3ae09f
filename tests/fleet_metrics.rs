//! `vifman metrics` (one-shot dump) on a simulated nfv-host, checked against `vifman pools`,
//! the store and the fixture.
#![cfg(feature = "fleet")]

mod common;

use common::*;

#[test]
fn metrics_dump_matches_pools_and_store() {
    let tmp = tempfile::tempdir().unwrap();
    let host = host_args(&tmp.path().join("state"), CONFIG);
    run_ok(
        &[
            "allocate",
            "--physnet",
            "physnet1",
            "--instance",
            "11111111-2222-3333-4444-555555555555",
            "--vif-id",
            "aaaaaaaa-2222-3333-4444-555555555555",
        ],
        &host,
    );
    let m = run_ok(&["metrics"], &host);
    let pools: serde_json::Value =
        serde_json::from_str(&run_ok(&["pools", "--json"], &host)).unwrap();
    // Per pool, the per-PF series add up to what `vifman pools` says (nothing is excluded here).
    // VF pools only: the metrics count VFs, and pools also lists whole-device (type-PF) pools.
    for p in pools["pools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["device_type"] == "type-VF")
    {
        let name = p["physnet"].as_str().unwrap();
        let sum = |metric: &str| -> f64 {
            m.lines()
                .filter(|l| l.starts_with(&format!("{metric}{{pool=\"{name}\",")))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
                .sum()
        };
        assert_eq!(
            sum("vifman_vfs"),
            p["total"].as_f64().unwrap(),
            "{name}: {m}"
        );
        assert_eq!(
            sum("vifman_vfs_allocated"),
            p["allocated"].as_f64().unwrap(),
            "{name}"
        );
    }
    // The fixture: X710 port 0 has 8 VFs, 5 with admin MACs; the CLI took one of the free ones.
    let rec: serde_json::Value =
        serde_json::from_str(&run_ok(&["allocations", "--json"], &host)).unwrap();
    let pf = rec[0]["pf"].as_str().unwrap().to_string();
    assert_eq!(
        metric(
            &m,
            &format!("vifman_vfs_allocated{{pool=\"physnet1\",pf=\"{pf}\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&m, r#"vifman_vfs{pool="physnet1",pf="0000:3b:00.0"}"#),
        Some(8.0)
    );
    assert_eq!(
        metric(&m, r#"vifman_vfs{pool="physnet3",pf="0000:af:00.0"}"#),
        Some(4.0)
    );
    // 17 fixture VFs carry admin MACs / vfio without a record: reconcile's "unrecorded".
    let drift: serde_json::Value =
        serde_json::from_str(&run_ok(&["reconcile", "--json"], &host)).unwrap();
    let unrecorded = drift
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "unrecorded")
        .count() as f64;
    assert_eq!(
        metric(&m, r#"vifman_reconcile_drift{kind="unrecorded"}"#),
        Some(unrecorded)
    );
    assert!(m.trim_end().ends_with("# EOF"));
}
