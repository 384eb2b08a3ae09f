//! vifman.toml: which devices vifman may hand out, grouped into pools by physical network, in
//! the style of nova's `[pci] device_spec` plus the k8s device plugin's `pf#range` selectors,
//! and which devices it must never touch.

mod address;
mod alias;
pub mod nova;
pub mod policy;
mod spec;

pub use address::AddressSpec;
pub use alias::{serves as alias_serves, Alias};
pub use spec::{Candidate, DeviceSpec, MatchOutcome, PfOf, PfSelector};

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub const DEFAULT_PATH: &str = "/etc/vifman/vifman.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Line and column are 1-based; `key` is the dotted TOML key when known.
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub device_specs: Vec<DeviceSpec>,
    /// PF/VF PCI addresses or netdev names vifman must never touch.
    pub exclude: Vec<String>,
    /// Exclude PFs whose netdev carries the default route (on by default: host safety).
    pub exclude_default_route: bool,
    /// nova's `[pci] alias` entries (`[[alias]]`), by name.
    pub aliases: Vec<Alias>,
    /// A PF with VFs enabled may be handed out whole: its VFs are removed first (numvfs 0) and
    /// re-created on release. Off by default: such a PF is then excluded from its type-PF pool.
    pub pf_passthrough_removes_vfs: bool,
    /// Desired host state (`[[pf]]` tables), applied by `vifman apply`.
    pub policy: policy::Policy,
    /// `[health]`: the health model's debounce and thresholds.
    pub health: crate::inventory::health::HealthPolicy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    device_spec: Vec<Spanned<spec::RawSpec>>,
    /// nova's JSON device_spec values, verbatim, one per string; taken after the
    /// `[[device_spec]]` tables, in order.
    #[serde(default)]
    nova_device_spec: Vec<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default = "yes")]
    exclude_default_route: bool,
    #[serde(default)]
    alias: Vec<Spanned<alias::RawAlias>>,
    #[serde(default)]
    pf_passthrough_removes_vfs: bool,
    /// `[[pf]]` tables: checked key by key in [`policy::Policy::parse`].
    #[serde(default)]
    pf: Vec<toml::Value>,
    #[serde(default)]
    health: crate::inventory::health::HealthPolicy,
}

fn yes() -> bool {
    true
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, column)
}

/// The key serde's message is about: the backticked field of "unknown field `x`" and
/// "missing field `x`"; for a bad value ("invalid type: integer `5`, expected a string"),
/// whose backticks quote the value, the key written before the `=` that `offset` (the
/// value's span) follows on its line, inside an inline table too.
pub(crate) fn error_key(msg: &str, text: &str, offset: usize) -> Option<String> {
    let about_value = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|p| msg.starts_with(p));
    if !about_value {
        return msg.split('`').nth(1).map(String::from);
    }
    let before = &text[..offset.min(text.len())];
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let (left, _) = line.rsplit_once('=')?;
    let key = left.rsplit(['{', ',']).next()?.trim().trim_matches('"');
    (!key.is_empty()).then(|| key.to_string())
}

