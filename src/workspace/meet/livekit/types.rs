//! LiveKit's messages as JSON (livekit/protocol `livekit_models.proto`, `livekit_egress.proto`,
//! `livekit_webhook.proto`). The server API answers with the proto field names (snake_case) and
//! leaves default values out; webhooks come as protojson's camelCase. Both are read: each field
//! has its camelCase name as an alias. int64 fields (times, durations in nanoseconds, sizes) are
//! JSON strings in protojson, and read from a string or a number.

use serde::{Deserialize, Deserializer};

/// A LiveKit room (`livekit.Room`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Room {
    pub sid: String,
    pub name: String,
    #[serde(alias = "emptyTimeout")]
    pub empty_timeout: u32,
    #[serde(alias = "maxParticipants")]
    pub max_participants: u32,
    #[serde(alias = "creationTime", deserialize_with = "int64")]
    pub creation_time: i64,
    pub metadata: String,
    #[serde(alias = "numParticipants")]
    pub num_participants: u32,
}

/// A participant (`livekit.ParticipantInfo`), as far as we use it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ParticipantInfo {
    pub sid: String,
    pub identity: String,
    pub name: String,
    pub metadata: String,
    #[serde(alias = "joinedAt", deserialize_with = "int64")]
    pub joined_at: i64,
}

/// Where an egress is (`livekit.EgressStatus`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EgressStatus {
    #[default]
    Starting,
    Active,
    Ending,
    Complete,
    Failed,
    Aborted,
    LimitReached,
}

impl EgressStatus {
    const NAMES: [(&'static str, EgressStatus); 7] = [
        ("EGRESS_STARTING", EgressStatus::Starting),
        ("EGRESS_ACTIVE", EgressStatus::Active),
        ("EGRESS_ENDING", EgressStatus::Ending),
        ("EGRESS_COMPLETE", EgressStatus::Complete),
        ("EGRESS_FAILED", EgressStatus::Failed),
        ("EGRESS_ABORTED", EgressStatus::Aborted),
        ("EGRESS_LIMIT_REACHED", EgressStatus::LimitReached),
    ];

    /// The proto enum's name, as protojson writes it.
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(n, _)| *n)
            .expect("every status is named")
    }

    /// Whether the egress has stopped for good.
    pub fn is_over(self) -> bool {
        !matches!(self, Self::Starting | Self::Active | Self::Ending)
    }
}

impl<'de> Deserialize<'de> for EgressStatus {
    /// protojson writes the name; it also reads the number, as does this.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Number(usize),
        }
        match Raw::deserialize(d)? {
            Raw::Name(name) => Self::NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| *s)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown egress status {name}"))),
            Raw::Number(i) => Self::NAMES
                .get(i)
                .map(|(_, s)| *s)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown egress status {i}"))),
        }
    }
}

/// One file an egress wrote (`livekit.FileInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FileInfo {
    /// The object key (the request's `filepath`, templates filled in).
    pub filename: String,
    /// Where it was uploaded: a URL of the object.
    pub location: String,
    #[serde(alias = "startedAt", deserialize_with = "int64")]
    pub started_at: i64,
    #[serde(alias = "endedAt", deserialize_with = "int64")]
    pub ended_at: i64,
    /// Nanoseconds.
    #[serde(deserialize_with = "int64")]
    pub duration: i64,
    /// Bytes.
    #[serde(deserialize_with = "int64")]
    pub size: i64,
}

impl FileInfo {
    /// The duration in whole seconds, rounded to the nearest.
    pub fn duration_seconds(&self) -> i64 {
        (self.duration + 500_000_000) / 1_000_000_000
    }
}

/// An egress (`livekit.EgressInfo`), as far as we use it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct EgressInfo {
    #[serde(alias = "egressId")]
    pub egress_id: String,
    #[serde(alias = "roomId")]
    pub room_id: String,
    #[serde(alias = "roomName")]
    pub room_name: String,
    pub status: EgressStatus,
    /// Nanoseconds since the epoch.
    #[serde(alias = "startedAt", deserialize_with = "int64")]
    pub started_at: i64,
    #[serde(alias = "endedAt", deserialize_with = "int64")]
    pub ended_at: i64,
    pub error: String,
    #[serde(alias = "fileResults")]
    pub file_results: Vec<FileInfo>,
}

/// A webhook's event (`livekit.WebhookEvent`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WebhookEvent {
    /// `room_started`, `room_finished`, `participant_joined`, `egress_ended`, …
    pub event: String,
    pub room: Option<Room>,
    pub participant: Option<ParticipantInfo>,
    #[serde(alias = "egressInfo")]
    pub egress_info: Option<EgressInfo>,
    /// Unique per event: a receiver may see one event twice.
    pub id: String,
    /// Seconds since the epoch.
    #[serde(alias = "createdAt", deserialize_with = "int64")]
    pub created_at: i64,
}

/// An int64 as protojson writes it (a string), or as a number; `null` is 0.
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
        Null,
    }
    match Option::<Raw>::deserialize(d)? {
        Some(Raw::Number(n)) => Ok(n),
        Some(Raw::Text(s)) => s
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not an int64"))),
        Some(Raw::Null) | None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn egress_ended_webhook_reads_in_camel_case_with_int64_strings() {
        let body = r#"{"event":"egress_ended","id":"EV_1","createdAt":"1700000100",
            "egressInfo":{"egressId":"EG_1","roomId":"RM_1","roomName":"bhm-abc-xyz",
            "status":"EGRESS_COMPLETE","startedAt":"1700000000000000000",
            "fileResults":[{"filename":"meet/bhm-abc-xyz/1.mp4","location":"http://s3/b/k",
            "duration":"61500000000","size":"2048"}]}}"#;
        let event: WebhookEvent = serde_json::from_str(body).unwrap();
        assert_eq!(event.created_at, 1_700_000_100);
        let egress = event.egress_info.unwrap();
        assert_eq!(egress.status, EgressStatus::Complete);
        assert_eq!(egress.file_results[0].size, 2048);
        assert_eq!(egress.file_results[0].duration_seconds(), 62);
    }

    #[test]
    fn twirp_answers_read_in_snake_case_with_defaults_left_out() {
        let egress: EgressInfo =
            serde_json::from_str(r#"{"egress_id":"EG_2","room_name":"r","status":1}"#).unwrap();
        assert_eq!(egress.status, EgressStatus::Active);
        assert_eq!(egress.started_at, 0);
        assert!(egress.file_results.is_empty());
        assert!(serde_json::from_str::<EgressInfo>(r#"{"status":"EGRESS_NOPE"}"#).is_err());
        assert!(serde_json::from_str::<FileInfo>(r#"{"size":"big"}"#).is_err());
    }
}
