//! nova's device_spec `address`: a glob string `[[[[domain]:]bus]:][slot][.[function]]` with
//! `*` wildcards, or a table of regexes per component.

use regex::Regex;

use crate::types::PciAddress;

#[derive(Debug, Clone)]
pub enum AddressSpec {
    Glob {
        domain: Option<u32>,
        bus: Option<u8>,
        slot: Option<u8>,
        function: Option<u8>,
    },
    Regex {
        domain: Option<Regex>,
        bus: Option<Regex>,
        slot: Option<Regex>,
        function: Option<Regex>,
    },
}

/// nova strips a non-empty function and then requires hex: " " after the '.' is an error,
/// not a wildcard (unlike domain/bus/slot, where blank means `*`).
fn func_part(f: &str) -> Result<Option<u32>, String> {
    if f.trim().is_empty() {
        return Err(format!("function {f:?} is not hexadecimal or '*'"));
    }
    part(f, 7, "function")
}

fn part(s: &str, max: u32, what: &str) -> Result<Option<u32>, String> {
    let s = s.trim();
    if s.is_empty() || s == "*" {
        return Ok(None);
    }
    let v = u32::from_str_radix(s, 16)
        .map_err(|_| format!("{what} {s:?} is not hexadecimal or '*'"))?;
    if v > max {
        return Err(format!("{what} {s} is above {max:x}"));
    }
    Ok(Some(v))
}

impl AddressSpec {
    pub fn parse_glob(s: &str) -> Result<AddressSpec, String> {
        // nova splits at the first '.', so "0000:h4.12:6" is a bad function "12:6".
        let (left, function) = match s.split_once('.') {
            Some((l, f)) if !f.is_empty() => (l, func_part(f)?),
            Some((l, _)) => (l, None),
            None => (s, None),
        };
        let fields: Vec<&str> = left.split(':').collect();
        if fields.len() > 3 {
            return Err(format!(
                "{s:?} has too many ':' (expected [[[domain:]bus:]slot][.function])"
            ));
        }
        let mut it = fields.iter().rev();
        let slot = it
            .next()
            .map(|x| part(x, 0x1f, "slot"))
            .transpose()?
            .flatten();
        let bus = it
            .next()
            .map(|x| part(x, 0xff, "bus"))
            .transpose()?
            .flatten();
        let domain = it
            .next()
            .map(|x| part(x, 0xffff, "domain"))
            .transpose()?
            .flatten();
        Ok(AddressSpec::Glob {
            domain,
            bus: bus.map(|b| b as u8),
            slot: slot.map(|x| x as u8),
            function: function.map(|x| x as u8),
        })
    }

    pub fn from_regexes(
        domain: Option<&str>,
        bus: Option<&str>,
        slot: Option<&str>,
        function: Option<&str>,
    ) -> Result<AddressSpec, (String, String)> {
        let re = |key: &str, s: Option<&str>| -> Result<Option<Regex>, (String, String)> {
            s.map(|s| {
                // nova applies these with Python's re.match: anchored at the start only,
                // so "0" matches bus "0a". Same here, deliberately.
                Regex::new(&format!("^(?:{s})"))
                    .map_err(|e| (format!("address.{key}"), format!("bad regex {s:?}: {e}")))
            })
            .transpose()
        };
        Ok(AddressSpec::Regex {
            domain: re("domain", domain)?,
            bus: re("bus", bus)?,
            slot: re("slot", slot)?,
            function: re("function", function)?,
        })
    }

    /// nova's `is_single_address`: every component spelled out in hex digits (a glob
    /// without `*`, or a regex table whose four regexes are plain hex). Only such a spec can
    /// name a PF, and only a spec naming a PF also takes that PF's VFs.
    pub fn is_single(&self) -> bool {
        match self {
            AddressSpec::Glob {
                domain,
                bus,
                slot,
                function,
            } => domain.is_some() && bus.is_some() && slot.is_some() && function.is_some(),
            AddressSpec::Regex {
                domain,
                bus,
                slot,
                function,
            } => [domain, bus, slot, function].iter().all(|r| {
                r.as_ref().is_some_and(|r| {
                    let s = r.as_str();
                    let inner = &s[4..s.len() - 1];
                    inner.bytes().all(|b| b.is_ascii_hexdigit())
                })
            }),
        }
    }

    pub fn matches(&self, a: &PciAddress) -> bool {
        match self {
            AddressSpec::Glob {
                domain,
                bus,
                slot,
                function,
            } => {
                domain.is_none_or(|d| d == a.domain())
                    && bus.is_none_or(|b| b == a.bus())
                    && slot.is_none_or(|s| s == a.slot())
                    && function.is_none_or(|f| f == a.function())
            }
            AddressSpec::Regex {
                domain,
                bus,
                slot,
                function,
            } => {
                let ok =
                    |r: &Option<Regex>, text: String| r.as_ref().is_none_or(|r| r.is_match(&text));
                ok(domain, format!("{:04x}", a.domain()))
                    && ok(bus, format!("{:02x}", a.bus()))
                    && ok(slot, format!("{:02x}", a.slot()))
                    && ok(function, format!("{:x}", a.function()))
            }
        }
    }
}
