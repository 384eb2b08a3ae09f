//! The simulated devlink port function of a VF: present for every VF of a PF whose simulated
//! eswitch is in switchdev mode (see `eswitch.rs`), as on mlx5 and ice. Its hw_addr shares
//! storage with the VF's IFLA_VF_MAC (mlx5 and ice keep one vport MAC that both requests
//! write and both reads report), so a MAC set either way reads back both ways. VF ports of
//! those drivers report no state; a test that wants a function with one (as SF ports and
//! some firmware report) plants `PF VF active|inactive` lines in `.vifman-sim-portfn`, and
//! state sets are then kept there.
//!
//! Faults (see `faults.rs`): `devlink.portfn` fails the whole request before anything
//! changes (`devlink.portfn:EOPNOTSUPP` is a driver without hw_addr ops);
//! `devlink.portfn:IGNORE` accepts it and changes nothing; `devlink.portfn.state` fails the
//! state after hw_addr was applied, as the kernel's request handler can (it applies hw_addr
//! first, then state): the half-done case the engine must undo.

use std::collections::BTreeMap;

use std::path::Path;

use super::SimHost;
use crate::devlink::{EswitchMode, FnState};
use crate::host::{describe_port_function_set, HostError, PfId, VfPortFunction};
use crate::types::{IfName, MacAddress};

/// The simulation's port-function states, `PF VF STATE` per line.
pub const PORTFN_STATE_FILE: &str = ".vifman-sim-portfn";

impl SimHost {
    fn recorded_fn_states(&self) -> Vec<(String, u32, FnState)> {
        let Ok(c) = self.confined() else {
            return vec![];
        };
        let text = c
            .read(Path::new(PORTFN_STATE_FILE), 1 << 20)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let pf = w.next()?.to_string();
                let vf = w.next()?.parse().ok()?;
                let s = w.next()?.parse().ok()?;
                Some((pf, vf, s))
            })
            .collect()
    }

    fn record_fn_state(&self, pf: &IfName, vf: u32, s: FnState, op: &str) -> Result<(), HostError> {
        let mut all: Vec<_> = self
            .recorded_fn_states()
            .into_iter()
            .filter(|(p, v, _)| !(p == pf.as_str() && *v == vf))
            .collect();
        all.push((pf.to_string(), vf, s));
        let text: String = all
            .iter()
            .map(|(p, v, s)| format!("{p} {v} {s}\n"))
            .collect();
        self.confined()?
            .replace(Path::new(PORTFN_STATE_FILE), text.as_bytes())
            .map_err(|e| HostError::from_access(op, &e))
    }

    pub(super) fn sim_vf_port_function(
        &self,
        pf: &IfName,
        vf: u32,
    ) -> Result<Option<VfPortFunction>, HostError> {
        let _span = tracing::debug_span!("sim_devlink_port_function_get", pf = %pf, vf).entered();
        Ok(self.sim_port_functions_of(pf, Some(vf))?.remove(&vf))
    }

    /// Every VF port function of `pf` from one read of the eswitch, the VF records and the
    /// recorded states (as the real host reads them from one port dump).
    pub(super) fn sim_vf_port_functions(
        &self,
        pf: &IfName,
    ) -> Result<BTreeMap<u32, VfPortFunction>, HostError> {
        let _span = tracing::debug_span!("sim_devlink_port_functions_get", pf = %pf).entered();
        self.sim_port_functions_of(pf, None)
    }

    /// The port functions of `pf`'s VFs (only VF `only` where given): a function for every
    /// VF below the PF's count when its eswitch is in switchdev mode.
    fn sim_port_functions_of(
        &self,
        pf: &IfName,
        only: Option<u32>,
    ) -> Result<BTreeMap<u32, VfPortFunction>, HostError> {
        let mut out = BTreeMap::new();
        let Some(esw) = self.sim_eswitch_of(&PfId::Netdev(pf.clone()))? else {
            return Ok(out);
        };
        if esw.mode != EswitchMode::Switchdev {
            return Ok(out);
        }
        let Some(link) = self.load_link(pf.as_str())? else {
            return Ok(out);
        };
        let vfs: Vec<u32> = match only {
            Some(vf) if vf < link.num_vf => vec![vf],
            Some(_) => return Ok(out),
            None => (0..link.num_vf).collect(),
        };
        let states = self.recorded_fn_states();
        for vf in vfs {
            let hw_addr = link
                .vfs
                .iter()
                .find(|s| s.vf == vf)
                .map(|s| s.mac)
                .unwrap_or(MacAddress::ZERO);
            let state = states
                .iter()
                .find(|(p, v, _)| p == pf.as_str() && *v == vf)
                .map(|(_, _, s)| *s);
            out.insert(
                vf,
                VfPortFunction {
                    // The simulation numbers VF ports after the PF's own port: vf + 1.
                    port: format!("{}/{}", esw.devlink, vf + 1),
                    hw_addr,
                    state,
                },
            );
        }
        Ok(out)
    }

    pub(super) fn sim_set_vf_port_function(
        &self,
        pf: &IfName,
        vf: u32,
        hw_addr: Option<MacAddress>,
        state: Option<FnState>,
    ) -> Result<(), HostError> {
        let op = describe_port_function_set(pf, vf, hw_addr, state);
        let _span = tracing::info_span!("sim_devlink_port_function_set", pf = %pf, vf).entered();
        self.faults.check("devlink.portfn", &op)?;
        // Validated before anything is applied, as the kernel validates the nest.
        let now = self
            .sim_vf_port_function(pf, vf)?
            .ok_or_else(|| HostError::kernel(&op, libc::EOPNOTSUPP))?;
        if state.is_some() && now.state.is_none() {
            return Err(HostError::kernel(&op, libc::EOPNOTSUPP));
        }
        if hw_addr.is_some_and(|m| m.is_multicast()) {
            return Err(HostError::kernel(&op, libc::EINVAL));
        }
        self.journal(&op);
        if self.faults.ignored("devlink.portfn") {
            return Ok(());
        }
        if let Some(mac) = hw_addr {
            let mut link = self
                .load_link(pf.as_str())?
                .ok_or_else(|| HostError::kernel(&op, libc::ENODEV))?;
            let knob = crate::host::Knob::Mac { mac };
            super::apply_vf_knob(&mut link, vf, &knob);
            self.save_link(&link)?;
            // The devlink record's port map carries the same hw_addr (one storage, as mlx5).
            if let Some(pf_addr) =
                super::tree::Tree::new(self.confined()?).netdev_device(pf.as_str())
            {
                self.sync_devlink_vfs(&pf_addr, &op)?;
            }
        }
        if let Some(s) = state {
            self.faults.check("devlink.portfn.state", &op)?;
            self.record_fn_state(pf, vf, s, &op)?;
        }
        Ok(())
    }
}
