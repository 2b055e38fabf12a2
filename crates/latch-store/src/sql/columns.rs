//! Column lists, as macros so that `concat!` can build each statement as one `&'static str`.
//! Each list matches the fields of its row type in `rows`.

macro_rules! signing_key_columns {
    () => {
        "kid, alg, generation, public_jwk, private_key_encrypted, created_at, activate_at"
    };
}
macro_rules! application_columns {
    () => {
        "id, client_id, name, application_type, management_api_access, enforce_pkce, \
         access_token_ttl_seconds, post_login_redirect_uris, initiate_login_uri, \
         post_logout_redirect_uris, backchannel_logout_uri, allowed_origins, \
         id_token_signed_response_alg, created_at, updated_at, custom_claims, claim_mappings, token_hook, \
         allow_signup, require_verified_email, mfa"
    };
}
macro_rules! client_secret_columns {
    () => {
        "id, hash, created_at, last_used_at"
    };
}
macro_rules! user_columns {
    () => {
        "id, email, email_verified, name, given_name, family_name, created_at, external_id, metadata, admin"
    };
}
macro_rules! session_columns {
    () => {
        "sid, user_id, auth_time, created_at, last_active_at, expires_at, user_agent, ip, amr"
    };
}
macro_rules! login_request_columns {
    () => {
        "id, browser_binding, request, created_at, expires_at"
    };
}
macro_rules! refresh_columns {
    () => {
        "family_id, application_id, client_id, user_id, sid, scope, auth_time, created_at, \
         expires_at, organization_id, audience, claims, amr"
    };
}
/// `user_columns` of the table aliased `$t`, for joins.
macro_rules! user_columns_of {
    ($t:literal) => {
        concat!(
            $t,
            ".id, ",
            $t,
            ".email, ",
            $t,
            ".email_verified, ",
            $t,
            ".name, ",
            $t,
            ".given_name, ",
            $t,
            ".family_name, ",
            $t,
            ".created_at, ",
            $t,
            ".external_id, ",
            $t,
            ".metadata, ",
            $t,
            ".admin"
        )
    };
}
/// A grant with its state, its user and its session's liveness, up to the `WHERE g.` column to
/// select by (the grant's `created_at` as `grant_created_at`: the user's has the plain name).
macro_rules! refresh_grant_select {
    () => {
        concat!(
            "SELECT g.family_id, g.application_id, g.client_id, g.user_id, g.sid, g.scope, \
             g.auth_time, g.created_at AS grant_created_at, g.expires_at, g.organization_id, \
             g.audience, g.claims, g.amr, g.generation, g.rotated_at, g.revoked_at, \
             (s.sid IS NOT NULL AND s.ended_at IS NULL) AS session_active, ",
            $crate::sql::user_columns_of!("u"),
            " FROM refresh_grants g JOIN users u ON u.id = g.user_id \
             LEFT JOIN sessions s ON s.sid = g.sid WHERE g."
        )
    };
}
macro_rules! delivery_columns {
    () => {
        "id, application_id, client_id, url, sid, sub, attempts, created_at, next_attempt_at, \
         delivered_at, abandoned_at, last_error"
    };
}
pub(crate) use {
    application_columns, client_secret_columns, delivery_columns, login_request_columns,
    refresh_columns, refresh_grant_select, session_columns, signing_key_columns, user_columns,
    user_columns_of,
};
