//! The simulated kernel's devlink, for PFs the tree's `devlink.json` has an instance of
//! (see [`crate::devlink::record`]): the record is the kernel's state, so the eswitch mode is
//! read from it and every change is written back to it, keeping the port map (which the
//! inventory's representors come from) consistent with the tree:
//!
//! - a mode set is refused with EBUSY while the instance has rate nodes, before the driver is
//!   asked, as `devlink_nl_eswitch_set_doit` does ("Rate node(s) exists.");
//! - switchdev gives every VF a `pcivf` port and a representor netdev under the PF; legacy
//!   removes both (with their rate leaves), as the drivers do;
//! - where hwdb says the driver resets the VFs on a mode change (`eswitch_resets_vfs`:
//!   mlx5), their VF state and port-function `hw_addr` go back to the defaults;
//! - a VF count change, a VF bind or unbind and a VF MAC set re-derive the PF's VF ports
//!   (created or removed, `hw_addr` and `opstate` refreshed).
//!
//! PFs without an instance in the record keep `sim/eswitch.rs`'s file of modes.

use std::path::{Path, PathBuf};

use super::bind::local_mac;
use super::tree::Tree;
use super::SimHost;
use crate::devlink::record::{DevlinkRecord, DEVLINK_FILE};
use crate::devlink::{DevHandle, EswitchMode, Port, PortFlavour, PortFunction, RateObject};
use crate::fixture::model::NetdevSpec;
use crate::fixture::shape::{self, ARPHRD_ETHER};
use crate::host::{EswitchInfo, Host, HostError};
use crate::hwdb::NicModel;
use crate::netlink::VfState;
use crate::types::PciAddress;

pub(super) fn handle(a: &PciAddress) -> DevHandle {
    DevHandle::new("pci", &a.to_string())
}

/// The name udev would give a new representor: the uplink's name without its `npN` suffix
/// plus `rN` (the fixture's `enp94s0f0np0` → `enp94s0f0r0`), else the kernel's `ethN`.
fn representor_name(uplink: Option<&str>, vf: u32, ifindex: u32) -> String {
    let base = uplink.map(|u| match u.rfind("np") {
        Some(i) if i > 0 && u[i + 2..].bytes().all(|b| b.is_ascii_digit()) => &u[..i],
        _ => u,
    });
    match base.map(|b| format!("{b}r{vf}")) {
        Some(n) if n.len() <= 15 => n,
        _ => format!("eth{ifindex}"),
    }
}

