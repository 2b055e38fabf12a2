//! `MembershipStore`: members of organizations. A member's roles live
//! in `membership_roles`; reads fetch the roles of a page of members in one query over the page's
//! user-id range.

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::organization::{Membership, Organization, Role, UserOrganization};
use latch_core::store::{MembershipStore, Page, PageRequest, StoreResult};

use super::backend::{Backend, query, query_as};
use super::{
    HeldRoleRow, MembershipRow, OrganizationRow, SqlStore, Tx, page_after, page_limit, paginate,
    roles_by_holder, unique_err,
};
use crate::timing::Timer;

impl<B: Backend> SqlStore<B> {
    /// Roles of the members of `organization_id` whose user ids are in `[from, to]`.
    async fn member_roles(
        &self,
        organization_id: &str,
        from: &str,
        to: &str,
    ) -> StoreResult<::std::collections::HashMap<String, Vec<Role>>> {
        let _timer = Timer::start("member_roles");
        let rows: Vec<HeldRoleRow> = query_as(
            "SELECT mr.user_id AS holder, r.id, r.name, r.description, r.permissions, \
             r.created_at, r.updated_at FROM membership_roles mr JOIN roles r ON r.id = mr.role_id \
             WHERE mr.organization_id = $1 AND mr.user_id >= $2 AND mr.user_id <= $3 \
             ORDER BY r.name",
        )
        .bind(organization_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.read())
        .await?;
        roles_by_holder(rows)
    }

