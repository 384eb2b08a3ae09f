//! VIFDirect plug/unplug: a real macvtap in a private network namespace on a netdev found
//! through sysfs from the VIF's dev_address (a veth stands in for the VF netdev).

mod common;

use common::*;
use serde_json::json;
use vifman::backend::direct::Direct;
use vifman::backend::{Backend, Config, Instance};

fn direct_vif(mode: &str, name: &str, dev: &str) -> vifman::vif::VersionedObject {
    load(&obj(
        "VIFDirect",
        json!({"id": VIF_ID, "plugin": "vifman", "address": "fa:16:3e:12:34:56", "vif_name": name,
               "dev_address": dev, "mode": mode, "vlan_name": ""}),
    ))
}

#[test]
fn macvtap_in_each_mode_and_gone_after_unplug() {
    in_netns("macvtap_in_each_mode_and_gone_after_unplug", || {
        let st = std::process::Command::new("ip")
            .args([
                "link", "add", "vfnet0", "type", "veth", "peer", "name", "vfpeer0",
            ])
            .status()
            .unwrap();
        assert!(st.success());
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("sys/bus/pci/devices/0000:3b:02.1/net/vfnet0"))
            .unwrap();
        std::fs::create_dir_all(t.path().join("sys/bus/pci/devices/0000:3b:02.2")).unwrap();
        let b = Direct::new(Config {
            sysfs_root: t.path().to_path_buf(),
            ..Default::default()
        });
        let inst = Instance::default();
        let before = link_names();
        for (mode, want) in [("vepa", 2), ("bridge", 4), ("passthrough", 8)] {
            let vif = direct_vif(mode, "mvt6f0f6f2c-7c", "0000:3b:02.1");
            b.plug(&vif, &inst).unwrap();
            b.plug(&vif, &inst).unwrap(); // idempotent
            let mut rt = rtnl();
            let lower = rt.get_link("vfnet0").unwrap().unwrap();
            let l = rt
                .get_link("mvt6f0f6f2c-7c")
                .unwrap()
                .expect("macvtap exists");
            assert_eq!(l.kind.as_deref(), Some("macvtap"));
            assert_eq!(l.lower, Some(lower.index));
            assert_eq!(l.macvlan_mode, Some(want), "{mode}");
            // In passthru mode the kernel gives the macvtap its lower device's MAC (the guest
            // MAC belongs on the VF itself: `vifman allocate --mac` sets it from the PF).
            let want_mac = if mode == "passthrough" {
                lower.mac_string()
            } else {
                Some("fa:16:3e:12:34:56".into())
            };
            assert_eq!(l.mac_string(), want_mac, "{mode}");
            assert!(l.up && lower.up);
            b.unplug(&vif, &inst).unwrap();
            b.unplug(&vif, &inst).unwrap(); // absent is fine
            assert!(
                rt.get_link("mvt6f0f6f2c-7c").unwrap().is_none(),
                "{mode}: left behind"
            );
        }
        // vfnet0 was set up by plug; nothing else changed.
        assert_eq!(link_names(), before);
        // Errors: no netdev for the device, name taken by something else, bad mode.
        let e = b
            .plug(&direct_vif("vepa", "mvtx", "0000:3b:02.2"), &inst)
            .unwrap_err()
            .to_string();
        assert!(e.contains("0000:3b:02.2 has no netdev"), "{e}");
        let e = b
            .plug(&direct_vif("vepa", "vfpeer0", "0000:3b:02.1"), &inst)
            .unwrap_err()
            .to_string();
        assert!(e.contains("name collision"), "{e}");
        assert_eq!(link_names(), before);
    });
}
