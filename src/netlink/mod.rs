//! Per-VF runtime configuration (admin MAC, VLAN, trust, ...) that sysfs does not expose.
//!
//! The kernel only reports it through `IFLA_VFINFO_LIST` on the PF's link, so the live source
//! is one `RTM_GETLINK` dump (made by [`crate::rtnl::KernelVfState`]). Fixture trees carry
//! the same data as `vf-state.json` so the whole inventory can be exercised without SR-IOV
//! hardware.

mod fixture;
mod knob;
mod model;
mod parse;

pub use fixture::{FixtureVfState, VF_STATE_FILE, VF_STATE_SHARDS};
pub use knob::{Knob, KnobKind};
pub use model::{LinkAttrs, PfLinkState, VfLinkState, VfState, VfStateDump, VlanProto};
pub(crate) use parse::vf_id;
pub use parse::{link_attrs, pf_link_state};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum VfStateError {
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("kernel rejected RTM_GETLINK dump: {0}")]
    Kernel(#[source] std::io::Error),
    #[error("malformed netlink reply: {0}")]
    Decode(String),
    #[error("RTM_GETLINK dump: no reply from the kernel within {0:?}")]
    Timeout(std::time::Duration),
    #[error("reading {path}: {source}")]
    FixtureIo {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid vf-state file: {source}")]
    FixtureFormat {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Where VF runtime state comes from: the kernel on a host, a JSON file for fixtures.
pub trait VfStateSource {
    /// Every link that reports VFs. Links without SR-IOV are left out.
    fn vf_state(&self) -> Result<Vec<PfLinkState>, VfStateError>;

    /// VF state plus every link's own attributes, from the same dump.
    fn link_dump(&self) -> Result<VfStateDump, VfStateError> {
        Ok(VfStateDump {
            links: self.vf_state()?,
            netdevs: Vec::new(),
        })
    }
}
