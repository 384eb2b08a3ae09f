//! The CNI result (interfaces, ips, routes, dns), read from any supported version (an IPAM
//! plugin's answer, a prevResult) and written in the version the network config names:
//! 0.3.x/0.4.0 carry `version` on each IP, 1.1.0 adds interface `mtu`/`pciID` and route
//! attributes, which older versions do not have.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::spec::{cmp_version, code, CniError};
use crate::types::IpPrefix;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub sandbox: Option<String>,
    #[serde(default, rename = "socketPath")]
    pub socket_path: Option<String>,
    #[serde(default, rename = "pciID")]
    pub pci_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IpConfig {
    pub address: IpPrefix,
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    #[serde(default)]
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Route {
    pub dst: IpPrefix,
    #[serde(default)]
    pub gw: Option<IpAddr>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub advmss: Option<u32>,
    #[serde(default)]
    pub priority: Option<u32>,
    #[serde(default)]
    pub table: Option<u32>,
    #[serde(default)]
    pub scope: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CniResult {
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub dns: Option<Value>,
}

impl CniResult {
    /// Parse a result of any supported version (0.2.0's flat ip4/ip6 form is not one).
    pub fn parse(v: &Value, what: &str) -> Result<CniResult, CniError> {
        serde_json::from_value(v.clone()).map_err(|e| {
            CniError::new(code::DECODE, format!("{what}: not a CNI result")).details(e.to_string())
        })
    }

    /// The result as `version` spells it.
    pub fn to_json(&self, version: &str) -> Value {
        let v11 = cmp_version(version, "1.1.0").is_ge();
        let pre1 = cmp_version(version, "1.0.0").is_lt();
        let interfaces: Vec<Value> = self
            .interfaces
            .iter()
            .map(|i| {
                let mut o = Map::new();
                o.insert("name".into(), json!(i.name));
                if let Some(m) = &i.mac {
                    o.insert("mac".into(), json!(m));
                }
                if v11 {
                    if let Some(m) = i.mtu {
                        o.insert("mtu".into(), json!(m));
                    }
                }
                if let Some(s) = &i.sandbox {
                    o.insert("sandbox".into(), json!(s));
                }
                if v11 {
                    if let Some(s) = &i.socket_path {
                        o.insert("socketPath".into(), json!(s));
                    }
                    if let Some(p) = &i.pci_id {
                        o.insert("pciID".into(), json!(p));
                    }
                }
                Value::Object(o)
            })
            .collect();
        let ips: Vec<Value> = self
            .ips
            .iter()
            .map(|ip| {
                let mut o = Map::new();
                if pre1 {
                    o.insert(
                        "version".into(),
                        json!(if ip.address.is_ipv4() { "4" } else { "6" }),
                    );
                }
                o.insert("address".into(), json!(ip.address.to_string()));
                if let Some(g) = ip.gateway {
                    o.insert("gateway".into(), json!(g.to_string()));
                }
                if let Some(i) = ip.interface {
                    o.insert("interface".into(), json!(i));
                }
                Value::Object(o)
            })
            .collect();
        let routes: Vec<Value> = self
            .routes
            .iter()
            .map(|r| {
                let mut o = Map::new();
                o.insert("dst".into(), json!(r.dst.to_string()));
                if let Some(g) = r.gw {
                    o.insert("gw".into(), json!(g.to_string()));
                }
                if v11 {
                    for (k, v) in [
                        ("mtu", r.mtu),
                        ("advmss", r.advmss),
                        ("priority", r.priority),
                        ("table", r.table),
                        ("scope", r.scope),
                    ] {
                        if let Some(v) = v {
                            o.insert(k.into(), json!(v));
                        }
                    }
                }
                Value::Object(o)
            })
            .collect();
        let mut out = json!({"cniVersion": version});
        if !interfaces.is_empty() {
            out["interfaces"] = Value::Array(interfaces);
        }
        if !ips.is_empty() {
            out["ips"] = Value::Array(ips);
        }
        if !routes.is_empty() {
            out["routes"] = Value::Array(routes);
        }
        out["dns"] = self.dns.clone().unwrap_or_else(|| json!({}));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_old_and_writes_each_version() {
        let old = json!({"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.1.0.5/24","gateway":"10.1.0.1"}],
            "routes":[{"dst":"0.0.0.0/0"}],"dns":{}});
        let mut r = CniResult::parse(&old, "ipam").unwrap();
        r.interfaces.push(Interface {
            name: "net1".into(),
            mtu: Some(9000),
            pci_id: Some("0000:3b:02.0".into()),
            ..Default::default()
        });
        r.ips[0].interface = Some(0);
        let v031 = r.to_json("0.3.1");
        assert_eq!(v031["ips"][0]["version"], "4");
        assert!(v031["interfaces"][0].get("mtu").is_none());
        let v100 = r.to_json("1.0.0");
        assert!(v100["ips"][0].get("version").is_none());
        let v110 = r.to_json("1.1.0");
        assert_eq!(v110["interfaces"][0]["pciID"], "0000:3b:02.0");
        assert_eq!(v110["interfaces"][0]["mtu"], 9000);
        assert!(CniResult::parse(&json!({"ips":[{"address":"bad"}]}), "x").is_err());
    }
}
