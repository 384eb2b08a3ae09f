//! Reading a sysfs root into an inventory: the read model, projected.

use super::{project, Inventory, VfStateOrigin};
use crate::netlink::VfStateDump;
use crate::sysfs::{SysfsRoot, Warning};

/// VF state and every link's own attributes from one dump (see
/// [`crate::host::read::load_link_dump`]); a failure is a warning and no state.
pub fn load_link_dump(root: &SysfsRoot) -> (VfStateDump, VfStateOrigin, Vec<Warning>) {
    match crate::host::read::load_link_dump(root) {
        Ok((d, o)) => (d, o, Vec::new()),
        Err((_, w)) => (VfStateDump::default(), VfStateOrigin::None, vec![w]),
    }
}

/// The whole unfiltered inventory of `root` with no config and no allocations, as
/// `vifman inventory --sysfs-root` shows it without a state dir (health judged on this one
/// sample, as with no debounce history). `label` is how the root is spelled in the output.
pub fn collect(root: &SysfsRoot, label: &str) -> Inventory {
    let host = crate::host::RealHost::new(root.clone());
    let view = crate::view::HostView::load_display(&host);
    let st = crate::store::StoreState::default();
    let mut inv = project(&view, label, None, &st, root.is_host());
    super::add_bus_functions(&mut inv, &host, &view);
    super::apply_host_eswitch(&mut inv, &host);
    super::apply_bus_eswitch(&mut inv, &host);
    let (inputs, warnings) = super::health::samples(&host, &view, &st);
    let report = super::health::Tracker::default().observe(
        &super::health::HealthPolicy::default(),
        0,
        &inputs,
    );
    super::apply_health(&mut inv, &report);
    inv.warnings
        .extend(warnings.into_iter().map(|w| Warning::new("health", w)));
    inv
}
