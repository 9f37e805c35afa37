//! Group commit for [`Db::record_grant`]: the grants that arrive while a write is in flight go
//! to the database together in the next one, as one statement (PostgreSQL) or one transaction
//! (SQLite), so many token requests share a round trip, a commit and, on SQLite, the write lock.
//! A grant that arrives when no write is in flight is written at once, alone, as before.
//!
//! On PostgreSQL a grant is a chain of data-modifying CTEs (its spending, then one per insert,
//! each inserting only if the spending found its row); a batch puts the chains of all its
//! grants in one `WITH`. On SQLite a grant is a run of statements whose inserts each run only if
//! the statement before changed a row (`changes()`), and a batch is those runs one after the
//! other in one `BEGIN IMMEDIATE … COMMIT` script, run in one go by the connection's worker
//! thread. Each grant's access-token insert returns the grant's place in the batch, so the rows
//! that come back say which grants were recorded. Every request still waits for the commit that
//! holds its grant before it answers.
//!
//! Two grants spending the same code or refresh token never share a batch: PostgreSQL does not
//! say which of two updates of one row in one statement takes place, and the loser of such a race
//! must see that it lost. A batch that fails (a duplicate id, a broken connection) is written
//! again grant by grant, so only the grant at fault fails.
//!
//! Near 500 lines, a hundred of them its tests: the queue that forms a batch and the rendering
//! of its SQL read together, and neither is used elsewhere.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use sqlx::Row;
use tokio::sync::oneshot;

use super::{is_deadlock, Db};

/// Writes in flight at once, each with its batch.
const WRITERS: usize = 2;
/// Grants in one write at most.
const MAX_BATCH: usize = 32;

/// A value bound to one of a grant's parameters.
#[derive(Clone)]
pub(crate) enum Param {
    Text(Option<String>),
    Int(Option<i64>),
}

impl Param {
    pub(crate) fn text(value: &str) -> Self {
        Param::Text(Some(value.to_owned()))
    }
}

/// One statement of a grant: its SQL with `{}` for each of `params` in turn.
struct Statement {
    sql: String,
    params: Vec<Param>,
}

/// What one grant writes: what it spends (if anything), then its inserts, one of which stores
/// the access token and so says whether the grant was recorded.
pub(crate) struct GrantWrite {
    spend: Option<(String, Statement)>,
    inserts: Vec<(Statement, String)>,
    answer: Option<usize>,
}

impl GrantWrite {
    pub(crate) fn new() -> Self {
        Self {
            spend: None,
            inserts: Vec::new(),
            answer: None,
        }
    }

    /// An `UPDATE … WHERE` that spends the row named by `key` (the same key for the same row);
    /// the inserts after it run only if it changed a row.
    pub(crate) fn spend(&mut self, key: String, update: &str, params: Vec<Param>) {
        debug_assert!(self.inserts.is_empty(), "the spending comes first");
        self.spend = Some((
            key,
            Statement {
                sql: update.to_owned(),
                params,
            },
        ));
    }

    /// `INSERT INTO t (columns)` of one row of `params`, then `tail` (a conflict clause).
    pub(crate) fn insert(&mut self, into: &str, params: Vec<Param>, tail: &str) {
        let placeholders = vec!["{}"; params.len()].join(", ");
        self.inserts.push((
            Statement {
                sql: format!("{into} SELECT {placeholders}"),
                params,
            },
            tail.to_owned(),
        ));
    }

    /// Marks the last insert as the access token's: the grant was recorded if it stored a row.
    pub(crate) fn access_stored(&mut self) {
        self.answer = Some(self.inserts.len() - 1);
    }

    fn spend_key(&self) -> Option<&str> {
        self.spend.as_ref().map(|(key, _)| key.as_str())
    }
}

/// The SQL of one write of `grants` and its parameters, numbered across the whole write.
struct Rendered {
    postgres: bool,
    parts: Vec<String>,
    params: Vec<Param>,
}

impl Rendered {
    fn new(postgres: bool, grants: &[&GrantWrite]) -> Self {
        let mut r = Self {
            postgres,
            parts: Vec::new(),
            params: Vec::new(),
        };
        let mut answers = Vec::new();
        for (k, grant) in grants.iter().enumerate() {
            r.grant(k, grant, &mut answers);
        }
        if postgres {
            let ctes = std::mem::take(&mut r.parts).join(", ");
            r.parts = vec![format!("WITH {ctes} {}", answers.join(" UNION ALL "))];
        }
        r
    }