impl SimHost {
    /// The simulated kernel's devlink record; None without one. A malformed record is left
    /// alone and the simulation goes on as if there were none, with a warning naming the
    /// file once per version of it: without one, its rate nodes and port functions would
    /// vanish with nothing but "no devlink eswitch" to show for it.
    ///
    /// Parsed once per version of the file: a mode set or a MAC knob asks for the record
    /// several times (the eswitch, the rate nodes, the VF's port), and every write swaps in a
    /// new inode, so (inode, size, mtime) names a version, as for the VF-state shards.
    pub(super) fn devlink_record(&self) -> Option<DevlinkRecord> {
        let c = self.confined().ok()?;
        let key = c.identity(Path::new(DEVLINK_FILE)).ok();
        if let Some(key) = &key {
            if let Some((k, r)) = self.record.lock().ok().and_then(|g| g.clone()) {
                if &k == key {
                    return r;
                }
            }
        }
        super::counts::bump(&self.counts.record_parses);
        let r = match DevlinkRecord::load(c) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    "simulated kernel: {}/{DEVLINK_FILE} ignored ({e}): no devlink instances, ports or rate objects",
                    self.dir().display()
                );
                None
            }
        };
        if let (Some(key), Ok(mut g)) = (key, self.record.lock()) {
            *g = Some((key, r.clone()));
        }
        r
    }

    /// Write the record back; the version written is what the next [`Self::devlink_record`]
    /// returns without parsing it again.
    pub(super) fn save_devlink_record(&self, r: &DevlinkRecord, op: &str) -> Result<(), HostError> {
        let c = self.confined()?;
        let r = r.sorted();
        c.replace(Path::new(DEVLINK_FILE), r.to_json().as_bytes())
            .map_err(|e| HostError::from_access(op, &e))?;
        if let Ok(mut g) = self.record.lock() {
            *g = c
                .identity(Path::new(DEVLINK_FILE))
                .ok()
                .map(|k| (k, Some(r)));
        }
        Ok(())
    }

    /// The eswitch of PF `a` as the record has it; None when the record has no instance
    /// for it (the caller falls back to the file of modes).
    pub(super) fn record_eswitch(&self, a: &PciAddress, model: &NicModel) -> Option<EswitchInfo> {
        let r = self.devlink_record()?;
        let mut info = crate::host::eswitch::eswitch_from_record(&r, a)?;
        info.driver = info.driver.or_else(|| Some(model.pf_driver.clone()));
        Some(info)
    }

    /// EBUSY while the instance has rate nodes: the devlink core refuses every mode set then,
    /// whatever the driver would say.
    pub(super) fn record_refuse_rate_nodes(
        &self,
        a: &PciAddress,
        op: &str,
    ) -> Result<(), HostError> {
        let Some(r) = self.devlink_record() else {
            return Ok(());
        };
        let nodes = r.rate_nodes_of(&handle(a));
        if nodes.is_empty() {
            return Ok(());
        }
        Err(HostError::kernel(
            format!("{op} [Rate node(s) exists: {}]", nodes.join(", ")),
            libc::EBUSY,
        ))
    }

    /// The mode set, on a PF the record has: the mode written, the VFs reset where the
    /// driver resets them, the VF ports and representors made to match. `Ok(false)`: the
    /// record has no instance for `a`.
    pub(super) fn record_set_mode(
        &self,
        a: &PciAddress,
        model: &NicModel,
        mode: EswitchMode,
        op: &str,
    ) -> Result<bool, HostError> {
        let Some(mut r) = self.devlink_record() else {
            return Ok(false);
        };
        let dev = handle(a);
        let Some(inst) = r.instance_mut(&dev) else {
            return Ok(false);
        };
        if inst.mode == mode {
            return Ok(true);
        }
        let _span = tracing::info_span!("sim_devlink_mode", dev = %dev, mode = %mode).entered();
        inst.mode = mode;
        if model.quirks.eswitch_resets_vfs {
            self.reset_vf_config(a, op)?;
        }
        self.sync_vf_ports(&mut r, a, op)?;
        self.save_devlink_record(&r, op)?;
        Ok(true)
    }

    /// The VF state of PF `a` back to the defaults (every knob), as a driver that rebuilds its
    /// eswitch leaves it.
    fn reset_vf_config(&self, a: &PciAddress, op: &str) -> Result<(), HostError> {
        let t = Tree::new(self.confined()?);
        let Some(uplink) = t.device_dir(a).and_then(|d| t.uplink_netdev(&d)) else {
            return Ok(());
        };
        let Some(mut link) = self.load_link(&uplink)? else {
            return Ok(());
        };
        tracing::info!(pf = %a, "{op}: VF configuration reset by the driver");
        link.vfs = (0..link.num_vf).map(VfState::unconfigured).collect();
        self.save_link(&link)
    }

    /// After a write that may change PF `pf`'s VFs (count, binding, MAC): its VF ports
    /// re-derived, the record rewritten when something changed. A PF the record has no
    /// instance of is left alone.
    pub(super) fn sync_devlink_vfs(&self, pf: &PciAddress, op: &str) -> Result<(), HostError> {
        let Some(mut r) = self.devlink_record() else {
            return Ok(());
        };
        if r.instance(&handle(pf)).is_none() {
            return Ok(());
        }
        let before = r.clone();
        self.sync_vf_ports(&mut r, pf, op)?;
        if r != before {
            self.save_devlink_record(&r, op)?;
        }
        Ok(())
    }

    /// The PF of a VF, for a write that named the VF.
    pub(super) fn pf_of_vf(&self, vf: &PciAddress) -> Option<PciAddress> {
        let t = Tree::new(self.confined().ok()?);
        let dir = t.device_dir(vf)?;
        t.resolve(&dir.join("physfn"))?
            .file_name()?
            .to_str()?
            .parse()
            .ok()
    }

    /// One `pcivf` port (and representor netdev) per VF in switchdev mode, none in legacy;
    /// the kept ports' function block refreshed from the VF state and binding.
    fn sync_vf_ports(
        &self,
        r: &mut DevlinkRecord,
        pf: &PciAddress,
        op: &str,
    ) -> Result<(), HostError> {
        let dev = handle(pf);
        let Some(mode) = r.instance(&dev).map(|i| i.mode) else {
            return Ok(());
        };
        let c = self.confined()?;
        let t = Tree::new(c);
        let pf_dir = t
            .device_dir(pf)
            .ok_or_else(|| HostError::kernel(op, libc::ENODEV))?;
        let uplink = t.uplink_netdev(&pf_dir);
        let vfs: Vec<(u32, PciAddress)> = match mode {
            EswitchMode::Switchdev => self.vfs_of(pf),
            EswitchMode::Legacy => vec![],
        };
        let state = match &uplink {
            Some(u) => self.load_link(u)?,
            None => None,
        };
        // Ports of VFs that are gone (or all, in legacy): their representors and leaves too.
        let (gone, kept): (Vec<Port>, Vec<Port>) =
            std::mem::take(&mut r.ports).into_iter().partition(|p| {
                p.dev == dev
                    && p.flavour == PortFlavour::PciVf
                    && !p.external
                    && !vfs.iter().any(|(i, _)| Some(*i) == p.vfnum.map(u32::from))
            });
        r.ports = kept;
        for p in &gone {
            if let Some(nd) = &p.netdev {
                let ndir = pf_dir.join("net").join(nd);
                if c.exists(&ndir) {
                    let _ = c.remove_file(&PathBuf::from(format!("sys/class/net/{nd}")));
                    c.remove_all(&ndir)
                        .map_err(|e| HostError::from_access(op, &e))?;
                }
            }
            r.rates
                .retain(|x| !(x.dev == dev && x.object == RateObject::Leaf { port: p.index }));
        }
        for (i, vf) in &vfs {
            let mac = state
                .as_ref()
                .and_then(|l| l.vfs.iter().find(|s| s.vf == *i))
                .map(|s| s.mac.to_string())
                .unwrap_or_else(|| "00:00:00:00:00:00".into());
            let function = PortFunction {
                hw_addr: Some(mac),
                state: Some("active".into()),
                opstate: Some(
                    if self.driver_of(vf).is_some() {
                        "attached"
                    } else {
                        "detached"
                    }
                    .into(),
                ),
            };
            if let Some(p) = r.ports.iter_mut().find(|p| {
                p.dev == dev
                    && p.flavour == PortFlavour::PciVf
                    && p.vfnum.map(u32::from) == Some(*i)
            }) {
                p.function = Some(function);
                continue;
            }
            let index = (i + 1..)
                .find(|n| !r.ports.iter().any(|p| p.dev == dev && p.index == *n))
                .unwrap_or(u32::MAX);
            let (netdev, ifindex) =
                self.add_representor(&t, &pf_dir, pf, uplink.as_deref(), *i, op)?;
            r.ports.push(Port {
                dev: dev.clone(),
                index,
                flavour: PortFlavour::PciVf,
                number: None,
                pfnum: Some(u16::from(pf.function())),
                vfnum: u16::try_from(*i).ok(),
                sfnum: None,
                controller: Some(0),
                external: false,
                netdev_ifindex: Some(ifindex),
                netdev: Some(netdev),
                function: Some(function),
            });
        }
        r.ports
            .sort_by(|a, b| (&a.dev, a.index).cmp(&(&b.dev, b.index)));
        Ok(())
    }

    /// A VF representor netdev under the PF's device, as mlx5 registers them: the PF's
    /// switch id, `pfXvfY` as its port name, down until someone brings it up.
    fn add_representor(
        &self,
        t: &Tree,
        pf_dir: &Path,
        pf: &PciAddress,
        uplink: Option<&str>,
        vf: u32,
        op: &str,
    ) -> Result<(String, u32), HostError> {
        let ifindex = t.max_file_number("sys/class/net", "ifindex") + 1;
        let name = representor_name(uplink, vf, ifindex);
        let switch_id =
            uplink.and_then(|u| t.read(pf_dir.join("net").join(u).join("phys_switch_id")));
        let nd = NetdevSpec {
            addr_assign_type: 1,
            phys_port_name: Some(format!("pf{}vf{vf}", pf.function())),
            phys_switch_id: switch_id.map(|s| s.trim().to_string()),
            ..NetdevSpec::new(&name, &local_mac(&format!("{pf}/{vf}")), ifindex)
        };
        let ndir = pf_dir.join("net").join(&name);
        shape::netdev(t, &nd, &ndir, Some(pf_dir), ARPHRD_ETHER, "down")
            .map_err(|e| e.with_op(op))?;
        Ok((name, ifindex))
    }
}

#[cfg(test)]
mod tests {
    use super::representor_name;

    #[test]
    fn representors_are_named_after_the_uplink() {
        assert_eq!(representor_name(Some("enp94s0f0np0"), 2, 40), "enp94s0f0r2");
        assert_eq!(representor_name(Some("eth3"), 1, 40), "eth3r1");
        // Not an `npN` suffix, and too long with `r1`: the kernel's name.
        assert_eq!(representor_name(Some("enp216s0f0np10x"), 1, 40), "eth40");
        assert_eq!(representor_name(None, 0, 7), "eth7");
    }
}
