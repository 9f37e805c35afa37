//! `[erp_sync]`: where the workspace's objects are copied into the ERP (Meet's rooms into
//! `project_management.pm_meeting_rooms`, their recordings into `pm_room_bookings`, documents
//! uploaded through Bheem Docs into `dms.documents`), with table and column names as the ERP has
//! them.
//! Absent, nothing is copied.

use serde::Deserialize;

use super::directory::{check_identifier, DirectoryConfig};
use super::env::secret_var;
use super::validate::Problems;
use super::{Backend, ConfigError, DatabaseUrl};

/// Where and how the ERP receives the workspace's objects.
#[derive(Clone, Debug)]
pub struct ErpSyncConfig {
    pub url: DatabaseUrl,
    pub meeting_rooms: ErpTable,
    pub meeting_room_columns: MeetingRoomColumns,
    /// Where finished recordings go (`project_management.pm_room_bookings`).
    pub room_bookings: ErpTable,
    pub room_booking_columns: RoomBookingColumns,
    /// Where documents uploaded through Bheem Docs go (`dms.documents`).
    pub documents: ErpTable,
    pub document_columns: DocumentColumns,
}

/// The columns of the ERP's document table; each a plain SQL identifier.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentColumns {
    /// The row's key (a UUID made from the company and Nextcloud's file id: one row per file).
    pub id: String,
    /// The file's name without its extension.
    pub title: String,
    pub file_name: String,
    /// Where the file is in Nextcloud: `/remote.php/dav/files/{user}{path}`.
    pub storage_path: String,
    pub company_id: String,
    /// Who uploaded it (the directory's user id).
    pub created_by: String,
}

impl DocumentColumns {
    /// Each column with its configuration key.
    pub fn named(&self) -> [(&'static str, &str); 6] {
        [
            ("erp_sync.document_columns.id", &self.id),
            ("erp_sync.document_columns.title", &self.title),
            ("erp_sync.document_columns.file_name", &self.file_name),
            ("erp_sync.document_columns.storage_path", &self.storage_path),
            ("erp_sync.document_columns.company_id", &self.company_id),
            ("erp_sync.document_columns.created_by", &self.created_by),
        ]
    }
}

impl Default for DocumentColumns {
    fn default() -> Self {
        Self {
            id: "id".into(),
            title: "title".into(),
            file_name: "file_name".into(),
            storage_path: "storage_path".into(),
            company_id: "company_id".into(),
            created_by: "created_by".into(),
        }
    }
}

/// The columns of the ERP's room-booking table, which holds the recordings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomBookingColumns {
    /// The room's row in the meeting-room table (its `id`).
    pub room_id: String,
    /// The object's URL in the bucket (not presigned: the bucket stays private).
    pub recording_url: String,
    /// The object's key: what tells one recording's row from another's.
    pub s3_path: String,
    pub duration_seconds: String,
}

impl RoomBookingColumns {
    pub fn named(&self) -> [(&'static str, &str); 4] {
        [
            ("erp_sync.room_booking_columns.room_id", &self.room_id),
            (
                "erp_sync.room_booking_columns.recording_url",
                &self.recording_url,
            ),
            ("erp_sync.room_booking_columns.s3_path", &self.s3_path),
            (
                "erp_sync.room_booking_columns.duration_seconds",
                &self.duration_seconds,
            ),
        ]
    }
}

impl Default for RoomBookingColumns {
    fn default() -> Self {
        Self {
            room_id: "room_id".into(),
            recording_url: "recording_url".into(),
            s3_path: "s3_path".into(),
            duration_seconds: "duration_seconds".into(),
        }
    }
}

/// A `schema.table`, both plain SQL identifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErpTable {
    pub schema: String,
    pub table: String,
}

impl std::fmt::Display for ErpTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// The columns of the ERP's meeting-room table; each a plain SQL identifier.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeetingRoomColumns {
    /// The row's key (a UUID made from the room id, so each room is one row).
    pub id: String,
    pub name: String,
    /// The room id as people and LiveKit see it (`bhm-…`).
    pub room_code: String,
    pub created_by: String,
    pub company_id: String,
    pub scheduled_start: String,
    pub scheduled_end: String,
    pub status: String,
}

