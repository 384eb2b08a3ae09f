//! `vifman apply` carrying out PF `mtu`/`up` and the VF knobs of a `[[pf]]` entry naming a
//! non-PCI SR-IOV PF (the simulated netdevsim bus device), on the simulated host: the steps
//! in the PCI order (MTU first, knobs in the kernel's IFLA_VF order, `up = false` last),
//! each read back from the simulated kernel's own records; `--check` then in sync and a
//! second apply with nothing to do; a knob changed behind vifman's back reported as drift;
//! an injected failure of a later knob undoing the MTU and the earlier knobs. The real-kernel
//! side (netdevsim, legacy and switchdev, with its fault switches) is the VM scenario
//! `apply-netdevsim`.

mod common;

use common::*;
use serde_json::Value;

const ND: &str = NSIM_ND;

/// The PF's VF records as the simulated kernel holds them (IFLA_VFINFO_LIST).
fn kvfs(n: &Nsim) -> Vec<Value> {
    let t = std::fs::read_to_string(n.kernel.join(format!("vf-state.d/{ND}.json"))).unwrap();
    let v: Value = serde_json::from_str(&t).unwrap();
    v["vfs"].as_array().unwrap().clone()
}

/// A netdev attribute of the PF as the simulated kernel holds it.
fn knet(n: &Nsim, attr: &str) -> String {
    std::fs::read_to_string(n.kernel.join(format!("sys/class/net/{ND}/{attr}")))
        .unwrap()
        .trim()
        .to_string()
}

fn policy(n: &Nsim, name: &str, body: &str) -> String {
    let p = n.sim.dir().join(name);
    std::fs::write(&p, format!("[[pf]]\nnetdev = \"{ND}\"\n{body}")).unwrap();
    p.display().to_string()
}

/// `apply [extra] --json --policy pol`: exit code and report.
fn apply(n: &Nsim, pol: &str, extra: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut args = vec!["apply"];
    args.extend_from_slice(extra);
    args.extend(["--json", "--policy", pol]);
    let o = n.sim.run(&args, env);
    let v =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{args:?}: {}", stderr(&o)));
    (o.status.code().unwrap_or(-1), v)
}

fn steps(r: &Value) -> Vec<(String, String, String)> {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (f("object"), f("new"), f("status"))
        })
        .collect()
}

const KNOBS: &str = "mtu = 9000\nup = true\n\
    [[pf.vf]]\nvfs = \"0\"\nmac = \"02:11:22:33:44:55\"\nspoofchk = false\ntrust = true\n\
    link_state = \"disable\"\nmin_tx_rate = 100\nmax_tx_rate = 500\n\
    [[pf.vf]]\nvfs = \"1\"\nmac = \"stable\"\n";

