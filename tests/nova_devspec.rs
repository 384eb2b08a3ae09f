//! nova's own device_spec test cases (nova/tests/unit/pci/test_devspec.py; test_utils.py's are
//! in tests/nova_pci_utils.rs),
//! transcribed as data in tests/data/nova_devspec.json, run against vifman's reading of
//! nova's JSON form. A case vifman deliberately answers differently carries a `vifman`
//! override with the reason (also in docs/assignment.md); every other case must agree.

use serde_json::Value;
use vifman::config::{Candidate, DeviceSpec, MatchOutcome, PfOf};
use vifman::types::PciAddress;

fn hex(v: &Value, k: &str) -> u16 {
    u16::from_str_radix(v[k].as_str().unwrap(), 16).unwrap()
}

/// What vifman does with the case, in the data's vocabulary.
fn vifman_outcome(case: &Value) -> String {
    if let Some(a) = case.get("device_address") {
        return match a.as_str().unwrap().parse::<PciAddress>() {
            Ok(_) => "ok".into(),
            Err(_) => "error".into(),
        };
    }
    let spec = serde_json::to_string(&case["spec"]).unwrap();
    let specs = match DeviceSpec::from_nova_json(0, &spec) {
        Ok(s) => s,
        Err(e) => return format!("error: {e}"),
    };
    let Some(d) = case.get("device") else {
        return "loads".into();
    };
    let parent: Option<PciAddress> = d
        .get("parent_addr")
        .and_then(Value::as_str)
        .map(|p| p.parse().unwrap());
    let c = Candidate {
        address: d["address"].as_str().unwrap().parse().unwrap(),
        vendor: hex(d, "vendor_id"),
        device: hex(d, "product_id"),
        netdev: None,
        pf: parent.map(|address| PfOf {
            address,
            netdev: d.get("parent_netdev").and_then(Value::as_str),
            vf_index: 0,
        }),
        card_serial_number: Some(d.get("card_serial_number").and_then(Value::as_str)),
    };
    match specs[0].matches(&c) {
        MatchOutcome::Match => "match".into(),
        MatchOutcome::NoMatch(_) => "no_match".into(),
    }
}

fn expected(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.contains_key("error") => "error".into(),
        other => panic!("bad expectation {other}"),
    }
}

#[test]
fn nova_devspec_cases_agree_or_differ_on_purpose() {
    let doc: Value =
        serde_json::from_str(include_str!("data/nova_devspec.json")).expect("valid JSON");
    let cases = doc["cases"].as_array().unwrap();
    let (mut agree, mut differ, mut bad) = (0, 0, vec![]);
    for (i, case) in cases.iter().enumerate() {
        let got = vifman_outcome(case);
        let got_kind = if got.starts_with("error") {
            "error".to_string()
        } else {
            got.clone()
        };
        let nova = expected(&case["expect"]);
        let want = match case.get("vifman") {
            Some(o) => {
                assert!(
                    o["why"].as_str().is_some_and(|w| !w.is_empty()),
                    "case {i}: a deliberate difference needs its reason"
                );
                assert_ne!(expected(&o["expect"]), nova, "case {i}: not a difference");
                differ += 1;
                expected(&o["expect"])
            }
            None => {
                agree += 1;
                nova
            }
        };
        if got_kind != want {
            bad.push(format!(
                "case {i} {}: expected {want}, vifman says {got}",
                case["nova_test"].as_str().unwrap()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} cases:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
    eprintln!(
        "{} nova cases: {agree} agree, {differ} deliberate differences",
        cases.len()
    );
    assert_eq!(agree + differ, cases.len());
    assert!(cases.len() >= 79);
}
