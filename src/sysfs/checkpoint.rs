//! The kubelet's device-manager checkpoint (read-only): which PCI devices kubelet has given
//! to containers, per resource. A VF there with no vifman record belongs to another device
//! plugin (sriov-network-device-plugin, say) and must not be handed out by vifman. vifman's
//! own plugin always writes a store record first, so its devices never reach this test.

use std::collections::BTreeMap;
use std::path::Path;

use super::root::SysfsRoot;
use crate::types::PciAddress;

/// Where kubelet keeps it, under the root.
pub const CHECKPOINT: &str = "var/lib/kubelet/device-plugins/kubelet_internal_checkpoint";

/// Device ids per pod entry: a list (checkpoint v1) or NUMA node → list (v2).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum DeviceIds {
    Flat(Vec<String>),
    ByNuma(BTreeMap<String, Vec<String>>),
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    resource_name: String,
    #[serde(rename = "DeviceIDs")]
    device_ids: DeviceIds,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Data {
    #[serde(default)]
    pod_device_entries: Option<Vec<Entry>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Checkpoint {
    data: Data,
}

/// The PCI addresses in a checkpoint's pod entries, with the resource holding each. Ids that
/// are not PCI addresses (other kinds of devices) are skipped.
pub fn parse_checkpoint(text: &[u8]) -> Result<BTreeMap<PciAddress, String>, String> {
    let c: Checkpoint = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for e in c.data.pod_device_entries.unwrap_or_default() {
        let ids: Vec<String> = match e.device_ids {
            DeviceIds::Flat(v) => v,
            DeviceIds::ByNuma(m) => m.into_values().flatten().collect(),
        };
        for id in ids {
            if let Ok(a) = id.parse::<PciAddress>() {
                out.insert(a, e.resource_name.clone());
            }
        }
    }
    Ok(out)
}

impl SysfsRoot {
    /// The kubelet checkpoint's PCI devices (empty when there is no kubelet; a file that
    /// cannot be parsed is warned about and reads as empty).
    pub fn kubelet_devices(&self) -> BTreeMap<PciAddress, String> {
        let Ok(c) = self.confined() else {
            return BTreeMap::new();
        };
        let Ok(text) = c.read(Path::new(CHECKPOINT), 16 << 20) else {
            return BTreeMap::new();
        };
        parse_checkpoint(&text).unwrap_or_else(|e| {
            tracing::warn!("{CHECKPOINT}: {e}; devices held by other device plugins are not seen");
            BTreeMap::new()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_checkpoint_versions() {
        let v2 = br#"{"Data":{"PodDeviceEntries":[{"PodUID":"p","ContainerName":"c","ResourceName":"intel.com/sriov","DeviceIDs":{"0":["0000:3b:02.1"],"-1":["0000:3b:02.2"]},"AllocResp":""},{"PodUID":"q","ContainerName":"c","ResourceName":"nvidia.com/gpu","DeviceIDs":{"-1":["GPU-1234"]},"AllocResp":""}],"RegisteredDevices":{}},"Checksum":1}"#;
        let m = parse_checkpoint(v2).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[&"0000:3b:02.1".parse::<PciAddress>().unwrap()],
            "intel.com/sriov"
        );
        let v1 = br#"{"Data":{"PodDeviceEntries":[{"PodUID":"p","ContainerName":"c","ResourceName":"r","DeviceIDs":["0000:3b:02.3"],"AllocResp":""}]},"Checksum":1}"#;
        assert_eq!(parse_checkpoint(v1).unwrap().len(), 1);
        let none = br#"{"Data":{"PodDeviceEntries":null,"RegisteredDevices":null},"Checksum":1}"#;
        assert!(parse_checkpoint(none).unwrap().is_empty());
        assert!(parse_checkpoint(b"{").is_err());
    }
}
