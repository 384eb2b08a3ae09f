//! In-memory os-vif objects: a class, the version string it carries, a tri-state per field
//! (unset / null / value) and the "changed" set that oslo puts on the wire.

use std::collections::BTreeSet;

use super::error::{ErrorKind, OsVifError};
use super::registry::class_by_name;
use super::schema::ClassDef;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// UUIDs, MACs, PCI addresses, strings, enums and IPs, all in canonical text form.
    Str(String),
    Obj(Box<VersionedObject>),
    /// A list of IP strings or of objects.
    List(Vec<Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_obj(&self) -> Option<&VersionedObject> {
        match self {
            Value::Obj(o) => Some(o),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<VersionedObject> for Value {
    fn from(o: VersionedObject) -> Self {
        Value::Obj(Box::new(o))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionedObject {
    pub class: &'static ClassDef,
    /// The version this instance carries. oslo keeps the version it was loaded with
    /// (`self.VERSION = objver`), so a "1.0" profile re-serialises as "1.0".
    pub version: String,
    /// Indexed like `class.fields`; `None` = unset.
    values: Vec<Option<Value>>,
    /// Fields assigned since construction/load/reset (oslo `_changed_fields`).
    changed: BTreeSet<&'static str>,
}

impl VersionedObject {
    /// A fresh object of the current class version, as `Class()` in Python, including
    /// Network's constructor defaults.
    pub fn new(class_name: &str) -> Result<Self, OsVifError> {
        let class = class_by_name(class_name).ok_or_else(|| {
            OsVifError::new(
                ErrorKind::UnsupportedObjectError,
                format!("Unsupported object type {class_name}"),
            )
        })?;
        Ok(Self::of_class(class, class.version.to_string()))
    }

    pub(crate) fn of_class(class: &'static ClassDef, version: String) -> Self {
        let mut o = VersionedObject {
            class,
            version,
            values: vec![None; class.fields.len()],
            changed: BTreeSet::new(),
        };
        if class.name == "Network" {
            // Network.__init__ setdefaults these, so they exist even on a loaded object.
            let mut subnets = VersionedObject::of_class(
                class_by_name("SubnetList").expect("SubnetList registered"),
                "1.0".into(),
            );
            subnets.set_raw("objects", Value::List(vec![]));
            o.set_raw("subnets", subnets.into());
            o.set_raw("multi_host", Value::Bool(false));
            o.set_raw("should_provide_bridge", Value::Bool(false));
            o.set_raw("should_provide_vlan", Value::Bool(false));
            o.set_raw("mtu", Value::Null);
        }
        o
    }

    pub fn name(&self) -> &'static str {
        self.class.name
    }

    /// Assign without validation (used by the decoder after coercion, and by builders
    /// whose values are already canonical). Marks the field changed, like Python setattr.
    pub(crate) fn set_raw(&mut self, field: &str, value: Value) {
        let (idx, f) = self
            .class
            .field(field)
            .unwrap_or_else(|| panic!("{} has no field {field}", self.class.name));
        self.values[idx] = Some(value);
        self.changed.insert(f.name);
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        let (idx, _) = self.class.field(field)?;
        self.values[idx].as_ref()
    }

    pub fn get_str(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }

    pub fn get_obj(&self, field: &str) -> Option<&VersionedObject> {
        self.get(field).and_then(Value::as_obj)
    }

    pub fn is_set(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    pub fn unset(&mut self, field: &str) {
        if let Some((idx, f)) = self.class.field(field) {
            self.values[idx] = None;
            self.changed.remove(f.name);
        }
    }

    /// Set fields in class order.
    pub fn set_fields(&self) -> impl Iterator<Item = (&'static super::schema::FieldDef, &Value)> {
        self.class
            .fields
            .iter()
            .zip(self.values.iter())
            .filter_map(|(f, v)| v.as_ref().map(|v| (f, v)))
    }

    /// The value, or the declared default if unset (what a consumer must do, since os-vif
    /// never materialises defaults).
    pub fn get_or_default(&self, field: &str) -> Option<Value> {
        if let Some(v) = self.get(field) {
            return Some(v.clone());
        }
        let (_, f) = self.class.field(field)?;
        f.default.map(|d| match d {
            super::schema::Default::Bool(b) => Value::Bool(b),
        })
    }

    pub(crate) fn set_changed(&mut self, changed: BTreeSet<&'static str>) {
        self.changed = changed;
    }

    /// oslo `obj_what_changed()`: own changes plus fields holding a changed sub-object
    /// (not elements of object lists: lists are plain VersionedObjects in os-vif's MRO).
    pub fn what_changed(&self) -> BTreeSet<&'static str> {
        let mut out = self.changed.clone();
        for (f, v) in self.set_fields() {
            if let Value::Obj(o) = v {
                if !o.what_changed().is_empty() {
                    out.insert(f.name);
                }
            }
        }
        out
    }

    /// `obj_reset_changes(recursive)`.
    pub fn reset_changes(&mut self, recursive: bool) {
        self.changed.clear();
        if recursive {
            for v in self.values.iter_mut().flatten() {
                match v {
                    Value::Obj(o) => o.reset_changes(true),
                    Value::List(items) => {
                        for i in items {
                            if let Value::Obj(o) = i {
                                o.reset_changes(true);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
