//! A store slot that checks out (length and checksum right) but whose records are bad: a
//! truncated document, a wrong type, an unknown format version, an invalid MAC, PCI address,
//! driver name or phase inside a record, a broken whole-device record, a document that is not
//! an object. Every command that reads the store must refuse it with one line naming the slot
//! file, the record (by VIF and VF) and what is wrong in the store's terms, exit non-zero, and
//! change nothing: neither the store nor the simulated kernel (not even an attempted write).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const VIF: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";
const VIF2: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d02";
/// What `allocate --physnet physnet3` takes first on nfv-host: VF 1 of enp175s0f0.
const HELD_VF: &str = "0000:af:10.2";
const QUICK: Duration = Duration::from_secs(20);

/// The store's slot checksum (FNV-1a 64), so the slot is accepted and only its records are
/// wrong.
fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Replace the records of slot `path` with `body` (header and checksum kept valid).
fn write_body(path: &Path, body: &[u8]) {
    let buf = std::fs::read(path).unwrap();
    let nl = buf.iter().position(|b| *b == b'\n').unwrap();
    let header: Value = serde_json::from_slice(&buf[..nl]).unwrap();
    let header = json!({"seq": header["seq"], "len": body.len(), "hash": fnv1a(body)});
    let mut out = serde_json::to_vec(&header).unwrap();
    out.push(b'\n');
    out.extend_from_slice(body);
    std::fs::write(path, out).unwrap();
}

fn body_of(path: &Path) -> Vec<u8> {
    let buf = std::fs::read(path).unwrap();
    let nl = buf.iter().position(|b| *b == b'\n').unwrap();
    buf[nl + 1..].to_vec()
}

/// A damaged copy of the records: `edit` applied to them as JSON, or raw bytes.
enum Damage {
    Edit(fn(&mut Value)),
    Truncate,
    Raw(&'static str),
}

/// One way the records can be wrong, and what the error must say about it.
struct Bad {
    what: &'static str,
    damage: Damage,
    needles: Vec<String>,
}

fn bad_records() -> Vec<Bad> {
    let rec = "allocation 0 (VIF 6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01, VF 0000:af:10.2)";
    vec![
        Bad {
            what: "truncated JSON",
            damage: Damage::Truncate,
            needles: vec![
                "not valid JSON (EOF while parsing".into(),
                "in allocation 0".into(),
            ],
        },
        Bad {
            what: "wrong type",
            damage: Damage::Edit(|b| b["allocations"][0]["vf_index"] = "x".into()),
            needles: vec![format!(
                "{rec}, field vf_index: invalid type: string \"x\", expected u32"
            )],
        },
        Bad {
            what: "unknown version",
            damage: Damage::Edit(|b| b["version"] = 2.into()),
            needles: vec!["store format version 2, this vifman reads version 1 only".into()],
        },
        Bad {
            what: "invalid MAC",
            damage: Damage::Edit(|b| b["allocations"][0]["original"]["vf"]["mac"] = "zz".into()),
            needles: vec![format!(
                "{rec}, field original.vf.mac: invalid MAC address \"zz\""
            )],
        },
        Bad {
            what: "invalid PCI address",
            damage: Damage::Edit(|b| b["allocations"][0]["pf"] = "0000:zz:00.0".into()),
            needles: vec![format!(
                "{rec}, field pf: invalid PCI address \"0000:zz:00.0\""
            )],
        },
        Bad {
            what: "invalid driver",
            damage: Damage::Edit(|b| {
                b["allocations"][0]["original"]["driver"] = "../../evil".into()
            }),
            needles: vec![format!(
                "{rec}, field original.driver: \"../../evil\" is not a driver name: contains '/'"
            )],
        },
        Bad {
            what: "unknown phase",
            damage: Damage::Edit(|b| b["allocations"][0]["phase"] = "zombie".into()),
            needles: vec!["field phase: unknown variant `zombie`".into()],
        },
        Bad {
            what: "a bad whole-device record",
            damage: Damage::Edit(|b| b["devices"] = json!([{"id": "nope"}])),
            needles: vec![
                "whole-device allocation 0 (nope), field id: \"nope\" is not a UUID".into(),
            ],
        },
        Bad {
            what: "not an object",
            damage: Damage::Raw("[]"),
            needles: vec!["the records are an array, not a JSON object".into()],
        },
    ]
}

/// Every command that reads the store, with the arguments that make it read it.
fn commands(dir: &Path) -> Vec<Vec<String>> {
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "[[pf]]\nnetdev = \"enp59s0f0\"\nup = true\n").unwrap();
    let p = policy.display().to_string();
    let words: Vec<Vec<&str>> = vec![
        vec!["allocations"],
        vec![
            "allocate",
            "--physnet",
            "physnet3",
            "--instance",
            INST,
            "--vif-id",
            VIF2,
            "--vlan",
            "7",
        ],
        vec!["release", "--vif-id", VIF],
        vec!["reconcile"],
        vec!["reconcile", "--repair"],
        vec!["apply", "--boot", "--policy", &p],
        vec!["vf", "set", "enp175s0f0", "1", "vlan", "5", "--force"],
        vec!["vf", "set", "enp59s0f0", "3", "vlan", "5"],
        vec!["vf", "rate", "enp94s0f0np0", "1", "--max-tx-rate", "5"],
        vec!["vf", "show", "enp175s0f0", "1"],
        vec!["numvfs", "enp59s0f0", "4"],
        vec!["eswitch", "enp94s0f0np0", "legacy"],
        vec!["inventory"],
        vec!["pools"],
        vec!["health"],
    ];
    // The fleet side: the one-shot metrics and the device plugin's first snapshot (it stops
    // before it registers anything with kubelet).
    let kubelet = dir.join("kubelet");
    std::fs::create_dir_all(&kubelet).unwrap();
    let kubelet = kubelet.display().to_string();
    let mut words = words;
    if cfg!(feature = "fleet") {
        words.push(vec!["metrics"]);
        words.push(vec!["device-plugin", "--kubelet-dir", &kubelet]);
    }
    words
        .into_iter()
        .map(|w| w.into_iter().map(String::from).collect())
        .collect()
}

