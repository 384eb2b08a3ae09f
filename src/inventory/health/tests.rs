use super::*;
use crate::sysfs::aer::AerCounts;

fn pf() -> PciAddress {
    "0000:3b:00.0".parse().unwrap()
}
fn vf() -> PciAddress {
    "0000:3b:02.0".parse().unwrap()
}

fn good_pf() -> Sample {
    Sample {
        present: true,
        driver: Some("ice".parse().unwrap()),
        netdev: Some("ens1f0".into()),
        operstate: Some("up".into()),
        carrier_changes: Some(2),
        ..Default::default()
    }
}
fn good_vf() -> Sample {
    Sample {
        present: true,
        driver: Some("iavf".parse().unwrap()),
        ..Default::default()
    }
}

fn inputs(p: Sample, v: Sample) -> Vec<HealthInput> {
    vec![
        HealthInput {
            kind: Kind::Pf,
            device: pf().into(),
            pf: None,
            sample: p,
        },
        HealthInput {
            kind: Kind::Vf,
            device: vf().into(),
            pf: Some(pf()),
            sample: v,
        },
    ]
}

fn policy() -> HealthPolicy {
    HealthPolicy {
        unhealthy_after_samples: 2,
        unhealthy_after_secs: 10,
        healthy_after_samples: 3,
        healthy_after_secs: 30,
        max_carrier_changes: 6,
        flap_window_secs: 60,
    }
}

fn vf_health(r: &HealthReport) -> &DeviceHealth {
    r.get(Kind::Vf, &vf()).unwrap()
}

#[test]
fn a_first_sample_is_taken_as_it_is() {
    let mut t = Tracker::default();
    let down = Sample {
        operstate: Some("down".into()),
        ..good_pf()
    };
    let r = t.observe(&policy(), 100, &inputs(down, good_vf()));
    let v = vf_health(&r);
    assert!(!v.healthy);
    assert_eq!(v.reasons, vec!["PF ens1f0 link is down".to_string()]);
}

#[test]
fn link_down_debounces_both_ways() {
    let p = policy();
    let mut t = Tracker::default();
    let down = Sample {
        operstate: Some("down".into()),
        ..good_pf()
    };
    assert!(vf_health(&t.observe(&p, 0, &inputs(good_pf(), good_vf()))).healthy);
    // One bad sample: still healthy, the condition pending.
    let r = t.observe(&p, 5, &inputs(down.clone(), good_vf()));
    let pfh = r.get(Kind::Pf, &pf()).unwrap();
    assert!(pfh.healthy && vf_health(&r).healthy);
    assert_eq!(pfh.pending, vec!["PF ens1f0 link is down".to_string()]);
    // A second sample too soon (held 4 s < 10 s): still healthy.
    assert!(vf_health(&t.observe(&p, 9, &inputs(down.clone(), good_vf()))).healthy);
    // Held two samples and 10 s: unhealthy, with the PF's reason on the VF.
    let r = t.observe(&p, 15, &inputs(down.clone(), good_vf()));
    assert!(!vf_health(&r).healthy);
    assert_eq!(vf_health(&r).reasons, vec!["PF ens1f0 link is down"]);
    // Back up: unhealthy until three clean samples over 30 s.
    for now in [20, 30, 40] {
        assert!(!vf_health(&t.observe(&p, now, &inputs(good_pf(), good_vf()))).healthy);
    }
    let r = t.observe(&p, 50, &inputs(good_pf(), good_vf()));
    assert!(vf_health(&r).healthy, "{r:?}");
    assert_eq!(r.get(Kind::Pf, &pf()).unwrap().since, 50);
}

#[test]
fn one_flap_in_a_clean_run_does_not_churn() {
    let p = policy();
    let mut t = Tracker::default();
    t.observe(&p, 0, &inputs(good_pf(), good_vf()));
    let down = Sample {
        operstate: Some("down".into()),
        ..good_pf()
    };
    t.observe(&p, 5, &inputs(down, good_vf()));
    let r = t.observe(&p, 10, &inputs(good_pf(), good_vf()));
    assert!(vf_health(&r).healthy && r.unhealthy().count() == 0);
}

