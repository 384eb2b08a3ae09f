//! Every command that reads or changes the host takes the same host arguments (one shared
//! clap group, `cli::hostargs::HostArgs`), and `inventory` uses `--config` for its pools.

mod common;

use common::{text, vifman, CONFIG, NFV};

const HOST_FLAGS: [&str; 4] = ["--sysfs-root", "--simulate", "--state-dir", "--config"];

#[test]
fn every_host_command_accepts_the_same_set() {
    let mut cmds: Vec<Vec<&str>> = [
        "inventory",
        "pci",
        "pools",
        "allocations",
        "reconcile",
        "release",
        "numvfs",
        "allocate",
    ]
    .iter()
    .map(|c| vec![*c])
    .collect();
    cmds.extend([
        vec!["eswitch"],
        vec!["vf", "rate"],
        vec!["rate-node", "list"],
        vec!["rate-node", "add"],
        vec!["rate-node", "set"],
        vec!["rate-node", "del"],
    ]);
    if cfg!(feature = "fleet") {
        cmds.extend([
            vec!["device-plugin"],
            vec!["placement", "sync"],
            vec!["metrics"],
        ]);
    }
    for c in &cmds {
        let mut args = c.clone();
        args.push("--help");
        let o = vifman(&args);
        assert!(o.status.success(), "{c:?}: {}", text(&o.stderr));
        let help = text(&o.stdout);
        for f in HOST_FLAGS {
            assert!(help.contains(f), "{c:?} lacks {f}:\n{help}");
        }
    }
}

#[test]
fn inventory_shows_pools_from_the_config_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let s = state.to_str().unwrap();
    let inv = |extra: &[&str]| -> serde_json::Value {
        let mut a = vec!["inventory", "--json", "--sysfs-root", NFV, "--state-dir", s];
        a.extend_from_slice(extra);
        let o = vifman(&a);
        assert!(o.status.success(), "{}", text(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let pools_of = |v: &serde_json::Value| -> Vec<Option<String>> {
        v["physical_functions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|pf| pf["vfs"].as_array().unwrap().iter())
            .map(|vf| vf.get("pool").and_then(|p| p.as_str()).map(str::to_string))
            .collect()
    };
    assert!(
        pools_of(&inv(&[])).iter().all(Option::is_none),
        "no config, no pool field"
    );
    let with = pools_of(&inv(&["--config", CONFIG]));
    let count = |p: &str| with.iter().filter(|x| x.as_deref() == Some(p)).count();
    // The same totals `vifman pools` reports for this config and host.
    let pools_state = dir.path().join("pools-state");
    let o = vifman(&[
        "pools",
        "--json",
        "--sysfs-root",
        NFV,
        "--config",
        CONFIG,
        "--state-dir",
        pools_state.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let pools: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // inventory lists VFs, so only the VF pools (a type-PF pool of the same physnet is the
    // PF handed out whole, which inventory does not mark).
    for p in pools["pools"].as_array().unwrap() {
        if p["device_type"] != "type-VF" {
            continue;
        }
        let name = p["physnet"].as_str().unwrap();
        let want = p["total"].as_u64().unwrap() - p["excluded"].as_u64().unwrap();
        assert_eq!(count(name) as u64, want, "pool {name}");
    }
    assert!(count("physnet1") > 0);
    // inventory and pci refuse a config they cannot read, like every other host command.
    for cmd in ["inventory", "pci"] {
        let o = vifman(&[
            cmd,
            "--sysfs-root",
            NFV,
            "--state-dir",
            s,
            "--config",
            "/nonexistent/vifman.toml",
        ]);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        assert!(
            text(&o.stderr).contains("/nonexistent/vifman.toml"),
            "{cmd}"
        );
    }
    assert!(!state.exists(), "read-only commands created the state dir");
}
