//! Switchdev VF representors, found the way os-vif's `get_representor_port` finds them:
//! same `phys_switch_id` as the PF's uplink, and a `phys_port_name` naming the VF.

use std::collections::HashMap;

use super::model::{NetDev, PciDevice, Representor};

/// The parts of a representor's `phys_port_name`: `vfN`, `pfXvfY` or `cXpfYvfZ`
/// (the controller form is used by SmartNICs for VFs of an external host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortName {
    pub controller: Option<u32>,
    pub pf: Option<u32>,
    pub vf: u32,
}

fn take_num<'a>(s: &'a str, prefix: &str) -> Option<(u32, &'a str)> {
    let rest = s.strip_prefix(prefix)?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if end == 0 || end > 9 {
        return None;
    }
    Some((rest[..end].parse().ok()?, &rest[end..]))
}

/// Parses a VF representor port name; uplinks (`p0`), PF representors (`pf0`) and
/// sub-functions (`pf0sf1`) are not VF representors and give `None`.
pub fn parse_port_name(s: &str) -> Option<PortName> {
    let (controller, s) = match take_num(s, "c") {
        Some((c, rest)) => (Some(c), rest),
        None => (None, s),
    };
    let (pf, s) = match take_num(s, "pf") {
        Some((p, rest)) => (Some(p), rest),
        None if controller.is_some() => return None,
        None => (None, s),
    };
    let (vf, rest) = take_num(s, "vf")?;
    rest.is_empty().then_some(PortName { controller, pf, vf })
}

/// Pairs each PF with its VF representors.
///
/// For `pfXvfY` names X must equal the PF's PCI function number, because dual-port NICs share
/// one switch id across both PFs (os-vif applies the same rule). A bare `vfN` name carries no
/// PF, so it is only accepted from a netdev that hangs off the PF itself.
pub fn match_representors(devices: &[PciDevice], netdevs: &[NetDev]) -> Vec<Representor> {
    let mut by_switch: HashMap<&str, Vec<(&NetDev, PortName)>> = HashMap::new();
    for n in netdevs {
        if let (Some(sw), Some(pn)) = (&n.phys_switch_id, &n.phys_port_name) {
            if let Some(p) = parse_port_name(pn) {
                by_switch.entry(sw.as_str()).or_default().push((n, p));
            }
        }
    }
    if by_switch.is_empty() {
        return Vec::new();
    }
    let by_name: HashMap<&str, &NetDev> = netdevs.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut out = Vec::new();
    for pf in devices.iter().filter(|d| d.sriov.is_some()) {
        // The PF's switch id comes from its own non-representor netdev (the uplink).
        let switch_id = pf
            .netdevs
            .iter()
            .filter_map(|n| by_name.get(n.as_str()))
            .filter(|n| {
                n.phys_port_name
                    .as_deref()
                    .and_then(parse_port_name)
                    .is_none()
            })
            .find_map(|n| n.phys_switch_id.as_deref());
        let Some(reps) = switch_id.and_then(|sw| by_switch.get(sw)) else {
            continue;
        };
        for (n, p) in reps {
            let ok = match p.pf {
                Some(x) => x == u32::from(pf.address.function()),
                None => n.device.is_none_or(|d| d == pf.address),
            };
            if ok {
                out.push(Representor {
                    netdev: n.name.clone(),
                    pf: pf.address,
                    vf_index: p.vf,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.pf, a.vf_index, &a.netdev).cmp(&(b.pf, b.vf_index, &b.netdev)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn port_names() {
        let p = |c, pf, vf| {
            Some(PortName {
                controller: c,
                pf,
                vf,
            })
        };
        assert_eq!(parse_port_name("vf3"), p(None, None, 3));
        assert_eq!(parse_port_name("pf0vf12"), p(None, Some(0), 12));
        assert_eq!(parse_port_name("c1pf1vf0"), p(Some(1), Some(1), 0));
        for not in [
            "p0",
            "pf0",
            "pf0sf1",
            "vf",
            "pfvf1",
            "c1vf2",
            "vf1x",
            "pf0vf1 ",
            "",
            "vf99999999999",
        ] {
            assert_eq!(parse_port_name(not), None, "{not:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_port_name(&s);
        }
    }
}
