//! One read of the host for the read model: the sysfs scan and the VF-state dump, taken
//! together so every netdev's attributes come from the dump instead of per-netdev sysfs files,
//! with the devlink port map (the kernel's, or a fixture's `devlink.json`) applied to the
//! representors. The engine and every view read the host through this, once per command.

use serde::Serialize;

use super::HostError;
use crate::devlink::record::DEVLINK_FILE;
use crate::devlink::Port;
use crate::netlink::{FixtureVfState, PfLinkState, VfStateDump, VfStateSource, VF_STATE_FILE};
use crate::rtnl::KernelVfState;
use crate::sysfs::{scan_with_deferred_links, ScanReport, SysfsRoot, Warning};

/// Where the VF state of a read came from (shown as `vf_state_source` by the inventory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VfStateOrigin {
    Kernel,
    Fixture,
    None,
}

/// What one read of the host saw.
#[derive(Debug, Clone)]
pub struct HostRead {
    pub scan: ScanReport,
    /// Every PF link's VF state as reported (the kernel's, or the fixture's), for display.
    pub links: Vec<PfLinkState>,
    /// The same with self-chosen VF MACs reported as zero (see
    /// [`normalize_self_chosen`]): what the engine saves, compares and restores.
    pub states: Vec<PfLinkState>,
    pub origin: VfStateOrigin,
    /// Why there is no VF state (the kernel refused the dump, the fixture's file is bad).
    /// Views show it as a warning; the engine refuses to act without VF state.
    pub state_error: Option<String>,
    /// Things worth telling the reader that did not stop the read.
    pub warnings: Vec<Warning>,
    /// The devlink port map the representors were taken from (None where there is none):
    /// kept so a reader matching representors of PFs the scan does not cover (non-PCI ones)
    /// uses the same dump.
    pub devlink_ports: Option<Vec<Port>>,
}

/// VF state and every link's own attributes from one dump: the kernel for the live root,
/// `<root>/vf-state.json` for a fixture (none if absent).
pub fn load_link_dump(root: &SysfsRoot) -> Result<(VfStateDump, VfStateOrigin), (String, Warning)> {
    if root.is_host() {
        let _span = tracing::debug_span!("rtnl_link_dump").entered();
        return KernelVfState
            .link_dump()
            .map(|l| (l, VfStateOrigin::Kernel))
            .map_err(|e| {
                let m = format!("VF state unavailable: {e}");
                (m.clone(), Warning::new("netlink", m))
            });
    }
    let src = FixtureVfState::new(root.path());
    if !src.exists() {
        return Ok((VfStateDump::default(), VfStateOrigin::None));
    }
    src.link_dump()
        .map(|l| (l, VfStateOrigin::Fixture))
        .map_err(|e| {
            let m = strip_path(&e.to_string(), src.path());
            (
                format!("/{VF_STATE_FILE}: {m}"),
                Warning::new(format!("/{VF_STATE_FILE}"), format!("ignored: {m}")),
            )
        })
}

/// Error messages from the fixture reader start with its absolute path; the warning already
/// names the file relative to the root, and absolute paths would make output machine-specific.
fn strip_path(msg: &str, path: &std::path::Path) -> String {
    let p = format!("{}: ", path.display());
    msg.strip_prefix(&p).unwrap_or(msg).to_string()
}

/// The devlink port map of `root`: the kernel's on the live host, the tree's recorded one
/// (`devlink.json`) on a fixture or the simulated kernel's copy. None where there is none.
/// A malformed record is a warning naming the file; the reader then goes on without it.
pub(crate) fn port_map(root: &SysfsRoot) -> (Option<Vec<Port>>, Option<Warning>) {
    match crate::devlink::portmap::ports_of_root(root) {
        Ok(p) => (p, None),
        Err(e) => {
            tracing::debug!(error = %e, "{DEVLINK_FILE} ignored; representors by phys_port_name");
            (
                None,
                Some(Warning::new(
                    format!("/{DEVLINK_FILE}"),
                    format!("ignored: {e}; representors by phys_port_name"),
                )),
            )
        }
    }
}

