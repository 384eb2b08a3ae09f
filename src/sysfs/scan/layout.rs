//! Where in a sysfs tree each pass of the scan looks, named once so that the paths opened and
//! the paths quoted in warnings cannot drift apart. Relative to the root, like every access.

pub(super) const PCI_DEVICES: &str = "sys/bus/pci/devices";
pub(super) const PCI_DRIVERS: &str = "sys/bus/pci/drivers";
pub(super) const CLASS_NET: &str = "sys/class/net";
pub(super) const IOMMU_GROUPS: &str = "sys/kernel/iommu_groups";
