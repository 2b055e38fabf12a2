//! `metadata` and `external_id` on users and organizations: what an application keeps about its
//! own records in Latch (written by the management API and the CLI, never by the user).

use serde_json::{Map, Value};

use crate::field::FieldError;

/// At most this many bytes of compact JSON.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// The object itself is depth 1; each nested object or array adds one.
pub const MAX_METADATA_DEPTH: usize = 5;
pub const MAX_EXTERNAL_ID_CHARS: usize = 255;

/// A JSON object, at most `MAX_METADATA_BYTES` of compact JSON and `MAX_METADATA_DEPTH` deep.
pub fn validate_metadata(field: &str, metadata: &Map<String, Value>) -> Result<(), FieldError> {
    let size = serde_json::to_vec(metadata).map_or(usize::MAX, |b| b.len());
    if size > MAX_METADATA_BYTES {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
        ));
    }
    if metadata.values().any(|v| depth(v, 2) > MAX_METADATA_DEPTH) {
        return Err(FieldError::new(
            field,
            format!("must be nested at most {MAX_METADATA_DEPTH} levels deep"),
        ));
    }
    Ok(())
}

/// The depth of `value` found at depth `at`, stopping as soon as the limit is passed.
fn depth(value: &Value, at: usize) -> usize {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Object(m) => Box::new(m.values()),
        Value::Array(a) => Box::new(a.iter()),
        _ => return at - 1,
    };
    if at > MAX_METADATA_DEPTH {
        return at;
    }
    children
        .map(|c| depth(c, at + 1))
        .max()
        .unwrap_or(at)
        .max(at)
}

/// 1 to 255 characters, no control characters; unique among users (or organizations).
pub fn validate_external_id(field: &str, id: &Option<String>) -> Result<(), FieldError> {
    match id {
        Some(s)
            if s.is_empty()
                || s.chars().count() > MAX_EXTERNAL_ID_CHARS
                || s.chars().any(char::is_control) =>
        {
            Err(FieldError::new(
                field,
                format!("must be 1 to {MAX_EXTERNAL_ID_CHARS} characters, or null"),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn metadata_is_at_most_five_levels_deep() {
        let five = object(json!({"a": {"b": {"c": {"d": {"e": 1}}}}}));
        assert_eq!(validate_metadata("metadata", &five), Ok(()));
        let arrays = object(json!({"a": [[[ [1] ]]]}));
        assert_eq!(validate_metadata("metadata", &arrays), Ok(()));
        let six = object(json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}));
        assert_eq!(
            validate_metadata("metadata", &six).unwrap_err().field,
            "metadata"
        );
        let six_arrays = object(json!({"a": [[[[[1]]]]]}));
        assert!(validate_metadata("metadata", &six_arrays).is_err());
        let empty_sixth = object(json!({"a": {"b": {"c": {"d": {"e": {}}}}}}));
        assert!(validate_metadata("metadata", &empty_sixth).is_err());
    }

    #[test]
    fn metadata_is_at_most_16_kib() {
        let fits = object(json!({"k": "x".repeat(MAX_METADATA_BYTES - 8)}));
        assert_eq!(validate_metadata("metadata", &fits), Ok(()));
        let big = object(json!({"k": "x".repeat(MAX_METADATA_BYTES)}));
        assert!(validate_metadata("metadata", &big).is_err());
    }

    #[test]
    fn external_ids_are_1_to_255_printable_characters() {
        assert_eq!(validate_external_id("external_id", &None), Ok(()));
        assert_eq!(
            validate_external_id("external_id", &Some("crm-42".into())),
            Ok(())
        );
        for bad in [String::new(), "a\nb".into(), "x".repeat(256)] {
            assert!(validate_external_id("external_id", &Some(bad)).is_err());
        }
        assert!(validate_external_id("external_id", &Some("é".repeat(255))).is_ok());
    }
}
