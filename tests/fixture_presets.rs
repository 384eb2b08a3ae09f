//! The committed trees under fixtures/sysfs/ are generated; regenerating each preset must give
//! the same tree, so nobody hand-edits a fixture and the generator cannot drift silently.

use std::path::{Path, PathBuf};
use vifman::fixture::{compare::diff_trees, preset};
use vifman::netlink::VfStateDump;

fn committed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sysfs")
        .join(name)
}

#[test]
fn every_preset_matches_its_committed_tree() {
    for name in preset::NAMES {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join(name);
        preset::write(name, &out).unwrap();
        let diff = diff_trees(&committed(name), &out).unwrap();
        assert!(
            diff.is_empty(),
            "fixtures/sysfs/{name} drifted from `vifman fixture preset {name}`; regenerate it:\n{}",
            diff.join("\n")
        );
    }
}

#[test]
fn unknown_preset_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = preset::write("no-such-host", &tmp.path().join("x")).unwrap_err();
    assert!(err.to_string().contains("nfv-host"), "{err}");
}

#[test]
fn writing_into_a_non_empty_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep"), "x").unwrap();
    assert!(preset::write("nfv-host", tmp.path()).is_err());
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim_end()
        .to_string()
}

#[test]
fn nfv_host_is_internally_consistent() {
    let root = committed("nfv-host");
    let bus = root.join("sys/bus/pci/devices");
    let mut pfs = 0;
    for e in std::fs::read_dir(&bus).unwrap() {
        let dev = e.unwrap().path();
        let Ok(numvfs) = std::fs::read_to_string(dev.join("sriov_numvfs")) else {
            continue;
        };
        pfs += 1;
        let numvfs: usize = numvfs.trim().parse().unwrap();
        let links: Vec<_> = std::fs::read_dir(&dev)
            .unwrap()
            .filter_map(|e| {
                let n = e.unwrap().file_name().to_string_lossy().into_owned();
                n.starts_with("virtfn").then_some(n)
            })
            .collect();
        assert_eq!(links.len(), numvfs, "{}", dev.display());
        for l in links {
            let vf = dev.join(&l);
            // Following virtfn then physfn must come back to the same PF directory.
            assert_eq!(
                vf.join("physfn").canonicalize().unwrap(),
                dev.canonicalize().unwrap()
            );
            let vf_dev = read(&vf.join("device"));
            assert_eq!(vf_dev, format!("0x{}", read(&dev.join("sriov_vf_device"))));
        }
    }
    assert_eq!(pfs, 9, "I350 x2, X710 x2, CX-5 x2, E810, 82576 x2");

    // Representors share the uplink's switch id and are named pf0vfN.
    let uplink = root.join("sys/class/net/enp94s0f0np0");
    let sw = read(&uplink.join("phys_switch_id"));
    assert_eq!(read(&uplink.join("phys_port_name")), "p0");
    for n in 0..4 {
        let rep = root.join(format!("sys/class/net/enp94s0f0r{n}"));
        assert_eq!(read(&rep.join("phys_switch_id")), sw);
        assert_eq!(read(&rep.join("phys_port_name")), format!("pf0vf{n}"));
    }

    // GPU and its audio function share an IOMMU group, both on vfio-pci.
    let gpu = bus.join("0000:d8:00.0");
    let audio = bus.join("0000:d8:00.1");
    assert_eq!(
        gpu.join("iommu_group").canonicalize().unwrap(),
        audio.join("iommu_group").canonicalize().unwrap()
    );
    for d in [&gpu, &audio] {
        let drv = std::fs::read_link(d.join("driver")).unwrap();
        assert!(drv.ends_with("vfio-pci"));
    }

    // Both NUMA nodes are populated.
    assert_eq!(read(&bus.join("0000:3b:00.0/numa_node")), "0");
    assert_eq!(read(&bus.join("0000:86:00.0/numa_node")), "1");

    // Default route on the management NIC.
    let route = read(&root.join("proc/net/route"));
    let dflt = route
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("00000000"))
        .unwrap();
    assert!(dflt.starts_with("eno1\t"));

    // VF state: some free, some in use, and one entry per VF.
    let state: VfStateDump = serde_json::from_str(&read(&root.join("vf-state.json"))).unwrap();
    let all: Vec<_> = state.links.iter().flat_map(|l| &l.vfs).collect();
    assert!(all.iter().any(|v| v.mac.is_zero()));
    assert!(all.iter().any(|v| !v.mac.is_zero() && v.vlan.get() != 0));
    for l in &state.links {
        assert_eq!(l.num_vf as usize, l.vfs.len());
        let ifindex = read(&root.join(format!("sys/class/net/{}/ifindex", l.ifname)));
        assert_eq!(ifindex, l.ifindex.to_string());
    }
}

#[test]
fn vf_state_json_has_the_agreed_shape() {
    let v: serde_json::Value =
        serde_json::from_str(&read(&committed("nfv-host").join("vf-state.json"))).unwrap();
    let link = &v["links"][0];
    let keys: Vec<_> = link.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["ifname", "ifindex", "num_vf", "vfs"]);
    let vf: Vec<_> = link["vfs"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        vf,
        [
            "vf",
            "mac",
            "vlan",
            "qos",
            "vlan_proto",
            "spoofchk",
            "trust",
            "link_state",
            "min_tx_rate",
            "max_tx_rate"
        ]
    );
}

#[test]
fn synthetic_host_has_every_vf_with_a_netdev() {
    let model = vifman::hwdb::by_key("intel-e810-xxv-sfp").unwrap();
    let spec = vifman::fixture::synth::build(&vifman::fixture::synth::SynthSpec {
        pfs: 3,
        vfs: 10,
        model,
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    vifman::fixture::write_host(tmp.path(), &spec).unwrap();
    let vfs = spec.devices.iter().filter(|d| d.physfn.is_some()).count();
    assert_eq!(vfs, 30);
    assert!(spec
        .devices
        .iter()
        .filter(|d| d.physfn.is_some())
        .all(|d| d.netdevs.len() == 1));
    let nodes: std::collections::BTreeSet<_> = spec.devices.iter().map(|d| d.numa_node).collect();
    assert_eq!(nodes.len(), 2);
    let too_many = vifman::fixture::synth::SynthSpec {
        pfs: 1,
        vfs: 300,
        model,
    };
    assert!(vifman::fixture::synth::build(&too_many).is_err());
}
