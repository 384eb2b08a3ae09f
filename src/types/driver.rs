use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use super::TypeError;

/// The PCI driver vifman hands devices to guests with.
pub const VFIO_PCI: &str = "vfio-pci";

/// The longest directory entry name Linux allows (`NAME_MAX`): a driver's name is the name of
/// its directory under `sys/bus/pci/drivers/`.
const NAME_MAX: usize = 255;

/// A kernel driver name: what may follow `sys/bus/pci/drivers/`, what a device's `driver`
/// link points at and what `driver_override` holds.
///
/// The rule is the kernel's, not a tidier subset of it: a PCI driver's name is any C string
/// its author chose, and sysfs only keeps `/` out of directory names. Real ones are not all
/// identifiers: the i6300esb watchdog that QEMU guests commonly have registers as
/// `i6300ESB timer`, with a space; `8139too` and `3w-9xxx` start with digits. Refused are
/// only what cannot be a name under `drivers/` or cannot be written back to
/// `driver_override` and read again: empty, `.`/`..`, a `/`, control characters (the kernel
/// cuts `driver_override` at a newline; NUL ends the C string), surrounding whitespace (sysfs
/// readers trim it) and more than `NAME_MAX` bytes. Such a value is therefore always safe to
/// splice into a path under `drivers/` and to write to `driver_override`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DriverName(String);

impl DriverName {
    pub fn new(s: &str) -> Result<Self, TypeError> {
        let err = |reason| TypeError::DriverName {
            input: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("empty"));
        }
        if s.len() > NAME_MAX {
            return Err(err("longer than 255 bytes"));
        }
        if s == "." || s == ".." {
            return Err(err("a relative path component"));
        }
        if s.contains('/') {
            return Err(err("contains '/'"));
        }
        if s.chars().any(char::is_control) {
            return Err(err("contains a control character"));
        }
        if s.trim() != s {
            return Err(err("starts or ends with whitespace"));
        }
        Ok(DriverName(s.to_string()))
    }

    /// `vfio-pci`, the driver passthrough binds to.
    pub fn vfio_pci() -> Self {
        DriverName(VFIO_PCI.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_vfio_pci(&self) -> bool {
        self.0 == VFIO_PCI
    }
}

/// Read-only view as `str`, so comparisons with a literal (`d.as_deref() == Some("igb")`)
/// and formatting need no conversion; there is no way back to a `DriverName` but
/// [`DriverName::new`].
impl Deref for DriverName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for DriverName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for DriverName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl FromStr for DriverName {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, TypeError> {
        DriverName::new(s)
    }
}

impl TryFrom<String> for DriverName {
    type Error = TypeError;
    fn try_from(s: String) -> Result<Self, TypeError> {
        DriverName::new(&s)
    }
}

impl TryFrom<&str> for DriverName {
    type Error = TypeError;
    fn try_from(s: &str) -> Result<Self, TypeError> {
        DriverName::new(s)
    }
}

impl From<DriverName> for String {
    fn from(d: DriverName) -> String {
        d.0
    }
}

/// Maps keyed by driver (hwdb's `[drivers.X]` tables) can be looked up by a `&str`.
impl std::borrow::Borrow<str> for DriverName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for DriverName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DriverName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

super::serde_as_string!(DriverName, "a kernel driver name like vfio-pci");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_names() {
        assert_eq!(DriverName::new("vfio-pci").unwrap().as_str(), "vfio-pci");
        assert_eq!(
            "ixgbevf".parse::<DriverName>().unwrap().to_string(),
            "ixgbevf"
        );
        for bad in ["", ".", "..", "a/b", &"a".repeat(256)] {
            let e = DriverName::new(bad).unwrap_err().to_string();
            assert!(e.contains("is not a driver name"), "{bad:?}: {e}");
        }
        let d: DriverName = serde_json::from_str("\"igbvf\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"igbvf\"");
        assert!(serde_json::from_str::<DriverName>("\"../x\"").is_err());
    }

    /// Names real kernels register under `sys/bus/pci/drivers/` (module names, `KBUILD_MODNAME`
    /// spellings and hand-written `.name` strings alike) are all accepted.
    #[test]
    fn kernel_driver_names_are_accepted() {
        for ok in [
            "vfio-pci",
            "mlx5_core",
            "igb",
            "igbvf",
            "i40e",
            "iavf",
            "ice",
            "ixgbe",
            "ixgbevf",
            "nvme",
            "virtio-pci",
            "pcieport",
            "xhci_hcd",
            "8139too",
            "3w-9xxx",
            "BusLogic",
            "nForce2_smbus",
            "i6300ESB timer",
            "xen-pciback",
            "pci-stub",
            "snd_hda_intel",
            &"a".repeat(255),
        ] {
            let d = DriverName::new(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            assert_eq!(d.as_str(), ok);
            // Wire form: the same JSON string both ways.
            let j = serde_json::to_string(&d).unwrap();
            assert_eq!(j, serde_json::to_string(ok).unwrap());
            assert_eq!(serde_json::from_str::<DriverName>(&j).unwrap(), d);
        }
    }

    #[test]
    fn edge_cases_are_refused_with_the_reason() {
        let reason = |s: &str| match DriverName::new(s).unwrap_err() {
            TypeError::DriverName { input, reason } => {
                assert_eq!(input, s);
                reason
            }
            e => panic!("{e:?}"),
        };
        assert_eq!(reason(""), "empty");
        assert_eq!(reason("."), "a relative path component");
        assert_eq!(reason(".."), "a relative path component");
        assert_eq!(reason("../igb"), "contains '/'");
        assert_eq!(reason("igb/bind"), "contains '/'");
        assert_eq!(reason("/"), "contains '/'");
        assert_eq!(reason("igb\n"), "contains a control character");
        assert_eq!(reason("ig\0b"), "contains a control character");
        assert_eq!(reason("i\tgb"), "contains a control character");
        assert_eq!(reason("\u{1b}[31migb"), "contains a control character");
        assert_eq!(reason(" igb"), "starts or ends with whitespace");
        assert_eq!(reason("igb "), "starts or ends with whitespace");
        assert_eq!(reason(&"a".repeat(256)), "longer than 255 bytes");
        // Dots inside a name are fine; only the path components themselves are not.
        assert!(DriverName::new("...").is_ok());
        assert!(DriverName::new(".hidden").is_ok());
        // The message quotes the bad value so the operator sees exactly what was refused.
        let e = DriverName::new("igb\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "\"igb\\n\" is not a driver name: contains a control character"
        );
    }

    #[test]
    fn compares_with_str_and_knows_vfio() {
        let d = DriverName::vfio_pci();
        assert!(d.is_vfio_pci());
        assert!(d == "vfio-pci");
        assert_eq!(Some(&d).map(|d| &**d), Some(VFIO_PCI));
        assert!(!DriverName::new("igb").unwrap().is_vfio_pci());
        let e = serde_json::from_str::<DriverName>("\"a/b\"").unwrap_err();
        assert!(
            e.to_string().contains("\"a/b\" is not a driver name"),
            "{e}"
        );
    }
}
