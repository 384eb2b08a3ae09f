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
