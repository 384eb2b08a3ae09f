//! `vifman cni` as a runtime calls it. What is real and what is simulated: the CNI protocol,
//! the IPAM and chained plugins (Debian's containernetworking-plugins), the network
//! namespaces and every netdev operation (move, rename, MTU, MAC, addresses, routes) are
//! real, on a veth end standing in for each VF netdev; the PF-side VF settings (MAC, VLAN,
//! trust, ...) and the PCI side are the simulated nfv-host's. A real-kernel igbvf run of the
//! same flow (a VM lab scenario) does not exist yet.

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

fn host_local(dir: &std::path::Path) -> Value {
    json!({"type": "host-local", "subnet": "10.56.0.0/24", "gateway": "10.56.0.1",
           "routes": [{"dst": "0.0.0.0/0"}], "dataDir": dir.join("ipam").display().to_string()})
}

fn args() -> String {
    format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;K8S_POD_UID={POD_UID}")
}

/// Every command's answer shape, version negotiation and error objects, with no host state
/// involved (these need no namespace).
#[test]
fn protocol_conformance() {
    let t = tempfile::tempdir().unwrap();
    let rt = Runtime::new(&t.path().join("state"));
    let c = conf("1.0.0", "0000:3b:02.3", json!({}));
    // VERSION answers in the version asked, listing every supported one.
    for v in ["0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
        let a = rt.call("VERSION", &json!({"cniVersion": v}), "", "", None, "");
        assert!(a.ok, "{a:?}");
        let out = a.out.unwrap();
        assert_eq!(out["cniVersion"], v);
        assert_eq!(
            out["supportedVersions"],
            json!(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
        );
    }
    // Unsupported config version: error 1, in the newest version.
    let a = rt.call(
        "ADD",
        &conf("0.2.0", "0000:3b:02.3", json!({})),
        "c1",
        "net1",
        Some("/proc/self/ns/net"),
        "",
    );
    assert_eq!(a.code(), 1, "{a:?}");
    assert_eq!(a.out.as_ref().unwrap()["cniVersion"], "1.1.0");
    // Missing and malformed environment: error 4 naming the variable.
    let a = rt.call("ADD", &c, "", "net1", Some("/proc/self/ns/net"), "");
    assert_eq!((a.code(), a.msg()), (4, "CNI_CONTAINERID: not set".into()));
    let a = rt.call("ADD", &c, "c1", "bad/name", Some("/proc/self/ns/net"), "");
    assert_eq!(a.code(), 4);
    assert!(a.msg().starts_with("CNI_IFNAME"), "{a:?}");
    let a = rt.call("ADD", &c, "c1", "net1", None, "");
    assert_eq!((a.code(), a.msg()), (4, "CNI_NETNS: not set".into()));
    let a = rt.call(
        "ADD",
        &c,
        "c1",
        "net1",
        Some("/proc/self/ns/net"),
        "NOEQUALS",
    );
    assert!(a.msg().starts_with("CNI_ARGS"), "{a:?}");
    let a = rt.call("NOPE", &c, "c1", "net1", None, "");
    assert_eq!(a.code(), 4);
    // Undecodable stdin: error 6; a bad key: error 7 naming it; the error is in the config's
    // version and has no details when there are none.
    let a = rt.call(
        "ADD",
        &json!("x"),
        "c1",
        "net1",
        Some("/proc/self/ns/net"),
        "",
    );
    assert_eq!(a.code(), 6);
    let a = rt.call(
        "ADD",
        &conf("0.4.0", "0000:3b:02.3", json!({"vlan": 5000})),
        "c1",
        "net1",
        Some("/proc/self/ns/net"),
        "",
    );
    assert_eq!(a.code(), 7);
    assert_eq!(a.out.as_ref().unwrap()["cniVersion"], "0.4.0");
    assert!(a.msg().starts_with("vlan: "), "{a:?}");
    // A missing netns: error 3.
    let a = rt.call("ADD", &c, "c1", "net1", Some("/nonexistent/netns"), "");
    assert_eq!(a.code(), 3, "{a:?}");
    // CHECK before 0.4.0 and STATUS/GC before 1.1.0: error 1.
    let a = rt.call(
        "CHECK",
        &conf("0.3.1", "0000:3b:02.3", json!({})),
        "c1",
        "net1",
        Some("/proc/self/ns/net"),
        "",
    );
    assert_eq!(a.code(), 1);
    for cmd in ["STATUS", "GC"] {
        assert_eq!(rt.call(cmd, &c, "", "", None, "").code(), 1, "{cmd}");
    }
    // STATUS on 1.1.0: available, nothing printed.
    let a = rt.call(
        "STATUS",
        &conf("1.1.0", "0000:3b:02.3", json!({})),
        "",
        "",
        None,
        "",
    );
    assert!(a.ok && a.out.is_none(), "{a:?}");
    // DEL of something never added: success, nothing printed (idempotent).
    let a = rt.call("DEL", &c, "c9", "net1", None, "");
    assert!(a.ok && a.out.is_none(), "{a:?}");
    // CHECK of something never added: error 3.
    let mut chk = conf("1.0.0", "0000:3b:02.3", json!({}));
    chk["prevResult"] = json!({"cniVersion": "1.0.0", "interfaces": []});
    let a = rt.call("CHECK", &chk, "c9", "net1", Some("/proc/self/ns/net"), "");
    assert_eq!(a.code(), 3, "{a:?}");
    // The same plugin reached as `vifman-cni` (the CNI bin dir's symlink), no arguments.
    let link = t.path().join("vifman-cni");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let rt2 = Runtime {
        symlink: Some(link),
        ..Runtime::new(&t.path().join("state"))
    };
    let a = rt2.call("VERSION", &json!({"cniVersion": "1.0.0"}), "", "", None, "");
    assert!(a.ok, "{a:?}");
}

/// A bad value changes nothing: no record, the VF as it was, the netdev in the host.
#[test]
fn bad_values_change_nothing() {
    in_netns("bad_values_change_nothing", || {
        let t = tempfile::tempdir().unwrap();
        let rt = Runtime::new(&t.path().join("state"));
        stand_in("enp59s0f0v3");
        let pod = Pod::new();
        let before = rt.vf("enp59s0f0", 3);
        for (extra, key) in [
            (json!({"vlan": 100, "vlanQoS": 9}), "vlanQoS"),
            (json!({"mtu": 9000}), "mtu"),
            (json!({"spoofchk": "maybe"}), "spoofchk"),
            (json!({"mac": "ff:ff:ff:ff:ff:ff"}), "mac"),
            (
                json!({"min_tx_rate": 500, "max_tx_rate": 100}),
                "min_tx_rate",
            ),
            (json!({"deviceID": "0000:3b:02.6"}), "deviceID"),
        ] {
            let a = rt.call(
                "ADD",
                &conf("1.0.0", "0000:3b:02.3", extra.clone()),
                "c1",
                "net1",
                Some(pod.path()),
                &args(),
            );
            assert!(!a.ok, "{extra}: {a:?}");
            assert!(a.msg().contains(key), "{extra}: {}", a.msg());
        }
        // The mtu error names the PF's MTU (nfv-host's enp59s0f0 has 1500).
        let a = rt.call(
            "ADD",
            &conf("1.0.0", "0000:3b:02.3", json!({"mtu": 9000})),
            "c1",
            "net1",
            Some(pod.path()),
            &args(),
        );
        assert!(
            a.msg().contains("above the PF's MTU of 1500"),
            "{}",
            a.msg()
        );
        assert_eq!(rt.vf("enp59s0f0", 3), before);
        assert!(rt.records().is_empty());
        assert!(link_names().contains(&"enp59s0f0v3".to_string()));
        assert!(pod.link("net1").is_none());
    });
}

/// ADD → CHECK → DEL with host-local as the IPAM plugin: the VF configured on the (simulated)
/// PF, the netdev in the pod renamed, with the MTU, MAC, address and default route; CHECK
/// passes; DEL puts name, namespace, MTU, MAC, VF settings back and releases the address.
#[test]
fn add_check_del_with_host_local() {
    if let Some(why) = no_cni_plugins() {
        return skip("add_check_del_with_host_local", &why);
    }
    in_netns("add_check_del_with_host_local", || {
        let t = tempfile::tempdir().unwrap();
        let rt = Runtime::new(&t.path().join("state"));
        stand_in("enp59s0f0v3");
        let host_mac = vifman::cni::sandbox::host_link("enp59s0f0v3")
            .unwrap()
            .mac_string();
        let pod = Pod::new();
        let before = rt.vf("enp59s0f0", 3);
        for version in ["1.0.0", "0.4.0", "1.1.0"] {
            let c = conf(
                version,
                "0000:3b:02.3",
                json!({"vlan": 100, "vlanQoS": 2, "trust": "on",
                "spoofchk": "off", "mac": "02:00:00:00:aa:01", "mtu": 1400, "ipam": host_local(t.path())}),
            );
            let a = rt.call("ADD", &c, "c1", "net1", Some(pod.path()), &args());
            assert!(a.ok, "{version}: {a:?}");
            let out = a.out.unwrap();
            assert_eq!(out["cniVersion"], version);
            assert_eq!(out["interfaces"][0]["name"], "net1");
            assert_eq!(out["interfaces"][0]["mac"], "02:00:00:00:aa:01");
            assert_eq!(out["interfaces"][0]["sandbox"], pod.path());
            assert_eq!(out["ips"][0]["interface"], 0);
            assert_eq!(out["ips"][0]["gateway"], "10.56.0.1");
            if version == "0.4.0" {
                assert_eq!(out["ips"][0]["version"], "4");
            }
            if version == "1.1.0" {
                assert_eq!(out["interfaces"][0]["pciID"], "0000:3b:02.3");
                assert_eq!(out["interfaces"][0]["mtu"], 1400);
            }
            let addr = out["ips"][0]["address"].as_str().unwrap().to_string();
            // The kernel (simulated PF) and the pod (real netdev).
            let vf = rt.vf("enp59s0f0", 3);
            assert_eq!(
                (vf["vlan"].clone(), vf["qos"].clone()),
                (json!(100), json!(2))
            );
            assert_eq!(
                (vf["trust"].clone(), vf["spoofchk"].clone()),
                (json!(true), json!(false))
            );
            assert_eq!(vf["mac"], "02:00:00:00:aa:01");
            let (l, addrs) = pod.link("net1").expect("net1 in the pod");
            assert!(l.up && l.mtu == 1400, "{l:?}");
            assert_eq!(l.mac_string().as_deref(), Some("02:00:00:00:aa:01"));
            assert_eq!(addrs, vec![addr.clone()]);
            let routes = pod.inside(|| {
                vifman::rtnl::Rtnl::open()
                    .unwrap()
                    .routes_of(l.index)
                    .unwrap()
            });
            assert!(
                routes.iter().any(|r| r.dst.prefix_len() == 0
                    && r.gateway.map(|g| g.to_string()) == Some("10.56.0.1".into())),
                "{routes:?}"
            );
            assert!(!link_names().contains(&"enp59s0f0v3".to_string()));
            // One record, carrying the attachment (store decides, no cache file).
            let recs = rt.records();
            assert_eq!(recs.len(), 1);
            assert_eq!(recs[0].cni.as_ref().unwrap().key.container_id, "c1");
            // CHECK with the result as prevResult.
            let mut chk = c.clone();
            chk["prevResult"] = out.clone();
            let a = rt.call("CHECK", &chk, "c1", "net1", Some(pod.path()), &args());
            assert!(a.ok && a.out.is_none(), "{version}: {a:?}");
            // DEL with prevResult, as a runtime sends it; twice (idempotent).
            for _ in 0..2 {
                let a = rt.call("DEL", &chk, "c1", "net1", Some(pod.path()), &args());
                assert!(a.ok && a.out.is_none(), "{version}: {a:?}");
            }
            assert_eq!(rt.vf("enp59s0f0", 3), before, "{version}");
            assert!(rt.records().is_empty());
            assert!(pod.link("net1").is_none());
            let host = vifman::cni::sandbox::host_link("enp59s0f0v3").expect("back in the host");
            assert!(!host.up);
            assert_eq!(host.mac_string(), host_mac);
            assert_eq!(host.mtu, 1500);
            // host-local released the address: its reservation file is gone.
            let reserved = t
                .path()
                .join("ipam")
                .join(NET)
                .join(addr.split('/').next().unwrap());
            assert!(!reserved.exists(), "{} still reserved", reserved.display());
            // CHECK after DEL: unknown container.
            assert_eq!(
                rt.call("CHECK", &chk, "c1", "net1", Some(pod.path()), &args())
                    .code(),
                3
            );
        }
    });
}

/// CHECK notices drift: a VF knob changed behind vifman's back, a missing address.
#[test]
fn check_reports_drift() {
    if let Some(why) = no_cni_plugins() {
        return skip("check_reports_drift", &why);
    }
    in_netns("check_reports_drift", || {
        let t = tempfile::tempdir().unwrap();
        let rt = Runtime::new(&t.path().join("state"));
        stand_in("enp59s0f0v4");
        let pod = Pod::new();
        let c = conf(
            "1.0.0",
            "0000:3b:02.4",
            json!({"vlan": 7, "ipam": host_local(t.path())}),
        );
        let a = rt.call("ADD", &c, "c1", "net1", Some(pod.path()), &args());
        assert!(a.ok, "{a:?}");
        let mut chk = c.clone();
        chk["prevResult"] = a.out.unwrap();
        chk["prevResult"]["ips"][0]["address"] = json!("10.56.0.250/24");
        let a = rt.call("CHECK", &chk, "c1", "net1", Some(pod.path()), &args());
        assert_eq!(a.code(), 104, "{a:?}");
        assert!(a.msg().contains("10.56.0.250/24 is missing"), "{}", a.msg());
        assert!(
            rt.call("DEL", &c, "c1", "net1", Some(pod.path()), &args())
                .ok
        );
    });
}

/// `static` IPAM, and `tuning` chained after vifman consuming its result as prevResult.
#[test]
fn static_ipam_and_chained_tuning() {
    if let Some(why) = no_cni_plugins() {
        return skip("static_ipam_and_chained_tuning", &why);
    }
    in_netns("static_ipam_and_chained_tuning", || {
        let t = tempfile::tempdir().unwrap();
        let rt = Runtime::new(&t.path().join("state"));
        stand_in("enp59s0f1v1");
        let pod = Pod::new();
        let c = conf(
            "1.0.0",
            "0000:3b:0a.1",
            json!({"ipam": {"type": "static",
            "addresses": [{"address": "192.168.77.5/24", "gateway": "192.168.77.1"}, {"address": "fd77::5/64"}],
            "routes": [{"dst": "10.99.0.0/16"}]}}),
        );
        let a = rt.call("ADD", &c, "c1", "net1", Some(pod.path()), &args());
        assert!(a.ok, "{a:?}");
        let res = a.out.unwrap();
        let (l, addrs) = pod.link("net1").unwrap();
        assert!(addrs.contains(&"192.168.77.5/24".to_string()), "{addrs:?}");
        assert!(addrs.contains(&"fd77::5/64".to_string()), "{addrs:?}");
        let routes = pod.inside(|| {
            vifman::rtnl::Rtnl::open()
                .unwrap()
                .routes_of(l.index)
                .unwrap()
        });
        assert!(
            routes.iter().any(|r| r.dst.to_string() == "10.99.0.0/16"
                && r.gateway.map(|g| g.to_string()) == Some("192.168.77.1".into())),
            "{routes:?}"
        );
        // tuning, chained: it reads vifman's result and changes the pod's interface.
        let tuning = json!({"cniVersion": "1.0.0", "name": NET, "type": "tuning",
            "promisc": true, "mtu": 1280, "dataDir": t.path().join("tuning").display().to_string(),
            "prevResult": res});
        let mut cmd = under("/usr/lib/cni/tuning");
        cmd.env("CNI_COMMAND", "ADD")
            .env("CNI_CONTAINERID", "c1")
            .env("CNI_IFNAME", "net1")
            .env("CNI_NETNS", pod.path())
            .env("CNI_PATH", CNI_BIN_DIR);
        let o = output_within(cmd, Some(tuning.to_string().as_bytes()), LIMIT);
        assert!(
            o.status.success(),
            "tuning: {} {}",
            text(&o.stdout),
            text(&o.stderr)
        );
        let chained: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(chained["interfaces"][0]["name"], "net1");
        assert_eq!(pod.link("net1").unwrap().0.mtu, 1280);
        // DEL in reverse order: tuning restores what it changed, then vifman.
        let mut cmd = under("/usr/lib/cni/tuning");
        cmd.env("CNI_COMMAND", "DEL")
            .env("CNI_CONTAINERID", "c1")
            .env("CNI_IFNAME", "net1")
            .env("CNI_NETNS", pod.path())
            .env("CNI_PATH", CNI_BIN_DIR);
        let o = output_within(cmd, Some(tuning.to_string().as_bytes()), LIMIT);
        assert!(o.status.success(), "tuning DEL: {}", text(&o.stderr));
        let a = rt.call("DEL", &c, "c1", "net1", Some(pod.path()), &args());
        assert!(a.ok, "{a:?}");
        assert!(link_names().contains(&"enp59s0f1v1".to_string()));
        assert!(rt.records().is_empty());
    });
}

/// A failing IPAM plugin: the netdev goes back home under its name, the VF is restored,
/// no record stays.
#[test]
fn failing_ipam_rolls_everything_back() {
    in_netns("failing_ipam_rolls_everything_back", || {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let fail = bin.join("fail-ipam");
        std::fs::write(&fail, "#!/bin/sh\ncat >/dev/null\n[ \"$CNI_COMMAND\" = DEL ] && exit 0\necho '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"pool exhausted\"}'\nexit 1\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fail, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut rt = Runtime::new(&t.path().join("state"));
        rt.cni_path = bin.display().to_string();
        stand_in("enp59s0f0v5");
        let pod = Pod::new();
        let before = rt.vf("enp59s0f0", 5);
        let c = conf(
            "1.0.0",
            "0000:3b:02.5",
            json!({"vlan": 300, "mtu": 1300, "ipam": {"type": "fail-ipam"}}),
        );
        let a = rt.call("ADD", &c, "c1", "net1", Some(pod.path()), &args());
        assert_eq!(a.code(), 11, "{a:?}");
        assert!(
            a.msg().contains("pool exhausted") && a.msg().contains("rolled back"),
            "{}",
            a.msg()
        );
        assert_eq!(rt.vf("enp59s0f0", 5), before);
        assert!(rt.records().is_empty());
        assert!(pod.link("net1").is_none());
        let l = vifman::cni::sandbox::host_link("enp59s0f0v5").expect("home again");
        assert_eq!(l.mtu, 1500);
        // A kernel refusal of a VF knob (simulated trust EIO) also rolls back, before any move.
        let mut rt2 = Runtime::new(&t.path().join("state"));
        rt2.env.push(("VIFMAN_SIM_FAIL".into(), "vf.trust".into()));
        let c = conf("1.0.0", "0000:3b:02.5", json!({"vlan": 300, "trust": "on"}));
        let a = rt2.call("ADD", &c, "c1", "net1", Some(pod.path()), &args());
        assert_eq!(a.code(), 101, "{a:?}");
        assert!(a.msg().contains("trust"), "{}", a.msg());
        assert_eq!(rt.vf("enp59s0f0", 5), before);
        assert!(rt.records().is_empty());
    });
}
