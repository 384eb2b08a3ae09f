//! The TOML file as written, before IDs are parsed and driver defaults are merged. Unknown keys
//! are errors so a typo in the data cannot silently drop a quirk.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDb {
    pub schema: u32,
    pub drivers: BTreeMap<crate::types::DriverName, RawCaps>,
    pub model: Vec<RawModel>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCaps {
    pub switchdev: Option<bool>,
    pub trust: Option<bool>,
    pub spoofchk: Option<bool>,
    pub min_tx_rate: Option<bool>,
    pub max_tx_rate: Option<bool>,
    pub vlan_8021ad: Option<bool>,
    pub link_state: Option<bool>,
    pub rejects_zero_mac: Option<bool>,
    pub pf_must_be_up: Option<bool>,
    pub numvfs_needs_pf_up: Option<bool>,
    pub vf_reload_after_mac: Option<bool>,
    pub eswitch_order: Option<super::EswitchOrder>,
    pub eswitch_resets_vfs: Option<bool>,
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub key: String,
    pub name: String,
    pub vendor: String,
    pub pf_device: String,
    pub vf_device: String,
    pub pf_driver: crate::types::DriverName,
    pub vf_driver: crate::types::DriverName,
    pub max_vfs: u32,
    pub source: String,
    pub notes: Option<String>,
    pub caps: Option<RawCaps>,
}
