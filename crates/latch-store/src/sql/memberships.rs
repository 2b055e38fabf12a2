//! Memberships: inherent methods `impl_organization_store!` delegates to. A member's roles live
//! in `membership_roles`; reads fetch the roles of a page of members in one query over the page's
//! user-id range.

/// Implements the membership methods for `$ty` (see `impl_store!`).
macro_rules! impl_membership_methods {
    ($ty:ident, $q:ident) => {
        impl $ty {
            /// Roles of the members of `organization_id` whose user ids are in `[from, to]`.
            async fn member_roles(
                &self,
                organization_id: &str,
                from: &str,
                to: &str,
            ) -> ::latch_core::store::StoreResult<
                ::std::collections::HashMap<String, Vec<::latch_core::organization::Role>>,
            > {
                let _timer = $crate::timing::Timer::start("member_roles");
                let rows: Vec<$crate::sql::HeldRoleRow> = $q::query_as(
                    "SELECT mr.user_id AS holder, r.id, r.name, r.description, r.permissions, \
                     r.created_at, r.updated_at FROM membership_roles mr JOIN roles r ON r.id = mr.role_id \
                     WHERE mr.organization_id = $1 AND mr.user_id >= $2 AND mr.user_id <= $3 \
                     ORDER BY r.name",
                )
                .bind(organization_id)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                $crate::sql::roles_by_holder(rows)
            }

            /// Gives the member each role of `role_ids` that still exists (kept once).
            async fn grant_member_roles(
                tx: &mut $q::Transaction,
                organization_id: &str,
                user_id: &str,
                role_ids: impl Iterator<Item = &str> + Send,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("grant_member_roles");
                for role_id in role_ids {
                    $q::query(
                        "INSERT INTO membership_roles (organization_id, user_id, role_id) \
                         SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM roles WHERE id = $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(organization_id)
                    .bind(user_id)
                    .bind(role_id)
                    .execute(&mut **tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                }
                Ok(())
            }

            /// The membership row and its roles in one transaction.
            async fn insert_membership_impl(
                &self,
                m: &::latch_core::organization::Membership,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_membership_impl");
                let mut tx = self.begin().await?;
                $q::query("INSERT INTO memberships (organization_id, user_id, created_at) VALUES ($1, $2, $3)")
                    .bind(&m.organization_id)
                    .bind(&m.user_id)
                    .bind(m.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::unique_err("membership"))?;
                let ids = m.roles.iter().map(|r| r.id.as_str());
                Self::grant_member_roles(&mut tx, &m.organization_id, &m.user_id, ids).await?;
                tx.commit().await.map_err($crate::sql::db_err)
            }

            async fn get_membership_impl(
                &self,
                organization_id: &str,
                user_id: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Membership>> {
                let _timer = $crate::timing::Timer::start("get_membership_impl");
                let row: Option<$crate::sql::MembershipRow> = $q::query_as(
                    "SELECT organization_id, user_id, created_at FROM memberships \
                     WHERE organization_id = $1 AND user_id = $2",
                )
                .bind(organization_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                let Some(row) = row else { return Ok(None) };
                let mut roles = self.member_roles(organization_id, user_id, user_id).await?;
                Ok(Some(row.into_membership(&mut roles)))
            }

            /// By user id (UUIDv7) after the cursor.
            async fn list_memberships_impl(
                &self,
                organization_id: &str,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<
                ::latch_core::store::Page<::latch_core::organization::Membership>,
            > {
                let _timer = $crate::timing::Timer::start("list_memberships_impl");
                let limit = $crate::sql::page_limit(page);
                let rows: Vec<$crate::sql::MembershipRow> = $q::query_as(
                    "SELECT organization_id, user_id, created_at FROM memberships \
                     WHERE organization_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
                )
                .bind(organization_id)
                .bind($crate::sql::page_after(page))
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                let shown = &rows[..rows.len().min(usize::try_from(limit).unwrap_or(1))];
                let mut roles = match (shown.first(), shown.last()) {
                    (Some(a), Some(b)) => self.member_roles(organization_id, a.user_id(), b.user_id()).await?,
                    _ => ::std::collections::HashMap::new(),
                };
                let members: Vec<::latch_core::organization::Membership> =
                    rows.into_iter().map(|r| r.into_membership(&mut roles)).collect();
                Ok($crate::sql::paginate(members, limit, |m| m.user_id.as_str()))
            }

            async fn list_user_organizations_impl(
                &self,
                user_id: &str,
                limit: u32,
            ) -> ::latch_core::store::StoreResult<Vec<::latch_core::organization::Organization>> {
                let _timer = $crate::timing::Timer::start("list_user_organizations_impl");
                let rows: Vec<$crate::sql::OrganizationRow> = $q::query_as(
                    "SELECT o.id, o.name, o.display_name, o.metadata, o.created_at, o.updated_at, o.external_id \
                     FROM organizations o JOIN memberships m ON m.organization_id = o.id \
                     WHERE m.user_id = $1 ORDER BY o.name LIMIT $2",
                )
                .bind(user_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            /// By organization id after the cursor; the roles of the page in one more query over
            /// the page's organization-id range.
            async fn list_user_memberships_impl(
                &self,
                user_id: &str,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<
                ::latch_core::store::Page<::latch_core::organization::UserOrganization>,
            > {
                let _timer = $crate::timing::Timer::start("list_user_memberships_impl");
                let limit = $crate::sql::page_limit(page);
                let rows: Vec<$crate::sql::OrganizationRow> = $q::query_as(
                    "SELECT o.id, o.name, o.display_name, o.metadata, o.created_at, o.updated_at, o.external_id \
                     FROM organizations o JOIN memberships m ON m.organization_id = o.id \
                     WHERE m.user_id = $1 AND o.id > $2 ORDER BY o.id LIMIT $3",
                )
                .bind(user_id)
                .bind($crate::sql::page_after(page))
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                let orgs: Vec<::latch_core::organization::Organization> =
                    rows.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?;
                let shown = &orgs[..orgs.len().min(usize::try_from(limit).unwrap_or(1))];
                let mut roles = match (shown.first(), shown.last()) {
                    (Some(a), Some(b)) => {
                        let rows: Vec<$crate::sql::HeldRoleRow> = $q::query_as(
                            "SELECT mr.organization_id AS holder, r.id, r.name, r.description, r.permissions, \
                             r.created_at, r.updated_at FROM membership_roles mr JOIN roles r ON r.id = mr.role_id \
                             WHERE mr.user_id = $1 AND mr.organization_id >= $2 AND mr.organization_id <= $3 \
                             ORDER BY r.name",
                        )
                        .bind(user_id)
                        .bind(&a.id)
                        .bind(&b.id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err($crate::sql::db_err)?;
                        $crate::sql::roles_by_holder(rows)?
                    }
                    _ => ::std::collections::HashMap::new(),
                };
                let items: Vec<::latch_core::organization::UserOrganization> = orgs
                    .into_iter()
                    .map(|organization| ::latch_core::organization::UserOrganization {
                        roles: roles.remove(&organization.id).unwrap_or_default(),
                        organization,
                    })
                    .collect();
                Ok($crate::sql::paginate(items, limit, |m| m.organization.id.as_str()))
            }

            /// Locks the membership row first, so concurrent replacements apply one after the other.
            async fn update_membership_roles_impl(
                &self,
                organization_id: &str,
                user_id: &str,
                role_ids: &[String],
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("update_membership_roles_impl");
                let mut tx = self.begin().await?;
                let found = $q::query(
                    "UPDATE memberships SET created_at = created_at WHERE organization_id = $1 AND user_id = $2",
                )
                .bind(organization_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                if found.rows_affected() == 0 {
                    return Ok(false);
                }
                $q::query("DELETE FROM membership_roles WHERE organization_id = $1 AND user_id = $2")
                    .bind(organization_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                let ids = role_ids.iter().map(String::as_str);
                Self::grant_member_roles(&mut tx, organization_id, user_id, ids).await?;
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(true)
            }

            async fn delete_membership_impl(
                &self,
                organization_id: &str,
                user_id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_membership_impl");
                let mut tx = self.begin().await?;
                let done = $q::query("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2")
                    .bind(organization_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                $q::query(
                    "UPDATE refresh_grants SET revoked_at = $3 WHERE organization_id = $1 \
                     AND user_id = $2 AND revoked_at IS NULL",
                )
                .bind(organization_id)
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(true)
            }
        }
    };
}
pub(crate) use impl_membership_methods;
