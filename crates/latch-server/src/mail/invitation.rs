//! The invitation mail: when e-mail is configured, creating an invitation
//! (`POST /api/v1/organizations/{id}/invitations`) queues it to the invited address, carrying the
//! invitation's URL as the management API returned it.

use askama::Template;
use latch_core::audit::ActorType;
use latch_core::organization::Organization;
use latch_core::store::StoreError;

use super::Mail;
use crate::jobs::audit::Event;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "mail/invitation.txt")]
struct InvitationText<'a> {
    name: &'a str,
    organization: &'a str,
    email: &'a str,
    link: &'a str,
    expires_at: &'a str,
}

#[derive(Template)]
#[template(path = "mail/invitation.html")]
struct InvitationHtml<'a> {
    name: &'a str,
    organization: &'a str,
    email: &'a str,
    link: &'a str,
    expires_at: &'a str,
    color: &'a str,
}

/// What the mail says.
pub struct Invited<'a> {
    pub organization: &'a Organization,
    pub email: &'a str,
    /// The invitation's URL (absolute, on the issuer).
    pub url: &'a str,
    /// RFC 3339.
    pub expires_at: &'a str,
}

/// Queues the invitation mail (within the send limits) and records `invitation.sent` by the
/// administrator `client_id`; `false` without e-mail or over the limits.
pub async fn send(
    state: &AppState,
    invited: &Invited<'_>,
    client_id: &str,
) -> Result<bool, StoreError> {
    if !state.mail_enabled() {
        return Ok(false);
    }
    let now = state.clock.now();
    let mail = render(state, invited).map_err(|e| {
        StoreError::Other(format!("the invitation mail did not render: {e}").into())
    })?;
    let queued = super::enqueue(state.store.as_ref(), &state.mail_key, &mail, now).await?;
    if queued {
        super::worker::wake();
    } else {
        tracing::warn!("an invitation mail was not queued: the e-mail send limit is reached");
        crate::http::metrics::global().mail("limited");
    }
    let event = Event::new("invitation.sent")
        .actor(ActorType::Client, Some(client_id))
        .detail("organization_id", invited.organization.id.as_str())
        .detail("queued", queued);
    state.audit.record(event, now);
    Ok(queued)
}

fn render(state: &AppState, invited: &Invited<'_>) -> Result<Mail, askama::Error> {
    let branding = &state.settings.branding;
    let org = invited.organization;
    let organization = org.display_name.as_deref().unwrap_or(&org.name);
    let (name, email, link, expires_at) = (
        branding.name.as_str(),
        invited.email,
        invited.url,
        invited.expires_at,
    );
    let text = InvitationText {
        name,
        organization,
        email,
        link,
        expires_at,
    }
    .render()?;
    let html = InvitationHtml {
        name,
        organization,
        email,
        link,
        expires_at,
        color: &branding.primary_color,
    }
    .render()?;
    Ok(Mail {
        to: email.to_owned(),
        subject: format!("You are invited to {organization} on {name}"),
        text,
        html,
    })
}
