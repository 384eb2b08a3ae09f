//! The os-vif object model (os-vif 5.3.0) and its oslo.versionedobjects primitive codec.
//!
//! Classes are data ([`schema::ClassDef`] tables in [`classes`]); one generic decoder
//! ([`decode`]) and encoder ([`encode`]) serve all 31 of them.

pub mod build;
pub mod classes;
pub mod coerce;
pub mod decode;
pub mod encode;
pub mod error;
pub mod object;
pub mod pyrepr;
pub mod registry;
pub mod schema;
pub mod summary;
pub mod version;

pub use decode::{from_primitive, Mode};
pub use encode::Manifest;
pub use error::{ErrorKind, OsVifError};
pub use object::{Value, VersionedObject};
