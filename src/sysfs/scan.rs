//! The scan itself: one pass over `sys/bus/pci/devices`, one over `sys/class/net`, one
//! directory read per IOMMU group. Each attribute file is opened exactly once, relative to its
//! device directory, and big hosts are scanned on a few threads.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::debug_span;

use super::attr::{self, Raw, ATTR_BUF};
use super::fd;
use super::model::{NetDev, PciDevice, PciIds, ScanReport, Sriov};
use super::representor;
use super::root::{display_rel, lexical, LinkError, Resolver, SysfsRoot};
use super::Warning;
use crate::netlink::LinkAttrs;
use crate::types::{IfName, MacAddress, PciAddress};

const PCI_DEVICES: &str = "sys/bus/pci/devices";
const PCI_DRIVERS: &str = "sys/bus/pci/drivers";
const CLASS_NET: &str = "sys/class/net";
const IOMMU_GROUPS: &str = "sys/kernel/iommu_groups";

/// Below this many entries threads cost more than they save.
const PAR_MIN: usize = 128;
const MAX_THREADS: usize = 4;
/// Items per unit of work handed to a scanner thread.
const PAR_BATCH: usize = 32;

/// Scans the PCI bus and network class under `root`. Never fails and never panics on tree
/// content: whatever could not be read is reported in [`ScanReport::warnings`].
pub fn scan(root: &SysfsRoot) -> ScanReport {
    scan_with(root, || &[], Mode::default())
}

/// [`scan`], taking each netdev's attributes from `links` (the `RTM_GETLINK` dump the inventory
/// makes anyway for VF state) instead of from its sysfs files wherever a link record describes
/// that netdev. sysfs still decides which netdevs exist and which PCI function owns each.
pub fn scan_with_links(root: &SysfsRoot, links: &[LinkAttrs]) -> ScanReport {
    scan_with(root, || links, Mode::default())
}

/// [`scan_with_links`] for a dump still being loaded: `links` is called (e.g. joining the
/// thread that reads the dump) only when the PCI half of the scan is done, so the two overlap.
pub fn scan_with_deferred_links<'a>(
    root: &SysfsRoot,
    links: impl FnOnce() -> &'a [LinkAttrs],
) -> ScanReport {
    scan_with(root, links, Mode::default())
}

/// Link records by netdev name.
type Links<'a> = HashMap<&'a str, &'a LinkAttrs>;

/// How to scan; only tests change the defaults, to check each shortcut against the long way.
#[derive(Clone, Copy)]
struct Mode {
    /// `false` forces the pre-5.6 fallback (lexical resolution + ancestor checks).
    openat2: bool,
    /// `false` finds every device directory through its bus link instead of the tree walk.
    walk: bool,
}

impl Default for Mode {
    fn default() -> Self {
        Mode {
            openat2: true,
            walk: true,
        }
    }
}

fn scan_with<'a>(
    root: &SysfsRoot,
    links: impl FnOnce() -> &'a [LinkAttrs],
    mode: Mode,
) -> ScanReport {
    let _span = debug_span!("sysfs_scan", root = %root.path().display()).entered();
    let rootfd = match fd::open_dir_path(root.path()) {
        Ok(f) => f,
        Err(e) => {
            links(); // a deferred loader is always joined
            return ScanReport {
                devices: Vec::new(),
                netdevs: Vec::new(),
                representors: Vec::new(),
                warnings: vec![Warning::new("/", format!("cannot open sysfs root: {e}"))],
            };
        }
    };
    let ctx = Ctx {
        root,
        rootfd,
        beneath: AtomicBool::new(mode.openat2),
        walk: mode.walk,
    };
    let mut main = Worker::new(&ctx);
    // `sys/class/net` is listed on the side while the PCI devices are read.
    let (mut devices, (class, class_warnings)) = std::thread::scope(|s| {
        let lister = s.spawn(|| {
            let mut w = Worker::new(&ctx);
            let listed = w.open_and_list(Path::new(CLASS_NET), Need::Optional);
            (listed, w.warnings)
        });
        let devices = main.scan_pci();
        let listed = lister.join().unwrap_or_else(|_| {
            let mut w = Worker::new(&ctx);
            (
                w.open_and_list(Path::new(CLASS_NET), Need::Optional),
                w.warnings,
            )
        });
        (devices, listed)
    });
    main.warnings.extend(class_warnings);
    main.link_vfs(&mut devices);
    main.fill_iommu_members(&mut devices);
    let links: Links = links().iter().map(|l| (l.ifname.as_str(), l)).collect();
    let netdevs = main.scan_netdevs(&mut devices, class, &links);
    let representors = representor::match_representors(&devices, &netdevs);
    let mut warnings = main.warnings;
    warnings.sort();
    warnings.dedup();
    tracing::debug!(
        devices = devices.len(),
        netdevs = netdevs.len(),
        representors = representors.len(),
        warnings = warnings.len(),
        openat2 = ctx.beneath.load(Ordering::Relaxed),
        "sysfs scan done"
    );
    ScanReport {
        devices,
        netdevs,
        representors,
        warnings,
    }
}

/// What every worker thread shares.
struct Ctx<'r> {
    root: &'r SysfsRoot,
    rootfd: OwnedFd,
    /// `openat2(RESOLVE_BENEATH)` works here (Linux ≥ 5.6 and not filtered by seccomp).
    beneath: AtomicBool,
    /// Find device directories by walking down from the host bridges (see `scan_pci`).
    walk: bool,
}

/// An open directory and its root-relative path (for warnings and link resolution).
struct Dir {
    fd: OwnedFd,
    rel: PathBuf,
}

enum Need {
    Required,
    Optional,
}

struct Worker<'c, 'r> {
    ctx: &'c Ctx<'r>,
    /// Only used where `openat2` is unavailable: lexical resolution plus ancestor checks.
    res: Resolver<'r>,
    buf: Vec<u8>,
    warnings: Vec<Warning>,
    closer: fd::Closer,
}

impl<'c, 'r> Worker<'c, 'r> {
    fn new(ctx: &'c Ctx<'r>) -> Self {
        Self {
            ctx,
            res: Resolver::new(ctx.root),
            buf: vec![0; ATTR_BUF],
            warnings: Vec::new(),
            closer: fd::Closer::default(),
        }
    }

