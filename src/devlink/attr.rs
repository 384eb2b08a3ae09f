//! Netlink attribute (TLV) encoding and decoding for generic netlink, written here because
//! `netlink-packet-generic` targets another `netlink-packet-core` than the 0.9 the rtnetlink
//! side uses, and devlink needs only flat TLVs plus two nests.
//!
//! Numbers are from `include/uapi/linux/devlink.h` and `genetlink.h` (stable uAPI).

/// `GENL_ID_CTRL`: the controller family, which maps family names to ids.
pub const GENL_ID_CTRL: u16 = 0x10;
pub const CTRL_CMD_GETFAMILY: u8 = 3;
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;

pub const DEVLINK_GENL_NAME: &str = "devlink";
pub const DEVLINK_GENL_VERSION: u8 = 1;

pub const CMD_GET: u8 = 1;
pub const CMD_PORT_GET: u8 = 5;
pub const CMD_PORT_SET: u8 = 6;
pub const CMD_ESWITCH_GET: u8 = 29;
pub const CMD_ESWITCH_SET: u8 = 30;
pub const CMD_INFO_GET: u8 = 51;
pub const CMD_HEALTH_REPORTER_GET: u8 = 52;
pub const CMD_RATE_GET: u8 = 74;
pub const CMD_RATE_SET: u8 = 75;
pub const CMD_RATE_NEW: u8 = 76;
pub const CMD_RATE_DEL: u8 = 77;

pub const ATTR_BUS_NAME: u16 = 1;
pub const ATTR_DEV_NAME: u16 = 2;
pub const ATTR_PORT_INDEX: u16 = 3;
pub const ATTR_PORT_TYPE: u16 = 4;
pub const ATTR_PORT_NETDEV_IFINDEX: u16 = 6;
pub const ATTR_PORT_NETDEV_NAME: u16 = 7;
pub const ATTR_ESWITCH_MODE: u16 = 25;
pub const ATTR_ESWITCH_INLINE_MODE: u16 = 26;
pub const ATTR_ESWITCH_ENCAP_MODE: u16 = 62;
pub const ATTR_PORT_FLAVOUR: u16 = 77;
pub const ATTR_PORT_NUMBER: u16 = 78;
pub const ATTR_INFO_DRIVER_NAME: u16 = 98;
pub const ATTR_INFO_SERIAL_NUMBER: u16 = 99;
/// The nest one reporter's attributes come in (`GET` replies and dump parts).
pub const ATTR_HEALTH_REPORTER: u16 = 114;
pub const ATTR_HEALTH_REPORTER_NAME: u16 = 115;
pub const ATTR_HEALTH_REPORTER_STATE: u16 = 116;
pub const ATTR_HEALTH_REPORTER_ERR_COUNT: u16 = 117;
pub const ATTR_HEALTH_REPORTER_RECOVER_COUNT: u16 = 118;
pub const ATTR_HEALTH_REPORTER_GRACEFUL_PERIOD: u16 = 120;
pub const ATTR_HEALTH_REPORTER_AUTO_RECOVER: u16 = 121;
pub const ATTR_PORT_PCI_PF_NUMBER: u16 = 127;
pub const ATTR_PORT_PCI_VF_NUMBER: u16 = 128;
pub const ATTR_HEALTH_REPORTER_AUTO_DUMP: u16 = 141;
pub const ATTR_PORT_FUNCTION: u16 = 145;
pub const ATTR_PORT_EXTERNAL: u16 = 149;
pub const ATTR_PORT_CONTROLLER_NUMBER: u16 = 150;
pub const ATTR_PORT_PCI_SF_NUMBER: u16 = 164;
pub const ATTR_RATE_TYPE: u16 = 165;
pub const ATTR_RATE_TX_SHARE: u16 = 166;
pub const ATTR_RATE_TX_MAX: u16 = 167;
pub const ATTR_RATE_NODE_NAME: u16 = 168;
pub const ATTR_RATE_PARENT_NODE_NAME: u16 = 169;

