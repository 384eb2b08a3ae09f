//! libvirt device XML for a VIF: the `<interface>` or `<hostdev>` element nova's libvirt
//! driver would put in the domain for the same os-vif object, so that a host run with plain
//! libvirt (no nova) can attach what vifman allocated or plugged.
//!
//! [`device`] reads the VIF through the typed specs (`backend::spec`) into a [`Device`]
//! ([`model`]), which serialises through quick-xml ([`xml`]). See docs/libvirt.md for the
//! mapping and where it differs from nova.

mod build;
pub mod model;
pub mod xml;

use thiserror::Error;

pub use build::default_model;
pub use model::{Device, NicModel};

use crate::backend::BackendError;
use crate::types::PciAddress;
use crate::vif::VersionedObject;

#[derive(Debug, Error)]
pub enum LibvirtError {
    /// The VIF lacks a field the device needs, or a field has a bad value.
    #[error(transparent)]
    Vif(#[from] BackendError),
    /// A VIF libvirt has no device for (or nova refuses too).
    #[error("no libvirt device for this VIF: {0}")]
    Unsupported(String),
    /// The netdev of a PCI function (the source of a macvtap) could not be found.
    #[error("netdev of {addr}: {msg}")]
    Netdev { addr: PciAddress, msg: String },
}

/// What the device depends on beyond the VIF itself.
#[derive(Debug, Clone)]
pub struct Options {
    /// `<model type=...>` for virtio-capable NICs (nova: virtio on kvm/qemu); `None` lets
    /// the hypervisor choose. Never written for a VF (`type='hostdev'`), as in nova.
    pub model: Option<NicModel>,
    /// `managed` of a hostdev: `true` lets libvirt bind the function to vfio-pci and back
    /// (nova always does); `false` when it is already bound (vifman's `hostdev-vfio`).
    pub hostdev_managed: bool,
    /// The VIF has been plugged by vifman: TAPs and macvtaps it created exist, so they are
    /// referenced as `type='ethernet'` with `managed='no'` instead of being created again.
    pub plugged: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            model: default_model(),
            hostdev_managed: true,
            plugged: false,
        }
    }
}

/// The libvirt device for `vif`. `netdev_of` names the netdev of a PCI function (the lower
/// device of a VIFDirect's macvtap); it is only called for VIFDirect.
pub fn device(
    vif: &VersionedObject,
    opts: &Options,
    netdev_of: &dyn Fn(PciAddress) -> Result<String, LibvirtError>,
) -> Result<Device, LibvirtError> {
    let _s = tracing::debug_span!("libvirt_device", class = vif.name(), plugged = opts.plugged)
        .entered();
    let d = build::device(vif, opts, netdev_of)?;
    tracing::debug!(?d, "device");
    Ok(d)
}

/// A `netdev_of` that reads sysfs under `root` (the same lookup `vifman plug` uses).
pub fn sysfs_netdev(
    root: &crate::sysfs::SysfsRoot,
) -> impl Fn(PciAddress) -> Result<String, LibvirtError> + '_ {
    move |addr| {
        crate::backend::direct::netdev_of(root, addr).map_err(|e| LibvirtError::Netdev {
            addr,
            msg: e.to_string(),
        })
    }
}
