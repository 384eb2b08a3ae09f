//! `obj_from_primitive`: oslo's load algorithm step by step, so that the same input fails
//! with the same exception kind, on the same field, as in os-vif.

use std::collections::BTreeSet;

use serde_json::Value as J;

use super::coerce;
pub use super::coerce::Mode;
use super::error::{ErrorKind, OsVifError};
use super::object::{Value, VersionedObject};
use super::pyrepr::{py_repr, py_str, py_type_name};
use super::registry::class_by_name;
use super::schema::{ClassDef, Default, FieldDef, FieldType};
use super::version;

pub const NAMESPACE: &str = "os_vif";
pub const KEY_NAME: &str = "versioned_object.name";
pub const KEY_NAMESPACE: &str = "versioned_object.namespace";
pub const KEY_VERSION: &str = "versioned_object.version";
pub const KEY_DATA: &str = "versioned_object.data";
pub const KEY_CHANGES: &str = "versioned_object.changes";

fn type_error(msg: impl Into<String>) -> OsVifError {
    OsVifError::new(ErrorKind::TypeError, msg)
}

/// What Python says when a non-dict is indexed with a string key.
fn subscript_error(v: &J) -> OsVifError {
    match v {
        J::Array(_) => type_error("list indices must be integers or slices, not str"),
        J::String(_) => type_error("string indices must be integers, not 'str'"),
        other => type_error(format!(
            "'{}' object is not subscriptable",
            py_type_name(other)
        )),
    }
}

fn get_key<'a>(prim: &'a J, key: &str) -> Result<&'a J, OsVifError> {
    match prim {
        J::Object(m) => m
            .get(key)
            .ok_or_else(|| OsVifError::new(ErrorKind::KeyError, format!("'{key}'"))),
        other => Err(subscript_error(other)),
    }
}

/// Load any registered os-vif object from its primitive.
pub fn from_primitive(prim: &J, mode: Mode) -> Result<VersionedObject, OsVifError> {
    let ns = get_key(prim, KEY_NAMESPACE)?;
    let name = get_key(prim, KEY_NAME)?;
    let ver = get_key(prim, KEY_VERSION)?;
    if ns.as_str() != Some(NAMESPACE) {
        return Err(OsVifError::new(
            ErrorKind::UnsupportedObjectError,
            format!("Unsupported object type {}.{}", py_str(ns), py_str(name)),
        ));
    }
    let class = name.as_str().and_then(class_by_name).ok_or_else(|| {
        OsVifError::new(
            ErrorKind::UnsupportedObjectError,
            format!("Unsupported object type {}", py_str(name)),
        )
    })?;
    let version = check_version(class, ver, mode)?;
    let data = get_key(prim, KEY_DATA)?;
    let changes = match prim {
        J::Object(m) => m.get(KEY_CHANGES).cloned().unwrap_or(J::Array(vec![])),
        _ => J::Array(vec![]),
    };

    let mut obj = VersionedObject::of_class(class, version);
    for f in class.fields {
        if !data_contains(data, f.name)? {
            continue;
        }
        let raw = match data {
            J::Object(m) => &m[f.name],
            other => return Err(subscript_error(other)),
        };
        let v = decode_field(class, f, raw, mode)
            .map_err(|e| e.at(&format!("{}.{}", class.name, f.name)))?;
        obj.set_raw(f.name, v);
    }
    obj.set_changed(changed_set(class, &changes)?);
    Ok(obj)
}

/// Python's `name in objdata`, for whatever JSON type `data` turned out to be.
fn data_contains(data: &J, name: &str) -> Result<bool, OsVifError> {
    match data {
        J::Object(m) => Ok(m.contains_key(name)),
        J::Array(a) => Ok(a.iter().any(|x| x.as_str() == Some(name))),
        J::String(s) => Ok(s.contains(name)),
        other => Err(type_error(format!(
            "argument of type '{}' is not iterable",
            py_type_name(other)
        ))),
    }
}

fn changed_set(
    class: &'static ClassDef,
    changes: &J,
) -> Result<BTreeSet<&'static str>, OsVifError> {
    let names: Vec<String> = match changes {
        J::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        J::Object(m) => m.keys().cloned().collect(),
        J::String(s) => s.chars().map(|c| c.to_string()).collect(),
        other => {
            return Err(type_error(format!(
                "'{}' object is not iterable",
                py_type_name(other)
            )))
        }
    };
    Ok(class
        .fields
        .iter()
        .filter(|f| names.iter().any(|n| n == f.name))
        .map(|f| f.name)
        .collect())
}

/// oslo `obj_class_from_name`: exact string match, else same major and not newer.
fn check_version(class: &'static ClassDef, ver: &J, mode: Mode) -> Result<String, OsVifError> {
    if let Some(s) = ver.as_str() {
        if s == class.version {
            return Ok(s.to_string());
        }
    }
    let invalid = || {
        OsVifError::new(
            ErrorKind::InvalidVersion,
            format!("Invalid version: {}", py_repr(ver)),
        )
    };
    let s = ver.as_str().ok_or_else(invalid)?;
    let requested = version::parse_pep440(s).ok_or_else(invalid)?;
    let current = version::parse_pep440(class.version).expect("class versions are valid");
    if requested.first() != current.first() || version::cmp_release(&current, &requested).is_lt() {
        return Err(OsVifError::new(
            ErrorKind::IncompatibleObjectVersion,
            format!(
                "Version {s} of {} is not supported, supported version is {}",
                class.name, class.version
            ),
        ));
    }
    if mode == Mode::Strict && !version::is_major_minor(s) {
        return Err(OsVifError::strict(format!(
            "version {s:?} of {} is not MAJOR.MINOR (os-vif accepts and echoes it)",
            class.name
        )));
    }
    Ok(s.to_string())
}

