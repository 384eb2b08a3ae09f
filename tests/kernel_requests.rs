//! How often an operation asks the kernel, counted by the simulated kernel
//! ([`vifman::host::SimHost::counts`]): what the real host turns into netlink requests (a
//! port function read is a devlink port dump and an eswitch get; a VF-state read is a
//! GETLINK; a counters read a link dump with stats) and the simulation's own parses of its
//! devlink record. Each test pins the count an operation needs, so a second lookup for an
//! answer already in hand shows up here and not only in an strace. The real host's clients
//! count their requests in `vifman::rtnl::count` (the VM scenario `netdevsim` covers them).

mod common;

use std::path::Path;

use common::*;
use vifman::config::Config;
use vifman::engine::vfset::VfSettings;
use vifman::engine::Engine;
use vifman::host::sim::SimCountsNow;
use vifman::host::SimHost;

/// The fixture's mlx5 PF in switchdev mode (VF ports with port functions in `devlink.json`).
const SW_PF: &str = "enp94s0f0np0";
/// An i40e PF: no devlink eswitch, so no VF port function (the legacy MAC path).
const LEGACY_PF: &str = "enp59s0f0";

fn open(env: &SimEnv) -> SimHost {
    SimHost::open(Path::new(NFV), &env.state).unwrap()
}

fn mac(m: &str) -> VfSettings {
    VfSettings::parse(&["mac".to_string(), m.to_string()]).unwrap()
}

/// The counts an operation added.
fn during(host: &SimHost, f: impl FnOnce()) -> SimCountsNow {
    let a = host.counts();
    f();
    let b = host.counts();
    SimCountsNow {
        link_reads: b.link_reads - a.link_reads,
        port_fn_reads: b.port_fn_reads - a.port_fn_reads,
        port_fn_dumps: b.port_fn_dumps - a.port_fn_dumps,
        counter_reads: b.counter_reads - a.counter_reads,
        eswitch_reads: b.eswitch_reads - a.eswitch_reads,
        host_reads: b.host_reads - a.host_reads,
        scans: b.scans - a.scans,
        record_parses: b.record_parses - a.record_parses,
    }
}

/// Point 1: a MAC knob looks the VF's port function up once: the lookup that saves its state
/// is the one the set uses (it was two: `state_of`, then `set_mac`'s own).
#[test]
fn a_mac_knob_without_a_port_function_asks_devlink_once() {
    let env = SimEnv::with_config("");
    let host = open(&env);
    let config = Config::default();
    let engine = Engine::new(&host, &config, &env.state);
    let n = during(&host, || {
        engine
            .vf_set(LEGACY_PF, 1, &mac("02:00:00:00:aa:01"), false)
            .unwrap();
    });
    assert_eq!(n.port_fn_reads, 1, "{n:?}");
}

/// In switchdev mode the set reads the function back once more, to check it holds: two
/// lookups in all (it was three).
#[test]
fn a_mac_knob_through_a_port_function_looks_it_up_once_and_reads_it_back_once() {
    let env = SimEnv::with_config("");
    let host = open(&env);
    let config = Config::default();
    let engine = Engine::new(&host, &config, &env.state);
    let n = during(&host, || {
        let r = engine
            .vf_set(SW_PF, 1, &mac("02:00:00:00:aa:02"), false)
            .unwrap();
        assert_eq!(r.state.mac.to_string(), "02:00:00:00:aa:02");
    });
    assert_eq!(n.port_fn_reads, 2, "{n:?}");
    // Point 5: the simulated kernel parses its devlink record at most once for the knob
    // (the write it makes is kept, not parsed again).
    assert!(n.record_parses <= 1, "{n:?}");
}

/// Point 5: a simulated mode change parses `devlink.json` once, however many times the
/// host reads the eswitch, its rate nodes and its ports meanwhile.
#[test]
fn a_simulated_mode_set_parses_the_devlink_record_once() {
    use vifman::devlink::EswitchMode;
    use vifman::host::{Host, PfId};
    let env = SimEnv::with_config("");
    let host = open(&env);
    let pf = PfId::Pci("0000:5e:00.1".parse().unwrap());
    let n = during(&host, || {
        host.set_eswitch_mode(&pf, EswitchMode::Switchdev).unwrap();
        assert_eq!(
            host.eswitch_of(&pf).unwrap().unwrap().mode,
            EswitchMode::Switchdev
        );
    });
    assert!(n.record_parses <= 1, "{n:?}");
    // A change behind the host's back (another process) is seen: the file's identity moved.
    let kernel = host.dir().join("devlink.json");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&kernel).unwrap()).unwrap();
    for i in rec["instances"].as_array_mut().unwrap() {
        if i["dev"]["dev"] == "0000:5e:00.1" {
            i["mode"] = "legacy".into();
        }
    }
    std::fs::write(&kernel, serde_json::to_string_pretty(&rec).unwrap()).unwrap();
    assert_eq!(
        host.eswitch_of(&pf).unwrap().unwrap().mode,
        EswitchMode::Legacy
    );
}

