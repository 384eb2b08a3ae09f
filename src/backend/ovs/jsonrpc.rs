//! JSON-RPC 1.0 over a stream socket, as OVSDB speaks it (RFC 7047 §4): requests with ids,
//! and server `echo` keep-alives that must be answered or the server drops us.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::{json, Value as J};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum OvsdbError {
    #[error("unsupported OVSDB address {0:?}: only unix:PATH is supported")]
    BadAddress(String),
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

type Reader =
    serde_json::StreamDeserializer<'static, serde_json::de::IoRead<BufReader<UnixStream>>, J>;

pub struct Connection {
    path: String,
    writer: UnixStream,
    reader: Reader,
    next_id: u64,
}

impl Connection {
    /// `addr` is `unix:PATH` (the ovs-vsctl `--db` syntax).
    pub fn connect(addr: &str, timeout: Duration) -> Result<Self> {
        let _s = tracing::debug_span!("ovsdb_connect", addr).entered();
        let path = addr
            .strip_prefix("unix:")
            .ok_or_else(|| OvsdbError::BadAddress(addr.to_string()))?
            .to_string();
        let writer = UnixStream::connect(&path).map_err(|e| OvsdbError::Connect {
            path: path.clone(),
            error: e,
        })?;
        let io = |e: std::io::Error| OvsdbError::Io {
            path: path.clone(),
            msg: e.to_string(),
        };
        writer.set_read_timeout(Some(timeout)).map_err(io)?;
        writer.set_write_timeout(Some(timeout)).map_err(io)?;
        let reader =
            serde_json::Deserializer::from_reader(BufReader::new(writer.try_clone().map_err(io)?))
                .into_iter::<J>();
        Ok(Connection {
            path,
            writer,
            reader,
            next_id: 1,
        })
    }

    fn send(&mut self, msg: &J) -> Result<()> {
        let mut buf = serde_json::to_vec(msg).expect("json");
        buf.push(b'\n');
        self.writer.write_all(&buf).map_err(|e| OvsdbError::Io {
            path: self.path.clone(),
            msg: e.to_string(),
        })
    }

    fn recv(&mut self) -> Result<J> {
        match self.reader.next() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(OvsdbError::Io {
                path: self.path.clone(),
                msg: if e.is_io() {
                    format!("no reply: {e}")
                } else {
                    format!("bad JSON from server: {e}")
                },
            }),
            None => Err(OvsdbError::Io {
                path: self.path.clone(),
                msg: "connection closed by server".into(),
            }),
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