#[test]
fn every_command_refuses_bad_records_naming_file_record_and_field() {
    let sim = SimEnv::shipped().with_limit(QUICK);
    let o = sim.allocate_vif("physnet3", VIF, &["--vlan", "100"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // allocate wrote two generations: pending (state.a), active (state.b, the newest).
    let slot = sim.state.join("state.b");
    let good = body_of(&slot);
    let commands = commands(sim.dir());
    let rt = Runtime::new(&sim.state);
    let mut failures = vec![];
    for bad in bad_records() {
        let body = match bad.damage {
            Damage::Edit(edit) => {
                let mut v: Value = serde_json::from_slice(&good).unwrap();
                edit(&mut v);
                serde_json::to_vec(&v).unwrap()
            }
            Damage::Truncate => good[..good.len() / 2].to_vec(),
            Damage::Raw(s) => s.as_bytes().to_vec(),
        };
        write_body(&slot, &body);
        let before = tree_digest(&sim.state);
        let slot_name = slot.display().to_string();
        let mut check = |who: String, ok: bool, err: &str, lines: usize| {
            let mut why = vec![];
            if ok {
                why.push("succeeded".to_string());
            }
            if lines != 1 {
                why.push(format!("{lines} lines"));
            }
            if err.contains("panicked at") {
                why.push("panicked".into());
            }
            for n in
                std::iter::once(slot_name.as_str()).chain(bad.needles.iter().map(String::as_str))
            {
                if !err.contains(n) {
                    why.push(format!("does not say {n:?}"));
                }
            }
            if tree_digest(&sim.state) != before {
                why.push("changed the state dir".into());
            }
            if !why.is_empty() {
                failures.push(format!("{}: {who}: {}\n  {err}", bad.what, why.join(", ")));
            }
        };
        for cmd in &commands {
            let mut args = vec![];
            // Subcommands take the host arguments after their own words.
            args.extend(cmd.iter().cloned());
            args.extend(sim.host());
            let o = Vifman::new(&args).limit(QUICK).output();
            let err = text(&o.stderr);
            check(cmd.join(" "), o.status.success(), &err, err.lines().count());
        }
        // The CNI plugin answers with its error object on stdout (code 103: the store).
        let del = rt.call(
            "DEL",
            &json!({"cniVersion": "1.0.0", "name": "n", "type": "vifman-cni", "deviceID": HELD_VF}),
            "c1",
            "net1",
            None,
            "",
        );
        let msg = del
            .out
            .as_ref()
            .map(|o| o["msg"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default();
        let code = del.out.as_ref().map(|o| o["code"].clone());
        let msg = match code {
            Some(c) if c == 103 => msg,
            c => format!("(code {c:?}, not 103) {msg}"),
        };
        check(
            "cni DEL".into(),
            del.ok || msg.starts_with("(code"),
            &msg,
            1,
        );
        if cannot_run_privileged().is_none() {
            let pod = Pod::new();
            let add = rt.call(
                "ADD",
                &json!({"cniVersion": "1.0.0", "name": "n", "type": "vifman-cni", "deviceID": "0000:af:10.4"}),
                "c2",
                "net1",
                Some(pod.path()),
                "",
            );
            let msg = add
                .out
                .as_ref()
                .map(|o| o["msg"].as_str().unwrap_or_default().to_string())
                .unwrap_or_default();
            check("cni ADD".into(), add.ok, &msg, 1);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The records as they were load again: only the damage was refused.
    write_body(&slot, &good);
    let o = sim.run(&["allocations", "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// The way out the error names: the undecodable slot moved aside, the other (older) slot is
/// used; with both moved aside the store is lost and the repair rebuilds it from the
/// hardware, re-recording the VF the allocation configured.
#[test]
fn the_way_out_of_a_bad_record_is_the_other_slot_then_the_repair() {
    let sim = SimEnv::shipped().with_limit(QUICK);
    let o = sim.allocate_vif("physnet3", VIF, &["--vlan", "100"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let break_slot = |name: &str| {
        let slot = sim.state.join(name);
        let mut v: Value = serde_json::from_slice(&body_of(&slot)).unwrap();
        v["allocations"][0]["original"]["vf"]["mac"] = "zz".into();
        write_body(&slot, &serde_json::to_vec(&v).unwrap());
    };
    let set_aside = |name: &str| {
        std::fs::rename(sim.state.join(name), sim.state.join(format!("{name}.bad"))).unwrap();
    };
    break_slot("state.b");
    let o = sim.run(&["allocations"], &[]);
    assert!(
        text(&o.stderr).contains("move that file aside to fall back to the other slot"),
        "{}",
        text(&o.stderr)
    );
    set_aside("state.b");
    let o = sim.run(&["allocations", "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["phase"], "pending", "{list}");
    break_slot("state.a");
    set_aside("state.a");
    let o = sim.run(&["reconcile", "--repair", "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = sim.run(&["allocations", "--json"], &[]);
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        list.as_array().unwrap().iter().any(|a| a["vf"] == HELD_VF),
        "{list}"
    );
}
