//! The pages of second factors and of the account (issue 18): the sign-in's code step (with a
//! passkey where the user has one), TOTP enrolment (QR code drawn on the server), recovery codes
//! shown once, passkey registration, and `/account`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::Theme;

/// A form's target and hidden inputs.
pub struct Target<'a> {
    pub action: &'a str,
    pub fields: &'a [(&'a str, &'a str)],
}

/// A passkey ceremony a page offers: the script (`passkey_script`, absolute URL) runs it with
/// `options` and posts `ceremony` and its answer to `action`, with the page's hidden fields.
pub struct PasskeyPrompt {
    pub script: String,
    pub action: String,
    pub ceremony: String,
    /// The WebAuthn options, JSON (an attribute value: escaped like any other).
    pub options: String,
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
    passkey: Option<&'a PasskeyPrompt>,
}

/// "Enter the code from your authenticator app" (or a recovery code), and "Use your passkey" when
/// the user has one.
pub fn factor_code(
    theme: &Theme,
    application: Option<&str>,
    target: &Target<'_>,
    error: Option<&str>,
    passkey: Option<&PasskeyPrompt>,
) -> Response {
    let mut response = theme.render(
        StatusCode::OK,
        &CodePage {
            theme,
            title: "Two-step verification",
            application,
            action: target.action,
            fields: target.fields,
            error,
            passkey,
        },
    );
    if let Some(p) = passkey {
        super::passkey_script::allow(&mut response, &p.script);
    }
    response
}

#[derive(Template)]
#[template(path = "passkey_register.html")]
struct RegisterPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    name: &'a str,
    back: &'a str,
    fields: &'a [(&'a str, &'a str)],
    error: Option<&'a str>,
    p: &'a PasskeyPrompt,
}

/// "Create a passkey": the script asks the browser for one and posts it.
pub fn passkey_register(
    theme: &Theme,
    name: &str,
    back: &str,
    fields: &[(&str, &str)],
    prompt: &PasskeyPrompt,
    error: Option<&str>,
) -> Response {
    let mut response = theme.render(
        StatusCode::OK,
        &RegisterPage {
            theme,
            title: "Add a passkey",
            name,
            back,
            fields,
            error,
            p: prompt,
        },
    );
    super::passkey_script::allow(&mut response, &prompt.script);
    response
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

/// A passkey as the account page lists it.
pub struct PasskeyLine {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: Option<String>,
    /// "synced" or "this device only" (the BE flag).
    pub synced: bool,
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
    /// The user's passkeys; `None` where passkeys do not work (an issuer on an IP address).
    pub passkeys: Option<Vec<PasskeyLine>>,
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
    passkeys: &'a Option<Vec<PasskeyLine>>,
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
            passkeys: &a.passkeys,
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
                passkey: None,
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
                passkeys: &Some(vec![PasskeyLine {
                    id: h.into(),
                    name: h.into(),
                    created: h.into(),
                    last_used: Some(h.into()),
                    synced: true,
                }]),
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

    #[test]
    fn a_passkey_page_loads_only_its_script_and_escapes_the_options() {
        let s = Settings::new("http://localhost:8080", "127.0.0.1:0", "sqlite://x.db").unwrap();
        let theme = Theme::new(&s);
        let h = HOSTILE;
        let prompt = PasskeyPrompt {
            script: "http://localhost:8080/assets/passkeys-0123.js".into(),
            action: h.into(),
            ceremony: h.into(),
            options: h.into(),
        };
        let fields = [(h, h)];
        let pages = [
            CodePage {
                theme: &theme,
                title: h,
                application: Some(h),
                action: h,
                fields: &fields,
                error: Some(h),
                passkey: Some(&prompt),
            }
            .render()
            .unwrap(),
            RegisterPage {
                theme: &theme,
                title: h,
                name: h,
                back: h,
                fields: &fields,
                error: Some(h),
                p: &prompt,
            }
            .render()
            .unwrap(),
        ];
        for html in pages {
            assert_eq!(html.matches("<script").count(), 1, "{html}");
            assert!(
                html.contains(
                    "<script src=\"http://localhost:8080/assets/passkeys-0123.js\" defer></script>"
                ),
                "{html}"
            );
            assert!(!html.contains("' onmouseover"), "{html}");
            assert!(!html.contains("\"z"), "{html}");
            assert!(html.contains("data-passkey-start hidden"), "{html}");
        }
        let response = factor_code(
            &theme,
            None,
            &Target {
                action: "/x",
                fields: &[],
            },
            None,
            Some(&prompt),
        );
        let csp = response.headers()[axum::http::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.ends_with("; script-src http://localhost:8080/assets/passkeys-0123.js"),
            "{csp}"
        );
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
    }
}
