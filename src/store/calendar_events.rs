//! Bheem Calendar's record of the events with attendees or a Meet room made or changed through
//! the API: whom they invite, the SEQUENCE last sent, the room, and the title and times the
//! room has. The event itself lives in the organizer's Nextcloud calendar; this is what a change
//! or a deletion needs to know what else to change. Each write stores the record and, in the
//! same transaction, the jobs it calls for (the invitations, a meeting to retry). Every query
//! takes the company and the organizer: another's event of the same UID is another row.

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::outbox::{enqueue, Job};
use super::Db;
use crate::clock::UnixTime;

/// An event as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub company_id: String,
    pub organizer_user_id: String,
    pub uid: String,
    pub calendar: String,
    pub resource: String,
    pub title: String,
    pub starts_at: UnixTime,
    pub duration_minutes: i64,
    pub room_id: Option<String>,
    pub sequence: i64,
    /// Addresses in lower case, sorted.
    pub attendees: Vec<String>,
    pub deleted_at: Option<UnixTime>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

const COLUMNS: &str = "company_id, organizer_user_id, uid, calendar, resource, title, \
                       starts_at, duration_minutes, room_id, sequence, deleted_at, created_at, \
                       updated_at";

fn record_from(row: &AnyRow) -> anyhow::Result<EventRecord> {
    Ok(EventRecord {
        company_id: row.try_get("company_id")?,
        organizer_user_id: row.try_get("organizer_user_id")?,
        uid: row.try_get("uid")?,
        calendar: row.try_get("calendar")?,
        resource: row.try_get("resource")?,
        title: row.try_get("title")?,
        starts_at: row.try_get("starts_at")?,
        duration_minutes: row.try_get("duration_minutes")?,
        room_id: row.try_get("room_id")?,
        sequence: row.try_get("sequence")?,
        attendees: Vec::new(),
        deleted_at: row.try_get("deleted_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Db {
    /// The record of `organizer`'s event `uid` in `company_id`, with its attendees, deleted or
    /// not.
    pub async fn calendar_event(
        &self,
        company_id: &str,
        organizer: &str,
        uid: &str,
    ) -> anyhow::Result<Option<EventRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM calendar_events \
             WHERE company_id = $1 AND organizer_user_id = $2 AND uid = $3"
        ))
        .bind(company_id.to_owned())
        .bind(organizer.to_owned())
        .bind(uid.to_owned())
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("loading calendar event {uid}"))?;
        let Some(mut record) = row.as_ref().map(record_from).transpose()? else {
            return Ok(None);
        };
        record.attendees = sqlx::query_scalar(
            "SELECT email FROM calendar_event_attendees \
             WHERE company_id = $1 AND organizer_user_id = $2 AND uid = $3 ORDER BY email",
        )
        .bind(company_id.to_owned())
        .bind(organizer.to_owned())
        .bind(uid.to_owned())
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("loading the attendees of calendar event {uid}"))?;
        Ok(Some(record))
    }

    /// Whether an event not deleted has room `room_id` as its meeting (room ids are unique
    /// across companies, as LiveKit's room names are).
    pub async fn calendar_event_has_room(&self, room_id: &str) -> anyhow::Result<bool> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM calendar_events WHERE room_id = $1 AND deleted_at IS NULL",
        )
        .bind(room_id.to_owned())
        .fetch_one(self.pool())
        .await
        .with_context(|| format!("looking for the calendar event of room {room_id}"))?;
        Ok(count > 0)
    }

    /// Stores `record` as it now is (made or replaced, its attendees with it) and `jobs`, in one
    /// transaction.
    pub async fn save_calendar_event(
        &self,
        record: &EventRecord,
        jobs: &[Job],
    ) -> anyhow::Result<()> {
        let mut tx = self
            .pool()
            .begin()
            .await
            .context("beginning a calendar event")?;
        delete_rows(&mut tx, record).await?;
        sqlx::query(&format!(
            "INSERT INTO calendar_events ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(record.company_id.clone())
        .bind(record.organizer_user_id.clone())
        .bind(record.uid.clone())
        .bind(record.calendar.clone())
        .bind(record.resource.clone())
        .bind(record.title.clone())
        .bind(record.starts_at)
        .bind(record.duration_minutes)
        .bind(record.room_id.clone())
        .bind(record.sequence)
        .bind(record.deleted_at)
        .bind(record.created_at)
        .bind(record.updated_at)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing calendar event {}", record.uid))?;
        for email in &record.attendees {
            sqlx::query(
                "INSERT INTO calendar_event_attendees (company_id, organizer_user_id, uid, email) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(record.company_id.clone())
            .bind(record.organizer_user_id.clone())
            .bind(record.uid.clone())
            .bind(email.clone())
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing an attendee of calendar event {}", record.uid))?;
        }
        for job in jobs {
            enqueue(&mut tx, job, record.updated_at).await?;
        }
        tx.commit().await.context("committing a calendar event")
    }
}

async fn delete_rows(tx: &mut Transaction<'_, Any>, record: &EventRecord) -> anyhow::Result<()> {
    for table in ["calendar_event_attendees", "calendar_events"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE company_id = $1 AND organizer_user_id = $2 AND uid = $3"
        ))
        .bind(record.company_id.clone())
        .bind(record.organizer_user_id.clone())
        .bind(record.uid.clone())
        .execute(&mut **tx)
        .await
        .with_context(|| format!("replacing calendar event {}", record.uid))?;
    }
    Ok(())
}
