use thiserror::Error;

/// The Python exception class oslo/os-vif would raise. Kept as a kind so callers (and the
/// vector tests) can compare with os-vif without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    UnsupportedObjectError,
    IncompatibleObjectVersion,
    InvalidVersion,
    InvalidTargetVersion,
    ObjectActionError,
    KeyError,
    TypeError,
    ValueError,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnsupportedObjectError => "UnsupportedObjectError",
            ErrorKind::IncompatibleObjectVersion => "IncompatibleObjectVersion",
            ErrorKind::InvalidVersion => "InvalidVersion",
            ErrorKind::InvalidTargetVersion => "InvalidTargetVersion",
            ErrorKind::ObjectActionError => "ObjectActionError",
            ErrorKind::KeyError => "KeyError",
            ErrorKind::TypeError => "TypeError",
            ErrorKind::ValueError => "ValueError",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An os-vif codec failure: the oslo exception kind, oslo's own message (verbatim, so it can be
/// matched against os-vif), and where in the object tree it happened, which oslo's messages
/// often leave out ("Malformed MAC x" does not say which field).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{kind}: {message}{}", location(.path))]
pub struct OsVifError {
    pub kind: ErrorKind,
    pub message: String,
    /// `Class.field[.Class.field...]`, empty at the top level.
    pub path: String,
    /// True when vifman rejects something os-vif would accept (see docs/object-model.md).
    pub strict: bool,
}

fn location(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" (at {path})")
    }
}

impl OsVifError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        OsVifError {
            kind,
            message: message.into(),
            path: String::new(),
            strict: false,
        }
    }

    pub fn strict(message: impl Into<String>) -> Self {
        OsVifError {
            kind: ErrorKind::ValueError,
            message: message.into(),
            path: String::new(),
            strict: true,
        }
    }

    /// Prefix a path segment as the error bubbles up through nested objects.
    pub fn at(mut self, segment: &str) -> Self {
        if self.path.is_empty() {
            self.path = segment.to_string();
        } else if self.path.starts_with('[') {
            self.path = format!("{segment}{}", self.path);
        } else {
            self.path = format!("{segment}.{}", self.path);
        }
        self
    }
}
