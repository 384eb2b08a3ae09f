//! `vifman cni` on the store: DEL when the pod's namespace is gone, a stale DEL after the VF
//! went to another pod, GC, records made by the device plugin and the CLI, a vfio-bound VF,
//! and eight runtimes' worth of concurrent ADD/DEL. Real namespaces and netdev moves (veth
//! stand-ins for the VF netdevs), simulated PF-side VF state (see tests/cni.rs).

mod common;

use common::*;
use serde_json::{json, Value};

const NET: &str = "sriov-net";
const POD_UID: &str = "0d1f4c5e-8a2b-4c3d-9e8f-112233445566";

fn conf(version: &str, vf: &str, extra: Value) -> Value {
    let mut c = json!({"cniVersion": version, "name": NET, "type": "vifman-cni", "deviceID": vf});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn args(uid: &str) -> String {
    format!("IgnoreUnknown=1;K8S_POD_UID={uid}")
}

fn allocate(state: &std::path::Path, vif: &str, instance: &str, extra: &[&str]) -> String {
    let s = state.display().to_string();
    let mut a = vec![
        "allocate",
        "--sysfs-root",
        NFV,
        "--simulate",
        "--state-dir",
        &s,
        "--config",
        CONFIG,
        "--physnet",
        "physnet1",
        "--instance",
        instance,
        "--vif-id",
        vif,
    ];
    a.extend_from_slice(extra);
    vifman_ok(&a)
}

/// The pod's namespace is deleted before DEL (the kubelet lost the pod): DEL still restores
/// the VF, releases the record, and succeeds; a later DEL too.
#[test]
fn del_after_the_netns_is_gone() {
    in_netns("del_after_the_netns_is_gone", || {
        let t = tempfile::tempdir().unwrap();
        let rt = Runtime::new(&t.path().join("state"));
        stand_in("enp59s0f1v2");
        let before = rt.vf("enp59s0f1", 2);
        let pod = Pod::new();
        let path = pod.path().to_string();
        let c = conf(
            "1.0.0",
            "0000:3b:0a.2",
            json!({"vlan": 42, "mac": "02:00:00:00:bb:02"}),
        );
        assert!(
            rt.call("ADD", &c, "gone", "net1", Some(&path), &args(POD_UID))
                .ok
        );
        assert_eq!(rt.vf("enp59s0f1", 2)["vlan"], 42);
        drop(pod);
        for _ in 0..2 {
            let a = rt.call("DEL", &c, "gone", "net1", Some(&path), &args(POD_UID));
            assert!(a.ok, "{a:?}");
        }
        // Without CNI_NETNS too (the spec allows it).
        assert!(rt.call("DEL", &c, "gone", "net1", None, &args(POD_UID)).ok);
        assert_eq!(rt.vf("enp59s0f1", 2), before);
        assert!(rt.records().is_empty());
    });
}

/// Pod A's DEL is lost and its namespace deleted; pod B is given the same VF. B's ADD reclaims
/// A's leftover attachment; A's late DEL then must not touch B's VF or netdev.
#[test]
fn stale_del_leaves_the_new_holder_alone() {
    in_netns("stale_del_leaves_the_new_holder_alone", || {
        let t = tempfile::tempdir().unwrap();
        let rt = Runtime::new(&t.path().join("state"));
        stand_in("enp59s0f1v3");
        let a_pod = Pod::new();
        let a_path = a_pod.path().to_string();
        let ca = conf(
            "1.0.0",
            "0000:3b:0a.3",
            json!({"vlan": 10, "mac": "02:00:00:00:0a:0a"}),
        );
        assert!(
            rt.call("ADD", &ca, "pod-a", "net1", Some(&a_path), &args(POD_UID))
                .ok
        );
        drop(a_pod); // the DEL never comes
                     // The real VF netdev would come back to the host; the veth stand-in died with the
                     // namespace, so the test makes a fresh one, as the kernel would give it back.
        stand_in("enp59s0f1v3");
        let b_pod = Pod::new();
        let cb = conf(
            "1.0.0",
            "0000:3b:0a.3",
            json!({"vlan": 20, "mac": "02:00:00:00:0b:0b"}),
        );
        let b = rt.call(
            "ADD",
            &cb,
            "pod-b",
            "net1",
            Some(b_pod.path()),
            &args("1d1f4c5e-8a2b-4c3d-9e8f-112233445566"),
        );
        assert!(b.ok, "{b:?}");
        let vf_b = rt.vf("enp59s0f1", 3);
        assert_eq!(
            (vf_b["vlan"].clone(), vf_b["mac"].clone()),
            (json!(20), json!("02:00:00:00:0b:0b"))
        );
        // A's stale DEL (its netns path gone, its config, its container id).
        let a = rt.call("DEL", &ca, "pod-a", "net1", Some(&a_path), &args(POD_UID));
        assert!(a.ok, "{a:?}");
        assert_eq!(rt.vf("enp59s0f1", 3), vf_b, "the stale DEL changed B's VF");
        assert!(
            b_pod.link("net1").is_some(),
            "the stale DEL moved B's netdev"
        );
        let recs = rt.records();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].cni.as_ref().unwrap().key.container_id, "pod-b");
        // While B's namespace lives, nobody else gets the VF.
        let c_pod = Pod::new();
        let c = rt.call(
            "ADD",
            &cb,
            "pod-c",
            "net1",
            Some(c_pod.path()),
            &args(POD_UID),
        );
        assert_eq!(c.code(), 100, "{c:?}");
        assert!(c.msg().contains("pod-b"), "{}", c.msg());
        assert!(
            rt.call("DEL", &cb, "pod-b", "net1", Some(b_pod.path()), "")
                .ok
        );
        assert!(rt.records().is_empty());
    });
}

