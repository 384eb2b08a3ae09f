//! `vifman fixture mount`: a fixture served over FUSE, exercised by programs vifman did not
//! write (lspci, driverctl, dpdk-devbind.py, a shell) and by vifman itself. Tools that need
//! `/sys` run in a private mount namespace (`unshare -m`) with the mount bound over
//! `/sys/bus/pci`, `/sys/devices`, `/sys/class/net` and `/sys/kernel/iommu_groups`. Every mount
//! is taken down by a guard (`fusermount3 -u`), and each test checks nothing stale is left.
//! A missing tool is a failure (install with scripts/deps.sh), never a skip.
#![cfg(feature = "mount")]

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const X710_PF0: &str = "0000:3b:00.0";
const I350_PF0: &str = "0000:18:00.0";
const VF: &str = "0000:3b:02.1";

/// Panics, loudly, when a tool the test needs is not installed.
fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: run scripts/deps.sh (fuse3, driverctl, dpdk, pciutils, util-linux)"
    );
}

fn mounted_here(mnt: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let m = mnt.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|p| p == m))
}

/// The process exists and has not exited. A daemonised mount server is reparented to init,
/// which reaps it when it gets round to it: an exited server waiting to be reaped (a zombie)
/// is gone for our purposes.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// One mounted fixture; dropping it unmounts (`fusermount3 -u`) and waits for the server.
struct Mount {
    _tmp: tempfile::TempDir,
    mnt: PathBuf,
    state: PathBuf,
    pid: i32,
    done: bool,
}