    /// `sql` with each `{}` replaced by the next numbered parameter, bound to `params` in turn.
    fn numbered(&mut self, statement: &Statement) -> String {
        let mut pieces = statement.sql.split("{}");
        let mut out = pieces.next().unwrap_or_default().to_owned();
        let mut params = statement.params.iter();
        for piece in pieces {
            self.params
                .push(params.next().expect("a value for each placeholder").clone());
            out.push_str(&format!("${}{piece}", self.params.len()));
        }
        debug_assert!(params.next().is_none(), "a placeholder for each value");
        out
    }

    fn grant(&mut self, k: usize, grant: &GrantWrite, answers: &mut Vec<String>) {
        let answer = grant.answer.expect("record_grant stores an access token");
        if let Some((_, update)) = &grant.spend {
            let update = self.numbered(update);
            self.parts.push(if self.postgres {
                format!("s{k} AS ({update} RETURNING 1)")
            } else {
                update
            });
        }
        let guard = match (grant.spend.is_some(), self.postgres) {
            (false, _) => String::new(),
            (true, true) => format!(" WHERE EXISTS (SELECT 1 FROM s{k})"),
            (true, false) => " WHERE changes() = 1".to_owned(),
        };
        for (j, (insert, tail)) in grant.inserts.iter().enumerate() {
            let sql = format!("{}{guard}{tail}", self.numbered(insert));
            if self.postgres {
                self.parts.push(format!("g{k}i{j} AS ({sql} RETURNING 1)"));
                if j == answer {
                    answers.push(format!("SELECT CAST({k} AS BIGINT) FROM g{k}i{j}"));
                }
            } else if j == answer {
                self.parts.push(format!("{sql} RETURNING {k}"));
            } else {
                self.parts.push(sql);
            }
        }
    }

    fn sql(&self) -> String {
        if self.postgres || self.parts.len() == 1 {
            self.parts.join("")
        } else {
            format!("BEGIN IMMEDIATE; {}; COMMIT", self.parts.join("; "))
        }
    }
}

/// Writes `grants` in one go; which of them were recorded (`false`: what it spends had been
/// spent or revoked meanwhile, and it wrote nothing).
async fn write(db: &Db, grants: &[&GrantWrite]) -> Result<Vec<bool>, sqlx::Error> {
    let postgres = db.backend() == crate::config::Backend::Postgres;
    let rendered = Rendered::new(postgres, grants);
    let sql = rendered.sql();
    let mut conn = db.hot_connection().await?;
    // A lone grant has one of a few shapes, each prepared once per connection; a batch's SQL
    // depends on what it holds, so it is not kept in the connection's statement cache.
    let mut query = sqlx::query(&sql).persistent(grants.len() == 1);
    for param in rendered.params {
        query = match param {
            Param::Text(v) => query.bind(v),
            Param::Int(v) => query.bind(v),
        };
    }
    // Every statement runs and its rows are collected (`fetch_optional` would stop the script at
    // the first row, before COMMIT).
    match query.fetch_all(conn.conn()).await {
        Ok(rows) => {
            conn.keep();
            let mut recorded = vec![false; grants.len()];
            for row in rows {
                let k: i64 = row.try_get(0)?;
                if let Some(slot) = usize::try_from(k).ok().and_then(|k| recorded.get_mut(k)) {
                    *slot = true;
                }
            }
            Ok(recorded)
        }
        Err(e) => {
            // A statement failed midway: closing the connection rolls back whatever the script
            // began, instead of handing it back to the pool in a transaction.
            if !postgres {
                conn.close().await;
            }
            Err(e)
        }
    }
}

/// How often a grant is written alone when PostgreSQL chose its write as a deadlock's victim:
/// a write share-locks the refresh-token families it rotates, and a revocation of a session's
/// families locks them in another order. The write is one statement, so nothing of it was kept,
/// and writing it again is the cure.
const DEADLOCK_ATTEMPTS: u32 = 3;

