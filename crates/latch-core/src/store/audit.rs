//! The `AuditStore` trait: the audit log (see `audit`).

use async_trait::async_trait;

use super::{Page, PageRequest, StoreResult};
use crate::audit::{AuditEvent, AuditFilter};

/// Audit events, written in batches and listed by id (time order).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Inserts the events in one transaction (all or none).
    async fn insert_audit_events(&self, events: &[AuditEvent]) -> StoreResult<()>;
    /// The events matching `filter`, oldest first, paged by id.
    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>>;
}
