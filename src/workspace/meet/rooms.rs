//! Meet's rooms: who may see, change, end and join one, and the values a request carries,
//! parsed at the edge. No axum here; the routes turn [`RoomError`] into the workspace's JSON
//! error.

use rand::Rng;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::clock::UnixTime;
use crate::domain::Email;
use crate::store::meet_rooms::{Room, RoomChange, RoomFilter, RoomStatus, StatusChange, Viewer};
use crate::store::outbox::Job;
use crate::store::Db;

/// Longest room name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most addresses one room invites.
pub const MAX_PARTICIPANTS: usize = 200;
/// Longest meeting, in minutes: a day.
pub const MAX_DURATION_MINUTES: i64 = 24 * 60;
/// Most rooms on one page of a listing, and the page size when none is asked for.
pub const MAX_PAGE: i64 = 100;
pub const DEFAULT_PAGE: i64 = 20;

/// The person a request speaks for, as the workspace layer established it.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub company_id: String,
    pub is_company_admin: bool,
}

/// Why a room operation did not happen; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// No such room in the caller's company: a missing room and another company's answer alike.
    #[error("no such room")]
    NotFound,
    /// Only the room's host may do this.
    #[error("only the room's host may do this")]
    NotHost,
    /// The room is completed: it cannot be changed or joined.
    #[error("the meeting has ended")]
    Ended,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A value of a request that does not parse, naming its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A room's name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn parse_name(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Invalid::new("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Invalid::new(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::new("name", "must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// An RFC 3339 time (`2026-12-04T15:00:00Z`) as Unix seconds.
pub fn parse_time(field: &str, raw: &str) -> Result<UnixTime, Invalid> {
    OffsetDateTime::parse(raw.trim(), &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| {
            Invalid::new(
                field,
                "must be an RFC 3339 time such as 2026-12-04T15:00:00Z",
            )
        })
}

