//! How long does `vifman inventory` take on a big SR-IOV host, next to lspci and to simply
//! reading the same files? Generates a 16 PF x 128 VF host (2048 VFs, each with a netdev) into a
//! temp dir and times, in one run and on the same warm page cache:
//!   (a) vifman's inventory pipeline (sysfs scan + vf-state.json + join), as the CLI runs it;
//!   (b) `lspci -D -vmm -nn -A linux-sysfs -O sysfs.path=<tree>/sys/bus/pci`;
//!   (c) a bare walk reading the same attribute files and links with std::fs, no parsing.
//! Prints the median of N runs and the ratios. Run: `cargo bench --bench inventory [-- RUNS PFS VFS]`.
//! Not a test: nothing here asserts on time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vifman::fixture::{capture::resolve, layout, synth, write_host};

/// The attributes src/sysfs reads per PCI function and per netdev (besides the SR-IOV set), so
/// (c) does the same I/O as (a) minus parsing and joining.
const PCI_READS: &[&str] = &[
    "vendor",
    "device",
    "subsystem_vendor",
    "subsystem_device",
    "class",
    "revision",
    "numa_node",
    "driver_override",
];
const NET_READS: &[&str] = &[
    "address",
    "ifindex",
    "mtu",
    "operstate",
    "speed",
    "phys_port_name",
    "phys_switch_id",
    "phys_port_id",
];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    // `cargo bench` passes --bench; `cargo test --benches` does not, and gets a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let (d_runs, d_pfs, d_vfs) = if full { (11, 16, 128) } else { (1, 2, 4) };
    let runs: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(d_runs);
    let pfs: u16 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(d_pfs);
    let vfs: u16 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(d_vfs);

    let model = vifman::hwdb::by_key("intel-e810-xxv-sfp").expect("model in hwdb");
    let spec = synth::build(&synth::SynthSpec { pfs, vfs, model }).expect("host fits");
    let tmp = tempfile::tempdir().expect("temp dir");
    // INVENTORY_BENCH_TREE=DIR: reuse a tree from `vifman fixture generate` (writing 2048 VFs
    // takes seconds to a minute); it is created there if missing.
    let root = std::env::var_os("INVENTORY_BENCH_TREE")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("host"));
    if !root.join("sys").is_dir() {
        let t = Instant::now();
        write_host(&root, &spec).expect("write fixture");
        println!(
            "fixture: {pfs} PFs x {vfs} VFs = {} PCI functions, written in {:.1} ms",
            spec.devices.len(),
            ms(t.elapsed())
        );
    } else {
        println!("fixture: reusing {}", root.display());
    }

    let lspci = lspci_available();
    let mut results: Vec<(&str, Vec<Duration>)> = vec![("vifman inventory (a)", vec![])];
    if lspci {
        results.push(("lspci -vmm -nn (b)", vec![]));
    }
    results.push(("bare read (c)", vec![]));

    // One untimed round warms the page cache and the pci.ids lookup tables.
    let check = run_inventory(&root);
    let files = bare_read(&root);
    if lspci {
        run_lspci(&root);
    }
    println!("inventory sees {check} VFs; bare read touches {files} files/links; {runs} runs each");

    for _ in 0..runs {
        for (name, times) in results.iter_mut() {
            let t = Instant::now();
            if name.ends_with("(a)") {
                std::hint::black_box(run_inventory(&root));
            } else if name.ends_with("(b)") {
                run_lspci(&root);
            } else {
                std::hint::black_box(bare_read(&root));
            }
            times.push(t.elapsed());
        }
    }

    phases(&root, runs);
    let bare = median(&results.last().expect("bare").1);
    println!(
        "{:<24} {:>12} {:>12} {:>12} {:>10}",
        "what", "median ms", "min ms", "max ms", "x bare"
    );
    for (name, times) in &results {
        let m = median(times);
        println!(
            "{:<24} {:>12.2} {:>12.2} {:>12.2} {:>10.2}",
            name,
            ms(m),
            ms(*times.iter().min().expect("runs")),
            ms(*times.iter().max().expect("runs")),
            m.as_secs_f64() / bare.as_secs_f64()
        );
    }
    if lspci {
        let a = median(&results[0].1).as_secs_f64();
        let b = median(&results[1].1).as_secs_f64();
        println!("vifman inventory / lspci = {:.2}", a / b);
    } else {
        println!("lspci not installed (apt-get install pciutils): (b) skipped");
    }
}

/// The same path `vifman inventory --sysfs-root <root>` takes; returns the VF count so the work
/// cannot be optimised away.
fn run_inventory(root: &Path) -> usize {
    let r = vifman::sysfs::SysfsRoot::new(root).expect("fixture root");
    let inv = vifman::inventory::collect(&r, "bench");
    inv.physical_functions.iter().map(|p| p.vfs.len()).sum()
}

