//! Hostile input for the software backends: bad interface names and socket paths, devices
//! that are not ours under our names, and real `vifman plug` / `vifman unplug` processes
//! racing on one VIF, bridge or OVS port. Each case asserts a clear one-line error or a
//! success, no leaked links and no state change.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value as J};
use vifman::backend::{select, Config, Instance};

const MAC: &str = "fa:16:3e:00:00:07";

fn inst() -> Instance {
    Instance {
        uuid: VM_UUID.into(),
        ..Default::default()
    }
}

fn generic_vif(name: &str) -> J {
    obj(
        "VIFGeneric",
        json!({
            "id": VIF_ID, "address": MAC, "plugin": "noop", "vif_name": name,
            "network": network("unused", None, false),
            "port_profile": obj("VIFPortProfileBase", json!({})),
        }),
    )
}

fn bridge_vif(tap: &str, bridge: &str) -> J {
    obj(
        "VIFBridge",
        json!({
            "id": VIF_ID, "address": MAC, "plugin": "linux_bridge",
            "vif_name": tap, "bridge_name": bridge,
            "network": network(bridge, None, true),
            "port_profile": obj("VIFPortProfileBase", json!({})),
        }),
    )
}

fn ovs_vif(tap: &str) -> J {
    obj(
        "VIFOpenVSwitch",
        json!({
            "id": VIF_ID, "address": MAC, "plugin": "ovs", "vif_name": tap,
            "bridge_name": "br-int",
            "network": network("br-int", None, false),
            "port_profile": ovs_profile(json!({
                "datapath_type": "netdev", "create_port": true, "create_tap": true})),
        }),
    )
}

fn vhu_vif(path: &str) -> J {
    obj(
        "VIFVHostUser",
        json!({
            "id": VIF_ID, "address": MAC, "plugin": "noop", "mode": "server", "path": path,
            "vif_name": "vhu0",
            "network": network("br-int", None, false),
            "port_profile": obj("VIFPortProfileFPTap", json!({"mac_address": MAC})),
        }),
    )
}

/// Runs `vifman <cmd> <vif file>` with a private run dir (and OVSDB, if given).
fn vif_cmd(cmd: &str, vif: &Path, run_dir: &Path, ovsdb: Option<&str>) -> Output {
    let mut v = Vifman::new([cmd, vif.to_str().unwrap(), "--instance-uuid", VM_UUID])
        .arg("--run-dir")
        .arg(run_dir);
    if let Some(db) = ovsdb {
        v = v.args(["--ovsdb", db, "--ovs-timeout", "30"]);
    }
    v.output()
}

fn write_vif(dir: &Path, name: &str, vif: &J) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string(vif).unwrap()).unwrap();
    p
}

fn one_line_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

// ---- names ----------------------------------------------------------------------------

const BAD_NAMES: &[&str] = &[
    "tap%d", "%d", "a/b", "tap 0", "tap\t0", "tap:0", "ta\0p", ".", "..",
];

#[test]
fn bad_interface_names_are_refused_before_any_syscall() {
    in_netns("hostile_names", || {
        let run = tempfile::tempdir().unwrap();
        let cfg = Config {
            run_dir: run.path().to_path_buf(),
            ..Config::default()
        };
        let before = link_names();
        for name in BAD_NAMES {
            for vif in [
                generic_vif(name),
                bridge_vif(name, "brh0"),
                bridge_vif("taph0", name),
            ] {
                let vif = load(&vif);
                let b = select(&vif, &cfg).unwrap();
                for (what, r) in [
                    ("plug", b.plug(&vif, &inst())),
                    ("unplug", b.unplug(&vif, &inst())),
                ] {
                    let e = r.expect_err(&format!("{what} {name:?}"));
                    let msg = e.to_string();
                    assert!(
                        msg.contains("invalid VIF") && msg.contains("interface name"),
                        "{msg}"
                    );
                    assert_eq!(msg.lines().count(), 1, "{msg}");
                }
                // Nothing created: in particular no kernel-named tap0/br0 for "tap%d".
                assert_eq!(link_names(), before, "{name:?}");
            }
        }
        // No lock file either: refused before the lock, which is before any syscall.
        assert!(!run.path().join("locks").exists());
    });
}

