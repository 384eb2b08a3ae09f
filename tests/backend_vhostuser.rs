//! vhost-user: without OVS (socket directory + peer check), and as OVS-DPDK ports with a
//! real peer (our listener as QEMU in server mode; dpdk-testpmd virtio-user when present).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value as J};
use vifman::backend::{select, Config, Instance};

const MAC: &str = "fa:16:3e:00:00:05";

fn inst() -> Instance {
    Instance {
        uuid: VM_UUID.into(),
        ..Default::default()
    }
}

fn vhu_vif(mode: &str, path: &str, profile: J) -> J {
    obj(
        "VIFVHostUser",
        json!({
            "id": VIF_ID, "address": MAC, "plugin": "noop", "mode": mode, "path": path,
            "vif_name": "vhu0",
            "network": network("br-int", Some(1500), false),
            "port_profile": profile,
        }),
    )
}

fn fp_tap() -> J {
    obj("VIFPortProfileFPTap", json!({"mac_address": MAC}))
}

#[test]
fn socket_dir_is_created_0750_and_a_listening_peer_is_seen() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("vhu");
    let sock = dir.join("sock0");
    let vif = load(&vhu_vif("client", sock.to_str().unwrap(), fp_tap()));
    let b = select(&vif, &Config::default()).unwrap();
    assert_eq!(b.name(), "vhostuser");

    let rep = b.plug(&vif, &inst()).unwrap();
    let m = std::fs::metadata(&dir).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o750);
    assert_eq!(rep.details["peer"], "absent");
    assert_eq!(rep.details["mode"], "client");
    assert_eq!(rep.details["path"], sock.to_str().unwrap());

    // A backend (the vhost-user server when QEMU is the client) starts listening.
    let l = UnixListener::bind(&sock).unwrap();
    let c = Config {
        require_peer: true,
        ..Config::default()
    };
    let rep = select(&vif, &c).unwrap().plug(&vif, &inst()).unwrap();
    assert_eq!(rep.details["peer"], "listening");
    l.accept().unwrap(); // our probe really connected

    drop(l);
    // Stale socket: unplug removes it, twice is fine.
    b.unplug(&vif, &inst()).unwrap();
    assert!(!sock.exists());
    b.unplug(&vif, &inst()).unwrap();
}

#[test]
fn require_peer_fails_with_the_path_when_nobody_listens() {
    let t = tempfile::tempdir().unwrap();
    let sock = t.path().join("s");
    let vif = load(&vhu_vif("client", sock.to_str().unwrap(), fp_tap()));
    let c = Config {
        require_peer: true,
        ..Config::default()
    };
    let e = select(&vif, &c).unwrap().plug(&vif, &inst()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(sock.to_str().unwrap()), "{msg}");
    assert!(msg.contains("no vhost-user backend is listening"), "{msg}");
}

#[test]
fn unsafe_socket_dirs_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let ww = t.path().join("ww");
    std::fs::create_dir(&ww).unwrap();
    std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o777)).unwrap();
    let vif = load(&vhu_vif("server", ww.join("s").to_str().unwrap(), fp_tap()));
    let e = select(&vif, &Config::default())
        .unwrap()
        .plug(&vif, &inst())
        .unwrap_err();
    assert!(e.to_string().contains("world-writable"), "{e}");

    let link = t.path().join("link");
    std::os::unix::fs::symlink("/tmp", &link).unwrap();
    let vif = load(&vhu_vif(
        "server",
        link.join("s").to_str().unwrap(),
        fp_tap(),
    ));
    let e = select(&vif, &Config::default())
        .unwrap()
        .plug(&vif, &inst())
        .unwrap_err();
    assert!(e.to_string().contains("symlink"), "{e}");

    let vif = load(&vhu_vif("server", "relative/s", fp_tap()));
    assert!(select(&vif, &Config::default())
        .unwrap()
        .plug(&vif, &inst())
        .is_err());
}

#[test]
fn fp_profiles_pick_the_socket_backend_and_ovs_profiles_pick_ovs() {
    for p in [
        fp_tap(),
        obj("VIFPortProfileFPBridge", json!({"bridge_name": "br0"})),
        obj(
            "VIFPortProfileFPOpenVSwitch",
            json!({"interface_id": IFACE_ID, "profile_id": "x", "bridge_name": "br0"}),
        ),
    ] {
        let vif = load(&vhu_vif("server", "/tmp/x/s", p));
        assert_eq!(
            select(&vif, &Config::default()).unwrap().name(),
            "vhostuser"
        );
    }
    let vif = load(&vhu_vif("server", "/tmp/x/s", ovs_profile(json!({}))));
    assert_eq!(select(&vif, &Config::default()).unwrap().name(), "ovs");
}

// ---- OVS-DPDK ----------------------------------------------------------------------------

