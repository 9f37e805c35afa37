//! The audit trail: every security event in an append-only table (`store::audit_events`) and,
//! the same event, as a line of the log (target `audit`). `docs/operating/audit.md` lists the
//! events and what each says.
//!
//! Recording never waits for the database: [`Audit::record`] writes the log line and puts the
//! event in a bounded queue; a writer task inserts what is queued in batches, one statement per
//! batch, within [`FLUSH_WITHIN`] of the first event. When the queue is full the event is not
//! stored (its log line was written all the same), a counter says how many, and a warning says
//! so: a request is never held up by the trail.

mod event;
mod writer;

pub use event::{Event, Kind, ANONYMOUS, SYSTEM};

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::clock::{Clock, UnixTime};
use crate::domain::normalize_login;
use crate::origin;
use crate::store::audit_events::AuditRecord;
use crate::store::Db;

/// Events waiting for the writer at most; beyond that they are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 8192;
/// An event is in the database at most this long after it was recorded (database willing).
pub const FLUSH_WITHIN: Duration = Duration::from_millis(250);
/// Rows removed by one pruning statement.
const PRUNE_BATCH: i64 = 1000;

/// What the service and its writer exchange. Nearly every message is an event: boxing it to
/// shrink the rare flush would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
enum Message {
    Event(AuditRecord),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// Records audit events; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    inner: Arc<Inner>,
}

struct Inner {
    queue: mpsc::Sender<Message>,
    db: Db,
    clock: Clock,
    retention_days: u64,
    dropped: AtomicU64,
    /// When the last "queue full" warning was written, so a flood gives one a second.
    warned_at: AtomicI64,
}

impl Audit {
    /// The service, and its writer task started on the current runtime. The writer ends when
    /// the last clone of the service is dropped, after writing what was queued.
    pub fn start(db: Db, clock: Clock, retention_days: u64) -> Self {
        Self::with_capacity(db, clock, retention_days, QUEUE_CAPACITY)
    }

    fn with_capacity(db: Db, clock: Clock, retention_days: u64, capacity: usize) -> Self {
        let (queue, receiver) = mpsc::channel(capacity);
        tokio::spawn(writer::run(receiver, db.clone()));
        Self {
            inner: Arc::new(Inner {
                queue,
                db,
                clock,
                retention_days,
                dropped: AtomicU64::new(0),
                warned_at: AtomicI64::new(i64::MIN),
            }),
        }
    }