#[test]
fn bad_names_through_the_cli_are_one_line_errors() {
    in_netns("hostile_names_cli", || {
        let t = tempfile::tempdir().unwrap();
        let before = link_names();
        for (i, name) in ["tap%d", "br/x", "tap 1"].iter().enumerate() {
            let f = write_vif(t.path(), &format!("v{i}.json"), &generic_vif(name));
            let err = one_line_error(&vif_cmd("plug", &f, t.path(), None));
            assert!(err.contains("vif_name"), "{err}");
        }
        assert_eq!(link_names(), before);
    });
}

#[test]
fn devices_that_are_not_our_taps_are_not_adopted() {
    in_netns("hostile_adopt", || {
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().unwrap();
            assert!(st.success(), "ip {args:?}");
        };
        ip(&["tuntap", "add", "dev", "tunl3", "mode", "tun"]);
        ip(&[
            "tuntap", "add", "dev", "tapother", "mode", "tap", "user", "4242",
        ]);
        let cfg = Config {
            run_dir: tempfile::tempdir().unwrap().keep(),
            ..Config::default()
        };
        let before = rtnl().dump_links().unwrap();
        for (name, found) in [
            ("tunl3", "a TUN (layer 3) device"),
            ("tapother", "a tap owned by uid 4242"),
        ] {
            let vif = load(&generic_vif(name));
            let b = select(&vif, &cfg).unwrap();
            let e = b.plug(&vif, &inst()).unwrap_err().to_string();
            assert!(
                e.contains(&format!("{name} already exists as {found}")),
                "{e}"
            );
            // Unplug does not delete it either.
            let e = b.unplug(&vif, &inst()).unwrap_err().to_string();
            assert!(e.contains(found), "{e}");
        }
        // Untouched: same links, same state (not set up, no new MAC or MTU).
        assert_eq!(rtnl().dump_links().unwrap(), before);
    });
}

// ---- vhost-user paths -----------------------------------------------------------------

#[test]
fn bad_socket_paths_are_refused_and_nothing_is_created() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().display().to_string();
    let cfg = Config {
        run_dir: t.path().join("run"),
        ..Config::default()
    };
    for path in [
        "relative/sock".to_string(),
        format!("{base}/a/../sock"),
        format!("{base}/./sock"),
        format!("{base}//sock"),
        format!("{base}/sock/"),
        format!("{base}/{}", "s".repeat(120)),
        format!("{base}/nul\0sock"),
    ] {
        let vif = load(&vhu_vif(&path));
        let b = select(&vif, &cfg).unwrap();
        let e = b.plug(&vif, &inst()).unwrap_err().to_string();
        assert!(e.contains("VIFVHostUser.path"), "{path:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    let mut left: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert!(left.is_empty(), "{left:?}");

    // A symlinked socket directory is refused, not followed (nothing made at its target).
    let target = t.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&target, t.path().join("link")).unwrap();
    let vif = load(&vhu_vif(&format!("{base}/link/sock")));
    let e = select(&vif, &cfg)
        .unwrap()
        .plug(&vif, &inst())
        .unwrap_err()
        .to_string();
    assert!(e.contains("symlink"), "{e}");
}

