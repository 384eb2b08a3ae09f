//! Validated policy values and their conversion from the raw TOML.

use std::collections::BTreeMap;

use toml::Spanned;

use super::raw::{Flag, RawPf, RawRange, RawVf};
use super::{at, PfPolicy, Pos};
use crate::netlink::VfLinkState;
use crate::types::{IfName, MacAddress, PciAddress};

/// How a `[[pf]]` entry picks its PF. Every selector given must hold (they narrow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PfSelectorSet {
    pub address: Option<PciAddress>,
    /// The PCIe Device Serial Number (`00-1b-21-ff-ff-a0-b1-c2`, as lspci prints it) or the
    /// VPD `SN` string: survives slot moves and renames.
    pub serial: Option<String>,
    pub netdev: Option<IfName>,
    /// `vendor:device` of the PF.
    pub device: Option<(u16, u16)>,
}

impl PfSelectorSet {
    pub fn describe(&self) -> String {
        let mut v = vec![];
        if let Some(a) = &self.address {
            v.push(format!("address {a}"));
        }
        if let Some(s) = &self.serial {
            v.push(format!("serial {s}"));
        }
        if let Some(n) = &self.netdev {
            v.push(format!("netdev {n}"));
        }
        if let Some((a, b)) = self.device {
            v.push(format!("device {a:04x}:{b:04x}"));
        }
        v.join(", ")
    }
}

/// The devlink eswitch mode a PF must be in; `vifman apply` sets it through
/// `engine::eswitch` in the order hwdb gives for the PF's driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eswitch {
    Legacy,
    Switchdev,
}

impl Eswitch {
    pub fn mode(self) -> crate::devlink::EswitchMode {
        match self {
            Eswitch::Legacy => crate::devlink::EswitchMode::Legacy,
            Eswitch::Switchdev => crate::devlink::EswitchMode::Switchdev,
        }
    }
}

/// Which driver a VF must end up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VfDriver {
    VfioPci,
    /// The model's VF netdev driver (hwdb `vf_driver`: iavf, igbvf, mlx5_core ...).
    Kernel,
    /// Unbound.
    None,
}

impl VfDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            VfDriver::VfioPci => "vfio-pci",
            VfDriver::Kernel => "kernel",
            VfDriver::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacPolicy {
    /// Derived from the PF serial and the VF index: the same MAC after every boot.
    Stable,
    /// A random locally administered MAC, chosen once when the VF has no admin MAC.
    Random,
    Explicit(MacAddress),
}

/// One `[[pf.vf]]` entry: a VF range and what those VFs must look like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VfPolicy {
    pub index: usize,
    /// Inclusive VF index ranges.
    pub ranges: Vec<(u32, u32)>,
    pub driver: Option<VfDriver>,
    pub mac: Option<MacPolicy>,
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: Option<VfLinkState>,
    pub min_tx_rate: Option<u32>,
    pub max_tx_rate: Option<u32>,
    /// The devlink rate node the VF's leaf is parented to (switchdev): one of the PF's
    /// `[[pf.rate_nodes]]`, so the apply creates it before parenting the leaf.
    pub rate_parent: Option<crate::types::RateNodeName>,
}

impl VfPolicy {
    pub fn covers(&self, vf: u32) -> bool {
        self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&vf))
    }
    fn count(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| u64::from(b - a) + 1).sum()
    }
    pub(super) fn overlaid_with(self, later: &VfPolicy) -> VfPolicy {
        VfPolicy {
            index: later.index,
            ranges: later.ranges.clone(),
            driver: later.driver.or(self.driver),
            mac: later.mac.or(self.mac),
            spoofchk: later.spoofchk.or(self.spoofchk),
            trust: later.trust.or(self.trust),
            link_state: later.link_state.or(self.link_state),
            min_tx_rate: later.min_tx_rate.or(self.min_tx_rate),
            max_tx_rate: later.max_tx_rate.or(self.max_tx_rate),
            rate_parent: later.rate_parent.clone().or(self.rate_parent),
        }
    }
}

/// (key, message, byte offset of the bad value)
pub(super) type Bad = (String, String, Option<usize>);

