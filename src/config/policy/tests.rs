use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Policy, String> {
    Policy::parse(text, Path::new("p.toml"), true).map_err(|e| e.to_string())
}

const GOOD: &str = r#"
[[pf]]
address = "0000:3b:00.0"
numvfs = 8
drivers_autoprobe = true
mtu = 9000
up = true
manage_nm = true

[[pf.vf]]
vfs = "0-3"
driver = "kernel"
mac = "stable"
spoofchk = "off"

[[pf.vf]]
vfs = "2,4-5"
driver = "vfio-pci"
trust = true
link_state = "enable"
max_tx_rate = 1000

[[pf.vf]]
vfs = 7
mac = "02:00:00:00:00:07"

[[pf]]
serial = "00-1b-21-ff-ff-a0-b1-c2"
device = "8086:1592"
eswitch = "legacy"
"#;

#[test]
fn full_policy_parses_and_later_entries_win_per_key() {
    let p = parse(GOOD).unwrap();
    assert_eq!(p.pfs.len(), 2);
    let pf = &p.pfs[0];
    assert_eq!(pf.numvfs, Some(8));
    assert_eq!(pf.mtu, Some(9000));
    assert!(pf.manage_nm);
    let v2 = pf.for_vf(2).unwrap();
    assert_eq!(v2.driver, Some(VfDriver::VfioPci));
    assert_eq!(v2.mac, Some(MacPolicy::Stable));
    assert_eq!(v2.spoofchk, Some(false));
    assert_eq!(v2.trust, Some(true));
    assert!(pf.for_vf(6).is_none());
    assert!(matches!(
        pf.for_vf(7).unwrap().mac,
        Some(MacPolicy::Explicit(_))
    ));
    assert_eq!(p.pfs[1].select.device, Some((0x8086, 0x1592)));
    assert_eq!(
        p.pfs[1].eswitch,
        Some(crate::config::policy::Eswitch::Legacy)
    );
    let sw = parse("[[pf]]\naddress = \"0000:86:00.0\"\neswitch = \"switchdev\"\n").unwrap();
    assert_eq!(
        sw.pfs[0].eswitch,
        Some(crate::config::policy::Eswitch::Switchdev)
    );
    assert_eq!(pf.pos("numvfs").line, 4);
}

#[test]
fn errors_name_file_line_column_and_key() {
    let cases: &[(&str, &str)] = &[
        ("[[pf]]\naddress = \"0000:3b:00.0\"\nnumfvs = 2\n", "p.toml:3:1: pf[0].numfvs: unknown field"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\n[[pf.vf]]\nvfs = \"0-1\"\ndriver = \"vfio\"\n", "p.toml:5:10: pf[0].vf[0].driver: \"vfio\" is not a VF driver"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\neswitch = \"offload\"\n", "p.toml:3:11: pf[0].eswitch: \"offload\" is not an eswitch mode"),
        ("[[pf]]\nnumvfs = 2\n", "pf[0].address: a [[pf]] entry needs a selector"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\nnumvfs = 2\n[[pf.vf]]\nvfs = \"1-2\"\n", "p.toml:5:7: pf[0].vf[0].vfs: VF 2 does not exist with numvfs = 2"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\n[[pf.vf]]\nvfs = \"0-1\"\nmac = \"02:00:00:00:00:01\"\n", "pf[0].vf[0].mac: an explicit MAC cannot go to 2 VFs"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\n[[pf.vf]]\nvfs = \"3-1\"\n", "pf[0].vf[0].vfs: \"3-1\": range 3-1 is backwards"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\nmtu = 20\n", "p.toml:3:7: pf[0].mtu: 20 is out of range"),
        ("[[pf]]\ndevice = \"8086\"\n", "pf[0].device: \"8086\" is not vendor:device"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\n[[pf.vf]]\nvfs = 0\nlink_state = \"up\"\n", "pf[0].vf[0].link_state: \"up\" is not a link state"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\n[[pf.vf]]\nvfs = 0\nmin_tx_rate = 10\nmax_tx_rate = 5\n", "pf[0].vf[0].min_tx_rate: min_tx_rate 10 is above max_tx_rate 5"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\n[[pf.vf]]\nvfs = 0\nmac = \"01:00:00:00:00:01\"\n", "is not a unicast address"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\nup = \"maybe\"\n", "pf[0].up: \"maybe\" is not a boolean"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\n[[pf.vf]]\nvfs = 0\ndrvier = \"none\"\n", "p.toml:5:1: pf[0].vf[0].drvier: unknown field"),
        ("exclude = []\n", "unknown field `exclude`"),
        // A bad value's key is the one before its `=`, not the value serde backticks.
        ("[[pf]]\naddress = \"0000:3b:00.0\"\nnumvfs = \"four\"\n", "p.toml:3:10: pf[0].numvfs: invalid type: string \"four\", expected i64"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\nnumvfs = 99999999999999999999\n", "p.toml:3:10: pf[0].numvfs: invalid type: integer `99999999999999999999`"),
        ("[[pf]]\naddress = \"0000:3b:00.0\"\n[[pf.rate_nodes]]\nname = 5\n", "p.toml:4:8: pf[0].rate_nodes[0].name: invalid type: integer `5`, expected a string"),
    ];
    for (text, want) in cases {
        let e = parse(text).expect_err(text);
        assert!(e.contains(want), "{text:?}\n got: {e}\nwant: {want}");
    }
}

#[test]
fn embedded_in_vifman_toml_alongside_device_specs() {
    let text = "exclude = [\"eno1\"]\n[[device_spec]]\ndevname = \"x\"\nphysical_network = \"p\"\n[[pf]]\nnetdev = \"x\"\nnumvfs = 4\n";
    let c = crate::config::Config::parse(text, Path::new("v.toml")).unwrap();
    assert_eq!(c.policy.pfs.len(), 1);
    assert_eq!(c.policy.pfs[0].numvfs, Some(4));
    let bad = "[[pf]]\nnetdev = \"x\"\nnumvfs = -1\n";
    let e = crate::config::Config::parse(bad, Path::new("v.toml")).unwrap_err();
    assert!(
        e.to_string().starts_with("v.toml:3:10: pf[0].numvfs:"),
        "{e}"
    );
}
