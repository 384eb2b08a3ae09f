//! A pool's reset policy on release (`reset = "flr" | "none"` in a `[[device_spec]]`).

use std::fmt;
use std::str::FromStr;

use super::TypeError;

/// How a released VF is reset before the next tenant gets it. Absent from the config means
/// [`ResetPolicy::resolve`]'s default: FLR where the VF's `reset_method` offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetPolicy {
    /// Function-level reset through the VF's sysfs `reset`, with no driver bound. A VF whose
    /// `reset_method` does not offer `flr` cannot be proven clean: its release quarantines it.
    Flr,
    /// No reset: the PF-side knobs are restored and read back, nothing more.
    None,
}

impl ResetPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetPolicy::Flr => "flr",
            ResetPolicy::None => "none",
        }
    }

    /// The policy for a VF: the pool's when it names one, else `flr` if the VF's
    /// `reset_method` lists it (the kernel's own statement that FLR works), else `none`.
    pub fn resolve(configured: Option<ResetPolicy>, reset_methods: Option<&[String]>) -> Self {
        configured.unwrap_or_else(|| {
            if offers_flr(reset_methods) {
                ResetPolicy::Flr
            } else {
                ResetPolicy::None
            }
        })
    }
}

/// Whether a `reset_method` listing offers FLR (`flr`, or `af_flr` for conventional PCI).
pub fn offers_flr(reset_methods: Option<&[String]>) -> bool {
    reset_methods.is_some_and(|m| m.iter().any(|x| x == "flr" || x == "af_flr"))
}

impl fmt::Display for ResetPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

super::serde_as_string!(ResetPolicy, "a reset policy (flr or none)");

impl FromStr for ResetPolicy {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, TypeError> {
        match s {
            "flr" => Ok(ResetPolicy::Flr),
            "none" => Ok(ResetPolicy::None),
            _ => Err(TypeError::new(
                "reset policy",
                s,
                "expected \"flr\" or \"none\"",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_follows_reset_method() {
        let flr = vec!["flr".to_string()];
        let pm = vec!["pm".to_string(), "bus".to_string()];
        assert_eq!(ResetPolicy::resolve(None, Some(&flr)), ResetPolicy::Flr);
        assert_eq!(ResetPolicy::resolve(None, Some(&pm)), ResetPolicy::None);
        assert_eq!(ResetPolicy::resolve(None, None), ResetPolicy::None);
        assert_eq!(
            ResetPolicy::resolve(Some(ResetPolicy::None), Some(&flr)),
            ResetPolicy::None
        );
        assert_eq!(
            ResetPolicy::resolve(Some(ResetPolicy::Flr), None),
            ResetPolicy::Flr
        );
        assert!("FLR".parse::<ResetPolicy>().is_err());
        assert_eq!("none".parse::<ResetPolicy>(), Ok(ResetPolicy::None));
    }
}
