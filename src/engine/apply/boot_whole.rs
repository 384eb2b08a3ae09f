//! Boot replay of whole devices: after a reboot a PF or PCI device handed to a guest is back
//! on its native driver, while the store still says the guest owns it. Each active record's
//! devices go back to vfio-pci, with the "original" driver re-captured from the fresh boot
//! (so release restores this boot's state). A record that cannot be put back is undone to
//! where the boot left it and becomes `lost`, with the reason, still holding its devices.

use super::boot::{BootOutcome, BootRecord};
use super::ApplyError;
use crate::engine::actuate;
use crate::host::Host;
use crate::store::{DeviceAllocation, Phase, Store, StoreState};

use crate::types::DriverName;

fn rec(r: &DeviceAllocation, detail: String) -> BootRecord {
    BootRecord {
        vif_id: r.id.to_string(),
        vf: r
            .devices
            .iter()
            .map(|d| d.address.to_string())
            .collect::<Vec<_>>()
            .join(","),
        detail,
        next: None,
        warnings: vec![],
    }
}

/// Rebind every active whole-device record; each outcome is saved as soon as it is known.
pub(super) fn replay(
    host: &dyn Host,
    store: &mut Store,
    st: &mut StoreState,
    out: &mut BootOutcome,
) -> Result<(), ApplyError> {
    let _span = tracing::info_span!("boot_replay_whole", records = st.devices.len()).entered();
    for i in 0..st.devices.len() {
        let r = &mut st.devices[i];
        match r.phase {
            // Whole-device records are never quarantined; kept as a lost one would be.
            Phase::Lost | Phase::Quarantined => {
                let why = r.lost_reason.clone().unwrap_or_default();
                out.skipped.push(rec(r, format!("already lost: {why}")));
                continue;
            }
            Phase::Pending | Phase::Releasing => {
                out.skipped.push(BootRecord {
                    next: Some(crate::engine::Recovery::Repair),
                    ..rec(r, super::boot::INTERRUPTED.into())
                });
                continue;
            }
            Phase::Active => {}
        }
        match restore(host, r) {
            Ok(detail) => out.restored.push(rec(r, detail)),
            Err(reason) => {
                tracing::warn!(id = %r.id, %reason, "whole-device allocation lost");
                r.phase = Phase::Lost;
                r.lost_reason = Some(reason.clone());
                // VFs made behind vifman's back: once removed, a repair rebinds the device.
                let vfs = r
                    .devices
                    .iter()
                    .any(|d| !host.vfs_of(&d.address).is_empty());
                out.lost.push(BootRecord {
                    next: vfs.then_some(crate::engine::Recovery::Repair),
                    ..rec(r, reason)
                });
            }
        }
        store.save(st)?;
    }
    Ok(())
}

/// Put one record's devices on vfio-pci; on failure, put the ones already moved back.
fn restore(host: &dyn Host, r: &mut DeviceAllocation) -> Result<String, String> {
    for d in &r.devices {
        if !host.device_present(&d.address) {
            return Err(format!("{} is no longer on the PCI bus", d.address));
        }
        // A PF that has VFs again (something other than vifman made them) cannot go to
        // vfio-pci without removing them; that is the operator's call, not the replay's.
        let vfs = host.vfs_of(&d.address).len();
        if vfs > 0 {
            return Err(format!(
                "{} has {vfs} VF(s) after boot; it goes back to vfio-pci only once they are removed and the record repaired",
                d.address
            ));
        }
    }
    if r.devices
        .iter()
        .all(|d| host.driver_of(&d.address).is_some_and(|d| d.is_vfio_pci()))
    {
        return Ok("already on vfio-pci".into());
    }
    let mut moved: Vec<usize> = vec![];
    for i in 0..r.devices.len() {
        let d = r.devices[i].clone();
        if host.driver_of(&d.address).is_some_and(|d| d.is_vfio_pci()) {
            continue;
        }
        let was = (
            host.driver_of(&d.address),
            host.driver_override_of(&d.address),
        );
        let vfio = DriverName::vfio_pci();
        if let Err(e) = actuate::rebind(host, &d.address, Some(&vfio), Some(&vfio)) {
            // This device (part-way through its rebind) first, then the ones moved before it.
            let back =
                std::iter::once((d.address, was.0, was.1)).chain(moved.iter().rev().map(|&j| {
                    let b = &r.devices[j];
                    (b.address, b.driver.clone(), b.driver_override.clone())
                }));
            let undo: Vec<String> = back
                .filter_map(|(a, drv, ovr)| {
                    actuate::rebind(host, &a, drv.as_ref(), ovr.as_ref())
                        .err()
                        .map(|e| format!("{a}: {e}"))
                })
                .collect();
            let mut why = format!("{} to vfio-pci: {e}", d.address);
            if !undo.is_empty() {
                why.push_str(&format!(" (and putting back: {})", undo.join("; ")));
            }
            return Err(why);
        }
        // Release restores what this boot gave the device, not what the last boot had.
        let b = &mut r.devices[i];
        (b.driver, b.driver_override) = was;
        moved.push(i);
    }
    Ok(format!("{} device(s) bound to vfio-pci again", moved.len()))
}
