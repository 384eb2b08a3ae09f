//! The `vifman vif` commands as a user runs them: exit codes, one-line errors, stdin.

mod common;

use common::*;

#[test]
fn show_summarises_a_vif() {
    let o = vifman(&["vif", "show", "examples/vifs/hostdev.json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.starts_with("VIFHostDevice 1.0 dev_type=ethernet dev_address=0000:81:10.2"),
        "{out}"
    );
    assert!(out.contains("cidr: 192.168.1.0/24"));
    assert!(
        out.contains("active: true (default)"),
        "defaults are shown and marked: {out}"
    );
}

#[test]
fn validate_ok_and_bad() {
    let o = vifman(&["vif", "validate", "examples/vifs/ovs.json"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout).trim(), "ok: VIFOpenVSwitch 1.0");

    let bad = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/vifs/ovs.json"
    ))
    .unwrap()
    .replace("fa:16:3e:00:00:03", "fa:16:3e:00:00");
    let o = vifman_stdin(&["vif", "validate", "-"], &bad);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("ValueError: Malformed MAC fa:16:3e:00:00 (at VIFOpenVSwitch.address)"),
        "{err}"
    );
}

#[test]
fn strict_by_default_lenient_on_request() {
    let input = r#"{"versioned_object.name":"VIFHostDevice","versioned_object.namespace":"os_vif","versioned_object.version":"1.0",
        "versioned_object.data":{"id":"6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d06","plugin":"x","active":"false","dev_type":"ethernet","dev_address":"0000:0a:00.1"}}"#;
    let o = vifman_stdin(&["vif", "validate", "-"], input);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("must be true or false"),
        "{}",
        text(&o.stderr)
    );
    let o = vifman_stdin(&["vif", "convert", "--lenient", "--compact", "-"], input);
    assert!(o.status.success());
    assert!(
        text(&o.stdout).contains(r#""active":true"#),
        "os-vif's truthiness in lenient mode"
    );
}

#[test]
fn convert_downgrades_and_reports_oslo_errors() {
    let o = vifman(&[
        "vif",
        "convert",
        "--to-version",
        "1.0",
        "examples/vifs/vhostuser.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).starts_with(
        "ObjectActionError: Object action obj_make_compatible failed because: No rule for network"
    ));

    let o = vifman(&[
        "vif",
        "convert",
        "--compact",
        "--to-version",
        "1.0",
        "--manifest",
        r#"{"Network":"1.0","VIFPortProfileBase":"1.0","SubnetList":"1.0","Subnet":"1.0","FixedIPList":"1.0","FixedIP":"1.0","RouteList":"1.0","Route":"1.0","DatapathOffloadBase":"1.0"}"#,
        "examples/vifs/vhostuser.json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["versioned_object.version"], "1.0");
    assert!(out["versioned_object.data"].get("vif_name").is_none());
    assert_eq!(
        out["versioned_object.data"]["network"]["versioned_object.version"],
        "1.0"
    );

    let o = vifman(&[
        "vif",
        "convert",
        "--to-version",
        "1.2",
        "examples/vifs/vhostuser.json",
    ]);
    assert!(text(&o.stderr).starts_with("InvalidTargetVersion: Invalid target version 1.2"));
    let o = vifman(&[
        "vif",
        "convert",
        "--manifest",
        "[1]",
        "examples/vifs/vhostuser.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--manifest"));
}

#[test]
fn bad_json_missing_file_and_usage() {
    let o = vifman_stdin(&["vif", "validate", "-"], "{not json");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("not valid JSON"));
    let o = vifman(&["vif", "validate", "/nonexistent/x.json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("/nonexistent/x.json"));
    let o = vifman(&["vif", "frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = vifman(&["vif", "validate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn verbose_turns_on_tracing() {
    let o = vifman(&["-vv", "vif", "validate", "examples/vifs/ovs.json"]);
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("DEBUG"), "{}", text(&o.stderr));
}
