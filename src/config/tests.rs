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
address = "*:3b:00.*"
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
    // A PF address glob matches its VFs.
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
    let s = e.to_string();
    assert!(s.starts_with("/etc/v.toml:1:"), "{s}");
    assert!(s.contains("device_spec[0].vendor_id"), "{s}");
    let e = Config::parse("[[device_spec]]\nbogus = 1\n", Path::new("v.toml")).unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
    assert!(e.to_string().starts_with("v.toml:2:"), "{e}");
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
    assert!(e.to_string().contains("device_spec[0].address.bus"), "{e}");
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
