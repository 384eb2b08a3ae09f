//! OVSDB `transact` for the Open_vSwitch database: op builders, the atom/set/map encoding
//! of RFC 7047 §5.1, and the "wait until ovs-vswitchd applied it" handshake.

use std::time::{Duration, Instant};

use serde_json::{json, Value as J};

use super::jsonrpc::{Connection, OvsdbError, Result};

pub const DB: &str = "Open_vSwitch";

/// Op builders. Each returns one element of a `transact` params array.
pub mod op {
    use serde_json::{json, Value as J};

    pub fn select(table: &str, cond: J, columns: &[&str]) -> J {
        json!({"op": "select", "table": table, "where": cond, "columns": columns})
    }
    pub fn insert(table: &str, row: J, uuid_name: &str) -> J {
        json!({"op": "insert", "table": table, "row": row, "uuid-name": uuid_name})
    }
    pub fn update(table: &str, cond: J, row: J) -> J {
        json!({"op": "update", "table": table, "where": cond, "row": row})
    }
    pub fn mutate(table: &str, cond: J, mutations: J) -> J {
        json!({"op": "mutate", "table": table, "where": cond, "mutations": mutations})
    }
    /// Asserts that `rows` (projected on `columns`) is exactly what `cond` selects;
    /// with timeout 0 it is a compare-and-swap guard for the whole transaction.
    pub fn wait(table: &str, cond: J, columns: &[&str], rows: J, timeout_ms: u64) -> J {
        json!({"op": "wait", "table": table, "where": cond, "columns": columns,
               "until": "==", "rows": rows, "timeout": timeout_ms})
    }
    pub fn name_is(name: &str) -> J {
        json!([["name", "==", name]])
    }
    pub fn uuid_is(uuid: &str) -> J {
        json!([["_uuid", "==", ["uuid", uuid]]])
    }
    /// `_uuid == r` where `r` is a `uuid` or a `named-uuid` of this transaction.
    pub fn uuid_ref(r: &J) -> J {
        json!([["_uuid", "==", r]])
    }
    pub fn all() -> J {
        json!([])
    }
}

/// `["map", [[k, v], ...]]`
pub fn map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> J {
    J::Array(vec![
        json!("map"),
        J::Array(pairs.into_iter().map(|(k, v)| json!([k, v])).collect()),
    ])
}

pub fn set(items: Vec<J>) -> J {
    json!(["set", items])
}

pub fn uuid(u: &str) -> J {
    json!(["uuid", u])
}

pub fn named(n: &str) -> J {
    json!(["named-uuid", n])
}

/// A `["uuid", s]` atom's string.
pub fn as_uuid(v: &J) -> Option<&str> {
    match v.as_array()?.as_slice() {
        [t, s] if t == "uuid" => s.as_str(),
        _ => None,
    }
}

/// A set column as a list of atoms (a single atom is a one-element set on the wire).
pub fn set_items(v: &J) -> Vec<J> {
    match v.as_array().map(|a| a.as_slice()) {
        Some([t, items]) if t == "set" => items.as_array().cloned().unwrap_or_default(),
        _ => vec![v.clone()],
    }
}

/// A string→string map column.
pub fn map_pairs(v: &J) -> Vec<(String, String)> {
    match v.as_array().map(|a| a.as_slice()) {
        Some([t, items]) if t == "map" => items
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p.get(0)?.as_str()?.to_string(),
                    p.get(1)?.as_str()?.to_string(),
                ))
            })
            .collect(),
        _ => vec![],
    }
}

pub struct Client {
    conn: Connection,
    pub timeout: Duration,
}

impl Client {
    pub fn connect(
        addr: &str,
        tls: Option<&super::remote::TlsFiles>,
        timeout: Duration,
    ) -> Result<Self> {
        Ok(Client {
            conn: Connection::connect(addr, tls, timeout + Duration::from_secs(5))?,
            timeout,
        })
    }

