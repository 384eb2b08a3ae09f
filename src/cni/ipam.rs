//! Delegation to the IPAM plugin named in `ipam.type`: executed from `CNI_PATH` with the same
//! command and environment and the network configuration on stdin, as the spec describes.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::spec::{code, CniError, Env};

/// The plugin's executable: the first `CNI_PATH` entry holding a file of that name.
fn find(env: &Env, plugin: &str) -> Result<PathBuf, CniError> {
    env.path
        .iter()
        .map(|d| d.join(plugin))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CniError::new(
                code::INVALID_CONFIG,
                format!("ipam.type: plugin {plugin:?} not found in CNI_PATH"),
            )
            .details(format!("searched {:?}", env.path))
        })
}

/// Run `plugin` for `command` with `conf`, negotiating the version: a plugin that refuses
/// the config's `cniVersion` (error 1) gets the newest version both speak that is not newer,
/// as answered by its VERSION (Debian 12's plugins stop at 1.0.0, for instance). Its result
/// is read in whatever version it wrote; the caller writes its own in the config's.
pub fn exec(
    env: &Env,
    plugin: &str,
    command: &str,
    container_id: &str,
    ifname: &str,
    conf: &Value,
) -> Result<Option<Value>, CniError> {
    match exec_once(env, plugin, command, container_id, ifname, conf) {
        Err(e) if e.code == code::INCOMPATIBLE_VERSION && command != "VERSION" => {
            let want = conf.get("cniVersion").and_then(Value::as_str).unwrap_or("");
            let theirs = exec_once(
                env,
                plugin,
                "VERSION",
                "",
                "",
                &serde_json::json!({"cniVersion": "0.4.0"}),
            )
            .ok()
            .flatten();
            let best = theirs
                .as_ref()
                .and_then(|v| v.get("supportedVersions"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|v| super::spec::SUPPORTED.contains(v))
                .filter(|v| super::spec::cmp_version(v, want).is_lt())
                .max_by(|a, b| super::spec::cmp_version(a, b))
                .map(String::from);
            let Some(best) = best else { return Err(e) };
            tracing::info!(plugin, from = want, to = %best, "the IPAM plugin speaks an older CNI version");
            let mut older = conf.clone();
            older["cniVersion"] = Value::String(best);
            exec_once(env, plugin, command, container_id, ifname, &older)
        }
        other => other,
    }
}

/// Run `plugin` for `command` (ADD, DEL, CHECK, GC) with `conf` on stdin; its stdout JSON
/// (None when it printed nothing, as DEL and CHECK do). An error object it returns comes
/// back with its own code, the message saying which plugin.
fn exec_once(
    env: &Env,
    plugin: &str,
    command: &str,
    container_id: &str,
    ifname: &str,
    conf: &Value,
) -> Result<Option<Value>, CniError> {
    let _s = tracing::info_span!("cni_ipam", plugin, command).entered();
    let bin = find(env, plugin)?;
    let mut cmd = Command::new(&bin);
    cmd.env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", container_id)
        .env("CNI_IFNAME", ifname)
        .env(
            "CNI_ARGS",
            env.args
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";"),
        )
        .env(
            "CNI_PATH",
            env.path
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match &env.netns {
        Some(n) => cmd.env("CNI_NETNS", n),
        None => cmd.env_remove("CNI_NETNS"),
    };
    let mut child = cmd.spawn().map_err(|e| {
        CniError::new(
            code::DELEGATE,
            format!("ipam {plugin}: cannot run {}", bin.display()),
        )
        .details(e.to_string())
    })?;
    let input = serde_json::to_vec(conf).expect("JSON encodes");
    if let Some(mut pipe) = child.stdin.take() {
        // A plugin that exits without reading gets EPIPE on our side; its answer tells.
        let _ = pipe.write_all(&input);
    }
    let out = child.wait_with_output().map_err(|e| {
        CniError::new(code::DELEGATE, format!("ipam {plugin}: waiting for it"))
            .details(e.to_string())
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed: Option<Value> = if stdout.trim().is_empty() {
        None
    } else {
        serde_json::from_str(&stdout).ok()
    };
    if !out.status.success() {
        if let Some(e) = parsed.as_ref().filter(|v| v.get("code").is_some()) {
            return Err(CniError::new(
                e["code"].as_u64().unwrap_or(code::DELEGATE as u64) as u32,
                format!(
                    "ipam {plugin} {command}: {}",
                    e["msg"].as_str().unwrap_or("failed")
                ),
            )
            .details(e["details"].as_str().unwrap_or_default()));
        }
        return Err(CniError::new(
            code::DELEGATE,
            format!("ipam {plugin} {command} failed ({})", out.status),
        )
        .details(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    if parsed.is_none() && !stdout.trim().is_empty() {
        return Err(CniError::new(
            code::DECODE,
            format!("ipam {plugin} {command}: its answer is not JSON"),
        )
        .details(stdout.trim().to_string()));
    }
    Ok(parsed)
}
