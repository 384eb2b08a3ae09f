//! OVSDB over tcp: and ssl: remotes (os-vif's `ovsdb_connection`), against the private OVS of
//! tests/common listening on each: `ovs-vsctl set-manager ptcp:6640:127.0.0.1` (os-vif's
//! default remote) and `pssl:6641:127.0.0.1` with certificates made by `ovs-pki` in the test.
//! Each test runs in its own network namespace, so the fixed ports are private. A refused or
//! untrusted remote is a clear error and leaves nothing behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value as J};
use vifman::backend::ovs::remote::TlsFiles;
use vifman::backend::{select, Config, Instance};

const MAC: &str = "fa:16:3e:00:00:07";

fn inst() -> Instance {
    Instance {
        uuid: VM_UUID.into(),
        name: "vm1".into(),
        project_id: "p".into(),
    }
}

fn vif_json(tap: &str) -> J {
    obj(
        "VIFOpenVSwitch",
        json!({
            "id": VIF_ID, "address": MAC, "plugin": "ovs", "vif_name": tap,
            "bridge_name": "br-int",
            "network": network("br-int", Some(1450), false),
            "port_profile": ovs_profile(json!({"datapath_type": "netdev", "create_port": true, "create_tap": true})),
        }),
    )
}

fn cfg(ovsdb: &str, tls: Option<TlsFiles>) -> Config {
    Config {
        ovsdb: ovsdb.into(),
        ovsdb_tls: tls,
        ovs_timeout: Duration::from_secs(20),
        default_datapath_type: "netdev".into(),
        ..Config::default()
    }
}

fn with_ovs(test: &str, f: impl FnOnce(&OvsSandbox) + Send) {
    in_netns(test, || match OvsSandbox::start(false) {
        Ok(sb) => {
            f(&sb);
            drop(sb);
        }
        Err(why) => skip(test, &why),
    });
}

/// An `ovs-pki` CA in `dir` with a server and a client certificate signed by it.
struct Pki {
    ca: PathBuf,
    srv: (PathBuf, PathBuf),
    cli: (PathBuf, PathBuf),
}

