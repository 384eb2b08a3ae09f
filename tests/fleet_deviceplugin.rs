//! The device plugin against a fake kubelet over the real v1beta1 wire protocol, on a
//! simulated nfv-host: registration, ListAndWatch (initial list, numvfs change, PF link down),
//! NUMA-aware preferred allocation, Allocate (env, vfio device specs, the shared store), the
//! CLI refusing the plugin's VFs and vice versa, kubelet restart, and the metrics endpoint.
#![cfg(feature = "fleet")]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use tokio_stream::StreamExt;
use vifman::fleet::proto::{
    AllocateRequest, ContainerAllocateRequest, ContainerPreferredAllocationRequest, Empty,
    ListAndWatchResponse, PreferredAllocationRequest,
};

/// physnet1 spans both NUMA nodes: the X710 VFs (node 0, two PFs) and E810 VFs 0-11 (node 1).
const CONFIG_TOML: &str = r#"
exclude = ["eno2"]
[[device_spec]]
vendor_id = "8086"
product_id = "154c"
address = "0000:3b:*.*"
physical_network = "physnet1"
[[device_spec]]
pf_names = ["enp134s0#0-11"]
physical_network = "physnet1"
[[device_spec]]
devname = "enp175s0f0"
physical_network = "physnet3"
# No debounce: this test checks that a change reaches kubelet at all (the debounce has
# tests of its own, with injected time).
[health]
unhealthy_after_samples = 1
unhealthy_after_secs = 0
healthy_after_samples = 1
healthy_after_secs = 0
"#;

type Stream = tonic::Streaming<ListAndWatchResponse>;

/// Next ListAndWatch message satisfying `pred`, within `timeout`.
async fn next_matching(
    s: &mut Stream,
    timeout: Duration,
    pred: impl Fn(&ListAndWatchResponse) -> bool,
) -> ListAndWatchResponse {
    let deadline = Instant::now() + timeout;
    let mut seen = vec![];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(m) = tokio::time::timeout(left, s.next()).await else {
            panic!(
                "no matching ListAndWatch update within {timeout:?}; got {} others, last: {:?}",
                seen.len(),
                seen.last()
            );
        };
        let m = m.expect("stream open").expect("no error");
        if pred(&m) {
            return m;
        }
        seen.push(m);
    }
}

