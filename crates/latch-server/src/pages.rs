//! Server-rendered HTML: the hosted login page and error/info pages. No JavaScript; every value is
//! escaped; every page carries the headers that keep it from being framed, cached or leaked.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// HTML-escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

const STYLE: &str = "*{box-sizing:border-box}body{margin:0;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d2330}\
main{max-width:24rem;margin:8vh auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08)}\
h1{font-size:1.35rem;margin:0 0 1.25rem}p{line-height:1.5}label{display:block;font-weight:600;margin:1rem 0 .35rem}\
input[type=email],input[type=password]{width:100%;padding:.7rem;font-size:1rem;border:1px solid #b8bfcc;border-radius:8px}\
input:focus{outline:3px solid #8fb3ff;border-color:#3466d6}button{width:100%;margin-top:1.5rem;padding:.8rem;font-size:1rem;font-weight:600;color:#fff;background:#3466d6;border:0;border-radius:8px;cursor:pointer}\
.error{padding:.75rem;border-radius:8px;background:#fdecec;color:#8a1c1c;margin-bottom:.5rem}.brand{color:#5b6472;font-size:.9rem;margin-bottom:.25rem}\
@media (max-width:480px){main{margin:0;border-radius:0;min-height:100vh;box-shadow:none;padding:1.5rem}}";

/// A whole page: `body` is trusted HTML (escape what goes into it).
pub fn layout(environment: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · {env}</title><style>{STYLE}</style></head>\
<body><main><div class=\"brand\">{env}</div><h1>{title}</h1>{body}</main></body></html>",
        env = escape(environment),
        title = escape(title),
    )
}

/// Security headers for every page.
pub fn page(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

pub struct LoginForm<'a> {
    pub environment: &'a str,
    pub action: &'a str,
    pub login_request: &'a str,
    pub email: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn login(form: &LoginForm<'_>) -> String {
    let error = form
        .error
        .map(|e| {
            format!(
                "<div class=\"error\" role=\"alert\" id=\"login-error\">{}</div>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "{error}<form method=\"post\" action=\"{action}\" novalidate>\
<input type=\"hidden\" name=\"login_request\" value=\"{request}\">\
<label for=\"email\">Email</label>\
<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus value=\"{email}\"{described}>\
<label for=\"password\">Password</label>\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{described}>\
<button type=\"submit\">Sign in</button></form>",
        action = escape(form.action),
        request = escape(form.login_request),
        email = escape(form.email.unwrap_or("")),
        described = if form.error.is_some() {
            " aria-describedby=\"login-error\""
        } else {
            ""
        },
    );
    layout(form.environment, "Sign in", &body)
}

/// An error the user sees instead of a redirect (unknown client, unregistered redirect URI…).
pub fn error(environment: &str, status: StatusCode, message: &str) -> Response {
    let body = format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message));
    page(status, layout(environment, "Something went wrong", &body))
}

/// A page with a title and a paragraph.
pub fn message(environment: &str, title: &str, text: &str) -> Response {
    page(
        StatusCode::OK,
        layout(environment, title, &format!("<p>{}</p>", escape(text))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_so_injected_markup_is_text() {
        let html = login(&LoginForm {
            environment: "Acme",
            action: "/login",
            login_request: "r",
            email: Some("<script>alert(1)</script>\""),
            error: Some("<b>x</b>"),
        });
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;"));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(html.contains("name=\"email\"") && html.contains("name=\"password\""));
        assert!(html.contains("autocomplete=\"current-password\""));
    }
}
