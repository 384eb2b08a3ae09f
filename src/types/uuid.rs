//! Stable name-based UUIDs: FNV-1a of the name laid out as an RFC 9562 version-8 (custom) UUID.
//! vifman derives ids (a physnet's network id, Placement provider ids) that must come out the
//! same on every run and every host, without a UUID crate.

fn fnv(seed: u64, data: &[u8]) -> u64 {
    data.iter()
        .fold(seed, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}

/// The canonical 8-4-4-4-12 text of 16 bytes, as they are.
pub fn format_uuid(b: &[u8; 16]) -> String {
    let x: String = b.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// 16 bytes derived from `name` (two FNV-1a hashes with different seeds).
pub fn name_bytes(name: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&fnv(0xcbf29ce484222325, name.as_bytes()).to_be_bytes());
    b[8..].copy_from_slice(&fnv(0x84222325cbf29ce4, name.as_bytes()).to_be_bytes());
    b
}

/// Stamp version 8 and the RFC variant on `b` and format it.
pub fn v8(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    format_uuid(&b)
}

pub fn name_uuid(name: &str) -> String {
    v8(name_bytes(name))
}
