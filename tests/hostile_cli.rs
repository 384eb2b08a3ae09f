//! The newer command surfaces against hostile arguments, through the real `vifman` binary on
//! a simulated nfv-host: `rate-node`, `vf rate`, `vf set`, `eswitch`, `numvfs`, `apply
//! --policy` and `vif validate/convert`. Each case must fail cleanly: the documented exit
//! code (2 for what clap refuses, 1 for a refused request), one error line naming the bad
//! value or key, no panic, and the simulated host and the store exactly as they were (for
//! the few requests the simulated kernel itself refuses, everything but its request journal).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// Every command here answers at once; 20 s means it hung.
const QUICK: Duration = Duration::from_secs(20);

/// How a case must end.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    /// clap's usage error: exit 2, its first line `error: ...`.
    Usage,
    /// Refused before the kernel was asked: exit 1, one line; nothing changed at all.
    Refused,
    /// The simulated kernel refused the request: exit 1, one line; only the request
    /// journal (which logs every attempt) grew.
    KernelRefused,
}

struct Case {
    args: Vec<String>,
    /// The command takes the simulated host's arguments.
    host: bool,
    end: End,
    needles: Vec<String>,
}

/// `{dir}` in a case's words is the test's temp dir (policy and VIF files live there).
fn case(args: &[&str], end: End, needles: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        host: true,
        end,
        needles: needles.iter().map(|s| s.to_string()).collect(),
    }
}

/// A case for a command that reads no host (`vif ...`).
fn offline(args: &[&str], end: End, needles: &[&str]) -> Case {
    Case {
        host: false,
        ..case(args, end, needles)
    }
}

const SWITCHDEV_PF: &str = "enp94s0f0np0";
const LEGACY_PF: &str = "enp59s0f0";
const VIF: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";

/// The simulated host every case runs on: a store holding one allocation (VF 1 of
/// enp175s0f0), and on the switchdev PF rate node `seed` (max 100 Mbit/s) with `child`
/// parented to it.
fn host() -> SimEnv {
    let sim = SimEnv::shipped().with_limit(QUICK);
    for (cmd, extra) in [
        (
            "allocate",
            &[
                "--physnet",
                "physnet3",
                "--instance",
                INST,
                "--vif-id",
                VIF,
                "--vlan",
                "100",
            ][..],
        ),
        (
            "rate-node",
            &["add", SWITCHDEV_PF, "seed", "--max-tx-rate", "100"][..],
        ),
        (
            "rate-node",
            &["add", SWITCHDEV_PF, "child", "--parent", "seed"][..],
        ),
    ] {
        let mut a = vec![cmd.to_string()];
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(sim.host());
        let o = Vifman::new(&a).limit(QUICK).output();
        assert!(o.status.success(), "setup {a:?}: {}", text(&o.stderr));
    }
    sim
}

