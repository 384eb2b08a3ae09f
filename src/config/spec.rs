//! One `[[device_spec]]` entry and how it matches a device.

use serde::Deserialize;
use toml::Spanned;

use super::address::AddressSpec;
use crate::types::PciAddress;

/// `address`: a glob string or a table of regexes. Not `#[serde(untagged)]`: that would
/// swallow unknown keys in the table (a typo'd `fuction` silently widening a pool) and lose
/// the position of the bad key.
#[derive(Debug)]
pub(super) enum RawAddress {
    Glob(String),
    Regex(RawRegex),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegex {
    domain: Option<Spanned<String>>,
    bus: Option<Spanned<String>>,
    slot: Option<Spanned<String>>,
    function: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawAddress;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a PCI address glob or a table of domain/bus/slot/function regexes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawAddress, E> {
                Ok(RawAddress::Glob(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<RawAddress, A::Error> {
                RawRegex::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(RawAddress::Regex)
            }
        }
        d.deserialize_any(V)
    }
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
    vendor_id: Option<Spanned<String>>,
    product_id: Option<Spanned<String>>,
    address: Option<Spanned<RawAddress>>,
    devname: Option<Spanned<String>>,
    physical_network: Option<Spanned<String>>,
    trusted: Option<Spanned<BoolLike>>,
    remote_managed: Option<Spanned<BoolLike>>,
    reset: Option<Spanned<String>>,
    #[serde(default)]
    pf_names: Vec<Spanned<String>>,
    // nova's tags (accepted so nova's lines load verbatim; see docs/assignment.md).
    managed: Option<Spanned<BoolLike>>,
    live_migratable: Option<Spanned<BoolLike>>,
    one_time_use: Option<Spanned<BoolLike>>,
    resource_class: Option<Spanned<String>>,
    traits: Option<Spanned<String>>,
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
    /// `reset = "flr" | "none"`: how a released VF of this pool is reset. None: FLR where
    /// the VF's `reset_method` offers it (see [`crate::types::ResetPolicy::resolve`]).
    pub reset: Option<crate::types::ResetPolicy>,
    /// nova's `managed` tag: who binds vfio-pci. None = not given (nova: yes).
    pub managed: Option<bool>,
    /// nova's `live_migratable` tag: recorded only (live migration is nova's business).
    pub live_migratable: Option<bool>,
    /// nova's `one_time_use` tag.
    pub one_time_use: bool,
    /// nova's `resource_class` tag, as written (nova normalises it to `CUSTOM_…`).
    pub resource_class: Option<String>,
    /// nova's `traits` tag: comma-separated trait names, as written.
    pub traits: Vec<String>,
}

/// What a spec is matched against: a device, and for a VF its PF.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub address: PciAddress,
    pub vendor: u16,
    pub device: u16,
    pub netdev: Option<&'a str>,
    pub pf: Option<PfOf<'a>>,
    /// The card serial number from the device's PCI VPD, when it was looked up: `None` =
    /// not looked up (the check is skipped), `Some(None)` = no serial. nova requires a
    /// non-empty one for a `remote_managed` spec to take the device.
    pub card_serial_number: Option<Option<&'a str>>,
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

/// (key, message, span) of a semantic config error; the span is the offending value's, so
/// the message points at the line and column to fix.
type SpecError = (String, String, SpanOpt);
type SpanOpt = Option<std::ops::Range<usize>>;

fn at<T>(v: &Spanned<T>) -> SpanOpt {
    Some(v.span())
}

fn hex_id(key: &str, s: &Spanned<String>) -> Result<Option<u16>, SpecError> {
    // nova: strip, `*` = any, else int(x, 16) (a 0x prefix is fine) and at most FFFF.
    let text = s.get_ref().trim();
    if text == "*" {
        return Ok(None);
    }
    let t = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((
            key.into(),
            format!("{text:?} does not parse as a hex number"),
            at(s),
        ));
    }
    match u32::from_str_radix(t, 16) {
        Ok(v) if v <= 0xffff => Ok(Some(v as u16)),
        _ => Err((
            key.into(),
            format!("{text} is greater than the maximum allowable value (FFFF)"),
            at(s),
        )),
    }
}

fn bool_like(key: &str, v: Option<&Spanned<BoolLike>>) -> Result<bool, SpecError> {
    let Some(v) = v else { return Ok(false) };
    match v.get_ref() {
        BoolLike::Bool(b) => Ok(*b),
        BoolLike::Text(t) => match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(true),
            "false" | "no" | "0" | "off" => Ok(false),
            _ => Err((key.into(), format!("{t:?} is not a boolean"), at(v))),
        },
    }
}

