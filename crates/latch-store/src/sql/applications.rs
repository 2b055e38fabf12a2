//! `ApplicationStore`: applications, their client secrets and the change counter.
//!
//! Every write that changes what an application cache holds opens its transaction by bumping
//! `application_changes.version`. Doing it first also serialises those writes on PostgreSQL (the
//! counter row is locked until commit), which makes the two-active-secrets rule race-safe.

/// Implements `ApplicationStore` for `$ty` (see `impl_store!`).
macro_rules! impl_application_store {
    ($ty:ident, $q:ident) => {
        impl $ty {
            /// Bumps the applications change counter inside `tx`.
            async fn bump_applications_version(
                tx: &mut $q::Transaction,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("bump_applications_version");
                $q::query("UPDATE application_changes SET version = version + 1 WHERE id = 1")
                    .execute(&mut **tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(())
            }

            /// Inserts a secret if fewer than two exist for the application (one conditional
            /// statement); `false` when refused.
            async fn insert_secret_if_room(
                tx: &mut $q::Transaction,
                application_id: &str,
                secret: &::latch_core::application::ClientSecretInfo,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("insert_secret_if_room");
                let max = i64::try_from(::latch_core::application::MAX_ACTIVE_SECRETS).unwrap_or(2);
                let done = $q::query(
                    "INSERT INTO client_secrets (id, application_id, hash, created_at, last_used_at) \
                     SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM applications WHERE id = $2) \
                     AND (SELECT count(*) FROM client_secrets WHERE application_id = $2) < $6",
                )
                .bind(&secret.id)
                .bind(application_id)
                .bind(secret.hash.as_str())
                .bind(secret.created_at)
                .bind(secret.last_used_at)
                .bind(max)
                .execute(&mut **tx)
                .await
                .map_err($crate::sql::unique_err("client secret id"))?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[::async_trait::async_trait]
        impl ::latch_core::store::ApplicationStore for $ty {
            /// Inserts the application (and its first secret) in one transaction; a taken `id` or
            /// `client_id` is `Conflict("application")`.
            async fn insert_application(
                &self,
                app: &::latch_core::application::Application,
                first_secret: Option<&::latch_core::application::ClientSecretInfo>,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_application");
                let mut tx = self.begin().await?;
                Self::bump_applications_version(&mut tx).await?;
                $q::query(concat!(
                    "INSERT INTO applications (",
                    $crate::sql::application_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
                ))
                .bind(&app.id)
                .bind(&app.client_id)
                .bind(&app.name)
                .bind(app.application_type.as_str())
                .bind(app.management_api_access)
                .bind(app.enforce_pkce)
                .bind(app.access_token_ttl_seconds)
                .bind($crate::sql::json_list(&app.redirects.post_login))
                .bind(&app.redirects.initiate_login)
                .bind($crate::sql::json_list(&app.redirects.post_logout))
                .bind(&app.redirects.backchannel_logout)
                .bind($crate::sql::json_list(&app.allowed_origins))
                .bind(&app.id_token_signed_response_alg)
                .bind(app.created_at)
                .bind(app.updated_at)
                .bind($crate::sql::json_object(&app.custom_claims))
                .bind($crate::sql::claim_mappings_json(&app.claim_mappings))
                .bind($crate::sql::token_hook_json(app.token_hook.as_ref()))
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::unique_err("application"))?;
                if let Some(secret) = first_secret {
                    Self::insert_secret_if_room(&mut tx, &app.id, secret).await?;
                }
                tx.commit().await.map_err($crate::sql::db_err)
            }

            async fn get_application(
                &self,
                id: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::application::Application>> {
                let _timer = $crate::timing::Timer::start("get_application");
                let row: Option<$crate::sql::ApplicationRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::application_columns!(),
                    " FROM applications WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                row.map(TryInto::try_into).transpose()
            }

            async fn get_application_by_client_id(
                &self,
                client_id: &str,
            ) -> ::latch_core::store::StoreResult<Option<::latch_core::application::Application>> {
                let _timer = $crate::timing::Timer::start("get_application_by_client_id");
                let row: Option<$crate::sql::ApplicationRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::application_columns!(),
                    " FROM applications WHERE client_id = $1"
                ))
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                row.map(TryInto::try_into).transpose()
            }

            /// By id (UUIDv7, so by creation time), after the cursor.
            async fn list_applications(
                &self,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<
                ::latch_core::store::Page<::latch_core::application::Application>,
            > {
                let _timer = $crate::timing::Timer::start("list_applications");
                $crate::sql::list_page!($q, self, page, $crate::sql::ApplicationRow, application_columns, "applications")
            }

            /// Replaces every field but `id` and `created_at`; `false` if there is no such application.
            async fn update_application(
                &self,
                app: &::latch_core::application::Application,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("update_application");
                let mut tx = self.begin().await?;
                Self::bump_applications_version(&mut tx).await?;
                let done = $q::query(
                    "UPDATE applications SET client_id = $2, name = $3, application_type = $4, \
                     management_api_access = $5, enforce_pkce = $6, access_token_ttl_seconds = $7, \
                     post_login_redirect_uris = $8, initiate_login_uri = $9, \
                     post_logout_redirect_uris = $10, backchannel_logout_uri = $11, \
                     allowed_origins = $12, id_token_signed_response_alg = $13, updated_at = $14, \
                     custom_claims = $15, claim_mappings = $16, token_hook = $17 WHERE id = $1",
                )
                .bind(&app.id)
                .bind(&app.client_id)
                .bind(&app.name)
                .bind(app.application_type.as_str())
                .bind(app.management_api_access)
                .bind(app.enforce_pkce)
                .bind(app.access_token_ttl_seconds)
                .bind($crate::sql::json_list(&app.redirects.post_login))
                .bind(&app.redirects.initiate_login)
                .bind($crate::sql::json_list(&app.redirects.post_logout))
                .bind(&app.redirects.backchannel_logout)
                .bind($crate::sql::json_list(&app.allowed_origins))
                .bind(&app.id_token_signed_response_alg)
                .bind(app.updated_at)
                .bind($crate::sql::json_object(&app.custom_claims))
                .bind($crate::sql::claim_mappings_json(&app.claim_mappings))
                .bind($crate::sql::token_hook_json(app.token_hook.as_ref()))
                .execute(&mut *tx)
                .await
                .map_err($crate::sql::unique_err("application"))?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(true)
            }

            /// In one transaction: records a `Client` revocation (its access tokens stop passing
            /// on every node), deletes the application's refresh tokens (a token of a deleted
            /// application can never be used again; its sealed codes fail client
            /// authentication), its secrets and session participations, then the application.
            async fn delete_application(
                &self,
                id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_application");
                let mut tx = self.begin().await?;
                Self::bump_applications_version(&mut tx).await?;
                let client_id: Option<String> =
                    $q::query_scalar("SELECT client_id FROM applications WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err($crate::sql::db_err)?;
                let Some(client_id) = client_id else { return Ok(false) };
                let revocation = ::latch_core::revocation::Revocation::new(
                    ::latch_core::revocation::RevocationKind::Client,
                    client_id,
                    now,
                );
                Self::insert_revocation_on(&mut *tx, &revocation, now).await?;
                for sql in [
                    "DELETE FROM refresh_grants WHERE application_id = $1",
                    "DELETE FROM client_secrets WHERE application_id = $1",
                    "DELETE FROM session_applications WHERE application_id = $1",
                ] {
                    $q::query(sql).bind(id).execute(&mut *tx).await.map_err($crate::sql::db_err)?;
                }
                let done = $q::query("DELETE FROM applications WHERE id = $1")
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

            /// Bumped by every application and secret write (not by `touch_client_secret`, whose
            /// `last_used_at` no cache needs).
            async fn applications_version(&self) -> ::latch_core::store::StoreResult<i64> {
                let _timer = $crate::timing::Timer::start("applications_version");
                $q::query_scalar("SELECT version FROM application_changes WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)
            }

            /// Counts and inserts in one conditional statement, after the counter bump has
            /// serialised application writes: two concurrent calls cannot both add a second
            /// secret. `Conflict("too_many_secrets")` when two exist.
            async fn insert_client_secret(
                &self,
                application_id: &str,
                secret: &::latch_core::application::ClientSecretInfo,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_client_secret");
                let mut tx = self.begin().await?;
                Self::bump_applications_version(&mut tx).await?;
                if Self::insert_secret_if_room(&mut tx, application_id, secret).await? {
                    return tx.commit().await.map_err($crate::sql::db_err);
                }
                let exists: i64 = $q::query_scalar("SELECT count(*) FROM applications WHERE id = $1")
                    .bind(application_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                Err(if exists == 0 {
                    ::latch_core::store::StoreError::Other(format!("no application `{application_id}`"))
                } else {
                    ::latch_core::store::StoreError::Conflict("too_many_secrets".to_owned())
                })
            }

            /// Oldest first.
            async fn list_client_secrets(
                &self,
                application_id: &str,
            ) -> ::latch_core::store::StoreResult<Vec<::latch_core::application::ClientSecretInfo>> {
                let _timer = $crate::timing::Timer::start("list_client_secrets");
                let rows: Vec<$crate::sql::ClientSecretRow> = $q::query_as(concat!(
                    "SELECT ",
                    $crate::sql::client_secret_columns!(),
                    " FROM client_secrets WHERE application_id = $1 ORDER BY created_at, id"
                ))
                .bind(application_id)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            /// A revoked secret is simply deleted, which frees its slot.
            async fn delete_client_secret(
                &self,
                application_id: &str,
                secret_id: &str,
            ) -> ::latch_core::store::StoreResult<bool> {
                let _timer = $crate::timing::Timer::start("delete_client_secret");
                let mut tx = self.begin().await?;
                Self::bump_applications_version(&mut tx).await?;
                let done = $q::query("DELETE FROM client_secrets WHERE id = $1 AND application_id = $2")
                    .bind(secret_id)
                    .bind(application_id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                tx.commit().await.map_err($crate::sql::db_err)?;
                Ok(true)
            }

            /// Writes `last_used_at` only if it is unset or older than a minute: token traffic does
            /// not turn into one write per request.
            async fn touch_client_secret(
                &self,
                secret_id: &str,
                now: ::latch_core::UnixTime,
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("touch_client_secret");
                $q::query(
                    "UPDATE client_secrets SET last_used_at = $2 \
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2 - $3)",
                )
                .bind(secret_id)
                .bind(now)
                .bind($crate::sql::TOUCH_INTERVAL)
                .execute(&self.writer)
                .await
                .map_err($crate::sql::db_err)?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_application_store;
