//! What an audit event says: its kind, who did it, whom and what it concerns, and details.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde_json::{Map, Value};

/// The kinds of event, as the `kind` column and `--kind` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    /// Every password-hashing slot was busy: nothing was checked.
    LoginRefusedBusy,
    /// A client failed to authenticate at the token, introspection or revocation endpoint.
    ClientAuthFailed,
    Logout,
    SessionEnded,
    ConsentGranted,
    TokenIssued,
    TokenRevoked,
    RefreshReuseDetected,
    UserDisabled,
    UserEnabled,
    KeyRotated,
    ProvisioningDone,
    ProvisioningFailed,
    AdminCommand,
    /// A Meet room's host ended it (everyone in it was disconnected).
    MeetRoomEnded,
    /// A Meet room's host started or stopped recording it.
    MeetRecordingStarted,
    MeetRecordingStopped,
}

impl Kind {
    pub const ALL: [Kind; 20] = [
        Kind::LoginSucceeded,
        Kind::LoginFailed,
        Kind::LoginThrottled,
        Kind::LoginRefusedBusy,
        Kind::ClientAuthFailed,
        Kind::Logout,
        Kind::SessionEnded,
        Kind::ConsentGranted,
        Kind::TokenIssued,
        Kind::TokenRevoked,
        Kind::RefreshReuseDetected,
        Kind::UserDisabled,
        Kind::UserEnabled,
        Kind::KeyRotated,
        Kind::ProvisioningDone,
        Kind::ProvisioningFailed,
        Kind::AdminCommand,
        Kind::MeetRoomEnded,
        Kind::MeetRecordingStarted,
        Kind::MeetRecordingStopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LoginSucceeded => "login_succeeded",
            Kind::LoginFailed => "login_failed",
            Kind::LoginThrottled => "login_throttled",
            Kind::LoginRefusedBusy => "login_refused_busy",
            Kind::ClientAuthFailed => "client_auth_failed",
            Kind::Logout => "logout",
            Kind::SessionEnded => "session_ended",
            Kind::ConsentGranted => "consent_granted",
            Kind::TokenIssued => "token_issued",
            Kind::TokenRevoked => "token_revoked",
            Kind::RefreshReuseDetected => "refresh_reuse_detected",
            Kind::UserDisabled => "user_disabled",
            Kind::UserEnabled => "user_enabled",
            Kind::KeyRotated => "key_rotated",
            Kind::ProvisioningDone => "provisioning_done",
            Kind::ProvisioningFailed => "provisioning_failed",
            Kind::AdminCommand => "admin_command",
            Kind::MeetRoomEnded => "meet_room_ended",
            Kind::MeetRecordingStarted => "meet_recording_started",
            Kind::MeetRecordingStopped => "meet_recording_stopped",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown kind `{s}`; one of {}", known.join(", "))
            })
    }
}

/// Who acts when no user or client does.
pub const SYSTEM: &str = "system";
/// The actor of a failed login that names nobody the directory knows.
pub const ANONYMOUS: &str = "anonymous";

/// One event, built where it happens. The time and, in a request, the request id, client
/// address and user agent are added by [`super::Audit::record`]. Details are plain values and
/// never a secret: no password, token, code, cookie or client secret, and a login name that
/// names nobody only as [`super::login_digest`].
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: Kind,
    pub actor: String,
    pub user_id: Option<String>,
    pub company_id: Option<String>,
    pub client_id: Option<String>,
    /// Said by the caller where it knows the address better than the request's origin does.
    pub client_addr: Option<IpAddr>,
    pub detail: Map<String, Value>,
}

impl Event {
    pub fn new(kind: Kind, actor: impl Into<String>) -> Self {
        Self {
            kind,
            actor: actor.into(),
            user_id: None,
            company_id: None,
            client_id: None,
            client_addr: None,
            detail: Map::new(),
        }
    }

    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    pub fn company(mut self, company_id: impl ToString) -> Self {
        self.company_id = Some(company_id.to_string());
        self
    }

    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    pub fn client_addr(mut self, addr: IpAddr) -> Self {
        self.client_addr = Some(addr);
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        let unknown = "login".parse::<Kind>().unwrap_err();
        assert!(unknown.contains("login_succeeded"), "{unknown}");
    }
}
