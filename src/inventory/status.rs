//! The one rule for "in use outside vifman", shared by the inventory's `free` and the
//! engine's [`crate::engine::VfStatus`], so `inventory --free`, `pools` and `allocate` agree.

/// Signs that something outside vifman uses a VF with no record: bound to vfio-pci (a VM or
/// DPDK holds it), or an administrator-set MAC (a self-chosen one is normalised to zero by
/// the host before it gets here, see `host::normalize_self_chosen`).
pub fn outside_use(driver: Option<&str>, admin_mac_set: bool) -> Vec<String> {
    let mut r = Vec::new();
    if driver == Some("vfio-pci") {
        r.push("bound to vfio-pci".to_string());
    }
    if admin_mac_set {
        r.push("carries an admin MAC".to_string());
    }
    r
}
