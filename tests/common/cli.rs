//! The one way tests run the `vifman` binary: a clean environment, output collected while it
//! runs, and a time limit (a hung vifman fails the test instead of hanging it).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_vifman");

/// How long a single command may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(60);

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A finished command's stderr, as text.
pub fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

/// `vifman` with nothing inherited that would change what it does (see [`under`]).
pub fn command() -> Command {
    under(BIN)
}

/// `program` (vifman, or a wrapper such as `setpriv` or `sh` that runs [`BIN`]) with
/// nothing inherited that would change what vifman does: no fault injection, no state dir /
/// config / policy / sysfs root / log filter from the caller's environment; run from the
/// crate root (examples and fixtures are named relative to it).
pub fn under(program: &str) -> Command {
    let mut c = Command::new(program);
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    for v in [
        "VIFMAN_SIM_FAIL",
        "VIFMAN_SIM_CRASH",
        "VIFMAN_POLICY",
        "VIFMAN_STATE_DIR",
        "VIFMAN_CONFIG",
        "VIFMAN_SYSFS_ROOT",
        "RUST_LOG",
    ] {
        c.env_remove(v);
    }
    c
}

/// Runs `cmd` (any program: vifman, or a wrapper such as `setpriv` / `sh` around [`BIN`])
/// with `stdin` as its input (none: /dev/null), killed after `limit`. Output is collected
/// while it runs, so a big answer cannot block the child on a full pipe.
pub fn output_within(mut cmd: Command, stdin: Option<&[u8]>, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        // A child that exits without reading gets EPIPE on our side; that is its answer.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(o) => o.expect("child output"),
        Err(_) => {
            // SAFETY: signalling our own child by pid (not reaped yet: the waiter holds it).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let o = rx.recv().expect("reaped").expect("output");
            panic!("{cmd:?} hung for {limit:?}; stderr: {}", text(&o.stderr));
        }
    }
}

/// Runs `vifman args`, killed after `limit`.
pub fn vifman_within(args: &[&str], limit: Duration) -> Output {
    Vifman::new(args).limit(limit).output()
}

/// Runs `vifman args` (see [`command`]), failing the test after [`LIMIT`].
pub fn vifman(args: &[&str]) -> Output {
    Vifman::new(args).output()
}

/// `vifman args` reading `input` on stdin.
pub fn vifman_stdin(args: &[&str], input: &str) -> Output {
    Vifman::new(args).stdin(input).output()
}

/// `vifman args`, asserting success; its stdout.
pub fn vifman_ok(args: &[&str]) -> String {
    let o = vifman(args);
    assert!(o.status.success(), "vifman {args:?}: {}", text(&o.stderr));
    String::from_utf8(o.stdout).expect("vifman writes UTF-8")
}

/// A `vifman` run with more than arguments: environment, stdin, directory, time limit.
pub struct Vifman {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    limit: Duration,
}

impl Vifman {
    pub fn new<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Vifman {
        let mut cmd = command();
        cmd.args(args);
        Vifman {
            cmd,
            stdin: None,
            limit: LIMIT,
        }
    }

    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Vifman {
        self.cmd.arg(a);
        self
    }

    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, a: impl IntoIterator<Item = S>) -> Vifman {
        self.cmd.args(a);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Vifman {
        self.cmd.env(k, v);
        self
    }

    pub fn envs<'a>(mut self, kv: impl IntoIterator<Item = &'a (&'a str, &'a str)>) -> Vifman {
        for (k, v) in kv {
            self.cmd.env(k, v);
        }
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Vifman {
        self.stdin = Some(input.into());
        self
    }

    pub fn current_dir(mut self, d: &Path) -> Vifman {
        self.cmd.current_dir(d);
        self
    }

    pub fn limit(mut self, limit: Duration) -> Vifman {
        self.limit = limit;
        self
    }

    pub fn output(self) -> Output {
        output_within(self.cmd, self.stdin.as_deref(), self.limit)
    }
}
