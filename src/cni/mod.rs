//! `vifman cni`: a CNI plugin (spec 0.3.0 – 1.1.0) that gives pods VFs from the same store
//! the device plugin and the CLI use.
//!
//! - [`spec`]: commands, environment, versions, error objects;
//! - [`netconf`]: the network configuration (sriov-cni's keys, tri-state);
//! - [`result`]: results in every version;
//! - [`ipam`]: delegation to the IPAM plugin;
//! - [`sandbox`]: namespaces and the VF netdev in the pod;
//! - [`add`], [`del`]: the commands on the store.
//!
//! The runtime executes the binary as `vifman-cni` (a symlink in the CNI bin dir) or as
//! `vifman cni`; both read `CNI_*` from the environment and the configuration from stdin,
//! print a result or an error object on stdout, and exit non-zero on error.

pub mod add;
pub mod del;
pub mod ipam;
pub mod netconf;
pub mod result;
pub mod sandbox;
pub mod spec;

use std::path::PathBuf;

use serde_json::Value;

use crate::config::Config;
use crate::engine::{Engine, EngineError};
use crate::host::Host;
use spec::{code, CniError, Command, Env};

/// Builds the host, config and state directory (only for commands that need them, so
/// VERSION works on a host without a config).
pub type Opener<'a> = &'a dyn Fn() -> Result<(Box<dyn Host>, Config, PathBuf), String>;

/// What one invocation prints and its exit status.
pub struct Outcome {
    pub stdout: String,
    pub status: i32,
}

/// The engine error as a CNI error: the code says what kind of failure it is; the message
/// is the engine's, which names the step, the knob and what was rolled back.
pub fn engine_error(e: EngineError) -> CniError {
    let c = match &e {
        EngineError::Request(_)
        | EngineError::NoSuchVf(_)
        | EngineError::Unsupported { .. }
        | EngineError::NotQuarantined { .. }
        | EngineError::ZeroCount { .. } => code::INVALID_CONFIG,
        EngineError::NoFreeVf { .. }
        | EngineError::NoFreeDevice { .. }
        | EngineError::Busy(_)
        | EngineError::VfAllocated { .. }
        | EngineError::ResetAllocated { .. } => code::VF_BUSY,
        EngineError::Actuation { .. }
        | EngineError::Quarantined { .. }
        | EngineError::Host(_)
        | EngineError::Eswitch(_)
        | EngineError::Rate(_) => code::KERNEL,
        EngineError::NotFound(_) => code::UNKNOWN_CONTAINER,
        EngineError::Store(_) => code::STORE,
    };
    CniError::new(c, e.to_string())
}

/// Run one CNI invocation. `get_env` reads the environment, `stdin` is the configuration.
pub fn run(get_env: impl Fn(&str) -> Option<String>, stdin: &[u8], open: Opener) -> Outcome {
    // The version errors are written in: the config's when it names a supported one.
    let asked: Option<String> = serde_json::from_slice::<Value>(stdin).ok().and_then(|v| {
        v.get("cniVersion")
            .and_then(Value::as_str)
            .map(String::from)
    });
    let reply_version = asked
        .clone()
        .filter(|v| spec::SUPPORTED.contains(&v.as_str()))
        .unwrap_or_else(|| spec::LATEST.to_string());
    match dispatch(&get_env, stdin, open, asked.as_deref()) {
        Ok(Some(v)) => Outcome {
            stdout: v.to_string(),
            status: 0,
        },
        Ok(None) => Outcome {
            stdout: String::new(),
            status: 0,
        },
        Err(e) => {
            tracing::error!(code = e.code, "{e}");
            Outcome {
                stdout: e.to_json(&reply_version).to_string(),
                status: 1,
            }
        }
    }
}

fn dispatch(
    get_env: &dyn Fn(&str) -> Option<String>,
    stdin: &[u8],
    open: Opener,
    asked: Option<&str>,
) -> Result<Option<Value>, CniError> {
    let env = Env::from_vars(get_env)?;
    if env.command == Command::Version {
        return Ok(Some(spec::version_reply(asked)));
    }
    let conf = netconf::NetConf::parse(stdin)?;
    init_logging(&conf);
    let needs = |min: &str, what: &str| -> Result<(), CniError> {
        if spec::cmp_version(&conf.version, min).is_lt() {
            return Err(CniError::new(
                code::INCOMPATIBLE_VERSION,
                format!(
                    "{what} needs cniVersion {min} or later, the config has {}",
                    conf.version
                ),
            ));
        }
        Ok(())
    };
    match env.command {
        Command::Check => needs("0.4.0", "CHECK")?,
        Command::Status | Command::Gc => needs("1.1.0", "STATUS and GC")?,
        _ => {}
    }
    let (host, config, state_dir) =
        open().map_err(|e| CniError::new(code::NOT_AVAILABLE, format!("vifman: {e}")))?;
    let engine = Engine::new(host.as_ref(), &config, state_dir);
    match env.command {
        Command::Add => add::add(&engine, &env, &conf).map(Some),
        Command::Del => del::del(&engine, &env, &conf).map(|()| None),
        Command::Check => del::check(&engine, &env, &conf).map(|()| None),
        Command::Gc => del::gc(&engine, &env, &conf).map(|()| None),
        Command::Status => crate::store::read_state(&engine.state_dir)
            .map(|_| None)
            .map_err(|e| CniError::new(code::NOT_AVAILABLE, format!("allocation store: {e}"))),
        Command::Version => unreachable!("answered above"),
    }
}

/// `logLevel` / `logFile`: tracing to stderr (the runtime's log) or appended to a file.
/// `RUST_LOG` still wins, as for every vifman command.
fn init_logging(conf: &netconf::NetConf) {
    use tracing_subscriber::EnvFilter;
    let level = match conf.log_level.as_deref() {
        Some("panic") | Some("error") => "error",
        Some("info") => "info",
        Some("debug") => "debug",
        Some("trace") => "trace",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    let file = conf.log_file.as_ref().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    let _ = match file {
        Some(f) => b.with_writer(std::sync::Mutex::new(f)).try_init(),
        None => b.with_writer(std::io::stderr).try_init(),
    };
}
