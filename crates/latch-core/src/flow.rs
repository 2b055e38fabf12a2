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

use crate::authn::{Acr, Amr, MfaPolicy};
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
    /// One button per organization (bound to the session cookie).
    PickOrganization(Vec<Organization>),
    /// A code from the user's second factor (bound to the session cookie; see `missing_factor`).
    SecondFactor,
    /// Enrolment of a second factor, which the request demands and the user lacks (bound to the
    /// session cookie).
    EnrolFactor,
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
    request.prompt != Prompt::Login
        && request
            .max_age
            .is_none_or(|max| now - session.auth_time <= max)
        && hinted_sub.is_none_or(|sub| sub == session.user_id)
}

/// What the user's second factors and the application's policy need (see `missing_factor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactorNeed {
    /// The user has a confirmed second factor.
    pub enrolled: bool,
    pub policy: MfaPolicy,
}

/// What a usable session's sign-in lacks for `request`, asked before `decide`: a second factor
/// when the user has one (unless the application's policy is `off`), or when the application
/// requires one or `acr_values` asks for `urn:latch:acr:mfa` (step-up, OIDC Core §3.1.2.1) —
/// then a user without one enrols. `None` when the session's methods suffice.
pub fn missing_factor(
    request: &AuthorizationRequest,
    session_amr: Amr,
    need: FactorNeed,
) -> Option<AuthorizeOutcome> {
    let demanded = need.policy == MfaPolicy::Required || request.acr == Some(Acr::Mfa);
    let wanted = demanded || (need.enrolled && need.policy != MfaPolicy::Off);
    if !wanted || session_amr.is_multi_factor() {
        return None;
    }
    // OIDC Core §3.1.2.1: prompt=none must not show a page.
    if request.prompt == Prompt::None {
        return Some(AuthorizeOutcome::Refuse(OAuthError::new(
            ErrorCode::InteractionRequired,
            "the user must give a second factor",
        )));
    }
    Some(AuthorizeOutcome::Ask(if need.enrolled {
        Step::SecondFactor
    } else {
        Step::EnrolFactor
    }))
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
            acr: None,
        }
    }

    fn session(user_id: &str, auth_time: UnixTime) -> SessionRecord {
        SessionRecord {
            sid: "s".into(),
            user_id: user_id.into(),
            auth_time,
            amr: crate::authn::Amr::PASSWORD,
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
    }

    #[test]
    fn a_session_is_used_unless_the_request_asks_for_a_fresh_or_another_sign_in() {
        let s = session("u", 100);
        assert!(session_usable(&request(Prompt::Default), &s, None, 200));
        assert!(session_usable(&request(Prompt::None), &s, Some("u"), 200));
        assert!(!session_usable(&request(Prompt::Login), &s, None, 200));
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
    fn a_second_factor_is_asked_of_enrolled_users_and_where_required() {
        let r = request(Prompt::Default);
        let pwd = Amr::PASSWORD;
        let mfa = Amr::PASSWORD.with(crate::authn::Method::Otp);
        let need = |enrolled, policy| FactorNeed { enrolled, policy };
        let ask = |step| Some(AuthorizeOutcome::Ask(step));
        assert_eq!(
            missing_factor(&r, pwd, need(false, MfaPolicy::Optional)),
            None
        );
        assert_eq!(
            missing_factor(&r, pwd, need(true, MfaPolicy::Optional)),
            ask(Step::SecondFactor)
        );
        assert_eq!(
            missing_factor(&r, mfa, need(true, MfaPolicy::Optional)),
            None
        );
        assert_eq!(
            missing_factor(&r, pwd, need(true, MfaPolicy::Off)),
            None,
            "off: a password is enough"
        );
        assert_eq!(
            missing_factor(&r, pwd, need(false, MfaPolicy::Required)),
            ask(Step::EnrolFactor),
            "required: a user without one enrols"
        );
        assert_eq!(
            missing_factor(&r, mfa, need(true, MfaPolicy::Required)),
            None
        );
    }

    #[test]
    fn acr_values_steps_a_password_session_up_unless_no_page_may_be_shown() {
        let pwd = Amr::PASSWORD;
        let step_up = AuthorizationRequest {
            acr: Some(Acr::Mfa),
            ..request(Prompt::Default)
        };
        let need = |enrolled| FactorNeed {
            enrolled,
            policy: MfaPolicy::Off,
        };
        assert_eq!(
            missing_factor(&step_up, pwd, need(true)),
            Some(AuthorizeOutcome::Ask(Step::SecondFactor))
        );
        assert_eq!(
            missing_factor(&step_up, pwd, need(false)),
            Some(AuthorizeOutcome::Ask(Step::EnrolFactor))
        );
        let weaker = AuthorizationRequest {
            acr: Some(Acr::Password),
            ..request(Prompt::Default)
        };
        assert_eq!(missing_factor(&weaker, pwd, need(true)), None);
        let silent = AuthorizationRequest {
            prompt: Prompt::None,
            ..step_up
        };
        assert_eq!(
            refused(&missing_factor(&silent, pwd, need(true)).unwrap_or(issue(None))),
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
