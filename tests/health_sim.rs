//! The health model on the simulated host (issue 17 point 5): each input (PF link down, VF
//! with no driver, AER counters, a carrier flap storm), the debounce both ways driven by
//! `vifman health --now` and the state file (no wall clock), the exit status, malformed AER
//! files, and the device-plugin and Placement views of the same model.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// Debounce: two samples over 10 s to turn unhealthy, two over 20 s to recover.
const CONFIG: &str = r#"
[[device_spec]]
pf_names = ["enp59s0f1"]
physical_network = "physnet1"

[health]
unhealthy_after_samples = 2
unhealthy_after_secs = 10
healthy_after_samples = 2
healthy_after_secs = 20
max_carrier_changes = 6
flap_window_secs = 60
"#;

const PF: &str = "0000:3b:00.1";
const PF_NETDEV: &str = "enp59s0f1";
const VF: &str = "0000:3b:0a.1";

/// The shared simulated-host harness on [`CONFIG`]; this file's own helpers are in the `impl`
/// below.
type Sim = SimEnv;

impl Sim {
    /// The simulated kernel exists from the start: tests change its files before any command.
    fn new() -> Sim {
        let sim = Sim::with_config(CONFIG);
        sim.kernel_dir();
        sim
    }

    fn health(&self, extra: &[&str]) -> Output {
        let mut a = vec!["health", "--json", "--all"];
        a.extend_from_slice(extra);
        self.run(&a, &[])
    }

    /// `vifman health --now T`: the report as JSON, and the exit status.
    fn at(&self, now: u64) -> (serde_json::Value, Option<i32>) {
        let t = now.to_string();
        let o = self.health(&["--now", &t]);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{}",
            text(&o.stderr)
        );
        (serde_json::from_slice(&o.stdout).unwrap(), o.status.code())
    }

    fn dev_file(&self, addr: &str, name: &str) -> PathBuf {
        self.kernel_dir()
            .join(format!("sys/bus/pci/devices/{addr}/{name}"))
    }

    fn net_file(&self, netdev: &str, name: &str) -> PathBuf {
        self.kernel_dir()
            .join(format!("sys/class/net/{netdev}/{name}"))
    }
}

fn device<'a>(r: &'a serde_json::Value, kind: &str, addr: &str) -> &'a serde_json::Value {
    r["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind && d["address"] == addr)
        .unwrap_or_else(|| panic!("{kind} {addr} not in {r:#}"))
}