/// Representors by the one rule (see `devlink::portmap`): where a port map exists it is
/// authoritative for the PFs it has instances of; name parsing stays for the others and
/// for trees without one. Used by every read, the plain one and the simulated kernel's;
/// the port map and its warning are handed back (for [`HostRead::devlink_ports`]).
pub(crate) fn apply_ports_kept(
    scan: &mut ScanReport,
    (ports, warning): (Option<Vec<Port>>, Option<Warning>),
) -> (Option<Vec<Port>>, Option<Warning>) {
    if let Some(ports) = &ports {
        crate::devlink::portmap::apply_port_map(&mut scan.representors, ports);
    }
    (ports, warning)
}

/// The scan and the dump of `root`, the dump loaded on its own thread while the scan reads
/// the PCI devices and joined for the netdev half.
pub(crate) fn read_root(root: &SysfsRoot) -> HostRead {
    let _span = tracing::debug_span!("host_read", root = %root.path().display()).entered();
    type Loaded = Result<(VfStateDump, VfStateOrigin), (String, Warning)>;
    type PortMap = (Option<Vec<Port>>, Option<Warning>);
    let (mut scan, loaded, port_map): (ScanReport, Loaded, PortMap) = std::thread::scope(|s| {
        let job = s.spawn(|| load_link_dump(root));
        // The devlink port dump is independent of both: it runs alongside them.
        let ports_job = s.spawn(|| port_map(root));
        let mut loaded: Option<Loaded> = None;
        let empty = VfStateDump::default();
        let report = scan_with_deferred_links(root, || {
            let l = loaded.insert(job.join().unwrap_or_else(|_| {
                let m = "internal error: the dump reader panicked".to_string();
                Err((m.clone(), Warning::new("netlink", m)))
            }));
            match l {
                Ok((d, _)) => &d.netdevs,
                Err(_) => &empty.netdevs,
            }
        });
        // The scan always asks; should it not, read the dump here.
        let loaded = loaded.unwrap_or_else(|| load_link_dump(root));
        let ports = ports_job.join().unwrap_or_else(|_| port_map(root));
        (report, loaded, ports)
    });
    let (devlink_ports, devlink_warning) = apply_ports_kept(&mut scan, port_map);
    let (links, origin, state_error, mut warnings) = match loaded {
        Ok((d, o)) => (d.links, o, None, Vec::new()),
        Err((m, w)) => (Vec::new(), VfStateOrigin::None, Some(m), vec![w]),
    };
    warnings.extend(devlink_warning);
    let mut states = links.clone();
    for l in &mut states {
        normalize_self_chosen(root, l);
    }
    HostRead {
        scan,
        links,
        states,
        origin,
        state_error,
        warnings,
        devlink_ports,
    }
}

impl HostRead {
    /// The VF state, or the error the engine refuses to act without.
    pub fn require_states(&self, op: &str) -> Result<(), HostError> {
        match &self.state_error {
            Some(e) => Err(HostError::other(op, e.clone())),
            None => Ok(()),
        }
    }
}

/// Report a self-chosen VF MAC (see [`crate::sysfs::selfmac`]) as "no admin MAC" (zero), so
/// the engine saves, compares and restores what an administrator set, not what igbvf picked.
pub fn normalize_self_chosen(root: &SysfsRoot, link: &mut PfLinkState) {
    let Ok(c) = root.confined() else { return };
    for s in &mut link.vfs {
        if s.mac.is_zero() {
            continue;
        }
        let net = std::path::PathBuf::from(format!(
            "sys/class/net/{}/device/virtfn{}/net",
            link.ifname, s.vf
        ));
        let Some(name) = c.list(&net).ok().and_then(|v| v.into_iter().next()) else {
            continue;
        };
        if crate::sysfs::selfmac::is_self_chosen(root, &name, &s.mac) {
            s.mac = crate::types::MacAddress::from_slice(&[0; 6]).expect("six bytes");
        }
    }
}
