use std::path::{Path, PathBuf};

use super::{PfLinkState, VfStateDump, VfStateError, VfStateSource};
use crate::confined::{AccessError, Confined};

/// vf-state.json of a 16 x 128-VF host is a few MiB; 256 MiB means something is wrong.
const STATE_LIMIT: usize = 256 << 20;

/// File name, at the top of a fixture root, holding what the kernel would report over netlink.
pub const VF_STATE_FILE: &str = "vf-state.json";
/// Directory of per-PF overrides of [`VF_STATE_FILE`] (see [`FixtureVfState::shard_dir`]).
pub const VF_STATE_SHARDS: &str = "vf-state.d";

/// Reads VF state from `<root>/vf-state.json` (format: [`VfStateDump`]).
#[derive(Debug, Clone)]
pub struct FixtureVfState {
    path: PathBuf,
}

impl FixtureVfState {
    pub fn new(root: &Path) -> Self {
        Self {
            path: root.join(VF_STATE_FILE),
        }
    }

    pub fn exists(&self) -> bool {
        let Ok(c) = self.confined() else { return false };
        c.kind_of(Path::new(VF_STATE_FILE)) == Some("regular file")
            || c.kind_of(Path::new(VF_STATE_SHARDS)) == Some("directory")
    }

    /// The fixture root, through which the files are read: never followed out of it.
    fn confined(&self) -> std::io::Result<Confined> {
        Confined::open(self.path.parent().unwrap_or(Path::new(".")))
    }

