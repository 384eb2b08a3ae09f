//! Representors from the devlink port map: the authoritative source wherever a PF has a
//! devlink instance (a `pcivf` port states its PF and VF numbers and its netdev), with
//! `phys_port_name` parsing (`sysfs::representor`) as the fallback for PCI PFs without one
//! and for fixture trees.
//!
//! One matcher, keyed by the PF as devlink sees it ([`PfKey`]: a PCI PF's `pci/ADDR`
//! instance and function number, or a non-PCI PF's own instance, netdevsim's
//! `netdevsim/netdevsimN`), answers every caller: the inventory's scan of PCI PFs
//! ([`apply_port_map`]), its non-PCI PFs and any point lookup by PF netdev
//! ([`netdev_representor`]), and the OVS backend's point lookup by VF PCI address
//! (`sysfs::representor::find_representor`, via [`port_map_representor`]), so all of them
//! name the same netdev.

use super::model::{DevHandle, Port, PortFlavour};
use crate::sysfs::Representor;
use crate::types::{BusDevice, IfName, PciAddress};

/// A PF as devlink sees it: the instance its VF ports hang off and, for a PCI PF, its PCI
/// function number, which a VF port's `pfnum` must equal (a dual-port NIC can register both
/// PFs' ports on one instance). A non-PCI PF (netdevsim) is a whole instance of its own, so
/// any `pfnum` of that instance is its.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PfKey {
    pub dev: DevHandle,
    pfnum: Option<u32>,
}

impl PfKey {
    /// PCI PF `a`: instance `pci/ADDR`, PF number its function.
    pub fn pci(a: PciAddress) -> PfKey {
        PfKey {
            dev: DevHandle::new("pci", &a.to_string()),
            pfnum: Some(u32::from(a.function())),
        }
    }

    /// A non-PCI SR-IOV PF: its `bus/name` is its devlink handle.
    pub fn bus(d: &BusDevice) -> PfKey {
        PfKey {
            dev: DevHandle::new(d.bus(), d.name()),
            pfnum: None,
        }
    }

    /// The key of instance `dev`: a PCI PF's when it is a `pci/ADDR` instance.
    fn of_instance(dev: &DevHandle) -> PfKey {
        match pci_instance(dev) {
            Some(a) => PfKey::pci(a),
            None => PfKey {
                dev: dev.clone(),
                pfnum: None,
            },
        }
    }

    /// The PCI address of a PCI PF's key.
    pub fn pci_address(&self) -> Option<PciAddress> {
        pci_instance(&self.dev)
    }
}

/// The PCI PF a `pci/ADDR` instance stands for.
fn pci_instance(dev: &DevHandle) -> Option<PciAddress> {
    (dev.bus == "pci").then(|| dev.dev.parse().ok()).flatten()
}

/// (VF index, netdev) of a local VF representor port of `key`'s PF: `pcivf`, of this host's
/// controller (not an external host's VF on a SmartNIC), on the PF's instance with the PF's
/// number, with a netdev.
fn local_vf_rep(p: &Port, key: &PfKey) -> Option<(u32, IfName)> {
    if p.dev != key.dev
        || p.flavour != PortFlavour::PciVf
        || p.external
        || p.controller.unwrap_or(0) != 0
    {
        return None;
    }
    if let Some(n) = key.pfnum {
        if u32::from(p.pfnum?) != n {
            return None;
        }
    }
    Some((u32::from(p.vfnum?), p.netdev.as_deref()?.parse().ok()?))
}

/// Whether `key`'s PF has a devlink instance in the port map (then the map is authoritative
/// for it, in legacy mode too: no VF ports, no representors).
pub fn has_instance(ports: &[Port], key: &PfKey) -> bool {
    ports.iter().any(|p| p.dev == key.dev)
}

/// Every VF representor of `key`'s PF in the port map, as (VF index, netdev), by VF index;
/// empty when the PF has no instance or is in legacy mode.
pub fn representors_of(ports: &[Port], key: &PfKey) -> Vec<(u32, IfName)> {
    let mut v: Vec<(u32, IfName)> = ports.iter().filter_map(|p| local_vf_rep(p, key)).collect();
    v.sort();
    v
}

