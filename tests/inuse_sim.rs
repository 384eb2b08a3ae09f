//! In-use detection from every signal the host shows (issue 17, point 3): a VF whose netdev
//! is up with an address, has a device stacked on it (bond, bridge, macvtap) or was moved
//! into another namespace is never allocated, and `pools --explain` says why. On the
//! simulated host, where the tree expresses each sign; the address dump on a real kernel in a
//! private network namespace.

mod common;

use std::path::PathBuf;

use common::*;

const POOL: &str = r#"
[[device_spec]]
pf_names = ["enp59s0f1#1"]
physical_network = "one"
"#;
const VF: &str = "0000:3b:0a.1";
const NETDEV: &str = "enp59s0f1v1";

/// The shared simulated-host harness; this file's own helpers are in the `impl` below.
type Sim = SimEnv;

impl Sim {
    fn new() -> Sim {
        Sim::with_config(POOL)
    }
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
    fn explain(&self) -> String {
        run_ok(&["pools", "--explain"], &self.host())
            .lines()
            .find(|l| l.starts_with(VF))
            .unwrap()
            .to_string()
    }
    /// Allocate from the one-VF pool and release again; the allocate's stderr when refused.
    fn try_allocate(&self) -> Result<(), String> {
        let o = self.run(
            &[
                "allocate",
                "--physnet",
                "one",
                "--instance",
                INST,
                "--vif-id",
                "6f0f6f2c-7c9a-4b9d-9c9f-000000000001",
            ],
            &[],
        );
        if !o.status.success() {
            return Err(text(&o.stderr));
        }
        run_ok(
            &[
                "release",
                "--vif-id",
                "6f0f6f2c-7c9a-4b9d-9c9f-000000000001",
            ],
            &self.host(),
        );
        Ok(())
    }
    fn set_up(&self, up: bool) {
        std::fs::write(
            self.netdev_dir().join("flags"),
            if up { "0x1003\n" } else { "0x1002\n" },
        )
        .unwrap();
    }
    fn set_addrs(&self, addrs: &[&str]) {
        std::fs::write(
            self.root().join(vifman::host::sim::ADDRS),
            serde_json::json!({ NETDEV: addrs }).to_string(),
        )
        .unwrap();
    }
    /// Refused, with `why` in both the allocate error and `pools --explain`.
    fn assert_in_use(&self, why: &str) {
        let e = self.try_allocate().expect_err("allocated a VF in use");
        assert!(e.contains(why), "{e}");
        let x = self.explain();
        assert!(
            x.contains("in use outside vifman") && x.contains(why),
            "{x}"
        );
    }
}

#[test]
fn up_with_a_configured_address_is_in_use() {
    let sim = Sim::new();
    assert!(sim.try_allocate().is_ok(), "the VF starts free");
    // Up with only the IPv6 link-local address every up link gets: still free.
    sim.set_up(true);
    sim.set_addrs(&["fe80::1/64"]);
    assert!(sim.try_allocate().is_ok());
    // Down with an address: free (the LXD rule: up *and* addressed).
    sim.set_up(false);
    sim.set_addrs(&["192.0.2.5/24"]);
    assert!(sim.try_allocate().is_ok());
    sim.set_up(true);
    sim.assert_in_use(&format!("netdev {NETDEV} is up with an address"));
    sim.set_addrs(&["2001:db8::5/64"]);
    sim.assert_in_use("is up with an address");
    sim.set_addrs(&[]);
    assert!(sim.try_allocate().is_ok());
}

