//! The account page in headless Chromium (issue 18), driven by `browser-tests/account.mjs` with
//! JavaScript off throughout, at 375 px: sign in, turn the authenticator app on from the key the
//! page shows (the script computes the codes), the recovery codes, another browser's session
//! signed out, the password changed by keyboard; every page fits, is reachable by Tab and passes
//! axe-core, and is screenshot.

use super::*;

#[tokio::test]
async fn the_account_page_without_javascript_in_headless_chromium() {
    let root = workspace_root();
    if skip_without_prerequisites(&root) {
        return;
    }
    let server = server().await;
    let verdict = run_script(
        &root,
        &server,
        "browser-tests/account.mjs",
        &[
            ("USER_EMAIL", EMAIL),
            ("USER_PASSWORD", PASSWORD),
            ("NEW_PASSWORD", "a much longer new passphrase"),
        ],
    )
    .await;
    let checks = &verdict["checks"];
    for name in [
        "account_email",
        "no_script_on_the_page",
        "qr_code_drawn_on_the_server",
        "ten_recovery_codes_shown",
        "app_on",
        "two_sessions_listed",
        "session_signed_out_notice",
        "other_browser_signed_out",
        "tab_reaches_change_password",
        "password_changed",
        "old_password_refused",
    ] {
        assert!(
            !checks[name].is_null() && checks[name] != false,
            "check {name} missing or false: {checks}"
        );
    }
    let artifacts = root.join("target/test-artifacts/browser");
    for page in [
        "page",
        "enrol",
        "recovery-codes",
        "two-sessions",
        "password-changed",
    ] {
        for check in ["no_horizontal_scroll", "every_control_reachable_by_tab"] {
            let name = format!("{page}_{check}");
            assert!(
                !checks[&name].is_null() && checks[&name] != false,
                "check {name} missing or false: {checks}"
            );
        }
        assert_eq!(checks["axe"][page], serde_json::json!([]), "axe on {page}");
        let file = format!("account-{page}-375px.png");
        assert!(artifacts.join(&file).exists(), "screenshot {file}");
    }
}