    /// Gives the member each role of `role_ids` that still exists (kept once).
    async fn grant_member_roles(
        tx: &mut Tx<B>,
        organization_id: &str,
        user_id: &str,
        role_ids: impl Iterator<Item = &str> + Send,
    ) -> StoreResult<()> {
        let _timer = Timer::start("grant_member_roles");
        for role_id in role_ids {
            query(
                "INSERT INTO membership_roles (organization_id, user_id, role_id) \
                         SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM roles WHERE id = $3) \
                         ON CONFLICT DO NOTHING",
            )
            .bind(organization_id)
            .bind(user_id)
            .bind(role_id)
            .execute(tx.on())
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl<B: Backend> MembershipStore for SqlStore<B> {
    /// The membership row and its roles in one transaction.
    async fn insert_membership(&self, m: &Membership) -> StoreResult<()> {
        let _timer = Timer::start("insert_membership");
        let mut tx = self.begin().await?;
        query("INSERT INTO memberships (organization_id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(&m.organization_id)
            .bind(&m.user_id)
            .bind(m.created_at)
            .execute(tx.on())
            .await
            .map_err(unique_err("membership"))?;
        let ids = m.roles.iter().map(|r| r.id.as_str());
        Self::grant_member_roles(&mut tx, &m.organization_id, &m.user_id, ids).await?;
        tx.commit().await
    }

    async fn get_membership(
        &self,
        organization_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Membership>> {
        let _timer = Timer::start("get_membership");
        let row: Option<MembershipRow> = query_as(
            "SELECT organization_id, user_id, created_at FROM memberships \
                     WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .fetch_optional(self.read())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut roles = self.member_roles(organization_id, user_id, user_id).await?;
        Ok(Some(row.into_membership(&mut roles)))
    }

    /// By user id (UUIDv7) after the cursor.
    async fn list_memberships(
        &self,
        organization_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Membership>> {
        let _timer = Timer::start("list_memberships");
        let limit = page_limit(page);
        let rows: Vec<MembershipRow> = query_as(
            "SELECT organization_id, user_id, created_at FROM memberships \
                     WHERE organization_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
        )
        .bind(organization_id)
        .bind(page_after(page))
        .bind(limit + 1)
        .fetch_all(self.read())
        .await?;
        let shown = &rows[..rows.len().min(usize::try_from(limit).unwrap_or(1))];
        let mut roles = match (shown.first(), shown.last()) {
            (Some(a), Some(b)) => {
                self.member_roles(organization_id, a.user_id(), b.user_id())
                    .await?
            }
            _ => ::std::collections::HashMap::new(),
        };
        let members: Vec<Membership> = rows
            .into_iter()
            .map(|r| r.into_membership(&mut roles))
            .collect();
        Ok(paginate(members, limit, |m| m.user_id.as_str()))
    }

    async fn list_user_organizations(
        &self,
        user_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<Organization>> {
        let _timer = Timer::start("list_user_organizations");
        let rows: Vec<OrganizationRow> = query_as(
            "SELECT o.id, o.name, o.display_name, o.metadata, o.created_at, o.updated_at, o.external_id \
             FROM organizations o JOIN memberships m ON m.organization_id = o.id \
             WHERE m.user_id = $1 ORDER BY o.name LIMIT $2",
        )
        .bind(user_id)
        .bind(i64::from(limit))
        .fetch_all(self.read())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// By organization id after the cursor; the roles of the page in one more query over the
    /// page's organization-id range.
    async fn list_user_memberships(
        &self,
        user_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<UserOrganization>> {
        let _timer = Timer::start("list_user_memberships");
        let limit = page_limit(page);
        let rows: Vec<OrganizationRow> = query_as(
            "SELECT o.id, o.name, o.display_name, o.metadata, o.created_at, o.updated_at, o.external_id \
             FROM organizations o JOIN memberships m ON m.organization_id = o.id \
             WHERE m.user_id = $1 AND o.id > $2 ORDER BY o.id LIMIT $3",
        )
        .bind(user_id)
        .bind(page_after(page))
        .bind(limit + 1)
        .fetch_all(self.read())
        .await?;
        let orgs: Vec<Organization> = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?;
        let shown = &orgs[..orgs.len().min(usize::try_from(limit).unwrap_or(1))];
        let mut roles = match (shown.first(), shown.last()) {
            (Some(a), Some(b)) => {
                let rows: Vec<HeldRoleRow> = query_as(
                    "SELECT mr.organization_id AS holder, r.id, r.name, r.description, r.permissions, \
                     r.created_at, r.updated_at FROM membership_roles mr JOIN roles r ON r.id = mr.role_id \
                     WHERE mr.user_id = $1 AND mr.organization_id >= $2 AND mr.organization_id <= $3 \
                     ORDER BY r.name",
                )
                .bind(user_id)
                .bind(a.id.as_str())
                .bind(b.id.as_str())
                .fetch_all(self.read())
                .await?;
                roles_by_holder(rows)?
            }
            _ => ::std::collections::HashMap::new(),
        };
        let items: Vec<UserOrganization> = orgs
            .into_iter()
            .map(|organization| UserOrganization {
                roles: roles.remove(&organization.id).unwrap_or_default(),
                organization,
            })
            .collect();
        Ok(paginate(items, limit, |m| m.organization.id.as_str()))
    }

    /// Locks the membership row first, so concurrent replacements apply one after the other.
    async fn update_membership_roles(
        &self,
        organization_id: &str,
        user_id: &str,
        role_ids: &[String],
    ) -> StoreResult<bool> {
        let _timer = Timer::start("update_membership_roles");
        let mut tx = self.begin().await?;
        let found = query(
            "UPDATE memberships SET created_at = created_at WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .execute(tx.on())
        .await?;
        if found == 0 {
            return Ok(false);
        }
        query("DELETE FROM membership_roles WHERE organization_id = $1 AND user_id = $2")
            .bind(organization_id)
            .bind(user_id)
            .execute(tx.on())
            .await?;
        let ids = role_ids.iter().map(String::as_str);
        Self::grant_member_roles(&mut tx, organization_id, user_id, ids).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_membership(
        &self,
        organization_id: &str,
        user_id: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let _timer = Timer::start("delete_membership");
        let mut tx = self.begin().await?;
        let done = query("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2")
            .bind(organization_id)
            .bind(user_id)
            .execute(tx.on())
            .await?;
        if done == 0 {
            return Ok(false);
        }
        query(
            "UPDATE refresh_grants SET revoked_at = $3 WHERE organization_id = $1 \
                     AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(organization_id)
        .bind(user_id)
        .bind(now)
        .execute(tx.on())
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
