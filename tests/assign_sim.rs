//! VF assignment on simulated hosts, through the real `vifman` binary: every command, read back
//! from the simulated kernel's own files.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// (merged VF netlink state, per device: driver, driver_override, netdev names)
type Snapshot = (
    serde_json::Value,
    BTreeMap<String, (Option<String>, String, Vec<String>)>,
);

/// The shared simulated-host harness; this file's own helpers are in the `impl` below.
type Sim = SimEnv;

impl Sim {
    fn new(fixture: &str, config: &str) -> Sim {
        Sim::on_fixture(fixture, config)
    }
    fn ok(&self, cmd: &str, extra: &[&str]) -> String {
        let o = self.runner(cmd, extra).output();
        assert!(o.status.success(), "{cmd} {extra:?}: {}", text(&o.stderr));
        text(&o.stdout)
    }
    /// The simulated kernel's own files, for an independent reader of its state.
    fn root(&self) -> PathBuf {
        self.kernel_dir()
    }
    /// What "the VF's state" means: VF netlink config, and per device its driver,
    /// driver_override and netdev names.
    fn snapshot(&self) -> Snapshot {
        let root = self.root();
        let state = sim_vf_state(&root);
        let mut devs = BTreeMap::new();
        for e in std::fs::read_dir(root.join("sys/bus/pci/devices")).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let drv = std::fs::read_link(p.join("driver"))
                .ok()
                .map(|l| l.file_name().unwrap().to_string_lossy().into_owned());
            let ovr = std::fs::read_to_string(p.join("driver_override")).unwrap_or_default();
            let mut nets: Vec<String> = std::fs::read_dir(p.join("net"))
                .map(|it| {
                    it.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            nets.sort();
            devs.insert(
                e.file_name().to_string_lossy().into_owned(),
                (drv, ovr, nets),
            );
        }
        (state, devs)
    }
    fn vf_state(&self, pf: &str, vf: u64) -> serde_json::Value {
        let (s, _) = self.snapshot();
        s["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == pf)
            .unwrap()["vfs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["vf"] == vf)
            .unwrap()
            .clone()
    }
}

fn uuid(n: u32) -> String {
    format!("6f0f6f2c-7c9a-4b9d-9c9f-{n:012x}")
}

#[test]
fn allocate_release_restores_exact_original_state() {
    let sim = Sim::new(NFV, CONFIG);
    sim.ok("pools", &[]);
    let before = sim.snapshot();
    // Every mode, with the knobs each model supports.
    let cases: &[(&str, &[&str])] = &[
        (
            "physnet1",
            &[
                "--mac",
                "fa:16:3e:10:00:01",
                "--vlan",
                "10",
                "--trust",
                "on",
                "--max-tx-rate",
                "500",
                "--link-state",
                "disable",
            ],
        ),
        (
            "physnet1",
            &[
                "--mode",
                "hostdev-vfio",
                "--mac",
                "fa:16:3e:10:00:02",
                "--spoofchk",
                "off",
            ],
        ),
        (
            "physnet2",
            &[
                "--mode",
                "direct-passthrough",
                "--mac",
                "fa:16:3e:10:00:03",
                "--vlan",
                "20:5",
                "--vlan-proto",
                "802.1ad",
                "--min-tx-rate",
                "10",
                "--max-tx-rate",
                "100",
            ],
        ),
        ("physnet2", &["--mode", "direct-vepa", "--vlan", "30"]),
        (
            "physnet3",
            &[
                "--mac",
                "fa:16:3e:10:00:05",
                "--vlan",
                "100:3",
                "--spoofchk",
                "off",
                "--max-tx-rate",
                "200",
            ],
        ),
        ("physnet3", &["--mode", "direct-bridge"]),
        (
            "offload",
            &["--mode", "hostdev-vfio", "--mac", "fa:16:3e:10:00:07"],
        ),
    ];
    for round in 0..3 {
        let mut ids = vec![];
        for (i, (net, extra)) in cases.iter().enumerate() {
            let id = uuid(round * 100 + i as u32);
            let mut a = vec![
                "--physnet",
                net,
                "--instance",
                INST,
                "--vif-id",
                id.as_str(),
            ];
            a.extend_from_slice(extra);
            let out = sim.ok("allocate", &a);
            let vif: serde_json::Value = serde_json::from_str(&out).unwrap();
            let class = vif["versioned_object.name"].as_str().unwrap();
            let mode = a
                .iter()
                .position(|x| *x == "--mode")
                .map(|p| a[p + 1])
                .unwrap_or("hostdev");
            assert_eq!(
                class,
                if mode.starts_with("direct") {
                    "VIFDirect"
                } else {
                    "VIFHostDevice"
                },
                "{out}"
            );
            ids.push((id, vif));
        }
        // The kernel state shows what was asked (read from the simulated kernel's files).
        let (_, devs) = sim.snapshot();
        for (id, vif) in &ids {
            let dev = vif["versioned_object.data"]["dev_address"]
                .as_str()
                .unwrap();
            if id.ends_with("01") || id.ends_with("06") {
                assert_eq!(devs[dev].0.as_deref(), Some("vfio-pci"), "{dev}");
                assert_eq!(devs[dev].1.trim(), "vfio-pci");
            }
        }
        let igb = sim.vf_state("enp175s0f0", 1);
        assert_eq!(igb["mac"], "fa:16:3e:10:00:05");
        assert_eq!(
            (igb["vlan"].as_u64(), igb["qos"].as_u64()),
            (Some(100), Some(3))
        );
        assert_eq!(igb["spoofchk"], false);
        assert_eq!(igb["max_tx_rate"], 200);
        for (id, _) in ids.iter().rev() {
            sim.ok("release", &["--vif-id", id]);
        }
        assert_eq!(
            sim.snapshot(),
            before,
            "round {round}: release did not restore the original state"
        );
    }
    let drift = sim.ok("reconcile", &["--json"]);
    let drift: serde_json::Value = serde_json::from_str(&drift).unwrap();
    assert!(
        drift
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["kind"] == "unrecorded"),
        "{drift}"
    );
}

#[test]
fn capability_refusal_touches_nothing_and_forced_kernel_errors_roll_back() {
    let sim = Sim::new(NFV, CONFIG);
    sim.ok("pools", &[]);
    let before = sim.snapshot();
    for (knob, args) in [
        ("link state", vec!["--vlan", "7", "--link-state", "enable"]),
        ("802.1ad", vec!["--vlan", "5", "--vlan-proto", "802.1ad"]),
        ("min_tx_rate", vec!["--vlan", "7", "--min-tx-rate", "10"]),
    ] {
        let id = uuid(900);
        let mut a = vec![
            "--physnet",
            "physnet3",
            "--instance",
            INST,
            "--vif-id",
            id.as_str(),
            "--mac",
            "fa:16:3e:99:00:01",
        ];
        a.extend(args.iter().copied());
        let o = sim.runner("allocate", &a).output();
        assert_eq!(o.status.code(), Some(1), "{knob}");
        let err = text(&o.stderr);
        assert!(
            err.contains("cannot set") && err.contains(knob) && err.contains("nothing was changed"),
            "{err}"
        );
        assert_eq!(
            sim.snapshot(),
            before,
            "{knob}: refused request changed state"
        );
        a.push("--force-unsupported");
        let o = sim.runner("allocate", &a).output();
        assert_eq!(o.status.code(), Some(1));
        let err = text(&o.stderr);
        assert!(
            err.contains("rolled back")
                && (err.contains("EOPNOTSUPP")
                    || err.contains("EPROTONOSUPPORT")
                    || err.contains("EINVAL")),
            "{err}"
        );
        assert_eq!(
            sim.snapshot(),
            before,
            "{knob}: kernel refusal was not rolled back"
        );
    }
}

#[test]
fn injected_failure_at_each_step_rolls_back() {
    let sim = Sim::new(NFV, CONFIG);
    sim.ok("pools", &[]);
    let before = sim.snapshot();
    let all = [
        "--mac",
        "fa:16:3e:77:00:01",
        "--vlan",
        "300:2",
        "--min-tx-rate",
        "5",
        "--max-tx-rate",
        "50",
        "--spoofchk",
        "off",
        "--link-state",
        "enable",
        "--mode",
        "hostdev-vfio",
    ];
    for step in [
        "vf.mac",
        "vf.vlan",
        "vf.rate",
        "vf.spoofchk",
        "vf.link_state",
        "driver_override",
        "unbind",
        "probe",
    ] {
        let id = uuid(700);
        let mut a = vec![
            "--physnet",
            "physnet2",
            "--instance",
            INST,
            "--vif-id",
            id.as_str(),
        ];
        a.extend(all);
        let o = sim
            .runner("allocate", &a)
            .env("VIFMAN_SIM_FAIL", format!("{step}:EIO"))
            .output();
        assert_eq!(o.status.code(), Some(1), "{step}");
        let err = text(&o.stderr);
        assert!(
            err.contains("EIO") && err.contains("rolled back"),
            "{step}: {err}"
        );
        assert_eq!(sim.snapshot(), before, "{step}: not rolled back");
        assert!(
            sim.ok("allocations", &["--json"]).trim() == "[]",
            "{step}: record left behind"
        );
    }
    // Trust on the trusted pool, failing at trust (the last knob).
    let id = uuid(701);
    let o = sim
        .runner(
            "allocate",
            &[
                "--physnet",
                "physnet1",
                "--instance",
                INST,
                "--vif-id",
                &id,
                "--mac",
                "fa:16:3e:77:00:02",
                "--trust",
                "on",
            ],
        )
        .env("VIFMAN_SIM_FAIL", "vf.trust:EPERM")
        .output();
    assert!(
        text(&o.stderr).contains("trust failed") && text(&o.stderr).contains("EPERM"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(sim.snapshot(), before);
}

#[test]
fn bad_input_is_rejected_without_state_change() {
    let sim = Sim::new(NFV, CONFIG);
    sim.ok("pools", &[]);
    let before = sim.snapshot();
    let id = uuid(1);
    let base = vec![
        "--physnet",
        "physnet3",
        "--instance",
        INST,
        "--vif-id",
        id.as_str(),
    ];
    for (extra, needle) in [
        (vec!["--mac", "01:00:5e:00:00:01"], "multicast"),
        (vec!["--mac", "00:00:00:00:00:00"], "cannot be given"),
        (vec!["--mac", "fa:16:3e:00:00"], "--mac"),
        (vec!["--vlan", "4096"], "--vlan"),
        (vec!["--vlan", "10:8"], "QoS 8"),
        (vec!["--vlan-proto", "802.1ad"], "needs a VLAN"),
        (vec!["--vlan", "4095"], "reserved"),
        (vec!["--min-tx-rate", "100", "--max-tx-rate", "10"], "above"),
    ] {
        let mut a = base.clone();
        a.extend(extra.iter().copied());
        let o = sim.runner("allocate", &a).output();
        assert_eq!(o.status.code(), Some(1), "{extra:?}");
        assert!(
            text(&o.stderr).contains(needle),
            "{extra:?}: {}",
            text(&o.stderr)
        );
    }
    let o = sim
        .runner(
            "allocate",
            &["--physnet", "nope", "--instance", INST, "--vif-id", &id],
        )
        .output();
    assert!(
        text(&o.stderr).contains("unknown physnet \"nope\""),
        "{}",
        text(&o.stderr)
    );
    let o = sim
        .runner(
            "allocate",
            &[
                "--physnet",
                "physnet3",
                "--instance",
                "not-a-uuid",
                "--vif-id",
                &id,
            ],
        )
        .output();
    assert!(text(&o.stderr).contains("not a UUID"));
    let o = sim.runner("numvfs", &["../../x", "2"]).output();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("neither a PCI address nor an interface name"),
        "{}",
        text(&o.stderr)
    );
    let o = sim
        .runner("numvfs", &["averyveryverylongifname", "2"])
        .output();
    assert!(text(&o.stderr).contains("15"), "{}", text(&o.stderr));
    let o = sim.runner("release", &["--vif-id", &uuid(4242)]).output();
    assert!(
        text(&o.stderr).contains("no allocation"),
        "{}",
        text(&o.stderr)
    );
    // A bad config names file, line and key.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[[device_spec]]\nphysical_network = \"p\"\nproduct_id = \"zzzz\"\n",
    )
    .unwrap();
    let o = vifman(&[
        "pools",
        "--sysfs-root",
        NFV,
        "--simulate",
        "--state-dir",
        sim.state.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let err = text(&o.stderr);
    assert!(
        // The bad value's line and column, not the [[device_spec]] header's.
        err.contains("bad.toml:3:14: device_spec[0].product_id"),
        "{err}"
    );
    assert_eq!(sim.snapshot(), before);
}

#[test]
fn numvfs_follows_kernel_rules() {
    let sim = Sim::new(NFV, CONFIG);
    let pf = "enp175s0f0";
    let count = |s: &Sim| {
        std::fs::read_dir(s.root().join("sys/bus/pci/devices/0000:af:00.0"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("virtfn")
            })
            .count()
    };
    sim.ok("pools", &[]);
    assert_eq!(count(&sim), 4);
    assert!(sim.ok("numvfs", &[pf, "2"]).contains("4 -> 2"));
    assert_eq!(count(&sim), 2);
    let o = sim.runner("numvfs", &[pf, "99"]).output();
    assert!(text(&o.stderr).contains("at most 7"), "{}", text(&o.stderr));
    sim.ok("numvfs", &["0000:af:00.0", "0"]);
    assert_eq!(count(&sim), 0);
    sim.ok("numvfs", &[pf, "3", "--autoprobe", "off"]);
    let (_, devs) = sim.snapshot();
    assert_eq!(
        devs["0000:af:10.0"].0, None,
        "autoprobe off leaves VFs unbound"
    );
    sim.ok("numvfs", &[pf, "7", "--autoprobe", "on"]);
    let (_, devs) = sim.snapshot();
    // igb: offset 128, stride 2, so VF 6 is at devfn 0x8c = slot 0x11 function 4.
    assert_eq!(devs["0000:af:11.4"].0.as_deref(), Some("igbvf"));
    assert_eq!(devs["0000:af:11.4"].2, vec!["enp175s0f0v6".to_string()]);
    // Refused while a VF of the PF is allocated.
    let id = uuid(5);
    sim.ok(
        "allocate",
        &["--physnet", "physnet3", "--instance", INST, "--vif-id", &id],
    );
    let o = sim.runner("numvfs", &[pf, "2"]).output();
    assert!(
        text(&o.stderr).contains("allocated VF"),
        "{}",
        text(&o.stderr)
    );
    sim.ok("release", &["--vif-id", &id]);
}

#[test]
fn dry_run_changes_nothing() {
    let sim = Sim::new(NFV, CONFIG);
    sim.ok("pools", &[]);
    let before = sim.snapshot();
    let out = sim.ok(
        "allocate",
        &[
            "--physnet",
            "physnet1",
            "--instance",
            INST,
            "--vif-id",
            &uuid(3),
            "--mac",
            "fa:16:3e:00:00:31",
            "--mode",
            "hostdev-vfio",
            "--dry-run",
        ],
    );
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["bind_driver"], "vfio-pci");
    assert_eq!(plan["knobs"][0], "mac fa:16:3e:00:00:31");
    assert_eq!(sim.snapshot(), before);
    assert_eq!(sim.ok("allocations", &["--json"]).trim(), "[]");
}

fn spread_config(dir: &Path) -> String {
    let p = dir.join("pool.toml");
    std::fs::write(&p, "exclude_default_route = false\n[[device_spec]]\naddress = \"*:*:*.*\"\nphysical_network = \"p\"\n").unwrap();
    p.display().to_string()
}

#[test]
fn concurrent_processes_never_share_a_vf() {
    let work = tempfile::tempdir().unwrap();
    let fx = work.path().join("host");
    let o = vifman(&[
        "fixture",
        "generate",
        "--pfs",
        "2",
        "--vfs",
        "32",
        fx.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let sim = Sim::new(fx.to_str().unwrap(), &spread_config(work.path()));
    let pools: serde_json::Value = serde_json::from_str(&sim.ok("pools", &["--json"])).unwrap();
    let free = pools["pools"][0]["free"].as_u64().unwrap();
    assert!(free >= 48, "pool too small: {pools}");
    let before = sim.snapshot();
    // 8 workers x 50 allocate/verify/release cycles. Each checks, while it holds the VF, that
    // the VF's admin MAC is its own: a VF handed out twice would carry someone else's.
    let workers: Vec<_> = (0..8u32)
        .map(|w| {
            let args_base = sim.args_for("allocate", &[]);
            let rel_base = sim.args_for("release", &[]);
            let root = sim.root();
            std::thread::spawn(move || {
                let mut held = vec![];
                for i in 0..50u32 {
                    let id = uuid(w * 1000 + i);
                    let mac = format!("02:77:00:{w:02x}:{:02x}:{:02x}", i >> 8, i & 0xff);
                    let mut a: Vec<String> = args_base.clone();
                    a.extend(
                        [
                            "--physnet",
                            "p",
                            "--instance",
                            INST,
                            "--vif-id",
                            &id,
                            "--mac",
                            &mac,
                        ]
                        .iter()
                        .map(|s| s.to_string()),
                    );
                    let o = Vifman::new(&a).output();
                    assert!(
                        o.status.success(),
                        "worker {w} alloc {i}: {}",
                        text(&o.stderr)
                    );
                    let vif: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                    let dev = vif["versioned_object.data"]["dev_address"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    let state = sim_vf_state(&root).to_string();
                    assert_eq!(
                        state.matches(&format!("\"{mac}\"")).count(),
                        1,
                        "worker {w}: MAC {mac} not exactly once"
                    );
                    held.push(dev);
                    let mut r: Vec<String> = rel_base.clone();
                    r.extend(["--vif-id".to_string(), id]);
                    let o = Vifman::new(&r).output();
                    assert!(
                        o.status.success(),
                        "worker {w} release {i}: {}",
                        text(&o.stderr)
                    );
                }
                held
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.join().unwrap().len();
    }
    assert_eq!(total, 400);
    assert_eq!(sim.ok("allocations", &["--json"]).trim(), "[]");
    assert_eq!(sim.snapshot(), before, "a VF was lost or left configured");
}

#[test]
fn concurrent_holders_get_distinct_vfs() {
    let work = tempfile::tempdir().unwrap();
    let fx = work.path().join("host");
    assert!(vifman(&[
        "fixture",
        "generate",
        "--pfs",
        "2",
        "--vfs",
        "32",
        fx.to_str().unwrap()
    ])
    .status
    .success());
    let sim = Sim::new(fx.to_str().unwrap(), &spread_config(work.path()));
    let pools: serde_json::Value = serde_json::from_str(&sim.ok("pools", &["--json"])).unwrap();
    let free = pools["pools"][0]["free"].as_u64().unwrap() as u32;
    // 8 processes race to take every free VF, plus a few more than exist.
    let per = free / 8 + 1;
    let workers: Vec<_> = (0..8u32)
        .map(|w| {
            let base = sim.args_for("allocate", &[]);
            std::thread::spawn(move || {
                let mut got = vec![];
                for i in 0..per {
                    let id = uuid(50_000 + w * 1000 + i);
                    let mut a = base.clone();
                    a.extend(
                        ["--physnet", "p", "--instance", INST, "--vif-id", &id]
                            .iter()
                            .map(|s| s.to_string()),
                    );
                    let o = Vifman::new(&a).output();
                    if o.status.success() {
                        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                        got.push(
                            v["versioned_object.data"]["dev_address"]
                                .as_str()
                                .unwrap()
                                .to_string(),
                        );
                    } else {
                        assert!(
                            text(&o.stderr).contains("no free VF"),
                            "{}",
                            text(&o.stderr)
                        );
                    }
                }
                got
            })
        })
        .collect();
    let mut all: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a VF was handed out twice");
    assert_eq!(
        n as u32, free,
        "every free VF handed out exactly once, none lost"
    );
}

#[test]
fn kill_9_at_random_points_then_reconcile() {
    let work = tempfile::tempdir().unwrap();
    let fx = work.path().join("host");
    assert!(vifman(&[
        "fixture",
        "generate",
        "--pfs",
        "1",
        "--vfs",
        "16",
        fx.to_str().unwrap()
    ])
    .status
    .success());
    let sim = Sim::new(fx.to_str().unwrap(), &spread_config(work.path()));
    sim.ok("pools", &[]);
    let before = sim.snapshot();
    let steps = [
        "vf.mac",
        "vf.vlan",
        "vf.spoofchk",
        "driver_override",
        "unbind",
        "probe",
    ];
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut live: Vec<String> = vec![];
    for i in 0..200u32 {
        let id = uuid(80_000 + i);
        let r = rnd();
        let crash_release = !live.is_empty() && r % 3 == 0;
        let mut a = if crash_release {
            let victim = live[(r as usize / 3) % live.len()].clone();
            let mut a = sim.args_for("release", &[]);
            a.extend(["--vif-id".into(), victim]);
            a
        } else {
            let mut a = sim.args_for("allocate", &[]);
            a.extend(
                [
                    "--physnet",
                    "p",
                    "--instance",
                    INST,
                    "--vif-id",
                    &id,
                    "--mac",
                    "fa:16:3e:aa:00:01",
                    "--vlan",
                    "9",
                    "--spoofchk",
                    "off",
                    "--mode",
                    "hostdev-vfio",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            a
        };
        let mut cmd = command();
        cmd.args(&a[..])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if r % 2 == 0 {
            // Deterministic abort() at a chosen step: the process dies mid-actuation.
            cmd.env("VIFMAN_SIM_CRASH", steps[(r as usize >> 8) % steps.len()]);
            let _ = cmd.status().unwrap();
        } else {
            // A real SIGKILL after a random delay.
            let mut child = cmd.spawn().unwrap();
            std::thread::sleep(std::time::Duration::from_micros(r % 15_000));
            let _ = child.kill();
            let _ = child.wait();
        }
        a.clear();
        // The store always loads, and reconcile --repair makes records and hardware agree.
        let list: serde_json::Value =
            serde_json::from_str(&sim.ok("allocations", &["--json"])).unwrap();
        let drift: serde_json::Value =
            serde_json::from_str(&sim.ok("reconcile", &["--repair", "--json"])).unwrap();
        for d in drift.as_array().unwrap() {
            assert!(
                d["kind"] == "unrecorded"
                    || d["repaired"]
                        .as_str()
                        .is_some_and(|r| !r.contains("failed")),
                "iteration {i}: {d}"
            );
        }
        let again: serde_json::Value =
            serde_json::from_str(&sim.ok("reconcile", &["--json"])).unwrap();
        assert!(
            again
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["kind"] == "unrecorded"),
            "iteration {i}: still drifting after repair: {again} (records before: {list})"
        );
        let recs: serde_json::Value =
            serde_json::from_str(&sim.ok("allocations", &["--json"])).unwrap();
        let recs = recs.as_array().unwrap();
        let mut vfs: Vec<&str> = recs.iter().map(|r| r["vf"].as_str().unwrap()).collect();
        let n = vfs.len();
        vfs.sort();
        vfs.dedup();
        assert_eq!(vfs.len(), n, "iteration {i}: duplicate VF in the store");
        assert!(recs.iter().all(|r| r["phase"] == "active"));
        live = recs
            .iter()
            .map(|r| r["vif_id"].as_str().unwrap().to_string())
            .collect();
    }
    for id in &live {
        sim.ok("release", &["--vif-id", id]);
    }
    assert_eq!(sim.snapshot(), before, "a VF leaked configuration");
}
