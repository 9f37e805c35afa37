//! `[docs]`: Bheem Docs, users' own Nextcloud files through `/api/v1/docs`.
//!
//! The hub acts as the user by forwarding their access token to Nextcloud as a Bearer token,
//! which Nextcloud's user_oidc accepts when its provider is set up with `--check-bearer=1`: no
//! Nextcloud password is known or kept here. What the section needs is therefore only where
//! Nextcloud is, how its user ids are made, and the limits.
//!
//! Without `[docs]` the docs routes answer 404 and discovery omits the `docs` scope.

use serde::Deserialize;

use super::provisioning::{nextcloud_as_user, ProvisioningConfig};
use super::ConfigError;

/// Uploads larger than this are refused unless the operator says otherwise.
const DEFAULT_MAX_UPLOAD_MIB: u64 = 512;
/// 1 TiB: beyond it a number is a mistake, not a policy (Nextcloud's own chunk limits are lower).
const MAX_UPLOAD_MIB: u64 = 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 30;

#[derive(Clone, Debug)]
pub struct DocsConfig {
    /// Nextcloud's base URL, `http(s)://host[:port][/path]` without a trailing slash: WebDAV is
    /// under `{url}/remote.php/dav/files/{uid}/`, the sharing API under `{url}/ocs/v2.php/`.
    pub nextcloud_url: String,
    /// The claim that is the user's Nextcloud user id (as user_oidc maps it, and as
    /// provisioning creates the account): `sub`, `preferred_username` or `email`.
    pub uid_claim: String,
    /// Larger uploads are refused with 413.
    pub max_upload_bytes: u64,
    /// How long Nextcloud may take to answer a call, and at most stay silent in the middle of a
    /// transfer, before it counts as too slow (504).
    pub request_timeout_seconds: u64,
}

/// `[docs]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocs {
    pub(super) nextcloud_url: Option<String>,
    pub(super) uid_claim: Option<String>,
    pub(super) max_upload_mib: Option<u64>,
    pub(super) request_timeout_seconds: Option<u64>,
}

/// `[docs]` checked; its defaults come from `[provisioning.nextcloud]`, which makes the
/// accounts these files belong to.
pub(super) fn validate_docs(
    raw: RawDocs,
    provisioning: &ProvisioningConfig,
) -> Result<DocsConfig, ConfigError> {
    let fallback = provisioning
        .nextcloud
        .as_ref()
        .map(|n| (n.url.as_str(), n.uid_claim.as_str()));
    let (nextcloud_url, uid_claim) = nextcloud_as_user(
        "docs",
        raw.nextcloud_url,
        raw.uid_claim.as_deref(),
        fallback,
        "[provisioning.nextcloud]",
    )?;
    let max_upload_mib = raw.max_upload_mib.unwrap_or(DEFAULT_MAX_UPLOAD_MIB);
    if !(1..=MAX_UPLOAD_MIB).contains(&max_upload_mib) {
        return Err(ConfigError::new(
            "docs.max_upload_mib",
            format!("must be between 1 and {MAX_UPLOAD_MIB} (1 TiB)"),
        ));
    }
    let request_timeout_seconds = raw
        .request_timeout_seconds
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECONDS);
    if !(1..=600).contains(&request_timeout_seconds) {
        return Err(ConfigError::new(
            "docs.request_timeout_seconds",
            "must be between 1 and 600",
        ));
    }
    Ok(DocsConfig {
        nextcloud_url,
        uid_claim,
        max_upload_bytes: max_upload_mib * 1024 * 1024,
        request_timeout_seconds,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{load_env as load, NEXTCLOUD_BY_EMAIL as NEXTCLOUD};

    #[test]
    fn defaults_come_from_provisioning() {
        let config = load(&format!("{NEXTCLOUD}[docs]\n"), &[]).unwrap();
        let docs = config.docs.unwrap();
        assert_eq!(docs.nextcloud_url, "https://docs.example.org");
        assert_eq!(docs.uid_claim, "email");
        assert_eq!(docs.max_upload_bytes, 512 * 1024 * 1024);
        assert_eq!(docs.request_timeout_seconds, 30);
        assert!(load("", &[]).unwrap().docs.is_none());
    }

    #[test]
    fn own_values_and_environment_overrides() {
        let config = load(
            "[docs]\nnextcloud_url = \"http://127.0.0.1:8080\"\nmax_upload_mib = 2\n",
            &[
                ("BHEEM_SSO_DOCS_REQUEST_TIMEOUT_SECONDS", "5"),
                ("BHEEM_SSO_DOCS_UID_CLAIM", "sub"),
            ],
        )
        .unwrap();
        let docs = config.docs.unwrap();
        assert_eq!(docs.nextcloud_url, "http://127.0.0.1:8080");
        assert_eq!(docs.uid_claim, "sub");
        assert_eq!(docs.max_upload_bytes, 2 * 1024 * 1024);
        assert_eq!(docs.request_timeout_seconds, 5);
        let config = load(
            "",
            &[("BHEEM_SSO_DOCS_NEXTCLOUD_URL", "https://nc.example.org")],
        );
        assert_eq!(
            config.unwrap().docs.unwrap().nextcloud_url,
            "https://nc.example.org"
        );
    }

    #[test]
    fn problems_name_the_key() {
        for (text, key) in [
            ("[docs]\n", "docs.nextcloud_url"),
            (
                "[docs]\nnextcloud_url = \"ftp://x\"\n",
                "docs.nextcloud_url",
            ),
            (
                "[docs]\nnextcloud_url = \"http://x\"\nuid_claim = \"name\"\n",
                "docs.uid_claim",
            ),
            (
                "[docs]\nnextcloud_url = \"http://x\"\nmax_upload_mib = 0\n",
                "docs.max_upload_mib",
            ),
            (
                "[docs]\nnextcloud_url = \"http://x\"\nrequest_timeout_seconds = 0\n",
                "docs.request_timeout_seconds",
            ),
        ] {
            let errors = load(text, &[]).unwrap_err();
            assert!(errors.0.iter().any(|e| e.key == key), "{text}: {errors:?}");
        }
    }
}
