//! The os-vif `ovs` plugin's behaviour (vif_plug_ovs 5.3.0) over our own OVSDB client:
//! naming, external_ids, isolate_vif, MTU, create_port/create_tap, vhost-user port types and
//! switchdev representors. Every plug ends with "ovs-vswitchd applied it" (cur_cfg) and an
//! Interface.error check, so success means the datapath port exists, not just a DB row.

use std::collections::BTreeMap;

use serde_json::{json, Value as J};

use super::client::{self, as_uuid, map, named, op, set_items, uuid, Client};
use super::jsonrpc::OvsdbError;
use crate::backend::bridge::TapSpec;
use crate::backend::rtnl::{LinkChange, Request, Rtnl};
use crate::backend::{
    check_ifname, get_bool, parse_mac, plugin_info, req_str, sysfs, tap, vif_mtu, Backend,
    BackendError, Config, Instance, Report, Result,
};
use crate::vif::VersionedObject;

/// os-vif's `NIC_NAME_LEN`: generated names are cut to 14 characters.
const NIC_NAME_LEN: usize = 14;
/// The "dead VLAN" isolate_vif parks new ports on.
const DEAD_VLAN: i64 = 4095;

/// `prefix + vif.id`, cut to 14 characters, as os-vif names vhu/vfr/qvo ports.
pub fn derived_name(prefix: &str, id: &str) -> String {
    format!("{prefix}{id}").chars().take(NIC_NAME_LEN).collect()
}

/// Everything one OVS port needs, resolved from the VIF before anything is touched.
#[derive(Debug, Clone)]
pub struct PortSpec {
    pub bridge: String,
    pub datapath_type: String,
    /// The profile named a datapath: an existing bridge is switched to it (os-vif does so).
    pub datapath_explicit: bool,
    pub port: String,
    /// `Interface.type`: None for a kernel netdev, else `dpdkvhostuser`, `dpdk`, ...
    pub iface_type: Option<String>,
    pub options: Vec<(String, String)>,
    pub external_ids: Vec<(String, String)>,
    pub mtu: u32,
    /// vhost-user ports get `mtu_request`; kernel netdevs get their MTU over netlink.
    pub mtu_request: bool,
    /// Without create_port os-vif only ensures the bridge and leaves the port to libvirt.
    pub create_port: bool,
    pub create_tap: Option<TapSpec>,
    /// Delete the kernel netdev on unplug (taps, not representors).
    pub delete_netdev: bool,
    /// A kernel representor: set up on plug, down on unplug.
    pub representor: bool,
    pub isolate: bool,
}

pub struct Ovs {
    cfg: Config,
}

/// What a transaction created, for rollback and reporting.
#[derive(Debug, Default)]
struct Created {
    bridges: Vec<(String, String)>,
    ports: Vec<(String, String, String)>,
}

impl Ovs {
    pub fn new(cfg: Config) -> Self {
        Ovs { cfg }
    }

    fn connect(&self) -> Result<Client> {
        Ok(Client::connect(&self.cfg.ovsdb, self.cfg.ovs_timeout)?)
    }