impl MeetingRoomColumns {
    /// Each column with its configuration key.
    pub fn named(&self) -> [(&'static str, &str); 8] {
        [
            ("erp_sync.meeting_room_columns.id", &self.id),
            ("erp_sync.meeting_room_columns.name", &self.name),
            ("erp_sync.meeting_room_columns.room_code", &self.room_code),
            ("erp_sync.meeting_room_columns.created_by", &self.created_by),
            ("erp_sync.meeting_room_columns.company_id", &self.company_id),
            (
                "erp_sync.meeting_room_columns.scheduled_start",
                &self.scheduled_start,
            ),
            (
                "erp_sync.meeting_room_columns.scheduled_end",
                &self.scheduled_end,
            ),
            ("erp_sync.meeting_room_columns.status", &self.status),
        ]
    }
}

impl Default for MeetingRoomColumns {
    fn default() -> Self {
        Self {
            id: "id".into(),
            name: "name".into(),
            room_code: "room_code".into(),
            created_by: "created_by".into(),
            company_id: "company_id".into(),
            scheduled_start: "scheduled_start".into(),
            scheduled_end: "scheduled_end".into(),
            status: "status".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawErpSync {
    pub(super) url: Option<String>,
    pub(super) url_env: Option<String>,
    pub(super) meeting_rooms: Option<String>,
    #[serde(default)]
    pub(super) meeting_room_columns: MeetingRoomColumns,
    pub(super) room_bookings: Option<String>,
    #[serde(default)]
    pub(super) room_booking_columns: RoomBookingColumns,
    pub(super) documents: Option<String>,
    #[serde(default)]
    pub(super) document_columns: DocumentColumns,
}

/// `schema.table` as written, each part checked; `default` when not written, and its schema
/// when only a table is.
fn table(
    raw: Option<String>,
    (default_schema, default_table): (&str, &str),
    key: &'static str,
    problems: &mut Problems,
) -> ErpTable {
    let written = raw.unwrap_or_else(|| format!("{default_schema}.{default_table}"));
    let table = match written.split_once('.') {
        Some((schema, table)) => ErpTable {
            schema: schema.to_owned(),
            table: table.to_owned(),
        },
        None => ErpTable {
            schema: default_schema.to_owned(),
            table: written,
        },
    };
    for part in [&table.schema, &table.table] {
        problems.take(check_identifier(part).map_err(|m| ConfigError::new(key, m)));
    }
    table
}

/// The `[erp_sync]` section, or `None` with every problem it has noted. Without a URL of its
/// own it copies into the database of `[directory]`, the ERP's.
pub(super) fn validate_erp_sync(
    raw: RawErpSync,
    directory: Option<&DirectoryConfig>,
    env: &[(String, String)],
    problems: &mut Problems,
) -> Option<ErpSyncConfig> {
    let before = problems.len();
    let url_key = if raw.url_env.is_some() {
        "erp_sync.url_env"
    } else {
        "erp_sync.url"
    };
    let url = match (raw.url, &raw.url_env) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "erp_sync.url_env",
            "give either url or url_env, not both",
        )),
        (Some(url), None) => DatabaseUrl::parse(&url).map_err(|m| ConfigError::new(url_key, m)),
        (None, Some(var)) => secret_var(env, var)
            .and_then(|url| DatabaseUrl::parse(&url))
            .map_err(|m| ConfigError::new(url_key, m)),
        (None, None) => directory.map(|d| d.url.clone()).ok_or_else(|| {
            ConfigError::new(
                "erp_sync.url",
                "missing, and there is no [directory] whose database it could default to",
            )
        }),
    }
    .and_then(|url| {
        if url.backend() == Backend::Postgres {
            Ok(url)
        } else {
            Err(ConfigError::new(
                url_key,
                "the ERP must be a postgres:// URL",
            ))
        }
    });
    let url = problems.take(url);
    let meeting_rooms = table(
        raw.meeting_rooms,
        ("project_management", "pm_meeting_rooms"),
        "erp_sync.meeting_rooms",
        problems,
    );
    let room_bookings = table(
        raw.room_bookings,
        ("project_management", "pm_room_bookings"),
        "erp_sync.room_bookings",
        problems,
    );
    let documents = table(
        raw.documents,
        ("dms", "documents"),
        "erp_sync.documents",
        problems,
    );
    let columns = raw
        .meeting_room_columns
        .named()
        .into_iter()
        .chain(raw.room_booking_columns.named())
        .chain(raw.document_columns.named());
    for (key, value) in columns {
        problems.take(check_identifier(value).map_err(|m| ConfigError::new(key, m)));
    }
    if problems.len() > before {
        return None;
    }
    Some(ErpSyncConfig {
        url: url?,
        meeting_rooms,
        meeting_room_columns: raw.meeting_room_columns,
        room_bookings,
        room_booking_columns: raw.room_booking_columns,
        documents,
        document_columns: raw.document_columns,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSource};

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, Vec<String>> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_parts(toml, &env, ConfigSource::BuiltInDefaults)
            .map_err(|e| e.keys().into_iter().map(str::to_owned).collect())
    }

