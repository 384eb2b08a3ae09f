//! The simulated kernel addressed by path: "these bytes were written to root-relative file P"
//! becomes the PCI core's store function for P (drivers/pci/pci-sysfs.c, iov.c,
//! drivers/base/bus.c). The FUSE mount (`crate::mount`) is its caller; `--simulate` reaches the
//! very same rules through [`Host::write`] with a typed [`SysWrite`], which is what a write is
//! parsed into here. One implementation of the kernel's rules, two front ends: only parsing
//! (with the kernel's own parsers' errors) and the table of which files have a `store` live in
//! this file.

use std::path::Path;

use super::SimHost;
use crate::host::{Host, HostError, SysWrite};
use crate::types::{DriverName, IfName, PciAddress};

/// What the kernel would do with a write to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    NumVfs,
    Autoprobe,
    DriverOverride,
    Unbind,
    Bind,
    Probe,
    Reset,
    /// A netdev's `mtu` (net-sysfs `mtu_store` → `dev_set_mtu`), the simulated kernel's MTU.
    Mtu,
    /// A device's `remove`: it leaves the bus (`hotplug.rs`).
    Remove,
    /// The bus's or a bridge's `rescan`: removed devices come back.
    Rescan,
    /// The bus's `drivers_autoprobe`: whether new devices are probed.
    BusAutoprobe,
    /// `uevent`: the kernel emits an event; nothing in the tree changes.
    Ignored,
    /// The kernel has a store the simulation does not model (`enable`, `mtu`, `new_id`, ...):
    /// EPERM, so a test notices instead of believing the write took effect.
    NotModelled,
}

/// One sysfs file as the kernel declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    /// `show` and `store`.
    ReadWrite(Store),
    /// `store` only (mode 0200): opening it for reading answers EACCES, even for root.
    WriteOnly(Store),
    /// `show` only: opening it for writing answers EACCES, even for root.
    ReadOnly,
}

impl Attr {
    /// The mode sysfs reports (pci-sysfs.c / iov.c / net-sysfs.c declarations).
    pub fn mode(self, name: &str) -> u16 {
        match self {
            Attr::ReadWrite(_) if name == "sriov_numvfs" => 0o664,
            Attr::ReadWrite(_) => 0o644,
            Attr::WriteOnly(_) => 0o200,
            Attr::ReadOnly => 0o444,
        }
    }

    pub fn readable(self) -> bool {
        !matches!(self, Attr::WriteOnly(_))
    }

    pub fn store(self) -> Option<Store> {
        match self {
            Attr::ReadWrite(s) | Attr::WriteOnly(s) => Some(s),
            Attr::ReadOnly => None,
        }
    }
}

/// Binary attributes report their real size; text attributes report a page, as sysfs does.
pub fn is_binary(name: &str) -> bool {
    name == "config"
        || name == "rom"
        || name == "vpd"
        || name.starts_with("resource") && name.len() > "resource".len()
}

/// The kernel files a fixture does not store (write-only ones have nothing to capture), by the
/// directory they appear in.
pub fn synthetic(dir: &Path) -> &'static [&'static str] {
    let s = dir.to_string_lossy();
    if s == "sys/bus/pci" {
        &["drivers_probe", "rescan", "uevent"]
    } else if driver_dir(dir).is_some() {
        &["bind", "unbind", "new_id", "remove_id", "uevent"]
    } else if pci_device_dir(dir).is_some() {
        &["reset", "remove", "rescan"]
    } else {
        &[]
    }
}

/// `sys/bus/pci/drivers/<name>` → the driver's name.
fn driver_dir(dir: &Path) -> Option<&str> {
    let rest = dir.to_str()?.strip_prefix("sys/bus/pci/drivers/")?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// A PCI device directory under `sys/devices` → its address.
fn pci_device_dir(dir: &Path) -> Option<PciAddress> {
    if !dir.starts_with("sys/devices") {
        return None;
    }
    dir.file_name()?.to_str()?.parse().ok()
}

/// What the kernel answers for a readable attribute it computes and a fixture does not
/// store (a capture has nothing to copy, or the captured kernel lacked it): a plausible value,
/// so a reader sees what a booted kernel shows. `None`: the file does not exist.
/// The names [`computed`] may answer for in directory `dir`.
pub fn computed_names(dir: &Path) -> &'static [&'static str] {
    if dir == Path::new("sys/bus/pci") {
        &["drivers_autoprobe"]
    } else if pci_device_dir(dir).is_some() {
        &["sriov_vf_total_msix", "sriov_vf_msix_count"]
    } else {
        &[]
    }
}