#[test]
fn apply_sets_the_mtu_and_vf_knobs_of_a_non_pci_pf_then_is_in_sync() {
    let n = Nsim::new(2);
    let pol = policy(&n, "knobs.toml", KNOBS);
    let stable = vifman::engine::apply::stable_mac("bus:netdevsim/netdevsim7", 1).to_string();

    let (code, r) = apply(&n, &pol, &[], &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["outcome"], "applied", "{r}");
    let done = |o: &str, v: &str| (format!("{ND} {o}"), v.to_string(), "done".to_string());
    assert_eq!(
        steps(&r),
        vec![
            done("mtu", "9000"),
            done("vf 0 mac", "mac 02:11:22:33:44:55"),
            done("vf 0 rate", "min_tx_rate 100 max_tx_rate 500"),
            done("vf 0 spoofchk", "spoofchk off"),
            done("vf 0 link_state", "state disable"),
            done("vf 0 trust", "trust on"),
            done("vf 1 mac", &format!("mac {stable}")),
        ],
        "PF up already: no link step; the MTU first, then the knobs in the kernel's order"
    );
    assert_eq!(knet(&n, "mtu"), "9000");
    let k = kvfs(&n);
    assert_eq!(k[0]["mac"], "02:11:22:33:44:55", "{k:?}");
    assert_eq!(
        (&k[0]["min_tx_rate"], &k[0]["max_tx_rate"]),
        (&Value::from(100), &Value::from(500))
    );
    assert_eq!(
        (&k[0]["spoofchk"], &k[0]["trust"]),
        (&false.into(), &true.into())
    );
    assert_eq!(k[0]["link_state"], "disable", "{k:?}");
    assert_eq!(k[1]["mac"], stable.as_str(), "{k:?}");
    assert_eq!(k[1]["trust"], false, "VF 1 has no trust key");

    for extra in [&["--check"][..], &[]] {
        let (code, r) = apply(&n, &pol, extra, &[]);
        assert_eq!(code, 0, "{extra:?}: {r}");
        assert!(steps(&r).is_empty(), "{extra:?} in sync: {r}");
    }

    // Behind vifman's back: --check names the drift (exit 1), apply puts it right.
    let o = n.sim.run(&["vf", "set", ND, "0", "trust", "off"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, r) = apply(&n, &pol, &["--check"], &[]);
    assert_eq!(code, 1, "drift: {r}");
    let s = &r["steps"][0];
    assert_eq!(
        (&s["object"], &s["old"], &s["new"]),
        (
            &Value::from(format!("{ND} vf 0 trust")),
            &"trust off".into(),
            &"trust on".into()
        ),
        "{r}"
    );
    assert_eq!(r["steps"].as_array().unwrap().len(), 1, "{r}");
    let (code, r) = apply(&n, &pol, &[], &[]);
    assert_eq!((code, steps(&r).len()), (0, 1), "{r}");
    assert_eq!(kvfs(&n)[0]["trust"], true);
}

#[test]
fn a_failing_later_knob_puts_the_mtu_and_earlier_knobs_back() {
    let n = Nsim::new(2);
    let pol = policy(&n, "knobs.toml", KNOBS);
    let before = kvfs(&n);
    let (code, r) = apply(&n, &pol, &[], &[("VIFMAN_SIM_FAIL", "vf.trust:EIO")]);
    assert_ne!(code, 0, "{r}");
    assert_eq!(r["outcome"], "failed", "{r}");
    let st: Vec<(String, String)> = steps(&r).into_iter().map(|(o, _, s)| (o, s)).collect();
    let want: Vec<(String, String)> = [
        ("mtu", "undone"),
        ("vf 0 mac", "undone"),
        ("vf 0 rate", "undone"),
        ("vf 0 spoofchk", "undone"),
        ("vf 0 link_state", "undone"),
        ("vf 0 trust", "failed"),
        ("vf 1 mac", "not-attempted"),
    ]
    .iter()
    .map(|(o, s)| (format!("{ND} {o}"), s.to_string()))
    .collect();
    assert_eq!(st, want, "{r}");
    assert!(
        r["steps"][5]["error"].as_str().unwrap().contains("EIO"),
        "{r}"
    );
    assert_eq!(knet(&n, "mtu"), "1500", "the MTU is back");
    assert_eq!(kvfs(&n), before, "every VF record is back");
}

/// A new VF count and knobs of a VF it creates in one run, `mac = "random"` kept once set,
/// and `up = false` as the last step.
#[test]
fn knobs_of_created_vfs_random_macs_and_up_false_last() {
    let n = Nsim::new(2);
    let pol = policy(
        &n,
        "count.toml",
        "numvfs = 3\nup = false\n[[pf.vf]]\nvfs = \"2\"\ntrust = true\nmac = \"random\"\n",
    );
    let (code, r) = apply(&n, &pol, &[], &[]);
    assert_eq!(code, 0, "{r}");
    let objects: Vec<String> = steps(&r).into_iter().map(|(o, _, _)| o).collect();
    assert_eq!(
        objects,
        [
            "netdevsim/netdevsim7 sriov_numvfs".to_string(),
            format!("{ND} vf 2 mac"),
            format!("{ND} vf 2 trust"),
            format!("{ND} link"),
        ],
        "{r}"
    );
    assert_eq!(r["steps"][3]["new"], "down");
    assert_eq!(n.numvfs(), 3);
    let k = kvfs(&n);
    assert_eq!(k[2]["trust"], true, "{k:?}");
    let mac = k[2]["mac"].as_str().unwrap().to_string();
    assert_ne!(mac, "00:00:00:00:00:00");
    let flags = u32::from_str_radix(knet(&n, "flags").trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 0, "the PF is down");

    let (code, r) = apply(&n, &pol, &[], &[]);
    assert_eq!((code, steps(&r).len()), (0, 0), "random keeps its MAC: {r}");
    assert_eq!(kvfs(&n)[2]["mac"], mac.as_str());
}
