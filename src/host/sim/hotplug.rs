//! `remove`, `rescan` and the bus's `drivers_autoprobe` on the simulated tree: what
//! `pci_stop_and_remove_bus_device()` and `pci_rescan_bus()` do to sysfs. A removed device's
//! directory is parked outside `sys/` with every link that pointed into it, so a rescan puts
//! back exactly what the fixture had (the hardware is still in the slot); VFs are not parked,
//! as the kernel does not find them again on a rescan (only `sriov_numvfs` creates VFs).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::tree::{acc_err, Tree};
use crate::host::HostError;
use crate::types::PciAddress;

/// Where removed devices wait for a rescan (root-relative, outside `sys/`, so no reader of the
/// tree sees them).
const PARKED: &str = ".vifman-sim-removed";
const INDEX: &str = ".vifman-sim-removed/index.json";
const BUS_AUTOPROBE: &str = "sys/bus/pci/drivers_autoprobe";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    /// In removal order: children before their parent bridge.
    removed: Vec<Parked>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Parked {
    addr: PciAddress,
    /// The device's directory under `sys/devices`.
    dir: PathBuf,
    /// Links elsewhere in `sys/` that pointed into it: (link, its target as written).
    links: Vec<(PathBuf, PathBuf)>,
    /// The driver whose ID table claimed it (not one picked by driver_override): a rescan
    /// binds it again, as the module is still loaded.
    #[serde(default)]
    native: Option<String>,
}

impl Tree<'_> {
    /// `/sys/bus/pci/drivers_autoprobe` (1 when the file is missing, as on a booted kernel).
    pub fn bus_autoprobe(&self) -> bool {
        self.read(BUS_AUTOPROBE).map(|s| s.trim().to_string()) != Some("0".into())
    }

    pub fn set_bus_autoprobe(&self, on: bool) -> Result<(), HostError> {
        self.put(BUS_AUTOPROBE, if on { "1\n" } else { "0\n" })
    }

    fn index(&self) -> Index {
        self.read(INDEX)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn save_index(&self, i: &Index) -> Result<(), HostError> {
        self.put(INDEX, serde_json::to_vec(i).expect("index encodes"))
    }

    /// `echo 1 > …/remove`: the device (and every device below it, and its VFs) leaves the
    /// bus: drivers unbound, links gone.
    pub fn remove_device(&self, a: &PciAddress) -> Result<(), HostError> {
        let dir = self
            .device_dir(a)
            .ok_or_else(|| HostError::kernel("sim", libc::ENODEV))?;
        // Devices behind a bridge go first, as pci_stop_and_remove_bus_device walks them.
        for child in self.list(&dir) {
            if let Ok(c) = child.parse::<PciAddress>() {
                if self.c.kind_of(&dir.join(&child)) == Some("directory") {
                    self.remove_device(&c)?;
                }
            }
        }
        if let Some(pf) = self.resolve(&dir.join("physfn")) {
            // A VF: gone until sriov_numvfs makes it again; the PF's link to it goes too.
            for l in self.list(&pf) {
                let link = pf.join(&l);
                if l.starts_with("virtfn") && self.resolve(&link).as_deref() == Some(&dir) {
                    let _ = self.c.remove_file(&link);
                }
            }
            return self.remove_vf(&dir);
        }
        // A PF's driver disables SR-IOV on its way out: the VFs go, numvfs reads 0 after.
        for l in self.list(&dir) {
            if l.starts_with("virtfn") {
                let link = dir.join(&l);
                if let Some(vf) = self.resolve(&link) {
                    self.remove_vf(&vf)?;
                }
                let _ = self.c.remove_file(&link);
            }
        }
        if self.c.exists(&dir.join("sriov_numvfs")) {
            self.put(dir.join("sriov_numvfs"), "0\n")?;
        }
        let over = self
            .read(dir.join("driver_override"))
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty() && o != "(null)");
        let bound = self.driver_of(&dir);
        let native = crate::hwdb::lookup(
            self.read_hex(a, "vendor").unwrap_or(0),
            self.read_hex(a, "device").unwrap_or(0),
        )
        .map(|m| m.pf_driver.to_string())
        .or_else(|| bound.clone().filter(|b| Some(b) != over.as_ref()));
        if let Some(drv) = bound {
            self.unbind(a, &drv)?;
        }
        let mut links = vec![];
        self.links_into(Path::new("sys"), &dir, &mut links);
        for (l, _) in &links {
            self.c.remove_file(l).map_err(acc_err)?;
        }
        let mut idx = self.index();
        idx.removed.retain(|p| p.addr != *a);
        idx.removed.push(Parked {
            addr: *a,
            dir: dir.clone(),
            links,
            native,
        });
        // Index first: a crash after it leaves a device the next rescan restores.
        self.save_index(&idx)?;
        self.c
            .rename(&dir, &Path::new(PARKED).join(a.to_string()))
            .map_err(acc_err)
    }

    /// Every symlink under `at` (not followed, not inside `dir` itself) that resolves into `dir`.
    fn links_into(&self, at: &Path, dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
        for e in self.list(at) {
            let p = at.join(&e);
            match self.c.kind_of(&p) {
                Some("symlink") if self.resolve(&p).is_some_and(|t| t.starts_with(dir)) => {
                    if let Ok(raw) = self.c.readlink(&p) {
                        out.push((p, raw));
                    }
                }
                Some("directory") if p != dir => self.links_into(&p, dir, out),
                _ => {}
            }
        }
    }

    /// `echo 1 > /sys/bus/pci/rescan` (or a bridge's `rescan`): every removed device comes
    /// back where it was, parents first, as a new `pci_dev` (no driver_override, VF autoprobe
    /// on) and, when the bus autoprobes, bound to the driver that claims it. Returns the
    /// devices found again.
    pub fn rescan(&self) -> Result<Vec<PciAddress>, HostError> {
        let mut idx = self.index();
        let mut found = vec![];
        while let Some(p) = idx.removed.pop() {
            self.c
                .rename(&Path::new(PARKED).join(p.addr.to_string()), &p.dir)
                .map_err(acc_err)?;
            for (l, raw) in &p.links {
                self.c.symlink(raw, l).map_err(acc_err)?;
            }
            for (f, v) in [
                ("driver_override", "(null)\n"),
                ("sriov_drivers_autoprobe", "1\n"),
            ] {
                if self.c.exists(&p.dir.join(f)) {
                    self.put(p.dir.join(f), v)?;
                }
            }
            self.save_index(&idx)?;
            found.push(p);
        }
        if self.bus_autoprobe() {
            for p in &found {
                if let Some(drv) = &p.native {
                    self.bind(&p.addr, &p.dir, drv, None)?;
                }
            }
        }
        Ok(found.into_iter().map(|p| p.addr).collect())
    }
}
