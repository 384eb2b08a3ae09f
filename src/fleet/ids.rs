//! Identifiers the fleet layer makes up: UUIDs for device-plugin allocations and Placement
//! providers, and the name mangling kubelet and Placement demand.

use std::sync::atomic::{AtomicU64, Ordering};

/// First four bytes of every VIF id the device plugin makes ("vfdp"): the plugin recognises
/// its own store records by it, so it can re-hand a VF kubelet reassigns (kubelet never says
/// when a pod's devices are free) while never touching allocations made through the CLI.
const PLUGIN_TAG: [u8; 4] = *b"vfdp";

/// A stable name-based UUID, the same scheme the engine uses for physnet network ids.
pub fn name_uuid(name: &str) -> String {
    crate::types::uuid::name_uuid(name)
}

/// A fresh UUID: kernel randomness, falling back to time and a counter.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    let ok = matches!(
        rustix::rand::getrandom(&mut b[..], rustix::rand::GetRandomFlags::empty()),
        Ok(16)
    );
    if !ok {
        static N: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = format!(
            "{t}:{}:{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        return name_uuid(&seed);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    crate::types::uuid::format_uuid(&b)
}

/// The VIF id of one VF of one container request: derived from the request (resource, the
/// request's devices, the VF) plus a nonce, and tagged as the plugin's.
pub fn plugin_vif_id(resource: &str, request_devices: &[String], vf: &str, nonce: &str) -> String {
    let key = format!("{resource}|{}|{vf}|{nonce}", request_devices.join(","));
    let mut b = crate::types::uuid::name_bytes(&key);
    b[..4].copy_from_slice(&PLUGIN_TAG);
    crate::types::uuid::v8(b)
}

pub fn is_plugin_vif(vif_id: &str) -> bool {
    let tag: String = PLUGIN_TAG.iter().map(|b| format!("{b:02x}")).collect();
    vif_id.to_ascii_lowercase().starts_with(&tag) && vif_id.get(14..15) == Some("8")
}

/// `vifman.io/physnet1` → `PCIDEVICE_VIFMAN_IO_PHYSNET1`, the k8s SR-IOV plugin's convention.
pub fn pcidevice_env(resource: &str) -> String {
    format!("PCIDEVICE_{}", upper_ident(resource))
}

/// Upper-cased, every non-alphanumeric replaced by `_` (Placement custom names, env names).
pub fn upper_ident(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// kubelet's check of an extended resource name (`domain/name`, not in kubernetes.io): done
/// here so a bad pool name is a clear error at start, not a failed Register.
pub fn valid_resource_name(name: &str) -> Result<(), String> {
    let (domain, local) = name
        .split_once('/')
        .ok_or_else(|| format!("{name:?}: expected <domain>/<name>"))?;
    let label_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
    };
    if domain.is_empty()
        || domain.len() > 253
        || !domain.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    {
        return Err(format!("{name:?}: {domain:?} is not a DNS subdomain"));
    }
    if domain == "kubernetes.io" || domain.ends_with(".kubernetes.io") {
        return Err(format!("{name:?}: the kubernetes.io domain is reserved"));
    }
    if !label_ok(local) {
        return Err(format!(
            "{name:?}: {local:?} is not a valid name (alphanumerics, '-', '_', '.', at most 63)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_ids_are_tagged_and_distinct() {
        let a = plugin_vif_id(
            "vifman.io/p1",
            &["0000:3b:02.0".into()],
            "0000:3b:02.0",
            "n1",
        );
        let b = plugin_vif_id(
            "vifman.io/p1",
            &["0000:3b:02.0".into()],
            "0000:3b:02.0",
            "n2",
        );
        assert_ne!(a, b);
        assert!(is_plugin_vif(&a) && is_plugin_vif(&b));
        assert!(crate::vif::coerce::is_uuid(&a));
        assert!(!is_plugin_vif(&random_uuid()) || random_uuid().starts_with("76666470"));
        assert!(crate::vif::coerce::is_uuid(&random_uuid()));
        assert_eq!(name_uuid("x"), name_uuid("x"));
    }

    #[test]
    fn names() {
        assert_eq!(
            pcidevice_env("vifman.io/physnet-1"),
            "PCIDEVICE_VIFMAN_IO_PHYSNET_1"
        );
        assert!(valid_resource_name("vifman.io/physnet1").is_ok());
        assert!(valid_resource_name("physnet1").is_err());
        assert!(valid_resource_name("kubernetes.io/x").is_err());
        assert!(valid_resource_name("vifman.io/bad name").is_err());
    }
}
