//! [`Devlink`]: the one devlink client. It rides on the rtnetlink transport ([`Rtnl`] opened
//! on NETLINK_GENERIC), so devlink requests get the same deadline, receive loop and
//! extended-ack decoding as every other netlink request vifman makes.

use std::time::Duration;

use thiserror::Error;

use super::attr::*;
use super::model::*;
use super::msg;
use crate::rtnl::{Rtnl, RtnlError};

const NETLINK_GENERIC: isize = 16;
const NLM_F_DUMP: u16 = 0x300;
const ENOENT: i32 = 2;
const EOPNOTSUPP: i32 = 95;

#[derive(Debug, Error)]
pub enum DevlinkError {
    /// The kernel has no devlink family (built without CONFIG_NET_DEVLINK, or too old).
    #[error("the kernel has no devlink generic netlink family")]
    NoFamily,
    /// A request failed: `op` names it ("eswitch set pci/0000:3b:00.0"). Not a source:
    /// the kernel's text is already in the message (an error chain would print it twice).
    #[error("devlink {op}: {err}")]
    Request { op: String, err: RtnlError },
    #[error("devlink {op}: malformed reply: {msg}")]
    Decode { op: String, msg: String },
}

impl DevlinkError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            DevlinkError::Request { err, .. } => err.errno(),
            _ => None,
        }
    }

    /// The driver does not implement the operation (EOPNOTSUPP).
    pub fn unsupported(&self) -> bool {
        self.errno() == Some(EOPNOTSUPP)
    }
}

pub type Result<T> = std::result::Result<T, DevlinkError>;

/// A devlink generic netlink socket in the calling thread's network namespace.
pub struct Devlink {
    nl: Rtnl,
    family: u16,
}

impl Devlink {
    /// Opens the socket and resolves the "devlink" family id.
    pub fn open() -> Result<Devlink> {
        let op = "family lookup";
        let mut nl = Rtnl::open_protocol(NETLINK_GENERIC).map_err(|e| req(op, e))?;
        let parts = match nl.raw(GENL_ID_CTRL, 0, &msg::get_family()) {
            Err(e) if e.errno() == Some(ENOENT) => return Err(DevlinkError::NoFamily),
            r => r.map_err(|e| req(op, e))?,
        };
        let first = parts.first().ok_or(DevlinkError::NoFamily)?;
        let family = msg::family_id(first).map_err(|m| dec(op, m))?;
        Ok(Devlink { nl, family })
    }

    pub fn set_timeout(&mut self, t: Duration) {
        self.nl.set_timeout(t);
    }

    fn call(&mut self, op: &str, flags: u16, payload: &[u8]) -> Result<Vec<Vec<u8>>> {
        let _s = tracing::debug_span!("devlink", op = %op).entered();
        crate::rtnl::count::devlink(flags & NLM_F_DUMP != 0);
        self.nl
            .raw(self.family, flags, payload)
            .map_err(|e| req(op, e))
    }

    fn decode_all<T>(
        op: &str,
        parts: Vec<Vec<u8>>,
        f: fn(&[u8]) -> std::result::Result<T, String>,
    ) -> Result<Vec<T>> {
        parts.iter().map(|p| f(p).map_err(|m| dec(op, m))).collect()
    }

    /// Every devlink instance (`devlink dev show`).
    pub fn devices(&mut self) -> Result<Vec<DevHandle>> {
        let parts = self.call("dev dump", NLM_F_DUMP, &msg::bare(CMD_GET))?;
        Self::decode_all("dev dump", parts, msg::decode_dev)
    }

    /// `devlink dev info DEV` (driver name, serial number).
    pub fn info(&mut self, dev: &DevHandle) -> Result<DevInfo> {
        let op = format!("dev info {dev}");
        let parts = self.call(&op, 0, &msg::on_dev(CMD_INFO_GET, dev))?;
        let p = parts.first().ok_or_else(|| dec(&op, "no reply".into()))?;
        msg::decode_info(p).map_err(|m| dec(&op, m))
    }

    /// `devlink dev eswitch show DEV`.
    pub fn eswitch(&mut self, dev: &DevHandle) -> Result<Eswitch> {
        let op = format!("eswitch show {dev}");
        let parts = self.call(&op, 0, &msg::on_dev(CMD_ESWITCH_GET, dev))?;
        let p = parts.first().ok_or_else(|| dec(&op, "no reply".into()))?;
        msg::decode_eswitch(p).map_err(|m| dec(&op, m))
    }