#[test]
fn a_flap_storm_over_the_window_is_unhealthy() {
    let p = policy();
    let mut t = Tracker::default();
    let at = |c| Sample {
        carrier_changes: Some(c),
        ..good_pf()
    };
    t.observe(&p, 0, &inputs(at(10), good_vf()));
    // 4 changes in 10 s: under the limit of 6.
    let r = t.observe(&p, 10, &inputs(at(14), good_vf()));
    assert_eq!(
        r.get(Kind::Pf, &pf()).unwrap().carrier_changes_in_window,
        Some(4)
    );
    assert!(r.get(Kind::Pf, &pf()).unwrap().pending.is_empty());
    // 8 changes within 20 s: a storm, pending, then held: unhealthy.
    t.observe(&p, 20, &inputs(at(18), good_vf()));
    let r = t.observe(&p, 30, &inputs(at(22), good_vf()));
    let h = r.get(Kind::Pf, &pf()).unwrap();
    assert!(!h.healthy);
    assert!(
        h.reasons[0].starts_with("link flapping: 12 carrier changes"),
        "{h:?}"
    );
    assert!(vf_health(&r).reasons[0].starts_with("PF 0000:3b:00.0: link flapping"));
    // A counter that went backwards (netdev re-created) restarts the history, no storm.
    let r = t.observe(&p, 40, &inputs(at(0), good_vf()));
    assert_eq!(
        r.get(Kind::Pf, &pf()).unwrap().carrier_changes_in_window,
        None
    );
}

#[test]
fn aer_fatal_at_start_and_new_nonfatal_errors() {
    let p = HealthPolicy {
        unhealthy_after_samples: 1,
        unhealthy_after_secs: 0,
        ..policy()
    };
    let mut t = Tracker::default();
    let aer = |nf, f| Sample {
        aer: AerCounts {
            correctable: Some(40),
            nonfatal: Some(nf),
            fatal: Some(f),
        },
        ..good_vf()
    };
    // Old non-fatal errors at the first sample are a baseline, old fatal ones count.
    let r = t.observe(&p, 0, &inputs(good_pf(), aer(3, 0)));
    assert!(vf_health(&r).healthy);
    let r = t.observe(&p, 1, &inputs(good_pf(), aer(5, 0)));
    assert_eq!(
        vf_health(&r).reasons,
        vec!["PCIe AER: 2 new non-fatal errors"]
    );
    let mut t = Tracker::default();
    let r = t.observe(&p, 0, &inputs(good_pf(), aer(0, 1)));
    assert_eq!(vf_health(&r).reasons, vec!["PCIe AER: 1 fatal errors"]);
}

#[test]
fn driver_missing_quarantine_and_devlink_hook() {
    let mut t = Tracker::default();
    let v = Sample {
        driver: None,
        quarantine: Some("reset failed: EIO".into()),
        devlink: vec![DevlinkReporter {
            name: "tx".into(),
            port: None,
            healthy: false,
            error_count: 3,
            recover_count: 0,
        }],
        ..good_vf()
    };
    let r = t.observe(&policy(), 0, &inputs(good_pf(), v));
    assert_eq!(
        vf_health(&r).reasons,
        vec![
            "quarantined: reset failed: EIO",
            "VF is not bound to a driver",
            "devlink health reporter tx in error (3 errors)",
        ]
    );
    assert!(vf_health(&r).quarantined);
}

#[test]
fn the_tracker_survives_a_state_file_round_trip() {
    let p = policy();
    let mut t = Tracker::default();
    t.observe(&p, 0, &inputs(good_pf(), good_vf()));
    let text = serde_json::to_string(&t).unwrap();
    let back: Tracker = serde_json::from_str(&text).unwrap();
    assert_eq!(back, t);
}