/// Replaces the representors of every PCI PF that has a devlink instance with the port
/// map's (none in legacy mode), and keeps the `phys_port_name` matches of the others.
pub fn apply_port_map(reps: &mut Vec<Representor>, ports: &[Port]) {
    let mut with_devlink: Vec<PciAddress> =
        ports.iter().filter_map(|p| pci_instance(&p.dev)).collect();
    with_devlink.sort();
    with_devlink.dedup();
    reps.retain(|r| !with_devlink.contains(&r.pf));
    for pf in with_devlink {
        reps.extend(representors_of(ports, &PfKey::pci(pf)).into_iter().map(
            |(vf_index, netdev)| Representor {
                netdev,
                pf,
                vf_index,
            },
        ));
    }
    reps.sort_by(|a, b| (a.pf, a.vf_index, &a.netdev).cmp(&(b.pf, b.vf_index, &b.netdev)));
}

/// VF `vf` of `key`'s PF in the port map: `Some(Some(netdev))` found; `Some(None)` the PF
/// has a devlink instance but no representor for that VF (legacy mode: do not fall back to
/// name parsing); `None` the PF has no devlink instance (fall back).
pub fn port_map_representor(ports: &[Port], key: &PfKey, vf: u32) -> Option<Option<String>> {
    if !has_instance(ports, key) {
        return None;
    }
    Some(
        representors_of(ports, key)
            .into_iter()
            .find(|(v, _)| *v == vf)
            .map(|(_, n)| n.to_string()),
    )
}

/// The PF whose netdev is `pf_netdev`, as devlink sees it: the instance of the non-VF port
/// (netdevsim's and mlx5's `physical` uplink port) whose netdev that is; None when no port
/// has it (no devlink instance, or a driver that registers no ports).
pub fn key_of_netdev(ports: &[Port], pf_netdev: &str) -> Option<PfKey> {
    ports
        .iter()
        .find(|p| p.netdev.as_deref() == Some(pf_netdev) && p.flavour != PortFlavour::PciVf)
        .map(|p| PfKey::of_instance(&p.dev))
}

/// The point lookup by (PF netdev, VF index): [`port_map_representor`] of the PF that
/// [`key_of_netdev`] finds, with the same three answers; `None` also when the netdev is no
/// PF's port. The inventory's non-PCI PFs and `sysfs::representor::find_representor_of` ask
/// this, so a lookup by netdev and the scan cannot disagree.
pub fn netdev_representor(ports: &[Port], pf_netdev: &str, vf: u32) -> Option<Option<String>> {
    port_map_representor(ports, &key_of_netdev(ports, pf_netdev)?, vf)
}

/// The live host's port map, or None when the kernel has no devlink (then every PF falls
/// back to `phys_port_name`). A dump failure is logged, not fatal: the fallback still works.
pub fn live_ports() -> Option<Vec<Port>> {
    match super::Devlink::open().and_then(|mut d| d.ports()) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::debug!(error = %e, "devlink port map unavailable; representors by phys_port_name");
            None
        }
    }
}

