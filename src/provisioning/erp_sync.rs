//! The ERP's copy of the workspace's objects (`[erp_sync]`): Meet's rooms into
//! `project_management.pm_meeting_rooms`, their finished recordings into `pm_room_bookings`,
//! documents uploaded through Bheem Docs into `dms.documents` (in `docs`). Each copy is an
//! outbox job, so the ERP being down never fails a room or an upload: the job waits and is
//! retried, and `provisioning status` shows it.
//!
//! A room is one row, keyed by a UUID made from its id (RFC 9562 §5.5, name-based), so a
//! repeated or retried job updates that row instead of adding one.

mod docs;

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::ConnectOptions;
use uuid::Uuid;

use super::{Outcome, Provisioning};
use crate::config::ErpSyncConfig;
use crate::store::meet_rooms::Room;
use crate::store::outbox::{MeetRecordingSync, MeetRoomSync};

pub use docs::{document_lock_key, erp_document_id, storage_path, sync_document, title_of};

/// The namespace of the ERP ids of Meet's rooms: `Uuid::new_v5(ROOMS, room_id)`.
const ROOMS: Uuid = Uuid::from_u128(0x6b2f_5c1e_8d4a_4f0b_9c3e_7a1d_2e5f_8b40);

/// The ERP's id of the room `room_id`.
pub fn erp_room_id(room_id: &str) -> Uuid {
    Uuid::new_v5(&ROOMS, room_id.as_bytes())
}

/// The ERP database and the statements that write to it.
#[derive(Clone, Debug)]
pub struct ErpSync {
    pool: PgPool,
    upsert_room: String,
    update_booking: String,
    insert_booking: String,
    documents: docs::DocumentSql,
}

impl ErpSync {
    /// Connections are made when a job runs: an ERP that is down at start-up delays the copies,
    /// nothing else.
    pub fn connect(config: &ErpSyncConfig, timeout: Duration) -> anyhow::Result<Self> {
        let options: PgConnectOptions = config
            .url
            .expose()
            .parse()
            .with_context(|| format!("parsing erp_sync.url {}", config.url.redacted()))?;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(timeout)
            .connect_lazy_with(options.disable_statement_logging());
        let (update_booking, insert_booking) = booking_sql(config);
        Ok(Self {
            pool,
            upsert_room: upsert_room_sql(config),
            update_booking,
            insert_booking,
            documents: docs::DocumentSql::new(config),
        })
    }

