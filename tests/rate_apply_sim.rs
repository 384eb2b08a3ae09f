//! `[[pf.rate_nodes]]` in `vifman apply` on the simulated host: nodes created in file order
//! (parents first) after the eswitch mode and before the VF rates, set when their written
//! keys differ, in sync on a second run; a later failing step undoes them (an added node
//! deleted, a set node put back); policy mistakes refused with `file:line:col: pf[N].key`.

mod common;

use common::*;
use serde_json::Value;

struct Sim(SimEnv);

impl Sim {
    fn new() -> Sim {
        Sim(SimEnv::with_config(""))
    }
    fn policy(&self, body: &str) -> String {
        let p = self.0.dir().join("policy.toml");
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    }
    fn apply(&self, pol: &str, env: &[(&str, &str)]) -> (Option<i32>, Value, String) {
        let o = self.0.run(&["apply", "--json", "--policy", pol], env);
        let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o.status.code(), v, stderr(&o))
    }
    fn nodes(&self, pf: &str) -> Vec<(String, u64, u64, Value)> {
        let o = self.0.run(&["rate-node", "list", pf, "--json"], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["rates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "node")
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["min_tx_rate"].as_u64().unwrap(),
                    r["max_tx_rate"].as_u64().unwrap(),
                    r["parent"].clone(),
                )
            })
            .collect()
    }
}

fn objects(r: &Value) -> Vec<String> {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["object"].as_str().unwrap().to_string())
        .collect()
}

