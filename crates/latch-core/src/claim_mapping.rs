//! Claims from data: an application or an API resource maps a namespaced claim name (the rule of
//! `claims`) to a value read from the user or the organization a token is for — their
//! `metadata` at a path, their `external_id`, the user's `email_verified` — or to a literal, and
//! names where it goes (`id_token`, `access_token`, `userinfo`).
//!
//! Parsed and checked when the administrator registers it ([`validate_claim_mappings`]: an
//! unknown source is a [`FieldError`] naming it); resolved when a token is minted or userinfo
//! answers ([`resolve_into`]), from the data read at that moment, so a refresh shows a change. A
//! value that is missing is left out; a mapping never replaces a claim already written (the
//! registered claims, the static custom claims, an earlier mapping).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::claims::{MAX_CUSTOM_CLAIMS, check_claim_name};
use crate::field::FieldError;
use crate::organization::Organization;
use crate::user::User;

/// At most this many mappings per application or API.
pub const MAX_CLAIM_MAPPINGS: usize = MAX_CUSTOM_CLAIMS;
/// A metadata path has at most this many members (metadata nests at most 5 levels).
pub const MAX_PATH_DEPTH: usize = 5;
const MAX_SEGMENT_LEN: usize = 100;
/// The mapped values of one token (or userinfo answer) take at most this many bytes of JSON; a
/// value that would pass the bound is left out, so tokens stay small enough for headers.
pub const MAX_MAPPED_BYTES: usize = 8192;
/// A literal's JSON is at most this long.
const MAX_LITERAL_BYTES: usize = 1024;

/// Where a mapped claim goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    IdToken,
    AccessToken,
    Userinfo,
}

/// The members of a metadata path (`plan.tier` → `["plan", "tier"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPath(Vec<String>);

impl MetadataPath {
    fn parse(text: &str) -> Result<Self, String> {
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.len() > MAX_PATH_DEPTH {
            return Err(format!(
                "a metadata path has at most {MAX_PATH_DEPTH} members"
            ));
        }
        for s in &segments {
            if s.is_empty() || s.len() > MAX_SEGMENT_LEN || s.chars().any(char::is_control) {
                return Err(format!(
                    "each member of a metadata path is 1 to {MAX_SEGMENT_LEN} bytes without control characters"
                ));
            }
        }
        Ok(Self(segments))
    }

    /// The value at this path in `metadata`, if there is one (`null` counts as none).
    pub fn lookup<'a>(&self, metadata: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.0.split_first()?;
        let mut at = metadata.get(first)?;
        for member in rest {
            at = at.as_object()?.get(member)?;
        }
        (!at.is_null()).then_some(at)
    }
}

/// Where a mapped claim's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimSource {
    /// `user.metadata.<path>`
    UserMetadata(MetadataPath),
    /// `organization.metadata.<path>`
    OrganizationMetadata(MetadataPath),
    /// `user.external_id`
    UserExternalId,
    /// `organization.external_id`
    OrganizationExternalId,
    /// `user.email_verified`
    UserEmailVerified,
    /// `literal`: the mapping's `value`.
    Literal,
}

const SOURCES: &str = "user.metadata.<path>, organization.metadata.<path>, user.external_id, organization.external_id, user.email_verified or literal";

impl FromStr for ClaimSource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let unknown = || {
            let shown: String = text.chars().take(80).collect();
            format!("unknown source `{shown}`; one of {SOURCES}")
        };
        match text {
            "user.external_id" => Ok(Self::UserExternalId),
            "organization.external_id" => Ok(Self::OrganizationExternalId),
            "user.email_verified" => Ok(Self::UserEmailVerified),
            "literal" => Ok(Self::Literal),
            _ => {
                if let Some(path) = text.strip_prefix("user.metadata.") {
                    MetadataPath::parse(path).map(Self::UserMetadata)
                } else if let Some(path) = text.strip_prefix("organization.metadata.") {
                    MetadataPath::parse(path).map(Self::OrganizationMetadata)
                } else {
                    Err(unknown())
                }
            }
        }
    }
}

impl fmt::Display for ClaimSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserMetadata(p) => write!(f, "user.metadata.{}", p.0.join(".")),
            Self::OrganizationMetadata(p) => write!(f, "organization.metadata.{}", p.0.join(".")),
            Self::UserExternalId => f.write_str("user.external_id"),
            Self::OrganizationExternalId => f.write_str("organization.external_id"),
            Self::UserEmailVerified => f.write_str("user.email_verified"),
            Self::Literal => f.write_str("literal"),
        }
    }
}

