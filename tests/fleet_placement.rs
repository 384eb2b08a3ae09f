//! `vifman placement sync` against the REAL OpenStack Placement 16.0.0 (PyPI venv, SQLite,
//! noauth2, single-threaded server started by tests/placement/sandbox.sh): what Placement
//! itself then returns for providers, inventories, traits and allocation candidates; that a
//! re-sync writes nothing; that shrinking below usage is refused.
#![cfg(feature = "fleet")]

mod common;

use common::*;
use serde_json::{json, Value};
use vifman::fleet::placement::sync::{provider_uuid, root_name};
use vifman::fleet::placement::Client;

fn sync(host: &[String], url: &str) -> (bool, Value, String) {
    let mut a: Vec<&str> = vec![
        "placement",
        "sync",
        "--url",
        url,
        "--hypervisor",
        "compute1",
        "--json",
    ];
    a.extend(host.iter().map(String::as_str));
    let o = vifman(&a);
    let out = text(&o.stdout);
    (
        o.status.success(),
        serde_json::from_str(&out).unwrap_or(Value::Null),
        text(&o.stderr),
    )
}

#[test]
fn placement_sync_against_real_placement() {
    let Some(plc) = Placement::start() else {
        return;
    };
    let c = Client::new(&plc.url, "admin").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let host = host_args(&state, CONFIG);

    // A nova compute node named like the hypervisor: vifman's root hangs under it.
    let cn = "c0ffee00-0000-4000-8000-000000000001";
    let r = c
        .request(
            "POST",
            "/resource_providers",
            Some(&json!({"uuid": cn, "name": "compute1"})),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    let (ok, first, err) = sync(&host, &plc.url);
    assert!(ok, "{err}");
    assert!(first["writes"].as_u64().unwrap() > 0);

    // The tree, as Placement reports it.
    let root = provider_uuid(&root_name("compute1"));
    let tree = c
        .get_json(&format!("/resource_providers?in_tree={cn}"))
        .unwrap();
    let rps = tree["resource_providers"].as_array().unwrap();
    let by_name = |n: &str| {
        rps.iter()
            .find(|p| p["name"] == n)
            .unwrap_or_else(|| panic!("no provider {n}: {tree}"))
            .clone()
    };
    let r = by_name("compute1:vifman");
    assert_eq!(r["uuid"], root);
    assert_eq!(r["parent_provider_uuid"], cn);
    // nfv-host: X710 ports 3b:00.0/.1 (physnet1), E810 86:00.0 VFs 0-11 (physnet2), igb af:00.0
    // (physnet3), ConnectX-5 5e:00.0 functions 2-7 (offload).
    let pf = by_name("compute1:vifman:0000:3b:00.0");
    assert_eq!(pf["parent_provider_uuid"], root);
    assert_eq!(pf["root_provider_uuid"], cn);
    assert_eq!(rps.len(), 1 + 1 + 5, "{tree}");
    let inv = c
        .get_json(&format!(
            "/resource_providers/{}/inventories",
            pf["uuid"].as_str().unwrap()
        ))
        .unwrap();
    // The fixture's VFs 0-2, 6 and 7 carry admin MACs (in use outside vifman): reserved.
    assert_eq!(
        inv["inventories"]["CUSTOM_VIFMAN_PHYSNET1"]["total"], 8,
        "{inv}"
    );
    assert_eq!(inv["inventories"]["CUSTOM_VIFMAN_PHYSNET1"]["reserved"], 5);
    assert_eq!(inv["inventories"]["CUSTOM_VIFMAN_PHYSNET1"]["max_unit"], 8);
    let e810 = by_name("compute1:vifman:0000:86:00.0");
    let inv = c
        .get_json(&format!(
            "/resource_providers/{}/inventories",
            e810["uuid"].as_str().unwrap()
        ))
        .unwrap();
    assert_eq!(
        inv["inventories"]["CUSTOM_VIFMAN_PHYSNET2"]["total"], 12,
        "{inv}"
    );
    // VFs 0-3 carry admin MACs and VF 11 has no driver.
    assert_eq!(inv["inventories"]["CUSTOM_VIFMAN_PHYSNET2"]["reserved"], 5);
    let traits = c
        .get_json(&format!(
            "/resource_providers/{}/traits",
            e810["uuid"].as_str().unwrap()
        ))
        .unwrap();
    let mut t: Vec<&str> = traits["traits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    t.sort();
    assert_eq!(
        t,
        [
            "CUSTOM_PHYSNET_PHYSNET2",
            "CUSTOM_VIFMAN_MANAGED",
            "CUSTOM_VIFMAN_NUMA_1"
        ]
    );
    assert!(!t
        .iter()
        .any(|t| t.starts_with("COMPUTE_") || *t == "OWNER_NOVA"));

    // What a flavor / port resource request would get.
    let ac = c.get_json("/allocation_candidates?resources=CUSTOM_VIFMAN_PHYSNET1:2&required=CUSTOM_PHYSNET_PHYSNET1,CUSTOM_VIFMAN_NUMA_0").unwrap();
    let areqs = ac["allocation_requests"].as_array().unwrap();
    assert_eq!(areqs.len(), 2, "one candidate per X710 port: {ac}");
    // Placement's capacity is (total - reserved) x ratio: 8 - 5.
    assert_eq!(
        ac["provider_summaries"][pf["uuid"].as_str().unwrap()]["resources"]
            ["CUSTOM_VIFMAN_PHYSNET1"]["capacity"],
        3,
        "{ac}"
    );
    // 12 VFs, 5 reserved: 7 can be claimed, 8 cannot.
    let seven = c
        .get_json("/allocation_candidates?resources=CUSTOM_VIFMAN_PHYSNET2:7")
        .unwrap();
    assert_eq!(seven["allocation_requests"].as_array().unwrap().len(), 1);
    let none = c
        .get_json("/allocation_candidates?resources=CUSTOM_VIFMAN_PHYSNET2:8")
        .unwrap();
    assert_eq!(none["allocation_requests"].as_array().unwrap().len(), 0);
    let numa1 = c.get_json("/allocation_candidates?resources=CUSTOM_VIFMAN_PHYSNET1:1&required=CUSTOM_VIFMAN_NUMA_1").unwrap();
    assert_eq!(numa1["allocation_requests"].as_array().unwrap().len(), 0);

    // Re-sync: nothing written, generations unchanged.
    let gens = |rep: &Value| {
        rep["providers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["uuid"].as_str().unwrap().to_string(),
                    p["generation"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (ok, again, err) = sync(&host, &plc.url);
    assert!(ok, "{err}");
    assert_eq!(again["writes"], 0, "{again}");
    assert_eq!(gens(&first), gens(&again));
    assert!(again["providers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["created"] == false && p["inventory_changed"] == false));

    // Claim 6 of the E810's 12 VFs in Placement, then shrink the PF to 4 VFs: refused.
    let e810_uuid = e810["uuid"].as_str().unwrap();
    let consumer = "c0ffee00-0000-4000-8000-0000000000aa";
    let r = c
        .request(
            "PUT",
            &format!("/allocations/{consumer}"),
            Some(&json!({"allocations": {e810_uuid: {"resources": {"CUSTOM_VIFMAN_PHYSNET2": 6}}}, "project_id": "p", "user_id": "u", "consumer_generation": null, "consumer_type": "INSTANCE"})),
        )
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    run_ok(&["numvfs", "enp134s0", "4"], &host);
    let (ok, shrunk, _) = sync(&host, &plc.url);
    assert!(!ok, "a refused shrink fails the command");
    let refused = shrunk["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{shrunk}");
    assert!(
        refused[0].as_str().unwrap().contains("below its usage 6"),
        "{shrunk}"
    );
    let inv = c
        .get_json(&format!("/resource_providers/{e810_uuid}/inventories"))
        .unwrap();
    assert_eq!(
        inv["inventories"]["CUSTOM_VIFMAN_PHYSNET2"]["total"], 12,
        "left alone: {inv}"
    );

    // Usage gone: the shrink goes through; a growing count too.
    assert_eq!(
        c.request("DELETE", &format!("/allocations/{consumer}"), None)
            .unwrap()
            .status,
        204
    );
    let (ok, _, err) = sync(&host, &plc.url);
    assert!(ok, "{err}");
    let inv = c
        .get_json(&format!("/resource_providers/{e810_uuid}/inventories"))
        .unwrap();
    assert_eq!(
        inv["inventories"]["CUSTOM_VIFMAN_PHYSNET2"]["total"], 4,
        "{inv}"
    );

    // A PF that loses all pooled VFs disappears from vifman's subtree.
    run_ok(&["numvfs", "enp175s0f0", "0"], &host);
    let (ok, rep, err) = sync(&host, &plc.url);
    assert!(ok, "{err}");
    assert_eq!(rep["deleted"], json!(["compute1:vifman:0000:af:00.0"]));

    // --watch follows the host: a numvfs change reaches Placement without another command.
    let mut args: Vec<String> = [
        "placement",
        "sync",
        "--url",
        &plc.url,
        "--hypervisor",
        "compute1",
        "--watch",
        "--interval",
        "600",
    ]
    .map(String::from)
    .to_vec();
    args.extend(host.iter().cloned());
    let _watch = Daemon::spawn(&args);
    run_ok(&["numvfs", "enp134s0", "8"], &host);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let inv = c
            .get_json(&format!("/resource_providers/{e810_uuid}/inventories"))
            .unwrap();
        if inv["inventories"]["CUSTOM_VIFMAN_PHYSNET2"]["total"] == 8 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "--watch did not follow numvfs: {inv}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
