//! `InvitationStore`: invitations to organizations. Accepting one is a conditional
//! `UPDATE … RETURNING`, so of concurrent acceptances exactly one wins.

use async_trait::async_trait;
use latch_core::organization::{Invitation, Role};
use latch_core::store::{InvitationStore, Page, PageRequest, StoreResult};
use latch_core::user::normalize_email;
use latch_core::{SecretHash, UnixTime};

use super::backend::{Backend, Exec, query, query_as};
use super::{
    HeldRoleRow, InvitationRow, SqlStore, invitation_columns, page_after, page_limit, paginate,
    roles_by_holder, unique_err,
};
use crate::timing::Timer;

impl<B: Backend> SqlStore<B> {
    /// Roles of the invitations of `organization_id` whose ids are in `[from, to]`.
    async fn invitation_roles(
        on: Exec<'_, B>,
        organization_id: &str,
        from: &str,
        to: &str,
    ) -> StoreResult<::std::collections::HashMap<String, Vec<Role>>> {
        let _timer = Timer::start("invitation_roles");
        let rows: Vec<HeldRoleRow> = query_as(
            "SELECT ir.invitation_id AS holder, r.id, r.name, r.description, r.permissions, \
             r.created_at, r.updated_at FROM invitation_roles ir \
             JOIN roles r ON r.id = ir.role_id JOIN invitations i ON i.id = ir.invitation_id \
             WHERE i.organization_id = $1 AND ir.invitation_id >= $2 AND ir.invitation_id <= $3 \
             ORDER BY r.name",
        )
        .bind(organization_id)
        .bind(from)
        .bind(to)
        .fetch_all(on)
        .await?;
        roles_by_holder(rows)
    }
}

#[async_trait]
impl<B: Backend> InvitationStore for SqlStore<B> {
    /// The row and its roles in one transaction; the email is kept as given and normalised.
    async fn insert_invitation(&self, inv: &Invitation) -> StoreResult<()> {
        let _timer = Timer::start("insert_invitation");
        let mut tx = self.begin().await?;
        query(concat!(
            "INSERT INTO invitations (",
            invitation_columns!(),
            ", email_normalized) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&inv.id)
        .bind(&inv.organization_id)
        .bind(&inv.email)
        .bind(inv.token_hash.as_str())
        .bind(inv.created_at)
        .bind(inv.expires_at)
        .bind(inv.accepted_at)
        .bind(&inv.client_id)
        .bind(normalize_email(&inv.email))
        .execute(tx.on())
        .await
        .map_err(unique_err("invitation"))?;
        for role in &inv.roles {
            query(
                "INSERT INTO invitation_roles (invitation_id, role_id) SELECT $1, $2 \
                         WHERE EXISTS (SELECT 1 FROM roles WHERE id = $2) ON CONFLICT DO NOTHING",
            )
            .bind(&inv.id)
            .bind(&role.id)
            .execute(tx.on())
            .await?;
        }
        tx.commit().await
    }

    async fn get_invitation_by_token(
        &self,
        token_hash: &SecretHash,
    ) -> StoreResult<Option<Invitation>> {
        let _timer = Timer::start("get_invitation_by_token");
        let row: Option<InvitationRow> = query_as(concat!(
            "SELECT ",
            invitation_columns!(),
            " FROM invitations WHERE token_hash = $1"
        ))
        .bind(token_hash.as_str())
        .fetch_optional(self.read())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut roles =
            Self::invitation_roles(self.read(), row.organization_id(), row.id(), row.id()).await?;
        Ok(Some(row.into_invitation(&mut roles)))
    }

    /// By id (UUIDv7, so by creation time) after the cursor.
    async fn list_invitations(
        &self,
        organization_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Invitation>> {
        let _timer = Timer::start("list_invitations");
        let limit = page_limit(page);
        let rows: Vec<InvitationRow> = query_as(concat!(
            "SELECT ",
            invitation_columns!(),
            " FROM invitations WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(organization_id)
        .bind(page_after(page))
        .bind(limit + 1)
        .fetch_all(self.read())
        .await?;
        let shown = &rows[..rows.len().min(usize::try_from(limit).unwrap_or(1))];
        let mut roles = match (shown.first(), shown.last()) {
            (Some(a), Some(b)) => {
                Self::invitation_roles(self.read(), organization_id, a.id(), b.id()).await?
            }
            _ => ::std::collections::HashMap::new(),
        };
        let invitations: Vec<Invitation> = rows
            .into_iter()
            .map(|r| r.into_invitation(&mut roles))
            .collect();
        Ok(paginate(invitations, limit, |i| i.id.as_str()))
    }

    async fn delete_invitation(&self, organization_id: &str, id: &str) -> StoreResult<bool> {
        let _timer = Timer::start("delete_invitation");
        let done = query("DELETE FROM invitations WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(organization_id)
            .execute(self.write())
            .await?;
        Ok(done == 1)
    }

    /// Takes the invitation (unaccepted, unexpired, for this email), then adds the member
    /// and the invitation's roles, keeping any membership and roles held already.
    async fn accept_invitation(
        &self,
        token_hash: &SecretHash,
        email: &str,
        user_id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Invitation>> {
        let _timer = Timer::start("accept_invitation");
        let mut tx = self.begin().await?;
        let taken: Option<InvitationRow> = query_as(concat!(
            "UPDATE invitations SET accepted_at = $2, accepted_by = $3 WHERE token_hash = $1 \
             AND accepted_at IS NULL AND expires_at > $2 AND email_normalized = $4 RETURNING ",
            invitation_columns!()
        ))
        .bind(token_hash.as_str())
        .bind(now)
        .bind(user_id)
        .bind(normalize_email(email))
        .fetch_optional(tx.on())
        .await?;
        let Some(row) = taken else { return Ok(None) };
        query(
            "INSERT INTO memberships (organization_id, user_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (organization_id, user_id) DO NOTHING",
        )
        .bind(row.organization_id())
        .bind(user_id)
        .bind(now)
        .execute(tx.on())
        .await?;
        query(
            "INSERT INTO membership_roles (organization_id, user_id, role_id) \
                     SELECT $1, $2, role_id FROM invitation_roles WHERE invitation_id = $3 \
                     ON CONFLICT DO NOTHING",
        )
        .bind(row.organization_id())
        .bind(user_id)
        .bind(row.id())
        .execute(tx.on())
        .await?;
        let org = row.organization_id().to_owned();
        let id = row.id().to_owned();
        let mut roles = Self::invitation_roles(tx.on(), &org, &id, &id).await?;
        tx.commit().await?;
        Ok(Some(row.into_invitation(&mut roles)))
    }
}