/// The dotted key of `field` at byte `offset`, for errors serde reports with the bare field
/// name ("unknown field `fuction`"): `device_spec[N]` from the `[[device_spec]]` headers
/// before it, `.address` inside an `address = {…}` table or a `[device_spec.address]` section.
fn key_path(text: &str, offset: usize, field: &str) -> String {
    let before = &text[..offset.min(text.len())];
    let mut spec: Option<usize> = None;
    let mut alias: Option<usize> = None;
    let mut in_alias = false;
    let mut in_address_section = false;
    for line in before.lines() {
        let t = line.trim();
        let table = t.trim_start_matches('[').trim_start();
        if t.starts_with("[[") && table.starts_with("device_spec") {
            spec = Some(spec.map_or(0, |n| n + 1));
            in_address_section = false;
            in_alias = false;
        } else if t.starts_with("[[") && table.starts_with("alias") {
            alias = Some(alias.map_or(0, |n| n + 1));
            in_alias = true;
            in_address_section = false;
        } else if t.starts_with('[') {
            in_alias = false;
            in_address_section = t.replace(' ', "").starts_with("[device_spec.address]");
        }
    }
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let in_inline_address = line.trim_start().starts_with("address") && line.contains('{');
    let mut key = String::new();
    if let (true, Some(n)) = (in_alias, alias) {
        key = format!("alias[{n}].");
    } else if let Some(n) = spec {
        key = format!("device_spec[{n}].");
        if in_address_section || in_inline_address {
            key.push_str("address.");
        }
    }
    key.push_str(field);
    key
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse TOML text; `path` only labels errors.
    /// A host without a config file: no pools, the default exclusions (the default route's
    /// PF stays out). What the read-only views judge availability by when there is no config.
    pub fn none() -> Config {
        Config {
            exclude_default_route: true,
            ..Default::default()
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |span: Option<std::ops::Range<usize>>, key: &str, message: String| {
            let (line, column) = line_col(text, span.map(|s| s.start).unwrap_or(0));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                key: key.to_string(),
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim_end().replace('\n', " ");
            // serde names the offending key in its message ("unknown field `x`").
            let offset = e.span().map_or(0, |s| s.start);
            let key = match error_key(&msg, text, offset) {
                Some(field) => key_path(text, offset, &field),
                None => "(document)".into(),
            };
            invalid(e.span(), &key, msg)
        })?;
        let mut specs = Vec::with_capacity(raw.device_spec.len());
        for (i, s) in raw.device_spec.into_iter().enumerate() {
            let span = s.span();
            let spec = DeviceSpec::from_raw(i, s.into_inner()).map_err(|(key, message, sub)| {
                invalid(
                    sub.or(Some(span.clone())),
                    &format!("device_spec[{i}].{key}"),
                    message,
                )
            })?;
            specs.push(spec);
        }
        for (i, s) in raw.nova_device_spec.iter().enumerate() {
            let more = DeviceSpec::from_nova_json(specs.len(), s.get_ref())
                .map_err(|m| invalid(Some(s.span()), &format!("nova_device_spec[{i}]"), m))?;
            specs.extend(more);
        }
        let mut aliases: Vec<Alias> = Vec::with_capacity(raw.alias.len());
        for (i, a) in raw.alias.into_iter().enumerate() {
            let span = a.span();
            let alias = Alias::from_raw(a.into_inner()).map_err(|(key, message, sub)| {
                invalid(
                    sub.or(Some(span.clone())),
                    &format!("alias[{i}].{key}"),
                    message,
                )
            })?;
            // nova: entries may share a name (the alias takes a device matching any of
            // them) when their NUMA policy and device type agree.
            if let Some(first) = aliases.iter().find(|x| x.name == alias.name) {
                let conflict = if first.numa_policy != alias.numa_policy {
                    Some("NUMA policy")
                } else if first.device_type != alias.device_type {
                    Some("device_type")
                } else {
                    None
                };
                if let Some(what) = conflict {
                    return Err(invalid(
                        Some(span),
                        &format!("alias[{i}].name"),
                        format!(
                            "alias {:?}: {what} mismatch with its earlier entry (entries of one alias must agree, as in nova)",
                            alias.name
                        ),
                    ));
                }
            }
            aliases.push(alias);
        }
        let _ = raw.pf;
        Ok(Config {
            path: Some(path.to_path_buf()),
            device_specs: specs,
            exclude: raw.exclude,
            exclude_default_route: raw.exclude_default_route,
            aliases,
            pf_passthrough_removes_vfs: raw.pf_passthrough_removes_vfs,
            policy: policy::Policy::parse(text, path, false)?,
            health: raw.health,
        })
    }

    /// The physical networks (pools) named by the specs, in first-appearance order.
    pub fn physnets(&self) -> Vec<&str> {
        let mut out: Vec<&str> = vec![];
        for s in &self.device_specs {
            if let Some(p) = s.physical_network.as_deref() {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    pub fn alias(&self, name: &str) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.name == name)
    }

    /// Each alias name once, in config order: entries sharing a name (nova's multi-spec
    /// alias) are one pool.
    pub fn alias_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = vec![];
        for a in &self.aliases {
            if !out.contains(&a.name.as_str()) {
                out.push(&a.name);
            }
        }
        out
    }

    /// First spec that matches, with the reasons each earlier spec did not (for --explain).
    pub fn classify(&self, c: &Candidate) -> (Option<&DeviceSpec>, Vec<(usize, String)>) {
        let mut why_not = vec![];
        for s in &self.device_specs {
            match s.matches(c) {
                MatchOutcome::Match => return (Some(s), why_not),
                MatchOutcome::NoMatch(reason) => why_not.push((s.index, reason)),
            }
        }
        (None, why_not)
    }
}

#[cfg(test)]
mod tests;
