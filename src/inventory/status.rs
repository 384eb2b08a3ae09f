//! The one rule for "in use outside vifman", shared by the inventory's `free` and the
//! engine's [`crate::engine::VfStatus`], so `inventory --free`, `pools` and `allocate` agree.

use crate::store::PolicyVf;
use crate::types::MacAddress;

/// Signs that something outside vifman uses a VF with no record: bound to vfio-pci (a VM or
/// DPDK holds it), or an administrator-set MAC (a self-chosen one is normalised to zero by
/// the host before it gets here, see `host::normalize_self_chosen`). What vifman's own host-state policy set (`own`) is not a sign of outside use.
pub fn outside_use(
    driver: Option<&str>,
    admin_mac: Option<MacAddress>,
    own: Option<&PolicyVf>,
) -> Vec<String> {
    let mut r = Vec::new();
    if driver == Some("vfio-pci") && own.and_then(|o| o.driver.as_deref()) != Some("vfio-pci") {
        r.push("bound to vfio-pci".to_string());
    }
    if let Some(m) = admin_mac.filter(|m| !m.is_zero()) {
        if own.and_then(|o| o.mac) != Some(m) {
            r.push("carries an admin MAC".to_string());
        }
    }
    r
}
