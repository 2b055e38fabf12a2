//! `ApplicationStore`: applications, their client secrets and the change counter.
//!
//! Every write that changes what an application cache holds opens its transaction by bumping
//! `application_changes.version`. Doing it first also serialises those writes on PostgreSQL (the
//! counter row is locked until commit), which makes the two-active-secrets rule race-safe.

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::application::{Application, ClientSecretInfo, MAX_ACTIVE_SECRETS};
use latch_core::revocation::{Revocation, RevocationKind};
use latch_core::store::{ApplicationStore, Page, PageRequest, StoreError, StoreResult};

use super::backend::{Backend, Query, query, query_as, query_scalar};
use super::{
    AppClientSecretRow, ApplicationRow, ClientSecretRow, SqlStore, TOUCH_INTERVAL, Tx,
    application_columns, claim_mappings_json, client_secret_columns, db_err, json_list,
    json_object, token_hook_json, unique_err,
};
use crate::timing::Timer;

impl<B: Backend> SqlStore<B> {
    /// Bumps the applications change counter inside `tx`.
    async fn bump_applications_version(tx: &mut Tx<B>) -> StoreResult<()> {
        let _timer = Timer::start("bump_applications_version");
        query("UPDATE application_changes SET version = version + 1 WHERE id = 1")
            .execute(tx.on())
            .await?;
        Ok(())
    }

