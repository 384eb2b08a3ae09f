//! Helpers shared by the os-vif test targets.

use serde_json::Value as J;

/// Sort every `versioned_object.changes` list: oslo emits set order.
pub fn norm(v: &J) -> J {
    match v {
        J::Object(m) => J::Object(
            m.iter()
                .map(|(k, v)| {
                    if k == "versioned_object.changes" {
                        let mut items: Vec<String> = v
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_str().unwrap().to_string())
                            .collect();
                        items.sort();
                        (k.clone(), J::from(items))
                    } else {
                        (k.clone(), norm(v))
                    }
                })
                .collect(),
        ),
        J::Array(a) => J::Array(a.iter().map(norm).collect()),
        o => o.clone(),
    }
}

/// The venv's python (scripts/setup-osvif-venv.sh), or None after saying why the caller
/// skips. VIFMAN_REQUIRE_INTEROP=1 (scripts/test.sh) turns a missing venv into a failure.
pub fn osvif_python() -> Option<std::path::PathBuf> {
    let venv = std::env::var("VIFMAN_OSVIF_VENV")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/osvif-venv").into());
    let py = std::path::PathBuf::from(venv).join("bin/python");
    if py.exists() {
        Some(py)
    } else if std::env::var_os("VIFMAN_REQUIRE_INTEROP").is_some() {
        panic!(
            "os-vif venv missing at {}: run scripts/setup-osvif-venv.sh",
            py.display()
        );
    } else {
        eprintln!(
            "SKIPPED: no os-vif venv ({}); scripts/test.sh sets it up",
            py.display()
        );
        None
    }
}
