//! The pages of second factors and of the account (issue 18): the sign-in's code step, TOTP
//! enrolment (QR code drawn on the server), recovery codes shown once, and `/account`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::Theme;

/// A form's target and hidden inputs.
pub struct Target<'a> {
    pub action: &'a str,
    pub fields: &'a [(&'a str, &'a str)],
}

#[derive(Template)]
#[template(path = "factor_code.html")]
struct CodePage<'a> {
    theme: &'a Theme,
    title: &'a str,
    application: Option<&'a str>,
    action: &'a str,
    fields: &'a [(&'a str, &'a str)],
    error: Option<&'a str>,
}

/// "Enter the code from your authenticator app" (or a recovery code).
pub fn factor_code(
    theme: &Theme,
    application: Option<&str>,
    target: &Target<'_>,
    error: Option<&str>,
) -> Response {
    theme.render(
        StatusCode::OK,
        &CodePage {
            theme,
            title: "Two-step verification",
            application,
            action: target.action,
            fields: target.fields,
            error,
        },
    )
}

/// What the enrolment page shows.
pub struct Enrolment<'a> {
    pub intro: &'a str,
    /// The QR code, an `<svg>` element drawn by `factors::qr` (no text of the user's in it).
    pub qr: &'a str,
    /// The secret in base32, for typing.
    pub secret: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "factor_enrol.html")]
struct EnrolPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    intro: &'a str,
    qr: &'a str,
    secret: &'a str,
    action: &'a str,
    fields: &'a [(&'a str, &'a str)],
    error: Option<&'a str>,
}

/// TOTP enrolment: QR code, key, and the first code to confirm it.
pub fn factor_enrol(theme: &Theme, enrolment: &Enrolment<'_>, target: &Target<'_>) -> Response {
    theme.render(
        StatusCode::OK,
        &EnrolPage {
            theme,
            title: "Set up two-step verification",
            intro: enrolment.intro,
            qr: enrolment.qr,
            secret: enrolment.secret,
            action: target.action,
            fields: target.fields,
            error: enrolment.error,
        },
    )
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    codes: &'a [&'a str],
    method: &'a str,
    action: &'a str,
    fields: &'a [(&'a str, &'a str)],
}

/// The recovery codes, shown this once, and a button on (`get`: a link-like GET form).
pub fn recovery_codes(theme: &Theme, codes: &[&str], target: &Target<'_>, get: bool) -> Response {
    theme.render(
        StatusCode::OK,
        &RecoveryPage {
            theme,
            title: "Your recovery codes",
            codes,
            method: if get { "get" } else { "post" },
            action: target.action,
            fields: target.fields,
        },
    )
}

/// The TOTP factor as the account page shows it.
pub struct TotpLine {
    pub id: String,
    pub since: String,
}

/// A session as the account page lists it.
pub struct SessionLine {
    pub sid: String,
    pub agent: String,
    pub created: String,
    pub active: String,
    pub current: bool,
}

/// What the account page shows.
pub struct Account<'a> {
    /// `{issuer}/account`: the forms post under it.
    pub base: &'a str,
    pub csrf: &'a str,
    pub email: &'a str,
    pub totp: Option<TotpLine>,
    pub recovery_left: i64,
    pub sessions: Vec<SessionLine>,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    base: &'a str,
    csrf: &'a str,
    email: &'a str,
    totp: &'a Option<TotpLine>,
    recovery_left: i64,
    sessions: &'a [SessionLine],
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

pub fn account(theme: &Theme, status: StatusCode, a: &Account<'_>) -> Response {
    theme.render(
        status,
        &AccountPage {
            theme,
            title: "Your account",
            base: a.base,
            csrf: a.csrf,
            email: a.email,
            totp: &a.totp,
            recovery_left: a.recovery_left,
            sessions: &a.sessions,
            notice: a.notice,
            error: a.error,
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure")]

    use super::*;
    use crate::settings::Settings;

    const HOSTILE: &str = "<script>alert(\"x\")</script>' onmouseover='y' & \"z";

    #[test]
    fn every_factor_page_escapes_hostile_values() {
        let s = Settings::new("http://127.0.0.1:8080", "127.0.0.1:0", "sqlite://x.db").unwrap();
        let theme = Theme::new(&s);
        let h = HOSTILE;
        let fields = [(h, h)];
        let pages = [
            CodePage {
                theme: &theme,
                title: h,
                application: Some(h),
                action: h,
                fields: &fields,
                error: Some(h),
            }
            .render()
            .unwrap(),
            EnrolPage {
                theme: &theme,
                title: h,
                intro: h,
                qr: "<svg></svg>",
                secret: h,
                action: h,
                fields: &fields,
                error: Some(h),
            }
            .render()
            .unwrap(),
            RecoveryPage {
                theme: &theme,
                title: h,
                codes: &[h],
                method: "post",
                action: h,
                fields: &fields,
            }
            .render()
            .unwrap(),
            AccountPage {
                theme: &theme,
                title: h,
                base: h,
                csrf: h,
                email: h,
                totp: &Some(TotpLine {
                    id: h.into(),
                    since: h.into(),
                }),
                recovery_left: 3,
                sessions: &[SessionLine {
                    sid: h.into(),
                    agent: h.into(),
                    created: h.into(),
                    active: h.into(),
                    current: true,
                }],
                notice: Some(h),
                error: Some(h),
            }
            .render()
            .unwrap(),
        ];
        for html in pages {
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("' onmouseover"), "{html}");
            assert!(!html.contains("\"z"), "{html}");
        }
    }
}
