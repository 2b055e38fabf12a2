//! `AuditStore`: the audit log, inserted in batches and listed with optional filters.

crate::sql::row_type! {
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

impl From<AuditRow> for latch_core::audit::AuditEvent {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            at: r.at,
            actor_type: latch_core::audit::ActorType::parse(&r.actor_type),
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
pub(crate) const AUDIT_CHUNK: usize = 16;

/// `INSERT INTO audit_events … VALUES (…), (…)` for `rows` rows (1 or `AUDIT_CHUNK`), built once.
pub(crate) fn audit_insert_sql(rows: usize) -> &'static str {
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
macro_rules! bind_audit_event {
    ($q:expr, $e:expr) => {{
        let e = $e;
        $q.bind(&e.id)
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
    }};
}
pub(crate) use bind_audit_event;

/// Implements `AuditStore` for `$ty` (see `impl_store!`).
macro_rules! impl_audit_store {
    ($ty:ident, $q:ident) => {
        #[::async_trait::async_trait]
        impl ::latch_core::store::AuditStore for $ty {
            async fn insert_audit_events(
                &self,
                events: &[::latch_core::audit::AuditEvent],
            ) -> ::latch_core::store::StoreResult<()> {
                let _timer = $crate::timing::Timer::start("insert_audit_events");
                if events.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin().await?;
                // Full chunks in one statement each (one round trip on PostgreSQL), the rest
                // one by one.
                let mut chunks = events.chunks_exact($crate::sql::AUDIT_CHUNK);
                for chunk in &mut chunks {
                    let mut q = $q::query($crate::sql::audit_insert_sql($crate::sql::AUDIT_CHUNK));
                    for e in chunk {
                        q = $crate::sql::bind_audit_event!(q, e);
                    }
                    q.execute(&mut *tx).await.map_err($crate::sql::db_err)?;
                }
                for e in chunks.remainder() {
                    let q = $q::query($crate::sql::audit_insert_sql(1));
                    $crate::sql::bind_audit_event!(q, e)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::sql::db_err)?;
                }
                tx.commit().await.map_err($crate::sql::db_err)
            }

            async fn list_audit_events(
                &self,
                filter: &::latch_core::audit::AuditFilter,
                page: &::latch_core::store::PageRequest,
            ) -> ::latch_core::store::StoreResult<
                ::latch_core::store::Page<::latch_core::audit::AuditEvent>,
            > {
                let _timer = $crate::timing::Timer::start("list_audit_events");
                let limit = $crate::sql::page_limit(page);
                macro_rules! columns {
                    () => {
                        "SELECT id, kind, at, actor_type, actor_id, user_id, client_id, session_id, \
                         ip, success, reason, details FROM audit_events WHERE "
                    };
                }
                macro_rules! filters {
                    () => {
                        " AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR client_id = $3) \
                         AND ($4 IS NULL OR kind = $4) AND ($5 IS NULL OR at >= $5) \
                         AND ($6 IS NULL OR at <= $6) ORDER BY id "
                    };
                }
                let (sql, after) = if filter.newest_first {
                    let sql = concat!(columns!(), "($1 IS NULL OR id < $1)", filters!(), "DESC LIMIT $7");
                    (sql, page.after.as_deref())
                } else {
                    let sql = concat!(columns!(), "id > $1", filters!(), "ASC LIMIT $7");
                    (sql, Some($crate::sql::page_after(page)))
                };
                let rows: Vec<$crate::sql::AuditRow> = $q::query_as(sql)
                .bind(after)
                .bind(&filter.user_id)
                .bind(&filter.client_id)
                .bind(&filter.kind)
                .bind(filter.since)
                .bind(filter.until)
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)?;
                let events = rows.into_iter().map(Into::into).collect();
                Ok($crate::sql::paginate(
                    events,
                    limit,
                    |e: &::latch_core::audit::AuditEvent| e.id.as_str(),
                ))
            }
        }
    };
}

pub(crate) use impl_audit_store;
