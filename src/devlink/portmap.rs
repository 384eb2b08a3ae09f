//! Representors from the devlink port map: the authoritative source wherever a PCI PF has a
//! devlink instance (a `pcivf` port states its PF and VF numbers and its netdev), with
//! `phys_port_name` parsing (`sysfs::representor`) as the fallback for PFs without one and
//! for fixture trees. Used by the inventory ([`apply_port_map`]) and by the OVS backend's
//! point lookup (`sysfs::representor::find_representor`, via [`port_map_representor`]), so
//! both name the same netdev.

use super::model::{Port, PortFlavour};
use crate::sysfs::Representor;
use crate::types::{IfName, PciAddress};

/// The PCI PF a port's instance stands for, when it is a `pci/ADDR` instance.
fn pci_pf(p: &Port) -> Option<PciAddress> {
    (p.dev.bus == "pci")
        .then(|| p.dev.dev.parse().ok())
        .flatten()
}

/// (PF, VF index, netdev) of a local VF representor port: `pcivf`, of this host's
/// controller (not an external host's VF on a SmartNIC), whose PF number is the
/// instance's own PCI function, with a netdev.
fn local_vf_rep(p: &Port) -> Option<(PciAddress, u32, IfName)> {
    if p.flavour != PortFlavour::PciVf || p.external || p.controller.unwrap_or(0) != 0 {
        return None;
    }
    let pf = pci_pf(p)?;
    if u32::from(p.pfnum?) != u32::from(pf.function()) {
        return None;
    }
    Some((pf, u32::from(p.vfnum?), p.netdev.as_deref()?.parse().ok()?))
}

/// Replaces the representors of every PF that has a devlink instance with the port map's
/// (none in legacy mode), and keeps the `phys_port_name` matches of the others.
pub fn apply_port_map(reps: &mut Vec<Representor>, ports: &[Port]) {
    let with_devlink: Vec<PciAddress> = ports.iter().filter_map(pci_pf).collect();
    reps.retain(|r| !with_devlink.contains(&r.pf));
    reps.extend(
        ports
            .iter()
            .filter_map(local_vf_rep)
            .map(|(pf, vf_index, netdev)| Representor {
                netdev,
                pf,
                vf_index,
            }),
    );
    reps.sort_by(|a, b| (a.pf, a.vf_index, &a.netdev).cmp(&(b.pf, b.vf_index, &b.netdev)));
}

/// VF `vf` of `pf` in the port map: `Some(Some(netdev))` found; `Some(None)` the PF has a
/// devlink instance but no representor for that VF (legacy mode: do not fall back to name
/// parsing); `None` the PF has no devlink instance (fall back).
pub fn port_map_representor(ports: &[Port], pf: PciAddress, vf: u32) -> Option<Option<String>> {
    if !ports.iter().any(|p| pci_pf(p) == Some(pf)) {
        return None;
    }
    Some(
        ports
            .iter()
            .filter_map(local_vf_rep)
            .find(|(p, v, _)| *p == pf && *v == vf)
            .map(|(_, _, n)| n.to_string()),
    )
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
        let pf = "0000:5e:00.0".parse().unwrap();
        assert_eq!(
            port_map_representor(&ports, pf, 1),
            Some(Some("rep1".into()))
        );
        assert_eq!(port_map_representor(&ports, pf, 7), Some(None));
        let other = "0000:03:00.0".parse().unwrap();
        assert_eq!(port_map_representor(&ports, other, 0), None);
    }
}
