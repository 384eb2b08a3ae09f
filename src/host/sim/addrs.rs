//! Addresses in the simulated kernel. sysfs has no file for a netdev's IP addresses (the real
//! host answers from an RTM_GETADDR dump), so the simulation keeps them in
//! `.vifman-sim-addrs.json` at the top of its tree — `{"<ifname>": ["192.0.2.5/24", …]}` —
//! which a test writes to give a VF netdev an address behind vifman's back.
//! Likewise the per-VF counters and the devlink health reporters (below).

use std::collections::BTreeSet;
use std::path::Path;

use super::SimHost;
use crate::host::HostError;

/// The address file's name inside the simulation's tree.
pub const ADDRS: &str = ".vifman-sim-addrs.json";

impl SimHost {
    pub(super) fn sim_addressed_links(&self) -> Result<BTreeSet<u32>, HostError> {
        let c = self.confined()?;
        let text = match c.read(Path::new(ADDRS), 1 << 20) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(BTreeSet::new()),
            Err(e) => return Err(HostError::from_access("simulate", &e)),
        };
        let m: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_slice(&text)
            .map_err(|e| HostError::other("simulate", format!("{ADDRS}: {e}")))?;
        let mut out = BTreeSet::new();
        for (name, addrs) in m {
            let configured = addrs.iter().any(|a| {
                a.split('/')
                    .next()
                    .and_then(|ip| ip.parse().ok())
                    .is_some_and(|ip| crate::rtnl::addr::configured_address(&ip))
            });
            if !configured || name.contains('/') || name.starts_with('.') {
                continue;
            }
            let idx = c
                .read_attr(Path::new(&format!("sys/class/net/{name}/ifindex")))
                .ok()
                .and_then(|s| s.trim().parse().ok());
            if let Some(i) = idx {
                out.insert(i);
            }
        }
        Ok(out)
    }
}

/// The simulation's per-VF traffic counters (sysfs has none: the real host answers from the
/// PF's IFLA_VF_STATS), kept like the addresses in `.vifman-sim-vfstats.json` at the top of
/// its tree — `{"<pf ifname>": [{"vf": 0, "rx_bytes": 1, …}, …]}`, absent counters 0 —
/// which a test writes to give VFs traffic.
pub const VFSTATS: &str = ".vifman-sim-vfstats.json";

impl SimHost {
    pub(super) fn sim_vf_counters(
        &self,
        pf: &crate::types::IfName,
    ) -> Result<Vec<crate::rtnl::VfCounters>, HostError> {
        let c = self.confined()?;
        let text = match c.read(Path::new(VFSTATS), 1 << 20) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(HostError::from_access("simulate", &e)),
        };
        let mut m: std::collections::BTreeMap<String, Vec<crate::rtnl::VfCounters>> =
            serde_json::from_slice(&text)
                .map_err(|e| HostError::other("simulate", format!("{VFSTATS}: {e}")))?;
        Ok(m.remove(pf.as_str()).unwrap_or_default())
    }
}

/// The simulation's devlink health reporters (the simulated kernel has no devlink), kept
/// like the counters in `.vifman-sim-devlink-health.json` at the top of its tree: a list of
/// reporters in the shape `vifman health --devlink --json` prints them
/// (`[{"dev": {"bus": "pci", "dev": "0000:3b:00.1"}, "name": "tx", "state": "error",
/// "error_count": 3}]`), which a test writes to break a reporter.
pub const DEVLINK_HEALTH: &str = ".vifman-sim-devlink-health.json";

impl SimHost {
    pub(super) fn sim_devlink_health(
        &self,
    ) -> Result<Vec<crate::devlink::HealthReporter>, HostError> {
        let c = self.confined()?;
        let text = match c.read(Path::new(DEVLINK_HEALTH), 1 << 20) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(HostError::from_access("simulate", &e)),
        };
        serde_json::from_slice(&text)
            .map_err(|e| HostError::other("simulate", format!("{DEVLINK_HEALTH}: {e}")))
    }
}
