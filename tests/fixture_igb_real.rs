//! The igb dump from real hardware (QEMU's emulated 82576 under the real igb/igbvf drivers,
//! Linux 6.12): its vf-state.json must agree with its sysfs.

use std::path::Path;
use vifman::netlink::VfStateDump;

#[test]
fn igb_real_vf_state_matches_sysfs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/igb-real");
    let state: VfStateDump =
        serde_json::from_str(&std::fs::read_to_string(root.join("vf-state.json")).unwrap())
            .unwrap();
    assert_eq!(state.links.len(), 1);
    let l = &state.links[0];
    assert_eq!((l.ifname.as_str(), l.ifindex, l.num_vf), ("eth0", 9, 4));
    let pf = root.join("sys/bus/pci/devices/0000:01:00.0");
    let numvfs = std::fs::read_to_string(pf.join("sriov_numvfs")).unwrap();
    assert_eq!(numvfs.trim(), "4");
    assert_eq!(
        std::fs::read_to_string(pf.join("sriov_totalvfs"))
            .unwrap()
            .trim(),
        "7"
    );
    let ifindex = std::fs::read_to_string(root.join("sys/class/net/eth0/ifindex")).unwrap();
    assert_eq!(ifindex.trim(), "9");
    assert_eq!(l.vfs[0].mac.to_string(), "02:11:22:33:44:55");
    assert_eq!((l.vfs[0].vlan.get(), l.vfs[0].qos), (100, 3));
    assert_eq!(
        (l.vfs[1].spoofchk, l.vfs[1].trust),
        (Some(false), Some(true))
    );
    // Symlinks survived the copy with the kernel's relative depths.
    let drv = std::fs::read_link(pf.join("driver")).unwrap();
    assert_eq!(drv, Path::new("../../../../bus/pci/drivers/igb"));
    assert_eq!(
        std::fs::read_link(pf.join("virtfn1")).unwrap(),
        Path::new("../0000:01:10.2")
    );
}
