//! `vifman config import-nova nova.conf`: nova's `[pci]` options as vifman.toml, read back
//! by vifman with the same meaning; bad JSON named by its nova.conf line.

mod common;

use std::path::Path;

use common::*;
use vifman::config::Config;

const NOVA_CONF: &str = r#"[DEFAULT]
debug = True
# pci_passthrough_whitelist is the pre-Zed name; ignored here because [pci] has entries too?
# No: nova reads both names as one option; vifman takes every entry it finds.

[pci]
# X710 VFs through the PF address (nova: one PF address takes that PF's VFs).
device_spec = {"address": "0000:3b:00.0",
    "physical_network": "physnet1",
    "trusted": "true"}
; a second port, old option name, list form
passthrough_whitelist = [{"address": "0000:3b:00.1", "physical_network": "physnet1"},
                         {"devname": "enp175s0f0", "physical_network": "physnet3"}]
device_spec = {"address": {"bus": "5e", "slot": "00", "function": "[2-7]"}, "physical_network": "offload", "remote_managed": "true"}
device_spec = {"vendor_id": "10de", "product_id": "2230", "managed": "no", "resource_class": "CUSTOM_A40", "traits": "CUSTOM_GPU,CUSTOM_NVLINK", "one_time_use": "true"}
alias = {"name": "a40", "vendor_id": "10de", "product_id": "2230", "device_type": "type-PCI", "numa_policy": "preferred"}
alias = [{"name": "nvme", "vendor_id": "144d", "product_id": "a808"}]

[libvirt]
virt_type = kvm
"#;

#[test]
fn a_realistic_nova_conf_becomes_an_equivalent_vifman_toml() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nova.conf");
    std::fs::write(&conf, NOVA_CONF).unwrap();
    let out = vifman(&["config", "import-nova", conf.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let toml = String::from_utf8(out.stdout).unwrap();
    let c = Config::parse(&toml, Path::new("imported.toml")).expect(&toml);
    assert_eq!(c.device_specs.len(), 5, "{toml}");
    assert_eq!(c.physnets(), ["physnet1", "physnet3", "offload"]);
    assert!(c.device_specs[0].trusted);
    assert_eq!(c.device_specs[2].devname.as_deref(), Some("enp175s0f0"));
    assert!(c.device_specs[3].remote_managed);
    let gpu = &c.device_specs[4];
    assert_eq!(gpu.managed, Some(false));
    assert_eq!(gpu.resource_class.as_deref(), Some("CUSTOM_A40"));
    assert_eq!(gpu.traits, ["CUSTOM_GPU", "CUSTOM_NVLINK"]);
    assert!(gpu.one_time_use);
    let names: Vec<_> = c.aliases.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["a40", "nvme"]);
    assert_eq!(c.aliases[0].vendor_id, 0x10de);
}

#[test]
fn bad_json_and_bad_values_name_the_nova_conf_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nova.conf");
    let bad_json = NOVA_CONF.replace(
        r#""physical_network": "offload", "remote"#,
        r#""physical_network": "offload" "remote"#,
    );
    std::fs::write(&conf, bad_json).unwrap();
    let out = vifman(&["config", "import-nova", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nova.conf:14: [pci] device_spec: not valid JSON"),
        "{err}"
    );

    let bad_value = NOVA_CONF.replace(
        r#""address": "0000:3b:00.1""#,
        r#""address": "0000:3b:20.1""#,
    );
    std::fs::write(&conf, bad_value).unwrap();
    let out = vifman(&["config", "import-nova", conf.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(
            "nova.conf:12: [pci] passthrough_whitelist: entry 0: address: slot 20 is above 1f"
        ),
        "{err}"
    );

    let bad_alias = NOVA_CONF.replace(r#""product_id": "a808""#, r#""product_id": "zz""#);
    std::fs::write(&conf, bad_alias).unwrap();
    let out = vifman(&["config", "import-nova", conf.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("nova.conf:17: alias[1].product_id"), "{err}");
}
