//! What the devlink client returns, decoded into vifman's terms. Numeric kernel enums
//! become Rust enums with an `Other(n)` arm, so a newer kernel's value is shown, not lost.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A devlink instance: `bus/dev`, e.g. `pci/0000:3b:00.0` or `netdevsim/netdevsim10`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DevHandle {
    pub bus: String,
    pub dev: String,
}

impl DevHandle {
    pub fn new(bus: &str, dev: &str) -> DevHandle {
        DevHandle {
            bus: bus.to_string(),
            dev: dev.to_string(),
        }
    }
}

impl fmt::Display for DevHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.bus, self.dev)
    }
}

impl FromStr for DevHandle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('/') {
            Some((b, d)) if !b.is_empty() && !d.is_empty() && !d.contains('/') => {
                Ok(DevHandle::new(b, d))
            }
            _ => Err(format!("devlink handle {s:?} is not BUS/DEVICE")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EswitchMode {
    Legacy,
    Switchdev,
}

impl EswitchMode {
    pub fn to_kernel(self) -> u16 {
        match self {
            EswitchMode::Legacy => 0,
            EswitchMode::Switchdev => 1,
        }
    }

    pub fn from_kernel(v: u16) -> Option<EswitchMode> {
        match v {
            0 => Some(EswitchMode::Legacy),
            1 => Some(EswitchMode::Switchdev),
            _ => None,
        }
    }
}

impl fmt::Display for EswitchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EswitchMode::Legacy => "legacy",
            EswitchMode::Switchdev => "switchdev",
        })
    }
}

impl FromStr for EswitchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "legacy" => Ok(EswitchMode::Legacy),
            "switchdev" => Ok(EswitchMode::Switchdev),
            _ => Err(format!(
                "eswitch mode {s:?} is neither \"legacy\" nor \"switchdev\""
            )),
        }
    }
}

/// `DEVLINK_ESWITCH_INLINE_MODE_*`: how much of a packet header the VF's send path copies
/// inline for the eswitch (`devlink dev eswitch set DEV inline-mode M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum InlineMode {
    None,
    Link,
    Network,
    Transport,
}

impl InlineMode {
    pub fn to_kernel(self) -> u8 {
        match self {
            InlineMode::None => 0,
            InlineMode::Link => 1,
            InlineMode::Network => 2,
            InlineMode::Transport => 3,
        }
    }

    pub fn from_kernel(v: u8) -> Option<InlineMode> {
        match v {
            0 => Some(InlineMode::None),
            1 => Some(InlineMode::Link),
            2 => Some(InlineMode::Network),
            3 => Some(InlineMode::Transport),
            _ => None,
        }
    }
}

impl fmt::Display for InlineMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InlineMode::None => "none",
            InlineMode::Link => "link",
            InlineMode::Network => "network",
            InlineMode::Transport => "transport",
        })
    }
}

/// `DEVLINK_ESWITCH_ENCAP_MODE_*`: tunnel encap/decap offload in the eswitch
/// (`devlink dev eswitch set DEV encap-mode M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EncapMode {
    None,
    Basic,
}

impl EncapMode {
    pub fn to_kernel(self) -> u8 {
        match self {
            EncapMode::None => 0,
            EncapMode::Basic => 1,
        }
    }

    pub fn from_kernel(v: u8) -> Option<EncapMode> {
        match v {
            0 => Some(EncapMode::None),
            1 => Some(EncapMode::Basic),
            _ => None,
        }
    }
}

impl fmt::Display for EncapMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncapMode::None => "none",
            EncapMode::Basic => "basic",
        })
    }
}

/// One `devlink dev eswitch set` request: each attribute given is set, the others left as
/// they are. A mode change and the inline/encap modes go in one request, as the `devlink`
/// tool sends them (the kernel applies the mode first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EswitchSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<EswitchMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_mode: Option<InlineMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encap_mode: Option<EncapMode>,
}

impl EswitchSet {
    pub fn mode(mode: EswitchMode) -> EswitchSet {
        EswitchSet {
            mode: Some(mode),
            ..EswitchSet::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == EswitchSet::default()
    }
}

/// `devlink` tool words: `mode switchdev inline-mode link encap-mode basic`.
impl fmt::Display for EswitchSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = vec![];
        if let Some(m) = self.mode {
            w.push(format!("mode {m}"));
        }
        if let Some(m) = self.inline_mode {
            w.push(format!("inline-mode {m}"));
        }
        if let Some(m) = self.encap_mode {
            w.push(format!("encap-mode {m}"));
        }
        f.write_str(&w.join(" "))
    }
}

/// `devlink dev eswitch show`: the mode, and inline/encap modes when the driver has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eswitch {
    pub mode: EswitchMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_mode: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encap_mode: Option<u8>,
}

/// `DEVLINK_PORT_FLAVOUR_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortFlavour {
    Physical,
    Cpu,
    Dsa,
    PciPf,
    PciVf,
    Virtual,
    Unused,
    PciSf,
    Other(u16),
}

