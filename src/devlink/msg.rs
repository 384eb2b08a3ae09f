//! Request encoders and reply decoders, pure functions over bytes so that every message is
//! unit-tested against byte vectors without a kernel (and port-function attributes, which
//! netdevsim does not implement, are tested at all).

use super::attr::*;
use super::model::*;

fn handle(w: &mut Writer, dev: &DevHandle) {
    w.str(ATTR_BUS_NAME, &dev.bus).str(ATTR_DEV_NAME, &dev.dev);
}

/// CTRL_CMD_GETFAMILY for "devlink".
pub fn get_family() -> Vec<u8> {
    let mut w = Writer::genl(CTRL_CMD_GETFAMILY, 1);
    w.str(CTRL_ATTR_FAMILY_NAME, DEVLINK_GENL_NAME);
    w.buf
}

/// The family id from a CTRL_CMD_NEWFAMILY reply.
pub fn family_id(payload: &[u8]) -> Result<u16, String> {
    let (_, attrs) = parse_genl(payload)?;
    attrs
        .iter()
        .find(|a| a.ty == CTRL_ATTR_FAMILY_ID)
        .and_then(|a| a.u16())
        .ok_or_else(|| "family reply without CTRL_ATTR_FAMILY_ID".to_string())
}

/// A command with no attributes (a dump of devices, ports or rates).
pub fn bare(cmd: u8) -> Vec<u8> {
    Writer::genl(cmd, DEVLINK_GENL_VERSION).buf
}

/// A command addressed to one instance.
pub fn on_dev(cmd: u8, dev: &DevHandle) -> Vec<u8> {
    let mut w = Writer::genl(cmd, DEVLINK_GENL_VERSION);
    handle(&mut w, dev);
    w.buf
}

/// `devlink dev eswitch set DEV [mode M] [inline-mode I] [encap-mode E]`: the attributes
/// given, in the `devlink` tool's order (mode u16, inline-mode u8, encap-mode u8).
pub fn eswitch_set(dev: &DevHandle, set: &EswitchSet) -> Vec<u8> {
    let mut w = Writer::genl(CMD_ESWITCH_SET, DEVLINK_GENL_VERSION);
    handle(&mut w, dev);
    if let Some(m) = set.mode {
        w.u16(ATTR_ESWITCH_MODE, m.to_kernel());
    }
    if let Some(m) = set.inline_mode {
        w.u8(ATTR_ESWITCH_INLINE_MODE, m.to_kernel());
    }
    if let Some(m) = set.encap_mode {
        w.u8(ATTR_ESWITCH_ENCAP_MODE, m.to_kernel());
    }
    w.buf
}

/// `devlink port function set DEV/PORT [hw_addr MAC] [state active|inactive]`.
pub fn port_function_set(
    dev: &DevHandle,
    port: u32,
    hw_addr: Option<[u8; 6]>,
    state: Option<FnState>,
) -> Vec<u8> {
    let mut w = Writer::genl(CMD_PORT_SET, DEVLINK_GENL_VERSION);
    handle(&mut w, dev);
    w.u32(ATTR_PORT_INDEX, port);
    w.nest(ATTR_PORT_FUNCTION, |n| {
        if let Some(mac) = hw_addr {
            n.bytes(FN_ATTR_HW_ADDR, &mac);
        }
        if let Some(s) = state {
            n.u8(FN_ATTR_STATE, s.to_kernel());
        }
    });
    w.buf
}

fn rate_target(w: &mut Writer, dev: &DevHandle, object: &RateObject) {
    handle(w, dev);
    match object {
        RateObject::Leaf { port } => w.u32(ATTR_PORT_INDEX, *port),
        RateObject::Node { name } => w.str(ATTR_RATE_NODE_NAME, name),
    };
}

/// RATE_SET on an existing object, or RATE_NEW for a node (`new`).
pub fn rate_set(dev: &DevHandle, object: &RateObject, change: &RateChange, new: bool) -> Vec<u8> {
    let cmd = if new { CMD_RATE_NEW } else { CMD_RATE_SET };
    let mut w = Writer::genl(cmd, DEVLINK_GENL_VERSION);
    rate_target(&mut w, dev, object);
    if let Some(v) = change.tx_share {
        w.u64(ATTR_RATE_TX_SHARE, v);
    }
    if let Some(v) = change.tx_max {
        w.u64(ATTR_RATE_TX_MAX, v);
    }
    if let Some(p) = &change.parent {
        // An empty name is the kernel's "noparent".
        w.str(ATTR_RATE_PARENT_NODE_NAME, p);
    }
    w.buf
}

