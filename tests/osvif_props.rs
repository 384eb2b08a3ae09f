//! Property tests: random valid objects round-trip; arbitrary JSON never panics the decoder.

use proptest::prelude::*;
use serde_json::{json, Value as J};
use vifman::vif::schema::{ClassDef, FieldType};
use vifman::vif::{classes, from_primitive, Manifest, Mode};

/// Small deterministic generator driven by a proptest-chosen seed, so failures shrink to a seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap())
            .collect()
    }
}

fn concrete_subclasses(base: &str) -> Vec<&'static ClassDef> {
    classes::ALL
        .iter()
        .copied()
        .filter(|c| c.is_a(base))
        .collect()
}

fn random_value(rng: &mut Rng, ty: FieldType, depth: u32) -> Option<J> {
    Some(match ty {
        FieldType::Uuid => J::from(format!(
            "{}-{}-{}-{}-{}",
            rng.hex(8),
            rng.hex(4),
            rng.hex(4),
            rng.hex(4),
            rng.hex(12)
        )),
        FieldType::Mac => J::from((0..6).map(|_| rng.hex(2)).collect::<Vec<_>>().join(":")),
        FieldType::Pci => J::from(format!(
            "{}:{}:{:02x}.{}",
            rng.hex(4),
            rng.hex(2),
            rng.below(32),
            rng.below(8)
        )),
        FieldType::Str => {
            J::from(["", "tap0", "br-int", "ünïcode", "with space", "a\"q"][rng.below(6) as usize])
        }
        FieldType::Enum(vals) => J::from(vals[rng.below(vals.len() as u64) as usize]),
        FieldType::Bool => J::from(rng.below(2) == 1),
        FieldType::Int => J::from(rng.next() as i64 >> rng.below(64)),
        FieldType::IpAddr => J::from(if rng.below(2) == 0 {
            format!(
                "10.{}.{}.{}",
                rng.below(256),
                rng.below(256),
                rng.below(256)
            )
        } else {
            format!("2001:db8::{:x}", rng.below(65535) + 1)
        }),
        FieldType::IpNet => J::from(format!("192.168.{}.0/{}", rng.below(256), rng.below(33))),
        FieldType::IpList => J::Array(
            (0..rng.below(3))
                .filter_map(|_| random_value(rng, FieldType::IpAddr, depth))
                .collect(),
        ),
        FieldType::Object { name, subclasses } => {
            if depth == 0 {
                return None;
            }
            let choices = if subclasses {
                concrete_subclasses(name)
            } else {
                vec![vifman::vif::registry::class_by_name(name).unwrap()]
            };
            let pick = choices[rng.below(choices.len() as u64) as usize];
            random_object(rng, pick, depth - 1)
        }
        FieldType::ObjectList { name, .. } => {
            if depth == 0 {
                return None;
            }
            let c = vifman::vif::registry::class_by_name(name).unwrap();
            J::Array(
                (0..rng.below(3))
                    .map(|_| random_object(rng, c, depth - 1))
                    .collect(),
            )
        }
    })
}

fn random_object(rng: &mut Rng, class: &'static ClassDef, depth: u32) -> J {
    let mut data = serde_json::Map::new();
    for f in class.fields {
        if rng.below(4) == 0 {
            continue;
        }
        let v = if f.nullable && rng.below(5) == 0 {
            Some(J::Null)
        } else {
            random_value(rng, f.ty, depth)
        };
        if let Some(v) = v {
            data.insert(f.name.into(), v);
        }
    }
    let changes: Vec<J> = data
        .keys()
        .filter(|_| rng.below(2) == 0)
        .map(|k| J::from(k.as_str()))
        .collect();
    json!({
        "versioned_object.name": class.name,
        "versioned_object.namespace": "os_vif",
        "versioned_object.version": class.version,
        "versioned_object.data": data,
        "versioned_object.changes": changes,
    })
}

fn arb_json() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::from),
        any::<i64>().prop_map(J::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(J::from),
        ".{0,12}".prop_map(J::from),
        prop::sample::select(vec![
            "os_vif",
            "VIFBridge",
            "Network",
            "1.0",
            "1.1",
            "id",
            "objects",
            "0000:0a:00.1",
            "fa:16:3e:00:00:01",
            "10.0.0.1"
        ])
        .prop_map(J::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(J::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "versioned_object.name",
                    "versioned_object.namespace",
                    "versioned_object.version",
                    "versioned_object.data",
                    "versioned_object.changes",
                    "id",
                    "network",
                    "port_profile",
                    "subnets",
                    "objects",
                    "vif_name",
                    "mtu",
                ]),
                inner,
                0..6
            )
            .prop_map(|m| J::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn random_valid_objects_round_trip(seed in 1u64.., class_idx in 0usize..classes::ALL.len()) {
        let mut rng = Rng(seed);
        let class = classes::ALL[class_idx];
        let prim = random_object(&mut rng, class, 4);
        let obj = from_primitive(&prim, Mode::Strict).map_err(|e| TestCaseError::fail(format!("{e}\n{prim}")))?;
        let out = obj.to_primitive(None, None).unwrap();
        let again = from_primitive(&out, Mode::Strict).unwrap();
        // Equal as oslo sees it: same fields, values and what_changed() (the raw own-changes
        // set may differ where a sub-object's changes propagate, exactly as in Python).
        prop_assert_eq!(again.what_changed(), obj.what_changed());
        prop_assert_eq!(again.to_primitive(None, None).unwrap(), out.clone());
        // And the input itself comes back, apart from the propagated changes.
        let fields_in: Vec<&String> = prim["versioned_object.data"].as_object().unwrap().keys().collect();
        for k in fields_in {
            prop_assert!(out["versioned_object.data"].get(k).is_some(), "lost field {}", k);
        }
        // Downgrades may fail (oslo's "No rule for ..."), but never panic.
        let man: Manifest = [("Network", "1.0"), ("VIFPortProfileBase", "1.0"), ("SubnetList", "1.0")].iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let _ = obj.to_primitive(Some("1.0"), None);
        let _ = obj.to_primitive(Some("1.0"), Some(&man));
        let _ = obj.to_primitive(Some("0.1"), Some(&man));
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        for mode in [Mode::Lenient, Mode::Strict] {
            if let Ok(o) = from_primitive(&v, mode) {
                let p = o.to_primitive(None, None).unwrap();
                let _ = from_primitive(&p, mode).unwrap();
            }
        }
    }

    #[test]
    fn mutated_vectors_never_panic(idx in 0usize..53, field in ".{0,3}", v in arb_json()) {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/osvif-vectors.json")).unwrap();
        let all: J = serde_json::from_str(&text).unwrap();
        let mut prim = all["valid"][idx]["primitive"].clone();
        let data = prim["versioned_object.data"].as_object_mut().unwrap();
        let keys: Vec<String> = data.keys().cloned().collect();
        let key = if keys.is_empty() { field } else { keys[field.len() % keys.len()].clone() };
        data.insert(key, v);
        for mode in [Mode::Lenient, Mode::Strict] {
            if let Ok(o) = from_primitive(&prim, mode) {
                let _ = o.to_primitive(None, None).unwrap();
                let _ = o.to_primitive(Some("1.0"), None);
            }
        }
    }
}