impl Serialize for ClaimSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An unknown source fails here, so the answer names `claim_mappings[i].source`.
impl<'de> Deserialize<'de> for ClaimSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One mapping: `{"claim": URL, "source": …, "value"?: literal, "destinations": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    /// A namespaced claim name (`https://example.com/plan`).
    pub claim: String,
    pub source: ClaimSource,
    /// The value of a `literal` source (and only of one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Where the claim goes: `id_token`, `access_token`, `userinfo` (each at most once).
    pub destinations: Vec<Destination>,
}

/// What a mapping can read: the token's user (none for `client_credentials`) and organization.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimData<'a> {
    pub user: Option<&'a User>,
    pub organization: Option<&'a Organization>,
}

impl ClaimMapping {
    /// The value for `data`, if there is one.
    pub fn value_for(&self, data: &ClaimData<'_>) -> Option<Value> {
        match &self.source {
            ClaimSource::UserMetadata(p) => data.user.and_then(|u| p.lookup(&u.metadata)).cloned(),
            ClaimSource::OrganizationMetadata(p) => data
                .organization
                .and_then(|o| p.lookup(&o.metadata))
                .cloned(),
            ClaimSource::UserExternalId => data
                .user
                .and_then(|u| u.external_id.as_deref())
                .map(Value::from),
            ClaimSource::OrganizationExternalId => data
                .organization
                .and_then(|o| o.external_id.as_deref())
                .map(Value::from),
            ClaimSource::UserEmailVerified => data.user.map(|u| Value::Bool(u.email_verified)),
            ClaimSource::Literal => self.value.clone().filter(|v| !v.is_null()),
        }
    }

    /// Whether the value needs the organization's row.
    pub fn reads_organization(&self) -> bool {
        matches!(
            self.source,
            ClaimSource::OrganizationMetadata(_) | ClaimSource::OrganizationExternalId
        )
    }
}

/// Checks a list of mappings; `field` names it (`claim_mappings`), `custom` are the holder's static
/// custom claims (a mapping may not take one's name) and `allowed` the destinations the holder
/// has (an API's claims go into its access tokens only).
pub fn validate_claim_mappings(
    field: &str,
    mappings: &[ClaimMapping],
    custom: &Map<String, Value>,
    allowed: &[Destination],
) -> Result<(), FieldError> {
    if mappings.len() > MAX_CLAIM_MAPPINGS {
        let reason = format!("at most {MAX_CLAIM_MAPPINGS} mappings");
        return Err(FieldError::new(field, reason));
    }
    for (i, m) in mappings.iter().enumerate() {
        let at = |member: &str| format!("{field}[{i}].{member}");
        check_claim_name(&at("claim"), &m.claim)?;
        if custom.contains_key(&m.claim) {
            return Err(FieldError::new(at("claim"), "is a custom claim already"));
        }
        if mappings[..i].iter().any(|earlier| earlier.claim == m.claim) {
            return Err(FieldError::new(at("claim"), "is mapped twice"));
        }
        match (&m.source, &m.value) {
            (ClaimSource::Literal, None | Some(Value::Null)) => {
                return Err(FieldError::new(
                    at("value"),
                    "a literal source needs a value",
                ));
            }
            (ClaimSource::Literal, Some(v)) if v.to_string().len() > MAX_LITERAL_BYTES => {
                let reason = format!("at most {MAX_LITERAL_BYTES} bytes of JSON");
                return Err(FieldError::new(at("value"), reason));
            }
            (ClaimSource::Literal, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(FieldError::new(
                    at("value"),
                    "only a literal source takes a value",
                ));
            }
        }
        if m.destinations.is_empty() {
            return Err(FieldError::new(
                at("destinations"),
                "name at least one destination",
            ));
        }
        for (j, d) in m.destinations.iter().enumerate() {
            if !allowed.contains(d) {
                let reason = format!("`{}` is not a destination here", destination_name(*d));
                return Err(FieldError::new(
                    format!("{}[{j}]", at("destinations")),
                    reason,
                ));
            }
            if m.destinations[..j].contains(d) {
                let reason = "is named twice";
                return Err(FieldError::new(
                    format!("{}[{j}]", at("destinations")),
                    reason,
                ));
            }
        }
    }
    Ok(())
}

fn destination_name(d: Destination) -> &'static str {
    match d {
        Destination::IdToken => "id_token",
        Destination::AccessToken => "access_token",
        Destination::Userinfo => "userinfo",
    }
}

