//! Live interop with the real os-vif 5.3.0 from PyPI (venv made by scripts/setup-osvif-venv.sh).
//! Both directions: Python builds → vifman reads/re-emits → Python loads and compares every
//! field; vifman builds → Python loads/re-emits → vifman compares. Plus downgrades done by both.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value as J};
use vifman::vif::{from_primitive, Manifest, Mode, VersionedObject};

mod common;
use common::{norm, osvif_python};

fn run_py(py: &PathBuf, cmd: &str, input: Option<&J>) -> J {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/osvif_interop.py"
    );
    let mut child = Command::new(py)
        .args(["-W", "ignore", script, cmd])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    let mut stdin = child.stdin.take().unwrap();
    if let Some(i) = input {
        stdin
            .write_all(serde_json::to_string(i).unwrap().as_bytes())
            .unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python {cmd} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn obj(class: &str, fields: J) -> VersionedObject {
    let mut o = VersionedObject::new(class).unwrap();
    for (k, v) in fields.as_object().unwrap() {
        o.set(k, v.clone())
            .unwrap_or_else(|e| panic!("{class}.{k}: {e}"));
    }
    o
}

fn with_objs(mut o: VersionedObject, objs: Vec<(&str, VersionedObject)>) -> VersionedObject {
    for (k, v) in objs {
        o.set_obj(k, v).unwrap();
    }
    o
}

fn list(class: &str, items: Vec<VersionedObject>) -> VersionedObject {
    let mut l = VersionedObject::new(class).unwrap();
    l.set_obj_list("objects", items).unwrap();
    l
}

fn network() -> VersionedObject {
    let ips = list(
        "FixedIPList",
        vec![obj(
            "FixedIP",
            json!({"address": "10.1.0.5", "floating_ips": ["198.51.100.7"]}),
        )],
    );
    let routes = list(
        "RouteList",
        vec![obj(
            "Route",
            json!({"cidr": "0.0.0.0/0", "gateway": "10.1.0.1"}),
        )],
    );
    let subnet = with_objs(
        obj(
            "Subnet",
            json!({"cidr": "10.1.0.0/24", "dns": ["10.1.0.2", "2001:db8::53"], "gateway": "10.1.0.1", "dhcp_server": "10.1.0.3"}),
        ),
        vec![("ips", ips), ("routes", routes)],
    );
    let mut net = obj(
        "Network",
        json!({"id": "b82c1929-051e-481d-8110-4669916c7999", "bridge": "br0", "label": "tenant", "mtu": 9000, "vlan": 42, "multi_host": true}),
    );
    net.set_obj("subnets", list("SubnetList", vec![subnet]))
        .unwrap();
    net
}

/// vifman-built objects: every VIF type with every port profile it is used with.
fn rust_built() -> Vec<(String, VersionedObject)> {
    let iid = "07bd6cea-fb37-4594-b769-90fc51854e01";
    let off = obj(
        "DatapathOffloadRepresentor",
        json!({"representor_name": "pf0vf1", "representor_address": "0000:3b:00.2"}),
    );
    let profiles = vec![
        (
            "VIFPortProfileOpenVSwitch",
            with_objs(
                obj(
                    "VIFPortProfileOpenVSwitch",
                    json!({"interface_id": iid, "profile_id": "p", "datapath_type": "system", "create_port": true, "create_tap": false, "multiqueue": true}),
                ),
                vec![("datapath_offload", off.clone())],
            ),
        ),
        (
            "VIFPortProfileFPOpenVSwitch",
            obj(
                "VIFPortProfileFPOpenVSwitch",
                json!({"interface_id": iid, "profile_id": "p", "bridge_name": "br-fp", "hybrid_plug": false}),
            ),
        ),
        (
            "VIFPortProfileOVSRepresentor",
            obj(
                "VIFPortProfileOVSRepresentor",
                json!({"interface_id": iid, "profile_id": "p", "representor_name": "pf0vf1", "representor_address": "0000:3b:00.2"}),
            ),
        ),
        (
            "VIFPortProfileFPBridge",
            obj("VIFPortProfileFPBridge", json!({"bridge_name": "fpbr"})),
        ),
        (
            "VIFPortProfileFPTap",
            obj(
                "VIFPortProfileFPTap",
                json!({"mac_address": "FA:16:3E:AB:CD:EF"}),
            ),
        ),
        (
            "VIFPortProfile8021Qbg",
            obj(
                "VIFPortProfile8021Qbg",
                json!({"manager_id": 7, "type_id": 8, "type_id_version": 9, "instance_id": "a9a9a9a9-1111-4222-8333-444455556666"}),
            ),
        ),
        (
            "VIFPortProfile8021Qbh",
            obj("VIFPortProfile8021Qbh", json!({"profile_id": "qbh"})),
        ),
        (
            "VIFPortProfileK8sDPDK",
            obj(
                "VIFPortProfileK8sDPDK",
                json!({"l3_setup": true, "selflink": "/x", "resourceversion": "1"}),
            ),
        ),
    ];
    let base = json!({"id": "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d77", "address": "fa:16:3e:77:77:77", "plugin": "vifman", "active": true});
    let mut out = vec![];
    for (pname, prof) in profiles {
        let vif = |class: &str, extra: J| {
            let mut f = base.clone();
            f.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            with_objs(
                obj(class, f),
                vec![("network", network()), ("port_profile", prof.clone())],
            )
        };
        out.push((
            format!("VIFGeneric+{pname}"),
            vif("VIFGeneric", json!({"vif_name": "tap9"})),
        ));
        out.push((
            format!("VIFBridge+{pname}"),
            vif(
                "VIFBridge",
                json!({"vif_name": "tap9", "bridge_name": "br9"}),
            ),
        ));
        out.push((
            format!("VIFOpenVSwitch+{pname}"),
            vif(
                "VIFOpenVSwitch",
                json!({"vif_name": "tap9", "bridge_name": "br-int"}),
            ),
        ));
        out.push((format!("VIFDirect+{pname}"), vif("VIFDirect", json!({"vif_name": "mvtap9", "dev_address": "0000:3b:02.7", "mode": "passthrough", "vlan_name": ""}))));
        out.push((
            format!("VIFVHostUser+{pname}"),
            vif(
                "VIFVHostUser",
                json!({"vif_name": "vhu9", "path": "/run/vhu9", "mode": "server"}),
            ),
        ));
        out.push((
            format!("VIFHostDevice+{pname}"),
            vif(
                "VIFHostDevice",
                json!({"dev_type": "ethernet", "dev_address": "0000:3b:02.7"}),
            ),
        ));
        out.push((
            format!("VIFNestedDPDK+{pname}"),
            vif(
                "VIFNestedDPDK",
                json!({"pci_address": "0000:00:04.0", "dev_driver": "virtio-pci"}),
            ),
        ));
    }
    out.push(("InstanceInfo".into(), obj("InstanceInfo", json!({"uuid": "d3c5e3b4-4f4e-4e4c-9a39-2fb4bb0b7a11", "name": "vm", "project_id": "p"}))));
    let ppi = obj(
        "HostPortProfileInfo",
        json!({"profile_object_name": "VIFPortProfileOpenVSwitch", "min_version": "1.0", "max_version": "1.4"}),
    );
    let mut hvi = obj(
        "HostVIFInfo",
        json!({"vif_object_name": "VIFHostDevice", "min_version": "1.0", "max_version": "1.0"}),
    );
    hvi.set_obj_list("supported_port_profiles", vec![ppi])
        .unwrap();
    let mut hpi = obj("HostPluginInfo", json!({"plugin_name": "vifman"}));
    hpi.set_obj_list("vif_info", vec![hvi]).unwrap();
    let mut hi = VersionedObject::new("HostInfo").unwrap();
    hi.set_obj_list("plugin_info", vec![hpi]).unwrap();
    out.push(("HostInfo".into(), hi));
    out
}

#[test]
fn python_built_objects_survive_vifman() {
    let Some(py) = osvif_python() else { return };
    let emitted = run_py(&py, "emit", None);
    let mut checks = vec![];
    for item in emitted.as_array().unwrap() {
        let prim = &item["primitive"];
        let o =
            from_primitive(prim, Mode::Strict).unwrap_or_else(|e| panic!("{}: {e}", item["case"]));
        let out = o.to_primitive(None, None).unwrap();
        assert_eq!(norm(&out), norm(prim), "{}", item["case"]);
        checks.push(json!({"case": item["case"], "original": prim, "candidate": out}));
    }
    let res = run_py(&py, "check", Some(&J::from(checks)));
    let mut matrix = vec![];
    for r in res.as_array().unwrap() {
        assert_eq!(r["ok"], true, "{}: {}", r["case"], r["detail"]);
        matrix.push(r["case"].as_str().unwrap().to_string());
    }
    eprintln!(
        "interop python->vifman->python: {} cases OK: {matrix:?}",
        matrix.len()
    );
    assert!(matrix.len() >= 16);
}

#[test]
fn vifman_built_objects_survive_python() {
    let Some(py) = osvif_python() else { return };
    let built = rust_built();
    let input: Vec<J> = built
        .iter()
        .map(|(case, o)| json!({"case": case, "primitive": o.to_primitive(None, None).unwrap()}))
        .collect();
    let res = run_py(&py, "reemit", Some(&J::from(input.clone())));
    let mut checks = vec![];
    for (r, (case, o)) in res.as_array().unwrap().iter().zip(&built) {
        assert_eq!(
            r["ok"], true,
            "{case}: python could not load it: {}",
            r["detail"]
        );
        let ours = o.to_primitive(None, None).unwrap();
        assert_eq!(
            norm(&r["primitive"]),
            norm(&ours),
            "{case}: python re-emitted something else"
        );
        let back = from_primitive(&r["primitive"], Mode::Strict).unwrap();
        assert_eq!(&back, o, "{case}: reloaded object differs");
        checks.push(json!({"case": case, "original": ours, "candidate": r["primitive"]}));
    }
    let res = run_py(&py, "check", Some(&J::from(checks)));
    for r in res.as_array().unwrap() {
        assert_eq!(r["ok"], true, "{}: {}", r["case"], r["detail"]);
    }
    eprintln!("interop vifman->python->vifman: {} cases OK", built.len());
}

#[test]
fn downgrades_agree_with_python() {
    let Some(py) = osvif_python() else { return };
    let oldest: Manifest = [
        "Network",
        "SubnetList",
        "Subnet",
        "FixedIPList",
        "FixedIP",
        "RouteList",
        "Route",
        "VIFPortProfileBase",
        "DatapathOffloadBase",
        "HostPortProfileInfo",
        "HostVIFInfo",
        "HostPluginInfo",
    ]
    .iter()
    .map(|k| (k.to_string(), "1.0".to_string()))
    .collect();
    let mut reqs = vec![];
    let mut ours = vec![];
    for (case, o) in rust_built() {
        let prim = o.to_primitive(None, None).unwrap();
        for (label, target, man) in [
            ("plain-1.0", "1.0", None),
            ("oldest", "1.0", Some(oldest.clone())),
            (
                "pp-1.1",
                o.class.version,
                Some(Manifest::from([(
                    "VIFPortProfileBase".to_string(),
                    "1.1".to_string(),
                )])),
            ),
            (
                "pp-1.3",
                o.class.version,
                Some(Manifest::from([(
                    "VIFPortProfileBase".to_string(),
                    "1.3".to_string(),
                )])),
            ),
        ] {
            reqs.push(json!({"case": format!("{case} {label}"), "primitive": prim, "target": target, "manifest": man}));
            ours.push(o.to_primitive(Some(target), man.as_ref()));
        }
    }
    let res = run_py(&py, "downgrade", Some(&J::from(reqs)));
    let (mut ok, mut err) = (0, 0);
    for (r, mine) in res.as_array().unwrap().iter().zip(ours) {
        let case = r["case"].as_str().unwrap();
        if r["ok"] == true {
            let mine =
                mine.unwrap_or_else(|e| panic!("{case}: python succeeded, vifman failed: {e}"));
            assert_eq!(norm(&mine), norm(&r["primitive"]), "{case}");
            ok += 1;
        } else {
            let e = mine.err().unwrap_or_else(|| {
                panic!("{case}: python failed ({}), vifman succeeded", r["detail"])
            });
            assert_eq!(e.kind.as_str(), r["type"].as_str().unwrap(), "{case}");
            assert_eq!(e.message, r["detail"].as_str().unwrap(), "{case}");
            err += 1;
        }
    }
    eprintln!("downgrades vs python: {ok} identical primitives, {err} identical failures");
}
