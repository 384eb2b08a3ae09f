//! The libvirt device as typed values — the subset of nova's `LibvirtConfigGuestInterface` /
//! `LibvirtConfigGuestHostdevPCI` (nova/virt/libvirt/config.py) that a VIF can fill — and
//! its element tree in the order nova's `format_dom` emits it.

use std::str::FromStr;

use super::xml::El;
use crate::backend::spec::{DirectMode, SocketPath, VhostMode};
use crate::types::{IfName, MacAddress, PciAddress, VlanId};

/// A guest NIC model (`<model type=...>`): libvirt's own pattern, `[a-zA-Z0-9_-]+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicModel(String);

impl NicModel {
    /// nova's default on kvm/qemu (`[libvirt] use_virtio_for_bridges = True`).
    pub fn virtio() -> Self {
        NicModel("virtio".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NicModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Ok(NicModel(s.to_string()))
        } else {
            Err(format!(
                "{s:?} is not a NIC model name (letters, digits, '_' and '-')"
            ))
        }
    }
}

/// `<interface type=...>` and the `<source>` that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `type='bridge'`: a Linux or OVS bridge libvirt attaches a TAP it creates to.
    Bridge(IfName),
    /// `type='ethernet'`: a TAP (or macvtap) named by `<target>`, no source.
    Ethernet,
    /// `type='vhostuser'`: `<source type='unix' mode=... path=...>`; mode is QEMU's role.
    VhostUser { mode: VhostMode, path: SocketPath },
    /// `type='hostdev'`: a VF assigned through VFIO that libvirt sets MAC/VLAN on.
    Hostdev { address: PciAddress, managed: bool },
    /// `type='direct'`: a macvtap libvirt creates on `dev` in `mode`.
    Direct { dev: IfName, mode: DirectMode },
}

/// `<target dev=... [managed='no']>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub dev: IfName,
    /// `Some(false)`: the device exists and is not libvirt's to create or delete.
    pub managed: Option<bool>,
}

/// `<virtualport>` and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtualPort {
    OpenVSwitch {
        interface_id: String,
    },
    Qbg {
        manager_id: i64,
        type_id: i64,
        type_id_version: i64,
        instance_id: String,
    },
    Qbh {
        profile_id: String,
    },
}

/// `<interface>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub source: Source,
    pub mac: Option<MacAddress>,
    pub model: Option<NicModel>,
    /// `<driver name=...>`: `vhost` where nova's designer forces it (macvtap passthrough).
    pub driver: Option<&'static str>,
    pub mtu: Option<u32>,
    pub vlan: Option<VlanId>,
    pub target: Option<Target>,
    pub virtualport: Option<VirtualPort>,
}

/// `<hostdev mode='subsystem' type='pci'>`: a whole PCI function, no NIC semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostdevPci {
    pub address: PciAddress,
    pub managed: bool,
}

/// What `vifman vif libvirt` prints: one device element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    Interface(Interface),
    Hostdev(HostdevPci),
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// nova's `pci_utils.get_pci_address_fields` plus the `0x` prefixes `format_dom` adds:
/// domain 4 digits, bus 2, slot 2, function 1.
fn pci_address(a: &PciAddress, with_type: bool) -> El {
    let mut e = El::new("address");
    if with_type {
        e = e.attr("type", "pci");
    }
    e.attr("domain", format!("0x{:04x}", a.domain()))
        .attr("bus", format!("0x{:02x}", a.bus()))
        .attr("slot", format!("0x{:02x}", a.slot()))
        .attr("function", format!("0x{:x}", a.function()))
}

