//! vifman's devlink requests against iproute2's, as the VM guest recorded them with strace on
//! a real kernel (netdevsim; `tests/vm/guest/devlink-recorded.txt`, scenario
//! `devlink-recorded`). The scenario compares vifman's live requests with iproute2's there;
//! this test keeps the encoder honest between VM runs, and it is the only check of the port
//! function set request against a real sender, because netdevsim has no port-function ops
//! (vifman, seeing no function on the port, never sends that request to netdevsim).

use super::attr::*;
use super::model::*;
use super::msg;

const RECORDED: &str = include_str!("../../tests/vm/guest/devlink-recorded.txt");

/// The recording's canonical form (see `canon` in the scenario): every byte the kernel reads,
/// with the genetlink version byte as `VV`, attribute padding as `00` and a nest as its length,
/// its type without NLA_F_NESTED and `N` (iproute2 6.1 sends version 0 and stale padding and
/// does not flag nests; the kernel ignores all three).
fn canon(payload: &[u8]) -> String {
    fn walk(b: &[u8], out: &mut Vec<String>) {
        let mut i = 0;
        while i + 4 <= b.len() {
            let len = u16::from_le_bytes([b[i], b[i + 1]]) as usize;
            let ty = u16::from_le_bytes([b[i + 2], b[i + 3]]);
            assert!(len >= 4 && i + len <= b.len(), "bad attribute at {i}");
            let padded = (len + 3) & !3;
            if ty & 0x8000 != 0 || ty & 0x7fff == ATTR_PORT_FUNCTION {
                let t = ty & 0x7fff;
                out.extend([b[i], b[i + 1], t as u8, (t >> 8) as u8].map(|x| format!("{x:02x}")));
                out.push("N".into());
                walk(&b[i + 4..i + len], out);
            } else {
                out.extend(b[i..i + len].iter().map(|x| format!("{x:02x}")));
            }
            out.extend((len..padded.min(b.len() - i)).map(|_| "00".to_string()));
            i += padded;
        }
    }
    let mut out = vec![format!("{:02x}", payload[0]), "VV".into()];
    out.extend(payload[2..4].iter().map(|x| format!("{x:02x}")));
    walk(&payload[4..], &mut out);
    out.join(" ")
}

#[test]
fn requests_match_iproute2_recorded_on_a_real_kernel() {
    const DO: &str = "NLM_F_REQUEST|NLM_F_ACK";
    const DUMP: &str = "NLM_F_REQUEST|0x300";
    let dev = DevHandle::new("netdevsim", "netdevsim12");
    let vf0_port = 128; // netdevsim's port index of VF 0 in switchdev mode
    let mine: Vec<(&str, &str, Vec<u8>)> = vec![
        ("eswitch get", DO, msg::on_dev(CMD_ESWITCH_GET, &dev)),
        (
            "eswitch set mode",
            DO,
            msg::eswitch_set(
                &dev,
                &EswitchSet {
                    mode: Some(EswitchMode::Switchdev),
                    ..Default::default()
                },
            ),
        ),
        ("port dump", DUMP, msg::bare(CMD_PORT_GET)),
        (
            "rate set leaf",
            DO,
            msg::rate_set(
                &dev,
                &RateObject::Leaf { port: vf0_port },
                &RateChange {
                    tx_share: Some(10_000_000 / 8),
                    tx_max: Some(100_000_000 / 8),
                    parent: None,
                },
                false,
            ),
        ),
        ("rate dump", DUMP, msg::bare(CMD_RATE_GET)),
        ("health dump", DUMP, msg::bare(CMD_HEALTH_REPORTER_GET)),
        (
            "port function set",
            DO,
            msg::port_function_set(
                &dev,
                vf0_port,
                Some([0x02, 0, 0, 0, 0x0a, 0x01]),
                Some(FnState::Active),
            ),
        ),
    ];
    let recorded: Vec<(&str, &str)> = RECORDED
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once('|').expect("NAME|flags payload"))
        .collect();
    assert_eq!(recorded.len(), mine.len(), "one recorded line per request");
    for (name, flags, bytes) in &mine {
        let (_, rec) = recorded
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name}: not in the recording"));
        assert_eq!(*rec, format!("{flags} {}", canon(bytes)), "{name}");
    }
}