fn reporter(
    dev: &str,
    port: Option<u32>,
    name: &str,
    error: bool,
) -> crate::devlink::HealthReporter {
    crate::devlink::HealthReporter {
        dev: dev.parse().unwrap(),
        port,
        name: name.into(),
        state: if error {
            crate::devlink::ReporterState::Error
        } else {
            crate::devlink::ReporterState::Healthy
        },
        error_count: if error { 2 } else { 0 },
        recover_count: 1,
        grace_period_ms: Some(500),
        auto_recover: Some(true),
        auto_dump: None,
    }
}

/// The devlink client's reporters land on the device of their `pci/ADDR` instance only
/// (device and port reporters alike); other buses and other devices get none.
#[test]
fn devlink_reporters_attach_to_their_pci_instance() {
    let all = vec![
        reporter("pci/0000:3b:00.0", None, "fw_fatal", false),
        reporter("pci/0000:3b:00.0", Some(65535), "tx", true),
        reporter("pci/0000:3b:00.1", None, "fw", true),
        reporter("netdevsim/netdevsim11", None, "dummy", true),
    ];
    let got = sample::devlink_of(&all, &pf());
    assert_eq!(
        got,
        vec![
            DevlinkReporter {
                name: "fw_fatal".into(),
                port: None,
                healthy: true,
                error_count: 0,
                recover_count: 1,
            },
            DevlinkReporter {
                name: "tx".into(),
                port: Some(65535),
                healthy: false,
                error_count: 2,
                recover_count: 1,
            },
        ]
    );
    assert!(sample::devlink_of(&all, &vf()).is_empty());
}

/// A PF whose devlink reporter is in error is unhealthy, debounced like every condition,
/// and so are its VFs (the device plugin's and the metrics' view: both read this report);
/// recovered, both come back.
#[test]
fn a_pf_devlink_reporter_in_error_makes_pf_and_vfs_unhealthy() {
    let p = policy();
    let mut t = Tracker::default();
    let broken = Sample {
        devlink: sample::devlink_of(&[reporter("pci/0000:3b:00.0", Some(1), "tx", true)], &pf()),
        ..good_pf()
    };
    assert!(
        t.observe(&p, 0, &inputs(good_pf(), good_vf()))
            .unhealthy()
            .count()
            == 0
    );
    let r = t.observe(&p, 5, &inputs(broken.clone(), good_vf()));
    assert_eq!(
        r.get(Kind::Pf, &pf()).unwrap().pending,
        vec!["devlink health reporter tx (port 1) in error (2 errors)"]
    );
    let r = t.observe(&p, 15, &inputs(broken, good_vf()));
    let pfh = r.get(Kind::Pf, &pf()).unwrap();
    assert!(!pfh.healthy);
    assert_eq!(pfh.devlink.len(), 1);
    assert_eq!(
        vf_health(&r).reasons,
        vec!["PF 0000:3b:00.0: devlink health reporter tx (port 1) in error (2 errors)"]
    );
    // The JSON of `vifman health` carries the reporter with its counters.
    let j = serde_json::to_value(pfh).unwrap();
    assert_eq!(j["devlink"][0]["name"], "tx");
    assert_eq!(j["devlink"][0]["recover_count"], 1);
    for now in [20, 30, 40] {
        t.observe(&p, now, &inputs(good_pf(), good_vf()));
    }
    let r = t.observe(&p, 50, &inputs(good_pf(), good_vf()));
    assert!(r.unhealthy().count() == 0, "{r:?}");
}

#[test]
fn a_driver_vifman_cannot_name_is_not_reported_as_no_driver() {
    let mut t = Tracker::default();
    let v = Sample {
        driver: None,
        driver_unusable: true,
        ..good_vf()
    };
    let r = t.observe(&policy(), 0, &inputs(good_pf(), v));
    assert_eq!(
        vf_health(&r).reasons,
        vec!["VF is bound to a driver whose name vifman cannot use"]
    );
}

fn bus_pf() -> DeviceId {
    DeviceId::Bus("netdevsim/netdevsim7".parse().unwrap())
}

fn with_bus_pf(p: Sample, b: Sample) -> Vec<HealthInput> {
    let mut v = inputs(p, good_vf());
    v.push(HealthInput {
        kind: Kind::Pf,
        device: bus_pf(),
        pf: None,
        sample: b,
    });
    v
}

