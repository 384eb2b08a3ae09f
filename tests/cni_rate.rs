//! `rateParent` in the CNI netconf on the simulated host (mlx5 0000:5e:00.0 in switchdev
//! mode, its VFs in the `offload` pool): ADD parents the VF's devlink rate leaf to the node
//! and records the leaf's parent before; DEL puts it back, on a record the CNI made and on
//! a device plugin's record alike. Refused with a CNI error naming `rateParent` and nothing
//! changed for a node that does not exist and on a legacy PF (X710). Real namespaces and
//! veth stand-ins for the VF netdevs, as in tests/cni_store.rs.

mod common;

use common::*;
use serde_json::{json, Value};

const NET: &str = "sriov-net";
const POD_UID: &str = "0d1f4c5e-8a2b-4c3d-9e8f-112233445566";
const PF: &str = "enp94s0f0np0";

fn conf(vf: &str, extra: Value) -> Value {
    let mut c = json!({"cniVersion": "1.0.0", "name": NET, "type": "vifman-cni", "deviceID": vf});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn args() -> String {
    format!("IgnoreUnknown=1;K8S_POD_UID={POD_UID}")
}

/// `vifman CMD… --sysfs-root … EXTRA…` on this simulated host and store.
fn cli(state: &std::path::Path, cmd: &[&str], extra: &[&str]) -> String {
    let s = state.display().to_string();
    let mut a = cmd.to_vec();
    a.extend_from_slice(&[
        "--sysfs-root",
        NFV,
        "--simulate",
        "--state-dir",
        &s,
        "--config",
        CONFIG,
    ]);
    a.extend_from_slice(extra);
    vifman_ok(&a)
}

/// VF `vf`'s leaf parent as the rate dump reads it.
fn parent(state: &std::path::Path, vf: u64) -> Value {
    let v: Value =
        serde_json::from_str(&cli(state, &["rate-node", "list", PF, "--json"], &[])).unwrap();
    v["rates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "leaf" && r["vf"] == vf)
        .unwrap_or_else(|| panic!("no leaf of VF {vf}: {v:#}"))["parent"]
        .clone()
}

fn journal(state: &std::path::Path) -> Vec<String> {
    vifman::host::sim::read_journal(&sim_kernel(NFV, state))
}

#[test]
fn rate_parent_set_on_add_and_put_back_on_del() {
    in_netns("rate_parent_set_on_add_and_put_back_on_del", || {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("state");
        let rt = Runtime::new(&state);
        cli(&state, &["rate-node", "add", PF, "grp1"], &[]);
        cli(&state, &["rate-node", "add", PF, "old"], &[]);
        cli(&state, &["vf", "rate", PF, "1", "--parent", "old"], &[]);
        stand_in("enp94s0f0v1");
        let pod = Pod::new();

        // The CNI makes the record itself (VF 1 = 0000:5e:00.3).
        let c = conf("0000:5e:00.3", json!({"rateParent": "grp1"}));
        let a = rt.call("ADD", &c, "c1", "net1", Some(pod.path()), &args());
        assert!(a.ok, "{a:?}");
        assert_eq!(parent(&state, 1), "grp1");
        let recs = rt.records();
        assert_eq!(recs.len(), 1);
        let rp = recs[0].rate_parent.as_ref().expect("recorded");
        assert_eq!(
            (rp.node.as_str(), rp.original.as_deref()),
            ("grp1", Some("old"))
        );
        assert!(rt.call("DEL", &c, "c1", "net1", Some(pod.path()), "").ok);
        assert_eq!(parent(&state, 1), "old");
        assert!(rt.records().is_empty());

        // On a device plugin's record: DEL puts the parent back, the record stays theirs.
        let plugin_vif = "76666470-0000-8000-8000-000000000001";
        cli(
            &state,
            &["allocate"],
            &[
                "--physnet",
                "offload",
                "--instance",
                "21111111-2222-3333-4444-555555555555",
                "--vif-id",
                plugin_vif,
            ],
        );
        let rec = rt.records()[0].clone();
        let idx = rec.vf_index as u64;
        if idx != 1 {
            // VF 1's stand-in is back on the host since the DEL above.
            stand_in(&format!("enp94s0f0v{idx}"));
        }
        let before = parent(&state, idx);
        let c = conf(&rec.vf.to_string(), json!({"rateParent": "grp1"}));
        let a = rt.call("ADD", &c, "c2", "net2", Some(pod.path()), &args());
        assert!(a.ok, "{a:?}");
        assert_eq!(parent(&state, idx), "grp1");
        let recs = rt.records();
        assert_eq!(recs.len(), 1, "the plugin's record was reused");
        assert_eq!(recs[0].rate_parent.as_ref().unwrap().node, "grp1");
        assert!(recs[0].cni.as_ref().unwrap().rate_parent_set);
        assert!(rt.call("DEL", &c, "c2", "net2", Some(pod.path()), "").ok);
        assert_eq!(parent(&state, idx), before);
        let recs = rt.records();
        assert_eq!(recs.len(), 1, "the plugin's record stays the plugin's");
        assert_eq!(recs[0].vif_id.to_string(), plugin_vif);
        assert!(recs[0].rate_parent.is_none() && recs[0].cni.is_none());
    });
}

#[test]
fn rate_parent_refused_with_a_cni_error_and_nothing_changed() {
    in_netns(
        "rate_parent_refused_with_a_cni_error_and_nothing_changed",
        || {
            let t = tempfile::tempdir().unwrap();
            let state = t.path().join("state");
            let rt = Runtime::new(&state);
            cli(&state, &["rate-node", "add", PF, "grp1"], &[]);
            stand_in("enp94s0f0v1");
            stand_in("enp59s0f0v0");
            let pod = Pod::new();
            let n = journal(&state).len();
            for (vf, node, why) in [
            (
                "0000:5e:00.3",
                "nosuch",
                "rateParent nosuch: rate node nosuch does not exist on pci/0000:5e:00.0 (nodes: grp1)",
            ),
            ("0000:3b:02.0", "grp1", "rateParent grp1: PF 0000:3b:00.0"),
            ("0000:5e:00.3", "a/b", "rateParent:"),
        ] {
            let c = conf(vf, json!({"rateParent": node, "vlan": 12}));
            let a = rt.call("ADD", &c, "c1", "net1", Some(pod.path()), &args());
            assert_eq!(a.code(), 7, "{node}: {a:?}");
            assert!(a.msg().contains(why), "{node}: {}", a.msg());
            assert!(rt.records().is_empty(), "{node}: a record was left");
            assert!(pod.link("net1").is_none(), "{node}: the netdev moved");
        }
            assert_eq!(journal(&state).len(), n, "{:#?}", journal(&state));
            assert_eq!(parent(&state, 1), Value::Null);
            assert_eq!(rt.vf(PF, 1)["vlan"], 0);
        },
    );
}