/// GC (1.1.0) releases the attachments of this network that the runtime no longer lists,
/// and only those.
#[test]
fn gc_releases_what_is_not_valid() {
    in_netns("gc_releases_what_is_not_valid", || {
        let t = tempfile::tempdir().unwrap();
        let rt = Runtime::new(&t.path().join("state"));
        let pods: Vec<Pod> = (0..3).map(|_| Pod::new()).collect();
        let vfs = [
            ("0000:3b:0a.4", "enp59s0f1v4", 4),
            ("0000:3b:0a.5", "enp59s0f1v5", 5),
            ("0000:3b:0a.6", "enp59s0f1v6", 6),
        ];
        let before: Vec<Value> = vfs.iter().map(|(_, _, i)| rt.vf("enp59s0f1", *i)).collect();
        for (n, (vf, nd, _)) in vfs.iter().enumerate() {
            stand_in(nd);
            let c = conf("1.1.0", vf, json!({"vlan": 100 + n}));
            let a = rt.call(
                "ADD",
                &c,
                &format!("c{n}"),
                "net1",
                Some(pods[n].path()),
                "",
            );
            assert!(a.ok, "{a:?}");
        }
        let mut gc = conf("1.1.0", "0000:3b:0a.4", json!({}));
        gc.as_object_mut().unwrap().remove("deviceID");
        gc["cni.dev/valid-attachments"] = json!([{"containerID": "c1", "ifname": "net1"}]);
        let a = rt.call("GC", &gc, "", "", None, "");
        assert!(a.ok && a.out.is_none(), "{a:?}");
        let recs = rt.records();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].vf.to_string(), "0000:3b:0a.5");
        assert_eq!(rt.vf("enp59s0f1", 4), before[0]);
        assert_eq!(rt.vf("enp59s0f1", 6), before[2]);
        assert!(pods[0].link("net1").is_none() && pods[1].link("net1").is_some());
        assert!(link_names().contains(&"enp59s0f1v4".to_string()));
        // Another network's GC leaves ours alone.
        gc["name"] = json!("other-net");
        gc["cni.dev/valid-attachments"] = json!([]);
        assert!(rt.call("GC", &gc, "", "", None, "").ok);
        assert_eq!(rt.records().len(), 1);
        // A malformed list names the key.
        gc["cni.dev/valid-attachments"] = json!([{"ifname": "x"}]);
        assert_eq!(rt.call("GC", &gc, "", "", None, "").code(), 7);
    });
}

