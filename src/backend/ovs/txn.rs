//! OVSDB transactions for OVS ports: kernel preparation per port, then ONE guarded write
//! transaction and one wait for ovs-vswitchd (cur_cfg), then an Interface.error check, so
//! success means the datapath port exists, not just a DB row. On failure, everything the
//! call created is rolled back.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value as J};

use super::client::{self, as_uuid, map, named, op, set_items, uuid, Client};
use super::jsonrpc::OvsdbError;
use super::netdev::{delete_tap, prepare_tap, set_netdev};
use super::qos;
use super::spec::PortSpec;
use crate::backend::rtnl::Rtnl;
use crate::backend::{BackendError, Config, Report, Result};
use crate::types::IfName;

/// The "dead VLAN" isolate_vif parks new ports on.
const DEAD_VLAN: i64 = 4095;

/// What a transaction created, for rollback and reporting.
#[derive(Debug, Default)]
pub(super) struct Created {
    pub(super) bridges: Vec<(String, String)>,
    pub(super) ports: Vec<(String, String, String)>,
    pub(super) qos: Vec<String>,
}

/// A handle on one OVSDB endpoint. Holds no connection: each call connects, so a handle
/// can be shared by the plain and hybrid paths without either depending on the backend.
#[derive(Debug, Clone)]
pub struct Txn {
    ovsdb: String,
    tls: Option<super::remote::TlsFiles>,
    timeout: Duration,
}

impl Txn {
    pub fn new(cfg: &Config) -> Self {
        Txn {
            ovsdb: cfg.ovsdb.clone(),
            tls: cfg.ovsdb_tls.clone(),
            timeout: cfg.ovs_timeout,
        }
    }

    pub(super) fn connect(&self) -> Result<Client> {
        Ok(Client::connect(
            &self.ovsdb,
            self.tls.as_ref(),
            self.timeout,
        )?)
    }

    /// Plugs many ports: kernel preparation per port, then ONE OVSDB transaction and one
    /// wait for ovs-vswitchd. On any failure everything this call created is removed.
    pub fn plug_specs(&self, specs: &[PortSpec]) -> Result<Report> {
        let _s = tracing::info_span!("ovs_plug", n = specs.len()).entered();
        let mut report = Report::new("ovs");
        // Connect first: an unreachable OVSDB must not leave a tap behind.
        let mut c = self.connect()?;
        let mut rt: Option<Rtnl> = None;
        let mut taps_created: Vec<IfName> = vec![];
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
                        let _ = delete_tap(rt, t);
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
        let mut pending: Vec<(String, String)> = vec![];
        let check = (|| -> Result<BTreeMap<String, J>> {
            let ops = specs
                .iter()
                .filter(|s| s.create_port)
                .map(|s| {
                    op::select(
                        "Interface",
                        op::name_is(s.port.as_str()),
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
                    let later = specs.iter().any(|s| s.tap_later && s.port.as_str() == name);
                    if let (Some(e), true) = (errs.first(), later) {
                        // Only the missing netdev is expected; any other error is real.
                        if e.contains("No such device") {
                            pending.push((name.clone(), e.clone()));
                            out.insert(name, row);
                            continue;
                        }
                    }
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
                for (p, e) in &pending {
                    report.actions.push(format!(
                        "interface {p} pending: the hypervisor creates the TAP (OVS: {e})"
                    ));
                }
                if let [s] = specs {
                    report
                        .details
                        .insert("bridge".into(), s.bridge.as_str().into());
                    report.details.insert("port".into(), s.port.as_str().into());
                    if let Some((_, e)) = pending.first() {
                        report
                            .details
                            .insert("interface_pending".into(), e.as_str().into());
                    }
                    if let Some(row) = rows.get(s.port.as_str()) {
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
            reads.push(op::select(
                "Port",
                op::name_is(s.port.as_str()),
                &["_uuid", "name"],
            ));
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
        let mut qos_inserts: Vec<usize> = vec![];
        for (i, s) in specs.iter().enumerate() {
            if !bridge_ref.contains_key(s.bridge.as_str()) {
                match bridge_row(s.bridge.as_str()) {
                    Some(b) => {
                        let u = as_uuid(&b["_uuid"]).unwrap_or_default().to_string();
                        if s.datapath_explicit && b["datapath_type"] != s.datapath_type.as_str() {
                            ops.push(op::update(
                                "Bridge",
                                op::uuid_is(&u),
                                json!({"datapath_type": s.datapath_type}),
                            ));
                        }
                        bridge_ref.insert(s.bridge.to_string(), uuid(&u));
                    }
                    None => {
                        let n = format!("br{i}");
                        ops.push(op::wait(
                            "Bridge",
                            op::name_is(s.bridge.as_str()),
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
                        pending_bridge_inserts.push((s.bridge.to_string(), ops.len()));
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
                        bridge_ref.insert(s.bridge.to_string(), named(&n));
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
                    if owner != s.bridge.as_str() {
                        return Err(OvsdbError::PortOnOtherBridge {
                            port: s.port.to_string(),
                            bridge: owner.to_string(),
                            wanted: s.bridge.to_string(),
                        }
                        .into());
                    }
                    // Re-plug: refresh the interface columns, leave VLAN settings alone.
                    ops.push(op::update(
                        "Interface",
                        op::name_is(s.port.as_str()),
                        J::Object(iface),
                    ));
                }
                None => {
                    ops.push(op::wait(
                        "Port",
                        op::name_is(s.port.as_str()),
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
                    // Only a new port gets a QoS row (os-vif: an existing port may carry
                    // Neutron's QoS by now); a stale row of the same id is replaced.
                    if let Some(t) = &s.qos_type {
                        ops.push(qos::delete(s.port.as_str(), t));
                        qos_inserts.push(ops.len());
                        ops.push(qos::insert(s.port.as_str(), t, &format!("qos{i}")));
                        port["qos"] = named(&format!("qos{i}"));
                    }
                    port_inserts.push((s.port.to_string(), s.bridge.to_string(), ops.len()));
                    ops.push(op::insert("Port", port, &format!("p{i}")));
                    ops.push(op::mutate(
                        "Bridge",
                        op::uuid_ref(&bridge_ref[s.bridge.as_str()]),
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
        for idx in qos_inserts {
            if let Some(u) = out[idx].get("uuid").and_then(as_uuid) {
                created.qos.push(u.to_string());
            }
        }
        let next = Client::next_cfg_of(&out, sel)?;
        if let Err(e) = c.wait_applied(next) {
            let _ = self.rollback(c, &created);
            return Err(e.into());
        }
        Ok(created)
    }
}
