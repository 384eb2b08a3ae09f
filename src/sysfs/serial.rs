//! A PCI function's serial number, the selector that survives slot moves and netdev renames:
//! the PCIe Device Serial Number extended capability (ID 0x0003) in `config`, else the VPD
//! read-only `SN` keyword in `vpd`. Either may be missing (most fixtures, many NICs), and
//! reading `config` past 64 bytes needs root on a real host: then there is no serial, never
//! a guessed one.

use std::path::PathBuf;

use super::root::SysfsRoot;
use crate::types::PciAddress;

const EXT_CAP_DSN: u32 = 0x0003;

/// The DSN in lspci's spelling (`00-1b-21-ff-ff-a0-b1-c2`) from a config space dump.
pub fn dsn_from_config(config: &[u8]) -> Option<String> {
    let dword = |at: usize| -> Option<u32> {
        config
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut at = 0x100usize;
    // At most 1024 capabilities fit in 4 KiB; a loop in the list must not hang us.
    for _ in 0..1024 {
        let h = dword(at)?;
        if h == 0 || h == 0xffff_ffff {
            return None;
        }
        if h & 0xffff == EXT_CAP_DSN {
            let lo = dword(at + 4)?;
            let hi = dword(at + 8)?;
            let v = (u64::from(hi) << 32) | u64::from(lo);
            let b = v.to_be_bytes();
            return Some(
                b.iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<Vec<_>>()
                    .join("-"),
            );
        }
        let next = ((h >> 20) & 0xffc) as usize;
        if next < 0x100 {
            return None;
        }
        at = next;
    }
    None
}

/// The `SN` keyword of the VPD read-only section.
pub fn sn_from_vpd(vpd: &[u8]) -> Option<String> {
    let mut i = 0usize;
    while i < vpd.len() {
        let tag = vpd[i];
        if tag & 0x80 == 0 {
            // Small resource: 0x78 is End; length in the low 3 bits.
            if tag & 0x78 == 0x78 {
                return None;
            }
            i += 1 + (tag & 7) as usize;
            continue;
        }
        let len = u16::from_le_bytes([*vpd.get(i + 1)?, *vpd.get(i + 2)?]) as usize;
        let body = vpd.get(i + 3..i + 3 + len)?;
        if tag == 0x90 {
            let mut j = 0;
            while j + 3 <= body.len() {
                let (k, n) = (&body[j..j + 2], body[j + 2] as usize);
                let v = body.get(j + 3..j + 3 + n)?;
                if k == b"SN" {
                    let s = String::from_utf8_lossy(v).trim().to_string();
                    return (!s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
                        .then_some(s);
                }
                j += 3 + n;
            }
        }
        i += 3 + len;
    }
    None
}

impl SysfsRoot {
    /// The function's serial: its PCIe DSN, else its VPD `SN`; `None` when it has neither or
    /// they cannot be read.
    pub fn device_serial(&self, a: &PciAddress) -> Option<String> {
        let c = self.confined().ok()?;
        let dir = PathBuf::from(format!("sys/bus/pci/devices/{a}"));
        if let Some(s) = c
            .read(&dir.join("config"), 4096)
            .ok()
            .and_then(|b| dsn_from_config(&b))
        {
            return Some(s);
        }
        self.vpd(a).and_then(|b| sn_from_vpd(&b))
    }

    /// The raw VPD of a function, when it exposes one (`None`: no VPD capability, or it
    /// cannot be read).
    pub fn vpd(&self, a: &PciAddress) -> Option<Vec<u8>> {
        let c = self.confined().ok()?;
        c.read(
            &PathBuf::from(format!("sys/bus/pci/devices/{a}/vpd")),
            32768,
        )
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_is_found_behind_another_capability() {
        let mut c = vec![0u8; 4096];
        // SR-IOV (0x10) at 0x100 pointing to DSN at 0x140.
        c[0x100..0x104].copy_from_slice(&(0x0010u32 | (1 << 16) | (0x140 << 20)).to_le_bytes());
        c[0x140..0x144].copy_from_slice(&(0x0003u32 | (1 << 16)).to_le_bytes());
        c[0x144..0x148].copy_from_slice(&0xffa0_b1c2u32.to_le_bytes());
        c[0x148..0x14c].copy_from_slice(&0x001b_21ffu32.to_le_bytes());
        assert_eq!(
            dsn_from_config(&c).as_deref(),
            Some("00-1b-21-ff-ff-a0-b1-c2")
        );
        assert_eq!(dsn_from_config(&c[..256]), None);
        assert_eq!(dsn_from_config(&[0u8; 4096]), None);
    }

    #[test]
    fn vpd_serial() {
        let mut v = vec![0x82, 3, 0, b'N', b'I', b'C'];
        let ro = [
            b'P', b'N', 2, b'x', b'y', b'S', b'N', 4, b'A', b'B', b'1', b'2',
        ];
        v.extend([0x90, ro.len() as u8, 0]);
        v.extend(ro);
        v.push(0x78);
        assert_eq!(sn_from_vpd(&v).as_deref(), Some("AB12"));
        assert_eq!(sn_from_vpd(&[0x78]), None);
    }
}
