//! Field coercion, following oslo.versionedobjects' field types as os-vif 5.3.0 uses them.
//! `Mode::Lenient` is oslo to the letter; `Mode::Strict` rejects, with a clear message, the
//! leniencies that are plainly bugs (docs/object-model.md lists every one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value as J;

use super::error::{ErrorKind, OsVifError};
use super::pyrepr::{py_repr, py_str, py_truthy, py_type_name};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Exactly what os-vif accepts.
    Lenient,
    /// os-vif minus its bugs: booleans must be booleans, UUIDs must be UUIDs, ...
    #[default]
    Strict,
}

fn value_error(msg: impl Into<String>) -> OsVifError {
    OsVifError::new(ErrorKind::ValueError, msg)
}

pub fn uuid(v: &J, mode: Mode) -> Result<String, OsVifError> {
    match (mode, v) {
        (Mode::Lenient, v) => Ok(py_str(v)),
        (Mode::Strict, J::String(s)) if is_uuid(s) => Ok(s.clone()),
        (Mode::Strict, v) => Err(OsVifError::strict(format!(
            "{} is not a valid UUID (os-vif only warns; vifman rejects)",
            py_repr(v)
        ))),
    }
}

/// oslo's UUIDField pattern: 32 hex digits with optional dashes in the usual places.
pub fn is_uuid(s: &str) -> bool {
    let groups = [8usize, 4, 4, 4, 12];
    let b = s.as_bytes();
    let mut i = 0;
    for (n, g) in groups.iter().enumerate() {
        for _ in 0..*g {
            if i >= b.len() || !b[i].is_ascii_hexdigit() {
                return false;
            }
            i += 1;
        }
        if n < 4 && i < b.len() && b[i] == b'-' {
            i += 1;
        }
    }
    i == b.len()
}

/// Python's `re.match(...$)` also matches before one trailing newline.
fn strip_py_dollar(s: &str) -> &str {
    s.strip_suffix('\n').unwrap_or(s)
}

pub fn mac(v: &J, mode: Mode) -> Result<String, OsVifError> {
    if let J::String(s) = v {
        let lowered = s.to_lowercase().replace('-', ":");
        let body = if mode == Mode::Lenient {
            strip_py_dollar(&lowered)
        } else {
            &lowered
        };
        let b = body.as_bytes();
        let ok = b.len() == 17
            && b.iter().enumerate().all(|(i, c)| {
                if i % 3 == 2 {
                    *c == b':'
                } else {
                    c.is_ascii_digit() || (b'a'..=b'f').contains(c)
                }
            });
        if ok {
            return Ok(lowered);
        }
    }
    Err(value_error(format!("Malformed MAC {}", py_str(v))))
}

pub fn pci(v: &J, mode: Mode) -> Result<String, OsVifError> {
    if let J::String(s) = v {
        let lowered = s.to_lowercase();
        let body = if mode == Mode::Lenient {
            strip_py_dollar(&lowered)
        } else {
            &lowered
        };
        let c: Vec<char> = body.chars().collect();
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        let ok = c.len() == 12
            && c[..4].iter().all(|x| hex(*x))
            && c[4] == ':'
            && hex(c[5])
            && hex(c[6])
            && c[7] == ':'
            && (c[8] == '0' || c[8] == '1')
            && hex(c[9])
            && c[10] != '\n'
            && ('0'..='7').contains(&c[11]);
        if ok {
            if c[10] != '.' && mode == Mode::Strict {
                return Err(OsVifError::strict(format!(
                    "Malformed PCI address {s}: the function must follow a '.' (os-vif's pattern accepts any character there)"
                )));
            }
            return Ok(lowered);
        }
    }
    Err(value_error(format!("Malformed PCI address {}", py_str(v))))
}

pub fn string(v: &J, attr: &str, mode: Mode) -> Result<String, OsVifError> {
    match v {
        J::String(s) => Ok(s.clone()),
        J::Number(_) | J::Bool(_) if mode == Mode::Lenient => Ok(py_str(v)),
        J::Number(_) | J::Bool(_) => Err(OsVifError::strict(format!(
            "A string is required in field {attr}, not a {} (os-vif would store str({}))",
            py_type_name(v),
            py_repr(v)
        ))),
        _ => Err(value_error(format!(
            "A string is required in field {attr}, not a {}",
            py_type_name(v)
        ))),
    }
}

pub fn enumeration(v: &J, valid: &[&str], attr: &str, mode: Mode) -> Result<String, OsVifError> {
    match v {
        J::String(s) if valid.contains(&s.as_str()) => Ok(s.clone()),
        _ => {
            let _ = (attr, mode);
            Err(value_error(format!("Field value {} is invalid", py_str(v))))
        }
    }
}

pub fn boolean(v: &J, attr: &str, mode: Mode) -> Result<bool, OsVifError> {
    match (mode, v) {
        (_, J::Bool(b)) => Ok(*b),
        (Mode::Lenient, v) => Ok(py_truthy(v)),
        (Mode::Strict, v) => Err(OsVifError::strict(format!(
            "field {attr} must be true or false, not {} (os-vif would take its Python truthiness: {})",
            py_repr(v),
            if py_truthy(v) { "True" } else { "False" }
        ))),
    }
}

/// Python `int(str)`: surrounding whitespace, a sign, digits with single underscores.
fn py_int_from_str(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let n: i64 = clean.parse().ok()?;
    Some(if neg { -n } else { n })
}

