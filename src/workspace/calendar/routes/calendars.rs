//! The caller's calendars.

use std::sync::Arc;

use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use crate::workspace::calendar::caldav::CalDav;
use crate::workspace::calendar::{caldav_failed, CalendarArea, CalendarService};
use crate::workspace::{ApiError, ApiErrorBody, Caller};

/// A calendar of the caller's Nextcloud.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarBody {
    /// Names the calendar in this API (`personal`).
    #[schema(example = "personal")]
    pub id: String,
    #[schema(example = "Personal")]
    pub name: String,
    #[schema(example = "#0082c9")]
    pub color: Option<String>,
    /// Shared with the caller without the right to change it.
    pub read_only: bool,
    /// Where events go when a request names no calendar.
    pub default: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarList {
    pub calendars: Vec<CalendarBody>,
}

/// The caller's calendars that hold events (CalDAV PROPFIND on their calendar home).
#[utoipa::path(
    get, path = "/calendars", tag = "calendar",
    security(("bearer" = ["calendar"]), ("oauth2" = ["calendar"])),
    responses(
        (status = 200, description = "The calendars", body = CalendarList),
        (status = 401, description = "No valid access token", body = ApiErrorBody),
        (status = 403, description = "The token lacks the `calendar` scope", body = ApiErrorBody),
        (status = 502, description = "Nextcloud failed", body = ApiErrorBody),
        (status = 504, description = "Nextcloud did not answer in time", body = ApiErrorBody),
    )
)]
pub(super) async fn list_calendars(
    caller: Caller<CalendarArea>,
    Extension(service): Extension<Arc<CalendarService>>,
) -> Result<Json<CalendarList>, ApiError> {
    let session = service.as_caller(&caller)?;
    let calendars = CalDav { session: &session }
        .calendars()
        .await
        .map_err(caldav_failed)?;
    Ok(Json(CalendarList {
        calendars: calendars
            .into_iter()
            .map(|c| CalendarBody {
                default: c.id == service.default_calendar,
                name: c.display_name.unwrap_or_else(|| c.id.clone()),
                id: c.id,
                color: c.color,
                read_only: c.read_only,
            })
            .collect(),
    }))
}
