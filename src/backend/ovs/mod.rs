//! Open vSwitch: an RFC 7047 client of our own ([`jsonrpc`], [`client`]) and the os-vif
//! `ovs` plugin semantics on top of it ([`plug`]). No ovs-vsctl: each of its invocations
//! costs ~10 ms of process start and DB download, ours costs one round trip.

pub mod client;
pub mod hybrid;
pub mod jsonrpc;
pub mod plug;