/// The policy files and VIF documents the cases name, written to `dir`.
fn write_inputs(dir: &Path) {
    let files: &[(&str, &str)] = &[
        ("malformed.toml", "[[pf]\nnetdev = \"x\"\n"),
        ("unknown.toml", "[[pf]]\nnetdev = \"enp59s0f0\"\nnumfvs = 4\n"),
        ("wrongtype.toml", "[[pf]]\nnetdev = \"enp59s0f0\"\nnumvfs = \"four\"\n"),
        ("huge.toml", "[[pf]]\nnetdev = \"enp59s0f0\"\nnumvfs = 99999999999999999999\n"),
        ("negative.toml", "[[pf]]\nnetdev = \"enp59s0f0\"\nnumvfs = -3\n"),
        ("toomany.toml", "[[pf]]\nnetdev = \"enp59s0f0\"\nnumvfs = 1000\n"),
        (
            "duplicate.toml",
            "[[pf]]\naddress = \"0000:3b:00.0\"\nnumvfs = 4\n[[pf]]\nnetdev = \"enp59s0f0\"\nnumvfs = 6\n",
        ),
        (
            "cycle.toml",
            "[[pf]]\nnetdev = \"enp94s0f0np0\"\n[[pf.rate_nodes]]\nname = \"a\"\nparent = \"b\"\n[[pf.rate_nodes]]\nname = \"b\"\nparent = \"a\"\n",
        ),
        (
            "selfparent.toml",
            "[[pf]]\nnetdev = \"enp94s0f0np0\"\n[[pf.rate_nodes]]\nname = \"a\"\nparent = \"a\"\n",
        ),
        (
            "twice.toml",
            "[[pf]]\nnetdev = \"enp94s0f0np0\"\n[[pf.rate_nodes]]\nname = \"a\"\n[[pf.rate_nodes]]\nname = \"a\"\n",
        ),
        (
            "nodename.toml",
            "[[pf]]\nnetdev = \"enp94s0f0np0\"\n[[pf.rate_nodes]]\nname = \"a/b\"\n",
        ),
        (
            "vfrange.toml",
            "[[pf]]\nnetdev = \"enp59s0f0\"\n[[pf.vf]]\nvfs = \"20-21\"\ntrust = true\n",
        ),
        (
            "multicast.toml",
            "[[pf]]\nnetdev = \"enp59s0f0\"\n[[pf.vf]]\nvfs = 0\nmac = \"01:00:5e:00:00:01\"\n",
        ),
        ("badname.toml", "[[pf]]\nnetdev = \"eno1/..\"\nnumvfs = 2\n"),
        ("nul.json", "\0\0"),
        ("list.json", "[1,2,3]"),
        ("empty.json", ""),
    ];
    for (name, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
    }
    std::fs::write(dir.join("binary.toml"), b"\xff\xfe[[pf]]\n").unwrap();
    std::fs::write(
        dir.join("deep.json"),
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
    )
    .unwrap();
    let good = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/vifs/hostdev.json"
    ))
    .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["versioned_object.data"]["id"] = 12345.into();
    std::fs::write(dir.join("wrongtype.json"), v.to_string()).unwrap();
    let text = v.to_string().replace("12345", "1e999999");
    std::fs::write(dir.join("bignum.json"), text).unwrap();
    std::fs::write(dir.join("truncated.json"), &good[..good.len() / 2]).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["versioned_object.version"] = "9.9".into();
    std::fs::write(dir.join("version.json"), v.to_string()).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/vifs/hostdev.json"),
        dir.join("hostdev.json"),
    )
    .unwrap();
}

