//! The pure parts of `vf set`: parsing `ip link` words and turning them into knobs.

use super::*;

fn w(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn state() -> VfState {
    serde_json::from_value(serde_json::json!({
        "vf": 1, "mac": "02:00:00:00:00:01", "vlan": 10, "qos": 2, "vlan_proto": "802.1Q",
        "spoofchk": true, "trust": false, "link_state": "auto",
        "min_tx_rate": 0, "max_tx_rate": 100
    }))
    .expect("VfState from JSON")
}

#[test]
fn parses_every_ip_link_word() {
    let s = VfSettings::parse(&w(
        "mac 02:11:22:33:44:55 vlan 200 qos 3 proto 802.1ad spoofchk off trust on state disable min_tx_rate 10 max_tx_rate 100",
    ))
    .unwrap();
    assert_eq!(s.mac.unwrap().to_string(), "02:11:22:33:44:55");
    assert_eq!(s.vlan.unwrap().get(), 200);
    assert_eq!((s.qos, s.proto), (Some(3), Some(VlanProto::Dot1Ad)));
    assert_eq!((s.spoofchk, s.trust), (Some(false), Some(true)));
    assert_eq!(s.state, Some(VfLinkState::Disable));
    assert_eq!((s.min_tx_rate, s.max_tx_rate), (Some(10), Some(100)));
}

#[test]
fn bad_words_are_named() {
    for (words, needle) in [
        ("", "nothing to set"),
        ("mac", "has no value"),
        ("mac 01:00:5e:00:00:01", "multicast"),
        ("mac zz", "mac \"zz\""),
        ("vlan 4096", "vlan \"4096\""),
        ("qos 8", "0-7"),
        ("proto qinq", "802.1ad"),
        ("trust yes", "on or off"),
        ("state up", "auto, enable or disable"),
        ("max_tx_rate -1", "non-negative"),
        ("mtu 1500", "unknown VF setting \"mtu\""),
        ("trust on trust off", "given twice"),
    ] {
        let e = VfSettings::parse(&w(words)).unwrap_err();
        assert!(e.contains(needle), "{words:?}: {e}");
    }
}

#[test]
fn knobs_combine_with_current_state_in_kernel_order_and_skip_what_holds() {
    let now = state();
    // qos alone keeps the VLAN; max alone keeps min; trust already false is left out.
    let s = VfSettings::parse(&w("trust off qos 5 max_tx_rate 200 mac 02:00:00:00:00:09")).unwrap();
    let k = s.knobs(&now).unwrap();
    let d: Vec<String> = k.iter().map(Knob::describe).collect();
    assert_eq!(
        d,
        [
            "mac 02:00:00:00:00:09",
            "vlan 10 qos 5 proto 802.1Q",
            "min_tx_rate 0 max_tx_rate 200"
        ]
    );
    let s = VfSettings::parse(&w("min_tx_rate 300")).unwrap();
    assert!(s.knobs(&now).unwrap_err().contains("above max_tx_rate 100"));
    // Everything already as asked: nothing to do.
    let s = VfSettings::parse(&w("mac 02:00:00:00:00:01 spoofchk on")).unwrap();
    assert!(s.knobs(&now).unwrap().is_empty());
}
