//! The audit trail's table: events added in batches, read back newest first by the `audit`
//! command, and removed only by age. Nothing here changes a row: the migration's trigger would
//! refuse it.

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::Db;
use crate::clock::UnixTime;

/// One event as a row holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// A JSON array of [`AuditRecord`]s into rows, in the array's order.
const INSERT_SQLITE: &str = "INSERT INTO audit_events \
     (at, kind, actor, user_id, company_id, client_id, client_addr, user_agent, request_id, detail) \
     SELECT value->>'at', value->>'kind', value->>'actor', value->>'user_id', \
     value->>'company_id', value->>'client_id', value->>'client_addr', value->>'user_agent', \
     value->>'request_id', value->>'detail' \
     FROM json_each($1) ORDER BY key";

const INSERT_POSTGRES: &str = "INSERT INTO audit_events \
     (at, kind, actor, user_id, company_id, client_id, client_addr, user_agent, request_id, detail) \
     SELECT e.at, e.kind, e.actor, e.user_id, e.company_id, e.client_id, e.client_addr, \
     e.user_agent, e.request_id, e.detail \
     FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (at BIGINT, kind TEXT, actor TEXT, \
     user_id TEXT, company_id TEXT, client_id TEXT, client_addr TEXT, user_agent TEXT, \
     request_id TEXT, detail TEXT)) WITH ORDINALITY AS e(at, kind, actor, user_id, company_id, \
     client_id, client_addr, user_agent, request_id, detail, n) \
     ORDER BY e.n";

impl Db {
    /// Adds `events` in one statement (one round trip, one commit), in their order. The batch
    /// goes in as one JSON array parameter that the database takes apart, so the statement is
    /// the same for every batch (prepared once) and a batch of 500 is one bind, not 5,000: the
    /// writer shares the cores and, on SQLite, the write lock with the token endpoint.
    pub async fn insert_audit_events(&self, events: &[AuditRecord]) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let sql = match self.backend() {
            crate::config::Backend::Sqlite => INSERT_SQLITE,
            crate::config::Backend::Postgres => INSERT_POSTGRES,
        };
        let batch = serde_json::to_string(events).context("encoding audit events")?;
        sqlx::query(sql)
            .bind(batch)
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