pub fn rate_del(dev: &DevHandle, node: &str) -> Vec<u8> {
    let mut w = Writer::genl(CMD_RATE_DEL, DEVLINK_GENL_VERSION);
    rate_target(&mut w, dev, &RateObject::Node { name: node.into() });
    w.buf
}

fn dev_of(attrs: &[Attr<'_>]) -> Result<DevHandle, String> {
    let get = |ty| attrs.iter().find(|a| a.ty == ty).and_then(|a| a.str());
    match (get(ATTR_BUS_NAME), get(ATTR_DEV_NAME)) {
        (Some(b), Some(d)) => Ok(DevHandle { bus: b, dev: d }),
        _ => Err("devlink message without bus/dev name".into()),
    }
}

pub fn decode_dev(payload: &[u8]) -> Result<DevHandle, String> {
    dev_of(&parse_genl(payload)?.1)
}

pub fn decode_info(payload: &[u8]) -> Result<DevInfo, String> {
    let (_, attrs) = parse_genl(payload)?;
    let mut i = DevInfo::default();
    for a in &attrs {
        match a.ty {
            // An empty or unacceptable name is no name: the eswitch order rule then falls
            // back to "any order", as for a driver hwdb does not know.
            ATTR_INFO_DRIVER_NAME => i.driver = a.str().and_then(|s| s.parse().ok()),
            ATTR_INFO_SERIAL_NUMBER => i.serial = a.str(),
            _ => {}
        }
    }
    Ok(i)
}

pub fn decode_eswitch(payload: &[u8]) -> Result<Eswitch, String> {
    let (_, attrs) = parse_genl(payload)?;
    let mut mode = None;
    let mut e = Eswitch {
        mode: EswitchMode::Legacy,
        inline_mode: None,
        encap_mode: None,
    };
    for a in &attrs {
        match a.ty {
            ATTR_ESWITCH_MODE => mode = a.u16(),
            ATTR_ESWITCH_INLINE_MODE => e.inline_mode = a.u8(),
            ATTR_ESWITCH_ENCAP_MODE => e.encap_mode = a.u8(),
            _ => {}
        }
    }
    let mode = mode.ok_or("eswitch reply without a mode")?;
    e.mode = EswitchMode::from_kernel(mode).ok_or(format!("unknown eswitch mode {mode}"))?;
    Ok(e)
}

fn mac_string(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn decode_function(a: &Attr<'_>) -> Result<PortFunction, String> {
    let mut f = PortFunction::default();
    for n in a.nested()? {
        match n.ty {
            FN_ATTR_HW_ADDR => f.hw_addr = Some(mac_string(n.data)),
            FN_ATTR_STATE => {
                f.state = n.u8().map(|v| match v {
                    0 => "inactive".to_string(),
                    1 => "active".to_string(),
                    v => v.to_string(),
                })
            }
            FN_ATTR_OPSTATE => {
                f.opstate = n.u8().map(|v| match v {
                    0 => "detached".to_string(),
                    1 => "attached".to_string(),
                    v => v.to_string(),
                })
            }
            _ => {}
        }
    }
    Ok(f)
}

pub fn decode_port(payload: &[u8]) -> Result<Port, String> {
    let (_, attrs) = parse_genl(payload)?;
    let dev = dev_of(&attrs)?;
    let mut p = Port {
        dev,
        index: 0,
        flavour: PortFlavour::Physical,
        number: None,
        pfnum: None,
        vfnum: None,
        sfnum: None,
        controller: None,
        external: false,
        netdev_ifindex: None,
        netdev: None,
        function: None,
    };
    let mut index = None;
    for a in &attrs {
        match a.ty {
            ATTR_PORT_INDEX => index = a.u32(),
            ATTR_PORT_FLAVOUR => p.flavour = PortFlavour::from_kernel(a.u16().unwrap_or(0)),
            ATTR_PORT_NUMBER => p.number = a.u32(),
            ATTR_PORT_PCI_PF_NUMBER => p.pfnum = a.u16(),
            ATTR_PORT_PCI_VF_NUMBER => p.vfnum = a.u16(),
            ATTR_PORT_PCI_SF_NUMBER => p.sfnum = a.u32(),
            ATTR_PORT_CONTROLLER_NUMBER => p.controller = a.u32(),
            ATTR_PORT_EXTERNAL => p.external = a.u8() == Some(1),
            ATTR_PORT_NETDEV_IFINDEX => p.netdev_ifindex = a.u32(),
            ATTR_PORT_NETDEV_NAME => p.netdev = a.str(),
            ATTR_PORT_FUNCTION => p.function = Some(decode_function(a)?),
            _ => {}
        }
    }
    p.index = index.ok_or("port message without a port index")?;
    Ok(p)
}

pub fn decode_rate(payload: &[u8]) -> Result<Rate, String> {
    let (_, attrs) = parse_genl(payload)?;
    let dev = dev_of(&attrs)?;
    let (mut ty, mut port, mut node) = (None, None, None);
    let mut r = Rate {
        dev,
        object: RateObject::Leaf { port: 0 },
        tx_share: 0,
        tx_max: 0,
        parent: None,
    };
    for a in &attrs {
        match a.ty {
            ATTR_RATE_TYPE => ty = a.u16(),
            ATTR_PORT_INDEX => port = a.u32(),
            ATTR_RATE_NODE_NAME => node = a.str(),
            ATTR_RATE_TX_SHARE => r.tx_share = a.u64().unwrap_or(0),
            ATTR_RATE_TX_MAX => r.tx_max = a.u64().unwrap_or(0),
            ATTR_RATE_PARENT_NODE_NAME => r.parent = a.str(),
            _ => {}
        }
    }
    r.object = match (ty, port, node) {
        (Some(0), Some(port), _) => RateObject::Leaf { port },
        (Some(1), _, Some(name)) => RateObject::Node { name },
        (t, _, _) => return Err(format!("rate message of type {t:?} without its key")),
    };
    Ok(r)
}

/// One reporter: the handle (and port index, for a port reporter) at the top level, the
/// reporter's own attributes inside `DEVLINK_ATTR_HEALTH_REPORTER`.
pub fn decode_health_reporter(payload: &[u8]) -> Result<HealthReporter, String> {
    let (_, attrs) = parse_genl(payload)?;
    let dev = dev_of(&attrs)?;
    let port = attrs
        .iter()
        .find(|a| a.ty == ATTR_PORT_INDEX)
        .and_then(|a| a.u32());
    let nest = attrs
        .iter()
        .find(|a| a.ty == ATTR_HEALTH_REPORTER)
        .ok_or("health reporter message without DEVLINK_ATTR_HEALTH_REPORTER")?;
    let (mut name, mut state) = (None, None);
    let mut r = HealthReporter {
        dev,
        port,
        name: String::new(),
        state: ReporterState::Healthy,
        error_count: 0,
        recover_count: 0,
        grace_period_ms: None,
        auto_recover: None,
        auto_dump: None,
    };
    for a in nest.nested()? {
        match a.ty {
            ATTR_HEALTH_REPORTER_NAME => name = a.str(),
            ATTR_HEALTH_REPORTER_STATE => state = a.u8(),
            ATTR_HEALTH_REPORTER_ERR_COUNT => r.error_count = a.u64().unwrap_or(0),
            ATTR_HEALTH_REPORTER_RECOVER_COUNT => r.recover_count = a.u64().unwrap_or(0),
            ATTR_HEALTH_REPORTER_GRACEFUL_PERIOD => r.grace_period_ms = a.u64(),
            ATTR_HEALTH_REPORTER_AUTO_RECOVER => r.auto_recover = a.u8().map(|v| v != 0),
            ATTR_HEALTH_REPORTER_AUTO_DUMP => r.auto_dump = a.u8().map(|v| v != 0),
            _ => {}
        }
    }
    r.name = name.ok_or("health reporter without a name")?;
    // A reporter without a state would read as healthy: refuse to guess.
    r.state = ReporterState::from_kernel(
        state.ok_or(format!("health reporter {} without a state", r.name))?,
    );
    Ok(r)
}
