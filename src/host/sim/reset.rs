//! `echo 1 > reset` in the simulated kernel: the PCI core's `reset_store`.

use super::tree::Tree;
use super::SimHost;
use crate::host::{Host, HostError};
use crate::types::PciAddress;

/// No `reset` file: the function has no reset (ENOENT, as opening the missing attribute
/// gives); an emptied `reset_method`: ENOTTY (`pci_reset_function` with no method). A bound
/// driver is refused (EBUSY) even though the kernel would go ahead: vifman's guard
/// ([`crate::host::refuse_bound_reset`]) runs first, this is the backstop. The reset puts the
/// function's config space back to power-on (zeroes here); PF-side admin settings live in
/// the PF driver and survive it, as on igb.
pub(super) fn reset(sim: &SimHost, t: &Tree, dev: &PciAddress) -> Result<(), HostError> {
    if t.device_dir(dev).is_none() {
        return Err(HostError::kernel("sim", libc::ENODEV));
    }
    if t.read_attr(dev, "reset").is_none() {
        return Err(HostError::kernel("sim", libc::ENOENT));
    }
    if sim.driver_of(dev).is_some() {
        return Err(HostError::kernel("sim", libc::EBUSY));
    }
    if t.read_attr(dev, "reset_method")
        .unwrap_or_default()
        .is_empty()
    {
        return Err(HostError::kernel("sim", libc::ENOTTY));
    }
    if t.read_attr(dev, "config").is_some() {
        t.write_attr(dev, "config", &"\0".repeat(256))?;
    }
    Ok(())
}
