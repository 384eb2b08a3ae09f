//! What an operator (or a policy) asks of a rate object, in vifman's units (Mbit/s, as
//! `ip link ... max_tx_rate` and every other rate knob of vifman), checked before anything
//! is sent and turned into the devlink request's bytes/s.

use serde::Serialize;

use crate::devlink::model::{bytes_to_mbit, mbit_to_bytes};
use crate::devlink::RateChange;
use crate::host::RateEntry;
use crate::types::RateNodeName;

/// The parent part of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParentWant {
    /// Leave the parent as it is.
    #[default]
    Keep,
    /// Parent the object to this node.
    Set(RateNodeName),
    /// Detach from the parent (devlink's `noparent`).
    Clear,
}

/// Rates (Mbit/s; `None` leaves a rate alone, 0 removes it) and a parent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RateWant {
    /// Guaranteed rate (devlink tx_share).
    pub min_mbps: Option<u32>,
    /// Rate limit (devlink tx_max); 0: no limit.
    pub max_mbps: Option<u32>,
    pub parent: ParentWant,
}

impl RateWant {
    pub fn is_empty(&self) -> bool {
        self.min_mbps.is_none() && self.max_mbps.is_none() && self.parent == ParentWant::Keep
    }

    /// The values against the object's current ones (`None`: a node about to be created):
    /// a guaranteed rate above the limit it would end up with is refused, as no driver can
    /// give it (mlx5 refuses it, netdevsim takes it silently).
    pub fn check(&self, current: Option<&RateEntry>) -> Result<(), String> {
        let cur = |f: fn(&RateEntry) -> u64| {
            current
                .map(|c| u32::try_from(bytes_to_mbit(f(c))).unwrap_or(u32::MAX))
                .unwrap_or(0)
        };
        let min = self.min_mbps.unwrap_or_else(|| cur(|c| c.tx_share));
        let max = self.max_mbps.unwrap_or_else(|| cur(|c| c.tx_max));
        if max != 0 && min > max {
            let whose = |given: bool| if given { "" } else { " (its current value)" };
            return Err(format!(
                "min_tx_rate {min} Mbit/s{} is above max_tx_rate {max} Mbit/s{}",
                whose(self.min_mbps.is_some()),
                whose(self.max_mbps.is_some())
            ));
        }
        Ok(())
    }

    /// The devlink request's change (bytes/s; parent "" detaches).
    pub fn change(&self) -> RateChange {
        RateChange {
            tx_share: self.min_mbps.map(mbit_to_bytes),
            tx_max: self.max_mbps.map(mbit_to_bytes),
            parent: match &self.parent {
                ParentWant::Keep => None,
                ParentWant::Set(n) => Some(n.to_string()),
                ParentWant::Clear => Some(String::new()),
            },
        }
    }

    /// Which asked-for value `got` does not hold, as (field, wanted, reported).
    pub fn mismatch(&self, got: &RateEntry) -> Option<(&'static str, String, String)> {
        let c = self.change();
        if let Some(w) = c.tx_share.filter(|w| *w != got.tx_share) {
            return Some(("tx_share", bytes(w), bytes(got.tx_share)));
        }
        if let Some(w) = c.tx_max.filter(|w| *w != got.tx_max) {
            return Some(("tx_max", bytes(w), bytes(got.tx_max)));
        }
        let want_parent = match &self.parent {
            ParentWant::Keep => return None,
            ParentWant::Set(n) => Some(n.as_str()),
            ParentWant::Clear => None,
        };
        (want_parent != got.parent.as_deref()).then(|| {
            (
                "parent",
                want_parent.unwrap_or("none").to_string(),
                got.parent.clone().unwrap_or_else(|| "none".into()),
            )
        })
    }
}

/// Bytes/s with the Mbit/s they are, for messages.
fn bytes(b: u64) -> String {
    format!("{b} bytes/s ({} Mbit/s)", bytes_to_mbit(b))
}

