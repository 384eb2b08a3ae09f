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
    }
}