fn statuses(r: &Value) -> Vec<(String, String)> {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["object"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const POLICY: &str = r#"
[[pf]]
address = "0000:5e:00.0"

[[pf.rate_nodes]]
name = "tenant"
max_tx_rate = 500

[[pf.rate_nodes]]
name = "gold"
min_tx_rate = 10
parent = "tenant"

[[pf.vf]]
vfs = 1
max_tx_rate = 100
"#;

const TENANT: &str = "devlink pci/0000:5e:00.0 rate node tenant";
const GOLD: &str = "devlink pci/0000:5e:00.0 rate node gold";

#[test]
fn apply_creates_nodes_in_order_before_vf_rates_then_is_in_sync() {
    let sim = Sim::new();
    let pol = sim.policy(POLICY);
    let (rc, r, e) = sim.apply(&pol, &[]);
    assert_eq!(rc, Some(0), "{e}");
    assert_eq!(r["outcome"], "applied");
    let objs = objects(&r);
    let at = |o: &str| {
        objs.iter()
            .position(|x| x == o)
            .unwrap_or_else(|| panic!("{o}: {objs:#?}"))
    };
    let knob = objs
        .iter()
        .position(|o| o.contains("vf 1") && o.contains("rate"))
        .unwrap_or_else(|| panic!("{objs:#?}"));
    assert!(at(TENANT) < at(GOLD) && at(GOLD) < knob, "{objs:#?}");
    let step = &r["steps"][at(TENANT)];
    assert_eq!(
        (step["old"].as_str(), step["new"].as_str()),
        (Some("(none)"), Some("max_tx_rate 500"))
    );
    assert_eq!(
        sim.nodes("enp94s0f0np0"),
        [
            ("gold".into(), 10, 0, Value::from("tenant")),
            ("tenant".into(), 0, 500, Value::Null)
        ]
    );
    // Second run: nothing to do.
    let (rc, r, e) = sim.apply(&pol, &[]);
    assert_eq!(rc, Some(0), "{e}");
    assert_eq!(r["outcome"], "in-sync", "{r:#}");
}

#[test]
fn a_failing_later_step_undoes_the_nodes() {
    let sim = Sim::new();
    let pol = sim.policy(POLICY);
    let (rc, _, e) = sim.apply(&pol, &[]);
    assert_eq!(rc, Some(0), "{e}");
    // tenant changes (set), silver is new (add), VF 2's rate fails (a leaf request).
    let pol = sim.policy(
        r#"
[[pf]]
address = "0000:5e:00.0"

[[pf.rate_nodes]]
name = "tenant"
max_tx_rate = 600

[[pf.rate_nodes]]
name = "silver"
parent = "tenant"

[[pf.vf]]
vfs = 2
max_tx_rate = 50
"#,
    );
    let (rc, r, _) = sim.apply(&pol, &[("VIFMAN_SIM_FAIL", "devlink.rate:EIO")]);
    assert_eq!(rc, Some(1));
    assert_eq!(r["outcome"], "failed");
    let st = statuses(&r);
    let of = |o: &str| {
        st.iter()
            .find(|(x, _)| x == o)
            .map(|(_, s)| s.as_str())
            .unwrap_or_else(|| panic!("{o}: {st:#?}"))
    };
    assert_eq!(of(TENANT), "undone", "{st:#?}");
    assert_eq!(
        of("devlink pci/0000:5e:00.0 rate node silver"),
        "undone",
        "{st:#?}"
    );
    assert!(st.iter().any(|(_, s)| s == "failed"), "{st:#?}");
    // As before the run: tenant back at 500, no silver.
    assert_eq!(
        sim.nodes("enp94s0f0np0"),
        [
            ("gold".into(), 10, 0, Value::from("tenant")),
            ("tenant".into(), 0, 500, Value::Null)
        ]
    );
}

#[test]
fn nodes_follow_a_mode_change_to_switchdev_in_the_same_run() {
    let sim = Sim::new();
    let pol = sim.policy(
        r#"
[[pf]]
address = "0000:5e:00.1"
numvfs = 2
eswitch = "switchdev"

[[pf.rate_nodes]]
name = "t1"
max_tx_rate = 100
"#,
    );
    let (rc, r, e) = sim.apply(&pol, &[]);
    assert_eq!(rc, Some(0), "{e}");
    let objs = objects(&r);
    let esw = objs
        .iter()
        .position(|o| o.ends_with("eswitch mode"))
        .unwrap();
    let node = objs
        .iter()
        .position(|o| o.ends_with("rate node t1"))
        .unwrap();
    assert!(esw < node, "{objs:#?}");
    assert_eq!(
        sim.nodes("0000:5e:00.1"),
        [("t1".into(), 0, 100, Value::Null)]
    );
}

#[test]
fn policy_mistakes_are_refused_with_their_place() {
    let sim = Sim::new();
    for (body, key, why) in [
        (
            "[[pf]]\naddress = \"0000:5e:00.0\"\n[[pf.rate_nodes]]\nname = \"b\"\nparent = \"a\"\n[[pf.rate_nodes]]\nname = \"a\"\n",
            "pf[0].rate_nodes[0].parent",
            "a is not a rate node listed before b",
        ),
        (
            "[[pf]]\naddress = \"0000:5e:00.0\"\n[[pf.rate_nodes]]\nname = \"a/b\"\n",
            "pf[0].rate_nodes[0].name",
            "contains '/'",
        ),
        (
            "[[pf]]\naddress = \"0000:5e:00.0\"\n[[pf.rate_nodes]]\nname = \"a\"\n[[pf.rate_nodes]]\nname = \"a\"\n",
            "pf[0].rate_nodes[1].name",
            "listed twice",
        ),
        (
            "[[pf]]\naddress = \"0000:5e:00.0\"\n[[pf.rate_nodes]]\nname = \"a\"\nmin_tx_rate = 9\nmax_tx_rate = 5\n",
            "pf[0].rate_nodes[0].min_tx_rate",
            "above max_tx_rate",
        ),
        (
            "[[pf]]\naddress = \"0000:5e:00.0\"\n[[pf.rate_nodes]]\nname = \"a\"\nweight = 3\n",
            "pf[0].rate_nodes[0].weight",
            "unknown field",
        ),
        (
            "[[pf]]\naddress = \"0000:5e:00.0\"\neswitch = \"legacy\"\n[[pf.rate_nodes]]\nname = \"a\"\n",
            "pf[0].rate_nodes",
            "switchdev mode only",
        ),
        (
            "[[pf]]\naddress = \"0000:5e:00.1\"\n[[pf.rate_nodes]]\nname = \"a\"\n",
            "pf[0].rate_nodes[0]",
            "is in legacy mode and rate nodes exist in switchdev mode only",
        ),
    ] {
        let pol = sim.policy(body);
        let (rc, _, e) = sim.apply(&pol, &[]);
        assert_eq!(rc, Some(1), "{body}: {e}");
        assert!(e.contains(key) && e.contains(why), "{body}: {e}");
        assert!(e.contains("policy.toml:"), "{e}");
    }
    assert!(sim.nodes("enp94s0f0np0").is_empty());
}

const PARENTS: &str = r#"
[[pf]]
address = "0000:5e:00.0"

[[pf.rate_nodes]]
name = "tenant"
max_tx_rate = 500

[[pf.vf]]
vfs = "1-2"
rate_parent = "tenant"
max_tx_rate = 100
"#;

fn leaf_parents(sim: &Sim) -> Vec<(u64, Value)> {
    let o = sim
        .0
        .run(&["rate-node", "list", "enp94s0f0np0", "--json"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["rates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "leaf")
        .map(|r| (r["vf"].as_u64().unwrap(), r["parent"].clone()))
        .collect()
}

const LEAF1: &str = "devlink pci/0000:5e:00.0 vf 1 rate parent";
const LEAF2: &str = "devlink pci/0000:5e:00.0 vf 2 rate parent";

/// `rate_parent` parents the VFs' leaves after the nodes exist, read back by the rate dump;
/// a second apply has no steps; a parent changed behind the policy's back is drift for
/// `--check` and put back by the next apply.
#[test]
fn apply_parents_vf_leaves_after_the_nodes_then_is_in_sync() {
    let sim = Sim::new();
    let pol = sim.policy(PARENTS);
    let (rc, r, e) = sim.apply(&pol, &[]);
    assert_eq!(rc, Some(0), "{e}");
    let objs = objects(&r);
    let at = |o: &str| {
        objs.iter()
            .position(|x| x == o)
            .unwrap_or_else(|| panic!("{o}: {objs:#?}"))
    };
    assert!(at(TENANT) < at(LEAF1) && at(LEAF1) < at(LEAF2), "{objs:#?}");
    let step = &r["steps"][at(LEAF1)];
    assert_eq!(
        (step["old"].as_str(), step["new"].as_str()),
        (Some("(none)"), Some("tenant"))
    );
    assert_eq!(
        leaf_parents(&sim),
        [
            (0, Value::Null),
            (1, Value::from("tenant")),
            (2, Value::from("tenant")),
            (3, Value::Null)
        ]
    );
    let (rc, r, e) = sim.apply(&pol, &[]);
    assert_eq!(rc, Some(0), "{e}");
    assert_eq!(r["outcome"], "in-sync", "{r:#}");
    assert!(objects(&r).is_empty(), "{r:#}");

    // Drift: VF 2 unparented by hand.
    let o = sim
        .0
        .run(&["vf", "rate", "enp94s0f0np0", "2", "--no-parent"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sim
        .0
        .run(&["apply", "--check", "--json", "--policy", &pol], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(objects(&r), [LEAF2], "{r:#}");
    assert_eq!(
        leaf_parents(&sim)[2],
        (2, Value::Null),
        "--check changes nothing"
    );
    let (rc, _, e) = sim.apply(&pol, &[]);
    assert_eq!(rc, Some(0), "{e}");
    assert_eq!(leaf_parents(&sim)[2], (2, Value::from("tenant")));
}

/// A step after the leaf parents fails: the parents are put back as found (none, or the
/// node they had), and the nodes the run added are deleted.
#[test]
fn a_failing_later_step_undoes_the_leaf_parents() {
    let sim = Sim::new();
    let o = sim.0.run(
        &[
            "rate-node",
            "add",
            "enp94s0f0np0",
            "old",
            "--max-tx-rate",
            "9",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sim
        .0
        .run(&["vf", "rate", "enp94s0f0np0", "2", "--parent", "old"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = leaf_parents(&sim);
    let pol = sim.policy(&format!("{PARENTS}trust = true\n"));
    let (rc, r, _) = sim.apply(&pol, &[("VIFMAN_SIM_FAIL", "vf.trust:EPERM")]);
    assert_eq!(rc, Some(1));
    assert_eq!(r["outcome"], "failed");
    let st = statuses(&r);
    let of = |o: &str| {
        st.iter()
            .find(|(x, _)| x == o)
            .map(|(_, s)| s.as_str())
            .unwrap_or_else(|| panic!("{o}: {st:#?}"))
    };
    assert_eq!(of(LEAF1), "undone", "{st:#?}");
    assert_eq!(of(LEAF2), "undone", "{st:#?}");
    assert_eq!(of(TENANT), "undone", "{st:#?}");
    assert_eq!(leaf_parents(&sim), before);
    assert_eq!(before[2], (2, Value::from("old")));
    assert_eq!(
        sim.nodes("enp94s0f0np0"),
        [("old".into(), 0, 9, Value::Null)]
    );
}

#[test]
fn rate_parent_mistakes_are_refused_with_their_place() {
    let sim = Sim::new();
    for (body, key, why, place) in [
        (
            "[[pf]]\naddress = \"0000:5e:00.0\"\n[[pf.rate_nodes]]\nname = \"a\"\n[[pf.vf]]\nvfs = 1\nrate_parent = \"b\"\n",
            "pf[0].vf[0].rate_parent",
            "b is not a [[pf.rate_nodes]] entry of this PF (listed: a)",
            "policy.toml:7:15:",
        ),
        (
            "[[pf]]\naddress = \"0000:5e:00.0\"\n[[pf.vf]]\nvfs = 1\nrate_parent = \"x\"\n",
            "pf[0].vf[0].rate_parent",
            "(listed: none)",
            "policy.toml:5:15:",
        ),
        (
            "[[pf]]\naddress = \"0000:5e:00.0\"\n[[pf.rate_nodes]]\nname = \"a\"\n[[pf.vf]]\nvfs = 1\nrate_parent = \"a/b\"\n",
            "pf[0].vf[0].rate_parent",
            "contains '/'",
            "policy.toml:7:15:",
        ),
    ] {
        let pol = sim.policy(body);
        let (rc, _, e) = sim.apply(&pol, &[]);
        assert_eq!(rc, Some(1), "{body}: {e}");
        assert!(e.contains(key) && e.contains(why), "{body}: {e}");
        assert!(e.contains(place), "{body}: {e}");
    }
    assert!(sim.nodes("enp94s0f0np0").is_empty());
}
