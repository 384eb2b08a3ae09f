//! The value types of the VIF specs that have no home in `crate::types`: an MTU as a VIF
//! states it, a vhost-user socket path, and the vhost-user and macvtap modes.

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use crate::backend::{BackendError, Result, MAX_MTU, MIN_MTU};
use crate::vif::VersionedObject;

/// `network.mtu` as the VIF states it: `None` when unset or 0, where os-vif falls back to the
/// host default (`network_device_mtu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VifMtu(pub Option<u32>);

impl VifMtu {
    pub(super) fn of(vif: &VersionedObject) -> Result<Self> {
        let Some(net) = vif.get_obj("network") else {
            return Ok(VifMtu(None));
        };
        match net.get("mtu").and_then(|v| v.as_int()) {
            None | Some(0) => Ok(VifMtu(None)),
            Some(m) if (MIN_MTU as i64..=MAX_MTU as i64).contains(&m) => Ok(VifMtu(Some(m as u32))),
            Some(m) => Err(BackendError::MtuOutOfRange {
                name: vif.get_str("vif_name").unwrap_or(vif.name()).to_string(),
                mtu: m,
                min: MIN_MTU,
                max: MAX_MTU,
            }),
        }
    }

    /// The MTU to apply: the VIF's, else the host default, which is range-checked here
    /// because it comes from the command line, not the VIF.
    pub fn resolve(self, default: u32, name: &str) -> Result<u32> {
        let mtu = self.0.unwrap_or(default);
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Err(BackendError::MtuOutOfRange {
                name: name.to_string(),
                mtu: mtu.into(),
                min: MIN_MTU,
                max: MAX_MTU,
            });
        }
        Ok(mtu)
    }
}

/// A vhost-user socket path: absolute, normalised (no `.`, `..`, empty or trailing
/// components), no NUL, and short enough for `sun_path`. Normalised means the path vifman
/// checks is the path QEMU and the vswitch will use; no `..` means it cannot be steered out
/// of the directory it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPath(PathBuf);

impl SocketPath {
    /// `sizeof(sun_path)` minus the NUL.
    pub const MAX_LEN: usize = 107;

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The directory holding the socket (never empty: the path is absolute with a file name).
    pub fn dir(&self) -> &Path {
        self.0.parent().unwrap_or(Path::new("/"))
    }
}

impl FromStr for SocketPath {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.contains('\0') {
            return Err("contains NUL".into());
        }
        if !s.starts_with('/') {
            return Err(format!("{s:?} is not absolute"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(format!(
                "{s:?} is {} bytes; a unix socket path allows at most {}",
                s.len(),
                Self::MAX_LEN
            ));
        }
        let p = Path::new(s);
        let normal = p
            .components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)));
        // `components()` silently drops `.`, `//` and a trailing `/`: compare spellings too.
        let rebuilt: PathBuf = p.components().collect();
        if !normal || rebuilt.as_os_str() != p.as_os_str() || p.file_name().is_none() {
            return Err(format!(
                "{s:?} is not a normalised path (no '.', '..', '//' or trailing '/')"
            ));
        }
        Ok(SocketPath(p.to_path_buf()))
    }
}

impl std::fmt::Display for SocketPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

/// `VIFVHostUser.mode`: QEMU's role on the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VhostMode {
    /// QEMU connects; the vswitch/backend listens.
    Client,
    /// QEMU listens; the vswitch/backend connects.
    Server,
}

impl VhostMode {
    pub fn as_str(self) -> &'static str {
        match self {
            VhostMode::Client => "client",
            VhostMode::Server => "server",
        }
    }
}

impl FromStr for VhostMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "client" => Ok(VhostMode::Client),
            "server" => Ok(VhostMode::Server),
            m => Err(format!("{m:?} is neither client nor server")),
        }
    }
}

/// `VIFDirect.mode`, with the IFLA_MACVLAN_MODE value it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectMode {
    Vepa,
    Bridge,
    Passthrough,
}

impl DirectMode {
    /// The os-vif (and libvirt `<source mode=...>`) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DirectMode::Vepa => "vepa",
            DirectMode::Bridge => "bridge",
            DirectMode::Passthrough => "passthrough",
        }
    }

    /// `MACVLAN_MODE_*` from `linux/if_link.h`.
    pub fn macvlan_mode(self) -> u32 {
        match self {
            DirectMode::Vepa => 2,
            DirectMode::Bridge => 4,
            DirectMode::Passthrough => 8,
        }
    }
}

impl FromStr for DirectMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "vepa" => Ok(DirectMode::Vepa),
            "bridge" => Ok(DirectMode::Bridge),
            "passthrough" => Ok(DirectMode::Passthrough),
            m => Err(format!("{m:?} is not vepa, bridge or passthrough")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths() {
        for ok in [
            "/run/vhu/sock0",
            "/s",
            "/var/run/openvswitch/vhu6f0f6f2c-7c",
        ] {
            assert!(ok.parse::<SocketPath>().is_ok(), "{ok}");
        }
        for bad in [
            "rel/sock",
            "",
            "/run/../etc/x",
            "/run/./x",
            "/run//x",
            "/run/x/",
            "/",
            "/run/a\0b",
            &format!("/{}", "a".repeat(120)),
        ] {
            assert!(bad.parse::<SocketPath>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "/run/vhu/s".parse::<SocketPath>().unwrap().dir(),
            Path::new("/run/vhu")
        );
    }

    #[test]
    fn modes() {
        assert_eq!("vepa".parse::<DirectMode>().unwrap().macvlan_mode(), 2);
        assert_eq!("bridge".parse::<DirectMode>().unwrap().macvlan_mode(), 4);
        assert_eq!(
            "passthrough".parse::<DirectMode>().unwrap().macvlan_mode(),
            8
        );
        assert!("private".parse::<DirectMode>().is_err());
        assert_eq!("server".parse::<VhostMode>(), Ok(VhostMode::Server));
        assert!("both".parse::<VhostMode>().is_err());
    }

    #[test]
    fn mtu_default_is_checked() {
        assert_eq!(VifMtu(None).resolve(1500, "t").unwrap(), 1500);
        assert_eq!(VifMtu(Some(9000)).resolve(1500, "t").unwrap(), 9000);
        let e = VifMtu(None).resolve(20, "tap0").unwrap_err();
        assert!(e.to_string().contains("MTU 20 for tap0"), "{e}");
    }
}
