//! DEL, CHECK and GC, and the teardown they share with a failed or retried ADD. The store
//! decides what to undo: only a record carrying this attachment's key is touched, so a stale
//! DEL of an old container leaves a VF now attached to another pod alone.

use std::collections::BTreeSet;

use serde_json::Value;

use super::netconf::{key, NetConf};
use super::result::CniResult;
use super::sandbox::{self, Netns};
use super::spec::{code, CniError, Env};
use super::{engine_error, ipam};
use crate::engine::Engine;
use crate::store::{Allocation, AttachKey, AttachPhase, CniAttachment};
use crate::types::PciAddress;

/// What a teardown needs, from the store's record.
pub struct Teardown {
    pub key: AttachKey,
    pub vf: PciAddress,
    pub att: CniAttachment,
}

impl Teardown {
    pub fn stored(rec: &Allocation, att: &CniAttachment) -> Teardown {
        Teardown {
            key: att.key.clone(),
            vf: rec.vf,
            att: att.clone(),
        }
    }
}

fn kernel(e: impl std::fmt::Display) -> CniError {
    CniError::new(code::KERNEL, e.to_string())
}

/// Undo one attachment: netdev back to the host under its old name and MTU, the IPAM
/// address released (with the configuration ADD had), the VF restored. Each step is
/// idempotent, so a DEL retried after a failure picks up where it stopped.
pub fn teardown(e: &Engine<'_>, env: &Env, t: &Teardown) -> Result<(), CniError> {
    teardown_with(e, env, t, true)
}

/// Undo the attachment on `rec` when no runtime asks for it (its pod's DEL was lost): the
/// device plugin re-handing the VF, `vifman release`, `vifman reconcile --repair`. The
/// netdev comes back under its host name and the VF is restored as DEL does it; the IPAM
/// address is released with the configuration and `CNI_PATH` ADD had, best effort (a plugin
/// that is gone or fails leaks an address, logged; it must not keep the VF from its next
/// user).
pub fn teardown_orphan(e: &Engine<'_>, rec: &Allocation) -> Result<(), CniError> {
    let Some(att) = &rec.cni else { return Ok(()) };
    let env = Env {
        command: super::spec::Command::Del,
        container_id: att.key.container_id.clone(),
        netns: None,
        ifname: att.key.ifname.clone(),
        args: vec![],
        path: att.cni_path.iter().map(std::path::PathBuf::from).collect(),
    };
    teardown_with(e, &env, &Teardown::stored(rec, att), false)
}

/// How long a teardown waits for the kernel to hand a VF netdev back to the host after its
/// pod's namespace was deleted (the kernel does that from a workqueue, after the runtime's
/// `ip netns del` has returned).
const NETNS_RETURN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn teardown_with(
    e: &Engine<'_>,
    env: &Env,
    t: &Teardown,
    strict_ipam: bool,
) -> Result<(), CniError> {
    let _span = tracing::info_span!("cni_teardown", key = %t.key, vf = %t.vf).entered();
    if let Some(host_name) = &t.att.host_ifname {
        let host_ns = Netns::current().map_err(kernel)?;
        let mut moved = false;
        // The runtime's CNI_NETNS for this container, else the one ADD saw, if still there.
        let paths = env
            .netns
            .iter()
            .filter(|_| env.container_id == t.key.container_id)
            .chain(std::iter::once(&t.att.netns));
        for path in paths {
            let Ok(ns) = Netns::open(path) else { continue };
            moved = sandbox::move_out(
                &ns,
                &t.key.ifname,
                &t.vf,
                t.att.sandbox_ifindex,
                &host_ns,
                host_name.as_str(),
            )
            .map_err(kernel)?;
            if moved {
                break;
            }
        }
        // Not in a pod (never moved, already moved back, or the pod's namespace is gone and
        // the kernel returned the netdev to the host under its pod name): fix it where it is.
        let now = if moved {
            Some(host_name.clone())
        } else {
            returned_netdev(e, t)
        };
        if let Some(now) = now {
            sandbox::restore_in_host(
                now.as_str(),
                host_name.as_str(),
                t.att.host_mtu,
                t.att.host_mac.as_deref(),
            )
            .map_err(kernel)?;
        }
    }
    if t.att.ipam_added {
        if let Some(plugin) = t.att.conf.pointer("/ipam/type").and_then(Value::as_str) {
            match ipam::exec(
                env,
                plugin,
                "DEL",
                &t.key.container_id,
                &t.key.ifname,
                &t.att.conf,
            ) {
                Ok(_) => {}
                Err(err) if strict_ipam => return Err(err),
                Err(err) => tracing::warn!(
                    key = %t.key,
                    "releasing the IPAM address failed; it stays allocated in {plugin}: {err}"
                ),
            }
            e.cni_update(&t.key, |a| a.ipam_added = false)
                .map_err(engine_error)?;
        }
    }
    e.cni_detach(&t.key).map_err(engine_error)?;
    Ok(())
}