/// A non-PCI PF is debounced by its `BUS/NAME` like a PCI PF by its address, in the same
/// history (keys `pf:ADDR` unchanged, `pf:BUS/NAME` beside them); its JSON names it by
/// `device` with a `null` PCI `address`, and it sorts after the PCI PFs.
#[test]
fn a_bus_pf_is_debounced_under_its_own_key() {
    let p = policy();
    let mut t = Tracker::default();
    let broken = Sample {
        devlink: vec![DevlinkReporter {
            name: "dummy".into(),
            port: None,
            healthy: false,
            error_count: 1,
            recover_count: 0,
        }],
        ..good_pf()
    };
    let bus = |r: &HealthReport| r.devices.iter().find(|d| d.device == bus_pf()).cloned();
    t.observe(&p, 0, &with_bus_pf(good_pf(), good_pf()));
    let r = t.observe(&p, 5, &with_bus_pf(good_pf(), broken.clone()));
    let b = bus(&r).unwrap();
    assert!(b.healthy);
    assert_eq!(
        b.pending,
        vec!["devlink health reporter dummy in error (1 errors)"]
    );
    let r = t.observe(&p, 15, &with_bus_pf(good_pf(), broken));
    let b = bus(&r).unwrap();
    assert!(!b.healthy);
    assert!(vf_health(&r).healthy, "a bus PF's reasons reach no PCI VF");
    assert_eq!(
        r.devices
            .iter()
            .map(|d| d.device.to_string())
            .collect::<Vec<_>>(),
        ["0000:3b:00.0", "netdevsim/netdevsim7", "0000:3b:02.0"]
    );
    let j = serde_json::to_value(&b).unwrap();
    assert_eq!(j["kind"], "pf");
    assert_eq!(j["address"], serde_json::Value::Null);
    assert_eq!(j["device"], "netdevsim/netdevsim7");
    let j = serde_json::to_value(r.get(Kind::Pf, &pf()).unwrap()).unwrap();
    assert_eq!(j["address"], "0000:3b:00.0");
    assert_eq!(j["device"], "0000:3b:00.0");
    let state = serde_json::to_value(&t).unwrap();
    let keys: Vec<&str> = state["devices"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "pf:0000:3b:00.0",
            "pf:netdevsim/netdevsim7",
            "vf:0000:3b:02.0"
        ]
    );
    // Round trip through the state file's text; recovering takes the healthy debounce.
    let mut t: Tracker = serde_json::from_value(state).unwrap();
    for now in [20, 30, 40] {
        let r = t.observe(&p, now, &with_bus_pf(good_pf(), good_pf()));
        assert!(!bus(&r).unwrap().healthy, "at {now}");
    }
    let r = t.observe(&p, 50, &with_bus_pf(good_pf(), good_pf()));
    assert!(bus(&r).unwrap().healthy);
}

/// A state file as vifman wrote it before non-PCI PFs were judged (PCI keys only) loads
/// unchanged: the PF it holds unhealthy stays so until the healthy debounce has passed.
#[test]
fn an_old_state_file_loads() {
    let old = r#"{"devices":{
        "pf:0000:3b:00.0":{"healthy":false,"reasons":["PF ens1f0 link is down"],"since":100,
            "streak":0,"streak_since":100,
            "aer":{"correctable":null,"fatal":null,"nonfatal":null},"carrier":[[100,2]]},
        "vf:0000:3b:02.0":{"healthy":true,"reasons":[],"since":0,"streak":0,"streak_since":0,
            "aer":{"correctable":null,"fatal":null,"nonfatal":null},"carrier":[]}}}"#;
    let mut t: Tracker = serde_json::from_str(old).unwrap();
    let r = t.observe(&policy(), 110, &with_bus_pf(good_pf(), good_pf()));
    let pfh = r.get(Kind::Pf, &pf()).unwrap();
    assert!(!pfh.healthy);
    assert_eq!(pfh.since, 100);
    assert_eq!(pfh.pending, vec!["clean, recovering"]);
    assert_eq!(vf_health(&r).reasons, vec!["PF ens1f0 link is down"]);
}