/// The device plugin's record (its tagged VIF id) is adopted by whichever pod's ADD names
/// the VF, and stays the plugin's after DEL; a CLI record only by the pod it was allocated
/// for (its instance is the pod UID); a vfio-bound VF is configured and not moved.
#[test]
fn plugin_and_cli_records_and_vfio() {
    in_netns("plugin_and_cli_records_and_vfio", || {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("state");
        let rt = Runtime::new(&state);
        // A record as the device plugin writes it (id tagged "vfdp", version 8), on 02.3.
        let plugin_vif = "76666470-0000-8000-8000-000000000001";
        allocate(
            &state,
            plugin_vif,
            "21111111-2222-3333-4444-555555555555",
            &[],
        );
        let vf = rt.records()[0].vf.to_string();
        let (pf, idx) = (
            rt.records()[0].pf_netdev.to_string(),
            rt.records()[0].vf_index,
        );
        let nd = format!("{pf}v{idx}");
        stand_in(&nd);
        let pod = Pod::new();
        let before = rt.vf(&pf, idx);
        let c = conf("1.0.0", &vf, json!({"vlan": 55, "trust": "on"}));
        let a = rt.call("ADD", &c, "c1", "net1", Some(pod.path()), &args(POD_UID));
        assert!(a.ok, "{a:?}");
        assert_eq!(rt.vf(&pf, idx)["vlan"], 55);
        assert_eq!(
            rt.records().len(),
            1,
            "the plugin's record was reused, not a second one made"
        );
        assert!(rt.call("DEL", &c, "c1", "net1", Some(pod.path()), "").ok);
        assert_eq!(rt.vf(&pf, idx), before);
        let recs = rt.records();
        assert_eq!(recs.len(), 1, "the plugin's record stays the plugin's");
        assert_eq!(recs[0].vif_id.to_string(), plugin_vif);
        assert!(recs[0].cni.is_none());
        // A CLI allocation in vfio mode for this pod: adopted by this pod only, no netdev move.
        allocate(
            &state,
            "aaaaaaaa-0000-4000-8000-000000000002",
            POD_UID,
            &["--mode", "hostdev-vfio"],
        );
        let rec = rt
            .records()
            .into_iter()
            .find(|r| r.vif_id.to_string().starts_with("aaaaaaaa"))
            .unwrap();
        let vf2 = rec.vf.to_string();
        let c2 = conf("1.1.0", &vf2, json!({"vlan": 77}));
        let other = rt.call(
            "ADD",
            &c2,
            "c2",
            "net2",
            Some(pod.path()),
            &args("9d1f4c5e-8a2b-4c3d-9e8f-112233445566"),
        );
        assert_eq!(other.code(), 100, "{other:?}");
        assert!(other.msg().contains("not to this pod"), "{}", other.msg());
        let a = rt.call("ADD", &c2, "c2", "net2", Some(pod.path()), &args(POD_UID));
        assert!(a.ok, "{a:?}");
        let out = a.out.unwrap();
        assert_eq!(out["interfaces"][0]["pciID"], vf2.as_str());
        assert!(out["interfaces"][0].get("mtu").is_none());
        assert_eq!(rt.vf(rec.pf_netdev.as_ref(), rec.vf_index)["vlan"], 77);
        assert!(
            pod.link("net2").is_none(),
            "a vfio VF has no netdev to move"
        );
        assert!(rt.call("DEL", &c2, "c2", "net2", Some(pod.path()), "").ok);
        assert_eq!(rt.vf(rec.pf_netdev.as_ref(), rec.vf_index)["vlan"], 0);
        assert_eq!(
            rt.records().len(),
            2,
            "both the plugin's and the CLI's records stay"
        );
    });
}

