//! `obj_to_primitive(target_version, version_manifest)` including oslo's compat walk, with
//! each class's `obj_make_compatible` override expressed in [`class_compat`].

use std::collections::BTreeMap;

use serde_json::{Map, Value as J};

use super::decode::{KEY_CHANGES, KEY_DATA, KEY_NAME, KEY_NAMESPACE, KEY_VERSION, NAMESPACE};
use super::error::{ErrorKind, OsVifError};
use super::object::{Value, VersionedObject};
use super::schema::FieldType;
use super::version::{to_tuple, tuple_lt};

/// `{object name: version}`, keyed by the name declared on the *field* (e.g.
/// `VIFPortProfileBase`), as oslo's `version_manifest`.
pub type Manifest = BTreeMap<String, String>;

fn value_to_primitive(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Str(s) => J::String(s.clone()),
        Value::Obj(o) => o.primitive_at_own_version(),
        Value::List(items) => J::Array(items.iter().map(value_to_primitive).collect()),
    }
}

impl VersionedObject {
    /// The primitive at the version the object carries, with no compat step (what a nested
    /// object's field serialisation does in oslo). Never fails.
    pub fn primitive_at_own_version(&self) -> J {
        let mut data = Map::new();
        for (f, v) in self.set_fields() {
            data.insert(f.name.to_string(), value_to_primitive(v));
        }
        self.wrap(self.version.clone(), data)
    }

    fn wrap(&self, version: String, data: Map<String, J>) -> J {
        let mut out = Map::new();
        out.insert(KEY_NAME.into(), J::String(self.class.name.into()));
        out.insert(KEY_NAMESPACE.into(), J::String(NAMESPACE.into()));
        out.insert(KEY_VERSION.into(), J::String(version));
        let changes: Vec<J> = self
            .what_changed()
            .into_iter()
            .filter(|f| data.contains_key(*f))
            .map(|f| J::String(f.into()))
            .collect();
        out.insert(KEY_DATA.into(), J::Object(data));
        if !changes.is_empty() {
            out.insert(KEY_CHANGES.into(), J::Array(changes));
        }
        J::Object(out)
    }

    /// oslo `obj_to_primitive`. `changes` is emitted sorted (oslo emits set order).
    pub fn to_primitive(
        &self,
        target: Option<&str>,
        manifest: Option<&Manifest>,
    ) -> Result<J, OsVifError> {
        let target = target.unwrap_or(&self.version).to_string();
        if tuple_lt(&to_tuple(&self.version)?, &to_tuple(&target)?) {
            return Err(OsVifError::new(
                ErrorKind::InvalidTargetVersion,
                format!("Invalid target version {target}"),
            ));
        }
        let J::Object(mut outer) = self.primitive_at_own_version() else {
            unreachable!("primitives are objects")
        };
        let Some(J::Object(mut data)) = outer.remove(KEY_DATA) else {
            unreachable!("primitives carry data")
        };
        if target != self.version || manifest.is_some_and(|m| !m.is_empty()) {
            self.make_compatible(&mut data, &target, manifest)?;
        }
        Ok(self.wrap(target, data))
    }

    /// `obj_make_compatible_from_manifest` + the class's `obj_make_compatible`.
    fn make_compatible(
        &self,
        data: &mut Map<String, J>,
        target: &str,
        manifest: Option<&Manifest>,
    ) -> Result<(), OsVifError> {
        let t = to_tuple(target)?;
        let lt = |maj: i64, min: i64| tuple_lt(&t, &[maj, min]);
        let drop = |data: &mut Map<String, J>, f: &str| {
            data.remove(f);
        };
        let name = self.class.name;
        match name {
            "VIFVHostUser" | "Network" | "HostVIFInfo" => {
                let gated = match name {
                    "VIFVHostUser" => "vif_name",
                    "Network" => "mtu",
                    _ => "supported_port_profiles",
                };
                if lt(1, 1) {
                    drop(data, gated);
                }
                self.base_walk(data, "1.0", manifest)
            }
            "VIFPortProfileOpenVSwitch" => self.ovs_compat(data, &t, manifest),
            "VIFPortProfileFPOpenVSwitch" | "VIFPortProfileOVSRepresentor" => {
                // These follow the OVS profile's numbering one to one.
                let eff: Vec<i64> = if lt(1, 1) {
                    vec![1, 0]
                } else if lt(1, 2) {
                    vec![1, 1]
                } else if lt(1, 3) {
                    vec![1, 2]
                } else if lt(1, 4) {
                    vec![1, 3]
                } else {
                    vec![1, 4]
                };
                self.ovs_compat(data, &eff, manifest)
            }
            "VIFPortProfileFPBridge"
            | "VIFPortProfileFPTap"
            | "VIFPortProfile8021Qbg"
            | "VIFPortProfile8021Qbh"
            | "VIFPortProfileK8sDPDK" => {
                self.base_walk(data, if lt(1, 1) { "1.0" } else { "1.1" }, manifest)
            }
            _ => self.base_walk(data, target, manifest),
        }
    }

