//! Desired host state: `[[pf]]` tables saying what each physical function must look like
//! after boot (VF count, autoprobe, MTU, link, per-VF driver and knobs, MAC policy).
//!
//! Parsed as strictly as `[[device_spec]]`: unknown keys and bad values are errors naming
//! `file:line:column: pf[N].key`, because this file runs unattended at boot, where a typo
//! that silently does nothing is only found when a guest has no network. Matching the
//! selectors against the host and the checks that need the host (totalvfs, default route, a
//! PF chosen twice) happen in [`crate::engine::apply`], before anything is touched.

mod ratenodes;
mod raw;
mod values;

pub use ratenodes::RateNodePolicy;
pub use values::{Eswitch, MacPolicy, PfSelectorSet, VfDriver, VfPolicy};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::ConfigError;

/// Where a value was written, for errors raised later against the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// One `[[pf]]` entry, validated.
#[derive(Debug, Clone)]
pub struct PfPolicy {
    /// Position among the `[[pf]]` tables (`pf[N]` in messages).
    pub index: usize,
    pub select: PfSelectorSet,
    pub numvfs: Option<u32>,
    pub drivers_autoprobe: Option<bool>,
    pub mtu: Option<u32>,
    pub up: Option<bool>,
    pub eswitch: Option<Eswitch>,
    /// Keep NetworkManager / networkd off this PF's VFs (generated udev rules).
    pub manage_nm: bool,
    /// `[[pf.vf]]` entries in file order; a later entry overrides an earlier one per key.
    pub vfs: Vec<VfPolicy>,
    /// `[[pf.rate_nodes]]` in file order (parents before children), created in that order.
    pub rate_nodes: Vec<RateNodePolicy>,
    /// Position of the table and of each key that was written (`"numvfs"`, `"vf[1].mac"`).
    pub at: Pos,
    pub key_at: BTreeMap<String, Pos>,
}

impl PfPolicy {
    /// What one VF must look like: every `[[pf.vf]]` entry covering it, later keys winning.
    pub fn for_vf(&self, vf: u32) -> Option<VfPolicy> {
        let mut out: Option<VfPolicy> = None;
        for v in self.vfs.iter().filter(|v| v.covers(vf)) {
            out = Some(match out {
                None => v.clone(),
                Some(acc) => acc.overlaid_with(v),
            });
        }
        out
    }

    /// The position of `key` (or of the table when the key was not written).
    pub fn pos(&self, key: &str) -> Pos {
        self.key_at.get(key).copied().unwrap_or(self.at)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The file the tables came from (labels errors).
    pub path: PathBuf,
    pub pfs: Vec<PfPolicy>,
}

impl Policy {
    /// A policy in its own file (`--policy FILE`): only `[[pf]]` tables are allowed.
    pub fn load(path: &Path) -> Result<Policy, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, true)
    }

    /// Parse the `[[pf]]` tables of `text`. `standalone`: the document is a policy file and
    /// any other top-level key is an error; otherwise it is vifman.toml, whose other keys
    /// [`crate::config::Config::parse`] checks.
    pub fn parse(text: &str, path: &Path, standalone: bool) -> Result<Policy, ConfigError> {
        let invalid = |offset: usize, key: &str, message: String| {
            let (line, column) = super::line_col(text, offset);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                key: key.to_string(),
                message,
            }
        };
        let decoded = if standalone {
            toml::from_str::<raw::Standalone>(text).map(|d| d.pf)
        } else {
            toml::from_str::<raw::Embedded>(text).map(|d| d.pf)
        };
        let tables = decoded.map_err(|e| {
            let msg = e.message().trim_end().replace('\n', " ");
            let offset = e.span().map_or(0, |s| s.start);
            let key = match super::error_key(&msg, text, offset) {
                Some(field) => format!("{}{field}", table_path(text, offset)),
                None => {
                    let p = table_path(text, offset);
                    if p.is_empty() {
                        "(document)".into()
                    } else {
                        p.trim_end_matches('.').to_string()
                    }
                }
            };
            invalid(offset, &key, msg)
        })?;
        let mut pfs = Vec::with_capacity(tables.len());
        for (i, t) in tables.into_iter().enumerate() {
            let at = t.span().start;
            let pf = values::from_raw(i, t.into_inner(), &|s| {
                let (line, column) = super::line_col(text, s);
                Pos { line, column }
            })
            .map_err(|(key, message, offset)| {
                invalid(offset.unwrap_or(at), &format!("pf[{i}].{key}"), message)
            })?;
            let (line, column) = super::line_col(text, at);
            pfs.push(PfPolicy {
                at: Pos { line, column },
                ..pf
            });
        }
        Ok(Policy {
            path: path.to_path_buf(),
            pfs,
        })
    }

    /// `file:line:col: pf[N].key` for an error found against the host.
    pub fn locate(&self, pf: &PfPolicy, key: &str) -> String {
        let p = pf.pos(key);
        format!(
            "{}:{}:{}: pf[{}].{key}",
            self.path.display(),
            p.line,
            p.column,
            pf.index
        )
    }
}

/// `pf[N].` or `pf[N].vf[M].` for the table around byte `offset`, from the `[[pf]]` and
/// `[[pf.vf]]` headers before it (serde names only the bare field).
fn table_path(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let mut pf: Option<usize> = None;
    let (mut vf, mut rn): (Option<usize>, Option<usize>) = (None, None);
    // The sub-table the offset is in: `vf` or `rate_nodes`.
    let mut sub: Option<&str> = None;
    let mut other = false;
    for line in before.lines() {
        let t: String = line.trim().chars().filter(|c| !c.is_whitespace()).collect();
        if t.starts_with("[[pf]]") {
            pf = Some(pf.map_or(0, |n| n + 1));
            (vf, rn, sub) = (None, None, None);
            other = false;
        } else if t.starts_with("[[pf.vf]]") {
            vf = Some(vf.map_or(0, |n| n + 1));
            sub = Some("vf");
            other = false;
        } else if t.starts_with("[[pf.rate_nodes]]") {
            rn = Some(rn.map_or(0, |n| n + 1));
            sub = Some("rate_nodes");
            other = false;
        } else if t.starts_with('[') {
            other = true;
        }
    }
    match (other, pf, sub) {
        (false, Some(p), Some("vf")) => format!("pf[{p}].vf[{}].", vf.unwrap_or(0)),
        (false, Some(p), Some(_)) => format!("pf[{p}].rate_nodes[{}].", rn.unwrap_or(0)),
        (false, Some(p), None) => format!("pf[{p}]."),
        _ => String::new(),
    }
}

/// A span's start, for values that carry one.
fn at<T>(v: &Spanned<T>) -> Option<usize> {
    Some(v.span().start)
}

#[cfg(test)]
mod tests;
