//! OVSDB remotes as os-vif's `ovsdb_connection` and ovs-vsctl's `--db` spell them —
//! `unix:PATH`, `tcp:HOST[:PORT]`, `ssl:HOST[:PORT]` (IPv6 as `[ADDR]`, port 6640 by
//! default) — and the byte stream each one opens.
//!
//! SSL follows OVS (and ovsdbapp, which uses OVS's python stream): the client presents its
//! private key and certificate, and the server's certificate must chain to the given CA.
//! OVS does not check host names (its certificates name switches and controllers by id, as
//! `ovs-pki` makes them), so neither do we: the CA is the identity. TLS is rustls with the
//! ring provider.

use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::jsonrpc::{OvsdbError, Result};

/// OVSDB's IANA port, OVS's default for `tcp:`/`ssl:` remotes without one.
pub const DEFAULT_PORT: u16 = 6640;

/// A parsed OVSDB remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
    Ssl { host: String, port: u16 },
}

impl FromStr for Remote {
    type Err = OvsdbError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || OvsdbError::BadAddress(s.to_string());
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() || p.contains('\0') {
                return Err(bad());
            }
            return Ok(Remote::Unix(PathBuf::from(p)));
        }
        let (ssl, rest) = match (s.strip_prefix("tcp:"), s.strip_prefix("ssl:")) {
            (Some(r), _) => (false, r),
            (_, Some(r)) => (true, r),
            _ => return Err(bad()),
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, tail) = v6.split_once(']').ok_or_else(bad)?;
            match tail {
                "" => (h, None),
                t => (h, Some(t.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(bad());
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
        };
        let host = host.to_string();
        Ok(if ssl {
            Remote::Ssl { host, port }
        } else {
            Remote::Tcp { host, port }
        })
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hp = |f: &mut fmt::Formatter<'_>, scheme: &str, host: &str, port: u16| {
            if host.contains(':') {
                write!(f, "{scheme}:[{host}]:{port}")
            } else {
                write!(f, "{scheme}:{host}:{port}")
            }
        };
        match self {
            Remote::Unix(p) => write!(f, "{}", p.display()),
            Remote::Tcp { host, port } => hp(f, "tcp", host, *port),
            Remote::Ssl { host, port } => hp(f, "ssl", host, *port),
        }
    }
}

/// The PEM files an `ssl:` remote needs (ovs-vsctl `--private-key`/`--certificate`/
/// `--ca-cert`, ovsdbapp `ssl_key_file`/`ssl_cert_file`/`ssl_ca_cert_file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub private_key: PathBuf,
    pub certificate: PathBuf,
    pub ca_cert: PathBuf,
}

/// A connected byte stream to OVSDB.
pub trait Transport: Read + Write + Send {}
impl<T: Read + Write + Send> Transport for T {}

fn connect_tcp(remote: &Remote, host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let failed = |error: std::io::Error| OvsdbError::Connect {
        path: remote.to_string(),
        error,
    };
    let addrs: Vec<_> = (host, port).to_socket_addrs().map_err(failed)?.collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(failed(last))
}

