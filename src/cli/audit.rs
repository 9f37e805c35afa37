//! `bheem-sso audit`: the trail read back, and who an operator is when a command records.

use std::ffi::CStr;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app;
use crate::audit::Kind;
use crate::clock::{Clock, UnixTime};
use crate::config::Config;
use crate::directory::FoundLogin;
use crate::store::audit_events::{AuditFilter, AuditRow};
use crate::store::Db;

#[derive(Debug, Args)]
#[command(after_help = KINDS_HELP)]
pub struct AuditArgs {
    /// Only events about this user: their id, or an email or username looked up in the
    /// directory.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Only events of this company (its UUID).
    #[arg(long, value_name = "UUID")]
    pub company: Option<String>,
    /// From this long ago on (2h, 30m, 7d, "1h 30m"), or from an RFC 3339 time
    /// (2026-12-01T08:00:00Z).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only before this long ago, or before an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only events of this kind; give it again for several kinds (listed below).
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// At most this many events, the newest.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: i64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

const KINDS_HELP: &str = "Kinds: login_succeeded, login_failed, login_throttled, \
login_refused_busy, logout, session_ended, consent_granted, token_issued, token_revoked, \
refresh_reuse_detected, user_disabled, user_enabled, key_rotated, provisioning_done, \
provisioning_failed, admin_command, client_auth_failed, meet_room_ended, meet_recording_started, \
meet_recording_stopped.\n\nEvents are listed newest first; docs/operating/audit.md \
says what each one holds.";

/// Prints the events `args` select.
pub async fn show(config: Config, args: AuditArgs) -> anyhow::Result<()> {
    let now = Clock::System.now();
    let kinds = args
        .kinds
        .iter()
        .map(|k| k.parse::<Kind>().map(|k| k.as_str().to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| anyhow::anyhow!("--kind: {m}"))?;
    let since = args
        .since
        .as_deref()
        .map(|w| parse_when(w, now).context("--since"))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|w| parse_when(w, now).context("--until"))
        .transpose()?;
    let company_id = args
        .company
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c.trim())
                .map(|u| u.to_string())
                .map_err(|_| anyhow::anyhow!("--company: `{c}` is not a UUID"))
        })
        .transpose()?;
    if args.limit < 1 {
        bail!("--limit: must be at least 1");
    }
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    let user_id = match args.user.as_deref() {
        Some(user) => Some(resolve_user(&config, &db, user).await?),
        None => None,
    };
    let filter = AuditFilter {
        user_id,
        company_id,
        since,
        until,
        kinds,
        limit: args.limit,
    };
    let rows = db.audit_events(&filter).await?;
    db.close().await;
    if args.json {
        for row in &rows {
            println!("{}", as_json(row));
        }
    } else if rows.is_empty() {
        println!("no events");
    } else {
        for row in &rows {
            println!("{}", as_line(row));
        }
    }
    Ok(())
}

/// A user's id from an email or username the directory knows; anything else is taken as an
/// id already (a user since removed is still found by the id their events carry).
async fn resolve_user(config: &Config, db: &Db, user: &str) -> anyhow::Result<String> {
    let directory = app::build_directory(config, db, &Clock::System)?;
    let found = directory
        .find_by_login(user)
        .await
        .with_context(|| format!("--user: looking up `{user}` in the directory"))?;
    Ok(match found {
        FoundLogin::Account(credentials) => credentials.user.id,
        FoundLogin::NoCompany { user_id } => user_id,
        FoundLogin::Nobody => user.trim().to_owned(),
    })
}

/// `2h`, `30m`, `7d` before `now`, or an RFC 3339 time.
fn parse_when(when: &str, now: UnixTime) -> anyhow::Result<UnixTime> {
    let when = when.trim();
    if let Ok(ago) = humantime::parse_duration(when) {
        return Ok(now.saturating_sub(i64::try_from(ago.as_secs()).unwrap_or(i64::MAX)));
    }
    match OffsetDateTime::parse(when, &Rfc3339) {
        Ok(at) => Ok(at.unix_timestamp()),
        Err(_) => bail!("`{when}` is neither a duration (2h, 30m, 7d) nor an RFC 3339 time"),
    }
}

fn rfc3339(at: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| at.to_string())
}

fn as_json(row: &AuditRow) -> Value {
    let r = &row.record;
    json!({
        "id": row.id,
        "at": rfc3339(r.at),
        "kind": r.kind,
        "actor": r.actor,
        "user_id": r.user_id,
        "company_id": r.company_id,
        "client_id": r.client_id,
        "client_addr": r.client_addr,
        "user_agent": r.user_agent,
        "request_id": r.request_id,
        "detail": serde_json::from_str::<Value>(&r.detail).unwrap_or(Value::String(r.detail.clone())),
    })
}

/// Time, kind and actor in columns, then what is known of the rest.
fn as_line(row: &AuditRow) -> String {
    let r = &row.record;
    let mut line = format!("{}  {:<22}  {}", rfc3339(r.at), r.kind, r.actor);
    let fields = [
        ("user", &r.user_id),
        ("company", &r.company_id),
        ("client", &r.client_id),
        ("addr", &r.client_addr),
        ("request", &r.request_id),
        ("agent", &r.user_agent),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            line.push_str(&format!("  {name}={value}"));
        }
    }
    if r.detail != "{}" {
        line.push_str(&format!("  {}", r.detail));
    }
    line
}

/// Who runs a command, as the trail names them: `cli:<unix user>`.
pub fn operator() -> String {
    format!("cli:{}", unix_user())
}

fn unix_user() -> String {
    // SAFETY: getuid cannot fail; getpwuid_r writes only into `entry` and `buffer`, both ours
    // and alive for the call, and the name is read before either goes.
    unsafe {
        let uid = libc::getuid();
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut buffer = vec![0 as libc::c_char; 4096];
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let status = libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        );
        if status == 0 && !found.is_null() && !entry.pw_name.is_null() {
            CStr::from_ptr(entry.pw_name).to_string_lossy().into_owned()
        } else {
            format!("uid-{uid}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_names_every_kind_of_event() {
        for kind in Kind::ALL {
            let name = kind.as_str();
            let named = KINDS_HELP
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == name);
            assert!(named, "`audit --help` does not name the kind {name}");
        }
    }

    #[test]
    fn when_is_a_duration_back_from_now_or_a_time() {
        let now = 1_000_000;
        assert_eq!(parse_when("2h", now).unwrap(), now - 7200);
        assert_eq!(parse_when("30m", now).unwrap(), now - 1800);
        assert_eq!(parse_when("7d", now).unwrap(), now - 7 * 86_400);
        assert_eq!(parse_when("1970-01-02T00:00:00Z", now).unwrap(), 86_400);
        assert_eq!(
            parse_when("1970-01-02T02:00:00+02:00", now).unwrap(),
            86_400
        );
        assert!(parse_when("yesterday", now).is_err());
    }
}