    /// The recording's row, found by its object key: updated when there, else inserted, in
    /// one transaction (a job runs once at a time, so no two of them race for the insert).
    async fn upsert_booking(&self, booking: &Booking<'_>) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(&self.update_booking)
            .bind(booking.room_id.to_string())
            .bind(booking.url)
            .bind(booking.key)
            .bind(booking.duration_seconds)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            sqlx::query(&self.insert_booking)
                .bind(booking.room_id.to_string())
                .bind(booking.url)
                .bind(booking.key)
                .bind(booking.duration_seconds)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    async fn upsert_room(&self, room: &Room) -> Result<(), sqlx::Error> {
        let end = room
            .scheduled_time
            .zip(room.duration_minutes)
            .map(|(start, minutes)| start + minutes * 60);
        sqlx::query(&self.upsert_room)
            .bind(erp_room_id(&room.id).to_string())
            .bind(&room.name)
            .bind(&room.id)
            .bind(&room.host_user_id)
            .bind(&room.company_id)
            .bind(room.scheduled_time)
            .bind(end)
            .bind(room.status.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// `INSERT … ON CONFLICT (id) DO UPDATE` with the configured names. The ids are given as text
/// and cast, so the ERP's columns may be `uuid` or text; times as Unix seconds, so they may be
/// `timestamptz` or `timestamp`.
fn upsert_room_sql(config: &ErpSyncConfig) -> String {
    // Identifiers were checked to be plain at config time; quoting keeps their case.
    let q = |name: &str| format!("\"{name}\"");
    let c = &config.meeting_room_columns;
    let table = format!(
        "{}.{}",
        q(&config.meeting_rooms.schema),
        q(&config.meeting_rooms.table)
    );
    let updated = [
        &c.name,
        &c.room_code,
        &c.created_by,
        &c.company_id,
        &c.scheduled_start,
        &c.scheduled_end,
        &c.status,
    ]
    .map(|column| format!("{0} = EXCLUDED.{0}", q(column)))
    .join(", ");
    format!(
        "INSERT INTO {table} ({id}, {name}, {code}, {by}, {company}, {start}, {end}, {status}) \
         VALUES ($1::uuid, $2, $3, $4::uuid, $5::uuid, to_timestamp($6::bigint), \
         to_timestamp($7::bigint), $8) \
         ON CONFLICT ({id}) DO UPDATE SET {updated}",
        id = q(&c.id),
        name = q(&c.name),
        code = q(&c.room_code),
        by = q(&c.created_by),
        company = q(&c.company_id),
        start = q(&c.scheduled_start),
        end = q(&c.scheduled_end),
        status = q(&c.status),
    )
}

/// A recording's row in the ERP.
struct Booking<'a> {
    room_id: Uuid,
    url: &'a str,
    key: &'a str,
    duration_seconds: Option<i64>,
}

/// The UPDATE and the INSERT of a recording's row, with the configured names; both take
/// `$1` the room's ERP id, `$2` the URL, `$3` the key, `$4` the duration.
fn booking_sql(config: &ErpSyncConfig) -> (String, String) {
    let q = |name: &str| format!("\"{name}\"");
    let c = &config.room_booking_columns;
    let table = format!(
        "{}.{}",
        q(&config.room_bookings.schema),
        q(&config.room_bookings.table)
    );
    let update = format!(
        "UPDATE {table} SET {room} = $1::uuid, {url} = $2, {duration} = $4 WHERE {key} = $3",
        room = q(&c.room_id),
        url = q(&c.recording_url),
        key = q(&c.s3_path),
        duration = q(&c.duration_seconds),
    );
    let insert = format!(
        "INSERT INTO {table} ({room}, {url}, {key}, {duration}) VALUES ($1::uuid, $2, $3, $4)",
        room = q(&c.room_id),
        url = q(&c.recording_url),
        key = q(&c.s3_path),
        duration = q(&c.duration_seconds),
    );
    (update, insert)
}

/// Copies a finished recording: its room's ERP id, where the file is, how long it runs.
pub async fn sync_recording(provisioning: &Provisioning, sync: &MeetRecordingSync) -> Outcome {
    let Some(erp) = &provisioning.erp else {
        return Outcome::Fail("[erp_sync] is not configured (any more)".into());
    };
    let Some(bucket) = provisioning
        .config
        .meet
        .as_ref()
        .and_then(|meet| meet.recordings.as_ref())
    else {
        return Outcome::Fail("[meet.recordings] is not configured (any more)".into());
    };
    let recording = match provisioning
        .db
        .meet_recording_for_sync(&sync.recording_id)
        .await
    {
        Ok(Some(recording)) => recording,
        Ok(None) => return Outcome::Fail(format!("recording {} is gone", sync.recording_id)),
        Err(e) => return Outcome::Retry(format!("{e:#}")),
    };
    // The object's address, path-style as Egress wrote it; not a presigned link, which would
    // stop working: whoever reads the ERP signs their own.
    let url = format!(
        "{}/{}/{}",
        bucket.s3_endpoint.trim_end_matches('/'),
        bucket.s3_bucket,
        recording.s3_key
    );
    let booking = Booking {
        room_id: erp_room_id(&recording.room_id),
        url: &url,
        key: &recording.s3_key,
        duration_seconds: recording.duration_seconds,
    };
    match erp.upsert_booking(&booking).await {
        Ok(()) => Outcome::Done,
        Err(e) => outcome_of(&e, &booking_table(provisioning)),
    }
}

fn booking_table(provisioning: &Provisioning) -> String {
    provisioning
        .config
        .erp_sync
        .as_ref()
        .map(|c| c.room_bookings.to_string())
        .unwrap_or_default()
}

/// Copies the room as it is now, unless it has changed since the job was queued: then the
/// newer change's job copies it, and this one is done.
pub async fn sync_room(provisioning: &Provisioning, sync: &MeetRoomSync) -> Outcome {
    let Some(erp) = &provisioning.erp else {
        return Outcome::Fail("[erp_sync] is not configured (any more)".into());
    };
    let room = match provisioning.db.meet_room_for_sync(&sync.room_id).await {
        Ok(Some(room)) => room,
        Ok(None) => return Outcome::Fail(format!("meet room {} is gone", sync.room_id)),
        Err(e) => return Outcome::Retry(format!("{e:#}")),
    };
    if room.version > sync.version {
        tracing::debug!(
            room = %room.id,
            version = sync.version,
            now = room.version,
            "ERP copy of an older version of the room skipped: a newer job copies it"
        );
        return Outcome::Done;
    }
    match erp.upsert_room(&room).await {
        Ok(()) => Outcome::Done,
        Err(e) => outcome_of(&e, &config_names(provisioning)),
    }
}

/// The table the copies go to, for error messages.
fn config_names(provisioning: &Provisioning) -> String {
    provisioning
        .config
        .erp_sync
        .as_ref()
        .map(|c| c.meeting_rooms.to_string())
        .unwrap_or_default()
}

/// A failed write: a value the ERP refuses (not a UUID where it wants one, say) will not go in
/// on a retry; anything else (the ERP down, a missing grant or table the operator can fix) may.
fn outcome_of(e: &sqlx::Error, table: &str) -> Outcome {
    let message = format!("writing to the ERP's {table}: {e}");
    match e {
        // Class 22: data exception; 23: integrity constraint violation.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c.starts_with("22") || c.starts_with("23")) =>
        {
            Outcome::Fail(message)
        }
        _ => Outcome::Retry(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_has_one_erp_id_and_rooms_have_different_ones() {
        let a = erp_room_id("bhm-abcde-fghij-klmno");
        assert_eq!(a, erp_room_id("bhm-abcde-fghij-klmno"));
        assert_ne!(a, erp_room_id("bhm-abcde-fghij-klmnp"));
        assert_eq!(a.get_version_num(), 5);
    }
}
