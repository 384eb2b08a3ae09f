//! A simulated netdevsim bus device (non-PCI SR-IOV PF) next to the nfv-host simulation:
//! `sys/bus/netdevsim/devices/netdevsim7` with `sriov_numvfs` and PF netdev eni7np0, laid
//! out as the kernel lays it out, with its netlink VF records.

use std::path::{Path, PathBuf};

use super::cli::stderr;
use super::sim::*;

pub const NSIM_POOLS: &str = r#"
[[device_spec]]
pf_names = ["enp175s0f0"]
physical_network = "physnet3"
"#;

pub const NSIM_ND: &str = "eni7np0";
pub const NSIM_DEV: &str = "netdevsim/netdevsim7";

pub struct Nsim {
    pub sim: SimEnv,
    pub kernel: PathBuf,
}

fn symlink(target: &str, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

impl Nsim {
    /// The nfv-host simulation plus netdevsim device 7 with `vfs` VFs behind netdev eni7np0,
    /// laid out as the kernel lays it out.
    pub fn new(vfs: u32) -> Nsim {
        let sim = SimEnv::with_config(NSIM_POOLS);
        let k = sim_kernel(NFV, &sim.state);
        let dev = k.join("sys/devices/netdevsim7");
        let net = dev.join("net").join(NSIM_ND);
        std::fs::create_dir_all(&net).unwrap();
        std::fs::write(dev.join("sriov_numvfs"), format!("{vfs}\n")).unwrap();
        symlink("../../bus/netdevsim", &dev.join("subsystem"));
        symlink("../../../netdevsim7", &net.join("device"));
        for (f, v) in [
            ("ifindex", "907"),
            ("operstate", "up"),
            ("flags", "0x1003"),
            ("mtu", "1500"),
            ("address", "02:00:00:07:00:00"),
            ("type", "1"),
        ] {
            std::fs::write(net.join(f), format!("{v}\n")).unwrap();
        }
        symlink(
            "../../../devices/netdevsim7",
            &k.join("sys/bus/netdevsim/devices/netdevsim7"),
        );
        symlink(
            &format!("../../devices/netdevsim7/net/{NSIM_ND}"),
            &k.join("sys/class/net").join(NSIM_ND),
        );
        let shards = k.join("vf-state.d");
        std::fs::create_dir_all(&shards).unwrap();
        let vf = |i: u32| {
            serde_json::json!({"vf": i, "mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0,
                "vlan_proto": "802.1Q", "spoofchk": true, "trust": false, "link_state": "auto",
                "min_tx_rate": 0, "max_tx_rate": 0})
        };
        let link = serde_json::json!({"ifname": NSIM_ND, "ifindex": 907, "num_vf": vfs,
            "vfs": (0..vfs).map(vf).collect::<Vec<_>>()});
        std::fs::write(shards.join(format!("{NSIM_ND}.json")), link.to_string()).unwrap();
        Nsim { sim, kernel: k }
    }

    /// `sriov_numvfs` as the simulated kernel holds it.
    pub fn numvfs(&self) -> u32 {
        std::fs::read_to_string(
            self.kernel
                .join("sys/bus/netdevsim/devices/netdevsim7/sriov_numvfs"),
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap()
    }

    /// The PF's VF records as vifman reads them (`vf show`): how many.
    pub fn vf_records(&self) -> usize {
        let o = self.sim.run(&["vf", "show", NSIM_ND, "--json"], &[]);
        if !o.status.success() {
            assert!(stderr(&o).contains("has no VFs"), "{}", stderr(&o));
            return 0;
        }
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array().unwrap().len()
    }

    pub fn numvfs_run(&self, pf: &str, n: &str, fail: &str) -> std::process::Output {
        let env: Vec<(&str, &str)> = if fail.is_empty() {
            vec![]
        } else {
            vec![("VIFMAN_SIM_FAIL", fail)]
        };
        self.sim.run(&["numvfs", pf, n], &env)
    }

    pub fn journal_writes(&self) -> Vec<String> {
        vifman::host::sim::read_journal(&self.kernel)
            .into_iter()
            .filter(|l| l.contains("netdevsim7/sriov_numvfs"))
            .collect()
    }
}
