//! Bheem Meet's rooms and whom each invites. Every read and write of a room takes its company:
//! a room of another company is not found, exactly as a missing one is. The one exception is
//! [`Db::meet_room_status_from_livekit`], which LiveKit's signed webhooks drive by room id alone
//! (LiveKit knows no companies; the id is unguessable and unique across them).

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::outbox::{enqueue, Job};
use super::Db;
use crate::clock::UnixTime;

/// Where a room is in its life. Rooms only move forward: scheduled, active, completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomStatus {
    Scheduled,
    Active,
    Completed,
}

impl RoomStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Completed => "completed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "scheduled" => Some(Self::Scheduled),
            "active" => Some(Self::Active),
            "completed" => Some(Self::Completed),
            _ => None,
        }
    }
}

/// A room as stored, with its invited addresses (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: String,
    pub company_id: String,
    pub name: String,
    pub host_user_id: String,
    pub status: RoomStatus,
    pub scheduled_time: Option<UnixTime>,
    pub duration_minutes: Option<i64>,
    pub participants: Vec<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
    pub version: i64,
}

/// Who is listing rooms: a company admin sees all of the company's, anyone else the rooms they
/// host or are invited to.
#[derive(Debug, Clone)]
pub enum Viewer {
    Admin,
    Member { user_id: String, email: String },
}

/// Which rooms to list, newest first.
#[derive(Debug, Clone)]
pub struct RoomFilter {
    pub company_id: String,
    pub viewer: Viewer,
    pub status: Option<RoomStatus>,
    /// Only rooms listed after this one (its `created_at` and id): the page cursor.
    pub after: Option<(UnixTime, String)>,
    pub limit: i64,
}

/// What a host changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RoomChange {
    pub name: Option<String>,
    pub scheduled_time: Option<Option<UnixTime>>,
    pub duration_minutes: Option<Option<i64>>,
    pub participants: Option<Vec<String>>,
}

/// What a change of status from LiveKit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    /// The room moved to the new status.
    Changed(Room),
    /// The room was there already, or past it (a late `room_started` for a completed room).
    Unchanged,
    /// No room has that id: not one of ours.
    NoSuchRoom,
}

const COLUMNS: &str = "id, company_id, name, host_user_id, status, scheduled_time, \
                       duration_minutes, created_at, updated_at, version";

fn room_from(row: &AnyRow) -> anyhow::Result<Room> {
    let status: String = row.try_get("status")?;
    Ok(Room {
        id: row.try_get("id")?,
        company_id: row.try_get("company_id")?,
        name: row.try_get("name")?,
        host_user_id: row.try_get("host_user_id")?,
        status: RoomStatus::parse(&status)
            .with_context(|| format!("a meet room with the unknown status {status:?}"))?,
        scheduled_time: row.try_get("scheduled_time")?,
        duration_minutes: row.try_get("duration_minutes")?,
        participants: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("version")?,
    })
}