/// Adds to `out` the value of each mapping of `lists` (an application's, then its API's) for
/// `destination` that has one, in order, unless `out` holds the claim already (nothing a mapping
/// writes replaces a claim) or the values added would pass [`MAX_MAPPED_BYTES`] (that value is
/// left out). Without mappings this does nothing and allocates nothing.
pub fn resolve_into(
    lists: &[&[ClaimMapping]],
    destination: Destination,
    data: &ClaimData<'_>,
    out: &mut Map<String, Value>,
) {
    let mut used = 0;
    for m in lists.iter().flat_map(|l| l.iter()) {
        if !m.destinations.contains(&destination) || out.contains_key(&m.claim) {
            continue;
        }
        let Some(value) = m.value_for(data) else {
            continue;
        };
        let size = m.claim.len() + value.to_string().len();
        if used + size > MAX_MAPPED_BYTES {
            continue;
        }
        used += size;
        out.insert(m.claim.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: [Destination; 3] = [
        Destination::IdToken,
        Destination::AccessToken,
        Destination::Userinfo,
    ];

    fn mappings(v: Value) -> Result<Vec<ClaimMapping>, FieldError> {
        let m: Vec<ClaimMapping> =
            serde_json::from_value(v).map_err(|e| FieldError::new("", e.to_string()))?;
        validate_claim_mappings("claim_mappings", &m, &Map::new(), &ALL)?;
        Ok(m)
    }

    fn user() -> User {
        User {
            admin: false,
            id: "u1".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            name: None,
            given_name: None,
            family_name: None,
            created_at: 0,
            external_id: Some("crm-7".into()),
            metadata: json!({"plan": {"tier": "gold", "seats": 5}, "gone": null})
                .as_object()
                .cloned()
                .unwrap(),
        }
    }

    fn org() -> Organization {
        Organization {
            id: "org_1".into(),
            name: "acme".into(),
            display_name: None,
            metadata: json!({"region": "eu"}).as_object().cloned().unwrap(),
            external_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn every_source_parses_and_prints_back() {
        for text in [
            "user.metadata.plan.tier",
            "organization.metadata.region",
            "user.external_id",
            "organization.external_id",
            "user.email_verified",
            "literal",
        ] {
            let source: ClaimSource = text.parse().unwrap();
            assert_eq!(source.to_string(), text);
        }
    }

    #[test]
    fn unknown_or_malformed_sources_are_refused() {
        for bad in [
            "user.password_hash",
            "user.metadata",
            "user.metadata.",
            "user.metadata.a..b",
            "user.metadata.a.b.c.d.e.f",
            "organization.name",
            "",
            "USER.external_id",
        ] {
            assert!(bad.parse::<ClaimSource>().is_err(), "{bad}");
        }
        let e = "user.password".parse::<ClaimSource>().unwrap_err();
        assert!(e.contains("unknown source `user.password`"), "{e}");
    }

    #[test]
    fn the_error_names_the_mappings_field() {
        let claim = "https://example.com/x";
        let one = |extra: Value| {
            let mut m =
                json!({"claim": claim, "source": "user.external_id", "destinations": ["id_token"]});
            m.as_object_mut()
                .unwrap()
                .extend(extra.as_object().cloned().unwrap());
            mappings(json!([m]))
        };
        assert!(one(json!({})).is_ok());
        let field = |extra: Value| one(extra).unwrap_err().field;
        assert_eq!(field(json!({"claim": "sub"})), "claim_mappings[0].claim");
        assert_eq!(field(json!({"claim": "plan"})), "claim_mappings[0].claim");
        assert_eq!(field(json!({"value": 1})), "claim_mappings[0].value");
        assert_eq!(
            field(json!({"source": "literal"})),
            "claim_mappings[0].value"
        );
        assert_eq!(
            field(json!({"destinations": []})),
            "claim_mappings[0].destinations"
        );
        assert_eq!(
            field(json!({"destinations": ["id_token", "id_token"]})),
            "claim_mappings[0].destinations[1]"
        );
        let twice = json!([
            {"claim": claim, "source": "user.external_id", "destinations": ["id_token"]},
            {"claim": claim, "source": "user.email_verified", "destinations": ["userinfo"]},
        ]);
        assert_eq!(
            mappings(twice).unwrap_err().field,
            "claim_mappings[1].claim"
        );
        let custom = json!({claim: 1}).as_object().cloned().unwrap();
        let m = one(json!({})).unwrap();
        let e = validate_claim_mappings("claim_mappings", &m, &custom, &ALL).unwrap_err();
        assert_eq!(e.field, "claim_mappings[0].claim");
        let e = validate_claim_mappings(
            "claim_mappings",
            &m,
            &Map::new(),
            &[Destination::AccessToken],
        )
        .unwrap_err();
        assert_eq!(e.field, "claim_mappings[0].destinations[0]");
        let many: Vec<Value> = (0..=MAX_CLAIM_MAPPINGS)
            .map(|i| json!({"claim": format!("https://e.com/{i}"), "source": "user.external_id", "destinations": ["id_token"]}))
            .collect();
        assert_eq!(
            mappings(Value::Array(many)).unwrap_err().field,
            "claim_mappings"
        );
    }

    #[test]
    fn values_come_from_the_user_and_the_organization_and_missing_ones_are_left_out() {
        let m = mappings(json!([
            {"claim": "https://e.com/tier", "source": "user.metadata.plan.tier", "destinations": ["id_token", "access_token"]},
            {"claim": "https://e.com/plan", "source": "user.metadata.plan", "destinations": ["id_token"]},
            {"claim": "https://e.com/none", "source": "user.metadata.plan.tier.deeper", "destinations": ["id_token"]},
            {"claim": "https://e.com/gone", "source": "user.metadata.gone", "destinations": ["id_token"]},
            {"claim": "https://e.com/region", "source": "organization.metadata.region", "destinations": ["id_token"]},
            {"claim": "https://e.com/crm", "source": "user.external_id", "destinations": ["userinfo"]},
            {"claim": "https://e.com/org-crm", "source": "organization.external_id", "destinations": ["id_token"]},
            {"claim": "https://e.com/verified", "source": "user.email_verified", "destinations": ["access_token"]},
            {"claim": "https://e.com/env", "source": "literal", "value": ["prod"], "destinations": ["access_token"]},
        ]))
        .unwrap();
        let (u, o) = (user(), org());
        let data = ClaimData {
            user: Some(&u),
            organization: Some(&o),
        };
        let resolved = |d: Destination, data: &ClaimData<'_>| {
            let mut out = Map::new();
            resolve_into(&[&m], d, data, &mut out);
            Value::Object(out)
        };
        assert_eq!(
            resolved(Destination::IdToken, &data),
            json!({"https://e.com/tier": "gold", "https://e.com/plan": {"tier": "gold", "seats": 5}, "https://e.com/region": "eu"})
        );
        assert_eq!(
            resolved(Destination::AccessToken, &data),
            json!({"https://e.com/tier": "gold", "https://e.com/verified": true, "https://e.com/env": ["prod"]})
        );
        assert_eq!(
            resolved(Destination::Userinfo, &data),
            json!({"https://e.com/crm": "crm-7"})
        );
        // client_credentials: no user, no organization; only the literal.
        assert_eq!(
            resolved(Destination::AccessToken, &ClaimData::default()),
            json!({"https://e.com/env": ["prod"]})
        );
    }

    #[test]
    fn a_mapping_never_replaces_a_claim_and_the_values_stay_bounded() {
        let m = mappings(json!([
            {"claim": "https://e.com/a", "source": "user.metadata.big", "destinations": ["id_token"]},
            {"claim": "https://e.com/b", "source": "user.external_id", "destinations": ["id_token"]},
        ]))
        .unwrap();
        let mut u = user();
        u.metadata
            .insert("big".into(), "x".repeat(MAX_MAPPED_BYTES).into());
        let data = ClaimData {
            user: Some(&u),
            organization: None,
        };
        let mut out = Map::new();
        out.insert("https://e.com/b".into(), "static".into());
        resolve_into(&[&m], Destination::IdToken, &data, &mut out);
        assert_eq!(
            Value::Object(out),
            json!({"https://e.com/b": "static"}),
            "too big: left out"
        );
        // An API's mapping does not replace the application's.
        let api = mappings(json!([
            {"claim": "https://e.com/c", "source": "literal", "value": "api", "destinations": ["id_token"]},
        ]))
        .unwrap();
        let app = mappings(json!([
            {"claim": "https://e.com/c", "source": "literal", "value": "app", "destinations": ["id_token"]},
        ]))
        .unwrap();
        let mut out = Map::new();
        resolve_into(&[&app, &api], Destination::IdToken, &data, &mut out);
        assert_eq!(Value::Object(out), json!({"https://e.com/c": "app"}));
    }

    #[test]
    fn mappings_read_back_as_written() {
        let text = json!([{"claim": "https://e.com/env", "source": "literal", "value": 1, "destinations": ["userinfo"]}]);
        let m = mappings(text.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), text);
        assert!(!m[0].reads_organization());
    }
}
