//! The registry of os-vif classes: lookups by name over the generated tables in [`classes`].
//!
//! It sits above both the schema types and the generated data, so the generated file depends
//! only on [`schema`] and nothing in [`schema`] reaches back into it.

use super::classes;
use super::schema::ClassDef;

pub fn class_by_name(name: &str) -> Option<&'static ClassDef> {
    classes::ALL.iter().copied().find(|c| c.name == name)
}

impl ClassDef {
    /// Names of this class and all its os-vif ancestors (oslo's `_get_all_obj_names`).
    pub fn lineage(&'static self) -> Vec<&'static str> {
        let mut out = vec![self.name];
        let mut cur = self.parent;
        while let Some(p) = cur {
            out.push(p);
            cur = class_by_name(p).and_then(|c| c.parent);
        }
        out
    }

    pub fn is_a(&'static self, ancestor: &str) -> bool {
        self.lineage().contains(&ancestor)
    }
}