    fn warn(&mut self, rel: &Path, msg: impl Into<String>) {
        self.warnings.push(Warning::new(display_rel(rel), msg));
    }

    /// Runs `f` over `items`, on several threads for big hosts, keeping input order. Worker
    /// threads have private descriptor tables (see [`private_fd_table`]): neither `items` nor
    /// the results may own a descriptor, and what a worker opens it closes itself.
    fn par_map<T: Send, R: Send>(
        &mut self,
        items: Vec<T>,
        f: impl Fn(&mut Worker<'_, 'r>, T) -> Option<R> + Sync,
    ) -> Vec<R> {
        let threads = if items.len() < PAR_MIN {
            1
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(MAX_THREADS)
        };
        if threads <= 1 {
            return items.into_iter().filter_map(|i| f(self, i)).collect();
        }
        // Small batches handed out on demand: per-item cost varies (a PF reads its SR-IOV
        // attributes and every virtfn link), so fixed halves leave one core idle at the end.
        let mut batches: Vec<(usize, Vec<T>)> = Vec::new();
        let mut it = items.into_iter();
        loop {
            let b: Vec<T> = it.by_ref().take(PAR_BATCH).collect();
            if b.is_empty() {
                break;
            }
            batches.push((batches.len(), b));
        }
        let queue = std::sync::Mutex::new(batches.into_iter());
        let next = || queue.lock().ok().and_then(|mut q| q.next());
        let ctx = self.ctx;
        let (f, next) = (&f, &next);
        let work = move |w: &mut Worker<'_, 'r>| {
            let mut done = Vec::new();
            while let Some((i, b)) = next() {
                done.push((i, b.into_iter().filter_map(|x| f(w, x)).collect::<Vec<R>>()));
                w.closer.flush();
            }
            done
        };
        let mut results: Vec<(usize, Vec<R>)> = Vec::new();
        // Workers only: a bug that panics in one is caught at the join and becomes a warning.
        let joined: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(move || {
                        private_fd_table();
                        let mut w = Worker::new(ctx);
                        let done = work(&mut w);
                        (done, w.warnings)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        for r in joined {
            match r {
                Ok((o, w)) => {
                    results.extend(o);
                    self.warnings.extend(w);
                }
                Err(_) => self.warn(Path::new(""), "internal error: a scanner thread panicked"),
            }
        }
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().flat_map(|(_, r)| r).collect()
    }

    /// Opens directory `rel` (symlinks followed, but never out of the root).
    fn open_dir(&mut self, rel: &Path) -> Result<Dir, LinkError> {
        if self.ctx.beneath.load(Ordering::Relaxed) {
            match fd::open_dir_beneath(&self.ctx.rootfd, rel) {
                Ok(fd) => {
                    return Ok(Dir {
                        fd,
                        rel: rel.to_path_buf(),
                    })
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
                    self.ctx.beneath.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(LinkError::from_open(&e)),
            }
        }
        let real = self.res.resolve_dir(rel)?;
        match fd::open_dir_path(&self.ctx.root.abs(&real)) {
            Ok(fd) => Ok(Dir { fd, rel: real }),
            Err(e) => Err(LinkError::from_open(&e)),
        }
    }

    fn list(&mut self, dir: &Dir, need: Need) -> Option<Vec<String>> {
        self.list_sub(dir, c".", need)
    }

    fn list_sub(&mut self, dir: &Dir, sub: &CStr, need: Need) -> Option<Vec<String>> {
        match fd::list_at(&dir.fd, sub) {
            Ok(mut names) => {
                names.sort();
                Some(names)
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if let Need::Required = need {
                    let rel = dir.rel.join(sub.to_string_lossy().as_ref());
                    self.warn(&rel, "directory missing");
                }
                None
            }
            Err(e) => {
                let rel = dir.rel.join(sub.to_string_lossy().as_ref());
                self.warn(&rel, format!("cannot list directory: {e}"));
                None
            }
        }
    }

    /// Opens and lists a directory given by root-relative path.
    fn open_and_list(&mut self, rel: &Path, need: Need) -> Option<(Dir, Vec<String>)> {
        match self.open_dir(rel) {
            Ok(d) => {
                let names = self.list(&d, Need::Optional)?;
                Some((d, names))
            }
            Err(LinkError::Missing) => {
                if let Need::Required = need {
                    self.warn(rel, "directory missing");
                }
                None
            }
            Err(e) => {
                self.warn(rel, e.describe("directory"));
                None
            }
        }
    }

    /// Reads and parses one attribute. Missing optional attributes and "no value" errors are
    /// silent; everything else unexpected becomes a warning naming the file.
    fn attr<T>(
        &mut self,
        dir: &Dir,
        name: &CStr,
        need: Need,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let msg = match fd::read_at_deferred(&dir.fd, name, &mut self.buf, &mut self.closer) {
            // Empty optional attributes are how dumps record "driver returned an error".
            Raw::Value("") if matches!(need, Need::Optional) => return None,
            Raw::Value(s) => match parse(s) {
                Some(v) => return Some(v),
                None => format!("unexpected content {:?}, expected {expected}", clip(s)),
            },
            Raw::Missing => match need {
                Need::Required => "missing".to_string(),
                Need::Optional => return None,
            },
            Raw::NoValue => return None,
            Raw::Failed(e) => format!("unreadable: {e}"),
        };
        let rel = dir.rel.join(name.to_string_lossy().as_ref());
        self.warn(&rel, msg);
        None
    }

    /// Target of link `name` in `dir`, resolved lexically and checked to stay in the root.
    fn link_target(&self, dir: &Dir, name: &CStr) -> Result<PathBuf, LinkError> {
        let t = fd::readlink_at(&dir.fd, name).map_err(|e| LinkError::from_readlink(&e))?;
        let link = dir.rel.join(name.to_string_lossy().as_ref());
        lexical(&link, &t)
    }

    /// Basename of the target of link `name` in `dir`, checked like [`Self::link_target`] but
    /// without building paths: this runs four times per PCI function.
    fn link_basename(&self, dir: &Dir, name: &CStr) -> Result<String, LinkError> {
        let mut buf = [0u8; 1024];
        let n =
            fd::readlink_into(&dir.fd, name, &mut buf).map_err(|e| LinkError::from_readlink(&e))?;
        if let Some(b) = lexical_basename(&dir.rel, &buf[..n]) {
            return b.map(str::to_string);
        }
        let t = self.link_target(dir, name)?;
        t.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| LinkError::Escapes(t.display().to_string()))
    }

    /// Basename of a link; a missing link is `None` without a warning (unbound driver, no
    /// IOMMU), anything else wrong with it is a warning.
    fn link_name(&mut self, dir: &Dir, name: &CStr) -> Option<String> {
        let r = self.link_basename(dir, name);
        match r {
            Ok(n) => Some(n),
            Err(LinkError::Missing) => None,
            Err(e) => {
                let n = name.to_string_lossy();
                let msg = e.describe(&format!("{n} link"));
                self.warn(&dir.rel.join(n.as_ref()), msg);
                None
            }
        }
    }

    fn link_addr(&mut self, dir: &Dir, name: &CStr) -> Option<PciAddress> {
        let n = self.link_name(dir, name)?;
        match n.parse() {
            Ok(a) => Some(a),
            Err(e) => {
                let rel = dir.rel.join(name.to_string_lossy().as_ref());
                self.warn(&rel, format!("link target is not a PCI address: {e}"));
                None
            }
        }
    }

    /// `sys/bus/pci/devices` says which devices exist. Where each one's directory is comes
    /// from walking the device tree down from the host bridges, one level of bridges at a
    /// time, so a device costs no link read and its directory opens relative to its parent's;
    /// whatever the walk does not reach (devices under a VMD endpoint, damaged trees) is found
    /// through its bus link as before.
    fn scan_pci(&mut self) -> Vec<PciDevice> {
        let Some((bus, names)) = self.open_and_list(Path::new(PCI_DEVICES), Need::Required) else {
            return Vec::new();
        };
        let mut pending: HashMap<PciAddress, String> = HashMap::with_capacity(names.len());
        for name in names {
            match name.parse::<PciAddress>() {
                Ok(addr) => {
                    pending.insert(addr, name);
                }
                Err(e) => self.warn(&bus.rel.join(&name), format!("ignored: {e}")),
            }
        }
        let mut out = Vec::with_capacity(pending.len());
        let mut parents = if self.ctx.walk {
            self.host_bridges()
        } else {
            Vec::new()
        };
        while !parents.is_empty() && !pending.is_empty() {
            let mut level = Vec::new();
            for (i, p) in parents.iter().enumerate() {
                let Ok(names) = fd::list_at(&p.fd, c".") else {
                    continue;
                };
                for n in names {
                    if let Some(a) = n
                        .parse::<PciAddress>()
                        .ok()
                        .filter(|a| pending.contains_key(a))
                    {
                        pending.remove(&a);
                        level.push((i, n, a));
                    }
                }
            }
            let (ps, bus) = (&parents, &bus);
            let found = self.par_map(level, |w, (i, name, addr)| {
                Some(w.scan_device_under(bus, &ps[i], &name, addr))
            });
            parents = Vec::new();
            for (d, bridge) in found {
                // Re-opened here: a scanner thread's descriptors live in its own table.
                parents.extend(bridge.and_then(|rel| self.open_dir(&rel).ok()));
                out.push(d);
            }
        }
        let rest: Vec<(String, PciAddress)> = pending.into_iter().map(|(a, n)| (n, a)).collect();
        let bus = &bus;
        out.extend(self.par_map(rest, |w, (name, addr)| {
            Some(w.scan_device(bus, &name, addr))
        }));
        out
    }

    /// `sys/devices/pciDDDD:BB`, the roots of the device tree.
    fn host_bridges(&mut self) -> Vec<Dir> {
        let base = Path::new("sys/devices");
        let Ok(dir) = self.open_dir(base) else {
            return Vec::new();
        };
        let Ok(names) = fd::list_at(&dir.fd, c".") else {
            return Vec::new();
        };
        names
            .iter()
            .filter(|n| n.starts_with("pci"))
            .filter_map(|n| self.open_dir(&base.join(n)).ok())
            .collect()
    }

    /// A device the walk found as entry `name` of `parent`; also hands back its directory when
    /// it is a PCI bridge, whose entries are the next level. An entry that is not a plain
    /// directory (a symlink in a damaged tree) goes the bus-link way.
    fn scan_device_under(
        &mut self,
        bus: &Dir,
        parent: &Dir,
        name: &str,
        address: PciAddress,
    ) -> (PciDevice, Option<PathBuf>) {
        let dir = fd::cname(name).and_then(|c| fd::open_subdir(&parent.fd, &c).ok());
        let Some(fd) = dir else {
            return (self.scan_device(bus, name, address), None);
        };
        let dir = Dir {
            fd,
            rel: parent.rel.join(name),
        };
        let d = self.read_device(&dir, address);
        let bridge = d.ids.is_pci_bridge().then(|| dir.rel.clone());
        self.closer.defer(dir.fd);
        (d, bridge)
    }

    fn scan_device(&mut self, bus: &Dir, name: &str, address: PciAddress) -> PciDevice {
        let entry = bus.rel.join(name);
        match self.device_dir(bus, name, &entry) {
            Ok(dir) => {
                let d = self.read_device(&dir, address);
                self.closer.defer(dir.fd);
                d
            }
            Err(e) => {
                self.warn(&entry, e.describe("device link"));
                PciDevice::new(address)
            }
        }
    }

    fn read_device(&mut self, dir: &Dir, address: PciAddress) -> PciDevice {
        let mut d = PciDevice::new(address);
        d.present = true;
        d.ids = self.read_ids(dir);
        d.driver = self.link_name(dir, c"driver");
        d.driver_override = self
            .attr(
                dir,
                c"driver_override",
                Need::Optional,
                "a driver name",
                |s| Some(s.to_string()),
            )
            .filter(|s| !s.is_empty() && s != "(null)");
        d.numa_node = self
            .attr(
                dir,
                c"numa_node",
                Need::Optional,
                "a node number or -1",
                attr::parse_numa,
            )
            .flatten();
        if let Some(g) = self.link_name(dir, c"iommu_group") {
            match attr::parse_dec::<u32>(&g) {
                Some(n) => d.iommu_group = Some(n),
                None => self.warn(
                    &dir.rel.join("iommu_group"),
                    format!("link target {g:?} is not a group number"),
                ),
            }
        }
        d.physfn = self.link_addr(dir, c"physfn");
        if d.physfn.is_none() {
            d.sriov = self.scan_sriov(dir);
            // A PF known only by its virtfnN links (no sriov_* files: mock trees such as the
            // k8s device plugin's look like this) is still a PF.
            if d.sriov.is_none() && self.exists(dir, c"virtfn0") {
                d.sriov = Some(self.virtfns_by_listing(dir, Sriov::default()));
            }
        }
        d
    }

    /// Vendor, device, subsystem and class come from `uevent` in one read (the kernel renders
    /// it from the same `struct pci_dev` fields as the individual files); any id missing or
    /// unparsable there is read from its own attribute file, which then gets the warning.
    fn read_ids(&mut self, dir: &Dir) -> PciIds {
        let mut ids = PciIds::default();
        if let Some(u) = self.attr(dir, c"uevent", Need::Optional, "KEY=value lines", |s| {
            Some(parse_uevent(s))
        }) {
            ids = u;
        }
        let hex16 = "a hex id like 0x8086";
        if ids.vendor.is_none() {
            ids.vendor = self.attr(dir, c"vendor", Need::Required, hex16, attr::parse_hex_u16);
        }
        if ids.device.is_none() {
            ids.device = self.attr(dir, c"device", Need::Required, hex16, attr::parse_hex_u16);
        }
        if ids.subsystem_vendor.is_none() {
            ids.subsystem_vendor = self.attr(
                dir,
                c"subsystem_vendor",
                Need::Optional,
                hex16,
                attr::parse_hex_u16,
            );
        }
        if ids.subsystem_device.is_none() {
            ids.subsystem_device = self.attr(
                dir,
                c"subsystem_device",
                Need::Optional,
                hex16,
                attr::parse_hex_u16,
            );
        }
        if ids.class.is_none() {
            ids.class = self.attr(
                dir,
                c"class",
                Need::Required,
                "a class code like 0x020000",
                |s| attr::parse_hex_u32(s, 0xff_ffff),
            );
        }
        ids.revision = self.attr(
            dir,
            c"revision",
            Need::Optional,
            "a hex byte like 0x01",
            |s| attr::parse_hex_u32(s, 0xff).map(|v| v as u8),
        );
        ids
    }

    /// The device directory behind a `sys/bus/pci/devices` entry. The link is read relative
    /// to the already-open bus directory, so only the final open walks the whole path.
    fn device_dir(&mut self, bus: &Dir, name: &str, entry: &Path) -> Result<Dir, LinkError> {
        let cname = fd::cname(name).ok_or(LinkError::NotALink)?;
        let real = match fd::readlink_at(&bus.fd, &cname) {
            Ok(t) => lexical(entry, &t)?,
            Err(e) => match LinkError::from_readlink(&e) {
                LinkError::NotALink => entry.to_path_buf(),
                other => return Err(other),
            },
        };
        self.open_dir(&real)
    }

    fn exists(&self, dir: &Dir, name: &CStr) -> bool {
        !matches!(fd::read_at(&dir.fd, name, &mut [0u8; 64]), Raw::Missing)
    }

    fn scan_sriov(&mut self, dir: &Dir) -> Option<Sriov> {
        let dec = "a decimal number";
        let total = self.attr(dir, c"sriov_totalvfs", Need::Optional, dec, attr::parse_dec);
        if total.is_none() {
            // A tree that lost `sriov_totalvfs` but still has `sriov_numvfs` is a damaged PF,
            // not an ordinary device; only when both are absent is this not a PF at all.
            let has_total = self.exists(dir, c"sriov_totalvfs");
            if !has_total && !self.exists(dir, c"sriov_numvfs") {
                return None;
            }
            if !has_total {
                let rel = dir.rel.join("sriov_totalvfs");
                self.warn(&rel, "missing although sriov_numvfs exists");
            }
        }
        let mut sr = Sriov {
            total_vfs: total,
            num_vfs: self.attr(dir, c"sriov_numvfs", Need::Required, dec, attr::parse_dec),
            offset: self.attr(dir, c"sriov_offset", Need::Optional, dec, attr::parse_dec),
            stride: self.attr(dir, c"sriov_stride", Need::Optional, dec, attr::parse_dec),
            vf_device: self.attr(
                dir,
                c"sriov_vf_device",
                Need::Optional,
                "a hex id",
                attr::parse_hex_u16,
            ),
            drivers_autoprobe: self.attr(
                dir,
                c"sriov_drivers_autoprobe",
                Need::Optional,
                "0 or 1",
                attr::parse_bool01,
            ),
            vfs: Vec::new(),
        };
        // The PCI spec caps TotalVFs at 65535, and the kernel never creates more than TotalVFs;
        // a bigger number is a damaged tree, read by listing rather than trusted as a count.
        if sr.total_vfs.is_some_and(|t| t > MAX_VFS) {
            self.warn(
                &dir.rel.join("sriov_totalvfs"),
                format!(
                    "{} exceeds the PCI limit of {MAX_VFS}; ignored",
                    sr.total_vfs.unwrap_or(0)
                ),
            );
            sr.total_vfs = None;
        }
        if let Some(n) = sr.num_vfs.filter(|n| *n > sr.total_vfs.unwrap_or(MAX_VFS)) {
            self.warn(
                &dir.rel.join("sriov_numvfs"),
                format!(
                    "{n} exceeds sriov_totalvfs ({}); VFs taken from the virtfn links",
                    sr.total_vfs.map_or("unknown".into(), |t| t.to_string())
                ),
            );
            sr.num_vfs = None;
        }
        match sr.num_vfs {
            // The fast path: exactly the links the kernel promises, no directory walk.
            Some(n) => {
                for i in 0..n {
                    let link = format!("virtfn{i}");
                    let Some(c) = fd::cname(&link) else { continue };
                    if let Some(a) = self
                        .link_basename(dir, &c)
                        .ok()
                        .and_then(|b| b.parse::<PciAddress>().ok())
                    {
                        sr.vfs.push((i, a));
                        continue;
                    }
                    // Not a VF address: say exactly what it is.
                    match self.link_target(dir, &c) {
                        Ok(t) => match t.file_name().and_then(|n| n.to_str()).map(str::parse) {
                            Some(Ok(a)) => sr.vfs.push((i, a)),
                            _ => self.warn(
                                &dir.rel.join(&link),
                                format!(
                                    "link target {:?} is not a PCI address",
                                    super::root::display_rel(&t)
                                ),
                            ),
                        },
                        Err(e) => {
                            let msg = e.describe(&format!("{link} link (sriov_numvfs is {n})"));
                            self.warn(&dir.rel.join(&link), msg);
                        }
                    }
                }
            }
            // numvfs unreadable: find whatever virtfnN links exist.
            None => sr = self.virtfns_by_listing(dir, sr),
        }
        Some(sr)
    }

    /// `sr` with the VFs of whatever `virtfnN` links `dir` has.
    fn virtfns_by_listing(&mut self, dir: &Dir, mut sr: Sriov) -> Sriov {
        for name in self.list(dir, Need::Optional).unwrap_or_default() {
            let Some(i) = name.strip_prefix("virtfn").and_then(attr::parse_dec::<u32>) else {
                continue;
            };
            let Some(c) = fd::cname(&name) else { continue };
            if let Some(a) = self.link_addr(dir, &c) {
                sr.vfs.push((i, a));
            }
        }
        sr.vfs.sort();
        sr
    }

    /// Ties VFs to PFs from both directions and adds devices the bus listing did not have.
    fn link_vfs(&mut self, devices: &mut Vec<PciDevice>) {
        let mut index: HashMap<PciAddress, usize> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.address, i))
            .collect();
        let links: Vec<(PciAddress, u32, PciAddress)> = devices
            .iter()
            .filter_map(|d| d.sriov.as_ref().map(|s| (d.address, s)))
            .flat_map(|(pf, s)| s.vfs.iter().map(move |(i, vf)| (pf, *i, *vf)))
            .collect();
        let mut claimed = BTreeSet::new();
        for (pf, i, vf) in links {
            let pos = match index.get(&vf) {
                Some(p) => *p,
                None => {
                    self.warn(
                        &Path::new(PCI_DEVICES).join(vf.to_string()),
                        format!("VF {i} of {pf} is not listed on the PCI bus"),
                    );
                    devices.push(PciDevice::new(vf));
                    index.insert(vf, devices.len() - 1);
                    devices.len() - 1
                }
            };
            let d = &mut devices[pos];
            d.vf_index = Some(i);
            match d.physfn {
                None => d.physfn = Some(pf),
                Some(p) if p != pf => {
                    let rel = Path::new(PCI_DEVICES).join(vf.to_string()).join("physfn");
                    self.warn(
                        &rel,
                        format!("points at {p} but {pf} lists it as virtfn{i}"),
                    );
                }
                Some(_) => {}
            }
            claimed.insert(vf);
        }
        for d in devices.iter() {
            if let (Some(pf), false) = (d.physfn, claimed.contains(&d.address)) {
                let rel = Path::new(PCI_DEVICES)
                    .join(d.address.to_string())
                    .join("physfn");
                self.warn(
                    &rel,
                    format!("points at {pf}, which has no virtfn link to this VF"),
                );
            }
        }
        if devices.iter().any(|d| !d.present) {
            self.fill_drivers_from_bus(devices);
            infer_vf_ids(devices, &index);
        }
        devices.sort_by_key(|a| a.address);
    }