    /// Resolves a VIF to a port, applying os-vif's preconditions and naming.
    pub fn port_spec(&self, vif: &VersionedObject, instance: &Instance) -> Result<PortSpec> {
        let profile = vif.get_obj("port_profile").ok_or_else(|| {
            BackendError::InvalidVif(
                "A port profile is mandatory for the OpenVSwitch plugin".into(),
            )
        })?;
        if !profile.class.is_a("VIFPortProfileOpenVSwitch") {
            return Err(BackendError::InvalidVif(format!(
                "Port profile {} is not a subclass of VIFPortProfileOpenVSwitch",
                profile.name()
            )));
        }
        let network = vif
            .get_obj("network")
            .ok_or_else(|| BackendError::InvalidVif("VIF network is required".into()))?;
        let bridge = req_str(network, "bridge")?.to_string();
        check_ifname(&bridge)?;
        let id = req_str(vif, "id")?;
        let address = req_str(vif, "address")?;
        parse_mac(address)?;
        let interface_id = req_str(profile, "interface_id")?;
        let dp = profile.get_str("datapath_type").filter(|s| !s.is_empty());

        let mut external_ids = vec![
            ("iface-id".to_string(), interface_id.to_string()),
            ("iface-status".into(), "active".into()),
            ("attached-mac".into(), address.to_string()),
            ("vm-uuid".into(), instance.uuid.clone()),
        ];
        if bridge.starts_with("tbr-") {
            external_ids.push(("bridge_name".into(), bridge.clone()));
        }
        let mut spec = PortSpec {
            bridge: bridge.clone(),
            datapath_type: dp.unwrap_or(&self.cfg.default_datapath_type).to_string(),
            datapath_explicit: dp.is_some(),
            port: String::new(),
            iface_type: None,
            options: vec![],
            external_ids,
            mtu: 0,
            mtu_request: false,
            create_port: true,
            create_tap: None,
            delete_netdev: false,
            representor: false,
            isolate: self.cfg.isolate_vif && !bridge.starts_with("tbr-"),
        };
        match vif.name() {
            "VIFOpenVSwitch" => {
                spec.port = req_str(vif, "vif_name")?.to_string();
                check_ifname(&spec.port)?;
                spec.mtu = vif_mtu(vif, &self.cfg, &spec.port)?;
                spec.create_port = get_bool(profile, "create_port");
                spec.delete_netdev = true;
                if get_bool(profile, "create_tap") {
                    spec.create_tap = Some(TapSpec {
                        name: spec.port.clone(),
                        mtu: spec.mtu,
                        mac: Some(parse_mac(address)?),
                        multiqueue: get_bool(profile, "multiqueue"),
                    });
                }
            }
            "VIFVHostUser" => {
                spec.port = derived_name("vhu", id);
                spec.mtu = vif_mtu(vif, &self.cfg, &spec.port)?;
                spec.mtu_request = true;
                if dp.is_none() {
                    spec.datapath_type = "netdev".into();
                }
                match req_str(vif, "mode")? {
                    "client" => spec.iface_type = Some("dpdkvhostuser".into()),
                    "server" => {
                        spec.iface_type = Some("dpdkvhostuserclient".into());
                        spec.options =
                            vec![("vhost-server-path".into(), req_str(vif, "path")?.into())];
                    }
                    m => {
                        return Err(BackendError::InvalidVif(format!(
                            "VIFVHostUser.mode {m:?} is neither client nor server"
                        )))
                    }
                }
            }
            "VIFBridge" => {
                // Hybrid plug: the OVS port is the qvo end of a veth whose qvb end sits
                // in the Linux bridge `vif.bridge_name`; see `hybrid`.
                spec.port = derived_name("qvo", id);
                spec.mtu = vif_mtu(vif, &self.cfg, &spec.port)?;
            }
            "VIFHostDevice" => {
                let vf = req_str(vif, "dev_address")?;
                let root = &self.cfg.sysfs_root;
                if spec.datapath_type == "netdev" {
                    let loc = sysfs::vf_location(root, vf)?;
                    spec.port = derived_name("vfr", id);
                    spec.iface_type = Some("dpdk".into());
                    spec.options = vec![(
                        "dpdk-devargs".into(),
                        format!("{},representor=[{}]", loc.pf_pci, loc.vf_num),
                    )];
                } else {
                    spec.port = sysfs::find_representor(root, vf)?;
                    spec.representor = true;
                }
                spec.mtu = vif_mtu(vif, &self.cfg, &spec.port)?;
            }
            other => {
                return Err(BackendError::Unsupported(format!(
                    "the ovs backend does not plug {other}"
                )))
            }
        }
        check_ifname(&spec.port)?;
        Ok(spec)
    }

