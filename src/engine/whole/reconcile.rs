//! reconcile for whole-device records: an interrupted allocate or release is undone (with
//! --repair), an active allocation whose devices left vfio-pci is reported and rebound.

use crate::engine::{Drift, DriftKind, Engine, HostView};
use crate::store::{Phase, StoreState};

impl Engine<'_> {
    /// Appends the drift of `st.devices` to `out`; true when `st` changed (records dropped).
    pub(crate) fn reconcile_whole(
        &self,
        view: &HostView,
        st: &mut StoreState,
        repair: bool,
        out: &mut Vec<Drift>,
    ) -> bool {
        let mut drop = vec![];
        for rec in &st.devices {
            let d = |kind, vf: String, detail: String| Drift {
                kind,
                vf,
                vif_id: Some(rec.id.to_string()),
                detail,
                repaired: None,
                next: None,
            };
            let first = rec
                .devices
                .first()
                .map(|d| d.address.to_string())
                .unwrap_or_default();
            match rec.phase {
                Phase::Pending | Phase::Releasing | Phase::Lost | Phase::Quarantined => {
                    let kind = match rec.phase {
                        Phase::Pending => DriftKind::InterruptedAllocate,
                        Phase::Releasing => DriftKind::InterruptedRelease,
                        _ => DriftKind::Lost,
                    };
                    let why = match (&rec.phase, &rec.lost_reason) {
                        (Phase::Lost, Some(r)) => format!("lost: {r}"),
                        _ => "interrupted before it finished".into(),
                    };
                    let mut x = d(kind, first, why);
                    if repair && !matches!(rec.phase, Phase::Lost | Phase::Quarantined) {
                        let failures = self.restore_whole(rec);
                        if failures.is_empty() {
                            drop.push(rec.id);
                            x.repaired =
                                Some("restored the original drivers and freed the devices".into());
                        } else {
                            x.repaired = Some(format!("restore failed: {}", failures.join("; ")));
                        }
                    }
                    out.push(x);
                }
                Phase::Active => {
                    for b in &rec.devices {
                        let Some(dev) = view.scan.device(&b.address) else {
                            out.push(Drift {
                                next: Some(crate::engine::Recovery::Release),
                                ..d(
                                    DriftKind::VfVanished,
                                    b.address.to_string(),
                                    "the device is no longer on the PCI bus (left for a release)"
                                        .into(),
                                )
                            });
                            continue;
                        };
                        if dev.driver.as_ref().is_some_and(|d| d.is_vfio_pci()) {
                            continue;
                        }
                        let mut x = d(
                            DriftKind::DriverDiffers,
                            b.address.to_string(),
                            format!(
                                "on {} instead of vfio-pci",
                                dev.driver.as_deref().unwrap_or("no driver")
                            ),
                        );
                        if repair {
                            x.repaired = Some(
                                match crate::engine::actuate::rebind(
                                    self.host,
                                    &b.address,
                                    Some(&crate::types::DriverName::vfio_pci()),
                                    Some(&crate::types::DriverName::vfio_pci()),
                                ) {
                                    Ok(()) => "rebound to vfio-pci".into(),
                                    Err(e) => format!("rebind failed: {e}"),
                                },
                            );
                        }
                        out.push(x);
                    }
                }
            }
        }
        st.devices.retain(|r| !drop.contains(&r.id));
        !drop.is_empty()
    }
}
