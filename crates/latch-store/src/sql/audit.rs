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
        // before the cursor. Only the filters given become predicates, so that a filter by user,
        // client or kind is a range of its `(column, id)` index: with `($n IS NULL OR col = $n)`
        // both planners walk the primary key instead, which over a large trail reads every row
        // newer than the few the filter wants.
        let (order, after) = if filter.newest_first {
            ("DESC", page.after.as_deref())
        } else {
            ("ASC", Some(page_after(page)))
        };
        let mut sql = String::from(
            "SELECT id, kind, at, actor_type, actor_id, user_id, client_id, session_id, ip, \
             success, reason, details FROM audit_events WHERE TRUE",
        );
        let mut n = 0;
        let mut predicate = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&format!(" AND {clause} ${n}"));
        };
        if after.is_some() {
            predicate(&mut sql, if filter.newest_first { "id <" } else { "id >" });
        }
        if filter.user_id.is_some() {
            predicate(&mut sql, "user_id =");
        }
        if filter.client_id.is_some() {
            predicate(&mut sql, "client_id =");
        }
        if filter.kind.is_some() {
            predicate(&mut sql, "kind =");
        }
        if filter.since.is_some() {
            predicate(&mut sql, "at >=");
        }
        if filter.until.is_some() {
            predicate(&mut sql, "at <=");
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY id {order} LIMIT ${n}"));
        let mut q = query_as::<AuditRow>(sql);
        if let Some(after) = after {
            q = q.bind(after);
        }
        if let Some(user_id) = &filter.user_id {
            q = q.bind(user_id);
        }
        if let Some(client_id) = &filter.client_id {
            q = q.bind(client_id);
        }
        if let Some(kind) = &filter.kind {
            q = q.bind(kind);
        }
        if let Some(since) = filter.since {
            q = q.bind(since);
        }
        if let Some(until) = filter.until {
            q = q.bind(until);
        }
        let rows: Vec<AuditRow> = q.bind(limit + 1).fetch_all(self.read()).await?;
        let events = rows.into_iter().map(Into::into).collect();
        Ok(paginate(events, limit, |e: &AuditEvent| e.id.as_str()))
    }
}
