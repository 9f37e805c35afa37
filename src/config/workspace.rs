//! `[workspace]`: what the workspace APIs (meet, docs, calendar, mail) share: the largest request
//! body they take and the company roles whose members administer their company's objects.

use serde::Deserialize;

use super::validate::Problems;
use super::ConfigError;

/// The scopes of the workspace areas, one each: a token carries an area's scope to call that
/// area's API (`Caller<A>` in `crate::workspace::auth`). Here, at the bottom of the layers, so that
/// a client's `allowed_scopes` can be checked against them; `crate::oidc::scope` re-exports it.
pub const AREA_SCOPES: &[&str] = &["meet", "docs", "calendar", "mail"];

/// The default request-body limit of the workspace APIs: room for a meeting with a few hundred
/// invitees, far below what would let a client make the server buffer much.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The bounds of `max_body_bytes`: below 1 KiB no real request fits; above 64 MiB a few
/// clients at once would hold a lot of memory (uploads, when an area has them, stream instead).
const MIN_BODY_BYTES: usize = 1024;
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceConfig {
    /// Larger request bodies are refused with 413 before a handler sees them.
    pub max_body_bytes: usize,
    /// Roles (as the directory's `role` has them), compared ignoring case and surrounding blanks,
    /// whose members see and manage all of their own company's objects (every Meet room of the
    /// company, not only those they host or are invited to). Never another company's.
    pub admin_roles: Vec<String>,
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            admin_roles: vec!["admin".to_owned()],
        }
    }
}

impl WorkspaceConfig {
    /// Whether a user of `role` administers their company in the workspace.
    pub fn is_admin_role(&self, role: &str) -> bool {
        let role = role.trim();
        self.admin_roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(role))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkspace {
    pub(super) max_body_bytes: Option<usize>,
    pub(super) admin_roles: Option<Vec<String>>,
}

pub(super) fn validate_workspace(raw: RawWorkspace, problems: &mut Problems) -> WorkspaceConfig {
    let defaults = WorkspaceConfig::default();
    let max_body_bytes = raw.max_body_bytes.unwrap_or(defaults.max_body_bytes);
    if !(MIN_BODY_BYTES..=MAX_BODY_BYTES).contains(&max_body_bytes) {
        problems.push(ConfigError::new(
            "workspace.max_body_bytes",
            format!("must be between {MIN_BODY_BYTES} (1 KiB) and {MAX_BODY_BYTES} (64 MiB)"),
        ));
    }
    let admin_roles: Vec<String> = raw
        .admin_roles
        .unwrap_or(defaults.admin_roles)
        .into_iter()
        .map(|role| role.trim().to_owned())
        .collect();
    if admin_roles.iter().any(String::is_empty) {
        problems.push(ConfigError::new(
            "workspace.admin_roles",
            "a role must not be empty (an empty list: no company administrators)",
        ));
    }
    WorkspaceConfig {
        max_body_bytes,
        admin_roles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigErrors, ConfigSource};

    #[test]
    fn admin_roles_are_compared_ignoring_case_and_blanks() {
        let config = WorkspaceConfig::default();
        assert!(config.is_admin_role("admin"));
        assert!(config.is_admin_role(" Admin "));
        assert!(!config.is_admin_role("administrator"));
        assert!(!config.is_admin_role(""));
        let none = WorkspaceConfig {
            admin_roles: Vec::new(),
            ..WorkspaceConfig::default()
        };
        assert!(!none.is_admin_role("admin"));
    }

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let env: Vec<_> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_parts(text, &env, ConfigSource::BuiltInDefaults)
    }

    #[test]
    fn defaults_file_values_and_environment_overrides() {
        let config = load("", &[]).unwrap();
        assert_eq!(config.workspace, WorkspaceConfig::default());
        assert_eq!(config.workspace.max_body_bytes, 1024 * 1024);
        let config = load(
            "[workspace]\nmax_body_bytes = 4096\nadmin_roles = [\"Owner\", \"it-admin\"]",
            &[],
        )
        .unwrap();
        assert_eq!(config.workspace.max_body_bytes, 4096);
        assert!(config.workspace.is_admin_role("owner"));
        assert!(!config.workspace.is_admin_role("admin"));
        let config = load(
            "[workspace]\nmax_body_bytes = 4096",
            &[
                ("BHEEM_SSO_WORKSPACE_MAX_BODY_BYTES", "8192"),
                ("BHEEM_SSO_WORKSPACE_ADMIN_ROLES", "boss, Admin"),
            ],
        )
        .unwrap();
        assert_eq!(config.workspace.max_body_bytes, 8192);
        assert_eq!(config.workspace.admin_roles, ["boss", "Admin"]);
    }

    #[test]
    fn a_body_limit_out_of_bounds_an_empty_role_and_a_bad_override_are_named() {
        let errors = load(
            "[workspace]\nmax_body_bytes = 10\nadmin_roles = [\"admin\", \" \"]",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            errors.keys(),
            ["workspace.max_body_bytes", "workspace.admin_roles"]
        );
        let errors = load("", &[("BHEEM_SSO_WORKSPACE_MAX_BODY_BYTES", "1M")]).unwrap_err();
        assert_eq!(errors.keys(), ["BHEEM_SSO_WORKSPACE_MAX_BODY_BYTES"]);
        let errors = load("[workspace]\nmax_body = 1", &[]).unwrap_err();
        assert_eq!(errors.keys(), ["workspace.max_body"]);
    }
}