/// Inside `ATTR_PORT_FUNCTION`.
pub const FN_ATTR_HW_ADDR: u16 = 1;
pub const FN_ATTR_STATE: u16 = 2;
pub const FN_ATTR_OPSTATE: u16 = 3;

/// NLA_F_NESTED: set on nests the kernel's strict policies validate.
const NLA_F_NESTED: u16 = 1 << 15;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Builds a generic netlink payload: the 4-byte genl header, then attributes.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    /// A payload for command `cmd` of a family at version `version`.
    pub fn genl(cmd: u8, version: u8) -> Writer {
        Writer {
            buf: vec![cmd, version, 0, 0],
        }
    }

    fn put(&mut self, ty: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(self.buf.len() + (align(len) - len), 0);
    }

    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.put(ty, &[v]);
        self
    }

    pub fn u16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.put(ty, &v.to_ne_bytes());
        self
    }

    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_ne_bytes());
        self
    }

    pub fn u64(&mut self, ty: u16, v: u64) -> &mut Self {
        self.put(ty, &v.to_ne_bytes());
        self
    }

    pub fn bytes(&mut self, ty: u16, v: &[u8]) -> &mut Self {
        self.put(ty, v);
        self
    }

    /// A NUL-terminated string (NLA_NUL_STRING / NLA_STRING both accept it).
    pub fn str(&mut self, ty: u16, v: &str) -> &mut Self {
        let mut d = Vec::with_capacity(v.len() + 1);
        d.extend_from_slice(v.as_bytes());
        d.push(0);
        self.put(ty, &d);
        self
    }

    /// A nest whose content `f` writes (into a fresh writer, then copied: nests are tiny).
    pub fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Writer)) -> &mut Self {
        let mut inner = Writer::default();
        f(&mut inner);
        self.put(ty | NLA_F_NESTED, &inner.buf);
        self
    }
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// One decoded attribute: type (flags masked off) and payload.
#[derive(Debug, Clone, Copy)]
pub struct Attr<'a> {
    pub ty: u16,
    pub data: &'a [u8],
}

impl<'a> Attr<'a> {
    pub fn u8(&self) -> Option<u8> {
        self.data.first().copied()
    }

    pub fn u16(&self) -> Option<u16> {
        Some(u16::from_ne_bytes(self.data.get(..2)?.try_into().ok()?))
    }

    pub fn u32(&self) -> Option<u32> {
        Some(u32::from_ne_bytes(self.data.get(..4)?.try_into().ok()?))
    }

    pub fn u64(&self) -> Option<u64> {
        Some(u64::from_ne_bytes(self.data.get(..8)?.try_into().ok()?))
    }

    /// A string attribute, up to its first NUL.
    pub fn str(&self) -> Option<String> {
        let s = self.data.split(|b| *b == 0).next()?;
        std::str::from_utf8(s).ok().map(str::to_string)
    }

    pub fn nested(&self) -> Result<Vec<Attr<'a>>, String> {
        parse(self.data)
    }
}

/// Splits a TLV run into attributes. Fails on a length that overruns the buffer (a
/// truncated or foreign message), never reads past it.
pub fn parse(mut b: &[u8]) -> Result<Vec<Attr<'_>>, String> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return Err(format!(
                "attribute {ty} claims {len} bytes, {} left",
                b.len()
            ));
        }
        out.push(Attr {
            ty,
            data: &b[4..len],
        });
        b = &b[align(len).min(b.len())..];
    }
    Ok(out)
}

/// The attributes of one generic netlink message payload (after the 4-byte genl header).
pub fn parse_genl(payload: &[u8]) -> Result<(u8, Vec<Attr<'_>>), String> {
    if payload.len() < 4 {
        return Err(format!("{}-byte generic netlink payload", payload.len()));
    }
    Ok((payload[0], parse(&payload[4..])?))
}
