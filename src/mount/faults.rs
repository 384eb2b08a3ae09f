//! The mount's fault control file, `.vifman/faults`: other projects' tests arm failures of the
//! simulated kernel at run time, as `VIFMAN_SIM_FAIL` does for vifman's own processes (same
//! idea: a named step fails with a chosen errno a given number of times, then the kernel
//! behaves again, so the caller's retry can succeed). One rule a line:
//!
//! ```text
//! sriov_numvfs fail EBUSY            # the next write of any sriov_numvfs fails with EBUSY
//! 0000:3b:00.0/sriov_numvfs fail EIO 3   # the next 3 writes of that PF's sriov_numvfs
//! driver_override delay 500ms 2      # the next 2 writes wait 500 ms, then apply
//! netdevs late 2s                    # netdevs the next write creates appear 2 s later
//! clear                              # forget every rule
//! ```
//!
//! A target matches a written file whose path ends with it (`iavf/bind`, `drivers_probe`), or
//! every file for `*`. Reading the file lists the armed rules with their remaining counts.

use std::path::Path;
use std::time::Duration;

use crate::host::errno_name;
use crate::host::sim::errno_by_name;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("fault rule {line:?}: {reason}")]
pub struct FaultSyntax {
    pub line: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Fail(i32),
    Delay(Duration),
    /// Netdevs created by the write stay invisible in the mount for this long.
    LateNetdevs(Duration),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    target: String,
    action: Action,
    remaining: u32,
}

/// The armed rules, in the order they were written.
#[derive(Debug, Default)]
pub struct Rules(Vec<Rule>);

/// What the armed rules do to one write.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub fail: Option<i32>,
    pub delay: Option<Duration>,
}

fn duration(s: &str) -> Option<Duration> {
    let (n, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "ms"),
    };
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        _ => None,
    }
}

fn show_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl Rules {
    /// Apply one write of the control file: every line is checked before any is armed, so a
    /// bad line (EINVAL to the writer) arms nothing.
    pub fn apply(&mut self, text: &str) -> Result<(), FaultSyntax> {
        let mut new = Vec::new();
        let mut clear = false;
        for raw in text.lines() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason| FaultSyntax {
                line: line.to_string(),
                reason,
            };
            let w: Vec<&str> = line.split_whitespace().collect();
            if w == ["clear"] {
                clear = true;
                new.clear();
                continue;
            }
            if w.len() < 3 || w.len() > 4 {
                return Err(bad("expected TARGET fail|delay|late ARG [COUNT]"));
            }
            let action = match (w[0], w[1]) {
                ("netdevs", "late") => {
                    Action::LateNetdevs(duration(w[2]).ok_or(bad("bad duration (500ms, 2s)"))?)
                }
                (_, "fail") => {
                    // IGNORE (errno 0) is the sim's own "accepted, not done"; a mount
                    // client must see a real errno.
                    Action::Fail(
                        errno_by_name(w[2])
                            .filter(|&e| e != 0)
                            .ok_or(bad("unknown errno (EBUSY, 16)"))?,
                    )
                }
                (_, "delay") => {
                    Action::Delay(duration(w[2]).ok_or(bad("bad duration (500ms, 2s)"))?)
                }
                _ => return Err(bad("action must be fail, delay, or `netdevs late`")),
            };
            let remaining = match w.get(3) {
                Some(n) => n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(bad("count must be a positive number"))?,
                None => 1,
            };
            new.push(Rule {
                target: w[0].to_string(),
                action,
                remaining,
            });
        }
        if clear {
            self.0.clear();
        }
        self.0.extend(new);
        Ok(())
    }

    fn matches(target: &str, rel: &Path) -> bool {
        target == "*" || rel.ends_with(target)
    }

    /// Consume the fail and delay rules matching a write of `rel` (the first of each kind).
    pub fn take(&mut self, rel: &Path) -> Verdict {
        let mut v = Verdict::default();
        for r in &mut self.0 {
            if r.remaining == 0 || !Self::matches(&r.target, rel) {
                continue;
            }
            match r.action {
                Action::Fail(e) if v.fail.is_none() => {
                    v.fail = Some(e);
                    r.remaining -= 1;
                }
                Action::Delay(d) if v.delay.is_none() => {
                    v.delay = Some(d);
                    r.remaining -= 1;
                }
                _ => {}
            }
        }
        self.0.retain(|r| r.remaining > 0);
        v
    }

    /// Whether a `netdevs late` rule is armed (the mount then watches for new netdevs).
    pub fn late_armed(&self) -> bool {
        self.0
            .iter()
            .any(|r| matches!(r.action, Action::LateNetdevs(_)))
    }

    /// Consume one `netdevs late` rule: a write created netdevs.
    pub fn take_late(&mut self) -> Option<Duration> {
        let r = self
            .0
            .iter_mut()
            .find(|r| matches!(r.action, Action::LateNetdevs(_)))?;
        r.remaining -= 1;
        let Action::LateNetdevs(d) = r.action else {
            unreachable!("found by its action")
        };
        self.0.retain(|r| r.remaining > 0);
        Some(d)
    }

    /// The file's content: the armed rules in the syntax they were written in.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|r| {
                let (verb, arg) = match r.action {
                    Action::Fail(e) => ("fail", errno_name(e).to_string()),
                    Action::Delay(d) => ("delay", show_duration(d)),
                    Action::LateNetdevs(d) => ("late", show_duration(d)),
                };
                let arg = if arg == "errno" {
                    match r.action {
                        Action::Fail(e) => e.to_string(),
                        _ => arg,
                    }
                } else {
                    arg
                };
                format!("{} {verb} {arg} {}\n", r.target, r.remaining)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_arm_match_and_run_out() {
        let mut r = Rules::default();
        r.apply("sriov_numvfs fail EBUSY 2\n# comment\ndriver_override delay 50ms\n")
            .unwrap();
        let pf = Path::new("sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/sriov_numvfs");
        assert_eq!(r.take(pf).fail, Some(libc::EBUSY));
        assert_eq!(
            r.render(),
            "sriov_numvfs fail EBUSY 1\ndriver_override delay 50ms 1\n"
        );
        assert_eq!(r.take(pf).fail, Some(libc::EBUSY));
        assert_eq!(r.take(pf), Verdict::default());
        let d = Path::new("sys/devices/x/0000:3b:02.0/driver_override");
        assert_eq!(r.take(d).delay, Some(Duration::from_millis(50)));
        assert_eq!(r.render(), "");
        // A bad line arms nothing.
        let e = r
            .apply("sriov_numvfs fail EBUSY\nsriov_numvfs fail EWHAT")
            .unwrap_err();
        assert_eq!(e.reason, "unknown errno (EBUSY, 16)");
        assert_eq!(r.render(), "");
        r.apply("0000:3b:00.0/sriov_numvfs fail 5 1\nnetdevs late 2s 1")
            .unwrap();
        assert!(r
            .take(Path::new("sys/devices/p/0000:af:00.0/sriov_numvfs"))
            .fail
            .is_none());
        assert_eq!(r.take(pf).fail, Some(libc::EIO));
        assert!(r.late_armed());
        assert_eq!(r.take_late(), Some(Duration::from_secs(2)));
        assert!(!r.late_armed());
        r.apply("* fail EPERM 9").unwrap();
        r.apply("clear").unwrap();
        assert_eq!(r.render(), "");
    }
}
