//! Point reads of one netdev's link settings (admin state, MTU), for `vifman apply`'s plan and
//! read-backs between scans.

use std::path::PathBuf;

use super::root::SysfsRoot;

/// IFF_UP in the netdev's `flags`.
const IFF_UP: u32 = 0x1;

impl SysfsRoot {
    fn net_attr(&self, ifname: &str, attr: &str) -> Option<String> {
        if ifname.contains('/') || ifname.starts_with('.') {
            return None;
        }
        self.confined()
            .ok()?
            .read_attr(&PathBuf::from(format!("sys/class/net/{ifname}/{attr}")))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Administratively up? From IFF_UP in `flags` (operstate alone says "down" for an
    /// up link without carrier); from `operstate` when there is no `flags`.
    pub fn netdev_admin_up(&self, ifname: &str) -> Option<bool> {
        if let Some(f) = self.net_attr(ifname, "flags") {
            if let Ok(v) = u32::from_str_radix(f.trim_start_matches("0x"), 16) {
                return Some(v & IFF_UP != 0);
            }
        }
        self.net_attr(ifname, "operstate")
            .map(|s| matches!(s.as_str(), "up" | "unknown" | "dormant" | "lowerlayerdown"))
    }

    /// The devices stacked on `ifname`: its `master` (bond, bridge, OVS) and every
    /// `upper_<name>` link (macvtap, macvlan, VLAN devices, bond), deduplicated, sorted.
    pub fn netdev_uppers(&self, ifname: &str) -> Vec<String> {
        if ifname.contains('/') || ifname.starts_with('.') {
            return Vec::new();
        }
        let Ok(c) = self.confined() else {
            return Vec::new();
        };
        let dir = PathBuf::from(format!("sys/class/net/{ifname}"));
        // One walk to the netdev's directory, then its listing says whether there is a
        // `master` link to read at all (most netdevs have none).
        let Ok(d) = c.open_dir(&dir) else {
            return Vec::new();
        };
        let entries = d.list();
        let has_master = entries
            .as_ref()
            .map_or(true, |l| l.iter().any(|e| e == "master"));
        let mut out: Vec<String> = entries
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| e.strip_prefix("upper_").map(String::from))
            .collect();
        if let Some(m) = has_master.then(|| d.link_name("master")).flatten() {
            out.push(m);
        }
        out.sort();
        out.dedup();
        out
    }

    pub fn netdev_mtu(&self, ifname: &str) -> Option<u32> {
        self.net_attr(ifname, "mtu")?.parse().ok()
    }
}