/// The devlink port map of `root`: the kernel's on the live host, the tree's recorded one
/// (`devlink.json`) on a fixture or the simulated kernel's copy; `Ok(None)` where there is
/// none. A malformed record is the error (the read path turns it into a warning).
pub fn ports_of_root(
    root: &crate::sysfs::SysfsRoot,
) -> Result<Option<Vec<Port>>, super::record::RecordError> {
    if root.is_host() {
        return Ok(live_ports());
    }
    let Ok(c) = root.confined() else {
        return Ok(None);
    };
    Ok(super::record::DevlinkRecord::load(c)?.map(|r| r.ports))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devlink::DevHandle;

    fn port(dev: &str, index: u32, flavour: PortFlavour, pf: u16, vf: u16, nd: &str) -> Port {
        Port {
            dev: DevHandle::new("pci", dev),
            index,
            flavour,
            number: None,
            pfnum: Some(pf),
            vfnum: Some(vf),
            sfnum: None,
            controller: Some(0),
            external: false,
            netdev_ifindex: None,
            netdev: (!nd.is_empty()).then(|| nd.to_string()),
            function: None,
        }
    }

    fn rep(nd: &str, pf: &str, vf: u32) -> Representor {
        Representor {
            netdev: nd.parse().unwrap(),
            pf: pf.parse().unwrap(),
            vf_index: vf,
        }
    }

    #[test]
    fn port_map_wins_where_a_pf_has_devlink() {
        // Name parsing found a wrong pair on 5e:00.0 (a renamed netdev) and one on a PF with
        // no devlink instance (kept).
        let mut reps = vec![
            rep("stale0", "0000:5e:00.0", 0),
            rep("enp3s0f0r0", "0000:03:00.0", 0),
        ];
        let mut ext = port("0000:5e:00.0", 9, PortFlavour::PciVf, 0, 0, "ext0");
        ext.external = true;
        ext.controller = Some(1);
        let ports = vec![
            port(
                "0000:5e:00.0",
                1,
                PortFlavour::Physical,
                0,
                0,
                "enp94s0f0np0",
            ),
            port("0000:5e:00.0", 2, PortFlavour::PciVf, 0, 1, "rep1"),
            port("0000:5e:00.0", 3, PortFlavour::PciVf, 0, 0, "rep0"),
            ext,
            // Legacy-mode PF: an instance with no VF ports, so no representors.
            port(
                "0000:5e:00.1",
                1,
                PortFlavour::Physical,
                1,
                0,
                "enp94s0f1np1",
            ),
        ];
        reps.push(rep("old", "0000:5e:00.1", 0));
        apply_port_map(&mut reps, &ports);
        assert_eq!(
            reps,
            vec![
                rep("enp3s0f0r0", "0000:03:00.0", 0),
                rep("rep0", "0000:5e:00.0", 0),
                rep("rep1", "0000:5e:00.0", 1),
            ]
        );
        let pf = PfKey::pci("0000:5e:00.0".parse().unwrap());
        assert_eq!(
            port_map_representor(&ports, &pf, 1),
            Some(Some("rep1".into()))
        );
        assert_eq!(port_map_representor(&ports, &pf, 7), Some(None));
        let other = PfKey::pci("0000:03:00.0".parse().unwrap());
        assert_eq!(port_map_representor(&ports, &other, 0), None);
        // By the PF's netdev: the same answers.
        assert_eq!(
            netdev_representor(&ports, "enp94s0f0np0", 1),
            Some(Some("rep1".into()))
        );
        assert_eq!(netdev_representor(&ports, "enp94s0f1np1", 0), Some(None));
        assert_eq!(
            netdev_representor(&ports, "rep1", 0),
            None,
            "a VF port is no PF"
        );
        assert_eq!(netdev_representor(&ports, "nosuch0", 0), None);
    }

    /// netdevsim: a non-PCI instance that is one PF; its VF ports say `pfnum 0` whatever the
    /// device's number, and they are its by the instance alone, by handle and by netdev.
    #[test]
    fn a_non_pci_pf_by_handle_and_by_netdev() {
        let nsim = |index, flavour, vf, nd: &str| {
            let mut p = port("x", index, flavour, 0, vf, nd);
            p.dev = DevHandle::new("netdevsim", "netdevsim10");
            p
        };
        let mut ports = vec![
            nsim(0, PortFlavour::Physical, 0, "eni10np1"),
            nsim(2, PortFlavour::PciVf, 1, "eth3"),
            nsim(1, PortFlavour::PciVf, 0, "eth2"),
            // A VF port whose netdev is not there yet (representor being created).
            nsim(3, PortFlavour::PciVf, 2, ""),
        ];
        ports.push(port("0000:5e:00.0", 1, PortFlavour::PciVf, 0, 1, "other"));
        let key = PfKey::bus(&"netdevsim/netdevsim10".parse().unwrap());
        assert_eq!(key.pci_address(), None);
        assert_eq!(
            representors_of(&ports, &key),
            vec![(0, "eth2".parse().unwrap()), (1, "eth3".parse().unwrap())]
        );
        assert_eq!(key_of_netdev(&ports, "eni10np1"), Some(key.clone()));
        for vf in 0..4 {
            assert_eq!(
                netdev_representor(&ports, "eni10np1", vf),
                port_map_representor(&ports, &key, vf),
                "VF {vf}: by netdev and by handle"
            );
        }
        assert_eq!(
            netdev_representor(&ports, "eni10np1", 1),
            Some(Some("eth3".into()))
        );
        assert_eq!(netdev_representor(&ports, "eni10np1", 2), Some(None));
        // A PCI scan does not pick up the non-PCI instance's ports.
        let mut reps = vec![];
        apply_port_map(&mut reps, &ports);
        assert_eq!(reps, vec![rep("other", "0000:5e:00.0", 1)]);
        // Legacy: the instance is there, its VF ports are not.
        ports.retain(|p| p.flavour != PortFlavour::PciVf);
        assert!(representors_of(&ports, &key).is_empty());
        assert_eq!(netdev_representor(&ports, "eni10np1", 0), Some(None));
    }
}
