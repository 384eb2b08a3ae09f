//! The simulated kernel's netlink VF state: the fixture's `vf-state.json` (parsed once, never
//! rewritten) overlaid by one shard per PF under `vf-state.d/`, which every simulated VF write
//! replaces atomically, so a change rewrites one PF and not the whole host. Both files are
//! parsed by [`FixtureVfState`], the reader fixture hosts use too: one file format, one reader.

use std::path::Path;

use super::SimHost;
use crate::confined::Confined;
use crate::host::{HostError, Knob};
use crate::netlink::{
    FixtureVfState, PfLinkState, VfState, VfStateDump, VfStateError, VfStateSource, VF_STATE_SHARDS,
};

pub(super) type FileKey = crate::confined::FileIdentity;

/// The simulation's VF-state files of a big host run to a few MiB.
pub(super) const STATE_LIMIT: usize = 256 << 20;

/// The simulated kernel keeps each netdev's state in its sysfs files and changes them (operstate,
/// new netdevs on rebind); a fixture's recorded link dump would go stale at the first change,
/// so the simulation's copy has none and its readers use the files.
pub(super) fn drop_link_records(dir: &Path) -> std::io::Result<()> {
    let c = Confined::open(dir)?;
    let p = Path::new(crate::netlink::VF_STATE_FILE);
    let Ok(text) = c.read(p, STATE_LIMIT) else {
        return Ok(());
    };
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return Ok(()); // a broken file stays broken, for the readers to report
    };
    if v.as_object_mut()
        .and_then(|o| o.remove("netdevs"))
        .is_none()
    {
        return Ok(());
    }
    let text = serde_json::to_string_pretty(&v).expect("JSON value encodes") + "\n";
    c.replace(p, text.as_bytes())
        .map_err(|e| std::io::Error::other(e.to_string()))
}

impl SimHost {
    /// Every PF's VF state: vf-state.json merged with the per-PF shards the simulation wrote.
    pub(crate) fn load_state(&self) -> Result<VfStateDump, HostError> {
        let src = FixtureVfState::new(&self.dir);
        if !src.exists() {
            return Ok(VfStateDump::default());
        }
        src.vf_state()
            .map(|links| VfStateDump {
                links,
                netdevs: Vec::new(),
            })
            .map_err(|e| HostError::other("simulate", e.to_string()))
    }

    /// One PF's VF state, reading only its shard when there is one (the base file, which the
    /// simulation never rewrites, is parsed once per process).
    pub(crate) fn load_link(&self, pf: &str) -> Result<Option<PfLinkState>, HostError> {
        let c = self.confined()?;
        let shard = Path::new(VF_STATE_SHARDS).join(format!("{pf}.json"));
        match c.identity(&shard) {
            Ok(key) => {
                // Re-parse only when the file changed: every write swaps in a new inode, so
                // (inode, size, mtime) identifies a version, also across processes.
                if let Some((k, l)) = self.shards.lock().ok().and_then(|c| c.get(pf).cloned()) {
                    if k == key {
                        return Ok(Some(l));
                    }
                }
                let l = FixtureVfState::new(&self.dir)
                    .read_shard(c, pf)
                    .map_err(|e| match e {
                        VfStateError::FixtureIo { source, .. } => {
                            HostError::from_io("simulate", &source)
                        }
                        VfStateError::FixtureFormat { source, .. } => {
                            HostError::other("simulate", format!("{}: {source}", shard.display()))
                        }
                        other => HostError::other("simulate", other.to_string()),
                    })?;
                if let Ok(mut c) = self.shards.lock() {
                    c.insert(pf.to_string(), (key, l.clone()));
                }
                return Ok(Some(l));
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(HostError::from_access("simulate", &e)),
        }
        let base = self.base.get_or_init(|| {
            FixtureVfState::new(&self.dir)
                .read_base(c)
                .map(|d| d.links)
                .unwrap_or_default()
        });
        Ok(base.iter().find(|l| l.ifname.as_str() == pf).cloned())
    }

    /// Write one PF's shard atomically (the simulated kernel's netlink state).
    pub(crate) fn save_link(&self, link: &PfLinkState) -> Result<(), HostError> {
        let c = self.confined()?;
        let p = Path::new(VF_STATE_SHARDS).join(format!("{}.json", link.ifname));
        let text = serde_json::to_string(link).expect("state encodes");
        c.replace(&p, text.as_bytes())
            .map_err(|e| HostError::from_access("simulate", &e))?;
        if let (Ok(key), Ok(mut m)) = (c.identity(&p), self.shards.lock()) {
            m.insert(link.ifname.to_string(), (key, link.clone()));
        }
        Ok(())
    }
}

/// Apply `knob` to VF `vf` of a simulated PF link, creating the VF's entry with the kernel's
/// defaults when the dump had none: the one store every simulated VF write lands in
/// (IFLA_VF_*, the devlink rate leaf, the port function's hw_addr).
pub(crate) fn apply_vf_knob(link: &mut crate::netlink::PfLinkState, vf: u32, knob: &Knob) {
    match link.vfs.iter_mut().find(|s| s.vf == vf) {
        Some(s) => knob.apply_to(s),
        None => {
            let mut s = VfState::unconfigured(vf);
            knob.apply_to(&mut s);
            link.vfs.push(s);
            link.vfs.sort_by_key(|s| s.vf);
        }
    }
}