fn health_of(m: &ListAndWatchResponse, id: &str) -> String {
    m.devices
        .iter()
        .find(|d| d.id == id)
        .map(|d| d.health.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_plugin_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let kdir = tmp.path().join("device-plugins");
    let config = tmp.path().join("vifman.toml");
    std::fs::write(&config, CONFIG_TOML).unwrap();
    let host = host_args(&state, config.to_str().unwrap());
    // Create the simulation before the daemon so the CLI and daemon share one simulated host.
    run_ok(&["pools"], &host);
    let kubelet = FakeKubelet::start(&kdir).await;
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut args: Vec<String> = vec!["device-plugin".into()];
    args.extend(host.clone());
    args.extend([
        "--kubelet-dir".into(),
        kdir.display().to_string(),
        "--mode".into(),
        "hostdev-vfio".into(),
        "--metrics-listen".into(),
        metrics_addr.clone(),
        "--rescan-interval".into(),
        "600".into(),
        "--devinfo-dir".into(),
        tmp.path().join("devinfo").display().to_string(),
    ]);
    let _daemon = Daemon::spawn(&args);

    // Registration: one resource per pool, endpoints relative to the directory.
    let regs = kubelet.wait_registered(2, Duration::from_secs(20)).await;
    let names: BTreeSet<String> = regs.iter().map(|r| r.resource_name.clone()).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "vifman.io/physnet1".to_string(),
            "vifman.io/physnet3".to_string()
        ])
    );
    assert!(regs
        .iter()
        .all(|r| r.version == "v1beta1" && !r.endpoint.contains('/')));
    let ep1 = regs
        .iter()
        .find(|r| r.resource_name.ends_with("physnet1"))
        .unwrap()
        .endpoint
        .clone();
    let ep3 = regs
        .iter()
        .find(|r| r.resource_name.ends_with("physnet3"))
        .unwrap()
        .endpoint
        .clone();

    // Initial device list: 8+8 X710 VFs on node 0, 12 E810 VFs on node 1. Unhealthy: the
    // fixture's VFs with admin MACs (in use outside vifman) and the unbound ones.
    let mut p1 = kubelet.plugin(&ep1).await;
    let mut s1 = p1.list_and_watch(Empty {}).await.unwrap().into_inner();
    let first = next_matching(&mut s1, Duration::from_secs(10), |_| true).await;
    assert_eq!(first.devices.len(), 28, "{first:?}");
    let unhealthy =
        |m: &ListAndWatchResponse| m.devices.iter().filter(|d| d.health == "Unhealthy").count();
    assert_eq!(unhealthy(&first), 12, "{first:?}");
    assert_eq!(health_of(&first, "0000:3b:02.0"), "Unhealthy");
    assert_eq!(health_of(&first, "0000:3b:02.3"), "Healthy");
    let numa_of = |m: &ListAndWatchResponse, id: &str| {
        m.devices
            .iter()
            .find(|d| d.id == id)
            .and_then(|d| d.topology.as_ref())
            .map(|t| t.nodes[0].id)
    };
    assert_eq!(numa_of(&first, "0000:3b:02.0"), Some(0));
    assert_eq!(numa_of(&first, "0000:86:01.0"), Some(1));

    // GetPreferredAllocation: the NUMA node holding most of what is available, spread over PFs.
    let avail = [
        "0000:3b:02.3",
        "0000:3b:0a.1",
        "0000:86:01.4",
        "0000:86:01.5",
        "0000:86:01.6",
    ]
    .map(String::from)
    .to_vec();
    let pref = p1
        .get_preferred_allocation(PreferredAllocationRequest {
            container_requests: vec![ContainerPreferredAllocationRequest {
                available_device_i_ds: avail.clone(),
                must_include_device_i_ds: vec![],
                allocation_size: 2,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    let got = &pref.container_responses[0].device_i_ds;
    assert_eq!(got.len(), 2);
    assert!(
        got.iter().all(|d| d.starts_with("0000:86:")),
        "NUMA 1 holds 3 of 5: {got:?}"
    );
    // A must-include device on node 0 pulls the choice there, onto the other PF.
    let pref = p1
        .get_preferred_allocation(PreferredAllocationRequest {
            container_requests: vec![ContainerPreferredAllocationRequest {
                available_device_i_ds: avail.clone(),
                must_include_device_i_ds: vec!["0000:3b:02.3".into()],
                allocation_size: 2,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        pref.container_responses[0].device_i_ds,
        vec!["0000:3b:02.3".to_string(), "0000:3b:0a.1".to_string()]
    );

    // A VF the CLI holds turns Unhealthy for kubelet, and the plugin refuses it.
    let o = vifman(
        &[
            &[
                "allocate",
                "--physnet",
                "physnet1",
                "--instance",
                "11111111-2222-3333-4444-555555555555",
                "--vif-id",
                "aaaaaaaa-2222-3333-4444-555555555555",
                "--numa",
                "1",
            ][..],
            &host.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let cli_vf = text(&o.stderr)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(cli_vf.starts_with("0000:86:"), "{cli_vf}");
    let m = next_matching(&mut s1, Duration::from_secs(10), |m| {
        health_of(m, &cli_vf) == "Unhealthy"
    })
    .await;
    assert_eq!(unhealthy(&m), 13);
    let err = p1
        .allocate(AllocateRequest {
            container_requests: vec![ContainerAllocateRequest {
                devices_ids: vec![cli_vf.clone()],
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");

    // Allocate two VFs: recorded in the shared store, bound to vfio-pci, env + device specs.
    let want = vec!["0000:3b:02.3".to_string(), "0000:3b:0a.2".to_string()];
    let resp = p1
        .allocate(AllocateRequest {
            container_requests: vec![ContainerAllocateRequest {
                devices_ids: want.clone(),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    let c = &resp.container_responses[0];
    assert_eq!(
        c.envs
            .get("PCIDEVICE_VIFMAN_IO_PHYSNET1")
            .map(String::as_str),
        Some("0000:3b:02.3,0000:3b:0a.2")
    );
    // PCIDEVICE_<RESOURCE>_INFO and the device-info files multus hands to CNI plugins.
    let info: serde_json::Value =
        serde_json::from_str(&c.envs["PCIDEVICE_VIFMAN_IO_PHYSNET1_INFO"]).unwrap();
    for a in &want {
        assert_eq!(info[a]["generic"]["deviceID"], a.as_str(), "{info}");
        assert!(info[a]["vfio"]["dev-mount"]
            .as_str()
            .unwrap()
            .starts_with("/dev/vfio/"));
        let f = tmp
            .path()
            .join("devinfo")
            .join(format!("vifman.io-physnet1-{a}-device.json"));
        let d: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        assert_eq!(
            (d["type"].as_str(), d["version"].as_str()),
            (Some("pci"), Some("1.1.0"))
        );
        assert_eq!(d["pci"]["pci-address"], a.as_str());
        assert!(d["pci"]["pf-pci-address"]
            .as_str()
            .unwrap()
            .starts_with("0000:3b:00."));
    }
    // Read back through vifman's own view of the simulated host.
    let inv = sim_inventory(NFV, &state);
    let group = |a: &str| inventory_device(&inv, a)["iommu_group"].to_string();
    let driver = |a: &str| {
        inventory_device(&inv, a)["driver"]
            .as_str()
            .map(str::to_string)
    };
    let mut paths: Vec<String> = c.devices.iter().map(|d| d.host_path.clone()).collect();
    paths.sort();
    let mut expect = vec![
        format!("/dev/vfio/{}", group("0000:3b:02.3")),
        format!("/dev/vfio/{}", group("0000:3b:0a.2")),
        "/dev/vfio/vfio".to_string(),
    ];
    expect.sort();
    assert_eq!(paths, expect);
    assert!(c
        .devices
        .iter()
        .all(|d| d.container_path == d.host_path && d.permissions == "rw"));
    assert_eq!(driver("0000:3b:02.3").as_deref(), Some("vfio-pci"));
    let recs: serde_json::Value =
        serde_json::from_str(&run_ok(&["allocations", "--json"], &host)).unwrap();
    let plugin_vfs: BTreeSet<String> = recs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["vif_id"].as_str().unwrap().starts_with("76666470"))
        .map(|r| r["vf"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(plugin_vfs, want.iter().cloned().collect());
    // No update follows: the plugin's own VFs stay Healthy (kubelet accounts for them); the
    // PF-link check below sees them in the list again.

    // The plugin takes all of physnet3; `vifman allocate` then finds nothing free there.
    let mut p3 = kubelet.plugin(&ep3).await;
    let mut s3 = p3.list_and_watch(Empty {}).await.unwrap().into_inner();
    let l3 = next_matching(&mut s3, Duration::from_secs(5), |_| true).await;
    assert_eq!(l3.devices.len(), 4);
    let all3: Vec<String> = l3
        .devices
        .iter()
        .filter(|d| d.health == "Healthy")
        .map(|d| d.id.clone())
        .collect();
    assert_eq!(all3.len(), 3, "af:10.0 carries an admin MAC: {l3:?}");
    p3.allocate(AllocateRequest {
        container_requests: vec![ContainerAllocateRequest {
            devices_ids: all3.clone(),
        }],
    })
    .await
    .unwrap();
    let o = vifman(
        &[
            &[
                "allocate",
                "--physnet",
                "physnet3",
                "--instance",
                "11111111-2222-3333-4444-555555555555",
                "--vif-id",
                "bbbbbbbb-2222-3333-4444-555555555555",
            ][..],
            &host.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("no free VF in pool physnet3"),
        "{}",
        text(&o.stderr)
    );
    // kubelet re-handing a VF (its pod ended; there is no Deallocate) is accepted.
    p3.allocate(AllocateRequest {
        container_requests: vec![ContainerAllocateRequest {
            devices_ids: vec![all3[0].clone()],
        }],
    })
    .await
    .unwrap();

    // Metrics agree with the store and the fixture.
    let text_m = tokio::task::spawn_blocking({
        let a = metrics_addr.clone();
        move || http_get(&a, "/metrics")
    })
    .await
    .unwrap();
    assert_eq!(
        metric(&text_m, r#"vifman_vfs{pool="physnet1",pf="0000:3b:00.0"}"#),
        Some(8.0),
        "{text_m}"
    );
    assert_eq!(
        metric(&text_m, r#"vifman_vfs{pool="physnet1",pf="0000:86:00.0"}"#),
        Some(12.0)
    );
    assert_eq!(
        metric(
            &text_m,
            r#"vifman_vfs_allocated{pool="physnet1",pf="0000:3b:00.0"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text_m,
            r#"vifman_vfs_allocated{pool="physnet1",pf="0000:86:00.0"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text_m,
            r#"vifman_vfs_free{pool="physnet1",pf="0000:3b:00.0"}"#
        ),
        Some(2.0),
        "8 - 5 in use outside - 1 plugin"
    );
    assert_eq!(
        metric(
            &text_m,
            r#"vifman_vfs_free{pool="physnet1",pf="0000:86:00.0"}"#
        ),
        Some(6.0),
        "12 - 4 in use outside - 1 unbound - 1 CLI"
    );
    assert_eq!(
        metric(
            &text_m,
            r#"vifman_vfs_unhealthy{pool="physnet1",pf="0000:3b:00.0"}"#
        ),
        Some(5.0)
    );
    assert_eq!(
        metric(
            &text_m,
            r#"vifman_vfs_free{pool="physnet3",pf="0000:af:00.0"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &text_m,
            r#"vifman_vfs_allocated{pool="physnet3",pf="0000:af:00.0"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        metric(
            &text_m,
            r#"vifman_allocation_failures_total{reason="held_elsewhere"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&text_m, r#"vifman_reconcile_drift{kind="vf-vanished"}"#),
        Some(0.0)
    );
    let recs: serde_json::Value =
        serde_json::from_str(&run_ok(&["allocations", "--json"], &host)).unwrap();
    assert_eq!(recs.as_array().unwrap().len(), 1 + 2 + 3);

    // `vifman numvfs --simulate` on the E810 (16 → 8 VFs, after the CLI released its VF
    // there): the stream follows.
    run_ok(
        &[
            "release",
            "--vif-id",
            "aaaaaaaa-2222-3333-4444-555555555555",
        ],
        &host,
    );
    run_ok(&["numvfs", "enp134s0", "8"], &host);
    let m = next_matching(&mut s1, Duration::from_secs(10), |m| {
        m.devices.len() == 16 + 8
    })
    .await;
    assert!(
        m.devices
            .iter()
            .filter(|d| d.id.starts_with("0000:86:"))
            .count()
            == 8
    );

    // PF link down: its VFs turn Unhealthy.
    // The link changes behind vifman's back, in the simulated kernel.
    let pf_link = sim_kernel(NFV, &state).join("sys/class/net/enp59s0f1/operstate");
    std::fs::write(&pf_link, "down\n").unwrap();
    let m = next_matching(&mut s1, Duration::from_secs(10), |m| {
        health_of(m, "0000:3b:0a.3") == "Unhealthy"
    })
    .await;
    assert_eq!(health_of(&m, "0000:3b:02.4"), "Healthy");
    assert_eq!(
        health_of(&m, "0000:3b:02.3"),
        "Healthy",
        "the plugin's own VF"
    );
    std::fs::write(&pf_link, "up\n").unwrap();
    next_matching(&mut s1, Duration::from_secs(10), |m| {
        health_of(m, "0000:3b:0a.3") == "Healthy"
    })
    .await;

    // kubelet restarts: sockets wiped, kubelet.sock re-created; the plugin serves and
    // registers again, and the new endpoint streams.
    drop(s1);
    drop(s3);
    kubelet.stop().await;
    let t0 = Instant::now();
    let kubelet = FakeKubelet::start(&kdir).await;
    let regs = kubelet.wait_registered(2, Duration::from_secs(20)).await;
    eprintln!("re-registered in {:?}", t0.elapsed());
    assert_eq!(regs.len(), 2);
    let mut p1 = kubelet.plugin(&ep1).await;
    let mut s1 = p1.list_and_watch(Empty {}).await.unwrap().into_inner();
    let m = next_matching(&mut s1, Duration::from_secs(10), |_| true).await;
    assert_eq!(m.devices.len(), 24);
    kubelet.stop().await;
}

/// Alias resources: whole devices (the nfv-host's NVMe drive) as `vifman.io/<alias>`.
const ALIAS_TOML: &str = r#"
[[device_spec]]
vendor_id = "144d"
product_id = "a808"

[[alias]]
name = "nvme"
vendor_id = "144d"
product_id = "a808"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_resources_hand_out_whole_devices_with_their_vfio_group() {
    const DRIVE: &str = "0000:d9:00.0";
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let kdir = tmp.path().join("device-plugins");
    let config = tmp.path().join("vifman.toml");
    std::fs::write(&config, ALIAS_TOML).unwrap();
    let host = host_args(&state, config.to_str().unwrap());
    run_ok(&["pools"], &host);
    let kernel = sim_kernel(NFV, &state);
    let driver = |a: &str| {
        std::fs::read_link(kernel.join(format!("sys/bus/pci/devices/{a}/driver")))
            .ok()
            .map(|l| l.file_name().unwrap().to_string_lossy().into_owned())
    };
    let group = std::fs::read_link(kernel.join(format!("sys/bus/pci/devices/{DRIVE}/iommu_group")))
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(driver(DRIVE).as_deref(), Some("nvme"));
    let kubelet = FakeKubelet::start(&kdir).await;
    let mut args: Vec<String> = vec!["device-plugin".into()];
    args.extend(host.clone());
    args.extend([
        "--kubelet-dir".into(),
        kdir.display().to_string(),
        "--rescan-interval".into(),
        "600".into(),
        "--devinfo-dir".into(),
        tmp.path().join("devinfo").display().to_string(),
    ]);
    let _daemon = Daemon::spawn(&args);
    let regs = kubelet.wait_registered(1, Duration::from_secs(20)).await;
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert_eq!(regs[0].resource_name, "vifman.io/nvme");
    let mut p = kubelet.plugin(&regs[0].endpoint).await;
    let mut s = p.list_and_watch(Empty {}).await.unwrap().into_inner();
    let first = next_matching(&mut s, Duration::from_secs(10), |_| true).await;
    assert_eq!(first.devices.len(), 1, "{first:?}");
    assert_eq!(health_of(&first, DRIVE), "Healthy");

    let alloc = |ids: Vec<String>| AllocateRequest {
        container_requests: vec![ContainerAllocateRequest { devices_ids: ids }],
    };
    // Not a device of the alias.
    let err = p
        .allocate(alloc(vec!["0000:3b:02.3".into()]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");

    let resp = p
        .allocate(alloc(vec![DRIVE.into()]))
        .await
        .unwrap()
        .into_inner();
    let c = &resp.container_responses[0];
    assert_eq!(
        c.envs.get("PCIDEVICE_VIFMAN_IO_NVME").map(String::as_str),
        Some(DRIVE)
    );
    let info: serde_json::Value =
        serde_json::from_str(&c.envs["PCIDEVICE_VIFMAN_IO_NVME_INFO"]).unwrap();
    assert_eq!(
        info[DRIVE]["vfio"]["dev-mount"],
        format!("/dev/vfio/{group}")
    );
    let paths: Vec<&str> = c.devices.iter().map(|d| d.host_path.as_str()).collect();
    assert_eq!(
        paths,
        vec![format!("/dev/vfio/{group}").as_str(), "/dev/vfio/vfio"]
    );
    assert_eq!(driver(DRIVE).as_deref(), Some("vfio-pci"));
    assert!(tmp
        .path()
        .join(format!("devinfo/vifman.io-nvme-{DRIVE}-device.json"))
        .exists());
    // One store: the CLI finds the drive taken.
    let o = vifman(
        &[
            &["allocate", "--alias", "nvme", "--instance", INST][..],
            &host.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("not enough free devices in alias nvme"),
        "{}",
        text(&o.stderr)
    );
    // kubelet hands the drive to a new container (the old one is gone): the old record goes.
    p.allocate(alloc(vec![DRIVE.into()])).await.unwrap();
    let listed: serde_json::Value =
        serde_json::from_str(&run_ok(&["allocations", "--json"], &host)).unwrap();
    let holders = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "whole-device" && r["devices"][0]["address"] == DRIVE)
        .count();
    assert_eq!(holders, 1, "exactly one record holds the drive: {listed}");
    assert_eq!(
        listed[0]["devices"][0]["driver"], "nvme",
        "the new record's original driver is the drive's own, not vfio-pci: {listed}"
    );
    assert_eq!(driver(DRIVE).as_deref(), Some("vfio-pci"));
}
