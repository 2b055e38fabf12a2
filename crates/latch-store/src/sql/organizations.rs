//! `OrganizationStore`: organizations. Their roles and APIs are in `roles`, memberships in
//! `memberships`, invitations in `invitations`.

use async_trait::async_trait;
use latch_core::UnixTime;
use latch_core::organization::Organization;
use latch_core::store::{OrganizationStore, Page, PageRequest, StoreResult};

use super::backend::{Backend, query, query_as};
use super::{
    OrganizationRow, SqlStore, metadata_json, organization_columns, unique_err_or_external_id,
};
use crate::timing::Timer;

impl<B: Backend> SqlStore<B> {
    async fn organization_where(
        &self,
        column_is: &'static str,
        value: &str,
    ) -> StoreResult<Option<Organization>> {
        let _timer = Timer::start("organization_where");
        let sql = match column_is {
            "id" => concat!(
                "SELECT ",
                organization_columns!(),
                " FROM organizations WHERE id = $1"
            ),
            "external_id" => concat!(
                "SELECT ",
                organization_columns!(),
                " FROM organizations WHERE external_id = $1"
            ),
            _ => concat!(
                "SELECT ",
                organization_columns!(),
                " FROM organizations WHERE name = $1"
            ),
        };
        let row: Option<OrganizationRow> = query_as(sql)
            .bind(value)
            .fetch_optional(self.read())
            .await?;
        row.map(TryInto::try_into).transpose()
    }
}

#[async_trait]
impl<B: Backend> OrganizationStore for SqlStore<B> {
    async fn insert_organization(&self, o: &Organization) -> StoreResult<()> {
        let _timer = Timer::start("insert_organization");
        query(concat!(
            "INSERT INTO organizations (",
            organization_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&o.id)
        .bind(&o.name)
        .bind(&o.display_name)
        .bind(metadata_json(&o.metadata))
        .bind(o.created_at)
        .bind(o.updated_at)
        .bind(&o.external_id)
        .execute(self.write())
        .await
        .map_err(unique_err_or_external_id("organization name"))?;
        Ok(())
    }

    async fn get_organization(&self, id: &str) -> StoreResult<Option<Organization>> {
        let _timer = Timer::start("get_organization");
        self.organization_where("id", id).await
    }

    async fn get_organization_by_name(&self, name: &str) -> StoreResult<Option<Organization>> {
        let _timer = Timer::start("get_organization_by_name");
        self.organization_where("name", name).await
    }

    async fn get_organization_by_external_id(
        &self,
        external_id: &str,
    ) -> StoreResult<Option<Organization>> {
        let _timer = Timer::start("get_organization_by_external_id");
        self.organization_where("external_id", external_id).await
    }

    async fn list_organizations(&self, page: &PageRequest) -> StoreResult<Page<Organization>> {
        let _timer = Timer::start("list_organizations");
        self.list_page::<OrganizationRow, Organization>(
            concat!(
                "SELECT ",
                organization_columns!(),
                " FROM organizations WHERE id > $1 ORDER BY id LIMIT $2"
            ),
            page,
            |item| item.id.as_str(),
        )
        .await
    }

    async fn update_organization(&self, o: &Organization) -> StoreResult<bool> {
        let _timer = Timer::start("update_organization");
        let done = query(
            "UPDATE organizations SET name = $2, display_name = $3, metadata = $4, \
                     updated_at = $5, external_id = $6 WHERE id = $1",
        )
        .bind(&o.id)
        .bind(&o.name)
        .bind(&o.display_name)
        .bind(metadata_json(&o.metadata))
        .bind(o.updated_at)
        .bind(&o.external_id)
        .execute(self.write())
        .await
        .map_err(unique_err_or_external_id("organization name"))?;
        Ok(done == 1)
    }

    /// Memberships and invitations cascade with the row.
    async fn delete_organization(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        let _timer = Timer::start("delete_organization");
        let mut tx = self.begin().await?;
        query(
            "UPDATE refresh_grants SET revoked_at = $2 WHERE organization_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(tx.on())
        .await?;
        let done = query("DELETE FROM organizations WHERE id = $1")
            .bind(id)
            .execute(tx.on())
            .await?;
        if done == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}
