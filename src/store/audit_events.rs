//! The audit trail's table: events added in batches, read back newest first by the `audit`
//! command, and removed only by age. Nothing here changes a row: the migration's trigger would
//! refuse it.

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::Db;
use crate::clock::UnixTime;

/// One event as a row holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: UnixTime,
    pub kind: String,
    pub actor: String,
    pub user_id: Option<String>,
    pub company_id: Option<String>,
    pub client_id: Option<String>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// A JSON object, as text.
    pub detail: String,
}

/// A stored event and its id, which orders events of the same second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub record: AuditRecord,
}

/// Which events to read; every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub company_id: Option<String>,
    /// From this time on, inclusive.
    pub since: Option<UnixTime>,
    /// Before this time, exclusive.
    pub until: Option<UnixTime>,
    /// Any of these kinds; all kinds when empty.
    pub kinds: Vec<String>,
    pub limit: i64,
}

const COLUMNS: &str =
    "at, kind, actor, user_id, company_id, client_id, client_addr, user_agent, request_id, detail";
const COLUMN_COUNT: usize = 10;

fn row_from(row: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: row.try_get("id")?,
        record: AuditRecord {
            at: row.try_get("at")?,
            kind: row.try_get("kind")?,
            actor: row.try_get("actor")?,
            user_id: row.try_get("user_id")?,
            company_id: row.try_get("company_id")?,
            client_id: row.try_get("client_id")?,
            client_addr: row.try_get("client_addr")?,
            user_agent: row.try_get("user_agent")?,
            request_id: row.try_get("request_id")?,
            detail: row.try_get("detail")?,
        },
    })
}

impl Db {
    /// Adds `events` in one statement (one round trip, one commit), in their order.
    pub async fn insert_audit_events(&self, events: &[AuditRecord]) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let rows: Vec<String> = (0..events.len())
            .map(|i| {
                let first = i * COLUMN_COUNT + 1;
                let params: Vec<String> = (first..first + COLUMN_COUNT)
                    .map(|n| format!("${n}"))
                    .collect();
                format!("({})", params.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO audit_events ({COLUMNS}) VALUES {}",
            rows.join(", ")
        );
        // Each batch size is a statement of its own: not kept prepared, or they would crowd
        // the connection's statement cache.
        let mut query = sqlx::query(&sql).persistent(false);
        for e in events {
            query = query
                .bind(e.at)
                .bind(e.kind.clone())
                .bind(e.actor.clone())
                .bind(e.user_id.clone())
                .bind(e.company_id.clone())
                .bind(e.client_id.clone())
                .bind(e.client_addr.clone())
                .bind(e.user_agent.clone())
                .bind(e.request_id.clone())
                .bind(e.detail.clone());
        }
        query
            .execute(self.pool())
            .await
            .with_context(|| format!("recording {} audit event(s)", events.len()))?;
        Ok(())
    }

    /// The events `filter` selects, newest first.
    pub async fn audit_events(&self, filter: &AuditFilter) -> anyhow::Result<Vec<AuditRow>> {
        let mut conditions = Vec::new();
        let mut texts = Vec::new();
        let mut times = Vec::new();
        let mut param = 0;
        let mut next = || {
            param += 1;
            format!("${param}")
        };
        if let Some(user) = &filter.user_id {
            conditions.push(format!("user_id = {}", next()));
            texts.push(user.clone());
        }
        if let Some(company) = &filter.company_id {
            conditions.push(format!("company_id = {}", next()));
            texts.push(company.clone());
        }
        if !filter.kinds.is_empty() {
            let params: Vec<String> = filter.kinds.iter().map(|_| next()).collect();
            conditions.push(format!("kind IN ({})", params.join(", ")));
            texts.extend(filter.kinds.iter().cloned());
        }
        if let Some(since) = filter.since {
            conditions.push(format!("at >= {}", next()));
            times.push(since);
        }
        if let Some(until) = filter.until {
            conditions.push(format!("at < {}", next()));
            times.push(until);
        }
        let limit = next();
        let sql = format!(
            "SELECT id, {COLUMNS} FROM audit_events {} ORDER BY at DESC, id DESC LIMIT {limit}",
            if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            }
        );
        // The text parameters come first, then the times, then the limit: the order above.
        let mut query = sqlx::query(&sql);
        for text in texts {
            query = query.bind(text);
        }
        for time in times {
            query = query.bind(time);
        }
        let rows = query
            .bind(filter.limit)
            .fetch_all(self.pool())
            .await
            .context("reading audit events")?;
        Ok(rows.iter().map(row_from).collect::<Result<_, _>>()?)
    }

    /// Removes up to `batch` events older than `before`, the oldest first; returns how many.
    /// A batch at a time, so that pruning a large backlog never holds a long lock.
    pub async fn prune_audit_events(&self, before: UnixTime, batch: i64) -> anyhow::Result<u64> {
        let removed = sqlx::query(
            "DELETE FROM audit_events WHERE id IN \
             (SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2)",
        )
        .bind(before)
        .bind(batch)
        .execute(self.pool())
        .await
        .context("pruning audit events")?
        .rows_affected();
        Ok(removed)
    }
}
