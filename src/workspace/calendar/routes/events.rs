//! Reading events: the occurrences in a range, and one event.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::{Extension, Json};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{body, EventBody};
use crate::workspace::calendar::caldav::{CalDav, StoredObject};
use crate::workspace::calendar::expand::{occurrences, Budget, Range};
use crate::workspace::calendar::ical::{parse, ObjectEvents, LOCAL_FORMAT};
use crate::workspace::calendar::ids::EventId;
use crate::workspace::calendar::{caldav_failed, input, CalendarArea, CalendarService};
use crate::workspace::{ApiError, ApiErrorBody, Caller};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// From: a date (`2025-12-01`, its midnight UTC) or an RFC 3339 time.
    #[param(example = "2025-12-01")]
    pub start: Option<String>,
    /// Until: a date is included (`2025-12-31`: to its end, the next midnight UTC), an RFC
    /// 3339 time is not (`2026-01-01T00:00:00Z` is the same end); at most
    /// `[calendar] max_range_days` after `start`.
    #[param(example = "2025-12-31")]
    pub end: Option<String>,
    /// The calendar's id (`[calendar] default_calendar` when not given).
    pub calendar: Option<String>,
}

/// The occurrences in a range, by start.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventBody>,
    /// Occurrences in the range are left out: more than `[calendar] max_occurrences` fall in
    /// it (those listed are the first by start), or a series was too costly to expand through
    /// it (one repeating every second, or a `COUNT` in the millions); ask for a shorter range.
    pub truncated: bool,
}

/// The events of one of the caller's calendars in a range, recurring events expanded into the
/// occurrences that fall in it (CalDAV REPORT `calendar-query` with a time range).
#[utoipa::path(
    get, path = "/events", tag = "calendar",
    security(("bearer" = ["calendar"]), ("oauth2" = ["calendar"])),
    params(ListQuery),
    responses(
        (status = 200, description = "The occurrences in the range, by start", body = EventList),
        (status = 404, description = "No such calendar", body = ApiErrorBody),
        (status = 422, description = "A bad or too long range, or a bad calendar id", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn list_events(
    caller: Caller<CalendarArea>,
    Extension(service): Extension<Arc<CalendarService>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EventList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let start = input::range_start(
        query
            .start
            .as_deref()
            .ok_or_else(|| ApiError::invalid("start", "is required"))?,
    )?;
    let end = input::range_end(
        query
            .end
            .as_deref()
            .ok_or_else(|| ApiError::invalid("end", "is required"))?,
    )?;
    if end <= start {
        return Err(ApiError::invalid(
            "end",
            "must be after start (a date: on or after it)",
        ));
    }
    if end - start > Duration::days(service.max_range_days.into()) {
        return Err(ApiError::invalid(
            "end",
            format!(
                "must be at most {} days after start",
                service.max_range_days
            ),
        ));
    }
    let calendar = match query.calendar.as_deref() {
        Some(c) => input::calendar(c)?,
        None => service.default_calendar.clone(),
    };
    let session = service.as_caller(&caller)?;
    let utc = |t: chrono::DateTime<chrono::Utc>| format!("{}Z", t.format(LOCAL_FORMAT));
    let objects = CalDav { session: &session }
        .query(&calendar, &utc(start), &utc(end))
        .await
        .map_err(caldav_failed)?
        .ok_or(ApiError::NotFound)?;
    let limit = service.max_occurrences as usize;
    let range = Range { start, end };
    // Expanding series is work for a core, not for the async workers: bounded by the budget,
    // and off them.
    let (events, truncated) = tokio::task::spawn_blocking(move || {
        listing(&objects, range, limit, &mut Budget::new(Budget::LISTING))
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("expanding the events failed: {e}")))?;
    Ok(Json(EventList { events, truncated }))
}

/// The first `limit` occurrences by start of `objects` in `range`, and whether others are left
/// out (for the limit, or for a series the budget did not stretch to).
fn listing(
    objects: &[StoredObject],
    range: Range,
    limit: usize,
    budget: &mut Budget,
) -> (Vec<EventBody>, bool) {
    let mut events = Vec::new();
    let mut truncated = false;
    // The earliest start at which an object left occurrences out: the others' later ones go
    // too, so that those listed are the first.
    let mut cut: Option<DateTime<Utc>> = None;
    for object in objects {
        let calendar = match parse(&object.data) {
            Ok(calendar) => calendar,
            Err(e) => {
                tracing::info!(error = %e, "a calendar object that does not parse is left out");
                continue;
            }
        };
        let parsed = ObjectEvents::of(&calendar);
        let listed = occurrences(&parsed, range, limit, budget);
        truncated |= listed.truncated();
        if let Some(at) = listed.cut {
            cut = Some(cut.map_or(at, |c| c.min(at)));
        }
        for o in listed.occurrences {
            events.push((
                o.start.utc(),
                body(
                    &object.id,
                    object.etag.as_deref(),
                    o.event,
                    &o.start,
                    &o.end,
                    o.recurrence_id.as_ref(),
                ),
            ));
        }
    }
    if let Some(at) = cut {
        events.retain(|(start, _)| *start <= at);
    }
    events.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.uid.cmp(&b.1.uid)));
    if events.len() > limit {
        events.truncate(limit);
        truncated = true;
    }
    (events.into_iter().map(|(_, e)| e).collect(), truncated)
}

/// One event as stored: a recurring event's series (its first occurrence's times, with its
/// rule).
#[utoipa::path(
    get, path = "/events/{event_id}", tag = "calendar",
    security(("bearer" = ["calendar"]), ("oauth2" = ["calendar"])),
    params(("event_id" = String, Path, description = "The event's id")),
    responses(
        (status = 200, description = "The event, with its etag", body = EventBody),
        (status = 404, description = "No such event", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn get_event(
    caller: Caller<CalendarArea>,
    Extension(service): Extension<Arc<CalendarService>>,
    Path(event_id): Path<String>,
) -> Result<Json<EventBody>, ApiError> {
    let id = EventId::decode(&event_id).ok_or(ApiError::NotFound)?;
    let session = service.as_caller(&caller)?;
    let object = CalDav { session: &session }
        .get(&id)
        .await
        .map_err(caldav_failed)?
        .ok_or(ApiError::NotFound)?;
    let calendar = parse(&object.data).map_err(|e| {
        tracing::warn!(error = %e, "a calendar object that does not parse");
        ApiError::BadGateway {
            service: "nextcloud",
        }
    })?;
    let parsed = ObjectEvents::of(&calendar);
    let event = parsed
        .master
        .as_ref()
        .or(parsed.overrides.first())
        .ok_or(ApiError::NotFound)?;
    Ok(Json(body(
        &id,
        object.etag.as_deref(),
        event,
        &event.start,
        &event.end,
        event.recurrence_id.as_ref(),
    )))
}
