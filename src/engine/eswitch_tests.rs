//! The eswitch order planning, without a kernel.

use super::*;

fn vf(i: u32) -> BoundVf {
    BoundVf {
        index: i,
        addr: format!("0000:5e:00.{}", i + 2).parse().unwrap(),
        driver: "mlx5_core".parse().unwrap(),
        driver_override: None,
    }
}

const L: EswitchMode = EswitchMode::Legacy;
const S: EswitchMode = EswitchMode::Switchdev;

#[test]
fn same_mode_is_no_step() {
    for o in [
        EswitchOrder::Any,
        EswitchOrder::NoVfs,
        EswitchOrder::VfsUnbound,
    ] {
        assert!(plan_mode_change(o, S, S, 4, &[vf(0)]).is_empty());
    }
}

#[test]
fn no_vfs_saves_and_restores_the_count() {
    assert_eq!(
        plan_mode_change(EswitchOrder::NoVfs, L, S, 16, &[vf(0)]),
        vec![
            EswitchStep::RemoveVfs { from: 16 },
            EswitchStep::SetMode { from: L, to: S },
            EswitchStep::RestoreVfs { to: 16 },
        ]
    );
    assert_eq!(
        plan_mode_change(EswitchOrder::NoVfs, S, L, 0, &[]),
        vec![EswitchStep::SetMode { from: S, to: L }]
    );
}

#[test]
fn vfs_unbound_unbinds_then_rebinds_in_index_order() {
    let p = plan_mode_change(EswitchOrder::VfsUnbound, L, S, 4, &[vf(0), vf(1)]);
    let names: Vec<String> = p.iter().map(|s| s.describe()).collect();
    assert_eq!(
        names,
        [
            "unbind VF 0 (0000:5e:00.2) from mlx5_core",
            "unbind VF 1 (0000:5e:00.3) from mlx5_core",
            "eswitch mode legacy -> switchdev",
            "rebind VF 0 (0000:5e:00.2) to mlx5_core",
            "rebind VF 1 (0000:5e:00.3) to mlx5_core",
        ]
    );
    // VFs that exist but are unbound (vfio-pci released, or autoprobe off): mode only.
    assert_eq!(
        plan_mode_change(EswitchOrder::VfsUnbound, L, S, 4, &[]),
        vec![EswitchStep::SetMode { from: L, to: S }]
    );
}

#[test]
fn any_order_is_the_mode_alone() {
    assert_eq!(
        plan_mode_change(EswitchOrder::Any, S, L, 4, &[vf(0)]),
        vec![EswitchStep::SetMode { from: S, to: L }]
    );
}

#[test]
fn every_undoable_step_has_an_inverse() {
    let set = EswitchStep::SetMode { from: L, to: S };
    assert_eq!(inverse(&set), Some(EswitchStep::SetMode { from: S, to: L }));
    assert_eq!(
        inverse(&EswitchStep::RemoveVfs { from: 3 }),
        Some(EswitchStep::RestoreVfs { to: 3 })
    );
    assert_eq!(
        inverse(&EswitchStep::Unbind { vf: vf(1) }),
        Some(EswitchStep::Rebind { vf: vf(1) })
    );
}
