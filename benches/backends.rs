//! Plug/unplug cost of the software backends against the usual tools, measured in the same
//! run: 100 TAPs into a Linux bridge (vifman vs one `ip` process per step) and 100 OVS ports
//! (vifman one transaction each / one batch vs `ovs-vsctl` each / one invocation).
//!
//! Runs in a private network namespace (the process unshares itself) with a private OVS.
//! `cargo bench --bench backends [-- N ROUNDS]`; needs root.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use vifman::backend::bridge::{LinuxBridge, TapSpec};
use vifman::backend::ovs::{Ovs, PortSpec};
use vifman::backend::rtnl::{LinkChange, Request};
use vifman::backend::{select, tap, Config, Instance};
use vifman::types::{IfName, MacAddress};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Row {
    what: String,
    total: Vec<f64>,
    n: usize,
}

fn print(rows: &[Row]) {
    println!("{:<62} {:>10} {:>10}", "operation", "total ms", "ms/item");
    for r in rows {
        let m = median(r.total.clone());
        println!("{:<62} {:>10.1} {:>10.3}", r.what, m, m / r.n as f64);
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip");
    assert!(st.success(), "ip {}", args.join(" "));
}

fn mac(i: usize) -> [u8; 6] {
    [0x02, 0, 0, 0, (i >> 8) as u8, i as u8]
}

fn mac_str(i: usize) -> String {
    let m = mac(i);
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn bridge_bench(n: usize, rounds: usize) -> Vec<Row> {
    let lb = LinuxBridge::new(Config::default());
    let taps: Vec<TapSpec> = (0..n)
        .map(|i| TapSpec {
            name: format!("tapb{i}").parse().unwrap(),
            mtu: 1450,
            mac: Some(MacAddress::new(mac(i))),
            multiqueue: false,
        })
        .collect();
    let names: Vec<IfName> = taps.iter().map(|t| t.name.clone()).collect();
    let vifs: Vec<_> = (0..n)
        .map(|i| {
            load(&obj(
                "VIFBridge",
                json!({
                    "id": VIF_ID, "address": mac_str(i), "plugin": "linux_bridge",
                    "vif_name": format!("tapv{i}"), "bridge_name": "brbench",
                    "network": network("brbench", Some(1450), true),
                    "port_profile": obj("VIFPortProfileBase", json!({})),
                }),
            ))
        })
        .collect();
    let inst = Instance::default();
    let mut rows = vec![
        Row {
            what: format!("vifman bulk plug {n} taps (ioctl + pipelined netlink)"),
            total: vec![],
            n,
        },
        Row {
            what: format!("vifman bulk unplug {n} taps (link group delete)"),
            total: vec![],
            n,
        },
        Row {
            what: format!("vifman Backend::plug x{n} (one VIF at a time)"),
            total: vec![],
            n,
        },
        Row {
            what: format!("vifman Backend::unplug x{n} (one VIF at a time)"),
            total: vec![],
            n,
        },
        Row {
            what: format!("ip tuntap add + ip link set master/mtu/address/up x{n}"),
            total: vec![],
            n,
        },
        Row {
            what: format!("ip link del x{n}"),
            total: vec![],
            n,
        },
    ];
    rows.push(Row {
        what: format!("  of which: TUNSETIFF+TUNSETPERSIST x{n} (kernel creates netdevs)"),
        total: vec![],
        n,
    });
    rows.push(Row {
        what: format!("  of which: {n} RTM_NEWLINK master/mtu/address/up, pipelined"),
        total: vec![],
        n,
    });
    // The bridge exists before every variant, so all of them measure tap work only.
    lb.plug_bulk(&"brbench".parse().unwrap(), &[], true)
        .unwrap();
    let br = rtnl().get_link("brbench").unwrap().unwrap().index;
    for _ in 0..rounds {
        // The two halves of a bulk plug, timed separately.
        let t = Instant::now();
        for tp in &taps {
            tap::create_persistent_tap(&tp.name, false).unwrap();
        }
        rows[6].total.push(ms(t.elapsed()));
        let reqs = taps
            .iter()
            .map(|tp| {
                Request::set_link_by_name(
                    tp.name.as_str(),
                    &LinkChange {
                        master: Some(br),
                        mtu: Some(tp.mtu),
                        address: tp.mac.map(|m| m.octets()),
                        up: Some(true),
                        group: None,
                    },
                )
            })
            .collect();
        let mut rt = rtnl();
        let t = Instant::now();
        for r in rt.batch(reqs) {
            r.unwrap();
        }
        rows[7].total.push(ms(t.elapsed()));
        lb.unplug_bulk(&names).unwrap();

        let t = Instant::now();
        lb.plug_bulk(&"brbench".parse().unwrap(), &taps, false)
            .unwrap();
        rows[0].total.push(ms(t.elapsed()));
        let t = Instant::now();
        lb.unplug_bulk(&names).unwrap();
        rows[1].total.push(ms(t.elapsed()));

        let b = select(&vifs[0], &Config::default()).unwrap();
        let t = Instant::now();
        for v in &vifs {
            b.plug(v, &inst).unwrap();
        }
        rows[2].total.push(ms(t.elapsed()));
        // Keep the bridge: unplug of the last VIF would delete the empty bridge.
        let keep = vifman::backend::bridge::TapSpec {
            name: "tapkeep".parse().unwrap(),
            mtu: 1450,
            mac: None,
            multiqueue: false,
        };
        lb.plug_bulk(
            &"brbench".parse().unwrap(),
            std::slice::from_ref(&keep),
            false,
        )
        .unwrap();
        let t = Instant::now();
        for v in &vifs {
            b.unplug(v, &inst).unwrap();
        }
        rows[3].total.push(ms(t.elapsed()));
        lb.unplug_bulk(&["tapkeep".parse().unwrap()]).unwrap();

        let t = Instant::now();
        for i in 0..n {
            let name = format!("tapi{i}");
            ip(&["tuntap", "add", "dev", &name, "mode", "tap"]);
            ip(&[
                "link",
                "set",
                &name,
                "master",
                "brbench",
                "mtu",
                "1450",
                "address",
                &mac_str(i),
                "up",
            ]);
        }
        rows[4].total.push(ms(t.elapsed()));
        let t = Instant::now();
        for i in 0..n {
            ip(&["link", "del", &format!("tapi{i}")]);
        }
        rows[5].total.push(ms(t.elapsed()));
    }
    rows
}

fn vsctl(sb: &OvsSandbox, args: &[String]) {
    let mut a = vec![format!("--db={}", sb.db)];
    a.extend_from_slice(args);
    let out = Command::new("ovs-vsctl").args(&a).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn add_port_args(i: usize) -> Vec<String> {
    let name = format!("tapo{i}");
    vec![
        "--".into(),
        "--may-exist".into(),
        "add-port".into(),
        "br-int".into(),
        name.clone(),
        "--".into(),
        "set".into(),
        "Interface".into(),
        name,
        format!("external_ids:iface-id={IFACE_ID}"),
        "external_ids:iface-status=active".into(),
        format!("external_ids:attached-mac={}", mac_str(i)),
        format!("external_ids:vm-uuid={VM_UUID}"),
    ]
}

fn ovs_bench(n: usize, rounds: usize) -> Vec<Row> {
    let sb = OvsSandbox::start(false).expect("OVS sandbox");
    let cfg = Config {
        ovsdb: sb.db.clone(),
        ovs_timeout: Duration::from_secs(60),
        default_datapath_type: "netdev".into(),
        ..Config::default()
    };
    let ovs = Ovs::new(cfg);
    // Pre-made taps, as with libvirt-created devices: both sides only do OVSDB work.
    let mut rt = rtnl();
    for i in 0..n {
        let name = format!("tapo{i}");
        tap::create_persistent_tap(&name.parse().unwrap(), false).unwrap();
        rt.request(Request::set_link_by_name(
            &name,
            &LinkChange {
                up: Some(true),
                ..Default::default()
            },
        ))
        .unwrap();
    }
    let inst = Instance {
        uuid: VM_UUID.into(),
        ..Default::default()
    };
    let specs: Vec<PortSpec> = (0..n)
        .map(|i| {
            let vif = load(&obj(
                "VIFOpenVSwitch",
                json!({
                    "id": VIF_ID, "address": mac_str(i), "plugin": "ovs",
                    "vif_name": format!("tapo{i}"), "bridge_name": "br-int",
                    "network": network("br-int", None, false),
                    "port_profile": ovs_profile(json!({"datapath_type": "netdev", "create_port": true})),
                }),
            ));
            ovs.port_spec(&vif, &inst).unwrap()
        })
        .collect();
    let names: Vec<IfName> = specs.iter().map(|s| s.port.clone()).collect();
    // Bridge first, so no variant pays for it.
    vsctl(
        &sb,
        &[
            "--may-exist".into(),
            "add-br".into(),
            "br-int".into(),
            "--".into(),
            "set".into(),
            "Bridge".into(),
            "br-int".into(),
            "datapath_type=netdev".into(),
        ],
    );

    let mut rows = vec![
        Row {
            what: format!("vifman OVS add {n} ports, 1 transaction + applied-wait each"),
            total: vec![],
            n,
        },
        Row {
            what: format!("vifman OVS add {n} ports, 1 transaction, 1 applied-wait"),
            total: vec![],
            n,
        },
        Row {
            what: format!("vifman OVS del {n} ports, 1 transaction"),
            total: vec![],
            n,
        },
        Row {
            what: format!("ovs-vsctl add-port x{n} (each waits for vswitchd)"),
            total: vec![],
            n,
        },
        Row {
            what: format!("ovs-vsctl, one invocation with {n} add-port"),
            total: vec![],
            n,
        },
        Row {
            what: format!("ovs-vsctl, one invocation with {n} del-port"),
            total: vec![],
            n,
        },
    ];
    for _ in 0..rounds {
        let t = Instant::now();
        for s in &specs {
            ovs.plug_specs(std::slice::from_ref(s)).unwrap();
        }
        rows[0].total.push(ms(t.elapsed()));
        ovs.unplug_ports(&names).unwrap();

        let t = Instant::now();
        ovs.plug_specs(&specs).unwrap();
        rows[1].total.push(ms(t.elapsed()));
        let t = Instant::now();
        ovs.unplug_ports(&names).unwrap();
        rows[2].total.push(ms(t.elapsed()));

        let t = Instant::now();
        for i in 0..n {
            vsctl(&sb, &add_port_args(i));
        }
        rows[3].total.push(ms(t.elapsed()));
        ovs.unplug_ports(&names).unwrap();

        let t = Instant::now();
        let all: Vec<String> = (0..n).flat_map(add_port_args).collect();
        vsctl(&sb, &all);
        rows[4].total.push(ms(t.elapsed()));
        let t = Instant::now();
        let del: Vec<String> = (0..n)
            .flat_map(|i| {
                [
                    "--".to_string(),
                    "del-port".into(),
                    "br-int".into(),
                    format!("tapo{i}"),
                ]
            })
            .collect();
        vsctl(&sb, &del);
        rows[5].total.push(ms(t.elapsed()));
    }
    rows
}

fn main() {
    // `cargo bench` passes --bench; positional numbers are ours.
    let nums: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = nums.first().copied().unwrap_or(100);
    let rounds = nums.get(1).copied().unwrap_or(3);
    if let Some(why) = cannot_run_privileged() {
        eprintln!("bench-backends: skipped: {why}");
        return;
    }
    // Single-threaded here, so the whole process (and every `ip`/OVS child) moves.
    // SAFETY: unshare(2) with a plain flag.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        eprintln!(
            "bench-backends: unshare: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    let mut rt = rtnl();
    let lo = rt.get_link("lo").unwrap().unwrap();
    rt.request(Request::set_link(
        lo.index,
        "lo",
        &LinkChange {
            up: Some(true),
            ..Default::default()
        },
    ))
    .unwrap();
    println!("# backends benchmark: n={n}, rounds={rounds} (median shown), private netns");
    println!("\n## Linux bridge + TAP");
    print(&bridge_bench(n, rounds));
    match which("ovs-vswitchd") {
        Some(_) => {
            println!("\n## Open vSwitch (userspace datapath, private ovsdb-server + ovs-vswitchd)");
            print(&ovs_bench(n, rounds));
        }
        None => println!("\n## Open vSwitch: skipped, ovs-vswitchd not installed"),
    }
}
