//! The authorization flow's decisions, without I/O: given a validated request (`authorize`), the
//! browser's session and the user's organizations, what happens next (`AuthorizeOutcome`).
//!
//! The server (`latch_server::flow`) reads what `decide` needs, then acts on the outcome: it
//! issues a code, parks the request and shows the page of a `Step`, or tells the client. When
//! the user has done what the step asked, the server resumes the parked request and calls
//! `decide` again; nothing else chooses where a request goes.
//!
//! A new step (a second factor, consent, account recovery, an invitation to accept) is one
//! variant of `Step`, the rule choosing it here, and its arm in `latch_server::flow::ask`.

use crate::authorize::{AuthorizationRequest, Prompt};
use crate::organization::Organization;
use crate::store::SessionRecord;
use crate::{ErrorCode, OAuthError, UnixTime};

/// What the authorization endpoint does next with a validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// Issue a code from the session, signed in to this organization (or to none).
    IssueCode { organization_id: Option<String> },
    /// Park the request and ask the user for something first.
    Ask(Step),
    /// Tell the client at its redirect URI (RFC 6749 §4.1.2.1).
    Refuse(OAuthError),
}

/// What a parked request waits for. Each step has its page, and its parked request is bound to a
/// cookie of the browser that was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The login form (bound to the login-binding cookie).
    Login,
    /// The account-creation form, `prompt=create` (bound to the login-binding cookie).
    SignUp,
    /// One button per organization (bound to the session cookie).
    PickOrganization(Vec<Organization>),
    /// "Check your inbox": the application requires a verified e-mail and the user's is not
    /// (bound to the session cookie; the mailed link, or "continue" once it is used, resumes).
    VerifyEmail,
}

/// The user's organizations, as far as the request needs them (read by the server for a signed-in
/// browser only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Memberships {
    /// The request names no organization: the user's organizations (at most a page of them).
    Listed(Vec<Organization>),
    /// `organization=` named one: it, if it exists and the user is a member; else `None` (an
    /// unknown organization and one of others look the same, so nothing is revealed).
    Named(Option<Organization>),
}

/// Whether the browser's `session` may answer `request` without asking the user again.
///
/// OIDC Core §3.1.2.1: `prompt=login` always asks; `max_age` bounds how long ago the user
/// authenticated; a session of another user than `id_token_hint` names is not used.
pub fn session_usable(
    request: &AuthorizationRequest,
    session: &SessionRecord,
    hinted_sub: Option<&str>,
    now: UnixTime,
) -> bool {
    // Prompt Create 1.0: `create` asks for a new account, whoever is signed in.
    !matches!(request.prompt, Prompt::Login | Prompt::Create)
        && request
            .max_age
            .is_none_or(|max| now - session.auth_time <= max)
        && hinted_sub.is_none_or(|sub| sub == session.user_id)
}

/// What happens next for a signed-in user whose e-mail the application requires verified
/// (`require_verified_email`) and who has not verified it: no code until they do.
///
/// OIDC Core §3.1.2.6: with `prompt=none` no page may be shown, and verifying needs the user:
/// `interaction_required`.
pub fn decide_unverified(request: &AuthorizationRequest) -> AuthorizeOutcome {
    if request.prompt == Prompt::None {
        return AuthorizeOutcome::Refuse(OAuthError::new(
            ErrorCode::InteractionRequired,
            "the user must verify their email address",
        ));
    }
    AuthorizeOutcome::Ask(Step::VerifyEmail)
}

