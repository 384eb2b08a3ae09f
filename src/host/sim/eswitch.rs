//! The simulated devlink eswitch. A PF has one when hwdb says its driver does switchdev. Where
//! the tree's `devlink.json` has the PF's instance, that record is the state (see
//! `sim/devlink.rs`: mode, VF ports, representors, rate nodes). Elsewhere its mode starts as
//! the fixture shows it (switchdev when VF representors, `pfNvfM` port names, hang off the
//! PF) and changes are kept in `.vifman-sim-eswitch` at the top of the tree.
//! Mode sets are refused the way the vendor drivers refuse them, so the engine's order rules
//! are exercised: `no-vfs` (ice) answers EOPNOTSUPP while VFs exist, `vfs-unbound` (mlx5)
//! EBUSY while a VF is bound to a driver; every mode set is refused with EBUSY while the
//! record has rate nodes on the instance. Representor netdevs are created and removed only
//! for PFs in the record. In switchdev mode a VF rate goes to the simulated rate leaf, which
//! shares storage with IFLA_VF_RATE (as netdevsim's does).

use std::path::Path;

use super::{tree::Tree, SimHost};
use crate::devlink::EswitchMode;
use crate::host::{EswitchInfo, Host, HostError, PfId};
use crate::hwdb::EswitchOrder;
use crate::types::{IfName, PciAddress};

/// The simulation's eswitch modes, `ADDR MODE` per line.
const ESWITCH_FILE: &str = ".vifman-sim-eswitch";

impl SimHost {
    pub(super) fn sim_pf_addr(&self, pf: &PfId) -> Option<PciAddress> {
        match pf {
            PfId::Pci(a) => Some(*a),
            PfId::Netdev(n) => Tree::new(self.confined().ok()?).netdev_device(n.as_str()),
            // The simulation's instances are all PCI.
            PfId::Handle(h) if h.bus == "pci" => h.dev.parse().ok(),
            PfId::Handle(_) => None,
        }
    }

    fn recorded_modes(&self) -> Vec<(PciAddress, EswitchMode)> {
        let Ok(c) = self.confined() else {
            return vec![];
        };
        let text = c
            .read(Path::new(ESWITCH_FILE), 1 << 20)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let (a, m) = l.split_once(' ')?;
                Some((a.parse().ok()?, m.trim().parse().ok()?))
            })
            .collect()
    }

    /// The mode the fixture shows: switchdev when a netdev of the PF is a VF representor.
    fn fixture_mode(&self, a: &PciAddress) -> EswitchMode {
        let Ok(c) = self.confined() else {
            return EswitchMode::Legacy;
        };
        let t = Tree::new(c);
        let Some(dir) = t.device_dir(a) else {
            return EswitchMode::Legacy;
        };
        let rep = t.list(dir.join("net")).iter().any(|n| {
            t.read(dir.join("net").join(n).join("phys_port_name"))
                .and_then(|p| crate::sysfs::representor::parse_port_name(p.trim()))
                .is_some()
        });
        if rep {
            EswitchMode::Switchdev
        } else {
            EswitchMode::Legacy
        }
    }

    pub(super) fn sim_eswitch_of(&self, pf: &PfId) -> Result<Option<EswitchInfo>, HostError> {
        let Some(a) = self.sim_pf_addr(pf) else {
            // A non-PCI PF (netdevsim's instance) the record has: read-only, as recorded
            // (the simulation changes the modes of PCI PFs only).
            return Ok(self.devlink_record().and_then(|r| {
                let dev = crate::host::eswitch::record_bus_instance(&r, pf)?;
                crate::host::eswitch::instance_from_record(&r, &dev)
            }));
        };
        let Some(model) = self.model_of(&a).filter(|m| m.caps.switchdev) else {
            return Ok(None);
        };
        if let Some(e) = self.record_eswitch(&a, model) {
            return Ok(Some(e));
        }
        let mode = self
            .recorded_modes()
            .into_iter()
            .find(|(r, _)| *r == a)
            .map(|(_, m)| m)
            .unwrap_or_else(|| self.fixture_mode(&a));
        Ok(Some(EswitchInfo {
            devlink: format!("pci/{a}"),
            mode,
            inline_mode: None,
            encap_mode: None,
            driver: Some(model.pf_driver.clone()),
            rate_nodes: vec![],
            vf_representors: None,
        }))
    }

    pub(super) fn sim_set_eswitch_mode(
        &self,
        pf: &PfId,
        mode: EswitchMode,
    ) -> Result<(), HostError> {
        let op = format!("devlink eswitch set {pf} mode {mode}");
        let _span =
            tracing::info_span!("sim_devlink_eswitch_set", pf = %pf, mode = %mode).entered();
        self.faults.check("eswitch", &op)?;
        let a = self
            .sim_pf_addr(pf)
            .ok_or_else(|| HostError::kernel(&op, libc::ENODEV))?;
        let model = self
            .model_of(&a)
            .filter(|m| m.caps.switchdev)
            .ok_or_else(|| HostError::kernel(&op, libc::EOPNOTSUPP))?;
        self.record_refuse_rate_nodes(&a, &op)?;
        let vfs = self.vfs_of(&a);
        match model.quirks.eswitch_order {
            EswitchOrder::NoVfs if !vfs.is_empty() => {
                return Err(HostError::kernel(
                    format!("{op} [{}: VFs exist]", model.pf_driver),
                    libc::EOPNOTSUPP,
                ))
            }
            EswitchOrder::VfsUnbound if vfs.iter().any(|(_, v)| self.driver_of(v).is_some()) => {
                return Err(HostError::kernel(
                    format!("{op} [{}: VFs are bound to a driver]", model.pf_driver),
                    libc::EBUSY,
                ))
            }
            _ => {}
        }
        self.journal(&op);
        if self.record_set_mode(&a, model, mode, &op)? {
            return Ok(());
        }
        let mut modes: Vec<_> = self
            .recorded_modes()
            .into_iter()
            .filter(|(r, _)| *r != a)
            .collect();
        modes.push((a, mode));
        let text: String = modes.iter().map(|(a, m)| format!("{a} {m}\n")).collect();
        self.confined()?
            .replace(Path::new(ESWITCH_FILE), text.as_bytes())
            .map_err(|e| HostError::from_access(&op, &e))
    }

    /// A VF rate through the simulated devlink rate leaf, when the PF is in switchdev mode.
    pub(super) fn sim_set_vf_rate_switchdev(
        &self,
        pf: &IfName,
        vf: u32,
        min_mbps: u32,
        max_mbps: u32,
    ) -> Result<bool, HostError> {
        let on = self
            .sim_eswitch_of(&PfId::Netdev(pf.clone()))?
            .is_some_and(|e| e.mode == EswitchMode::Switchdev);
        if !on {
            return Ok(false);
        }
        let op =
            format!("devlink rate set {pf} vf {vf} tx_share {min_mbps} tx_max {max_mbps} Mbit/s");
        self.faults.check("devlink.rate", &op)?;
        self.journal(&op);
        let mut link = self
            .load_link(pf.as_str())?
            .ok_or_else(|| HostError::kernel(&op, libc::ENODEV))?;
        if vf >= link.num_vf {
            return Err(HostError::kernel(&op, libc::EINVAL));
        }
        let knob = crate::host::Knob::Rate { min_mbps, max_mbps };
        super::apply_vf_knob(&mut link, vf, &knob);
        self.save_link(&link)?;
        Ok(true)
    }
}
