//! The write transaction of a plug: from what one read transaction found, the ops that
//! create the missing bridges, ports and patch ports of many [`PortSpec`]s, each creation
//! guarded by a timeout-0 `wait` (the row is still absent, as read), so a concurrent
//! change makes the whole transaction fail instead of duplicating a row.

use std::collections::BTreeMap;

use serde_json::{json, Value as J};

use super::client::{as_uuid, map, named, op, set_items, uuid, Client};
use super::jsonrpc::OvsdbError;
use super::qos;
use super::spec::{PatchName, PortSpec};
use super::txn::Created;
use crate::backend::Result;

/// The "dead VLAN" isolate_vif parks new ports on.
pub(super) const DEAD_VLAN: i64 = 4095;

/// The names the read transaction looks up in the Port table for `specs`: each port,
/// and for a per-port bridge its two patch ports and the bridge's own name (a port of
/// that name elsewhere would collide with the bridge's internal port).
pub(super) fn port_lookups(specs: &[PortSpec]) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    for s in specs {
        names.push(s.port.to_string());
        if let Some(p) = &s.patch {
            names.push(p.int_port.to_string());
            names.push(p.port_port.to_string());
            names.push(s.bridge.to_string());
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Builds the write transaction's ops and remembers which results hold the uuids of what
/// it creates (for rollback).
pub(super) struct Writer<'a> {
    /// Every Bridge row (`_uuid`, `name`, `datapath_type`, `ports`), as read.
    bridges: &'a [J],
    /// Port rows (`_uuid`, `name`) by name, for the names of [`port_lookups`].
    ports: BTreeMap<String, J>,
    pub(super) ops: Vec<J>,
    /// Bridge name -> reference usable in this transaction (`uuid` or `named-uuid`).
    bridge_ref: BTreeMap<String, J>,
    bridge_inserts: Vec<(String, usize)>,
    port_inserts: Vec<(String, String, usize)>,
    qos_inserts: Vec<usize>,
    /// Counter for this transaction's uuid-names.
    n: usize,
}

impl<'a> Writer<'a> {
    pub(super) fn new(bridges: &'a [J], ports: BTreeMap<String, J>) -> Self {
        Writer {
            bridges,
            ports,
            ops: vec![],
            bridge_ref: BTreeMap::new(),
            bridge_inserts: vec![],
            port_inserts: vec![],
            qos_inserts: vec![],
            n: 0,
        }
    }

    fn tag(&mut self, what: &str) -> String {
        self.n += 1;
        format!("{what}{}", self.n)
    }

    fn bridge_row(&self, name: &str) -> Option<&'a J> {
        self.bridges.iter().find(|b| b["name"] == name)
    }

    /// The name of the bridge holding the port with uuid `pu`, or `(none)`.
    fn owner(&self, pu: &str) -> String {
        self.bridges
            .iter()
            .find(|b| {
                set_items(&b["ports"])
                    .iter()
                    .any(|p| as_uuid(p) == Some(pu))
            })
            .and_then(|b| b["name"].as_str())
            .unwrap_or("(none)")
            .to_string()
    }

    /// The existing Port row named `name`, if it is on `bridge`; an error if it is on
    /// another bridge (or on none).
    fn existing_port(&self, name: &str, bridge: &str) -> Result<Option<J>> {
        let Some(p) = self.ports.get(name) else {
            return Ok(None);
        };
        let owner = self.owner(as_uuid(&p["_uuid"]).unwrap_or_default());
        if owner != bridge {
            return Err(OvsdbError::PortOnOtherBridge {
                port: name.to_string(),
                bridge: owner,
                wanted: bridge.to_string(),
            }
            .into());
        }
        Ok(Some(p.clone()))
    }

    /// Ensures bridge `name` (like `add-br`: the Bridge, its internal Port and Interface).
    /// An existing bridge is switched to `dp` only when the profile named it.
    fn ensure_bridge(&mut self, name: &str, dp: &str, explicit: bool) -> Result<()> {
        if self.bridge_ref.contains_key(name) {
            return Ok(());
        }
        if let Some(b) = self.bridge_row(name) {
            let u = as_uuid(&b["_uuid"]).unwrap_or_default().to_string();
            if explicit && b["datapath_type"] != dp {
                self.ops.push(op::update(
                    "Bridge",
                    op::uuid_is(&u),
                    json!({"datapath_type": dp}),
                ));
            }
            self.bridge_ref.insert(name.to_string(), uuid(&u));
            return Ok(());
        }
        // A port of this name on another bridge would clash with the internal port.
        if let Some(p) = self.ports.get(name) {
            return Err(OvsdbError::PortOnOtherBridge {
                port: name.to_string(),
                bridge: self.owner(as_uuid(&p["_uuid"]).unwrap_or_default()),
                wanted: name.to_string(),
            }
            .into());
        }
        let (bif, bport, br) = (self.tag("brif"), self.tag("brport"), self.tag("br"));
        self.ops.push(op::wait(
            "Bridge",
            op::name_is(name),
            &["name"],
            json!([]),
            0,
        ));
        self.ops.push(op::insert(
            "Interface",
            json!({"name": name, "type": "internal"}),
            &bif,
        ));
        self.ops.push(op::insert(
            "Port",
            json!({"name": name, "interfaces": named(&bif)}),
            &bport,
        ));
        self.bridge_inserts.push((name.to_string(), self.ops.len()));
        self.ops.push(op::insert(
            "Bridge",
            json!({"name": name, "datapath_type": dp, "ports": named(&bport)}),
            &br,
        ));
        self.ops.push(op::mutate(
            "Open_vSwitch",
            op::all(),
            json!([["bridges", "insert", ["set", [named(&br)]]]]),
        ));
        self.bridge_ref.insert(name.to_string(), named(&br));
        Ok(())
    }

    /// Inserts Port `name` (with `port_cols`) holding a new Interface (`iface`), attached
    /// to `bridge`, guarded by "no Port of that name yet". `qos`: the port's QoS type.
    fn insert_port(
        &mut self,
        bridge: &str,
        name: &str,
        mut iface: J,
        mut port: J,
        qos: Option<&str>,
    ) {
        let (ifn, pn) = (self.tag("if"), self.tag("p"));
        self.ops
            .push(op::wait("Port", op::name_is(name), &["name"], json!([]), 0));
        iface["name"] = json!(name);
        self.ops.push(op::insert("Interface", iface, &ifn));
        port["name"] = json!(name);
        port["interfaces"] = named(&ifn);
        // Only a new port gets a QoS row (os-vif: an existing port may carry Neutron's QoS
        // by now); a stale row of the same id is replaced.
        if let Some(t) = qos {
            let qn = self.tag("qos");
            self.ops.push(qos::delete(name, t));
            self.qos_inserts.push(self.ops.len());
            self.ops.push(qos::insert(name, t, &qn));
            port["qos"] = named(&qn);
        }
        self.port_inserts
            .push((name.to_string(), bridge.to_string(), self.ops.len()));
        self.ops.push(op::insert("Port", port, &pn));
        self.ops.push(op::mutate(
            "Bridge",
            op::uuid_ref(&self.bridge_ref[bridge]),
            json!([["ports", "insert", ["set", [named(&pn)]]]]),
        ));
    }

    /// Everything one spec needs: its bridge(s), its port, its patch pair.
    pub(super) fn spec(&mut self, s: &PortSpec) -> Result<()> {
        self.ensure_bridge(s.bridge.as_str(), &s.datapath_type, s.datapath_explicit)?;
        if let Some(p) = &s.patch {
            self.ensure_bridge(p.int_bridge.as_str(), &s.datapath_type, s.datapath_explicit)?;
        }
        if s.create_port {
            self.vif_port(s)?;
        }
        if let Some(p) = &s.patch {
            let ids = Some(p.external_ids.as_slice());
            self.patch_port(
                p.int_bridge.as_str(),
                &p.int_port,
                &p.port_port,
                ids,
                p.isolate,
            )?;
            self.patch_port(s.bridge.as_str(), &p.port_port, &p.int_port, None, false)?;
        }
        Ok(())
    }

    fn vif_port(&mut self, s: &PortSpec) -> Result<()> {
        let mut iface = serde_json::Map::new();
        iface.insert(
            "type".into(),
            json!(s.iface_type.clone().unwrap_or_default()),
        );
        iface.insert(
            "options".into(),
            map(s.options.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        if s.set_ids {
            iface.insert(
                "external_ids".into(),
                map(s.external_ids.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            );
        }
        if s.mtu_request {
            iface.insert("mtu_request".into(), json!(s.mtu));
        }
        if self
            .existing_port(s.port.as_str(), s.bridge.as_str())?
            .is_some()
        {
            // Re-plug: refresh the interface columns, leave VLAN settings alone.
            self.ops.push(op::update(
                "Interface",
                op::name_is(s.port.as_str()),
                J::Object(iface),
            ));
            return Ok(());
        }
        let mut port = json!({});
        if s.isolate {
            port["tag"] = json!(DEAD_VLAN);
            port["vlan_mode"] = json!("trunk");
            port["trunks"] = json!(DEAD_VLAN);
        }
        self.insert_port(
            s.bridge.as_str(),
            s.port.as_str(),
            J::Object(iface),
            port,
            s.qos_type.as_deref(),
        );
        Ok(())
    }

    /// One end of a patch pair: Interface `type=patch`, `options:peer`, and on the
    /// integration side the VIF's `external_ids` (and, isolated and new, `tag=4095`).
    fn patch_port(
        &mut self,
        bridge: &str,
        name: &PatchName,
        peer: &PatchName,
        ids: Option<&[(String, String)]>,
        isolate: bool,
    ) -> Result<()> {
        let mut iface = json!({"type": "patch", "options": map([("peer", peer.as_str())])});
        if let Some(ids) = ids {
            iface["external_ids"] = map(ids.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        if self.existing_port(name.as_str(), bridge)?.is_some() {
            self.ops
                .push(op::update("Interface", op::name_is(name.as_str()), iface));
            return Ok(());
        }
        let port = if isolate {
            json!({"tag": DEAD_VLAN})
        } else {
            json!({})
        };
        self.insert_port(bridge, name.as_str(), iface, port, None);
        Ok(())
    }

    /// Runs the ops (plus the next_cfg bump) and records what they created.
    pub(super) fn commit(self, c: &mut Client) -> Result<(Created, i64)> {
        let mut ops = self.ops;
        let sel = ops.len() + 1;
        ops.extend(Client::bump_ops());
        let _s = tracing::debug_span!("ovs_write", ops = ops.len()).entered();
        let out = c.transact(ops)?;
        let mut created = Created::default();
        let uuid_at = |idx: usize| out[idx].get("uuid").and_then(as_uuid).map(str::to_string);
        for (b, idx) in self.bridge_inserts {
            if let Some(u) = uuid_at(idx) {
                created.bridges.push((b, u));
            }
        }
        for (p, b, idx) in self.port_inserts {
            if let Some(u) = uuid_at(idx) {
                created.ports.push((p, b, u));
            }
        }
        for idx in self.qos_inserts {
            if let Some(u) = uuid_at(idx) {
                created.qos.push(u);
            }
        }
        Ok((created, Client::next_cfg_of(&out, sel)?))
    }
}

/// The Port rows of a read transaction's results, by name.
pub(super) fn ports_by_name(results: &[J]) -> BTreeMap<String, J> {
    results
        .iter()
        .flat_map(Client::rows)
        .filter_map(|r| Some((r["name"].as_str()?.to_string(), r.clone())))
        .collect()
}
