//! A blocking client for Placement's REST API on the hyper stack the `fleet` feature
//! already builds for gRPC (hyper's HTTP/1.1 client through hyper-util, pooled connections):
//! JSON bodies, noauth2/keystone token header and a pinned microversion. Blocking because
//! `placement sync` is a sequence of dependent calls; a private single-threaded runtime runs
//! each one, so callers need no async context (and must not call it from inside one).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::PlacementError;

/// Microversion 1.39: nested providers, `in_tree`, consumer types; the newest 16.0.0 speaks.
pub const MICROVERSION: &str = "placement 1.39";

type Http = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// The runtime and connection pool, shared by clones of one [`Client`].
struct Transport {
    rt: tokio::runtime::Runtime,
    http: Http,
}

#[derive(Clone)]
pub struct Client {
    host: String,
    port: u16,
    base: String,
    pub token: String,
    /// Per request, connecting included.
    pub timeout: Duration,
    transport: Arc<Transport>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<Value, PlacementError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| PlacementError::Protocol(format!("bad JSON from Placement: {e}")))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Placement's error code (`placement.concurrent_update`, ...), if any.
    pub fn error_code(&self) -> Option<String> {
        self.json()
            .ok()?
            .get("errors")?
            .get(0)?
            .get("code")?
            .as_str()
            .map(String::from)
    }
}

impl Client {
    /// `http://HOST:PORT[/PREFIX]`; TLS is left to a local proxy (stunnel, sidecar).
    pub fn new(url: &str, token: &str) -> Result<Client, PlacementError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            PlacementError::Url(format!("{url}: only http:// URLs are supported"))
        })?;
        let (hostport, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
            None => (rest, String::new()),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| PlacementError::Url(format!("{url}: bad port {p:?}")))?,
            ),
            None => (hostport.to_string(), 80),
        };
        let timeout = Duration::from_secs(30);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PlacementError::Io(format!("starting the HTTP client: {e}")))?;
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(timeout));
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(10))
            .build(conn);
        Ok(Client {
            host,
            port,
            base,
            token: token.into(),
            timeout,
            transport: Arc::new(Transport { rt, http }),
        })
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, PlacementError> {
        // Retry 5xx a few times: SQLite-backed Placement answers "database is locked" under load.
        let mut delay = Duration::from_millis(50);
        for attempt in 0.. {
            let r = self.once(method, path, body)?;
            if r.status < 500 || attempt == 3 {
                return Ok(r);
            }
            tracing::warn!(
                method,
                path,
                status = r.status,
                "Placement server error; retrying"
            );
            std::thread::sleep(delay);
            delay *= 2;
        }
        unreachable!()
    }

    fn once(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, PlacementError> {
        let _span = tracing::debug_span!("placement", method, path).entered();
        let io = |e: String| {
            PlacementError::Io(format!(
                "{method} {path} at {}:{}: {e}",
                self.host, self.port
            ))
        };
        let uri = format!("http://{}:{}{}{path}", self.host, self.port, self.base);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(&uri)
            .header("Accept", "application/json")
            .header("X-Auth-Token", &self.token)
            .header("OpenStack-API-Version", MICROVERSION);
        if body.is_some() {
            req = req.header("Content-Type", "application/json");
        }
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let req = req
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| PlacementError::Url(format!("{uri}: {e}")))?;
        let t = &self.transport;
        let fut = async {
            let resp = t.http.request(req).await.map_err(|e| io(error_chain(&e)))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| io(error_chain(&e)))?
                .to_bytes()
                .to_vec();
            Ok(Reply { status, body })
        };
        t.rt.block_on(async {
            tokio::time::timeout(self.timeout, fut)
                .await
                .unwrap_or_else(|_| Err(io(format!("no answer within {:?}", self.timeout))))
        })
    }

    pub fn get(&self, path: &str) -> Result<Reply, PlacementError> {
        self.request("GET", path, None)
    }

    /// GET that must succeed, as JSON.
    pub fn get_json(&self, path: &str) -> Result<Value, PlacementError> {
        let r = self.get(path)?;
        if r.status != 200 {
            return Err(PlacementError::Status {
                call: format!("GET {path}"),
                status: r.status,
                body: r.text(),
            });
        }
        r.json()
    }
}

