//! A simulated kernel over a private copy of a fixture tree, in the spirit of libvirt's
//! virpcimock: writes to `sriov_numvfs` create and remove VF devices, links and netdevs;
//! unbind / driver_override / drivers_probe move driver links as the PCI core does; VF netlink
//! settings live in `vf-state.json` and fail with the errno the real driver gives (per hwdb).
//!
//! The copy lives in the state directory (`<state>/sim-root`), so a sequence of `vifman
//! --simulate` commands sees one evolving host while the shipped fixture stays untouched.

mod addrs;
mod bind;
mod busdev;
mod counts;
mod devlink;
pub mod dispatch;
mod eswitch;
mod faults;
mod hotplug;
mod journal;
mod knob;
mod numvfs;
mod portfn;
mod rate;
mod reset;
mod state;
mod tree;
#[cfg(test)]
mod tree_tests;

pub use addrs::ADDRS;
pub use counts::{SimCounts, SimCountsNow};
pub use faults::{errno_by_name, Faults};
pub use journal::{read_journal, JOURNAL};
pub use portfn::PORTFN_STATE_FILE;
pub(crate) use state::apply_vf_knob;
use state::{drop_link_records, FileKey};

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::events::{self, OnChange, Watch};
use super::{Host, HostError, Knob, SysWrite};
use crate::confined::Confined;
use crate::hwdb::{self, NicModel};
use crate::netlink::{FixtureVfState, PfLinkState};
use crate::sysfs::SysfsRoot;
use crate::types::{IfName, MacAddress, PciAddress};

const SOURCE_MARK: &str = ".vifman-sim-source";

pub struct SimHost {
    root: SysfsRoot,
    dir: PathBuf,
    faults: Faults,
    /// Parsed vf-state.json (never rewritten by the simulation).
    base: std::sync::OnceLock<Vec<PfLinkState>>,
    /// Last parsed version of each per-PF shard, keyed by the file's identity.
    shards: std::sync::Mutex<std::collections::HashMap<String, (FileKey, PfLinkState)>>,
    /// Last parsed version of `devlink.json`, keyed by the file's identity like the shards:
    /// an operation asks the record several times and parses it once.
    record: std::sync::Mutex<Option<(FileKey, Option<crate::devlink::record::DevlinkRecord>)>>,
    counts: SimCounts,
}

/// The simulated kernel's tree inside the state dir.
const SIM_ROOT: &str = "sim-root";

impl SimHost {
    /// The simulated kernel's tree in `state_dir` when a `--simulate` command made one: read-
    /// only views read it without opening (and so without creating) a simulation.
    pub fn existing_tree(state_dir: &Path) -> Option<PathBuf> {
        let dir = state_dir.join(SIM_ROOT);
        dir.is_dir().then_some(dir)
    }

    /// Open the simulation of `fixture` kept in `state_dir`, copying the fixture on first use.
    pub fn open(fixture: &Path, state_dir: &Path) -> Result<SimHost, HostError> {
        let op = "simulate";
        let dir = state_dir.join(SIM_ROOT);
        let fixture_abs = std::fs::canonicalize(fixture)
            .map_err(|e| HostError::other(op, format!("fixture {}: {e}", fixture.display())))?;
        // The state dir is vifman's own (0700); inside it, nothing is followed: a `sim-root`
        // that is a symlink would move every simulated write to wherever it points.
        crate::store::create_state_dir(state_dir)
            .map_err(|e| HostError::other(op, e.to_string()))?;
        let state = Confined::open(state_dir).map_err(|e| HostError::from_io(op, &e))?;
        let name = Path::new(SIM_ROOT);
        match state.kind_of(name) {
            Some("directory") => {
                let src = state
                    .read(&name.join(SOURCE_MARK), 4096)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                if src.trim() != fixture_abs.to_string_lossy() {
                    return Err(HostError::other(
                        op,
                        format!(
                            "{} simulates {:?}, not {}; use another state directory or remove it",
                            dir.display(),
                            src.trim(),
                            fixture_abs.display()
                        ),
                    ));
                }
            }
            Some(kind) => {
                return Err(HostError::other(
                    op,
                    format!(
                        "{} is a {kind}, not the simulation's directory; remove it",
                        dir.display()
                    ),
                ))
            }
            None => {
                let tmp_name = format!("{SIM_ROOT}.tmp{}", std::process::id());
                let tmp = state_dir.join(&tmp_name);
                let _ = state.remove_all(Path::new(&tmp_name));
                tree::copy_tree(&fixture_abs, &tmp).map_err(|e| {
                    HostError::other(op, format!("copying {}: {e}", fixture_abs.display()))
                })?;
                drop_link_records(&tmp).map_err(|e| HostError::from_io(op, &e))?;
                state
                    .replace(
                        &Path::new(&tmp_name).join(SOURCE_MARK),
                        fixture_abs.to_string_lossy().as_bytes(),
                    )
                    .map_err(|e| HostError::other(op, e.to_string()))?;
                // Another process may have won the race; theirs is as good as ours.
                if rustix::fs::renameat(state.as_fd(), &tmp_name, state.as_fd(), SIM_ROOT).is_err()
                {
                    let _ = state.remove_all(Path::new(&tmp_name));
                }
            }
        }
        let root = SysfsRoot::new(&dir).map_err(|e| HostError::other(op, e.to_string()))?;
        Ok(SimHost {
            root,
            dir,
            faults: Faults::from_env(),
            base: Default::default(),
            shards: Default::default(),
            record: Default::default(),
            counts: Default::default(),
        })
    }