pub fn computed(c: &crate::confined::Confined, rel: &Path) -> Option<String> {
    let (dir, name) = (rel.parent()?, rel.file_name()?.to_str()?);
    if dir == Path::new("sys/bus/pci") && name == "drivers_autoprobe" {
        return Some("1\n".into());
    }
    pci_device_dir(dir)?;
    // iov.c shows these only where the PF's driver can move MSI-X vectors between VFs
    // (`sriov_get_vf_total_msix`: mlx5_core).
    let msix_driver = |pf: &Path| c.link_name(&pf.join("driver")).as_deref() == Some("mlx5_core");
    match name {
        "sriov_vf_total_msix" if msix_driver(dir) => {
            let total: u32 = c
                .read_attr(&dir.join("sriov_totalvfs"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some(format!("{}\n", total * VF_MSIX_DEFAULT))
        }
        "sriov_vf_msix_count" if msix_driver(&dir.join("physfn")) => {
            Some(format!("{VF_MSIX_DEFAULT}\n"))
        }
        _ => None,
    }
}

/// MSI-X vectors a VF gets unless the operator moves them (mlx5's default per VF is of this
/// order; a plausible value, not a vendor's exact figure).
const VF_MSIX_DEFAULT: u32 = 8;

/// The kernel's declaration of root-relative file `rel` (which exists, or is synthetic).
pub fn classify(rel: &Path) -> Attr {
    use Attr::*;
    use Store::*;
    let (Some(dir), Some(name)) = (rel.parent(), rel.file_name().and_then(|n| n.to_str())) else {
        return ReadOnly;
    };
    if !rel.starts_with("sys") {
        return ReadOnly; // procfs and the VF-state stand-in: the kernel's, not writable files
    }
    if dir == Path::new("sys/bus/pci") {
        return match name {
            "drivers_probe" => WriteOnly(Probe),
            "rescan" => WriteOnly(Rescan),
            "uevent" => WriteOnly(Ignored),
            "drivers_autoprobe" => ReadWrite(BusAutoprobe),
            _ => ReadOnly,
        };
    }
    if driver_dir(dir).is_some() {
        return match name {
            "bind" => WriteOnly(Bind),
            "unbind" => WriteOnly(Unbind),
            "uevent" => WriteOnly(Ignored),
            "new_id" | "remove_id" => WriteOnly(NotModelled),
            _ => ReadOnly,
        };
    }
    if pci_device_dir(dir).is_some() {
        return match name {
            "sriov_numvfs" => ReadWrite(NumVfs),
            "sriov_drivers_autoprobe" => ReadWrite(Autoprobe),
            "driver_override" => ReadWrite(DriverOverride),
            "reset" => WriteOnly(Reset),
            "remove" => WriteOnly(Remove),
            "rescan" => WriteOnly(Rescan),
            "uevent" => ReadWrite(Ignored),
            "enable"
            | "numa_node"
            | "config"
            | "broken_parity_status"
            | "d3cold_allowed"
            | "msi_bus"
            | "sriov_vf_msix_count" => ReadWrite(NotModelled),
            _ => ReadOnly,
        };
    }
    let in_netdev = dir
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "net");
    if in_netdev {
        return match name {
            "mtu" => ReadWrite(Mtu),
            "flags"
            | "tx_queue_len"
            | "ifalias"
            | "carrier"
            | "group"
            | "gro_flush_timeout"
            | "napi_defer_hard_irqs"
            | "proto_down"
            | "threaded" => ReadWrite(NotModelled),
            _ => ReadOnly,
        };
    }
    if name == "type" && dir.starts_with("sys/kernel/iommu_groups") {
        return ReadWrite(NotModelled);
    }
    ReadOnly
}

/// A page: the kernel hands `store` at most this much, and every store modelled here refuses
/// input that long (EINVAL), as `driver_set_override` and `kstrto*` do.
pub const PAGE: usize = 4096;

fn einval(op: &str) -> HostError {
    HostError::kernel(op, libc::EINVAL)
}

/// `kstrtou16`: optional `+`, decimal digits, one optional trailing newline.
fn kstrtou16(b: &[u8], op: &str) -> Result<u16, HostError> {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    let b = b.strip_prefix(b"+").unwrap_or(b);
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return Err(einval(op));
    }
    let v: u64 = std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HostError::kernel(op, libc::ERANGE))?;
    u16::try_from(v).map_err(|_| HostError::kernel(op, libc::ERANGE))
}

/// `kstrtoul(buf, 0, ..)` as net-sysfs' `netdev_store` calls it: decimal, `0x` hex or
/// leading-`0` octal, one optional trailing newline; an MTU beyond `int` is EINVAL (the kernel
/// passes it on as an int, which `dev_validate_mtu` refuses).
fn kstrtoul_mtu(b: &[u8], op: &str) -> Result<u32, HostError> {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    let b = b.strip_prefix(b"+").unwrap_or(b);
    let s = std::str::from_utf8(b).map_err(|_| einval(op))?;
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(einval(op));
    }
    let v = u64::from_str_radix(digits, radix).map_err(|_| HostError::kernel(op, libc::ERANGE))?;
    u32::try_from(v)
        .ok()
        .filter(|&v| v <= i32::MAX as u32)
        .ok_or_else(|| einval(op))
}

