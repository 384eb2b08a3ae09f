//! allocate: select a VF, record its original state, configure it, record it active, emit VIF.

use std::collections::BTreeMap;

use serde::Serialize;

use super::actuate::{self, Applied, Target};
use super::{emit, AllocateRequest, Engine, EngineError};
use crate::host::{Knob, KnobKind};
use crate::hwdb;
use crate::store::{AllocMode, Allocation, Original, Phase, StoreState};
use crate::types::DriverName;
use crate::view::{HostView, VfStatus, VfView};

/// What allocate will do (printed by --dry-run).
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub vf: String,
    pub pf: String,
    pub pf_netdev: String,
    pub vf_index: u32,
    pub numa_node: Option<u32>,
    pub model: Option<String>,
    pub knobs: Vec<String>,
    pub bind_driver: Option<crate::types::DriverName>,
    pub mode: String,
}

pub struct AllocateOutcome {
    pub plan: Plan,
    /// None for a dry run.
    pub vif: Option<serde_json::Value>,
}

impl Engine<'_> {
    /// Pick the VF: in the pool, not excluded, free, trust/vfio/netdev as the mode needs;
    /// prefer the requested NUMA node, then the PF with the fewest allocations (spread).
    fn select<'v>(
        &self,
        view: &'v HostView,
        st: &StoreState,
        req: &AllocateRequest,
    ) -> Result<&'v VfView, EngineError> {
        if !self.config.physnets().contains(&req.physnet.as_str()) {
            return Err(EngineError::Request(format!(
                "unknown physnet {:?}: the config ({}) defines {}",
                req.physnet,
                self.config
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "none".into()),
                if self.config.physnets().is_empty() {
                    "no pools".into()
                } else {
                    self.config.physnets().join(", ")
                }
            )));
        }
        let mut per_pf: BTreeMap<_, usize> = BTreeMap::new();
        for a in &st.allocations {
            *per_pf.entry(a.pf).or_default() += 1;
        }
        let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
        let mut skip = |why: &str| *skipped.entry(why.to_string()).or_default() += 1;
        let mut cands: Vec<&VfView> = vec![];
        for v in &view.vfs {
            if req.only_vf.is_some_and(|a| a != v.addr) {
                continue;
            }
            let (spec, _) = self.config.classify(&view.candidate(v));
            let Some(spec) = spec else { continue };
            if spec.physical_network.as_deref() != Some(req.physnet.as_str()) {
                continue;
            }
            match view.status(self.config, st, v) {
                VfStatus::Free => {}
                VfStatus::Excluded(_) => {
                    skip("excluded (config, default route, or PF passed through whole)");
                    continue;
                }
                VfStatus::Allocated(_) => {
                    skip("allocated");
                    continue;
                }
                VfStatus::Quarantined(_) => {
                    skip("quarantined (its last release could not prove it clean)");
                    continue;
                }
                VfStatus::InUse(r) => {
                    skip(&format!("in use outside vifman ({})", r.join(", ")));
                    continue;
                }
                VfStatus::Unknown(_) => {
                    skip("PF has no netdev / no VF state");
                    continue;
                }
            }
            if req.trust == Some(true) && !spec.trusted {
                skip("pool entry not marked trusted");
                continue;
            }
            match req.mode {
                AllocMode::HostdevVfio if view.vfio_viable(v).is_err() => {
                    skip("IOMMU group not viable for vfio");
                    continue;
                }
                m if m.direct_mode().is_some() && v.netdevs.is_empty() => {
                    skip("no VF netdev for macvtap");
                    continue;
                }
                _ => {}
            }
            cands.push(v);
        }
        cands.sort_by_key(|v| {
            (
                req.numa.map(|n| v.numa != Some(n)).unwrap_or(false),
                per_pf.get(&v.pf).copied().unwrap_or(0),
                v.pf,
                v.vf_index,
            )
        });
        match cands.first() {
            Some(v) => {
                if let Some(n) = req.numa {
                    if v.numa != Some(n) {
                        tracing::warn!(wanted = n, got = ?v.numa, "no free VF on the requested NUMA node; using another");
                    }
                }
                Ok(v)
            }
            None => Err(EngineError::NoFreeVf {
                physnet: req.physnet.clone(),
                reason: if skipped.is_empty() {
                    "no device in this pool".into()
                } else {
                    skipped
                        .iter()
                        .map(|(k, n)| format!("{n} {k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            }),
        }
    }

    /// The order `allocate` would take `available` VFs of a pool in (NUMA, then spreading across
    /// PFs); what a device plugin's GetPreferredAllocation answers. `must` come first.
    pub fn rank(
        &self,
        physnet: &str,
        numa: Option<u32>,
        available: &[crate::types::PciAddress],
        must: &[crate::types::PciAddress],
        size: usize,
    ) -> Result<Vec<crate::types::PciAddress>, EngineError> {
        let st: StoreState = self.open_store()?.load()?;
        let view = self.load_view()?;
        let mut per_pf: BTreeMap<_, usize> = BTreeMap::new();
        for a in &st.allocations {
            *per_pf.entry(a.pf).or_default() += 1;
        }
        let mut out: Vec<crate::types::PciAddress> = must.to_vec();
        let mut rest: Vec<&VfView> = view
            .vfs
            .iter()
            .filter(|v| available.contains(&v.addr) && !must.contains(&v.addr))
            .filter(|v| {
                self.config
                    .classify(&view.candidate(v))
                    .0
                    .and_then(|s| s.physical_network.as_deref())
                    == Some(physnet)
            })
            .collect();
        // Spread greedily: each pick counts against its PF for the next one.
        while out.len() < size && !rest.is_empty() {
            rest.sort_by_key(|v| {
                (
                    numa.map(|n| v.numa != Some(n)).unwrap_or(false),
                    per_pf.get(&v.pf).copied().unwrap_or(0),
                    v.pf,
                    v.vf_index,
                )
            });
            let v = rest.remove(0);
            *per_pf.entry(v.pf).or_default() += 1;
            out.push(v.addr);
        }
        out.truncate(size.max(must.len()));
        Ok(out)
    }

    pub fn allocate(
        &self,
        req: &AllocateRequest,
        dry_run: bool,
    ) -> Result<AllocateOutcome, EngineError> {
        req.validate()?;
        let _span =
            tracing::info_span!("allocate", vif = %req.vif_id, physnet = %req.physnet).entered();
        let mut store = self.open_store()?;
        let mut st: StoreState = store.load()?;
        if st.by_vif(&req.vif_id).is_some() {
            return Err(EngineError::Busy(format!(
                "VIF {} already has an allocation; release it first",
                req.vif_id
            )));
        }
        let (mut view, since) = self.take_view()?;
        let mut cached = since.is_some();
        // A cached view picks fast; the pick is then checked against the kernel, and any
        // disagreement means a full rescan and a second pick.
        let idx = loop {
            let picked = self.select(&view, &st, req).map(|v| {
                view.vfs
                    .iter()
                    .position(|x| x.addr == v.addr)
                    .expect("from view")
            });
            let i = match picked {
                Ok(i) => i,
                Err(e) if cached => {
                    let _ = e;
                    view = self.load_view()?;
                    cached = false;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !cached {
                break i;
            }
            if view.refresh_vf(self.host, i)? {
                break i;
            }
            view = self.load_view()?;
            cached = false;
        };
        let taken = if cached {
            since.expect("cached views have a time")
        } else {
            std::time::Instant::now()
        };
        let result = self.allocate_on(&mut view, idx, &mut store, &mut st, req, dry_run);
        self.keep_view(view, taken);
        result
    }

    fn allocate_on(
        &self,
        view: &mut HostView,
        idx: usize,
        store: &mut crate::store::Store,
        st: &mut StoreState,
        req: &AllocateRequest,
        dry_run: bool,
    ) -> Result<AllocateOutcome, EngineError> {
        let v = &view.vfs[idx].clone();
        let model = hwdb::by_pf(v.pf_ids.0, v.pf_ids.1);
        let state = v.state.clone().expect("selected VFs have state");
        let mut knobs = req.knobs((state.min_tx_rate, state.max_tx_rate));
        // In macvtap vepa/bridge mode the guest MAC belongs to the macvtap (plug sets it), not
        // to the VF: a macvtap may not share its lower device's address (EADDRINUSE on up,
        // seen on a real igb). In passthrough mode the macvtap takes the VF's MAC, so there
        // the VF gets it.
        if matches!(req.mode, AllocMode::DirectVepa | AllocMode::DirectBridge) {
            knobs.retain(|k| k.kind() != KnobKind::Mac);
        }
        actuate::refuse_unsupported(model, &knobs, req.force_unsupported)?;
        let bind_driver = (req.mode == AllocMode::HostdevVfio
            && !v.driver.as_ref().is_some_and(DriverName::is_vfio_pci))
        .then(DriverName::vfio_pci);
        // nova's `managed = "no"`: the operator binds vfio-pci, vifman must not; a VF that is
        // not on vfio-pci already cannot be handed out for passthrough.
        if bind_driver.is_some() {
            let (spec, _) = self.config.classify(&view.candidate(v));
            if let Some(s) = spec.filter(|s| s.managed == Some(false)) {
                return Err(EngineError::Request(format!(
                    "{}: device_spec[{}] says managed = no (the operator binds vfio-pci, not \
                     vifman), and the VF is on {}; bind it to vfio-pci first",
                    v.addr,
                    s.index,
                    v.driver.as_deref().unwrap_or("no driver")
                )));
            }
        }
        // Checked before anything changes: switchdev, the node exists, the VF has a leaf.
        let leaf_parent = match &req.rate_parent {
            None => None,
            Some(node) => {
                let original = super::rate::leaf::check_parent(self.host, &v.pf, v.vf_index, node)
                    .map_err(|why| EngineError::Request(format!("--rate-parent {node}: {why}")))?;
                Some(crate::store::LeafParentChange {
                    node: node.to_string(),
                    original,
                })
            }
        };
        let plan = Plan {
            vf: v.addr.to_string(),
            pf: v.pf.to_string(),
            pf_netdev: v
                .pf_netdev
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            vf_index: v.vf_index,
            numa_node: v.numa,
            model: model.map(|m| m.name.clone()),
            knobs: knobs
                .iter()
                .map(Knob::describe)
                .chain(
                    leaf_parent
                        .iter()
                        .map(|c| format!("rate_parent {}", c.node)),
                )
                .collect(),
            bind_driver: bind_driver.clone(),
            mode: req.mode.as_str().into(),
        };
        if dry_run {
            return Ok(AllocateOutcome { plan, vif: None });
        }
        let pf_netdev = v.pf_netdev.clone().expect("selected VFs have a PF netdev");
        // Without --mac: hostdev and passthrough report the VF's own MAC; vepa/bridge leave
        // `address` unset so the macvtap gets its own (it must differ from the VF's).
        let mac_for_vif = req.mac.or_else(|| match req.mode {
            AllocMode::DirectVepa | AllocMode::DirectBridge => None,
            _ => v
                .netdevs
                .first()
                .and_then(|n| view.scan.netdev(n.as_str()))
                .and_then(|n| n.mac),
        });
        let vif = emit::vif(req, v, mac_for_vif)?;
        // A MAC set through the VF's port function activates a function that reports itself
        // inactive: the state before goes into the record for release to put back.
        let mut seen = if knobs.iter().any(|k| k.kind() == KnobKind::Mac) {
            Some(super::portfn::look(self.host, &pf_netdev, v.vf_index)?)
        } else {
            None
        };
        let port_fn_state = seen.as_ref().and_then(|s| s.state());
        let view_idx = idx;
        let mut rec = Allocation {
            vif_id: req.vif_id,
            instance_uuid: req.instance_uuid,
            physnet: req.physnet.clone(),
            mode: req.mode,
            vf: v.addr,
            pf: v.pf,
            pf_netdev: pf_netdev.clone(),
            vf_index: v.vf_index,
            phase: Phase::Pending,
            requested: knobs.clone(),
            bound_driver: bind_driver.clone(),
            original: Original {
                vf: state.clone(),
                driver: v.driver.clone(),
                driver_override: v.driver_override.clone(),
                port_fn_state,
            },
            vif: vif.clone(),
            created: super::now(),
            lost_reason: None,
            reset: self.reset_policy_of(view, v),
            quarantine: None,
            pf_serial: self.host.device_serial(&v.pf),
            cni: req.cni.clone(),
            rate_parent: leaf_parent.clone(),
        };
        // Intent first: a crash from here on leaves a Pending record that reconcile undoes.
        st.allocations.push(rec.clone());
        store.save(st)?;

        let t = Target {
            vf: v.addr,
            pf_netdev: &pf_netdev,
            vf_index: v.vf_index,
        };
        let mut applied: Vec<Applied> = vec![];
        let result = (|| -> Result<(), (String, crate::host::HostError)> {
            if model.is_some_and(|m| m.quirks.pf_must_be_up)
                && v.pf_operstate.as_deref() != Some("up")
            {
                self.host
                    .link_up(&pf_netdev)
                    .map_err(|e| ("bringing the PF up".to_string(), e))?;
            }
            if let Some(original) = port_fn_state {
                applied.push(Applied::FnState { original });
            }
            for k in &knobs {
                let original = Knob::current(k.kind(), &state).unwrap_or_else(|| k.clone());
                actuate::set_knob_seen(self.host, &t, k, &mut seen)
                    .map_err(|e| (k.kind().name().to_string(), e))?;
                applied.push(Applied::Knob { original });
            }
            if let Some(c) = &leaf_parent {
                // A refused request is put back by vf_leaf itself: recorded once it held.
                super::rate::leaf::set_parent(
                    self.host,
                    pf_netdev.as_str(),
                    v.vf_index,
                    Some(&c.node),
                )
                .map_err(|e| (format!("rate parent {}", c.node), e))?;
                applied.push(Applied::RateParent {
                    original: c.original.clone(),
                });
            }
            if knobs.iter().any(|k| k.kind() == KnobKind::Mac) && bind_driver.is_none() {
                actuate::reload_vf_driver(self.host, &v.addr, model)
                    .map_err(|e| ("VF driver reload after MAC".to_string(), e))?;
            }
            if let Some(d) = &bind_driver {
                applied.push(Applied::Driver {
                    original: v.driver.clone(),
                    original_override: v.driver_override.clone(),
                });
                actuate::rebind(self.host, &v.addr, Some(d), Some(d))
                    .map_err(|e| (format!("binding {} to {d}", v.addr), e))?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                rec.phase = Phase::Active;
                let i = st.by_vif(&req.vif_id).expect("just recorded");
                st.allocations[i] = rec;
                store.save(st)?;
                let _ = view.refresh_vf(self.host, view_idx);
                Ok(AllocateOutcome {
                    plan,
                    vif: Some(vif),
                })
            }
            Err((step, source)) => {
                let failures = actuate::undo(self.host, &t, &applied, model);
                let next = (!failures.is_empty()).then_some(super::Recovery::Repair);
                let rollback = if failures.is_empty() {
                    let i = st.by_vif(&req.vif_id).expect("just recorded");
                    st.allocations.remove(i);
                    store.save(st)?;
                    let _ = view.refresh_vf(self.host, view_idx);
                    format!(
                        "rolled back {} change(s), VF {} is as it was",
                        applied.len(),
                        v.addr
                    )
                } else {
                    format!(
                        "ROLLBACK INCOMPLETE ({}); {}",
                        failures.join("; "),
                        super::PENDING_FOR_REPAIR
                    )
                };
                Err(EngineError::Actuation {
                    step,
                    cause: source,
                    rollback,
                    next,
                })
            }
        }
    }
}