    /// For devices whose own directory is unreachable, the driver's directory still lists
    /// them (`sys/bus/pci/drivers/<drv>/<addr>`). Only walked when needed.
    fn fill_drivers_from_bus(&mut self, devices: &mut [PciDevice]) {
        let mut by_addr = HashMap::new();
        if let Some((drivers, names)) = self.open_and_list(Path::new(PCI_DRIVERS), Need::Optional) {
            for drv in names {
                let Some(c) = fd::cname(&drv) else { continue };
                for e in self
                    .list_sub(&drivers, &c, Need::Optional)
                    .unwrap_or_default()
                {
                    if let Ok(a) = e.parse::<PciAddress>() {
                        by_addr.insert(a, drv.clone());
                    }
                }
            }
        }
        for d in devices.iter_mut().filter(|d| !d.present) {
            if let Some(drv) = by_addr.get(&d.address) {
                d.driver = Some(drv.clone());
            }
        }
    }

    fn fill_iommu_members(&mut self, devices: &mut [PciDevice]) {
        let mut groups: BTreeMap<u32, BTreeSet<PciAddress>> = BTreeMap::new();
        for d in devices.iter() {
            if let Some(g) = d.iommu_group {
                groups.entry(g).or_default().insert(d.address);
            }
        }
        if groups.is_empty() {
            return;
        }
        // Every PCI function has its own `iommu_group` link, so membership is already known
        // from the links. The group directories are only read when some device could not be
        // read (its link is unknown), which on a healthy host saves a directory per group.
        if devices.iter().all(|d| d.present) {
            for d in devices.iter_mut() {
                if let Some(m) = d.iommu_group.and_then(|g| groups.get(&g)) {
                    d.iommu_group_members = m.iter().copied().collect();
                }
            }
            return;
        }
        let base = Path::new(IOMMU_GROUPS);
        match self.open_dir(base) {
            Ok(dir) => {
                let groups_vec: Vec<(u32, BTreeSet<PciAddress>)> =
                    std::mem::take(&mut groups).into_iter().collect();
                let dir = &dir;
                groups = self
                    .par_map(groups_vec, |w, (g, mut members)| {
                        let sub = format!("{g}/devices");
                        let c = fd::cname(&sub)?;
                        for name in w.list_sub(dir, &c, Need::Required).unwrap_or_default() {
                            match name.parse::<PciAddress>() {
                                Ok(a) => {
                                    members.insert(a);
                                }
                                Err(_) => w.warn(
                                    &dir.rel.join(&sub).join(&name),
                                    "not a PCI address; ignored",
                                ),
                            }
                        }
                        Some((g, members))
                    })
                    .into_iter()
                    .collect();
            }
            Err(_) => self.warn(
                base,
                "missing; IOMMU group members derived from the devices' iommu_group links",
            ),
        }
        for d in devices.iter_mut() {
            if let Some(m) = d.iommu_group.and_then(|g| groups.get(&g)) {
                d.iommu_group_members = m.iter().copied().collect();
            }
        }
    }

