//! The one devlink client (generic netlink), next to the one rtnetlink client in
//! [`crate::rtnl`]: eswitch mode, the port map (which netdev represents which VF), port
//! functions, rate objects and health reporters. No `devlink` binary at run time.
//!
//! - [`attr`]: TLV encoding/decoding and the uAPI numbers;
//! - [`msg`]: request encoders and reply decoders (pure, unit-tested on byte vectors);
//! - [`model`]: the decoded types;
//! - [`client`]: [`Devlink`], the socket;
//! - [`pf`]: a PF's instance, representors from the port map, eswitch mode changes;
//! - [`record`]: a fixture tree's devlink facts (`devlink.json`), the port map off a live host.

pub mod attr;
pub mod client;
pub mod model;
pub mod msg;
pub mod pf;
pub mod portmap;
pub mod record;

pub use client::{Devlink, DevlinkError};
pub use model::{
    DevHandle, DevInfo, EncapMode, Eswitch, EswitchMode, EswitchSet, FnState, HealthReporter,
    InlineMode, Port, PortFlavour, PortFunction, Rate, RateChange, RateObject, ReporterState,
};

#[cfg(test)]
mod recorded_tests;
#[cfg(test)]
mod tests;
