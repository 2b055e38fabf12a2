//! What a management operation answers when it does not succeed. No HTTP here: `crate::admin`
//! maps each variant to a status and the `{"error", "error_description"}` body (docs/api.md), the
//! CLI prints it on one line.

use latch_core::field::FieldError;
use latch_core::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// No such resource (`what` is its name: "application", "user", "member"…).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness or count rule refused the change (`code` names which: `email_taken`,
    /// `name_taken`, `too_many_secrets`…).
    #[error("{description}")]
    Conflict {
        code: &'static str,
        description: String,
    },
    /// A field is invalid: wrong type, unknown, read-only or against a rule; names the field.
    #[error("{0}")]
    InvalidField(#[from] FieldError),
    /// The operation does not apply to this resource as it is (a client secret for a public
    /// application): a rule, not a permission of the caller.
    #[error("{description}")]
    Forbidden {
        code: &'static str,
        description: String,
    },
    /// The store failed (or refused a write for a reason the caller did not foresee).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ManageError {
    /// The error's code: `not_found`, `invalid_field`, `server_error` or the rule's own
    /// (`email_taken`, `too_many_secrets`, `invalid_application_type`…).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Conflict { code, .. } | Self::Forbidden { code, .. } => code,
            Self::InvalidField(_) => "invalid_field",
            Self::Store(latch_core::store::StoreError::Conflict(_)) => "conflict",
            Self::Store(_) => "server_error",
        }
    }

    pub fn conflict(code: &'static str, description: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            description: description.into(),
        }
    }

    /// A failure that is neither the caller's nor the store's (hashing pool gone, a URL that
    /// cannot be built): reported as a store failure, logged with its cause by whoever answers.
    pub fn internal(e: &dyn std::error::Error) -> Self {
        Self::Store(StoreError::Other(e.to_string().into()))
    }

    /// A store conflict as the named conflict; other store errors pass through.
    pub(crate) fn conflict_as(
        code: &'static str,
        description: &str,
    ) -> impl Fn(StoreError) -> Self {
        move |e| match e {
            // The store names a taken `external_id` apart from the resource's other unique field.
            StoreError::Conflict(what) if what == "external_id" => {
                Self::conflict("external_id_taken", "this external_id is already in use")
            }
            StoreError::Conflict(_) => Self::conflict(code, description),
            other => Self::Store(other),
        }
    }
}