fn reasons(d: &serde_json::Value) -> Vec<String> {
    d["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_shipped_host_and_the_exit_status() {
    let sim = Sim::new();
    let (r, code) = sim.at(1000);
    // nfv-host ships with two PF links down and two VFs with no driver.
    assert_eq!(code, Some(1));
    assert_eq!(r["healthy"], false);
    assert_eq!(
        reasons(device(&r, "pf", "0000:af:00.1")),
        vec!["PF enp175s0f1 link is down"]
    );
    assert_eq!(
        reasons(device(&r, "vf", "0000:3b:0a.7")),
        vec!["VF is not bound to a driver"]
    );
    assert_eq!(device(&r, "vf", VF)["healthy"], true);
    // The table lists the unhealthy devices only; exit 1 without --json too.
    let o = sim.run(&["health", "--instant"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(out.contains("0000:86:02.3") && !out.contains(VF), "{out}");
}

#[test]
fn pf_link_down_debounces_both_ways_and_reaches_its_vfs() {
    let sim = Sim::new();
    assert_eq!(device(&sim.at(0).0, "vf", VF)["healthy"], true);
    std::fs::write(sim.net_file(PF_NETDEV, "operstate"), "down\n").unwrap();
    // First bad sample: pending, still healthy.
    let (r, _) = sim.at(5);
    let pf = device(&r, "pf", PF);
    assert_eq!(pf["healthy"], true);
    assert_eq!(pf["pending"][0], "PF enp59s0f1 link is down");
    // Second sample but held only 4 s: still healthy.
    assert_eq!(device(&sim.at(9).0, "vf", VF)["healthy"], true);
    // Held two samples and 10 s: PF and its VFs unhealthy.
    let (r, _) = sim.at(15);
    assert_eq!(device(&r, "pf", PF)["healthy"], false);
    assert_eq!(
        reasons(device(&r, "vf", VF)),
        vec!["PF enp59s0f1 link is down"]
    );
    // Link back: unhealthy until two clean samples over 20 s.
    std::fs::write(sim.net_file(PF_NETDEV, "operstate"), "up\n").unwrap();
    assert_eq!(device(&sim.at(20).0, "vf", VF)["healthy"], false);
    assert_eq!(device(&sim.at(30).0, "vf", VF)["healthy"], false);
    let (r, _) = sim.at(40);
    assert_eq!(device(&r, "vf", VF)["healthy"], true);
    assert_eq!(device(&r, "pf", PF)["since"], 40);
}

#[test]
fn aer_counters_in_the_kernel_format_and_garbage() {
    let sim = Sim::new();
    std::fs::write(
        sim.dev_file(VF, "aer_dev_fatal"),
        "Undefined 0\nDLP 1\nSDES 0\nTOTAL_ERR_FATAL 1\n",
    )
    .unwrap();
    std::fs::write(
        sim.dev_file(VF, "aer_dev_correctable"),
        "RxErr 3\nBadTLP 0\nTOTAL_ERR_COR 3\n",
    )
    .unwrap();
    std::fs::write(
        sim.dev_file(PF, "aer_dev_nonfatal"),
        "TOTAL_ERR_NONFATAL oops\n",
    )
    .unwrap();
    let o = sim.health(&["--instant"]);
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = device(&r, "vf", VF);
    assert_eq!(reasons(v), vec!["PCIe AER: 1 fatal errors"]);
    assert_eq!(v["aer"]["fatal"], 1);
    assert_eq!(v["aer"]["correctable"], 3);
    assert_eq!(v["aer"]["nonfatal"], serde_json::Value::Null);
    // The garbage file: a warning naming it, the PF judged on the rest.
    let w = r["warnings"].to_string();
    assert!(
        w.contains(&format!("{PF}/aer_dev_nonfatal")) && w.contains("not a count"),
        "{w}"
    );
    assert_eq!(device(&r, "pf", PF)["healthy"], true);
}

#[test]
fn new_nonfatal_errors_between_samples() {
    let sim = Sim::new();
    let nf = sim.dev_file(VF, "aer_dev_nonfatal");
    std::fs::write(&nf, "TOTAL_ERR_NONFATAL 4\n").unwrap();
    // Old errors are the baseline.
    assert_eq!(device(&sim.at(0).0, "vf", VF)["healthy"], true);
    std::fs::write(&nf, "TOTAL_ERR_NONFATAL 6\n").unwrap();
    assert_eq!(
        device(&sim.at(5).0, "vf", VF)["pending"][0],
        "PCIe AER: 2 new non-fatal errors"
    );
    std::fs::write(&nf, "TOTAL_ERR_NONFATAL 7\n").unwrap();
    let (r, _) = sim.at(20);
    assert_eq!(
        reasons(device(&r, "vf", VF)),
        vec!["PCIe AER: 1 new non-fatal errors"]
    );
}

#[test]
fn a_flap_storm_over_the_debounce() {
    let sim = Sim::new();
    let cc = sim.net_file(PF_NETDEV, "carrier_changes");
    for (now, count, healthy) in [(0, 2, true), (10, 4, true), (20, 10, true), (30, 14, false)] {
        std::fs::write(&cc, format!("{count}\n")).unwrap();
        let (r, _) = sim.at(now);
        let pf = device(&r, "pf", PF);
        assert_eq!(pf["healthy"], healthy, "at {now}: {pf}");
        if !healthy {
            assert!(
                reasons(pf)[0].starts_with("link flapping: 12 carrier changes"),
                "{pf}"
            );
            assert!(reasons(device(&r, "vf", VF))[0].contains("link flapping"));
        }
    }
}

#[test]
fn driver_missing_with_instant_and_no_state_file() {
    let sim = Sim::new();
    std::fs::remove_file(sim.dev_file(VF, "driver")).unwrap();
    let o = sim.health(&["--instant"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        reasons(device(&r, "vf", VF)),
        vec!["VF is not bound to a driver"]
    );
    assert_eq!(r["debounced"], false);
    assert!(!sim.state.join("health.json").exists());
}

/// The first `vifman health` on a host whose state dir does not exist yet makes it (0700) and
/// keeps the history there, so the second run debounces instead of starting afresh.
#[test]
fn a_missing_state_dir_is_made_for_the_history() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("var/lib/vifman");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/nfv-host");
    let args = [
        "health",
        "--json",
        "--sysfs-root",
        root.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--now",
        "100",
    ];
    let o = vifman(&args);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        text(&o.stderr)
    );
    assert!(
        !text(&o.stderr).contains("cannot keep the health state"),
        "{}",
        text(&o.stderr)
    );
    let meta = std::fs::metadata(&state).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert!(state.join("health.json").is_file());
}

/// The device plugin and Placement see the same model, debounced by the tracker a
/// long-running process keeps.
#[cfg(feature = "fleet")]
#[test]
fn device_plugin_and_placement_views() {
    use vifman::fleet::snapshot::take_with;
    use vifman::inventory::health::Tracker;
    let sim = Sim::new();
    let host = vifman::host::SimHost::open(Path::new(NFV), &sim.state).unwrap();
    let config = vifman::config::Config::load(Path::new(&sim.config)).unwrap();
    let engine = vifman::engine::Engine::new(&host, &config, &sim.state);
    let mut t = Tracker::default();
    let reserved = |snap: &vifman::fleet::snapshot::Snapshot| {
        vifman::fleet::placement::sync::desired(snap, "hv1", None)
            .iter()
            .flat_map(|p| p.inventories.values())
            .map(|i| i.reserved)
            .sum::<u64>()
    };
    let (snap, _) = take_with(&engine, &mut t, 0).unwrap();
    assert!(snap.vf(&VF.parse().unwrap()).unwrap().healthy);
    let base = reserved(&snap);
    std::fs::write(sim.net_file(PF_NETDEV, "operstate"), "down\n").unwrap();
    let (snap, _) = take_with(&engine, &mut t, 5).unwrap();
    assert!(
        snap.vf(&VF.parse().unwrap()).unwrap().healthy,
        "one sample: no churn"
    );
    assert_eq!(reserved(&snap), base);
    let (snap, report) = take_with(&engine, &mut t, 15).unwrap();
    let v = snap.vf(&VF.parse().unwrap()).unwrap();
    assert!(!v.healthy);
    assert_eq!(v.reason.as_deref(), Some("PF enp59s0f1 link is down"));
    assert!(report.unhealthy().any(|d| d.device.to_string() == PF));
    assert!(reserved(&snap) > base, "the PF's free VFs are reserved");
}

/// `vifman metrics`: the model's gauges, for every PF and VF.
#[cfg(feature = "fleet")]
#[test]
fn metrics_carry_the_model() {
    let sim = Sim::new();
    std::fs::write(sim.dev_file(VF, "aer_dev_correctable"), "TOTAL_ERR_COR 7\n").unwrap();
    let m = run_ok(&["metrics"], &sim.host());
    let s = |kind: &str, dev: &str, nd: &str| {
        format!("vifman_device_healthy{{kind=\"{kind}\",device=\"{dev}\",netdev=\"{nd}\"}}")
    };
    assert_eq!(
        metric(&m, &s("pf", "0000:af:00.1", "enp175s0f1")),
        Some(0.0),
        "{m}"
    );
    assert_eq!(metric(&m, &s("pf", PF, PF_NETDEV)), Some(1.0), "{m}");
    assert_eq!(metric(&m, &s("vf", "0000:86:02.3", "")), Some(0.0), "{m}");
    assert_eq!(
        metric(
            &m,
            &format!(
                "vifman_device_aer_errors{{kind=\"vf\",device=\"{VF}\",severity=\"correctable\"}}"
            )
        ),
        Some(7.0),
        "{m}"
    );
}

/// Devlink health reporters (issue 16 point 5) in the one model: the simulated kernel
/// reports what a test plants in `.vifman-sim-devlink-health.json` (the real host dumps
/// DEVLINK_CMD_HEALTH_REPORTER_GET). A PF reporter in error makes the PF unhealthy with the
/// reporter's reason, and every VF of that PF with it (the device plugin's view); `vifman
/// metrics` reports both as 0. A garbage file is a warning, not a failed check.
#[test]
fn a_devlink_reporter_in_error_makes_the_pf_and_its_vfs_unhealthy() {
    let sim = Sim::new();
    let file = sim.kernel_dir().join(".vifman-sim-devlink-health.json");
    let plant = |state: &str, errors: u64| {
        let j = serde_json::json!([
            {"dev": {"bus": "pci", "dev": PF}, "name": "fw_fatal", "state": "healthy"},
            {"dev": {"bus": "pci", "dev": PF}, "port": 1, "name": "tx", "state": state,
             "error_count": errors, "recover_count": 1},
            {"dev": {"bus": "netdevsim", "dev": "netdevsim1"}, "name": "dummy", "state": "error"}
        ]);
        std::fs::write(&file, j.to_string()).unwrap();
    };
    plant("error", 3);
    let o = sim.health(&["--instant"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let why = "devlink health reporter tx (port 1) in error (3 errors)";
    let pf = device(&r, "pf", PF);
    assert_eq!(reasons(pf), vec![why]);
    assert_eq!(pf["devlink"][1]["name"], "tx");
    assert_eq!(pf["devlink"][1]["error_count"], 3);
    assert_eq!(pf["devlink"][0]["healthy"], true);
    assert_eq!(
        reasons(device(&r, "vf", VF)),
        vec![format!("PF {PF}: {why}")]
    );
    // The table names the reporter too.
    let out = text(&sim.run(&["health", "--instant"], &[]).stdout);
    assert!(out.contains(why), "{out}");

    // The inventory shows the same verdict (never advancing the debounce state).
    let inv = sim.run(&["inventory", "--json"], &[]);
    assert!(inv.status.success(), "{}", text(&inv.stderr));
    let inv: serde_json::Value = serde_json::from_slice(&inv.stdout).unwrap();
    let ipf = inventory_device(&inv, PF);
    assert_eq!(ipf["health"]["healthy"], false, "{}", ipf["health"]);
    assert!(
        ipf["health"]["reasons"].to_string().contains(why),
        "{}",
        ipf["health"]
    );
    let ivf = inventory_device(&inv, VF);
    assert_eq!(ivf["health"]["healthy"], false, "{}", ivf["health"]);

    // The device plugin's snapshot (what ListAndWatch sends kubelet) marks the VF
    // unhealthy with the reporter's reason once the debounce has seen it twice.
    #[cfg(feature = "fleet")]
    {
        use vifman::fleet::snapshot::take_with;
        let host = vifman::host::SimHost::open(Path::new(NFV), &sim.state).unwrap();
        let config = vifman::config::Config::load(Path::new(&sim.config)).unwrap();
        let engine = vifman::engine::Engine::new(&host, &config, &sim.state);
        let mut t = vifman::inventory::health::Tracker::default();
        let vf: vifman::types::PciAddress = VF.parse().unwrap();
        take_with(&engine, &mut t, 0).unwrap();
        take_with(&engine, &mut t, 5).unwrap();
        let (snap, _) = take_with(&engine, &mut t, 15).unwrap();
        let v = snap.vf(&vf).unwrap();
        assert!(!v.healthy, "{v:?}");
        assert_eq!(
            v.reason.as_deref(),
            Some(format!("PF {PF}: {why}").as_str())
        );
    }

    #[cfg(feature = "fleet")]
    {
        let m = run_ok(&["metrics"], &sim.host());
        let pf_series =
            format!("vifman_device_healthy{{kind=\"pf\",device=\"{PF}\",netdev=\"{PF_NETDEV}\"}}");
        assert_eq!(metric(&m, &pf_series), Some(0.0), "{m}");
        let vf_healthy = m
            .lines()
            .find(|l| l.starts_with("vifman_device_healthy{kind=\"vf\"") && l.contains(VF))
            .unwrap_or_else(|| panic!("no series for {VF}: {m}"));
        assert!(vf_healthy.ends_with(" 0"), "{vf_healthy}");
    }

    // Recovered: healthy again (instant).
    plant("healthy", 3);
    let o = sim.health(&["--instant"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(device(&r, "pf", PF)["healthy"], true);
    assert_eq!(device(&r, "vf", VF)["healthy"], true);

    std::fs::write(&file, "{not json").unwrap();
    let o = sim.health(&["--instant"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        r["warnings"]
            .to_string()
            .contains("vifman-sim-devlink-health.json"),
        "{r:#}"
    );
    assert_eq!(device(&r, "pf", PF)["healthy"], true);
}

/// `--devlink` reads the live kernel only: refused on the simulated host, with exit 2.
#[test]
fn devlink_flag_is_refused_on_the_simulated_host() {
    let sim = Sim::new();
    let o = sim.health(&["--devlink", "pci/0000:3b:00.1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("simulated"), "{}", text(&o.stderr));
}
