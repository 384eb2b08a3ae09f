//! The network configuration on stdin, with sriov-cni's keys so existing
//! NetworkAttachmentDefinitions keep working, plus `mtu`.
//!
//! Every VF key is tri-state: absent leaves the VF's setting as it is; present sets it (and
//! DEL puts the previous value back). `"vlan": 0` therefore means "clear the VLAN", while
//! no `vlan` key means "don't touch it" (a VF trunk policy set elsewhere survives). A bad
//! value is an error naming the key, raised before anything is changed.

use serde_json::Value;

use super::spec::{self, code, CniError, Env};
use crate::engine::{AllocMode, AllocateRequest};
use crate::types::{PciAddress, Uuid};

/// The VF settings of a network, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VfSettings {
    pub mac: Option<String>,
    pub vlan: Option<u32>,
    pub vlan_qos: Option<u32>,
    pub vlan_proto: Option<String>,
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: Option<String>,
    pub min_tx_rate: Option<u32>,
    pub max_tx_rate: Option<u32>,
    /// `rateParent`: the devlink rate node the VF's leaf goes under (switchdev PFs only).
    pub rate_parent: Option<crate::types::RateNodeName>,
}

#[derive(Debug, Clone)]
pub struct NetConf {
    /// The configuration as received (IPAM plugins get these bytes' meaning unchanged).
    pub raw: Value,
    pub name: String,
    pub version: String,
    pub device_id: Option<PciAddress>,
    pub vf: VfSettings,
    pub mtu: Option<u32>,
    /// `ipam.type`, when an IPAM plugin is configured.
    pub ipam: Option<String>,
    pub log_level: Option<String>,
    pub log_file: Option<String>,
    pub prev_result: Option<Value>,
}

fn uint(o: &serde_json::Map<String, Value>, key: &str, max: u64) -> Result<Option<u32>, CniError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v <= max => Ok(Some(v as u32)),
            _ => Err(CniError::key(key, format!("{n} is out of range 0-{max}"))),
        },
        Some(other) => Err(CniError::key(key, format!("{other} is not a number"))),
    }
}

fn string<'a>(
    o: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, CniError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(CniError::key(key, format!("{other} is not a string"))),
    }
}

fn on_off(o: &serde_json::Map<String, Value>, key: &str) -> Result<Option<bool>, CniError> {
    match string(o, key)? {
        None => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(s) => Err(CniError::key(
            key,
            format!("{s:?}: expected \"on\" or \"off\""),
        )),
    }
}

