//! The jobs the outbox does: each with its payload, its name in the `kind` column and its dedupe
//! key. Rows already in the database hold these names and payloads, so they stay as they are
//! (the tests below hold them to it).

use serde::{Deserialize, Serialize};

use crate::config::ProvisionTarget;

const BACKCHANNEL_LOGOUT: &str = "backchannel_logout";
const CREATE_NEXTCLOUD: &str = "provision_nextcloud";
const CREATE_MAILCOW: &str = "provision_mailcow";
const DISABLE_NEXTCLOUD: &str = "disable_nextcloud";
const DISABLE_MAILCOW: &str = "disable_mailcow";
const SYNC_MEET_ROOM: &str = "erp_sync_meet_room";
const SYNC_MEET_RECORDING: &str = "erp_sync_meet_recording";
const SYNC_DOCS_DOCUMENT: &str = "erp_sync_docs_document";
const CALENDAR_INVITATION: &str = "calendar_invitation";
const CALENDAR_MEETING: &str = "calendar_meeting";

/// Every job kind, as the `kind` column holds it.
pub const KINDS: [&str; 10] = [
    BACKCHANNEL_LOGOUT,
    CREATE_NEXTCLOUD,
    CREATE_MAILCOW,
    DISABLE_NEXTCLOUD,
    DISABLE_MAILCOW,
    SYNC_MEET_ROOM,
    SYNC_MEET_RECORDING,
    SYNC_DOCS_DOCUMENT,
    CALENDAR_INVITATION,
    CALENDAR_MEETING,
];

/// OpenID Connect Back-Channel Logout 1.0: a client to tell that a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackchannelLogout {
    pub client_id: String,
    pub sid: String,
    pub sub: String,
    /// The client's `backchannel_logout_uri`, as registered when the session ended.
    pub uri: String,
}

/// A downstream account's job carries only the user's id: the job reads the directory when it
/// runs, so a retried job sends what is true then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountJob {
    pub user_id: String,
}

/// A Meet room to copy into the ERP as it is when the job runs. Each change of the room makes
/// one, keyed by the room's `version` then: the job of an older version finds the room moved on
/// and leaves the copying to the newer one, so a late job never writes an older state over a
/// newer one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetRoomSync {
    pub room_id: String,
    pub version: i64,
}

/// A finished recording to copy into the ERP, as it is when the job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetRecordingSync {
    pub recording_id: String,
}

/// A document uploaded through Bheem Docs to copy into the ERP (or take out of it, once
/// deleted) as it is when the job runs; keyed by its `version` as [`MeetRoomSync`] is, for the
/// same reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocsDocumentSync {
    pub company_id: String,
    /// Nextcloud's file id.
    pub file_id: String,
    pub version: i64,
}

/// An iMIP message (RFC 6047) from an event's organizer to its attendees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarInvitation {
    pub company_id: String,
    /// The directory user who organises the event; the mail goes out as their mailbox.
    pub organizer_user_id: String,
    pub event_uid: String,
    pub sequence: i64,
    /// `REQUEST` or `CANCEL`.
    pub method: String,
    pub recipients: Vec<String>,
    /// The mail's subject and plain-text part.
    pub subject: String,
    pub text: String,
    /// The whole VCALENDAR with its METHOD, as the text/calendar part.
    pub ics: String,
}

/// An event's Meet room brought in line with the event's record (made, changed, or cancelled
/// once the event is deleted), when doing it at once failed. It reads the record when it runs,
/// so a late job does what is true then; keyed by the SEQUENCE the change had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarMeetingSync {
    pub company_id: String,
    pub organizer_user_id: String,
    pub event_uid: String,
    pub sequence: i64,
    /// A room to cancel (the meeting was taken off the event); otherwise the room is made to
    /// match the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_room: Option<String>,
}

/// What a job does, with what it needs to do it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    BackchannelLogout(BackchannelLogout),
    /// The user's account on the target (a Nextcloud user, a Mailcow mailbox), made on their
    /// first login.
    CreateAccount(ProvisionTarget, AccountJob),
    /// The account made for a user that the directory has since disabled.
    DisableAccount(ProvisionTarget, AccountJob),
    /// A Meet room's row in the ERP, inserted or updated.
    SyncMeetRoom(MeetRoomSync),
    /// A Meet recording's row in the ERP (`pm_room_bookings`), inserted or updated.
    SyncMeetRecording(MeetRecordingSync),
    /// A document's row in the ERP (`dms.documents`): upserted, or deleted with the document.
    SyncDocsDocument(DocsDocumentSync),
    /// An event's invitation (or cancellation) mailed to its attendees.
    SendCalendarInvitation(CalendarInvitation),
    /// An event's Meet room made to match the event, after doing it at once failed.
    SyncCalendarMeeting(CalendarMeetingSync),
}

