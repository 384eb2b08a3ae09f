use std::path::Path;

use super::*;
use crate::types::PciAddress;

fn vf<'a>(
    addr: &str,
    vendor: u16,
    device: u16,
    pf: &str,
    pf_netdev: Option<&'a str>,
    idx: u32,
) -> Candidate<'a> {
    Candidate {
        address: addr.parse().unwrap(),
        vendor,
        device,
        netdev: None,
        pf: Some(spec::PfOf {
            address: pf.parse::<PciAddress>().unwrap(),
            netdev: pf_netdev,
            vf_index: idx,
        }),
        card_serial_number: None,
    }
}

#[test]
fn nova_style_specs() {
    let c = Config::parse(
        r#"
exclude = ["eno1"]
[[device_spec]]
vendor_id = "8086"
product_id = "154c"
address = "0000:3b:00.0"
physical_network = "physnet1"
trusted = "true"

[[device_spec]]
devname = "ens2f0"
physical_network = "physnet2"

[[device_spec]]
pf_names = ["ens3f0#0-3,5"]
physical_network = "physnet3"

[[device_spec]]
address = { bus = "5[ef]", function = "[0-3]" }
physical_network = "physnet4"
"#,
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(
        c.physnets(),
        ["physnet1", "physnet2", "physnet3", "physnet4"]
    );
    // A PF's address (one address, no wildcard) matches its VFs, as in nova.
    let (s, _) = c.classify(&vf("0000:3b:02.1", 0x8086, 0x154c, "0000:3b:00.0", None, 1));
    assert_eq!(s.unwrap().physical_network.as_deref(), Some("physnet1"));
    assert!(s.unwrap().trusted);
    let (s, why) = c.classify(&vf(
        "0000:5e:10.1",
        0x8086,
        0x10ca,
        "0000:5e:00.0",
        Some("ens2f0"),
        0,
    ));
    assert_eq!(s.unwrap().physical_network.as_deref(), Some("physnet2"));
    assert_eq!(why.len(), 1);
    let (s, _) = c.classify(&vf(
        "0000:60:10.1",
        0x8086,
        0x10ca,
        "0000:60:00.0",
        Some("ens3f0"),
        5,
    ));
    assert_eq!(s.unwrap().physical_network.as_deref(), Some("physnet3"));
    let (s, _) = c.classify(&vf(
        "0000:60:10.1",
        0x8086,
        0x10ca,
        "0000:60:00.0",
        Some("ens3f0"),
        4,
    ));
    assert!(s.is_none());
    let (s, _) = c.classify(&vf("0000:5f:00.3", 1, 2, "0000:70:00.0", None, 0));
    assert_eq!(s.unwrap().physical_network.as_deref(), Some("physnet4"));
}

#[test]
fn errors_name_file_line_and_key() {
    let e = Config::parse(
        "[[device_spec]]\nvendor_id = \"80866\"\n",
        Path::new("/etc/v.toml"),
    )
    .unwrap_err();
    // The value's own line and column, not the [[device_spec]] header's.
    let s = e.to_string();
    assert!(
        s.starts_with("/etc/v.toml:2:13: device_spec[0].vendor_id:"),
        "{s}"
    );
    let e = Config::parse("[[device_spec]]\nbogus = 1\n", Path::new("v.toml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("v.toml:2:1: device_spec[0].bogus: unknown field `bogus`"),
        "{e}"
    );
    let e = Config::parse(
        "[[device_spec]]\naddress = \"0000:3b:20.0\"\n",
        Path::new("v.toml"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("slot"), "{e}");
    let e = Config::parse(
        "[[device_spec]]\ndevname = \"a\"\naddress = \"*:*\"\n",
        Path::new("v.toml"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot be combined"), "{e}");
    let e = Config::parse(
        "[[device_spec]]\npf_names = [\"ens1#3-1\"]\n",
        Path::new("v.toml"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("backwards"), "{e}");
    let e = Config::parse(
        "[[device_spec]]\naddress = { bus = \"(\" }\n",
        Path::new("v.toml"),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("v.toml:2:19: device_spec[0].address.bus"),
        "{e}"
    );
}

/// Every key anywhere is checked: a typo never silently widens a pool.
#[test]
fn unknown_keys_anywhere_are_errors_at_their_position() {
    for (text, want) in [
        ("exclude = []\nexclude_defualt_route = false\n", "v.toml:2:1: exclude_defualt_route: unknown field `exclude_defualt_route`"),
        (
            "[[device_spec]]\nphysical_network = \"p\"\n\n[[device_spec]]\nvendor = \"8086\"\n",
            "v.toml:5:1: device_spec[1].vendor: unknown field `vendor`",
        ),
        (
            "[[device_spec]]\nphysical_network = \"p\"\naddress = { bus = \"5e\", fuction = \"[0-3]\" }\n",
            "v.toml:3:25: device_spec[0].address.fuction: unknown field `fuction`",
        ),
        (
            "[[device_spec]]\nphysical_network = \"p\"\n[device_spec.address]\nbus = \"5e\"\nfuction = \"1\"\n",
            "v.toml:5:1: device_spec[0].address.fuction: unknown field `fuction`",
        ),
        // A value of the wrong type: the key before its `=`, not the value serde quotes.
        (
            "[[device_spec]]\nphysical_network = 5\n",
            "v.toml:2:20: device_spec[0].physical_network: invalid type: integer `5`, expected a string",
        ),
        (
            "exclude = \"eno1\"\n",
            "v.toml:1:11: exclude: invalid type: string \"eno1\", expected a sequence",
        ),
    ] {
        let e = Config::parse(text, Path::new("v.toml")).unwrap_err().to_string();
        assert!(e.starts_with(want), "{text:?}\n got: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    // A product id error points at the value, as docs/assignment.md shows.
    let e = Config::parse(
        "exclude = []\n\n[[device_spec]]\nvendor_id = \"8086\"\n\n[[device_spec]]\nproduct_id = \"zzzz\"\n",
        Path::new("/etc/vifman/vifman.toml"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/vifman/vifman.toml:7:14: device_spec[1].product_id: \"zzzz\" does not parse as a hex number"
    );
    // The regex table itself still parses.
    let c = Config::parse(
        "[[device_spec]]\naddress = { domain = \"0000\", function = \"[2-7]\" }\nphysical_network = \"p\"\n",
        Path::new("v.toml"),
    )
    .unwrap();
    assert!(c.device_specs[0].address.is_some());
}

#[test]
fn globs() {
    let g = AddressSpec::parse_glob(":0a:00.").unwrap();
    assert!(g.matches(&"0000:0a:00.3".parse().unwrap()));
    assert!(g.matches(&"0001:0a:00.0".parse().unwrap()));
    assert!(!g.matches(&"0000:0b:00.0".parse().unwrap()));
    assert!(AddressSpec::parse_glob("0000:0a:00.8").is_err());
    assert!(AddressSpec::parse_glob("1:2:3:4").is_err());
}

#[test]
fn aliases_as_nova_defines_them() {
    let c = Config::parse(
        r#"
pf_passthrough_removes_vfs = true
[[alias]]
name = "a6000"
vendor_id = "10de"
product_id = "2230"
device_type = "type-PCI"
numa_policy = "required"

[[alias]]
name = "nic"
vendor_id = "0x8086"
product_id = "1521"
"#,
        Path::new("t.toml"),
    )
    .unwrap();
    assert!(c.pf_passthrough_removes_vfs);
    let a = c.alias("a6000").unwrap();
    assert_eq!((a.vendor_id, a.product_id), (0x10de, 0x2230));
    assert_eq!(a.device_type, Some(crate::types::DeviceType::Pci));
    assert_eq!(a.numa_policy, crate::types::NumaPolicy::Required);
    let n = c.alias("nic").unwrap();
    assert_eq!(n.numa_policy, crate::types::NumaPolicy::Legacy);
    assert!(n.matches(0x8086, 0x1521, crate::types::DeviceType::Pf));
    assert!(!n.matches(0x8086, 0x1521, crate::types::DeviceType::Vf));
    assert!(c.alias("nope").is_none());
}

#[test]
fn alias_entries_sharing_a_name_match_any_of_them() {
    let c = Config::parse(
        "[[alias]]\nname = \"qat\"\nvendor_id = \"8086\"\nproduct_id = \"4443\"\ncapability_type = \"pci\"\n\
         [[alias]]\nname = \"qat\"\nvendor_id = \"8086\"\nproduct_id = \"4444\"\n",
        Path::new("t.toml"),
    )
    .unwrap();
    use crate::types::DeviceType::Pci;
    assert!(super::alias_serves(&c.aliases, "qat", 0x8086, 0x4443, Pci));
    assert!(super::alias_serves(&c.aliases, "qat", 0x8086, 0x4444, Pci));
    assert!(!super::alias_serves(&c.aliases, "qat", 0x8086, 0x4445, Pci));
    assert!(!super::alias_serves(
        &c.aliases, "other", 0x8086, 0x4443, Pci
    ));
}

#[test]
fn bad_aliases_name_line_and_key() {
    for (text, want) in [
        (
            "[[alias]]\nname = \"x\"\nvendor_id = \"10de\"\nproduct_id = \"2230\"\nnuma_policy = \"socket\"\n",
            "5:15: alias[0].numa_policy",
        ),
        (
            "[[alias]]\nname = \"x\"\nvendor_id = \"10de\"\nproduct_id = \"2230\"\n[[alias]]\nname = \"x\"\nvendor_id = \"10de\"\nproduct_id = \"2231\"\nnuma_policy = \"required\"\n",
            "alias[1].name: alias \"x\": NUMA policy mismatch",
        ),
        (
            "[[alias]]\nname = \"x\"\nvendor_id = \"10de\"\nproduct_id = \"2230\"\n[[alias]]\nname = \"x\"\nvendor_id = \"10de\"\nproduct_id = \"2231\"\ndevice_type = \"type-PF\"\n",
            "alias[1].name: alias \"x\": device_type mismatch",
        ),
        (
            "[[alias]]\nname = \"x\"\nproduct_id = \"2230\"\n",
            "alias[0].vendor_id: missing",
        ),
        (
            "[[alias]]\nname = \"x\"\nvendor_id = \"10de\"\nproduct_id = \"2230\"\ncapability_type = \"usb\"\n",
            "alias[0].capability_type",
        ),
        (
            "[[alias]]\nname = \"a b\"\nvendor_id = \"10de\"\nproduct_id = \"2230\"\n",
            "alias[0].name",
        ),
        (
            "[[alias]]\nname = \"x\"\nvendor_id = \"10de\"\nproduct_id = \"2230\"\ndevice_type = \"type-VF\"\n",
            "type-VF aliases are not supported",
        ),
        (
            "[[alias]]\nname = \"x\"\nvendor_id = \"10de\"\nproduct_id = \"2230\"\ncolour = 1\n",
            "unknown field",
        ),
    ] {
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn reset_policy_per_pool() {
    use crate::types::ResetPolicy;
    let c = Config::parse(
        "[[device_spec]]\nphysical_network = \"a\"\nreset = \"none\"\n\n[[device_spec]]\nphysical_network = \"b\"\nreset = \"flr\"\n\n[[device_spec]]\nphysical_network = \"c\"\n",
        Path::new("v.toml"),
    )
    .unwrap();
    let r: Vec<_> = c.device_specs.iter().map(|s| s.reset).collect();
    assert_eq!(r, [Some(ResetPolicy::None), Some(ResetPolicy::Flr), None]);
    let e = Config::parse("[[device_spec]]\nreset = \"bus\"\n", Path::new("v.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("v.toml:2:9: device_spec[0].reset:") && e.contains("\"flr\" or \"none\""),
        "{e}"
    );
}

/// nova's `WhitelistPciAddress.match`: only a spec that is one address (a PF's) takes the
/// VFs under it; a wildcard glob or regex takes only devices whose own address matches.
#[test]
fn wildcards_take_only_their_own_addresses_not_vfs_through_the_pf() {
    let c = Config::parse(
        r#"
[[device_spec]]
address = "*:3b:00.*"
physical_network = "a"
[[device_spec]]
address = { bus = "3b", slot = "00" }
physical_network = "b"
"#,
        Path::new("t.toml"),
    )
    .unwrap();
    let (s, why) = c.classify(&vf("0000:3b:02.1", 0x8086, 0x154c, "0000:3b:00.0", None, 1));
    assert!(s.is_none(), "{why:?}");
    let (s, _) = c.classify(&vf("0000:3b:00.4", 0x8086, 0x154c, "0000:3b:00.0", None, 1));
    assert_eq!(s.unwrap().physical_network.as_deref(), Some("a"));
}

/// nova's JSON lines verbatim, with its tags, next to the TOML tables.
#[test]
fn nova_json_device_spec_lines_load_verbatim() {
    let c = Config::parse(
        r#"
nova_device_spec = [
  '{"address": "0000:3b:00.0", "physical_network": "p1", "trusted": "true", "managed": "no"}',
  '[{"vendor_id": "15b3", "product_id": "101e", "resource_class": "CUSTOM_X", "traits": "A,B", "one_time_use": "yes"}, {"devname": "", "address": {"bus": "5e"}}]',
]
"#,
        Path::new("t.toml"),
    )
    .unwrap();
    assert_eq!(c.device_specs.len(), 3);
    let s = &c.device_specs[0];
    assert!(s.trusted);
    assert_eq!(s.managed, Some(false));
    let s = &c.device_specs[1];
    assert_eq!(s.resource_class.as_deref(), Some("CUSTOM_X"));
    assert_eq!(s.traits, ["A", "B"]);
    assert!(s.one_time_use);
    assert!(c.device_specs[2].devname.is_none());
    let e = Config::parse(
        "nova_device_spec = ['{\"adress\": \"*\"}']\n",
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("t.toml:1:21: nova_device_spec[0]: unknown key `adress`"),
        "{e}"
    );
}
