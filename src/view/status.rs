//! The one rule for "in use outside vifman", part of [`super::VfStatus`]: the inventory's
//! `free`, `pools` and `allocate` all read it from there.

use crate::store::PolicyVf;
use crate::types::{DriverName, MacAddress};

/// What the host shows around a VF's netdevs, gathered by the engine's host view (the
/// inventory, which reads no addresses, passes the default: no such signs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetdevSigns {
    /// VF netdevs that are administratively up and carry a configured address (LXD's rule:
    /// a VF that is up with an address is someone's).
    pub up_with_addresses: Vec<String>,
    /// (VF netdev, device stacked on it): a bond, bridge, OVS, macvtap or VLAN device.
    pub uppers: Vec<(String, String)>,
    /// The VF is bound to its NIC's netdev driver but has no netdev in vifman's namespace:
    /// the netdev was moved into another one (a container's). The driver's name.
    pub netdev_elsewhere: Option<DriverName>,
    /// The kubelet resource its checkpoint says holds the VF (another device plugin's: a
    /// VF vifman's own plugin hands out has a store record, which is checked first).
    pub kubelet_resource: Option<String>,
    /// The VF is on vfio-pci and its `/dev/vfio/<group>` is open: (group, pids holding it).
    pub vfio_open: Option<(u32, Vec<u32>)>,
}

/// Signs that something outside vifman uses a VF with no record: bound to vfio-pci (a VM or
/// DPDK holds it), an administrator-set MAC (a self-chosen one is normalised to zero by
/// the host before it gets here, see `host::normalize_self_chosen`), a netdev up with an
/// address, a device stacked on its netdev, its netdev in another namespace, or another
/// device plugin's allocation in kubelet's checkpoint, its open `/dev/vfio/<group>`. What
/// vifman's own host-state policy set (`own`) is not a sign of outside use.
pub fn outside_use(
    driver: Option<&DriverName>,
    admin_mac: Option<MacAddress>,
    own: Option<&PolicyVf>,
    signs: &NetdevSigns,
) -> Vec<String> {
    let mut r = Vec::new();
    let vfio = |d: Option<&DriverName>| d.is_some_and(DriverName::is_vfio_pci);
    if vfio(driver) && !vfio(own.and_then(|o| o.driver.as_ref())) {
        r.push("bound to vfio-pci".to_string());
    }
    if let Some(m) = admin_mac.filter(|m| !m.is_zero()) {
        if own.and_then(|o| o.mac) != Some(m) {
            r.push("carries an admin MAC".to_string());
        }
    }
    for n in &signs.up_with_addresses {
        r.push(format!("netdev {n} is up with an address"));
    }
    for (n, u) in &signs.uppers {
        r.push(format!(
            "netdev {n} is under {u} (bond, bridge, macvtap or VLAN)"
        ));
    }
    if let Some(res) = &signs.kubelet_resource {
        r.push(format!(
            "given to a container as {res} (kubelet device-plugin checkpoint)"
        ));
    }
    if let Some((g, pids)) = &signs.vfio_open {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        r.push(format!(
            "/dev/vfio/{g} is held open by pid {} (a VM or DPDK)",
            pids.join(", ")
        ));
    }
    if let Some(d) = &signs.netdev_elsewhere {
        r.push(format!(
            "on {d} but its netdev is not in this namespace (moved into another netns)"
        ));
    }
    r
}