    /// Plugs many ports: kernel preparation per port, then ONE OVSDB transaction and one
    /// wait for ovs-vswitchd. On any failure everything this call created is removed.
    pub fn plug_specs(&self, specs: &[PortSpec]) -> Result<Report> {
        let _s = tracing::info_span!("ovs_plug", n = specs.len()).entered();
        let mut report = Report::new("ovs");
        // Connect first: an unreachable OVSDB must not leave a tap behind.
        let mut c = self.connect()?;
        let mut rt: Option<Rtnl> = None;
        let mut taps_created: Vec<String> = vec![];
        let kernel = (|| -> Result<()> {
            for s in specs {
                if s.create_tap.is_none() && !s.representor {
                    continue;
                }
                let rt = match rt.as_mut() {
                    Some(r) => r,
                    None => rt.insert(
                        Rtnl::open().map_err(|e| BackendError::netlink("open rtnetlink", e))?,
                    ),
                };
                if let Some(t) = &s.create_tap {
                    if prepare_tap(rt, t)? {
                        taps_created.push(t.name.clone());
                    }
                } else {
                    set_netdev(rt, &s.port, Some(true), Some(s.mtu), true)?;
                }
            }
            Ok(())
        })();
        let result = kernel.and_then(|()| self.transact_ports(&mut c, specs, &mut report));
        if let Err(e) = result {
            if !taps_created.is_empty() {
                if let Some(rt) = rt.as_mut() {
                    for t in &taps_created {
                        let _ = delete_netdev(rt, t);
                    }
                }
            }
            return Err(e);
        }
        for t in taps_created {
            report.actions.push(format!("created tap {t}"));
        }
        // os-vif sets the kernel MTU of an existing non-vhost netdev (libvirt-made taps).
        for s in specs {
            if !s.mtu_request && s.create_tap.is_none() && !s.representor {
                let rt = match rt.as_mut() {
                    Some(r) => r,
                    None => rt.insert(
                        Rtnl::open().map_err(|e| BackendError::netlink("open rtnetlink", e))?,
                    ),
                };
                set_netdev(rt, &s.port, None, Some(s.mtu), false)?;
            }
        }
        Ok(report)
    }

