//! `OrganizationStore`: organizations here; memberships (`memberships`), roles and APIs (`roles`)
//! and invitations (`invitations`) are inherent methods the trait delegates to, kept apart for size.

/// Implements `OrganizationStore` for `$ty` (see `impl_store!`); needs `impl_membership_methods!`,
/// `impl_role_methods!` and `impl_invitation_methods!` too.
macro_rules! impl_organization_store {
    ($ty:ident, $q:ident) => {
        impl $ty {
            async fn organization_where(
                &self,
                column_is: &'static str,
                value: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Organization>> {
                let _timer = $crate::timing::Timer::start("organization_where");
                let sql = match column_is {
                    "id" => concat!("SELECT ", $crate::sql::organization_columns!(), " FROM organizations WHERE id = $1"),
                    "external_id" => concat!("SELECT ", $crate::sql::organization_columns!(), " FROM organizations WHERE external_id = $1"),
                    _ => concat!("SELECT ", $crate::sql::organization_columns!(), " FROM organizations WHERE name = $1"),
                };
                let row: Option<$crate::sql::OrganizationRow> = $q::query_as(sql)
                    .bind(value)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                row.map(TryInto::try_into).transpose()
            }
        }

        #[::async_trait::async_trait]
        impl ::latch_core::store::OrganizationStore for $ty {
            async fn insert_organization(
                &self,
                o: &::latch_core::organization::Organization,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_organization");
                $q::query(concat!(
                    "INSERT INTO organizations (",
                    $crate::sql::organization_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .bind(&o.id)
                .bind(&o.name)
                .bind(&o.display_name)
                .bind($crate::sql::metadata_json(&o.metadata))
                .bind(o.created_at)
                .bind(o.updated_at)
                .bind(&o.external_id)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::unique_err_or_external_id("organization name"))?;
                Ok(())
            }

            async fn get_organization(
                &self,
                id: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Organization>> {
                let _timer = $crate::timing::Timer::start("get_organization");
                self.organization_where("id", id).await
            }

            async fn get_organization_by_name(
                &self,
                name: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Organization>> {
                let _timer = $crate::timing::Timer::start("get_organization_by_name");
                self.organization_where("name", name).await
            }

            async fn get_organization_by_external_id(
                &self,
                external_id: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Organization>> {
                let _timer = $crate::timing::Timer::start("get_organization_by_external_id");
                self.organization_where("external_id", external_id).await
            }

            async fn list_organizations(
                &self,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<
                ::latch_core::store::Page<::latch_core::organization::Organization>,
            > {
                let _timer = $crate::timing::Timer::start("list_organizations");
                $crate::sql::list_page!($q, self, page, $crate::sql::OrganizationRow, organization_columns, "organizations")
            }

            async fn update_organization(
                &self,
                o: &::latch_core::organization::Organization,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("update_organization");
                let done = $q::query(
                    "UPDATE organizations SET name = $2, display_name = $3, metadata = $4, \
                     updated_at = $5, external_id = $6 WHERE id = $1",
                )
                .bind(&o.id)
                .bind(&o.name)
                .bind(&o.display_name)
                .bind($crate::sql::metadata_json(&o.metadata))
                .bind(o.updated_at)
                .bind(&o.external_id)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::unique_err_or_external_id("organization name"))?;
                Ok(done.rows_affected() == 1)
            }

            /// Memberships and invitations cascade with the row.
            async fn delete_organization(
                &self,
                id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_organization");
                let mut tx = self.begin().await?;
                $q::query(
                    "UPDATE refresh_grants SET revoked_at = $2 WHERE organization_id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::db_err)?;
                let done = $q::query("DELETE FROM organizations WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(true)
            }

            async fn insert_role(&self, role: &::latch_core::organization::Role) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_role");
                self.insert_role_impl(role).await
            }

            async fn get_role(&self, id: &str) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Role>> {
                let _timer = $crate::timing::Timer::start("get_role");
                self.role_where("id", id).await
            }

            async fn get_role_by_name(&self, name: &str) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Role>> {
                let _timer = $crate::timing::Timer::start("get_role_by_name");
                self.role_where("name", name).await
            }

            async fn list_roles(
                &self,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<::latch_core::store::Page<::latch_core::organization::Role>> {
                let _timer = $crate::timing::Timer::start("list_roles");
                self.list_roles_impl(page).await
            }

            async fn update_role(&self, role: &::latch_core::organization::Role) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("update_role");
                self.update_role_impl(role).await
            }

            async fn delete_role(&self, id: &str) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_role");
                self.delete_role_impl(id).await
            }

            async fn insert_membership(
                &self,
                m: &::latch_core::organization::Membership,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_membership");
                self.insert_membership_impl(m).await
            }

            async fn get_membership(
                &self,
                organization_id: &str,
                user_id: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Membership>> {
                let _timer = $crate::timing::Timer::start("get_membership");
                self.get_membership_impl(organization_id, user_id).await
            }

            async fn list_memberships(
                &self,
                organization_id: &str,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<
                ::latch_core::store::Page<::latch_core::organization::Membership>,
            > {
                let _timer = $crate::timing::Timer::start("list_memberships");
                self.list_memberships_impl(organization_id, page).await
            }

            async fn list_user_organizations(
                &self,
                user_id: &str,
                limit: u32,
            ) -> ::latch_core::store::StoreResult<Vec<::latch_core::organization::Organization>> {
                let _timer = $crate::timing::Timer::start("list_user_organizations");
                self.list_user_organizations_impl(user_id, limit).await
            }

            async fn list_user_memberships(
                &self,
                user_id: &str,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<
                ::latch_core::store::Page<::latch_core::organization::UserOrganization>,
            > {
                let _timer = $crate::timing::Timer::start("list_user_memberships");
                self.list_user_memberships_impl(user_id, page).await
            }

            async fn update_membership_roles(
                &self,
                organization_id: &str,
                user_id: &str,
                role_ids: &[String],
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("update_membership_roles");
                self.update_membership_roles_impl(organization_id, user_id, role_ids).await
            }

            async fn delete_membership(
                &self,
                organization_id: &str,
                user_id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_membership");
                self.delete_membership_impl(organization_id, user_id, now).await
            }

            async fn insert_invitation(
                &self,
                invitation: &::latch_core::organization::Invitation,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_invitation");
                self.insert_invitation_impl(invitation).await
            }

            async fn get_invitation_by_token(
                &self,
                token_hash: &::latch_core::SecretHash,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Invitation>> {
                let _timer = $crate::timing::Timer::start("get_invitation_by_token");
                self.get_invitation_impl(token_hash).await
            }

            async fn list_invitations(
                &self,
                organization_id: &str,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<
                ::latch_core::store::Page<::latch_core::organization::Invitation>,
            > {
                let _timer = $crate::timing::Timer::start("list_invitations");
                self.list_invitations_impl(organization_id, page).await
            }

            async fn delete_invitation(&self, organization_id: &str, id: &str) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_invitation");
                self.delete_invitation_impl(organization_id, id).await
            }

            async fn accept_invitation(
                &self,
                token_hash: &::latch_core::SecretHash,
                email: &str,
                user_id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Invitation>> {
                let _timer = $crate::timing::Timer::start("accept_invitation");
                self.accept_invitation_impl(token_hash, email, user_id, now).await
            }

            async fn insert_api(&self, api: &::latch_core::organization::ApiResource) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_api");
                self.insert_api_impl(api).await
            }

            async fn get_api(&self, id: &str) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::ApiResource>> {
                let _timer = $crate::timing::Timer::start("get_api");
                self.api_where("id", id).await
            }

            async fn get_api_by_identifier(
                &self,
                identifier: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::ApiResource>> {
                let _timer = $crate::timing::Timer::start("get_api_by_identifier");
                self.api_where("identifier", identifier).await
            }

            async fn list_apis(
                &self,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<::latch_core::store::Page<::latch_core::organization::ApiResource>> {
                let _timer = $crate::timing::Timer::start("list_apis");
                self.list_apis_impl(page).await
            }

            async fn update_api(&self, api: &::latch_core::organization::ApiResource) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("update_api");
                self.update_api_impl(api).await
            }

            async fn delete_api(&self, id: &str, now: ::latch_core::UnixTime) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_api");
                self.delete_api_impl(id, now).await
            }
        }
    };
}
pub(crate) use impl_organization_store;
