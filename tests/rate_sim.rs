//! Devlink rate nodes and VF leaf parents on the simulated host (`vifman rate-node
//! list|add|set|del`, `vifman vf rate --parent/--no-parent`): the mlx5 PF 0000:5e:00.0 of
//! nfv-host is in switchdev mode with four VF ports in the fixture's `devlink.json`, which
//! the simulated kernel keeps its rate objects in. Checked: nodes added, set, listed and
//! deleted (by netdev, PCI address and devlink handle), a leaf parented and unparented, a
//! node with a child not deleted (EBUSY) and nothing changed, a node blocking an eswitch
//! mode change, bad names and values refused before anything is sent, and a request the
//! kernel applied half of put back. The real-kernel side is the VM scenario `netdevsim`.

mod common;

use common::*;
use serde_json::Value;

const PF: &str = "enp94s0f0np0";
const PF_ADDR: &str = "0000:5e:00.0";
/// The legacy mlx5 PF of the same card (in the record, no VF ports).
const LEGACY_PF: &str = "enp94s0f1np1";

struct Sim(SimEnv);

impl Sim {
    fn new() -> Sim {
        Sim(SimEnv::with_config(""))
    }
    fn ok(&self, cmd: &[&str]) -> Value {
        let o = self.0.run(cmd, &[]);
        assert!(o.status.success(), "vifman {cmd:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("vifman {cmd:?}: {e}: {}", text(&o.stdout)))
    }
    /// Fails with exit code 1 (an operation refused, not a usage error); its stderr.
    fn refused(&self, cmd: &[&str]) -> String {
        self.refused_with(cmd, &[])
    }
    fn refused_with(&self, cmd: &[&str], env: &[(&str, &str)]) -> String {
        let o = self.0.run(cmd, env);
        assert_eq!(o.status.code(), Some(1), "vifman {cmd:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
        stderr(&o)
    }
    fn list(&self, pf: &str) -> Value {
        self.ok(&["rate-node", "list", pf, "--json"])
    }
    fn nodes(&self) -> Vec<Value> {
        rates(&self.list(PF), "node")
    }
    fn leaf(&self, vf: u64) -> Value {
        rates(&self.list(PF), "leaf")
            .into_iter()
            .find(|l| l["vf"] == vf)
            .unwrap_or_else(|| panic!("no leaf of VF {vf}"))
    }
    /// The simulated kernel's devlink record, as the kernel's own view of the objects.
    fn record(&self) -> Value {
        let p = self.0.kernel_dir().join("devlink.json");
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }
    fn journal(&self) -> Vec<String> {
        vifman::host::sim::read_journal(&self.0.kernel_dir())
    }
}

fn rates(list: &Value, kind: &str) -> Vec<Value> {
    list["rates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == kind)
        .cloned()
        .collect()
}

/// The record's rate entries of the mlx5 PF, as (type, name or port, parent).
fn recorded(rec: &Value) -> Vec<(String, String, Value)> {
    rec["rates"]
        .as_array()
        .map(|v| v.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter(|r| r["dev"]["dev"] == PF_ADDR)
        .map(|r| {
            let key = match r["type"].as_str().unwrap() {
                "node" => r["name"].as_str().unwrap().to_string(),
                _ => r["port"].to_string(),
            };
            (
                r["type"].as_str().unwrap().to_string(),
                key,
                r["parent"].clone(),
            )
        })
        .collect()
}

#[test]
fn nodes_are_added_set_listed_and_deleted() {
    let sim = Sim::new();
    let l = sim.list(PF);
    assert_eq!(l["devlink"], format!("pci/{PF_ADDR}"));
    assert_eq!(l["mode"], "switchdev");
    assert!(rates(&l, "node").is_empty());
    let leaves = rates(&l, "leaf");
    let vfs: Vec<_> = leaves.iter().map(|l| l["vf"].as_u64().unwrap()).collect();
    assert_eq!(vfs, [0, 1, 2, 3], "one leaf per VF port");
    assert_eq!(leaves[1]["port"], 2);

    let r = sim.ok(&[
        "rate-node",
        "add",
        PF,
        "grp1",
        "--max-tx-rate",
        "500",
        "--json",
    ]);
    assert_eq!(r["action"], "added");
    assert_eq!(r["object"]["name"], "grp1");
    assert_eq!(r["object"]["tx_max"], 62_500_000, "500 Mbit/s in bytes/s");
    assert_eq!(r["object"]["max_tx_rate"], 500);
    assert_eq!(r["object"]["tx_share"], 0);
    // By PCI address and by devlink handle too.
    let r = sim.ok(&[
        "rate-node",
        "add",
        PF_ADDR,
        "grp2",
        "--min-tx-rate",
        "10",
        "--parent",
        "grp1",
        "--json",
    ]);
    assert_eq!(r["object"]["parent"], "grp1");
    assert_eq!(r["object"]["tx_share"], 1_250_000);
    let handle = format!("pci/{PF_ADDR}");
    let r = sim.ok(&[
        "rate-node",
        "set",
        &handle,
        "grp2",
        "--max-tx-rate",
        "200",
        "--no-parent",
        "--json",
    ]);
    assert_eq!(r["action"], "set");
    assert_eq!(r["object"]["parent"], Value::Null);
    assert_eq!(r["object"]["max_tx_rate"], 200);
    assert_eq!(r["object"]["min_tx_rate"], 10, "a rate not given is kept");

    let nodes = sim.nodes();
    let names: Vec<_> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["grp1", "grp2"]);
    assert_eq!(nodes[0]["tx_max"], 62_500_000);
    assert_eq!(nodes[1]["tx_share"], 1_250_000);
    assert_eq!(nodes[1]["tx_max"], 25_000_000);
    // The kernel's (the record's) view agrees, and the eswitch sees the nodes.
    let rec = sim.record();
    assert_eq!(
        recorded(&rec),
        [
            ("node".into(), "grp1".into(), Value::Null),
            ("node".into(), "grp2".into(), Value::Null)
        ]
    );
    let esw = sim.ok(&["eswitch", PF, "--json"]);
    assert_eq!(esw["rate_nodes"], serde_json::json!(["grp1", "grp2"]));
    // Text form.
    let o = sim.0.run(&["rate-node", "list", PF], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = text(&o.stdout);
    assert!(t.contains("eswitch switchdev"), "{t}");
    assert!(
        t.contains("node grp1 min_tx_rate 0 max_tx_rate 500 Mbit/s parent -"),
        "{t}"
    );
    assert!(t.contains("leaf 2 (vf 1)"), "{t}");

    for n in ["grp2", "grp1"] {
        let r = sim.ok(&["rate-node", "del", PF, n, "--json"]);
        assert_eq!(r["action"], "deleted");
    }
    assert!(sim.nodes().is_empty());
    assert!(recorded(&sim.record()).is_empty());
    let j = sim.journal();
    assert!(
        j.iter()
            .any(|l| l == "devlink rate add 0000:5e:00.0/grp1 tx_max 62500000"),
        "{j:#?}"
    );
}

#[test]
fn a_leaf_is_parented_and_unparented_and_its_node_kept_while_parented() {
    let sim = Sim::new();
    sim.ok(&[
        "rate-node",
        "add",
        PF,
        "grp1",
        "--max-tx-rate",
        "500",
        "--json",
    ]);
    let r = sim.ok(&[
        "vf",
        "rate",
        PF,
        "1",
        "--parent",
        "grp1",
        "--max-tx-rate",
        "100",
        "--json",
    ]);
    assert_eq!(r["object"]["vf"], 1);
    assert_eq!(r["object"]["port"], 2);
    assert_eq!(r["object"]["parent"], "grp1");
    assert_eq!(r["object"]["tx_max"], 12_500_000);
    sim.ok(&["vf", "rate", PF, "2", "--parent", "grp1", "--json"]);
    assert_eq!(sim.leaf(2)["parent"], "grp1");
    assert_eq!(sim.leaf(0)["parent"], Value::Null);
    // The leaf's rate is the VF's rate (one storage, as on the drivers).
    let show = sim.ok(&["vf", "show", PF, "1", "--json"]);
    assert_eq!(show["admin"]["max_tx_rate"], 100);
    // No flag: the leaf as it is, nothing sent.
    let n = sim.journal().len();
    let r = sim.ok(&["vf", "rate", PF, "1", "--json"]);
    assert_eq!(
        (r["action"].as_str(), r["object"]["parent"].as_str()),
        (Some("unchanged"), Some("grp1"))
    );
    assert_eq!(sim.journal().len(), n);

    // Deleting the node: refused (the kernel's EBUSY), naming the children; nothing changed.
    let rec = sim.record();
    let e = sim.refused(&["rate-node", "del", PF, "grp1"]);
    assert!(e.contains("refusing to delete rate node grp1"), "{e}");
    assert!(e.contains("VF 1 (leaf 2), VF 2 (leaf 3)"), "{e}");
    assert!(e.contains("EBUSY") && e.contains("--no-parent"), "{e}");
    assert_eq!(sim.record(), rec);
    assert_eq!(sim.journal().len(), n, "nothing sent to the kernel");
    // The simulated kernel refuses it too, with the kernel's text.
    {
        use vifman::host::{Host, PfId, RateOp, SimHost};
        let host = SimHost::open(std::path::Path::new(sim.0.fixture()), &sim.0.state).unwrap();
        let pf = PfId::Pci(PF_ADDR.parse().unwrap());
        let op = RateOp::DelNode {
            name: "grp1".into(),
        };
        let err = host.change_rate(&pf, &op).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EBUSY), "{err}");
        assert!(err.to_string().contains("Node has children"), "{err}");
    }
    assert_eq!(recorded(&sim.record()), recorded(&rec));

    // A node blocks an eswitch mode change; nothing changed.
    let e = sim.refused(&["eswitch", PF, "legacy"]);
    assert!(e.contains("rate node(s) grp1"), "{e}");
    assert_eq!(sim.ok(&["eswitch", PF, "--json"])["mode"], "switchdev");

    // Unparented: then the node goes, and then the mode may change.
    for vf in ["1", "2"] {
        let r = sim.ok(&["vf", "rate", PF, vf, "--no-parent", "--json"]);
        assert_eq!(r["object"]["parent"], Value::Null);
    }
    assert_eq!(sim.leaf(1)["tx_max"], 12_500_000, "the rate is kept");
    assert!(recorded(&sim.record()).iter().all(|(t, _, _)| t == "node"));
    sim.ok(&["rate-node", "del", PF, "grp1", "--json"]);
    let o = sim.0.run(&["eswitch", PF, "legacy"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // No VF ports in legacy: no leaves, and a leaf request says why.
    assert!(rates(&sim.list(PF), "leaf").is_empty());
    let e = sim.refused(&["vf", "rate", PF, "1", "--max-tx-rate", "10"]);
    assert!(
        e.contains("switchdev mode only") && e.contains("legacy"),
        "{e}"
    );
}

#[test]
fn bad_names_and_values_are_refused_before_anything_is_sent() {
    let sim = Sim::new();
    sim.ok(&["rate-node", "add", PF, "grp1", "--json"]);
    sim.ok(&["rate-node", "add", PF, "grp2", "--parent", "grp1", "--json"]);
    let rec = sim.record();
    let n = sim.journal().len();
    let long = "n".repeat(65);
    // Names: refused with the rule they break (exit 1, like a bad MAC), for every command.
    for (name, why) in [
        ("a/b", "contains '/'"),
        ("17", "all digits"),
        ("", "empty"),
        ("x y", "only letters"),
        (long.as_str(), "longer than 64"),
    ] {
        for cmd in [
            &["rate-node", "add", PF, name][..],
            &["rate-node", "set", PF, name, "--max-tx-rate", "1"],
            &["rate-node", "del", PF, name],
            &["rate-node", "add", PF, "g3", "--parent", name],
            &["vf", "rate", PF, "1", "--parent", name],
        ] {
            let e = sim.refused(cmd);
            assert!(
                e.contains("invalid rate node name") && e.contains(why),
                "{cmd:?}: {e}"
            );
        }
    }
    // Usage errors (exit 2): both --parent and --no-parent, a negative rate.
    let o = sim.0.run(
        &["vf", "rate", PF, "1", "--parent", "grp1", "--no-parent"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    let o = sim
        .0
        .run(&["rate-node", "add", PF, "g3", "--max-tx-rate", "-5"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // Values and references: refused by the engine (exit 1), each naming the reason.
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "rate-node",
                "add",
                PF,
                "g3",
                "--min-tx-rate",
                "200",
                "--max-tx-rate",
                "100",
            ],
            "min_tx_rate 200 Mbit/s is above max_tx_rate 100 Mbit/s",
        ),
        (
            &["rate-node", "add", PF, "grp1"],
            "rate node grp1 already exists",
        ),
        (
            &["rate-node", "add", PF, "g3", "--parent", "nosuch"],
            "no rate node nosuch on pci/0000:5e:00.0 (its nodes: grp1, grp2)",
        ),
        (
            &["rate-node", "set", PF, "nosuch", "--max-tx-rate", "5"],
            "no rate node nosuch",
        ),
        (&["rate-node", "set", PF, "grp1"], "nothing to set"),
        (
            &["rate-node", "set", PF, "grp1", "--parent", "grp1"],
            "its own parent",
        ),
        (
            &["rate-node", "set", PF, "grp1", "--parent", "grp2"],
            "below it (a cycle)",
        ),
        (&["rate-node", "del", PF, "nosuch"], "no rate node nosuch"),
        (
            &["vf", "rate", PF, "1", "--parent", "nosuch"],
            "no rate node nosuch",
        ),
        (
            &["vf", "rate", PF, "9", "--max-tx-rate", "5"],
            "VF 9 of enp94s0f0np0 has no devlink rate leaf",
        ),
        (
            &[
                "vf",
                "rate",
                PF,
                "1",
                "--min-tx-rate",
                "300",
                "--max-tx-rate",
                "200",
            ],
            "is above max_tx_rate",
        ),
        (
            &["rate-node", "list", "enp59s0f1"],
            "has no devlink eswitch",
        ),
        (
            &["rate-node", "add", "nosuchnic0", "g3"],
            "has no devlink eswitch",
        ),
    ];
    for (cmd, want) in cases {
        let e = sim.refused(cmd);
        assert!(e.contains(want), "{cmd:?}: {e}");
        assert!(
            e.contains("nothing was changed") || cmd[1] == "list" || want.contains("eswitch"),
            "{cmd:?}: {e}"
        );
    }
    assert_eq!(sim.record(), rec, "the kernel's objects are untouched");
    assert_eq!(sim.journal().len(), n, "no request reached the kernel");

    // What only the kernel refuses: a node on the legacy PF (switchdev only), with its text.
    let e = sim.refused(&["rate-node", "add", LEGACY_PF, "g3"]);
    assert!(e.contains("EOPNOTSUPP"), "{e}");
    assert!(
        e.contains("Rate node creation supported only in switchdev mode"),
        "{e}"
    );
    assert!(e.contains("is legacy"), "{e}");
    assert!(rates(&sim.list(LEGACY_PF), "node").is_empty());
}

#[test]
fn a_half_applied_leaf_request_is_put_back() {
    let sim = Sim::new();
    sim.ok(&["rate-node", "add", PF, "grp1", "--json"]);
    sim.ok(&["vf", "rate", PF, "1", "--max-tx-rate", "50", "--json"]);
    // The kernel sets tx_max, then fails the parent: vifman puts tx_max back.
    let e = sim.refused_with(
        &[
            "vf",
            "rate",
            PF,
            "1",
            "--max-tx-rate",
            "100",
            "--parent",
            "grp1",
        ],
        &[("VIFMAN_SIM_FAIL", "devlink.rate.parent:EIO")],
    );
    assert!(e.contains("EIO"), "{e}");
    assert!(
        e.contains("put back: devlink rate set 0000:5e:00.0/vf1 tx_max 6250000"),
        "{e}"
    );
    let leaf = sim.leaf(1);
    assert_eq!(leaf["max_tx_rate"], 50);
    assert_eq!(leaf["parent"], Value::Null);
    // A request refused before anything changed: nothing to put back.
    let e = sim.refused_with(
        &["rate-node", "set", PF, "grp1", "--max-tx-rate", "10"],
        &[("VIFMAN_SIM_FAIL", "devlink.rate.node:EBUSY")],
    );
    assert!(
        e.contains("EBUSY") && e.contains("nothing was changed"),
        "{e}"
    );
    assert_eq!(sim.nodes()[0]["tx_max"], 0);
}

/// `vf rate` on a VF an allocation holds is refused (by netdev, PCI address and devlink
/// handle), naming the VIF and instance, with nothing sent to the kernel, like `vf set`;
/// `--force` changes it, a read-only `vf rate` and another VF are not refused.
#[test]
fn vf_rate_on_an_allocated_vf_is_refused_unless_forced() {
    let sim = Sim(SimEnv::with_config(
        "[[device_spec]]\npf_names = [\"enp94s0f0np0#1\"]\nphysical_network = \"physnet-sw\"\n",
    ));
    let o = sim.0.allocate_vif("physnet-sw", VIF_ID, &[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = sim.leaf(1);
    let n = sim.journal().len();
    let handle = format!("pci/{PF_ADDR}");
    for pf in [PF, PF_ADDR, handle.as_str()] {
        let e = sim.refused(&["vf", "rate", pf, "1", "--max-tx-rate", "50"]);
        assert!(
            e.contains("is allocated") && e.contains(VIF_ID) && e.contains(INST),
            "{e}"
        );
        assert!(e.contains("--force"), "the hint names the override: {e}");
    }
    assert_eq!(sim.journal().len(), n, "nothing sent: {:#?}", sim.journal());
    assert_eq!(sim.leaf(1), before);
    // Reading the leaf is not a change.
    let r = sim.ok(&["vf", "rate", PF, "1", "--json"]);
    assert_eq!(r["action"], "unchanged");
    // Another VF of the PF is not held.
    sim.ok(&["vf", "rate", PF, "2", "--max-tx-rate", "40", "--json"]);
    assert_eq!(sim.leaf(2)["tx_max"], 5_000_000);
    // --force changes it.
    let r = sim.ok(&[
        "vf",
        "rate",
        PF,
        "1",
        "--max-tx-rate",
        "50",
        "--force",
        "--json",
    ]);
    assert_eq!(r["object"]["tx_max"], 6_250_000);
}
