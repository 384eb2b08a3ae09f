//! The one rtnetlink client: every netlink request vifman makes goes through [`Rtnl`]
//! (software backends building links, VF knobs on a PF, the VF-state dump of the inventory).
//!
//! Synchronous on purpose: vifman's commands are short-lived and a blocking socket with a
//! deadline is all they need; batches are pipelined (many requests per datagram, acks
//! collected after), because a round trip per step is what makes `ip`-style plugging slow.
//!
//! - [`client`]: socket, sequence numbers, batching, the single receive loop with its
//!   timeout, extended-ack decoding;
//! - [`link`]: link request builders and [`Link`], a link as the kernel reports it;
//! - [`vf`]: the VF-knob encoding and VF-state reads;
//! - [`count`]: per-process request counts (devlink's too), for tests.

pub mod addr;
pub mod client;
pub mod count;
pub mod link;
pub mod vf;
pub mod vfstats;

pub use addr::RouteEntry;
pub use client::{Request, Result, Rtnl, RtnlError, DEFAULT_TIMEOUT};
pub use link::{BridgeSpec, Link, LinkChange};
pub use vf::{set_vf_info, set_vf_request, vf_info, KernelVfState};
pub use vfstats::VfCounters;