fn cases() -> Vec<Case> {
    use End::*;
    let long = "n".repeat(65);
    let sw = SWITCHDEV_PF;
    let lg = LEGACY_PF;
    vec![
        // rate-node add|set|del
        case(&["rate-node", "add", sw, "a/b"], Refused, &["invalid rate node name \"a/b\": contains '/'"]),
        case(&["rate-node", "add", sw, ""], Refused, &["invalid rate node name \"\": empty"]),
        case(&["rate-node", "add", sw, &long], Refused, &["longer than 64 bytes"]),
        case(&["rate-node", "add", sw, "123"], Refused, &["\"123\": all digits"]),
        case(&["rate-node", "add", sw, "a b"], Refused, &["\"a b\": only letters, digits"]),
        case(&["rate-node", "add", sw, "a\nb"], Refused, &["\"a\\nb\""]),
        case(&["rate-node", "add", "nosuchpf", "g1"], Refused, &["nosuchpf has no devlink eswitch"]),
        case(&["rate-node", "add", "0000:99:00.0", "g1"], Refused, &["0000:99:00.0 has no devlink eswitch"]),
        case(&["rate-node", "add", lg, "g1"], Refused, &["enp59s0f0 has no devlink eswitch"]),
        case(&["rate-node", "add", sw, "seed"], Refused, &["seed"]),
        case(&["rate-node", "add", sw, "g1", "--min-tx-rate", "-5"], Usage, &["'-5'"]),
        case(&["rate-node", "add", sw, "g1", "--max-tx-rate", "99999999999"], Usage, &["99999999999 is not in 0..=4294967295"]),
        case(&["rate-node", "add", sw, "g1", "--max-tx-rate", "ten"], Usage, &["'ten'"]),
        case(&["rate-node", "add", sw, "g1", "--min-tx-rate", "100", "--max-tx-rate", "10"], Refused, &["min_tx_rate 100 Mbit/s is above max_tx_rate 10 Mbit/s"]),
        case(&["rate-node", "add", sw, "g1", "--parent", "g1"], Refused, &["no rate node g1"]),
        case(&["rate-node", "add", sw, "g1", "--parent", "nosuch"], Refused, &["no rate node nosuch"]),
        case(&["rate-node", "add", sw, "g1", "--parent", "x/y"], Refused, &["--parent: invalid rate node name \"x/y\""]),
        case(&["rate-node", "set", sw, "seed", "--parent", "child"], Refused, &["that node is below it (a cycle)"]),
        case(&["rate-node", "set", sw, "seed", "--parent", "seed"], Refused, &["seed"]),
        case(&["rate-node", "set", sw, "seed", "--min-tx-rate", "200"], Refused, &["min_tx_rate 200 Mbit/s is above max_tx_rate 100 Mbit/s (its current value)"]),
        case(&["rate-node", "set", sw, "nosuch", "--max-tx-rate", "10"], Refused, &["no rate node nosuch"]),
        case(&["rate-node", "del", sw, "nosuch"], Refused, &["no rate node nosuch"]),
        case(&["rate-node", "del", sw, "seed"], Refused, &["node child parented to it"]),
        case(&["rate-node", "del", sw, "a b"], Refused, &["invalid rate node name \"a b\""]),
        // vf rate
        case(&["vf", "rate", sw, "1", "--min-tx-rate", "100", "--max-tx-rate", "10"], Refused, &["VF 1 of enp94s0f0np0: rate leaf: min_tx_rate 100 Mbit/s is above max_tx_rate 10 Mbit/s"]),
        case(&["vf", "rate", sw, "99", "--max-tx-rate", "10"], Refused, &["VF 99 of enp94s0f0np0 has no devlink rate leaf"]),
        case(&["vf", "rate", sw, "1", "--parent", "nosuch"], Refused, &["no rate node nosuch"]),
        case(&["vf", "rate", sw, "1", "--parent", "a/b"], Refused, &["invalid rate node name \"a/b\""]),
        case(&["vf", "rate", sw, "-1", "--max-tx-rate", "10"], Usage, &["'-1'"]),
        case(&["vf", "rate", sw, "1", "--max-tx-rate", "4294967296"], Usage, &["4294967296 is not in 0..=4294967295"]),
        case(&["vf", "rate", sw, "1", "--parent", "seed", "--no-parent"], Usage, &["cannot be used with '--no-parent'"]),
        case(&["vf", "rate", lg, "1", "--max-tx-rate", "10"], Refused, &["enp59s0f0 has no devlink eswitch"]),
        // vf set: every knob with a bad value
        case(&["vf", "set", lg, "3", "mac", "01:00:5e:00:00:01"], Refused, &["mac 01:00:5e:00:00:01: a multicast address cannot be a VF's MAC"]),
        case(&["vf", "set", lg, "3", "mac", "ff:ff:ff:ff:ff:ff"], Refused, &["mac ff:ff:ff:ff:ff:ff: a multicast address"]),
        case(&["vf", "set", lg, "3", "mac", "zz:zz"], Refused, &["mac \"zz:zz\": invalid MAC address \"zz:zz\""]),
        case(&["vf", "set", lg, "3", "mac", "00:11:22:33:44"], Refused, &["invalid MAC address \"00:11:22:33:44\": fewer than six octets"]),
        case(&["vf", "set", lg, "3", "vlan", "4095"], Refused, &["vlan 4095: 4095 is reserved by 802.1Q"]),
        case(&["vf", "set", lg, "3", "vlan", "4096"], Refused, &["invalid VLAN id \"4096\": above 4095"]),
        case(&["vf", "set", lg, "3", "vlan", "-1"], Usage, &["'-1'"]),
        case(&["vf", "set", lg, "3", "vlan", "abc"], Refused, &["invalid VLAN id \"abc\""]),
        case(&["vf", "set", lg, "3", "qos", "8"], Refused, &["qos 8: the 802.1p priority is 0-7"]),
        case(&["vf", "set", lg, "3", "vlan", "10", "qos", "8"], Refused, &["qos 8"]),
        case(&["vf", "set", lg, "3", "proto", "802.1x"], Refused, &["proto \"802.1x\": expected 802.1Q or 802.1ad"]),
        case(&["vf", "set", lg, "3", "state", "foo"], Refused, &["state \"foo\": expected auto, enable or disable"]),
        case(&["vf", "set", lg, "3", "spoofchk", "maybe"], Refused, &["spoofchk \"maybe\": expected on or off"]),
        case(&["vf", "set", lg, "3", "trust", "1"], Refused, &["trust \"1\": expected on or off"]),
        case(&["vf", "set", lg, "3", "min_tx_rate", "100", "max_tx_rate", "10"], Refused, &["min_tx_rate 100 is above max_tx_rate 10"]),
        case(&["vf", "set", lg, "3", "min_tx_rate", "99999999999"], Refused, &["min_tx_rate \"99999999999\": above 4294967295"]),
        case(&["vf", "set", lg, "3", "max_tx_rate", "-3"], Usage, &["'-3'"]),
        case(&["vf", "set", lg, "3", "max_tx_rate", "1.5"], Refused, &["max_tx_rate \"1.5\": not a non-negative integer"]),
        case(&["vf", "set", lg, "3", "mac"], Refused, &["\"mac\" has no value"]),
        case(&["vf", "set", lg, "3", "color", "red"], Refused, &["unknown VF setting \"color\""]),
        case(&["vf", "set", lg, "3", "vlan", "5", "vlan", "6"], Refused, &["vlan given twice"]),
        case(&["vf", "set", lg, "99", "vlan", "5"], Refused, &["enp59s0f0 has no VF 99"]),
        case(&["vf", "set", "nosuchpf", "3", "vlan", "5"], Refused, &["nosuchpf has no VF 3"]),
        case(&["vf", "set", "enp175s0f0", "1", "vlan", "5"], Refused, &["is allocated (VIF 6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01"]),
        case(&["vf", "set", lg, "3", "vlan", "10", "proto", "802.1ad"], KernelRefused, &["EPROTONOSUPPORT", "nothing had been changed"]),
        // eswitch
        case(&["eswitch", sw, "bogus"], Usage, &["eswitch mode \"bogus\" is neither \"legacy\" nor \"switchdev\""]),
        case(&["eswitch", sw, "switchdev", "--order", "wrong"], Usage, &["invalid value 'wrong' for '--order"]),
        case(&["eswitch", sw, "legacy", "--inline-mode", "nope"], Usage, &["invalid value 'nope' for '--inline-mode"]),
        case(&["eswitch", "nosuchpf", "switchdev"], Refused, &["nosuchpf has no devlink eswitch"]),
        case(&["eswitch", lg, "switchdev"], Refused, &["enp59s0f0 has no devlink eswitch"]),
        case(&["eswitch", sw, "legacy"], Refused, &["rate node(s) seed, child exist"]),
        // numvfs
        case(&["numvfs", lg, "1000"], Refused, &["supports at most 64 VFs (sriov_totalvfs); asked for 1000"]),
        case(&["numvfs", lg, "-1"], Usage, &["'-1'"]),
        case(&["numvfs", lg, "abc"], Usage, &["invalid value 'abc' for '<COUNT>'"]),
        case(&["numvfs", lg, "99999999999"], Usage, &["99999999999 is not in 0..=4294967295"]),
        case(&["numvfs", lg, "2", "--autoprobe", "maybe"], Usage, &["expected on or off, not \"maybe\""]),
        case(&["numvfs", "nosuchpf", "2"], Refused, &["no netdev nosuchpf"]),
        case(&["numvfs", "0000:zz:00.0", "2"], Refused, &["PF \"0000:zz:00.0\": neither a PCI address nor an interface name"]),
        case(&["numvfs", "enp175s0f0", "2"], Refused, &["has 1 allocated VF(s) (VIFs 6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01)"]),
        // PF arguments: empty, path-like, with an escape sequence, overlong
        case(&["eswitch", "", "switchdev"], Usage, &["a value is required for '<PF>'"]),
        case(&["rate-node", "add", "", "g1"], Usage, &["a value is required for '<PF>'"]),
        case(&["vf", "set", "", "1", "vlan", "5"], Usage, &["a value is required for '<PF>'"]),
        case(&["vf", "rate", "", "1", "--max-tx-rate", "5"], Usage, &["a value is required for '<PF>'"]),
        case(&["numvfs", "", "2"], Usage, &["a value is required for '<PF>'"]),
        case(&["eswitch", "pci/../../x", "switchdev"], Refused, &["pci/../../x has no devlink eswitch"]),
        case(&["rate-node", "list", "netdevsim/../../x"], Refused, &["netdevsim/../../x has no devlink eswitch"]),
        case(&["rate-node", "add", "\u{1b}[31mred", "g1"], Refused, &["\\u{1b}[31mred has no devlink eswitch"]),
        case(&["vf", "set", "../x", "1", "vlan", "5"], Refused, &["PF \"../x\": invalid interface name"]),
        case(&["numvfs", "a/b/c", "2"], Refused, &["PF \"a/b/c\": neither a PCI address nor an interface name"]),
        case(&["vf", "set", lg, "4294967295", "vlan", "5"], Refused, &["enp59s0f0 has no VF 4294967295"]),
        // release --clear-quarantine
        case(&["release", "--clear-quarantine", "0000:zz:00.0"], Refused, &["\"0000:zz:00.0\" is neither a VF's PCI address (DDDD:BB:SS.F) nor a VIF id (UUID)"]),
        case(&["release", "--clear-quarantine", "0000:af:10.4"], Refused, &["no allocation record for 0000:af:10.4"]),
        // apply --policy
        case(&["apply", "--policy", "{dir}/malformed.toml"], Refused, &["malformed.toml:1:6:", "unclosed array table"]),
        case(&["apply", "--policy", "{dir}/unknown.toml"], Refused, &["unknown.toml:3:1: pf[0].numfvs: unknown field `numfvs`"]),
        case(&["apply", "--policy", "{dir}/wrongtype.toml"], Refused, &["wrongtype.toml:3:10: pf[0].numvfs: invalid type: string \"four\""]),
        case(&["apply", "--policy", "{dir}/huge.toml"], Refused, &["huge.toml:3:10: pf[0].numvfs: invalid type: integer `99999999999999999999`"]),
        case(&["apply", "--policy", "{dir}/negative.toml"], Refused, &["pf[0].numvfs: -3 is out of range"]),
        case(&["apply", "--policy", "{dir}/toomany.toml"], Refused, &["pf[0].numvfs: 1000 is above sriov_totalvfs of 0000:3b:00.0 (64)"]),
        case(&["apply", "--policy", "{dir}/duplicate.toml"], Refused, &["pf[1]: 0000:3b:00.0 is already selected by", "pf[0]; one PF, one entry"]),
        case(&["apply", "--dry-run", "--policy", "{dir}/duplicate.toml"], Refused, &["is already selected by"]),
        case(&["apply", "--policy", "{dir}/cycle.toml"], Refused, &["pf[0].rate_nodes[0].parent: b is not a rate node listed before a"]),
        case(&["apply", "--policy", "{dir}/selfparent.toml"], Refused, &["pf[0].rate_nodes[0].parent: a node cannot be its own parent"]),
        case(&["apply", "--policy", "{dir}/twice.toml"], Refused, &["pf[0].rate_nodes[1].name: rate node a is listed twice"]),
        case(&["apply", "--policy", "{dir}/nodename.toml"], Refused, &["pf[0].rate_nodes[0].name: invalid rate node name \"a/b\""]),
        case(&["apply", "--policy", "{dir}/vfrange.toml"], Refused, &["pf[0].vf[0].vfs: VF 21 does not exist: 0000:3b:00.0 has 8 VFs"]),
        case(&["apply", "--policy", "{dir}/multicast.toml"], Refused, &["pf[0].vf[0].mac: 01:00:5e:00:00:01 is not a unicast address"]),
        case(&["apply", "--policy", "{dir}/badname.toml"], Refused, &["pf[0].netdev: invalid interface name \"eno1/..\""]),
        case(&["apply", "--policy", "{dir}/binary.toml"], Refused, &["binary.toml: cannot read: stream did not contain valid UTF-8"]),
        case(&["apply", "--policy", "{dir}/missing.toml"], Refused, &["missing.toml: cannot read"]),
        case(&["apply", "--policy", "{dir}"], Refused, &["cannot read"]),
        // vif validate / convert / show
        offline(&["vif", "validate", "{dir}/deep.json"], Refused, &["deep.json: not valid JSON: recursion limit exceeded"]),
        offline(&["vif", "show", "{dir}/deep.json"], Refused, &["recursion limit exceeded"]),
        offline(&["vif", "convert", "{dir}/deep.json", "--to-version", "1.0"], Refused, &["recursion limit exceeded"]),
        offline(&["vif", "validate", "{dir}/bignum.json"], Refused, &["bignum.json: not valid JSON: number out of range"]),
        offline(&["vif", "validate", "{dir}/wrongtype.json"], Refused, &["12345 is not a valid UUID", "(at VIFHostDevice.id)"]),
        offline(&["vif", "validate", "{dir}/truncated.json"], Refused, &["truncated.json: not valid JSON: EOF while parsing"]),
        offline(&["vif", "validate", "{dir}/empty.json"], Refused, &["empty.json: not valid JSON"]),
        offline(&["vif", "validate", "{dir}/nul.json"], Refused, &["nul.json: not valid JSON"]),
        offline(&["vif", "validate", "{dir}/list.json"], Refused, &["TypeError"]),
        offline(&["vif", "validate", "{dir}/version.json"], Refused, &["IncompatibleObjectVersion: Version 9.9 of VIFHostDevice is not supported"]),
        offline(&["vif", "validate", "{dir}/missing.json"], Refused, &["reading {dir}/missing.json"]),
        offline(&["vif", "convert", "{dir}/hostdev.json", "--to-version", "9.9"], Refused, &["InvalidTargetVersion: Invalid target version 9.9"]),
        offline(&["vif", "convert", "{dir}/hostdev.json", "--to-version", "1.99999999999999999999"], Refused, &["ValueError", "'99999999999999999999'"]),
        offline(&["vif", "convert", "{dir}/hostdev.json", "--manifest", "[1]"], Refused, &["--manifest: expected a JSON object of class name to version strings"]),
        offline(&["vif", "convert", "{dir}/hostdev.json", "--manifest", "{\"Network\":5}"], Refused, &["--manifest:", "expected a string"]),
    ]
}