/// The change that puts `before`'s values back where `now` differs (None: nothing to undo).
pub fn restore(before: &RateEntry, now: &RateEntry) -> Option<RateChange> {
    let c = RateChange {
        tx_share: (before.tx_share != now.tx_share).then_some(before.tx_share),
        tx_max: (before.tx_max != now.tx_max).then_some(before.tx_max),
        parent: (before.parent != now.parent).then(|| before.parent.clone().unwrap_or_default()),
    };
    (c != RateChange::default()).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devlink::RateObject;

    fn entry(share: u64, max: u64, parent: Option<&str>) -> RateEntry {
        RateEntry {
            object: RateObject::Leaf { port: 1 },
            vf: Some(0),
            tx_share: share,
            tx_max: max,
            parent: parent.map(String::from),
        }
    }

    fn node(n: &str) -> RateNodeName {
        n.parse().unwrap()
    }

    #[test]
    fn converts_mbit_to_bytes_and_parent_words() {
        let w = RateWant {
            min_mbps: Some(10),
            max_mbps: Some(100),
            parent: ParentWant::Set(node("grp1")),
        };
        assert_eq!(
            w.change(),
            RateChange {
                tx_share: Some(1_250_000),
                tx_max: Some(12_500_000),
                parent: Some("grp1".into()),
            }
        );
        let clear = RateWant {
            parent: ParentWant::Clear,
            ..Default::default()
        };
        assert_eq!(clear.change().parent.as_deref(), Some(""));
        assert!(!clear.is_empty());
        assert!(RateWant::default().is_empty());
        assert_eq!(RateWant::default().change(), RateChange::default());
    }

    #[test]
    fn refuses_a_guarantee_above_the_limit() {
        let w = RateWant {
            min_mbps: Some(200),
            max_mbps: Some(100),
            ..Default::default()
        };
        let e = w.check(None).unwrap_err();
        assert!(
            e.contains("min_tx_rate 200 Mbit/s is above max_tx_rate 100"),
            "{e}"
        );
        // Against the object's current limit.
        let w = RateWant {
            min_mbps: Some(200),
            ..Default::default()
        };
        let e = w.check(Some(&entry(0, 12_500_000, None))).unwrap_err();
        assert!(e.contains("100 Mbit/s (its current value)"), "{e}");
        // A limit of 0 is none; equal is fine.
        assert!(w.check(Some(&entry(0, 0, None))).is_ok());
        let w = RateWant {
            min_mbps: Some(100),
            max_mbps: Some(100),
            ..Default::default()
        };
        assert!(w.check(None).is_ok());
    }

    #[test]
    fn read_back_names_the_field_that_does_not_hold() {
        let w = RateWant {
            min_mbps: Some(10),
            max_mbps: Some(100),
            parent: ParentWant::Set(node("grp1")),
        };
        assert_eq!(
            w.mismatch(&entry(1_250_000, 12_500_000, Some("grp1"))),
            None
        );
        let (f, want, got) = w.mismatch(&entry(1_250_000, 0, Some("grp1"))).unwrap();
        assert_eq!(f, "tx_max");
        assert!(want.contains("100 Mbit/s") && got.contains("0 Mbit/s"));
        let (f, _, got) = w.mismatch(&entry(1_250_000, 12_500_000, None)).unwrap();
        assert_eq!((f, got.as_str()), ("parent", "none"));
        let clear = RateWant {
            parent: ParentWant::Clear,
            ..Default::default()
        };
        assert!(clear.mismatch(&entry(0, 0, Some("x"))).is_some());
        assert!(clear.mismatch(&entry(5, 5, None)).is_none());
    }

    #[test]
    fn restore_puts_back_only_what_changed() {
        let before = entry(0, 12_500_000, Some("a"));
        assert_eq!(restore(&before, &before), None);
        let c = restore(&before, &entry(0, 0, None)).unwrap();
        assert_eq!(
            c,
            RateChange {
                tx_share: None,
                tx_max: Some(12_500_000),
                parent: Some("a".into()),
            }
        );
        let c = restore(&entry(0, 0, None), &entry(0, 0, Some("a"))).unwrap();
        assert_eq!(c.parent.as_deref(), Some(""));
    }
}