impl Mount {
    fn new(fixture: &str) -> Mount {
        require("fusermount3");
        let tmp = tempfile::tempdir().unwrap();
        let mnt = tmp.path().join("mnt");
        let state = tmp.path().join("state");
        std::fs::create_dir(&mnt).unwrap();
        let o = vifman(&[
            "fixture",
            "mount",
            fixture,
            mnt.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "mount failed: {}", text(&o.stderr));
        let pid = std::fs::read_to_string(state.join("mount.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(mounted_here(&mnt), "{} not mounted", mnt.display());
        Mount {
            _tmp: tmp,
            mnt,
            state,
            pid,
            done: false,
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    fn dev(&self, addr: &str, attr: &str) -> PathBuf {
        self.mnt.join(format!("sys/bus/pci/devices/{addr}/{attr}"))
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.p(rel)).unwrap()
    }

    /// Waits for the server to exit after an unmount; true when it did and left no mount. The
    /// 30 s are a hang guard for a loaded machine, not a timing expectation.
    fn wait_gone(&self) -> bool {
        let t = Instant::now();
        while alive(self.pid) && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        !alive(self.pid) && !mounted_here(&self.mnt)
    }

    /// Unmount as a CI script would, and insist that nothing is left behind. Should that
    /// fail, the guard still runs (done is set only after), so a failing test leaves no server.
    fn finish(mut self) {
        let o = Command::new("fusermount3")
            .arg("-u")
            .arg(&self.mnt)
            .output()
            .unwrap();
        assert!(o.status.success(), "fusermount3 -u: {}", text(&o.stderr));
        assert!(
            self.wait_gone(),
            "mount server {} (alive: {}) or its mount (mounted: {}) stayed; log:\n{}",
            self.pid,
            alive(self.pid),
            mounted_here(&self.mnt),
            std::fs::read_to_string(self.state.join("mount.log")).unwrap_or_default()
        );
        assert!(!self.state.join("mount.pid").exists());
        self.done = true;
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg(&self.mnt)
            .output();
        if !self.wait_gone() {
            // SAFETY: our own mount server, by pid.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = Command::new("fusermount3")
                .arg("-uz")
                .arg(&self.mnt)
                .output();
        }
    }
}

/// `script` under sh -e in a private mount namespace whose /sys shows the mount. The fixture
/// has no kernel modules, so a small /sys/module says which drivers are "loaded" (driverctl
/// and dpdk-devbind check it before binding).
fn in_namespace(m: &Mount, script: &str) -> Output {
    require("unshare");
    let setup = r#"
for d in bus/pci devices class/net kernel/iommu_groups; do mount --bind "$M/sys/$d" "/sys/$d"; done
mount -t tmpfs vifman-modules /sys/module
for m in vfio_pci vfio-pci iavf igbvf i40e ixgbevf mlx5_core; do mkdir -p "/sys/module/$m"; done
"#;
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-ec"])
        .arg(format!("{setup}\n{script}"))
        .env("M", &m.mnt)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "--- namespace script ---\n{script}\n--- stdout ---\n{}--- stderr ---\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    o
}

fn driver_of(m: &Mount, addr: &str) -> Option<String> {
    std::fs::read_link(m.dev(addr, "driver"))
        .ok()
        .map(|t| t.file_name().unwrap().to_string_lossy().into_owned())
}

fn inventory(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["inventory", "--json"];
    a.extend_from_slice(args);
    let o = vifman(&a);
    assert!(
        o.status.success(),
        "inventory {args:?}: {}",
        text(&o.stderr)
    );
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The only field that names where the tree is.
    v.as_object_mut().unwrap().remove("sysfs_root");
    // The eswitch mode is devlink's answer, which a sysfs mount does not serve (the mount
    // infers it from representors, the simulated kernel answers devlink): compare the rest.
    for pf in v["physical_functions"].as_array_mut().unwrap() {
        pf.as_object_mut().unwrap().remove("eswitch");
    }
    v
}

fn mount_inventory(m: &Mount) -> serde_json::Value {
    inventory(&[
        "--sysfs-root",
        m.mnt.to_str().unwrap(),
        "--state-dir",
        m.state.to_str().unwrap(),
    ])
}

fn sim_inventory(state: &Path) -> serde_json::Value {
    inventory(&[
        "--sysfs-root",
        NFV,
        "--simulate",
        "--state-dir",
        state.to_str().unwrap(),
    ])
}

fn vf_of<'a>(inv: &'a serde_json::Value, addr: &str) -> &'a serde_json::Value {
    inv["physical_functions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|pf| pf["vfs"].as_array().unwrap())
        .find(|vf| vf["address"] == addr)
        .unwrap_or_else(|| panic!("no VF {addr} in inventory"))
}

/// Writes `v` to `p` in one write(2), as `echo` does; the errno on failure.
fn write_attr(p: &Path, v: &[u8]) -> Result<(), i32> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .map_err(|e| e.raw_os_error().unwrap())?;
    f.write(v)
        .map(|_| ())
        .map_err(|e| e.raw_os_error().unwrap())
}

#[test]
fn lspci_lists_the_mounted_devices_and_drivers() {
    require("lspci");
    let m = Mount::new(NFV);
    let lspci = || {
        let o = Command::new("lspci")
            .args(["-D", "-vmm", "-nn", "-k", "-A", "linux-sysfs", "-O"])
            .arg(format!("sysfs.path={}", m.p("sys/bus/pci").display()))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let out = lspci();
    let slots = out.lines().filter(|l| l.starts_with("Slot:")).count();
    let devices = std::fs::read_dir(m.p("sys/bus/pci/devices"))
        .unwrap()
        .count();
    assert_eq!(slots, devices);
    for want in [
        "Device:\tEthernet Controller X710 for 10GbE SFP+ [1572]",
        "Device:\tEthernet Virtual Function 700 Series [154c]",
        "Driver:\ti40e",
        "Driver:\tiavf",
        "Driver:\tvfio-pci",
        "Driver:\tmlx5_core",
        "IOMMUGroup:",
    ] {
        assert!(out.contains(want), "lspci lacks {want:?}:\n{out}");
    }
    // The kernel's reaction is visible to lspci at once: the X710's 8 VFs go away.
    write_attr(&m.dev(X710_PF0, "sriov_numvfs"), b"0\n").unwrap();
    let after = lspci();
    assert_eq!(
        after.lines().filter(|l| l.starts_with("Slot:")).count(),
        slots - 8
    );
    assert!(!after.contains("Slot:\t0000:3b:02.0"));
    m.finish();
}

#[test]
fn driverctl_sets_and_unsets_an_override_on_a_vf() {
    require("driverctl");
    let m = Mount::new(NFV);
    assert_eq!(driver_of(&m, VF).as_deref(), Some("iavf"));
    let o = in_namespace(
        &m,
        &format!(
            "driverctl --nosave set-override {VF} vfio-pci\n\
             readlink /sys/bus/pci/devices/{VF}/driver\n\
             driverctl list-overrides"
        ),
    );
    assert!(o.status.success());
    assert!(text(&o.stdout).contains(&format!("{VF} vfio-pci")));
    // Outside the namespace, the mount itself shows the bind.
    assert_eq!(driver_of(&m, VF).as_deref(), Some("vfio-pci"));
    assert_eq!(
        m.read(&format!("sys/bus/pci/devices/{VF}/driver_override")),
        "vfio-pci\n"
    );
    assert!(m.p(&format!("sys/bus/pci/drivers/vfio-pci/{VF}")).exists());
    assert!(!m.p(&format!("sys/bus/pci/devices/{VF}/net")).exists());

    let o = in_namespace(&m, &format!("driverctl --nosave unset-override {VF}"));
    assert!(o.status.success());
    assert_eq!(driver_of(&m, VF).as_deref(), Some("iavf"));
    assert_eq!(
        m.read(&format!("sys/bus/pci/devices/{VF}/driver_override")),
        "(null)\n"
    );
    // Back on iavf, with its netdev (udev's name again).
    assert!(m.p("sys/class/net/enp59s0f0v1").exists());
    m.finish();
}

#[test]
fn dpdk_devbind_status_and_bind_then_vifman_sees_it() {
    require("dpdk-devbind.py");
    require("lspci");
    let m = Mount::new(NFV);
    let vf = "0000:3b:02.0";
    let o = in_namespace(
        &m,
        &format!("dpdk-devbind.py --status-dev net\ndpdk-devbind.py --bind=vfio-pci {vf}"),
    );
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(
        out.contains("Network devices using DPDK-compatible driver"),
        "{out}"
    );
    assert!(
        out.contains("0000:3b:02.6 'Ethernet Virtual Function 700 Series 154c' drv=vfio-pci"),
        "{out}"
    );
    assert!(out.contains("if=enp59s0f0 drv=i40e"), "{out}");
    assert!(
        out.contains(&format!(
            "{vf} 'Ethernet Virtual Function 700 Series 154c' if=enp59s0f0v0 drv=iavf"
        )),
        "{out}"
    );
    assert_eq!(driver_of(&m, vf).as_deref(), Some("vfio-pci"));
    // dpdk-devbind clears the override again after binding (it writes "\0").
    assert_eq!(
        m.read(&format!("sys/bus/pci/devices/{vf}/driver_override")),
        "(null)\n"
    );

    let inv = mount_inventory(&m);
    assert_eq!(vf_of(&inv, vf)["driver"], "vfio-pci");
    // And the simulated kernel's own view of the same state dir agrees.
    assert_eq!(sim_inventory(&m.state), inv);
    m.finish();
}

#[test]
fn shell_numvfs_loop_gets_the_kernels_errors() {
    let m = Mount::new(NFV);
    let f = m.dev(I350_PF0, "sriov_numvfs");
    let o = Command::new("sh")
        .arg("-c")
        .arg(
            r#"cd "$D"
echo 4 > sriov_numvfs && echo "4: ok"
echo 2 > sriov_numvfs 2>/dev/null || echo "2: refused"
echo 8 > sriov_numvfs 2>/dev/null || echo "8: refused"
echo banana > sriov_numvfs 2>/dev/null || echo "banana: refused"
echo 0 > sriov_numvfs && echo "0: ok"
echo 2 > sriov_numvfs && echo "2: ok"
cat sriov_numvfs"#,
        )
        .env("D", f.parent().unwrap())
        .output()
        .unwrap();
    assert_eq!(
        text(&o.stdout),
        "4: ok\n2: refused\n8: refused\nbanana: refused\n0: ok\n2: ok\n2\n"
    );
    // The errnos themselves, as a program sees them.
    assert_eq!(write_attr(&f, b"3\n"), Err(libc::EBUSY));
    assert_eq!(write_attr(&f, b"8\n"), Err(libc::ERANGE));
    assert_eq!(write_attr(&f, b"x\n"), Err(libc::EINVAL));
    assert_eq!(write_attr(&f, b"70000"), Err(libc::ERANGE));
    let links: Vec<_> = std::fs::read_dir(f.parent().unwrap())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.starts_with("virtfn").then_some(n)
        })
        .collect();
    assert_eq!(links.len(), 2, "{links:?}");
    let vf0 = std::fs::canonicalize(m.dev(I350_PF0, "virtfn0")).unwrap();
    assert!(vf0.join("physfn").is_dir());
    assert_eq!(
        std::fs::read_link(vf0.join("driver")).unwrap(),
        Path::new("../../../../bus/pci/drivers/igbvf")
    );
    assert!(m.p("sys/class/net/eno1v0").exists());
    m.finish();
}

#[test]
fn vifman_numvfs_allocate_release_give_the_same_inventories() {
    let m = Mount::new(NFV);
    let t = tempfile::tempdir().unwrap();
    let b = t.path().join("b");
    let sim = |state: &Path, cmd: &str, extra: &[&str]| {
        let mut a = vec![
            cmd,
            "--sysfs-root",
            NFV,
            "--simulate",
            "--state-dir",
            state.to_str().unwrap(),
            "--config",
            CONFIG,
        ];
        a.extend_from_slice(extra);
        let o = vifman(&a);
        assert!(o.status.success(), "{cmd} {extra:?}: {}", text(&o.stderr));
    };
    let pf = "0000:af:00.0";
    // The same change through the mount (a shell's writes) and through `vifman numvfs`.
    for v in ["0\n", "2\n"] {
        write_attr(&m.dev(pf, "sriov_numvfs"), v.as_bytes()).unwrap();
    }
    sim(&b, "numvfs", &[pf, "2"]);
    assert_eq!(mount_inventory(&m), sim_inventory(&b));

    let alloc = [
        "--physnet",
        "physnet3",
        "--instance",
        INST,
        "--vif-id",
        "aaaaaaaa-0000-0000-0000-000000000001",
        "--mac",
        "fa:16:3e:00:00:01",
        "--vlan",
        "100",
    ];
    // vifman acts on the tree the mount serves, and the mount shows what it did.
    sim(&m.state, "allocate", &alloc);
    sim(&b, "allocate", &alloc);
    let inv = mount_inventory(&m);
    assert_eq!(inv, sim_inventory(&b));
    assert_eq!(inv, sim_inventory(&m.state));
    let release = ["--vif-id", "aaaaaaaa-0000-0000-0000-000000000001"];
    sim(&m.state, "release", &release);
    sim(&b, "release", &release);
    assert_eq!(mount_inventory(&m), sim_inventory(&b));
    m.finish();
}

#[test]
fn kernel_modes_sizes_links_and_refusals() {
    let m = Mount::new(NFV);
    let md = |a: &str| std::fs::symlink_metadata(m.dev(X710_PF0, a)).unwrap();
    assert_eq!(md("sriov_numvfs").mode() & 0o777, 0o664);
    assert_eq!(md("sriov_numvfs").len(), 4096);
    assert_eq!(md("sriov_totalvfs").mode() & 0o777, 0o444);
    assert_eq!(md("driver_override").mode() & 0o777, 0o644);
    assert_eq!(md("reset").mode() & 0o777, 0o200);
    assert_eq!(md("config").len(), 4096); // binary: its real size
                                          // Links are relative, byte for byte what the fixture (and the kernel) has.
    for l in ["driver", "iommu_group", "subsystem", "virtfn0"] {
        let dir = std::fs::canonicalize(Path::new(NFV).join("sys/bus/pci/devices").join(X710_PF0))
            .unwrap();
        assert_eq!(
            std::fs::read_link(m.dev(X710_PF0, l)).unwrap(),
            std::fs::read_link(dir.join(l)).unwrap()
        );
    }
    assert_eq!(
        std::fs::read_link(m.p(&format!("sys/bus/pci/devices/{X710_PF0}"))).unwrap(),
        Path::new("../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0")
    );
    // kernfs: no store → EACCES even for root; no show → EACCES on read.
    assert_eq!(
        write_attr(&m.dev(X710_PF0, "vendor"), b"0x1234\n"),
        Err(libc::EACCES)
    );
    assert_eq!(
        write_attr(&m.dev(X710_PF0, "sriov_totalvfs"), b"9\n"),
        Err(libc::EACCES)
    );
    let e = std::fs::read(m.dev(X710_PF0, "reset")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    assert_eq!(write_attr(&m.dev(X710_PF0, "reset"), b"1\n"), Ok(()));
    assert_eq!(
        write_attr(&m.dev(X710_PF0, "reset"), b"2\n"),
        Err(libc::EINVAL)
    );
    // Stored by the kernel, not modelled by the simulation: said so, not silently dropped.
    assert_eq!(
        write_attr(&m.dev(X710_PF0, "enable"), b"1\n"),
        Err(libc::EPERM)
    );
    // Unbind from the wrong driver, bind a driver that does not match: ENODEV; bind a bound
    // device: EBUSY.
    let drv = |d: &str, f: &str| m.p(&format!("sys/bus/pci/drivers/{d}/{f}"));
    assert_eq!(
        write_attr(&drv("iavf", "unbind"), b"0000:3b:02.6"),
        Err(libc::ENODEV)
    );
    assert_eq!(
        write_attr(&drv("igbvf", "bind"), VF.as_bytes()),
        Err(libc::ENODEV)
    );
    assert_eq!(
        write_attr(&drv("iavf", "bind"), VF.as_bytes()),
        Err(libc::EBUSY)
    );
    write_attr(&drv("iavf", "unbind"), VF.as_bytes()).unwrap();
    assert_eq!(driver_of(&m, VF), None);
    write_attr(&drv("iavf", "bind"), VF.as_bytes()).unwrap();
    assert_eq!(driver_of(&m, VF).as_deref(), Some("iavf"));
    // drivers_probe with driver_override set, autoprobe off leaves new VFs unbound.
    write_attr(&m.dev(VF, "driver_override"), b"vfio-pci\n").unwrap();
    write_attr(&drv("iavf", "unbind"), VF.as_bytes()).unwrap();
    write_attr(&m.p("sys/bus/pci/drivers_probe"), VF.as_bytes()).unwrap();
    assert_eq!(driver_of(&m, VF).as_deref(), Some("vfio-pci"));
    assert_eq!(
        write_attr(&m.p("sys/bus/pci/drivers_probe"), b"0000:99:00.0"),
        Err(libc::ENODEV)
    );
    write_attr(&m.dev(I350_PF0, "sriov_drivers_autoprobe"), b"0\n").unwrap();
    assert_eq!(
        m.read(&format!(
            "sys/bus/pci/devices/{I350_PF0}/sriov_drivers_autoprobe"
        )),
        "0\n"
    );
    write_attr(&m.dev(I350_PF0, "sriov_numvfs"), b"1\n").unwrap();
    let vf0 = std::fs::canonicalize(m.dev(I350_PF0, "virtfn0")).unwrap();
    assert!(!vf0.join("driver").exists());
    // No new files, directories or links in sysfs.
    let e = std::fs::File::create(m.dev(X710_PF0, "newfile")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    assert!(std::fs::create_dir(m.dev(X710_PF0, "newdir")).is_err());
    assert!(std::fs::remove_file(m.dev(X710_PF0, "virtfn0")).is_err());
    // The simulation's bookkeeping is not part of the view.
    let root: Vec<String> = std::fs::read_dir(&m.mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !root.iter().any(|n| n.starts_with(".vifman-sim")),
        "{root:?}"
    );
    m.finish();
}

/// Writes through the mount are the simulated kernel's requests: a netdev's `mtu` is
/// `ip link set mtu` in the simulation (kstrtoul's forms, EINVAL for garbage), and every
/// write that gets past the attribute's parser is a request in the same journal `--simulate`
/// commands append to (an N→M numvfs is such a request, refused by the PCI core with EBUSY);
/// one the parser refuses never reached the kernel and is not.
#[test]
fn mtu_writes_and_the_journal_are_the_simulated_kernels() {
    let m = Mount::new(NFV);
    let mtu = m.p("sys/class/net/enp59s0f0/mtu");
    write_attr(&mtu, b"9000\n").unwrap();
    assert_eq!(m.read("sys/class/net/enp59s0f0/mtu"), "9000\n");
    write_attr(&mtu, b"0x5dc").unwrap();
    assert_eq!(m.read("sys/class/net/enp59s0f0/mtu"), "1500\n");
    assert_eq!(write_attr(&mtu, b"jumbo\n"), Err(libc::EINVAL));
    // Other netdev attributes the kernel stores are not modelled: EPERM, not a silent no-op.
    assert_eq!(
        write_attr(&m.p("sys/class/net/enp59s0f0/carrier"), b"0\n"),
        Err(libc::EPERM)
    );
    write_attr(&m.dev(I350_PF0, "sriov_numvfs"), b"2\n").unwrap();
    assert_eq!(
        write_attr(&m.dev(I350_PF0, "sriov_numvfs"), b"1\n"),
        Err(libc::EBUSY)
    );
    let lines = vifman::host::sim::read_journal(&sim_kernel(NFV, &m.state));
    let journal = lines.join("\n");
    assert_eq!(lines.len(), 4, "{journal}");
    assert_eq!(lines[0], "enp59s0f0 mtu 9000");
    assert_eq!(lines[1], "enp59s0f0 mtu 1500");
    let numvfs = format!("/sys/bus/pci/devices/{I350_PF0}/sriov_numvfs");
    assert_eq!(lines[2], format!("write \"2\" to {numvfs}"));
    assert_eq!(lines[3], format!("write \"1\" to {numvfs}"));
    m.finish();
}

#[test]
fn fault_file_fails_delays_and_hides_netdevs() {
    let m = Mount::new(NFV);
    let faults = m.p(".vifman/faults");
    let numvfs = m.dev(I350_PF0, "sriov_numvfs");
    std::fs::write(&faults, "0000:18:00.0/sriov_numvfs fail EBUSY 2\n").unwrap();
    assert_eq!(
        m.read(".vifman/faults"),
        "0000:18:00.0/sriov_numvfs fail EBUSY 2\n"
    );
    // Another PF's file does not match the rule.
    write_attr(&m.dev("0000:18:00.1", "sriov_numvfs"), b"1\n").unwrap();
    assert_eq!(write_attr(&numvfs, b"2\n"), Err(libc::EBUSY));
    assert_eq!(write_attr(&numvfs, b"2\n"), Err(libc::EBUSY));
    assert_eq!(write_attr(&numvfs, b"2\n"), Ok(())); // the retry succeeds
    assert_eq!(m.read(".vifman/faults"), "");
    // A bad rule is EINVAL and arms nothing.
    assert_eq!(
        write_attr(&faults, b"sriov_numvfs explode\n"),
        Err(libc::EINVAL)
    );
    assert_eq!(m.read(".vifman/faults"), "");

    std::fs::write(&faults, "driver_override delay 400ms\n").unwrap();
    let t = Instant::now();
    write_attr(&m.dev(VF, "driver_override"), b"vfio-pci\n").unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        m.read(&format!("sys/bus/pci/devices/{VF}/driver_override")),
        "vfio-pci\n"
    );

    // VF netdevs appear late: the VFs exist at once, their netdevs only after 1.5 s.
    std::fs::write(&faults, "netdevs late 1500ms\n").unwrap();
    write_attr(&numvfs, b"0\n").unwrap();
    let t = Instant::now();
    write_attr(&numvfs, b"2\n").unwrap();
    assert!(m.dev(I350_PF0, "virtfn1").exists());
    let vf0 = std::fs::canonicalize(m.dev(I350_PF0, "virtfn0")).unwrap();
    assert!(vf0.join("driver").exists());
    if t.elapsed() < Duration::from_millis(1200) {
        assert!(!m.p("sys/class/net/eno1v0").exists());
        assert!(std::fs::read_dir(vf0.join("net")).unwrap().next().is_none());
    }
    let until = Instant::now() + Duration::from_secs(30);
    while !m.p("sys/class/net/eno1v0").exists() {
        assert!(Instant::now() < until, "netdev never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(t.elapsed() >= Duration::from_millis(1500));
    assert!(vf0.join("net/eno1v0").exists());
    std::fs::write(&faults, "* fail EIO 5\nclear\n").unwrap();
    assert_eq!(m.read(".vifman/faults"), "");
    m.finish();
}

#[test]
fn concurrent_writers_are_serialised() {
    let m = Mount::new(NFV);
    let numvfs = m.dev(I350_PF0, "sriov_numvfs");
    let pfdir = std::fs::canonicalize(numvfs.parent().unwrap()).unwrap();
    std::thread::scope(|s| {
        for i in 0..4 {
            let numvfs = &numvfs;
            s.spawn(move || {
                for j in 0..15 {
                    let v = if (i + j) % 2 == 0 { "0\n" } else { "3\n" };
                    // EBUSY (3 while 3) is fine; anything else is a torn state.
                    match write_attr(numvfs, v.as_bytes()) {
                        Ok(()) | Err(libc::EBUSY) => {}
                        Err(e) => panic!("numvfs {v:?}: errno {e}"),
                    }
                }
            });
        }
        // Readers meanwhile, as a scanner polling the host would.
        s.spawn(|| {
            for _ in 0..30 {
                let _ = std::fs::read_dir(&pfdir).map(|d| d.count());
                let _ = std::fs::read_to_string(&numvfs);
            }
        });
    });
    let n: usize = std::fs::read_to_string(&numvfs)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let links = std::fs::read_dir(&pfdir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("virtfn")
        })
        .count();
    assert_eq!(n, links, "sriov_numvfs says {n}, {links} virtfn links");
    let bus = std::fs::read_dir(m.p("sys/bus/pci/devices"))
        .unwrap()
        .filter(|e| {
            std::fs::read_link(e.as_ref().unwrap().path().join("physfn"))
                .is_ok_and(|t| t.ends_with(I350_PF0))
        })
        .count();
    assert_eq!(bus, n);
    m.finish();
}

#[test]
fn survives_a_huge_write_and_a_killed_client() {
    let m = Mount::new(NFV);
    let numvfs = m.dev(X710_PF0, "sriov_numvfs");
    // 1 MiB into an attribute: EINVAL, no crash, nothing changed.
    assert_eq!(write_attr(&numvfs, &vec![b'1'; 1 << 20]), Err(libc::EINVAL));
    assert_eq!(
        write_attr(&m.dev(VF, "driver_override"), &vec![b'a'; 1 << 20]),
        Err(libc::EINVAL)
    );
    assert_eq!(
        m.read(&format!("sys/bus/pci/devices/{X710_PF0}/sriov_numvfs")),
        "8\n"
    );
    // A client killed while its write waits in the simulated kernel.
    std::fs::write(m.p(".vifman/faults"), "sriov_numvfs delay 1s\n").unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("echo 0 > {}", numvfs.display()))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    let _ = child.wait();
    // And one that dies holding files open.
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg(format!(
            // exec: the holder is the process we kill, not a shell whose `sleep` child would
            // keep the files (and the mount) busy after the kill.
            "exec 3>{} 4<{}; exec sleep 30",
            numvfs.display(),
            numvfs.display()
        ))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    holder.kill().unwrap();
    let _ = holder.wait();
    // The mount still serves, and the device lock was released.
    std::thread::sleep(Duration::from_millis(1000));
    let now = m.read(&format!("sys/bus/pci/devices/{X710_PF0}/sriov_numvfs"));
    assert!(now == "0\n" || now == "8\n", "{now:?}");
    write_attr(&numvfs, b"0\n").unwrap();
    write_attr(&numvfs, b"3\n").unwrap();
    assert_eq!(
        m.read(&format!("sys/bus/pci/devices/{X710_PF0}/sriov_numvfs")),
        "3\n"
    );
    assert!(alive(m.pid));
    m.finish();
}

#[test]
fn sigterm_and_fusermount_unmount_cleanly_one_process_per_mount() {
    let m = Mount::new(NFV);
    // A second server on the same state dir is refused.
    let other = m.state.parent().unwrap().join("mnt2");
    std::fs::create_dir(&other).unwrap();
    let o = vifman(&[
        "fixture",
        "mount",
        NFV,
        other.to_str().unwrap(),
        "--state",
        m.state.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("already served by another mount"),
        "{}",
        text(&o.stderr)
    );
    assert!(!mounted_here(&other));
    write_attr(&m.dev(I350_PF0, "sriov_numvfs"), b"2\n").unwrap();
    // SIGTERM: the server unmounts and exits.
    // SAFETY: our own mount server, by pid.
    assert_eq!(unsafe { libc::kill(m.pid, libc::SIGTERM) }, 0);
    assert!(m.wait_gone(), "still mounted after SIGTERM");
    assert!(!m.state.join("mount.pid").exists());
    // The state persists: the same state dir mounted again shows the earlier change.
    let o = vifman(&[
        "fixture",
        "mount",
        NFV,
        other.to_str().unwrap(),
        "--state",
        m.state.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let again = other.join(format!("sys/bus/pci/devices/{I350_PF0}/sriov_numvfs"));
    assert_eq!(std::fs::read_to_string(&again).unwrap(), "2\n");
    let pid: i32 = std::fs::read_to_string(m.state.join("mount.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let u = Command::new("fusermount3")
        .arg("-u")
        .arg(&other)
        .output()
        .unwrap();
    assert!(u.status.success(), "{}", text(&u.stderr));
    let until = Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        assert!(Instant::now() < until, "server {pid} outlived its mount");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!mounted_here(&other));
    let mut m = m;
    m.done = true;
    // --foreground serves in the calling process until signalled.
    let t = tempfile::tempdir().unwrap();
    let mnt = t.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mut child = command()
        .args([
            "fixture",
            "mount",
            NFV,
            mnt.to_str().unwrap(),
            "--foreground",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while !mnt.join("sys").exists() {
        assert!(Instant::now() < until, "foreground mount never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: our own child, by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let st = child.wait().unwrap();
    assert!(st.success(), "{st:?}");
    assert!(!mounted_here(&mnt));
    // Without --state the temporary state dir goes with the mount.
    assert!(!std::env::temp_dir()
        .join(format!("vifman-mount-{}", child.id()))
        .exists());
    drop(m);
}

/// `remove`, the bus's and a bridge's `rescan`, and the bus's `drivers_autoprobe`, as
/// pci-sysfs.c and bus.c answer them; attributes the kernel computes read plausibly.
#[test]
fn remove_rescan_and_bus_autoprobe_act_like_the_kernel() {
    let m = Mount::new(NFV);
    let bus = |f: &str| m.p(&format!("sys/bus/pci/{f}"));
    let pci_json = || {
        let o = vifman(&["pci", "--json", "--sysfs-root", m.mnt.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_object_mut().unwrap().remove("sysfs_root");
        v
    };
    let before = pci_json();

    // A PF with VFs leaves the bus: its VFs, netdev, driver and group links go with it.
    write_attr(&m.dev(I350_PF0, "sriov_numvfs"), b"2\n").unwrap();
    let vf0 = std::fs::canonicalize(m.dev(I350_PF0, "virtfn0")).unwrap();
    let vf0_addr = vf0.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        write_attr(&m.dev(I350_PF0, "remove"), b"x\n"),
        Err(libc::EINVAL)
    );
    assert_eq!(write_attr(&m.dev(I350_PF0, "remove"), b"0\n"), Ok(()));
    assert!(m.dev(I350_PF0, "vendor").exists(), "0 removes nothing");
    write_attr(&m.dev(I350_PF0, "remove"), b"1\n").unwrap();
    assert!(!m.p(&format!("sys/bus/pci/devices/{I350_PF0}")).exists());
    assert!(!m.p(&format!("sys/bus/pci/devices/{vf0_addr}")).exists());
    assert!(!m.p(&format!("sys/bus/pci/drivers/igb/{I350_PF0}")).exists());
    assert!(!m.p("sys/class/net/eno1").exists());
    assert!(!m.p("sys/class/net/eno1v0").exists());
    // Only the remove is visible elsewhere: the other port stays.
    assert_eq!(driver_of(&m, "0000:18:00.1").as_deref(), Some("igb"));

    // With the bus's autoprobe off a rescan finds the PF but binds nothing; drivers_probe does.
    assert_eq!(m.read("sys/bus/pci/drivers_autoprobe"), "1\n");
    write_attr(&bus("drivers_autoprobe"), b"0\n").unwrap();
    assert_eq!(m.read("sys/bus/pci/drivers_autoprobe"), "0\n");
    assert_eq!(write_attr(&bus("rescan"), b"1\n"), Ok(()));
    assert!(m.dev(I350_PF0, "vendor").exists());
    assert_eq!(driver_of(&m, I350_PF0), None);
    assert_eq!(
        m.read(&format!("sys/bus/pci/devices/{I350_PF0}/sriov_numvfs")),
        "0\n"
    );
    assert!(
        !m.p(&format!("sys/bus/pci/devices/{vf0_addr}")).exists(),
        "VFs are not rescanned"
    );
    write_attr(&bus("drivers_probe"), I350_PF0.as_bytes()).unwrap();
    assert_eq!(driver_of(&m, I350_PF0).as_deref(), Some("igb"));
    assert!(m.p("sys/class/net/eno1").exists(), "udev's name again");
    write_attr(&bus("drivers_autoprobe"), b"1\n").unwrap();

    // A VF removed by hand: gone, its PF's link too, and a rescan does not bring it back.
    let vf_link = |i: u32| m.dev(X710_PF0, &format!("virtfn{i}"));
    assert!(vf_link(1).exists());
    write_attr(&m.dev(VF, "remove"), b"1\n").unwrap();
    assert!(!m.p(&format!("sys/bus/pci/devices/{VF}")).exists());
    assert!(!vf_link(1).exists() && vf_link(0).exists());
    write_attr(&bus("rescan"), b"1\n").unwrap();
    assert!(!m.p(&format!("sys/bus/pci/devices/{VF}")).exists());

    // A root port with an NVMe drive behind it: both leave; the bridge's own rescan brings
    // both back, bound to the drivers that claimed them, an override forgotten.
    write_attr(&m.dev("0000:d9:00.0", "driver_override"), b"vfio-pci\n").unwrap();
    write_attr(&m.dev("0000:d7:01.0", "remove"), b"1\n").unwrap();
    assert!(!m.p("sys/bus/pci/devices/0000:d9:00.0").exists());
    assert!(!m.p("sys/bus/pci/devices/0000:d7:01.0").exists());
    write_attr(&m.dev("0000:d7:00.0", "rescan"), b"1\n").unwrap();
    assert_eq!(driver_of(&m, "0000:d7:01.0").as_deref(), Some("pcieport"));
    assert_eq!(driver_of(&m, "0000:d9:00.0").as_deref(), Some("nvme"));
    assert_eq!(
        m.read("sys/bus/pci/devices/0000:d9:00.0/driver_override"),
        "(null)\n"
    );

    // Everything but the removed VF is as it was, for vifman's own reader too.
    let mut after = pci_json();
    let drop_vf = |v: &mut serde_json::Value| {
        let devs = v["devices"].as_array_mut().unwrap();
        devs.retain(|d| d["address"] != VF);
        for d in devs.iter_mut() {
            if let Some(m) = d["iommu_group_members"].as_array_mut() {
                m.retain(|x| x != VF);
            }
        }
    };
    let mut before = before;
    drop_vf(&mut before);
    drop_vf(&mut after);
    let (b, a) = (
        before["devices"].as_array().unwrap(),
        after["devices"].as_array().unwrap(),
    );
    assert_eq!(b.len(), a.len());
    let differ: Vec<_> = b.iter().zip(a).filter(|(x, y)| x != y).collect();
    assert!(differ.is_empty(), "changed by remove + rescan: {differ:#?}");
    // The kernel keeps sriov_numvfs at 8 after a VF's own remove; vifman's reader says so.
    assert_eq!(before["warnings"], serde_json::json!([]));
    let w = after["warnings"].to_string();
    assert!(
        w.contains("virtfn1 link (sriov_numvfs is 8) is missing"),
        "{w}"
    );

    // Computed attributes: only where the PF's driver can move MSI-X vectors (mlx5).
    let total: u32 = m
        .read("sys/bus/pci/devices/0000:5e:00.0/sriov_vf_total_msix")
        .trim()
        .parse()
        .unwrap();
    assert!(total > 0);
    assert!(
        m.read("sys/bus/pci/devices/0000:5e:00.2/sriov_vf_msix_count")
            .trim()
            .parse::<u32>()
            .unwrap()
            > 0
    );
    assert!(!m.dev(X710_PF0, "sriov_vf_total_msix").exists());
    let listed: Vec<String> = std::fs::read_dir(m.p("sys/bus/pci/devices/0000:5e:00.0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        listed.iter().any(|n| n == "sriov_vf_total_msix"),
        "{listed:?}"
    );
    m.finish();
}