/// Eight runtimes at once, each ADD then DEL on its own VF, and two racing for one VF: the
/// store hands each VF to exactly one attachment and every VF ends as it was.
#[test]
fn concurrent_add_del_from_eight_processes() {
    in_netns("concurrent_add_del_from_eight_processes", || {
        let t = tempfile::tempdir().unwrap();
        let rt = Runtime::new(&t.path().join("state"));
        let vfs: Vec<(String, String, String, u32)> = [
            ("0000:3b:02.3", "enp59s0f0", 3),
            ("0000:3b:02.4", "enp59s0f0", 4),
            ("0000:3b:02.5", "enp59s0f0", 5),
            ("0000:3b:0a.1", "enp59s0f1", 1),
            ("0000:3b:0a.2", "enp59s0f1", 2),
            ("0000:3b:0a.3", "enp59s0f1", 3),
            ("0000:3b:0a.4", "enp59s0f1", 4),
            ("0000:3b:0a.5", "enp59s0f1", 5),
        ]
        .iter()
        .map(|(a, p, i)| (a.to_string(), p.to_string(), format!("{p}v{i}"), *i))
        .collect();
        let before: Vec<Value> = vfs.iter().map(|(_, p, _, i)| rt.vf(p, *i)).collect();
        for (_, _, nd, _) in &vfs {
            stand_in(nd);
        }
        let pods: Vec<Pod> = (0..8).map(|_| Pod::new()).collect();
        let rt = &rt;
        std::thread::scope(|s| {
            for (n, (vf, _, _, _)) in vfs.iter().enumerate() {
                let pod = &pods[n];
                s.spawn(move || {
                    let c = conf(
                        "1.0.0",
                        vf,
                        json!({"vlan": 200 + n, "mac": format!("02:00:00:00:cc:{n:02x}")}),
                    );
                    let id = format!("race{n}");
                    let a = rt.call("ADD", &c, &id, "net1", Some(pod.path()), "");
                    assert!(a.ok, "{vf}: {a:?}");
                    assert!(pod.link("net1").is_some());
                    let d = rt.call("DEL", &c, &id, "net1", Some(pod.path()), "");
                    assert!(d.ok, "{vf}: {d:?}");
                });
            }
        });
        for (n, (_, p, _, i)) in vfs.iter().enumerate() {
            assert_eq!(rt.vf(p, *i), before[n], "{p} vf {i}");
        }
        assert!(rt.records().is_empty());
        // Two pods race for one VF: exactly one wins, the other gets error 100 and changes nothing.
        let results: Vec<Answer> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|n| {
                    let pod = &pods[n];
                    s.spawn(move || {
                        let c = conf("1.0.0", "0000:3b:02.3", json!({"vlan": 300 + n}));
                        rt.call("ADD", &c, &format!("dup{n}"), "net1", Some(pod.path()), "")
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<usize> = (0..2).filter(|n| results[*n].ok).collect();
        assert_eq!(won.len(), 1, "{results:?}");
        let lost = 1 - won[0];
        assert_eq!(results[lost].code(), 100, "{:?}", results[lost]);
        assert_eq!(rt.vf("enp59s0f0", 3)["vlan"], 300 + won[0]);
        let c = conf("1.0.0", "0000:3b:02.3", json!({}));
        assert!(
            rt.call(
                "DEL",
                &c,
                &format!("dup{lost}"),
                "net1",
                Some(pods[lost].path()),
                ""
            )
            .ok
        );
        assert_eq!(
            rt.vf("enp59s0f0", 3)["vlan"],
            300 + won[0],
            "the loser's DEL touched the winner's VF"
        );
        assert!(
            rt.call(
                "DEL",
                &c,
                &format!("dup{}", won[0]),
                "net1",
                Some(pods[won[0]].path()),
                ""
            )
            .ok
        );
        assert_eq!(rt.vf("enp59s0f0", 3), before[0]);
    });
}
