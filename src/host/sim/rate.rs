//! The simulated kernel's devlink rate objects, for PFs the tree's `devlink.json` has an
//! instance of (see `sim/devlink.rs`): nodes live in the record's `rates`; leaves are the
//! VF ports' (one per local `pcivf` port, so switchdev mode only), their tx_share / tx_max
//! sharing storage with the VF's IFLA_VF_RATE state (as netdevsim's do) and their parent
//! kept in the record's leaf entry. The answers follow `net/devlink/rate.c` and the drivers:
//!
//! - a node is created in switchdev mode only (EOPNOTSUPP otherwise, as netdevsim and mlx5
//!   answer); a second node of the same name is EEXIST;
//! - an unknown node (to set, delete or parent to) is ENODEV; a parent to self is EINVAL, a
//!   node parented to its own descendant EEXIST, with the kernel's extack texts;
//! - a node with children is not deleted (EBUSY, "Node has children. Cannot delete node.");
//! - one request sets tx_share, tx_max, then the parent, and a failing parent leaves the
//!   rates applied, as the kernel does (fault `devlink.rate.parent`).
//!
//! Faults (see `faults.rs`): `devlink.rate` fails a leaf request before anything changes,
//! `devlink.rate.node` a node request, `devlink.rate.parent` a leaf's parent after its rates
//! went in.

use super::devlink::handle;
use super::{tree::Tree, SimHost};
use crate::devlink::model::{bytes_to_mbit, mbit_to_bytes};
use crate::devlink::record::DevlinkRecord;
use crate::devlink::{DevHandle, EswitchMode, PortFlavour, Rate, RateChange, RateObject};
use crate::host::{HostError, Knob, PfId, RateObjects, RateOp};
use crate::netlink::PfLinkState;
use crate::types::PciAddress;

impl SimHost {
    /// The VF state of PCI PF `a` (its uplink netdev's), where it has one.
    fn pf_link(&self, a: &PciAddress) -> Result<Option<PfLinkState>, HostError> {
        let t = Tree::new(self.confined()?);
        match t.device_dir(a).and_then(|d| t.uplink_netdev(&d)) {
            Some(u) => self.load_link(&u),
            None => Ok(None),
        }
    }

    pub(super) fn sim_rate_objects(&self, pf: &PfId) -> Result<Option<RateObjects>, HostError> {
        let _span = tracing::debug_span!("sim_devlink_rate_get", pf = %pf).entered();
        let Some(esw) = self.sim_eswitch_of(pf)? else {
            return Ok(None);
        };
        let Some(a) = self.sim_pf_addr(pf) else {
            return Ok(None);
        };
        let dev = handle(&a);
        let Some(r) = self.devlink_record().filter(|r| r.instance(&dev).is_some()) else {
            // Outside the record the simulation models no rate objects.
            return Ok(Some(RateObjects {
                devlink: esw.devlink,
                mode: esw.mode,
                rates: vec![],
            }));
        };
        let link = self.pf_link(&a)?;
        let mut objs = crate::host::rate::rates_from_record(&r, &a, link.as_ref());
        if let Some(o) = objs.as_mut() {
            // The mode as the simulation has it (the record's, or the file of modes').
            o.devlink = esw.devlink;
            o.mode = esw.mode;
        }
        Ok(objs)
    }

    pub(super) fn sim_change_rate(&self, pf: &PfId, op: &RateOp) -> Result<(), HostError> {
        let desc = op.describe(pf);
        let _span = tracing::info_span!("sim_devlink_rate_change", op = %desc).entered();
        let fault = match op {
            RateOp::SetLeaf { .. } => "devlink.rate",
            _ => "devlink.rate.node",
        };
        self.faults.check(fault, &desc)?;
        let a = self
            .sim_pf_addr(pf)
            .ok_or_else(|| HostError::kernel(&desc, libc::ENODEV))?;
        let esw = self
            .sim_eswitch_of(pf)?
            .ok_or_else(|| HostError::kernel(&desc, libc::EOPNOTSUPP))?;
        let dev = handle(&a);
        let mut r = self
            .devlink_record()
            .filter(|r| r.instance(&dev).is_some())
            .ok_or_else(|| {
                HostError::kernel(
                    format!("{desc} [the simulated devlink has rate objects only for instances in devlink.json]"),
                    libc::EOPNOTSUPP,
                )
            })?;
        self.journal(&desc);
        let kernel = |ext: &str, errno| HostError::kernel(format!("{desc} [{ext}]"), errno);
        match op {
            RateOp::NewNode { name, change } => {
                if esw.mode != EswitchMode::Switchdev {
                    return Err(kernel(
                        "Rate node creation supported only in switchdev mode",
                        libc::EOPNOTSUPP,
                    ));
                }
                if name.is_empty() {
                    return Err(HostError::kernel(&desc, libc::EINVAL));
                }
                if node_index(&r, &dev, name).is_some() {
                    return Err(HostError::kernel(&desc, libc::EEXIST));
                }
                let mut node = Rate {
                    dev: dev.clone(),
                    object: RateObject::Node { name: name.clone() },
                    tx_share: 0,
                    tx_max: 0,
                    parent: None,
                };
                // A failure here is the kernel's error path: the new node is freed again.
                apply_rates(&mut node, change);
                set_parent(&r, &mut node, change, &desc)?;
                r.rates.push(node);
            }
            RateOp::SetNode { name, change } => {
                let i = node_index(&r, &dev, name)
                    .ok_or_else(|| HostError::kernel(&desc, libc::ENODEV))?;
                let mut node = r.rates[i].clone();
                apply_rates(&mut node, change);
                set_parent(&r, &mut node, change, &desc)?;
                r.rates[i] = node;
            }
            RateOp::DelNode { name } => {
                let i = node_index(&r, &dev, name)
                    .ok_or_else(|| HostError::kernel(&desc, libc::ENODEV))?;
                if r.rates
                    .iter()
                    .any(|x| x.dev == dev && x.parent.as_deref() == Some(name))
                {
                    return Err(kernel(
                        "Node has children. Cannot delete node.",
                        libc::EBUSY,
                    ));
                }
                r.rates.remove(i);
            }
            RateOp::SetLeaf { vf, change } => {
                let port = r
                    .ports_of(&dev)
                    .find(|p| {
                        p.flavour == PortFlavour::PciVf
                            && !p.external
                            && p.vfnum.map(u32::from) == Some(*vf)
                    })
                    .map(|p| p.index)
                    .ok_or_else(|| HostError::kernel(&desc, libc::ENODEV))?;
                let mut leaf = self.leaf_rates(&a, *vf, &desc)?;
                leaf.dev = dev.clone();
                leaf.object = RateObject::Leaf { port };
                leaf.parent = r
                    .rates
                    .iter()
                    .find(|x| x.dev == dev && x.object == leaf.object)
                    .and_then(|x| x.parent.clone());
                if change.tx_share.is_some() || change.tx_max.is_some() {
                    apply_rates(&mut leaf, change);
                    self.save_leaf_rates(&a, *vf, &leaf, &desc)?;
                }
                if change.parent.is_none() {
                    return Ok(());
                }
                // The kernel sets the parent last: the rates above stay when it fails.
                self.faults.check("devlink.rate.parent", &desc)?;
                set_parent(&r, &mut leaf, change, &desc)?;
                r.rates
                    .retain(|x| !(x.dev == dev && x.object == leaf.object));
                if leaf.parent.is_some() {
                    r.rates.push(leaf);
                }
            }
        }
        self.save_devlink_record(&r, &desc)
    }

