//! `vifman plug`, `vifman unplug` and `vifman host-info`: the os-vif `plug`/`unplug`/
//! `host_info` calls as commands, over the software backends in [`crate::backend`].

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Args;
use serde_json::Value as J;

use crate::backend::{self, Config, Instance};
use crate::vif::{from_primitive, Mode, VersionedObject};

/// A year: what "no timeout" means for waits that need a deadline.
const FOREVER: u64 = 365 * 24 * 3600;

#[derive(Debug, Args)]
pub struct PlugArgs {
    /// File with the VIF primitive JSON, or '-' for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: String,
    /// Accept everything os-vif accepts (truthy strings as booleans, non-UUID ids, ...).
    #[arg(long)]
    pub lenient: bool,
    /// InstanceInfo primitive (JSON file) instead of the --instance-* options.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["instance_uuid", "instance_name", "project_id"])]
    pub instance: Option<PathBuf>,
    /// Instance UUID (becomes OVS external_ids:vm-uuid). Validated like `allocate --instance`
    /// and written lower-case and dashed, whatever --lenient says (that flag is about the
    /// os-vif primitives, not vifman's own options).
    #[arg(long, required_unless_present = "instance", value_name = "UUID")]
    pub instance_uuid: Option<crate::types::Uuid>,
    #[arg(long, default_value = "")]
    pub instance_name: String,
    #[arg(long, default_value = "")]
    pub project_id: String,
    /// After the JSON report (plug only), print the libvirt device element for the plugged
    /// VIF (docs/libvirt.md): TAPs and macvtaps vifman created appear as
    /// type='ethernet' managed='no'.
    #[arg(long)]
    pub libvirt: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
}

#[derive(Debug, Args)]
pub struct BackendArgs {
    /// OVSDB remote, as os-vif's ovsdb_connection: unix:PATH, tcp:IP[:PORT] or
    /// ssl:IP[:PORT] (port 6640 by default; os-vif's own default is tcp:127.0.0.1:6640).
    #[arg(
        long,
        value_name = "unix:PATH|tcp:IP:PORT|ssl:IP:PORT",
        env = "VIFMAN_OVSDB",
        default_value = "unix:/var/run/openvswitch/db.sock"
    )]
    pub ovsdb: String,
    /// ssl: remotes: our private key (PEM), as ovs-vsctl --private-key / ovsdbapp ssl_key_file.
    #[arg(long, value_name = "FILE", env = "VIFMAN_OVSDB_PRIVATE_KEY", requires_all = ["certificate", "ca_cert"])]
    pub private_key: Option<PathBuf>,
    /// ssl: remotes: our certificate (PEM), as ovs-vsctl --certificate / ssl_cert_file.
    #[arg(long, value_name = "FILE", env = "VIFMAN_OVSDB_CERTIFICATE", requires_all = ["private_key", "ca_cert"])]
    pub certificate: Option<PathBuf>,
    /// ssl: remotes: the CA the server's certificate must chain to (PEM), as ovs-vsctl
    /// --ca-cert / ssl_ca_cert_file. Host names are not checked, as in OVS.
    #[arg(long, value_name = "FILE", env = "VIFMAN_OVSDB_CA_CERT", requires_all = ["private_key", "certificate"])]
    pub ca_cert: Option<PathBuf>,
    /// Seconds to wait for OVSDB and for ovs-vswitchd to apply a change; 0 waits
    /// indefinitely, like os-vif's ovs_vsctl_timeout.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub ovs_timeout: u64,
    /// Put new OVS ports on VLAN 4095 until an agent wires them (os-vif isolate_vif).
    #[arg(long)]
    pub isolate_vif: bool,
    /// Plug each VIFOpenVSwitch into its own OVS bridge `pb<id>` (first 14 characters),
    /// joined to network.bridge by the patch ports `pbp<id>` / `ibp<id>`; the integration
    /// side carries the external_ids (os-vif per_port_bridge). Other VIF kinds ignore it,
    /// as in os-vif. Plug and unplug must agree on it.
    #[arg(long)]
    pub per_port_bridge: bool,
    /// MTU when network.mtu is unset or 0.
    #[arg(long, default_value_t = 1500)]
    pub network_device_mtu: u32,
    /// Create a missing Linux bridge even if the network does not ask for it.
    #[arg(long)]
    pub create_bridge: bool,
    /// Datapath type for a new OVS bridge when the port profile names none.
    #[arg(long, default_value = "system")]
    pub datapath_type: String,
    /// QoS type of the row attached to a new OVS port whose profile datapath is system
    /// (os-vif default_qos_type; linux-noop: OVS leaves the port's qdisc alone).
    #[arg(long, default_value = backend::ovs::qos::DEFAULT_QOS_TYPE,
          value_parser = clap::builder::PossibleValuesParser::new(backend::ovs::qos::QOS_TYPES))]
    pub default_qos_type: String,
    /// Directory that plays the role of `/` for sysfs reads (representor discovery, the
    /// netdev of a VIFDirect's dev_address), as in every other vifman command.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub sysfs_root: PathBuf,
    /// vhost-user without OVS, mode=client: fail unless a backend listens on the socket.
    #[arg(long)]
    pub require_peer: bool,
    /// Group id to own a vhost-user socket directory that vifman creates.
    #[arg(long, value_name = "GID")]
    pub socket_group: Option<u32>,
    /// vifman's run-time directory: lock files that serialise concurrent plug/unplug of the
    /// same VIF, bridge or port [default: /run/vifman, or $XDG_RUNTIME_DIR/vifman if not root].
    #[arg(long, value_name = "DIR", env = "VIFMAN_RUN_DIR")]
    pub run_dir: Option<PathBuf>,
}

