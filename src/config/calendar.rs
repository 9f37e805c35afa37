//! `[calendar]`: Bheem Calendar, users' own Nextcloud calendars through `/api/v1/calendar`.
//!
//! As Bheem Docs does, the hub acts as the user by forwarding their access token to Nextcloud's
//! CalDAV as a Bearer token (user_oidc with `--check-bearer=1`): no Nextcloud password is kept
//! here. The section says where Nextcloud is, how its user ids are made, and the limits of a
//! listing. Where Nextcloud is and the uid claim default to `[docs]`'s, then to
//! `[provisioning.nextcloud]`'s.
//!
//! Without `[calendar]` the calendar routes answer 404 and discovery omits the `calendar` scope.

use serde::Deserialize;

use super::docs::DocsConfig;
use super::provisioning::{nextcloud_as_user, ProvisioningConfig};
use super::ConfigError;

const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 30;
const DEFAULT_CALENDAR: &str = "personal";
const DEFAULT_MAX_RANGE_DAYS: u32 = 366;
/// Beyond ten years a listing is an export, not a view.
const MAX_RANGE_DAYS: u32 = 3660;
const DEFAULT_MAX_OCCURRENCES: u32 = 2000;
/// The expansion's own bound (`rrule` counts occurrences in a `u16`).
const MAX_OCCURRENCES: u32 = 10_000;

#[derive(Clone, Debug)]
pub struct CalendarConfig {
    /// Nextcloud's base URL without a trailing slash: calendars are under
    /// `{url}/remote.php/dav/calendars/{uid}/`.
    pub nextcloud_url: String,
    /// The claim that is the user's Nextcloud user id: `sub`, `preferred_username` or `email`.
    pub uid_claim: String,
    /// How long Nextcloud may take to answer a call before it counts as too slow (504).
    pub request_timeout_seconds: u64,
    /// The calendar events go to and are listed from when a request names none (Nextcloud
    /// makes `personal` at a user's first login).
    pub default_calendar: String,
    /// The longest range one listing covers, in days.
    pub max_range_days: u32,
    /// The most events and occurrences one listing returns; past it the answer says it is
    /// truncated.
    pub max_occurrences: u32,
}

/// `[calendar]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    pub(super) nextcloud_url: Option<String>,
    pub(super) uid_claim: Option<String>,
    pub(super) request_timeout_seconds: Option<u64>,
    pub(super) default_calendar: Option<String>,
    pub(super) max_range_days: Option<u32>,
    pub(super) max_occurrences: Option<u32>,
}

