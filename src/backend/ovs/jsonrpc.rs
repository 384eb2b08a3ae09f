//! JSON-RPC 1.0 over a stream socket, as OVSDB speaks it (RFC 7047 §4): requests with ids,
//! and server `echo` keep-alives that must be answered or the server drops us.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::{json, Value as J};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum OvsdbError {
    #[error("unsupported OVSDB address {0:?}: expected unix:PATH, tcp:IP[:PORT] or ssl:IP[:PORT]")]
    BadAddress(String),
    /// TLS set-up or handshake with an `ssl:` remote failed (files, trust, protocol).
    #[error("OVSDB {remote}: TLS: {msg}")]
    Tls { remote: String, msg: String },
    /// The io error is part of the message, not a `source`, so the CLI prints it once.
    #[error("cannot connect to OVSDB socket {path}: {error}")]
    Connect { path: String, error: std::io::Error },
    #[error("OVSDB socket {path}: {msg}")]
    Io { path: String, msg: String },
    #[error("OVSDB protocol error: {0}")]
    Protocol(String),
    /// The server refused the transaction; `error`/`details` are OVSDB's own text.
    #[error("OVSDB rejected the transaction: {error}{}", if details.is_empty() { String::new() } else { format!(": {details}") })]
    Rejected { error: String, details: String },
    #[error("ovs-vswitchd did not apply the change within {timeout:?} (cur_cfg {cur} < next_cfg {want}); is ovs-vswitchd running?")]
    NotApplied {
        timeout: Duration,
        cur: i64,
        want: i64,
    },
    /// ovs-vswitchd accepted the row but could not set the interface up.
    #[error("OVS could not set up interface {name}: {error}")]
    Interface { name: String, error: String },
    #[error("port {port} already exists on OVS bridge {bridge}, not {wanted}")]
    PortOnOtherBridge {
        port: String,
        bridge: String,
        wanted: String,
    },
}

pub type Result<T> = std::result::Result<T, OvsdbError>;

use super::remote::{self, Remote, TlsFiles, Transport};

/// Read buffer size; a reply larger than this is assembled from several reads.
const CHUNK: usize = 64 * 1024;

pub struct Connection {
    path: String,
    stream: Box<dyn Transport>,
    /// Bytes read but not yet parsed (a partial message, or the start of the next one).
    buf: Vec<u8>,
    next_id: u64,
}

impl Connection {
    /// `addr` is an OVSDB remote (`unix:PATH`, `tcp:IP:PORT`, `ssl:IP:PORT`, the ovs-vsctl
    /// `--db` syntax); `tls` is required for `ssl:`.
    pub fn connect(addr: &str, tls: Option<&TlsFiles>, timeout: Duration) -> Result<Self> {
        let _s = tracing::debug_span!("ovsdb_connect", addr).entered();
        let remote: Remote = addr.parse()?;
        let stream = remote::open(&remote, tls, timeout)?;
        Ok(Connection {
            path: remote.to_string(),
            stream,
            buf: Vec::new(),
            next_id: 1,
        })
    }

    fn send(&mut self, msg: &J) -> Result<()> {
        let mut buf = serde_json::to_vec(msg).expect("json");
        buf.push(b'\n');
        self.stream
            .write_all(&buf)
            .and_then(|()| self.stream.flush())
            .map_err(|e| OvsdbError::Io {
                path: self.path.clone(),
                msg: e.to_string(),
            })
    }

    /// The next JSON value from the stream. Messages are not delimited (RFC 7047 §4: a
    /// stream of JSON texts), so bytes are buffered until one value parses.
    fn recv(&mut self) -> Result<J> {
        loop {
            let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<J>();
            match it.next() {
                Some(Ok(v)) => {
                    let used = it.byte_offset();
                    self.buf.drain(..used);
                    return Ok(v);
                }
                Some(Err(e)) if !e.is_eof() => {
                    return Err(OvsdbError::Io {
                        path: self.path.clone(),
                        msg: format!("bad JSON from server: {e}"),
                    })
                }
                None => self.buf.clear(),
                Some(Err(_)) => {}
            }
            let mut chunk = vec![0u8; CHUNK];
            let n = self.stream.read(&mut chunk).map_err(|e| OvsdbError::Io {
                path: self.path.clone(),
                msg: format!("no reply: {e}"),
            })?;
            if n == 0 {
                return Err(OvsdbError::Io {
                    path: self.path.clone(),
                    msg: "connection closed by server".into(),
                });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// One request/response. Server echo requests in between are answered; notifications
    /// (we hold no monitors) are dropped.
    pub fn call(&mut self, method: &str, params: J) -> Result<J> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"method": method, "params": params, "id": id}))?;
        loop {
            let msg = self.recv()?;
            if let Some(m) = msg.get("method").and_then(J::as_str) {
                if m == "echo" {
                    let reply = json!({"result": msg["params"], "error": null, "id": msg["id"]});
                    self.send(&reply)?;
                }
                continue;
            }
            if msg.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(e) = msg.get("error").filter(|e| !e.is_null()) {
                return Err(OvsdbError::Protocol(format!("{method}: {e}")));
            }
            return Ok(msg.get("result").cloned().unwrap_or(J::Null));
        }
    }
}
