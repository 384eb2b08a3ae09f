//! Hostile and odd sysfs trees, through the real `vifman` binary: no write outside the root,
//! no write into a fixture without `--simulate`, no hang on FIFOs, bounded numbers, and the
//! mock-tree shapes other projects write (absolute links, no `class` files, PFs known only by
//! their `virtfnN` links). Each case asserts a clear error or warning and no state change.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use common::*;

const X710_PF: &str = "0000:3b:00.0";

fn devices(root: &Path) -> std::path::PathBuf {
    root.join("sys/bus/pci/devices")
}

/// Every VF directory of the fixture (the ones with a `physfn` link).
fn vf_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(devices(root))
        .unwrap()
        .map(|e| std::fs::canonicalize(e.unwrap().path()).unwrap())
        .filter(|p| p.join("physfn").exists())
        .collect();
    v.sort();
    v
}

fn sim_args<'a>(fx: &'a str, state: &'a str, cmd: &'a str) -> Vec<&'a str> {
    vec![
        cmd,
        "--sysfs-root",
        fx,
        "--simulate",
        "--state-dir",
        state,
        "--config",
        CONFIG,
    ]
}

#[test]
fn symlinked_attributes_are_never_written_through() {
    let t = tempfile::tempdir().unwrap();
    let fx = nfv_copy(t.path());
    let outside = t.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    // Absolute links for half the VFs, relative ones climbing out for the other half.
    for (i, d) in vf_dirs(&fx).iter().enumerate() {
        let p = d.join("driver_override");
        std::fs::remove_file(&p).unwrap();
        if i % 2 == 0 {
            symlink(&victim, &p).unwrap();
        } else {
            let up = "../".repeat(d.components().count() + 2);
            symlink(format!("{up}{}", victim.display()), &p).unwrap();
        }
    }
    let pf_numvfs = fx
        .join("sys/bus/pci/devices")
        .join(X710_PF)
        .join("sriov_numvfs");
    let pf_numvfs = std::fs::canonicalize(&pf_numvfs).unwrap();
    std::fs::remove_file(&pf_numvfs).unwrap();
    symlink(&victim, &pf_numvfs).unwrap();
    let state = t.path().join("state");
    let (fxs, sts) = (fx.to_str().unwrap(), state.to_str().unwrap());

    let mut a = sim_args(fxs, sts, "allocate");
    a.extend([
        "--physnet",
        "physnet1",
        "--instance",
        INST,
        "--vif-id",
        "aaaaaaaa-0000-0000-0000-000000000001",
        "--mode",
        "hostdev-vfio",
    ]);
    let o = vifman(&a);
    let err = text(&o.stderr);
    assert!(!o.status.success(), "allocate went through a planted link");
    assert!(
        err.contains("driver_override is a symlink; refusing to follow it"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    // Rolled back: nothing recorded.
    let o = vifman(&sim_args(fxs, sts, "allocations"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!text(&o.stdout).contains("aaaaaaaa"), "{}", text(&o.stdout));

    let mut n = sim_args(fxs, sts, "numvfs");
    n.extend([X710_PF, "0"]);
    let o = vifman(&n);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("symlink"), "{}", text(&o.stderr));

    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
}

#[test]
fn a_fixture_is_not_a_kernel_without_simulate() {
    let t = tempfile::tempdir().unwrap();
    let fx = nfv_copy(t.path());
    let before = tree_digest(&fx);
    let state = t.path().join("state");
    let (fxs, sts) = (fx.to_str().unwrap(), state.to_str().unwrap());
    let base = ["--sysfs-root", fxs, "--state-dir", sts, "--config", CONFIG];
    for cmd in [
        vec!["numvfs", X710_PF, "2"],
        vec![
            "allocate",
            "--physnet",
            "physnet1",
            "--instance",
            INST,
            "--vif-id",
            "aaaaaaaa-0000-0000-0000-000000000002",
        ],
    ] {
        let mut a = cmd.clone();
        a.extend(base);
        let o = vifman(&a);
        let err = text(&o.stderr);
        assert!(!o.status.success(), "{cmd:?} wrote a fixture");
        assert!(err.contains("--simulate"), "{cmd:?}: {err}");
    }
    assert!(tree_digest(&fx) == before, "the fixture changed");
}

#[test]
fn fifos_and_odd_files_do_not_hang() {
    let t = tempfile::tempdir().unwrap();
    let fx = nfv_copy(t.path());
    let vf = &vf_dirs(&fx)[0];
    for f in ["driver_override", "numa_node"] {
        std::fs::remove_file(vf.join(f)).unwrap();
        mkfifo(&vf.join(f));
    }
    std::fs::remove_file(fx.join("vf-state.json")).unwrap();
    mkfifo(&fx.join("vf-state.json"));
    let fxs = fx.to_str().unwrap();
    let o = vifman_within(
        &["inventory", "--sysfs-root", fxs, "--json"],
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let inv: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let warnings = inv["warnings"].to_string();
    assert!(warnings.contains("FIFO"), "{warnings}");
    let o = vifman_within(&["pci", "--sysfs-root", fxs], Duration::from_secs(30));
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The simulation copies the tree: a FIFO there must not block the copy either.
    let state = t.path().join("state");
    let o = vifman_within(
        &sim_args(fxs, state.to_str().unwrap(), "pools"),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn huge_numbers_are_bounded() {
    let t = tempfile::tempdir().unwrap();
    let fx = nfv_copy(t.path());
    let pf = std::fs::canonicalize(devices(&fx).join(X710_PF)).unwrap();
    std::fs::write(pf.join("sriov_totalvfs"), "4294967295\n").unwrap();
    std::fs::write(pf.join("sriov_numvfs"), "4294967295\n").unwrap();
    let o = vifman_within(
        &["inventory", "--sysfs-root", fx.to_str().unwrap(), "--json"],
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let inv: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let w = inv["warnings"].to_string();
    assert!(w.contains("exceeds the PCI limit of 65535"), "{w}");
    // The VFs are still found, from the links.
    let pfe = inv["physical_functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == X710_PF)
        .unwrap();
    assert!(!pfe["vfs"].as_array().unwrap().is_empty());
}

#[test]
fn vfs_never_land_on_existing_devices() {
    let t = tempfile::tempdir().unwrap();
    let fx = nfv_copy(t.path());
    let state = t.path().join("state");
    let (fxs, sts) = (fx.to_str().unwrap(), state.to_str().unwrap());
    let pf = std::fs::canonicalize(devices(&fx).join(X710_PF)).unwrap();
    let mut a = sim_args(fxs, sts, "numvfs");
    a.extend([X710_PF, "0"]);
    let o = vifman(&a);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Now damage the simulation's own copy of the PF: offset 0 puts VF 0 on the PF.
    let sim_pf = sim_kernel(fxs, &state).join(pf.strip_prefix(&fx).unwrap());
    std::fs::write(sim_pf.join("sriov_offset"), "0\n").unwrap();
    let before = tree_digest(&sim_pf);
    let mut a = sim_args(fxs, sts, "numvfs");
    a.extend([X710_PF, "2"]);
    let o = vifman(&a);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("would land on the PF itself"), "{err}");
    assert!(tree_digest(&sim_pf) == before, "PF files changed");
}

/// A tree laid out the way mock trees of other projects are: devices as plain directories
/// under the bus, no `class` files, no `sys/class/net`, no `sriov_*` files, absolute links.
#[test]
fn mock_tree_shapes_of_other_projects() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let dev = root.join("sys/devices/pci0000:00");
    let pf = dev.join("0000:01:00.0");
    let vf = dev.join("0000:01:00.1");
    for (d, id, nd) in [(&pf, "0x1572", "eth0"), (&vf, "0x154c", "eth1")] {
        std::fs::create_dir_all(d.join("net").join(nd)).unwrap();
        std::fs::write(d.join("vendor"), "0x8086\n").unwrap();
        std::fs::write(d.join("device"), format!("{id}\n")).unwrap();
        std::fs::write(
            d.join("net").join(nd).join("address"),
            "02:00:00:00:00:01\n",
        )
        .unwrap();
    }
    // Absolute links, as libvirt's virpcimock writes them: they mean this tree's root.
    std::fs::create_dir_all(root.join("sys/bus/pci/devices")).unwrap();
    for a in ["0000:01:00.0", "0000:01:00.1"] {
        symlink(
            format!("/sys/devices/pci0000:00/{a}"),
            root.join("sys/bus/pci/devices").join(a),
        )
        .unwrap();
    }
    symlink("/sys/devices/pci0000:00/0000:01:00.1", pf.join("virtfn0")).unwrap();
    let o = vifman(&[
        "inventory",
        "--sysfs-root",
        root.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let inv: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pfs = inv["physical_functions"].as_array().unwrap();
    assert_eq!(pfs.len(), 1, "{inv}");
    assert_eq!(pfs[0]["address"], "0000:01:00.0");
    assert_eq!(pfs[0]["netdevs"][0]["name"], "eth0", "{inv}");
    let vfs = pfs[0]["vfs"].as_array().unwrap();
    assert_eq!(vfs.len(), 1, "{inv}");
    assert_eq!(vfs[0]["address"], "0000:01:00.1");
    assert_eq!(vfs[0]["netdev"]["name"], "eth1", "{inv}");
    // An operator types the address without its domain.
    let o = vifman(&[
        "inventory",
        "--sysfs-root",
        root.to_str().unwrap(),
        "--json",
        "--pf",
        "01:00.0",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let inv: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(inv["physical_functions"].as_array().unwrap().len(), 1);
}

#[test]
fn a_root_without_sys_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    for cmd in ["inventory", "pci"] {
        let o = vifman(&[cmd, "--sysfs-root", t.path().to_str().unwrap()]);
        assert!(!o.status.success(), "{cmd} on an empty root succeeded");
        assert!(text(&o.stderr).contains("sys"), "{}", text(&o.stderr));
    }
}

/// An unprivileged run is told what it lacks before anything happens.
#[test]
fn unprivileged_runs_are_told_what_they_lack() {
    if !Path::new("/usr/bin/setpriv").exists() {
        panic!("setpriv (util-linux) is needed for this test");
    }
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    let mut setpriv = under("/usr/bin/setpriv");
    setpriv
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            BIN,
        ])
        .args(["numvfs", "0000:3b:00.0", "0", "--state-dir"])
        .arg(&state);
    let o = output_within(setpriv, None, LIMIT);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("needs CAP_NET_ADMIN and CAP_SYS_ADMIN (or root)"),
        "{err}"
    );
    assert!(!state.exists(), "state dir created before the refusal");
}

/// Control characters in input come back escaped, on one line.
#[test]
fn control_characters_are_escaped() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    let mut a = sim_args(NFV, state.to_str().unwrap(), "numvfs");
    a.extend(["bad\u{1b}[31m\nname", "1"]);
    let o = vifman(&a);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    assert!(err.contains("bad\\u{1b}[31m\\nname"), "{err:?}");
}

/// The simulated kernel's tree in the state dir is not followed when it has been swapped for a
/// symlink: whatever it points at stays untouched.
#[test]
fn a_symlinked_simulation_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    let s = state.to_str().unwrap();
    let mut a = sim_args(NFV, s, "numvfs");
    a.extend(["0000:3b:00.0", "2"]);
    let o = vifman(&a);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let sims: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(sims.len(), 1, "{sims:?}");
    let elsewhere = t.path().join("elsewhere");
    std::fs::rename(&sims[0], &elsewhere).unwrap();
    symlink(&elsewhere, &sims[0]).unwrap();
    let before = tree_digest(&elsewhere);
    let o = vifman(&a);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("symlink") && err.contains(sims[0].to_str().unwrap()),
        "{err}"
    );
    assert_eq!(
        tree_digest(&elsewhere),
        before,
        "written through the symlink"
    );
}

/// clap's own usage errors quote the bad value back escaped too, and stay usage errors (2).
#[test]
fn usage_errors_escape_control_characters() {
    let id = "0c6b4c3e-9b0a-4f8e-8f57-1d2f3e4a5b6c";
    for args in [
        vec![
            "allocate",
            "--physnet",
            "p",
            "--instance",
            id,
            "--vif-id",
            id,
            "--mode",
            "ho\nst\u{1b}[31m",
        ],
        vec!["inventory", "--pf", "a\n\u{1b}[1mb", "--sysfs-root", NFV],
        vec!["numvfs", "0000:3b:00.0", "x\u{7}"],
    ] {
        let o = vifman(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.chars().any(|c| c.is_control() && c != '\n'), "{err:?}");
        let bad = args
            .iter()
            .find(|a| a.chars().any(char::is_control))
            .unwrap();
        assert!(!err.contains(bad), "raw value echoed: {err:?}");
        assert!(
            err.contains(&bad.escape_default().to_string())
                || err.contains(&bad.escape_debug().to_string()),
            "{err:?}"
        );
    }
}

/// `fixture capture` of a tree with a FIFO skips it (and says so) instead of hanging.
#[test]
fn capture_skips_fifos() {
    let t = tempfile::tempdir().unwrap();
    let fx = nfv_copy(t.path());
    let vf = &vf_dirs(&fx)[0];
    std::fs::remove_file(vf.join("numa_node")).unwrap();
    mkfifo(&vf.join("numa_node"));
    let out = t.path().join("out");
    let o = vifman_within(
        &[
            "fixture",
            "capture",
            "--sysfs-root",
            fx.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(all.contains("1 entries skipped"), "{all}");
}
