//! The writer task: takes queued events and inserts them in batches.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout_at, Instant};

use super::{Message, FLUSH_WITHIN};
use crate::store::audit_events::AuditRecord;
use crate::store::Db;

/// Rows in one INSERT at most (one JSON parameter, a few hundred KiB at most).
const MAX_BATCH: usize = 500;
/// A batch the database refused is tried this often before it is given up (its events are in
/// the log all the same).
const WRITE_ATTEMPTS: u32 = 3;
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Runs until every sender is gone and the queue is empty.
pub(super) async fn run(mut queue: mpsc::Receiver<Message>, db: Db) {
    let mut batch: Vec<AuditRecord> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = queue.recv().await {
        let deadline = Instant::now() + FLUSH_WITHIN;
        take(first, &mut batch, &mut waiting);
        // Gather until the deadline, a full batch, or someone waiting for a flush.
        while waiting.is_empty() && batch.len() < MAX_BATCH {
            match timeout_at(deadline, queue.recv()).await {
                Ok(Some(message)) => take(message, &mut batch, &mut waiting),
                Ok(None) | Err(_) => break,
            }
        }
        write(&db, &batch).await;
        batch.clear();
        for flushed in waiting.drain(..) {
            let _ = flushed.send(());
        }
    }
}

fn take(message: Message, batch: &mut Vec<AuditRecord>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match message {
        Message::Event(record) => batch.push(record),
        Message::Flush(done) => waiting.push(done),
    }
}

async fn write(db: &Db, batch: &[AuditRecord]) {
    if batch.is_empty() {
        return;
    }
    let mut attempt = 1;
    loop {
        match db.insert_audit_events(batch).await {
            Ok(()) => return,
            Err(e) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    attempt,
                    "storing audit events failed; trying again"
                );
                attempt += 1;
                tokio::time::sleep(RETRY_AFTER).await;
            }
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    events = batch.len(),
                    "storing audit events failed; they are in the log only"
                );
                return;
            }
        }
    }
}
