//! Assignment benchmark (not a test): durable allocate+release throughput on a simulated
//! 16 PF × 128 VF host, and the cost of one real RTM_SETLINK VF round trip.
//!
//!   cargo bench --bench assign            (ASSIGN_BENCH_OPS=N to change the op count)

use std::time::{Duration, Instant};

use vifman::config::Config;
use vifman::engine::{AllocMode, AllocateRequest, Engine};
use vifman::fixture::synth::{build, SynthSpec};
use vifman::host::{Knob, SimHost};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let ops: u32 = std::env::var("ASSIGN_BENCH_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let work = tempfile::tempdir().unwrap();
    // ASSIGN_BENCH_HOST=DIR reuses a generated host (a scratch copy the bench may modify), so
    // a profiler sees the allocate/release loop and not the 70,000-file fixture write.
    let host_dir = match std::env::var_os("ASSIGN_BENCH_HOST") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            let d = work.path().join("host");
            let model = vifman::hwdb::by_key("intel-e810-xxv-sfp").expect("hwdb model");
            let spec = build(&SynthSpec {
                pfs: 16,
                vfs: 128,
                model,
            })
            .unwrap();
            vifman::fixture::write_host(&d, &spec).unwrap();
            d
        }
    };
    let sim = SimHost::in_place(&host_dir).unwrap();
    let config = Config::parse("exclude_default_route = false\n[[device_spec]]\naddress = \"*:*:*.*\"\nphysical_network = \"p\"\n", std::path::Path::new("bench.toml")).unwrap();
    let state = work.path().join("state");
    let engine = Engine::new(&sim, &config, &state);

    // Warm the page cache and the store.
    let free = engine.pools().unwrap().pools[0].free;
    println!("simulated host: 16 PFs x 128 VFs = 2048 VFs, {free} free in the pool");

    let mut alloc_t = vec![];
    let mut rel_t = vec![];
    let start = Instant::now();
    for i in 0..ops {
        let id: vifman::types::Uuid = format!("6f0f6f2c-7c9a-4b9d-9c9f-{i:012x}").parse().unwrap();
        let mut req = AllocateRequest::new(
            "p",
            "11111111-2222-3333-4444-555555555555".parse().unwrap(),
            id,
            AllocMode::Hostdev,
        )
        .unwrap();
        req.set_mac(&format!("02:42:00:00:{:02x}:{:02x}", i >> 8, i & 0xff))
            .unwrap();
        req.set_vlan("100").unwrap();
        let t = Instant::now();
        engine.allocate(&req, false).unwrap();
        alloc_t.push(t.elapsed());
        let t = Instant::now();
        engine.release(&id).unwrap();
        rel_t.push(t.elapsed());
    }
    let total = start.elapsed();
    println!(
        "allocate+release (durable store, MAC+VLAN, read-back): {ops} cycles in {:.2} s = {:.0} ops/s ({:.0} cycles/s); median allocate {:.2} ms, release {:.2} ms",
        total.as_secs_f64(),
        (2 * ops) as f64 / total.as_secs_f64(),
        ops as f64 / total.as_secs_f64(),
        median(alloc_t).as_secs_f64() * 1e3,
        median(rel_t).as_secs_f64() * 1e3
    );

    // The store alone: one durable write.
    let mut st = vifman::store::Store::open(&work.path().join("s2")).unwrap();
    let payload: Vec<u32> = (0..64).collect();
    let t = Instant::now();
    for _ in 0..500 {
        st.save(&payload).unwrap();
    }
    println!(
        "store: one durable save (fdatasync) {:.3} ms",
        t.elapsed().as_secs_f64() * 1e3 / 500.0
    );

    // One real VF netlink round trip: RTM_SETLINK + ack against a veth in a private netns
    // (EOPNOTSUPP comes back after the kernel parsed and dispatched the request).
    let r = std::thread::spawn(|| {
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return None;
        }
        std::process::Command::new("ip")
            .args(["link", "add", "bv0", "type", "veth", "peer", "name", "bv1"])
            .status()
            .ok()?;
        let pf = "bv0".parse().unwrap();
        let knob = Knob::Trust { on: true };
        let mut v = vec![];
        for _ in 0..2000 {
            let t = Instant::now();
            let _ = vifman::rtnl::Rtnl::open().and_then(|mut s| s.set_vf(&pf, 0, &knob));
            v.push(t.elapsed());
        }
        Some(median(v))
    })
    .join()
    .unwrap();
    match r {
        Some(d) => println!(
            "one VF netlink config round trip (socket + RTM_SETLINK + ack): median {:.1} µs",
            d.as_secs_f64() * 1e6
        ),
        None => println!("VF netlink round trip: skipped (needs root for a private netns)"),
    }
}
