//! A private OVS (ovsdb-server + ovs-vswitchd, userspace datapath) for the backend tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value as J;

/// ovsdb-server + ovs-vswitchd in a short temp dir (unix socket paths < 108 bytes),
/// started in the caller's network namespace and stopped by PID.
pub struct OvsSandbox {
    pub dir: PathBuf,
    pub db: String,
    daemons: Vec<(String, PathBuf)>,
    keep: bool,
}

pub fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(bin))
            .find(|p| p.is_file())
    })
}

pub const DPDK_VSWITCHD: &str = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk";

impl OvsSandbox {
    /// `Err(reason)` when OVS is not installed; VIFMAN_REQUIRE_OVS=1 makes that a panic.
    pub fn start(dpdk: bool) -> Result<Self, String> {
        for b in [
            "ovsdb-tool",
            "ovsdb-server",
            "ovs-vswitchd",
            "ovs-vsctl",
            "ovs-appctl",
        ] {
            if which(b).is_none() {
                let why = format!("{b} not found (apt-get install openvswitch-switch)");
                if std::env::var_os("VIFMAN_REQUIRE_OVS").is_some() {
                    panic!("{why}");
                }
                return Err(why);
            }
        }
        if dpdk && !Path::new(DPDK_VSWITCHD).exists() {
            return Err(format!(
                "{DPDK_VSWITCHD} not found (apt-get install openvswitch-switch-dpdk)"
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("ovs-")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?
            .keep();
        let mut sb = OvsSandbox {
            db: format!("unix:{}/db.sock", dir.display()),
            dir,
            daemons: vec![],
            keep: std::env::var_os("VIFMAN_KEEP_OVS").is_some(),
        };
        sb.boot(dpdk)?;
        Ok(sb)
    }

    fn cmd(&self, bin: &str) -> Command {
        let mut c = Command::new(bin);
        for v in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
            c.env(v, &self.dir);
        }
        c
    }

    fn run(&self, bin: &str, args: &[&str]) -> Result<String, String> {
        let out = self
            .cmd(bin)
            .args(args)
            .output()
            .map_err(|e| format!("{bin}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{bin} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn boot(&mut self, dpdk: bool) -> Result<(), String> {
        let d = self.dir.display().to_string();
        let dbf = format!("{d}/conf.db");
        self.run(
            "ovsdb-tool",
            &["create", &dbf, "/usr/share/openvswitch/vswitch.ovsschema"],
        )?;
        self.run(
            "ovsdb-server",
            &[
                &dbf,
                &format!("--remote=punix:{d}/db.sock"),
                // As ovs-ctl starts it: managers and SSL files come from the database, so a
                // test can add ptcp:/pssl: remotes with ovs-vsctl set-manager / set-ssl.
                "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
                "--private-key=db:Open_vSwitch,SSL,private_key",
                "--certificate=db:Open_vSwitch,SSL,certificate",
                "--bootstrap-ca-cert=db:Open_vSwitch,SSL,ca_cert",
                &format!("--pidfile={d}/ovsdb-server.pid"),
                &format!("--unixctl={d}/ovsdb-server.ctl"),
                &format!("--log-file={d}/ovsdb-server.log"),
                "--detach",
                "--no-chdir",
            ],
        )?;
        self.daemons
            .push(("ovsdb-server".into(), self.dir.join("ovsdb-server")));
        self.vsctl_raw(&["--no-wait", "init"])?;
        let vswitchd = if dpdk {
            let prefix = format!("--file-prefix={}", self.dpdk_prefix());
            let extra = format!(
                "other_config:dpdk-extra=\"--no-huge -m 1024 --legacy-mem --no-shconf --no-telemetry --iova-mode=va --no-pci {prefix}\""
            );
            self.vsctl_raw(&[
                "--no-wait",
                "set",
                "Open_vSwitch",
                ".",
                "other_config:dpdk-init=true",
                &extra,
                "other_config:vhost-sock-dir=.",
                "other_config:pmd-maxsleep=10000",
            ])?;
            DPDK_VSWITCHD.to_string()
        } else {
            "ovs-vswitchd".to_string()
        };
        self.run(
            &vswitchd,
            &[
                &self.db,
                &format!("--pidfile={d}/ovs-vswitchd.pid"),
                &format!("--unixctl={d}/ovs-vswitchd.ctl"),
                &format!("--log-file={d}/ovs-vswitchd.log"),
                "--detach",
                "--no-chdir",
            ],
        )?;
        self.daemons
            .push(("ovs-vswitchd".into(), self.dir.join("ovs-vswitchd")));
        self.settle_raw("sandbox=ready")?;
        Ok(())
    }

    fn dpdk_prefix(&self) -> String {
        format!("vifman-{}", self.dir.file_name().unwrap().to_string_lossy())
    }

    pub fn vsctl_raw(&self, args: &[&str]) -> Result<String, String> {
        let db = format!("--db={}", self.db);
        let mut a = vec![db.as_str()];
        a.extend_from_slice(args);
        self.run("ovs-vsctl", &a)
    }

    /// `ovs-vsctl` for assertions: an independent reader of the rows we wrote.
    pub fn vsctl(&self, args: &[&str]) -> String {
        self.vsctl_raw(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A waited write of `external_ids:{mark}` (`key=value`) to the Open_vSwitch row: it
    /// returns only once ovs-vswitchd has applied everything written so far.
    pub fn settle_raw(&self, mark: &str) -> Result<String, String> {
        self.vsctl_raw(&[
            "--timeout=30",
            "set",
            "Open_vSwitch",
            ".",
            &format!("external_ids:{mark}"),
        ])
    }

    /// [`settle_raw`](Self::settle_raw), failing the test on an error.
    pub fn settle(&self, mark: &str) {
        self.settle_raw(mark).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Back to an empty OVS without restarting the daemons (their clients keep their
    /// connections): every bridge, with its ports and interfaces, and every QoS row
    /// destroyed, then settled with `mark` (see [`settle`](Self::settle)).
    pub fn reset(&self, mark: &str) {
        for br in self.vsctl(&["list-br"]).lines() {
            self.vsctl(&["--if-exists", "del-br", br]);
        }
        self.vsctl(&["--", "--all", "destroy", "QoS"]);
        self.settle(mark);
    }

    /// All rows of a table as name -> row (ovs-vsctl JSON, decoded to plain JSON).
    pub fn rows(&self, table: &str) -> Vec<J> {
        let out = self.vsctl(&["--format=json", "list", table]);
        let v: J = serde_json::from_str(&out).unwrap();
        let heads: Vec<String> = v["headings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect();
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let mut o = serde_json::Map::new();
                for (h, c) in heads.iter().zip(row.as_array().unwrap()) {
                    o.insert(h.clone(), plain(c));
                }
                J::Object(o)
            })
            .collect()
    }

    pub fn row(&self, table: &str, name: &str) -> Option<J> {
        self.rows(table).into_iter().find(|r| r["name"] == name)
    }

    pub fn names(&self, table: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .rows(table)
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_string())
            .collect();
        v.sort();
        v
    }

    pub fn log(&self, which: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{which}.log"))).unwrap_or_default()
    }

    fn pid(&self, base: &Path) -> Option<i32> {
        std::fs::read_to_string(base.with_extension("pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    pub fn stop(&mut self) {
        let daemons = std::mem::take(&mut self.daemons);
        for (name, base) in daemons.iter().rev() {
            let pid = self.pid(base);
            let ctl = base.with_extension("ctl").display().to_string();
            let args: Vec<&str> = if name == "ovs-vswitchd" {
                vec!["-t", &ctl, "exit", "--cleanup"]
            } else {
                vec!["-t", &ctl, "exit"]
            };
            let _ = self.run("ovs-appctl", &args);
            if let Some(pid) = pid {
                if !wait_gone(pid, Duration::from_secs(5)) && is_ovs(pid) {
                    // SAFETY: plain kill(2) on a PID we started and just checked.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    wait_gone(pid, Duration::from_secs(2));
                }
            }
        }
        // DPDK leaves an (empty) runtime directory even with --no-shconf.
        let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(self.dpdk_prefix()));
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for OvsSandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// ovs-vsctl's JSON: ["set", [...]], ["map", [...]], ["uuid", u] to plain JSON.
pub fn plain(v: &J) -> J {
    match v.as_array().map(|a| a.as_slice()) {
        Some([t, items]) if t == "set" => {
            J::Array(items.as_array().unwrap().iter().map(plain).collect())
        }
        Some([t, items]) if t == "map" => J::Object(
            items
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let k = match &p[0] {
                        J::String(s) => s.clone(),
                        o => o.to_string(),
                    };
                    (k, plain(&p[1]))
                })
                .collect(),
        ),
        Some([t, u]) if t == "uuid" || t == "named-uuid" => u.clone(),
        _ => v.clone(),
    }
}

/// Detached daemons are reparented and may linger as zombies: `kill -0` lies, so
/// look at the process state instead.
fn wait_gone(pid: i32, t: Duration) -> bool {
    let end = Instant::now() + t;
    loop {
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let alive = st.is_some_and(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .is_some_and(|c| c != "Z" && c != "X")
        });
        if !alive {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn is_ovs(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("ovs"))
        .unwrap_or(false)
}