impl Interface {
    fn net_type(&self) -> &'static str {
        match self.source {
            Source::Bridge(_) => "bridge",
            Source::Ethernet => "ethernet",
            Source::VhostUser { .. } => "vhostuser",
            Source::Hostdev { .. } => "hostdev",
            Source::Direct { .. } => "direct",
        }
    }

    /// The element in `LibvirtConfigGuestInterface.format_dom` order: mac, model, driver,
    /// source (and mtu for bridge/ethernet, the only types nova writes it for), vlan,
    /// target, virtualport.
    pub fn to_el(&self) -> El {
        let mut e = El::new("interface").attr("type", self.net_type());
        if let Source::Hostdev { managed, .. } = self.source {
            e = e.attr("managed", yes_no(managed));
        }
        if let Some(m) = &self.mac {
            e.push(El::new("mac").attr("address", m.to_string()));
        }
        if let Some(m) = &self.model {
            e.push(El::new("model").attr("type", m.as_str()));
        }
        if let Some(d) = self.driver {
            e.push(El::new("driver").attr("name", d));
        }
        let mtu = || self.mtu.map(|m| El::new("mtu").attr("size", m.to_string()));
        match &self.source {
            Source::Ethernet => e.children.extend(mtu()),
            Source::Bridge(br) => {
                e.push(El::new("source").attr("bridge", br.as_str()));
                e.children.extend(mtu());
            }
            Source::VhostUser { mode, path } => e.push(
                El::new("source")
                    .attr("type", "unix")
                    .attr("mode", mode.as_str())
                    .attr("path", path.to_string()),
            ),
            Source::Hostdev { address, .. } => {
                e.push(El::new("source").child(pci_address(address, true)))
            }
            Source::Direct { dev, mode } => e.push(
                El::new("source")
                    .attr("dev", dev.as_str())
                    .attr("mode", mode.as_str()),
            ),
        }
        if let (Some(v), Source::Direct { .. } | Source::Hostdev { .. }) = (self.vlan, &self.source)
        {
            e.push(El::new("vlan").child(El::new("tag").attr("id", v.get().to_string())));
        }
        if let Some(t) = &self.target {
            let mut te = El::new("target").attr("dev", t.dev.as_str());
            if let Some(m) = t.managed {
                te = te.attr("managed", yes_no(m));
            }
            e.push(te);
        }
        if let Some(vp) = &self.virtualport {
            e.push(virtualport(vp));
        }
        e
    }
}

/// nova writes one `<parameters>` element per parameter; libvirt reads only the first
/// (an 802.1Qbg port so written is refused: "missing typeid"), so all parameters go into
/// one element — identical to nova for the one-parameter types (openvswitch, 802.1Qbh).
fn virtualport(vp: &VirtualPort) -> El {
    let (ty, p) = match vp {
        VirtualPort::OpenVSwitch { interface_id } => (
            "openvswitch",
            El::new("parameters").attr("interfaceid", interface_id.as_str()),
        ),
        VirtualPort::Qbg {
            manager_id,
            type_id,
            type_id_version,
            instance_id,
        } => (
            "802.1Qbg",
            El::new("parameters")
                .attr("managerid", manager_id.to_string())
                .attr("typeid", type_id.to_string())
                .attr("typeidversion", type_id_version.to_string())
                .attr("instanceid", instance_id.as_str()),
        ),
        VirtualPort::Qbh { profile_id } => (
            "802.1Qbh",
            El::new("parameters").attr("profileid", profile_id.as_str()),
        ),
    };
    El::new("virtualport").attr("type", ty).child(p)
}

impl HostdevPci {
    /// `LibvirtConfigGuestHostdevPCI.format_dom`: mode, type, managed; the address without
    /// a `type` attribute.
    pub fn to_el(&self) -> El {
        El::new("hostdev")
            .attr("mode", "subsystem")
            .attr("type", "pci")
            .attr("managed", yes_no(self.managed))
            .child(El::new("source").child(pci_address(&self.address, false)))
    }
}

impl Device {
    pub fn to_el(&self) -> El {
        match self {
            Device::Interface(i) => i.to_el(),
            Device::Hostdev(h) => h.to_el(),
        }
    }

    /// The device element, indented, without a trailing newline.
    pub fn to_xml(&self) -> String {
        self.to_el().to_xml()
    }
}
