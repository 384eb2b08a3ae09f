//! `vifman fixture mount`: a fixture host as a live FUSE file system that reacts to writes like
//! the kernel, so tools vifman did not write (lspci, driverctl, dpdk-devbind, other projects'
//! tests) can be tested against SR-IOV behaviour rather than a static tree.
//!
//! The mount is a view over the simulated kernel's tree in the state dir — the very tree
//! `--simulate --state-dir DIR` acts on — so `vifman inventory --sysfs-root MOUNT` and
//! `vifman inventory --simulate --state-dir DIR` agree. Writes go to the simulated kernel's
//! rules ([`crate::host::sim::dispatch`]); nothing here decides what a write means.
//!
//! One process per mount (a lock in the state dir). SIGTERM, SIGINT, SIGHUP or
//! `fusermount3 -u MOUNT` end it with the mount gone. Without `--foreground` the command returns
//! once the mount serves, leaving a daemon whose pid is in `DIR/mount.pid`.

mod faults;
mod fs;
mod view;

pub use faults::{FaultSyntax, Rules};
pub use view::{CONTROL_DIR, FAULTS_FILE};

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::host::{HostError, SimHost};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mountpoint {path}: {reason}")]
    Mountpoint { path: PathBuf, reason: String },
    #[error("state dir {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "state dir {path} is already served by another mount (pid {pid}); one process per mount"
    )]
    Busy { path: PathBuf, pid: String },
    #[error(transparent)]
    Sim(#[from] HostError),
    #[error("mounting at {path}: {source} (is fuse3 installed and /dev/fuse usable?)")]
    Mount {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Os {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the mount daemon failed: {0}")]
    Daemon(String),
}

fn os(what: &'static str) -> impl FnOnce(std::io::Error) -> MountError {
    move |source| MountError::Os { what, source }
}

#[derive(Debug, Clone)]
pub struct MountOptions {
    pub fixture: PathBuf,
    pub mountpoint: PathBuf,
    /// None: a fresh directory under $TMPDIR, removed when the mount ends.
    pub state: Option<PathBuf>,
    pub foreground: bool,
}

/// The pid file and the lock, in the state dir beside the simulation's tree.
pub const PID_FILE: &str = "mount.pid";
const LOCK_FILE: &str = "mount.lock";
const LOG_FILE: &str = "mount.log";

/// Mount `o.fixture` at `o.mountpoint` and serve it until unmounted or signalled.
pub fn run(o: &MountOptions) -> Result<(), MountError> {
    let _span =
        tracing::info_span!("fixture_mount", mountpoint = %o.mountpoint.display()).entered();
    match std::fs::metadata(&o.mountpoint) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(MountError::Mountpoint {
                path: o.mountpoint.clone(),
                reason: "not a directory".into(),
            })
        }
        Err(e) => {
            return Err(MountError::Mountpoint {
                path: o.mountpoint.clone(),
                reason: e.to_string(),
            })
        }
    }
    let (state, ephemeral) = match &o.state {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("vifman-mount-{}", std::process::id())),
            true,
        ),
    };
    crate::store::create_state_dir(&state).map_err(|e| MountError::State {
        path: state.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let lock = lock_state(&state)?;
    let sim = SimHost::open(&o.fixture, &state)?;
    let report = if o.foreground {
        None
    } else {
        match daemon::fork(&state.join(LOG_FILE))? {
            daemon::Side::Parent(r) => return daemon::wait_ready(r, &o.mountpoint, &state),
            daemon::Side::Child(w) => Some(w),
        }
    };
    let result = serve(sim, o, &state, &lock, report);
    let _ = std::fs::remove_file(state.join(PID_FILE));
    if ephemeral {
        let _ = std::fs::remove_dir_all(&state);
    }
    result
}

fn serve(
    sim: SimHost,
    o: &MountOptions,
    state: &Path,
    lock: &std::fs::File,
    mut report: Option<std::io::PipeWriter>,
) -> Result<(), MountError> {
    let mut tell = |msg: &str| {
        if let Some(w) = report.as_mut() {
            let _ = w.write_all(msg.as_bytes());
        }
    };
    // Before any thread exists, so that every thread inherits the mask and only the waiting
    // loop below receives these signals.
    let signals = signals::block().map_err(os("blocking signals"))?;
    let r =
        (|| {
            let view = view::View::new(sim).map_err(|e| MountError::State {
                path: state.to_path_buf(),
                source: e,
            })?;
            let mut cfg = fuser::Config::default();
            cfg.mount_options = vec![
                fuser::MountOption::FSName("vifman".into()),
                fuser::MountOption::Subtype("vifman-sysfs".into()),
                // The kernel checks modes (a non-root writer gets EACCES as on sysfs); the view
                // adds kernfs' own EACCES for files without a show or store method.
                fuser::MountOption::DefaultPermissions,
                fuser::MountOption::NoDev,
                fuser::MountOption::NoSuid,
                fuser::MountOption::NoExec,
            ];
            if rustix::process::geteuid().is_root() {
                // Tests running as another user read it, as everyone reads /sys.
                cfg.acl = fuser::SessionACL::All;
            }
            // Several readers while one writer waits for a delayed (fault-injected) store.
            cfg.n_threads = Some(4);
            let session = fuser::Session::new(fs::SysfsFs::new(view), &o.mountpoint, &cfg)
                .map_err(|source| MountError::Mount {
                    path: o.mountpoint.clone(),
                    source,
                })?;
            let pid = std::process::id().to_string();
            write_pid(lock, &pid);
            std::fs::write(state.join(PID_FILE), format!("{pid}\n")).map_err(|e| {
                MountError::State {
                    path: state.to_path_buf(),
                    source: e,
                }
            })?;
            session.spawn().map_err(os("starting the FUSE session"))
        })();
    let bg = match r {
        Ok(bg) => bg,
        Err(e) => {
            tell(&format!("error: {e}"));
            return Err(e);
        }
    };
    tell("ok");
    drop(report);
    tracing::info!(fixture = %o.fixture.display(), state = %state.display(), "serving");
    loop {
        if bg.guard.is_finished() {
            // `fusermount3 -u` (or umount) ended the session from outside.
            tracing::info!("unmounted from outside");
            return bg.join().map_err(os("FUSE session"));
        }
        if let Some(sig) = signals.wait(Duration::from_millis(200)) {
            tracing::info!(signal = sig, "unmounting");
            return bg.umount_and_join().map_err(os("unmounting"));
        }
    }
}

/// One process per state dir: an exclusive `flock` held for the mount's life (a daemon
/// inherits it across fork, so the lock outlives the parent that took it).
fn lock_state(state: &Path) -> Result<std::fs::File, MountError> {
    let p = state.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .map_err(|e| MountError::State {
            path: p.clone(),
            source: e,
        })?;
    if rustix::fs::flock(
        f.as_fd(),
        rustix::fs::FlockOperation::NonBlockingLockExclusive,
    )
    .is_err()
    {
        let mut pid = String::new();
        let _ = (&f).read_to_string(&mut pid);
        return Err(MountError::Busy {
            path: state.to_path_buf(),
            pid: pid.trim().to_string(),
        });
    }
    Ok(f)
}

fn write_pid(mut lock: &std::fs::File, pid: &str) {
    let _ = lock.set_len(0);
    let _ = lock.write_all(pid.as_bytes());
}

mod daemon {
    //! Background mode: the command returns when the mount serves (or why it could not), so a
    //! script's next line can use it.

    use std::io::{PipeReader, PipeWriter, Read};
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use super::MountError;

    pub enum Side {
        Parent(PipeReader),
        Child(PipeWriter),
    }

    pub fn fork(log: &Path) -> Result<Side, MountError> {
        let (r, w) = std::io::pipe().map_err(super::os("pipe"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(super::os("opening the mount log"))?;
        let null = std::fs::File::open("/dev/null").map_err(super::os("/dev/null"))?;
        // SAFETY: no other thread exists yet (the FUSE threads start after this), so the child
        // is a complete copy of this single-threaded process.
        match unsafe { libc::fork() } {
            -1 => Err(super::os("fork")(std::io::Error::last_os_error())),
            0 => {
                drop(r);
                let _ = rustix::process::setsid();
                // SAFETY: dup2 onto the standard descriptors of this process, from files we
                // own; nothing holds Rust-level handles to fds 0-2.
                unsafe {
                    libc::dup2(null.as_raw_fd(), 0);
                    libc::dup2(log.as_raw_fd(), 1);
                    libc::dup2(log.as_raw_fd(), 2);
                }
                Ok(Side::Child(w))
            }
            _ => Ok(Side::Parent(r)),
        }
    }

    /// The parent's side: "ok" from the child means the mount serves.
    pub fn wait_ready(
        mut r: PipeReader,
        mountpoint: &Path,
        state: &Path,
    ) -> Result<(), MountError> {
        let mut msg = String::new();
        let _ = r.read_to_string(&mut msg);
        match msg.as_str() {
            "ok" => {
                eprintln!(
                    "mounted at {} (state {}, pid in {}; unmount with fusermount3 -u {0} or kill)",
                    mountpoint.display(),
                    state.display(),
                    state.join(super::PID_FILE).display()
                );
                Ok(())
            }
            "" => Err(MountError::Daemon(format!(
                "exited before serving; see {}",
                state.join(super::LOG_FILE).display()
            ))),
            m => Err(MountError::Daemon(
                m.strip_prefix("error: ").unwrap_or(m).to_string(),
            )),
        }
    }
}

mod signals {
    //! SIGTERM, SIGINT and SIGHUP blocked in every thread and taken synchronously by the main
    //! loop, which then unmounts: no async-signal-safety questions, no half-unmounted tree.

    use std::time::Duration;

    pub struct Blocked(libc::sigset_t);

    pub fn block() -> std::io::Result<Blocked> {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; the mask
        // change affects this thread and threads created after it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if r != 0 {
                return Err(std::io::Error::from_raw_os_error(r));
            }
            Ok(Blocked(set))
        }
    }

    impl Blocked {
        /// The next pending signal of the set, or None after `timeout`.
        pub fn wait(&self, timeout: Duration) -> Option<i32> {
            let ts = libc::timespec {
                tv_sec: timeout.as_secs() as libc::time_t,
                tv_nsec: timeout.subsec_nanos() as libc::c_long,
            };
            // SAFETY: valid set and timespec; a null siginfo pointer is allowed.
            let s = unsafe { libc::sigtimedwait(&self.0, std::ptr::null_mut(), &ts) };
            (s > 0).then_some(s)
        }
    }
}
