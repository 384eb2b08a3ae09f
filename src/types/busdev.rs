use std::fmt;
use std::str::FromStr;

use super::TypeError;

/// A device on a non-PCI bus that is an SR-IOV PF of its own (netdevsim's
/// `netdevsim/netdevsim11`): its sysfs directory is `sys/bus/<bus>/devices/<name>`, and the
/// same `bus/name` pair is its devlink handle. Both parts are validated so they can be
/// spliced into that path (no `/`, no `..`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusDevice {
    bus: String,
    name: String,
}

fn part(input: &str, s: &str) -> Result<String, TypeError> {
    let err = |reason| TypeError::new("bus device", input, reason);
    if s.is_empty() {
        return Err(err("an empty bus or device name (expected BUS/DEVICE)"));
    }
    if s.len() > 64 {
        return Err(err("a part longer than 64 bytes"));
    }
    if s == "." || s == ".." {
        return Err(err("a relative path component"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
    {
        return Err(err(
            "only letters, digits, '_', '-', '.' and ':' are allowed",
        ));
    }
    Ok(s.to_string())
}

impl BusDevice {
    pub fn new(bus: &str, name: &str) -> Result<Self, TypeError> {
        let input = format!("{bus}/{name}");
        Ok(BusDevice {
            bus: part(&input, bus)?,
            name: part(&input, name)?,
        })
    }

    pub fn bus(&self) -> &str {
        &self.bus
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's directory relative to the sysfs root.
    pub fn sysfs_dir(&self) -> String {
        format!("sys/bus/{}/devices/{}", self.bus, self.name)
    }
}

impl FromStr for BusDevice {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, TypeError> {
        match s.split_once('/') {
            Some((b, n)) => BusDevice::new(b, n),
            None => Err(TypeError::new(
                "bus device",
                s,
                "no '/' (expected BUS/DEVICE, e.g. netdevsim/netdevsim1)",
            )),
        }
    }
}

impl fmt::Display for BusDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.bus, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_devlink_style_handle_and_refuses_path_tricks() {
        let d: BusDevice = "netdevsim/netdevsim11".parse().unwrap();
        assert_eq!(d.bus(), "netdevsim");
        assert_eq!(d.name(), "netdevsim11");
        assert_eq!(d.to_string(), "netdevsim/netdevsim11");
        assert_eq!(d.sysfs_dir(), "sys/bus/netdevsim/devices/netdevsim11");
        for bad in [
            "netdevsim",
            "/x",
            "x/",
            "a/b/c",
            "../x",
            "x/..",
            "a b/c",
            "a/\n",
        ] {
            assert!(bad.parse::<BusDevice>().is_err(), "{bad:?} accepted");
        }
    }
}
super::serde_as_string!(BusDevice, "a bus device like netdevsim/netdevsim1");
