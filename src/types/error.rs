use thiserror::Error;

/// Why a string was rejected by one of the newtype parsers. The offending input is kept
/// (debug-quoted on display) so a message can point at the exact value from sysfs or the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TypeError {
    #[error("invalid PCI address {input:?}: {reason} (expected DDDD:BB:SS.F)")]
    PciAddress { input: String, reason: &'static str },
    #[error("invalid MAC address {input:?}: {reason} (expected aa:bb:cc:dd:ee:ff)")]
    MacAddress { input: String, reason: &'static str },
    #[error("invalid VLAN id {input:?}: {reason} (expected 0..=4095)")]
    VlanId { input: String, reason: &'static str },
    #[error("invalid interface name {input:?}: {reason}")]
    IfName { input: String, reason: &'static str },
    #[error("{input:?} is not a UUID: {reason} (expected 32 hexadecimal digits, 8-4-4-4-12)")]
    Uuid { input: String, reason: &'static str },
    #[error("{input:?} is not a driver name: {reason}")]
    DriverName { input: String, reason: &'static str },
    #[error("invalid rate node name {input:?}: {reason}")]
    RateNodeName { input: String, reason: &'static str },
    /// A keyword out of a fixed set (device type, NUMA policy).
    #[error("invalid {what} {input:?}: {reason}")]
    Keyword {
        what: &'static str,
        input: String,
        reason: &'static str,
    },
}

impl TypeError {
    pub(crate) fn new(what: &'static str, input: &str, reason: &'static str) -> Self {
        TypeError::Keyword {
            what,
            input: input.to_string(),
            reason,
        }
    }
}