    /// `class`: `sys/class/net` and its entries, listed beforehand; `links`: records standing
    /// in for netdev attribute files.
    fn scan_netdevs(
        &mut self,
        devices: &mut [PciDevice],
        class: Option<(Dir, Vec<String>)>,
        links: &Links,
    ) -> Vec<NetDev> {
        let base = Path::new(CLASS_NET);
        let vfs: HashSet<PciAddress> = devices
            .iter()
            .filter(|d| d.physfn.is_some())
            .map(|d| d.address)
            .collect();
        let vfs = &vfs;
        let mut out = match class {
            Some((class, names)) => {
                let class = &class;
                self.par_map(names, |w, n| {
                    if let Some(nd) = w.netdev_from_record(class, &n, vfs, links) {
                        return Some(nd);
                    }
                    let link = class.rel.join(&n);
                    let c = fd::cname(&n)?;
                    let target = match w.link_target(class, &c) {
                        Ok(t) => t,
                        Err(LinkError::NotALink) => link,
                        Err(LinkError::Missing) => return None, // vanished since the readdir
                        Err(e) => {
                            w.warn(&link, e.describe("netdev link"));
                            return None;
                        }
                    };
                    w.scan_netdev(&n, &target, vfs, links)
                })
            }
            None => {
                self.warn(
                    base,
                    "directory missing; netdevs taken from each device's net/ directory",
                );
                let items = self.netdevs_from_devices(devices);
                self.par_map(items, |w, (name, target)| {
                    w.scan_netdev(&name, &target, vfs, links)
                })
            }
        };
        let pos: HashMap<PciAddress, usize> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.address, i))
            .collect();
        for nd in &out {
            if let Some(&i) = nd.device.as_ref().and_then(|a| pos.get(a)) {
                devices[i].netdevs.push(nd.name.clone());
            }
        }
        for d in devices.iter_mut() {
            d.netdevs.sort();
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The common case on a big host, without building paths: netdev `name` has a complete
    /// link record, and its plain `sys/class/net` link (`../../devices/.../<pci>/net/<name>`)
    /// names the record's parent as owner. `None` sends it the long way, which also reports
    /// whatever is odd about it.
    fn netdev_from_record(
        &self,
        class: &Dir,
        name: &str,
        vfs: &HashSet<PciAddress>,
        links: &Links,
    ) -> Option<NetDev> {
        let l = links.get(name)?;
        l.speed_mbps?;
        let mut buf = [0u8; 1024];
        let n = fd::readlink_into(&class.fd, &fd::cname(name)?, &mut buf).ok()?;
        let [dev, net, last] = plain_link_tail(&class.rel, &buf[..n])?;
        if net != b"net" || last != name.as_bytes() {
            return None;
        }
        let device: PciAddress = std::str::from_utf8(dev).ok()?.parse().ok()?;
        if !l.describes(name, &device) {
            return None;
        }
        let mut nd = NetDev::unread(name.parse().ok()?, device);
        from_link(&mut nd, l, !vfs.contains(&device));
        Some(nd)
    }

    /// One netdev; `None` for netdevs that do not belong to a PCI function (lo, bridges).
    fn scan_netdev(
        &mut self,
        name: &str,
        target: &Path,
        vfs: &HashSet<PciAddress>,
        links: &Links,
    ) -> Option<NetDev> {
        let display = Path::new(CLASS_NET).join(name);
        let Ok(ifname) = name.parse::<IfName>() else {
            self.warn(&display, "not a valid interface name; ignored");
            return None;
        };
        // Where the netdev lives decides whether we care: only netdevs of PCI functions.
        let device = pci_parent_of_netdev(target)?;
        let mut nd = NetDev::unread(ifname, device);
        let switch_port = !vfs.contains(&device);
        let link = links
            .get(name)
            .copied()
            .filter(|l| l.describes(name, &device));
        if let Some(l) = link {
            from_link(&mut nd, l, switch_port);
            if l.speed_mbps.is_some() {
                return Some(nd);
            }
        }
        match self.open_dir(target) {
            Ok(dir) if link.is_some() => nd.speed = self.read_speed(&dir),
            Ok(dir) => self.read_netdev_attrs(&dir, &mut nd, switch_port),
            Err(e) => self.warn(&display, e.describe("netdev link")),
        }
        Some(nd)
    }

    fn read_speed(&mut self, dir: &Dir) -> Option<u32> {
        // "-1" and 4294967295 both mean "unknown" depending on kernel version.
        self.attr(dir, c"speed", Need::Optional, "a speed in Mb/s", |s| {
            if s == "-1" {
                Some(None)
            } else {
                attr::parse_dec::<u32>(s).map(|v| Some(v).filter(|v| *v != u32::MAX))
            }
        })
        .flatten()
    }

    /// Fallback when `sys/class/net` is absent: read each network device's `net/` directory.
    fn netdevs_from_devices(&mut self, devices: &[PciDevice]) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        for d in devices
            .iter()
            // Unknown class too: mock trees often have no `class` file.
            .filter(|d| d.present && matches!(d.ids.base_class(), Some(0x02) | None))
        {
            let net = Path::new(PCI_DEVICES)
                .join(d.address.to_string())
                .join("net");
            let Ok(dir) = self.open_dir(&net) else {
                continue;
            };
            for n in self.list(&dir, Need::Optional).unwrap_or_default() {
                let p = dir.rel.join(&n);
                out.push((n, p));
            }
        }
        out
    }

    /// `switch_ports`: also read the `phys_*` attributes. Only PF-side netdevs (uplinks and
    /// representors) need them; a VF's own netdev is never a switchdev port, and skipping
    /// three opens per VF matters on a 2048-VF host.
    fn read_netdev_attrs(&mut self, dir: &Dir, nd: &mut NetDev, switch_ports: bool) {
        let text = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        nd.ifindex = self.attr(
            dir,
            c"ifindex",
            Need::Required,
            "a decimal index",
            attr::parse_dec,
        );
        nd.mac = self.attr(dir, c"address", Need::Required, "a MAC address", |s| {
            s.parse::<MacAddress>().ok()
        });
        nd.operstate = self.attr(dir, c"operstate", Need::Optional, "text", text);
        nd.mtu = self.attr(
            dir,
            c"mtu",
            Need::Optional,
            "a decimal number",
            attr::parse_dec,
        );
        nd.speed = self.read_speed(dir);
        if !switch_ports {
            return;
        }
        nd.phys_port_name = self.attr(dir, c"phys_port_name", Need::Optional, "text", text);
        nd.phys_switch_id = self.attr(dir, c"phys_switch_id", Need::Optional, "text", text);
        nd.phys_port_id = self.attr(dir, c"phys_port_id", Need::Optional, "text", text);
    }
}

