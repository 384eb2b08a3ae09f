//! The backends' view of the shared rtnetlink client (see [`crate::rtnl`]): re-exported
//! under the old path so backend code keeps its imports.

pub use crate::rtnl::{BridgeSpec, Link, LinkChange, Request, Result, Rtnl, RtnlError};
