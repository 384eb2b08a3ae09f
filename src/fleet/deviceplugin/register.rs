//! Talking to kubelet's Registration service over its unix socket.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};
use tracing::Instrument;

use crate::fleet::proto::registration_client::RegistrationClient;
use crate::fleet::proto::{DevicePluginOptions, RegisterRequest};
use crate::fleet::FleetError;

pub const VERSION: &str = "v1beta1";
pub const KUBELET_SOCKET: &str = "kubelet.sock";

/// A gRPC channel over a unix socket (authority `localhost`, as kubelet dials plugins).
pub async fn uds_channel(path: &Path) -> Result<Channel, FleetError> {
    let path: PathBuf = path.to_path_buf();
    let ch = Endpoint::try_from("http://localhost")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let p = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(p).await?))
            }
        }))
        .await?;
    Ok(ch)
}

/// Register one resource. kubelet dials our endpoint before answering, so the plugin's
/// server must already be serving.
pub async fn register(
    kubelet_dir: &Path,
    endpoint: &str,
    resource: &str,
) -> Result<(), FleetError> {
    let span = tracing::info_span!("kubelet.register", resource, endpoint);
    register_inner(kubelet_dir, endpoint, resource)
        .instrument(span)
        .await
}

async fn register_inner(
    kubelet_dir: &Path,
    endpoint: &str,
    resource: &str,
) -> Result<(), FleetError> {
    let ch = uds_channel(&kubelet_dir.join(KUBELET_SOCKET)).await?;
    RegistrationClient::new(ch)
        .register(RegisterRequest {
            version: VERSION.into(),
            endpoint: endpoint.into(),
            resource_name: resource.into(),
            options: Some(DevicePluginOptions {
                pre_start_required: false,
                get_preferred_allocation_available: true,
            }),
        })
        .await
        .map_err(|s| FleetError::Kubelet(format!("Register {resource}: {}", s.message())))?;
    tracing::info!(resource, "registered with kubelet");
    Ok(())
}
