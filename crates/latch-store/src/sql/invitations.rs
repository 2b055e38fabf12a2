//! Invitations: inherent methods `impl_organization_store!` delegates to. Accepting one is a
//! `take`: a conditional `UPDATE … RETURNING`, so of concurrent acceptances exactly one wins.

/// Implements the invitation methods for `$ty` (see `impl_store!`).
macro_rules! impl_invitation_methods {
    ($ty:ident, $q:ident) => {
        impl $ty {
            /// Roles of the invitations of `organization_id` whose ids are in `[from, to]`.
            async fn invitation_roles(
                conn: &mut $q::Connection,
                organization_id: &str,
                from: &str,
                to: &str,
            ) -> ::latch_core::store::StoreResult<
                ::std::collections::HashMap<String, Vec<::latch_core::organization::Role>>,
            > {
                let _timer = $crate::timing::Timer::start("invitation_roles");
                let rows: Vec<$crate::sql::HeldRoleRow> = $q::query_as(
                    "SELECT ir.invitation_id AS holder, r.id, r.name, r.description, r.permissions, \
                     r.created_at, r.updated_at FROM invitation_roles ir \
                     JOIN roles r ON r.id = ir.role_id JOIN invitations i ON i.id = ir.invitation_id \
                     WHERE i.organization_id = $1 AND ir.invitation_id >= $2 AND ir.invitation_id <= $3 \
                     ORDER BY r.name",
                )
                .bind(organization_id)
                .bind(from)
                .bind(to)
                .fetch_all(&mut *conn)
                .await
                .map_err($crate::sql::db_err)?;
                $crate::sql::roles_by_holder(rows)
            }

            /// The row and its roles in one transaction; the email is kept as given and normalised.
            async fn insert_invitation_impl(
                &self,
                inv: &::latch_core::organization::Invitation,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_invitation_impl");
                let mut tx = self.begin().await?;
                $q::query(concat!(
                    "INSERT INTO invitations (",
                    $crate::sql::invitation_columns!(),
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
                .bind(::latch_core::user::normalize_email(&inv.email))
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::unique_err("invitation"))?;
                for role in &inv.roles {
                    $q::query(
                        "INSERT INTO invitation_roles (invitation_id, role_id) SELECT $1, $2 \
                         WHERE EXISTS (SELECT 1 FROM roles WHERE id = $2) ON CONFLICT DO NOTHING",
                    )
                    .bind(&inv.id)
                    .bind(&role.id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                }
                tx.commit().await.map_err($crate::sql::db_err)
            }

            async fn get_invitation_impl(
                &self,
                token_hash: &::latch_core::SecretHash,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Invitation>> {
                let _timer = $crate::timing::Timer::start("get_invitation_impl");
                let mut conn = self.pool.acquire().await.map_err($crate::sql::db_err)?;
                let row: Option<$crate::sql::InvitationRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::invitation_columns!(),
                    " FROM invitations WHERE token_hash = $1"
                ))
                .bind(token_hash.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err($crate::sql::db_err)?;
                let Some(row) = row else { return Ok(None) };
                let mut roles =
                    Self::invitation_roles(&mut *conn, row.organization_id(), row.id(), row.id()).await?;
                Ok(Some(row.into_invitation(&mut roles)))
            }

            /// By id (UUIDv7, so by creation time) after the cursor.
            async fn list_invitations_impl(
                &self,
                organization_id: &str,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<
                ::latch_core::store::Page<::latch_core::organization::Invitation>,
            > {
                let _timer = $crate::timing::Timer::start("list_invitations_impl");
                let limit = $crate::sql::page_limit(page);
                let mut conn = self.pool.acquire().await.map_err($crate::sql::db_err)?;
                let rows: Vec<$crate::sql::InvitationRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::invitation_columns!(),
                    " FROM invitations WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ))
                .bind(organization_id)
                .bind($crate::sql::page_after(page))
                .bind(limit + 1)
                .fetch_all(&mut *conn)
                .await
                .map_err($crate::sql::db_err)?;
                let shown = &rows[..rows.len().min(usize::try_from(limit).unwrap_or(1))];
                let mut roles = match (shown.first(), shown.last()) {
                    (Some(a), Some(b)) => {
                        Self::invitation_roles(&mut *conn, organization_id, a.id(), b.id()).await?
                    }
                    _ => ::std::collections::HashMap::new(),
                };
                let invitations: Vec<::latch_core::organization::Invitation> =
                    rows.into_iter().map(|r| r.into_invitation(&mut roles)).collect();
                Ok($crate::sql::paginate(invitations, limit, |i| i.id.as_str()))
            }

            async fn delete_invitation_impl(
                &self,
                organization_id: &str,
                id: &str,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_invitation_impl");
                let done = $q::query("DELETE FROM invitations WHERE id = $1 AND organization_id = $2")
                    .bind(id)
                    .bind(organization_id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected() == 1)
            }

            /// Takes the invitation (unaccepted, unexpired, for this email), then adds the member
            /// and the invitation's roles, keeping any membership and roles held already.
            async fn accept_invitation_impl(
                &self,
                token_hash: &::latch_core::SecretHash,
                email: &str,
                user_id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Invitation>> {
                let _timer = $crate::timing::Timer::start("accept_invitation_impl");
                let mut tx = self.begin().await?;
                let taken: Option<$crate::sql::InvitationRow> = $q::query_as(concat!(
                    "UPDATE invitations SET accepted_at = $2, accepted_by = $3 WHERE token_hash = $1 \
                     AND accepted_at IS NULL AND expires_at > $2 AND email_normalized = $4 RETURNING ",
                    $crate::sql::invitation_columns!()
                ))
                .bind(token_hash.as_str())
                .bind(now)
                .bind(user_id)
                .bind(::latch_core::user::normalize_email(email))
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                let Some(row) = taken else { return Ok(None) };
                $q::query(
                    "INSERT INTO memberships (organization_id, user_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (organization_id, user_id) DO NOTHING",
                )
                .bind(row.organization_id())
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                $q::query(
                    "INSERT INTO membership_roles (organization_id, user_id, role_id) \
                     SELECT $1, $2, role_id FROM invitation_roles WHERE invitation_id = $3 \
                     ON CONFLICT DO NOTHING",
                )
                .bind(row.organization_id())
                .bind(user_id)
                .bind(row.id())
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                let org = row.organization_id().to_owned();
                let id = row.id().to_owned();
                let mut roles = Self::invitation_roles(&mut *tx, &org, &id, &id).await?;
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(Some(row.into_invitation(&mut roles)))
            }
        }
    };
}
pub(crate) use impl_invitation_methods;