/// Where (a)'s time goes: the sysfs scan, the VF-state load and the join, timed apart.
fn phases(root: &Path, runs: usize) {
    let r = vifman::sysfs::SysfsRoot::new(root).expect("fixture root");
    let (mut scan, mut state, mut join, mut whole) = (vec![], vec![], vec![], vec![]);
    let (mut view, mut health) = (vec![], vec![]);
    let mut cpu = vec![];
    let (dump, ..) = vifman::inventory::load_link_dump(&r);
    for _ in 0..runs {
        let t = Instant::now();
        let report = vifman::sysfs::scan_with_links(&r, &dump.netdevs);
        scan.push(t.elapsed());
        let t = Instant::now();
        let (dump, origin, extra) = vifman::inventory::load_link_dump(&r);
        state.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(vifman::inventory::build(
            &report,
            "bench",
            &dump.links,
            origin,
            extra,
        ));
        join.push(t.elapsed());
        // The read model the CLI builds (the scan, the dump, in-use signals) and the health
        // sample on it: the parts of (a) beyond the three above, where a regression hid before.
        let t = Instant::now();
        let host = vifman::host::RealHost::new(r.clone());
        let v = vifman::view::HostView::load_display(&host);
        view.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(vifman::inventory::health::samples(
            &host,
            &v,
            &vifman::store::StoreState::default(),
        ));
        health.push(t.elapsed());
        let (t, c) = (Instant::now(), cpu_time());
        std::hint::black_box(run_inventory(root));
        whole.push(t.elapsed());
        cpu.push(cpu_time() - c);
    }
    println!(
        "(a) alone, median ms: sysfs scan {:.2}, link dump {:.2}, join {:.2}; whole read model \
         (view) {:.2}, health sample {:.2}; all of (a) {:.2} wall, {:.2} CPU (user+sys, all \
         threads)",
        ms(median(&scan)),
        ms(median(&state)),
        ms(median(&join)),
        ms(median(&view)),
        ms(median(&health)),
        ms(median(&whole)),
        ms(median(&cpu))
    );
}

/// User + system CPU time of this process so far (all threads).
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn lspci_available() -> bool {
    Command::new("lspci").arg("--version").output().is_ok()
}

fn run_lspci(root: &Path) {
    let out = Command::new("lspci")
        .args(["-D", "-vmm", "-nn", "-A", "linux-sysfs", "-O"])
        .arg(format!("sysfs.path={}", root.join("sys/bus/pci").display()))
        .output()
        .expect("run lspci");
    assert!(out.status.success(), "lspci failed");
    std::hint::black_box(out.stdout.len());
}

/// Walks what the scanner walks and reads the attribute files and links it reads, discarding
/// the contents. With a link dump in vf-state.json (every generated host has one) the netdev
/// attributes come from that one file, so only the `sys/class/net` links are read (they say
/// which PCI function owns each netdev), as vifman does; without one, each netdev's attribute
/// files are read.
fn bare_read(root: &Path) -> usize {
    let mut n = 0;
    let dump = std::fs::read(root.join("vf-state.json")).unwrap_or_default();
    n += usize::from(!dump.is_empty());
    let has_links = dump.windows(10).any(|w| w == b"\"netdevs\":");
    let bus = root.join("sys/bus/pci/devices");
    for e in std::fs::read_dir(&bus).expect("bus dir") {
        let link = e.expect("entry").path();
        let Ok(target) = std::fs::read_link(&link) else {
            continue;
        };
        let Some(rel) = resolve(Path::new("sys/bus/pci/devices/x"), &target) else {
            continue;
        };
        let dir = root.join(rel);
        n += read_dir_attrs(&dir, PCI_READS.iter().chain(layout::SRIOV_ATTRS));
        for l in ["driver", "iommu_group", "physfn"] {
            n += usize::from(std::fs::read_link(dir.join(l)).is_ok());
        }
        if let Ok(it) = std::fs::read_dir(&dir) {
            for e in it.flatten() {
                if e.file_name().to_string_lossy().starts_with("virtfn") {
                    n += usize::from(std::fs::read_link(e.path()).is_ok());
                }
            }
        }
        if has_links {
            continue;
        }
        if let Ok(it) = std::fs::read_dir(dir.join("net")) {
            for e in it.flatten() {
                n += read_dir_attrs(&e.path(), NET_READS.iter());
            }
        }
    }
    if has_links {
        for e in std::fs::read_dir(root.join("sys/class/net"))
            .expect("class dir")
            .flatten()
        {
            n += usize::from(std::fs::read_link(e.path()).is_ok());
        }
    }
    n += usize::from(std::fs::read(root.join("proc/net/route")).is_ok());
    n
}

fn read_dir_attrs<'a>(dir: &Path, names: impl Iterator<Item = &'a &'a str>) -> usize {
    let mut n = 0;
    for a in names {
        let p: PathBuf = dir.join(a);
        if let Ok(v) = std::fs::read(&p) {
            std::hint::black_box(v.len());
            n += 1;
        }
    }
    n
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
