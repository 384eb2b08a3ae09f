//! clap value enums for the domain enums the CLI takes, so a mode is validated once, by clap,
//! with its possible values in `--help`, and the library's types stay free of clap.

use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::engine::AllocMode;

const ALL_MODES: [AllocMode; 5] = [
    AllocMode::Hostdev,
    AllocMode::HostdevVfio,
    AllocMode::DirectVepa,
    AllocMode::DirectBridge,
    AllocMode::DirectPassthrough,
];

impl ValueEnum for AllocMode {
    fn value_variants<'a>() -> &'a [Self] {
        &ALL_MODES
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

/// The modes the device plugin can serve: a container gets a VF's netdev or its vfio group,
/// never a macvtap (that needs a guest NIC model the kubelet does not know).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DevicePluginMode {
    Hostdev,
    HostdevVfio,
}

impl From<DevicePluginMode> for AllocMode {
    fn from(m: DevicePluginMode) -> AllocMode {
        match m {
            DevicePluginMode::Hostdev => AllocMode::Hostdev,
            DevicePluginMode::HostdevVfio => AllocMode::HostdevVfio,
        }
    }
}

const ALL_ORDERS: [crate::hwdb::EswitchOrder; 3] = [
    crate::hwdb::EswitchOrder::Any,
    crate::hwdb::EswitchOrder::NoVfs,
    crate::hwdb::EswitchOrder::VfsUnbound,
];

/// `vifman eswitch --order`: hwdb's `eswitch_order` spellings.
impl ValueEnum for crate::hwdb::EswitchOrder {
    fn value_variants<'a>() -> &'a [Self] {
        &ALL_ORDERS
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips_through_its_cli_name() {
        for m in ALL_MODES {
            assert_eq!(AllocMode::from_str(m.as_str(), false), Ok(m));
            assert_eq!(AllocMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(
            AllocMode::from(DevicePluginMode::from_str("hostdev-vfio", false).unwrap()),
            AllocMode::HostdevVfio
        );
        for o in ALL_ORDERS {
            assert_eq!(
                crate::hwdb::EswitchOrder::from_str(o.as_str(), false),
                Ok(o)
            );
        }
    }
}