/// The VF netdev in the host namespace when it was not moved back from a pod. A netdev that
/// went into a pod whose namespace is gone is on its way back (the kernel returns physical
/// netdevs to the host when a namespace dies, asynchronously): wait for it a little, so it
/// gets its name back rather than keeping the pod's.
fn returned_netdev(e: &Engine<'_>, t: &Teardown) -> Option<crate::types::IfName> {
    let now = || e.host.netdevs_of(&t.vf).into_iter().next();
    let on_its_way = t.att.sandbox_ifindex.is_some()
        && !std::path::Path::new(&t.att.netns).exists()
        && e.host.device_present(&t.vf)
        && e.host.driver_of(&t.vf).is_some_and(|d| !d.is_vfio_pci());
    if !on_its_way {
        return now();
    }
    let start = std::time::Instant::now();
    loop {
        if let Some(n) = now() {
            return Some(n);
        }
        if start.elapsed() >= NETNS_RETURN_WAIT {
            tracing::warn!(vf = %t.vf, "the VF netdev did not come back from the deleted namespace {} within {:?}; its name is not restored", t.att.netns, NETNS_RETURN_WAIT);
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// DEL: idempotent; the configuration given now releases IPAM even when no record exists
/// (ADD may have died before recording anything the plugin did).
pub fn del(e: &Engine<'_>, env: &Env, conf: &NetConf) -> Result<(), CniError> {
    let k = key(conf, env);
    let st = crate::store::read_state(&e.state_dir).map_err(|x| engine_error(x.into()))?;
    let found = st.allocations.iter().find_map(|r| {
        r.cni
            .as_ref()
            .filter(|a| a.key == k)
            .map(|a| Teardown::stored(r, a))
    });
    match found {
        Some(mut t) => {
            // The runtime's configuration is the current one for IPAM; the stored one is for
            // when the runtime has none (GC).
            if conf.ipam.is_some() {
                t.att.conf = conf.stored();
                t.att.ipam_added = true;
            }
            teardown(e, env, &t)
        }
        None => {
            if let Some(plugin) = &conf.ipam {
                ipam::exec(
                    env,
                    plugin,
                    "DEL",
                    &env.container_id,
                    &env.ifname,
                    &conf.raw,
                )?;
            }
            Ok(())
        }
    }
}

/// CHECK: the attachment is recorded and active, the VF knobs still read back as set, the
/// netdev is in the pod under its name, up, with the MTU asked for and the addresses of
/// prevResult; then the IPAM plugin's own CHECK.
pub fn check(e: &Engine<'_>, env: &Env, conf: &NetConf) -> Result<(), CniError> {
    let prev = conf
        .prev_result
        .as_ref()
        .ok_or_else(|| CniError::key("prevResult", "missing: CHECK needs the ADD result"))?;
    let prev = CniResult::parse(prev, "prevResult")?;
    let k = key(conf, env);
    let st = crate::store::read_state(&e.state_dir).map_err(|x| engine_error(x.into()))?;
    let rec = st
        .allocations
        .iter()
        .find(|r| r.cni.as_ref().is_some_and(|a| a.key == k))
        .ok_or_else(|| {
            CniError::new(code::UNKNOWN_CONTAINER, format!("no VF is attached as {k}"))
        })?;
    let att = rec.cni.as_ref().expect("found by key");
    let drift = |what: String| CniError::new(code::DRIFT, format!("{k}: {what}"));
    if att.phase != AttachPhase::Active {
        return Err(drift("ADD never completed".into()));
    }
    let knobs = e.knob_drift(rec).map_err(engine_error)?;
    if !knobs.is_empty() {
        return Err(drift(format!("VF {}: {}", rec.vf, knobs.join("; "))));
    }
    if att.host_ifname.is_some() {
        let ns = Netns::open(env.netns.as_deref().unwrap_or_default())
            .map_err(|x| CniError::new(code::UNKNOWN_CONTAINER, x.to_string()))?;
        let seen = sandbox::find_in(&ns, &env.ifname, &rec.vf, att.sandbox_ifindex)
            .map_err(kernel)?
            .ok_or_else(|| drift(format!("{} is not in the pod's namespace", env.ifname)))?;
        if !seen.link.up {
            return Err(drift(format!("{} is down", env.ifname)));
        }
        if let Some(m) = conf.mtu.filter(|m| *m != seen.link.mtu) {
            return Err(drift(format!("MTU is {}, not {m}", seen.link.mtu)));
        }
        let ours: BTreeSet<usize> = prev
            .interfaces
            .iter()
            .enumerate()
            .filter(|(_, i)| i.name == env.ifname && i.sandbox.is_some())
            .map(|(n, _)| n)
            .collect();
        for ip in prev
            .ips
            .iter()
            .filter(|i| i.interface.is_some_and(|n| ours.contains(&n)))
        {
            if !seen.addrs.contains(&ip.address) {
                return Err(drift(format!("address {} is missing", ip.address)));
            }
        }
    }
    if let Some(plugin) = &conf.ipam {
        ipam::exec(
            env,
            plugin,
            "CHECK",
            &env.container_id,
            &env.ifname,
            &conf.raw,
        )?;
    }
    Ok(())
}

/// GC (1.1.0): every attachment of this network that is not in
/// `cni.dev/valid-attachments` is torn down with the configuration it was added with; then
/// the IPAM plugin gets the GC too (a plugin that predates GC is skipped).
pub fn gc(e: &Engine<'_>, env: &Env, conf: &NetConf) -> Result<(), CniError> {
    let valid: BTreeSet<(String, String)> = match conf.raw.get("cni.dev/valid-attachments") {
        None | Some(Value::Null) => BTreeSet::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                let s = |k: &str| x.get(k).and_then(Value::as_str).map(String::from);
                match (s("containerID"), s("ifname")) {
                    (Some(c), Some(i)) => Ok((c, i)),
                    _ => Err(CniError::key(
                        "cni.dev/valid-attachments",
                        format!("{x} lacks containerID or ifname"),
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(CniError::key(
                "cni.dev/valid-attachments",
                format!("{other} is not a list"),
            ))
        }
    };
    let st = crate::store::read_state(&e.state_dir).map_err(|x| engine_error(x.into()))?;
    let stale: Vec<Teardown> = st
        .allocations
        .iter()
        .filter_map(|r| r.cni.as_ref().map(|a| Teardown::stored(r, a)))
        .filter(|t| t.key.network == conf.name)
        .filter(|t| !valid.contains(&(t.key.container_id.clone(), t.key.ifname.clone())))
        .collect();
    let quiet = Env {
        args: vec![],
        netns: None,
        ..env.clone()
    };
    let mut first_err = None;
    for t in &stale {
        tracing::info!(key = %t.key, vf = %t.vf, "GC: releasing a stale attachment");
        if let Err(err) = teardown(e, &quiet, t) {
            tracing::error!(key = %t.key, "{err}");
            first_err.get_or_insert(err);
        }
    }
    if let Some(plugin) = &conf.ipam {
        match ipam::exec(env, plugin, "GC", "", "", &conf.raw) {
            Ok(_) => {}
            Err(err) if err.code == code::INCOMPATIBLE_VERSION || err.code == code::INVALID_ENV => {
                tracing::info!(plugin, "the IPAM plugin does not do GC: {err}");
            }
            Err(err) => {
                first_err.get_or_insert(err);
            }
        }
    }
    match first_err {
        Some(err) => Err(err),
        None => Ok(()),
    }
}