/// A claimed job whose row does not read as a [`Job`]; trying again will not help.
#[derive(Debug, thiserror::Error)]
pub enum UnreadableJob {
    #[error("unknown job kind {0}")]
    UnknownKind(String),
    #[error("unreadable job payload: {0}")]
    Payload(#[from] serde_json::Error),
}

impl Job {
    pub fn create_account(target: ProvisionTarget, user_id: &str) -> Self {
        Self::CreateAccount(target, AccountJob::of(user_id))
    }

    pub fn disable_account(target: ProvisionTarget, user_id: &str) -> Self {
        Self::DisableAccount(target, AccountJob::of(user_id))
    }

    /// The ERP's copy of a room, as the room is at `version`.
    pub fn sync_meet_room(room_id: &str, version: i64) -> Self {
        Self::SyncMeetRoom(MeetRoomSync {
            room_id: room_id.to_owned(),
            version,
        })
    }

    /// The ERP's copy of a finished recording.
    pub fn sync_meet_recording(recording_id: &str) -> Self {
        Self::SyncMeetRecording(MeetRecordingSync {
            recording_id: recording_id.to_owned(),
        })
    }

    /// The ERP's copy of a document of `company_id`, as the document is at `version`.
    pub fn sync_docs_document(company_id: &str, file_id: &str, version: i64) -> Self {
        Self::SyncDocsDocument(DocsDocumentSync {
            company_id: company_id.to_owned(),
            file_id: file_id.to_owned(),
            version,
        })
    }

    /// The mail telling an event's attendees of a change (`REQUEST`) or of its end (`CANCEL`).
    pub fn send_calendar_invitation(invitation: CalendarInvitation) -> Self {
        Self::SendCalendarInvitation(invitation)
    }

