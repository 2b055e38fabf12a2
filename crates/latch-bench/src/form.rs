//! Just enough HTML reading to fill a provider's hosted login form: the `<form>` holding a password
//! input, its `action`, its hidden inputs and named submit button.

use anyhow::anyhow;
use url::Url;

pub struct LoginForm {
    pub action: Url,
    hidden: Vec<(String, String)>,
    email_field: String,
    password_field: String,
}

impl LoginForm {
    pub fn parse(page: &Url, html: &str) -> anyhow::Result<Self> {
        let lower = html.to_ascii_lowercase();
        let mut from = 0;
        while let Some(start) = lower[from..].find("<form").map(|i| i + from) {
            let end = lower[start..]
                .find("</form")
                .map_or(html.len(), |i| i + start);
            let (tag, _) = tag_at(html, start);
            from = end;
            let body = &html[start..end];
            let mut form = Self {
                action: page.join(&attr(tag, "action").unwrap_or_default())?,
                hidden: Vec::new(),
                email_field: String::new(),
                password_field: String::new(),
            };
            let lower_body = body.to_ascii_lowercase();
            let controls = lower_body
                .match_indices("<input")
                .chain(lower_body.match_indices("<button"));
            for (i, _) in controls {
                let (t, _) = tag_at(body, i);
                let is_button = lower_body[i..].starts_with("<button");
                let default_kind = if is_button { "submit" } else { "text" };
                let kind = attr(t, "type")
                    .map_or_else(|| default_kind.to_owned(), |k| k.to_ascii_lowercase());
                let Some(name) = attr(t, "name") else {
                    continue;
                };
                match kind.as_str() {
                    "password" => form.password_field = name,
                    "email" | "text" if form.email_field.is_empty() => form.email_field = name,
                    "hidden" | "submit" => form
                        .hidden
                        .push((name, attr(t, "value").unwrap_or_default())),
                    _ => {}
                }
            }
            if !form.password_field.is_empty() && !form.email_field.is_empty() {
                return Ok(form);
            }
        }
        Err(anyhow!("no form with an email and a password input"))
    }

    /// The form's fields with the credentials filled in.
    pub fn fill<'a>(&'a self, email: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut fields: Vec<(&str, &str)> = self
            .hidden
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        fields.push((&self.email_field, email));
        fields.push((&self.password_field, password));
        fields
    }
}

/// The tag starting at `start` (up to its `>`, quotes respected) and the index after it.
fn tag_at(html: &str, start: usize) -> (&str, usize) {
    let mut quote = None;
    for (i, c) in html[start..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return (&html[start..=start + i], start + i + 1),
            _ => {}
        }
    }
    (&html[start..], html.len())
}

/// The unescaped value of attribute `name` in one tag.
fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name).map(|i| i + from) {
        from = i + name.len();
        let before_ok = lower[..i].ends_with(|c: char| c.is_ascii_whitespace());
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let value = tag[value_start..].trim_start();
        let raw = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value
                .split(|c: char| c.is_ascii_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        };
        return Some(unescape(raw));
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of an element marked `role="alert"`, to explain a failed sign-in.
pub fn visible_error(html: &str) -> String {
    let Some(i) = html.find("role=\"alert\"") else {
        return "no error shown".to_owned();
    };
    let (_, after) = tag_at(html, html[..i].rfind('<').unwrap_or(i));
    html[after..].split('<').next().unwrap_or("").to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<main><form method="get" action="/search"><input name="q" type="text"></form>
<form method="post" action="http://127.0.0.1:1/login" novalidate>
<input type="hidden" name="login_request" value="a&amp;b">
<input id="email" name="email" type="email" required value="">
<input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form></main>"#;

    #[test]
    fn the_form_with_a_password_input_is_filled_with_its_hidden_inputs() {
        let page = Url::parse("http://127.0.0.1:1/login?login_request=x").unwrap();
        let form = LoginForm::parse(&page, PAGE).unwrap();
        assert_eq!(form.action.as_str(), "http://127.0.0.1:1/login");
        assert_eq!(
            form.fill("e@x", "pw"),
            vec![
                ("login_request", "a&b"),
                ("email", "e@x"),
                ("password", "pw")
            ]
        );
    }

    #[test]
    fn a_page_without_a_login_form_is_refused() {
        let page = Url::parse("http://127.0.0.1:1/").unwrap();
        assert!(LoginForm::parse(&page, "<form><input name=q></form>").is_err());
    }

    #[test]
    fn the_alert_text_explains_a_failed_sign_in() {
        let html = r#"<div class="error" role="alert" id="login-error">The email or password is incorrect.</div>"#;
        assert_eq!(visible_error(html), "The email or password is incorrect.");
    }
}