/// The state dir (store and simulated kernel) as bytes, without the simulated kernel's
/// request journal when `journal` is false.
fn state(dir: &Path, journal: bool) -> Vec<(PathBuf, Vec<u8>)> {
    tree_digest(dir)
        .into_iter()
        .filter(|(p, _)| journal || !p.ends_with(".vifman-sim-writes"))
        .collect()
}

#[test]
fn hostile_arguments_fail_cleanly_and_change_nothing() {
    let sim = host();
    write_inputs(sim.dir());
    let dir = sim.dir().display().to_string();
    let mut failures = vec![];
    for c in cases() {
        let mut args: Vec<String> = c.args.iter().map(|a| a.replace("{dir}", &dir)).collect();
        if c.host {
            args.extend(sim.host());
        }
        let needles: Vec<String> = c.needles.iter().map(|n| n.replace("{dir}", &dir)).collect();
        let journal = c.end != End::KernelRefused;
        let before = state(&sim.state, journal);
        let o = Vifman::new(&args)
            .env("RUST_BACKTRACE", "1")
            .limit(QUICK)
            .output();
        let err = text(&o.stderr);
        let shown = &c.args;
        let mut fail = |why: String| failures.push(format!("{shown:?}: {why}\n  stderr: {err}"));
        if err.contains("panicked at") || err.contains("stack backtrace") {
            fail("panicked".into());
            continue;
        }
        let lines: Vec<&str> = err.lines().collect();
        match c.end {
            End::Usage => {
                if o.status.code() != Some(2) {
                    fail(format!("exit {:?}, want 2", o.status.code()));
                }
                if !lines.first().is_some_and(|l| l.starts_with("error: ")) {
                    fail("first line is not clap's `error: ...`".into());
                }
                if lines.iter().filter(|l| l.starts_with("error")).count() != 1 {
                    fail("more than one error line".into());
                }
            }
            End::Refused | End::KernelRefused => {
                if o.status.code() != Some(1) {
                    fail(format!("exit {:?}, want 1", o.status.code()));
                }
                if lines.len() != 1 {
                    fail(format!("{} lines on stderr, want 1", lines.len()));
                }
            }
        }
        let first = lines.first().copied().unwrap_or("");
        for n in &needles {
            if !first.contains(n.as_str()) {
                fail(format!("the error line does not say {n:?}"));
            }
        }
        if c.host && state(&sim.state, journal) != before {
            fail("the simulated host or the store changed".into());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `vf rate`'s refusal names the VF once, not once per layer.
#[test]
fn a_vf_rate_refusal_names_the_vf_once() {
    let sim = host();
    let mut args: Vec<String> = [
        "vf",
        "rate",
        SWITCHDEV_PF,
        "1",
        "--min-tx-rate",
        "100",
        "--max-tx-rate",
        "10",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(sim.host());
    let o = Vifman::new(&args).limit(QUICK).output();
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert_eq!(err.matches("VF 1 of enp94s0f0np0").count(), 1, "{err}");
}

/// A simulated kernel whose devlink record is malformed goes on without devlink (as a fixture
/// reader does), but says so, naming the file, instead of answering only "no devlink
/// eswitch" about a PF the fixture puts in switchdev mode.
#[test]
fn a_malformed_simulated_devlink_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = nfv_copy(dir.path());
    let state = dir.path().join("state");
    let kernel = sim_kernel(&root.display().to_string(), &state);
    std::fs::write(kernel.join("devlink.json"), "{\"instances\": [").unwrap();
    let mut args = vec!["rate-node".to_string(), "list".into(), SWITCHDEV_PF.into()];
    args.extend(sim_args(&root.display().to_string(), &state, CONFIG));
    let o = Vifman::new(&args).limit(QUICK).output();
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("devlink.json ignored (not a devlink record"),
        "{err}"
    );
}
