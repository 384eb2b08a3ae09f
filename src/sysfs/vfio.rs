//! The one vfio-viability rule, for `vifman pci` and for `allocate --mode hostdev-vfio` alike.
//!
//! VFIO assigns whole IOMMU groups, so a device is only as usable as its group: every other
//! member must be bound to vfio-pci or pci-stub, unbound, or be a PCI bridge (bridges are not
//! assigned and do not block) — the kernel's own `vfio_dev_viable` rule. A member the scan
//! cannot see is a blocker, not a pass: vfio would refuse the group too. Without an IOMMU
//! group a device can only go to vfio in no-IOMMU mode.

use super::model::{PciDevice, ScanReport};
use crate::types::{DriverName, PciAddress};

/// Drivers that leave a device safe to share a group with an assigned device.
pub const HARMLESS: [&str; 2] = [crate::types::VFIO_PCI, "pci-stub"];

/// One reason a group cannot go to vfio as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// The member in the way; None when the device itself has no group.
    pub member: Option<PciAddress>,
    /// The member's driver, when the reason is that it is bound to one: such a member can
    /// be moved to vfio-pci with the device (`--bind-group`); the others cannot.
    pub driver: Option<DriverName>,
    pub reason: String,
}

impl Blocker {
    /// A member that binding the whole group would fix.
    pub fn bindable(&self) -> Option<PciAddress> {
        self.driver.as_ref().and(self.member)
    }
}

/// `Ok` when `d`'s group can go to vfio as a whole (its own driver aside), else every
/// reason it cannot.
pub fn group_viability(scan: &ScanReport, d: &PciDevice, noiommu: bool) -> Result<(), Vec<String>> {
    let b = group_blockers(scan, d, noiommu);
    if b.is_empty() {
        Ok(())
    } else {
        Err(b.into_iter().map(|b| b.reason).collect())
    }
}

/// The same rule, with each blocker's member and driver kept (see [`Blocker`]).
pub fn group_blockers(scan: &ScanReport, d: &PciDevice, noiommu: bool) -> Vec<Blocker> {
    let Some(group) = d.iommu_group else {
        return if noiommu {
            vec![]
        } else {
            vec![Blocker {
                member: None,
                driver: None,
                reason: "no IOMMU group (IOMMU off or not supported; vfio no-IOMMU mode is off)"
                    .into(),
            }]
        };
    };
    let mut blockers = Vec::new();
    for m in &d.iommu_group_members {
        if *m == d.address {
            continue;
        }
        let Some(md) = scan.device(m) else {
            blockers.push(Blocker {
                member: Some(*m),
                driver: None,
                reason: format!("IOMMU group {group} member {m} is not on the PCI bus"),
            });
            continue;
        };
        if md.ids.is_pci_bridge() {
            continue;
        }
        if let Some(drv) = md
            .driver
            .as_ref()
            .filter(|d| !HARMLESS.contains(&d.as_str()))
        {
            blockers.push(Blocker {
                member: Some(*m),
                driver: Some(drv.clone()),
                reason: format!("IOMMU group {group} member {m} is bound to {drv}"),
            });
        } else if md.driver_unusable {
            // Bound, but to a name vifman cannot write to `driver_override`: not movable.
            blockers.push(Blocker {
                member: Some(*m),
                driver: None,
                reason: format!(
                    "IOMMU group {group} member {m} is bound to a driver whose name vifman cannot use (see the scan warnings)"
                ),
            });
        }
    }
    blockers
}

