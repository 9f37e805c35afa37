//! Bheem Calendar (`/api/v1/calendar`): the user's own Nextcloud calendars over CalDAV, as the
//! user. As in Docs, the hub forwards the caller's access token to Nextcloud, whose user_oidc
//! checks it with this provider: no Nextcloud password is known here. CalDAV is spoken in
//! `caldav` (over Docs' Nextcloud session), iCalendar read and written in `ical`, recurring
//! events expanded in `expand`, requests parsed in `input`, event ids in `ids`, and the
//! handlers are in `routes`.

pub mod caldav;
mod expand;
pub mod ical;
pub mod ids;
mod input;
pub mod meetings;
mod routes;
mod scheduling;

use std::sync::Arc;

use axum::Extension;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::http::AppState;
use crate::workspace::docs::nextcloud::{NcError, Nextcloud, Session};
use crate::workspace::meet::MeetService;
use crate::workspace::{ApiError, Caller};

/// The area's marker type, under a name that does not clash with iCalendar's calendars.
pub use crate::workspace::auth::Calendar as CalendarArea;

/// What the calendar area runs on, built once from `[calendar]` (and Meet's service, for
/// events with a meeting).
pub struct CalendarService {
    nextcloud: Nextcloud,
    uid_claim: String,
    default_calendar: String,
    max_range_days: u32,
    max_occurrences: u32,
    meet: Option<Arc<MeetService>>,
}

impl CalendarService {
    /// The service `[calendar]` describes, with Meet's when `[meet]` is on; `None` without the
    /// section.
    pub fn from_config(
        config: &Config,
        meet: Option<Arc<MeetService>>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(calendar) = &config.calendar else {
            return Ok(None);
        };
        Ok(Some(Self {
            nextcloud: Nextcloud::at(&calendar.nextcloud_url, calendar.request_timeout_seconds)?,
            uid_claim: calendar.uid_claim.clone(),
            default_calendar: calendar.default_calendar.clone(),
            max_range_days: calendar.max_range_days,
            max_occurrences: calendar.max_occurrences,
            meet,
        }))
    }

    /// The area's routes, relative to `/api/v1/calendar`, with this service beside them.
    pub fn router(self: Arc<Self>) -> OpenApiRouter<AppState> {
        routes::router().layer(Extension(self))
    }

    /// Nextcloud as the caller: their Nextcloud user id and their access token.
    pub fn as_caller<'a>(
        &'a self,
        caller: &'a Caller<CalendarArea>,
    ) -> Result<Session<'a>, ApiError> {
        let uid = crate::oidc::claims::claim_string(&caller.user, &self.uid_claim)
            .filter(|uid| !uid.is_empty())
            .ok_or_else(|| {
                tracing::warn!(user_id = %caller.user.id, claim = %self.uid_claim, "user has no Nextcloud user id claim");
                ApiError::Forbidden("your account has no Nextcloud user")
            })?;
        Ok(self.nextcloud.as_user(uid, &caller.token))
    }
}

/// What the user is told when Nextcloud's CalDAV said no or failed; the handlers first take
/// the answers that mean something particular to them (a 412 of a conditional PUT, …).
pub(crate) fn caldav_failed(e: NcError) -> ApiError {
    match e {
        NcError::Status { status, .. } => match status.as_u16() {
            403 => ApiError::Forbidden("Nextcloud does not allow this (a read-only calendar?)"),
            412 => ApiError::PreconditionFailed(
                "the event changed since you read it: read it again and retry".into(),
            ),
            423 => ApiError::Locked("the calendar is locked; try again later".into()),
            507 => {
                ApiError::InsufficientStorage("not enough space is left in your Nextcloud".into())
            }
            _ => crate::workspace::docs::nextcloud_failed(e),
        },
        e => crate::workspace::docs::nextcloud_failed(e),
    }
}
