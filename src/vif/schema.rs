//! The os-vif class table is data, not code: one [`ClassDef`] per registered class, read by one
//! generic codec. Adding a class or a field is a table edit (see `scripts/gen-osvif-classes.py`).

/// The wire type of a field, as oslo.versionedobjects knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Uuid,
    Mac,
    Pci,
    Str,
    Enum(&'static [&'static str]),
    Bool,
    Int,
    IpAddr,
    IpNet,
    /// `ListOfIPAddressField`.
    IpList,
    /// An `ObjectField`. `subclasses` allows any registered subclass of `name`.
    Object {
        name: &'static str,
        subclasses: bool,
    },
    /// A `ListOfObjectsField`.
    ObjectList {
        name: &'static str,
        subclasses: bool,
    },
}

/// A declared default. oslo only applies it through `obj_set_defaults()` or when `null` is
/// assigned to a non-nullable field, never on construction or load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    Bool(bool),
}

#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    pub nullable: bool,
    pub default: Option<Default>,
}

#[derive(Debug)]
pub struct ClassDef {
    pub name: &'static str,
    /// The class's current VERSION.
    pub version: &'static str,
    /// Python module, needed verbatim in oslo's wrong-object error messages.
    pub module: &'static str,
    pub parent: Option<&'static str>,
    /// `ComparableVersionedObject`: equality by primitive in Python.
    pub comparable: bool,
    /// Fields in oslo iteration order (own first, then inherited): decides which error wins.
    pub fields: &'static [FieldDef],
    /// `obj_relationships`: field -> [(parent version, child version)].
    pub relationships: &'static [(&'static str, &'static [(&'static str, &'static str)])],
}

pub const DIRECT_MODES: &[&str] = &["vepa", "passthrough", "bridge"];
pub const VHOSTUSER_MODES: &[&str] = &["client", "server"];
pub const HOSTDEV_TYPES: &[&str] = &["ethernet", "generic"];

impl ClassDef {
    pub fn field(&self, name: &str) -> Option<(usize, &'static FieldDef)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }

    pub fn relationship(&self, field: &str) -> Option<&'static [(&'static str, &'static str)]> {
        self.relationships
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, r)| *r)
    }
}

impl PartialEq for ClassDef {
    /// Classes are singletons; the name identifies them.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