#[test]
fn unplug_removes_only_stale_sockets_in_directories_vifman_created() {
    let t = tempfile::tempdir().unwrap();
    let cfg = Config {
        run_dir: t.path().join("run"),
        ..Config::default()
    };
    // Someone else's directory with a stale socket: left alone.
    let theirs = t.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    let sock = theirs.join("sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let vif = load(&vhu_vif(sock.to_str().unwrap()));
    let b = select(&vif, &cfg).unwrap();
    b.plug(&vif, &inst()).unwrap();
    let rep = b.unplug(&vif, &inst()).unwrap();
    assert!(
        sock.exists(),
        "a socket vifman did not make room for is kept"
    );
    assert!(
        rep.actions.iter().any(|a| a.contains("left stale socket")),
        "{:?}",
        rep.actions
    );

    // A directory vifman created: its stale socket goes, a regular file of that name stays.
    let ours = t.path().join("ours");
    let sock = ours.join("sock");
    let vif = load(&vhu_vif(sock.to_str().unwrap()));
    b.plug(&vif, &inst()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    b.unplug(&vif, &inst()).unwrap();
    assert!(!sock.exists());
    std::fs::write(&sock, "not a socket").unwrap();
    b.unplug(&vif, &inst()).unwrap();
    assert!(sock.exists(), "only sockets are ever removed");
}

// ---- racing processes -----------------------------------------------------------------

/// Starts all `cmds` (plug/unplug of files) at once and waits for them.
fn race(cmds: &[(&str, &Path)], run_dir: &Path, ovsdb: Option<&str>) -> Vec<Output> {
    std::thread::scope(|s| {
        let hs: Vec<_> = cmds
            .iter()
            .map(|(c, f)| s.spawn(move || vif_cmd(c, f, run_dir, ovsdb)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_all_ok(outs: &[Output], ctx: &str) {
    for o in outs {
        assert!(
            o.status.success(),
            "{ctx}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn racing_ovs_plug_and_unplug_never_leave_a_port_without_its_tap() {
    in_netns("hostile_race_ovs", || {
        let sb = match OvsSandbox::start(false) {
            Ok(sb) => sb,
            Err(why) => return skip("hostile_race_ovs", &why),
        };
        let t = tempfile::tempdir().unwrap();
        let f = write_vif(t.path(), "vif.json", &ovs_vif("taprace0"));
        for round in 0..12 {
            let cmds: &[(&str, &Path)] = match round % 3 {
                0 => &[("plug", &f), ("unplug", &f)],
                1 => &[("unplug", &f), ("plug", &f), ("plug", &f)],
                _ => &[("plug", &f), ("unplug", &f), ("unplug", &f), ("plug", &f)],
            };
            let outs = race(cmds, t.path(), Some(&sb.db));
            assert_all_ok(&outs, &format!("round {round}"));
            let port = sb.row("Interface", "taprace0");
            let tap = rtnl().get_link("taprace0").unwrap();
            assert_eq!(
                port.is_some(),
                tap.is_some(),
                "round {round}: OVS port and TAP disagree (port {port:?}, tap {tap:?})"
            );
            if let Some(p) = port {
                assert_eq!(p["error"], json!([]), "round {round}");
            }
        }
        let out = vif_cmd("unplug", &f, t.path(), Some(&sb.db));
        assert!(out.status.success());
        assert!(sb.row("Interface", "taprace0").is_none());
        assert!(rtnl().get_link("taprace0").unwrap().is_none());
    });
}

#[test]
fn racing_bridge_plugs_and_unplugs_on_one_bridge() {
    // Two VIFs share a bridge the network provides: an unplug deleting the bridge it left
    // empty must not race a plug adding a tap to it (EBUSY/ENODEV/EEXIST before locks).
    in_netns("hostile_race_bridge", || {
        let t = tempfile::tempdir().unwrap();
        let a = write_vif(t.path(), "a.json", &bridge_vif("tapra", "brrace"));
        let b = write_vif(t.path(), "b.json", &bridge_vif("taprb", "brrace"));
        let before = link_names();
        for round in 0..10 {
            let outs = race(
                &[("plug", &a), ("unplug", &b), ("plug", &b), ("unplug", &a)],
                t.path(),
                None,
            );
            assert_all_ok(&outs, &format!("round {round}"));
            // Whatever the order, a tap that exists is in the bridge and up.
            let mut rt = rtnl();
            for tap in ["tapra", "taprb"] {
                if let Some(l) = rt.get_link(tap).unwrap() {
                    let br = rt
                        .get_link("brrace")
                        .unwrap()
                        .expect("bridge of a live tap");
                    assert_eq!(l.master, Some(br.index), "round {round}: {tap}");
                }
            }
        }
        let outs = race(&[("unplug", &a), ("unplug", &b)], t.path(), None);
        assert_all_ok(&outs, "final unplug");
        assert_eq!(link_names(), before);
    });
}
