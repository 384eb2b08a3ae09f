//! One in-use verdict everywhere (issue 17, point 3): for every sign the simulated host can
//! show of a VF used outside vifman, the inventory says `in_use` with the reason, `reconcile`
//! reports the VF as `unrecorded` with the same reason, and `allocate` never picks it. The
//! signs are planted in the simulated tree behind vifman's back, as tests/inuse_sim.rs does.

mod common;

use std::path::PathBuf;

use common::*;

/// A one-VF pool, so a refused allocate proves the VF was not picked.
const POOL: &str = r#"
[[device_spec]]
pf_names = ["enp59s0f1#1"]
physical_network = "one"
"#;
const VF: &str = "0000:3b:0a.1";
const NETDEV: &str = "enp59s0f1v1";
const VIF: &str = "6f0f6f2c-7c9a-4b9d-9c9f-000000000017";

/// The shared simulated-host harness; this file's own helpers are in the `impl` below.
type Sim = SimEnv;

impl Sim {
    fn root(&self) -> PathBuf {
        sim_kernel(NFV, &self.state)
    }
    fn netdev_dir(&self) -> PathBuf {
        self.root()
            .join("sys/bus/pci/devices")
            .join(VF)
            .join("net")
            .join(NETDEV)
    }
    /// The VF's `status` object in `vifman inventory --json`.
    fn inventory_status(&self) -> serde_json::Value {
        let inv: serde_json::Value =
            serde_json::from_str(&run_ok(&["inventory", "--json"], &self.host())).unwrap();
        inventory_device(&inv, VF)["status"].clone()
    }
    /// What `reconcile --json` reports for the VF.
    fn drift(&self) -> Vec<serde_json::Value> {
        let d: serde_json::Value =
            serde_json::from_str(&run_ok(&["reconcile", "--json"], &self.host())).unwrap();
        d.as_array()
            .unwrap()
            .iter()
            .filter(|d| d["vf"] == VF)
            .cloned()
            .collect()
    }
    /// The allocate's stderr when refused; the VF handed out otherwise (from the records).
    fn allocate(&self) -> Result<String, String> {
        let o = self.run(
            &[
                "allocate",
                "--physnet",
                "one",
                "--instance",
                INST,
                "--vif-id",
                VIF,
            ],
            &[],
        );
        if !o.status.success() {
            return Err(text(&o.stderr));
        }
        let recs: serde_json::Value =
            serde_json::from_str(&run_ok(&["allocations", "--json"], &self.host())).unwrap();
        Ok(recs[0]["vf"].as_str().unwrap().to_string())
    }
    /// Free in every view: the inventory, reconcile (nothing to report) and allocate (which
    /// is released again).
    fn assert_free(&self) {
        assert_eq!(self.inventory_status()["state"], "free");
        assert_eq!(self.drift(), Vec::<serde_json::Value>::new());
        assert_eq!(self.allocate().as_deref(), Ok(VF));
        run_ok(&["release", "--vif-id", VIF], &self.host());
    }
    /// In use with `why` in every view: the inventory's reasons, reconcile's `unrecorded`
    /// drift (with the inventory's reasons, all of them) and the allocate refusal.
    fn assert_in_use(&self, why: &str) {
        let status = self.inventory_status();
        assert_eq!(status["state"], "in_use", "{status}");
        let reasons: Vec<&str> = status["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert!(reasons.iter().any(|r| r.contains(why)), "{status}");
        let drift = self.drift();
        assert_eq!(drift.len(), 1, "{drift:?}");
        let d = &drift[0];
        assert_eq!(d["kind"], "unrecorded", "{d}");
        assert_eq!(d["vif_id"], serde_json::Value::Null, "{d}");
        assert_eq!(d["repaired"], serde_json::Value::Null, "{d}");
        assert_eq!(
            d["detail"],
            format!(
                "in use outside vifman ({}), no vifman record (left alone)",
                reasons.join(", ")
            ),
            "reconcile and the inventory disagree"
        );
        let e = self.allocate().expect_err("allocated a VF in use");
        assert!(
            e.contains("in use outside vifman") && e.contains(why),
            "{e}"
        );
    }
    fn link(&self, target: &str, name: &str) {
        std::os::unix::fs::symlink(target, self.netdev_dir().join(name)).unwrap();
    }
}

/// One sign planted on a fresh simulated host whose VF starts free, and the reason every
/// view must then give.
fn check(plant: impl FnOnce(&Sim), why: &str) {
    let sim = Sim::with_config(POOL);
    sim.assert_free();
    plant(&sim);
    sim.assert_in_use(why);
}

#[test]
fn up_with_an_address() {
    check(
        |sim| {
            std::fs::write(sim.netdev_dir().join("flags"), "0x1003\n").unwrap();
            std::fs::write(
                sim.root().join(vifman::host::sim::ADDRS),
                serde_json::json!({ NETDEV: ["192.0.2.5/24"] }).to_string(),
            )
            .unwrap();
        },
        &format!("netdev {NETDEV} is up with an address"),
    );
}

#[test]
fn enslaved_to_a_bond() {
    check(
        |sim| {
            sim.link("../../../../../virtual/net/bond0", "master");
            sim.link("../../../../../virtual/net/bond0", "upper_bond0");
        },
        &format!("netdev {NETDEV} is under bond0"),
    );
}

#[test]
fn a_bridge_port() {
    check(
        |sim| {
            sim.link("../../../../../virtual/net/br0", "master");
            sim.link("../../../../../virtual/net/br0", "upper_br0");
        },
        &format!("netdev {NETDEV} is under br0"),
    );
}

#[test]
fn under_a_macvtap() {
    check(
        |sim| sim.link("../../../../../virtual/net/macvtap0", "upper_macvtap0"),
        &format!("netdev {NETDEV} is under macvtap0"),
    );
}

#[test]
fn netdev_in_another_netns() {
    check(
        |sim| {
            // `ip link set enp59s0f1v1 netns X`: the netdev leaves this namespace's sysfs
            // view; the VF stays bound to iavf.
            std::fs::remove_file(sim.root().join("sys/class/net").join(NETDEV)).unwrap();
            std::fs::remove_dir_all(sim.root().join("sys/bus/pci/devices").join(VF).join("net"))
                .unwrap();
        },
        "on iavf but its netdev is not in this namespace",
    );
}

#[test]
fn an_admin_mac_set_by_hand() {
    check(
        |sim| {
            use vifman::host::Host;
            // `ip link set enp59s0f1 vf 1 mac …`.
            let host = vifman::host::SimHost::open(std::path::Path::new(NFV), &sim.state).unwrap();
            host.set_vf(
                &"enp59s0f1".parse().unwrap(),
                1,
                &vifman::host::Knob::Mac {
                    mac: "02:00:00:00:17:01".parse().unwrap(),
                },
            )
            .unwrap();
        },
        "carries an admin MAC",
    );
}

#[test]
fn bound_to_vfio_pci_by_someone_else() {
    check(
        |sim| {
            use vifman::host::Host;
            let host = vifman::host::SimHost::open(std::path::Path::new(NFV), &sim.state).unwrap();
            let vfio = "vfio-pci".parse().unwrap();
            host.bind(&VF.parse().unwrap(), Some(&vfio), Some(&vfio))
                .unwrap();
        },
        "bound to vfio-pci",
    );
}

#[test]
fn another_device_plugins_checkpoint() {
    check(
        |sim| {
            let cp = sim.root().join(vifman::sysfs::checkpoint::CHECKPOINT);
            std::fs::create_dir_all(cp.parent().unwrap()).unwrap();
            std::fs::write(
                &cp,
                format!(
                    r#"{{"Data":{{"PodDeviceEntries":[{{"PodUID":"p1","ContainerName":"c","ResourceName":"intel.com/intel_sriov_netdevice","DeviceIDs":{{"-1":["{VF}"]}},"AllocResp":""}}],"RegisteredDevices":{{}}}},"Checksum":1}}"#
                ),
            )
            .unwrap();
        },
        "given to a container as intel.com/intel_sriov_netdevice",
    );
}

/// On vfio-pci by vifman's own `apply` policy the VF is free in every view (reconcile once
/// reported it as unrecorded for being on vfio-pci); a process opening its group makes it
/// in use, with the pid, everywhere.
#[test]
fn an_open_vfio_group() {
    let sim = Sim::with_config(&format!(
        "{POOL}\n[[pf]]\naddress = \"0000:3b:00.1\"\n\n[[pf.vf]]\nvfs = \"1\"\ndriver = \"vfio-pci\"\n"
    ));
    run_ok(&["apply"], &sim.host());
    sim.assert_free();
    let root = sim.root();
    let group = std::fs::read_link(
        root.join("sys/bus/pci/devices")
            .join(VF)
            .join("iommu_group"),
    )
    .unwrap();
    let group = group.file_name().unwrap().to_str().unwrap();
    let fd = root.join("proc/4242/fd");
    std::fs::create_dir_all(&fd).unwrap();
    std::os::unix::fs::symlink(format!("/dev/vfio/{group}"), fd.join("7")).unwrap();
    sim.assert_in_use(&format!("/dev/vfio/{group} is held open by pid 4242"));
}
