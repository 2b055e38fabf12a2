//! `RoleStore` and `ApiStore`: roles (named sets of permissions) and API resources.

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::organization::{ApiResource, Role};
use latch_core::store::{ApiStore, Page, PageRequest, RoleStore, StoreResult};

use super::backend::{Backend, query, query_as, query_scalar};
use super::{
    ApiRow, RoleRow, SqlStore, api_columns, claim_mappings_json, json_list, json_object,
    role_columns, unique_err,
};
use crate::timing::Timer;

impl<B: Backend> SqlStore<B> {
    /// By `id` or by `name`.
    async fn role_where(&self, column_is: &'static str, value: &str) -> StoreResult<Option<Role>> {
        let _timer = Timer::start("role_where");
        let sql = match column_is {
            "id" => concat!("SELECT ", role_columns!(), " FROM roles WHERE id = $1"),
            _ => concat!("SELECT ", role_columns!(), " FROM roles WHERE name = $1"),
        };
        let row: Option<RoleRow> = query_as(sql)
            .bind(value)
            .fetch_optional(self.read())
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// By `id` or by `identifier`.
    async fn api_where(
        &self,
        column_is: &'static str,
        value: &str,
    ) -> StoreResult<Option<ApiResource>> {
        let _timer = Timer::start("api_where");
        let sql = match column_is {
            "id" => concat!("SELECT ", api_columns!(), " FROM apis WHERE id = $1"),
            _ => concat!(
                "SELECT ",
                api_columns!(),
                " FROM apis WHERE identifier = $1"
            ),
        };
        let row: Option<ApiRow> = query_as(sql)
            .bind(value)
            .fetch_optional(self.read())
            .await?;
        row.map(TryInto::try_into).transpose()
    }
}

#[async_trait]
impl<B: Backend> RoleStore for SqlStore<B> {
    async fn insert_role(&self, r: &Role) -> StoreResult<()> {
        let _timer = Timer::start("insert_role");
        query(concat!(
            "INSERT INTO roles (",
            role_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&r.id)
        .bind(&r.name)
        .bind(&r.description)
        .bind(json_list(&r.permissions))
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(self.write())
        .await
        .map_err(unique_err("role name"))?;
        Ok(())
    }

    async fn get_role(&self, id: &str) -> StoreResult<Option<Role>> {
        let _timer = Timer::start("get_role");
        self.role_where("id", id).await
    }

    async fn get_role_by_name(&self, name: &str) -> StoreResult<Option<Role>> {
        let _timer = Timer::start("get_role_by_name");
        self.role_where("name", name).await
    }

    async fn list_roles(&self, page: &PageRequest) -> StoreResult<Page<Role>> {
        let _timer = Timer::start("list_roles");
        self.list_page::<RoleRow, Role>(
            concat!(
                "SELECT ",
                role_columns!(),
                " FROM roles WHERE id > $1 ORDER BY id LIMIT $2"
            ),
            page,
            |item| item.id.as_str(),
        )
        .await
    }

    async fn update_role(&self, r: &Role) -> StoreResult<bool> {
        let _timer = Timer::start("update_role");
        let done = query(
            "UPDATE roles SET name = $2, description = $3, permissions = $4, updated_at = $5 \
                     WHERE id = $1",
        )
        .bind(&r.id)
        .bind(&r.name)
        .bind(&r.description)
        .bind(json_list(&r.permissions))
        .bind(r.updated_at)
        .execute(self.write())
        .await
        .map_err(unique_err("role name"))?;
        Ok(done == 1)
    }

    /// Its assignments to members and invitations cascade.
    async fn delete_role(&self, id: &str) -> StoreResult<bool> {
        let _timer = Timer::start("delete_role");
        let done = query("DELETE FROM roles WHERE id = $1")
            .bind(id)
            .execute(self.write())
            .await?;
        Ok(done == 1)
    }
}

#[async_trait]
impl<B: Backend> ApiStore for SqlStore<B> {
    async fn insert_api(&self, a: &ApiResource) -> StoreResult<()> {
        let _timer = Timer::start("insert_api");
        query(concat!(
            "INSERT INTO apis (",
            api_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&a.id)
        .bind(&a.identifier)
        .bind(&a.name)
        .bind(json_list(&a.permissions))
        .bind(a.access_token_ttl_seconds)
        .bind(a.allow_offline_access)
        .bind(json_object(&a.custom_claims))
        .bind(a.created_at)
        .bind(a.updated_at)
        .bind(claim_mappings_json(&a.claim_mappings))
        .execute(self.write())
        .await
        .map_err(unique_err("api identifier"))?;
        Ok(())
    }

    async fn get_api(&self, id: &str) -> StoreResult<Option<ApiResource>> {
        let _timer = Timer::start("get_api");
        self.api_where("id", id).await
    }

    async fn get_api_by_identifier(&self, identifier: &str) -> StoreResult<Option<ApiResource>> {
        let _timer = Timer::start("get_api_by_identifier");
        self.api_where("identifier", identifier).await
    }

    async fn list_apis(&self, page: &PageRequest) -> StoreResult<Page<ApiResource>> {
        let _timer = Timer::start("list_apis");
        self.list_page::<ApiRow, ApiResource>(
            concat!(
                "SELECT ",
                api_columns!(),
                " FROM apis WHERE id > $1 ORDER BY id LIMIT $2"
            ),
            page,
            |item| item.id.as_str(),
        )
        .await
    }

    /// The identifier is immutable (tokens and refresh tokens name the API by it).
    async fn update_api(&self, a: &ApiResource) -> StoreResult<bool> {
        let _timer = Timer::start("update_api");
        let done = query(
            "UPDATE apis SET name = $2, permissions = $3, access_token_ttl_seconds = $4, \
                     allow_offline_access = $5, custom_claims = $6, updated_at = $7, \
                     claim_mappings = $8 WHERE id = $1",
        )
        .bind(&a.id)
        .bind(&a.name)
        .bind(json_list(&a.permissions))
        .bind(a.access_token_ttl_seconds)
        .bind(a.allow_offline_access)
        .bind(json_object(&a.custom_claims))
        .bind(a.updated_at)
        .bind(claim_mappings_json(&a.claim_mappings))
        .execute(self.write())
        .await?;
        Ok(done == 1)
    }

    async fn delete_api(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        let _timer = Timer::start("delete_api");
        let mut tx = self.begin().await?;
        let identifier: Option<String> =
            query_scalar("DELETE FROM apis WHERE id = $1 RETURNING identifier")
                .bind(id)
                .fetch_optional(tx.on())
                .await?;
        let Some(identifier) = identifier else {
            return Ok(false);
        };
        query(
            "UPDATE refresh_grants SET revoked_at = $2 WHERE audience = $1 AND revoked_at IS NULL",
        )
        .bind(&identifier)
        .bind(now)
        .execute(tx.on())
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
