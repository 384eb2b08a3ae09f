//! Removing what vifman put in OVSDB: the rollback of a failed plug and the unplug of
//! ports, bridges and QoS rows, each one transaction and one wait for ovs-vswitchd.

use serde_json::json;

use super::client::{as_uuid, op, set_items, uuid, Client};
use super::qos;
use super::spec::PortSpec;
use super::txn::{Created, Txn};
use crate::backend::Result;
use crate::types::IfName;

impl Txn {
    pub(super) fn rollback(&self, c: &mut Client, created: &Created) -> Result<()> {
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
        // QoS is a root table: its rows outlive the ports that referenced them. ovsdb-server
        // checks references before it collects the unreferenced Port rows, so the QoS rows
        // go in a second transaction, once the ports are gone.
        if !created.qos.is_empty() {
            let del = created
                .qos
                .iter()
                .map(|qu| json!({"op": "delete", "table": "QoS", "where": op::uuid_is(qu)}))
                .collect();
            c.transact(del)?;
        }
        c.wait_applied(next)?;
        Ok(())
    }

    /// Deletes the port's os-vif QoS row, if any (os-vif `delete_qos_if_exists` after
    /// `del-port`). Unreferenced, it has no effect on the datapath: no vswitchd wait.
    pub fn delete_qos(&self, port: &IfName, qos_type: &str) -> Result<Vec<String>> {
        let mut c = self.connect()?;
        let res = c.transact(vec![qos::delete(port.as_str(), qos_type)])?;
        Ok(match res[0]["count"].as_u64() {
            Some(n) if n > 0 => vec![format!("deleted QoS row of {port}")],
            _ => vec![],
        })
    }

    /// Deletes a bridge by name, as `del-br`: its ports and interfaces go with it (OVSDB
    /// garbage-collects them). Absent is fine. Returns what was done.
    pub fn delete_bridge(&self, bridge: &IfName) -> Result<Vec<String>> {
        let _s = tracing::info_span!("ovs_delete_bridge", %bridge).entered();
        let mut c = self.connect()?;
        let res = c.transact(vec![op::select(
            "Bridge",
            op::name_is(bridge.as_str()),
            &["_uuid"],
        )])?;
        let mut ops = vec![];
        for row in Client::rows(&res[0]) {
            if let Some(bu) = as_uuid(&row["_uuid"]) {
                ops.push(op::mutate(
                    "Open_vSwitch",
                    op::all(),
                    json!([["bridges", "delete", ["set", [uuid(bu)]]]]),
                ));
            }
        }
        if ops.is_empty() {
            return Ok(vec![]);
        }
        let sel = ops.len() + 1;
        ops.extend(Client::bump_ops());
        let out = c.transact(ops)?;
        c.wait_applied(Client::next_cfg_of(&out, sel)?)?;
        Ok(vec![format!("deleted OVS bridge {bridge}")])
    }

    /// Removes ports by name (absent ones are skipped) in one transaction.
    pub fn unplug_ports(&self, ports: &[IfName]) -> Result<Vec<String>> {
        let _s = tracing::info_span!("ovs_unplug", n = ports.len()).entered();
        let mut c = self.connect()?;
        let mut reads = vec![op::select("Bridge", op::all(), &["_uuid", "name", "ports"])];
        for p in ports {
            reads.push(op::select("Port", op::name_is(p.as_str()), &["_uuid"]));
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

    /// Unplug of a per-port bridge plug, in one transaction: the integration-side patch
    /// port `ibp…` leaves the integration bridge (only from there), and the VIF's own
    /// bridge `pb…` is deleted, which takes its internal port, the VIF's port and `pbp…`
    /// with it. Absent pieces are skipped. What else is on the integration bridge stays.
    pub fn unplug_port_bridge(&self, spec: &PortSpec) -> Result<Vec<String>> {
        let Some(p) = &spec.patch else {
            return self.unplug_ports(std::slice::from_ref(&spec.port));
        };
        let _s = tracing::info_span!("ovs_unplug_port_bridge", bridge = %spec.bridge).entered();
        let mut c = self.connect()?;
        let res = c.transact(vec![
            op::select("Bridge", op::all(), &["_uuid", "name", "ports"]),
            op::select("Port", op::name_is(p.int_port.as_str()), &["_uuid"]),
        ])?;
        let bridges = Client::rows(&res[0]);
        let by_name = |n: &str| bridges.iter().find(|b| b["name"] == n);
        let mut ops = vec![];
        let mut done = vec![];
        if let Some(b) = by_name(p.int_bridge.as_str()) {
            let bu = as_uuid(&b["_uuid"]).unwrap_or_default();
            for row in Client::rows(&res[1]) {
                let Some(pu) = as_uuid(&row["_uuid"]) else {
                    continue;
                };
                if set_items(&b["ports"])
                    .iter()
                    .any(|x| as_uuid(x) == Some(pu))
                {
                    ops.push(op::mutate(
                        "Bridge",
                        op::uuid_is(bu),
                        json!([["ports", "delete", ["set", [uuid(pu)]]]]),
                    ));
                    done.push(format!(
                        "removed patch port {} from {}",
                        p.int_port, p.int_bridge
                    ));
                }
            }
        }
        if let Some(b) = by_name(spec.bridge.as_str()) {
            let bu = as_uuid(&b["_uuid"]).unwrap_or_default();
            ops.push(op::mutate(
                "Open_vSwitch",
                op::all(),
                json!([["bridges", "delete", ["set", [uuid(bu)]]]]),
            ));
            done.push(format!(
                "deleted OVS bridge {} (with its ports {} and {})",
                spec.bridge, spec.port, p.port_port
            ));
        }
        if ops.is_empty() {
            return Ok(done);
        }
        let sel = ops.len() + 1;
        ops.extend(Client::bump_ops());
        let out = c.transact(ops)?;
        c.wait_applied(Client::next_cfg_of(&out, sel)?)?;
        Ok(done)
    }
}