    #[test]
    fn without_a_url_it_copies_into_the_directorys_database() {
        let config = load(
            "[directory]\nurl = \"postgres://erp@db/erp\"\n[erp_sync]\n",
            &[],
        )
        .unwrap();
        let erp = config.erp_sync.unwrap();
        assert_eq!(erp.url.expose(), "postgres://erp@db/erp");
        assert_eq!(
            erp.meeting_rooms.to_string(),
            "project_management.pm_meeting_rooms"
        );
        assert_eq!(
            erp.room_bookings.to_string(),
            "project_management.pm_room_bookings"
        );
        assert_eq!(erp.meeting_room_columns.room_code, "room_code");
        assert_eq!(erp.documents.to_string(), "dms.documents");
        assert_eq!(erp.document_columns.storage_path, "storage_path");
        assert!(load("", &[]).unwrap().erp_sync.is_none());
    }

    #[test]
    fn a_table_without_a_schema_is_in_project_management_and_names_are_as_given() {
        let config = load(
            "[erp_sync]\nurl_env = \"ERP\"\nmeeting_rooms = \"rooms\"\n\
             [erp_sync.room_booking_columns]\ns3_path = \"object_key\"\n",
            &[("ERP", "postgres://erp@db/erp")],
        )
        .unwrap();
        let erp = config.erp_sync.unwrap();
        assert_eq!(erp.meeting_rooms.to_string(), "project_management.rooms");
        assert_eq!(erp.room_booking_columns.s3_path, "object_key");
    }

    #[test]
    fn the_document_table_is_in_dms_unless_another_schema_is_named() {
        let erp_sync = |documents: &str| {
            let toml = format!(
                "[erp_sync]\nurl = \"postgres://erp@db/erp\"\ndocuments = \"{documents}\"\n\
                 [erp_sync.document_columns]\ntitle = \"name\"\ncreated_by = \"owner_id\"\n"
            );
            load(&toml, &[]).unwrap().erp_sync.unwrap()
        };
        let erp = erp_sync("files");
        assert_eq!(erp.documents.to_string(), "dms.files");
        assert_eq!(erp.document_columns.title, "name");
        assert_eq!(erp.document_columns.created_by, "owner_id");
        assert_eq!(erp.document_columns.file_name, "file_name");
        assert_eq!(
            erp_sync("records.Documents").documents,
            crate::config::ErpTable {
                schema: "records".into(),
                table: "Documents".into(),
            }
        );
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        assert_eq!(load("[erp_sync]\n", &[]).unwrap_err(), ["erp_sync.url"]);
        assert_eq!(
            load("[erp_sync]\nurl = \"sqlite://x.db\"\n", &[]).unwrap_err(),
            ["erp_sync.url"]
        );
        assert_eq!(
            load("[erp_sync]\nurl_env = \"NOPE\"\n", &[]).unwrap_err(),
            ["erp_sync.url_env"]
        );
        let bad = "[erp_sync]\nurl = \"postgres://erp@db/erp\"\n\
                   room_bookings = \"pm.room bookings\"\n\
                   documents = \"dms.documents.v2\"\n\
                   [erp_sync.meeting_room_columns]\nstatus = \"status; DROP TABLE x\"\n\
                   [erp_sync.document_columns]\nstorage_path = 'path\"'\n";
        assert_eq!(
            load(bad, &[]).unwrap_err(),
            [
                "erp_sync.room_bookings",
                "erp_sync.documents",
                "erp_sync.meeting_room_columns.status",
                "erp_sync.document_columns.storage_path"
            ]
        );
        // A column the ERP's copy does not write is a mistake, not a column to fill.
        let unknown = "[erp_sync]\nurl = \"postgres://erp@db/erp\"\n\
                       [erp_sync.document_columns]\nsize = \"size\"\n";
        assert_eq!(
            load(unknown, &[]).unwrap_err(),
            ["erp_sync.document_columns.size"]
        );
        // An override alone makes the section.
        let config = load("", &[("BHEEM_SSO_ERP_SYNC_URL", "postgres://erp@db/erp")]).unwrap();
        assert!(config.erp_sync.is_some());
    }
}
