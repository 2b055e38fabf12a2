//! Server-rendered HTML: the hosted login page, the organization picker, invitation, logout and
//! error pages. Askama templates (`templates/`, compiled in, every value escaped) extending one
//! layout (`base.html`) and one stylesheet (`style.css`), served at a URL naming its hash. No
//! JavaScript but for passkeys: every page carries a CSP that allows no script (a page offering a
//! passkey allows the one passkey script, `passkey_script`), and the headers that keep it from
//! being framed, cached or leaked.

pub mod assets;
mod factors;
pub mod passkey_script;
mod theme;
mod views;

use axum::http::StatusCode;
use axum::response::Response;

pub use self::factors::{
    Account, Enrolment, PasskeyLine, PasskeyPrompt, SessionLine, Target, TotpLine, account,
    factor_code, factor_enrol, passkey_register, recovery_codes,
};
pub use self::theme::{Theme, stylesheet};
pub use self::views::{InvitationForm, LoginForm, Picker};

/// An error the user sees instead of a redirect (unknown client, unregistered redirect URI…).
pub fn error(theme: &Theme, status: StatusCode, message: &str) -> Response {
    error_titled(theme, status, "Something went wrong", message)
}

/// A hosted page whose handler failed inside (the store, mostly): the cause chain goes to the log
/// (`http::error::internal`), the browser gets an opaque 500 page.
pub fn internal_error(theme: &Theme, e: &dyn std::error::Error) -> Response {
    crate::http::error::internal(e);
    error(
        theme,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong; please try again.",
    )
}

/// A posted hosted form whose body is not a form (wrong content type, not UTF-8, a repeated field).
pub fn unreadable_form(theme: &Theme) -> Response {
    error(
        theme,
        StatusCode::BAD_REQUEST,
        "The form could not be read.",
    )
}

/// A hosted page handler's result, its failure shown as [`internal_error`].
pub fn or_internal_error<E: std::error::Error>(
    theme: &Theme,
    result: Result<Response, E>,
) -> Response {
    result.unwrap_or_else(|e| internal_error(theme, &e))
}

/// An error page whose title says what failed (a mailed link that no longer works…).
pub fn error_titled(theme: &Theme, status: StatusCode, title: &str, message: &str) -> Response {
    theme.render(
        status,
        &views::ErrorPage {
            theme,
            title,
            message,
        },
    )
}

/// A page with a title and a paragraph.
pub fn message(theme: &Theme, title: &str, text: &str) -> Response {
    theme.render(StatusCode::OK, &views::MessagePage { theme, title, text })
}

/// The hosted login form (inputs named `email` and `password` in a `<form method="post">`: what client libraries' test browsers fill).
pub fn login(theme: &Theme, status: StatusCode, form: &LoginForm<'_>) -> Response {
    let mut response = theme.render(status, &views::LoginPage::new(theme, form));
    if let Some(p) = form.passkey {
        passkey_script::allow(&mut response, &p.script);
    }
    response
}

/// One button per organization the user may sign in with.
pub fn organization_picker(theme: &Theme, picker: &Picker<'_>) -> Response {
    theme.render(StatusCode::OK, &views::PickerPage::new(theme, picker))
}

/// The invitation's sign-in / sign-up form.
pub fn invitation(theme: &Theme, status: StatusCode, invitation: &InvitationForm<'_>) -> Response {
    let title = format!("Join {}", invitation.organization);
    theme.render(
        status,
        &views::InvitationPage::new(theme, &title, invitation),
    )
}

/// RP-Initiated Logout §2: asks the user to confirm; `fields` are posted back as hidden inputs.
pub fn logout_confirmation(theme: &Theme, action: &str, fields: &[(&str, &str)]) -> Response {
    theme.render(
        StatusCode::OK,
        &views::LogoutPage {
            theme,
            title: "Sign out?",
            action,
            fields,
        },
    )
}
