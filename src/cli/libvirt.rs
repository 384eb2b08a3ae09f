//! `vifman vif libvirt` and the `--libvirt` output of `allocate` and `plug`: the libvirt
//! device element for a VIF, built by [`crate::libvirt`].

use anyhow::anyhow;
use clap::Args;

use super::hostargs::RootArgs;
use crate::libvirt::{self, NicModel, Options};
use crate::vif::VersionedObject;

/// `--model`: a NIC model, or `none` to let the hypervisor pick (clap would read a bare
/// `Option` as "flag may be absent", hence the wrapper).
#[derive(Debug, Clone)]
pub struct ModelChoice(pub Option<NicModel>);

fn parse_model(s: &str) -> Result<ModelChoice, String> {
    if s == "none" {
        return Ok(ModelChoice(None));
    }
    s.parse().map(|m| ModelChoice(Some(m)))
}

#[derive(Debug, Args)]
pub struct LibvirtArgs {
    #[command(flatten)]
    pub input: super::vif::Input,
    /// Guest NIC model for virtio-capable interfaces (nova's default on kvm/qemu is virtio);
    /// `none` leaves it to the hypervisor. Never written for a VF (type='hostdev').
    #[arg(long, value_name = "MODEL|none", default_value = "virtio", value_parser = parse_model)]
    pub model: ModelChoice,
    /// The PCI function is already bound to vfio-pci (e.g. `allocate --mode hostdev-vfio`):
    /// write managed='no' so libvirt does not rebind it. Default managed='yes', as nova.
    #[arg(long)]
    pub unmanaged: bool,
    /// The VIF has been plugged by `vifman plug`: refer to the TAP/macvtap it created
    /// (type='ethernet', managed='no') instead of having libvirt create one.
    #[arg(long)]
    pub plugged: bool,
    /// Where to look up the netdev of a VIFDirect's dev_address (the macvtap's lower device).
    #[command(flatten)]
    pub root: RootArgs,
}

/// The device element for `vif`, read against the sysfs tree `root` for VIFDirect.
pub fn render(vif: &VersionedObject, opts: &Options, root: &RootArgs) -> anyhow::Result<String> {
    // Only VIFDirect needs sysfs; do not require a sysfs tree for anything else.
    let dev = if vif.name() == "VIFDirect" && !opts.plugged {
        let sysfs = root.open()?;
        let netdev_of = libvirt::sysfs_netdev(&sysfs);
        libvirt::device(vif, opts, &netdev_of)
    } else {
        libvirt::device(vif, opts, &|a| {
            Err(libvirt::LibvirtError::Netdev {
                addr: a,
                msg: "not looked up".into(),
            })
        })
    };
    let dev = dev.map_err(|e| anyhow!("libvirt device for {}: {e}", vif.name()))?;
    Ok(dev.to_xml())
}

pub fn run(args: LibvirtArgs) -> anyhow::Result<()> {
    let vif = super::vif::read_input(&args.input)?;
    let opts = Options {
        model: args.model.0,
        hostdev_managed: !args.unmanaged,
        plugged: args.plugged,
    };
    println!("{}", render(&vif, &opts, &args.root)?);
    Ok(())
}
