//! What the CNI side learns about an allocated device, in the two shapes the Kubernetes
//! network plumbing uses: `PCIDEVICE_<RESOURCE>_INFO` in the container's environment (the
//! SR-IOV device plugin's JSON), and the device-info file (device-info spec 1.1.0) that
//! multus copies to the CNI plugin. With vifman as the CNI too, the store already says which
//! VF is whose; these are for workloads and for other CNI plugins that read them.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::types::PciAddress;

/// Where the device plugins of a node write their device-info files.
pub const DEFAULT_DIR: &str = "/var/run/k8s.cni.cncf.io/devinfo/dp";

/// One allocated VF as the env and the file describe it.
pub struct Device {
    pub vf: PciAddress,
    pub pf: Option<PciAddress>,
    /// The IOMMU group when the VF is bound to vfio-pci.
    pub vfio_group: Option<u32>,
}

/// `PCIDEVICE_<RESOURCE>_INFO`: `{"<addr>": {"generic": {"deviceID": ...}, "vfio": {...}}}`.
pub fn info_env(devices: &[Device]) -> String {
    let mut m = Map::new();
    for d in devices {
        let mut v = json!({"generic": {"deviceID": d.vf.to_string()}});
        if let Some(g) = d.vfio_group {
            v["vfio"] = json!({"dev-mount": format!("/dev/vfio/{g}"), "mount": "/dev/vfio/vfio"});
        }
        m.insert(d.vf.to_string(), v);
    }
    Value::Object(m).to_string()
}

/// The device-info file's name: `<resource, '/' → '-'>-<address>-device.json`, the
/// network plumbing client library's convention that multus looks for.
pub fn file_name(resource: &str, vf: &PciAddress) -> String {
    format!("{}-{vf}-device.json", resource.replace('/', "-"))
}

/// Write the device-info file of `d` into `dir` (created if missing), atomically (a
/// reader never sees half a file).
pub fn write(dir: &Path, resource: &str, d: &Device) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let body = json!({
        "type": "pci",
        "version": "1.1.0",
        "pci": {
            "pci-address": d.vf.to_string(),
            "pf-pci-address": d.pf.map(|p| p.to_string()).unwrap_or_default(),
        },
    });
    let path = dir.join(file_name(resource, &d.vf));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        file_name(resource, &d.vf),
        std::process::id()
    ));
    std::fs::write(&tmp, format!("{body}\n"))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let vf: PciAddress = "0000:3b:02.3".parse().unwrap();
        let d = Device {
            vf,
            pf: Some("0000:3b:00.0".parse().unwrap()),
            vfio_group: Some(42),
        };
        let env: Value = serde_json::from_str(&info_env(&[d])).unwrap();
        assert_eq!(env["0000:3b:02.3"]["generic"]["deviceID"], "0000:3b:02.3");
        assert_eq!(env["0000:3b:02.3"]["vfio"]["dev-mount"], "/dev/vfio/42");
        assert_eq!(
            file_name("vifman.io/physnet1", &vf),
            "vifman.io-physnet1-0000:3b:02.3-device.json"
        );
    }
}