fn flag(key: &str, v: &Spanned<Flag>) -> Result<bool, Bad> {
    match v.get_ref() {
        Flag::Bool(b) => Ok(*b),
        Flag::Text(t) => match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Ok(true),
            "false" | "no" | "off" => Ok(false),
            _ => Err((key.into(), format!("{t:?} is not a boolean"), at(v))),
        },
    }
}

fn int(key: &str, v: &Spanned<i64>, min: i64, max: i64, what: &str) -> Result<u32, Bad> {
    let n = *v.get_ref();
    if n < min || n > max {
        return Err((
            key.into(),
            format!("{n} is out of range: {what} must be {min}..={max}"),
            at(v),
        ));
    }
    Ok(n as u32)
}

fn hex4(s: &str) -> Option<u16> {
    let t = s.trim_start_matches("0x");
    (!t.is_empty() && t.len() <= 4 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u16::from_str_radix(t, 16).ok())
        .flatten()
}

/// `0-3,5` → [(0,3),(5,5)].
pub fn parse_ranges(s: &str) -> Result<Vec<(u32, u32)>, String> {
    let mut out = vec![];
    for item in s.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("{s:?}: empty item (expected e.g. \"0-3,5\")"));
        }
        let (a, b) = item.split_once('-').unwrap_or((item, item));
        let parse = |x: &str| {
            x.trim()
                .parse::<u32>()
                .map_err(|_| format!("{s:?}: {x:?} is not a VF index"))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        if a > b {
            return Err(format!("{s:?}: range {a}-{b} is backwards"));
        }
        out.push((a, b));
    }
    Ok(out)
}

