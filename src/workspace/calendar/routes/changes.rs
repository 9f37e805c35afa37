//! Changing events: created (PUT with `If-None-Match: *`), changed (PUT with the client's
//! `If-Match`: a stale version is 412 and nothing is overwritten) and deleted; then, for events
//! with attendees or a meeting, what `scheduling` does (the record, invitations, the room).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};

use super::{body, EventBody, EventRequest};
use crate::http::AppState;
use crate::workspace::calendar::caldav::{is_stale, CalDav, Precondition};
use crate::workspace::calendar::ical::{
    new_object, parse, updated_object, EventSpec, MeetingLink, ObjectEvents, Person,
};
use crate::workspace::calendar::ids::EventId;
use crate::workspace::calendar::meetings::{owned, with_link};
use crate::workspace::calendar::scheduling::{Before, Scheduler};
use crate::workspace::calendar::{caldav_failed, input, CalendarArea, CalendarService};
use crate::workspace::docs::nextcloud::NcError;
use crate::workspace::meet::rooms::new_room_id;
use crate::workspace::meet::MeetService;
use crate::workspace::{ApiError, ApiErrorBody, Caller, ValidJson};

pub(super) mod delete;
mod undo;
use undo::{undo, Undo};

/// A request's fields, parsed.
pub(crate) struct Parsed {
    pub calendar: Option<String>,
    pub spec: EventSpec,
    pub create_meeting: Option<bool>,
}

/// Parses `request` into the event it describes, for `uid` at `sequence`.
fn parse_request(
    request: &EventRequest,
    me: &Person,
    uid: String,
    sequence: i64,
) -> Result<Parsed, ApiError> {
    let title = input::title(&request.title)?;
    let zone = request
        .timezone
        .as_deref()
        .map(input::timezone)
        .transpose()?;
    let when = input::when(&request.start, &request.end, request.all_day, zone)?;
    let recurrence = request
        .recurrence
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|r| input::recurrence(r, &when))
        .transpose()?;
    let attendees = input::attendees(request.attendees.as_deref().unwrap_or_default())?;
    let calendar = request
        .calendar
        .as_deref()
        .map(input::calendar)
        .transpose()?;
    let organizer = (!attendees.is_empty()).then(|| me.clone());
    Ok(Parsed {
        calendar,
        spec: EventSpec {
            uid,
            sequence,
            title,
            when,
            location: input::location(request.location.as_deref())?,
            description: input::description(request.description.as_deref())?,
            recurrence,
            organizer,
            attendees,
            meeting: None,
        },
        create_meeting: request.create_meeting,
    })
}

/// The caller as their events' organizer: under the address their invitations are mailed from
/// (their own mailbox, as `provisioning::invitations` sends them), so that ORGANIZER and the
/// mail's sender agree.
async fn organizer(state: &AppState, caller: &Caller<CalendarArea>) -> Result<Person, ApiError> {
    let email = state
        .db
        .own_mailbox(&caller.user.id, &caller.user.email)
        .await?;
    Ok(Person {
        email: crate::domain::normalize_login(&email),
        name: Some(caller.user.name.clone()).filter(|n| !n.trim().is_empty()),
    })
}

/// Whether an event's ORGANIZER is the caller: their mailbox, or their login for events
/// written before (or by clients that use it).
fn is_me(organizer: &str, me: &Person, caller: &Caller<CalendarArea>) -> bool {
    organizer == me.email || organizer == crate::domain::normalize_login(&caller.user.email)
}

/// The event at `id` as stored after a write: its entity tag from the PUT's answer, else read
/// again (Nextcloud gives none when it changed what it stored).
async fn stored_body(
    dav: &CalDav<'_, '_>,
    id: &EventId,
    etag: Option<String>,
    written: &str,
) -> Result<EventBody, ApiError> {
    let (etag, data) = match etag {
        Some(etag) => (Some(etag), written.to_owned()),
        None => match dav.get(id).await.map_err(caldav_failed)? {
            Some(stored) => (stored.etag, stored.data),
            None => (None, written.to_owned()),
        },
    };
    let calendar = parse(&data).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!("an event just written does not parse: {e}"))
    })?;
    let parsed = ObjectEvents::of(&calendar);
    let event = parsed
        .master
        .as_ref()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("an event just written has none")))?;
    Ok(body(
        id,
        etag.as_deref(),
        event,
        &event.start,
        &event.end,
        None,
    ))
}

