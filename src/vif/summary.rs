//! A readable, operator-facing rendering of a VIF (or any os-vif object).

use std::fmt::Write;

use super::object::{Value, VersionedObject};

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Str(s) => s.clone(),
        Value::Obj(o) => format!("<{} {}>", o.name(), o.version),
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(scalar).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn write_obj(out: &mut String, o: &VersionedObject, indent: usize) {
    let pad = " ".repeat(indent);
    for f in o.class.fields {
        let shown = match o.get(f.name) {
            Some(v) => Some((v.clone(), "")),
            None => o.get_or_default(f.name).map(|d| (d, " (default)")),
        };
        let Some((v, note)) = shown else { continue };
        match &v {
            Value::Obj(child) => {
                let _ = writeln!(out, "{pad}{}: {} {}", f.name, child.name(), child.version);
                write_obj(out, child, indent + 2);
            }
            Value::List(items) if items.iter().any(|i| matches!(i, Value::Obj(_))) => {
                let _ = writeln!(out, "{pad}{}: {} item(s)", f.name, items.len());
                for (i, it) in items.iter().enumerate() {
                    if let Value::Obj(child) = it {
                        let _ = writeln!(out, "{pad}  [{i}] {} {}", child.name(), child.version);
                        write_obj(out, child, indent + 6);
                    }
                }
            }
            other => {
                let _ = writeln!(out, "{pad}{}: {}{note}", f.name, scalar(other));
            }
        }
    }
}

/// Headline plus every set field (and applicable defaults, marked), nested objects indented.
pub fn render(o: &VersionedObject) -> String {
    let mut out = String::new();
    let headline = match o.name() {
        "VIFHostDevice" => format!(
            "{} {} dev_type={} dev_address={}",
            o.name(),
            o.version,
            o.get_str("dev_type").unwrap_or("?"),
            o.get_str("dev_address").unwrap_or("?")
        ),
        "VIFDirect" => format!(
            "{} {} {} on {} mode={}",
            o.name(),
            o.version,
            o.get_str("vif_name").unwrap_or("?"),
            o.get_str("dev_address").unwrap_or("?"),
            o.get_str("mode").unwrap_or("?")
        ),
        n if n.starts_with("VIF") && o.class.is_a("VIFBase") => format!(
            "{} {} {} (plugin {})",
            n,
            o.version,
            o.get_str("vif_name").unwrap_or("-"),
            o.get_str("plugin").unwrap_or("?")
        ),
        n => format!("{n} {}", o.version),
    };
    let _ = writeln!(out, "{headline}");
    write_obj(&mut out, o, 2);
    out
}
