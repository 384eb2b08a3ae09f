//! What `sriov_numvfs` does to the simulated tree, pinned: a snapshot of every path it adds,
//! removes or changes (file bytes, link targets) on a freshly written nfv-host for three NIC
//! families, and a comparison with the fixture writer's own VFs of the same PF. The simulated
//! kernel and the fixture writer make VFs with the same shape code, so these tests are what
//! proves that a refactor of either leaves the trees as they were.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::SimHost;
use crate::fixture::plan::{Function, HostPlan, PfParams};
use crate::fixture::{preset, write_host};
use crate::host::{Host, SysWrite};
use crate::types::PciAddress;

/// Every entry under `root` (the journal left out: it records requests, not kernel state):
/// `D` for a directory, `L target` for a link, `F bytes` for a file (text escaped; a binary
/// file by length and FNV-1a hash).
fn digest(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if rel == super::JOURNAL {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(rel, format!("L {}", t.display()));
            } else if ft.is_dir() {
                out.insert(rel, "D".into());
                walk(root, &p, out);
            } else {
                let b = std::fs::read(&p).unwrap();
                let shown = match std::str::from_utf8(&b) {
                    Ok(s) if !s.contains('\0') => format!("F {}", s.escape_debug()),
                    _ => {
                        let h = b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
                            (h ^ u64::from(x)).wrapping_mul(0x1000_0000_01b3)
                        });
                        format!("F <{} bytes {h:016x}>", b.len())
                    }
                };
                out.insert(rel, shown);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// `+ path value`, `- path`, `~ path old => new`, one line each, sorted by path.
fn changes(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (p, v) in after {
        match before.get(p) {
            None => out.push_str(&format!("+ {p} {v}\n")),
            Some(old) if old != v => out.push_str(&format!("~ {p} {old} => {v}\n")),
            _ => {}
        }
    }
    for p in before.keys().filter(|p| !after.contains_key(*p)) {
        out.push_str(&format!("- {p}\n"));
    }
    out
}

fn numvfs(sim: &SimHost, pf: &str, n: u32) {
    let pf: PciAddress = pf.parse().unwrap();
    sim.write(&SysWrite::NumVfs(pf, n))
        .unwrap_or_else(|e| panic!("numvfs {pf} {n}: {e}"));
}

/// Every link under `root` resolves, lexically and inside the root, to an existing path.
fn assert_links_resolve(root: &Path) {
    for (rel, v) in digest(root) {
        let Some(target) = v.strip_prefix("L ") else {
            continue;
        };
        let mut at: Vec<Component> = Path::new(&rel).parent().unwrap().components().collect();
        for c in Path::new(target).components() {
            match c {
                Component::ParentDir => {
                    assert!(at.pop().is_some(), "{rel} -> {target} leaves the root");
                }
                c => at.push(c),
            }
        }
        let abs: PathBuf = root.join(at.iter().collect::<PathBuf>());
        assert!(
            abs.exists(),
            "{rel} -> {target}: {} is missing",
            abs.display()
        );
    }
}

#[test]
fn numvfs_changes_the_tree_as_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("nfv-host");
    preset::write("nfv-host", &root).unwrap();
    let sim = SimHost::in_place(&root).unwrap();
    for (label, steps) in [
        // igb: 0 -> 3 VFs, bound to igbvf with a netdev each.
        ("igb", vec![("0000:18:00.0", 3)]),
        // i40e: 8 -> 0 (every VF, netdev and group goes) -> 2.
        ("i40e", vec![("0000:3b:00.1", 0), ("0000:3b:00.1", 2)]),
        // mlx5 in legacy mode: 0 -> 2.
        ("mlx5", vec![("0000:5e:00.1", 2)]),
    ] {
        let before = digest(&root);
        for (pf, n) in steps {
            numvfs(&sim, pf, n);
        }
        assert_links_resolve(&root);
        insta::assert_snapshot!(
            format!("numvfs_tree_{label}"),
            changes(&before, &digest(&root))
        );
    }
}

/// One igb PF behind a root port, with `vfs` VFs bound to igbvf as the fixture writer makes
/// them (named and numbered as the simulated kernel names them).
fn igb_host(root: &Path, vfs: u16) {
    let mut h = HostPlan::new();
    let rp = h.root_port(PciAddress::literal(0, 0x17, 0, 0), 0x18, 0);
    let mut f = Function::new(
        PciAddress::literal(0, 0x18, 0, 0),
        rp,
        0x8086,
        0x10c9,
        0x020000,
    );
    f.driver = Some("igb");
    let pf = h.pf(
        &f,
        PfParams {
            totalvfs: 7,
            numvfs: vfs,
            offset: 128,
            stride: 2,
            vf_device: 0x10ca,
        },
    );
    let nd = h.netdev("eno1", "a0:36:9f:18:00:00");
    h.device(pf).netdevs.push(nd);
    for n in 0..vfs {
        let vf = h.vf(pf, n, Some("igbvf")).unwrap();
        let mut nd = h.netdev(&format!("eno1v{n}"), "02:00:00:00:00:00");
        nd.addr_assign_type = 1;
        h.device(vf).netdevs.push(nd);
    }
    write_host(root, &h.finish()).unwrap();
}

/// What both trees say about a VF where the simulated kernel and the fixture writer model the
/// same thing: the files a VF inherits from its PF (and its own device ID and override), every
/// link (its targets written by one relative-link rule), and the netdev's numbers.
fn comparable(name: &str) -> bool {
    super::numvfs::INHERITED.contains(&name)
        || ["device", "driver_override"].contains(&name)
        || ["ifindex", "mtu", "operstate", "type", "addr_assign_type"].contains(&name)
}

#[test]
fn simulated_vfs_match_the_fixture_writers_vfs() {
    let tmp = tempfile::tempdir().unwrap();
    let (sim_root, fix_root) = (tmp.path().join("sim"), tmp.path().join("fixture"));
    igb_host(&sim_root, 0);
    igb_host(&fix_root, 2);
    let sim = SimHost::in_place(&sim_root).unwrap();
    numvfs(&sim, "0000:18:00.0", 2);
    assert_links_resolve(&sim_root);
    let (s, f) = (digest(&sim_root), digest(&fix_root));
    let mut compared = 0;
    let mut differ = Vec::new();
    for (p, v) in &s {
        let name = p.rsplit('/').next().unwrap();
        let wanted = v.starts_with("L ") || comparable(name);
        if !wanted || p.starts_with(crate::netlink::VF_STATE_SHARDS) {
            continue;
        }
        // The simulated kernel adds to what the fixture has; where both have it, they agree.
        if let Some(fv) = f.get(p) {
            if v != fv {
                differ.push(format!("{p}: simulated {v:?}, fixture {fv:?}"));
            }
            compared += 1;
        }
    }
    // Every link of the fixture's VFs, and every VF link on the PF, exists in the simulation.
    for (p, v) in &f {
        let vf_link = v.starts_with("L ")
            && ["0000:18:10.0", "0000:18:10.2", "virtfn", "eno1v"]
                .iter()
                .any(|k| p.contains(k));
        if vf_link && !s.contains_key(p) {
            differ.push(format!("{p}: fixture {v:?}, not in the simulation"));
        }
    }
    // One relative-link rule (the kernel's) and one shape writer: no divergence left.
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(compared > 30, "only {compared} entries compared");
}