pub fn integer(v: &J, attr: &str, mode: Mode) -> Result<i64, OsVifError> {
    if let J::Number(n) = v {
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
    }
    if mode == Mode::Strict {
        return Err(OsVifError::strict(format!(
            "field {attr} must be an integer, not {}",
            py_repr(v)
        )));
    }
    match v {
        J::Bool(b) => Ok(*b as i64),
        J::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.is_finite() && f.abs() < 9.2e18 {
                Ok(f.trunc() as i64)
            } else {
                Err(value_error(format!(
                    "integer out of range in field {attr}: {n}"
                )))
            }
        }
        J::String(s) => py_int_from_str(s).ok_or_else(|| {
            value_error(format!(
                "invalid literal for int() with base 10: {}",
                py_repr(v)
            ))
        }),
        other => Err(OsVifError::new(
            ErrorKind::TypeError,
            format!(
                "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                py_type_name(other)
            ),
        )),
    }
}

fn parse_ip_text(s: &str) -> Option<IpAddr> {
    if let Ok(v4) = s.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// netaddr's canonical text form.
pub fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => {
            // netaddr prints IPv4-compatible (::a.b.c.d) addresses with a dotted tail, as
            // inet_ntop does; Rust prints them as hex groups.
            let seg = a.segments();
            if seg[..6] == [0, 0, 0, 0, 0, 0] && (seg[6] != 0 || seg[7] > 1) {
                let v4 = Ipv4Addr::new(
                    (seg[6] >> 8) as u8,
                    seg[6] as u8,
                    (seg[7] >> 8) as u8,
                    seg[7] as u8,
                );
                format!("::{v4}")
            } else {
                a.to_string()
            }
        }
    }
}

pub fn ip_address(v: &J) -> Result<String, OsVifError> {
    match v {
        J::String(s) => {
            if s.contains('/') {
                return Err(value_error(
                    "IPAddress() does not support netmasks or subnet prefixes! See documentation for details.",
                ));
            }
            parse_ip_text(s).map(ip_text).ok_or_else(|| {
                value_error(format!(
                    "failed to detect a valid IP address from {}",
                    py_repr(v)
                ))
            })
        }
        J::Bool(_) | J::Number(_) => {
            let n: Option<u128> = match v {
                J::Bool(b) => Some(*b as u128),
                J::Number(n) => n.as_u64().map(u128::from),
                _ => None,
            };
            match n {
                Some(n) if n <= u32::MAX as u128 => {
                    Ok(ip_text(IpAddr::V4(Ipv4Addr::from(n as u32))))
                }
                Some(n) => Ok(ip_text(IpAddr::V6(Ipv6Addr::from(n)))),
                None => Err(value_error(format!(
                    "failed to detect a valid IP address from {}",
                    py_repr(v)
                ))),
            }
        }
        other => Err(value_error(format!(
            "failed to detect a valid IP address from {}",
            py_repr(other)
        ))),
    }
}

fn netmask_to_prefix(s: &str, v4: bool) -> Option<u8> {
    if !v4 {
        return None;
    }
    let m: Ipv4Addr = s.parse().ok()?;
    let bits = u32::from(m);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 {
        return Some(ones as u8);
    }
    // A hostmask (0.0.0.255) is accepted by netaddr too.
    let inv = !bits;
    let ones = inv.leading_ones();
    if inv.checked_shl(ones).unwrap_or(0) == 0 {
        return Some(ones as u8);
    }
    None
}

pub fn ip_network(v: &J) -> Result<String, OsVifError> {
    let err = || value_error(format!("invalid IPNetwork {}", py_str(v)));
    let J::String(s) = v else { return Err(err()) };
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s.as_str(), None),
    };
    let ip = parse_ip_text(addr).ok_or_else(err)?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match prefix {
        None => max,
        Some(p) if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => {
            let n: u32 = p.parse().map_err(|_| err())?;
            if n > max as u32 {
                return Err(err());
            }
            n as u8
        }
        Some(p) => netmask_to_prefix(p, ip.is_ipv4()).ok_or_else(err)?,
    };
    Ok(format!("{}/{}", ip_text(ip), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uuid_pattern() {
        assert!(is_uuid("6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01"));
        assert!(is_uuid("6F0F6F2C7C9A4B9D9C9F0A3A5B1B1D03"));
        assert!(!is_uuid("6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d0"));
        assert!(!is_uuid("x"));
    }

    #[test]
    fn ints_like_python() {
        assert_eq!(integer(&json!(" 7 "), "f", Mode::Lenient).unwrap(), 7);
        assert_eq!(integer(&json!(1450.9), "f", Mode::Lenient).unwrap(), 1450);
        assert!(integer(&json!("1500.0"), "f", Mode::Lenient).is_err());
        assert!(integer(&json!("1450"), "f", Mode::Strict).is_err());
    }

    #[test]
    fn networks() {
        assert_eq!(ip_network(&json!("10.0.0.1")).unwrap(), "10.0.0.1/32");
        assert_eq!(
            ip_network(&json!("10.0.0.5/255.255.255.0")).unwrap(),
            "10.0.0.5/24"
        );
        assert!(ip_network(&json!("10.0.0.0/33")).is_err());
        assert_eq!(
            ip_network(&json!("2001:DB8::/64")).unwrap(),
            "2001:db8::/64"
        );
    }
}
