//! The validating setters of [`VersionedObject`]: assignments that coerce and check values
//! the way oslo does on setattr. They sit above both the object type and the decoder, so the
//! object model does not import the decoder that builds it.

use super::decode::{check_class, decode_field, Mode};
use super::error::{ErrorKind, OsVifError};
use super::object::{Value, VersionedObject};
use super::schema::FieldType;

impl VersionedObject {
    /// Assign with oslo coercion (lenient: the same rules os-vif applies on setattr).
    pub fn set(
        &mut self,
        field: &str,
        value: impl Into<serde_json::Value>,
    ) -> Result<(), OsVifError> {
        let (_, f) = self.class.field(field).ok_or_else(|| {
            OsVifError::new(
                ErrorKind::ValueError,
                format!("{} has no field {field}", self.class.name),
            )
        })?;
        let v = decode_field(self.class, f, &value.into(), Mode::Strict)
            .map_err(|e| e.at(&format!("{}.{}", self.class.name, f.name)))?;
        self.set_raw(f.name, v);
        Ok(())
    }

    /// Assign a nested object, checking the declared class like oslo's Object.coerce.
    pub fn set_obj(&mut self, field: &str, value: VersionedObject) -> Result<(), OsVifError> {
        let (_, f) = self.class.field(field).ok_or_else(|| {
            OsVifError::new(
                ErrorKind::ValueError,
                format!("{} has no field {field}", self.class.name),
            )
        })?;
        match f.ty {
            FieldType::Object { name, subclasses } => {
                check_class(self.class, f.name, name, subclasses, value.class)?;
                self.set_raw(f.name, value.into());
                Ok(())
            }
            _ => Err(OsVifError::new(
                ErrorKind::ValueError,
                format!(
                    "field {field} of {} is not an object field",
                    self.class.name
                ),
            )),
        }
    }

    /// Assign a list of objects to a `ListOfObjectsField`, checking each element's class.
    pub fn set_obj_list(
        &mut self,
        field: &str,
        items: Vec<VersionedObject>,
    ) -> Result<(), OsVifError> {
        let (_, f) = self.class.field(field).ok_or_else(|| {
            OsVifError::new(
                ErrorKind::ValueError,
                format!("{} has no field {field}", self.class.name),
            )
        })?;
        let FieldType::ObjectList { name, subclasses } = f.ty else {
            return Err(OsVifError::new(
                ErrorKind::ValueError,
                format!(
                    "field {field} of {} is not a list of objects",
                    self.class.name
                ),
            ));
        };
        for (i, it) in items.iter().enumerate() {
            check_class(
                self.class,
                &format!("{}[{i}]", f.name),
                name,
                subclasses,
                it.class,
            )?;
        }
        self.set_raw(
            f.name,
            Value::List(items.into_iter().map(Value::from).collect()),
        );
        Ok(())
    }
}