    /// A simulation directly on `dir` (tests and benchmarks that own a scratch tree).
    pub fn in_place(dir: &Path) -> Result<SimHost, HostError> {
        drop_link_records(dir).map_err(|e| HostError::from_io("simulate", &e))?;
        let root = SysfsRoot::new(dir).map_err(|e| HostError::other("simulate", e.to_string()))?;
        Ok(SimHost {
            root,
            dir: dir.to_path_buf(),
            faults: Faults::from_env(),
            base: Default::default(),
            shards: Default::default(),
            record: Default::default(),
            counts: Default::default(),
        })
    }

    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The simulation's files, every access confined to its copy of the tree.
    fn confined(&self) -> Result<&Confined, HostError> {
        self.root
            .confined()
            .map_err(|e| HostError::from_access("simulate", &e))
    }

    fn model_of(&self, pf: &PciAddress) -> Option<&'static NicModel> {
        let t = tree::Tree::new(self.confined().ok()?);
        let v = t.read_hex(pf, "vendor")?;
        let d = t.read_hex(pf, "device")?;
        hwdb::by_pf(v, d).or_else(|| hwdb::lookup(v, d))
    }
}

impl Host for SimHost {
    fn sysfs(&self, _: super::Sealed) -> &SysfsRoot {
        &self.root
    }

    fn simulated(&self) -> bool {
        true
    }

    fn vf_states(&self) -> Result<Vec<PfLinkState>, HostError> {
        Ok(self.load_state()?.links)
    }

    fn scan(&self) -> crate::sysfs::ScanReport {
        counts::bump(&self.counts.scans);
        crate::sysfs::scan(&self.root)
    }

    /// The simulated kernel's VF state is its merged shards, not the tree's base file.
    fn read(&self) -> crate::host::HostRead {
        counts::bump(&self.counts.host_reads);
        let mut scan = self.scan();
        let (devlink_ports, devlink_warning) =
            super::read::apply_ports_kept(&mut scan, super::read::port_map(&self.root));
        let has_base = FixtureVfState::new(&self.dir).exists();
        let (links, origin, state_error, mut warnings) = match self.load_state() {
            Ok(d) if has_base => (d.links, crate::host::VfStateOrigin::Fixture, None, vec![]),
            Ok(d) => (d.links, crate::host::VfStateOrigin::None, None, vec![]),
            Err(e) => (
                Vec::new(),
                crate::host::VfStateOrigin::None,
                Some(e.to_string()),
                vec![crate::sysfs::Warning::new(
                    format!("/{}", crate::netlink::VF_STATE_FILE),
                    format!("ignored: {e}"),
                )],
            ),
        };
        warnings.extend(devlink_warning);
        crate::host::HostRead {
            scan,
            states: links.clone(),
            links,
            origin,
            state_error,
            warnings,
            devlink_ports,
        }
    }

