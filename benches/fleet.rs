//! Fleet benchmark (not a test), on simulated hosts:
//!  1. latency from a numvfs change to the device plugin's ListAndWatch update (nfv-host and
//!     a 16 PF x 128 VF host), through the real gRPC stream over a unix socket;
//!  2. Placement sync of the 16 x 128 host against the REAL Placement 16.0.0
//!     (tests/placement/sandbox.sh): first sync and a no-change re-sync.
//!
//!   cargo bench --bench fleet --features fleet     (FLEET_BENCH_ROUNDS=N, FLEET_BENCH_NO_PLACEMENT=1)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_stream::StreamExt;
use vifman::config::Config;
use vifman::engine::{AllocMode, Engine};
use vifman::fixture::synth::{build, SynthSpec};
use vifman::fleet::deviceplugin::{self, register::uds_channel};
use vifman::fleet::metrics::Metrics;
use vifman::fleet::placement::{self, Client};
use vifman::fleet::proto::device_plugin_client::DevicePluginClient;
use vifman::fleet::proto::Empty;
use vifman::fleet::snapshot;
use vifman::fleet::worker::EngineWorker;
use vifman::host::SimHost;

const ALL: &str = "exclude_default_route = false\n[[device_spec]]\naddress = \"*:*:*.*\"\nphysical_network = \"p\"\n";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn worker_for(root: PathBuf, config: &str, state: &Path) -> EngineWorker {
    let text = config.to_string();
    let factory = Box::new(move || -> Result<_, String> {
        let host = SimHost::in_place(&root).map_err(|e| e.to_string())?;
        let config = Config::parse(&text, Path::new("bench.toml")).map_err(|e| e.to_string())?;
        Ok((Box::new(host) as Box<dyn vifman::host::Host>, config))
    });
    EngineWorker::spawn(factory, state.to_path_buf()).unwrap()
}

/// Toggle a PF between `a` and `b` VFs `rounds` times; time each change until the stream shows it.
async fn plugin_latency(
    label: &str,
    root: &Path,
    config: &str,
    pf: &str,
    counts: (u32, u32),
    rounds: usize,
) {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let kdir = work.path().join("kubelet");
    let worker = worker_for(root.to_path_buf(), config, &state);
    let opts = deviceplugin::Options {
        kubelet_dir: kdir.clone(),
        resource_prefix: "vifman.io".into(),
        mode: AllocMode::Hostdev,
        rescan_interval: Duration::from_secs(3600),
        metrics_listen: None,
        devinfo_dir: None,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(deviceplugin::run(
        worker,
        opts,
        Arc::new(Metrics::new()),
        async {
            let _ = stop_rx.await;
        },
    ));
    let sock = kdir.join(deviceplugin::endpoint_for("p"));
    while !sock.exists() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut client = DevicePluginClient::new(uds_channel(&sock).await.unwrap());
    let mut stream = client.list_and_watch(Empty {}).await.unwrap().into_inner();
    let initial = stream.next().await.unwrap().unwrap().devices.len();
    // The changes come from a separate engine, as `vifman numvfs --simulate` would make them.
    let sim = SimHost::in_place(root).unwrap();
    let cfg = Config::parse(config, Path::new("bench.toml")).unwrap();
    let cli_state = work.path().join("cli-state");
    let mut from_write = vec![];
    let mut after_done = vec![];
    let delta = (counts.0 - counts.1) as usize;
    for i in 0..rounds {
        let (target, want) = if i % 2 == 0 {
            (counts.1, initial - delta)
        } else {
            (counts.0, initial)
        };
        let t = Instant::now();
        {
            let engine = Engine::new(&sim, &cfg, &cli_state);
            engine
                .numvfs(pf, target, None, Duration::from_secs(10))
                .unwrap();
        }
        let done = Instant::now();
        // Intermediate lists (the count passes through 0 first) may arrive; wait for the final one.
        loop {
            let m = tokio::time::timeout(Duration::from_secs(20), stream.next())
                .await
                .expect("update")
                .unwrap()
                .unwrap();
            if m.devices.len() == want {
                break;
            }
        }
        from_write.push(t.elapsed());
        after_done.push(done.elapsed());
    }
    println!(
        "{label}: numvfs -> final ListAndWatch update: median {} from the first sysfs write (max {}), median {} after numvfs returned (max {}); {rounds} changes, {initial} devices",
        ms(median(from_write.clone())),
        ms(*from_write.iter().max().unwrap()),
        ms(median(after_done.clone())),
        ms(*after_done.iter().max().unwrap()),
    );
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), daemon).await;
}