fn none_error(attr: &str) -> OsVifError {
    OsVifError::new(
        ErrorKind::ValueError,
        format!("Field `{attr}' cannot be None"),
    )
}

fn null_value(f: &FieldDef, attr: &str) -> Result<Value, OsVifError> {
    if f.nullable {
        Ok(Value::Null)
    } else if let Some(Default::Bool(b)) = f.default {
        Ok(Value::Bool(b))
    } else {
        Err(none_error(attr))
    }
}

/// oslo Object.coerce: the value's class (or, with `subclasses`, an ancestor) must be the
/// declared one. The message names the *containing* class's module, as oslo does.
pub(crate) fn check_class(
    container: &'static ClassDef,
    attr: &str,
    expected: &str,
    subclasses: bool,
    actual: &'static ClassDef,
) -> Result<(), OsVifError> {
    let ok = if subclasses {
        actual.is_a(expected)
    } else {
        actual.name == expected
    };
    if ok {
        Ok(())
    } else {
        Err(OsVifError::new(
            ErrorKind::ValueError,
            format!(
                "An object of type {}.{expected} is required in field {attr}, not a {}.{}",
                container.module, actual.module, actual.name
            ),
        ))
    }
}

/// Python iterates whatever it is given: a string by characters, a dict by keys.
fn py_iter(v: &J, attr: &str, mode: Mode) -> Result<Vec<J>, OsVifError> {
    match v {
        J::Array(a) => Ok(a.clone()),
        _ if mode == Mode::Strict => Err(OsVifError::strict(format!(
            "field {attr} must be a JSON array, not {} (os-vif would iterate it)",
            py_type_name(v)
        ))),
        J::String(s) => Ok(s.chars().map(|c| J::String(c.to_string())).collect()),
        J::Object(m) => Ok(m.keys().map(|k| J::String(k.clone())).collect()),
        other => Err(type_error(format!(
            "'{}' object is not iterable",
            py_type_name(other)
        ))),
    }
}

/// Decode and coerce one field value (Field.from_primitive, then setattr's coerce).
pub(crate) fn decode_field(
    container: &'static ClassDef,
    f: &FieldDef,
    raw: &J,
    mode: Mode,
) -> Result<Value, OsVifError> {
    let attr = f.name;
    if raw.is_null() {
        return null_value(f, attr);
    }
    Ok(match f.ty {
        FieldType::Uuid => Value::Str(coerce::uuid(raw, mode)?),
        FieldType::Mac => Value::Str(coerce::mac(raw, mode)?),
        FieldType::Pci => Value::Str(coerce::pci(raw, mode)?),
        FieldType::Str => Value::Str(coerce::string(raw, attr, mode)?),
        FieldType::Enum(valid) => Value::Str(coerce::enumeration(raw, valid, attr, mode)?),
        FieldType::Bool => Value::Bool(coerce::boolean(raw, attr, mode)?),
        FieldType::Int => Value::Int(coerce::integer(raw, attr, mode)?),
        FieldType::IpAddr => Value::Str(coerce::ip_address(raw)?),
        FieldType::IpNet => Value::Str(coerce::ip_network(raw)?),
        FieldType::IpList => {
            let items = py_iter(raw, attr, mode)?;
            // Pass 1 (from_primitive) parses addresses; pass 2 (coerce) rejects nulls.
            let mut parsed = Vec::with_capacity(items.len());
            for it in &items {
                parsed.push(if it.is_null() {
                    None
                } else {
                    Some(coerce::ip_address(it)?)
                });
            }
            let mut out = Vec::with_capacity(parsed.len());
            for (i, p) in parsed.into_iter().enumerate() {
                out.push(Value::Str(
                    p.ok_or_else(|| none_error(&format!("{attr}[{i}]")))?,
                ));
            }
            Value::List(out)
        }
        FieldType::Object { name, subclasses } => {
            let o = from_primitive(raw, mode)?;
            check_class(container, attr, name, subclasses, o.class)?;
            Value::Obj(Box::new(o))
        }
        FieldType::ObjectList { name, subclasses } => {
            let items = py_iter(raw, attr, mode)?;
            let mut parsed = Vec::with_capacity(items.len());
            for (i, it) in items.iter().enumerate() {
                parsed.push(if it.is_null() {
                    None
                } else {
                    Some(from_primitive(it, mode).map_err(|e| e.at(&format!("[{i}]")))?)
                });
            }
            let mut out = Vec::with_capacity(parsed.len());
            for (i, p) in parsed.into_iter().enumerate() {
                let a = format!("{attr}[{i}]");
                let o = p.ok_or_else(|| none_error(&a))?;
                check_class(container, &a, name, subclasses, o.class)?;
                out.push(Value::Obj(Box::new(o)));
            }
            Value::List(out)
        }
    })
}
