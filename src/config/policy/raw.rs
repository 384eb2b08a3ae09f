//! The TOML shape of `[[pf]]` tables, kept apart from the validated [`super::PfPolicy`]:
//! every value is `Spanned` so a semantic error can point at the line and column to fix, and
//! every table denies unknown keys, because a typo'd `numfvs` silently doing nothing would be
//! worse than an error at boot.

use serde::Deserialize;
use toml::Spanned;

/// A document that holds only a policy (`--policy FILE`): anything else is a typo.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Standalone {
    #[serde(default)]
    pub pf: Vec<Spanned<RawPf>>,
}

/// The policy inside vifman.toml: the other top-level keys belong to [`crate::config::Config`],
/// which checks them itself.
#[derive(Debug, Deserialize)]
pub(super) struct Embedded {
    #[serde(default)]
    pub pf: Vec<Spanned<RawPf>>,
}

/// `true`/`false` or the words operators write in shell scripts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Flag {
    Bool(bool),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPf {
    pub address: Option<Spanned<String>>,
    pub serial: Option<Spanned<String>>,
    pub netdev: Option<Spanned<String>>,
    pub device: Option<Spanned<String>>,
    pub numvfs: Option<Spanned<i64>>,
    pub drivers_autoprobe: Option<Spanned<Flag>>,
    pub mtu: Option<Spanned<i64>>,
    pub up: Option<Spanned<Flag>>,
    pub eswitch: Option<Spanned<String>>,
    pub manage_nm: Option<Spanned<Flag>>,
    #[serde(default)]
    pub vf: Vec<Spanned<RawVf>>,
    #[serde(default)]
    pub rate_nodes: Vec<Spanned<RawRateNode>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateNode {
    pub name: Option<Spanned<String>>,
    pub min_tx_rate: Option<Spanned<i64>>,
    pub max_tx_rate: Option<Spanned<i64>>,
    pub parent: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVf {
    pub vfs: Option<Spanned<RawRange>>,
    pub driver: Option<Spanned<String>>,
    pub mac: Option<Spanned<String>>,
    pub spoofchk: Option<Spanned<Flag>>,
    pub trust: Option<Spanned<Flag>>,
    pub link_state: Option<Spanned<String>>,
    pub min_tx_rate: Option<Spanned<i64>>,
    pub max_tx_rate: Option<Spanned<i64>>,
    pub rate_parent: Option<Spanned<String>>,
}

/// `vfs = "0-3,5"` or `vfs = 4`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawRange {
    One(i64),
    Text(String),
}
