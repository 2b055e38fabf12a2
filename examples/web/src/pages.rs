//! The example's HTML: small pages, everything interpolated is escaped.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::sessions::Session;

/// The notices a redirect may ask for, by code (never text from the URL).
pub fn notice(code: &str) -> Option<&'static str> {
    match code {
        "ended" => Some("Your session ended: sign in again."),
        "refreshed" => Some("Tokens refreshed."),
        "signed-out" => Some("You signed out."),
        _ => None,
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Latch web example</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}\
         pre{{background:#f4f5f7;padding:1rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}}\
         button,a.button{{padding:.5rem 1rem;font-size:1rem}}</style></head>\
         <body><h1>Latch web example</h1>{body}</body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        html,
    )
        .into_response()
}

fn notice_html(notice: Option<&str>) -> String {
    notice.map_or_else(String::new, |n| {
        format!("<p id=\"notice\" role=\"status\">{}</p>", escape(n))
    })
}

pub fn signed_out(notice: Option<&str>) -> Response {
    page(
        StatusCode::OK,
        &format!(
            "{}<p id=\"status\" data-state=\"signed-out\">Signed out</p>\
             <p><a id=\"sign-in\" class=\"button\" href=\"/login\">Sign in</a></p>",
            notice_html(notice)
        ),
    )
}

pub fn signed_in(session: &Session, api: &Value, notice: Option<&str>) -> Response {
    let who = session
        .claims
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or(&session.sub);
    let pretty = |v: &Value| escape(&serde_json::to_string_pretty(v).unwrap_or_default());
    let csrf = escape(&session.csrf);
    page(
        StatusCode::OK,
        &format!(
            "{notice}<p id=\"status\" data-state=\"signed-in\">Signed in as {who}</p>\
             <h2>Your claims (from the ID token)</h2><pre id=\"claims\">{claims}</pre>\
             <h2>The protected API</h2><pre id=\"api\">{api}</pre>\
             <form method=\"post\" action=\"/refresh\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Refresh tokens</button></form>\
             <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Sign out</button></form>",
            notice = notice_html(notice),
            who = escape(who),
            claims = pretty(&session.claims),
            api = pretty(api),
        ),
    )
}

pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    page(
        status,
        &format!(
            "<h2>{}</h2><p id=\"error\" role=\"alert\">{}</p><p><a href=\"/login\">Try again</a> · <a href=\"/\">Home</a></p>",
            escape(title),
            escape(detail)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn only_known_notices_are_shown() {
        assert!(notice("ended").is_some());
        assert!(notice("<script>").is_none());
    }
}