pub(super) fn from_raw(
    index: usize,
    r: RawPf,
    pos: &dyn Fn(usize) -> Pos,
) -> Result<PfPolicy, Bad> {
    let mut key_at = BTreeMap::new();
    let mut note = |key: String, offset: Option<usize>| {
        if let Some(o) = offset {
            key_at.insert(key, pos(o));
        }
    };
    let mut select = PfSelectorSet::default();
    if let Some(a) = &r.address {
        note("address".into(), at(a));
        select.address = Some(
            PciAddress::parse_user(a.get_ref())
                .map_err(|e| ("address".to_string(), e.to_string(), at(a)))?,
        );
    }
    if let Some(s) = &r.serial {
        note("serial".into(), at(s));
        let t = s.get_ref().trim();
        if t.is_empty() || t.len() > 64 || !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err((
                "serial".into(),
                format!("{:?} is not a device serial (1-64 printable characters: a PCIe DSN like 00-1b-21-ff-ff-a0-b1-c2 or a VPD SN)", s.get_ref()),
                at(s),
            ));
        }
        select.serial = Some(t.to_string());
    }
    if let Some(n) = &r.netdev {
        note("netdev".into(), at(n));
        select.netdev =
            Some(n.get_ref().parse().map_err(|e: crate::types::TypeError| {
                ("netdev".to_string(), e.to_string(), at(n))
            })?);
    }
    if let Some(d) = &r.device {
        note("device".into(), at(d));
        let ids = d
            .get_ref()
            .split_once(':')
            .and_then(|(v, p)| Some((hex4(v)?, hex4(p)?)))
            .ok_or_else(|| {
                (
                    "device".to_string(),
                    format!(
                        "{:?} is not vendor:device (4 hex digits each, e.g. \"8086:1592\")",
                        d.get_ref()
                    ),
                    at(d),
                )
            })?;
        select.device = Some(ids);
    }
    if select == PfSelectorSet::default() {
        return Err((
            "address".into(),
            "a [[pf]] entry needs a selector: address, serial, netdev or device".into(),
            None,
        ));
    }
    let numvfs = match &r.numvfs {
        Some(n) => {
            note("numvfs".into(), at(n));
            Some(int("numvfs", n, 0, 65535, "numvfs")?)
        }
        None => None,
    };
    let mtu = match &r.mtu {
        Some(n) => {
            note("mtu".into(), at(n));
            Some(int("mtu", n, 68, 65535, "mtu")?)
        }
        None => None,
    };
    let opt_flag =
        |key: &str, v: &Option<Spanned<Flag>>| v.as_ref().map(|v| flag(key, v)).transpose();
    for (k, v) in [
        ("drivers_autoprobe", &r.drivers_autoprobe),
        ("up", &r.up),
        ("manage_nm", &r.manage_nm),
    ] {
        if let Some(v) = v {
            note(k.into(), at(v));
        }
    }
    let eswitch = match &r.eswitch {
        None => None,
        Some(e) => {
            note("eswitch".into(), at(e));
            match e.get_ref().as_str() {
                "legacy" => Some(Eswitch::Legacy),
                "switchdev" => Some(Eswitch::Switchdev),
                other => {
                    return Err((
                        "eswitch".into(),
                        format!("{other:?} is not an eswitch mode (\"legacy\" or \"switchdev\")"),
                        at(e),
                    ))
                }
            }
        }
    };
    let mut vfs = Vec::with_capacity(r.vf.len());
    for (j, v) in r.vf.iter().enumerate() {
        let p = vf_from_raw(j, v.get_ref(), numvfs)
            .map_err(|(k, m, o)| (format!("vf[{j}].{k}"), m, o.or(at(v))))?;
        let raw = v.get_ref();
        for (k, o) in [
            ("vfs", raw.vfs.as_ref().and_then(at)),
            ("driver", raw.driver.as_ref().and_then(at)),
            ("mac", raw.mac.as_ref().and_then(at)),
            ("spoofchk", raw.spoofchk.as_ref().and_then(at)),
            ("trust", raw.trust.as_ref().and_then(at)),
            ("link_state", raw.link_state.as_ref().and_then(at)),
            ("min_tx_rate", raw.min_tx_rate.as_ref().and_then(at)),
            ("max_tx_rate", raw.max_tx_rate.as_ref().and_then(at)),
            ("rate_parent", raw.rate_parent.as_ref().and_then(at)),
        ] {
            note(format!("vf[{j}].{k}"), o);
        }
        vfs.push(p);
    }
    // One explicit MAC on two VFs would make both unreachable.
    let mut seen: BTreeMap<MacAddress, usize> = BTreeMap::new();
    for (j, v) in vfs.iter().enumerate() {
        if let Some(MacPolicy::Explicit(m)) = v.mac {
            if let Some(first) = seen.insert(m, j) {
                return Err((
                    format!("vf[{j}].mac"),
                    format!("{m} is already given to vf[{first}]"),
                    r.vf[j].get_ref().mac.as_ref().and_then(at),
                ));
            }
        }
    }
    let rate_nodes = super::ratenodes::from_raw(&r.rate_nodes)?;
    for (j, n) in r.rate_nodes.iter().enumerate() {
        note(format!("rate_nodes[{j}]"), at(n));
    }
    // A leaf's parent must be a node the policy creates (before the leaves are parented).
    for (j, v) in vfs.iter().enumerate() {
        let Some(parent) = &v.rate_parent else {
            continue;
        };
        if !rate_nodes.iter().any(|n| &n.name == parent) {
            let known: Vec<&str> = rate_nodes.iter().map(|n| n.name.as_str()).collect();
            return Err((
                format!("vf[{j}].rate_parent"),
                format!(
                    "{parent} is not a [[pf.rate_nodes]] entry of this PF (listed: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
                r.vf[j].get_ref().rate_parent.as_ref().and_then(at),
            ));
        }
    }
    if eswitch == Some(Eswitch::Legacy) && !rate_nodes.is_empty() {
        return Err((
            "rate_nodes".into(),
            "rate nodes exist in switchdev mode only; eswitch = \"legacy\" contradicts them".into(),
            r.eswitch.as_ref().and_then(at),
        ));
    }
    Ok(PfPolicy {
        index,
        select,
        numvfs,
        drivers_autoprobe: opt_flag("drivers_autoprobe", &r.drivers_autoprobe)?,
        mtu,
        up: opt_flag("up", &r.up)?,
        eswitch,
        manage_nm: opt_flag("manage_nm", &r.manage_nm)?.unwrap_or(false),
        vfs,
        rate_nodes,
        at: Pos::default(),
        key_at,
    })
}

