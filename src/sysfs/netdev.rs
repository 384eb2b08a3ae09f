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

    /// [`SysfsRoot::netdev_uppers`] of each of `names`, in order; from 256 names on a second
    /// thread takes the second half (each is a walk through a `sys/class/net` link).
    pub fn netdev_uppers_many(&self, names: &[&str]) -> Vec<Vec<String>> {
        let all = |n: &[&str]| n.iter().map(|x| self.netdev_uppers(x)).collect::<Vec<_>>();
        if names.len() < 256 {
            return all(names);
        }
        let (head, tail) = names.split_at(names.len() / 2);
        std::thread::scope(|s| {
            let side = s.spawn(|| all(tail));
            let mut out = all(head);
            // The side thread only reads files; were it to die, read its share here.
            out.extend(side.join().unwrap_or_else(|_| all(tail)));
            out
        })
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

#[cfg(test)]
mod tests {
    use crate::sysfs::SysfsRoot;
    use std::os::unix::fs::symlink;

    /// The batch gives each netdev's uppers as one by one, in order, on one thread and on
    /// two: `upper_*` links and `master`, a netdev without either, one that does not exist.
    #[test]
    fn uppers_many_are_the_point_reads_in_order() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("sys/class/net")).unwrap();
        let mut names = Vec::new();
        for i in 0..300 {
            let n = format!("eth{i}");
            let dir = r.join(format!("sys/devices/virtual/net/{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            if i % 3 == 0 {
                symlink("../br0", dir.join("master")).unwrap();
                symlink("../br0", dir.join("upper_br0")).unwrap();
            }
            if i % 5 == 0 {
                symlink("../macvtap{i}", dir.join(format!("upper_macvtap{i}"))).unwrap();
            }
            symlink(
                format!("../../devices/virtual/net/{n}"),
                r.join(format!("sys/class/net/{n}")),
            )
            .unwrap();
            names.push(n);
        }
        names.push("gone0".into());
        let root = SysfsRoot::new(r).unwrap();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        for part in [&refs[..7], &refs[..]] {
            let want: Vec<_> = part.iter().map(|n| root.netdev_uppers(n)).collect();
            assert_eq!(root.netdev_uppers_many(part), want);
        }
        let got = root.netdev_uppers_many(&refs);
        assert_eq!(got[15], vec!["br0", "macvtap15"]);
        assert_eq!(got[1], Vec::<String>::new());
        assert_eq!(got[300], Vec::<String>::new());
    }
}
