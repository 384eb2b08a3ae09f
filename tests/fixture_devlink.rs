//! The devlink record of a fixture tree (`devlink.json`, issue 16): representors of a fixture
//! or simulated host come from its port map by the live host's rule, not from
//! `phys_port_name`; the simulated kernel keeps the record current (eswitch mode, VF ports
//! and representor netdevs, the mlx5 VF reset, EBUSY while rate nodes exist); a malformed
//! record is a warning and the readers fall back to name parsing.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

const MLX_PF: &str = "0000:5e:00.0";

fn record_path(root: &Path) -> PathBuf {
    root.join("devlink.json")
}

fn read_record(root: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(record_path(root)).unwrap()).unwrap()
}

fn write_record(root: &Path, v: &Value) {
    std::fs::write(record_path(root), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// The `pcivf` ports of `pf` in a record, as (vfnum, netdev).
fn vf_ports(rec: &Value, pf: &str) -> Vec<(u64, String)> {
    rec["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["dev"]["dev"] == pf && p["flavour"] == "pcivf")
        .map(|p| {
            (
                p["vfnum"].as_u64().unwrap(),
                p["netdev"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn mode_in(rec: &Value, pf: &str) -> String {
    rec["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["dev"]["dev"] == pf)
        .unwrap()["mode"]
        .as_str()
        .unwrap()
        .to_string()
}

/// VF index → representor of `pf` in an inventory.
fn representors(inv: &Value, pf: &str) -> Vec<(u64, Option<String>)> {
    inventory_device(inv, pf)["vfs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["index"].as_u64().unwrap(),
                v["representor"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn inventory(args: &[&str]) -> Value {
    let mut a = vec!["inventory", "--json"];
    a.extend(args);
    let o = vifman(&a);
    assert!(o.status.success(), "inventory: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn warnings(inv: &Value) -> Vec<String> {
    inv["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            format!(
                "{}: {}",
                w["path"].as_str().unwrap(),
                w["message"].as_str().unwrap()
            )
        })
        .collect()
}

fn some(v: &[(u64, &str)]) -> Vec<(u64, Option<String>)> {
    v.iter().map(|(i, n)| (*i, Some(n.to_string()))).collect()
}

#[test]
fn the_shipped_fixture_records_the_mlx5_port_map() {
    let rec = read_record(Path::new(NFV));
    assert_eq!(mode_in(&rec, MLX_PF), "switchdev");
    assert_eq!(mode_in(&rec, "0000:5e:00.1"), "legacy");
    assert_eq!(
        vf_ports(&rec, MLX_PF),
        (0..4)
            .map(|i| (i, format!("enp94s0f0r{i}")))
            .collect::<Vec<_>>()
    );
    assert!(vf_ports(&rec, "0000:5e:00.1").is_empty());
    // VF 0's port function carries the VF's admin MAC, as mlx5 reports it.
    let vf0 = rec["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["dev"]["dev"] == MLX_PF && p["vfnum"] == 0)
        .unwrap();
    assert_eq!(vf0["function"]["hw_addr"], "fa:16:3e:5e:00:00");
}

#[test]
fn representors_come_from_the_port_map_on_fixture_and_simulated_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let root = nfv_copy(dir.path());
    // The record says VF 1 is represented by enp94s0f0r2 and VF 2 by enp94s0f0r1 (a
    // renamed pair), and VF 3 has no port; phys_port_name says pf0vf1, pf0vf2, pf0vf3.
    let mut rec = read_record(&root);
    for p in rec["ports"].as_array_mut().unwrap() {
        if p["dev"]["dev"] == MLX_PF {
            match p["vfnum"].as_u64() {
                Some(1) => p["netdev"] = "enp94s0f0r2".into(),
                Some(2) => p["netdev"] = "enp94s0f0r1".into(),
                _ => {}
            }
        }
    }
    rec["ports"]
        .as_array_mut()
        .unwrap()
        .retain(|p| !(p["dev"]["dev"] == MLX_PF && p["vfnum"] == 3));
    write_record(&root, &rec);
    let ppn = |n: &str| {
        std::fs::read_to_string(root.join(format!("sys/class/net/{n}/phys_port_name"))).unwrap()
    };
    assert_eq!(ppn("enp94s0f0r1").trim(), "pf0vf1");
    assert_eq!(ppn("enp94s0f0r3").trim(), "pf0vf3");
    let want = vec![
        (0, Some("enp94s0f0r0".to_string())),
        (1, Some("enp94s0f0r2".to_string())),
        (2, Some("enp94s0f0r1".to_string())),
        (3, None),
    ];

    let r = root.display().to_string();
    let state = dir.path().join("state");
    let s = state.display().to_string();
    // The fixture read as it is, and `--simulate` before the simulated kernel exists (which
    // reads the same tree), then the simulated kernel's own read of its copy.
    let plain = inventory(&["--sysfs-root", &r, "--state-dir", &s]);
    assert_eq!(representors(&plain, MLX_PF), want);
    // `plug`'s point lookup of a VF's representor (the OVS backend's) gives the same answer.
    let sysfs = vifman::sysfs::SysfsRoot::new(&root).unwrap();
    for (vf, rep) in &want {
        let addr = inventory_device(&plain, MLX_PF)["vfs"][*vf as usize]["address"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let looked_up = vifman::sysfs::representor::find_representor(&sysfs, addr).ok();
        assert_eq!(&looked_up, rep, "VF {vf}: plug's lookup vs the inventory");
    }
    assert!(
        warnings(&plain).iter().all(|w| !w.contains("devlink")),
        "{:?}",
        warnings(&plain)
    );
    let sim = inventory(&["--simulate", "--sysfs-root", &r, "--state-dir", &s]);
    assert_eq!(representors(&sim, MLX_PF), want);
    sim_kernel(&r, &state);
    let sim = inventory(&["--simulate", "--sysfs-root", &r, "--state-dir", &s]);
    assert_eq!(representors(&sim, MLX_PF), want);
    assert_eq!(inventory_device(&sim, MLX_PF)["switchdev"], true);
}

#[test]
fn switchdev_to_legacy_and_back_on_the_simulated_host_updates_the_record() {
    let env = SimEnv::with_config("");
    let host = host_args(&env.state, &env.config);
    let kernel = sim_kernel(NFV, &env.state);
    let before = sim_inventory(NFV, &env.state);
    assert_eq!(
        representors(&before, MLX_PF),
        some(&[
            (0, "enp94s0f0r0"),
            (1, "enp94s0f0r1"),
            (2, "enp94s0f0r2"),
            (3, "enp94s0f0r3")
        ])
    );

    let out = run_ok(&["eswitch", MLX_PF, "legacy", "--json"], &host);
    let change: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(change["order"], "vfs-unbound");
    let rec = read_record(&kernel);
    assert_eq!(mode_in(&rec, MLX_PF), "legacy");
    assert!(vf_ports(&rec, MLX_PF).is_empty(), "{rec:#}");
    for i in 0..4 {
        assert!(
            !kernel.join(format!("sys/class/net/enp94s0f0r{i}")).exists(),
            "representor {i} removed"
        );
    }
    let legacy = sim_inventory(NFV, &env.state);
    assert_eq!(
        representors(&legacy, MLX_PF),
        (0..4).map(|i| (i, None)).collect::<Vec<_>>()
    );
    let pf = inventory_device(&legacy, MLX_PF);
    assert_eq!(pf["switchdev"], false);
    let names: Vec<&str> = pf["netdevs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["enp94s0f0np0"]);
    // mlx5 resets the VFs' configuration on a mode change: VF 0's admin MAC is gone.
    let vf0 = &pf["vfs"][0];
    assert_eq!(vf0["admin"]["mac"], "00:00:00:00:00:00", "{vf0:#}");
    // The simulated kernel's eswitch answer is the record's.
    let shown: Value =
        serde_json::from_str(&run_ok(&["eswitch", "enp94s0f0np0", "--json"], &host)).unwrap();
    assert_eq!(shown["mode"], "legacy");
    assert_eq!(shown["vf_representors"], 0);

    // Back to switchdev: a port and a representor per VF again, named as udev would.
    let out = run_ok(&["eswitch", MLX_PF, "switchdev", "--json"], &host);
    let change: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(change["representors"], 4, "{change:#}");
    let rec = read_record(&kernel);
    assert_eq!(mode_in(&rec, MLX_PF), "switchdev");
    assert_eq!(
        vf_ports(&rec, MLX_PF),
        (0..4)
            .map(|i| (i, format!("enp94s0f0r{i}")))
            .collect::<Vec<_>>()
    );
    let after = sim_inventory(NFV, &env.state);
    assert_eq!(representors(&after, MLX_PF), representors(&before, MLX_PF));
    assert_eq!(inventory_device(&after, MLX_PF)["switchdev"], true);
    // The VFs were rebound by the engine: their ports' functions say attached.
    assert!(rec["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["dev"]["dev"] == MLX_PF && p["flavour"] == "pcivf")
        .all(|p| p["function"]["opstate"] == "attached"
            && p["function"]["hw_addr"] == "00:00:00:00:00:00"));
    // A VF MAC set shows as its port function's hw_addr, as mlx5 reports it.
    run_ok(
        &["vf", "set", "enp94s0f0np0", "1", "mac", "fa:16:3e:5e:00:11"],
        &host,
    );
    let rec = read_record(&kernel);
    let vf1 = rec["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["dev"]["dev"] == MLX_PF && p["vfnum"] == 1)
        .unwrap();
    assert_eq!(vf1["function"]["hw_addr"], "fa:16:3e:5e:00:11", "{vf1:#}");
}

#[test]
fn a_vf_count_change_in_switchdev_adds_and_removes_ports() {
    let env = SimEnv::with_config("");
    let host = host_args(&env.state, &env.config);
    let kernel = sim_kernel(NFV, &env.state);
    // Port 1 is legacy with no VFs: to switchdev, then two VFs.
    run_ok(&["eswitch", "0000:5e:00.1", "switchdev"], &host);
    assert!(vf_ports(&read_record(&kernel), "0000:5e:00.1").is_empty());
    run_ok(&["numvfs", "0000:5e:00.1", "2"], &host);
    assert_eq!(
        vf_ports(&read_record(&kernel), "0000:5e:00.1"),
        vec![
            (0, "enp94s0f1r0".to_string()),
            (1, "enp94s0f1r1".to_string())
        ]
    );
    let inv = sim_inventory(NFV, &env.state);
    assert_eq!(
        representors(&inv, "0000:5e:00.1"),
        some(&[(0, "enp94s0f1r0"), (1, "enp94s0f1r1")])
    );
    run_ok(&["numvfs", "0000:5e:00.1", "0"], &host);
    assert!(vf_ports(&read_record(&kernel), "0000:5e:00.1").is_empty());
    assert!(!kernel.join("sys/class/net/enp94s0f1r0").exists());
}

#[test]
fn rate_nodes_make_the_simulated_kernel_refuse_mode_changes() {
    use vifman::devlink::EswitchMode;
    use vifman::host::{Host, PfId, SimHost};
    let env = SimEnv::with_config("");
    let host = host_args(&env.state, &env.config);
    let kernel = sim_kernel(NFV, &env.state);
    let mut rec = read_record(&kernel);
    rec["rates"] = serde_json::json!([{
        "dev": {"bus": "pci", "dev": MLX_PF},
        "type": "node",
        "name": "tenants",
        "tx_share": 0,
        "tx_max": 125000000
    }]);
    write_record(&kernel, &rec);
    let sim = SimHost::open(Path::new(NFV), &env.state).unwrap();
    let pf = PfId::Pci(MLX_PF.parse().unwrap());
    let e = sim.eswitch_of(&pf).unwrap().unwrap();
    assert_eq!(e.rate_nodes, ["tenants"]);
    // The bare kernel request: EBUSY, before the driver's own rule is consulted (the VFs
    // are bound, which mlx5 would refuse with EBUSY too; the message tells them apart).
    let err = sim.set_eswitch_mode(&pf, EswitchMode::Legacy).unwrap_err();
    assert_eq!(err.errno(), Some(libc::EBUSY), "{err}");
    assert!(err.to_string().contains("Rate node(s) exists"), "{err}");
    // The engine refuses before asking, naming the node; nothing changed.
    let mut a: Vec<String> = ["eswitch", MLX_PF, "legacy"].map(String::from).to_vec();
    a.extend(host.clone());
    let o = Vifman::new(&a).output();
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("tenants"), "{}", text(&o.stderr));
    assert_eq!(mode_in(&read_record(&kernel), MLX_PF), "switchdev");
}

#[test]
fn a_malformed_record_is_a_warning_and_representors_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = nfv_copy(dir.path());
    let r = root.display().to_string();
    let s = dir.path().join("state").display().to_string();
    let expect = some(&[
        (0, "enp94s0f0r0"),
        (1, "enp94s0f0r1"),
        (2, "enp94s0f0r2"),
        (3, "enp94s0f0r3"),
    ]);
    // Not JSON at all, and JSON that no kernel would report (a VF port in legacy mode, with
    // the map otherwise saying VF 1 has no representor): both ignored whole.
    let mut bad = read_record(&root);
    for i in bad["instances"].as_array_mut().unwrap() {
        i["mode"] = "legacy".into();
    }
    bad["ports"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["vfnum"] != 1);
    for (content, why) in [
        ("{\"instances\": [".to_string(), "not a devlink record"),
        (serde_json::to_string(&bad).unwrap(), "legacy mode"),
    ] {
        std::fs::write(record_path(&root), &content).unwrap();
        let inv = inventory(&["--sysfs-root", &r, "--state-dir", &s]);
        assert_eq!(
            representors(&inv, MLX_PF),
            expect,
            "falls back to phys_port_name"
        );
        let w = warnings(&inv);
        assert!(
            w.iter()
                .any(|w| w.starts_with("/devlink.json: ignored:") && w.contains(why)),
            "{w:?}"
        );
    }
    // The simulated kernel over the damaged tree: the same warning, and its eswitch still
    // answers (from the fixture's representors, as without a record).
    sim_kernel(&r, Path::new(&s));
    let inv = inventory(&["--simulate", "--sysfs-root", &r, "--state-dir", &s]);
    assert_eq!(representors(&inv, MLX_PF), expect);
    assert!(warnings(&inv)
        .iter()
        .any(|w| w.starts_with("/devlink.json: ignored:")));
    let o = vifman(&[
        "eswitch",
        MLX_PF,
        "--json",
        "--simulate",
        "--sysfs-root",
        &r,
        "--state-dir",
        &s,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let e: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["mode"], "switchdev");
}