impl DeviceSpec {
    pub(super) fn from_raw(index: usize, mut r: RawSpec) -> Result<DeviceSpec, SpecError> {
        // nova treats an empty devname as absent (then the address, or every address).
        if r.devname.as_ref().is_some_and(|d| d.get_ref().is_empty()) {
            r.devname = None;
        }
        // ... and an empty address glob as `*:*:*.*`, so "" with a devname is no conflict.
        let empty_address = matches!(r.address.as_ref().map(|a| a.get_ref()),
            Some(RawAddress::Glob(g)) if g.is_empty());
        if let (Some(_), Some(a), false) = (&r.devname, &r.address, empty_address) {
            return Err((
                "devname".into(),
                "devname and address cannot be combined (as in nova)".into(),
                at(a),
            ));
        }
        let address = match &r.address {
            None => None,
            Some(a) => match a.get_ref() {
                RawAddress::Glob(g) => Some(
                    AddressSpec::parse_glob(g).map_err(|m| ("address".to_string(), m, at(a)))?,
                ),
                RawAddress::Regex(x) => {
                    fn part(s: &Option<Spanned<String>>) -> Option<&str> {
                        s.as_ref().map(|s| s.get_ref().as_str())
                    }
                    Some(
                        AddressSpec::from_regexes(
                            part(&x.domain),
                            part(&x.bus),
                            part(&x.slot),
                            part(&x.function),
                        )
                        .map_err(|(k, m)| {
                            let span = match k.as_str() {
                                "address.domain" => x.domain.as_ref(),
                                "address.bus" => x.bus.as_ref(),
                                "address.slot" => x.slot.as_ref(),
                                _ => x.function.as_ref(),
                            }
                            .map(|s| s.span());
                            (k, m, span.or(at(a)))
                        })?,
                    )
                }
            },
        };
        if let Some(d) = &r.devname {
            d.get_ref()
                .parse::<crate::types::IfName>()
                .map_err(|e| ("devname".to_string(), e.to_string(), at(d)))?;
        }
        let pf_names = r
            .pf_names
            .iter()
            .map(|s| PfSelector::parse(s.get_ref()).map_err(|m| ("pf_names".to_string(), m, at(s))))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(p) = &r.physical_network {
            if p.get_ref().is_empty() {
                return Err(("physical_network".into(), "must not be empty".into(), at(p)));
            }
        }
        Ok(DeviceSpec {
            index,
            vendor_id: r
                .vendor_id
                .as_ref()
                .map(|s| hex_id("vendor_id", s))
                .transpose()?
                .flatten(),
            product_id: r
                .product_id
                .as_ref()
                .map(|s| hex_id("product_id", s))
                .transpose()?
                .flatten(),
            address,
            devname: r.devname.map(Spanned::into_inner),
            pf_names,
            physical_network: r.physical_network.map(Spanned::into_inner),
            trusted: bool_like("trusted", r.trusted.as_ref())?,
            remote_managed: bool_like("remote_managed", r.remote_managed.as_ref())?,
            reset: r
                .reset
                .as_ref()
                .map(|v| {
                    v.get_ref().parse().map_err(|e: crate::types::TypeError| {
                        ("reset".to_string(), e.to_string(), at(v))
                    })
                })
                .transpose()?,
            managed: r
                .managed
                .as_ref()
                .map(|v| bool_like("managed", Some(v)))
                .transpose()?,
            live_migratable: r
                .live_migratable
                .as_ref()
                .map(|v| bool_like("live_migratable", Some(v)))
                .transpose()?,
            one_time_use: bool_like("one_time_use", r.one_time_use.as_ref())?,
            resource_class: r.resource_class.map(Spanned::into_inner),
            traits: r
                .traits
                .map(|t| {
                    t.into_inner()
                        .split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
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
            // nova takes a VF through its PF's address only when the spec is one address
            // and that address is a PF (`WhitelistPciAddress.match` with `physfn`); a
            // wildcard like `*:0a:00.*` takes only the devices whose own address matches.
            let via_pf = a.is_single() && c.pf.as_ref().is_some_and(|pf| a.matches(&pf.address));
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
        if self.remote_managed {
            if let Some(sn) = c.card_serial_number {
                if sn.is_none_or(str::is_empty) {
                    return NoMatch(
                        "remote_managed needs a card serial number in the device's VPD".into(),
                    );
                }
            }
        }
        Match
    }
}