    fn addressed_links(&self) -> Result<std::collections::BTreeSet<u32>, HostError> {
        self.sim_addressed_links()
    }

    fn vf_counters(&self, pf: &IfName) -> Result<Vec<crate::rtnl::VfCounters>, HostError> {
        counts::bump(&self.counts.counter_reads);
        self.sim_vf_counters(pf)
    }

    fn devlink_health(&self) -> Result<Vec<crate::devlink::HealthReporter>, HostError> {
        self.sim_devlink_health()
    }

    fn set_vf(&self, pf: &IfName, vf: u32, knob: &Knob) -> Result<(), HostError> {
        self.sim_set_vf(pf, vf, knob)
    }

    fn vf_state_of(&self, pf: &IfName) -> Result<Option<PfLinkState>, HostError> {
        counts::bump(&self.counts.link_reads);
        self.load_link(pf.as_str())
    }

    fn eswitch_of(&self, pf: &super::PfId) -> Result<Option<super::EswitchInfo>, HostError> {
        counts::bump(&self.counts.eswitch_reads);
        self.sim_eswitch_of(pf)
    }

    fn set_eswitch(
        &self,
        pf: &super::PfId,
        set: &crate::devlink::EswitchSet,
    ) -> Result<(), HostError> {
        // The kernel's order (devlink_nl_eswitch_set_doit): the mode first, then the
        // inline and encap modes. The simulated eswitch models the mode only and refuses
        // the others as a driver without them does (netdevsim: EOPNOTSUPP), after the mode
        // change went in, as the kernel leaves it.
        if let Some(mode) = set.mode {
            self.sim_set_eswitch_mode(pf, mode)?;
        }
        if set.inline_mode.is_some() || set.encap_mode.is_some() {
            return Err(HostError::kernel(
                format!("devlink eswitch set {pf} {set} [the simulated eswitch has no inline/encap modes]"),
                libc::EOPNOTSUPP,
            ));
        }
        Ok(())
    }

    fn set_vf_rate_switchdev(
        &self,
        pf: &IfName,
        vf: u32,
        min_mbps: u32,
        max_mbps: u32,
    ) -> Result<bool, HostError> {
        self.sim_set_vf_rate_switchdev(pf, vf, min_mbps, max_mbps)
    }

    fn vf_port_function(
        &self,
        pf: &IfName,
        vf: u32,
    ) -> Result<Option<super::VfPortFunction>, HostError> {
        counts::bump(&self.counts.port_fn_reads);
        self.sim_vf_port_function(pf, vf)
    }

    fn vf_port_functions(
        &self,
        pf: &IfName,
    ) -> Result<std::collections::BTreeMap<u32, super::VfPortFunction>, HostError> {
        counts::bump(&self.counts.port_fn_dumps);
        self.sim_vf_port_functions(pf)
    }

    fn set_vf_port_function(
        &self,
        pf: &IfName,
        vf: u32,
        hw_addr: Option<MacAddress>,
        state: Option<crate::devlink::FnState>,
    ) -> Result<(), HostError> {
        self.sim_set_vf_port_function(pf, vf, hw_addr, state)
    }

    fn rate_objects(&self, pf: &super::PfId) -> Result<Option<super::RateObjects>, HostError> {
        self.sim_rate_objects(pf)
    }

    fn change_rate(&self, pf: &super::PfId, op: &super::RateOp) -> Result<(), HostError> {
        self.sim_change_rate(pf, op)
    }

