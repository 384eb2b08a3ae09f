//! The inventory of the real igb dump must agree with what the tools on that host printed
//! (fixtures/sysfs/igb-real/cmd/*.txt): lspci for ids and drivers, ethtool for netdev→PCI,
//! `ip -d link` for the VF admin state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vifman::inventory::{self, PfEntry, VfStateOrigin};
use vifman::sysfs::SysfsRoot;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/igb-real")
}

fn cmd(name: &str) -> String {
    std::fs::read_to_string(root().join("cmd").join(name)).unwrap()
}

/// `01:10.0 Ethernet controller [0200]: ... [8086:10ca] (rev 01)` + `Kernel driver in use: x`
fn lspci() -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let mut cur: Option<(String, String)> = None;
    for line in cmd("lspci-nn-vvv.txt").lines() {
        if !line.starts_with(['\t', ' ']) && line.len() > 7 {
            let addr = format!("0000:{}", &line[..7]);
            // The ids bracket is the last "[vvvv:dddd]" on the line (rev/prog-if follow it).
            let ids = line
                .match_indices('[')
                .filter_map(|(i, _)| line[i + 1..].split_once(']').map(|(s, _)| s))
                .rfind(|s| s.len() == 9 && s.as_bytes()[4] == b':')
                .unwrap()
                .to_string();
            cur = Some((addr, ids));
        } else if let Some(d) = line.trim().strip_prefix("Kernel driver in use: ") {
            let (a, i) = cur.clone().unwrap();
            out.insert(a, (i, d.to_string()));
        }
    }
    out
}

fn pf() -> PfEntry {
    let root = SysfsRoot::new(root()).unwrap();
    let inv = inventory::collect(&root, "fixtures/sysfs/igb-real");
    assert_eq!(inv.vf_state_source, VfStateOrigin::Fixture);
    assert_eq!(inv.physical_functions.len(), 1);
    inv.physical_functions.into_iter().next().unwrap()
}

#[test]
fn pf_identity_and_sriov_caps() {
    let pf = pf();
    let d = &pf.device;
    assert_eq!(d.address.to_string(), "0000:01:00.0");
    assert_eq!(
        (d.vendor_id.as_deref(), d.device_id.as_deref()),
        (Some("8086"), Some("10c9"))
    );
    assert_eq!(d.driver.as_deref(), Some("igb"));
    assert!(d
        .model
        .as_deref()
        .unwrap()
        .contains("82576 Gigabit Network Connection"));
    assert_eq!(
        d.device_name.as_deref(),
        Some("82576 Gigabit Network Connection")
    );
    assert_eq!(pf.sriov.total_vfs, Some(7));
    assert_eq!(pf.sriov.num_vfs, Some(4));
    assert_eq!(pf.sriov.vf_device_id.as_deref(), Some("10ca"));
    assert_eq!(
        pf.netdevs
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        ["eth0"]
    );
    let lspci = lspci();
    assert_eq!(
        lspci["0000:01:00.0"],
        ("8086:10c9".to_string(), "igb".to_string())
    );
}

#[test]
fn vfs_match_lspci_and_ethtool() {
    let pf = pf();
    let lspci = lspci();
    let addrs: Vec<String> = pf
        .vfs
        .iter()
        .map(|v| v.device.address.to_string())
        .collect();
    assert_eq!(
        addrs,
        [
            "0000:01:10.0",
            "0000:01:10.2",
            "0000:01:10.4",
            "0000:01:10.6"
        ]
    );
    for (i, vf) in pf.vfs.iter().enumerate() {
        assert_eq!(vf.index, i as u32);
        let a = vf.device.address.to_string();
        let (ids, drv) = &lspci[&a];
        assert_eq!(vf.device.driver.as_deref(), Some(drv.as_str()), "{a}");
        assert_eq!(drv, "igbvf");
        let (v, d) = ids.split_once(':').unwrap();
        assert_eq!(vf.device.vendor_id.as_deref(), Some(v), "{a}");
        assert_eq!(vf.device.device_id.as_deref(), Some(d), "{a}");
        // ethtool -i ethN: bus-info names the PCI function of each netdev.
        let nd = vf
            .netdev
            .as_ref()
            .unwrap_or_else(|| panic!("{a} has no netdev"));
        let ethtool = cmd(&format!("ethtool-i-{}.txt", nd.name));
        assert!(
            ethtool.contains(&format!("bus-info: {a}")),
            "{a} vs {}",
            nd.name
        );
        assert!(ethtool.contains("driver: igbvf"));
    }
}

#[test]
fn vf_admin_state_matches_ip_link() {
    let pf = pf();
    // "    vf 0     link/ether 02:11:22:33:44:55 brd ..., vlan 100, qos 3, spoof checking on, link-state auto, trust off"
    let text = cmd("ip-d-link-show.txt");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("vf "))
        .collect();
    assert_eq!(lines.len(), pf.vfs.len());
    for (line, vf) in lines.iter().zip(&pf.vfs) {
        let a = vf.admin.as_ref().unwrap();
        assert!(line.contains(&format!("link/ether {}", a.mac)), "{line}");
        assert_eq!(
            line.contains(&format!("vlan {},", a.vlan)),
            a.vlan != 0,
            "{line}"
        );
        let on = |b: Option<bool>| if b == Some(true) { "on" } else { "off" };
        assert!(
            line.contains(&format!("spoof checking {}", on(a.spoofchk))),
            "{line}"
        );
        assert!(line.contains(&format!("trust {}", on(a.trust))), "{line}");
        assert!(
            line.contains(&format!("link-state {}", a.link_state.label())),
            "{line}"
        );
        assert!(!vf.free, "VFs with an admin MAC are not free");
    }
}
