//! The one place a management layer error becomes HTTP (docs/api.md "Errors"): not found → 404,
//! a conflict → 409, an invalid field or a refused operation → 422, a store failure → 500 (logged
//! with its cause, answered opaquely); the body is `{"error", "error_description"}`.

use axum::http::StatusCode;

use crate::http::error::ApiError;
use crate::manage::ManageError;

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        let code = e.code();
        match e {
            ManageError::NotFound(what) => Self::not_found(what),
            ManageError::Conflict { description, .. } => Self::conflict(code, description),
            ManageError::InvalidField(field) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, field.to_string())
            }
            ManageError::Forbidden { description, .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, description)
            }
            ManageError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use latch_core::field::FieldError;
    use latch_core::store::StoreError;

    use super::*;

    #[test]
    fn each_kind_of_management_error_has_its_status_and_code() {
        let cases = [
            (
                ManageError::NotFound("user"),
                404,
                "not_found",
                "user not found",
            ),
            (
                ManageError::conflict("email_taken", "a user with this email exists"),
                409,
                "email_taken",
                "a user with this email exists",
            ),
            (
                FieldError::new("redirects.post_login[0]", "is not a URL").into(),
                422,
                "invalid_field",
                "redirects.post_login[0]: is not a URL",
            ),
            (
                FieldError::new("", "missing field `name`").into(),
                422,
                "invalid_field",
                "missing field `name`",
            ),
            (
                ManageError::Forbidden {
                    code: "invalid_application_type",
                    description: "only web applications have client secrets".into(),
                },
                422,
                "invalid_application_type",
                "only web applications have client secrets",
            ),
            (
                StoreError::Conflict("duplicate".into()).into(),
                409,
                "conflict",
                "duplicate",
            ),
            (
                StoreError::Other("disk full at /var/lib/latch".into()).into(),
                500,
                "server_error",
                "internal error",
            ),
        ];
        for (error, status, code, description) in cases {
            let api = ApiError::from(error);
            assert_eq!(api.status.as_u16(), status, "{code}");
            assert_eq!(api.code, code);
            assert_eq!(api.description, description);
        }
    }
}