    fn write(&self, w: &SysWrite) -> Result<(), HostError> {
        let op = w.describe();
        let _span = tracing::info_span!("sim_sysfs_write", op = %op).entered();
        let fault = match w {
            SysWrite::NumVfs(..) | SysWrite::BusNumVfs(..) => "numvfs",
            SysWrite::Autoprobe(..) => "autoprobe",
            SysWrite::DriverOverride(..) => "driver_override",
            SysWrite::Unbind(..) => "unbind",
            SysWrite::Probe(..) => "probe",
            SysWrite::Reset(..) => "reset",
        };
        super::refuse_bound_reset(self, w)?;
        self.faults.check(fault, &op)?;
        // `numvfs.enable`: only a write that creates VFs fails (the netdevsim patch's
        // `sriov_enable` knob), so the removal before it succeeds and the rollback runs.
        if let SysWrite::NumVfs(_, n) | SysWrite::BusNumVfs(_, n) = w {
            if *n > 0 {
                self.faults.check("numvfs.enable", &op)?;
            }
        }
        self.journal(&op);
        let t = tree::Tree::new(self.confined()?);
        let done = match w {
            SysWrite::BusNumVfs(d, n) => return self.set_bus_numvfs(d, *n, &op),
            SysWrite::NumVfs(pf, n) => t
                .set_numvfs(self, pf, *n, self.model_of(pf))
                .map_err(|e| e.with_op(&op)),
            SysWrite::Autoprobe(pf, on) => t
                .write_attr(
                    pf,
                    "sriov_drivers_autoprobe",
                    if *on { "1\n" } else { "0\n" },
                )
                .map_err(|e| e.with_op(&op)),
            SysWrite::DriverOverride(a, d) => t
                .write_attr(
                    a,
                    "driver_override",
                    &d.as_ref()
                        .map(|d| format!("{d}\n"))
                        .unwrap_or_else(|| "(null)\n".into()),
                )
                .map_err(|e| e.with_op(&op)),
            SysWrite::Unbind(a, d) => t.unbind(a, d.as_str()).map_err(|e| e.with_op(&op)),
            SysWrite::Probe(a) => t.probe(a).map_err(|e| e.with_op(&op)),
            SysWrite::Reset(a) => reset::reset(self, &t, a).map_err(|e| e.with_op(&op)),
        };
        done?;
        // The devlink port map follows the VFs (count, binding) of a PF it has.
        let pf = match w {
            SysWrite::NumVfs(pf, _) => Some(*pf),
            SysWrite::Unbind(a, _) | SysWrite::Probe(a) => self.pf_of_vf(a),
            _ => None,
        };
        match pf {
            Some(pf) => self.sync_devlink_vfs(&pf, &op),
            None => Ok(()),
        }
    }

    fn link_up(&self, ifname: &IfName) -> Result<(), HostError> {
        let op = format!("{ifname} up");
        self.faults.check("link_up", &op)?;
        self.journal(&op);
        tree::Tree::new(self.confined()?)
            .set_operstate(ifname.as_str(), "up")
            .map_err(|e| e.with_op(&op))
    }

    fn link_down(&self, ifname: &IfName) -> Result<(), HostError> {
        let op = format!("{ifname} down");
        self.faults.check("link_down", &op)?;
        self.journal(&op);
        tree::Tree::new(self.confined()?)
            .set_operstate(ifname.as_str(), "down")
            .map_err(|e| e.with_op(&op))
    }

    fn set_mtu(&self, ifname: &IfName, mtu: u32) -> Result<(), HostError> {
        let op = format!("{ifname} mtu {mtu}");
        self.faults.check("mtu", &op)?;
        self.journal(&op);
        tree::Tree::new(self.confined()?)
            .set_mtu(ifname.as_str(), mtu)
            .map_err(|e| e.with_op(&op))
    }

    fn wait_until(
        &self,
        what: &str,
        _timeout: Duration,
        ready: &mut dyn FnMut() -> bool,
    ) -> Result<(), HostError> {
        // The simulation is synchronous: whatever a write creates exists when it returns.
        if ready() {
            Ok(())
        } else {
            Err(HostError::Timeout {
                op: "wait".into(),
                what: what.into(),
                waited: Duration::ZERO,
            })
        }
    }

    /// inotify on the simulation's own tree: the simulated kernel only writes files.
    fn watch(&self, on_change: OnChange) -> Result<Watch, HostError> {
        let dir = self.dir.clone();
        events::watch_paths(move || events::sim_paths(&dir), on_change)
            .map_err(|e| HostError::from_io(format!("watch {}", self.dir.display()), &e))
    }
}

impl HostError {
    pub(crate) fn with_op(self, op: &str) -> HostError {
        match self {
            HostError::Kernel { errno, .. } => HostError::Kernel {
                op: op.into(),
                errno,
            },
            HostError::Other { message, .. } => HostError::Other {
                op: op.into(),
                message,
            },
            t => t,
        }
    }
}
