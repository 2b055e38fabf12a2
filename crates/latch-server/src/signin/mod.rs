//! Signing in on the hosted pages: the login form and its decline link (`login`, `decline`), the
//! browser session and device cookies (`session`), failure counting under the abuse limits
//! (`throttle`), invitation acceptance (`invitation`), the forgot-password pages (`password_reset`:
//! the e-mail form; `new_password`: the link's page), and password hashing with the foreign formats
//! it verifies (`password`), the second factor (`second_factor`), passkeys — passwordless and as
//! second factor (`passkey`) —, e-mail verification and its "check your inbox" step
//! (`verify_email`). Each step hands the parked authorization request back to `oauth::flow`.

pub(crate) mod decline;
pub(crate) mod invitation;
pub(crate) mod login;
pub(crate) mod new_password;
pub(crate) mod passkey;
pub mod password;
pub mod password_reset;
pub(crate) mod second_factor;
pub(crate) mod session;
pub(crate) mod signup;
pub(crate) mod throttle;
pub mod verify_email;
