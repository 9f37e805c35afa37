//! Deleting an event: the version the client read (or whatever is there), then what its
//! record, invitations and room call for, as `scheduling` says; taken back if that cannot be
//! stored.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::undo::{undo, Undo};
use super::{is_me, organizer, stale, written};
use crate::http::AppState;
use crate::workspace::calendar::caldav::CalDav;
use crate::workspace::calendar::ical::{parse, ObjectEvents};
use crate::workspace::calendar::ids::EventId;
use crate::workspace::calendar::meetings::owned;
use crate::workspace::calendar::scheduling::{spec_of, Before, Scheduler};
use crate::workspace::calendar::{caldav_failed, CalendarArea, CalendarService};
use crate::workspace::{ApiError, ApiErrorBody, Caller};

/// Deletes an event (a recurring one with all its occurrences); with `If-Match`, only the
/// version the client read.
#[utoipa::path(
    delete, path = "/events/{event_id}", tag = "calendar",
    security(("bearer" = ["calendar"]), ("oauth2" = ["calendar"])),
    params(
        ("event_id" = String, Path, description = "The event's id"),
        ("If-Match" = Option<String>, Header, description = "The etag the client read"),
    ),
    responses(
        (status = 204, description = "Deleted, its attendees' cancellations queued and its room cancelled"),
        (status = 202, description = "Deleted; the room's cancellation is left to the outbox", body = Pending),
        (status = 404, description = "No such event", body = ApiErrorBody),
        (status = 412, description = "The event changed since the client read it: nothing was deleted", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(in crate::workspace::calendar::routes) async fn delete_event(
    caller: Caller<CalendarArea>,
    Extension(service): Extension<Arc<CalendarService>>,
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let id = EventId::decode(&event_id).ok_or(ApiError::NotFound)?;
    let expected = headers
        .get(axum::http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let session = service.as_caller(&caller)?;
    let dav = CalDav { session: &session };
    let stored = dav
        .get(&id)
        .await
        .map_err(caldav_failed)?
        .ok_or(ApiError::NotFound)?;
    // RFC 9110 §13.1.1: `*` matches whatever is there.
    let expected = expected.filter(|e| e.trim() != "*");
    if expected.is_some() && stored.etag != expected {
        return Err(stale());
    }
    // The version read is the one deleted: a change made since is not lost unseen.
    let version = expected.or(stored.etag.clone());
    dav.delete(&id, version.as_deref()).await.map_err(written)?;
    let Ok(calendar) = parse(&stored.data) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let events = ObjectEvents::of(&calendar);
    let Some(master) = events.master.as_ref() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let me = organizer(&state, &caller).await?;
    if master
        .organizer
        .as_deref()
        .is_some_and(|o| !is_me(o, &me, &caller))
    {
        // Someone else's invitation taken out of the caller's calendar: theirs to cancel.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let company = caller.company_id.to_string();
    let record = state
        .db
        .calendar_event(&company, &caller.user.id, &master.uid)
        .await?;
    let room = owned(
        &state.db,
        &company,
        &caller.user.id,
        record.as_ref(),
        master.meeting.as_ref(),
    )
    .await?;
    let attendees: Vec<String> = master.attendees.iter().map(|a| a.email.clone()).collect();
    let scheduler = Scheduler {
        state: &state,
        meet: service.meet.as_deref(),
        caller: &caller,
        organizer: &me,
        calendar: &id.calendar,
        resource: &id.resource,
    };
    let mut spec = spec_of(master, attendees.clone());
    spec.organizer = Some(scheduler.organizer());
    let before = Before {
        record,
        attendees,
        room_id: room.map(|m| m.room_id),
    };
    let now = chrono::DateTime::from_timestamp(state.clock.now(), 0).unwrap_or_default();
    let pending = match scheduler.deleted(&spec, before, now).await {
        Ok(pending) => pending,
        Err(e) => return Err(undo(&dav, &id, Undo::Deleted(&stored.data), e).await),
    };
    if pending.is_empty() {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Ok((StatusCode::ACCEPTED, Json(Pending { pending })).into_response())
    }
}

/// What a deletion left to the outbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pending {
    /// `meeting`: the room's cancellation is being retried.
    pub pending: Vec<&'static str>,
}