impl PortFlavour {
    pub fn from_kernel(v: u16) -> PortFlavour {
        match v {
            0 => PortFlavour::Physical,
            1 => PortFlavour::Cpu,
            2 => PortFlavour::Dsa,
            3 => PortFlavour::PciPf,
            4 => PortFlavour::PciVf,
            5 => PortFlavour::Virtual,
            6 => PortFlavour::Unused,
            7 => PortFlavour::PciSf,
            n => PortFlavour::Other(n),
        }
    }
}

/// `DEVLINK_PORT_FN_STATE_*`: whether the function behind a port is enabled. Deserialisable
/// because a VF's state before vifman activated it is kept in the allocation record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FnState {
    Inactive,
    Active,
}

impl FnState {
    pub fn to_kernel(self) -> u8 {
        match self {
            FnState::Inactive => 0,
            FnState::Active => 1,
        }
    }

    pub fn from_kernel(v: u8) -> Option<FnState> {
        match v {
            0 => Some(FnState::Inactive),
            1 => Some(FnState::Active),
            _ => None,
        }
    }
}

impl fmt::Display for FnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FnState::Inactive => "inactive",
            FnState::Active => "active",
        })
    }
}

impl FromStr for FnState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "inactive" => Ok(FnState::Inactive),
            "active" => Ok(FnState::Active),
            _ => Err(format!(
                "port function state {s:?} is neither \"active\" nor \"inactive\""
            )),
        }
    }
}

/// The port-function block of a port (`devlink port function`): present only when the
/// driver registers port ops (mlx5, ice; not netdevsim as of 6.12).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortFunction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hw_addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opstate: Option<String>,
}

impl PortFunction {
    /// The state as a [`FnState`]; None when the function reports none (VF ports of mlx5
    /// and ice report only hw_addr) or one this build does not know.
    pub fn fn_state(&self) -> Option<FnState> {
        self.state.as_deref().and_then(|s| s.parse().ok())
    }
}

/// One devlink port as the port dump reports it. Deserialisable too: a fixture tree records
/// its port dump in this shape (see [`super::record`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    pub dev: DevHandle,
    pub index: u32,
    pub flavour: PortFlavour,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pfnum: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vfnum: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sfnum: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<u32>,
    #[serde(default)]
    pub external: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netdev_ifindex: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netdev: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<PortFunction>,
}

/// `DEVLINK_RATE_TYPE_*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RateObject {
    /// The rate of one port (a VF's, in switchdev mode).
    Leaf { port: u32 },
    /// A named group leaves (or nodes) can be parented to.
    Node { name: String },
}

impl fmt::Display for RateObject {
    /// As `devlink` names it after the handle: the port index or the node name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateObject::Leaf { port } => write!(f, "{port}"),
            RateObject::Node { name } => f.write_str(name),
        }
    }
}

/// One rate object. Rates are in bytes per second, as devlink carries them (`devlink`
/// prints them as bits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub dev: DevHandle,
    #[serde(flatten)]
    pub object: RateObject,
    pub tx_share: u64,
    pub tx_max: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// What to change on a rate object; `None` leaves a field alone. `parent: Some("")`
/// detaches from the parent (`devlink ... noparent`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateChange {
    pub tx_share: Option<u64>,
    pub tx_max: Option<u64>,
    pub parent: Option<String>,
}

/// `devlink dev info`: the fields vifman shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DevInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<crate::types::DriverName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// Bytes/s from Mbit/s, the unit of `ip link ... max_tx_rate` and vifman's knobs.
pub fn mbit_to_bytes(mbit: u32) -> u64 {
    u64::from(mbit) * 125_000
}

/// Mbit/s from bytes/s, rounded down.
pub fn bytes_to_mbit(bytes: u64) -> u64 {
    bytes / 125_000
}

/// `DEVLINK_HEALTH_REPORTER_STATE_*` (from `include/net/devlink.h`: the uAPI carries the
/// value as a u8 but names it only on the kernel side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReporterState {
    Healthy,
    Error,
    Other(u8),
}

impl ReporterState {
    pub fn from_kernel(v: u8) -> ReporterState {
        match v {
            0 => ReporterState::Healthy,
            1 => ReporterState::Error,
            n => ReporterState::Other(n),
        }
    }
}

impl fmt::Display for ReporterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReporterState::Healthy => f.write_str("healthy"),
            ReporterState::Error => f.write_str("error"),
            ReporterState::Other(n) => write!(f, "state {n}"),
        }
    }
}

/// One devlink health reporter (`devlink health show`): a driver's self-check of one
/// function area (`tx`, `fw_fatal`, netdevsim's `dummy`), with how often it found an error
/// and how often it (or an operator) recovered it. `port` is set for per-port reporters.
/// Deserialisable too: the simulated kernel reads reporters a test plants in this shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReporter {
    pub dev: DevHandle,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    pub name: String,
    pub state: ReporterState,
    #[serde(default)]
    pub error_count: u64,
    #[serde(default)]
    pub recover_count: u64,
    /// Milliseconds between automatic recoveries (absent without a recover op).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_recover: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_dump: Option<bool>,
}
