//! vhost-user without OVS (FPTap / FPBridge / FPOpenVSwitch profiles, or no profile): the
//! host side only owns the socket's directory; the data path is some other backend process.
//!
//! `VIFVHostUser.mode` is QEMU's role. mode=client: QEMU connects, so the backend must be
//! listening on `path`; we can check that a peer accepts connections. mode=server: QEMU
//! listens and the backend connects later; a stale socket file nobody listens on is
//! harmless (QEMU unlinks it), so we only report it.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

use super::rundir::{self, LockKey};
use super::spec::{SocketPath, VhostMode, VhostUserVif};
use super::{plugin_info, Backend, BackendError, Config, Instance, Report, Result};
use crate::vif::VersionedObject;

/// What is at the socket path right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A process accepted our connection.
    Listening,
    /// A socket file exists but connecting is refused (stale).
    Stale,
    Absent,
}

impl Peer {
    pub fn as_str(self) -> &'static str {
        match self {
            Peer::Listening => "listening",
            Peer::Stale => "stale",
            Peer::Absent => "absent",
        }
    }
}

/// Connects and immediately closes; a vhost-user peer treats that as a client that left.
pub fn probe(path: &Path) -> Peer {
    let _s = tracing::debug_span!("vhostuser_probe", path = %path.display()).entered();
    match UnixStream::connect(path) {
        Ok(_) => Peer::Listening,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Peer::Absent,
        Err(_) if path.exists() => Peer::Stale,
        Err(_) => Peer::Absent,
    }
}

