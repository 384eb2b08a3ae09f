use std::fmt;
use std::str::FromStr;

use super::TypeError;

/// The longest node name vifman makes. The kernel sets no limit (a NUL-terminated string
/// attribute), but a name is printed in every `devlink port function rate show` line and
/// kept in policy files; 64 bytes is plenty and keeps a typo'd paste out.
pub const RATE_NODE_NAME_MAX: usize = 64;

/// A devlink rate node's name (`devlink port function rate add DEV/NAME`). Validated so
/// the node stays addressable by the `devlink` tool too: `DEV/NAME` is split at the last
/// `/`, so a name cannot contain one, and an all-digit name is read there as a leaf's port
/// index, so it cannot be all digits. Letters, digits, `_`, `-`, `.` and `:` only, so it
/// never needs quoting in a shell or a log line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RateNodeName(String);

impl RateNodeName {
    pub fn new(s: &str) -> Result<Self, TypeError> {
        let err = |reason| TypeError::RateNodeName {
            input: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("empty"));
        }
        if s.len() > RATE_NODE_NAME_MAX {
            return Err(err("longer than 64 bytes"));
        }
        if s.contains('/') {
            return Err(err(
                "contains '/' (devlink names a node DEV/NAME, split at the last '/')",
            ));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                "all digits (devlink reads DEV/NUMBER as a port's rate leaf, not a node)",
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
        {
            return Err(err(
                "only letters, digits, '_', '-', '.' and ':' are allowed",
            ));
        }
        Ok(RateNodeName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RateNodeName {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, TypeError> {
        RateNodeName::new(s)
    }
}

impl AsRef<str> for RateNodeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RateNodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

super::serde_as_string!(RateNodeName, "a devlink rate node name like tenant-a");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_node_names() {
        for good in ["grp1", "tenant-a", "t.1:gold", "0x", &"n".repeat(64)] {
            assert_eq!(RateNodeName::new(good).unwrap().as_str(), good);
        }
        for (bad, why) in [
            ("", "empty"),
            ("a/b", "contains '/'"),
            ("17", "all digits"),
            ("x y", "only letters"),
            ("gr\u{e9}", "only letters"),
            ("a\0b", "only letters"),
            (&"n".repeat(65), "longer than 64"),
        ] {
            let e = RateNodeName::new(bad).unwrap_err().to_string();
            assert!(
                e.contains("rate node name") && e.contains(why),
                "{bad:?}: {e}"
            );
        }
        let n: RateNodeName = serde_json::from_str("\"grp1\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"grp1\"");
        assert!(serde_json::from_str::<RateNodeName>("\"a/b\"").is_err());
    }
}