/// Creates an event in one of the caller's calendars.
#[utoipa::path(
    post, path = "/events", tag = "calendar",
    security(("bearer" = ["calendar"]), ("oauth2" = ["calendar"])),
    request_body = EventRequest,
    responses(
        (status = 201, description = "The event, with its id and etag", body = EventBody),
        (status = 403, description = "The calendar is read-only", body = ApiErrorBody),
        (status = 422, description = "A field is missing or wrong (named in `field`), or no such calendar", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed: nothing was written", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn create_event(
    caller: Caller<CalendarArea>,
    Extension(service): Extension<Arc<CalendarService>>,
    State(state): State<AppState>,
    ValidJson(request): ValidJson<EventRequest>,
) -> Result<(StatusCode, Json<EventBody>), ApiError> {
    let uid = uuid::Uuid::new_v4().to_string();
    let me = organizer(&state, &caller).await?;
    let mut parsed = parse_request(&request, &me, uid.clone(), 0)?;
    let meet = service.meet.as_deref();
    if parsed.create_meeting == Some(true) {
        parsed.spec.meeting = Some(new_meeting(meet)?);
    }
    with_link(&mut parsed.spec);
    let calendar = parsed
        .calendar
        .clone()
        .unwrap_or_else(|| service.default_calendar.clone());
    let id = EventId::new(&calendar, &format!("{uid}.ics"))
        .ok_or_else(|| ApiError::invalid("calendar", "is not a calendar's id"))?;
    let now = chrono::DateTime::from_timestamp(state.clock.now(), 0).unwrap_or_default();
    let text = new_object(&parsed.spec, now).to_string();
    let session = service.as_caller(&caller)?;
    let dav = CalDav { session: &session };
    let etag = match dav.put(&id, text.clone(), Precondition::Create).await {
        Ok(etag) => etag,
        // A missing collection: RFC 4918 §9.7.1 says 409, some servers 404.
        Err(e) if matches!(e.status().map(|s| s.as_u16()), Some(404 | 409)) => {
            return Err(ApiError::invalid("calendar", "you have no such calendar"))
        }
        Err(e) => return Err(caldav_failed(e)),
    };
    let scheduler = Scheduler {
        state: &state,
        meet,
        caller: &caller,
        organizer: &me,
        calendar: &id.calendar,
        resource: &id.resource,
    };
    let pending = match scheduler
        .written(&parsed.spec, None, Before::default(), now)
        .await
    {
        Ok(pending) => pending,
        Err(e) => return Err(undo(&dav, &id, Undo::Created(etag.as_deref()), e).await),
    };
    let mut body = stored_body(&dav, &id, etag, &text).await?;
    body.pending = pending;
    Ok((StatusCode::CREATED, Json(body)))
}

/// `If-Match`, which a change must carry (RFC 6585 §3: 428 without it).
fn if_match(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(axum::http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or(ApiError::PreconditionRequired(
            "send If-Match with the event's etag, so that no one else's change is overwritten",
        ))
}

/// Changes an event: every field is set again. `If-Match` must carry the etag the client read;
/// if the event changed since, nothing is written (412).
#[utoipa::path(
    put, path = "/events/{event_id}", tag = "calendar",
    security(("bearer" = ["calendar"]), ("oauth2" = ["calendar"])),
    params(
        ("event_id" = String, Path, description = "The event's id"),
        ("If-Match" = String, Header, description = "The etag the client read"),
    ),
    request_body = EventRequest,
    responses(
        (status = 200, description = "The changed event, with its new etag", body = EventBody),
        (status = 403, description = "Someone else organizes the event, or the calendar is read-only", body = ApiErrorBody),
        (status = 404, description = "No such event", body = ApiErrorBody),
        (status = 412, description = "The event changed since the client read it: nothing was written", body = ApiErrorBody),
        (status = 422, description = "A field is missing or wrong", body = ApiErrorBody),
        (status = 428, description = "No If-Match", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed: nothing was written", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn update_event(
    caller: Caller<CalendarArea>,
    Extension(service): Extension<Arc<CalendarService>>,
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    ValidJson(request): ValidJson<EventRequest>,
) -> Result<Json<EventBody>, ApiError> {
    let id = EventId::decode(&event_id).ok_or(ApiError::NotFound)?;
    let expected = if_match(&headers)?;
    let session = service.as_caller(&caller)?;
    let dav = CalDav { session: &session };
    let stored = dav
        .get(&id)
        .await
        .map_err(caldav_failed)?
        .ok_or(ApiError::NotFound)?;
    // RFC 9110 §13.1.1: `*` matches whatever is there; the write is then made on the version read.
    let expected = match (expected.as_str(), &stored.etag) {
        ("*", Some(etag)) => etag.clone(),
        _ => expected,
    };
    if stored.etag.as_deref() != Some(expected.as_str()) {
        return Err(stale());
    }
    let existing = parse(&stored.data).map_err(|e| {
        tracing::warn!(error = %e, "a calendar object that does not parse cannot be changed");
        ApiError::Conflict("the stored event cannot be read, so it is not changed".into())
    })?;
    let events = ObjectEvents::of(&existing);
    let Some(master) = events.master.as_ref() else {
        return Err(ApiError::Conflict(
            "only an occurrence of this series is in your calendar; change it in the organizer's"
                .into(),
        ));
    };
    let me = organizer(&state, &caller).await?;
    if !master.attendees.is_empty()
        && master
            .organizer
            .as_deref()
            .is_some_and(|o| !is_me(o, &me, &caller))
    {
        return Err(ApiError::Forbidden(
            "only the event's organizer may change it",
        ));
    }
    let record = state
        .db
        .calendar_event(&caller.company_id.to_string(), &caller.user.id, &master.uid)
        .await?;
    let sequence = master
        .sequence
        .max(record.as_ref().map_or(0, |r| r.sequence))
        + 1;
    let mut parsed = parse_request(&request, &me, master.uid.clone(), sequence)?;
    if parsed.calendar.as_deref().is_some_and(|c| c != id.calendar) {
        return Err(ApiError::invalid(
            "calendar",
            "an event stays in its calendar: create it in the other one and delete this one",
        ));
    }
    let meet = service.meet.as_deref();
    let company = caller.company_id.to_string();
    // The stored event's room, only when it is the caller's: any client may write the object.
    let room = owned(
        &state.db,
        &company,
        &caller.user.id,
        record.as_ref(),
        master.meeting.as_ref(),
    )
    .await?
    .map(|mut meeting| {
        if let Some(meet) = meet {
            meeting.join_url = meet.join_url(&meeting.room_id);
        }
        meeting
    });
    parsed.spec.meeting = match (parsed.create_meeting, &room) {
        (Some(false), _) => None,
        (_, Some(meeting)) => Some(meeting.clone()),
        (Some(true), None) => Some(new_meeting(meet)?),
        (None, None) => None,
    };
    with_link(&mut parsed.spec);
    let now = chrono::DateTime::from_timestamp(state.clock.now(), 0).unwrap_or_default();
    let moved = moved(master, &parsed.spec, now);
    let object = updated_object(&existing, &parsed.spec, now, moved);
    let text = object.to_string();
    let etag = dav
        .put(&id, text.clone(), Precondition::Matches(&expected))
        .await
        .map_err(written)?;
    let before = Before {
        record,
        attendees: master.attendees.iter().map(|a| a.email.clone()).collect(),
        room_id: room.map(|m| m.room_id),
    };
    let scheduler = Scheduler {
        state: &state,
        meet,
        caller: &caller,
        organizer: &me,
        calendar: &id.calendar,
        resource: &id.resource,
    };
    let pending = match scheduler
        .written(&parsed.spec, Some(&object), before, now)
        .await
    {
        Ok(pending) => pending,
        Err(e) => {
            let changed = Undo::Changed {
                old: &stored.data,
                etag: etag.as_deref(),
            };
            return Err(undo(&dav, &id, changed, e).await);
        }
    };
    let mut body = stored_body(&dav, &id, etag, &text).await?;
    body.pending = pending;
    Ok(Json(body))
}

/// Whether the change moves the event or changes its rule: then the series' exceptions and
/// the attendees' answers no longer apply.
fn moved(
    master: &crate::workspace::calendar::ical::EventData,
    spec: &EventSpec,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    // The new times read back as the stored ones are, so that both compare in UTC.
    let text = new_object(spec, now).to_string();
    let Ok(calendar) = parse(&text) else {
        return true;
    };
    let Some(new) = ObjectEvents::of(&calendar).master else {
        return true;
    };
    new.start.utc() != master.start.utc()
        || new.end.utc() != master.end.utc()
        || new.start.is_date() != master.start.is_date()
        || new.recurrence != master.recurrence
}

fn stale() -> ApiError {
    ApiError::PreconditionFailed(
        "the event changed since you read it: read it again and retry".into(),
    )
}

/// A conditional write's refusal: the version changed (412), or the object is gone (404).
fn written(e: NcError) -> ApiError {
    if is_stale(&e) {
        stale()
    } else {
        caldav_failed(e)
    }
}

/// A new room's link, when Meet is on here.
fn new_meeting(meet: Option<&MeetService>) -> Result<MeetingLink, ApiError> {
    let meet = meet.ok_or_else(|| {
        ApiError::invalid(
            "create_meeting",
            "meetings need Bheem Meet ([meet]), which is not set up here",
        )
    })?;
    let room_id = new_room_id();
    Ok(MeetingLink {
        join_url: meet.join_url(&room_id),
        room_id,
    })
}