    /// `devlink dev eswitch set DEV mode M`. Vendor ordering rules (VFs first or not) are
    /// the caller's business: this is the bare kernel operation.
    pub fn set_eswitch_mode(&mut self, dev: &DevHandle, mode: EswitchMode) -> Result<()> {
        self.set_eswitch(dev, &EswitchSet::mode(mode))
    }

    /// `devlink dev eswitch set DEV [mode M] [inline-mode I] [encap-mode E]`: one request,
    /// so a mode change and the inline/encap modes it needs go in together.
    pub fn set_eswitch(&mut self, dev: &DevHandle, set: &EswitchSet) -> Result<()> {
        let op = format!("eswitch set {dev} {set}");
        self.call(&op, 0, &msg::eswitch_set(dev, set)).map(drop)
    }

    /// Every port of every instance (`devlink port show`).
    pub fn ports(&mut self) -> Result<Vec<Port>> {
        let parts = self.call("port dump", NLM_F_DUMP, &msg::bare(CMD_PORT_GET))?;
        Self::decode_all("port dump", parts, msg::decode_port)
    }

    /// The ports of one instance (a dump filtered by handle, as the kernel supports it).
    pub fn ports_of(&mut self, dev: &DevHandle) -> Result<Vec<Port>> {
        Ok(self
            .ports()?
            .into_iter()
            .filter(|p| &p.dev == dev)
            .collect())
    }

    /// `devlink port function set DEV/PORT [hw_addr] [state]`.
    pub fn set_port_function(
        &mut self,
        dev: &DevHandle,
        port: u32,
        hw_addr: Option<[u8; 6]>,
        state: Option<FnState>,
    ) -> Result<()> {
        let op = format!("port function set {dev}/{port}");
        let m = msg::port_function_set(dev, port, hw_addr, state);
        self.call(&op, 0, &m).map(drop)
    }

    /// Every rate object (`devlink port function rate show`); leaves exist in switchdev
    /// mode only.
    pub fn rates(&mut self) -> Result<Vec<Rate>> {
        let parts = self.call("rate dump", NLM_F_DUMP, &msg::bare(CMD_RATE_GET))?;
        Self::decode_all("rate dump", parts, msg::decode_rate)
    }

    pub fn set_rate(
        &mut self,
        dev: &DevHandle,
        object: &RateObject,
        change: &RateChange,
    ) -> Result<()> {
        let op = format!("rate set {dev}/{object}");
        let m = msg::rate_set(dev, object, change, false);
        self.call(&op, 0, &m).map(drop)
    }

    /// `devlink port function rate add DEV/NODE ...`.
    pub fn new_rate_node(
        &mut self,
        dev: &DevHandle,
        name: &str,
        change: &RateChange,
    ) -> Result<()> {
        let op = format!("rate add {dev}/{name}");
        let object = RateObject::Node { name: name.into() };
        let m = msg::rate_set(dev, &object, change, true);
        self.call(&op, 0, &m).map(drop)
    }

    /// Every health reporter of every instance, device and port reporters alike
    /// (`devlink health show`).
    pub fn health_reporters(&mut self) -> Result<Vec<HealthReporter>> {
        let op = "health reporter dump";
        let parts = self.call(op, NLM_F_DUMP, &msg::bare(CMD_HEALTH_REPORTER_GET))?;
        Self::decode_all(op, parts, msg::decode_health_reporter)
    }

    /// The health reporters of one instance (the dump, filtered here: older kernels ignore
    /// a handle on a dump).
    pub fn health_reporters_of(&mut self, dev: &DevHandle) -> Result<Vec<HealthReporter>> {
        Ok(self
            .health_reporters()?
            .into_iter()
            .filter(|r| &r.dev == dev)
            .collect())
    }

    /// `devlink port function rate del DEV/NODE` (EBUSY while it has children).
    pub fn del_rate_node(&mut self, dev: &DevHandle, name: &str) -> Result<()> {
        let op = format!("rate del {dev}/{name}");
        self.call(&op, 0, &msg::rate_del(dev, name)).map(drop)
    }
}

fn req(op: &str, err: RtnlError) -> DevlinkError {
    DevlinkError::Request {
        op: op.to_string(),
        err,
    }
}

fn dec(op: &str, msg: String) -> DevlinkError {
    DevlinkError::Decode {
        op: op.to_string(),
        msg,
    }
}