    fn ovs_compat(
        &self,
        data: &mut Map<String, J>,
        t: &[i64],
        manifest: Option<&Manifest>,
    ) -> Result<(), OsVifError> {
        let lt = |maj: i64, min: i64| tuple_lt(t, &[maj, min]);
        if lt(1, 4) {
            data.remove("create_tap");
            data.remove("multiqueue");
        }
        if lt(1, 3) {
            data.remove("create_port");
        }
        if lt(1, 1) {
            data.remove("datapath_type");
        }
        self.base_walk(data, if lt(1, 2) { "1.0" } else { "1.1" }, manifest)
    }

    /// oslo's VersionedObject.obj_make_compatible: back-level every set object field
    /// according to obj_relationships, or to the manifest when one is given.
    fn base_walk(
        &self,
        data: &mut Map<String, J>,
        target: &str,
        manifest: Option<&Manifest>,
    ) -> Result<(), OsVifError> {
        for (f, v) in self.set_fields() {
            let objname = match f.ty {
                FieldType::Object { name, .. } | FieldType::ObjectList { name, .. } => name,
                _ => continue,
            };
            let rel: Vec<(String, String)> = match manifest {
                Some(m) => match m.get(objname) {
                    Some(child) => vec![(target.to_string(), child.clone())],
                    None => continue,
                },
                None => match self.class.relationship(f.name) {
                    Some(r) => r
                        .iter()
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .collect(),
                    None => {
                        return Err(OsVifError::new(
                            ErrorKind::ObjectActionError,
                            format!(
                                "Object action obj_make_compatible failed because: No rule for {}",
                                f.name
                            ),
                        ))
                    }
                },
            };
            // _get_subobject_version
            let tgt = to_tuple(target)?;
            let mut child_version: Option<String> = None;
            let mut delete = false;
            let mut decided = false;
            for (i, (parent, child)) in rel.iter().enumerate() {
                let p = to_tuple(parent)?;
                if tuple_lt(&tgt, &p) {
                    if i == 0 {
                        delete = true;
                    } else {
                        child_version = Some(rel[i - 1].1.clone());
                    }
                    decided = true;
                    break;
                } else if tgt == p {
                    child_version = Some(child.clone());
                    decided = true;
                    break;
                }
            }
            if !decided {
                child_version = rel.last().map(|(_, c)| c.clone());
            }
            if delete {
                if data.remove(f.name).is_none() {
                    return Err(OsVifError::new(
                        ErrorKind::KeyError,
                        format!("'{}'", f.name),
                    ));
                }
                continue;
            }
            let Some(cv) = child_version else { continue };
            // oslo passes the manifest down only when it is non-empty.
            let down = manifest.filter(|m| !m.is_empty());
            let slot = data
                .get_mut(f.name)
                .ok_or_else(|| OsVifError::new(ErrorKind::KeyError, format!("'{}'", f.name)))?;
            match v {
                Value::Obj(o) => o.backport_into(slot, &cv, down)?,
                Value::List(items) => {
                    for (i, it) in items.iter().enumerate() {
                        if let Value::Obj(o) = it {
                            let el = slot.get_mut(i).ok_or_else(|| {
                                OsVifError::new(
                                    ErrorKind::ValueError,
                                    format!("list index {i} out of range"),
                                )
                            })?;
                            o.backport_into(el, &cv, down)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `_do_subobject_backport` for one object: compat its data in place and stamp the
    /// version, even one the concrete class never had. `changes` is not filtered here.
    fn backport_into(
        &self,
        prim: &mut J,
        version: &str,
        manifest: Option<&Manifest>,
    ) -> Result<(), OsVifError> {
        let J::Object(outer) = prim else {
            return Err(OsVifError::new(
                ErrorKind::TypeError,
                "sub-object primitive is not a dict",
            ));
        };
        if let Some(J::Object(data)) = outer.get_mut(KEY_DATA) {
            self.make_compatible(data, version, manifest)?;
        }
        outer.insert(KEY_VERSION.into(), J::String(version.to_string()));
        Ok(())
    }
}
