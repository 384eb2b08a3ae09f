//! A CNI runtime for tests: pod-shaped network namespaces and the plugin executed exactly as
//! a runtime executes it (CNI_* in the environment, the configuration on stdin, the result or
//! error object on stdout), against a simulated host's VF state.
//!
//! Without SR-IOV hardware, each VF netdev is stood in for by one end of a veth pair named
//! as the fixture names the VF's netdev: the moves, renames, MTU, MAC, addresses and routes
//! are real kernel operations on a real netdev; the PF-side VF settings are the simulation's.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde_json::Value;
use vifman::backend::rtnl::{Request, Rtnl};

use super::cli::{output_within, text, under, BIN, LIMIT};
use super::sim::{sim_kernel, sim_vf_state, CONFIG, NFV};

pub const CNI_BIN_DIR: &str = "/usr/lib/cni";

/// Why the real-IPAM tests cannot run, or None.
pub fn no_cni_plugins() -> Option<String> {
    (!Path::new(CNI_BIN_DIR).join("host-local").exists()).then(|| {
        format!("{CNI_BIN_DIR}/host-local missing: install containernetworking-plugins (scripts/deps.sh)")
    })
}

/// A pod's network namespace: a thread parked in a fresh one. Its path is the thread's
/// `ns/net` link, which a runtime could pass as CNI_NETNS just the same; dropping the pod
/// ends the thread and with it the namespace.
pub struct Pod {
    path: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Pod {
    pub fn new() -> Pod {
        let (tx, rx) = mpsc::channel();
        let (stop, wait) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // SAFETY: unshare only affects this thread's namespace set.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare");
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            tx.send(tid).unwrap();
            let _ = wait.recv();
        });
        let tid = rx.recv().unwrap();
        Pod {
            path: format!("/proc/{}/task/{tid}/ns/net", std::process::id()),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Run `f` inside the pod's namespace (on a thread of its own).
    pub fn inside<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let fd = std::fs::File::open(&self.path).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                use std::os::fd::AsRawFd;
                // SAFETY: setns on this scoped thread only; fd is a namespace file we opened.
                assert_eq!(
                    unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) },
                    0
                );
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// The pod's links (name, mtu, mac, up) and addresses of `ifname`.
    pub fn link(&self, ifname: &str) -> Option<(vifman::rtnl::Link, Vec<String>)> {
        self.inside(|| {
            let mut rt = Rtnl::open().unwrap();
            let l = rt.get_link(ifname).unwrap()?;
            let a = rt
                .addrs_of(l.index)
                .unwrap()
                .iter()
                .map(|p| p.to_string())
                .collect();
            Some((l, a))
        })
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A veth end named `name` in the current namespace, standing in for a VF netdev; the
/// other end gets a name of its own (unique, since a deleted pod frees names lazily).
pub fn stand_in(name: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let peer = format!(
        "sip{}x{}",
        std::process::id() % 10000,
        N.fetch_add(1, Ordering::Relaxed)
    );
    Rtnl::open()
        .unwrap()
        .request(Request::new_veth(name, &peer, None))
        .unwrap_or_else(|e| panic!("veth {name}: {e}"));
}

/// The runtime: one simulated host (nfv-host) and store.
pub struct Runtime {
    pub state: PathBuf,
    pub cni_path: String,
    /// Extra environment for every call (fault injection).
    pub env: Vec<(String, String)>,
    /// Run as `vifman-cni` (a symlink) instead of `vifman cni`.
    pub symlink: Option<PathBuf>,
}

/// One plugin call's answer.
#[derive(Debug)]
pub struct Answer {
    pub ok: bool,
    pub out: Option<Value>,
    pub stderr: String,
}

impl Answer {
    /// The error object's code (panics if the call succeeded).
    pub fn code(&self) -> u64 {
        assert!(!self.ok, "expected an error, got {:?}", self.out);
        self.out.as_ref().unwrap()["code"].as_u64().unwrap()
    }
    pub fn msg(&self) -> String {
        self.out.as_ref().unwrap()["msg"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Runtime {
    pub fn new(state: &Path) -> Runtime {
        Runtime {
            state: state.to_path_buf(),
            cni_path: CNI_BIN_DIR.into(),
            env: vec![],
            symlink: None,
        }
    }

    pub fn call(
        &self,
        command: &str,
        conf: &Value,
        container: &str,
        ifname: &str,
        netns: Option<&str>,
        args: &str,
    ) -> Answer {
        let mut c = match &self.symlink {
            Some(p) => under(p.to_str().unwrap()),
            None => {
                let mut c = under(BIN);
                c.arg("cni");
                c
            }
        };
        c.env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", container)
            .env("CNI_IFNAME", ifname)
            .env("CNI_ARGS", args)
            .env("CNI_PATH", &self.cni_path)
            .env("VIFMAN_SIMULATE", "1")
            .env("VIFMAN_SYSFS_ROOT", NFV)
            .env("VIFMAN_STATE_DIR", &self.state)
            .env("VIFMAN_CONFIG", CONFIG);
        match netns {
            Some(n) => c.env("CNI_NETNS", n),
            None => c.env_remove("CNI_NETNS"),
        };
        for (k, v) in &self.env {
            c.env(k, v);
        }
        let o = output_within(c, Some(conf.to_string().as_bytes()), LIMIT);
        let s = text(&o.stdout);
        let out = (!s.trim().is_empty()).then(|| {
            serde_json::from_str(&s).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {s}"))
        });
        Answer {
            ok: o.status.success(),
            out,
            stderr: text(&o.stderr),
        }
    }

    /// The simulated VF `vf` of PF netdev `pf` (netlink state, as JSON).
    pub fn vf(&self, pf: &str, vf: u32) -> Value {
        let st = sim_vf_state(&sim_kernel(NFV, &self.state));
        st["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == pf)
            .and_then(|l| l["vfs"].as_array().unwrap().iter().find(|v| v["vf"] == vf))
            .cloned()
            .unwrap_or_else(|| panic!("{pf} vf {vf} not in the simulation"))
    }

    /// The store's records (as `vifman allocations --json` would list them).
    pub fn records(&self) -> Vec<vifman::store::Allocation> {
        vifman::store::read_allocations(&self.state).unwrap()
    }
}
