//! nova's own spelling of the PCI configuration: `[pci] device_spec` / `alias` values are
//! JSON (one object, or a list of objects, per value), and nova.conf is oslo.config INI.
//! vifman reads the JSON verbatim (`nova_device_spec = ['{…}']` in vifman.toml) and turns a
//! whole nova.conf into vifman.toml (`vifman config import-nova`).

use serde::Deserialize;
use toml::Spanned;

use super::spec::{DeviceSpec, RawSpec};

/// One nova value (`{…}` or `[{…}, …]`) as TOML tables, keys and nesting kept as written.
pub fn json_tables(text: &str) -> Result<Vec<toml::Table>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let items = match v {
        serde_json::Value::Array(a) => a,
        o @ serde_json::Value::Object(_) => vec![o],
        other => {
            return Err(format!(
                "expected a JSON object or a list of objects, got {other}"
            ))
        }
    };
    items
        .into_iter()
        .map(|i| match to_toml(i)? {
            toml::Value::Table(t) => Ok(t),
            other => Err(format!("expected a JSON object, got {other}")),
        })
        .collect()
}

fn to_toml(v: serde_json::Value) -> Result<toml::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => return Err("null is not a value nova accepts here".into()),
        J::Bool(b) => toml::Value::Boolean(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => toml::Value::String(s),
        J::Array(a) => toml::Value::Array(a.into_iter().map(to_toml).collect::<Result<_, _>>()?),
        J::Object(o) => toml::Value::Table(
            o.into_iter()
                .map(|(k, v)| Ok((k, to_toml(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

#[derive(Deserialize)]
struct OneSpec {
    device_spec: Vec<Spanned<RawSpec>>,
}

/// `[[device_spec]]` tables as TOML text (what `import-nova` prints and what the JSON form
/// is checked through, so both forms have exactly the same rules).
pub fn tables_to_toml(array: &str, tables: &[toml::Table]) -> String {
    let mut doc = toml::Table::new();
    doc.insert(
        array.into(),
        toml::Value::Array(tables.iter().cloned().map(toml::Value::Table).collect()),
    );
    toml::to_string(&doc).expect("a table of plain values serialises")
}

impl DeviceSpec {
    /// One nova `device_spec` value, verbatim. `index` is the first spec's position in the
    /// file. Errors name the offending key.
    pub fn from_nova_json(index: usize, text: &str) -> Result<Vec<DeviceSpec>, String> {
        let tables = json_tables(text)?;
        let doc = tables_to_toml("device_spec", &tables);
        let raw: OneSpec = toml::from_str(&doc).map_err(|e| {
            let m = e.message().trim_end().replace('\n', " ");
            m.replace("unknown field", "unknown key")
        })?;
        raw.device_spec
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                DeviceSpec::from_raw(index + i, r.into_inner())
                    .map_err(|(k, m, _)| format!("{k}: {m}"))
            })
            .collect()
    }
}

/// A problem in nova.conf, with its 1-based line.
#[derive(Debug, thiserror::Error)]
#[error("{line}: {key}: {message}")]
pub struct NovaConfError {
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// The `(line, section, key, value)` options of an oslo.config INI text: `#`/`;` comments,
/// continuation lines (indented) joined to the value, repeated keys kept in order.
pub fn ini_options(text: &str) -> Vec<(usize, String, String, String)> {
    let mut out: Vec<(usize, String, String, String)> = vec![];
    let mut section = String::new();
    let mut open = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.is_empty() {
            open = false;
            continue;
        }
        if line.starts_with([' ', '\t']) && open {
            let last = out.last_mut().expect("open implies an option");
            last.3.push('\n');
            last.3.push_str(t);
            continue;
        }
        if t.starts_with('[') && t.ends_with(']') {
            section = t[1..t.len() - 1].trim().to_string();
            open = false;
            continue;
        }
        if let Some((k, v)) = t.split_once(['=', ':']) {
            // oslo.config drops one pair of matching outer quotes around a value.
            let v = v.trim();
            let unquoted = ['"', '\''].iter().find_map(|q| {
                v.strip_prefix(*q)
                    .and_then(|r| r.strip_suffix(*q))
                    .filter(|_| v.len() >= 2)
            });
            let v = unquoted.unwrap_or(v);
            out.push((n + 1, section.clone(), k.trim().to_string(), v.to_string()));
            open = true;
        }
    }
    out
}

/// nova.conf text → vifman.toml text: `[pci] device_spec` (and the deprecated
/// `passthrough_whitelist`, `[DEFAULT] pci_passthrough_whitelist`) → `[[device_spec]]`,
/// `[pci] alias` (`[DEFAULT] pci_alias`) → `[[alias]]`. Each entry is checked by vifman's
/// own rules; an error names the nova.conf line.
pub fn import_nova_conf(text: &str) -> Result<String, NovaConfError> {
    let mut specs: Vec<(usize, toml::Table)> = vec![];
    let mut aliases: Vec<(usize, toml::Table)> = vec![];
    for (line, section, key, value) in ini_options(text) {
        let target = match (section.as_str(), key.as_str()) {
            ("pci", "device_spec" | "passthrough_whitelist")
            | ("DEFAULT", "pci_passthrough_whitelist") => &mut specs,
            ("pci", "alias") | ("DEFAULT", "pci_alias") => &mut aliases,
            _ => continue,
        };
        let err = |message: String| NovaConfError {
            line,
            key: format!("[{section}] {key}"),
            message,
        };
        if value.is_empty() {
            continue;
        }
        for (i, t) in json_tables(&value).map_err(err)?.into_iter().enumerate() {
            if key.contains("whitelist") || key == "device_spec" {
                DeviceSpec::from_nova_json(0, &serde_json::to_string(&t).unwrap_or_default())
                    .map_err(|m| err(format!("entry {i}: {m}")))?;
            }
            target.push((line, t));
        }
    }
    let mut out = String::from("# Imported from nova.conf by `vifman config import-nova`.\n");
    for (array, entries) in [("device_spec", &specs), ("alias", &aliases)] {
        for (line, t) in entries.iter() {
            out.push_str(&format!("\n# nova.conf line {line}\n"));
            out.push_str(&tables_to_toml(array, std::slice::from_ref(t)));
        }
    }
    // The aliases (and the whole document) by vifman's rules: an error points back at the
    // nova.conf line of the entry it came from.
    if let Err(e) = super::Config::parse(&out, std::path::Path::new("nova.conf")) {
        let (key, message) = match &e {
            super::ConfigError::Invalid { key, message, .. } => (key.clone(), message.clone()),
            other => (String::new(), other.to_string()),
        };
        let idx = |prefix: &str| -> Option<usize> {
            key.strip_prefix(prefix)?.split(']').next()?.parse().ok()
        };
        let line = idx("alias[")
            .and_then(|i| aliases.get(i).map(|a| a.0))
            .or_else(|| idx("device_spec[").and_then(|i| specs.get(i).map(|a| a.0)))
            .unwrap_or(0);
        return Err(NovaConfError { line, key, message });
    }
    Ok(out)
}