    fn read(&self, c: &Confined, rel: &Path) -> Result<String, VfStateError> {
        let abs = self.path.with_file_name(rel);
        c.read(rel, STATE_LIMIT)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| VfStateError::FixtureIo {
                path: abs,
                source: match e {
                    AccessError::Io { source, .. } => source,
                    other => std::io::Error::other(other.to_string()),
                },
            })
    }

    /// The base file, `<root>/vf-state.json`, read through `c` (a handle on the fixture root)
    /// and parsed: the one parser of that file, for [`VfStateSource::link_dump`] and for the
    /// simulated kernel, which reads it once and overlays its own shards.
    pub fn read_base(&self, c: &Confined) -> Result<VfStateDump, VfStateError> {
        let text = self.read(c, Path::new(VF_STATE_FILE))?;
        serde_json::from_str(&text).map_err(|source| VfStateError::FixtureFormat {
            path: self.path.clone(),
            source,
        })
    }

    /// One PF's shard, `<root>/vf-state.d/<ifname>.json`, read through `c` and parsed: the one
    /// parser of shard files, for [`VfStateSource::link_dump`] and for the simulated kernel,
    /// which re-reads a single PF's shard when it changed.
    pub fn read_shard(&self, c: &Confined, ifname: &str) -> Result<PfLinkState, VfStateError> {
        self.read_shard_file(
            c,
            &Path::new(VF_STATE_SHARDS).join(format!("{ifname}.json")),
        )
    }

    fn read_shard_file(&self, c: &Confined, rel: &Path) -> Result<PfLinkState, VfStateError> {
        let text = self.read(c, rel)?;
        serde_json::from_str(&text).map_err(|source| VfStateError::FixtureFormat {
            path: self.path.with_file_name(rel),
            source,
        })
    }

    /// `<root>/vf-state.d/<ifname>.json`: one PF's links entry, overriding the same ifname in
    /// vf-state.json. The simulated kernel writes these so a VF change rewrites one PF, not
    /// the whole host.
    pub fn shard_dir(&self) -> PathBuf {
        self.path.with_file_name(VF_STATE_SHARDS)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl VfStateSource for FixtureVfState {
    fn vf_state(&self) -> Result<Vec<PfLinkState>, VfStateError> {
        self.link_dump().map(|d| d.links)
    }

    fn link_dump(&self) -> Result<VfStateDump, VfStateError> {
        let c = self.confined().map_err(|source| VfStateError::FixtureIo {
            path: self.path.clone(),
            source,
        })?;
        let VfStateDump { mut links, netdevs } = match self.read_base(&c) {
            Ok(dump) => dump,
            Err(VfStateError::FixtureIo { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound
                    && c.kind_of(Path::new(VF_STATE_SHARDS)) == Some("directory") =>
            {
                VfStateDump::default()
            }
            Err(e) => return Err(e),
        };
        // Per-PF shards (written by the simulated kernel) override the base file.
        if let Ok(names) = c.list(Path::new(VF_STATE_SHARDS)) {
            let mut shards: Vec<PathBuf> = names
                .into_iter()
                .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                .map(|n| Path::new(VF_STATE_SHARDS).join(n))
                .collect();
            shards.sort();
            for rel in shards {
                let link = self.read_shard_file(&c, &rel)?;
                match links.iter_mut().find(|l| l.ifname == link.ifname) {
                    Some(l) => *l = link,
                    None => links.push(link),
                }
            }
        }
        Ok(VfStateDump { links, netdevs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{VfLinkState, VlanProto};

    #[test]
    fn reads_documented_format() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join(VF_STATE_FILE),
            r#"{"links":[{"ifname":"enp59s0f0","ifindex":7,"num_vf":8,"vfs":[{"vf":0,"mac":"00:00:00:00:00:00","vlan":0,"qos":0,"vlan_proto":"802.1Q","spoofchk":true,"trust":false,"link_state":"auto","min_tx_rate":0,"max_tx_rate":0}]}]}"#,
        )
        .unwrap();
        let links = FixtureVfState::new(t.path()).vf_state().unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].ifname.as_str(), "enp59s0f0");
        let vf = &links[0].vfs[0];
        assert!(vf.mac.is_zero());
        assert_eq!(vf.vlan_proto, VlanProto::Dot1Q);
        assert_eq!(vf.link_state, VfLinkState::Auto);
        assert_eq!(vf.spoofchk, Some(true));
        // And it serializes back to the same shape.
        let again = serde_json::to_value(VfStateDump {
            links,
            netdevs: vec![],
        })
        .unwrap();
        assert_eq!(again["links"][0]["vfs"][0]["link_state"], "auto");
        assert_eq!(again["links"][0]["vfs"][0]["vlan_proto"], "802.1Q");
    }

    #[test]
    fn shards_override_the_base_file() {
        let t = tempfile::tempdir().unwrap();
        let link = |mac: &str| {
            format!(
                r#"{{"ifname":"p0","ifindex":7,"num_vf":1,"vfs":[{{"vf":0,"mac":"{mac}","vlan":0,"qos":0,"vlan_proto":"802.1Q","spoofchk":true,"trust":false,"link_state":"auto","min_tx_rate":0,"max_tx_rate":0}}]}}"#
            )
        };
        std::fs::write(
            t.path().join(VF_STATE_FILE),
            format!(r#"{{"links":[{}]}}"#, link("00:00:00:00:00:00")),
        )
        .unwrap();
        std::fs::create_dir(t.path().join(VF_STATE_SHARDS)).unwrap();
        std::fs::write(
            t.path().join(VF_STATE_SHARDS).join("p0.json"),
            link("02:00:00:00:00:01"),
        )
        .unwrap();
        let links = FixtureVfState::new(t.path()).vf_state().unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].vfs[0].mac.to_string(), "02:00:00:00:00:01");
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        let t = tempfile::tempdir().unwrap();
        let src = FixtureVfState::new(t.path());
        assert!(matches!(
            src.vf_state(),
            Err(VfStateError::FixtureIo { .. })
        ));
        for bad in [
            "",
            "{",
            r#"{"links":[{"ifname":"a/b","ifindex":1,"num_vf":0,"vfs":[]}]}"#,
            r#"{"links":[{"ifname":"x","ifindex":1,"num_vf":1,"vfs":[{"vf":0,"mac":"zz","vlan":0,"qos":0,"vlan_proto":"802.1Q","link_state":"auto","min_tx_rate":0,"max_tx_rate":0}]}]}"#,
        ] {
            std::fs::write(src.path(), bad).unwrap();
            assert!(
                matches!(src.vf_state(), Err(VfStateError::FixtureFormat { .. })),
                "{bad}"
            );
        }
    }
}
