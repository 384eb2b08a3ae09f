//! Encoders and decoders against byte vectors written out by hand from the uAPI layout
//! (nlattr: u16 len, u16 type, payload padded to 4), so a wrong number or padding shows.

use super::attr::*;
use super::model::*;
use super::msg;

/// One attribute as the kernel lays it out.
fn nla(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(data);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

fn genl(cmd: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![cmd, 1, 0, 0];
    for a in attrs {
        v.extend_from_slice(a);
    }
    v
}

fn handle_attrs(bus: &str, dev: &str) -> Vec<Vec<u8>> {
    vec![
        nla(1, format!("{bus}\0").as_bytes()),
        nla(2, format!("{dev}\0").as_bytes()),
    ]
}

fn nsim() -> DevHandle {
    DevHandle::new("netdevsim", "netdevsim10")
}

#[test]
fn family_lookup_request_and_reply() {
    // CTRL_CMD_GETFAMILY, version 1, CTRL_ATTR_FAMILY_NAME "devlink\0" (12 bytes, no pad).
    let want = [
        3u8, 1, 0, 0, 12, 0, 2, 0, b'd', b'e', b'v', b'l', b'i', b'n', b'k', 0,
    ];
    assert_eq!(msg::get_family(), want);
    let mut reply = genl(1, &[nla(2, b"devlink\0"), nla(1, &0x15u16.to_ne_bytes())]);
    assert_eq!(msg::family_id(&reply).unwrap(), 0x15);
    reply.truncate(4);
    assert!(msg::family_id(&reply).is_err());
}

#[test]
fn eswitch_set_encodes_handle_then_mode() {
    let got = msg::eswitch_set(&nsim(), &EswitchSet::mode(EswitchMode::Switchdev));
    let mut want = vec![30u8, 1, 0, 0];
    // "netdevsim\0" = 10 bytes -> nla_len 14, padded to 16.
    want.extend_from_slice(&[14, 0, 1, 0]);
    want.extend_from_slice(b"netdevsim\0\0\0");
    // "netdevsim10\0" = 12 bytes -> nla_len 16.
    want.extend_from_slice(&[16, 0, 2, 0]);
    want.extend_from_slice(b"netdevsim10\0");
    // DEVLINK_ATTR_ESWITCH_MODE (25), u16 1, padded.
    want.extend_from_slice(&[6, 0, 25, 0, 1, 0, 0, 0]);
    assert_eq!(got, want);
}

/// The handle attributes of `nsim()`, as written out in the test above.
fn nsim_handle_bytes() -> Vec<u8> {
    let mut v = vec![14, 0, 1, 0];
    v.extend_from_slice(b"netdevsim\0\0\0");
    v.extend_from_slice(&[16, 0, 2, 0]);
    v.extend_from_slice(b"netdevsim10\0");
    v
}

#[test]
fn eswitch_set_encodes_mode_inline_and_encap_in_one_request() {
    let set = EswitchSet {
        mode: Some(EswitchMode::Switchdev),
        inline_mode: Some(InlineMode::Transport),
        encap_mode: Some(EncapMode::Basic),
    };
    let mut want = vec![30u8, 1, 0, 0];
    want.extend(nsim_handle_bytes());
    // DEVLINK_ATTR_ESWITCH_MODE (25), u16 1, padded.
    want.extend_from_slice(&[6, 0, 25, 0, 1, 0, 0, 0]);
    // DEVLINK_ATTR_ESWITCH_INLINE_MODE (26), u8 3 (transport), padded.
    want.extend_from_slice(&[5, 0, 26, 0, 3, 0, 0, 0]);
    // DEVLINK_ATTR_ESWITCH_ENCAP_MODE (62), u8 1 (basic), padded.
    want.extend_from_slice(&[5, 0, 62, 0, 1, 0, 0, 0]);
    assert_eq!(msg::eswitch_set(&nsim(), &set), want);
    assert_eq!(
        set.to_string(),
        "mode switchdev inline-mode transport encap-mode basic"
    );
}

#[test]
fn eswitch_set_encodes_inline_or_encap_alone_without_a_mode() {
    for (inline, byte) in [
        (InlineMode::None, 0u8),
        (InlineMode::Link, 1),
        (InlineMode::Network, 2),
        (InlineMode::Transport, 3),
    ] {
        let set = EswitchSet {
            inline_mode: Some(inline),
            ..EswitchSet::default()
        };
        let mut want = vec![30u8, 1, 0, 0];
        want.extend(nsim_handle_bytes());
        want.extend_from_slice(&[5, 0, 26, 0, byte, 0, 0, 0]);
        assert_eq!(msg::eswitch_set(&nsim(), &set), want, "{inline}");
        assert_eq!(InlineMode::from_kernel(byte), Some(inline));
    }
    for (encap, byte) in [(EncapMode::None, 0u8), (EncapMode::Basic, 1)] {
        let set = EswitchSet {
            encap_mode: Some(encap),
            ..EswitchSet::default()
        };
        let mut want = vec![30u8, 1, 0, 0];
        want.extend(nsim_handle_bytes());
        want.extend_from_slice(&[5, 0, 62, 0, byte, 0, 0, 0]);
        assert_eq!(msg::eswitch_set(&nsim(), &set), want, "{encap}");
        assert_eq!(EncapMode::from_kernel(byte), Some(encap));
    }
    assert_eq!(InlineMode::from_kernel(4), None);
    assert_eq!(EncapMode::from_kernel(2), None);
    // Nothing asked: the handle alone (the caller does not send it; the encoder stays total).
    let mut want = vec![30u8, 1, 0, 0];
    want.extend(nsim_handle_bytes());
    assert_eq!(msg::eswitch_set(&nsim(), &EswitchSet::default()), want);
}

#[test]
fn eswitch_reply_decodes_mode_and_optional_modes() {
    let mut a = handle_attrs("pci", "0000:3b:00.0");
    a.push(nla(25, &1u16.to_ne_bytes()));
    a.push(nla(26, &[0]));
    a.push(nla(62, &[1]));
    let e = msg::decode_eswitch(&genl(29, &a)).unwrap();
    assert_eq!(e.mode, EswitchMode::Switchdev);
    assert_eq!((e.inline_mode, e.encap_mode), (Some(0), Some(1)));
    // netdevsim: mode only.
    let mut a = handle_attrs("netdevsim", "netdevsim10");
    a.push(nla(25, &0u16.to_ne_bytes()));
    let e = msg::decode_eswitch(&genl(29, &a)).unwrap();
    assert_eq!(e.mode, EswitchMode::Legacy);
    assert_eq!(e.inline_mode, None);
    // No mode at all, or an unknown one: an error, not a guess.
    assert!(msg::decode_eswitch(&genl(29, &handle_attrs("pci", "x"))).is_err());
    let mut a = handle_attrs("pci", "x");
    a.push(nla(25, &7u16.to_ne_bytes()));
    assert!(msg::decode_eswitch(&genl(29, &a)).is_err());
}

/// A VF representor port as netdevsim reports it in switchdev mode (port 128+N, pcivf).
#[test]
fn port_dump_part_decodes_a_vf_representor() {
    let mut a = handle_attrs("netdevsim", "netdevsim10");
    a.push(nla(3, &129u32.to_ne_bytes()));
    a.push(nla(4, &2u16.to_ne_bytes())); // type eth
    a.push(nla(6, &7u32.to_ne_bytes()));
    a.push(nla(7, b"eth5\0"));
    a.push(nla(77, &4u16.to_ne_bytes()));
    a.push(nla(150, &0u32.to_ne_bytes()));
    a.push(nla(127, &0u16.to_ne_bytes()));
    a.push(nla(128, &1u16.to_ne_bytes()));
    a.push(nla(149, &[0]));
    let p = msg::decode_port(&genl(3, &a)).unwrap();
    assert_eq!(p.dev, nsim());
    assert_eq!(p.index, 129);
    assert_eq!(p.flavour, PortFlavour::PciVf);
    assert_eq!(
        (p.pfnum, p.vfnum, p.controller),
        (Some(0), Some(1), Some(0))
    );
    assert_eq!(p.netdev.as_deref(), Some("eth5"));
    assert_eq!(p.netdev_ifindex, Some(7));
    assert!(!p.external);
    assert_eq!(p.function, None);
}

/// An mlx5-style port with a function block (hw_addr, state, opstate): the nest with
/// NLA_F_NESTED set must decode.
#[test]
fn port_function_block_decodes() {
    let mut f = nla(1, &[0x02, 0, 0, 0, 0, 0x01]);
    f.extend(nla(2, &[1]));
    f.extend(nla(3, &[0]));
    let mut a = handle_attrs("pci", "0000:3b:00.0");
    a.push(nla(3, &65537u32.to_ne_bytes()));
    a.push(nla(77, &3u16.to_ne_bytes()));
    a.push(nla(145 | 0x8000, &f));
    let p = msg::decode_port(&genl(3, &a)).unwrap();
    assert_eq!(p.flavour, PortFlavour::PciPf);
    let f = p.function.unwrap();
    assert_eq!(f.hw_addr.as_deref(), Some("02:00:00:00:00:01"));
    assert_eq!(f.state.as_deref(), Some("active"));
    assert_eq!(f.opstate.as_deref(), Some("detached"));
}

/// `devlink port function set pci/0000:3b:00.0/2 hw_addr 02:00:00:00:00:01 state active`
/// as iproute2 encodes it: handle, port index, then the nest (NLA_F_NESTED) with hw_addr
/// (6 bytes, padded) and state (u8, padded). netdevsim answers EOPNOTSUPP to this, so the
/// encoding is tested here only.
#[test]
fn port_function_set_encoding() {
    let dev = DevHandle::new("pci", "0000:3b:00.0");
    let got = msg::port_function_set(&dev, 2, Some([2, 0, 0, 0, 0, 1]), Some(FnState::Active));
    let mut want = vec![6u8, 1, 0, 0];
    want.extend_from_slice(&[8, 0, 1, 0]);
    want.extend_from_slice(b"pci\0");
    want.extend_from_slice(&[17, 0, 2, 0]);
    want.extend_from_slice(b"0000:3b:00.0\0\0\0\0");
    want.extend_from_slice(&[8, 0, 3, 0, 2, 0, 0, 0]);
    // Nest: 4 + (4+6+2 pad) + (4+1+3 pad) = 24; type 145 | NLA_F_NESTED = 0x8091.
    want.extend_from_slice(&[24, 0, 0x91, 0x80]);
    want.extend_from_slice(&[10, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 0]);
    want.extend_from_slice(&[5, 0, 2, 0, 1, 0, 0, 0]);
    assert_eq!(got, want);
    // state only
    let got = msg::port_function_set(&dev, 2, None, Some(FnState::Inactive));
    assert_eq!(
        &got[got.len() - 12..],
        &[12, 0, 0x91, 0x80, 5, 0, 2, 0, 0, 0, 0, 0]
    );
}

/// hw_addr only: what the engine sends to a VF port that reports no state (mlx5, ice VF
/// ports), `devlink port function set pci/0000:3b:00.0/2 hw_addr 02:00:00:00:00:01`.
#[test]
fn port_function_set_hw_addr_only_encoding() {
    let dev = DevHandle::new("pci", "0000:3b:00.0");
    let got = msg::port_function_set(&dev, 2, Some([2, 0, 0, 0, 0, 1]), None);
    // Nest: 4 + (4+6+2 pad) = 16, and nothing after it.
    assert_eq!(
        &got[got.len() - 16..],
        &[16, 0, 0x91, 0x80, 10, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 0]
    );
    assert_eq!(
        &got[got.len() - 24..got.len() - 16],
        &[8, 0, 3, 0, 2, 0, 0, 0]
    );
}

/// The port dump's state decodes to the typed state the engine saves and restores, and the
/// kernel numbers round-trip.
#[test]
fn port_function_state_is_typed() {
    let f = PortFunction {
        hw_addr: Some("02:00:00:00:00:01".into()),
        state: Some("inactive".into()),
        opstate: None,
    };
    assert_eq!(f.fn_state(), Some(FnState::Inactive));
    assert_eq!(PortFunction::default().fn_state(), None);
    for s in [FnState::Active, FnState::Inactive] {
        assert_eq!(FnState::from_kernel(s.to_kernel()), Some(s));
        assert_eq!(s.to_string().parse::<FnState>(), Ok(s));
    }
    assert_eq!(FnState::from_kernel(7), None);
    assert!("up".parse::<FnState>().is_err());
}

#[test]
fn rate_requests_encode_leaf_node_parent() {
    let dev = nsim();
    let change = RateChange {
        tx_share: Some(mbit_to_bytes(10)),
        tx_max: Some(mbit_to_bytes(100)),
        parent: None,
    };
    let got = msg::rate_set(&dev, &RateObject::Leaf { port: 128 }, &change, false);
    let mut want = genl(75, &handle_attrs("netdevsim", "netdevsim10"));
    want.extend(nla(3, &128u32.to_ne_bytes()));
    want.extend(nla(166, &1_250_000u64.to_ne_bytes()));
    want.extend(nla(167, &12_500_000u64.to_ne_bytes()));
    assert_eq!(got, want);

    let noparent = RateChange {
        parent: Some(String::new()),
        ..Default::default()
    };
    let got = msg::rate_set(&dev, &RateObject::Leaf { port: 129 }, &noparent, false);
    assert!(got.ends_with(&nla(169, b"\0")));

    let got = msg::rate_set(
        &dev,
        &RateObject::Node {
            name: "grp1".into(),
        },
        &RateChange::default(),
        true,
    );
    let mut want = genl(76, &handle_attrs("netdevsim", "netdevsim10"));
    want.extend(nla(168, b"grp1\0"));
    assert_eq!(got, want);
    let mut want = genl(77, &handle_attrs("netdevsim", "netdevsim10"));
    want.extend(nla(168, b"grp1\0"));
    assert_eq!(msg::rate_del(&dev, "grp1"), want);
}

#[test]
fn rate_dump_parts_decode() {
    let mut a = handle_attrs("netdevsim", "netdevsim10");
    a.push(nla(3, &128u32.to_ne_bytes()));
    a.push(nla(165, &0u16.to_ne_bytes()));
    a.push(nla(166, &1_250_000u64.to_ne_bytes()));
    a.push(nla(167, &12_500_000u64.to_ne_bytes()));
    a.push(nla(169, b"grp1\0"));
    let r = msg::decode_rate(&genl(74, &a)).unwrap();
    assert_eq!(r.object, RateObject::Leaf { port: 128 });
    assert_eq!(
        (bytes_to_mbit(r.tx_share), bytes_to_mbit(r.tx_max)),
        (10, 100)
    );
    assert_eq!(r.parent.as_deref(), Some("grp1"));

    let mut a = handle_attrs("netdevsim", "netdevsim10");
    a.push(nla(165, &1u16.to_ne_bytes()));
    a.push(nla(168, b"grp1\0"));
    a.push(nla(167, &62_500_000u64.to_ne_bytes()));
    let r = msg::decode_rate(&genl(74, &a)).unwrap();
    assert_eq!(
        r.object,
        RateObject::Node {
            name: "grp1".into()
        }
    );
    assert_eq!(r.parent, None);
    // A leaf without its port index is malformed.
    let mut a = handle_attrs("netdevsim", "netdevsim10");
    a.push(nla(165, &0u16.to_ne_bytes()));
    assert!(msg::decode_rate(&genl(74, &a)).is_err());
}

#[test]
fn truncated_attributes_are_errors_not_panics() {
    let mut a = genl(3, &handle_attrs("pci", "x"));
    a.extend_from_slice(&[40, 0, 3, 0, 1, 2]);
    assert!(msg::decode_port(&a).is_err());
    assert!(msg::decode_port(&[1, 2]).is_err());
    assert!(parse(&[2, 0, 1, 0]).is_err());
}

#[test]
fn handles_and_modes_parse() {
    assert_eq!(
        "netdevsim/netdevsim10".parse::<DevHandle>().unwrap(),
        nsim()
    );
    assert!("pci".parse::<DevHandle>().is_err());
    assert!("pci/a/b".parse::<DevHandle>().is_err());
    assert_eq!(
        "switchdev".parse::<EswitchMode>().unwrap(),
        EswitchMode::Switchdev
    );
    assert!("SwitchDev".parse::<EswitchMode>().is_err());
}

/// netdevsim's `dummy` reporter after `break_health` with recovery failing, laid out as
/// `devlink_nl_health_reporter_fill` does: handle, then the reporter nest (started without
/// NLA_F_NESTED) holding name, state u8, the two u64 counters, grace period, auto flags.
#[test]
fn health_reporter_dump_part_decodes() {
    let mut n = nla(115, b"dummy\0");
    n.extend(nla(116, &[1]));
    n.extend(nla(117, &1u64.to_ne_bytes()));
    n.extend(nla(118, &0u64.to_ne_bytes()));
    n.extend(nla(120, &0u64.to_ne_bytes()));
    n.extend(nla(121, &[1]));
    n.extend(nla(141, &[1]));
    let mut a = handle_attrs("netdevsim", "netdevsim11");
    a.push(nla(114, &n));
    let r = msg::decode_health_reporter(&genl(52, &a)).unwrap();
    assert_eq!(r.dev, DevHandle::new("netdevsim", "netdevsim11"));
    assert_eq!((r.port, r.name.as_str()), (None, "dummy"));
    assert_eq!(r.state, ReporterState::Error);
    assert_eq!((r.error_count, r.recover_count), (1, 0));
    assert_eq!(r.grace_period_ms, Some(0));
    assert_eq!((r.auto_recover, r.auto_dump), (Some(true), Some(true)));

    // An mlx5-style port reporter (port index at the top level), healthy after 3 errors
    // and 3 recoveries, nest flagged NLA_F_NESTED, no recover op (no grace period).
    let mut n = nla(115, b"tx\0");
    n.extend(nla(116, &[0]));
    n.extend(nla(117, &3u64.to_ne_bytes()));
    n.extend(nla(118, &3u64.to_ne_bytes()));
    let mut a = handle_attrs("pci", "0000:3b:00.0");
    a.push(nla(3, &65535u32.to_ne_bytes()));
    a.push(nla(114 | 0x8000, &n));
    let r = msg::decode_health_reporter(&genl(52, &a)).unwrap();
    assert_eq!((r.port, r.name.as_str()), (Some(65535), "tx"));
    assert_eq!(r.state, ReporterState::Healthy);
    assert_eq!((r.error_count, r.recover_count), (3, 3));
    assert_eq!((r.grace_period_ms, r.auto_recover), (None, None));

    // A state the uAPI does not name yet is kept, not folded into healthy.
    let mut n = nla(115, b"fw\0");
    n.extend(nla(116, &[7]));
    let mut a = handle_attrs("pci", "x");
    a.push(nla(114, &n));
    let r = msg::decode_health_reporter(&genl(52, &a)).unwrap();
    assert_eq!(r.state, ReporterState::Other(7));
}

#[test]
fn health_reporter_without_nest_name_or_state_is_an_error() {
    assert!(msg::decode_health_reporter(&genl(52, &handle_attrs("pci", "x"))).is_err());
    let mut a = handle_attrs("pci", "x");
    a.push(nla(114, &nla(116, &[1])));
    assert!(msg::decode_health_reporter(&genl(52, &a)).is_err());
    let mut a = handle_attrs("pci", "x");
    a.push(nla(114, &nla(115, b"tx\0")));
    assert!(msg::decode_health_reporter(&genl(52, &a)).is_err());
}

/// `devlink health show` (the dump): cmd 52, no attributes.
#[test]
fn health_reporter_dump_encoding() {
    assert_eq!(msg::bare(CMD_HEALTH_REPORTER_GET), vec![52u8, 1, 0, 0]);
}
