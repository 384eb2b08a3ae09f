//! Shared pieces of the fleet tests: a fake kubelet (the Registration service on kubelet.sock,
//! following kubelet's device-manager rules), a plugin client, a `vifman` daemon handle, and
//! a private real Placement (tests/placement/sandbox.sh).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use vifman::fleet::deviceplugin::register::uds_channel;
use vifman::fleet::proto::device_plugin_client::DevicePluginClient;
use vifman::fleet::proto::registration_server::{Registration, RegistrationServer};
use vifman::fleet::proto::{Empty, RegisterRequest};

use super::cli::text;

#[derive(Default)]
struct RegState {
    requests: Mutex<Vec<RegisterRequest>>,
    changed: Notify,
}

struct Reg {
    dir: PathBuf,
    st: Arc<RegState>,
}

#[tonic::async_trait]
impl Registration for Reg {
    async fn register(&self, req: Request<RegisterRequest>) -> Result<Response<Empty>, Status> {
        let r = req.into_inner();
        // kubelet's order: version, resource name, then dial the plugin and ask its options
        // before acknowledging (so a plugin that registers before serving fails).
        if r.version != "v1beta1" {
            return Err(Status::invalid_argument(format!(
                "unsupported version {:?}",
                r.version
            )));
        }
        vifman::fleet::ids::valid_resource_name(&r.resource_name)
            .map_err(Status::invalid_argument)?;
        let sock = self.dir.join(&r.endpoint);
        let opts = tokio::time::timeout(Duration::from_secs(10), async {
            let ch = uds_channel(&sock)
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            DevicePluginClient::new(ch)
                .get_device_plugin_options(Empty {})
                .await
        })
        .await
        .map_err(|_| Status::deadline_exceeded("dialing the plugin"))??;
        assert!(opts.into_inner().get_preferred_allocation_available);
        self.st.requests.lock().unwrap().push(r);
        self.st.changed.notify_waiters();
        Ok(Response::new(Empty {}))
    }
}

/// kubelet's device manager, as far as plugins can tell.
pub struct FakeKubelet {
    pub dir: PathBuf,
    st: Arc<RegState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeKubelet {
    /// Start like kubelet: remove the sockets in the directory, serve kubelet.sock.
    pub async fn start(dir: &Path) -> FakeKubelet {
        std::fs::create_dir_all(dir).unwrap();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "sock") {
                std::fs::remove_file(&p).unwrap();
            }
        }
        let st = Arc::new(RegState::default());
        let listener = tokio::net::UnixListener::bind(dir.join("kubelet.sock")).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let svc = RegistrationServer::new(Reg {
            dir: dir.to_path_buf(),
            st: st.clone(),
        });
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::UnixListenerStream::new(listener),
                    async {
                        let _ = rx.await;
                    },
                )
                .await
                .unwrap();
        });
        FakeKubelet {
            dir: dir.to_path_buf(),
            st,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = std::fs::remove_file(self.dir.join("kubelet.sock"));
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }

    pub fn registered(&self) -> Vec<RegisterRequest> {
        self.st.requests.lock().unwrap().clone()
    }

    /// Wait until `n` registrations arrived (kubelet-side view).
    pub async fn wait_registered(&self, n: usize, timeout: Duration) -> Vec<RegisterRequest> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.st.changed.notified();
            let got = self.registered();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {n} registrations after {timeout:?}: {got:?}",
                got.len()
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    pub async fn plugin(&self, endpoint: &str) -> DevicePluginClient<tonic::transport::Channel> {
        DevicePluginClient::new(uds_channel(&self.dir.join(endpoint)).await.unwrap())
    }
}

/// A `vifman` daemon child, stopped with SIGTERM when dropped.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    pub fn spawn(args: &[String]) -> Daemon {
        let child = super::cli::command()
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("VIFMAN_TEST_LOG").unwrap_or_else(|_| "vifman=warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Daemon { child }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET over plain HTTP (metrics endpoint).
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// A metric's value by exact series text, e.g. `vifman_vfs{pool="physnet1",pf="0000:3b:00.0"}`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|r| r.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// A real Placement 16.0.0 on 127.0.0.1, stopped when dropped.
pub struct Placement {
    pub url: String,
    dir: tempfile::TempDir,
}

impl Placement {
    /// None (test skipped) when the sandbox cannot start and VIFMAN_REQUIRE_INTEROP is unset
    /// (no PyPI access to build the venv); scripts/test.sh sets it, so CI never skips.
    pub fn start() -> Option<Placement> {
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/placement/sandbox.sh");
        let o = Command::new(script)
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        if !o.status.success() {
            let why = text(&o.stderr);
            if std::env::var_os("VIFMAN_REQUIRE_INTEROP").is_some() {
                panic!("placement sandbox: {why}");
            }
            eprintln!("SKIPPED: the real Placement did not start (tests/placement/setup-venv.sh needs PyPI): {why}");
            return None;
        }
        Some(Placement {
            url: text(&o.stdout).trim().to_string(),
            dir,
        })
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/placement/sandbox.sh");
        let _ = Command::new(script)
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}