/// Reads attribute `attr` of each netdev in `names` (`sys/class/net/<name>/<attr>`), confined
/// to the root like the scan and on its threads; `None` where it is missing or unreadable.
pub fn netdev_attr(root: &SysfsRoot, names: &[&str], attr: &CStr) -> Vec<Option<String>> {
    let Ok(rootfd) = fd::open_dir_path(root.path()) else {
        return vec![None; names.len()];
    };
    let ctx = Ctx {
        root,
        rootfd,
        beneath: AtomicBool::new(true),
        walk: false,
    };
    let mut w = Worker::new(&ctx);
    w.par_map(names.to_vec(), |w, n| {
        let rel = Path::new(CLASS_NET).join(n);
        if w.ctx.beneath.load(Ordering::Relaxed) {
            let file = rel.join(attr.to_string_lossy().as_ref());
            match fd::read_beneath(&w.ctx.rootfd, &file, &mut w.buf, &mut w.closer) {
                Ok(Raw::Value(v)) => return Some(Some(v.to_string())),
                Ok(_) => return Some(None),
                Err(_) => w.ctx.beneath.store(false, Ordering::Relaxed),
            }
        }
        let v = w
            .open_dir(&rel)
            .ok()
            .and_then(|dir| w.attr(&dir, attr, Need::Optional, "text", |s| Some(s.to_string())));
        Some(v)
    })
}

