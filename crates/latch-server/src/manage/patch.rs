//! Changing a resource with a JSON merge patch (RFC 7396): the patch is applied to the resource's
//! view, read-only members may be repeated unchanged but not changed, and the result is read back
//! through the same type that creation takes, so creating and changing follow one set of rules.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use latch_core::field::FieldError;

use super::ManageError;

/// RFC 7396 §2: applies a JSON merge patch to `target` (`null` removes a member).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Deserializes a JSON value; a wrong type or an unknown member is an invalid field named by its
/// path (`redirects.post_login[0]: invalid type…`), as the HTTP API's body reader names it.
pub fn parse_json<T: DeserializeOwned>(value: &Value) -> Result<T, ManageError> {
    // Through the text form, so that messages read as they do for a request body.
    let bytes = serde_json::to_vec(value).map_err(|e| ManageError::internal(&e))?;
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        // `path: reason`, or the reason alone when no one member is at fault (a missing one).
        let (text, reason) = (e.to_string(), e.inner().to_string());
        let field = text
            .strip_suffix(reason.as_str())
            .and_then(|p| p.strip_suffix(": "))
            .unwrap_or_default();
        FieldError::new(field, reason).into()
    })
}

/// Splits a merge patch against the current resource's JSON form: read-only members may be
/// repeated unchanged (a client sending back what it read) but not changed. Returns the patched
/// editable fields.
pub fn patched(
    current: &impl Serialize,
    patch: &Value,
    read_only: &[&str],
) -> Result<Value, ManageError> {
    let Value::Object(mut patch) = patch.clone() else {
        return Err(
            FieldError::new("", "the body must be a JSON object (RFC 7396 merge patch)").into(),
        );
    };
    let mut target = serde_json::to_value(current).map_err(|e| ManageError::internal(&e))?;
    if let Value::Object(fields) = &mut target {
        for name in read_only {
            if let Some(value) = patch.remove(*name)
                && fields.get(*name) != Some(&value)
            {
                return Err(FieldError::new(*name, "is read-only").into());
            }
            fields.remove(*name);
        }
    }
    merge_patch(&mut target, &Value::Object(patch));
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manage::NewApplication;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }

    fn invalid_field(e: ManageError) -> FieldError {
        match e {
            ManageError::InvalidField(f) => f,
            other => panic!("not an invalid field: {other:?}"),
        }
    }

    #[test]
    fn a_read_only_member_may_repeat_its_value_but_not_change_it() {
        let current = json!({"id": "a1", "name": "old"});
        let same = patched(&current, &json!({"id": "a1", "name": "new"}), &["id"]).unwrap();
        assert_eq!(same, json!({"name": "new"}));
        let err = invalid_field(patched(&current, &json!({"id": "a2"}), &["id"]).unwrap_err());
        assert_eq!(err.field, "id");
        assert!(err.to_string().starts_with("id:"), "{err}");
        assert!(patched(&current, &json!(["x"]), &["id"]).is_err());
    }

    #[test]
    fn parse_json_names_the_field_of_a_wrong_type() {
        let err = invalid_field(
            parse_json::<NewApplication>(
                &json!({"name": "x", "type": "web", "enforce_pkce": "yes"}),
            )
            .unwrap_err(),
        );
        assert_eq!(err.field, "enforce_pkce");
        let err = invalid_field(
            parse_json::<NewApplication>(
                &json!({"name": "x", "type": "web", "redirects": {"post_login": [1]}}),
            )
            .unwrap_err(),
        );
        assert_eq!(err.field, "redirects.post_login[0]");
        let err = parse_json::<NewApplication>(&json!({"name": "x", "type": "web", "colour": 1}))
            .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
