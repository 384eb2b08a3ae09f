//! vifman.toml: which devices vifman may hand out, grouped into pools by physical network, in
//! the style of nova's `[pci] device_spec` plus the k8s device plugin's `pf#range` selectors,
//! and which devices it must never touch.

mod address;
mod spec;

pub use address::AddressSpec;
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    device_spec: Vec<Spanned<spec::RawSpec>>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default = "yes")]
    exclude_default_route: bool,
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

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse TOML text; `path` only labels errors.
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
            let msg = e.message().to_string();
            // serde names the offending key in its message ("unknown field `x`").
            let key = msg
                .split('`')
                .nth(1)
                .map(str::to_string)
                .unwrap_or_else(|| "(document)".into());
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
        Ok(Config {
            path: Some(path.to_path_buf()),
            device_specs: specs,
            exclude: raw.exclude,
            exclude_default_route: raw.exclude_default_route,
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