    /// Inserts a secret if fewer than two exist for the application (one conditional
    /// statement); `false` when refused.
    async fn insert_secret_if_room(
        tx: &mut Tx<B>,
        application_id: &str,
        secret: &ClientSecretInfo,
    ) -> StoreResult<bool> {
        let _timer = Timer::start("insert_secret_if_room");
        let max = i64::try_from(MAX_ACTIVE_SECRETS).unwrap_or(2);
        let done = query(
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
        .execute(tx.on())
        .await
        .map_err(unique_err("client secret id"))?;
        Ok(done == 1)
    }
}

#[async_trait]
impl<B: Backend> ApplicationStore for SqlStore<B> {
    /// Inserts the application (and its first secret) in one transaction; a taken `id` or
    /// `client_id` is `Conflict("application")`.
    async fn insert_application(
        &self,
        app: &Application,
        first_secret: Option<&ClientSecretInfo>,
    ) -> StoreResult<()> {
        let _timer = Timer::start("insert_application");
        let mut tx = self.begin().await?;
        Self::bump_applications_version(&mut tx).await?;
        query(concat!(
            "INSERT INTO applications (",
            application_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        ))
        .bind(&app.id)
        .bind_with(|q| bind_fields(q, app))
        .bind(app.created_at)
        .bind_with(|q| bind_changes(q, app))
        .execute(tx.on())
        .await
        .map_err(unique_err("application"))?;
        if let Some(secret) = first_secret {
            Self::insert_secret_if_room(&mut tx, &app.id, secret).await?;
        }
        tx.commit().await
    }

    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>> {
        let _timer = Timer::start("get_application");
        let row: Option<ApplicationRow> = query_as(concat!(
            "SELECT ",
            application_columns!(),
            " FROM applications WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.read())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn get_application_by_client_id(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<Application>> {
        let _timer = Timer::start("get_application_by_client_id");
        let row: Option<ApplicationRow> = query_as(concat!(
            "SELECT ",
            application_columns!(),
            " FROM applications WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(self.read())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// By id (UUIDv7, so by creation time), after the cursor.
    async fn list_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>> {
        let _timer = Timer::start("list_applications");
        self.list_page::<ApplicationRow, Application>(
            concat!(
                "SELECT ",
                application_columns!(),
                " FROM applications WHERE id > $1 ORDER BY id LIMIT $2"
            ),
            page,
            |item| item.id.as_str(),
        )
        .await
    }

    /// Replaces every field but `id` and `created_at`; `false` if there is no such application.
    async fn update_application(&self, app: &Application) -> StoreResult<bool> {
        let _timer = Timer::start("update_application");
        let mut tx = self.begin().await?;
        Self::bump_applications_version(&mut tx).await?;
        let done = query(
            "UPDATE applications SET client_id = $2, name = $3, application_type = $4, \
                     management_api_access = $5, enforce_pkce = $6, access_token_ttl_seconds = $7, \
                     post_login_redirect_uris = $8, initiate_login_uri = $9, \
                     post_logout_redirect_uris = $10, backchannel_logout_uri = $11, \
                     allowed_origins = $12, id_token_signed_response_alg = $13, updated_at = $14, \
                     custom_claims = $15, claim_mappings = $16, token_hook = $17, \
                     allow_signup = $18, require_verified_email = $19, mfa = $20 WHERE id = $1",
        )
        .bind(&app.id)
        .bind_with(|q| bind_fields(q, app))
        .bind_with(|q| bind_changes(q, app))
        .execute(tx.on())
        .await
        .map_err(unique_err("application"))?;
        if done == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// In one transaction: records a `Client` revocation (its access tokens stop passing
    /// on every node), deletes the application's refresh tokens (a token of a deleted
    /// application can never be used again; its sealed codes fail client
    /// authentication), its secrets and session participations, then the application.
    async fn delete_application(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        let _timer = Timer::start("delete_application");
        let mut tx = self.begin().await?;
        Self::bump_applications_version(&mut tx).await?;
        let client_id: Option<String> =
            query_scalar("SELECT client_id FROM applications WHERE id = $1")
                .bind(id)
                .fetch_optional(tx.on())
                .await?;
        let Some(client_id) = client_id else {
            return Ok(false);
        };
        let revocation = Revocation::new(RevocationKind::Client, client_id, now);
        Self::insert_revocation_on(tx.on(), &revocation, now).await?;
        for sql in [
            "DELETE FROM refresh_grants WHERE application_id = $1",
            "DELETE FROM client_secrets WHERE application_id = $1",
            "DELETE FROM session_applications WHERE application_id = $1",
        ] {
            query(sql).bind(id).execute(tx.on()).await?;
        }
        let done = query("DELETE FROM applications WHERE id = $1")
            .bind(id)
            .execute(tx.on())
            .await?;
        if done == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Bumped by every application and secret write (not by `touch_client_secret`, whose
    /// `last_used_at` no cache needs).
    async fn applications_version(&self) -> StoreResult<i64> {
        let _timer = Timer::start("applications_version");
        query_scalar("SELECT version FROM application_changes WHERE id = 1")
            .fetch_one(self.read())
            .await
            .map_err(db_err)
    }

    /// Counts and inserts in one conditional statement, after the counter bump has
    /// serialised application writes: two concurrent calls cannot both add a second
    /// secret. `Conflict("too_many_secrets")` when two exist.
    async fn insert_client_secret(
        &self,
        application_id: &str,
        secret: &ClientSecretInfo,
    ) -> StoreResult<()> {
        let _timer = Timer::start("insert_client_secret");
        let mut tx = self.begin().await?;
        Self::bump_applications_version(&mut tx).await?;
        if Self::insert_secret_if_room(&mut tx, application_id, secret).await? {
            return tx.commit().await;
        }
        let exists: i64 = query_scalar("SELECT count(*) FROM applications WHERE id = $1")
            .bind(application_id)
            .fetch_one(tx.on())
            .await?;
        Err(if exists == 0 {
            StoreError::Other(format!("no application `{application_id}`").into())
        } else {
            StoreError::Conflict("too_many_secrets".to_owned())
        })
    }

    /// Oldest first.
    async fn list_client_secrets(
        &self,
        application_id: &str,
    ) -> StoreResult<Vec<ClientSecretInfo>> {
        let _timer = Timer::start("list_client_secrets");
        let rows: Vec<ClientSecretRow> = query_as(concat!(
            "SELECT ",
            client_secret_columns!(),
            " FROM client_secrets WHERE application_id = $1 ORDER BY created_at, id"
        ))
        .bind(application_id)
        .fetch_all(self.read())
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A range scan of `client_secrets_application` (application_id, created_at).
    async fn list_client_secrets_between(
        &self,
        after: Option<&str>,
        through: &str,
    ) -> StoreResult<Vec<(String, ClientSecretInfo)>> {
        let _timer = Timer::start("list_client_secrets_between");
        let rows: Vec<AppClientSecretRow> = query_as(concat!(
            "SELECT application_id, ",
            client_secret_columns!(),
            " FROM client_secrets WHERE application_id > $1 AND application_id <= $2 \
             ORDER BY application_id, created_at, id"
        ))
        .bind(after.unwrap_or(""))
        .bind(through)
        .fetch_all(self.read())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.application_id, r.secret.into()))
            .collect())
    }

    /// A revoked secret is simply deleted, which frees its slot.
    async fn delete_client_secret(
        &self,
        application_id: &str,
        secret_id: &str,
    ) -> StoreResult<bool> {
        let _timer = Timer::start("delete_client_secret");
        let mut tx = self.begin().await?;
        Self::bump_applications_version(&mut tx).await?;
        let done = query("DELETE FROM client_secrets WHERE id = $1 AND application_id = $2")
            .bind(secret_id)
            .bind(application_id)
            .execute(tx.on())
            .await?;
        if done == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Writes `last_used_at` only if it is unset or older than a minute: token traffic does
    /// not turn into one write per request.
    async fn touch_client_secret(&self, secret_id: &str, now: UnixTime) -> StoreResult<()> {
        let _timer = Timer::start("touch_client_secret");
        query(
            "UPDATE client_secrets SET last_used_at = $2 \
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2 - $3)",
        )
        .bind(secret_id)
        .bind(now)
        .bind(TOUCH_INTERVAL)
        .execute(self.write())
        .await?;
        Ok(())
    }
}

/// `client_id` … `id_token_signed_response_alg`: the columns insert and update bind alike, in
/// their order after `id`.
fn bind_fields<'q>(q: Query<'q>, app: &'q Application) -> Query<'q> {
    q.bind(&app.client_id)
        .bind(&app.name)
        .bind(app.application_type.as_str())
        .bind(app.management_api_access)
        .bind(app.enforce_pkce)
        .bind(app.access_token_ttl_seconds)
        .bind(json_list(&app.redirects.post_login))
        .bind(&app.redirects.initiate_login)
        .bind(json_list(&app.redirects.post_logout))
        .bind(&app.redirects.backchannel_logout)
        .bind(json_list(&app.allowed_origins))
        .bind(app.id_token_signed_response_alg.as_str())
}

/// `updated_at`, the JSON columns, the sign-up flags and `mfa`, the last seven of insert and update alike.
fn bind_changes<'q>(q: Query<'q>, app: &'q Application) -> Query<'q> {
    q.bind(app.updated_at)
        .bind(json_object(&app.custom_claims))
        .bind(claim_mappings_json(&app.claim_mappings))
        .bind(token_hook_json(app.token_hook.as_ref()))
        .bind(app.allow_signup)
        .bind(app.require_verified_email)
        .bind(app.mfa.as_str())
}
