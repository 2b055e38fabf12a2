//! `FieldError`: a field of an administrator's input that failed a rule, named so the answer can
//! say which (the management API reports it as 422 `invalid_field`). Its own module so that the
//! rules in `application`, `claims`, `organization` and `user` share it without importing each
//! other.

use std::fmt;

/// A field that failed validation. `field` is the field's name or JSON path (`redirects.post_login[0]`);
/// empty when the input as a whole is at fault (a missing or unknown member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// `field: reason`, or the reason alone when no one field is at fault.
impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

impl std::error::Error for FieldError {}
