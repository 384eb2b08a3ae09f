//! CNI benchmark (not a test; needs root for network namespaces): ADD+DEL round trips of
//! `vifman cni` on the simulated nfv-host, with a veth end standing in for the VF netdev
//! (see tests/cni.rs), split into
//! - the whole round trip as a runtime sees it (two process executions);
//! - the kernel's netdev part alone (move into the pod with rename, MTU, MAC, up; move back
//!   and rename), through the library;
//! - the rest is vifman's own work: process start, config, store (two durable writes per
//!   ADD and per DEL), host scan and the simulated VF settings.
//!
//!   cargo bench --bench cni            (CNI_BENCH_ROUNDS=N, default 50)

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vifman::cni::sandbox::{self, Netns};
use vifman::rtnl::{Request, Rtnl};

const NFV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sysfs/nfv-host");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nfv-host.toml");

fn pct(mut v: Vec<Duration>, p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn call(state: &std::path::Path, cmd: &str, netns: &str, conf: &str) -> Duration {
    let t = Instant::now();
    let mut c = Command::new(env!("CARGO_BIN_EXE_vifman"))
        .arg("cni")
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", "bench")
        .env("CNI_IFNAME", "net1")
        .env("CNI_NETNS", netns)
        .env("CNI_PATH", "/usr/lib/cni")
        .env("VIFMAN_SIMULATE", "1")
        .env("VIFMAN_SYSFS_ROOT", NFV)
        .env("VIFMAN_STATE_DIR", state)
        .env("VIFMAN_CONFIG", CONFIG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(conf.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    t.elapsed()
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("cni bench: needs root (network namespaces); skipped");
        return;
    }
    let rounds: usize = std::env::var("CNI_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    std::thread::spawn(move || {
        // SAFETY: unshare only affects this thread's namespace set.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        let mut rt = Rtnl::open().unwrap();
        rt.request(Request::new_veth("enp59s0f0v3", "benchpeer", None))
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, wait) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            // SAFETY: as above, for the pod's thread.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            let _ = wait.recv();
        });
        let pod = format!("/proc/{}/task/{}/ns/net", std::process::id(), rx.recv().unwrap());
        let work = tempfile::tempdir().unwrap();
        let state = work.path().join("state");
        let conf = r#"{"cniVersion":"1.0.0","name":"bench","type":"vifman-cni","deviceID":"0000:3b:02.3",
            "vlan":100,"mac":"02:00:00:00:be:01","trust":"on","mtu":1400}"#;
        call(&state, "ADD", &pod, conf);
        call(&state, "DEL", &pod, conf);
        let (mut add, mut del) = (vec![], vec![]);
        for _ in 0..rounds {
            add.push(call(&state, "ADD", &pod, conf));
            del.push(call(&state, "DEL", &pod, conf));
        }
        let ns = Netns::open(&pod).unwrap();
        let host = Netns::current().unwrap();
        let vf = "0000:3b:02.3".parse().unwrap();
        let mut kernel = vec![];
        for _ in 0..rounds {
            let t = Instant::now();
            let p = sandbox::move_in(&ns, "enp59s0f0v3", "net1", Some(1400), "02:00:00:00:be:01".parse().ok()).unwrap();
            assert!(sandbox::move_out(&ns, "net1", &vf, Some(p.index), &host, "enp59s0f0v3").unwrap());
            sandbox::restore_in_host("enp59s0f0v3", "enp59s0f0v3", Some(1500), None).unwrap();
            kernel.push(t.elapsed());
        }
        let rt_med = pct(add.clone(), 50) + pct(del.clone(), 50);
        let k = pct(kernel.clone(), 50);
        println!("cni bench: {rounds} rounds, simulated nfv-host, veth stand-in for the VF netdev");
        println!("  ADD             p50 {:>8.2?}  p95 {:>8.2?}", pct(add.clone(), 50), pct(add, 95));
        println!("  DEL             p50 {:>8.2?}  p95 {:>8.2?}", pct(del.clone(), 50), pct(del, 95));
        println!("  ADD+DEL         p50 {rt_med:>8.2?}");
        println!("  kernel netdev   p50 {k:>8.2?}  p95 {:>8.2?}  (move in + rename + MTU/MAC/up, move back + rename + MTU)", pct(kernel, 95));
        println!("  vifman's own    p50 {:>8.2?}  (round trip minus the kernel's netdev part)", rt_med.saturating_sub(k));
        drop(stop);
    })
    .join()
    .unwrap();
}