    fn transact_ports(
        &self,
        c: &mut Client,
        specs: &[PortSpec],
        report: &mut Report,
    ) -> Result<()> {
        let mut attempt = 0;
        let created = loop {
            attempt += 1;
            match self.write_ports(c, specs) {
                Ok(c) => break c,
                // A guard saw a concurrent change between our read and our write: re-read.
                Err(BackendError::Ovsdb(OvsdbError::Rejected { error, .. }))
                    if error == "timed out" && attempt < 4 =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        };
        // Confirm the datapath accepted each interface.
        let check = (|| -> Result<BTreeMap<String, J>> {
            let ops = specs
                .iter()
                .filter(|s| s.create_port)
                .map(|s| {
                    op::select(
                        "Interface",
                        op::name_is(&s.port),
                        &["name", "error", "ofport", "status", "mtu"],
                    )
                })
                .collect::<Vec<_>>();
            if ops.is_empty() {
                return Ok(BTreeMap::new());
            }
            let res = c.transact(ops)?;
            let mut out = BTreeMap::new();
            for r in &res {
                for row in Client::rows(r) {
                    let name = row["name"].as_str().unwrap_or_default().to_string();
                    let errs: Vec<String> = set_items(&row["error"])
                        .iter()
                        .filter_map(|e| e.as_str().map(str::to_string))
                        .collect();
                    if let Some(e) = errs.first() {
                        return Err(OvsdbError::Interface {
                            name,
                            error: e.clone(),
                        }
                        .into());
                    }
                    out.insert(name, row);
                }
            }
            Ok(out)
        })();
        match check {
            Ok(rows) => {
                for (b, _) in &created.bridges {
                    report.actions.push(format!("created OVS bridge {b}"));
                }
                for (p, b, _) in &created.ports {
                    report.actions.push(format!("added port {p} to {b}"));
                }
                if let [s] = specs {
                    report
                        .details
                        .insert("bridge".into(), s.bridge.clone().into());
                    report.details.insert("port".into(), s.port.clone().into());
                    if let Some(row) = rows.get(&s.port) {
                        report
                            .details
                            .insert("ofport".into(), row["ofport"].clone());
                        let st = client::map_pairs(&row["status"]);
                        if !st.is_empty() {
                            report.details.insert(
                                "status".into(),
                                J::Object(st.into_iter().map(|(k, v)| (k, J::from(v))).collect()),
                            );
                        }
                    }
                }
                Ok(())
            }
            Err(e) => {
                if let Err(re) = self.rollback(c, &created) {
                    tracing::warn!(error = %re, "OVS rollback failed");
                }
                Err(e)
            }
        }
    }

    /// One read transaction, then one guarded write transaction (plus next_cfg bump), then
    /// the wait for ovs-vswitchd.
    fn write_ports(&self, c: &mut Client, specs: &[PortSpec]) -> Result<Created> {
        let mut reads = vec![op::select(
            "Bridge",
            op::all(),
            &["_uuid", "name", "datapath_type", "ports"],
        )];
        for s in specs {
            reads.push(op::select("Port", op::name_is(&s.port), &["_uuid", "name"]));
        }
        let res = c.transact(reads)?;
        let bridges: Vec<J> = Client::rows(&res[0]);
        let bridge_row = |name: &str| bridges.iter().find(|b| b["name"] == name);
        let bridge_of = |port_uuid: &str| {
            bridges.iter().find(|b| {
                set_items(&b["ports"])
                    .iter()
                    .any(|p| as_uuid(p) == Some(port_uuid))
            })
        };

        let mut ops: Vec<J> = vec![];
        let mut created = Created::default();
        // bridge name -> reference usable in this transaction
        let mut bridge_ref: BTreeMap<String, J> = BTreeMap::new();
        let mut pending_bridge_inserts: Vec<(String, usize)> = vec![];
        let mut port_inserts: Vec<(String, String, usize)> = vec![];
        for (i, s) in specs.iter().enumerate() {
            if !bridge_ref.contains_key(&s.bridge) {
                match bridge_row(&s.bridge) {
                    Some(b) => {
                        let u = as_uuid(&b["_uuid"]).unwrap_or_default().to_string();
                        if s.datapath_explicit && b["datapath_type"] != s.datapath_type.as_str() {
                            ops.push(op::update(
                                "Bridge",
                                op::uuid_is(&u),
                                json!({"datapath_type": s.datapath_type}),
                            ));
                        }
                        bridge_ref.insert(s.bridge.clone(), uuid(&u));
                    }
                    None => {
                        let n = format!("br{i}");
                        ops.push(op::wait(
                            "Bridge",
                            op::name_is(&s.bridge),
                            &["name"],
                            json!([]),
                            0,
                        ));
                        ops.push(op::insert(
                            "Interface",
                            json!({"name": s.bridge, "type": "internal"}),
                            &format!("brif{i}"),
                        ));
                        ops.push(op::insert(
                            "Port",
                            json!({"name": s.bridge, "interfaces": named(&format!("brif{i}"))}),
                            &format!("brport{i}"),
                        ));
                        pending_bridge_inserts.push((s.bridge.clone(), ops.len()));
                        ops.push(op::insert(
                            "Bridge",
                            json!({"name": s.bridge, "datapath_type": s.datapath_type,
                                   "ports": named(&format!("brport{i}"))}),
                            &n,
                        ));
                        ops.push(op::mutate(
                            "Open_vSwitch",
                            op::all(),
                            json!([["bridges", "insert", ["set", [named(&n)]]]]),
                        ));
                        bridge_ref.insert(s.bridge.clone(), named(&n));
                    }
                }
            }
            if !s.create_port {
                continue;
            }
            let existing = Client::rows(&res[1 + i]).into_iter().next();
            let mut iface = serde_json::Map::new();
            iface.insert(
                "type".into(),
                json!(s.iface_type.clone().unwrap_or_default()),
            );
            iface.insert(
                "options".into(),
                map(s.options.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            );
            iface.insert(
                "external_ids".into(),
                map(s.external_ids.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            );
            if s.mtu_request {
                iface.insert("mtu_request".into(), json!(s.mtu));
            }
            match existing {
                Some(p) => {
                    let pu = as_uuid(&p["_uuid"]).unwrap_or_default().to_string();
                    let owner = bridge_of(&pu)
                        .and_then(|b| b["name"].as_str())
                        .unwrap_or("(none)");
                    if owner != s.bridge {
                        return Err(OvsdbError::PortOnOtherBridge {
                            port: s.port.clone(),
                            bridge: owner.to_string(),
                            wanted: s.bridge.clone(),
                        }
                        .into());
                    }
                    // Re-plug: refresh the interface columns, leave VLAN settings alone.
                    ops.push(op::update(
                        "Interface",
                        op::name_is(&s.port),
                        J::Object(iface),
                    ));
                }
                None => {
                    ops.push(op::wait(
                        "Port",
                        op::name_is(&s.port),
                        &["name"],
                        json!([]),
                        0,
                    ));
                    iface.insert("name".into(), json!(s.port));
                    ops.push(op::insert("Interface", J::Object(iface), &format!("if{i}")));
                    let mut port = json!({"name": s.port, "interfaces": named(&format!("if{i}"))});
                    if s.isolate {
                        port["tag"] = json!(DEAD_VLAN);
                        port["vlan_mode"] = json!("trunk");
                        port["trunks"] = json!(DEAD_VLAN);
                    }
                    port_inserts.push((s.port.clone(), s.bridge.clone(), ops.len()));
                    ops.push(op::insert("Port", port, &format!("p{i}")));
                    ops.push(op::mutate(
                        "Bridge",
                        op::uuid_ref(&bridge_ref[&s.bridge]),
                        json!([["ports", "insert", ["set", [named(&format!("p{i}"))]]]]),
                    ));
                }
            }
        }
        let sel = ops.len() + 1;
        ops.extend(Client::bump_ops());
        let _s = tracing::debug_span!("ovs_write", ops = ops.len()).entered();
        let out = c.transact(ops)?;
        for (b, idx) in pending_bridge_inserts {
            if let Some(u) = out[idx].get("uuid").and_then(as_uuid) {
                created.bridges.push((b, u.to_string()));
            }
        }
        for (p, b, idx) in port_inserts {
            if let Some(u) = out[idx].get("uuid").and_then(as_uuid) {
                created.ports.push((p, b, u.to_string()));
            }
        }
        let next = Client::next_cfg_of(&out, sel)?;
        if let Err(e) = c.wait_applied(next) {
            let _ = self.rollback(c, &created);
            return Err(e.into());
        }
        Ok(created)
    }

    fn rollback(&self, c: &mut Client, created: &Created) -> Result<()> {
        let _s = tracing::info_span!("ovs_rollback").entered();
        let mut ops = vec![];
        for (_, bridge, pu) in &created.ports {
            ops.push(op::mutate(
                "Bridge",
                op::name_is(bridge),
                json!([["ports", "delete", ["set", [uuid(pu)]]]]),
            ));
        }
        for (_, bu) in &created.bridges {
            ops.push(op::mutate(
                "Open_vSwitch",
                op::all(),
                json!([["bridges", "delete", ["set", [uuid(bu)]]]]),
            ));
        }
        if ops.is_empty() {
            return Ok(());
        }
        let sel = ops.len() + 1;
        ops.extend(Client::bump_ops());
        let out = c.transact(ops)?;
        let next = Client::next_cfg_of(&out, sel)?;
        c.wait_applied(next)?;
        Ok(())
    }

    /// Removes ports by name (absent ones are skipped) in one transaction.
    pub fn unplug_ports(&self, ports: &[String]) -> Result<Vec<String>> {
        let _s = tracing::info_span!("ovs_unplug", n = ports.len()).entered();
        let mut c = self.connect()?;
        let mut reads = vec![op::select("Bridge", op::all(), &["_uuid", "name", "ports"])];
        for p in ports {
            reads.push(op::select("Port", op::name_is(p), &["_uuid"]));
        }
        let res = c.transact(reads)?;
        let bridges = Client::rows(&res[0]);
        let mut ops = vec![];
        let mut removed = vec![];
        for (i, p) in ports.iter().enumerate() {
            for row in Client::rows(&res[1 + i]) {
                let Some(pu) = as_uuid(&row["_uuid"]) else {
                    continue;
                };
                for b in &bridges {
                    if set_items(&b["ports"])
                        .iter()
                        .any(|x| as_uuid(x) == Some(pu))
                    {
                        let bu = as_uuid(&b["_uuid"]).unwrap_or_default();
                        ops.push(op::mutate(
                            "Bridge",
                            op::uuid_is(bu),
                            json!([["ports", "delete", ["set", [uuid(pu)]]]]),
                        ));
                        removed.push(format!(
                            "removed port {p} from {}",
                            b["name"].as_str().unwrap_or("?")
                        ));
                    }
                }
            }
        }
        if ops.is_empty() {
            return Ok(removed);
        }
        let sel = ops.len() + 1;
        ops.extend(Client::bump_ops());
        let out = c.transact(ops)?;
        c.wait_applied(Client::next_cfg_of(&out, sel)?)?;
        Ok(removed)
    }
}

/// Creates (if needed) and configures the tap os-vif's create_tap makes; returns whether
/// it was created.
fn prepare_tap(rt: &mut Rtnl, t: &TapSpec) -> Result<bool> {
    let _s = tracing::debug_span!("ovs_prepare_tap", name = %t.name).entered();
    let existing = rt
        .get_link(&t.name)
        .map_err(|e| BackendError::netlink(format!("look up {}", t.name), e))?;
    let created = match existing {
        Some(l) if l.kind.as_deref() == Some("tun") => false,
        Some(l) => {
            return Err(BackendError::NameCollision {
                name: t.name.clone(),
                found: l.kind.unwrap_or_else(|| "a device".into()),
                wanted: "tap".into(),
            })
        }
        None => {
            tap::create_persistent_tap(&t.name, t.multiqueue).map_err(|e| BackendError::Tap {
                op: format!("create tap {}", t.name),
                error: e,
            })?;
            // Before it goes up, so no link-local address is ever configured.
            if let Err(e) = crate::backend::disable_ipv6(&t.name) {
                let _ = delete_netdev(rt, &t.name);
                return Err(e);
            }
            true
        }
    };
    let ch = LinkChange {
        master: None,
        mtu: Some(t.mtu),
        address: t.mac,
        up: Some(true),
        group: None,
    };
    if let Err(e) = rt.request(Request::set_link_by_name(&t.name, &ch)) {
        if created {
            let _ = delete_netdev(rt, &t.name);
        }
        return Err(BackendError::netlink(
            format!("configure tap {}", t.name),
            e,
        ));
    }
    Ok(created)
}

/// Sets a netdev up/down and its MTU. With `must_exist` false a missing netdev is skipped,
/// as os-vif does for ports whose netdev libvirt has not made yet.
fn set_netdev(
    rt: &mut Rtnl,
    name: &str,
    up: Option<bool>,
    mtu: Option<u32>,
    must_exist: bool,
) -> Result<()> {
    let l = rt
        .get_link(name)
        .map_err(|e| BackendError::netlink(format!("look up {name}"), e))?;
    let Some(l) = l else {
        if must_exist {
            return Err(BackendError::netlink(
                format!("look up {name}"),
                crate::backend::rtnl::RtnlError::Kernel {
                    errno: libc::ENODEV,
                    ext: None,
                },
            ));
        }
        return Ok(());
    };
    let ch = LinkChange {
        up,
        mtu,
        ..Default::default()
    };
    rt.request(Request::set_link(l.index, name, &ch))
        .map_err(|e| BackendError::netlink(format!("configure {name}"), e))
}

fn delete_netdev(rt: &mut Rtnl, name: &str) -> Result<bool> {
    match rt
        .get_link(name)
        .map_err(|e| BackendError::netlink(format!("look up {name}"), e))?
    {
        Some(l) if l.kind.as_deref() == Some("tun") => {
            rt.request(Request::del_link(l.index, name))
                .map_err(|e| BackendError::netlink(format!("delete {name}"), e))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

impl Backend for Ovs {
    fn name(&self) -> &'static str {
        "ovs"
    }

    fn describe(&self) -> VersionedObject {
        const OVS: &str = "VIFPortProfileOpenVSwitch";
        const REP: &str = "VIFPortProfileOVSRepresentor";
        plugin_info(
            "ovs",
            &[
                ("VIFBridge", &[OVS]),
                ("VIFOpenVSwitch", &[OVS]),
                ("VIFVHostUser", &[OVS, REP]),
                ("VIFHostDevice", &[OVS, REP]),
            ],
        )
    }

    fn plug(&self, vif: &VersionedObject, instance: &Instance) -> Result<Report> {
        let _s = tracing::info_span!("ovs_plug_vif", id = vif.get_str("id")).entered();
        let spec = self.port_spec(vif, instance)?;
        if vif.name() == "VIFBridge" {
            return super::hybrid::plug(self, vif, &spec);
        }
        self.plug_specs(std::slice::from_ref(&spec))
    }

    fn unplug(&self, vif: &VersionedObject, instance: &Instance) -> Result<Report> {
        let _s = tracing::info_span!("ovs_unplug_vif", id = vif.get_str("id")).entered();
        let spec = self.port_spec(vif, instance)?;
        if vif.name() == "VIFBridge" {
            return super::hybrid::unplug(self, vif, &spec);
        }
        if vif.name() == "VIFOpenVSwitch" {
            // os-vif: if a hybrid bridge qbr<id> exists, the VIF was hybrid-plugged.
            let id = req_str(vif, "id")?;
            let qbr = derived_name("qbr", id);
            let mut rt = crate::backend::bridge::open()?;
            if rt
                .get_link(&qbr)
                .map_err(|e| BackendError::netlink(format!("look up {qbr}"), e))?
                .is_some()
            {
                let mut hs = spec.clone();
                hs.port = derived_name("qvo", id);
                return super::hybrid::unplug_named(self, &qbr, &hs);
            }
        }
        let mut report = Report::new("ovs");
        report.actions = self.unplug_ports(std::slice::from_ref(&spec.port))?;
        if spec.delete_netdev || spec.representor {
            let mut rt = Rtnl::open().map_err(|e| BackendError::netlink("open rtnetlink", e))?;
            if spec.representor {
                set_netdev(&mut rt, &spec.port, Some(false), None, false)?;
                report
                    .actions
                    .push(format!("set representor {} down", spec.port));
            } else if delete_netdev(&mut rt, &spec.port)? {
                report.actions.push(format!("deleted tap {}", spec.port));
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_os_vif() {
        let id = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";
        assert_eq!(derived_name("vhu", id), "vhu6f0f6f2c-7c");
        assert_eq!(derived_name("vfr", id), "vfr6f0f6f2c-7c");
    }
}