fn vf_from_raw(index: usize, r: &RawVf, numvfs: Option<u32>) -> Result<VfPolicy, Bad> {
    let Some(range) = &r.vfs else {
        return Err((
            "vfs".into(),
            "a [[pf.vf]] entry needs `vfs` (a VF index or ranges like \"0-3,5\")".into(),
            None,
        ));
    };
    let ranges = match range.get_ref() {
        RawRange::One(n) if (0..=65535).contains(n) => vec![(*n as u32, *n as u32)],
        RawRange::One(n) => {
            return Err(("vfs".into(), format!("{n} is not a VF index"), at(range)))
        }
        RawRange::Text(s) => parse_ranges(s).map_err(|m| ("vfs".to_string(), m, at(range)))?,
    };
    if let Some(n) = numvfs {
        if let Some(hi) = ranges.iter().map(|r| r.1).max().filter(|hi| *hi >= n) {
            return Err((
                "vfs".into(),
                format!("VF {hi} does not exist with numvfs = {n} (VF indexes are 0..{n})"),
                at(range),
            ));
        }
    }
    let driver = match &r.driver {
        None => None,
        Some(d) => Some(match d.get_ref().as_str() {
            "vfio-pci" => VfDriver::VfioPci,
            "kernel" => VfDriver::Kernel,
            "none" => VfDriver::None,
            other => {
                return Err((
                    "driver".into(),
                    format!("{other:?} is not a VF driver choice (\"vfio-pci\", \"kernel\" for the model's VF driver, or \"none\")"),
                    at(d),
                ))
            }
        }),
    };
    let mut p = VfPolicy {
        index,
        ranges,
        driver,
        ..Default::default()
    };
    if let Some(m) = &r.mac {
        p.mac = Some(match m.get_ref().as_str() {
            "stable" => MacPolicy::Stable,
            "random" => MacPolicy::Random,
            s => {
                let mac: MacAddress = s.parse().map_err(|e: crate::types::TypeError| {
                    (
                        "mac".to_string(),
                        format!("{e} (or \"stable\" / \"random\")"),
                        at(m),
                    )
                })?;
                if mac.is_multicast() || mac.is_zero() {
                    return Err((
                        "mac".into(),
                        format!("{mac} is not a unicast address"),
                        at(m),
                    ));
                }
                if p.count() != 1 {
                    return Err((
                        "mac".into(),
                        format!("an explicit MAC cannot go to {} VFs; give it to one VF or use \"stable\"", p.count()),
                        at(m),
                    ));
                }
                MacPolicy::Explicit(mac)
            }
        });
    }
    p.spoofchk = r
        .spoofchk
        .as_ref()
        .map(|v| flag("spoofchk", v))
        .transpose()?;
    p.trust = r.trust.as_ref().map(|v| flag("trust", v)).transpose()?;
    if let Some(l) = &r.link_state {
        p.link_state = Some(match l.get_ref().as_str() {
            "auto" => VfLinkState::Auto,
            "enable" => VfLinkState::Enable,
            "disable" => VfLinkState::Disable,
            other => {
                return Err((
                    "link_state".into(),
                    format!("{other:?} is not a link state (auto, enable, disable)"),
                    at(l),
                ))
            }
        });
    }
    let rate = |k: &str, v: &Option<Spanned<i64>>| {
        v.as_ref()
            .map(|v| int(k, v, 0, i64::from(u32::MAX), "a rate in Mbit/s"))
            .transpose()
    };
    if let Some(n) = &r.rate_parent {
        p.rate_parent = Some(n.get_ref().parse().map_err(|e: crate::types::TypeError| {
            ("rate_parent".to_string(), e.to_string(), at(n))
        })?);
    }
    p.min_tx_rate = rate("min_tx_rate", &r.min_tx_rate)?;
    p.max_tx_rate = rate("max_tx_rate", &r.max_tx_rate)?;
    if let (Some(lo), Some(hi)) = (p.min_tx_rate, p.max_tx_rate) {
        if hi != 0 && lo > hi {
            return Err((
                "min_tx_rate".into(),
                format!("min_tx_rate {lo} is above max_tx_rate {hi}"),
                r.min_tx_rate.as_ref().and_then(at),
            ));
        }
    }
    Ok(p)
}