    /// Its name in the `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BackchannelLogout(_) => BACKCHANNEL_LOGOUT,
            Self::CreateAccount(target, _) => create_kind(*target),
            Self::DisableAccount(ProvisionTarget::Nextcloud, _) => DISABLE_NEXTCLOUD,
            Self::DisableAccount(ProvisionTarget::Mailcow, _) => DISABLE_MAILCOW,
            Self::SyncMeetRoom(_) => SYNC_MEET_ROOM,
            Self::SyncMeetRecording(_) => SYNC_MEET_RECORDING,
            Self::SyncDocsDocument(_) => SYNC_DOCS_DOCUMENT,
            Self::SendCalendarInvitation(_) => CALENDAR_INVITATION,
            Self::SyncCalendarMeeting(_) => CALENDAR_MEETING,
        }
    }

    /// The key that makes it happen once: a session's logout is told to each client once, and an
    /// account is made on the first login only (later logins find the job there and add none).
    pub fn dedupe_key(&self) -> String {
        match self {
            Self::BackchannelLogout(logout) => {
                format!("backchannel:{}:{}", logout.sid, logout.client_id)
            }
            Self::CreateAccount(target, job) => {
                format!("{}:create:{}", target.as_str(), job.user_id)
            }
            Self::DisableAccount(target, job) => {
                format!("{}:disable:{}", target.as_str(), job.user_id)
            }
            Self::SyncMeetRoom(sync) => format!("erp:meet_room:{}:{}", sync.room_id, sync.version),
            Self::SyncMeetRecording(sync) => format!("erp:meet_recording:{}", sync.recording_id),
            // File ids are unique in one Nextcloud, not across the companies' Nextclouds.
            Self::SyncDocsDocument(sync) => format!(
                "erp:docs_document:{}:{}:{}",
                sync.company_id, sync.file_id, sync.version
            ),
            // RFC 5546 §2.1.4: an event's UID and SEQUENCE name one revision of it; each revision
            // is mailed once per method. Event UIDs are chosen by clients, so the company and the
            // organizer too (two organizers' events of one UID are two events, as in the record).
            Self::SendCalendarInvitation(invitation) => format!(
                "calendar:invitation:{}:{}:{}:{}:{}",
                invitation.company_id,
                invitation.organizer_user_id,
                invitation.event_uid,
                invitation.sequence,
                invitation.method
            ),
            // One change of an event may call for two steps (the old room cancelled, the new one
            // made): each its own job.
            Self::SyncCalendarMeeting(sync) => {
                let step = match &sync.cancel_room {
                    Some(room) => format!("cancel:{room}"),
                    None => "align".to_owned(),
                };
                format!(
                    "calendar:meeting:{}:{}:{}:{}:{step}",
                    sync.company_id, sync.organizer_user_id, sync.event_uid, sync.sequence
                )
            }
        }
    }

    /// The `payload` column.
    pub fn payload(&self) -> String {
        let json = match self {
            Self::BackchannelLogout(logout) => serde_json::to_string(logout),
            Self::CreateAccount(_, job) | Self::DisableAccount(_, job) => {
                serde_json::to_string(job)
            }
            Self::SyncMeetRoom(sync) => serde_json::to_string(sync),
            Self::SyncMeetRecording(sync) => serde_json::to_string(sync),
            Self::SyncDocsDocument(sync) => serde_json::to_string(sync),
            Self::SendCalendarInvitation(invitation) => serde_json::to_string(invitation),
            Self::SyncCalendarMeeting(sync) => serde_json::to_string(sync),
        };
        json.expect("a job's payload is plain strings and numbers")
    }

    /// The job a row holds.
    pub fn read(kind: &str, payload: &str) -> Result<Self, UnreadableJob> {
        use ProvisionTarget::{Mailcow, Nextcloud};
        let account = || serde_json::from_str::<AccountJob>(payload);
        Ok(match kind {
            BACKCHANNEL_LOGOUT => Self::BackchannelLogout(serde_json::from_str(payload)?),
            CREATE_NEXTCLOUD => Self::CreateAccount(Nextcloud, account()?),
            CREATE_MAILCOW => Self::CreateAccount(Mailcow, account()?),
            DISABLE_NEXTCLOUD => Self::DisableAccount(Nextcloud, account()?),
            DISABLE_MAILCOW => Self::DisableAccount(Mailcow, account()?),
            SYNC_MEET_ROOM => Self::SyncMeetRoom(serde_json::from_str(payload)?),
            SYNC_MEET_RECORDING => Self::SyncMeetRecording(serde_json::from_str(payload)?),
            SYNC_DOCS_DOCUMENT => Self::SyncDocsDocument(serde_json::from_str(payload)?),
            CALENDAR_INVITATION => Self::SendCalendarInvitation(serde_json::from_str(payload)?),
            CALENDAR_MEETING => Self::SyncCalendarMeeting(serde_json::from_str(payload)?),
            other => return Err(UnreadableJob::UnknownKind(other.to_owned())),
        })
    }
}

impl AccountJob {
    fn of(user_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
        }
    }
}

