//! The pod side: network namespaces and the VF netdev in them. These are real kernel
//! operations on whatever netdev the VF has (igbvf, iavf, mlx5; a dummy in tests), through
//! the one rtnetlink client; the VF's own settings stay with the engine.
//!
//! A namespace is entered on a short-lived thread (`setns` changes only the calling thread),
//! so the process itself never leaves the host namespace and no error path can strand it
//! in a pod's.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::rtnl::{Link, LinkChange, Request, Rtnl, RtnlError};
use crate::types::{IpPrefix, MacAddress, PciAddress};

use super::result::{IpConfig, Route};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("network namespace {path}: {source}")]
    Netns {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}: {source}")]
    Rtnl {
        op: String,
        #[source]
        source: RtnlError,
    },
    #[error("{0}")]
    NotFound(String),
}

fn rt_err(op: impl Into<String>) -> impl FnOnce(RtnlError) -> SandboxError {
    let op = op.into();
    move |source| SandboxError::Rtnl { op, source }
}

/// An open network namespace (a pod's `CNI_NETNS`, or the host's own).
pub struct Netns {
    fd: OwnedFd,
    pub path: String,
}

impl Netns {
    pub fn open(path: &str) -> Result<Netns, SandboxError> {
        let fd = rustix::fs::open(
            path,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| SandboxError::Netns {
            path: path.to_string(),
            source: e.into(),
        })?;
        Ok(Netns {
            fd,
            path: path.to_string(),
        })
    }

    /// The calling thread's namespace (the host's, from the main thread).
    pub fn current() -> Result<Netns, SandboxError> {
        Netns::open("/proc/thread-self/ns/net")
    }