#[test]
fn a_device_stacked_on_the_netdev_is_in_use() {
    let sim = Sim::new();
    let d = sim.netdev_dir();
    // Enslaved to a bond: `master` and `upper_bond0`, as the bonding driver links them.
    std::os::unix::fs::symlink("../../../../../virtual/net/bond0", d.join("master")).unwrap();
    std::os::unix::fs::symlink("../../../../../virtual/net/bond0", d.join("upper_bond0")).unwrap();
    sim.assert_in_use(&format!("netdev {NETDEV} is under bond0"));
    // `vf show` gives the same status, from the same rule.
    let mut a: Vec<String> = ["vf", "show", "enp59s0f1", "1", "--json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(sim.host());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let r: serde_json::Value = serde_json::from_str(&vifman_ok(&a)).unwrap();
    assert_eq!(r["address"], VF);
    let status = r["status"].as_str().unwrap();
    assert!(
        status.starts_with("in use outside vifman") && status.contains("under bond0"),
        "{r}"
    );
    assert!(
        r["counters"].is_null(),
        "the simulation reports no counters: {r}"
    );
    std::fs::remove_file(d.join("master")).unwrap();
    std::fs::remove_file(d.join("upper_bond0")).unwrap();
    assert!(sim.try_allocate().is_ok());
    // A macvtap on it: only `upper_macvtap0`.
    std::os::unix::fs::symlink(
        "../../../../../virtual/net/macvtap0",
        d.join("upper_macvtap0"),
    )
    .unwrap();
    sim.assert_in_use("is under macvtap0");
}

#[test]
fn a_netdev_moved_to_another_namespace_is_in_use() {
    let sim = Sim::new();
    assert!(sim.try_allocate().is_ok());
    // `ip link set enp59s0f1v1 netns X`: the netdev leaves this namespace's sysfs view; the
    // VF stays bound to iavf.
    std::fs::remove_file(sim.root().join("sys/class/net").join(NETDEV)).unwrap();
    std::fs::remove_dir_all(sim.root().join("sys/bus/pci/devices").join(VF).join("net")).unwrap();
    sim.assert_in_use("on iavf but its netdev is not in this namespace");
}

#[test]
fn a_pf_set_mac_nobody_recorded_is_in_use() {
    let sim = Sim::new();
    let host = vifman::host::SimHost::open(std::path::Path::new(NFV), &sim.state).unwrap();
    use vifman::host::Host;
    // `ip link set enp59s0f1 vf 1 mac …` by hand.
    host.set_vf(
        &"enp59s0f1".parse().unwrap(),
        1,
        &vifman::host::Knob::Mac {
            mac: "02:00:00:00:17:01".parse().unwrap(),
        },
    )
    .unwrap();
    sim.assert_in_use("carries an admin MAC");
}

#[test]
fn another_device_plugins_allocation_is_in_use() {
    let sim = Sim::new();
    assert!(sim.try_allocate().is_ok());
    // kubelet gave the VF to a container through sriov-network-device-plugin.
    let cp = sim.root().join(vifman::sysfs::checkpoint::CHECKPOINT);
    std::fs::create_dir_all(cp.parent().unwrap()).unwrap();
    std::fs::write(
        &cp,
        format!(
            r#"{{"Data":{{"PodDeviceEntries":[{{"PodUID":"p1","ContainerName":"c","ResourceName":"intel.com/intel_sriov_netdevice","DeviceIDs":{{"-1":["{VF}"]}},"AllocResp":""}}],"RegisteredDevices":{{}}}},"Checksum":1}}"#
        ),
    )
    .unwrap();
    sim.assert_in_use("given to a container as intel.com/intel_sriov_netdevice");
    // The pod is gone: kubelet dropped the entry.
    std::fs::write(
        &cp,
        r#"{"Data":{"PodDeviceEntries":null,"RegisteredDevices":{}},"Checksum":1}"#,
    )
    .unwrap();
    assert!(sim.try_allocate().is_ok());
}

/// The address dump the real host uses: one RTM_GETADDR dump, link-local-only links left out.
#[test]
fn addressed_links_on_a_real_kernel() {
    use vifman::backend::rtnl::{LinkChange, Request};
    in_netns("addressed_links_on_a_real_kernel", || {
        let ip = |args: &[&str]| {
            let o = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success(), "ip {args:?}: {}", text(&o.stderr));
        };
        ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        let mut rt = rtnl();
        for n in ["d0", "d1"] {
            let l = rt.get_link(n).unwrap().unwrap();
            rt.request(Request::set_link(
                l.index,
                n,
                &LinkChange {
                    up: Some(true),
                    ..Default::default()
                },
            ))
            .unwrap();
        }
        ip(&["addr", "add", "192.0.2.7/24", "dev", "d0"]);
        ip(&["addr", "add", "fe80::7/64", "dev", "d1"]);
        let d0 = rt.get_link("d0").unwrap().unwrap().index;
        let d1 = rt.get_link("d1").unwrap().unwrap().index;
        let got = vifman::rtnl::Rtnl::open()
            .unwrap()
            .addressed_links()
            .unwrap();
        assert!(got.contains(&d0), "{got:?}");
        assert!(!got.contains(&d1), "link-local only: {got:?}");
    });
}

/// A VF vifman's own `apply` policy put on vfio-pci is free — until a process opens its
/// `/dev/vfio/<group>` outside vifman (a `proc/<pid>/fd/<n>` link in the simulated tree, as
/// in the live `/proc`): then it is in use, with the pid, and never allocated.
#[test]
fn an_open_vfio_group_is_in_use() {
    let sim = Sim::with_config(&format!(
        "{POOL}\n[[pf]]\naddress = \"0000:3b:00.1\"\n\n[[pf.vf]]\nvfs = \"1\"\ndriver = \"vfio-pci\"\n"
    ));
    run_ok(&["apply"], &sim.host());
    assert!(sim.explain().ends_with("→ one, free"), "{}", sim.explain());
    let root = sim.root();
    let group = std::fs::read_link(
        root.join("sys/bus/pci/devices")
            .join(VF)
            .join("iommu_group"),
    )
    .unwrap()
    .file_name()
    .unwrap()
    .to_str()
    .unwrap()
    .to_string();
    let fd = root.join("proc/4242/fd");
    std::fs::create_dir_all(&fd).unwrap();
    std::os::unix::fs::symlink("/dev/null", fd.join("0")).unwrap();
    std::os::unix::fs::symlink(format!("/dev/vfio/{group}"), fd.join("7")).unwrap();
    // Noise a real /proc has: non-pid entries, an fd dir we cannot list.
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::create_dir_all(root.join("proc/77")).unwrap();
    let want = format!("/dev/vfio/{group} is held open by pid 4242");
    assert!(sim.explain().contains(&want), "{}", sim.explain());
    let e = sim.try_allocate().unwrap_err();
    assert!(e.contains(&want), "{e}");
    // The process closes it: free again.
    std::fs::remove_file(fd.join("7")).unwrap();
    assert!(sim.explain().ends_with("→ one, free"), "{}", sim.explain());
}
