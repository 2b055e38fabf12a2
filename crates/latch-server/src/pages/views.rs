//! One struct per template in `templates/`; each extends `base.html`, which reads `theme` and
//! `title`. Askama escapes every `{{ value }}` for HTML (text and attribute values alike).

use askama::Template;

use super::Theme;

/// What the login page shows.
pub struct LoginForm<'a> {
    /// The name of the application being signed in to ("Sign in to *Acme Portal*").
    pub application: Option<&'a str>,
    pub action: &'a str,
    pub login_request: &'a str,
    pub email: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The forgot-password page, linked only when e-mail is configured.
    pub forgot: Option<&'a str>,
    /// The sign-up page, linked when the application allows sign-up and e-mail is configured.
    pub signup: Option<&'a str>,
    /// "Sign in with a passkey" (and passkeys in the e-mail field's autofill), where passkeys work.
    pub passkey: Option<&'a super::PasskeyPrompt>,
}

/// What the organization picker shows.
pub struct Picker<'a> {
    pub application: Option<&'a str>,
    pub action: &'a str,
    pub login_request: &'a str,
    /// `(id, label)` of each organization, one button each.
    pub organizations: &'a [(&'a str, &'a str)],
}

/// What the invitation page shows.
pub struct InvitationForm<'a> {
    /// The organization's display name.
    pub organization: &'a str,
    pub action: &'a str,
    /// Posted back as hidden inputs: the link's `token` and `binding`, or the authorization
    /// step's `login_request`.
    pub hidden: &'a [(&'a str, &'a str)],
    pub email: &'a str,
    pub error: Option<&'a str>,
    /// The authorization step's way back: the decline link and the application's name.
    pub decline: Option<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(super) struct ErrorPage<'a> {
    pub theme: &'a Theme,
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage<'a> {
    pub theme: &'a Theme,
    pub title: &'a str,
    pub text: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    application: Option<&'a str>,
    action: &'a str,
    login_request: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    forgot: Option<&'a str>,
    signup: Option<&'a str>,
    passkey: Option<&'a super::PasskeyPrompt>,
}

impl<'a> LoginPage<'a> {
    pub fn new(theme: &'a Theme, form: &LoginForm<'a>) -> Self {
        Self {
            theme,
            title: "Sign in",
            application: form.application,
            action: form.action,
            login_request: form.login_request,
            email: form.email.unwrap_or(""),
            error: form.error,
            forgot: form.forgot,
            signup: form.signup,
            passkey: form.passkey,
        }
    }
}

#[derive(Template)]
#[template(path = "organization.html")]
pub(super) struct PickerPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    application: Option<&'a str>,
    action: &'a str,
    login_request: &'a str,
    organizations: &'a [(&'a str, &'a str)],
}

impl<'a> PickerPage<'a> {
    pub fn new(theme: &'a Theme, picker: &Picker<'a>) -> Self {
        Self {
            theme,
            title: "Choose an organization",
            application: picker.application,
            action: picker.action,
            login_request: picker.login_request,
            organizations: picker.organizations,
        }
    }
}

#[derive(Template)]
#[template(path = "invitation.html")]
pub(super) struct InvitationPage<'a> {
    theme: &'a Theme,
    title: &'a str,
    organization: &'a str,
    action: &'a str,
    hidden: &'a [(&'a str, &'a str)],
    email: &'a str,
    error: Option<&'a str>,
    decline: Option<(&'a str, &'a str)>,
}

impl<'a> InvitationPage<'a> {
    pub fn new(theme: &'a Theme, title: &'a str, i: &InvitationForm<'a>) -> Self {
        Self {
            theme,
            title,
            organization: i.organization,
            action: i.action,
            hidden: i.hidden,
            email: i.email,
            error: i.error,
            decline: i.decline,
        }
    }
}