    /// Run `f` on a thread inside this namespace.
    pub fn run<R: Send>(
        &self,
        f: impl FnOnce() -> Result<R, SandboxError> + Send,
    ) -> Result<R, SandboxError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                rustix::thread::move_into_link_name_space(
                    self.fd.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| SandboxError::Netns {
                    path: self.path.clone(),
                    source: e.into(),
                })?;
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

/// The VF netdev as it ended up in the pod.
#[derive(Debug, Clone)]
pub struct InPod {
    pub index: u32,
    pub mac: Option<String>,
    pub mtu: u32,
}

fn set(rt: &mut Rtnl, link: &Link, ch: &LinkChange) -> Result<(), SandboxError> {
    rt.request(Request::set_link(link.index, &link.name, ch))
        .map_err(rt_err(format!("configuring {}", link.name)))
}

/// Move host netdev `host_name` into `ns` as `ifname`, with `mtu` and `mac` if given, up.
pub fn move_in(
    ns: &Netns,
    host_name: &str,
    ifname: &str,
    mtu: Option<u32>,
    mac: Option<MacAddress>,
) -> Result<InPod, SandboxError> {
    let _s = tracing::info_span!("cni_move_in", host_name, ifname, netns = %ns.path).entered();
    let mut rt = Rtnl::open().map_err(rt_err("rtnetlink"))?;
    let link = rt
        .get_link(host_name)
        .map_err(rt_err(format!("looking up {host_name}")))?
        .ok_or_else(|| {
            SandboxError::NotFound(format!("netdev {host_name} is not in the host namespace"))
        })?;
    rt.request(Request::move_link(
        link.index,
        host_name,
        ns.fd.as_raw_fd(),
        Some(ifname),
    ))
    .map_err(rt_err(format!(
        "moving {host_name} into {} as {ifname}",
        ns.path
    )))?;
    let index = link.index;
    ns.run(move || {
        let mut rt = Rtnl::open().map_err(rt_err("rtnetlink in the pod"))?;
        let mut l = match rt
            .get_link(ifname)
            .map_err(rt_err(format!("looking up {ifname}")))?
        {
            Some(l) => l,
            None => {
                // An older kernel kept the host name across the move: rename in the pod.
                let l = rt
                    .get_link_by_index(index)
                    .map_err(rt_err("looking up the moved netdev"))?
                    .ok_or_else(|| {
                        SandboxError::NotFound(format!("{host_name} vanished during the move"))
                    })?;
                rt.request(Request::rename_link(l.index, &l.name, ifname))
                    .map_err(rt_err(format!("renaming {} to {ifname}", l.name)))?;
                rt.get_link(ifname)
                    .map_err(rt_err(format!("looking up {ifname}")))?
                    .ok_or_else(|| {
                        SandboxError::NotFound(format!("{ifname} vanished after the rename"))
                    })?
            }
        };
        let want_mac = mac.map(|m| m.octets());
        let ch = LinkChange {
            mtu: mtu.filter(|m| *m != l.mtu),
            address: want_mac.filter(|m| l.address.as_deref() != Some(&m[..])),
            up: Some(true),
            ..Default::default()
        };
        set(&mut rt, &l, &ch)?;
        l = rt
            .get_link(ifname)
            .map_err(rt_err(format!("reading {ifname} back")))?
            .ok_or_else(|| SandboxError::NotFound(format!("{ifname} vanished")))?;
        if let Some(m) = mtu {
            if l.mtu != m {
                return Err(SandboxError::NotFound(format!(
                    "{ifname}: MTU reads back as {}, not {m}",
                    l.mtu
                )));
            }
        }
        Ok(InPod {
            index: l.index,
            mac: l.mac_string(),
            mtu: l.mtu,
        })
    })
}

/// Addresses and routes from an IPAM result on `ifname` inside `ns`. A route without a
/// gateway takes the gateway of the first address of its family (as the reference plugins
/// do); one that already exists is fine (a retried ADD).
pub fn configure_ip(
    ns: &Netns,
    ifname: &str,
    ips: &[IpConfig],
    routes: &[Route],
) -> Result<(), SandboxError> {
    let _s = tracing::info_span!("cni_configure_ip", ifname, n_ips = ips.len()).entered();
    ns.run(|| {
        let mut rt = Rtnl::open().map_err(rt_err("rtnetlink in the pod"))?;
        let l = rt
            .get_link(ifname)
            .map_err(rt_err(format!("looking up {ifname}")))?
            .ok_or_else(|| SandboxError::NotFound(format!("{ifname} is not in the pod")))?;
        let ok_exists = |r: Result<(), RtnlError>| match r {
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
            other => other,
        };
        for ip in ips {
            ok_exists(rt.request(Request::new_addr(l.index, ifname, &ip.address)))
                .map_err(rt_err(format!("adding {} to {ifname}", ip.address)))?;
        }
        for r in routes {
            let gw = r.gw.or_else(|| {
                ips.iter()
                    .filter(|i| i.address.is_ipv4() == r.dst.is_ipv4())
                    .find_map(|i| i.gateway)
            });
            ok_exists(rt.request(Request::new_route(l.index, ifname, &r.dst, gw, r.priority)))
                .map_err(rt_err(format!("adding route {} on {ifname}", r.dst)))?;
        }
        Ok(())
    })
}

/// Whether `l` is the VF's netdev: by the parent device the kernel reports, else by the
/// ifindex recorded at ADD.
fn is_ours(l: &Link, vf: &PciAddress, index: Option<u32>) -> bool {
    match &l.parent_dev {
        Some(p) if p.parse::<PciAddress>().is_ok() => p == &vf.to_string(),
        _ => index == Some(l.index),
    }
}

/// What CHECK sees of the netdev in the pod.
#[derive(Debug, Clone)]
pub struct Seen {
    pub link: Link,
    pub addrs: Vec<IpPrefix>,
}

/// The VF netdev `ifname` in `ns`, if it is there and is the VF's.
pub fn find_in(
    ns: &Netns,
    ifname: &str,
    vf: &PciAddress,
    index: Option<u32>,
) -> Result<Option<Seen>, SandboxError> {
    ns.run(|| {
        let mut rt = Rtnl::open().map_err(rt_err("rtnetlink in the pod"))?;
        let Some(l) = rt
            .get_link(ifname)
            .map_err(rt_err(format!("looking up {ifname}")))?
        else {
            return Ok(None);
        };
        if !is_ours(&l, vf, index) {
            return Ok(None);
        }
        let addrs = rt
            .addrs_of(l.index)
            .map_err(rt_err(format!("addresses of {ifname}")))?;
        Ok(Some(Seen { link: l, addrs }))
    })
}

/// Move the VF netdev `ifname` out of `ns` back into `host` as `host_name` (down, as it was
/// found). False when it is not in `ns` (already moved, or the namespace was emptied).
pub fn move_out(
    ns: &Netns,
    ifname: &str,
    vf: &PciAddress,
    index: Option<u32>,
    host: &Netns,
    host_name: &str,
) -> Result<bool, SandboxError> {
    let _s = tracing::info_span!("cni_move_out", ifname, host_name, netns = %ns.path).entered();
    let host_fd = host.fd.as_raw_fd();
    ns.run(|| {
        let mut rt = Rtnl::open().map_err(rt_err("rtnetlink in the pod"))?;
        let Some(l) = rt
            .get_link(ifname)
            .map_err(rt_err(format!("looking up {ifname}")))?
        else {
            return Ok(false);
        };
        if !is_ours(&l, vf, index) {
            tracing::warn!(
                ifname,
                "the pod's {ifname} is not this VF's netdev; leaving it"
            );
            return Ok(false);
        }
        // The kernel drops the pod's addresses with the move; down first, as it was found.
        set(
            &mut rt,
            &l,
            &LinkChange {
                up: Some(false),
                ..Default::default()
            },
        )?;
        rt.request(Request::move_link(
            l.index,
            ifname,
            host_fd,
            Some(host_name),
        ))
        .map_err(rt_err(format!(
            "moving {ifname} back to the host as {host_name}"
        )))?;
        Ok(true)
    })
}

/// In the host namespace: give the VF netdev (now called `now`) its name `host_name` and
/// MTU back. Used after a move out, and when the pod's namespace was deleted first (the
/// kernel then returns a physical netdev to the initial namespace under its pod name).
pub fn restore_in_host(
    now: &str,
    host_name: &str,
    mtu: Option<u32>,
    mac: Option<&str>,
) -> Result<(), SandboxError> {
    let _s = tracing::info_span!("cni_restore_host_netdev", now, host_name).entered();
    let mut rt = Rtnl::open().map_err(rt_err("rtnetlink"))?;
    let Some(l) = rt
        .get_link(now)
        .map_err(rt_err(format!("looking up {now}")))?
    else {
        return Ok(());
    };
    if l.up {
        set(
            &mut rt,
            &l,
            &LinkChange {
                up: Some(false),
                ..Default::default()
            },
        )?;
    }
    if now != host_name {
        rt.request(Request::rename_link(l.index, now, host_name))
            .map_err(rt_err(format!("renaming {now} back to {host_name}")))?;
    }
    let mac = mac
        .and_then(|m| m.parse::<MacAddress>().ok())
        .map(|m| m.octets())
        .filter(|m| l.address.as_deref() != Some(&m[..]));
    let mtu = mtu.filter(|m| *m != l.mtu);
    if mac.is_some() || mtu.is_some() {
        let ch = LinkChange {
            mtu,
            address: mac,
            ..Default::default()
        };
        rt.request(Request::set_link(l.index, host_name, &ch))
            .map_err(rt_err(format!("restoring the MTU and MAC of {host_name}")))?;
    }
    Ok(())
}

/// A host netdev as the kernel reports it now (None when absent or unreadable).
pub fn host_link(name: &str) -> Option<Link> {
    Rtnl::open().ok()?.get_link(name).ok().flatten()
}
