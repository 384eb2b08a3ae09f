//! VIF → libvirt device, one function per os-vif class, each mirroring the nova code that
//! handles that class (nova/virt/libvirt/vif.py `LibvirtGenericVIFDriver` and the
//! `designer.set_vif_host_backend_*` helpers). Where nova has no os-vif path (VIFDirect,
//! generic VIFHostDevice) the legacy `vif_type` path that builds the same device is followed
//! and named. Deviations are listed in docs/libvirt.md.

use super::model::{Device, HostdevPci, Interface, NicModel, Source, Target, VirtualPort};
use super::{LibvirtError, Options};
use crate::backend::spec::{
    bridge_of, network_mtu, network_vlan, opt_ifname, DirectMode, DirectVif, GuestProfile,
    HostDevType, HostDeviceVif, SocketPath, VhostMode,
};
use crate::backend::BackendError;
use crate::types::{IfName, MacAddress, PciAddress};
use crate::vif::VersionedObject;

type Result<T> = std::result::Result<T, LibvirtError>;

fn field<T: std::str::FromStr>(vif: &VersionedObject, name: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let s = vif
        .get_str(name)
        .ok_or_else(|| BackendError::InvalidVif(format!("{}.{name} is not set", vif.name())))?;
    s.parse()
        .map_err(|e: T::Err| BackendError::InvalidVif(format!("{}.{name}: {e}", vif.name())).into())
}

fn mac(vif: &VersionedObject) -> Result<Option<MacAddress>> {
    vif.get_str("address")
        .map(|_| field(vif, "address"))
        .transpose()
}

/// `get_base_config` for a virtio-capable vnic type: MAC and model (nova: virtio on kvm/qemu
/// unless the image says otherwise; here `--model`).
fn base(vif: &VersionedObject, source: Source, opts: &Options) -> Result<Interface> {
    Ok(Interface {
        source,
        mac: mac(vif)?,
        model: opts.model.clone(),
        driver: None,
        mtu: None,
        vlan: None,
        target: None,
        virtualport: None,
    })
}

/// `_get_config_os_vif`'s tail: `set_vif_mtu_config` when the network states an MTU
/// (written out for bridge and ethernet only, by `format_dom`).
fn with_mtu(mut i: Interface, vif: &VersionedObject) -> Result<Interface> {
    i.mtu = network_mtu(vif)?;
    Ok(i)
}

fn target(dev: IfName, managed: Option<bool>) -> Option<Target> {
    Some(Target { dev, managed })
}

/// `_set_config_VIFGeneric` → `set_vif_host_backend_ethernet_config(conf, vif.vif_name)`.
/// Plugged by vifman, the TAP exists and is vifman's: `managed='no'`.
fn generic(vif: &VersionedObject, opts: &Options) -> Result<Interface> {
    let mut i = base(vif, Source::Ethernet, opts)?;
    i.target = target(field(vif, "vif_name")?, opts.plugged.then_some(false));
    with_mtu(i, vif)
}

/// `_set_config_VIFBridge`: `type='bridge'`, source `bridge_name`, target `vif_name`; the
/// port profile (hybrid OVS) is not written, as in nova. After `vifman plug` on the Linux
/// bridge backend the TAP already exists on the bridge: `type='ethernet' managed='no'`.
fn bridge(vif: &VersionedObject, opts: &Options) -> Result<Interface> {
    let hybrid = matches!(
        GuestProfile::of(vif)?,
        Some(GuestProfile::OpenVSwitch { .. })
    );
    if opts.plugged && !hybrid {
        return generic(vif, opts);
    }
    let mut i = base(vif, Source::Bridge(bridge_of(vif)?), opts)?;
    i.target = target(field(vif, "vif_name")?, None);
    with_mtu(i, vif)
}

/// `_set_config_VIFOpenVSwitch` as of nova 2025.2+: `create_tap` → ethernet with
/// `managed='no'` (os-vif made the TAP); `create_port` → ethernet (libvirt makes the TAP,
/// os-vif the port); neither → `type='bridge'` with `<virtualport type='openvswitch'>`.
fn ovs(vif: &VersionedObject, opts: &Options) -> Result<Interface> {
    let Some(GuestProfile::OpenVSwitch {
        interface_id,
        create_port,
        create_tap,
    }) = GuestProfile::of(vif)?
    else {
        return Err(LibvirtError::Unsupported(
            "VIFOpenVSwitch without a VIFPortProfileOpenVSwitch port profile".into(),
        ));
    };
    let vif_name: IfName = field(vif, "vif_name")?;
    if create_tap {
        let mut i = base(vif, Source::Ethernet, opts)?;
        i.target = target(vif_name, Some(false));
        return with_mtu(i, vif);
    }
    if create_port {
        let mut i = base(vif, Source::Ethernet, opts)?;
        i.target = target(vif_name, None);
        return with_mtu(i, vif);
    }
    let mut i = base(vif, Source::Bridge(bridge_of(vif)?), opts)?;
    i.target = target(vif_name, None);
    i.virtualport = Some(VirtualPort::OpenVSwitch { interface_id });
    with_mtu(i, vif)
}

/// `_set_config_VIFVHostUser` → `set_vif_host_backend_vhostuser_config(conf, vif.mode,
/// vif.path, rx, tx, vif.vif_name)`: no driver name; nova sets the MTU on the config but
/// `format_dom` does not write it for vhostuser, so neither do we.
fn vhostuser(vif: &VersionedObject, opts: &Options) -> Result<Interface> {
    let mode: VhostMode = field(vif, "mode")?;
    let path: SocketPath = field(vif, "path")?;
    let mut i = base(vif, Source::VhostUser { mode, path }, opts)?;
    i.target = opt_ifname(vif, "vif_name")?.and_then(|d| target(d, None));
    Ok(i)
}