impl BackendArgs {
    pub fn config(&self) -> Config {
        Config {
            ovsdb: self.ovsdb.clone(),
            ovsdb_tls: match (&self.private_key, &self.certificate, &self.ca_cert) {
                (Some(k), Some(c), Some(ca)) => Some(backend::ovs::remote::TlsFiles {
                    private_key: k.clone(),
                    certificate: c.clone(),
                    ca_cert: ca.clone(),
                }),
                _ => None,
            },
            // 0 waits "indefinitely"; so does any longer value (u64::MAX seconds would
            // overflow the deadline it is added to).
            ovs_timeout: match self.ovs_timeout {
                0 => Duration::from_secs(FOREVER),
                s => Duration::from_secs(s.min(FOREVER)),
            },
            isolate_vif: self.isolate_vif,
            per_port_bridge: self.per_port_bridge,
            network_device_mtu: self.network_device_mtu,
            create_bridge: self.create_bridge,
            default_datapath_type: self.datapath_type.clone(),
            default_qos_type: self.default_qos_type.clone(),
            sysfs_root: self.sysfs_root.clone(),
            require_peer: self.require_peer,
            socket_dir_gid: self.socket_group,
            run_dir: self
                .run_dir
                .clone()
                .unwrap_or_else(backend::rundir::default_dir),
        }
    }
}

#[derive(Debug, Args)]
pub struct HostInfoArgs {
    /// Only these VIF classes (os-vif `permitted_vif_type_names`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub permitted: Vec<String>,
    /// Compact output instead of pretty-printed JSON.
    #[arg(long)]
    pub compact: bool,
}

fn load(file: &str, lenient: bool) -> anyhow::Result<VersionedObject> {
    let text = if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading stdin")?;
        s
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?
    };
    let json: J =
        serde_json::from_str(&text).map_err(|e| anyhow!("{file}: not valid JSON: {e}"))?;
    let mode = if lenient { Mode::Lenient } else { Mode::Strict };
    from_primitive(&json, mode).map_err(|e| anyhow!("{file}: {e}"))
}

