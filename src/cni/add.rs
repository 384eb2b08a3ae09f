//! ADD: claim and configure the VF on the store, move its netdev into the pod as
//! `CNI_IFNAME`, delegate IPAM and apply its addresses. Any failure after the claim runs the
//! same teardown as DEL, so the netdev goes home under its old name and the VF is restored.

use serde_json::Value;

use super::del::{teardown, Teardown};
use super::netconf::{key, NetConf};
use super::result::{CniResult, Interface};
use super::sandbox::{self, Netns};
use super::spec::{code, CniError, Env};
use super::{engine_error, ipam};
use crate::engine::Engine;
use crate::store::{AttachPhase, CniAttachment};
use crate::types::{IfName, Uuid};

pub fn add(e: &Engine<'_>, env: &Env, conf: &NetConf) -> Result<Value, CniError> {
    let vf = conf.device_id.ok_or_else(|| {
        CniError::key(
            "deviceID",
            "missing: the device plugin's choice reaches the config through multus, or set it",
        )
    })?;
    let netns_path = env.netns.clone().unwrap_or_default();
    let ns = Netns::open(&netns_path)
        .map_err(|err| CniError::new(code::UNKNOWN_CONTAINER, err.to_string()))?;
    let k = key(conf, env);
    let _span = tracing::info_span!("cni_add", %vf, key = %k).entered();

    // A retried ADD (the runtime timed out, or the process died half-way): undo the earlier
    // attempt first. A VF still attached to a pod whose namespace is gone was left behind by a
    // DEL that never came: reclaim it (its addresses released, its VF restored).
    let st = crate::store::read_state(&e.state_dir).map_err(|x| engine_error(x.into()))?;
    for rec in &st.allocations {
        let Some(att) = &rec.cni else { continue };
        let retry = att.key == k;
        let orphan = rec.vf == vf && !std::path::Path::new(&att.netns).exists();
        if retry || orphan {
            tracing::warn!(key = %att.key, retry, "undoing an earlier attachment first");
            teardown(e, env, &Teardown::stored(rec, att))?;
        }
    }

    // The one host scan of this ADD: the engine keeps it for the steps below.
    let view = e.host_view().map_err(engine_error)?;
    let v = view
        .vf(&vf)
        .ok_or_else(|| CniError::key("deviceID", format!("{vf} is not a VF on this host")))?;
    let vfio = v.driver.as_ref().is_some_and(|d| d.is_vfio_pci());
    let host_ifname: Option<IfName> = if vfio {
        None
    } else {
        v.netdevs.first().cloned()
    };
    if !vfio && host_ifname.is_none() {
        return Err(CniError::key(
            "deviceID",
            format!(
                "{vf} has no netdev and is not bound to vfio-pci (driver {})",
                v.driver.as_deref().unwrap_or("none")
            ),
        ));
    }
    if let Some(m) = conf.mtu {
        let pf_mtu = v.pf_netdev.as_ref().and_then(|p| e.host.mtu_of(p));
        if let Some(p) = pf_mtu.filter(|p| m > *p) {
            return Err(CniError::key(
                "mtu",
                format!(
                    "{m} is above the PF's MTU of {p}; a VF cannot send bigger frames than its PF"
                ),
            ));
        }
    }
    let host_mtu = match (&host_ifname, conf.mtu) {
        (Some(n), Some(_)) => e.host.mtu_of(n),
        _ => None,
    };
    let pod: Option<Uuid> = env.arg("K8S_POD_UID").and_then(|u| u.parse().ok());
    let instance =
        pod.unwrap_or_else(|| Uuid::from_name(&format!("cni-container|{}", env.container_id)));
    let vif = Uuid::from_name(&format!(
        "cni|{}|{}|{}",
        k.network, k.container_id, k.ifname
    ));
    let req = conf.request(vf, instance, vif, env.arg("MAC"))?;
    let att = CniAttachment {
        key: k.clone(),
        netns: netns_path.clone(),
        phase: AttachPhase::Adding,
        owns_record: false,
        rate_parent_set: false,
        knobs_before: vec![],
        requested_before: vec![],
        host_ifname: host_ifname.clone(),
        host_mtu,
        host_mac: host_ifname
            .as_ref()
            .and_then(|n| sandbox::host_link(n.as_str()))
            .and_then(|l| l.mac_string()),
        sandbox_ifindex: None,
        conf: conf.stored(),
        cni_path: env.path.iter().map(|p| p.display().to_string()).collect(),
        ipam_added: false,
        result: None,
        created: crate::engine::now_secs(),
    };
    let rec = e.cni_attach(&req, att, pod).map_err(|x| {
        let err = engine_error(x);
        CniError {
            msg: format!("deviceID {vf}: {}", err.msg),
            ..err
        }
    })?;

    let done = (|| -> Result<Value, CniError> {
        let mut ours = Interface {
            name: env.ifname.clone(),
            sandbox: Some(netns_path.clone()),
            pci_id: Some(vf.to_string()),
            ..Default::default()
        };
        if let Some(h) = &host_ifname {
            let in_pod = sandbox::move_in(&ns, h.as_str(), &env.ifname, conf.mtu, req.mac)
                .map_err(|x| CniError::new(code::KERNEL, x.to_string()))?;
            ours.mac = in_pod.mac;
            ours.mtu = Some(in_pod.mtu);
            e.cni_update(&k, |a| a.sandbox_ifindex = Some(in_pod.index))
                .map_err(engine_error)?;
        } else {
            ours.mac = req.mac.map(|m| m.to_string());
        }
        let mut own = CniResult::default();
        if let Some(plugin) = &conf.ipam {
            // Recorded before the call: an address the plugin hands out is released by DEL
            // even if this process dies before it hears the answer.
            e.cni_update(&k, |a| a.ipam_added = true)
                .map_err(engine_error)?;
            let out = match ipam::exec(
                env,
                plugin,
                "ADD",
                &env.container_id,
                &env.ifname,
                &conf.raw,
            ) {
                Ok(out) => out,
                Err(err) => {
                    // The plugin answered: a failed ADD leaves nothing allocated (the spec
                    // has the plugin clean up after itself). A DEL anyway, best effort, for
                    // one that does not; its failure (often the same bad config) must not
                    // make the rollback look incomplete.
                    if let Err(d) = ipam::exec(
                        env,
                        plugin,
                        "DEL",
                        &env.container_id,
                        &env.ifname,
                        &conf.raw,
                    ) {
                        tracing::info!(plugin, "IPAM DEL after its failed ADD: {d}");
                    }
                    e.cni_update(&k, |a| a.ipam_added = false)
                        .map_err(engine_error)?;
                    return Err(err);
                }
            }
            .ok_or_else(|| {
                CniError::new(
                    code::DELEGATE,
                    format!("ipam {plugin} ADD printed no result"),
                )
            })?;
            own = CniResult::parse(&out, &format!("ipam {plugin} result"))?;
            if host_ifname.is_some() {
                sandbox::configure_ip(&ns, &env.ifname, &own.ips, &own.routes)
                    .map_err(|x| CniError::new(code::KERNEL, x.to_string()))?;
            }
        }
        Ok(merge(conf, ours, own)?.to_json(&conf.version))
    })();
    match done {
        Ok(out) => {
            let stored = out.clone();
            e.cni_update(&k, |a| {
                a.phase = AttachPhase::Active;
                a.result = Some(stored);
            })
            .map_err(engine_error)?;
            tracing::info!(%vf, vif = %rec.vif_id, "attached");
            Ok(out)
        }
        Err(err) => {
            let st = crate::store::read_state(&e.state_dir).map_err(|x| engine_error(x.into()))?;
            let undo = st.allocations.iter().find_map(|r| {
                r.cni
                    .as_ref()
                    .filter(|a| a.key == k)
                    .map(|a| Teardown::stored(r, a))
            });
            let rollback = match undo.map(|t| teardown(e, env, &t)) {
                Some(Err(u)) => format!("; ROLLBACK INCOMPLETE: {u} (DEL retries it)"),
                _ => format!("; rolled back: {vf} restored, its netdev back in the host namespace"),
            };
            Err(CniError {
                msg: format!("{}{rollback}", err.msg),
                ..err
            })
        }
    }
}

/// The result: a chained plugin's `prevResult` first, then this interface and the IPAM
/// addresses pointing at it.
fn merge(conf: &NetConf, ours: Interface, own: CniResult) -> Result<CniResult, CniError> {
    let mut out = match &conf.prev_result {
        Some(p) => CniResult::parse(p, "prevResult")?,
        None => CniResult::default(),
    };
    let idx = out.interfaces.len();
    out.interfaces.push(ours);
    for mut ip in own.ips {
        ip.interface = Some(idx);
        out.ips.push(ip);
    }
    out.routes.extend(own.routes);
    if own
        .dns
        .as_ref()
        .is_some_and(|d| d.as_object().is_some_and(|o| !o.is_empty()))
    {
        out.dns = own.dns;
    }
    Ok(out)
}