fn ovs_pki(dir: &Path, name: &str) -> Result<Pki, String> {
    let pki = dir.join(format!("{name}-pki"));
    let run = |args: &[&str]| -> Result<(), String> {
        let o = Command::new("ovs-pki")
            .arg(format!("--dir={}", pki.display()))
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("ovs-pki: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "ovs-pki {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok(())
    };
    run(&["init", "--force"])?;
    let srv = format!("{name}-srv");
    let cli = format!("{name}-cli");
    run(&["req+sign", &srv, "switch", "--force"])?;
    run(&["req+sign", &cli, "switch", "--force"])?;
    let pair = |n: &str| {
        (
            dir.join(format!("{n}-privkey.pem")),
            dir.join(format!("{n}-cert.pem")),
        )
    };
    Ok(Pki {
        ca: pki.join("switchca/cacert.pem"),
        srv: pair(&srv),
        cli: pair(&cli),
    })
}

fn tls(p: &Pki) -> TlsFiles {
    TlsFiles {
        private_key: p.cli.0.clone(),
        certificate: p.cli.1.clone(),
        ca_cert: p.ca.clone(),
    }
}

/// The plug over `ovsdb` wrote what the unix-socket plug writes; unplug removes it.
fn plug_and_check(sb: &OvsSandbox, c: &Config, tap: &str) {
    let vif = load(&vif_json(tap));
    let b = select(&vif, c).unwrap();
    let rep = b
        .plug(&vif, &inst())
        .unwrap_or_else(|e| panic!("plug over {}: {e}", c.ovsdb));
    assert!(
        rep.details["ofport"].as_i64().unwrap() > 0,
        "{:?}",
        rep.details
    );
    let iface = sb.row("Interface", tap).expect("interface row");
    assert_eq!(
        iface["external_ids"],
        json!({"attached-mac": MAC, "iface-id": IFACE_ID, "iface-status": "active", "vm-uuid": VM_UUID})
    );
    assert!(rtnl().get_link(tap).unwrap().is_some(), "tap created");
    b.unplug(&vif, &inst()).unwrap();
    assert!(
        sb.row("Port", tap).is_none(),
        "port removed over {}",
        c.ovsdb
    );
    assert!(rtnl().get_link(tap).unwrap().is_none(), "tap removed");
}

/// A refused or untrusted remote: the error contains `want`, and no tap, bridge or port
/// was created.
fn refused(sb: &OvsSandbox, c: &Config, tap: &str, want: &str) {
    let before = link_names();
    let bridges = sb.names("Bridge");
    let vif = load(&vif_json(tap));
    let e = select(&vif, c).unwrap().plug(&vif, &inst()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(want), "{}: {msg}", c.ovsdb);
    assert_eq!(link_names(), before, "nothing left in the kernel");
    assert_eq!(sb.names("Bridge"), bridges, "no bridge created");
    assert!(sb.row("Port", tap).is_none());
}

#[test]
fn tcp_remote_plugs_like_the_unix_socket() {
    with_ovs("ovs_remote_tcp", |sb| {
        sb.vsctl(&["set-manager", "ptcp:6640:127.0.0.1"]);
        wait_listening("127.0.0.1:6640");
        plug_and_check(sb, &cfg("tcp:127.0.0.1:6640", None), "taptcp0");
        // A port nobody listens on: connection refused, nothing created.
        refused(
            sb,
            &cfg("tcp:127.0.0.1:6650", None),
            "taptcp1",
            "cannot connect to OVSDB socket tcp:127.0.0.1:6650",
        );
    });
}

#[test]
fn ssl_remote_with_ovs_pki_certificates() {
    with_ovs("ovs_remote_ssl", |sb| {
        let pki = match ovs_pki(&sb.dir, "a") {
            Ok(p) => p,
            Err(why) => return skip("ovs_remote_ssl", &why),
        };
        sb.vsctl(&[
            "set-ssl",
            pki.srv.0.to_str().unwrap(),
            pki.srv.1.to_str().unwrap(),
            pki.ca.to_str().unwrap(),
        ]);
        sb.vsctl(&["set-manager", "pssl:6641:127.0.0.1"]);
        wait_listening("127.0.0.1:6641");
        plug_and_check(sb, &cfg("ssl:127.0.0.1:6641", Some(tls(&pki))), "tapssl0");

        // A server certificate from another CA: refused before anything is created.
        let other = ovs_pki(&sb.dir, "b").expect("second CA");
        let wrong_ca = TlsFiles {
            ca_cert: other.ca.clone(),
            ..tls(&pki)
        };
        refused(
            sb,
            &cfg("ssl:127.0.0.1:6641", Some(wrong_ca)),
            "tapssl1",
            "TLS: handshake",
        );
        // No key/certificate/CA at all.
        refused(
            sb,
            &cfg("ssl:127.0.0.1:6641", None),
            "tapssl2",
            "needs a private key",
        );
        // Plain tcp to the ssl port: the server never answers our JSON; a clear error.
        refused(
            sb,
            &Config {
                ovs_timeout: Duration::from_secs(2),
                ..cfg("tcp:127.0.0.1:6641", None)
            },
            "tapssl3",
            "OVSDB socket tcp:127.0.0.1:6641",
        );

        // The command line: --ovsdb ssl:... with the ovs-vsctl-style flags.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("vif.json");
        std::fs::write(&f, serde_json::to_vec(&vif_json("tapssl4")).unwrap()).unwrap();
        let run_dir = dir.path().join("run");
        let args = |verb: &'static str| -> Vec<String> {
            [
                verb,
                f.to_str().unwrap(),
                "--instance-uuid",
                VM_UUID,
                "--ovsdb",
                "ssl:127.0.0.1:6641",
                "--private-key",
                pki.cli.0.to_str().unwrap(),
                "--certificate",
                pki.cli.1.to_str().unwrap(),
                "--ca-cert",
                pki.ca.to_str().unwrap(),
                "--datapath-type",
                "netdev",
                "--run-dir",
                run_dir.to_str().unwrap(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let a = args("plug");
        let o = vifman(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(sb.row("Port", "tapssl4").is_some());
        let a = args("unplug");
        let o = vifman(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(sb.row("Port", "tapssl4").is_none());
    });
}

/// ovsdb-server opens a manager's listener on its next main-loop turn.
fn wait_listening(addr: &str) {
    let t = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "nothing listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