/// What happens next. `signed_in` is `None` without a usable session (see `session_usable`; a
/// session the login step just opened is usable), else the user's memberships for the request.
pub fn decide(request: &AuthorizationRequest, signed_in: Option<Memberships>) -> AuthorizeOutcome {
    let refuse = |code: ErrorCode, description: &str| {
        AuthorizeOutcome::Refuse(OAuthError::new(code, description))
    };
    let Some(memberships) = signed_in else {
        // OIDC Core §3.1.2.1: prompt=none must not show a page.
        if request.prompt == Prompt::None {
            return refuse(ErrorCode::LoginRequired, "the user must sign in");
        }
        if request.prompt == Prompt::Create {
            return AuthorizeOutcome::Ask(Step::SignUp);
        }
        return AuthorizeOutcome::Ask(Step::Login);
    };
    match memberships {
        Memberships::Named(Some(org)) => AuthorizeOutcome::IssueCode {
            organization_id: Some(org.id),
        },
        Memberships::Named(None) => refuse(
            ErrorCode::AccessDenied,
            "the user is not a member of this organization",
        ),
        Memberships::Listed(mut orgs) => match orgs.len() {
            0 => AuthorizeOutcome::IssueCode {
                organization_id: None,
            },
            1 => AuthorizeOutcome::IssueCode {
                organization_id: Some(orgs.remove(0).id),
            },
            // OIDC Core §3.1.2.1: prompt=none must not show a page.
            _ if request.prompt == Prompt::None => refuse(
                ErrorCode::InteractionRequired,
                "the user must choose an organization",
            ),
            _ => AuthorizeOutcome::Ask(Step::PickOrganization(orgs)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(prompt: Prompt) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "c".into(),
            redirect_uri: "https://app.example.com/cb".into(),
            scope: "openid".into(),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt,
            max_age: None,
            login_hint: None,
            audience: None,
            organization: None,
            claims: None,
        }
    }

    fn session(user_id: &str, auth_time: UnixTime) -> SessionRecord {
        SessionRecord {
            sid: "s".into(),
            user_id: user_id.into(),
            auth_time,
            created_at: auth_time,
            last_active_at: auth_time,
            expires_at: auth_time + 3600,
            user_agent: None,
            ip: None,
            applications: Vec::new(),
        }
    }

    fn org(id: &str) -> Organization {
        Organization {
            id: id.into(),
            name: id.replace('_', "-"),
            display_name: None,
            metadata: Default::default(),
            external_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn issue(org: Option<&str>) -> AuthorizeOutcome {
        AuthorizeOutcome::IssueCode {
            organization_id: org.map(str::to_owned),
        }
    }

    fn refused(outcome: &AuthorizeOutcome) -> Option<ErrorCode> {
        match outcome {
            AuthorizeOutcome::Refuse(e) => Some(e.code),
            _ => None,
        }
    }

    #[test]
    fn without_a_session_the_user_signs_in_unless_no_page_may_be_shown() {
        assert_eq!(
            decide(&request(Prompt::Default), None),
            AuthorizeOutcome::Ask(Step::Login)
        );
        assert_eq!(
            decide(&request(Prompt::Login), None),
            AuthorizeOutcome::Ask(Step::Login)
        );
        assert_eq!(
            refused(&decide(&request(Prompt::None), None)),
            Some(ErrorCode::LoginRequired)
        );
        assert_eq!(
            decide(&request(Prompt::Create), None),
            AuthorizeOutcome::Ask(Step::SignUp)
        );
    }

    #[test]
    fn a_session_is_used_unless_the_request_asks_for_a_fresh_or_another_sign_in() {
        let s = session("u", 100);
        assert!(session_usable(&request(Prompt::Default), &s, None, 200));
        assert!(session_usable(&request(Prompt::None), &s, Some("u"), 200));
        assert!(!session_usable(&request(Prompt::Login), &s, None, 200));
        assert!(
            !session_usable(&request(Prompt::Create), &s, None, 200),
            "prompt=create asks for a new account"
        );
        assert!(
            !session_usable(&request(Prompt::Default), &s, Some("other"), 200),
            "the hint names another user"
        );
        let aged = AuthorizationRequest {
            max_age: Some(60),
            ..request(Prompt::Default)
        };
        assert!(session_usable(&aged, &s, None, 160));
        assert!(!session_usable(&aged, &s, None, 161));
    }

    #[test]
    fn a_member_of_none_or_one_organization_gets_a_code_at_once() {
        let r = request(Prompt::Default);
        assert_eq!(decide(&r, Some(Memberships::Listed(vec![]))), issue(None));
        assert_eq!(
            decide(&r, Some(Memberships::Listed(vec![org("org_a")]))),
            issue(Some("org_a"))
        );
    }

    #[test]
    fn a_member_of_several_picks_one_unless_no_page_may_be_shown() {
        let two = || Some(Memberships::Listed(vec![org("org_a"), org("org_b")]));
        assert_eq!(
            decide(&request(Prompt::Default), two()),
            AuthorizeOutcome::Ask(Step::PickOrganization(vec![org("org_a"), org("org_b")]))
        );
        assert_eq!(
            refused(&decide(&request(Prompt::None), two())),
            Some(ErrorCode::InteractionRequired)
        );
    }

    #[test]
    fn an_unverified_user_verifies_first_unless_no_page_may_be_shown() {
        assert_eq!(
            decide_unverified(&request(Prompt::Default)),
            AuthorizeOutcome::Ask(Step::VerifyEmail)
        );
        assert_eq!(
            refused(&decide_unverified(&request(Prompt::None))),
            Some(ErrorCode::InteractionRequired)
        );
    }

    #[test]
    fn a_named_organization_must_be_one_of_the_users() {
        let r = request(Prompt::None);
        assert_eq!(
            decide(&r, Some(Memberships::Named(Some(org("org_a"))))),
            issue(Some("org_a"))
        );
        assert_eq!(
            refused(&decide(&r, Some(Memberships::Named(None)))),
            Some(ErrorCode::AccessDenied)
        );
    }
}
