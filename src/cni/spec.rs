//! The CNI protocol itself (spec 0.3.0 – 1.1.0): commands, the environment a runtime sets,
//! version negotiation and the error object. Nothing here knows about VFs.

use std::cmp::Ordering;
use std::path::PathBuf;

use serde_json::{json, Value};

/// Spec versions this plugin speaks; results are written in the version the config names.
pub const SUPPORTED: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
pub const LATEST: &str = "1.1.0";

/// The spec's well-known error codes (0-99 are the spec's; 100+ are vifman's own).
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENV: u32 = 4;
    pub const IO: u32 = 5;
    pub const DECODE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN: u32 = 11;
    pub const NOT_AVAILABLE: u32 = 50;
    /// The VF is held by another attachment or allocation.
    pub const VF_BUSY: u32 = 100;
    /// The kernel refused a change (everything before it was rolled back).
    pub const KERNEL: u32 = 101;
    /// A delegated plugin (IPAM) failed without a usable error object.
    pub const DELEGATE: u32 = 102;
    /// The allocation store could not be read or written.
    pub const STORE: u32 = 103;
    /// CHECK: the attachment is no longer as ADD left it.
    pub const DRIFT: u32 = 104;
}

/// A CNI error object: printed on stdout, with a non-zero exit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}{}", if details.is_empty() { String::new() } else { format!(": {details}") })]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }
    pub fn details(mut self, d: impl Into<String>) -> Self {
        self.details = d.into();
        self
    }
    /// An invalid value of network-configuration key `key`.
    pub fn key(key: &str, why: impl std::fmt::Display) -> Self {
        CniError::new(code::INVALID_CONFIG, format!("{key}: {why}"))
    }
    pub fn to_json(&self, version: &str) -> Value {
        let mut v = json!({"cniVersion": version, "code": self.code, "msg": self.msg});
        if !self.details.is_empty() {
            v["details"] = Value::String(self.details.clone());
        }
        v
    }
}

/// Compare two `MAJOR.MINOR.PATCH` versions (anything unparsable sorts first).
pub fn cmp_version(a: &str, b: &str) -> Ordering {
    let p = |s: &str| -> Vec<u32> { s.split('.').map(|x| x.parse().unwrap_or(0)).collect() };
    p(a).cmp(&p(b))
}