/// VIFHostDevice. `ethernet`: `_set_config_VIFHostDevice` → `set_vif_host_backend_hw_veb(conf,
/// 'hostdev', dev_address, vlan)`; the base config of a `direct` vnic has no model. nova's
/// os-vif path passes `vlan=None` (its SR-IOV agent tags the VF); the legacy `hw_veb` path,
/// which builds the same element, passes the port's VLAN — vifman is that agent, so the VLAN
/// the VF was allocated with is written. `generic`: nova's os-vif path refuses it; its
/// legacy `get_config_hostdev_physical` builds `<hostdev mode='subsystem' type='pci'>`.
fn hostdev(vif: &VersionedObject, opts: &Options) -> Result<Device> {
    let h = HostDeviceVif::try_from(vif)?;
    Ok(match h.dev_type {
        HostDevType::Ethernet => Device::Interface(Interface {
            source: Source::Hostdev {
                address: h.dev_address,
                managed: opts.hostdev_managed,
            },
            mac: h.address,
            model: None,
            driver: None,
            mtu: None,
            vlan: h.vlan,
            target: None,
            virtualport: None,
        }),
        HostDevType::Generic => Device::Hostdev(HostdevPci {
            address: h.dev_address,
            managed: opts.hostdev_managed,
        }),
    })
}

/// VIFDirect (nova has no os-vif path for it; these are its legacy builders of the same
/// `type='direct'` element):
/// * 802.1Qbg profile → `get_config_802qbg` / `set_vif_host_backend_802qbg_config`: vepa.
/// * 802.1Qbh profile → `get_config_802qbh` (macvtap vnic) / `set_vif_host_backend_802qbh_config(conf,
///   'direct', ...)`: passthrough, driver vhost.
/// * passthrough, no profile → `get_config_hw_veb` (macvtap vnic, an SR-IOV VF): driver
///   vhost and the VF's VLAN.
/// * vepa/bridge, no profile → `get_config_macvtap` / `set_vif_host_backend_direct_config`.
///
/// The source is the netdev of `dev_address` (nova: `get_ifname_by_pci_address`). Plugged
/// by vifman, the macvtap `vif_name` exists: `type='ethernet'` with `managed='no'`.
fn direct(
    vif: &VersionedObject,
    opts: &Options,
    netdev_of: &dyn Fn(PciAddress) -> Result<String>,
) -> Result<Interface> {
    let d = DirectVif::try_from(vif)?;
    if opts.plugged {
        let mut i = base(vif, Source::Ethernet, opts)?;
        i.target = target(d.vif_name, Some(false));
        return with_mtu(i, vif);
    }
    let profile = GuestProfile::of(vif)?;
    let wanted = match &profile {
        Some(GuestProfile::Qbg { .. }) => Some(DirectMode::Vepa),
        Some(GuestProfile::Qbh { .. }) => Some(DirectMode::Passthrough),
        _ => None,
    };
    if let Some(w) = wanted.filter(|w| *w != d.mode) {
        return Err(LibvirtError::Unsupported(format!(
            "VIFDirect mode {} with a {} port profile: libvirt needs mode {}",
            d.mode.as_str(),
            vif.get_obj("port_profile").map_or("", |p| p.name()),
            w.as_str()
        )));
    }
    let name = netdev_of(d.dev_address)?;
    let dev: IfName = name.parse().map_err(|e| LibvirtError::Netdev {
        addr: d.dev_address,
        msg: format!("{name:?}: {e}"),
    })?;
    let mut i = base(vif, Source::Direct { dev, mode: d.mode }, opts)?;
    match profile {
        Some(GuestProfile::Qbg {
            manager_id,
            type_id,
            type_id_version,
            instance_id,
        }) => {
            i.virtualport = Some(VirtualPort::Qbg {
                manager_id,
                type_id,
                type_id_version,
                instance_id,
            })
        }
        Some(GuestProfile::Qbh { profile_id }) => {
            i.driver = Some("vhost");
            i.virtualport = Some(VirtualPort::Qbh { profile_id });
        }
        Some(GuestProfile::OpenVSwitch { .. }) => {
            return Err(LibvirtError::Unsupported(
                "VIFDirect with an Open vSwitch port profile".into(),
            ))
        }
        _ if d.mode == DirectMode::Passthrough => {
            i.driver = Some("vhost");
            i.vlan = network_vlan(vif)?;
        }
        _ => {}
    }
    Ok(i)
}

pub(super) fn device(
    vif: &VersionedObject,
    opts: &Options,
    netdev_of: &dyn Fn(PciAddress) -> Result<String>,
) -> Result<Device> {
    Ok(match vif.name() {
        "VIFGeneric" => Device::Interface(generic(vif, opts)?),
        "VIFBridge" => Device::Interface(bridge(vif, opts)?),
        "VIFOpenVSwitch" => Device::Interface(ovs(vif, opts)?),
        "VIFVHostUser" => Device::Interface(vhostuser(vif, opts)?),
        "VIFHostDevice" => hostdev(vif, opts)?,
        "VIFDirect" => Device::Interface(direct(vif, opts, netdev_of)?),
        other => {
            return Err(LibvirtError::Unsupported(format!(
                "{other} is not a VIF (no libvirt device for it)"
            )))
        }
    })
}

/// nova's default model, for callers that build [`Options`] by hand.
pub fn default_model() -> Option<NicModel> {
    Some(NicModel::virtio())
}
