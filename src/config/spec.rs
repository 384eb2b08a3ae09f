//! One `[[device_spec]]` entry and how it matches a device.

use serde::Deserialize;

use super::address::AddressSpec;
use crate::types::PciAddress;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawAddress {
    Glob(String),
    Regex {
        domain: Option<String>,
        bus: Option<String>,
        slot: Option<String>,
        function: Option<String>,
    },
}

/// nova writes `trusted = "true"`; TOML users write `trusted = true`. Both, nothing else.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum BoolLike {
    Bool(bool),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpec {
    vendor_id: Option<String>,
    product_id: Option<String>,
    address: Option<RawAddress>,
    devname: Option<String>,
    physical_network: Option<String>,
    trusted: Option<BoolLike>,
    remote_managed: Option<BoolLike>,
    #[serde(default)]
    pf_names: Vec<String>,
}

/// `ens1f0#0-3,5`: a PF netdev and, optionally, which VF indexes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PfSelector {
    pub pf: String,
    /// Inclusive ranges; empty = every VF.
    pub ranges: Vec<(u32, u32)>,
}

impl PfSelector {
    pub fn parse(s: &str) -> Result<PfSelector, String> {
        let (pf, ranges) = match s.split_once('#') {
            Some((pf, r)) => (pf, Some(r)),
            None => (s, None),
        };
        if pf.is_empty() || pf.len() > 15 || pf.contains(['/', ' ']) {
            return Err(format!("{pf:?} is not an interface name"));
        }
        let mut out = vec![];
        for item in ranges.into_iter().flat_map(|r| r.split(',')) {
            let item = item.trim();
            let (a, b) = item.split_once('-').unwrap_or((item, item));
            let a: u32 = a
                .trim()
                .parse()
                .map_err(|_| format!("bad VF index {a:?} in {s:?}"))?;
            let b: u32 = b
                .trim()
                .parse()
                .map_err(|_| format!("bad VF index {b:?} in {s:?}"))?;
            if a > b {
                return Err(format!("range {a}-{b} in {s:?} is backwards"));
            }
            out.push((a, b));
        }
        Ok(PfSelector {
            pf: pf.to_string(),
            ranges: out,
        })
    }

    fn matches(&self, pf_netdev: &str, vf: u32) -> bool {
        self.pf.eq_ignore_ascii_case(pf_netdev)
            && (self.ranges.is_empty() || self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&vf)))
    }
}

#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// Position in the file, for --explain.
    pub index: usize,
    pub vendor_id: Option<u16>,
    pub product_id: Option<u16>,
    pub address: Option<AddressSpec>,
    pub devname: Option<String>,
    pub pf_names: Vec<PfSelector>,
    pub physical_network: Option<String>,
    pub trusted: bool,
    pub remote_managed: bool,
}

/// What a spec is matched against: a device, and for a VF its PF.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub address: PciAddress,
    pub vendor: u16,
    pub device: u16,
    pub netdev: Option<&'a str>,
    pub pf: Option<PfOf<'a>>,
}

#[derive(Debug, Clone)]
pub struct PfOf<'a> {
    pub address: PciAddress,
    pub netdev: Option<&'a str>,
    pub vf_index: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome {
    Match,
    NoMatch(String),
}

/// (key, message, span) of a semantic config error; the span, when known, beats the entry's.
type SpecError = (String, String, SpanOpt);
type SpanOpt = Option<std::ops::Range<usize>>;

fn hex_id(key: &str, s: &str) -> Result<Option<u16>, SpecError> {
    if s == "*" {
        return Ok(None);
    }
    let t = s.trim_start_matches("0x");
    if t.is_empty() || t.len() > 4 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((
            key.into(),
            format!("{s:?} is not a 4-digit hexadecimal id"),
            None,
        ));
    }
    Ok(Some(u16::from_str_radix(t, 16).expect("checked hex")))
}

fn bool_like(key: &str, v: Option<BoolLike>) -> Result<bool, SpecError> {
    match v {
        None => Ok(false),
        Some(BoolLike::Bool(b)) => Ok(b),
        Some(BoolLike::Text(t)) => match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(true),
            "false" | "no" | "0" | "off" => Ok(false),
            _ => Err((key.into(), format!("{t:?} is not a boolean"), None)),
        },
    }
}

impl DeviceSpec {
    pub(super) fn from_raw(index: usize, r: RawSpec) -> Result<DeviceSpec, SpecError> {
        if r.devname.is_some() && r.address.is_some() {
            return Err((
                "devname".into(),
                "devname and address cannot be combined (as in nova)".into(),
                None,
            ));
        }
        let address = match r.address {
            None => None,
            Some(RawAddress::Glob(g)) => {
                Some(AddressSpec::parse_glob(&g).map_err(|m| ("address".to_string(), m, None))?)
            }
            Some(RawAddress::Regex {
                domain,
                bus,
                slot,
                function,
            }) => Some(
                AddressSpec::from_regexes(
                    domain.as_deref(),
                    bus.as_deref(),
                    slot.as_deref(),
                    function.as_deref(),
                )
                .map_err(|(k, m)| (k, m, None))?,
            ),
        };
        if let Some(d) = &r.devname {
            d.parse::<crate::types::IfName>()
                .map_err(|e| ("devname".to_string(), e.to_string(), None))?;
        }
        let pf_names = r
            .pf_names
            .iter()
            .map(|s| PfSelector::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| ("pf_names".to_string(), m, None))?;
        if let Some(p) = &r.physical_network {
            if p.is_empty() {
                return Err(("physical_network".into(), "must not be empty".into(), None));
            }
        }
        Ok(DeviceSpec {
            index,
            vendor_id: r
                .vendor_id
                .as_deref()
                .map(|s| hex_id("vendor_id", s))
                .transpose()?
                .flatten(),
            product_id: r
                .product_id
                .as_deref()
                .map(|s| hex_id("product_id", s))
                .transpose()?
                .flatten(),
            address,
            devname: r.devname,
            pf_names,
            physical_network: r.physical_network,
            trusted: bool_like("trusted", r.trusted)?,
            remote_managed: bool_like("remote_managed", r.remote_managed)?,
        })
    }

    pub fn matches(&self, c: &Candidate) -> MatchOutcome {
        use MatchOutcome::*;
        if let Some(v) = self.vendor_id {
            if v != c.vendor {
                return NoMatch(format!("vendor {:04x} is not {v:04x}", c.vendor));
            }
        }
        if let Some(p) = self.product_id {
            if p != c.device {
                return NoMatch(format!("product {:04x} is not {p:04x}", c.device));
            }
        }
        if let Some(a) = &self.address {
            let own = a.matches(&c.address);
            let via_pf = c.pf.as_ref().is_some_and(|pf| a.matches(&pf.address));
            if !own && !via_pf {
                return NoMatch(format!("address {} (and its PF) do not match", c.address));
            }
        }
        if let Some(d) = &self.devname {
            let own = c.netdev == Some(d.as_str());
            let via_pf =
                c.pf.as_ref()
                    .is_some_and(|pf| pf.netdev == Some(d.as_str()));
            if !own && !via_pf {
                return NoMatch(format!("neither the device nor its PF is netdev {d}"));
            }
        }
        if !self.pf_names.is_empty() {
            let hit = c.pf.as_ref().is_some_and(|pf| {
                pf.netdev
                    .is_some_and(|n| self.pf_names.iter().any(|s| s.matches(n, pf.vf_index)))
            });
            if !hit {
                return NoMatch("not a VF in pf_names".into());
            }
        }
        Match
    }
}
