use std::fmt;
use std::str::FromStr;

use super::TypeError;

/// A kernel driver name: what may follow `sys/bus/pci/drivers/`. Validated so that it can be
/// spliced into that path (no `/`, no `..`) and written to `driver_override`.
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
        if s.len() > 64 {
            return Err(err("longer than 64 bytes"));
        }
        if s == "." || s == ".." {
            return Err(err("a relative path component"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(err("only letters, digits, '_', '-' and '.' are allowed"));
        }
        Ok(DriverName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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

impl From<DriverName> for String {
    fn from(d: DriverName) -> String {
        d.0
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
        for bad in ["", ".", "..", "a/b", "x y", &"a".repeat(65)] {
            let e = DriverName::new(bad).unwrap_err().to_string();
            assert!(e.contains("is not a driver name"), "{bad:?}: {e}");
        }
        let d: DriverName = serde_json::from_str("\"igbvf\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"igbvf\"");
        assert!(serde_json::from_str::<DriverName>("\"../x\"").is_err());
    }
}
