//! os-vif primitive builders for the backend tests.

use serde_json::{json, Value as J};
use vifman::vif::{from_primitive, Mode, VersionedObject};

pub fn obj(name: &str, data: J) -> J {
    let changes: Vec<String> = data.as_object().unwrap().keys().cloned().collect();
    json!({
        "versioned_object.name": name,
        "versioned_object.namespace": "os_vif",
        "versioned_object.version": vifman::vif::registry::class_by_name(name).unwrap().version,
        "versioned_object.data": data,
        "versioned_object.changes": changes,
    })
}

pub fn network(bridge: &str, mtu: Option<i64>, provide_bridge: bool) -> J {
    let mut d = json!({
        "id": "b82c1929-051e-481d-8110-4669916c7916",
        "bridge": bridge,
        "label": "private",
        "should_provide_bridge": provide_bridge,
    });
    if let Some(m) = mtu {
        d["mtu"] = json!(m);
    }
    obj("Network", d)
}

pub fn load(prim: &J) -> VersionedObject {
    from_primitive(prim, Mode::Strict).unwrap_or_else(|e| panic!("bad test VIF: {e}\n{prim:#}"))
}

pub const VIF_ID: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";
pub const IFACE_ID: &str = "07bd6cea-fb37-4594-b769-90fc51854ee9";
pub const VM_UUID: &str = "d7a730ca-3c28-49c3-8f26-4662b909fe8a";

pub fn ovs_profile(extra: J) -> J {
    let mut d = json!({"interface_id": IFACE_ID, "profile_id": "fishfood"});
    for (k, v) in extra.as_object().unwrap() {
        d[k] = v.clone();
    }
    obj("VIFPortProfileOpenVSwitch", d)
}
