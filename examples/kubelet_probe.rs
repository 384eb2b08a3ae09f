//! Test tooling, not part of vifman: the kubelet side of the device-plugin API, small enough
//! to run inside the igb guest (tests/vm), where no kubelet exists. It serves kubelet.sock
//! in DIR, waits for a plugin to register RESOURCE, reads its first ListAndWatch answer, asks
//! Allocate for the given device ids, and prints both as one JSON object.
//!
//!   kubelet_probe DIR RESOURCE DEVICE[,DEVICE...]     (exit 0 on an Allocate answer)

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tonic::{Request, Response, Status};
use vifman::fleet::deviceplugin::register::uds_channel;
use vifman::fleet::proto::device_plugin_client::DevicePluginClient;
use vifman::fleet::proto::registration_server::{Registration, RegistrationServer};
use vifman::fleet::proto::{AllocateRequest, ContainerAllocateRequest, Empty, RegisterRequest};

struct Reg(Arc<Mutex<Vec<RegisterRequest>>>);

#[tonic::async_trait]
impl Registration for Reg {
    async fn register(&self, req: Request<RegisterRequest>) -> Result<Response<Empty>, Status> {
        self.0.lock().unwrap().push(req.into_inner());
        Ok(Response::new(Empty {}))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let [_, dir, resource, devices] = &a[..] else {
        return Err("usage: kubelet_probe DIR RESOURCE DEVICE[,DEVICE...]".into());
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    let _ = std::fs::remove_file(dir.join("kubelet.sock"));
    let regs = Arc::new(Mutex::new(vec![]));
    let listener = tokio::net::UnixListener::bind(dir.join("kubelet.sock"))?;
    let svc = RegistrationServer::new(Reg(regs.clone()));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener)),
    );
    let endpoint = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let found = regs
                .lock()
                .unwrap()
                .iter()
                .find(|r| &r.resource_name == resource)
                .map(|r| r.endpoint.clone());
            if let Some(e) = found {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .map_err(|_| format!("no plugin registered {resource} within 120 s"))?;
    let mut p = DevicePluginClient::new(uds_channel(&dir.join(&endpoint)).await?);
    let mut s = p.list_and_watch(Empty {}).await?.into_inner();
    let listed = s.message().await?.ok_or("ListAndWatch ended at once")?;
    let ids: Vec<String> = devices.split(',').map(String::from).collect();
    let r = p
        .allocate(AllocateRequest {
            container_requests: vec![ContainerAllocateRequest { devices_ids: ids }],
        })
        .await?
        .into_inner();
    let c = r
        .container_responses
        .first()
        .ok_or("empty Allocate answer")?;
    let out = json!({
        "endpoint": endpoint,
        "devices": listed.devices.iter().map(|d| json!({"id": d.id, "health": d.health})).collect::<Vec<_>>(),
        "envs": c.envs,
        "device_specs": c.devices.iter().map(|d| d.host_path.clone()).collect::<Vec<_>>(),
        "annotations": c.annotations,
    });
    println!("{out}");
    Ok(())
}