/// Gives the calling scanner thread its own copy of the descriptor table, so two scanner
/// threads do not contend for one table's lock on every open and close, and the kernel can
/// skip per-call reference counting on the `struct file`s it uses. The copy holds the
/// descriptors opened before (root, bus and bridge directories) under the same numbers;
/// nothing the thread opens may leave it, and its table goes when it exits. Failure only
/// costs that speed.
/// The PCI spec's ceiling on TotalVFs (a 16-bit field).
const MAX_VFS: u32 = 65535;

fn private_fd_table() {
    // SAFETY: unshare(CLONE_FILES) changes only this thread's descriptor table.
    let _ = unsafe { libc::unshare(libc::CLONE_FILES) };
}

/// The last component of `target` (a link's text) resolved lexically from directory `dir`,
/// as [`lexical`] would give it, from the bytes alone: `Some(Err)` when it climbs out of the
/// root, `None` when the answer needs the full path (the target ends in `..` or `.`).
fn lexical_basename<'t>(dir: &Path, target: &'t [u8]) -> Option<Result<&'t str, LinkError>> {
    let escapes = || {
        Some(Err(LinkError::Escapes(
            String::from_utf8_lossy(target).into_owned(),
        )))
    };
    let mut depth = dir.components().count();
    if target.first() == Some(&b'/') {
        depth = 0;
    }
    let mut last = None;
    for c in target.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if depth == 0 {
                    return escapes();
                }
                depth -= 1;
                last = None;
            }
            _ => {
                depth += 1;
                last = Some(c);
            }
        }
    }
    match target.split(|b| *b == b'/').next_back() {
        Some(b"" | b"." | b"..") => None,
        _ => last.and_then(|c| std::str::from_utf8(c).ok()).map(Ok),
    }
}

