//! Where in a slot's records a decode error is, in the store's own terms: serde_json reports
//! "invalid MAC address … at line 1 column 374" of a one-line body, which tells an operator
//! nothing; this names the record (the VIF and VF of an allocation, the id of a whole-device
//! allocation, the PF and VF of a policy baseline) and the field inside it
//! (`original.vf.mac`), so the bad record can be found and fixed or set aside.

use serde_json::Value;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

enum Frame {
    /// The key being read or last read (None right after `{` or `,`), and whether a key
    /// comes next.
    Obj(Option<String>, bool),
    Arr(usize),
}

/// The path of the value being parsed at byte `offset` of `body`: a small scanner over the
/// JSON text up to there (strings with escapes, nesting), which works on a truncated or
/// otherwise broken body too, since it never needs the rest.
fn path_at(body: &[u8], offset: usize) -> Vec<Seg> {
    let end = offset.min(body.len());
    let mut stack: Vec<Frame> = vec![];
    let mut i = 0;
    while i < end {
        match body[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < body.len() && body[j] != b'"' {
                    j += if body[j] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Obj(key, want_key @ true)) = stack.last_mut() {
                    let k = &body[start..j.min(body.len())];
                    *key = Some(String::from_utf8_lossy(k).into_owned());
                    *want_key = false;
                }
                i = j + 1;
                continue;
            }
            b'{' => stack.push(Frame::Obj(None, true)),
            b'[' => stack.push(Frame::Arr(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Obj(key, want_key)) => (*key, *want_key) = (None, true),
                Some(Frame::Arr(n)) => *n += 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    stack
        .into_iter()
        .filter_map(|f| match f {
            Frame::Obj(Some(k), _) => Some(Seg::Key(k)),
            Frame::Obj(None, _) => None,
            Frame::Arr(n) => Some(Seg::Index(n)),
        })
        .collect()
}

/// `original.vf.mac`, `requested[0].vlan`.
fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&format!("{}", k.escape_debug()));
            }
            Seg::Index(n) => out.push_str(&format!("[{n}]")),
        }
    }
    out
}

/// A record's own string field for naming it, quoted when it is not a plain token (it may be
/// the bad value itself).
fn field(rec: Option<&Value>, key: &str) -> Option<String> {
    let s = rec?.get(key)?.as_str()?;
    let plain = s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-:._".contains(c));
    Some(if plain {
        s.to_string()
    } else {
        format!("{s:?}")
    })
}

/// The record a path is in, named in the store's terms, and the path inside it.
fn describe(path: &[Seg], doc: Option<&Value>) -> String {
    let (Some(Seg::Key(list)), Some(Seg::Index(n))) = (path.first(), path.get(1)) else {
        return match dotted(path) {
            p if p.is_empty() => "the records as a whole".into(),
            p => format!("field {p}"),
        };
    };
    let rec = doc.and_then(|d| d.get(list)).and_then(|l| l.get(*n));
    let f = |k: &str| field(rec, k);
    let name = match list.as_str() {
        "allocations" => {
            let mut s = format!("allocation {n}");
            let ids: Vec<String> = [("VIF", f("vif_id")), ("VF", f("vf"))]
                .into_iter()
                .filter_map(|(what, v)| v.map(|v| format!("{what} {v}")))
                .collect();
            if !ids.is_empty() {
                s.push_str(&format!(" ({})", ids.join(", ")));
            }
            s
        }
        "devices" => match f("id") {
            Some(id) => format!("whole-device allocation {n} ({id})"),
            None => format!("whole-device allocation {n}"),
        },
        "policy_vfs" => match (f("pf"), rec.and_then(|r| r.get("vf_index"))) {
            (Some(pf), Some(i)) => format!("policy VF baseline {n} (VF {i} of {pf})"),
            _ => format!("policy VF baseline {n}"),
        },
        "used_once" => format!("one-time-use device {n}"),
        other => format!("{}[{n}]", other.escape_debug()),
    };
    match dotted(&path[2..]) {
        p if p.is_empty() => name,
        p => format!("{name}, field {p}"),
    }
}

