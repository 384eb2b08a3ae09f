//! vifman's SR-IOV NIC database (hwdb/sriov-nics.toml), compiled into the binary.
//!
//! sysfs tells which device is present but not what its driver will refuse: igb rejects
//! min_tx_rate and 802.1ad, i40e applies MACs asynchronously, mlx5 moves VF policy to
//! representors in switchdev mode. Knowing that up front lets vifman explain a refusal instead of
//! relaying EINVAL. The data is plain TOML so it can be reviewed and extended without Rust.

mod raw;

use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The database text as shipped; exposed so tests and `--help` output can cite it.
pub const SOURCE: &str = include_str!("../../hwdb/sriov-nics.toml");

#[derive(Debug, thiserror::Error)]
pub enum HwdbError {
    #[error("hwdb TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("hwdb schema {0} is not supported (expected 1)")]
    Schema(u32),
    #[error("model {key}: {field} {value:?} is not a 4-digit lowercase hex id")]
    BadId {
        key: String,
        field: &'static str,
        value: String,
    },
    #[error("model {key}: PF driver {driver} has no [drivers.{driver}] table")]
    UnknownDriver {
        key: String,
        driver: crate::types::DriverName,
    },
    #[error("model {key}: capability {cap} is set neither on the model nor on its driver")]
    MissingCap { key: String, cap: &'static str },
    #[error("model {key}: {what}")]
    Invalid { key: String, what: String },
}

/// What the PF driver supports through `ip link set <pf> vf N ...`, and how it misbehaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// devlink eswitch switchdev mode with VF representors.
    pub switchdev: bool,
    pub trust: bool,
    pub spoofchk: bool,
    pub min_tx_rate: bool,
    pub max_tx_rate: bool,
    /// Port VLAN with protocol 802.1ad (QinQ).
    pub vlan_8021ad: bool,
    /// `state auto|enable|disable`.
    pub link_state: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quirks {
    /// A zero MAC is refused instead of clearing the admin MAC.
    pub rejects_zero_mac: bool,
    /// VF config only reaches the VF while the PF netdev is up.
    pub pf_must_be_up: bool,
    /// Writing `sriov_numvfs` is refused while the PF netdev is down (bnxt_en): `vifman apply`
    /// brings the PF up first.
    pub numvfs_needs_pf_up: bool,
    /// A PF-set VF MAC takes effect only after the VF driver is unbound and rebound.
    pub vf_reload_after_mac: bool,
    /// What must hold before the devlink eswitch mode may change (see [`EswitchOrder`]).
    pub eswitch_order: EswitchOrder,
    /// A devlink eswitch mode change resets the VFs' configuration (MAC, VLAN, rates, trust)
    /// to the defaults, as the driver tears the eswitch down and builds it again. The
    /// simulated kernel does the same; absent means false.
    pub eswitch_resets_vfs: bool,
}

/// The vendor order rule for a devlink eswitch mode change: the drivers differ in what they
/// accept while VFs exist, and getting it wrong is the SR-IOV operator's most reported
/// switchdev failure. Data (`eswitch_order` in a `[drivers.X]` table), not code branches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EswitchOrder {
    /// No constraint (netdevsim; a driver hwdb does not know).
    #[default]
    Any,
    /// The mode changes only with no VFs (ice: "Changing eswitch mode is allowed only if
    /// there is no VFs created"): sriov_numvfs 0, the mode, the VF count back.
    NoVfs,
    /// The mode changes only with no VF bound to a driver (mlx5): unbind the VFs, the mode,
    /// rebind them.
    VfsUnbound,
}

impl EswitchOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            EswitchOrder::Any => "any",
            EswitchOrder::NoVfs => "no-vfs",
            EswitchOrder::VfsUnbound => "vfs-unbound",
        }
    }
}

impl std::fmt::Display for EswitchOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The eswitch order rule of PF driver `driver` (its `[drivers.X]` table), [`EswitchOrder::Any`]
/// for a driver hwdb has no rule for. Keyed by driver, not model: a devlink instance names
/// its driver, and a netdevsim PF has no PCI ids to look a model up by.
pub fn eswitch_order(driver: &str) -> EswitchOrder {
    static RULES: OnceLock<std::collections::BTreeMap<crate::types::DriverName, EswitchOrder>> =
        OnceLock::new();
    RULES
        .get_or_init(|| {
            toml::from_str::<raw::RawDb>(SOURCE)
                .map(|db| {
                    db.drivers
                        .into_iter()
                        .filter_map(|(k, c)| Some((k, c.eswitch_order?)))
                        .collect()
                })
                .unwrap_or_default()
        })
        .get(driver)
        .copied()
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicModel {
    pub key: String,
    pub name: String,
    pub vendor: u16,
    pub pf_device: u16,
    pub vf_device: u16,
    pub pf_driver: crate::types::DriverName,
    pub vf_driver: crate::types::DriverName,
    /// Hardware/driver upper bound; the live sriov_totalvfs can be lower (firmware, port count).
    pub max_vfs: u32,
    pub caps: Capabilities,
    pub quirks: Quirks,
    /// Where the entry came from (SR-IOV network operator configmap key, or "vifman").
    pub source: String,
    /// Driver notes followed by model notes.
    pub notes: String,
}

/// Every model, in file order.
pub fn all() -> &'static [NicModel] {
    static DB: OnceLock<Vec<NicModel>> = OnceLock::new();
    DB.get_or_init(|| parse(SOURCE).expect("hwdb/sriov-nics.toml is validated by tests/hwdb.rs"))
}

