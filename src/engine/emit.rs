//! The os-vif object handed back for an allocation.

use serde_json::json;

use super::{AllocateRequest, EngineError};
use crate::store::AllocMode;
use crate::types::MacAddress;
use crate::view::VfView;
use crate::vif::VersionedObject;

/// A stable UUID for a physnet when the caller gives no network id: FNV-1a of the name laid
/// out as an RFC 9562 version-8 (custom) UUID, so the same physnet always maps to one id.
pub fn physnet_uuid(physnet: &str) -> String {
    crate::types::uuid::name_uuid(physnet)
}

fn err(e: crate::vif::OsVifError) -> EngineError {
    EngineError::Request(format!("building the VIF object: {e}"))
}

pub fn vif(
    req: &AllocateRequest,
    v: &VfView,
    mac: Option<MacAddress>,
) -> Result<serde_json::Value, EngineError> {
    let mut net = VersionedObject::new("Network").map_err(err)?;
    net.set(
        "id",
        json!(req
            .network_id
            .map(|u| u.to_string())
            .unwrap_or_else(|| physnet_uuid(&req.physnet))),
    )
    .map_err(err)?;
    net.set("label", json!(req.physnet)).map_err(err)?;
    if let Some((vlan, _)) = req.vlan {
        net.set("vlan", json!(vlan.get())).map_err(err)?;
    }
    let class = if req.mode.direct_mode().is_some() {
        "VIFDirect"
    } else {
        "VIFHostDevice"
    };
    let mut o = VersionedObject::new(class).map_err(err)?;
    o.set("id", json!(req.vif_id.to_string())).map_err(err)?;
    o.set("plugin", json!("vifman")).map_err(err)?;
    if let Some(m) = mac {
        o.set("address", json!(m.to_string())).map_err(err)?;
    }
    o.set_obj("network", net).map_err(err)?;
    o.set("dev_address", json!(v.addr.to_string()))
        .map_err(err)?;
    match req.mode {
        AllocMode::Hostdev | AllocMode::HostdevVfio => {
            o.set("dev_type", json!("ethernet")).map_err(err)?;
        }
        m => {
            // os-vif names devices prefix + the first 11 characters of the VIF id (14 bytes).
            let name: String = format!("mvt{}", &req.vif_id.to_string()[..11]);
            o.set("vif_name", json!(name)).map_err(err)?;
            o.set("mode", json!(m.direct_mode().expect("direct mode")))
                .map_err(err)?;
            o.set("vlan_name", json!("")).map_err(err)?;
        }
    }
    o.to_primitive(None, None).map_err(err)
}
