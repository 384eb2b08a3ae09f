//! Tests of `representor`, kept beside it so the module stays one job per file.
use super::*;
use proptest::prelude::*;

#[test]
fn port_names() {
    let p = |c, pf, vf| {
        Some(PortName {
            controller: c,
            pf,
            vf,
        })
    };
    assert_eq!(parse_port_name("vf3"), p(None, None, 3));
    assert_eq!(parse_port_name("pf0vf12"), p(None, Some(0), 12));
    assert_eq!(parse_port_name("c1pf1vf0"), p(Some(1), Some(1), 0));
    // Legacy mlx5 (before Linux 4.18): the bare VF index.
    assert_eq!(parse_port_name("3"), p(None, None, 3));
    assert_eq!(parse_port_name("0"), p(None, None, 0));
    for not in [
        "p0s1",
        "c1pf0",
        "-1",
        "+3",
        "1234567890",
        "p0",
        "pf0",
        "pf0sf1",
        "vf",
        "pfvf1",
        "c1vf2",
        "vf1x",
        "pf0vf1 ",
        "",
        "vf99999999999",
    ] {
        assert_eq!(parse_port_name(not), None, "{not:?}");
    }
}

#[test]
fn names_without_pf_only_from_the_pf_itself() {
    let pf: PciAddress = "0000:03:00.1".parse().unwrap();
    let other: PciAddress = "0000:03:00.0".parse().unwrap();
    let bare = parse_port_name("1").unwrap();
    assert!(belongs_to(&bare, pf, Some(pf)));
    assert!(belongs_to(&bare, pf, None));
    assert!(!belongs_to(&bare, pf, Some(other)));
    let pfvf = parse_port_name("pf1vf1").unwrap();
    assert!(belongs_to(&pfvf, pf, Some(other)));
    assert!(!belongs_to(&pfvf, other, None));
}

/// PF 0000:03:00.1 (uplink `pf1`, port `p1`) with VFs 0 and 1 at 03:00.2/.3; relative
/// links as in a real sysfs. `reps` are (name, switch id, port name, device).
fn tree(reps: &[(&str, &str, &str, Option<&str>)]) -> tempfile::TempDir {
    use std::fs;
    use std::os::unix::fs::symlink;
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("sys");
    let pci = s.join("devices/pci0000:00");
    let netdev = |dir: &Path, name: &str, sw: &str, port: &str| {
        let d = dir.join("net").join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("phys_switch_id"), format!("{sw}\n")).unwrap();
        fs::write(d.join("phys_port_name"), format!("{port}\n")).unwrap();
        d
    };
    let pf = pci.join("0000:03:00.1");
    netdev(&pf, "pf1", "abcd", "p1");
    symlink("../../../0000:03:00.1", pf.join("net/pf1/device")).unwrap();
    for (f, v) in [
        ("sriov_totalvfs", "2"),
        ("sriov_numvfs", "2"),
        ("vendor", "0x15b3"),
        ("device", "0x1017"),
        ("class", "0x020000"),
    ] {
        fs::write(pf.join(f), format!("{v}\n")).unwrap();
    }
    fs::create_dir_all(s.join("class/net")).unwrap();
    fs::create_dir_all(s.join("bus/pci/devices")).unwrap();
    symlink(
        "../../devices/pci0000:00/0000:03:00.1/net/pf1",
        s.join("class/net/pf1"),
    )
    .unwrap();
    symlink(
        "../../../devices/pci0000:00/0000:03:00.1",
        s.join("bus/pci/devices/0000:03:00.1"),
    )
    .unwrap();
    for (n, addr) in [(0, "0000:03:00.2"), (1, "0000:03:00.3")] {
        fs::create_dir_all(pci.join(addr)).unwrap();
        symlink("../0000:03:00.1", pci.join(addr).join("physfn")).unwrap();
        symlink(format!("../{addr}"), pf.join(format!("virtfn{n}"))).unwrap();
        symlink(
            format!("../../../devices/pci0000:00/{addr}"),
            s.join("bus/pci/devices").join(addr),
        )
        .unwrap();
    }
    for (name, sw, port, dev) in reps {
        let base = match dev {
            Some(d) => pci.join(d),
            None => s.join("devices/virtual"),
        };
        netdev(&base, name, sw, port);
        let rel = match dev {
            Some(d) => format!("../../devices/pci0000:00/{d}/net/{name}"),
            None => format!("../../devices/virtual/net/{name}"),
        };
        symlink(rel, s.join("class/net").join(name)).unwrap();
        if let Some(d) = dev {
            symlink(
                format!("../../../{d}"),
                base.join("net").join(name).join("device"),
            )
            .unwrap();
        }
    }
    t
}

fn root(t: &tempfile::TempDir) -> SysfsRoot {
    SysfsRoot::new(t.path()).unwrap()
}

#[test]
fn point_lookup_by_switch_id_and_port_name() {
    let t = tree(&[
        ("eth_rep0", "abcd", "pf1vf0", None),
        ("eth_rep1", "abcd", "pf1vf1", None),
        ("other_rep1", "ffff", "pf1vf1", None),
        ("wrongpf1", "abcd", "pf0vf1", None),
    ]);
    let r = root(&t);
    let vf1: PciAddress = "0000:03:00.3".parse().unwrap();
    assert_eq!(
        vf_location(&r, vf1).unwrap(),
        VfLocation {
            pf: "0000:03:00.1".parse().unwrap(),
            vf_index: 1
        }
    );
    assert_eq!(find_representor(&r, vf1).unwrap(), "eth_rep1");
    assert_eq!(
        find_representor(&r, "0000:03:00.2".parse().unwrap()).unwrap(),
        "eth_rep0"
    );
    let e = find_representor(&r, "0000:09:00.0".parse().unwrap()).unwrap_err();
    assert!(
        e.to_string().contains("PCI device 0000:09:00.0 not found"),
        "{e}"
    );
    let e = find_representor(&r, "0000:03:00.1".parse().unwrap()).unwrap_err();
    assert!(e.to_string().contains("not a VF"), "{e}");
    assert_eq!(
        device_netdevs(&r, "0000:03:00.1".parse().unwrap()).unwrap(),
        ["pf1"]
    );
    assert!(device_netdevs(&r, vf1).unwrap().is_empty());
}