fn sock_err(path: &Path, msg: impl Into<String>) -> BackendError {
    BackendError::Socket {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

/// Makes sure the socket directory exists and is safe: a real directory (not a symlink
/// someone could retarget; never followed, also not while creating it), not writable by
/// others, owned by root or us. A directory we create is 0750, optionally group-owned by the
/// VMM's group so QEMU can reach the socket. Returns whether it was created.
pub fn ensure_socket_dir(dir: &Path, gid: Option<u32>) -> Result<bool> {
    let _s = tracing::debug_span!("vhostuser_dir", dir = %dir.display()).entered();
    let d = rundir::ensure_dir(dir, 0o750, gid, false).map_err(|e| match e {
        BackendError::RunDir { path, msg } => BackendError::Socket {
            path,
            msg: format!("socket directory {msg}"),
        },
        e => e,
    })?;
    if d.created {
        return Ok(true);
    }
    if d.mode & 0o002 != 0 {
        return Err(sock_err(
            dir,
            format!(
                "socket directory is world-writable (mode {:04o}); refusing it",
                d.mode
            ),
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if d.uid != 0 && d.uid != me {
        return Err(sock_err(
            dir,
            format!("socket directory is owned by uid {}, not root or us", d.uid),
        ));
    }
    Ok(false)
}

/// Removes the socket at `path` if it is a socket (never another kind of file), relative to
/// its directory opened without following a symlink.
fn remove_socket(path: &SocketPath) -> Result<bool> {
    let dir = rustix::fs::open(
        path.dir(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sock_err(path.dir(), io::Error::from(e).to_string()))?;
    let name = path.as_path().file_name().unwrap_or_default();
    let st = match rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(e) => return Err(sock_err(path.as_path(), io::Error::from(e).to_string())),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Socket {
        return Ok(false);
    }
    rustix::fs::unlinkat(&dir, name, rustix::fs::AtFlags::empty())
        .map_err(|e| sock_err(path.as_path(), format!("remove: {}", io::Error::from(e))))?;
    Ok(true)
}

pub struct VhostUser {
    cfg: Config,
}

impl VhostUser {
    pub fn new(cfg: Config) -> Self {
        VhostUser { cfg }
    }
}

impl Backend for VhostUser {
    fn name(&self) -> &'static str {
        "vhostuser"
    }

    fn describe(&self) -> VersionedObject {
        plugin_info(
            "vhostuser",
            &[(
                "VIFVHostUser",
                &[
                    "VIFPortProfileFPTap",
                    "VIFPortProfileFPBridge",
                    "VIFPortProfileFPOpenVSwitch",
                ],
            )],
        )
    }

    fn plug(&self, vif: &VersionedObject, _instance: &Instance) -> Result<Report> {
        self.plug_vif(&VhostUserVif::try_from(vif)?)
    }

    fn unplug(&self, vif: &VersionedObject, _instance: &Instance) -> Result<Report> {
        self.unplug_vif(&VhostUserVif::try_from(vif)?)
    }
}

impl VhostUser {
    fn lock(&self, vif: &VhostUserVif) -> Result<rundir::Locks> {
        super::lock(
            &self.cfg,
            &[LockKey::Socket(vif.path.as_path().to_path_buf())],
        )
    }

    pub fn plug_vif(&self, vif: &VhostUserVif) -> Result<Report> {
        let _s = tracing::info_span!("vhostuser_plug", path = %vif.path).entered();
        let path = vif.path.as_path();
        let dir = vif.path.dir();
        let _locks = self.lock(vif)?;
        let mut report = Report::new("vhostuser");
        if ensure_socket_dir(dir, self.cfg.socket_dir_gid)? {
            rundir::record_created_socket_dir(&self.cfg.run_dir, dir)?;
            report
                .actions
                .push(format!("created socket directory {} (0750)", dir.display()));
        }
        let peer = probe(path);
        if vif.mode == VhostMode::Client && peer != Peer::Listening && self.cfg.require_peer {
            return Err(sock_err(
                path,
                format!(
                    "mode=client: QEMU will connect here, but no vhost-user backend is listening ({})",
                    peer.as_str()
                ),
            ));
        }
        report
            .details
            .insert("path".into(), path.display().to_string().into());
        report
            .details
            .insert("mode".into(), vif.mode.as_str().into());
        report.details.insert("peer".into(), peer.as_str().into());
        Ok(report)
    }

    /// Removes a stale socket file (nobody listening), and only in a socket directory that
    /// vifman created: elsewhere the file belongs to whoever made the directory. A live
    /// socket belongs to its process.
    pub fn unplug_vif(&self, vif: &VhostUserVif) -> Result<Report> {
        let _s = tracing::info_span!("vhostuser_unplug", path = %vif.path).entered();
        let path = vif.path.as_path();
        let _locks = self.lock(vif)?;
        let mut report = Report::new("vhostuser");
        if probe(path) == Peer::Stale {
            if !rundir::created_socket_dir(&self.cfg.run_dir, vif.path.dir()) {
                report.actions.push(format!(
                    "left stale socket {} (its directory was not created by vifman)",
                    path.display()
                ));
            } else if remove_socket(&vif.path)? {
                report
                    .actions
                    .push(format!("removed stale socket {}", path.display()));
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn creates_dir_0750_and_refuses_unsafe_ones() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("vhu");
        assert!(ensure_socket_dir(&d, None).unwrap());
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o750);
        let e = ensure_socket_dir(&t.path().join("no/such"), None).unwrap_err();
        assert!(
            e.to_string().contains("parent directory does not exist"),
            "{e}"
        );
        assert!(!ensure_socket_dir(&d, None).unwrap());

        let ww = t.path().join("ww");
        fs::create_dir(&ww).unwrap();
        fs::set_permissions(&ww, fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure_socket_dir(&ww, None).unwrap_err();
        assert!(e.to_string().contains("world-writable"), "{e}");

        let l = t.path().join("link");
        std::os::unix::fs::symlink(&d, &l).unwrap();
        let e = ensure_socket_dir(&l, None).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
    }

    #[test]
    fn probe_sees_listener_stale_and_absent() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("s");
        assert_eq!(probe(&p), Peer::Absent);
        let l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        assert_eq!(probe(&p), Peer::Listening);
        drop(l);
        assert_eq!(probe(&p), Peer::Stale);
    }
}