/// `serde_json`'s error on `body`, told as "<record>, field <path>: <what>" without the
/// line and column of a one-line document.
pub(super) fn explain(body: &[u8], e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let what = match msg.rsplit_once(" at line ") {
        Some((m, _)) if e.line() > 0 => m.to_string(),
        _ => msg,
    };
    if e.line() == 0 {
        return what;
    }
    let doc: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(d) = doc.as_ref().filter(|d| !d.is_object()) {
        let kind = match d {
            Value::Array(_) => "an array",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return format!("the records are {kind}, not a JSON object");
    }
    // serde_json's column counts bytes from the line's start to the next byte to read.
    let line_start = match e.line() {
        0 | 1 => 0,
        l => body
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(l - 2)
            .map_or(body.len(), |(i, _)| i + 1),
    };
    let path = path_at(body, line_start + e.column());
    let syntax = matches!(
        e.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    );
    let place = describe(&path, doc.as_ref());
    if syntax {
        format!("not valid JSON ({what}) in {place}")
    } else {
        format!("{place}: {what}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreState;

    fn explain_of(body: &str) -> String {
        let e = serde_json::from_str::<StoreState>(body).unwrap_err();
        explain(body.as_bytes(), &e)
    }

    #[test]
    fn paths_follow_nesting_strings_and_escapes() {
        let b = br#"{"a":[{"k\"x":"v,}]"},{"b":{"c":1"#;
        assert_eq!(
            path_at(b, b.len()),
            vec![
                Seg::Key("a".into()),
                Seg::Index(1),
                Seg::Key("b".into()),
                Seg::Key("c".into())
            ]
        );
        assert_eq!(path_at(b, 0), vec![]);
        assert_eq!(dotted(&path_at(b, b.len())), "a[1].b.c");
    }

    #[test]
    fn a_bad_value_names_its_record_and_field() {
        let body = r#"{"allocations":[{"vif_id":"6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01","vf":"0000:af:10.2","original":{"vf":{"mac":"zz"}}}]}"#;
        let s = explain_of(body);
        assert!(
            s.starts_with(
                "allocation 0 (VIF 6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01, VF 0000:af:10.2), field original.vf.mac: invalid MAC address \"zz\""
            ),
            "{s}"
        );
        assert!(!s.contains("line 1"), "{s}");
    }

    #[test]
    fn the_bad_id_itself_is_quoted_and_a_missing_field_names_the_record() {
        let s = explain_of(r#"{"allocations":[{"vif_id":"a b\n"}]}"#);
        assert!(
            s.starts_with(r#"allocation 0 (VIF "a b\n"), field vif_id: "a b\n" is not a UUID"#),
            "{s}"
        );
        let s = explain_of(r#"{"allocations":[],"devices":[{"id":"x"}]}"#);
        assert!(s.starts_with("whole-device allocation 0"), "{s}");
        let s = explain_of(r#"{"allocations":[],"used_once":["0000:3b:00.0","bad"]}"#);
        assert!(
            s.starts_with("one-time-use device 1: invalid PCI address"),
            "{s}"
        );
        let s = explain_of(
            r#"{"allocations":[],"policy_vfs":[{"pf":"0000:3b:00.0","vf_index":2,"mac":"q"}]}"#,
        );
        assert!(
            s.starts_with("policy VF baseline 0 (VF 2 of 0000:3b:00.0), field mac: invalid MAC"),
            "{s}"
        );
    }

    #[test]
    fn broken_json_says_so_and_where() {
        let s = explain_of(r#"{"allocations":[{"vif_id":"6f0f"#);
        assert!(
            s.starts_with("not valid JSON (EOF while parsing a string) in allocation 0"),
            "{s}"
        );
        assert_eq!(
            explain_of("[]"),
            "the records are an array, not a JSON object"
        );
        assert_eq!(
            explain_of("null"),
            "the records are null, not a JSON object"
        );
        let s = explain_of("{\n\"allocations\": [\n  {\"vif_id\": 5}]}");
        assert!(
            s.starts_with("allocation 0, field vif_id: invalid type"),
            "{s}"
        );
        let s = explain_of(r#"{"allocations":{}}"#);
        assert_eq!(
            s,
            "field allocations: invalid type: map, expected a sequence"
        );
    }
}
