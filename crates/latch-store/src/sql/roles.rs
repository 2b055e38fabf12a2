//! Roles and API resources: inherent methods `impl_organization_store!` delegates to.

/// Implements the role and API methods for `$ty` (see `impl_store!`).
macro_rules! impl_role_methods {
    ($ty:ident, $q:ident) => {
        impl $ty {
            async fn insert_role_impl(
                &self,
                r: &::latch_core::organization::Role,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_role_impl");
                $q::query(concat!(
                    "INSERT INTO roles (",
                    $crate::sql::role_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .bind(&r.id)
                .bind(&r.name)
                .bind(&r.description)
                .bind($crate::sql::json_list(&r.permissions))
                .bind(r.created_at)
                .bind(r.updated_at)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::unique_err("role name"))?;
                Ok(())
            }

            /// By `id` or by `name`.
            async fn role_where(
                &self,
                column_is: &'static str,
                value: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::Role>> {
                let _timer = $crate::timing::Timer::start("role_where");
                let sql = match column_is {
                    "id" => concat!("SELECT ", $crate::sql::role_columns!(), " FROM roles WHERE id = $1"),
                    _ => concat!("SELECT ", $crate::sql::role_columns!(), " FROM roles WHERE name = $1"),
                };
                let row: Option<$crate::sql::RoleRow> = $q::query_as(sql)
                    .bind(value)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_roles_impl(
                &self,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<::latch_core::store::Page<::latch_core::organization::Role>> {
                let _timer = $crate::timing::Timer::start("list_roles_impl");
                $crate::sql::list_page!($q, self, page, $crate::sql::RoleRow, role_columns, "roles")
            }

            async fn update_role_impl(
                &self,
                r: &::latch_core::organization::Role,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("update_role_impl");
                let done = $q::query(
                    "UPDATE roles SET name = $2, description = $3, permissions = $4, updated_at = $5 \
                     WHERE id = $1",
                )
                .bind(&r.id)
                .bind(&r.name)
                .bind(&r.description)
                .bind($crate::sql::json_list(&r.permissions))
                .bind(r.updated_at)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::unique_err("role name"))?;
                Ok(done.rows_affected() == 1)
            }

            /// Its assignments to members and invitations cascade.
            async fn delete_role_impl(&self, id: &str) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_role_impl");
                let done = $q::query("DELETE FROM roles WHERE id = $1")
                    .bind(id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_api_impl(
                &self,
                a: &::latch_core::organization::ApiResource,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_api_impl");
                $q::query(concat!(
                    "INSERT INTO apis (",
                    $crate::sql::api_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ))
                .bind(&a.id)
                .bind(&a.identifier)
                .bind(&a.name)
                .bind($crate::sql::json_list(&a.permissions))
                .bind(a.access_token_ttl_seconds)
                .bind(a.allow_offline_access)
                .bind($crate::sql::json_object(&a.custom_claims))
                .bind(a.created_at)
                .bind(a.updated_at)
                .bind($crate::sql::claim_mappings_json(&a.claim_mappings))
                .execute(&self.writer)
                .await
                .map_err($crate::sql::unique_err("api identifier"))?;
                Ok(())
            }

            /// By `id` or by `identifier`.
            async fn api_where(
                &self,
                column_is: &'static str,
                value: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::organization::ApiResource>> {
                let _timer = $crate::timing::Timer::start("api_where");
                let sql = match column_is {
                    "id" => concat!("SELECT ", $crate::sql::api_columns!(), " FROM apis WHERE id = $1"),
                    _ => concat!("SELECT ", $crate::sql::api_columns!(), " FROM apis WHERE identifier = $1"),
                };
                let row: Option<$crate::sql::ApiRow> = $q::query_as(sql)
                    .bind(value)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_apis_impl(
                &self,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<::latch_core::store::Page<::latch_core::organization::ApiResource>> {
                let _timer = $crate::timing::Timer::start("list_apis_impl");
                $crate::sql::list_page!($q, self, page, $crate::sql::ApiRow, api_columns, "apis")
            }

            /// The identifier is immutable (tokens and refresh tokens name the API by it).
            async fn update_api_impl(
                &self,
                a: &::latch_core::organization::ApiResource,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("update_api_impl");
                let done = $q::query(
                    "UPDATE apis SET name = $2, permissions = $3, access_token_ttl_seconds = $4, \
                     allow_offline_access = $5, custom_claims = $6, updated_at = $7, \
                     claim_mappings = $8 WHERE id = $1",
                )
                .bind(&a.id)
                .bind(&a.name)
                .bind($crate::sql::json_list(&a.permissions))
                .bind(a.access_token_ttl_seconds)
                .bind(a.allow_offline_access)
                .bind($crate::sql::json_object(&a.custom_claims))
                .bind(a.updated_at)
                .bind($crate::sql::claim_mappings_json(&a.claim_mappings))
                .execute(&self.writer)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_api_impl(
                &self,
                id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_api_impl");
                let mut tx = self.begin().await?;
                let identifier: Option<String> =
                    $q::query_scalar("DELETE FROM apis WHERE id = $1 RETURNING identifier")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err($crate::sql::db_err)?;
                let Some(identifier) = identifier else {
                    return Ok(false);
                };
                $q::query(
                    "UPDATE refresh_grants SET revoked_at = $2 WHERE audience = $1 AND revoked_at IS NULL",
                )
                .bind(&identifier)
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
pub(crate) use impl_role_methods;