/// Unix seconds as RFC 3339, in UTC.
pub fn format_time(at: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn parse_duration(raw: i64) -> Result<i64, Invalid> {
    if (1..=MAX_DURATION_MINUTES).contains(&raw) {
        Ok(raw)
    } else {
        Err(Invalid::new(
            "duration_minutes",
            format!("must be between 1 and {MAX_DURATION_MINUTES}"),
        ))
    }
}

/// Invited addresses: each valid, in lower case, without repeats, at most
/// [`MAX_PARTICIPANTS`].
pub fn parse_participants(raw: &[String]) -> Result<Vec<String>, Invalid> {
    if raw.len() > MAX_PARTICIPANTS {
        return Err(Invalid::new(
            "participants",
            format!("must list at most {MAX_PARTICIPANTS} addresses"),
        ));
    }
    let mut emails = Vec::with_capacity(raw.len());
    for (i, address) in raw.iter().enumerate() {
        let email = Email::parse(address)
            .map_err(|message| Invalid::new(format!("participants[{i}]"), message))?;
        emails.push(email.normalized());
    }
    emails.sort();
    emails.dedup();
    Ok(emails)
}

/// A listing's page size: [`DEFAULT_PAGE`] when not given, at most [`MAX_PAGE`].
pub fn parse_limit(raw: Option<i64>) -> Result<i64, Invalid> {
    match raw {
        None => Ok(DEFAULT_PAGE),
        Some(limit) if (1..=MAX_PAGE).contains(&limit) => Ok(limit),
        Some(_) => Err(Invalid::new(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// The page cursor a listing hands out: the last room's time and id.
pub fn cursor_of(room: &Room) -> String {
    format!("{}.{}", room.created_at, room.id)
}

pub fn parse_cursor(raw: &str) -> Result<(UnixTime, String), Invalid> {
    raw.split_once('.')
        .and_then(|(at, id)| Some((at.parse().ok()?, id)))
        .filter(|(_, id)| is_room_id(id))
        .map(|(at, id)| (at, id.to_owned()))
        .ok_or_else(|| Invalid::new("cursor", "is not a cursor this listing gave out"))
}

pub fn parse_status(raw: &str) -> Result<RoomStatus, Invalid> {
    RoomStatus::parse(raw)
        .ok_or_else(|| Invalid::new("status", "must be one of scheduled, active, completed"))
}

/// Letters only, as LiveKit and people read them out: 26^15, about 70 bits, in three groups.
const ID_GROUPS: usize = 3;
const ID_GROUP_LEN: usize = 5;

/// A new room id, `bhm-` and three groups of five lower-case letters: unguessable.
pub fn new_room_id() -> String {
    let mut rng = rand::rngs::OsRng;
    let groups: Vec<String> = (0..ID_GROUPS)
        .map(|_| {
            (0..ID_GROUP_LEN)
                .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
                .collect()
        })
        .collect();
    format!("bhm-{}", groups.join("-"))
}

/// Whether `id` has the shape [`new_room_id`] gives: a path or a webhook naming anything else
/// is not one of ours, and is not looked up.
pub fn is_room_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("bhm-") else {
        return false;
    };
    let groups: Vec<&str> = rest.split('-').collect();
    groups.len() == ID_GROUPS
        && groups
            .iter()
            .all(|g| g.len() == ID_GROUP_LEN && g.bytes().all(|b| b.is_ascii_lowercase()))
}

/// What the store needs to make a room.
pub struct NewRoom {
    pub name: String,
    pub scheduled_time: Option<UnixTime>,
    pub duration_minutes: Option<i64>,
    pub participants: Vec<String>,
}

/// Meet's rooms in the provider's database, with the jobs each change calls for.
pub struct Rooms<'a> {
    pub db: &'a Db,
    /// The jobs a stored or changed room calls for (the ERP sync), in the same transaction.
    pub jobs: &'a (dyn Fn(&Room) -> Vec<Job> + Sync),
}

impl Rooms<'_> {
    /// A new room hosted by `host`, scheduled unless it has no time (then it is ready now and
    /// still `scheduled` until LiveKit says someone joined).
    pub async fn create(
        &self,
        host: &Member,
        new: NewRoom,
        now: UnixTime,
    ) -> Result<Room, RoomError> {
        self.create_as(new_room_id(), host, new, now).await
    }

    /// As [`Rooms::create`], with an id [`new_room_id`] gave earlier: a calendar event names
    /// its room (in its join link) before the room is stored. Any other id is refused
    /// ([`RoomError::NotFound`]).
    pub async fn create_as(
        &self,
        id: String,
        host: &Member,
        new: NewRoom,
        now: UnixTime,
    ) -> Result<Room, RoomError> {
        if !is_room_id(&id) {
            return Err(RoomError::NotFound);
        }
        let room = Room {
            id,
            company_id: host.company_id.clone(),
            name: new.name,
            host_user_id: host.user_id.clone(),
            status: RoomStatus::Scheduled,
            scheduled_time: new.scheduled_time,
            duration_minutes: new.duration_minutes,
            participants: new.participants,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.db.create_meet_room(&room, self.jobs).await?;
        Ok(room)
    }

    /// Room `id` as `member` may see it: any room of their company (they have its id, as anyone
    /// with the link of a meeting does).
    pub async fn get(&self, member: &Member, id: &str) -> Result<Room, RoomError> {
        if !is_room_id(id) {
            return Err(RoomError::NotFound);
        }
        self.db
            .meet_room(&member.company_id, id)
            .await?
            .ok_or(RoomError::NotFound)
    }

    /// Room `id` as [`Rooms::get`] finds it, without its invitations (`participants` empty):
    /// what deciding who may act on it needs, in one round trip.
    pub async fn find(&self, member: &Member, id: &str) -> Result<Room, RoomError> {
        if !is_room_id(id) {
            return Err(RoomError::NotFound);
        }
        self.db
            .meet_room_alone(&member.company_id, id)
            .await?
            .ok_or(RoomError::NotFound)
    }

    /// The rooms `member` hosts or is invited to (a company admin: all of the company's), newest
    /// first; the cursor of the next page when there may be one.
    pub async fn list(
        &self,
        member: &Member,
        status: Option<RoomStatus>,
        after: Option<(UnixTime, String)>,
        limit: i64,
    ) -> Result<(Vec<Room>, Option<String>), RoomError> {
        let viewer = if member.is_company_admin {
            Viewer::Admin
        } else {
            Viewer::Member {
                user_id: member.user_id.clone(),
                email: crate::domain::normalize_login(&member.email),
            }
        };
        let filter = RoomFilter {
            company_id: member.company_id.clone(),
            viewer,
            status,
            after,
            limit: limit + 1,
        };
        let mut rooms = self.db.meet_rooms(&filter).await?;
        let next = if rooms.len() as i64 > limit {
            rooms.truncate(limit as usize);
            rooms.last().map(cursor_of)
        } else {
            None
        };
        Ok((rooms, next))
    }

    /// The room `id` for its host to change, end or record, without its invitations: another
    /// member of the company is refused, someone of another company finds nothing.
    pub async fn hosted(&self, member: &Member, id: &str) -> Result<Room, RoomError> {
        let room = self.find(member, id).await?;
        if room.host_user_id != member.user_id {
            return Err(RoomError::NotHost);
        }
        Ok(room)
    }

    /// The host's `change` to room `id`; a completed room cannot be changed.
    pub async fn change(
        &self,
        member: &Member,
        id: &str,
        change: &RoomChange,
        now: UnixTime,
    ) -> Result<Room, RoomError> {
        let room = self.hosted(member, id).await?;
        if room.status == RoomStatus::Completed {
            return Err(RoomError::Ended);
        }
        self.db
            .change_meet_room(&member.company_id, id, change, now, self.jobs)
            .await?
            .ok_or(RoomError::NotFound)
    }

    /// Marks room `id` completed, once LiveKit has ended it (the caller's part).
    pub async fn complete(
        &self,
        member: &Member,
        id: &str,
        now: UnixTime,
    ) -> Result<Room, RoomError> {
        let changed = self
            .db
            .set_meet_room_status(
                &member.company_id,
                id,
                RoomStatus::Completed,
                now,
                self.jobs,
            )
            .await?;
        match changed {
            StatusChange::NoSuchRoom => Err(RoomError::NotFound),
            StatusChange::Changed(room) => Ok(room),
            // Completed already (by LiveKit's room_finished, or an earlier DELETE).
            StatusChange::Unchanged => self.get(member, id).await,
        }
    }

    /// The room `member` asks to join (without its invitations), and whether they host it: any
    /// member of its company may join a room that has not ended.
    pub async fn to_join(&self, member: &Member, id: &str) -> Result<(Room, bool), RoomError> {
        let room = self.find(member, id).await?;
        if room.status == RoomStatus::Completed {
            return Err(RoomError::Ended);
        }
        let is_host = room.host_user_id == member.user_id;
        Ok((room, is_host))
    }

    /// A status LiveKit reported for room `id` (a verified webhook).
    pub async fn from_livekit(
        &self,
        id: &str,
        status: RoomStatus,
        now: UnixTime,
    ) -> anyhow::Result<StatusChange> {
        if !is_room_id(id) {
            return Ok(StatusChange::NoSuchRoom);
        }
        self.db
            .meet_room_status_from_livekit(id, status, now, self.jobs)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_letters_in_three_groups_and_differ() {
        let a = new_room_id();
        let b = new_room_id();
        assert!(is_room_id(&a), "{a}");
        assert_eq!(a.len(), "bhm-abcde-fghij-klmno".len());
        assert_ne!(a, b);
        for not_ours in [
            "bhm-abc-xyz",
            "bhm-ABCDE-fghij-klmno",
            "bhm-abcde-fghij-klmn1",
            "xyz-abcde-fghij-klmno",
            "bhm-abcde-fghij-klmno-pqrst",
            "bhm-abcde-fghij-klmno/../x",
            "",
        ] {
            assert!(!is_room_id(not_ours), "{not_ours}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  Stand-up ").unwrap(), "Stand-up");
        assert_eq!(parse_name(" ").unwrap_err().field, "name");
        assert!(parse_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(parse_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(parse_name("a\u{0}b").is_err());
    }

    #[test]
    fn participants_are_folded_deduplicated_and_each_checked() {
        let raw = vec![
            "Bob@Acme.example".to_owned(),
            "ann@acme.example".to_owned(),
            " bob@acme.example".to_owned(),
        ];
        assert_eq!(
            parse_participants(&raw).unwrap(),
            ["ann@acme.example", "bob@acme.example"]
        );
        let bad = vec!["ann@acme.example".to_owned(), "not-an-address".to_owned()];
        assert_eq!(
            parse_participants(&bad).unwrap_err().field,
            "participants[1]"
        );
        let many = vec!["a@b.example".to_owned(); MAX_PARTICIPANTS + 1];
        assert_eq!(parse_participants(&many).unwrap_err().field, "participants");
    }

    #[test]
    fn times_are_rfc3339_both_ways() {
        let at = parse_time("scheduled_time", "2026-12-04T15:00:00+01:00").unwrap();
        assert_eq!(format_time(at), "2026-12-04T14:00:00Z");
        assert_eq!(
            parse_time("scheduled_time", "tomorrow").unwrap_err().field,
            "scheduled_time"
        );
    }

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let id = new_room_id();
        assert_eq!(
            parse_cursor(&format!("1700000000.{id}")).unwrap(),
            (1_700_000_000, id)
        );
        for bad in ["", "12", "x.bhm-abcde-fghij-klmno", "12.bhm-abc' OR 1=1"] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_and_durations_are_bounded() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_PAGE);
        assert!(parse_limit(Some(0)).is_err());
        assert!(parse_limit(Some(MAX_PAGE + 1)).is_err());
        assert!(parse_duration(0).is_err());
        assert_eq!(parse_duration(45).unwrap(), 45);
        assert!(parse_duration(MAX_DURATION_MINUTES + 1).is_err());
    }
}