/// The last three components of a relative link `target` of the plain kernel shape (leading
/// `..`s, then names only) that stays inside the root when resolved from `dir`; `None` for
/// anything else, which callers resolve the long way.
fn plain_link_tail<'t>(dir: &Path, target: &'t [u8]) -> Option<[&'t [u8]; 3]> {
    let mut ups = 0;
    let mut names: Vec<&[u8]> = Vec::with_capacity(12);
    for c in target.split(|b| *b == b'/') {
        match c {
            b".." if names.is_empty() => ups += 1,
            b"" | b"." | b".." => return None,
            _ => names.push(c),
        }
    }
    if ups > dir.components().count() || names.len() < 3 {
        return None;
    }
    let t = &names[names.len() - 3..];
    Some([t[0], t[1], t[2]])
}

/// The sysfs attributes a link record carries, with the same rules as the file reads: no
/// `phys_*` for a VF's own netdev, empty text is no value, `u32::MAX` speed is unknown.
fn from_link(nd: &mut NetDev, l: &LinkAttrs, switch_port: bool) {
    let text = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    nd.ifindex = Some(l.ifindex);
    nd.mac = l.address;
    nd.operstate = text(&l.operstate);
    nd.mtu = l.mtu;
    nd.speed = l.speed_mbps.flatten().filter(|v| *v != u32::MAX);
    if switch_port {
        nd.phys_port_name = text(&l.phys_port_name);
        nd.phys_switch_id = text(&l.phys_switch_id);
        nd.phys_port_id = text(&l.phys_port_id);
    }
}

/// `PCI_ID=8086:154C`, `PCI_SUBSYS_ID=8086:0000`, `PCI_CLASS=20000` from a PCI `uevent`.
fn parse_uevent(s: &str) -> PciIds {
    let mut ids = PciIds::default();
    let pair = |v: &str| {
        v.split_once(':')
            .map(|(a, b)| (attr::parse_hex_u16(a), attr::parse_hex_u16(b)))
            .unwrap_or((None, None))
    };
    for line in s.lines() {
        if let Some(v) = line.strip_prefix("PCI_ID=") {
            (ids.vendor, ids.device) = pair(v);
        } else if let Some(v) = line.strip_prefix("PCI_SUBSYS_ID=") {
            (ids.subsystem_vendor, ids.subsystem_device) = pair(v);
        } else if let Some(v) = line.strip_prefix("PCI_CLASS=") {
            ids.class = attr::parse_hex_u32(v, 0xff_ffff);
        }
    }
    ids
}