/// The rule for a whole device (`pools --explain`, `allocate`, and `vifman pci` say the same):
/// `Ok(members)` when its group can go to vfio, `members` being the other endpoints that must
/// be bound with it (non-empty only with `bind_group`); `Err(reason)` otherwise. A member on a
/// driver can be moved along with `--bind-group`; a member vifman cannot see cannot.
pub fn whole_device_verdict(
    scan: &ScanReport,
    d: &PciDevice,
    noiommu: bool,
    bind_group: bool,
) -> Result<Vec<PciAddress>, String> {
    let blockers = group_blockers(scan, d, noiommu);
    let fixable = blockers.iter().all(|b| b.bindable().is_some());
    if blockers.is_empty() || (bind_group && fixable) {
        return Ok(blockers.iter().filter_map(Blocker::bindable).collect());
    }
    let mut why: Vec<String> = blockers.into_iter().map(|b| b.reason).collect();
    if fixable && !bind_group {
        why.push(
            "allocating it with its whole group bound to vfio-pci (bind-group) would allow it"
                .into(),
        );
    }
    Err(why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(a: &str, group: u32, members: &[&str], driver: Option<&str>, class: u32) -> PciDevice {
        let mut d = PciDevice::new(a.parse().unwrap());
        d.present = true;
        d.iommu_group = Some(group);
        d.iommu_group_members = members.iter().map(|m| m.parse().unwrap()).collect();
        d.driver = driver.map(|n| n.parse().unwrap());
        d.ids.class = Some(class);
        d
    }

    fn scan(devices: Vec<PciDevice>) -> ScanReport {
        ScanReport {
            devices,
            netdevs: vec![],
            representors: vec![],
            warnings: vec![],
        }
    }

    const G: [&str; 3] = ["0000:00:01.0", "0000:01:00.0", "0000:01:00.1"];

    #[test]
    fn bridges_and_harmless_members_pass_bound_ones_need_bind_group() {
        let s = scan(vec![
            dev(G[0], 7, &G, Some("pcieport"), 0x060400),
            dev(G[1], 7, &G, Some("nvidia"), 0x030000),
            dev(G[2], 7, &G, Some("vfio-pci"), 0x040300),
        ]);
        let gpu = &s.devices[1];
        assert_eq!(whole_device_verdict(&s, gpu, false, false), Ok(vec![]));

        let s = scan(vec![
            dev(G[0], 7, &G, Some("pcieport"), 0x060400),
            dev(G[1], 7, &G, None, 0x030000),
            dev(G[2], 7, &G, Some("snd_hda_intel"), 0x040300),
        ]);
        let gpu = &s.devices[1];
        let why = whole_device_verdict(&s, gpu, false, false).unwrap_err();
        assert!(
            why.contains("member 0000:01:00.1 is bound to snd_hda_intel")
                && why.contains("(bind-group) would allow it"),
            "{why}"
        );
        assert_eq!(
            whole_device_verdict(&s, gpu, false, true),
            Ok(vec![G[2].parse().unwrap()])
        );
    }

    /// A member bound to a driver whose name the scan refused is not "unbound": it blocks,
    /// and `--bind-group` cannot move it (its driver cannot be named to unbind it).
    #[test]
    fn a_member_on_an_unnameable_driver_blocks_even_with_bind_group() {
        let mut odd = dev(G[2], 7, &G, None, 0x040300);
        odd.driver_unusable = true;
        assert!(odd.is_bound());
        let s = scan(vec![
            dev(G[0], 7, &G, Some("pcieport"), 0x060400),
            dev(G[1], 7, &G, None, 0x030000),
            odd,
        ]);
        let why = whole_device_verdict(&s, &s.devices[1], false, true).unwrap_err();
        assert!(
            why.contains("0000:01:00.1 is bound to a driver whose name vifman cannot use"),
            "{why}"
        );
        assert!(!why.contains("bind-group"), "{why}");
    }

    #[test]
    fn an_unseen_member_blocks_even_with_bind_group() {
        let s = scan(vec![dev(G[1], 7, &G[1..], None, 0x010802)]);
        let why = whole_device_verdict(&s, &s.devices[0], false, true).unwrap_err();
        assert!(why.contains("0000:01:00.1 is not on the PCI bus"), "{why}");
        assert!(!why.contains("bind-group"), "{why}");
    }
}
