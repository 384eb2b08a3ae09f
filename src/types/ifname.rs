use std::fmt;
use std::str::FromStr;

use super::TypeError;

/// A Linux network interface name, validated with the kernel's own `dev_valid_name()` rules:
/// 1..=15 bytes (IFNAMSIZ - 1), not "." or "..", no '/', ':', NUL or whitespace; and no '%',
/// which the kernel never leaves in a registered name (it expands `tap%d` to `tap0`), so a
/// name with '%' would create a device under another name than the one asked for. Because of the
/// '/' and ".." rules an `IfName` can be joined onto `sys/class/net/` safely.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfName(String);

impl IfName {
    pub const MAX_LEN: usize = 15;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IfName {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, TypeError> {
        let err = |reason| TypeError::IfName {
            input: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(err("longer than 15 bytes"));
        }
        if s == "." || s == ".." {
            return Err(err("'.' and '..' are not interface names"));
        }
        if s.chars()
            .any(|c| c == '/' || c == ':' || c == '%' || c == '\0' || c.is_whitespace())
        {
            return Err(err("contains '/', ':', '%', NUL or whitespace"));
        }
        Ok(Self(s.to_string()))
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

super::serde_as_string!(IfName, "a network interface name");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kernel_rules() {
        for ok in [
            "eth0",
            "enp59s0f0v12",
            "a",
            "x23456789012345",
            "pf0vf1",
            "eth0.100",
        ] {
            assert!(ok.parse::<IfName>().is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            ".",
            "..",
            "x234567890123456",
            "a/b",
            "eth0:1",
            "a b",
            "a\tb",
            "a\0b",
            "a\u{a0}b",
            "tap%d",
            "%",
        ] {
            assert!(bad.parse::<IfName>().is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_valid_is_path_safe(s in "\\PC*") {
            if let Ok(n) = s.parse::<IfName>() {
                prop_assert!(!n.as_str().contains('/'));
                prop_assert!(n.as_str().len() <= 15);
            }
        }
    }
}
