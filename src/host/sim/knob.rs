//! A VF knob on the simulated kernel (IFLA_VF_* through RTM_SETLINK): the rtnetlink core's
//! checks, the driver's refusals from the one table the engine's pre-check reads
//! (`host::refusal`), "Please use devlink API" for rates in switchdev mode, then the record
//! and the devlink port map kept in step. Apart from the rest of the `Host` impl because it
//! is the sim's densest kernel rule.

use super::SimHost;
use crate::host::{HostError, Knob};
use crate::types::IfName;

impl SimHost {
    pub(super) fn sim_set_vf(&self, pf: &IfName, vf: u32, knob: &Knob) -> Result<(), HostError> {
        let op = format!("{pf} vf {vf} {}", knob.describe());
        let _span = tracing::info_span!("sim_setlink_vf", pf = %pf, vf, knob = knob.kind().name())
            .entered();
        let step = format!("vf.{}", knob.kind().name());
        self.faults.check(&step, &op)?;
        self.journal(&op);
        if self.faults.ignored(&step) {
            return Ok(());
        }
        let t = super::tree::Tree::new(self.confined()?);
        // A netdev with VF records but no device in the tree is a non-PCI PF (netdevsim's):
        // no driver model, so every knob is taken, as netdevsim takes them.
        let pf_addr = t.netdev_device(pf.as_str());
        let mut link = match (pf_addr, self.load_link(pf.as_str())?) {
            (_, Some(l)) => l,
            (Some(_), None) => return Err(HostError::kernel(&op, libc::EOPNOTSUPP)),
            (None, None) => return Err(HostError::kernel(&op, libc::ENODEV)),
        };
        let model = pf_addr.and_then(|a| self.model_of(&a));
        if vf >= link.num_vf {
            return Err(HostError::kernel(&op, libc::EINVAL));
        }
        // As the drivers answer in switchdev mode: "Please use devlink API".
        let switchdev = match pf_addr {
            Some(a) if matches!(knob, Knob::Rate { .. }) => self
                .sim_eswitch_of(&crate::host::PfId::Pci(a))?
                .is_some_and(|e| e.mode == crate::devlink::EswitchMode::Switchdev),
            _ => false,
        };
        if switchdev {
            return Err(HostError::kernel(&op, libc::EOPNOTSUPP));
        }
        if let Some(m) = model {
            // The core's checks (rtnetlink, any driver), then this driver's refusals from the
            // one table the engine's pre-check also reads, then the link-speed bound.
            let errno = match knob {
                Knob::Mac { mac } if mac.is_multicast() => Some(libc::EINVAL),
                Knob::Vlan { qos, .. } if *qos > 7 => Some(libc::EINVAL),
                k => crate::host::refusal(m, k)
                    .map(|r| r.errno)
                    .or_else(|| match k {
                        Knob::Rate { max_mbps, .. }
                            if *max_mbps > t.link_speed(pf.as_str()).unwrap_or(u32::MAX) =>
                        {
                            Some(libc::EINVAL)
                        }
                        _ => None,
                    }),
            };
            if let Some(e) = errno {
                return Err(HostError::kernel(&op, e));
            }
        }
        super::apply_vf_knob(&mut link, vf, knob);
        self.save_link(&link)?;
        // A VF's MAC is its port function's hw_addr in the devlink port map.
        match (knob, pf_addr) {
            (Knob::Mac { .. }, Some(a)) => self.sync_devlink_vfs(&a, &op),
            _ => Ok(()),
        }
    }
}