/// A VF whose directory is unreadable still has known ids: the PF's vendor and the PF's
/// `sriov_vf_device`. Filled in so the VF keeps its model name; class and revision stay unknown.
fn infer_vf_ids(devices: &mut [PciDevice], index: &HashMap<PciAddress, usize>) {
    let ids: Vec<(usize, Option<u16>, Option<u16>)> = devices
        .iter()
        .filter(|d| !d.present)
        .filter_map(|d| {
            let pf = &devices[*index.get(&d.physfn?)?];
            let vf_device = pf.sriov.as_ref()?.vf_device;
            Some((*index.get(&d.address)?, pf.ids.vendor, vf_device))
        })
        .collect();
    for (i, vendor, device) in ids {
        devices[i].ids.vendor = vendor;
        devices[i].ids.device = device;
    }
}

/// `.../0000:3b:00.0/net/eth0` → `0000:3b:00.0`. Netdevs of virtual devices (`devices/virtual/
/// net/lo`) or of non-PCI parents yield `None`.
fn pci_parent_of_netdev(target: &Path) -> Option<PciAddress> {
    let net = target.parent()?;
    if net.file_name()? != "net" {
        return None;
    }
    net.parent()?.file_name()?.to_str()?.parse().ok()
}

/// Keeps warnings about garbage files one line long.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> SysfsRoot {
        SysfsRoot::new(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/sysfs")
                .join(name),
        )
        .unwrap()
    }

    /// Fixture `name` scanned the default way and in `mode`; `None` if it is not checked out.
    fn default_and(name: &str, mode: Mode) -> Option<(serde_json::Value, serde_json::Value)> {
        let root = fixture(name);
        if !root.path().join("sys").is_dir() {
            return None;
        }
        let a = serde_json::to_value(scan_with(&root, || &[], Mode::default())).unwrap();
        let b = serde_json::to_value(scan_with(&root, || &[], mode)).unwrap();
        Some((a, b))
    }

    /// The tree walk finds the same devices in the same directories as the bus links, with
    /// the same warnings, on every shipped tree, damaged ones included.
    #[test]
    fn tree_walk_agrees_with_bus_links() {
        for name in [
            "igb-real",
            "nfv-host",
            "broken-links",
            "broken-missing",
            "broken-garbage",
            "broken-unreadable",
            "broken-virtfn-mismatch",
        ] {
            let bus_links = Mode {
                openat2: true,
                walk: false,
            };
            let Some((a, b)) = default_and(name, bus_links) else {
                continue;
            };
            assert_eq!(a, b, "{name}");
        }
    }

    /// Kernels without openat2 take the lexical path; both must see the same tree.
    #[test]
    fn fallback_without_openat2_agrees() {
        for name in ["igb-real", "nfv-host", "broken-links"] {
            let long_way = Mode {
                openat2: false,
                walk: false,
            };
            let Some((a, b)) = default_and(name, long_way) else {
                continue;
            };
            assert_eq!(a["devices"], b["devices"], "{name}");
            assert_eq!(a["netdevs"], b["netdevs"], "{name}");
            assert_eq!(a["representors"], b["representors"], "{name}");
            let msgs = |v: &serde_json::Value| v["warnings"].as_array().unwrap().len();
            assert_eq!(msgs(&a), msgs(&b), "{name}: {a:#}\n{b:#}");
        }
    }

    /// The byte-level fast path must agree with the path-based resolution it shortcuts.
    #[test]
    fn lexical_basename_agrees_with_lexical() {
        let dirs = [
            "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0",
            "sys",
            "",
        ];
        let targets = [
            "../../../bus/pci/drivers/iavf",
            "../../../../bus/pci/drivers/ghost",
            "../0000:01:02.0",
            "../../../kernel/iommu_groups/7",
            "../../../../../../etc",
            "/etc",
            "/sys/bus/pci/drivers/igb",
            "iommu_group",
            "./a/./b",
            "a//b",
            "x/..",
            "x/.",
            "x/",
            "..",
            "",
        ];
        for d in dirs {
            for t in targets {
                let dir = Path::new(d);
                let slow = lexical(&dir.join("link"), Path::new(t)).and_then(|p| {
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .ok_or_else(|| LinkError::Escapes(p.display().to_string()))
                });
                match lexical_basename(dir, t.as_bytes()) {
                    None => {}
                    Some(Ok(b)) => assert_eq!(slow.ok().as_deref(), Some(b), "{d} {t}"),
                    Some(Err(e)) => assert_eq!(
                        slow.err().map(|e| e.describe("x")),
                        Some(e.describe("x")),
                        "{d} {t}"
                    ),
                }
            }
        }
    }

    #[test]
    fn plain_link_tails() {
        fn t(s: &str) -> Option<[&[u8]; 3]> {
            plain_link_tail(Path::new("sys/class/net"), s.as_bytes())
        }
        let tail = t("../../devices/pci0000:00/0000:00:01.0/0000:01:00.0/net/eth0").unwrap();
        assert_eq!(tail, [&b"0000:01:00.0"[..], b"net", b"eth0"]);
        for odd in [
            "../../../../etc/net/x", // climbs out of the root
            "/sys/devices/x/net/eth0",
            "../../devices/x/../net/eth0",
            "../../devices/./x/net/eth0",
            "../../devices//x/net/eth0",
            "../../net/",
            "eth0",
        ] {
            assert_eq!(t(odd), None, "{odd}");
        }
    }

    #[test]
    fn uevent_ids() {
        let ids = parse_uevent(
            "DRIVER=iavf\nPCI_CLASS=20000\nPCI_ID=8086:154C\nPCI_SUBSYS_ID=8086:0000\n",
        );
        assert_eq!((ids.vendor, ids.device), (Some(0x8086), Some(0x154c)));
        assert_eq!(
            (ids.subsystem_vendor, ids.subsystem_device),
            (Some(0x8086), Some(0))
        );
        assert_eq!(ids.class, Some(0x020000));
        let junk = parse_uevent("PCI_ID=zz\nPCI_CLASS=\n");
        assert_eq!((junk.vendor, junk.class), (None, None));
    }
}
