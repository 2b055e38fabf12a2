//! `AuditStore`: the audit log, inserted in batches and listed with optional filters.

use async_trait::async_trait;
use latch_core::audit::{ActorType, AuditEvent, AuditFilter};
use latch_core::store::{AuditStore, Page, PageRequest, StoreResult};

use super::backend::{Backend, Query, query, query_as};
use super::{SqlStore, page_after, page_limit, paginate};
use crate::timing::Timer;

super::row_type! {
    /// A row of `audit_events`.
    pub(crate) struct AuditRow {
        id: String,
        kind: String,
        at: i64,
        actor_type: String,
        actor_id: Option<String>,
        user_id: Option<String>,
        client_id: Option<String>,
        session_id: Option<String>,
        ip: Option<String>,
        success: bool,
        reason: Option<String>,
        details: String,
    }
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            at: r.at,
            actor_type: ActorType::parse(&r.actor_type),
            actor_id: r.actor_id,
            user_id: r.user_id,
            client_id: r.client_id,
            session_id: r.session_id,
            ip: r.ip,
            success: r.success,
            reason: r.reason,
            details: r.details,
        }
    }
}

/// Events inserted by one multi-row statement.
const AUDIT_CHUNK: usize = 16;

/// `INSERT INTO audit_events … VALUES (…), (…)` for `rows` rows (1 or `AUDIT_CHUNK`), built once.
fn audit_insert_sql(rows: usize) -> &'static str {
    static ONE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static CHUNK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let cell = if rows == 1 { &ONE } else { &CHUNK };
    cell.get_or_init(|| {
        let mut sql = String::from(
            "INSERT INTO audit_events (id, kind, at, actor_type, actor_id, user_id, client_id, \
             session_id, ip, success, reason, details) VALUES ",
        );
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            let first = row * 12 + 1;
            let params: Vec<String> = (first..first + 12).map(|n| format!("${n}")).collect();
            sql.push('(');
            sql.push_str(&params.join(", "));
            sql.push(')');
        }
        sql
    })
}

/// Binds one event's twelve columns, in `audit_insert_sql`'s order.
fn bind_event<'q>(q: Query<'q>, e: &'q AuditEvent) -> Query<'q> {
    q.bind(&e.id)
        .bind(&e.kind)
        .bind(e.at)
        .bind(e.actor_type.as_str())
        .bind(&e.actor_id)
        .bind(&e.user_id)
        .bind(&e.client_id)
        .bind(&e.session_id)
        .bind(&e.ip)
        .bind(e.success)
        .bind(&e.reason)
        .bind(&e.details)
}

#[async_trait]
impl<B: Backend> AuditStore for SqlStore<B> {
    async fn insert_audit_events(&self, events: &[AuditEvent]) -> StoreResult<()> {
        let _timer = Timer::start("insert_audit_events");
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        // Full chunks in one statement each (one round trip on PostgreSQL), the rest one by one.
        let mut chunks = events.chunks_exact(AUDIT_CHUNK);
        for chunk in &mut chunks {
            let mut q = query(audit_insert_sql(AUDIT_CHUNK));
            for e in chunk {
                q = bind_event(q, e);
            }
            q.execute(tx.on()).await?;
        }
        for e in chunks.remainder() {
            bind_event(query(audit_insert_sql(1)), e)
                .execute(tx.on())
                .await?;
        }
        tx.commit().await
    }

    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        let _timer = Timer::start("list_audit_events");
        let limit = page_limit(page);
        // Oldest first from the cursor on; newest first (the console's view) from the newest, or
        // before the cursor.
        const OLDEST_FIRST: &str = "SELECT id, kind, at, actor_type, actor_id, user_id, client_id, \
             session_id, ip, success, reason, details FROM audit_events WHERE id > $1 \
             AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR client_id = $3) \
             AND ($4 IS NULL OR kind = $4) AND ($5 IS NULL OR at >= $5) \
             AND ($6 IS NULL OR at <= $6) ORDER BY id ASC LIMIT $7";
        const NEWEST_FIRST: &str = "SELECT id, kind, at, actor_type, actor_id, user_id, client_id, \
             session_id, ip, success, reason, details FROM audit_events WHERE ($1 IS NULL OR id < $1) \
             AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR client_id = $3) \
             AND ($4 IS NULL OR kind = $4) AND ($5 IS NULL OR at >= $5) \
             AND ($6 IS NULL OR at <= $6) ORDER BY id DESC LIMIT $7";
        let (sql, after) = if filter.newest_first {
            (NEWEST_FIRST, page.after.as_deref())
        } else {
            (OLDEST_FIRST, Some(page_after(page)))
        };
        let rows: Vec<AuditRow> = query_as(sql)
            .bind(after)
            .bind(&filter.user_id)
            .bind(&filter.client_id)
            .bind(&filter.kind)
            .bind(filter.since)
            .bind(filter.until)
            .bind(limit + 1)
            .fetch_all(self.read())
            .await?;
        let events = rows.into_iter().map(Into::into).collect();
        Ok(paginate(events, limit, |e: &AuditEvent| e.id.as_str()))
    }
}
