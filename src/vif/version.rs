//! Version strings as oslo sees them: `packaging.version` for load-time compatibility and
//! `convert_version_to_tuple` for downgrades. They disagree on edge cases ("1" vs "1.0"), and
//! oslo uses both, so we do too.

use std::cmp::Ordering;

use super::error::{ErrorKind, OsVifError};

/// The release segment of a PEP 440 version (`v1.0`, ` 1.0 ` are accepted, as packaging does).
/// Pre/post/dev suffixes are not used by os-vif and are rejected.
pub fn parse_pep440(s: &str) -> Option<Vec<u64>> {
    let t = s.trim();
    let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
    if t.is_empty() {
        return None;
    }
    t.split('.')
        .map(|p| {
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect()
}

/// PEP 440 release comparison: trailing zeros do not count ("1" == "1.0.0").
pub fn cmp_release(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        match x.cmp(&y) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    Ordering::Equal
}

pub fn is_major_minor(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// oslo_utils `convert_version_to_tuple`: int() of each dot-separated part; Python tuple
/// comparison then makes (1, 0, 0) > (1, 0).
pub fn to_tuple(s: &str) -> Result<Vec<i64>, OsVifError> {
    s.split('.')
        .map(|p| {
            let t = p.trim();
            t.parse::<i64>().map_err(|_| {
                OsVifError::new(
                    ErrorKind::ValueError,
                    format!("invalid literal for int() with base 10: '{p}'"),
                )
            })
        })
        .collect()
}

pub fn tuple_lt(a: &[i64], b: &[i64]) -> bool {
    a < b
}
