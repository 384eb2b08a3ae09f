//! `vifman numvfs` on a PF that is not a PCI function (netdevsim's bus device,
//! `sys/bus/netdevsim/devices/netdevsimN` with `sriov_numvfs` and the PF netdev under `net/`)
//! and the rollback of a refused VF count, on the simulated host: the count changes through
//! 0 and is read back (the file and the PF's netlink VF records); an injected failure of the
//! removal leaves the count alone, one of the new count after the removal puts the old count
//! back and says so; the same rollback for a PCI PF. The real-kernel side is the VM scenario
//! `netdevsim-faults` (netdevsim with the fault patch's `sriov_configure`/`sriov_enable`).

mod common;

use common::*;

const ND: &str = NSIM_ND;
const DEV: &str = NSIM_DEV;

#[test]
fn numvfs_changes_a_non_pci_pf_by_netdev_and_by_handle() {
    let n = Nsim::new(2);
    let o = n.numvfs_run(ND, "4", "");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("{DEV} ({ND}): 2 -> 4 VFs (read back 4)")),
        "{out}"
    );
    assert_eq!(n.numvfs(), 4);
    assert_eq!(n.vf_records(), 4, "the PF's VF records follow the count");
    // Through 0: the kernel refuses N -> M.
    let w = n.journal_writes();
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(w[0].contains("\"0\"") && w[1].contains("\"4\""), "{w:#?}");

    let o = n.numvfs_run(DEV, "1", "");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(n.numvfs(), 1);
    let o = n.numvfs_run(DEV, "1", "");
    assert!(String::from_utf8_lossy(&o.stdout).contains("already 1 VFs"));
    assert_eq!(
        n.journal_writes().len(),
        4,
        "nothing written for the same count"
    );
    let o = n.numvfs_run(ND, "0", "");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((n.numvfs(), n.vf_records()), (0, 0));

    // No driver autoprobe on VFs that are not devices; nothing written.
    let o = n.sim.run(&["numvfs", ND, "2", "--autoprobe", "off"], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a PCI PF"), "{}", stderr(&o));
    assert_eq!(n.numvfs(), 0);
    // A bus device that is not there is named as such.
    let o = n.numvfs_run("netdevsim/netdevsim9", "2", "");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("neither a PCI address nor an interface name"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_refused_removal_leaves_the_count_alone() {
    let n = Nsim::new(2);
    let o = n.numvfs_run(ND, "3", "numvfs:EIO");
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains(&format!("sriov_numvfs 2 -> 0 on {DEV} failed"))
            && e.contains("EIO")
            && e.contains("nothing to roll back: the kernel kept the count at 2"),
        "{e}"
    );
    assert_eq!((n.numvfs(), n.vf_records()), (2, 2));
    assert!(n.journal_writes().is_empty(), "no write went in");
}

#[test]
fn a_refused_count_after_the_removal_is_rolled_back() {
    let n = Nsim::new(2);
    let o = n.numvfs_run(ND, "3", "numvfs.enable:EIO");
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains(&format!("sriov_numvfs 0 -> 3 on {DEV} failed"))
            && e.contains("EIO")
            && e.contains("rolled back: sriov_numvfs 0 -> 2, read back 2"),
        "{e}"
    );
    assert_eq!(
        (n.numvfs(), n.vf_records()),
        (2, 2),
        "the old count is back"
    );
    let w = n.journal_writes();
    assert_eq!(w.len(), 2, "0, then 2 again: {w:#?}");
    assert!(w[0].contains("\"0\"") && w[1].contains("\"2\""), "{w:#?}");
    // The fault was one-shot: the same request works now.
    let o = n.numvfs_run(ND, "3", "");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((n.numvfs(), n.vf_records()), (3, 3));
}

#[test]
fn a_pci_pf_gets_its_count_back_too() {
    let sim = SimEnv::with_config(NSIM_POOLS);
    let k = sim_kernel(NFV, &sim.state);
    let virtfns = || {
        std::fs::read_dir(k.join("sys/bus/pci/devices/0000:af:00.0"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("virtfn")
            })
            .count()
    };
    assert_eq!(virtfns(), 4);
    let o = sim.run(
        &["numvfs", "enp175s0f0", "2"],
        &[("VIFMAN_SIM_FAIL", "numvfs.enable:ENOMEM")],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("sriov_numvfs 0 -> 2 on 0000:af:00.0 failed")
            && e.contains("ENOMEM")
            && e.contains("rolled back: sriov_numvfs 0 -> 4, read back 4"),
        "{e}"
    );
    assert_eq!(virtfns(), 4, "the VFs are back");
    let inv = sim_inventory(NFV, &sim.state);
    let pf = inventory_device(&inv, "0000:af:00.0");
    for vf in pf["vfs"].as_array().unwrap() {
        assert_eq!(vf["driver"], "igbvf", "re-created VFs bind again: {vf}");
    }
}