impl NetConf {
    /// Parse stdin. Only `cniVersion` is needed for VERSION; everything else is checked here
    /// for the other commands.
    pub fn parse(stdin: &[u8]) -> Result<NetConf, CniError> {
        let raw: Value = serde_json::from_slice(stdin).map_err(|e| {
            CniError::new(code::DECODE, "network configuration is not JSON").details(e.to_string())
        })?;
        let o = raw.as_object().ok_or_else(|| {
            CniError::new(code::DECODE, "network configuration is not a JSON object")
        })?;
        let version = string(o, "cniVersion")?
            .ok_or_else(|| CniError::key("cniVersion", "missing"))?
            .to_string();
        spec::check_version(&version)?;
        let name = string(o, "name")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| CniError::key("name", "missing"))?
            .to_string();
        let rc = match o.get("runtimeConfig") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                return Err(CniError::key(
                    "runtimeConfig",
                    format!("{other} is not an object"),
                ))
            }
        };
        let pci = |key: &str, s: &str| -> Result<PciAddress, CniError> {
            s.parse().map_err(|e| CniError::key(key, e))
        };
        let top = string(o, "deviceID")?
            .map(|s| pci("deviceID", s))
            .transpose()?;
        let rt = string(&rc, "deviceID")?
            .map(|s| pci("runtimeConfig.deviceID", s))
            .transpose()?;
        let device_id = match (top, rt) {
            (Some(a), Some(b)) if a != b => {
                return Err(CniError::key(
                    "deviceID",
                    format!("{a} disagrees with runtimeConfig.deviceID {b}"),
                ))
            }
            (a, b) => a.or(b),
        };
        let vf = VfSettings {
            mac: string(&rc, "mac")?.or(string(o, "mac")?).map(String::from),
            vlan: uint(o, "vlan", 4094)?,
            vlan_qos: uint(o, "vlanQoS", 7)?,
            vlan_proto: string(o, "vlanProto")?.map(String::from),
            spoofchk: on_off(o, "spoofchk")?,
            trust: on_off(o, "trust")?,
            link_state: string(o, "link_state")?.map(String::from),
            min_tx_rate: uint(o, "min_tx_rate", u32::MAX as u64)?,
            max_tx_rate: uint(o, "max_tx_rate", u32::MAX as u64)?,
            rate_parent: string(o, "rateParent")?
                .map(|s| s.parse().map_err(|e| CniError::key("rateParent", e)))
                .transpose()?,
        };
        if vf.vlan_qos.is_some_and(|q| q != 0) && vf.vlan.unwrap_or(0) == 0 {
            return Err(CniError::key("vlanQoS", "needs a non-zero vlan"));
        }
        if vf.vlan_proto.is_some() && vf.vlan.is_none() {
            return Err(CniError::key("vlanProto", "needs vlan"));
        }
        let mtu = uint(o, "mtu", 65535)?;
        if mtu.is_some_and(|m| m < 68) {
            return Err(CniError::key(
                "mtu",
                "below 68, the smallest MTU IPv4 allows",
            ));
        }
        let ipam = match o.get("ipam") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) if m.is_empty() => None,
            Some(Value::Object(m)) => Some(
                string(m, "type")
                    .map_err(|_| CniError::key("ipam.type", "is not a string"))?
                    .filter(|t| !t.is_empty() && !t.contains('/') && t != &"." && t != &"..")
                    .ok_or_else(|| CniError::key("ipam.type", "missing or not a plugin name"))?
                    .to_string(),
            ),
            Some(other) => return Err(CniError::key("ipam", format!("{other} is not an object"))),
        };
        let log_level = string(o, "logLevel")?.map(String::from);
        if let Some(l) = &log_level {
            if !["panic", "error", "warning", "info", "debug", "trace"].contains(&l.as_str()) {
                return Err(CniError::key(
                    "logLevel",
                    format!("{l:?}: expected panic, error, warning, info or debug"),
                ));
            }
        }
        let prev_result = match o.get("prevResult") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(other) => {
                return Err(CniError::key(
                    "prevResult",
                    format!("{other} is not an object"),
                ))
            }
        };
        let conf = NetConf {
            name,
            version,
            device_id,
            vf,
            mtu,
            ipam,
            log_level,
            log_file: string(o, "logFile")?.map(String::from),
            prev_result,
            raw,
        };
        // Every knob value through the engine's own checks now, before any change.
        conf.request(
            PciAddress::new(0, 0, 0, 0).expect("a valid address"),
            Uuid::from_bytes([0; 16]),
            Uuid::from_bytes([0; 16]),
            None,
        )?;
        Ok(conf)
    }

    /// The configuration without `prevResult` (what the store keeps for a later IPAM DEL).
    pub fn stored(&self) -> Value {
        let mut v = self.raw.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("prevResult");
        }
        v
    }

    /// The engine request for these settings on `vf`; `args_mac` is CNI_ARGS' `MAC`, which
    /// sits between `runtimeConfig.mac` and the `mac` key (sriov-cni's order).
    pub fn request(
        &self,
        vf: PciAddress,
        instance: Uuid,
        vif_id: Uuid,
        args_mac: Option<&str>,
    ) -> Result<AllocateRequest, CniError> {
        let internal =
            |e: crate::engine::EngineError| CniError::new(code::INVALID_CONFIG, e.to_string());
        let mut r =
            AllocateRequest::new("cni", instance, vif_id, AllocMode::Hostdev).map_err(internal)?;
        r.only_vf = Some(vf);
        let rc_mac = self
            .raw
            .get("runtimeConfig")
            .and_then(|r| r.get("mac"))
            .and_then(Value::as_str);
        let (key, mac) = match (rc_mac, args_mac, self.vf.mac.as_deref()) {
            (Some(m), _, _) => ("runtimeConfig.mac", Some(m)),
            (None, Some(m), _) => ("CNI_ARGS MAC", Some(m)),
            (None, None, m) => ("mac", m),
        };
        if let Some(m) = mac {
            r.set_mac(m).map_err(|e| CniError::key(key, e))?;
        }
        if let Some(v) = self.vf.vlan {
            r.set_vlan(&format!("{v}:{}", self.vf.vlan_qos.unwrap_or(0)))
                .map_err(|e| CniError::key("vlan", e))?;
        }
        if let Some(p) = &self.vf.vlan_proto {
            r.set_vlan_proto(p)
                .map_err(|e| CniError::key("vlanProto", e))?;
        }
        if let Some(l) = &self.vf.link_state {
            r.set_link_state(l)
                .map_err(|e| CniError::key("link_state", e))?;
        }
        r.spoofchk = self.vf.spoofchk;
        r.trust = self.vf.trust;
        r.min_tx_rate = self.vf.min_tx_rate;
        r.max_tx_rate = self.vf.max_tx_rate;
        r.rate_parent = self.vf.rate_parent.clone();
        r.validate()
            .map_err(|e| CniError::key("min_tx_rate/max_tx_rate", e))?;
        Ok(r)
    }
}

