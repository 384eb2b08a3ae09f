//! The devlink facts of a fixture tree: what a host's devlink would answer (each instance's
//! eswitch mode, the port dump, the rate objects), kept in `devlink.json` at the top of the
//! tree next to `vf-state.json`, which plays the same part for rtnetlink. With it a fixture
//! (and the simulated kernel over one) has a port map, so representors come from the same
//! rule as on a live host ([`super::portmap::apply_port_map`]) instead of `phys_port_name`
//! parsing. The fixture generator writes it, `fixture capture` records a live host's, and
//! the simulated kernel keeps it current across eswitch mode and VF count changes.
//!
//! A record is validated on load: a malformed one is reported (a warning naming the file)
//! and ignored, never half-used, so the readers fall back to name parsing as if it were
//! absent.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model::{DevHandle, EswitchMode, Port, PortFlavour, Rate, RateObject};
use crate::confined::Confined;

/// The record's file name at the top of a fixture root.
pub const DEVLINK_FILE: &str = "devlink.json";

/// A record is a few KiB per instance; 16 MiB means something is wrong.
const RECORD_LIMIT: usize = 16 << 20;

/// One devlink instance with an eswitch (`devlink dev eswitch show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub dev: DevHandle,
    pub mode: EswitchMode,
    /// `devlink dev info` driver name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<crate::types::DriverName>,
}

/// `devlink.json`: the devlink dumps of a host, in the client's own types.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevlinkRecord {
    pub instances: Vec<InstanceRecord>,
    /// The port dump (`devlink port show`), every instance's ports.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// The rate dump (`devlink port function rate show`): leaves and nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rates: Vec<Rate>,
}

/// Why a record was not used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("unreadable: {0}")]
    Io(String),
    #[error("not a devlink record: {0}")]
    Format(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}

impl DevlinkRecord {
    pub fn instance(&self, dev: &DevHandle) -> Option<&InstanceRecord> {
        self.instances.iter().find(|i| &i.dev == dev)
    }

    pub fn instance_mut(&mut self, dev: &DevHandle) -> Option<&mut InstanceRecord> {
        self.instances.iter_mut().find(|i| &i.dev == dev)
    }