#[derive(Template)]
#[template(path = "logout.html")]
pub(super) struct LogoutPage<'a> {
    pub theme: &'a Theme,
    pub title: &'a str,
    pub action: &'a str,
    pub fields: &'a [(&'a str, &'a str)],
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure")]

    use super::*;
    use crate::settings::{Branding, Settings};

    /// Every kind of character that could end a text node or an attribute value.
    const HOSTILE: &str = "<script>alert(\"x\")</script>' onmouseover='y' & \"z";

    fn theme() -> Theme {
        let mut s = Settings::new("http://127.0.0.1:8080", "127.0.0.1:0", "sqlite://x.db").unwrap();
        s.branding = Branding {
            name: HOSTILE.to_owned(),
            logo_url: Some(
                Branding::parse_logo_url("https://cdn.example.com/a\"b<c>.svg?x='1'&y=2").unwrap(),
            ),
            primary_color: "#123456".to_owned(),
        };
        Theme::new(&s)
    }

    /// Every template, every value hostile.
    fn every_page(theme: &Theme) -> Vec<(&'static str, String)> {
        let h = HOSTILE;
        let orgs = [(h, h), ("org_2", h)];
        let fields = [(h, h), ("state", h)];
        let login = LoginForm {
            application: Some(h),
            action: h,
            login_request: h,
            email: Some(h),
            error: Some(h),
            forgot: Some(h),
            signup: Some(h),
            passkey: None,
        };
        let picker = Picker {
            application: Some(h),
            action: h,
            login_request: h,
            organizations: &orgs,
        };
        let invitation = InvitationForm {
            organization: h,
            action: h,
            hidden: &fields,
            email: h,
            error: Some(h),
            decline: Some((h, h)),
        };
        vec![
            (
                "error",
                ErrorPage {
                    theme,
                    title: h,
                    message: h,
                }
                .render()
                .unwrap(),
            ),
            (
                "message",
                MessagePage {
                    theme,
                    title: h,
                    text: h,
                }
                .render()
                .unwrap(),
            ),
            ("login", LoginPage::new(theme, &login).render().unwrap()),
            ("picker", PickerPage::new(theme, &picker).render().unwrap()),
            (
                "invitation",
                InvitationPage::new(theme, h, &invitation).render().unwrap(),
            ),
            (
                "logout",
                LogoutPage {
                    theme,
                    title: h,
                    action: h,
                    fields: &fields,
                }
                .render()
                .unwrap(),
            ),
        ]
    }

    #[test]
    fn every_template_escapes_hostile_values_in_text_and_attributes() {
        let theme = theme();
        for (name, html) in every_page(&theme) {
            assert!(!html.contains("<script"), "{name}: {html}");
            assert!(!html.contains("' onmouseover"), "{name}: {html}");
            assert!(!html.contains("\"z"), "{name}: {html}");
            assert!(!html.contains("& \""), "{name}: {html}");
            assert!(!html.contains("a\"b<c>"), "{name}: {html}");
            // The only tags are the layout's and the template's own.
            let tags: Vec<&str> = html
                .split('<')
                .skip(1)
                .map(|t| t.split([' ', '>']).next().unwrap_or(""))
                .collect();
            for tag in &tags {
                assert!(
                    [
                        "!doctype", "html", "/html", "head", "/head", "meta", "title", "/title",
                        "link", "body", "/body", "main", "/main", "header", "/header", "img", "h1",
                        "/h1", "em", "/em", "p", "/p", "div", "/div", "form", "/form", "input",
                        "label", "/label", "button", "/button", "strong", "/strong", "a", "/a",
                    ]
                    .contains(tag),
                    "{name}: unexpected <{tag}> in {html}"
                );
            }
            // The escaped text is still there, decoded by the browser into what was given.
            let decoded = latch_html_decode(&html);
            assert!(decoded.contains(HOSTILE), "{name}: {html}");
        }
    }

    #[test]
    fn the_login_page_names_the_application_and_keeps_the_contract_inputs() {
        let theme = theme();
        let html = LoginPage::new(
            &theme,
            &LoginForm {
                application: Some("Acme Portal"),
                action: "/login",
                login_request: "r",
                email: None,
                error: None,
                forgot: None,
                signup: None,
                passkey: None,
            },
        )
        .render()
        .unwrap();
        assert!(html.contains("Sign in to <em>Acme Portal</em>"), "{html}");
        assert!(
            !html.contains("Forgot password?"),
            "no link without e-mail: {html}"
        );
        assert!(!html.contains("Create account"), "{html}");
        assert!(html.contains("<form method=\"post\""), "{html}");
        assert!(html.contains("name=\"email\"") && html.contains("name=\"password\""));
        assert!(html.contains("autocomplete=\"current-password\""));
        assert!(!html.contains("aria-describedby"), "{html}");
        assert!(
            html.contains(&format!("href=\"{}\"", theme.stylesheet_href)),
            "{html}"
        );
    }

    /// The character references a browser decodes in what Askama writes.
    fn latch_html_decode(s: &str) -> String {
        let mut out = s.to_owned();
        for (from, to) in [
            ("&#34;", "\""),
            ("&quot;", "\""),
            ("&#39;", "'"),
            ("&#x27;", "'"),
            ("&#60;", "<"),
            ("&lt;", "<"),
            ("&#62;", ">"),
            ("&gt;", ">"),
        ] {
            out = out.replace(from, to);
        }
        out.replace("&#38;", "&").replace("&amp;", "&")
    }
}
