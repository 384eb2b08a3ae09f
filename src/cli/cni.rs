//! `vifman cni` / `vifman-cni`: the CNI plugin's process wiring. The protocol lives in
//! [`crate::cni`]; here the environment, stdin, stdout and the exit status.

use std::io::{Read, Write};

use clap::Args;

use super::assign::HostArgs;

/// Names under which the binary acts as the CNI plugin without arguments: the CNI bin dir
/// holds a symlink of that name (`type` in the network configuration names it). `sriov`
/// lets NetworkAttachmentDefinitions written for sriov-cni run unchanged once the symlink
/// replaces sriov-cni's binary.
pub const PLUGIN_NAMES: &[&str] = &["vifman-cni", "sriov"];

#[derive(Debug, Args)]
pub struct CniArgs {
    /// Host, config and store; each also comes from the environment (VIFMAN_SYSFS_ROOT,
    /// VIFMAN_STATE_DIR, VIFMAN_CONFIG; VIFMAN_SIMULATE=1 for --simulate), since a runtime
    /// passes none of them as arguments.
    #[command(flatten)]
    pub host: HostArgs,
}

pub fn run(mut a: CniArgs) -> anyhow::Result<()> {
    a.host.simulate |= std::env::var("VIFMAN_SIMULATE").is_ok_and(|v| v == "1");
    let mut stdin = vec![];
    // A runtime always writes the configuration; an unreadable stdin is an empty one, which
    // the protocol layer answers with a decode error object.
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let host = a.host.clone();
    let open = move || -> Result<_, String> {
        let config = host.config().map_err(|e| format!("{e:#}"))?;
        let h = host.host_to_change(true).map_err(|e| format!("{e:#}"))?;
        Ok((h, config, host.state_dir.clone()))
    };
    let out = crate::cni::run(|k| std::env::var(k).ok(), &stdin, &open);
    let mut so = std::io::stdout().lock();
    if !out.stdout.is_empty() {
        let _ = writeln!(so, "{}", out.stdout);
    }
    let _ = so.flush();
    std::process::exit(out.status)
}