/// Whether `name` can be a calendar's URI segment in Nextcloud (`personal`,
/// `contact_birthdays`, `app-generated--deck--board-1`): what the API takes as a calendar id.
pub fn is_calendar_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `[calendar]` checked; its defaults come from `[docs]`, then `[provisioning.nextcloud]`.
pub(super) fn validate_calendar(
    raw: RawCalendar,
    docs: Option<&DocsConfig>,
    provisioning: &ProvisioningConfig,
) -> Result<CalendarConfig, ConfigError> {
    let fallback = match (docs, provisioning.nextcloud.as_ref()) {
        (Some(d), _) => Some((d.nextcloud_url.as_str(), d.uid_claim.as_str())),
        (None, Some(n)) => Some((n.url.as_str(), n.uid_claim.as_str())),
        (None, None) => None,
    };
    let (nextcloud_url, uid_claim) = nextcloud_as_user(
        "calendar",
        raw.nextcloud_url,
        raw.uid_claim.as_deref(),
        fallback,
        "[docs] or [provisioning.nextcloud]",
    )?;
    let request_timeout_seconds = raw
        .request_timeout_seconds
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECONDS);
    if !(1..=600).contains(&request_timeout_seconds) {
        return Err(ConfigError::new(
            "calendar.request_timeout_seconds",
            "must be between 1 and 600",
        ));
    }
    let default_calendar = raw
        .default_calendar
        .unwrap_or_else(|| DEFAULT_CALENDAR.to_owned());
    if !is_calendar_name(&default_calendar) {
        return Err(ConfigError::new(
            "calendar.default_calendar",
            "must be a calendar's name in Nextcloud: letters, digits, '-', '_' and '.'",
        ));
    }
    let max_range_days = raw.max_range_days.unwrap_or(DEFAULT_MAX_RANGE_DAYS);
    if !(1..=MAX_RANGE_DAYS).contains(&max_range_days) {
        return Err(ConfigError::new(
            "calendar.max_range_days",
            format!("must be between 1 and {MAX_RANGE_DAYS}"),
        ));
    }
    let max_occurrences = raw.max_occurrences.unwrap_or(DEFAULT_MAX_OCCURRENCES);
    if !(1..=MAX_OCCURRENCES).contains(&max_occurrences) {
        return Err(ConfigError::new(
            "calendar.max_occurrences",
            format!("must be between 1 and {MAX_OCCURRENCES}"),
        ));
    }
    Ok(CalendarConfig {
        nextcloud_url,
        uid_claim,
        request_timeout_seconds,
        default_calendar,
        max_range_days,
        max_occurrences,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{load_env as load, NEXTCLOUD_BY_EMAIL as NEXTCLOUD};

    #[test]
    fn defaults_come_from_docs_then_provisioning() {
        let config = load(&format!("{NEXTCLOUD}[calendar]\n"), &[]).unwrap();
        let calendar = config.calendar.unwrap();
        assert_eq!(calendar.nextcloud_url, "https://docs.example.org");
        assert_eq!(calendar.uid_claim, "email");
        assert_eq!(calendar.request_timeout_seconds, 30);
        assert_eq!(calendar.default_calendar, "personal");
        assert_eq!(calendar.max_range_days, 366);
        assert_eq!(calendar.max_occurrences, 2000);
        let config = load(
            &format!(
                "{NEXTCLOUD}[docs]\nnextcloud_url = \"http://nc.internal\"\n\
                 uid_claim = \"sub\"\n[calendar]\n"
            ),
            &[],
        )
        .unwrap();
        let calendar = config.calendar.unwrap();
        assert_eq!(calendar.nextcloud_url, "http://nc.internal");
        assert_eq!(calendar.uid_claim, "sub");
        assert!(load("", &[]).unwrap().calendar.is_none());
    }

    #[test]
    fn own_values_and_environment_overrides() {
        let config = load(
            "[calendar]\nnextcloud_url = \"http://127.0.0.1:8080\"\nmax_range_days = 31\n",
            &[
                ("BHEEM_SSO_CALENDAR_REQUEST_TIMEOUT_SECONDS", "5"),
                ("BHEEM_SSO_CALENDAR_UID_CLAIM", "sub"),
                ("BHEEM_SSO_CALENDAR_DEFAULT_CALENDAR", "work"),
                ("BHEEM_SSO_CALENDAR_MAX_OCCURRENCES", "50"),
            ],
        )
        .unwrap();
        let calendar = config.calendar.unwrap();
        assert_eq!(calendar.nextcloud_url, "http://127.0.0.1:8080");
        assert_eq!(calendar.uid_claim, "sub");
        assert_eq!(calendar.request_timeout_seconds, 5);
        assert_eq!(calendar.default_calendar, "work");
        assert_eq!(calendar.max_range_days, 31);
        assert_eq!(calendar.max_occurrences, 50);
        let config = load(
            "",
            &[("BHEEM_SSO_CALENDAR_NEXTCLOUD_URL", "https://nc.example.org")],
        );
        assert_eq!(
            config.unwrap().calendar.unwrap().nextcloud_url,
            "https://nc.example.org"
        );
    }

    #[test]
    fn problems_name_the_key() {
        let url = "[calendar]\nnextcloud_url = \"http://x\"\n";
        for (text, key) in [
            ("[calendar]\n".to_owned(), "calendar.nextcloud_url"),
            (
                "[calendar]\nnextcloud_url = \"ftp://x\"\n".to_owned(),
                "calendar.nextcloud_url",
            ),
            (format!("{url}uid_claim = \"name\"\n"), "calendar.uid_claim"),
            (
                format!("{url}request_timeout_seconds = 0\n"),
                "calendar.request_timeout_seconds",
            ),
            (
                format!("{url}default_calendar = \"../bob\"\n"),
                "calendar.default_calendar",
            ),
            (
                format!("{url}max_range_days = 0\n"),
                "calendar.max_range_days",
            ),
            (
                format!("{url}max_occurrences = 100000\n"),
                "calendar.max_occurrences",
            ),
        ] {
            let errors = load(&text, &[]).unwrap_err();
            assert!(errors.0.iter().any(|e| e.key == key), "{text}: {errors:?}");
        }
    }
}
