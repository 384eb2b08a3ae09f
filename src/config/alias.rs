//! `[[alias]]`: nova's `[pci] alias`, a name for "N devices with these ids" that a request can
//! ask for (`vifman allocate --alias NAME --count N`). As in nova, several entries may share a
//! name (one per product, say) when their `device_type` and `numa_policy` agree; a device
//! serves the alias when it matches any of them ([`serves`], nova's `pci_device_prop_match`).

use serde::Deserialize;
use toml::Spanned;

use crate::types::{DeviceType, NumaPolicy};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlias {
    name: Spanned<String>,
    vendor_id: Option<Spanned<String>>,
    product_id: Option<Spanned<String>>,
    device_type: Option<Spanned<String>>,
    numa_policy: Option<Spanned<String>>,
    /// nova's schema allows "pci" only and nothing uses it; accepted for nova.conf's sake.
    capability_type: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    pub vendor_id: u16,
    pub product_id: u16,
    /// None: a whole device of either kind (type-PF or type-PCI).
    pub device_type: Option<DeviceType>,
    pub numa_policy: NumaPolicy,
}

impl Alias {
    /// Whether a device with these ids and type is one of this alias's devices.
    pub fn matches(&self, vendor: u16, device: u16, t: DeviceType) -> bool {
        vendor == self.vendor_id
            && device == self.product_id
            && t.is_whole()
            && self.device_type.is_none_or(|d| d == t)
    }

    /// A name usable in a resource name and a file name: what nova and Kubernetes accept.
    pub fn valid_name(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }
}

/// nova's `pci_device_prop_match` for an alias request: whether a device with these ids and
/// type serves alias `name`, i.e. matches any of the entries named so.
pub fn serves(entries: &[Alias], name: &str, vendor: u16, device: u16, t: DeviceType) -> bool {
    entries
        .iter()
        .filter(|a| a.name == name)
        .any(|a| a.matches(vendor, device, t))
}

type AliasError = (String, String, Option<std::ops::Range<usize>>);

fn hex(key: &str, s: &Spanned<String>) -> Result<u16, AliasError> {
    let t = s.get_ref().trim_start_matches("0x");
    if t.is_empty() || t.len() > 4 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((
            key.into(),
            format!("{:?} is not a 4-digit hexadecimal id", s.get_ref()),
            Some(s.span()),
        ));
    }
    Ok(u16::from_str_radix(t, 16).expect("checked hex"))
}

impl Alias {
    pub(super) fn from_raw(r: RawAlias) -> Result<Alias, AliasError> {
        if !Alias::valid_name(r.name.get_ref()) {
            return Err((
                "name".into(),
                format!(
                    "{:?} is not an alias name (1-63 letters, digits, '-', '_' or '.')",
                    r.name.get_ref()
                ),
                Some(r.name.span()),
            ));
        }
        let device_type = match &r.device_type {
            None => None,
            Some(s) => {
                let t: DeviceType = s.get_ref().parse().map_err(|e: crate::types::TypeError| {
                    ("device_type".to_string(), e.to_string(), Some(s.span()))
                })?;
                if t == DeviceType::Vf {
                    return Err((
                        "device_type".into(),
                        "type-VF aliases are not supported: VFs are handed out by physical network (a physnet request), not by alias".into(),
                        Some(s.span()),
                    ));
                }
                Some(t)
            }
        };
        let numa_policy = match &r.numa_policy {
            None => NumaPolicy::default(),
            Some(s) => s.get_ref().parse().map_err(|e: crate::types::TypeError| {
                ("numa_policy".to_string(), e.to_string(), Some(s.span()))
            })?,
        };
        if let Some(c) = &r.capability_type {
            if c.get_ref() != "pci" {
                return Err((
                    "capability_type".into(),
                    format!("{:?}: nova allows only \"pci\"", c.get_ref()),
                    Some(c.span()),
                ));
            }
        }
        // A malformed id is reported before a missing one.
        let vendor_id = r
            .vendor_id
            .as_ref()
            .map(|v| hex("vendor_id", v))
            .transpose()?;
        let product_id = r
            .product_id
            .as_ref()
            .map(|v| hex("product_id", v))
            .transpose()?;
        let required = |key: &str| -> AliasError {
            (
                key.into(),
                "missing: vifman's aliases name their devices by vendor_id and product_id (nova's ids-less aliases ask Placement for a resource_class)".into(),
                None,
            )
        };
        Ok(Alias {
            name: r.name.into_inner(),
            vendor_id: vendor_id.ok_or_else(|| required("vendor_id"))?,
            product_id: product_id.ok_or_else(|| required("product_id"))?,
            device_type,
            numa_policy,
        })
    }
}
