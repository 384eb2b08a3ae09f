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

/// Per device its AER totals and unreadable-file messages, per netdev its
/// `carrier_changes` ([`SysfsRoot::health_counters`]).
pub type HealthCounters = (Vec<(AerCounts, Vec<String>)>, Vec<Option<u64>>);

/// From this many reads on, [`SysfsRoot::health_counters`] uses a second thread.
const PAR_MIN_READS: usize = 256;

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

    /// [`SysfsRoot::aer_counts`] of each of `devices` and [`SysfsRoot::carrier_changes`] of
    /// each of `netdevs`, in order, the same reads one by one. Each read walks a symlinked
    /// path (`sys/bus/pci/devices/ADDR`, `sys/class/net/NAME`), thousands on a big host, so
    /// from [`PAR_MIN_READS`] on a second thread takes the tail of the devices.
    pub fn health_counters(
        &self,
        devices: &[PciAddress],
        netdevs: &[crate::types::IfName],
    ) -> HealthCounters {
        let aer = |d: &[PciAddress]| d.iter().map(|a| self.aer_counts(a)).collect::<Vec<_>>();
        let carrier = || {
            netdevs
                .iter()
                .map(|n| self.carrier_changes(n.as_str()))
                .collect::<Vec<_>>()
        };
        if devices.len() + netdevs.len() < PAR_MIN_READS {
            return (aer(devices), carrier());
        }
        // Three AER files per device against one counter per netdev: split so both threads
        // get about half the opens.
        let total = 3 * devices.len() + netdevs.len();
        let split = devices.len().saturating_sub(total / 6);
        let (head, tail) = devices.split_at(split);
        std::thread::scope(|s| {
            let side = s.spawn(|| aer(tail));
            let mut a = aer(head);
            let c = carrier();
            // The side thread only reads files; were it to die, read its share here.
            a.extend(side.join().unwrap_or_else(|_| aer(tail)));
            (a, c)
        })
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
    use crate::sysfs::SysfsRoot;
    use crate::types::{IfName, PciAddress};

    /// The batch gives what the point reads give, in the order asked, on one thread and on
    /// two (values, absent files, garbage with its warning, a netdev without the counter).
    #[test]
    fn health_counters_are_the_point_reads_in_order() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let mut devices = Vec::new();
        let mut netdevs = Vec::new();
        for i in 0..200u32 {
            let a: PciAddress = format!("0000:{:02x}:{:02x}.{}", 1 + i / 64, (i / 8) % 8, i % 8)
                .parse()
                .unwrap();
            let dir = r.join(format!("sys/devices/pci0000:00/{a}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::create_dir_all(r.join("sys/bus/pci/devices")).unwrap();
            std::os::unix::fs::symlink(
                format!("../../../devices/pci0000:00/{a}"),
                r.join(format!("sys/bus/pci/devices/{a}")),
            )
            .unwrap();
            match i % 4 {
                0 => std::fs::write(dir.join("aer_dev_fatal"), format!("TOTAL_ERR_FATAL {i}\n"))
                    .unwrap(),
                1 => std::fs::write(dir.join("aer_dev_nonfatal"), "garbage here\n").unwrap(),
                _ => {}
            }
            let n = format!("eth{i}");
            let nd = dir.join("net").join(&n);
            std::fs::create_dir_all(&nd).unwrap();
            if i % 3 != 0 {
                std::fs::write(nd.join("carrier_changes"), format!("{}\n", i * 2)).unwrap();
            }
            std::fs::create_dir_all(r.join("sys/class/net")).unwrap();
            std::os::unix::fs::symlink(
                format!("../../devices/pci0000:00/{a}/net/{n}"),
                r.join(format!("sys/class/net/{n}")),
            )
            .unwrap();
            devices.push(a);
            netdevs.push(n.parse::<IfName>().unwrap());
        }
        let root = SysfsRoot::new(r).unwrap();
        for (d, n) in [
            (&devices[..10], &netdevs[..5]),
            (&devices[..], &netdevs[..]),
        ] {
            let (aer, carrier) = root.health_counters(d, n);
            let want: Vec<_> = d.iter().map(|a| root.aer_counts(a)).collect();
            assert_eq!(aer, want);
            let want: Vec<_> = n.iter().map(|x| root.carrier_changes(x.as_str())).collect();
            assert_eq!(carrier, want);
        }
        let (aer, carrier) = root.health_counters(&devices, &netdevs);
        assert_eq!(aer[4].0.fatal, Some(4));
        assert!(aer[5].1[0].contains("aer_dev_nonfatal"), "{:?}", aer[5]);
        assert_eq!((carrier[3], carrier[4]), (None, Some(8)));
    }

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