/// Writes one grant on its own, again if it was a deadlock's victim.
async fn write_alone(db: &Db, grant: &GrantWrite) -> Result<bool, sqlx::Error> {
    let mut attempt = 1;
    loop {
        match write(db, &[grant]).await {
            Err(e) if attempt < DEADLOCK_ATTEMPTS && is_deadlock(&e) => attempt += 1,
            result => return result.map(|recorded| recorded[0]),
        }
    }
}

struct Waiting {
    grant: GrantWrite,
    done: oneshot::Sender<Result<bool, sqlx::Error>>,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Waiting>,
    writers: usize,
}

/// The grants waiting for a write, and how many writes are in flight.
#[derive(Clone, Default)]
pub(crate) struct GrantQueue {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for GrantQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock().expect("grant queue");
        f.debug_struct("GrantQueue")
            .field("waiting", &state.waiting.len())
            .field("writers", &state.writers)
            .finish()
    }
}

impl GrantQueue {
    /// Writes `grant` with whatever else is waiting, and says whether it was recorded. The write
    /// runs in a task of its own, so it goes to its end even if the request is dropped midway:
    /// sqlx's SQLite worker stops a script whose caller went away, which would leave
    /// `BEGIN IMMEDIATE` open on a pooled connection.
    pub(crate) async fn record(&self, db: &Db, grant: GrantWrite) -> Result<bool, sqlx::Error> {
        let (done, recorded) = oneshot::channel();
        let start_writer = {
            let mut state = self.state.lock().expect("grant queue");
            state.waiting.push_back(Waiting { grant, done });
            let start = state.writers < WRITERS;
            if start {
                state.writers += 1;
            }
            start
        };
        if start_writer {
            tokio::spawn(Writer::new(db.clone()).run());
        }
        recorded.await.unwrap_or_else(|_| {
            Err(sqlx::Error::Protocol(
                "the grant's write stopped before it finished".into(),
            ))
        })
    }

    /// The next batch: the oldest grants, at most [`MAX_BATCH`], no two spending the same row.
    /// Empty when nothing waits, and then this writer is done.
    fn next_batch(&self) -> Vec<Waiting> {
        let mut state = self.state.lock().expect("grant queue");
        let mut batch = Vec::new();
        let mut spent = HashSet::new();
        let mut later = VecDeque::new();
        while let Some(waiting) = state.waiting.pop_front() {
            if batch.len() == MAX_BATCH {
                later.push_back(waiting);
                later.extend(state.waiting.drain(..));
                break;
            }
            match waiting.grant.spend_key() {
                Some(key) if !spent.insert(key.to_owned()) => later.push_back(waiting),
                _ => batch.push(waiting),
            }
        }
        state.waiting = later;
        if batch.is_empty() {
            state.writers -= 1;
        }
        batch
    }
}

/// One of the [`WRITERS`]: writes batches until nothing waits.
struct Writer {
    db: Db,
    /// Set once it found nothing to do and gave up its place.
    finished: bool,
}

impl Writer {
    fn new(db: Db) -> Self {
        Self {
            db,
            finished: false,
        }
    }

    async fn run(mut self) {
        loop {
            let batch = self.db.grants.next_batch();
            if batch.is_empty() {
                self.finished = true;
                return;
            }
            let grants: Vec<&GrantWrite> = batch.iter().map(|w| &w.grant).collect();
            match write(&self.db, &grants).await {
                Ok(recorded) => {
                    for (waiting, recorded) in batch.into_iter().zip(recorded) {
                        let _ = waiting.done.send(Ok(recorded));
                    }
                }
                Err(e) if batch.len() == 1 && !is_deadlock(&e) => {
                    let waiting = batch.into_iter().next().expect("one");
                    let _ = waiting.done.send(Err(e));
                }
                Err(e) => {
                    tracing::debug!(error = %e, grants = batch.len(), "a write of grants failed; writing them one by one");
                    for waiting in batch {
                        let result = write_alone(&self.db, &waiting.grant).await;
                        let _ = waiting.done.send(result);
                    }
                }
            }
        }
    }
}