/// `kstrtobool`: y/Y/1, n/N/0, on/off.
fn kstrtobool(b: &[u8], op: &str) -> Result<bool, HostError> {
    match b {
        [b'y' | b'Y' | b'1', ..] => Ok(true),
        [b'n' | b'N' | b'0', ..] => Ok(false),
        [b'o' | b'O', b'n' | b'N', ..] => Ok(true),
        [b'o' | b'O', b'f' | b'F', ..] => Ok(false),
        _ => Err(einval(op)),
    }
}

/// A device name as `bus_find_device_by_name` compares it (`sysfs_streq`: one trailing newline
/// ignored); no such device is ENODEV.
fn device_named(b: &[u8], op: &str) -> Result<PciAddress, HostError> {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HostError::kernel(op, libc::ENODEV))
}

fn driver(name: &str, op: &str) -> Result<DriverName, HostError> {
    DriverName::new(name).map_err(|_| einval(op))
}

/// Apply a write of `bytes` to root-relative file `rel` as the kernel would. The caller holds
/// the device lock (the kernel's `device_lock`) so writers are serialised.
pub fn store(sim: &SimHost, rel: &Path, bytes: &[u8]) -> Result<(), HostError> {
    let op = format!("write to /{}", rel.display());
    let _span =
        tracing::info_span!("sim_store", path = %rel.display(), len = bytes.len()).entered();
    let Some(store) = classify(rel).store() else {
        return Err(HostError::kernel(&op, libc::EACCES));
    };
    if bytes.len() >= PAGE {
        return Err(einval(&op));
    }
    let dir = rel.parent().unwrap_or(Path::new(""));
    let dev = || pci_device_dir(dir).ok_or_else(|| HostError::kernel(&op, libc::ENODEV));
    let drv = || driver_dir(dir).ok_or_else(|| HostError::kernel(&op, libc::ENODEV));
    let w = match store {
        Store::Ignored => return Ok(()),
        Store::BusAutoprobe => {
            // drivers_autoprobe_store: '0' first turns it off, anything else on; no error.
            let t = super::tree::Tree::new(sim.confined()?);
            return t.set_bus_autoprobe(bytes.first() != Some(&b'0'));
        }
        Store::Remove | Store::Rescan => {
            // remove_store / rescan_store: kstrtoul, and only a non-zero value acts.
            if kstrtoul_mtu(bytes, &op)? == 0 {
                return Ok(());
            }
            let t = super::tree::Tree::new(sim.confined()?);
            if store == Store::Rescan {
                sim.faults.check("rescan", &op)?;
                return t.rescan().map(drop).map_err(|e| e.with_op(&op));
            }
            let a = dev()?;
            sim.faults.check("remove", &op)?;
            if t.device_dir(&a).as_deref() != Some(dir) {
                return Err(HostError::kernel(&op, libc::ENODEV));
            }
            return t.remove_device(&a).map_err(|e| e.with_op(&op));
        }
        Store::NotModelled => return Err(HostError::kernel(&op, libc::EPERM)),
        Store::NumVfs => SysWrite::NumVfs(dev()?, u32::from(kstrtou16(bytes, &op)?)),
        Store::Autoprobe => SysWrite::Autoprobe(dev()?, kstrtobool(bytes, &op)?),
        Store::DriverOverride => {
            // driver_set_override: the name ends at the first newline (or NUL); empty clears.
            let end = bytes
                .iter()
                .position(|&c| c == b'\n' || c == 0)
                .unwrap_or(bytes.len());
            let name = std::str::from_utf8(&bytes[..end]).map_err(|_| einval(&op))?;
            let d = (!name.is_empty()).then(|| driver(name, &op)).transpose()?;
            SysWrite::DriverOverride(dev()?, d)
        }
        Store::Unbind => SysWrite::Unbind(device_named(bytes, &op)?, driver(drv()?, &op)?),
        Store::Probe => SysWrite::Probe(device_named(bytes, &op)?),
        Store::Bind => return bind(sim, drv()?, device_named(bytes, &op)?, &op),
        Store::Mtu => {
            let mtu = kstrtoul_mtu(bytes, &op)?;
            let name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<IfName>().ok())
                .ok_or_else(|| HostError::kernel(&op, libc::ENODEV))?;
            return sim.set_mtu(&name, mtu).map_err(|e| e.with_op(&op));
        }
        Store::Reset => {
            let a = dev()?;
            sim.faults.check("reset", &op)?;
            // reset_store: kstrtoul, then only 1 is accepted; the function reset changes
            // nothing the tree shows.
            return match kstrtou16(bytes, &op)? {
                1 if sim.device_present(&a) => Ok(()),
                1 => Err(HostError::kernel(&op, libc::ENODEV)),
                _ => Err(einval(&op)),
            };
        }
    };
    // The device must be the one at this path, not a look-alike directory elsewhere.
    if matches!(
        store,
        Store::NumVfs | Store::Autoprobe | Store::DriverOverride
    ) {
        let a = dev()?;
        let t = super::tree::Tree::new(sim.confined()?);
        if t.device_dir(&a).as_deref() != Some(dir) {
            return Err(HostError::kernel(&op, libc::ENODEV));
        }
    }
    sim.write(&w).map_err(|e| e.with_op(&op))
}

