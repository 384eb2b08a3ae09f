//! `vifman inventory` lists SR-IOV PFs that are not PCI functions (netdevsim's bus device,
//! `sys/bus/netdevsim/devices/netdevsimN`, VFs as netlink records of its netdev) in
//! `bus_functions`, on the simulated host: VF knobs from the records, representors from the
//! devlink port map by the same point lookup as a lookup by PF netdev, the eswitch and
//! devlink health of the instance. Malformed input (an unreadable VF count, a damaged devlink
//! record) is a warning, never a failed inventory. The real-kernel side is the VM scenario
//! `netdevsim`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

const ND: &str = "eni7np0";
const DEV: &str = "netdevsim/netdevsim7";

struct Nsim {
    sim: SimEnv,
    kernel: PathBuf,
}

fn symlink(target: &str, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// A netdev under netdevsim device 7, laid out as the kernel lays it out.
fn netdev(k: &Path, name: &str, ifindex: u32, port_name: &str) {
    let net = k.join("sys/devices/netdevsim7/net").join(name);
    std::fs::create_dir_all(&net).unwrap();
    symlink("../../../netdevsim7", &net.join("device"));
    for (f, v) in [
        ("ifindex", ifindex.to_string().as_str()),
        ("operstate", "up"),
        ("flags", "0x1003"),
        ("mtu", "1500"),
        ("address", "02:00:00:07:00:00"),
        ("type", "1"),
        ("phys_port_name", port_name),
    ] {
        std::fs::write(net.join(f), format!("{v}\n")).unwrap();
    }
    symlink(
        &format!("../../devices/netdevsim7/net/{name}"),
        &k.join("sys/class/net").join(name),
    );
}

impl Nsim {
    /// The nfv-host simulation plus netdevsim device 7 with 3 VFs behind eni7np0 (VF 1
    /// configured), in switchdev mode: the devlink record has its instance, its physical port
    /// and a `pcivf` port per VF with a representor netdev.
    fn new() -> Nsim {
        let sim = SimEnv::with_config("");
        let k = sim_kernel(NFV, &sim.state);
        let dev = k.join("sys/devices/netdevsim7");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("sriov_numvfs"), "3\n").unwrap();
        symlink("../../bus/netdevsim", &dev.join("subsystem"));
        symlink("../../bus/netdevsim/drivers/netdevsim", &dev.join("driver"));
        std::fs::create_dir_all(k.join("sys/bus/netdevsim/drivers/netdevsim")).unwrap();
        symlink(
            "../../../devices/netdevsim7",
            &k.join("sys/bus/netdevsim/devices/netdevsim7"),
        );
        netdev(&k, ND, 907, "p0");
        for vf in 0..3 {
            netdev(
                &k,
                &format!("eth{}", 10 + vf),
                910 + vf,
                &format!("pf0vf{vf}"),
            );
        }
        let shards = k.join("vf-state.d");
        std::fs::create_dir_all(&shards).unwrap();
        let vf = |i: u32| {
            if i == 1 {
                json!({"vf": 1, "mac": "02:11:22:33:44:55", "vlan": 200, "qos": 3,
                    "vlan_proto": "802.1ad", "spoofchk": false, "trust": true,
                    "link_state": "disable", "min_tx_rate": 10, "max_tx_rate": 100})
            } else {
                json!({"vf": i, "mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0,
                    "vlan_proto": "802.1Q", "spoofchk": true, "trust": false,
                    "link_state": "auto", "min_tx_rate": 0, "max_tx_rate": 0})
            }
        };
        let link = json!({"ifname": ND, "ifindex": 907, "num_vf": 3,
            "vfs": (0..3).map(vf).collect::<Vec<_>>()});
        std::fs::write(shards.join(format!("{ND}.json")), link.to_string()).unwrap();
        let n = Nsim { sim, kernel: k };
        n.set_record("switchdev", true);
        n
    }

    /// The tree's devlink record with netdevsim7's instance in `mode`, its physical port, and
    /// (`vf_ports`) one `pcivf` port per VF whose netdev is its representor.
    fn set_record(&self, mode: &str, vf_ports: bool) {
        let file = self.kernel.join("devlink.json");
        let mut r: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let h = json!({"bus": "netdevsim", "dev": "netdevsim7"});
        let mine = |v: &Value| v["dev"] == h;
        r["instances"].as_array_mut().unwrap().retain(|i| !mine(i));
        r["instances"]
            .as_array_mut()
            .unwrap()
            .push(json!({"dev": h, "mode": mode, "driver": "netdevsim"}));
        let ports = r["ports"].as_array_mut().unwrap();
        ports.retain(|p| !mine(p));
        ports.push(
            json!({"dev": h, "index": 0, "flavour": "physical", "controller": 0,
            "external": false, "netdev_ifindex": 907, "netdev": ND}),
        );
        if vf_ports {
            for vf in 0..3u32 {
                // Port indexes in another order than the VFs: the VF number decides.
                ports.push(
                    json!({"dev": h, "index": 3 - vf, "flavour": "pcivf", "pfnum": 0,
                    "vfnum": vf, "controller": 0, "external": false,
                    "netdev_ifindex": 910 + vf, "netdev": format!("eth{}", 10 + vf)}),
                );
            }
        }
        std::fs::write(&file, r.to_string()).unwrap();
    }

    fn inventory(&self, extra: &[&str]) -> Value {
        let mut a = vec!["inventory", "--json"];
        a.extend(extra);
        let o = self.sim.run(&a, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

fn warnings(inv: &Value) -> String {
    inv["warnings"].to_string()
}

#[test]
fn a_netdevsim_pf_is_listed_with_its_vf_records_representors_and_eswitch() {
    let n = Nsim::new();
    std::fs::write(
        n.kernel.join(".vifman-sim-devlink-health.json"),
        json!([{"dev": {"bus": "netdevsim", "dev": "netdevsim7"}, "name": "dummy",
            "state": "error", "error_count": 2, "recover_count": 1},
            {"dev": {"bus": "netdevsim", "dev": "netdevsim7"}, "name": "empty",
            "state": "healthy"}])
        .to_string(),
    )
    .unwrap();
    let inv = n.inventory(&[]);
    // Additive: the PCI part and the key order are as before, bus_functions after it.
    let keys: Vec<&str> = inv
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "schema_version",
            "sysfs_root",
            "vf_state_source",
            "physical_functions",
            "bus_functions",
            "warnings"
        ]
    );
    assert_eq!(inv["schema_version"], 1);
    let bus = inv["bus_functions"].as_array().unwrap();
    assert_eq!(bus.len(), 1, "{bus:#?}");
    let pf = &bus[0];
    let pf_keys: Vec<&str> = pf.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        pf_keys,
        [
            "device",
            "bus",
            "driver",
            "netdevs",
            "sriov",
            "switchdev",
            "eswitch",
            "health",
            "vfs"
        ]
    );
    assert_eq!(pf["device"], DEV);
    assert_eq!(pf["bus"], "netdevsim");
    assert_eq!(pf["driver"], "netdevsim");
    // The representors hang off the same device but are not its PF netdevs.
    assert_eq!(pf["netdevs"].as_array().unwrap().len(), 1);
    assert_eq!(pf["netdevs"][0]["name"], ND);
    assert_eq!(pf["netdevs"][0]["ifindex"], 907);
    assert_eq!(pf["sriov"], json!({"total_vfs": null, "num_vfs": 3}));
    assert_eq!(pf["switchdev"], true);
    assert_eq!(
        pf["eswitch"],
        json!({"mode": "switchdev", "source": "devlink", "devlink": DEV})
    );
    assert_eq!(pf["health"]["healthy"], false);
    assert_eq!(
        pf["health"]["reasons"],
        json!(["devlink health reporter dummy in error (2 errors)"])
    );
    assert_eq!(pf["health"]["devlink"][0]["error_count"], 2);
    assert_eq!(pf["health"]["devlink"][1]["name"], "empty");

    let vfs = pf["vfs"].as_array().unwrap();
    assert_eq!(
        vfs.iter()
            .map(|v| (v["index"].clone(), v["representor"].clone()))
            .collect::<Vec<_>>(),
        vec![
            (json!(0), json!("eth10")),
            (json!(1), json!("eth11")),
            (json!(2), json!("eth12"))
        ]
    );
    assert_eq!(
        vfs[1]["admin"],
        json!({"mac": "02:11:22:33:44:55", "vlan": 200, "qos": 3, "vlan_proto": "802.1ad",
            "spoofchk": false, "trust": true, "link_state": "disable",
            "min_tx_rate": 10, "max_tx_rate": 100})
    );
    assert_eq!(vfs[0]["pf_netdev"], ND);
    assert_eq!(vfs[0]["free"], false);
    assert!(vfs[0].get("stats").is_none(), "stats only with --stats");
    // The netdevsim link is a PF now, not a stray link with VFs.
    assert!(
        !warnings(&inv).contains(&format!("vf-state:{ND}")),
        "{}",
        warnings(&inv)
    );
    // The PCI PFs are untouched: nfv-host's representors still come from its record.
    let pci = inventory_device(&inv, "0000:5e:00.0");
    assert_eq!(pci["vfs"][0]["representor"], "enp94s0f0r0");

    // `vf show` names the same representors, by the same point lookup (PF netdev, VF).
    let o = n.sim.run(&["vf", "show", ND, "--json"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    let pairs = |a: &Value, idx: &str| -> Vec<(Value, Value)> {
        a.as_array()
            .unwrap()
            .iter()
            .map(|v| (v[idx].clone(), v["representor"].clone()))
            .collect()
    };
    assert_eq!(pairs(&shown, "vf_index"), pairs(&pf["vfs"], "index"));
    // And for a PCI VF, the inventory's (the port map's) representor.
    let o = n
        .sim
        .run(&["vf", "show", "0000:5e:00.0", "0", "--json"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown["representor"], pci["vfs"][0]["representor"]);

    // The table shows them too.
    let o = n.sim.run(&["inventory"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = text(&o.stdout);
    assert!(t.contains("NON-PCI PF"), "{t}");
    assert!(
        t.contains(&format!(
            "{DEV}: 3 of - VFs enabled, 3 listed (not PCI functions: not allocatable), eswitch switchdev (devlink {DEV})"
        )),
        "{t}"
    );
    let vf1 = t
        .lines()
        .find(|l| l.trim_start().starts_with("vf1 ") && l.contains(ND))
        .unwrap_or_else(|| panic!("no vf1 row: {t}"));
    for cell in [
        "02:11:22:33:44:55",
        "200/3 (802.1ad)",
        "on/off",
        "disable",
        "10/100",
        "eth11",
    ] {
        assert!(vf1.contains(cell), "{cell} not in {vf1:?}");
    }
}

/// Legacy mode: the instance is there without VF ports, so no representors and no fallback
/// to name parsing (stale `pfNvfM` netdevs do not count); the eswitch says legacy.
#[test]
fn legacy_mode_has_no_representors() {
    let n = Nsim::new();
    n.set_record("legacy", false);
    let inv = n.inventory(&[]);
    let pf = &inv["bus_functions"][0];
    assert_eq!(pf["eswitch"]["mode"], "legacy");
    assert_eq!(pf["switchdev"], false);
    assert!(pf["vfs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["representor"].is_null()));
    assert_eq!(pf["vfs"].as_array().unwrap().len(), 3);
    let o = n.sim.run(&["vf", "show", ND, "1", "--json"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(shown.get("representor").is_none(), "{shown}");
}

/// `--pf` by netdev or by `bus/name`; a PCI selector leaves them out; `--vendor` drops them
/// (no PCI vendor); `--free` keeps the PF and empties its VF list (never free); `--stats`
/// adds counters to their VFs too.
#[test]
fn filters_apply_to_non_pci_pfs() {
    let n = Nsim::new();
    for sel in [ND, DEV] {
        let inv = n.inventory(&["--pf", sel]);
        assert_eq!(inv["physical_functions"], json!([]), "--pf {sel}");
        assert_eq!(inv["bus_functions"][0]["device"], DEV, "--pf {sel}");
    }
    let inv = n.inventory(&["--pf", "0000:5e:00.0"]);
    assert!(inv.get("bus_functions").is_none(), "{inv}");
    let inv = n.inventory(&["--vendor", "15b3"]);
    assert!(inv.get("bus_functions").is_none());
    let inv = n.inventory(&["--free"]);
    assert_eq!(inv["bus_functions"][0]["vfs"], json!([]));
    let inv = n.inventory(&["--stats", "--pf", ND]);
    assert!(
        inv["bus_functions"][0]["vfs"][0]
            .as_object()
            .unwrap()
            .contains_key("stats"),
        "{inv}"
    );
    let o = n
        .sim
        .run(&["inventory", "--pf", "netdevsim/netdevsim9"], &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no SR-IOV physical function matches --pf netdevsim/netdevsim9"),
        "{}",
        stderr(&o)
    );
    let o = n.sim.run(&["inventory", "--pf", "a/b/c"], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("BUS/DEVICE"), "{}", stderr(&o));
    // Only the non-PCI PF: its table alone.
    let o = n.sim.run(&["inventory", "--pf", ND], &[]);
    let t = text(&o.stdout);
    assert!(t.trim_start().starts_with("NON-PCI PF"), "{t}");
}

/// Malformed input is a warning naming what was wrong, and the PF is still listed: a VF
/// count that is not a number, a devlink record that is not one (then no port map at all:
/// no representors, the eswitch from the representors' absence unknown).
#[test]
fn malformed_input_is_a_warning_not_a_failure() {
    let n = Nsim::new();
    std::fs::write(
        n.kernel.join("sys/devices/netdevsim7/sriov_numvfs"),
        "three\n",
    )
    .unwrap();
    let inv = n.inventory(&[]);
    let pf = &inv["bus_functions"][0];
    assert_eq!(pf["sriov"]["num_vfs"], Value::Null);
    assert_eq!(
        pf["vfs"].as_array().unwrap().len(),
        3,
        "the records still show"
    );
    let w = warnings(&inv);
    assert!(
        w.contains("/sys/bus/netdevsim/devices/netdevsim7/sriov_numvfs")
            && w.contains("VF count unknown")
            && w.contains("not a count"),
        "{w}"
    );

    std::fs::write(n.kernel.join("devlink.json"), "{not json").unwrap();
    let inv = n.inventory(&[]);
    let pf = &inv["bus_functions"][0];
    assert!(
        warnings(&inv).contains("/devlink.json"),
        "{}",
        warnings(&inv)
    );
    assert!(pf["vfs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["representor"].is_null()));
    assert_eq!(pf["eswitch"], Value::Null);
    // The table too.
    let o = n.sim.run(&["inventory"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}