/// "error sending request: client error (Connect): tcp connect error: Connection refused":
/// hyper's errors say little at the top level; the causes carry the reason.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let c = Client::new("http://127.0.0.1:8778/placement/", "admin").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.base.as_str()),
            ("127.0.0.1", 8778, "/placement")
        );
        assert!(Client::new("https://x", "t").is_err());
    }

    /// A one-shot HTTP server: answers each accepted connection's request with the next
    /// canned response (None = read the request and never answer); returns what it read.
    fn serve(replies: Vec<Option<&'static str>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/placement", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let mut seen = vec![];
            for r in replies {
                let (mut s, _) = l.accept().unwrap();
                let mut buf = vec![0u8; 8192];
                let mut got = vec![];
                while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                    let n = s.read(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                let text = String::from_utf8_lossy(&got).into_owned();
                // A body announced by Content-Length is read too.
                if let Some(len) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                {
                    let have = got.len() - text.find("\r\n\r\n").unwrap() - 4;
                    let mut rest = vec![0u8; len - have];
                    s.read_exact(&mut rest).unwrap();
                }
                seen.push(text);
                match r {
                    Some(resp) => s.write_all(resp.as_bytes()).unwrap(),
                    None => std::thread::sleep(Duration::from_millis(600)),
                }
            }
            seen
        });
        (url, h)
    }

    #[test]
    fn sends_token_and_microversion_and_decodes_chunked_and_sized_bodies() {
        let (url, h) = serve(vec![
            Some("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n"),
            Some("HTTP/1.0 409 Conflict\r\nContent-Length: 53\r\n\r\n{\"errors\": [{\"code\": \"placement.concurrent_update\"}]}"),
        ]);
        let c = Client::new(&url, "tok").unwrap();
        let r = c
            .request(
                "PUT",
                "/resource_providers/x",
                Some(&serde_json::json!({"k": 1})),
            )
            .unwrap();
        assert_eq!(
            (r.status, r.json().unwrap()),
            (201, serde_json::json!({"a": 1}))
        );
        let r = c.get("/traits").unwrap();
        assert_eq!(r.status, 409);
        assert_eq!(
            r.error_code().as_deref(),
            Some("placement.concurrent_update")
        );
        let seen = h.join().unwrap();
        let put = seen[0].to_ascii_lowercase();
        assert!(
            put.starts_with("put /placement/resource_providers/x http/1.1\r\n"),
            "{put}"
        );
        for hdr in [
            "x-auth-token: tok",
            "openstack-api-version: placement 1.39",
            "content-type: application/json",
            "accept: application/json",
        ] {
            assert!(put.contains(hdr), "{hdr} missing in {put}");
        }
        assert!(!seen[1].to_ascii_lowercase().contains("content-type"));
    }

    #[test]
    fn retries_server_errors_then_reports_the_last() {
        let e500 = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\nConnection: close\r\n\r\nlocked";
        let (url, h) = serve(vec![
            Some(e500),
            Some("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"),
        ]);
        let c = Client::new(&url, "t").unwrap();
        assert_eq!(c.get_json("/").unwrap(), serde_json::json!({}));
        assert_eq!(h.join().unwrap().len(), 2);
    }

    #[test]
    fn a_silent_server_gives_a_timeout_error() {
        let (url, h) = serve(vec![None]);
        let mut c = Client::new(&url, "t").unwrap();
        c.timeout = Duration::from_millis(200);
        let e = c.get("/").unwrap_err().to_string();
        assert!(
            e.contains("GET / at 127.0.0.1:") && e.contains("no answer within 200ms"),
            "{e}"
        );
        h.join().unwrap();
        // Nobody listening: the cause is in the message.
        let e = c.get("/").unwrap_err().to_string();
        assert!(e.contains("onnection refused"), "{e}");
    }
}