    /// Runs one atomic transaction. OVSDB reports a failed op as an `{"error": ...}` entry
    /// in the result array (plus one extra entry for commit-time failures); that becomes
    /// [`OvsdbError::Rejected`] carrying the server's text.
    pub fn transact(&mut self, ops: Vec<J>) -> Result<Vec<J>> {
        let _s = tracing::debug_span!("ovsdb_transact", ops = ops.len()).entered();
        let n = ops.len();
        let mut params = vec![json!(DB)];
        params.extend(ops);
        let res = self.conn.call("transact", J::Array(params))?;
        let arr = res
            .as_array()
            .ok_or_else(|| OvsdbError::Protocol(format!("transact result is not an array: {res}")))?
            .clone();
        for r in &arr {
            if let Some(e) = r.get("error").and_then(J::as_str) {
                return Err(OvsdbError::Rejected {
                    error: e.to_string(),
                    details: r
                        .get("details")
                        .and_then(J::as_str)
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
        if arr.len() < n {
            return Err(OvsdbError::Protocol(format!(
                "transact returned {} results for {n} ops",
                arr.len()
            )));
        }
        Ok(arr)
    }

    /// Rows of a select result.
    pub fn rows(r: &J) -> Vec<J> {
        r.get("rows")
            .and_then(J::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until ovs-vswitchd has reconfigured up to `next_cfg`. Uses the server-side
    /// `wait` op in short slices, because a concurrent client's bump makes `cur_cfg` jump
    /// past our value and an exact `==` would then never match.
    pub fn wait_applied(&mut self, next_cfg: i64) -> Result<()> {
        let _s = tracing::debug_span!("ovsdb_wait_applied", next_cfg).entered();
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.min(Duration::from_millis(250));
            let w = op::wait(
                "Open_vSwitch",
                op::all(),
                &["cur_cfg"],
                json!([{"cur_cfg": next_cfg}]),
                slice.as_millis() as u64,
            );
            match self.transact(vec![w]) {
                Ok(_) => return Ok(()),
                Err(OvsdbError::Rejected { error, .. }) if error == "timed out" => {}
                Err(e) => return Err(e),
            }
            let cur = self.cur_cfg()?;
            if cur >= next_cfg {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(OvsdbError::NotApplied {
                    timeout: self.timeout,
                    cur,
                    want: next_cfg,
                });
            }
        }
    }

    pub fn cur_cfg(&mut self) -> Result<i64> {
        let r = self.transact(vec![op::select("Open_vSwitch", op::all(), &["cur_cfg"])])?;
        Ok(Self::rows(&r[0])
            .first()
            .and_then(|row| row["cur_cfg"].as_i64())
            .unwrap_or(0))
    }

    /// The ops that bump `next_cfg` and read it back; append them to a transaction and
    /// pass the result to [`Self::next_cfg_of`].
    pub fn bump_ops() -> Vec<J> {
        vec![
            op::mutate("Open_vSwitch", op::all(), json!([["next_cfg", "+=", 1]])),
            op::select("Open_vSwitch", op::all(), &["next_cfg"]),
        ]
    }

    pub fn next_cfg_of(results: &[J], select_index: usize) -> Result<i64> {
        results
            .get(select_index)
            .map(Self::rows)
            .and_then(|r| r.first().and_then(|row| row["next_cfg"].as_i64()))
            .ok_or_else(|| {
                OvsdbError::Protocol("no Open_vSwitch row (database not initialised?)".into())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(
            map([("iface-id", "x")]),
            json!(["map", [["iface-id", "x"]]])
        );
        assert_eq!(as_uuid(&json!(["uuid", "abc"])), Some("abc"));
        assert_eq!(set_items(&json!(["uuid", "a"])).len(), 1);
        assert_eq!(
            set_items(&json!(["set", [["uuid", "a"], ["uuid", "b"]]])).len(),
            2
        );
        assert_eq!(
            map_pairs(&json!(["map", [["a", "1"], ["b", "2"]]])),
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }
}