fn ovs_cfg(sb: &OvsSandbox) -> Config {
    Config {
        ovsdb: sb.db.clone(),
        ovs_timeout: Duration::from_secs(30),
        ..Config::default()
    }
}

fn wait_status(sb: &OvsSandbox, port: &str, want: &str, t: Duration) -> J {
    let end = Instant::now() + t;
    loop {
        let row = sb.row("Interface", port).expect("interface row");
        if row["status"]["status"] == want || Instant::now() > end {
            return row;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dpdk_vhostuserclient_port_connects_to_a_qemu_like_listener() {
    // mode=server: QEMU listens, OVS (dpdkvhostuserclient) connects. We play QEMU's part
    // as far as the socket goes: OVS must connect to our listener.
    in_netns("dpdk_vhostuserclient", || {
        let sb = match OvsSandbox::start(true) {
            Ok(sb) => sb,
            Err(why) => return skip("dpdk_vhostuserclient", &why),
        };
        let sock = sb.dir.join("qemu-vhu0.sock");
        let l = UnixListener::bind(&sock).unwrap();
        l.set_nonblocking(true).unwrap();
        let vif = load(&vhu_vif(
            "server",
            sock.to_str().unwrap(),
            ovs_profile(json!({})),
        ));
        let b = select(&vif, &ovs_cfg(&sb)).unwrap();
        b.plug(&vif, &inst()).unwrap();

        let iface = sb.row("Interface", "vhu6f0f6f2c-7c").expect("row");
        assert_eq!(iface["type"], "dpdkvhostuserclient");
        assert_eq!(
            iface["options"]["vhost-server-path"],
            sock.to_str().unwrap()
        );
        assert_eq!(iface["mtu_request"], 1500);
        assert_eq!(iface["external_ids"]["iface-id"], IFACE_ID);
        assert_eq!(iface["error"], json!([]));
        assert_eq!(
            sb.row("Bridge", "br-int").unwrap()["datapath_type"],
            "netdev"
        );

        let end = Instant::now() + Duration::from_secs(10);
        let conn = loop {
            match l.accept() {
                Ok((c, _)) => break Some(c),
                Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
                Err(_) => break None,
            }
        };
        assert!(
            conn.is_some(),
            "ovs-vswitchd never connected to the QEMU-side socket"
        );
        let row = sb.row("Interface", "vhu6f0f6f2c-7c").unwrap();
        assert_eq!(row["status"]["mode"], "client", "{row}");

        b.plug(&vif, &inst()).unwrap(); // idempotent
        b.unplug(&vif, &inst()).unwrap();
        assert_eq!(sb.names("Port"), ["br-int"]);
        assert_eq!(sb.names("Interface"), ["br-int"]);
    });
}

#[test]
fn dpdk_vhostuser_port_reaches_connected_with_testpmd() {
    // mode=client: OVS is the server at $OVS_RUNDIR/vhu…; dpdk-testpmd's virtio-user is
    // the guest side. This is the full handshake up to status=connected.
    in_netns("dpdk_vhostuser_testpmd", || {
        let Some(testpmd) = which("dpdk-testpmd") else {
            return skip(
                "dpdk_vhostuser_testpmd",
                "dpdk-testpmd not found (apt-get install dpdk-dev)",
            );
        };
        let sb = match OvsSandbox::start(true) {
            Ok(sb) => sb,
            Err(why) => return skip("dpdk_vhostuser_testpmd", &why),
        };
        let vif = load(&vhu_vif(
            "client",
            "/ignored/by/ovs",
            ovs_profile(json!({})),
        ));
        let b = select(&vif, &ovs_cfg(&sb)).unwrap();
        b.plug(&vif, &inst()).unwrap();
        let port = "vhu6f0f6f2c-7c";
        let iface = sb.row("Interface", port).unwrap();
        assert_eq!(iface["type"], "dpdkvhostuser");
        let sock = sb.dir.join(port);
        assert!(
            sock.exists(),
            "OVS created its server socket {}",
            sock.display()
        );
        assert_eq!(
            wait_status(&sb, port, "x", Duration::ZERO)["status"]["status"],
            "disconnected"
        );

        let prefix = format!("tp{}", std::process::id());
        let mut child = std::process::Command::new(testpmd)
            .args([
                "-l",
                "0,1",
                "--no-huge",
                "-m",
                "256",
                "--no-pci",
                "--no-shconf",
                "--no-telemetry",
                &format!("--file-prefix={prefix}"),
                &format!("--vdev=net_virtio_user0,path={}", sock.display()),
                "--",
                "--total-num-mbufs=2048",
                "--forward-mode=txonly",
                "--stats-period=1",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let row = wait_status(&sb, port, "connected", Duration::from_secs(20));
        // SAFETY: SIGTERM to the child we spawned.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
        assert_eq!(row["status"]["status"], "connected", "{row}");

        b.unplug(&vif, &inst()).unwrap();
        assert!(sb.row("Interface", port).is_none());
    });
}