/// `vifman apply` with a `[[pf]]` entry naming the netdevsim PF by netdev: the PF is
/// recognised (not "matches no SR-IOV physical function"); the keys the engine does not run
/// on a non-PCI PF are refused by name with why (VF drivers need PCI VFs; VF knobs run, see
/// `apply_bus_knobs_sim`), a devlink key on a PF without an eswitch (the simulated bus
/// device has none) too, the command fails and nothing is written; an entry with only what
/// holds is in sync.
/// The eswitch, rate-node and leaf-parent steps themselves run in the VM scenario
/// `apply-netdevsim` (the simulated host has no devlink for bus devices).
#[test]
fn apply_on_a_non_pci_pf_refuses_pci_keys_by_name_and_plans_the_rest() {
    let n = Nsim::new(2);
    let write = |name: &str, body: String| {
        let pol = n.sim.dir().join(name);
        std::fs::write(&pol, body).unwrap();
        pol.display().to_string()
    };
    let pol = write(
        "bus-pf.toml",
        format!(
            "[[pf]]\nnetdev = \"{ND}\"\nnumvfs = 4\neswitch = \"switchdev\"\n\
             [[pf.vf]]\nvfs = \"0-1\"\ndriver = \"vfio-pci\"\ntrust = true\n"
        ),
    );
    for check in [true, false] {
        let mut args = vec!["apply", "--policy", &pol];
        if check {
            args.insert(1, "--check");
        }
        let o = n.sim.run(&args, &[]);
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert!(!err.contains("matches no SR-IOV"), "{err}");
        assert!(
            !err.contains("pf[0].numvfs"),
            "numvfs runs on a bus PF: {err}"
        );
        assert!(!err.contains("trust"), "VF knobs run on a bus PF: {err}");
        assert!(
            err.contains(&format!(
                "pf[0].vf[0].driver: {ND} is the PF of {DEV}, not a PCI function: vf[0].driver needs a PCI PF (VF drivers bind to PCI VFs)"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "pf[0].eswitch: {ND} ({DEV}) has no devlink eswitch"
            )),
            "{err}"
        );
    }
    assert_eq!(n.numvfs(), 2, "nothing written");
    assert!(n.journal_writes().is_empty());

    // Legacy is all a PF without an eswitch has: selected, nothing to do.
    let ok = write(
        "bus-legacy.toml",
        format!("[[pf]]\nnetdev = \"{ND}\"\neswitch = \"legacy\"\n"),
    );
    let o = n
        .sim
        .run(&["apply", "--check", "--json", "--policy", &ok], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pfs"][0]["pf"], DEV, "{v}");
    assert_eq!(v["pfs"][0]["netdev"], ND, "{v}");
    assert_eq!(v["steps"].as_array().unwrap().len(), 0, "{v}");
}

/// `numvfs` in a `[[pf]]` entry naming the netdevsim PF: one apply step through 0, read back
/// (the file and the PF's VF records), `--check` then in sync; an injected failure of the new
/// count fails the apply with the kernel's errno and the count found put back.
#[test]
fn apply_sets_the_vf_count_of_a_non_pci_pf_and_rolls_a_failure_back() {
    let n = Nsim::new(2);
    let pol = n.sim.dir().join("bus-numvfs.toml");
    std::fs::write(&pol, format!("[[pf]]\nnetdev = \"{ND}\"\nnumvfs = 3\n")).unwrap();
    let pol = pol.display().to_string();

    let o = n.sim.run(
        &["apply", "--policy", &pol],
        &[("VIFMAN_SIM_FAIL", "numvfs.enable:EIO")],
    );
    assert!(!o.status.success());
    let e = format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
    assert!(
        e.contains(&format!("sriov_numvfs 0 -> 3 on {DEV}"))
            && e.contains("EIO")
            && e.contains("rolled back: sriov_numvfs 0 -> 2, read back 2"),
        "{e}"
    );
    assert_eq!(
        (n.numvfs(), n.vf_records()),
        (2, 2),
        "the old count is back"
    );

    let o = n.sim.run(&["apply", "--json", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{v}");
    assert_eq!(steps[0]["status"], "done", "{v}");
    assert_eq!(
        (steps[0]["old"].as_str(), steps[0]["new"].as_str()),
        (Some("2"), Some("3"))
    );
    assert_eq!((n.numvfs(), n.vf_records()), (3, 3));
    let o = n
        .sim
        .run(&["apply", "--check", "--json", "--policy", &pol], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["steps"].as_array().unwrap().len(), 0, "in sync: {v}");
}