/// `drivers/<drv>/bind`: bus.c's bind_store. The driver must match the device (its
/// driver_override, else its ID table — the hwdb's native driver here): ENODEV otherwise; a
/// device that already has a driver is EBUSY. Binding is then the PCI core's probe, which
/// picks exactly this driver.
fn bind(sim: &SimHost, drv: &str, a: PciAddress, op: &str) -> Result<(), HostError> {
    sim.faults.check("bind", op)?;
    if !sim.device_present(&a) {
        return Err(HostError::kernel(op, libc::ENODEV));
    }
    let matches = match sim.driver_override_of(&a).filter(|o| o != "(null)") {
        Some(o) => o == drv,
        None => native_driver(sim, &a).as_deref() == Some(drv),
    };
    if !matches {
        return Err(HostError::kernel(op, libc::ENODEV));
    }
    if sim.driver_of(&a).is_some() {
        return Err(HostError::kernel(op, libc::EBUSY));
    }
    sim.write(&SysWrite::Probe(a)).map_err(|e| e.with_op(op))
}

/// The driver whose ID table claims `a` (the hwdb's PF or VF driver of its model).
fn native_driver(sim: &SimHost, a: &PciAddress) -> Option<DriverName> {
    let c = sim.confined().ok()?;
    let t = super::tree::Tree::new(c);
    let m = crate::hwdb::lookup(t.read_hex(a, "vendor")?, t.read_hex(a, "device")?)?;
    let is_vf = t.device_dir(a).is_some_and(|d| c.exists(&d.join("physfn")));
    Some(if is_vf {
        m.vf_driver.clone()
    } else {
        m.pf_driver.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_parsers() {
        assert_eq!(kstrtou16(b"4\n", "t").unwrap(), 4);
        assert_eq!(kstrtou16(b"+2", "t").unwrap(), 2);
        assert_eq!(
            kstrtou16(b"banana", "t").unwrap_err().errno(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            kstrtou16(b" 4", "t").unwrap_err().errno(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            kstrtou16(b"4\n\n", "t").unwrap_err().errno(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            kstrtou16(b"70000", "t").unwrap_err().errno(),
            Some(libc::ERANGE)
        );
        assert_eq!(kstrtoul_mtu(b"9000\n", "t").unwrap(), 9000);
        assert_eq!(kstrtoul_mtu(b"0x2328", "t").unwrap(), 9000);
        assert_eq!(kstrtoul_mtu(b"021450", "t").unwrap(), 9000);
        for bad in [&b"9k"[..], b"", b"0x", b"089", b"4294967296", b"3000000000"] {
            assert_eq!(
                kstrtoul_mtu(bad, "t").unwrap_err().errno(),
                Some(libc::EINVAL),
                "{bad:?}"
            );
        }
        assert!(kstrtobool(b"on\n", "t").unwrap());
        assert!(!kstrtobool(b"0", "t").unwrap());
        assert!(kstrtobool(b"x", "t").is_err());
    }

    #[test]
    fn declarations() {
        let d = "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0";
        let c = |f: &str| classify(&Path::new(d).join(f));
        assert_eq!(c("sriov_numvfs"), Attr::ReadWrite(Store::NumVfs));
        assert_eq!(c("sriov_numvfs").mode("sriov_numvfs"), 0o664);
        assert_eq!(c("sriov_totalvfs"), Attr::ReadOnly);
        assert_eq!(c("reset"), Attr::WriteOnly(Store::Reset));
        assert_eq!(
            classify(Path::new("sys/bus/pci/drivers/iavf/bind")),
            Attr::WriteOnly(Store::Bind)
        );
        assert_eq!(classify(Path::new("vf-state.json")), Attr::ReadOnly);
        assert_eq!(
            classify(Path::new(&format!("{d}/net/enp59s0f0/mtu"))),
            Attr::ReadWrite(Store::Mtu)
        );
        assert_eq!(
            classify(Path::new(&format!("{d}/net/enp59s0f0/tx_queue_len"))),
            Attr::ReadWrite(Store::NotModelled)
        );
        assert!(is_binary("config") && is_binary("resource0") && !is_binary("resource"));
    }
}
