//! Validated newtypes for the identifiers that end up in sysfs paths and netlink requests.
//!
//! Every constructor validates, so a value of one of these types is always safe to splice into a
//! path or a syscall argument: there is no way to build an address like `../../etc` or an
//! interface name with a `/` in it.

mod busdev;
mod device;
mod driver;
mod error;
mod ifname;
mod ipnet;
mod mac;
mod pci;
mod ratenode;
mod reset;
pub mod uuid;
mod vlan;

pub use busdev::BusDevice;
pub use device::{DeviceType, NumaPolicy};
pub use driver::{DriverName, VFIO_PCI};
pub use error::TypeError;
pub use ifname::IfName;
pub use ipnet::IpPrefix;
pub use mac::MacAddress;
pub use pci::{vf_rid, PciAddress};
pub use ratenode::{RateNodeName, RATE_NODE_NAME_MAX};
pub use reset::{offers_flr, ResetPolicy};
pub use uuid::Uuid;
pub use vlan::VlanId;

/// Implements `Serialize`/`Deserialize` as the `Display`/`FromStr` string form, so JSON carries
/// the same spelling users type on the command line.
macro_rules! serde_as_string {
    ($t:ty, $expecting:literal) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$t, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}
pub(crate) use serde_as_string;
