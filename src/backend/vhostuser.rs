//! vhost-user without OVS (FPTap / FPBridge / FPOpenVSwitch profiles, or no profile): the
//! host side only owns the socket's directory; the data path is some other backend process.
//!
//! `VIFVHostUser.mode` is QEMU's role. mode=client: QEMU connects, so the backend must be
//! listening on `path`; we can check that a peer accepts connections. mode=server: QEMU
//! listens and the backend connects later; a stale socket file nobody listens on is
//! harmless (QEMU unlinks it), so we only report it.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::{plugin_info, req_str, Backend, BackendError, Config, Instance, Report, Result};
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
/// someone could retarget), not writable by others, owned by root or us. A directory we
/// create is 0750, optionally group-owned by the VMM's group so QEMU can reach the socket.
pub fn ensure_socket_dir(dir: &Path, gid: Option<u32>) -> Result<bool> {
    let _s = tracing::debug_span!("vhostuser_dir", dir = %dir.display()).entered();
    match fs::symlink_metadata(dir) {
        Ok(m) => {
            if m.file_type().is_symlink() {
                return Err(sock_err(dir, "socket directory is a symlink; refusing it"));
            }
            if !m.is_dir() {
                return Err(sock_err(dir, "exists and is not a directory"));
            }
            let mode = m.mode() & 0o7777;
            if mode & 0o002 != 0 {
                return Err(sock_err(
                    dir,
                    format!("socket directory is world-writable (mode {mode:04o}); refusing it"),
                ));
            }
            // SAFETY: geteuid has no preconditions.
            let me = unsafe { libc::geteuid() };
            if m.uid() != 0 && m.uid() != me {
                return Err(sock_err(
                    dir,
                    format!(
                        "socket directory is owned by uid {}, not root or us",
                        m.uid()
                    ),
                ));
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                if !parent.is_dir() {
                    return Err(sock_err(parent, "parent directory does not exist"));
                }
            }
            fs::DirBuilder::new()
                .mode(0o750)
                .create(dir)
                .map_err(|e| sock_err(dir, format!("cannot create: {e}")))?;
            // mkdir's mode is filtered by the umask; set it exactly.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o750))
                .map_err(|e| sock_err(dir, format!("chmod: {e}")))?;
            if let Some(g) = gid {
                std::os::unix::fs::chown(dir, None, Some(g))
                    .map_err(|e| sock_err(dir, format!("chown to gid {g}: {e}")))?;
            }
            Ok(true)
        }
        Err(e) => Err(sock_err(dir, e.to_string())),
    }
}

pub struct VhostUser {
    cfg: Config,
}

impl VhostUser {
    pub fn new(cfg: Config) -> Self {
        VhostUser { cfg }
    }
}

fn sock_path(vif: &VersionedObject) -> Result<&Path> {
    let p = Path::new(req_str(vif, "path")?);
    if !p.is_absolute() {
        return Err(BackendError::InvalidVif(format!(
            "VIFVHostUser.path {} is not absolute",
            p.display()
        )));
    }
    Ok(p)
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
        let _s = tracing::info_span!("vhostuser_plug", id = vif.get_str("id")).entered();
        let path = sock_path(vif)?;
        let mode = req_str(vif, "mode")?;
        if mode != "client" && mode != "server" {
            return Err(BackendError::InvalidVif(format!(
                "VIFVHostUser.mode {mode:?} is neither client nor server"
            )));
        }
        let dir = path.parent().unwrap_or(Path::new("/"));
        let mut report = Report::new("vhostuser");
        if ensure_socket_dir(dir, self.cfg.socket_dir_gid)? {
            report
                .actions
                .push(format!("created socket directory {} (0750)", dir.display()));
        }
        let peer = probe(path);
        if mode == "client" && peer != Peer::Listening && self.cfg.require_peer {
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
        report.details.insert("mode".into(), mode.into());
        report.details.insert("peer".into(), peer.as_str().into());
        Ok(report)
    }

    /// Removes a stale socket file (nobody listening); a live one belongs to its process.
    fn unplug(&self, vif: &VersionedObject, _instance: &Instance) -> Result<Report> {
        let _s = tracing::info_span!("vhostuser_unplug", id = vif.get_str("id")).entered();
        let path = sock_path(vif)?;
        let mut report = Report::new("vhostuser");
        if probe(path) == Peer::Stale {
            let is_sock = fs::symlink_metadata(path)
                .map(|m| {
                    use std::os::unix::fs::FileTypeExt;
                    m.file_type().is_socket()
                })
                .unwrap_or(false);
            if is_sock {
                fs::remove_file(path).map_err(|e| sock_err(path, format!("remove: {e}")))?;
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

    #[test]
    fn creates_dir_0750_and_refuses_unsafe_ones() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("vhu");
        assert!(ensure_socket_dir(&d, None).unwrap());
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o750);
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
