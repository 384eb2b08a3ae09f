//! os-vif's per-port `QoS` row (vif_plug_ovs `default_qos_type`, bug #2017868): a new port
//! whose profile datapath is `system` gets a `QoS` row of the configured type, so that OVS
//! leaves the port's qdisc alone (`linux-noop`) instead of installing its own. The row is
//! found again by its `external_ids` — `id` = uuid5(os-vif's namespace, port name) and
//! `_type` — which is how os-vif deletes it, so rows either tool wrote are the same rows.

use serde_json::{json, Value as J};

use super::client::{map, op};

/// The QoS types os-vif accepts for `default_qos_type` (its oslo.config choices).
pub const QOS_TYPES: [&str; 6] = [
    "linux-htb",
    "linux-hfsc",
    "linux-sfq",
    "linux-codel",
    "linux-fq_codel",
    "linux-noop",
];

/// os-vif's default: OVS does not touch the qdisc.
pub const DEFAULT_QOS_TYPE: &str = "linux-noop";

/// vif_plug_ovs.ovsdb.ovsdb_lib.QOS_UUID_NAMESPACE.
const NAMESPACE: [u8; 16] = [
    0x68, 0xda, 0x26, 0x4a, 0x84, 0x7f, 0x42, 0xa8, 0x8a, 0xb0, 0x5e, 0x77, 0x4a, 0xee, 0x3d, 0x95,
];

/// RFC 4122 version-5 UUID of `name` in os-vif's QoS namespace (Python's `uuid.uuid5`).
pub fn qos_id(name: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&NAMESPACE);
    ctx.update(name.as_bytes());
    let d = ctx.finish();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn external_ids(port: &str, qos_type: &str) -> J {
    let id = qos_id(port);
    map([("id", id.as_str()), ("_type", qos_type)])
}

/// Deletes the port's QoS rows (os-vif `delete_qos_if_exists`); none is fine.
pub fn delete(port: &str, qos_type: &str) -> J {
    json!({"op": "delete", "table": "QoS",
           "where": [["external_ids", "==", external_ids(port, qos_type)]]})
}

/// Inserts the port's QoS row under `uuid_name`, for the new Port's `qos` column.
pub fn insert(port: &str, qos_type: &str, uuid_name: &str) -> J {
    op::insert(
        "QoS",
        json!({"type": qos_type, "external_ids": external_ids(port, qos_type)}),
        uuid_name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid5_matches_python() {
        // uuid.uuid5(uuid.UUID("68da264a-847f-42a8-8ab0-5e774aee3d95"), "tap010f6f2c-7c")
        assert_eq!(
            qos_id("tap010f6f2c-7c"),
            "ee535211-51b1-54fd-a157-be00dba7d151"
        );
    }
}
