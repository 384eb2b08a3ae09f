//! Simulated hosts (`vifman --simulate`): the shipped host's paths, the arguments naming a
//! simulation, and the two ways a test may look at the simulated kernel.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use super::cli::{text, vifman, Vifman, LIMIT};

pub const NFV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sysfs/nfv-host");
pub const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nfv-host.toml");
pub const INST: &str = "11111111-2222-3333-4444-555555555555";

/// Arguments naming a simulated nfv-host in `state`.
pub fn host_args(state: &Path, config: &str) -> Vec<String> {
    sim_args(NFV, state, config)
}

/// Arguments naming a simulation of the fixture tree `fixture` in `state`.
pub fn sim_args(fixture: &str, state: &Path, config: &str) -> Vec<String> {
    vec![
        "--sysfs-root".into(),
        fixture.into(),
        "--simulate".into(),
        "--state-dir".into(),
        state.display().to_string(),
        "--config".into(),
        config.into(),
    ]
}

/// `vifman cmd host…`, asserting success; its stdout.
pub fn run_ok(cmd: &[&str], host: &[String]) -> String {
    let mut a: Vec<&str> = cmd.to_vec();
    a.extend(host.iter().map(String::as_str));
    let o = vifman(&a);
    assert!(o.status.success(), "vifman {a:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

/// The simulated host as vifman reports it: `vifman inventory --json --simulate` (the
/// preferred way to read the simulated kernel back).
pub fn sim_inventory(fixture: &str, state: &Path) -> serde_json::Value {
    let s = state.display().to_string();
    let o = vifman(&[
        "inventory",
        "--json",
        "--simulate",
        "--sysfs-root",
        fixture,
        "--state-dir",
        &s,
    ]);
    assert!(o.status.success(), "inventory: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// One PCI function (PF or VF) of an inventory, by address.
pub fn inventory_device<'a>(inv: &'a serde_json::Value, addr: &str) -> &'a serde_json::Value {
    inv["physical_functions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|pf| std::iter::once(pf).chain(pf["vfs"].as_array().unwrap()))
        .find(|d| d["address"] == addr)
        .unwrap_or_else(|| panic!("{addr} not in the inventory"))
}

/// The root of the simulated kernel's sysfs tree for `fixture` in `state` (created from the
/// fixture if no `--simulate` command ran yet). Only for what vifman cannot show: changes the
/// test makes behind vifman's back (a link going down, a damaged file) and an independent
/// reader of the kernel's files. The layout of the state dir is the simulation's business:
/// this asks the library where the tree is instead of naming it.
pub fn sim_kernel(fixture: &str, state: &Path) -> PathBuf {
    vifman::host::SimHost::open(Path::new(fixture), state)
        .unwrap_or_else(|e| panic!("simulation of {fixture} in {}: {e}", state.display()))
        .dir()
        .to_path_buf()
}

/// The VF netlink state of the simulated kernel at `kernel` (from [`sim_kernel`]), in the
/// documented `vf-state.json` shape, read with the library's fixture reader (the recorded
/// state merged with the simulation's later changes).
pub fn sim_vf_state(kernel: &Path) -> serde_json::Value {
    use vifman::netlink::{FixtureVfState, VfStateSource};
    let dump = FixtureVfState::new(kernel)
        .link_dump()
        .unwrap_or_else(|e| panic!("simulated VF state: {e}"));
    serde_json::to_value(dump).unwrap()
}

/// A simulated host (nfv-host unless made [`SimEnv::on_fixture`]) driven through the
/// binary: its state dir and one config file, in a temp dir that lives as long as this does.
/// Test files add their own methods (`impl`).
pub struct SimEnv {
    dir: tempfile::TempDir,
    pub state: PathBuf,
    pub config: String,
    fixture: String,
    limit: Duration,
}

impl SimEnv {
    /// With `config` (the file's text) as its config file.
    pub fn with_config(config: &str) -> SimEnv {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vifman.toml");
        std::fs::write(&path, config).unwrap();
        SimEnv {
            state: dir.path().join("state"),
            config: path.display().to_string(),
            dir,
            fixture: NFV.into(),
            limit: LIMIT,
        }
    }

    /// With the shipped host's own config, [`CONFIG`].
    pub fn shipped() -> SimEnv {
        let dir = tempfile::tempdir().unwrap();
        SimEnv {
            state: dir.path().join("state"),
            config: CONFIG.into(),
            dir,
            fixture: NFV.into(),
            limit: LIMIT,
        }
    }

    /// A simulation of the fixture tree `fixture` (a path) with the config file `config` (a
    /// path).
    pub fn on_fixture(fixture: &str, config: &str) -> SimEnv {
        let dir = tempfile::tempdir().unwrap();
        SimEnv {
            state: dir.path().join("state"),
            config: config.into(),
            dir,
            fixture: fixture.into(),
            limit: LIMIT,
        }
    }

    /// Every command this runs fails the test after `limit` (default [`LIMIT`]).
    pub fn with_limit(mut self, limit: Duration) -> SimEnv {
        self.limit = limit;
        self
    }

    /// The fixture tree this simulates.
    pub fn fixture(&self) -> &str {
        &self.fixture
    }

    /// The simulated kernel's own files ([`sim_kernel`]), created if no command ran yet.
    pub fn kernel_dir(&self) -> PathBuf {
        sim_kernel(&self.fixture, &self.state)
    }

    /// `cmd host… extra…`: the whole argument list, for a test that builds its own process.
    pub fn args_for(&self, cmd: &str, extra: &[&str]) -> Vec<String> {
        let mut v = vec![cmd.to_string()];
        v.extend(self.host());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    /// The runner for `vifman cmd host… extra…` with this host's time limit: add environment
    /// or stdin, then `.output()`.
    pub fn runner(&self, cmd: &str, extra: &[&str]) -> Vifman {
        Vifman::new(self.args_for(cmd, extra)).limit(self.limit)
    }

    /// The temp dir holding the state dir (and the config file): room for a test's own files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The arguments naming this simulated host ([`sim_args`]).
    pub fn host(&self) -> Vec<String> {
        sim_args(&self.fixture, &self.state, &self.config)
    }

    /// `vifman cmd host…` with `env` added to the clean environment; its output, whatever
    /// the exit status.
    pub fn run(&self, cmd: &[&str], env: &[(&str, &str)]) -> Output {
        let mut a: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        a.extend(self.host());
        Vifman::new(&a).envs(env).limit(self.limit).output()
    }

    /// `vifman allocate --physnet POOL --instance INST --vif-id ID EXTRA…` on this host.
    pub fn allocate_vif(
        &self,
        pool: &str,
        vif_id: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        let mut a = vec![
            "allocate",
            "--physnet",
            pool,
            "--instance",
            INST,
            "--vif-id",
            vif_id,
        ];
        a.extend_from_slice(extra);
        self.run(&a, env)
    }
}