impl Db {
    /// Stores a new room with its invitations and, in the same transaction, the jobs its
    /// `jobs(version)` calls for (the ERP sync).
    pub async fn create_meet_room(
        &self,
        room: &Room,
        jobs: impl Fn(&Room) -> Vec<Job>,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool().begin().await.context("beginning a room")?;
        sqlx::query(&format!(
            "INSERT INTO meet_rooms ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(room.id.clone())
        .bind(room.company_id.clone())
        .bind(room.name.clone())
        .bind(room.host_user_id.clone())
        .bind(room.status.as_str())
        .bind(room.scheduled_time)
        .bind(room.duration_minutes)
        .bind(room.created_at)
        .bind(room.updated_at)
        .bind(room.version)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing meet room {}", room.id))?;
        insert_participants(&mut tx, &room.id, &room.participants).await?;
        for job in jobs(room) {
            enqueue(&mut tx, &job, room.created_at).await?;
        }
        tx.commit().await.context("committing a room")
    }

    /// The room `id` of `company_id`, with its invitations.
    pub async fn meet_room(&self, company_id: &str, id: &str) -> anyhow::Result<Option<Room>> {
        let Some(mut room) = self.meet_room_alone(company_id, id).await? else {
            return Ok(None);
        };
        room.participants = self
            .participants(std::slice::from_ref(&room.id))
            .await?
            .remove(0);
        Ok(Some(room))
    }

    /// The room `id` of `company_id` without its invitations (`participants` left empty): one
    /// round trip, for what checks who may act on a room (join it, end it, record it).
    pub async fn meet_room_alone(
        &self,
        company_id: &str,
        id: &str,
    ) -> anyhow::Result<Option<Room>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meet_rooms WHERE id = $1 AND company_id = $2"
        ))
        .bind(id.to_owned())
        .bind(company_id.to_owned())
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("loading meet room {id}"))?;
        row.as_ref().map(room_from).transpose()
    }

    /// The rooms `filter` selects, newest first, each with its invitations.
    pub async fn meet_rooms(&self, filter: &RoomFilter) -> anyhow::Result<Vec<Room>> {
        let mut sql = format!("SELECT {COLUMNS} FROM meet_rooms r WHERE company_id = $1");
        let mut next = 2;
        let mut placeholder = || {
            next += 1;
            format!("${}", next - 1)
        };
        if let Viewer::Member { .. } = filter.viewer {
            let (user, email) = (placeholder(), placeholder());
            sql.push_str(&format!(
                " AND (host_user_id = {user} OR EXISTS (SELECT 1 FROM meet_participants p \
                 WHERE p.room_id = r.id AND p.email = {email}))"
            ));
        }
        if filter.status.is_some() {
            sql.push_str(&format!(" AND status = {}", placeholder()));
        }
        if filter.after.is_some() {
            let (at, id) = (placeholder(), placeholder());
            sql.push_str(&format!(
                " AND (created_at < {at} OR (created_at = {at} AND id < {id}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT {}",
            placeholder()
        ));
        let mut query = sqlx::query(&sql).bind(filter.company_id.clone());
        if let Viewer::Member { user_id, email } = &filter.viewer {
            query = query.bind(user_id.clone()).bind(email.clone());
        }
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        if let Some((at, id)) = &filter.after {
            query = query.bind(*at).bind(id.clone());
        }
        let rows = query
            .bind(filter.limit)
            .fetch_all(self.pool())
            .await
            .context("listing meet rooms")?;
        let mut rooms = rows
            .iter()
            .map(room_from)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ids: Vec<String> = rooms.iter().map(|r| r.id.clone()).collect();
        for (room, participants) in rooms.iter_mut().zip(self.participants(&ids).await?) {
            room.participants = participants;
        }
        Ok(rooms)
    }

    /// Applies a host's `change` to room `id` of `company_id` unless it is completed, with the
    /// jobs the changed room calls for. `Ok(None)`: no such room in that company.
    pub async fn change_meet_room(
        &self,
        company_id: &str,
        id: &str,
        change: &RoomChange,
        now: UnixTime,
        jobs: impl Fn(&Room) -> Vec<Job>,
    ) -> anyhow::Result<Option<Room>> {
        let mut tx = self
            .pool()
            .begin()
            .await
            .context("beginning a room change")?;
        let mut sets = vec![
            "updated_at = $3".to_owned(),
            "version = version + 1".to_owned(),
        ];
        let mut next = 4;
        for (column, present) in [
            ("name", change.name.is_some()),
            ("scheduled_time", change.scheduled_time.is_some()),
            ("duration_minutes", change.duration_minutes.is_some()),
        ] {
            if present {
                sets.push(format!("{column} = ${next}"));
                next += 1;
            }
        }
        let sql = format!(
            "UPDATE meet_rooms SET {} WHERE id = $1 AND company_id = $2",
            sets.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(id.to_owned())
            .bind(company_id.to_owned())
            .bind(now);
        if let Some(name) = &change.name {
            query = query.bind(name.clone());
        }
        if let Some(time) = change.scheduled_time {
            query = query.bind(time);
        }
        if let Some(duration) = change.duration_minutes {
            query = query.bind(duration);
        }
        let updated = query
            .execute(&mut *tx)
            .await
            .with_context(|| format!("changing meet room {id}"))?
            .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        if let Some(participants) = &change.participants {
            sqlx::query("DELETE FROM meet_participants WHERE room_id = $1")
                .bind(id.to_owned())
                .execute(&mut *tx)
                .await
                .with_context(|| format!("replacing the invitations of meet room {id}"))?;
            insert_participants(&mut tx, id, participants).await?;
        }
        let room = room_in(&mut tx, id).await?;
        for job in jobs(&room) {
            enqueue(&mut tx, &job, now).await?;
        }
        tx.commit().await.context("committing a room change")?;
        Ok(Some(room))
    }

    /// Moves room `id` of `company_id` to `status` (a host ending it), with the jobs the changed
    /// room calls for. [`StatusChange::NoSuchRoom`]: no such room in that company.
    pub async fn set_meet_room_status(
        &self,
        company_id: &str,
        id: &str,
        status: RoomStatus,
        now: UnixTime,
        jobs: impl Fn(&Room) -> Vec<Job>,
    ) -> anyhow::Result<StatusChange> {
        self.move_meet_room(Some(company_id), id, status, now, jobs)
            .await
    }

    /// Moves room `id` to `status` as LiveKit reports it (a signed webhook), forward only (but
    /// for a calendar event's room, ready again once a meeting in it finished).
    pub async fn meet_room_status_from_livekit(
        &self,
        id: &str,
        status: RoomStatus,
        now: UnixTime,
        jobs: impl Fn(&Room) -> Vec<Job>,
    ) -> anyhow::Result<StatusChange> {
        self.move_meet_room(None, id, status, now, jobs).await
    }

    /// Room `id` (of `company_id`, when given) to `status` if that is forward from where it is.
    async fn move_meet_room(
        &self,
        company_id: Option<&str>,
        id: &str,
        status: RoomStatus,
        now: UnixTime,
        jobs: impl Fn(&Room) -> Vec<Job>,
    ) -> anyhow::Result<StatusChange> {
        // The statuses a room may move to `status` from.
        let from: &[&str] = match status {
            // Only a calendar event's room, when a meeting in it finished (`take_webhook`).
            RoomStatus::Scheduled => &["active"],
            RoomStatus::Active => &["scheduled"],
            RoomStatus::Completed => &["scheduled", "active"],
        };
        let mut tx = self
            .pool()
            .begin()
            .await
            .context("beginning a room status")?;
        let mut moved = 0;
        // `$1` the room, `$2` its company when given (else the room's id again, matching).
        let (scope, second) = match company_id {
            Some(company) => ("id = $1 AND company_id = $2", company.to_owned()),
            None => ("id = $1 AND id = $2", id.to_owned()),
        };
        if !from.is_empty() {
            let placeholders: Vec<String> =
                (0..from.len()).map(|i| format!("${}", i + 5)).collect();
            let sql = format!(
                "UPDATE meet_rooms SET status = $3, updated_at = $4, version = version + 1 \
                 WHERE {scope} AND status IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql)
                .bind(id.to_owned())
                .bind(second.clone())
                .bind(status.as_str())
                .bind(now);
            for status in from {
                query = query.bind(*status);
            }
            moved = query
                .execute(&mut *tx)
                .await
                .with_context(|| format!("moving meet room {id} to {}", status.as_str()))?
                .rows_affected();
        }
        if moved == 0 {
            let sql = format!("SELECT id FROM meet_rooms WHERE {scope}");
            let exists: Option<String> = sqlx::query_scalar(&sql)
                .bind(id.to_owned())
                .bind(second)
                .fetch_optional(&mut *tx)
                .await
                .with_context(|| format!("loading meet room {id}"))?;
            return Ok(match exists {
                Some(_) => StatusChange::Unchanged,
                None => StatusChange::NoSuchRoom,
            });
        }
        let room = room_in(&mut tx, id).await?;
        for job in jobs(&room) {
            enqueue(&mut tx, &job, now).await?;
        }
        tx.commit().await.context("committing a room status")?;
        Ok(StatusChange::Changed(room))
    }

    /// The room `id` whatever its company, for the ERP sync job (which acts for no caller).
    pub async fn meet_room_for_sync(&self, id: &str) -> anyhow::Result<Option<Room>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM meet_rooms WHERE id = $1"))
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("loading meet room {id}"))?;
        row.as_ref().map(room_from).transpose()
    }

    /// The invitations of each room of `ids`, in that order.
    async fn participants(&self, ids: &[String]) -> anyhow::Result<Vec<Vec<String>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT room_id, email FROM meet_participants WHERE room_id IN ({}) \
             ORDER BY room_id, email",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id.clone());
        }
        let rows = query
            .fetch_all(self.pool())
            .await
            .context("loading the invitations of meet rooms")?;
        let mut by_room = vec![Vec::new(); ids.len()];
        for row in rows {
            let room: String = row.try_get("room_id")?;
            let email: String = row.try_get("email")?;
            if let Some(i) = ids.iter().position(|id| *id == room) {
                by_room[i].push(email);
            }
        }
        Ok(by_room)
    }
}

async fn insert_participants(
    tx: &mut Transaction<'_, Any>,
    room_id: &str,
    emails: &[String],
) -> anyhow::Result<()> {
    for email in emails {
        sqlx::query("INSERT INTO meet_participants (room_id, email) VALUES ($1, $2)")
            .bind(room_id.to_owned())
            .bind(email.clone())
            .execute(&mut **tx)
            .await
            .with_context(|| format!("inviting to meet room {room_id}"))?;
    }
    Ok(())
}

/// Room `id` as the transaction sees it, with its invitations.
async fn room_in(tx: &mut Transaction<'_, Any>, id: &str) -> anyhow::Result<Room> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM meet_rooms WHERE id = $1"))
        .bind(id.to_owned())
        .fetch_one(&mut **tx)
        .await
        .with_context(|| format!("reading back meet room {id}"))?;
    let mut room = room_from(&row)?;
    room.participants =
        sqlx::query_scalar("SELECT email FROM meet_participants WHERE room_id = $1 ORDER BY email")
            .bind(id.to_owned())
            .fetch_all(&mut **tx)
            .await
            .with_context(|| format!("reading back the invitations of meet room {id}"))?;
    Ok(room)
}
