//! Host-state benchmark (not a test): `apply` from a bare simulated host (16 PFs, no VFs) to
//! 16 PF × 128 VF with stable MACs, spoofchk and a vfio-pci range, then a no-change apply on
//! the same host, next to one inventory of that host (the no-change apply's goal: no more
//! than one inventory).
//!
//!   cargo bench --bench apply            (APPLY_BENCH_ROUNDS=N no-change rounds, default 5)

use std::time::{Duration, Instant};

use vifman::config::policy::Policy;
use vifman::config::Config;
use vifman::engine::apply::ApplyOptions;
use vifman::engine::{Engine, HostView};
use vifman::fixture::synth::{build, SynthSpec};
use vifman::host::SimHost;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("APPLY_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let work = tempfile::tempdir().unwrap();
    let host_dir = work.path().join("host");
    let model = vifman::hwdb::by_key("intel-e810-xxv-sfp").expect("hwdb model");
    let spec = build(&SynthSpec {
        pfs: 16,
        vfs: 0,
        model,
    })
    .unwrap();
    vifman::fixture::write_host(&host_dir, &spec).unwrap();
    let sim = SimHost::in_place(&host_dir).unwrap();
    let config = Config::parse(
        "exclude_default_route = false\n",
        std::path::Path::new("bench.toml"),
    )
    .unwrap();
    let policy = Policy::parse(
        "[[pf]]\ndevice = \"8086:159b\"\nnumvfs = 128\nmtu = 9000\n\
         [[pf.vf]]\nvfs = \"0-127\"\nmac = \"stable\"\nspoofchk = false\n\
         [[pf.vf]]\nvfs = \"96-127\"\ndriver = \"vfio-pci\"\n",
        std::path::Path::new("bench-policy.toml"),
        true,
    )
    .unwrap();
    let state = work.path().join("state");
    let engine = Engine::new(&sim, &config, &state);

    let t = Instant::now();
    let r = engine
        .apply(&policy, ApplyOptions::default())
        .expect("bare apply");
    let bare = t.elapsed();
    for s in r.steps.iter().filter(|s| s.error.is_some()) {
        eprintln!(
            "{:?} {}: {} -> {}: {}",
            s.status,
            s.object,
            s.old,
            s.new,
            s.error.as_deref().unwrap_or("")
        );
    }
    let writes = vifman::host::sim::read_journal(&host_dir).len();
    println!(
        "bare -> 16 PF x 128 VF: {} steps, {writes} kernel writes, {:.2} s ({:.0} us/step), outcome {:?}",
        r.steps.len(),
        bare.as_secs_f64(),
        bare.as_secs_f64() * 1e6 / r.steps.len().max(1) as f64,
        r.outcome
    );

    let mut nochange = vec![];
    let mut inventory = vec![];
    for _ in 0..rounds {
        let t = Instant::now();
        let r = engine
            .apply(&policy, ApplyOptions::default())
            .expect("no-change apply");
        nochange.push(t.elapsed());
        assert!(r.steps.is_empty(), "not in sync: {} steps", r.steps.len());
        let t = Instant::now();
        let v = HostView::load(&sim).expect("inventory");
        inventory.push(t.elapsed());
        assert_eq!(v.vfs.len(), 16 * 128);
    }
    assert_eq!(
        vifman::host::sim::read_journal(&host_dir).len(),
        writes,
        "a no-change apply wrote"
    );
    println!(
        "no-change apply: median {:.1} ms over {rounds} rounds, 0 writes; one inventory (scan + VF state): median {:.1} ms",
        median(nochange).as_secs_f64() * 1e3,
        median(inventory).as_secs_f64() * 1e3
    );
}