    pub fn ports_of<'a>(&'a self, dev: &'a DevHandle) -> impl Iterator<Item = &'a Port> + 'a {
        self.ports.iter().filter(move |p| &p.dev == dev)
    }

    /// Rate node names of an instance: while one exists the kernel refuses every eswitch
    /// mode set with EBUSY ("Rate node(s) exists.").
    pub fn rate_nodes_of(&self, dev: &DevHandle) -> Vec<String> {
        self.rates
            .iter()
            .filter(|r| &r.dev == dev)
            .filter_map(|r| match &r.object {
                RateObject::Node { name } => Some(name.clone()),
                RateObject::Leaf { .. } => None,
            })
            .collect()
    }

    /// What the kernel guarantees of its dumps, checked so a hand-edited or truncated record
    /// is refused as a whole rather than giving a half-right port map.
    pub fn validate(&self) -> Result<(), RecordError> {
        let bad = |m: String| Err(RecordError::Invalid(m));
        let mut devs = BTreeSet::new();
        for i in &self.instances {
            if i.dev.bus.is_empty() || i.dev.dev.is_empty() || i.dev.dev.contains('/') {
                return bad(format!(
                    "instance {:?} is not BUS/DEVICE",
                    i.dev.to_string()
                ));
            }
            if !devs.insert(&i.dev) {
                return bad(format!("instance {} listed twice", i.dev));
            }
        }
        let mut indexes = BTreeSet::new();
        let mut netdevs = BTreeSet::new();
        for p in &self.ports {
            let Some(inst) = self.instance(&p.dev) else {
                return bad(format!("port {}/{}: no such instance", p.dev, p.index));
            };
            if !indexes.insert((&p.dev, p.index)) {
                return bad(format!("port {}/{} listed twice", p.dev, p.index));
            }
            if p.flavour == PortFlavour::PciVf {
                if p.pfnum.is_none() || p.vfnum.is_none() {
                    return bad(format!(
                        "port {}/{}: pcivf without pfnum and vfnum",
                        p.dev, p.index
                    ));
                }
                if inst.mode == EswitchMode::Legacy {
                    return bad(format!(
                        "port {}/{}: a pcivf port on {}, which is in legacy mode (VF ports exist only in switchdev)",
                        p.dev, p.index, p.dev
                    ));
                }
            }
            if let Some(n) = &p.netdev {
                if n.parse::<crate::types::IfName>().is_err() {
                    return bad(format!(
                        "port {}/{}: netdev {n:?} is not an interface name",
                        p.dev, p.index
                    ));
                }
                if !netdevs.insert(n.as_str()) {
                    return bad(format!("netdev {n} is on two ports"));
                }
            }
            if let Some(f) = &p.function {
                if let Some(m) = &f.hw_addr {
                    if m.parse::<crate::types::MacAddress>().is_err() {
                        return bad(format!(
                            "port {}/{}: hw_addr {m:?} is not a MAC address",
                            p.dev, p.index
                        ));
                    }
                }
                if f.state
                    .as_deref()
                    .is_some_and(|s| s != "active" && s != "inactive")
                {
                    return bad(format!(
                        "port {}/{}: function state is neither active nor inactive",
                        p.dev, p.index
                    ));
                }
                if f.opstate
                    .as_deref()
                    .is_some_and(|s| s != "attached" && s != "detached")
                {
                    return bad(format!(
                        "port {}/{}: function opstate is neither attached nor detached",
                        p.dev, p.index
                    ));
                }
            }
        }
        for r in &self.rates {
            if self.instance(&r.dev).is_none() {
                return bad(format!("rate {}/{}: no such instance", r.dev, r.object));
            }
            if let RateObject::Leaf { port } = r.object {
                if !indexes.contains(&(&r.dev, port)) {
                    return bad(format!("rate leaf {}/{port}: no such port", r.dev));
                }
            }
        }
        Ok(())
    }

    /// The record of the tree `c` is confined to: None when it has none.
    pub fn load(c: &Confined) -> Result<Option<DevlinkRecord>, RecordError> {
        let _span = tracing::debug_span!("devlink_record_load").entered();
        let text = match c.read(Path::new(DEVLINK_FILE), RECORD_LIMIT) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(RecordError::Io(e.to_string())),
        };
        let r: DevlinkRecord = serde_json::from_slice(&text)?;
        r.validate()?;
        Ok(Some(r))
    }

    /// The record as written to disk: pretty, sorted, newline-terminated, so the generator's
    /// output is byte-stable and diffs of a changed record read well.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.sorted()).expect("record encodes") + "\n"
    }

    /// The record in the order [`Self::to_json`] writes it (instances by handle, ports by
    /// handle and index): what a reader parsing the written file gets back.
    pub fn sorted(&self) -> DevlinkRecord {
        let mut r = self.clone();
        r.instances.sort_by(|a, b| a.dev.cmp(&b.dev));
        r.ports
            .sort_by(|a, b| (&a.dev, a.index).cmp(&(&b.dev, b.index)));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devlink::PortFunction;

    fn port(dev: &DevHandle, index: u32, flavour: PortFlavour, vf: Option<u16>, nd: &str) -> Port {
        Port {
            dev: dev.clone(),
            index,
            flavour,
            number: None,
            pfnum: Some(0),
            vfnum: vf,
            sfnum: None,
            controller: vf.map(|_| 0),
            external: false,
            netdev_ifindex: Some(10 + index),
            netdev: Some(nd.into()),
            function: vf.map(|_| PortFunction {
                hw_addr: Some("00:00:00:00:00:00".into()),
                state: Some("active".into()),
                opstate: Some("attached".into()),
            }),
        }
    }

    fn record() -> DevlinkRecord {
        let dev = DevHandle::new("pci", "0000:5e:00.0");
        DevlinkRecord {
            instances: vec![InstanceRecord {
                dev: dev.clone(),
                mode: EswitchMode::Switchdev,
                driver: Some("mlx5_core".parse().unwrap()),
            }],
            ports: vec![
                port(&dev, 65535, PortFlavour::Physical, None, "enp94s0f0np0"),
                port(&dev, 1, PortFlavour::PciVf, Some(0), "enp94s0f0r0"),
            ],
            rates: vec![],
        }
    }

    #[test]
    fn round_trips_and_validates() {
        let r = record();
        r.validate().unwrap();
        let back: DevlinkRecord = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back.instances, r.instances);
        assert_eq!(back.ports.len(), 2);
        assert!(r.to_json().contains("\"flavour\": \"pcivf\""));
    }

    #[test]
    fn refuses_what_a_kernel_never_reports() {
        let mut r = record();
        r.instances[0].mode = EswitchMode::Legacy;
        let e = r.validate().unwrap_err().to_string();
        assert!(e.contains("legacy mode"), "{e}");

        let mut r = record();
        r.ports[1].netdev = Some("enp94s0f0np0".into());
        assert!(r.validate().unwrap_err().to_string().contains("two ports"));

        let mut r = record();
        r.ports[1].vfnum = None;
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("pfnum and vfnum"));

        let mut r = record();
        r.ports[1].dev = DevHandle::new("pci", "0000:5e:00.1");
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no such instance"));

        let mut r = record();
        r.ports[1].function.as_mut().unwrap().hw_addr = Some("zz".into());
        assert!(r.validate().unwrap_err().to_string().contains("hw_addr"));

        let mut r = record();
        r.rates.push(Rate {
            dev: r.instances[0].dev.clone(),
            object: RateObject::Leaf { port: 7 },
            tx_share: 0,
            tx_max: 0,
            parent: None,
        });
        assert!(r
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no such port"));
    }

    #[test]
    fn load_reports_bad_json_and_absence() {
        let t = tempfile::tempdir().unwrap();
        let c = Confined::open(t.path()).unwrap();
        assert!(DevlinkRecord::load(&c).unwrap().is_none());
        std::fs::write(t.path().join(DEVLINK_FILE), "{\"instances\": 3}").unwrap();
        let e = DevlinkRecord::load(&c).unwrap_err();
        assert!(matches!(e, RecordError::Format(_)), "{e}");
        std::fs::write(t.path().join(DEVLINK_FILE), record().to_json()).unwrap();
        assert_eq!(DevlinkRecord::load(&c).unwrap().unwrap().ports.len(), 2);
    }
}
