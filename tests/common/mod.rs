//! The one test-support tree, loaded by every test target with `mod common;` (then
//! `use common::*;`):
//!
//! - [`cli`]: running the `vifman` binary (clean environment, time limit);
//! - [`cni`]: a CNI runtime (pod namespaces, plugin calls, VF netdev stand-ins);
//! - [`tree`]: copying, digesting and damaging fixture trees;
//! - [`sim`]: simulated hosts, and the only place that finds the simulated kernel's files;
//! - [`nsim`]: a simulated netdevsim bus device (non-PCI SR-IOV PF);
//! - [`netns`], [`vif`], [`ovs`]: private network namespaces, os-vif builders, a private OVS;
//! - [`fleet`]: fake kubelet, daemon handle, metrics and a private Placement (feature `fleet`);
//! - [`osvif`]: comparing os-vif primitives.
//!
//! Each target uses a part of it; the rest is dead code there.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod cni;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod netns;
pub mod nsim;
pub mod osvif;
pub mod ovs;
pub mod sim;
pub mod tree;
pub mod vif;

pub use cli::*;
pub use cni::*;
#[cfg(feature = "fleet")]
pub use fleet::*;
pub use netns::*;
pub use nsim::*;
pub use osvif::*;
pub use ovs::*;
pub use sim::*;
pub use tree::*;
pub use vif::*;