/// Opens `remote`; an `ssl:` remote completes its TLS handshake here, so a refused or
/// untrusted server is an error before any caller changes anything.
pub fn open(
    remote: &Remote,
    tls: Option<&TlsFiles>,
    timeout: Duration,
) -> Result<Box<dyn Transport>> {
    let _s = tracing::debug_span!("ovsdb_open", remote = %remote).entered();
    let io = |e: std::io::Error| OvsdbError::Io {
        path: remote.to_string(),
        msg: e.to_string(),
    };
    match remote {
        Remote::Unix(p) => {
            let s = UnixStream::connect(p).map_err(|e| OvsdbError::Connect {
                path: remote.to_string(),
                error: e,
            })?;
            s.set_read_timeout(Some(timeout)).map_err(io)?;
            s.set_write_timeout(Some(timeout)).map_err(io)?;
            Ok(Box::new(s))
        }
        Remote::Tcp { host, port } => {
            let s = connect_tcp(remote, host, *port, timeout)?;
            s.set_read_timeout(Some(timeout)).map_err(io)?;
            s.set_write_timeout(Some(timeout)).map_err(io)?;
            Ok(Box::new(s))
        }
        Remote::Ssl { host, port } => {
            let files = tls.ok_or_else(|| OvsdbError::Tls {
                remote: remote.to_string(),
                msg: "an ssl: remote needs a private key, a certificate and a CA certificate"
                    .into(),
            })?;
            let config = client_config(remote, files)?;
            let name = ServerName::try_from(host.clone()).map_err(|e| OvsdbError::Tls {
                remote: remote.to_string(),
                msg: format!("server name {host:?}: {e}"),
            })?;
            let mut conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| {
                OvsdbError::Tls {
                    remote: remote.to_string(),
                    msg: e.to_string(),
                }
            })?;
            let mut sock = connect_tcp(remote, host, *port, timeout)?;
            sock.set_read_timeout(Some(timeout)).map_err(io)?;
            sock.set_write_timeout(Some(timeout)).map_err(io)?;
            while conn.is_handshaking() {
                conn.complete_io(&mut sock).map_err(|e| OvsdbError::Tls {
                    remote: remote.to_string(),
                    msg: format!("handshake: {e}"),
                })?;
            }
            Ok(Box::new(rustls::StreamOwned::new(conn, sock)))
        }
    }
}

fn client_config(remote: &Remote, f: &TlsFiles) -> Result<rustls::ClientConfig> {
    let err = |msg: String| OvsdbError::Tls {
        remote: remote.to_string(),
        msg,
    };
    let certs = |p: &PathBuf| -> Result<Vec<CertificateDer<'static>>> {
        let v = CertificateDer::pem_file_iter(p)
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| err(format!("{}: {e}", p.display())))?;
        if v.is_empty() {
            return Err(err(format!("{}: no PEM certificate in it", p.display())));
        }
        Ok(v)
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&f.ca_cert)? {
        roots
            .add(c)
            .map_err(|e| err(format!("{}: {e}", f.ca_cert.display())))?;
    }
    let chain = certs(&f.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&f.private_key)
        .map_err(|e| err(format!("{}: {e}", f.private_key.display())))?;
    // rustls 0.23.48 deprecates the ring provider for lacking post-quantum key exchange;
    // OVS negotiates X25519/P-256 with it, and ring keeps the build free of cmake/nasm.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| err(e.to_string()))?;
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CaOnly(inner)))
        .with_client_auth_cert(chain, key)
        .map_err(|e| err(format!("{}: {e}", f.certificate.display())))
}

/// The server certificate must chain to the CA, as in OVS; its names are not checked
/// (OVS certificates carry none that match an address).
#[derive(Debug)]
struct CaOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_parse_like_ovs() {
        let r = |s: &str| s.parse::<Remote>();
        assert_eq!(
            r("unix:/run/openvswitch/db.sock").unwrap(),
            Remote::Unix("/run/openvswitch/db.sock".into())
        );
        assert_eq!(
            r("tcp:127.0.0.1:6640").unwrap(),
            Remote::Tcp {
                host: "127.0.0.1".into(),
                port: 6640
            }
        );
        assert_eq!(
            r("ssl:10.0.0.1").unwrap(),
            Remote::Ssl {
                host: "10.0.0.1".into(),
                port: DEFAULT_PORT
            }
        );
        assert_eq!(
            r("tcp:[::1]:6641").unwrap(),
            Remote::Tcp {
                host: "::1".into(),
                port: 6641
            }
        );
        assert_eq!(r("tcp:[::1]:6641").unwrap().to_string(), "tcp:[::1]:6641");
        for bad in [
            "",
            "unix:",
            "ptcp:6640",
            "tcp:",
            "tcp:1.2.3.4:",
            "tcp:1.2.3.4:0",
            "tcp:1.2.3.4:70000",
            "tcp:[::1",
            "tcp:[::1]x",
            "/run/db.sock",
        ] {
            assert!(r(bad).is_err(), "{bad:?}");
        }
    }
}
