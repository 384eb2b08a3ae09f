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

/// A UUID as vifman stores and compares it: parsed once from any spelling oslo's `UUIDField`
/// accepts (32 hex digits, dashes optional in the usual places, either case) and always shown
/// lower-case and dashed. One VIF id typed in two cases is one value, so it can never get two
/// VFs, and a value of this type is always safe to slice or splice into a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid([u8; 16]);

impl Uuid {
    pub fn from_bytes(b: [u8; 16]) -> Uuid {
        Uuid(b)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The stable name-based id of [`name_uuid`], typed.
    pub fn from_name(name: &str) -> Uuid {
        let mut b = name_bytes(name);
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        Uuid(b)
    }
}

impl std::str::FromStr for Uuid {
    type Err = super::TypeError;
    fn from_str(s: &str) -> Result<Uuid, super::TypeError> {
        let err = |reason| super::TypeError::Uuid {
            input: s.to_string(),
            reason,
        };
        // Dashes are optional, but only between the 8-4-4-4-12 groups (oslo's pattern).
        const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
        let b = s.as_bytes();
        let mut nibbles = [0u8; 32];
        let (mut i, mut n) = (0, 0);
        for (g, len) in GROUPS.iter().enumerate() {
            for _ in 0..*len {
                let Some(c) = b.get(i) else {
                    return Err(err("too short"));
                };
                nibbles[n] = match (*c as char).to_digit(16) {
                    Some(d) => d as u8,
                    None if *c == b'-' => return Err(err("a dash out of place")),
                    None => return Err(err("not hexadecimal")),
                };
                i += 1;
                n += 1;
            }
            if g < 4 && b.get(i) == Some(&b'-') {
                i += 1;
            }
        }
        if i != b.len() {
            return Err(err("too long"));
        }
        let mut out = [0u8; 16];
        for (k, o) in out.iter_mut().enumerate() {
            *o = nibbles[2 * k] << 4 | nibbles[2 * k + 1];
        }
        Ok(Uuid(out))
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_uuid(&self.0))
    }
}

super::serde_as_string!(Uuid, "a UUID string");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_uuid_many_spellings() {
        let canon = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";
        for s in [
            canon,
            "6F0F6F2C-7C9A-4B9D-9C9F-0A3A5B1B1D01",
            "6f0f6f2c7c9a4b9d9c9f0a3a5b1b1d01",
            "6F0F6F2C7c9a-4B9D9c9f-0a3a5b1b1d01",
        ] {
            let u: Uuid = s.parse().unwrap();
            assert_eq!(u.to_string(), canon, "{s}");
            assert_eq!(u, canon.parse().unwrap());
        }
        assert_eq!(
            serde_json::to_string(&canon.parse::<Uuid>().unwrap()).unwrap(),
            format!("\"{canon}\"")
        );
        let back: Uuid = serde_json::from_str("\"6F0F6F2C7C9A4B9D9C9F0A3A5B1B1D01\"").unwrap();
        assert_eq!(back.to_string(), canon);
    }

    #[test]
    fn rejects() {
        for s in [
            "",
            "x",
            "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d0",
            "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d011",
            "6f0f6f2c--7c9a-4b9d-9c9f-0a3a5b1b1d01",
            "6f0f6f2-c7c9a-4b9d-9c9f-0a3a5b1b1d01",
            "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1dz1",
            "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01\n",
            "é0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01",
        ] {
            let e = s.parse::<Uuid>().unwrap_err().to_string();
            assert!(e.contains("is not a UUID"), "{s:?}: {e}");
        }
        assert!(serde_json::from_str::<Uuid>("\"nope\"").is_err());
    }

    #[test]
    fn name_based_matches_the_string_form() {
        assert_eq!(
            Uuid::from_name("physnet1").to_string(),
            name_uuid("physnet1")
        );
    }
}