/// The model whose PF device matches, or failing that the first whose VF device matches. VF IDs
/// are shared across a family (154c for every X710/XL710/XXV710), so a VF match names the family,
/// not the card: prefer resolving a VF through its `physfn`.
pub fn lookup(vendor: u16, device: u16) -> Option<&'static NicModel> {
    by_pf(vendor, device).or_else(|| by_vf(vendor, device).next())
}

pub fn by_pf(vendor: u16, device: u16) -> Option<&'static NicModel> {
    all()
        .iter()
        .find(|m| m.vendor == vendor && m.pf_device == device)
}

/// Every model whose VFs carry this ID.
pub fn by_vf(vendor: u16, device: u16) -> impl Iterator<Item = &'static NicModel> {
    all()
        .iter()
        .filter(move |m| m.vendor == vendor && m.vf_device == device)
}

pub fn by_key(key: &str) -> Option<&'static NicModel> {
    all().iter().find(|m| m.key == key)
}

/// Parses and validates database text; `all()` uses this on the shipped file.
pub fn parse(text: &str) -> Result<Vec<NicModel>, HwdbError> {
    let db: raw::RawDb = toml::from_str(text)?;
    if db.schema != 1 {
        return Err(HwdbError::Schema(db.schema));
    }
    let mut out = Vec::with_capacity(db.model.len());
    let mut keys = BTreeSet::new();
    let mut pfs = BTreeSet::new();
    for m in db.model {
        let key = m.key.clone();
        let invalid = |what: String| HwdbError::Invalid {
            key: key.clone(),
            what,
        };
        if !keys.insert(m.key.clone()) {
            return Err(invalid("duplicate key".into()));
        }
        let id = |field: &'static str, v: &str| {
            parse_id(v).ok_or_else(|| HwdbError::BadId {
                key: key.clone(),
                field,
                value: v.to_string(),
            })
        };
        let vendor = id("vendor", &m.vendor)?;
        let pf_device = id("pf_device", &m.pf_device)?;
        let vf_device = id("vf_device", &m.vf_device)?;
        if !pfs.insert((vendor, pf_device)) {
            return Err(invalid(format!(
                "duplicate PF id {vendor:04x}:{pf_device:04x}"
            )));
        }
        if m.max_vfs == 0 {
            return Err(invalid("max_vfs is 0".into()));
        }
        if m.name.trim().is_empty()
            || m.pf_driver.trim().is_empty()
            || m.vf_driver.trim().is_empty()
        {
            return Err(invalid("empty name or driver".into()));
        }
        let drv = db
            .drivers
            .get(&m.pf_driver)
            .ok_or_else(|| HwdbError::UnknownDriver {
                key: key.clone(),
                driver: m.pf_driver.clone(),
            })?;
        let over = m.caps.clone().unwrap_or_default();
        let pick = |cap: &'static str, o: Option<bool>, d: Option<bool>| {
            o.or(d).ok_or_else(|| HwdbError::MissingCap {
                key: key.clone(),
                cap,
            })
        };
        let caps = Capabilities {
            switchdev: pick("switchdev", over.switchdev, drv.switchdev)?,
            trust: pick("trust", over.trust, drv.trust)?,
            spoofchk: pick("spoofchk", over.spoofchk, drv.spoofchk)?,
            min_tx_rate: pick("min_tx_rate", over.min_tx_rate, drv.min_tx_rate)?,
            max_tx_rate: pick("max_tx_rate", over.max_tx_rate, drv.max_tx_rate)?,
            vlan_8021ad: pick("vlan_8021ad", over.vlan_8021ad, drv.vlan_8021ad)?,
            link_state: pick("link_state", over.link_state, drv.link_state)?,
        };
        let quirks = Quirks {
            rejects_zero_mac: pick(
                "rejects_zero_mac",
                over.rejects_zero_mac,
                drv.rejects_zero_mac,
            )?,
            pf_must_be_up: pick("pf_must_be_up", over.pf_must_be_up, drv.pf_must_be_up)?,
            numvfs_needs_pf_up: pick(
                "numvfs_needs_pf_up",
                over.numvfs_needs_pf_up,
                drv.numvfs_needs_pf_up,
            )?,
            vf_reload_after_mac: pick(
                "vf_reload_after_mac",
                over.vf_reload_after_mac,
                drv.vf_reload_after_mac,
            )?,
            eswitch_order: over.eswitch_order.or(drv.eswitch_order).unwrap_or_default(),
            eswitch_resets_vfs: over
                .eswitch_resets_vfs
                .or(drv.eswitch_resets_vfs)
                .unwrap_or(false),
        };
        let notes = [
            drv.notes.as_deref(),
            over.notes.as_deref(),
            m.notes.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        out.push(NicModel {
            key: m.key,
            name: m.name,
            vendor,
            pf_device,
            vf_device,
            pf_driver: m.pf_driver,
            vf_driver: m.vf_driver,
            max_vfs: m.max_vfs,
            caps,
            quirks,
            source: m.source,
            notes,
        });
    }
    Ok(out)
}

/// Exactly four lowercase hex digits, the way sysfs prints IDs after `0x`.
pub fn parse_id(s: &str) -> Option<u16> {
    if s.len() == 4
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        u16::from_str_radix(s, 16).ok()
    } else {
        None
    }
}
