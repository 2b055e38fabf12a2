//! Form and query parameters as sent (`application/x-www-form-urlencoded`), with the rule that a
//! parameter must not appear twice (RFC 6749 §3.1, §3.2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::OAuthError;

#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(encoded: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(encoded).into_owned().collect())
    }

    /// The value of `name`; `invalid_request` if it is repeated. Empty values count as absent
    /// (RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted").
    pub fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found = None;
        for (k, v) in &self.0 {
            if k == name && !v.is_empty() {
                if found.is_some() {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter `{name}` is repeated"
                    )));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found)
    }

    /// `get` that ignores repetition problems by reporting them separately.
    pub fn get_lenient(&self, name: &str, duplicated: &mut Vec<String>) -> Option<String> {
        match self.get(name) {
            Ok(v) => v.map(str::to_owned),
            Err(_) => {
                duplicated.push(name.to_owned());
                None
            }
        }
    }
}

/// Client credentials as presented at the token, revocation or introspection endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    /// `None` for public clients (`token_endpoint_auth_method=none`).
    pub secret: Option<crate::Secret>,
}

/// RFC 6749 §2.3.1: HTTP Basic with form-encoded id and secret, or both in the body; never both
/// methods at once. Public clients send `client_id` alone.
pub fn client_credentials(
    authorization: Option<&str>,
    params: &Params,
) -> Result<ClientCredentials, OAuthError> {
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    if let Some(header) = authorization {
        let (scheme, value) = header.split_once(' ').unwrap_or((header, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::invalid_client(
                "unsupported authorization scheme",
            ));
        }
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        let decoded = STANDARD
            .decode(value.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let id = form_decode(id);
        let secret = form_decode(secret);
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request(
                "client_id differs from the authenticated client",
            ));
        }
        let secret = crate::Secret::parse(&secret)
            .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
        return Ok(ClientCredentials {
            client_id: id,
            secret: Some(secret),
        });
    }
    let client_id =
        body_id.ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    let secret = match body_secret {
        Some(s) => Some(
            crate::Secret::parse(s)
                .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?,
        ),
        None => None,
    };
    Ok(ClientCredentials {
        client_id: client_id.to_owned(),
        secret,
    })
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn repeated_parameters_are_invalid_requests() {
        let p = Params::parse(b"a=1&a=2&b=3&c=");
        assert_eq!(p.get("a").unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(p.get("b").unwrap(), Some("3"));
        assert_eq!(p.get("c").unwrap(), None);
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20id:s%3Acret"));
        let c = client_credentials(Some(&header), &Params::default()).unwrap();
        assert_eq!(c.client_id, "my id");
        assert_eq!(c.secret.unwrap().expose_secret(), "s:cret");
    }

    #[test]
    fn two_authentication_methods_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("id:secret"));
        let p = Params::parse(b"client_secret=secret");
        assert_eq!(
            client_credentials(Some(&header), &p).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn public_clients_send_their_id_alone() {
        let c = client_credentials(None, &Params::parse(b"client_id=abc")).unwrap();
        assert_eq!(c.client_id, "abc");
        assert!(c.secret.is_none());
        assert_eq!(
            client_credentials(None, &Params::default())
                .unwrap_err()
                .code,
            ErrorCode::InvalidClient
        );
        assert_eq!(
            client_credentials(Some("Basic !!!"), &Params::default())
                .unwrap_err()
                .code,
            ErrorCode::InvalidClient
        );
    }
}
