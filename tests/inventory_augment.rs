//! What `vifman inventory` joins besides the read model: each PF's eswitch mode (devlink's
//! answer, or the representors' evidence on a plain fixture tree) and each device's health
//! verdict (the model `vifman health` uses), in the JSON and the table.

mod common;

use common::*;

/// mlx5 PF with `pfNvfM` representors in the fixture.
const MLX5: &str = "0000:5e:00.0";

fn pf<'a>(inv: &'a serde_json::Value, addr: &str) -> &'a serde_json::Value {
    inventory_device(inv, addr)
}

fn inventory_of(root: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("state");
    let out = vifman_ok(&[
        "inventory",
        "--json",
        "--sysfs-root",
        root,
        "--state-dir",
        s.to_str().unwrap(),
    ]);
    serde_json::from_str(&out).unwrap()
}

fn fixture_inventory() -> serde_json::Value {
    inventory_of(NFV)
}

#[test]
fn a_fixture_tree_answers_the_eswitch_from_its_devlink_record_else_its_representors() {
    let inv = fixture_inventory();
    let p = pf(&inv, MLX5);
    assert_eq!(p["switchdev"], true);
    assert_eq!(p["eswitch"]["mode"], "switchdev", "{}", p["eswitch"]);
    assert_eq!(p["eswitch"]["source"], "devlink");
    assert_eq!(p["eswitch"]["devlink"], format!("pci/{MLX5}"));
    // The second port of the card is in legacy mode by its record.
    let p1 = pf(&inv, "0000:5e:00.1");
    assert_eq!(p1["eswitch"]["mode"], "legacy", "{}", p1["eswitch"]);
    assert_eq!(p1["switchdev"], false);
    // A PF without devlink facts and without representors: nothing to tell.
    assert!(pf(&inv, "0000:af:00.0")["eswitch"].is_null());
    // Every PF has a health verdict, and so has every VF.
    for p in inv["physical_functions"].as_array().unwrap() {
        assert!(p["health"]["healthy"].is_boolean(), "{}", p["address"]);
        for v in p["vfs"].as_array().unwrap() {
            assert!(v["health"]["healthy"].is_boolean(), "{}", v["address"]);
        }
    }

    // Without the record, the representors still say switchdev.
    let dir = tempfile::tempdir().unwrap();
    let root = nfv_copy(dir.path());
    std::fs::remove_file(root.join("devlink.json")).unwrap();
    let inv = inventory_of(root.to_str().unwrap());
    let e = &pf(&inv, MLX5)["eswitch"];
    assert_eq!(
        (e["mode"].as_str(), e["source"].as_str()),
        (Some("switchdev"), Some("representors")),
        "{e}"
    );
    assert!(pf(&inv, "0000:5e:00.1")["eswitch"].is_null());
}

#[test]
fn the_simulated_kernel_answers_the_eswitch_mode_and_inventory_follows_a_change() {
    let sim = SimEnv::with_config("");
    // The simulated kernel exists once a command made it (inventory alone creates nothing).
    sim_kernel(NFV, &sim.state);
    let inv = sim_inventory(NFV, &sim.state);
    let e = &pf(&inv, MLX5)["eswitch"];
    assert_eq!(e["mode"], "switchdev", "{e}");
    assert_eq!(e["source"], "devlink", "{e}");
    assert_eq!(e["devlink"], format!("pci/{MLX5}"), "{e}");

    let host = host_args(&sim.state, &sim.config);
    run_ok(&["eswitch", MLX5, "legacy"], &host);
    let inv = sim_inventory(NFV, &sim.state);
    let p = pf(&inv, MLX5);
    assert_eq!(p["eswitch"]["mode"], "legacy", "{}", p["eswitch"]);
    assert_eq!(p["switchdev"], false);

    let table = run_ok(&["inventory"], &host);
    assert!(
        table.contains(&format!("{MLX5}: ")) && table.contains("eswitch legacy (devlink pci/"),
        "{table}"
    );
}

#[test]
fn a_link_down_pf_is_unhealthy_in_the_inventory_and_its_vfs_say_why() {
    let sim = SimEnv::with_config("");
    let kernel = sim_kernel(NFV, &sim.state);
    // The PF's carrier goes away behind vifman's back.
    let net = kernel.join(format!("sys/bus/pci/devices/{MLX5}/net"));
    let ifname = std::fs::read_dir(&net)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with("np0"))
        .expect("the PF's uplink netdev");
    let class = kernel.join("sys/class/net").join(&ifname);
    std::fs::write(class.join("operstate"), "down\n").unwrap();
    std::fs::write(class.join("carrier"), "0\n").unwrap();

    let inv = sim_inventory(NFV, &sim.state);
    let p = pf(&inv, MLX5);
    assert_eq!(p["health"]["healthy"], false, "{}", p["health"]);
    let vf = &p["vfs"][0];
    assert_eq!(vf["health"]["healthy"], false, "{}", vf["health"]);
    assert!(
        vf["health"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap() == format!("PF {ifname} link is down")),
        "{}",
        vf["health"]
    );
    let table = run_ok(
        &["inventory", "--pf", MLX5],
        &host_args(&sim.state, &sim.config),
    );
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with(MLX5))
        .unwrap();
    assert!(row.trim_end().ends_with("bad"), "{table}");
}

/// The inventory and `plug` (the OVS backend's point lookup of a VF's representor) name the
/// same representor for every VF of the fixture: one matcher behind both.
#[test]
fn inventory_and_plug_agree_on_every_representor() {
    let inv = fixture_inventory();
    let root = vifman::sysfs::SysfsRoot::new(NFV).unwrap();
    let mut seen = 0;
    for p in inv["physical_functions"].as_array().unwrap() {
        for v in p["vfs"].as_array().unwrap() {
            let addr: vifman::types::PciAddress = v["address"].as_str().unwrap().parse().unwrap();
            let looked_up = vifman::sysfs::representor::find_representor(&root, addr).ok();
            assert_eq!(
                v["representor"].as_str(),
                looked_up.as_deref(),
                "{addr}: inventory vs plug's lookup"
            );
            seen += usize::from(looked_up.is_some());
        }
    }
    assert!(
        seen >= 4,
        "the fixture has switchdev VFs with representors ({seen})"
    );
}