    /// A VF leaf's rates from the VF state (bytes/s).
    fn leaf_rates(&self, a: &PciAddress, vf: u32, op: &str) -> Result<Rate, HostError> {
        let link = self
            .pf_link(a)?
            .ok_or_else(|| HostError::kernel(op, libc::ENODEV))?;
        let s = link.vfs.iter().find(|s| s.vf == vf);
        Ok(Rate {
            dev: handle(a),
            object: RateObject::Leaf { port: 0 },
            tx_share: s.map(|s| mbit_to_bytes(s.min_tx_rate)).unwrap_or(0),
            tx_max: s.map(|s| mbit_to_bytes(s.max_tx_rate)).unwrap_or(0),
            parent: None,
        })
    }

    /// A leaf's rates into the VF state (IFLA_VF_RATE's storage, Mbit/s). The drivers take
    /// whole Mbit/s only: anything else is EINVAL, as netdevsim answers.
    fn save_leaf_rates(
        &self,
        a: &PciAddress,
        vf: u32,
        leaf: &Rate,
        op: &str,
    ) -> Result<(), HostError> {
        if !leaf.tx_share.is_multiple_of(125_000) || !leaf.tx_max.is_multiple_of(125_000) {
            return Err(HostError::kernel(
                format!("{op} [TX rate value not in link speed units of 1Mbps.]"),
                libc::EINVAL,
            ));
        }
        let mbit = |b: u64| u32::try_from(bytes_to_mbit(b)).unwrap_or(u32::MAX);
        let mut link = self
            .pf_link(a)?
            .ok_or_else(|| HostError::kernel(op, libc::ENODEV))?;
        let knob = Knob::Rate {
            min_mbps: mbit(leaf.tx_share),
            max_mbps: mbit(leaf.tx_max),
        };
        super::apply_vf_knob(&mut link, vf, &knob);
        self.save_link(&link)
    }
}

fn node_index(r: &DevlinkRecord, dev: &DevHandle, name: &str) -> Option<usize> {
    r.rates
        .iter()
        .position(|x| &x.dev == dev && x.object == RateObject::Node { name: name.into() })
}

fn apply_rates(x: &mut Rate, change: &RateChange) {
    if let Some(v) = change.tx_share {
        x.tx_share = v;
    }
    if let Some(v) = change.tx_max {
        x.tx_max = v;
    }
}

/// `devlink_nl_rate_parent_node_set`: "" detaches, a name must be a node of the instance,
/// not the object itself, nor (for a node) one of its descendants.
fn set_parent(
    r: &DevlinkRecord,
    x: &mut Rate,
    change: &RateChange,
    op: &str,
) -> Result<(), HostError> {
    let Some(p) = change.parent.as_deref() else {
        return Ok(());
    };
    if p.is_empty() {
        x.parent = None;
        return Ok(());
    }
    if node_index(r, &x.dev, p).is_none() {
        return Err(HostError::kernel(op, libc::ENODEV));
    }
    if let RateObject::Node { name } = &x.object {
        if name == p {
            return Err(HostError::kernel(
                format!("{op} [Parent to self is not allowed]"),
                libc::EINVAL,
            ));
        }
        // Walk up from the would-be parent: meeting `name` means a cycle.
        let mut up = Some(p.to_string());
        let mut hops = 0;
        while let Some(n) = up {
            if &n == name {
                return Err(HostError::kernel(
                    format!("{op} [Node is already a parent of parent node.]"),
                    libc::EEXIST,
                ));
            }
            hops += 1;
            up = node_index(r, &x.dev, &n)
                .and_then(|i| r.rates[i].parent.clone())
                .filter(|_| hops <= r.rates.len());
        }
    }
    x.parent = Some(p.to_string());
    Ok(())
}