/// The attachment key of a command.
pub fn key(conf: &NetConf, env: &Env) -> crate::store::AttachKey {
    crate::store::AttachKey {
        network: conf.name.clone(),
        container_id: env.container_id.clone(),
        ifname: env.ifname.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<NetConf, CniError> {
        NetConf::parse(s.as_bytes())
    }

    #[test]
    fn keys_and_errors() {
        let c = parse(
            r#"{"cniVersion":"1.0.0","name":"n","type":"vifman","deviceID":"0000:3b:02.0",
            "vlan":100,"vlanQoS":3,"spoofchk":"off","trust":"on","link_state":"enable","mtu":9000,
            "ipam":{"type":"host-local"}}"#,
        )
        .unwrap();
        assert_eq!(c.vf.vlan, Some(100));
        assert_eq!(c.vf.trust, Some(true));
        assert_eq!(c.ipam.as_deref(), Some("host-local"));
        let c = parse(
            r#"{"cniVersion":"1.0.0","name":"n","runtimeConfig":{"deviceID":"0000:3b:02.1"}}"#,
        )
        .unwrap();
        assert_eq!(c.device_id.unwrap().to_string(), "0000:3b:02.1");
        for (conf, key) in [
            (r#""vlan":"100""#, "vlan:"),
            (r#""vlan":4095"#, "vlan:"),
            (r#""vlanQoS":2"#, "vlanQoS:"),
            (r#""vlan":5,"vlanProto":"802.1x""#, "vlanProto:"),
            (r#""spoofchk":true"#, "spoofchk:"),
            (r#""trust":"yes""#, "trust:"),
            (r#""link_state":"up""#, "link_state:"),
            (r#""mac":"01:00:00:00:00:01""#, "mac:"),
            (r#""mtu":40"#, "mtu:"),
            (
                r#""min_tx_rate":100,"max_tx_rate":10"#,
                "min_tx_rate/max_tx_rate:",
            ),
            (r#""deviceID":"3b:02.0x""#, "deviceID:"),
            (r#""rateParent":"a/b""#, "rateParent:"),
            (r#""rateParent":7"#, "rateParent:"),
            (r#""ipam":{"type":"../x"}"#, "ipam.type:"),
        ] {
            let e = parse(&format!(r#"{{"cniVersion":"1.0.0","name":"n",{conf}}}"#)).unwrap_err();
            assert_eq!(e.code, 7, "{conf}: {e}");
            assert!(e.msg.starts_with(key), "{conf}: {e}");
        }
        assert_eq!(
            parse(r#"{"cniVersion":"0.2.0","name":"n"}"#)
                .unwrap_err()
                .code,
            1
        );
        assert_eq!(parse("{").unwrap_err().code, 6);
    }
}