fn instance(args: &PlugArgs) -> anyhow::Result<Instance> {
    if let Some(p) = &args.instance {
        let o = load(&p.to_string_lossy(), args.lenient)?;
        return Instance::try_from(&o).with_context(|| format!("{}", p.display()));
    }
    Ok(Instance {
        uuid: args
            .instance_uuid
            .map(|u| u.to_string())
            .unwrap_or_default(),
        name: args.instance_name.clone(),
        project_id: args.project_id.clone(),
    })
}

fn vif_label(vif: &VersionedObject) -> String {
    format!("{} {}", vif.name(), vif.get_str("id").unwrap_or("(no id)"))
}

/// Every backend but vhost-user (whose ports OVS makes) changes links over rtnetlink.
fn needs_net_admin(verb: &str, backend: &str) -> anyhow::Result<()> {
    if backend == "vhostuser" {
        return Ok(());
    }
    super::privilege::require(
        &format!("{verb} ({backend})"),
        &[super::privilege::CAP_NET_ADMIN],
    )
}

pub fn plug(args: PlugArgs) -> anyhow::Result<()> {
    let vif = load(&args.file, args.lenient)?;
    let inst = instance(&args)?;
    let cfg = args.backend.config();
    let b = backend::select(&vif, &cfg).with_context(|| format!("plug {}", vif_label(&vif)))?;
    needs_net_admin("plug", b.name())?;
    let report = b
        .plug(&vif, &inst)
        .with_context(|| format!("plug {} ({})", vif_label(&vif), b.name()))?;
    println!("{}", serde_json::to_string(&report.to_json())?);
    if args.libvirt {
        let opts = crate::libvirt::Options {
            plugged: true,
            ..Default::default()
        };
        let root = super::hostargs::RootArgs {
            sysfs_root: args.backend.sysfs_root.clone(),
        };
        println!("{}", super::libvirt::render(&vif, &opts, &root)?);
    }
    Ok(())
}

pub fn unplug(args: PlugArgs) -> anyhow::Result<()> {
    let vif = load(&args.file, args.lenient)?;
    let inst = instance(&args)?;
    let cfg = args.backend.config();
    let b = backend::select(&vif, &cfg).with_context(|| format!("unplug {}", vif_label(&vif)))?;
    needs_net_admin("unplug", b.name())?;
    let report = b
        .unplug(&vif, &inst)
        .with_context(|| format!("unplug {} ({})", vif_label(&vif), b.name()))?;
    println!("{}", serde_json::to_string(&report.to_json())?);
    Ok(())
}

pub fn host_info(args: HostInfoArgs) -> anyhow::Result<()> {
    let mut hi = backend::host_info(&Config::default());
    if !args.permitted.is_empty() {
        hi = filter_host_info(&hi, &args.permitted)?;
    }
    let out = hi
        .to_primitive(None, None)
        .map_err(|e| anyhow!("encoding HostInfo: {e}"))?;
    if args.compact {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

/// os-vif `host_info(permitted_vif_type_names)`: keep only those VIF classes, drop plugins
/// left with none.
fn filter_host_info(hi: &VersionedObject, permitted: &[String]) -> anyhow::Result<VersionedObject> {
    let mut plugins = vec![];
    for p in hi
        .get("plugin_info")
        .and_then(|v| v.as_list())
        .unwrap_or_default()
    {
        let Some(p) = p.as_obj() else { continue };
        let vifs: Vec<VersionedObject> = p
            .get("vif_info")
            .and_then(|v| v.as_list())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_obj())
            .filter(|v| {
                v.get_str("vif_object_name")
                    .is_some_and(|n| permitted.iter().any(|x| x == n))
            })
            .cloned()
            .collect();
        if vifs.is_empty() {
            continue;
        }
        let mut np = p.clone();
        np.set_obj_list("vif_info", vifs)
            .map_err(|e| anyhow!("{e}"))?;
        plugins.push(np);
    }
    let mut out = VersionedObject::new("HostInfo").map_err(|e| anyhow!("{e}"))?;
    out.set_obj_list("plugin_info", plugins)
        .map_err(|e| anyhow!("{e}"))?;
    Ok(out)
}