/// A writer that panicked hands its place on to a new one: the grants already waiting would
/// otherwise wait for the next grant to start a writer. The grants of the batch it held get an
/// error, as their senders are dropped. A writer dropped by its runtime shutting down just
/// gives its place up.
impl Drop for Writer {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut state = self
            .db
            .grants
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if std::thread::panicking() && !state.waiting.is_empty() {
            drop(state);
            tokio::spawn(Writer::new(self.db.clone()).run());
        } else {
            state.writers -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(spends: Option<&str>) -> GrantWrite {
        let mut g = GrantWrite::new();
        if let Some(key) = spends {
            g.spend(
                key.to_owned(),
                "UPDATE t SET used = 1 WHERE k = {}",
                vec![Param::text(key)],
            );
        }
        g.insert(
            "INSERT INTO a (jti, n)",
            vec![Param::text("j"), Param::Int(Some(1))],
            "",
        );
        g.access_stored();
        g
    }

    fn queue(keys: &[Option<&str>]) -> GrantQueue {
        let q = GrantQueue::default();
        let mut state = q.state.lock().unwrap();
        state.writers = 1;
        for key in keys {
            let (done, _) = oneshot::channel();
            state.waiting.push_back(Waiting {
                grant: grant(*key),
                done,
            });
        }
        drop(state);
        q
    }

    fn keys(batch: &[Waiting]) -> Vec<Option<&str>> {
        batch.iter().map(|w| w.grant.spend_key()).collect()
    }

    #[test]
    fn a_batch_never_holds_two_grants_spending_the_same_row() {
        let q = queue(&[Some("a"), Some("a"), Some("b"), None, Some("a"), None]);
        assert_eq!(
            keys(&q.next_batch()),
            [Some("a"), Some("b"), None, None],
            "the first grant of each row and every grant that spends nothing, oldest first"
        );
        assert_eq!(keys(&q.next_batch()), [Some("a")]);
        assert_eq!(keys(&q.next_batch()), [Some("a")]);
        assert!(q.next_batch().is_empty());
        assert_eq!(
            q.state.lock().unwrap().writers,
            0,
            "a writer that finds nothing gives its place up"
        );
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_grants_and_keeps_the_rest_in_order() {
        let names: Vec<String> = (0..MAX_BATCH + 3).map(|i| format!("r{i}")).collect();
        let q = queue(&names.iter().map(|n| Some(n.as_str())).collect::<Vec<_>>());
        assert_eq!(q.next_batch().len(), MAX_BATCH);
        let rest = q.next_batch();
        assert_eq!(
            keys(&rest),
            names[MAX_BATCH..]
                .iter()
                .map(|n| Some(n.as_str()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn each_grant_of_a_batch_is_guarded_by_its_own_spending_and_answers_with_its_place() {
        let (a, b, c) = (grant(Some("x")), grant(None), grant(Some("y")));
        let pg = Rendered::new(true, &[&a, &b, &c]);
        assert_eq!(
            pg.sql(),
            "WITH s0 AS (UPDATE t SET used = 1 WHERE k = $1 RETURNING 1), \
             g0i0 AS (INSERT INTO a (jti, n) SELECT $2, $3 WHERE EXISTS (SELECT 1 FROM s0) RETURNING 1), \
             g1i0 AS (INSERT INTO a (jti, n) SELECT $4, $5 RETURNING 1), \
             s2 AS (UPDATE t SET used = 1 WHERE k = $6 RETURNING 1), \
             g2i0 AS (INSERT INTO a (jti, n) SELECT $7, $8 WHERE EXISTS (SELECT 1 FROM s2) RETURNING 1) \
             SELECT CAST(0 AS BIGINT) FROM g0i0 UNION ALL SELECT CAST(1 AS BIGINT) FROM g1i0 \
             UNION ALL SELECT CAST(2 AS BIGINT) FROM g2i0"
        );
        assert_eq!(pg.params.len(), 8);
        let sqlite = Rendered::new(false, &[&a, &b, &c]);
        assert_eq!(
            sqlite.sql(),
            "BEGIN IMMEDIATE; UPDATE t SET used = 1 WHERE k = $1; \
             INSERT INTO a (jti, n) SELECT $2, $3 WHERE changes() = 1 RETURNING 0; \
             INSERT INTO a (jti, n) SELECT $4, $5 RETURNING 1; \
             UPDATE t SET used = 1 WHERE k = $6; \
             INSERT INTO a (jti, n) SELECT $7, $8 WHERE changes() = 1 RETURNING 2; COMMIT"
        );
        assert_eq!(
            Rendered::new(false, &[&b]).sql(),
            "INSERT INTO a (jti, n) SELECT $1, $2 RETURNING 0",
            "a lone insert needs no transaction of its own"
        );
    }
}
