//! OVSDB transactions for OVS ports: kernel preparation per port, then ONE guarded write
//! transaction and one wait for ovs-vswitchd (cur_cfg), then an Interface.error check, so
//! success means the datapath port exists, not just a DB row. On failure, everything the
//! call created is rolled back.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as J;

use super::client::{self, op, set_items, Client};
use super::jsonrpc::OvsdbError;
use super::netdev::{delete_tap, prepare_tap, set_netdev};
use super::spec::PortSpec;
use super::write::{self, Writer};
use crate::backend::rtnl::Rtnl;
use crate::backend::{BackendError, Config, Report, Result};
use crate::types::IfName;

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
        let mut priors: Vec<crate::backend::prior::Prior> = vec![];
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
                let name = s.create_tap.as_ref().map_or(&s.port, |t| &t.name);
                priors.extend(crate::backend::prior::snapshot(rt, name)?);
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
            if let Some(rt) = rt.as_mut() {
                for t in &taps_created {
                    let _ = delete_tap(rt, t);
                }
                // Adopted taps and representors: as they were before this plug.
                for p in priors.iter().rev() {
                    crate::backend::prior::restore(rt, p);
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
            // The ports and the patch ports (a patch whose peer is missing has an error).
            let names = specs.iter().flat_map(|s| {
                let port = s.create_port.then(|| s.port.to_string());
                let patch = s
                    .patch
                    .iter()
                    .flat_map(|p| [p.int_port.to_string(), p.port_port.to_string()]);
                port.into_iter().chain(patch)
            });
            let ops = names
                .map(|n| {
                    op::select(
                        "Interface",
                        op::name_is(&n),
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
                    if let Some(p) = &s.patch {
                        report
                            .details
                            .insert("integration_bridge".into(), p.int_bridge.as_str().into());
                        report.details.insert(
                            "patch_ports".into(),
                            J::from(vec![p.port_port.to_string(), p.int_port.to_string()]),
                        );
                    }
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
        for name in write::port_lookups(specs) {
            reads.push(op::select("Port", op::name_is(&name), &["_uuid", "name"]));
        }
        let res = c.transact(reads)?;
        let bridges: Vec<J> = Client::rows(&res[0]);
        let mut w = Writer::new(&bridges, write::ports_by_name(&res[1..]));
        for s in specs {
            w.spec(s)?;
        }
        let (created, next) = w.commit(c)?;
        if let Err(e) = c.wait_applied(next) {
            let _ = self.rollback(c, &created);
            return Err(e.into());
        }
        Ok(created)
    }
}