/// The point lookup by (PF netdev, VF index) and the one by VF address answer alike: by
/// `phys_port_name` without a port map; by the port map (`devlink.json`) where the PF has an
/// instance, legacy mode an error naming it (no fallback); and a non-PCI PF (netdevsim's
/// instance) by its netdev, which only the port map knows.
#[test]
fn point_lookup_by_pf_netdev_agrees_with_the_lookup_by_vf() {
    let t = tree(&[
        ("eth_rep0", "abcd", "pf1vf0", None),
        ("eth_rep1", "abcd", "pf1vf1", None),
    ]);
    let r = root(&t);
    let pf1: crate::types::IfName = "pf1".parse().unwrap();
    let vf = |i: u32| -> PciAddress { format!("0000:03:00.{}", i + 2).parse().unwrap() };
    for i in 0..2 {
        assert_eq!(
            find_representor_of(&r, &pf1, i).unwrap(),
            find_representor(&r, vf(i)).unwrap()
        );
    }
    assert_eq!(find_representor_of(&r, &pf1, 1).unwrap(), "eth_rep1");
    let e = find_representor_of(&r, &"nosuch0".parse().unwrap(), 0).unwrap_err();
    assert!(e.to_string().contains("no netdev nosuch0"), "{e}");

    let record = |pci_vf_ports: bool| {
        let port = |bus: &str, dev: &str, index: u32, flavour: &str, vf: u32, nd: &str| {
            serde_json::json!({"dev": {"bus": bus, "dev": dev}, "index": index,
                "flavour": flavour, "pfnum": 1, "vfnum": vf, "controller": 0,
                "external": false, "netdev": nd})
        };
        let mut ports = vec![
            port("pci", "0000:03:00.1", 0, "physical", 0, "pf1"),
            port("netdevsim", "netdevsim10", 0, "physical", 0, "eni10np1"),
            port("netdevsim", "netdevsim10", 1, "pcivf", 0, "eth2"),
        ];
        if pci_vf_ports {
            ports.push(port("pci", "0000:03:00.1", 5, "pcivf", 1, "dl_rep1"));
        }
        let j = serde_json::json!({"instances": [
            {"dev": {"bus": "pci", "dev": "0000:03:00.1"}, "mode": "switchdev"},
            {"dev": {"bus": "netdevsim", "dev": "netdevsim10"}, "mode": "switchdev"}],
            "ports": ports});
        std::fs::write(t.path().join("devlink.json"), j.to_string()).unwrap();
    };
    record(true);
    assert_eq!(find_representor_of(&r, &pf1, 1).unwrap(), "dl_rep1");
    assert_eq!(find_representor(&r, vf(1)).unwrap(), "dl_rep1");
    let a = find_representor_of(&r, &pf1, 0).unwrap_err();
    let b = find_representor(&r, vf(0)).unwrap_err();
    assert!(
        a.to_string().contains("no representor port for VF 0"),
        "{a}"
    );
    assert!(
        b.to_string().contains("no representor port for VF 0"),
        "{b}"
    );
    let nsim: crate::types::IfName = "eni10np1".parse().unwrap();
    assert_eq!(find_representor_of(&r, &nsim, 0).unwrap(), "eth2");
    let e = find_representor_of(&r, &nsim, 3).unwrap_err();
    assert!(
        e.to_string().contains("PF eni10np1 has a devlink instance"),
        "{e}"
    );
    record(false);
    assert!(
        find_representor_of(&r, &pf1, 1).is_err(),
        "legacy: no fallback"
    );
    assert!(find_representor(&r, vf(1)).is_err());
}

#[test]
fn legacy_bare_index_only_when_hanging_off_the_pf() {
    // Legacy mlx5: representors named "0", "1" under the PF's own device.
    let t = tree(&[
        ("rep_other", "abcd", "1", Some("0000:03:00.2")),
        ("rep_legacy1", "abcd", "1", Some("0000:03:00.1")),
    ]);
    let r = root(&t);
    assert_eq!(
        find_representor(&r, "0000:03:00.3".parse().unwrap()).unwrap(),
        "rep_legacy1"
    );
    // The scan agrees with the point lookup.
    let report = crate::sysfs::scan(&r);
    let reps: Vec<_> = report
        .representors
        .iter()
        .map(|x| (x.netdev.to_string(), x.vf_index))
        .collect();
    assert_eq!(reps, [("rep_legacy1".to_string(), 1)]);
}

#[test]
fn escaping_links_are_not_followed() {
    let t = tree(&[]);
    let s = t.path().join("sys/bus/pci/devices");
    std::os::unix::fs::symlink("../../../../../../../../etc", s.join("0000:07:00.0")).unwrap();
    let e = device_netdevs(&root(&t), "0000:07:00.0".parse().unwrap()).unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
}

proptest! {
    #[test]
    fn never_panics(s in "\\PC*") {
        let _ = parse_port_name(&s);
    }
}