    /// Records `event`: the time and, inside a request, where it came from are added; the log
    /// line is written now and the row soon after. Never waits.
    pub fn record(&self, event: Event) {
        let record = self.complete(event);
        log(&record);
        match self.inner.queue.try_send(Message::Event(record)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.dropped(),
            // The writer is gone only when the runtime is going down: nothing left to tell.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Waits until every event recorded before the call is written (or given up on).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.inner.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// Events not stored because the queue was full, since the start.
    pub fn dropped_events(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Removes the events older than `[audit] retention_days` (none when it is 0), a batch at a
    /// time; returns how many.
    pub async fn prune(&self) -> anyhow::Result<u64> {
        let Some(before) = retention_start(self.inner.clock.now(), self.inner.retention_days)
        else {
            return Ok(0);
        };
        let mut removed = 0;
        loop {
            let batch = self
                .inner
                .db
                .prune_audit_events(before, PRUNE_BATCH)
                .await?;
            removed += batch;
            if batch < PRUNE_BATCH as u64 {
                return Ok(removed);
            }
        }
    }

    fn complete(&self, event: Event) -> AuditRecord {
        let origin = origin::current();
        let client_addr = event
            .client_addr
            .or(origin.as_ref().map(|o| o.client_addr))
            .map(|a| a.to_string());
        AuditRecord {
            at: self.inner.clock.now(),
            kind: event.kind.as_str().to_owned(),
            actor: event.actor,
            user_id: event.user_id,
            company_id: event.company_id,
            client_id: event.client_id,
            client_addr,
            user_agent: origin
                .as_ref()
                .and_then(|o| o.user_agent.as_deref().map(str::to_owned)),
            request_id: origin.map(|o| o.request_id.to_string()),
            detail: serde_json::Value::Object(event.detail).to_string(),
        }
    }

    fn dropped(&self) {
        let inner = &self.inner;
        let total = inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let now = inner.clock.now();
        let last = inner.warned_at.load(Ordering::Relaxed);
        if now != last
            && inner
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                dropped_total = total,
                "audit queue full: events are in the log but not stored"
            );
        }
    }
}

/// The first moment kept for `retention_days`; `None` keeps everything.
fn retention_start(now: UnixTime, retention_days: u64) -> Option<UnixTime> {
    (retention_days > 0).then(|| now.saturating_sub((retention_days as i64).saturating_mul(86_400)))
}

/// The event as a line of the log, with the fields the row has.
fn log(r: &AuditRecord) {
    tracing::info!(
        target: "audit",
        kind = %r.kind,
        actor = %r.actor,
        user_id = r.user_id.as_deref(),
        company_id = r.company_id.as_deref(),
        client_id = r.client_id.as_deref(),
        client_addr = r.client_addr.as_deref(),
        user_agent = r.user_agent.as_deref(),
        request_id = r.request_id.as_deref(),
        detail = %r.detail,
        "audit event"
    );
}

/// A login name that names nobody, as the trail keeps it: the first 16 hex digits of the
/// SHA-256 of its folded form. Attempts at one name can be told apart and counted without the
/// name itself (often a mistyped password or someone's address) being stored.
pub fn login_digest(login: &str) -> String {
    let digest = Sha256::digest(normalize_login(login.trim()).as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_keeps_whole_days_and_zero_keeps_everything() {
        assert_eq!(retention_start(10 * 86_400, 3), Some(7 * 86_400));
        assert_eq!(retention_start(10 * 86_400, 0), None);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_events_instead_of_waiting() {
        let url = crate::config::DatabaseUrl::parse("sqlite::memory:").unwrap();
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let audit = Audit::with_capacity(db.clone(), Clock::manual(1_000), 0, 4);
        // The writer does not run until this task yields: the queue fills and then overflows.
        for n in 0..10 {
            audit.record(Event::new(Kind::AdminCommand, SYSTEM).detail("n", n));
        }
        assert_eq!(audit.dropped_events(), 6);
        audit.flush().await;
        let filter = crate::store::audit_events::AuditFilter {
            limit: 100,
            ..Default::default()
        };
        let stored = db.audit_events(&filter).await.unwrap();
        let kept: Vec<&str> = stored.iter().map(|r| r.record.detail.as_str()).collect();
        assert_eq!(
            kept,
            [r#"{"n":3}"#, r#"{"n":2}"#, r#"{"n":1}"#, r#"{"n":0}"#]
        );
    }

    /// The log line is the row's twin: every field, under the `audit` target, as JSON.
    #[test]
    fn each_event_is_a_json_log_line_with_the_rows_fields() {
        use std::io::Write;
        use std::sync::Mutex;

        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let record = AuditRecord {
            at: 1_000,
            kind: "login_failed".into(),
            actor: ANONYMOUS.into(),
            user_id: Some("u-1".into()),
            company_id: None,
            client_id: Some("rp".into()),
            client_addr: Some("192.0.2.7".into()),
            user_agent: None,
            request_id: Some("r-1".into()),
            detail: r#"{"reason":"wrong_password"}"#.into(),
        };
        tracing::subscriber::with_default(subscriber, || log(&record));
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["target"], "audit");
        assert_eq!(line["level"], "INFO");
        let fields = &line["fields"];
        assert_eq!(fields["kind"], "login_failed");
        assert_eq!(fields["actor"], "anonymous");
        assert_eq!(fields["user_id"], "u-1");
        assert_eq!(fields["client_id"], "rp");
        assert_eq!(fields["client_addr"], "192.0.2.7");
        assert_eq!(fields["request_id"], "r-1");
        assert_eq!(fields["detail"], r#"{"reason":"wrong_password"}"#);
        assert!(
            fields.get("company_id").is_none(),
            "absent fields are left out"
        );
    }

    #[test]
    fn a_login_is_kept_as_a_digest_of_its_folded_form() {
        let digest = login_digest(" Alice@Example.COM ");
        assert_eq!(digest, login_digest("alice@example.com"));
        assert_eq!(digest.len(), 16);
        assert!(!digest.contains("alice"));
        assert_ne!(digest, login_digest("bob@example.com"));
    }
}
