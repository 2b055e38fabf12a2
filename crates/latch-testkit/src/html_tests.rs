use super::*;

fn pairs(form: &Form) -> Vec<(&str, &str)> {
    form.fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn a_plain_login_form_yields_its_hidden_and_visible_fields() {
    let html = r#"<!doctype html><html><body>
        <form method="post" action="/login">
          <input type="hidden" name="login_challenge" value="abc123">
          <label>Email <input type="email" name="email" autocomplete="username"></label>
          <label>Password <input type="password" name="password"></label>
          <button type="submit" name="action" value="sign_in">Sign in</button>
        </form></body></html>"#;
    let form = find_login_form(html).expect("login form");
    assert_eq!(form.method, "post");
    assert_eq!(form.action.as_deref(), Some("/login"));
    assert_eq!(
        pairs(&form),
        [
            ("login_challenge", "abc123"),
            ("email", ""),
            ("password", ""),
            ("action", "sign_in")
        ]
    );
}

#[test]
fn tags_and_attributes_are_case_insensitive_and_quotes_optional() {
    let html = "<FORM Method=POST ACTION='/oauth/login?a=1&amp;b=2'>\
        <INPUT TYPE=hidden NAME=csrf VALUE=tok-1>\
        <Input type = 'text' name = 'email' value = \"a@b.c\" />\
        <input type=password name=password value=''>\
        </FORM>";
    let form = find_login_form(html).expect("login form");
    assert_eq!(form.action.as_deref(), Some("/oauth/login?a=1&b=2"));
    assert_eq!(
        pairs(&form),
        [("csrf", "tok-1"), ("email", "a@b.c"), ("password", "")]
    );
}

#[test]
fn entities_in_attribute_values_are_decoded() {
    let html = r#"<form method="post"><input type="hidden" name="state"
        value="a&amp;b&lt;c&gt;d&quot;e&#39;f&#x27;g&#X41;&unknown;&amp"></form>"#;
    let forms = parse_forms(html);
    assert_eq!(forms[0].get("state"), Some("a&b<c>d\"e'f'gA&unknown;&amp"));
}

#[test]
fn a_greater_than_sign_inside_a_quoted_value_does_not_end_the_tag() {
    let html = r#"<form method="post"><input name="x" value="1 > 0" type="hidden"><input name="email"><input name="password"></form>"#;
    let form = find_login_form(html).expect("login form");
    assert_eq!(form.get("x"), Some("1 > 0"));
}

#[test]
fn the_login_form_is_chosen_among_several_forms() {
    let html = r#"
        <form action="/search"><input name="email"><input name="password"></form>
        <form method="post" action="/newsletter"><input name="email"></form>
        <form method="post" action="/login"><input name="email"><input name="password" type="password"></form>"#;
    assert_eq!(parse_forms(html).len(), 3);
    let form = find_login_form(html).expect("login form");
    assert_eq!(form.action.as_deref(), Some("/login"));
    assert_eq!(find_login_form("<p>no form</p>"), None);
}

#[test]
fn comments_and_scripts_that_look_like_forms_are_ignored() {
    let html = r#"<!-- <form method="post"><input name="email"><input name="password"></form> -->
        <script>document.write('<form method="post"><input name="email"></form>');</script>
        <style>form > input { color: red }</style>
        <p>1 < 2</p>
        <form method="post" action="/real"><input name="email"><input name="password"></form>"#;
    let forms = parse_forms(html);
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0].action.as_deref(), Some("/real"));
}

#[test]
fn only_successful_controls_are_collected() {
    let html = r#"<form method="post">
        <input type="checkbox" name="remember">
        <input type="checkbox" name="terms" checked>
        <input type="radio" name="mode" value="a"><input type="radio" name="mode" value="b" checked>
        <input name="gone" value="x" disabled>
        <input value="no name">
        <textarea name="note">
line &amp; more</textarea>
        <input type="submit" name="go" value="first">
        <input type="submit" name="cancel" value="second">
        <button type="button" name="js">x</button>
        </form>"#;
    let forms = parse_forms(html);
    assert_eq!(
        pairs(&forms[0]),
        [
            ("terms", "on"),
            ("mode", "b"),
            ("note", "line & more"),
            ("go", "first")
        ]
    );
}

#[test]
fn an_unnamed_first_button_means_no_button_is_sent() {
    let html = r#"<form method="post"><button>Go</button><button name="other" value="1">x</button></form>"#;
    assert!(parse_forms(html)[0].fields.is_empty());
}

#[test]
fn the_action_is_resolved_against_the_page_url() {
    let page = url::Url::parse("http://127.0.0.1:8080/login?challenge=x").expect("url");
    let mut form = Form {
        method: "post".into(),
        action: None,
        fields: vec![],
    };
    assert_eq!(form.action_url(&page), page);
    form.action = Some(String::new());
    assert_eq!(form.action_url(&page), page);
    form.action = Some("submit?a=b".into());
    assert_eq!(
        form.action_url(&page).as_str(),
        "http://127.0.0.1:8080/submit?a=b"
    );
    form.action = Some("http://other:1/x".into());
    assert_eq!(form.action_url(&page).as_str(), "http://other:1/x");
}

#[test]
fn set_replaces_a_field_or_appends_it() {
    let mut form = Form {
        method: "post".into(),
        action: None,
        fields: vec![("email".into(), String::new())],
    };
    form.set("email", "a@b.c");
    form.set("password", "pw");
    assert_eq!(pairs(&form), [("email", "a@b.c"), ("password", "pw")]);
}

#[test]
fn an_unclosed_form_and_truncated_markup_do_not_panic() {
    let forms = parse_forms("<form method=post><input name=email><input name=password value='x");
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0].get("email"), Some(""));
    for junk in ["<", "<form", "<!--", "<input name=", "</", "<é>", "<a b='é"] {
        let _ = parse_forms(junk);
    }
}