/// The kind of the jobs that make accounts on `target`, for the deactivation sweep.
pub(super) fn create_kind(target: ProvisionTarget) -> &'static str {
    match target {
        ProvisionTarget::Nextcloud => CREATE_NEXTCLOUD,
        ProvisionTarget::Mailcow => CREATE_MAILCOW,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logout() -> BackchannelLogout {
        BackchannelLogout {
            client_id: "bheem-docs".into(),
            sid: "s1".into(),
            sub: "u1".into(),
            uri: "https://docs.example.com/logout".into(),
        }
    }

    /// Each job as rows written before the outbox knew its jobs' types hold it: kind, dedupe key
    /// and payload, byte for byte (the back-channel payload came from `serde_json::json!`, whose
    /// keys are sorted).
    fn rows() -> Vec<(Job, &'static str, &'static str, &'static str)> {
        use ProvisionTarget::{Mailcow, Nextcloud};
        let account = r#"{"user_id":"u1"}"#;
        vec![
            (
                Job::BackchannelLogout(logout()),
                "backchannel_logout",
                "backchannel:s1:bheem-docs",
                r#"{"client_id":"bheem-docs","sid":"s1","sub":"u1","uri":"https://docs.example.com/logout"}"#,
            ),
            (
                Job::create_account(Nextcloud, "u1"),
                "provision_nextcloud",
                "nextcloud:create:u1",
                account,
            ),
            (
                Job::create_account(Mailcow, "u1"),
                "provision_mailcow",
                "mailcow:create:u1",
                account,
            ),
            (
                Job::disable_account(Nextcloud, "u1"),
                "disable_nextcloud",
                "nextcloud:disable:u1",
                account,
            ),
            (
                Job::disable_account(Mailcow, "u1"),
                "disable_mailcow",
                "mailcow:disable:u1",
                account,
            ),
            (
                Job::sync_meet_room("bhm-abcde-fghij-klmno", 3),
                "erp_sync_meet_room",
                "erp:meet_room:bhm-abcde-fghij-klmno:3",
                r#"{"room_id":"bhm-abcde-fghij-klmno","version":3}"#,
            ),
            (
                Job::sync_meet_recording("r1"),
                "erp_sync_meet_recording",
                "erp:meet_recording:r1",
                r#"{"recording_id":"r1"}"#,
            ),
            (
                Job::sync_docs_document("c1", "4711", 2),
                "erp_sync_docs_document",
                "erp:docs_document:c1:4711:2",
                r#"{"company_id":"c1","file_id":"4711","version":2}"#,
            ),
            (
                Job::send_calendar_invitation(CalendarInvitation {
                    company_id: "c1".into(),
                    organizer_user_id: "u1".into(),
                    event_uid: "e1@bheem".into(),
                    sequence: 2,
                    method: "REQUEST".into(),
                    recipients: vec!["bob@acme.example".into()],
                    subject: "Invitation: Standup".into(),
                    text: "Standup".into(),
                    ics: "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n".into(),
                }),
                "calendar_invitation",
                "calendar:invitation:c1:u1:e1@bheem:2:REQUEST",
                r#"{"company_id":"c1","organizer_user_id":"u1","event_uid":"e1@bheem","sequence":2,"method":"REQUEST","recipients":["bob@acme.example"],"subject":"Invitation: Standup","text":"Standup","ics":"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"}"#,
            ),
            (
                Job::SyncCalendarMeeting(CalendarMeetingSync {
                    company_id: "c1".into(),
                    organizer_user_id: "u1".into(),
                    event_uid: "e1@bheem".into(),
                    sequence: 3,
                    cancel_room: None,
                }),
                "calendar_meeting",
                "calendar:meeting:c1:u1:e1@bheem:3:align",
                r#"{"company_id":"c1","organizer_user_id":"u1","event_uid":"e1@bheem","sequence":3}"#,
            ),
        ]
    }

    #[test]
    fn every_job_is_written_as_the_rows_already_stored_hold_it() {
        for (job, kind, key, payload) in rows() {
            assert_eq!(job.kind(), kind);
            assert_eq!(job.dedupe_key(), key);
            assert_eq!(job.payload(), payload);
        }
    }

    #[test]
    fn every_stored_row_reads_back_as_its_job() {
        for (job, kind, _, payload) in rows() {
            assert_eq!(Job::read(kind, payload).unwrap(), job);
        }
    }

    #[test]
    fn calendar_jobs_of_other_organizers_or_other_steps_have_keys_of_their_own() {
        let invitation = |organizer: &str| {
            Job::send_calendar_invitation(CalendarInvitation {
                company_id: "c1".into(),
                organizer_user_id: organizer.into(),
                event_uid: "e1".into(),
                sequence: 0,
                method: "REQUEST".into(),
                recipients: vec!["bob@acme.example".into()],
                subject: "s".into(),
                text: "t".into(),
                ics: "i".into(),
            })
            .dedupe_key()
        };
        assert_ne!(invitation("u1"), invitation("u2"));
        let meeting = |cancel_room: Option<&str>| {
            Job::SyncCalendarMeeting(CalendarMeetingSync {
                company_id: "c1".into(),
                organizer_user_id: "u1".into(),
                event_uid: "e1".into(),
                sequence: 1,
                cancel_room: cancel_room.map(str::to_owned),
            })
            .dedupe_key()
        };
        let keys = [
            meeting(None),
            meeting(Some("bhm-aaaaa-aaaaa-aaaaa")),
            meeting(Some("bhm-bbbbb-bbbbb-bbbbb")),
        ];
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        assert_ne!(keys[0], keys[2]);
    }

    #[test]
    fn an_unknown_kind_or_a_payload_that_does_not_fit_its_kind_is_unreadable() {
        let unknown = Job::read("test", "{}").unwrap_err();
        assert_eq!(unknown.to_string(), "unknown job kind test");
        let wrong = Job::read("backchannel_logout", r#"{"user_id":"u1"}"#).unwrap_err();
        assert!(matches!(wrong, UnreadableJob::Payload(_)), "{wrong}");
    }
}