/// Point 3: `vifman eswitch PF MODE` scans the host once (to resolve the PF; the VF steps
/// take the driver's model from the same scan) and reads the eswitch once before the change
/// (the check for allocations and the plan share it) and once after (the read-back). It was
/// two scans and three reads.
#[test]
fn an_eswitch_mode_change_scans_once_and_reads_the_eswitch_once_before() {
    use vifman::devlink::{EswitchMode, EswitchSet};
    let env = SimEnv::with_config("");
    let host = open(&env);
    let config = Config::default();
    let engine = Engine::new(&host, &config, &env.state);
    let n = during(&host, || {
        let c = engine
            .eswitch_set(
                "0000:5e:00.1",
                &EswitchSet::mode(EswitchMode::Switchdev),
                None,
                false,
            )
            .unwrap();
        assert_eq!(
            (c.from, c.to),
            (EswitchMode::Legacy, EswitchMode::Switchdev)
        );
    });
    assert_eq!(n.scans, 1, "{n:?}");
    // Before the change, after it (the read-back), and the representor count it waits for
    // (it was four: the engine read it before the change twice).
    assert_eq!(n.eswitch_reads, 3, "{n:?}");
    assert!(n.record_parses <= 1, "{n:?}");
}

/// Point 2: `vifman vf show PF` reads the PF's VF counters once and its VF port functions
/// once (one link dump and one port dump on the real host), not once per VF.
#[test]
fn vf_show_of_a_whole_pf_reads_counters_and_port_functions_once() {
    let env = SimEnv::with_config("");
    let host = open(&env);
    let config = Config::default();
    let engine = Engine::new(&host, &config, &env.state);
    let one = engine.vf_show(SW_PF, 2).unwrap();
    let n = during(&host, || {
        let all = engine.vf_show_all(SW_PF).unwrap();
        assert_eq!(all.len(), 4);
        // The same report as `vf show PF N` gives for each VF.
        assert_eq!(
            serde_json::to_value(&all[2]).unwrap(),
            serde_json::to_value(&one).unwrap()
        );
        assert!(all.iter().all(|r| r.port_function.is_some()));
    });
    assert_eq!(
        (n.counter_reads, n.port_fn_dumps, n.port_fn_reads),
        (1, 1, 0),
        "{n:?}"
    );
    // The i40e PF has no eswitch: a port dump that finds nothing, still one.
    let n = during(&host, || {
        let all = engine.vf_show_all(LEGACY_PF).unwrap();
        assert_eq!(all.len(), 8);
        assert!(all.iter().all(|r| r.port_function.is_none()));
    });
    assert_eq!(
        (n.counter_reads, n.port_fn_dumps, n.port_fn_reads),
        (1, 1, 0),
        "{n:?}"
    );
}

/// Point 4: the inventory's eswitch reads (one per PF) share the host-wide devlink dumps on
/// the real host: one instance dump for all the PFs here (none of them has an instance on
/// this machine, so no eswitch get, rate or port dump follows), where asking each PF alone
/// sends one per PF. The answers are the same either way. Counted by the real devlink
/// client ([`vifman::rtnl::count`]); a kernel without devlink sends nothing either way.
#[test]
fn the_inventorys_eswitch_reads_share_the_devlink_dumps() {
    use vifman::host::{Host, PfId, RealHost};
    use vifman::rtnl::count::requests;
    let host = RealHost::new(vifman::sysfs::SysfsRoot::host());
    let pfs: Vec<PfId> = ["0000:fe:1f.0", "0000:fe:1f.1", "0000:fe:1f.2"]
        .map(|a| PfId::Pci(a.parse().unwrap()))
        .to_vec();
    let before = requests();
    let alone: Vec<_> = pfs.iter().map(|pf| host.eswitch_of(pf).ok()).collect();
    let each = requests().since(before);
    let before = requests();
    let together: Vec<_> = host
        .eswitches_of(&pfs)
        .into_iter()
        .map(|r| r.ok())
        .collect();
    let shared = requests().since(before);
    assert_eq!(together, alone);
    if each.devlink_dumps == 0 {
        eprintln!("no devlink family in this kernel: nothing sent either way");
        assert_eq!(shared.devlink_dumps, 0);
        return;
    }
    assert_eq!(each.devlink_dumps, 3, "{each:?}");
    assert_eq!(shared.devlink_dumps, 1, "{shared:?}");
}
