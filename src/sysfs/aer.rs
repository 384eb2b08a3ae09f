//! PCIe AER counters (`aer_dev_correctable`, `aer_dev_fatal`, `aer_dev_nonfatal`) and the
//! netdev `carrier_changes` counter: the raw inputs of the health model
//! ([`crate::inventory::health`]). Read through the confined root like every other sysfs
//! attribute, so fixture trees and the simulation feed the same code as a live host.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::root::SysfsRoot;
use crate::types::PciAddress;

/// Totals since boot of one function's AER counters. A file that is absent (no AER
/// capability, or an older kernel) leaves its total `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AerCounts {
    pub correctable: Option<u64>,
    pub fatal: Option<u64>,
    pub nonfatal: Option<u64>,
}

impl AerCounts {
    pub fn is_empty(&self) -> bool {
        self.correctable.is_none() && self.fatal.is_none() && self.nonfatal.is_none()
    }
}

/// The total of one `aer_dev_*` file. The kernel prints one `<name> <count>` line per error
/// bit and a final `TOTAL_ERR_COR|TOTAL_ERR_FATAL|TOTAL_ERR_NONFATAL <count>` line; older
/// kernels lack the total line, so the per-bit counts are summed then. Anything else is an
/// error naming the offending line (the caller turns it into a warning naming the file).
pub fn parse_aer(text: &str) -> Result<u64, String> {
    let mut sum: u64 = 0;
    let mut total = None;
    let mut any = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        let (Some(name), Some(val), None) = (it.next(), it.next(), it.next()) else {
            return Err(format!(
                "line {}: expected `<name> <count>`, got {line:?}",
                i + 1
            ));
        };
        let v: u64 = val
            .parse()
            .map_err(|_| format!("line {}: {val:?} is not a count", i + 1))?;
        any = true;
        if name.starts_with("TOTAL_ERR_") {
            total = Some(v);
        } else {
            sum = sum.saturating_add(v);
        }
    }
    if !any {
        return Err("empty".into());
    }
    Ok(total.unwrap_or(sum))
}

impl SysfsRoot {
    /// The AER totals of `a`, plus one message per file that exists but could not be read
    /// or parsed (named by path, for the caller's warnings). Never fails as a whole: a bad
    /// file leaves its total `None`.
    pub fn aer_counts(&self, a: &PciAddress) -> (AerCounts, Vec<String>) {
        let mut out = AerCounts::default();
        let mut bad = Vec::new();
        let Ok(c) = self.confined() else {
            return (out, bad);
        };
        for (file, slot) in [
            ("aer_dev_correctable", &mut out.correctable),
            ("aer_dev_fatal", &mut out.fatal),
            ("aer_dev_nonfatal", &mut out.nonfatal),
        ] {
            let rel = PathBuf::from(format!("sys/bus/pci/devices/{a}/{file}"));
            match c.read(&rel, 4096) {
                Ok(bytes) => match parse_aer(&String::from_utf8_lossy(&bytes)) {
                    Ok(v) => *slot = Some(v),
                    Err(e) => bad.push(format!("{}: {e}", rel.display())),
                },
                Err(e) if e.is_not_found() => {}
                Err(e) => bad.push(format!("{}: {e}", rel.display())),
            }
        }
        (out, bad)
    }

    /// The netdev's `carrier_changes` (link up/down transitions since it was created).
    pub fn carrier_changes(&self, ifname: &str) -> Option<u64> {
        if ifname.contains('/') || ifname.starts_with('.') {
            return None;
        }
        self.confined()
            .ok()?
            .read_attr(&PathBuf::from(format!(
                "sys/class/net/{ifname}/carrier_changes"
            )))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The netdev's `carrier` (1 up, 0 down); `None` when unreadable (the kernel refuses
    /// the read with EINVAL while the link is administratively down).
    pub fn carrier(&self, ifname: &str) -> Option<bool> {
        if ifname.contains('/') || ifname.starts_with('.') {
            return None;
        }
        let s = self
            .confined()
            .ok()?
            .read_attr(&PathBuf::from(format!("sys/class/net/{ifname}/carrier")))
            .ok()?;
        match s.trim() {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_aer;

    #[test]
    fn kernel_format_total_line_wins() {
        let t = "RxErr 1\nBadTLP 2\nBadDLLP 0\nRollover 0\nTimeout 0\nNonFatalErr 0\n\
                 CorrIntErr 0\nHeaderOF 0\nTOTAL_ERR_COR 3\n";
        assert_eq!(parse_aer(t), Ok(3));
        assert_eq!(parse_aer("Undefined 0\nDLP 2\nTOTAL_ERR_FATAL 2\n"), Ok(2));
        // Without the total line (older kernels): the sum.
        assert_eq!(parse_aer("DLP 2\nSDES 1\n"), Ok(3));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_aer("").is_err());
        assert!(parse_aer("RxErr lots\n")
            .unwrap_err()
            .contains("not a count"));
        assert!(parse_aer("\u{0}\u{1}garbage").is_err());
        assert!(parse_aer("TOTAL_ERR_COR 1 2\n").is_err());
        assert!(parse_aer("TOTAL_ERR_COR 99999999999999999999999\n").is_err());
    }
}
