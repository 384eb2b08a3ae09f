//! Reading single sysfs attribute files, cheaply and without trusting them.

use std::io;

/// sysfs attributes are at most one page; anything that fills the buffer is not an attribute.
pub(crate) const ATTR_BUF: usize = 4096;

use libc::{EINVAL, ELOOP, ENODATA, ENODEV, ENOTDIR, EOPNOTSUPP};

/// What reading one attribute produced, before any parsing.
#[derive(Debug)]
pub(crate) enum Raw<'a> {
    Value(&'a str),
    /// ENOENT: the attribute does not exist for this device (or the device just vanished).
    Missing,
    /// The driver does not implement it (EOPNOTSUPP), or it has no value right now (EINVAL/
    /// ENODATA, e.g. `speed` on a link that is down). Not worth a warning.
    NoValue,
    Failed(String),
}

/// Turns the `n` bytes read into `buf` into a trimmed string, refusing what cannot be an
/// attribute (a full buffer means the file is bigger than a page).
pub(crate) fn decode(buf: &[u8], n: usize) -> Raw<'_> {
    if n == buf.len() {
        return Raw::Failed(format!(
            "longer than {ATTR_BUF} bytes, not a sysfs attribute"
        ));
    }
    match std::str::from_utf8(&buf[..n]) {
        Ok(s) => Raw::Value(s.trim()),
        Err(_) => Raw::Failed("not valid UTF-8".into()),
    }
}

pub(crate) fn classify(e: io::Error) -> Raw<'static> {
    match e.kind() {
        io::ErrorKind::NotFound => return Raw::Missing,
        io::ErrorKind::PermissionDenied => return Raw::Failed("permission denied (EACCES)".into()),
        _ => {}
    }
    match e.raw_os_error() {
        Some(EOPNOTSUPP) | Some(EINVAL) | Some(ENODATA) => Raw::NoValue,
        Some(ENODEV) => Raw::Missing,
        Some(ELOOP) => Raw::Failed("is a symlink; refusing to follow it".into()),
        Some(libc::ENXIO) => {
            Raw::Failed("is a socket or device node, not an attribute file; skipped".into())
        }
        Some(ENOTDIR) => Raw::Failed("parent is not a directory".into()),
        _ => Raw::Failed(e.to_string()),
    }
}

/// Parses `0x8086` / `8086` as a 16-bit id.
pub(crate) fn parse_hex_u16(s: &str) -> Option<u16> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if h.is_empty() || h.len() > 4 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(h, 16).ok()
}

/// Parses `0x020000` as a 24-bit class code.
pub(crate) fn parse_hex_u32(s: &str, max: u32) -> Option<u32> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if h.is_empty() || h.len() > 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(h, 16).ok().filter(|v| *v <= max)
}

pub(crate) fn parse_dec<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `numa_node` is `-1` when the platform does not say; that is "unknown", not an error.
pub(crate) fn parse_numa(s: &str) -> Option<Option<u32>> {
    if s == "-1" {
        return Some(None);
    }
    parse_dec::<u32>(s).map(Some)
}

pub(crate) fn parse_bool01(s: &str) -> Option<bool> {
    match s {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_ids() {
        assert_eq!(parse_hex_u16("0x8086"), Some(0x8086));
        assert_eq!(parse_hex_u16("10c9"), Some(0x10c9));
        assert_eq!(parse_hex_u16("0x"), None);
        assert_eq!(parse_hex_u16("0"), Some(0));
        assert_eq!(parse_hex_u16("0x12345"), None);
        assert_eq!(parse_hex_u16("zz"), None);
        assert_eq!(parse_hex_u32("0x020000", 0xff_ffff), Some(0x020000));
        assert_eq!(parse_hex_u32("0x1020000", 0xff_ffff), None);
        assert_eq!(parse_numa("-1"), Some(None));
        assert_eq!(parse_numa("1"), Some(Some(1)));
        assert_eq!(parse_numa("-2"), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_hex_u16(&s);
            let _ = parse_hex_u32(&s, 0xff_ffff);
            let _ = parse_dec::<u32>(&s);
            let _ = parse_numa(&s);
            let _ = parse_bool01(&s);
        }
    }
}