pub fn check_version(v: &str) -> Result<(), CniError> {
    if SUPPORTED.contains(&v) {
        return Ok(());
    }
    Err(CniError::new(
        code::INCOMPATIBLE_VERSION,
        format!("incompatible CNI versions: config is {v:?}, plugin supports {SUPPORTED:?}"),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    Status,
    Gc,
}

/// What the runtime passed in the environment.
#[derive(Debug, Clone)]
pub struct Env {
    pub command: Command,
    pub container_id: String,
    pub netns: Option<String>,
    pub ifname: String,
    pub args: Vec<(String, String)>,
    pub path: Vec<PathBuf>,
}

impl Env {
    /// `CNI_ARGS` value of `key` (`K8S_POD_UID`, `MAC`, ...).
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Read and check the variables `command` needs (the spec's table): a missing or malformed
    /// one is error 4, naming it.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Env, CniError> {
        let bad = |var: &str, why: &str| CniError::new(code::INVALID_ENV, format!("{var}: {why}"));
        let command = match get("CNI_COMMAND").as_deref() {
            Some("ADD") => Command::Add,
            Some("DEL") => Command::Del,
            Some("CHECK") => Command::Check,
            Some("VERSION") => Command::Version,
            Some("STATUS") => Command::Status,
            Some("GC") => Command::Gc,
            Some(other) => {
                return Err(bad(
                    "CNI_COMMAND",
                    &format!(
                    "unknown command {other:?} (expected ADD, DEL, CHECK, VERSION, STATUS or GC)"
                ),
                ))
            }
            None => return Err(bad("CNI_COMMAND", "not set")),
        };
        let per_container = matches!(command, Command::Add | Command::Del | Command::Check);
        let get_nonempty = |k: &str| get(k).filter(|v| !v.is_empty());
        let container_id = get_nonempty("CNI_CONTAINERID").unwrap_or_default();
        if per_container {
            if container_id.is_empty() {
                return Err(bad("CNI_CONTAINERID", "not set"));
            }
            valid_container_id(&container_id)
                .map_err(|why| bad("CNI_CONTAINERID", &format!("{container_id:?}: {why}")))?;
        }
        let ifname = get_nonempty("CNI_IFNAME").unwrap_or_default();
        if per_container {
            if ifname.is_empty() {
                return Err(bad("CNI_IFNAME", "not set"));
            }
            ifname
                .parse::<crate::types::IfName>()
                .map_err(|e| bad("CNI_IFNAME", &e.to_string()))?;
        }
        let netns = get_nonempty("CNI_NETNS");
        if matches!(command, Command::Add | Command::Check) && netns.is_none() {
            return Err(bad("CNI_NETNS", "not set"));
        }
        let mut args = vec![];
        for kv in get("CNI_ARGS").unwrap_or_default().split(';') {
            if kv.is_empty() {
                continue;
            }
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad("CNI_ARGS", &format!("{kv:?} is not KEY=VALUE")))?;
            args.push((k.to_string(), v.to_string()));
        }
        let path = get("CNI_PATH")
            .unwrap_or_default()
            .split(':')
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect();
        Ok(Env {
            command,
            container_id,
            netns,
            ifname,
            args,
            path,
        })
    }
}

/// The spec's rule: an alphanumeric first, then alphanumerics, `_`, `.` or `-`.
fn valid_container_id(id: &str) -> Result<(), &'static str> {
    let mut b = id.bytes();
    if !b.next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or digit");
    }
    if !b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')) {
        return Err("may hold only letters, digits, '_', '.' and '-'");
    }
    Ok(())
}

/// VERSION's answer, in the version the caller asked in (or the latest).
pub fn version_reply(asked: Option<&str>) -> Value {
    json!({
        "cniVersion": asked.filter(|v| SUPPORTED.contains(v)).unwrap_or(LATEST),
        "supportedVersions": SUPPORTED,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Result<Env, CniError> {
        let m: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn env_rules() {
        let e = env(&[("CNI_COMMAND", "ADD")]).unwrap_err();
        assert_eq!((e.code, e.msg.as_str()), (4, "CNI_CONTAINERID: not set"));
        let e = env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "-x"),
            ("CNI_IFNAME", "net1"),
            ("CNI_NETNS", "/x"),
        ])
        .unwrap_err();
        assert!(e.msg.starts_with("CNI_CONTAINERID"), "{e}");
        let e = env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "abc"),
            ("CNI_IFNAME", "a/b"),
        ])
        .unwrap_err();
        assert!(e.msg.starts_with("CNI_IFNAME"), "{e}");
        let ok = env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "abc"),
            ("CNI_IFNAME", "net1"),
            ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_UID=u"),
            ("CNI_PATH", "/a:/b"),
        ])
        .unwrap();
        assert_eq!(ok.arg("K8S_POD_UID"), Some("u"));
        assert_eq!(ok.path.len(), 2);
        assert!(env(&[("CNI_COMMAND", "VERSION")]).is_ok());
        assert_eq!(env(&[("CNI_COMMAND", "NOPE")]).unwrap_err().code, 4);
    }

    #[test]
    fn versions() {
        assert_eq!(cmp_version("0.4.0", "1.0.0"), Ordering::Less);
        assert_eq!(cmp_version("1.1.0", "1.0.0"), Ordering::Greater);
        assert!(check_version("0.2.0").is_err());
        assert_eq!(version_reply(Some("0.4.0"))["cniVersion"], "0.4.0");
        assert_eq!(version_reply(Some("9.9.9"))["cniVersion"], LATEST);
    }
}