fn placement_bench(root: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/placement/sandbox.sh");
    let o = Command::new(script)
        .arg("start")
        .arg(dir.path())
        .output()
        .unwrap();
    if !o.status.success() {
        println!(
            "placement: sandbox did not start, skipped: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        return;
    }
    let url = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let state = tempfile::tempdir().unwrap();
    let worker = worker_for(root.to_path_buf(), ALL, state.path());
    let client = Client::new(&url, "admin").unwrap();
    let t = Instant::now();
    let snap = worker.call_blocking(snapshot::take).unwrap().unwrap();
    let scan = t.elapsed();
    let desired = placement::desired(&snap, "bench-host", None);
    let t = Instant::now();
    let first = placement::sync(&client, &desired).unwrap();
    let first_t = t.elapsed();
    let mut again = vec![];
    let mut last = None;
    for _ in 0..3 {
        let t = Instant::now();
        let r = placement::sync(&client, &desired).unwrap();
        again.push(t.elapsed());
        last = Some(r);
    }
    let last = last.unwrap();
    println!(
        "placement sync, 16 PF x 128 VF ({} providers, {} VFs): host scan {}; first sync {} ({} requests, {} writes); no-change re-sync median {} ({} requests, {} writes)",
        desired.len(),
        snap.vfs.len(),
        ms(scan),
        ms(first_t),
        first.requests,
        first.writes,
        ms(median(again)),
        last.requests,
        last.writes
    );
    let _ = Command::new(script).arg("stop").arg(dir.path()).output();
}

fn main() {
    let rounds: usize = std::env::var("FLEET_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let work = tempfile::tempdir().unwrap();
    // nfv-host copy (the bench changes it).
    let nfv = work.path().join("nfv");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/nfv-host");
    let st = work.path().join("nfv-state");
    let sim_dir = SimHost::open(&src, &st).unwrap().dir().to_path_buf();
    std::fs::rename(sim_dir, &nfv).unwrap();
    // 16 PF x 128 VF host.
    let big = work.path().join("big");
    let model = vifman::hwdb::by_key("intel-e810-xxv-sfp").expect("hwdb model");
    let t = Instant::now();
    let spec = build(&SynthSpec {
        pfs: 16,
        vfs: 128,
        model,
    })
    .unwrap();
    vifman::fixture::write_host(&big, &spec).unwrap();
    println!("generated a 16 PF x 128 VF host in {}", ms(t.elapsed()));
    let big_pf = {
        let sim = SimHost::in_place(&big).unwrap();
        let scan = vifman::host::Host::scan(&sim);
        let pf = scan
            .physical_functions()
            .next()
            .unwrap()
            .address
            .to_string();
        pf
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(plugin_latency(
        "nfv-host (enp134s0 16<->8 VFs)",
        &nfv,
        ALL,
        "enp134s0",
        (16, 8),
        rounds,
    ));
    rt.block_on(plugin_latency(
        "16x128 host (one PF 128<->64 VFs)",
        &big,
        ALL,
        &big_pf,
        (128, 64),
        rounds.min(6),
    ));
    if std::env::var_os("FLEET_BENCH_NO_PLACEMENT").is_none() {
        placement_bench(&big);
    }
}
