//! nova's PCI device types and alias NUMA policies, spelled as nova spells them.

use std::fmt;
use std::str::FromStr;

use super::TypeError;

/// What kind of PCI device a pool holds, derived as nova derives it: a function with a
/// `physfn` link is a VF, one that can have VFs (`sriov_totalvfs` > 0) is a PF, anything else
/// is a plain PCI device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceType {
    Vf,
    Pf,
    Pci,
}

impl DeviceType {
    pub const ALL: [DeviceType; 3] = [DeviceType::Vf, DeviceType::Pf, DeviceType::Pci];

    /// nova's derivation from a device's SR-IOV attributes.
    pub fn derive(has_physfn: bool, total_vfs: Option<u32>) -> DeviceType {
        if has_physfn {
            DeviceType::Vf
        } else if total_vfs.unwrap_or(0) > 0 {
            DeviceType::Pf
        } else {
            DeviceType::Pci
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Vf => "type-VF",
            DeviceType::Pf => "type-PF",
            DeviceType::Pci => "type-PCI",
        }
    }

    /// A whole function handed out as is (not a VF of something vifman configures).
    pub fn is_whole(self) -> bool {
        self != DeviceType::Vf
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeviceType {
    type Err = TypeError;
    /// nova's spelling (`type-PF`) or the short one (`pf`), any case.
    fn from_str(s: &str) -> Result<Self, TypeError> {
        let l = s.to_ascii_lowercase();
        match l.strip_prefix("type-").unwrap_or(&l) {
            "vf" => Ok(DeviceType::Vf),
            "pf" => Ok(DeviceType::Pf),
            "pci" => Ok(DeviceType::Pci),
            _ => Err(TypeError::new(
                "device type",
                s,
                "expected type-VF, type-PF or type-PCI (or vf, pf, pci)",
            )),
        }
    }
}

super::serde_as_string!(DeviceType, "a device type (type-VF, type-PF, type-PCI)");

/// nova's `[pci] alias` `numa_policy`, relative to the NUMA node the request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumaPolicy {
    /// Only devices on the requested node; devices without NUMA information do not qualify.
    Required,
    /// Devices on the requested node first; any other when there are not enough.
    Preferred,
    /// nova's default: devices on the requested node, or devices that report no NUMA node.
    #[default]
    Legacy,
}

impl NumaPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            NumaPolicy::Required => "required",
            NumaPolicy::Preferred => "preferred",
            NumaPolicy::Legacy => "legacy",
        }
    }

    /// Whether a device on `node` may serve a request for `wanted` under this policy (the
    /// preference order among those that may is [`NumaPolicy::rank`]).
    pub fn admits(self, wanted: Option<u32>, node: Option<u32>) -> bool {
        let Some(w) = wanted else { return true };
        match self {
            NumaPolicy::Required => node == Some(w),
            NumaPolicy::Legacy => node.is_none_or(|n| n == w),
            NumaPolicy::Preferred => true,
        }
    }

    /// Sort key: devices on the wanted node first.
    pub fn rank(wanted: Option<u32>, node: Option<u32>) -> bool {
        wanted.is_some_and(|w| node != Some(w))
    }
}

impl fmt::Display for NumaPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NumaPolicy {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, TypeError> {
        match s {
            "required" => Ok(NumaPolicy::Required),
            "preferred" => Ok(NumaPolicy::Preferred),
            "legacy" => Ok(NumaPolicy::Legacy),
            "socket" => Err(TypeError::new(
                "NUMA policy",
                s,
                "socket is not supported by vifman (it needs the guest's CPU placement); use required, preferred or legacy",
            )),
            _ => Err(TypeError::new(
                "NUMA policy",
                s,
                "expected required, preferred or legacy",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_and_spelling() {
        assert_eq!(DeviceType::derive(true, Some(0)), DeviceType::Vf);
        assert_eq!(DeviceType::derive(false, Some(8)), DeviceType::Pf);
        assert_eq!(DeviceType::derive(false, Some(0)), DeviceType::Pci);
        assert_eq!(DeviceType::derive(false, None), DeviceType::Pci);
        for t in DeviceType::ALL {
            assert_eq!(t.as_str().parse::<DeviceType>().unwrap(), t);
        }
        assert_eq!("PF".parse::<DeviceType>().unwrap(), DeviceType::Pf);
        assert!("gpu".parse::<DeviceType>().is_err());
    }

    #[test]
    fn numa_policies_as_nova_defines_them() {
        use NumaPolicy::*;
        assert!(Required.admits(Some(1), Some(1)));
        assert!(!Required.admits(Some(1), None));
        assert!(!Required.admits(Some(1), Some(0)));
        assert!(Legacy.admits(Some(1), None));
        assert!(!Legacy.admits(Some(1), Some(0)));
        assert!(Preferred.admits(Some(1), Some(0)));
        assert!(Required.admits(None, Some(0)));
        assert!("socket".parse::<NumaPolicy>().is_err());
    }
}
