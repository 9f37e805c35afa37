//! Taking back a CalDAV write when what follows it (the hub's record of the event and its
//! jobs, one transaction) could not be stored: the event is left as it was, and the client's
//! retry starts from there.

use crate::workspace::calendar::caldav::{CalDav, Precondition};
use crate::workspace::calendar::ids::EventId;
use crate::workspace::ApiError;

/// A CalDAV write to take back: what followed it (the record and its jobs) could not be stored.
pub(super) enum Undo<'a> {
    /// Made, with this entity tag if the server gave one.
    Created(Option<&'a str>),
    /// Changed from `old`, now at `etag`.
    Changed { old: &'a str, etag: Option<&'a str> },
    /// Deleted; it was `old`.
    Deleted(&'a str),
}

/// Takes back the CalDAV write `what` and answers `error`: the event is as it was, so that the
/// client's retry neither duplicates it nor finds it gone with its invitations never sent.
pub(super) async fn undo(
    dav: &CalDav<'_, '_>,
    id: &EventId,
    what: Undo<'_>,
    error: ApiError,
) -> ApiError {
    let undone = match what {
        Undo::Created(etag) => dav.delete(id, etag).await,
        Undo::Changed { old, etag } => {
            let current = match etag {
                Some(etag) => Ok(Some(etag.to_owned())),
                None => dav.get(id).await.map(|s| s.and_then(|s| s.etag)),
            };
            match current {
                Ok(Some(etag)) => dav
                    .put(id, old.to_owned(), Precondition::Matches(&etag))
                    .await
                    .map(drop),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Undo::Deleted(old) => dav
            .put(id, old.to_owned(), Precondition::Create)
            .await
            .map(drop),
    };
    match undone {
        Ok(()) => {
            tracing::warn!(error = ?error, "an event's record could not be stored: its CalDAV write was taken back")
        }
        Err(e) => {
            tracing::error!(error = ?error, undo = %e, "an event's record could not be stored, nor its CalDAV write taken back")
        }
    }
    error
}
