//! A small blocking HTTP/1.1 client for Placement's REST API over std `TcpStream`: one request
//! per connection, JSON bodies, noauth2/keystone token header and a pinned microversion. Enough
//! for a few hundred calls per sync without pulling an HTTP stack into the build.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use super::PlacementError;

/// Microversion 1.39: nested providers, `in_tree`, consumer types; the newest 16.0.0 speaks.
pub const MICROVERSION: &str = "placement 1.39";

#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    port: u16,
    base: String,
    pub token: String,
    pub timeout: Duration,
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
        Ok(Client {
            host,
            port,
            base,
            token: token.into(),
            timeout: Duration::from_secs(30),
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
        let io = |e: std::io::Error| {
            PlacementError::Io(format!(
                "{method} {path} at {}:{}: {e}",
                self.host, self.port
            ))
        };
        let mut s = TcpStream::connect((self.host.as_str(), self.port)).map_err(io)?;
        s.set_read_timeout(Some(self.timeout)).map_err(io)?;
        s.set_nodelay(true).map_err(io)?;
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}:{}\r\nAccept: application/json\r\nX-Auth-Token: {}\r\nOpenStack-API-Version: {MICROVERSION}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.base,
            self.host,
            self.port,
            self.token,
            payload.len()
        );
        if body.is_some() {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str("\r\n");
        req.push_str(&payload);
        s.write_all(req.as_bytes()).map_err(io)?;
        let mut raw = vec![];
        s.read_to_end(&mut raw).map_err(io)?;
        parse_reply(&raw).ok_or_else(|| {
            PlacementError::Protocol(format!(
                "{method} {path}: malformed HTTP response ({} bytes)",
                raw.len()
            ))
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

fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = raw[end + 4..].to_vec();
    let mut chunked = false;
    let mut len = None;
    for l in lines {
        let (k, v) = l.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(n) = len {
        body.truncate(n);
    }
    Some(Reply { status, body })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![];
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let n = usize::from_str_radix(
            std::str::from_utf8(&b[..nl])
                .ok()?
                .split(';')
                .next()?
                .trim(),
            16,
        )
        .ok()?;
        b = &b[nl + 2..];
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..n)?);
        b = b.get(n + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies() {
        let r = parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}garbage").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r = parse_reply(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, b"abcd");
        let c = Client::new("http://127.0.0.1:8778/placement/", "admin").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.base.as_str()),
            ("127.0.0.1", 8778, "/placement")
        );
        assert!(Client::new("https://x", "t").is_err());
    }
}
