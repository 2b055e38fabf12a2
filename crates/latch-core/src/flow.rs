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
use crate::organization::{Invitation, Organization};
use crate::store::SessionRecord;
use crate::user::normalize_email;
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
    /// The invitation's form: sign in as the invited email, or choose a password to create its
    /// account (bound to the login-binding cookie, like the login form).
    AcceptInvitation {
        organization: Organization,
        email: String,
    },
    /// The browser is signed in as someone else than the invited email: a page says so. Nothing
    /// is parked and the invitation stays unused.
    InvitationForAnotherUser { organization: Organization },
    /// "Check your inbox": the application requires a verified e-mail and the user's is not
    /// (bound to the session cookie; the mailed link, or "continue" once it is used, resumes).
    VerifyEmail,
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

/// Why a request's invitation is refused (RFC 6749 §4.1.2.1 `invalid_request`: "includes an
/// invalid parameter value"); the same words whether it is unknown, used, expired or another's.
pub const INVALID_INVITATION: &str = "the invitation is invalid, was used already, or has expired";

/// What happens next with a request carrying an invitation (`invitation=`, Auth0's model): it is
/// accepted on the way, then the request goes on as one for its organization (the server clears
/// the invitation and names the organization by id, then calls `decide`).
///
/// `pending` is the invitation the ticket names if it is unaccepted and unexpired, with its
/// organization; `signed_in_email` the email of the user of a usable session.
pub fn decide_invitation(
    request: &AuthorizationRequest,
    pending: Option<(&Invitation, &Organization)>,
    signed_in_email: Option<&str>,
) -> AuthorizeOutcome {
    let refuse = |code: ErrorCode, description: &str| {
        AuthorizeOutcome::Refuse(OAuthError::new(code, description))
    };
    let named = |org: &Organization| {
        request
            .organization
            .as_deref()
            .is_some_and(|key| key == org.id || key == org.name)
    };
    // The ticket must be for the organization and (when it names one) the application of the
    // request: a ticket is not a key to another organization or application.
    let Some((invitation, org)) = pending.filter(|(i, org)| {
        named(org)
            && i.client_id
                .as_ref()
                .is_none_or(|c| request.client_id == c.as_str())
    }) else {
        return refuse(ErrorCode::InvalidRequest, INVALID_INVITATION);
    };
    let invited = normalize_email(&invitation.email);
    match signed_in_email {
        Some(email) if normalize_email(email) != invited => {
            AuthorizeOutcome::Ask(Step::InvitationForAnotherUser {
                organization: org.clone(),
            })
        }
        // OIDC Core §3.1.2.1: prompt=none must not show a page, and accepting needs one.
        _ if request.prompt == Prompt::None => refuse(
            if signed_in_email.is_some() {
                ErrorCode::InteractionRequired
            } else {
                ErrorCode::LoginRequired
            },
            "the user must accept the invitation",
        ),
        _ => AuthorizeOutcome::Ask(Step::AcceptInvitation {
            organization: org.clone(),
            email: invitation.email.clone(),
        }),
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
            invitation: None,
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

    fn invitation(org: &str, email: &str, client_id: Option<&str>) -> Invitation {
        Invitation {
            id: "i".into(),
            organization_id: org.into(),
            email: email.into(),
            roles: vec![],
            token_hash: crate::SecretHash::of(b"ticket"),
            created_at: 0,
            expires_at: 100,
            accepted_at: None,
            client_id: client_id.map(str::to_owned),
        }
    }

    fn invited(prompt: Prompt, organization: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            organization: Some(organization.into()),
            ..request(prompt)
        }
    }

    #[test]
    fn an_invitation_is_accepted_on_a_page_by_the_invited_email_only() {
        let (i, o) = (
            invitation("org_a", "Ann@x.example", Some("c")),
            org("org_a"),
        );
        let accept = AuthorizeOutcome::Ask(Step::AcceptInvitation {
            organization: org("org_a"),
            email: "Ann@x.example".into(),
        });
        let r = invited(Prompt::Default, "org_a");
        assert_eq!(decide_invitation(&r, Some((&i, &o)), None), accept);
        assert_eq!(
            decide_invitation(&r, Some((&i, &o)), Some("ann@X.example")),
            accept
        );
        assert_eq!(
            decide_invitation(&r, Some((&i, &o)), Some("bob@x.example")),
            AuthorizeOutcome::Ask(Step::InvitationForAnotherUser {
                organization: org("org_a")
            })
        );
        let by_name = invited(Prompt::Default, "org-a");
        assert_eq!(decide_invitation(&by_name, Some((&i, &o)), None), accept);
    }

    #[test]
    fn an_invitation_of_another_organization_or_application_or_none_is_an_invalid_request() {
        let o = org("org_a");
        let r = invited(Prompt::Default, "org_b");
        let mine = invitation("org_a", "ann@x.example", None);
        assert_eq!(
            refused(&decide_invitation(&r, Some((&mine, &o)), None)),
            Some(ErrorCode::InvalidRequest)
        );
        let r = invited(Prompt::Default, "org_a");
        let others = invitation("org_a", "ann@x.example", Some("other-client"));
        assert_eq!(
            refused(&decide_invitation(&r, Some((&others, &o)), None)),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            refused(&decide_invitation(&r, None, None)),
            Some(ErrorCode::InvalidRequest)
        );
    }

    #[test]
    fn an_invitation_is_never_accepted_without_a_page() {
        let (i, o) = (invitation("org_a", "ann@x.example", None), org("org_a"));
        let r = invited(Prompt::None, "org_a");
        assert_eq!(
            refused(&decide_invitation(&r, Some((&i, &o)), None)),
            Some(ErrorCode::LoginRequired)
        );
        assert_eq!(
            refused(&decide_invitation(
                &r,
                Some((&i, &o)),
                Some("ann@x.example")
            )),
            Some(ErrorCode::InteractionRequired)
        );
    }
}
