//! `vifman eswitch PF MODE` as an operator command: the PF resolved from how it was named
//! (PCI address, `pci/ADDR` handle, netdev; a non-PCI PF by its netdev), the refusal while an
//! allocation holds one of its VFs, then the ordered change of the parent module. Apart from
//! the ordering rules so each reads on its own.

use super::{change_from, order_of, EswitchChange, EswitchError, ESWITCH_TIMEOUT};
use crate::devlink::EswitchSet;
use crate::engine::{Engine, EngineError};
use crate::host::{EswitchInfo, PfId};
use crate::hwdb::EswitchOrder;
use crate::types::{IfName, PciAddress};

/// How the operator named the PF, resolved: a PCI PF by address (its netdev name or `pci/ADDR`
/// handle work too), a non-PCI PF (netdevsim) by its netdev.
/// The scan it was resolved with, and a non-PCI PF's eswitch (which resolving it read), go
/// along for [`change_from`].
fn resolve(engine: &Engine, pf: &str) -> Result<Resolved, EngineError> {
    let scan = engine.host.scan();
    if let Some(a) = pci_pf(&scan, pf) {
        return Ok(Resolved {
            id: PfId::Pci(a),
            addr: Some(a),
            scan: Some(scan),
            info: None,
        });
    }
    if let Ok(n) = pf.parse::<IfName>() {
        let id = PfId::Netdev(n);
        if let Some(info) = engine.host.eswitch_of(&id)? {
            return Ok(Resolved {
                id,
                addr: None,
                scan: None,
                info: Some(info),
            });
        }
    }
    Err(EswitchError::NoEswitch { pf: pf.to_string() }.into())
}

struct Resolved {
    id: PfId,
    addr: Option<PciAddress>,
    /// The scan a PCI PF was found in (the VF steps read its model from it).
    scan: Option<crate::sysfs::ScanReport>,
    /// The eswitch, where resolving read it.
    info: Option<EswitchInfo>,
}

/// The SR-IOV PCI PF named by `pf` (address, `pci/ADDR` handle or netdev), if it is one.
pub fn pci_pf(scan: &crate::sysfs::ScanReport, pf: &str) -> Option<PciAddress> {
    crate::engine::numvfs::resolve_pf(scan, pf.strip_prefix("pci/").unwrap_or(pf)).ok()
}

/// What a mode change does to VFs an allocation holds, for the refusal.
fn effect(order: EswitchOrder) -> &'static str {
    match order {
        EswitchOrder::NoVfs => "removes and re-creates every VF (hwdb order no-vfs), losing their configuration",
        EswitchOrder::VfsUnbound => "unbinds every VF from its driver (hwdb order vfs-unbound) and moves VF policy to the representors",
        EswitchOrder::Any => "moves VF policy (VLAN, rate, spoof checking) to the representors",
    }
}

impl Engine<'_> {
    /// `vifman eswitch PF MODE`: refused while an allocation holds a VF of the PF (or the
    /// PF itself) unless `force`, then [`change_mode`].
    pub fn eswitch_set(
        &self,
        pf: &str,
        want: &EswitchSet,
        order: Option<EswitchOrder>,
        force: bool,
    ) -> Result<EswitchChange, EngineError> {
        let _span = tracing::info_span!("eswitch_set", pf, want = %want).entered();
        let Resolved {
            id,
            addr,
            scan,
            info,
        } = resolve(self, pf)?;
        let mut held = vec![];
        // Held to the end, as `vifman numvfs` holds it: no allocation can take a VF of this
        // PF between the check and the change.
        let mut _store = None;
        if let Some(a) = addr {
            let mut store = self.open_store()?;
            let st: crate::store::StoreState = store.load()?;
            _store = Some(store);
            held.extend(st.allocations.iter().filter(|r| r.pf == a).map(|r| {
                format!(
                    "VF {} ({}) is held by allocation {} (instance {})",
                    r.vf_index, r.vf, r.vif_id, r.instance_uuid
                )
            }));
            if let Some(w) = st.whole_holder(&a) {
                held.push(format!("{a} is passed through whole (allocation {})", w.id));
            }
        }
        let info = match info {
            Some(i) => i,
            None => self
                .host
                .eswitch_of(&id)?
                .ok_or_else(|| EswitchError::NoEswitch { pf: pf.to_string() })?,
        };
        let mode = want.mode.unwrap_or(info.mode);
        let mut warnings = vec![];
        if !held.is_empty() && info.mode != mode {
            if !force {
                return Err(EswitchError::Allocated {
                    pf: pf.to_string(),
                    mode,
                    held: held.join("; "),
                    effect: effect(order_of(&info)),
                }
                .into());
            }
            warnings.push(format!(
                "forced: {}; a mode change {}",
                held.join("; "),
                effect(order_of(&info))
            ));
        }
        let mut change = change_from(
            self.host,
            &id,
            addr.as_ref(),
            info,
            scan.as_ref(),
            want,
            order,
            ESWITCH_TIMEOUT,
        )?;
        change.warnings.extend(warnings);
        Ok(change)
    }
}
