//! The company admins' mailboxes, through Mailcow's API: list them with the quota used, add
//! one, set its quota, turn it off or on.
//!
//! A company's mailboxes are those of its own mail domain (`[provisioning.mailcow]
//! company_domains`), or, on the domain companies share, those the hub made for its users (the
//! `mailboxes` table). Any other address answers 404, as one that does not exist.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::MailcowConfig;
use crate::http::AppState;
use crate::workspace::mail::mailcow::{MailboxInfo, MailcowAdmin, McError};
use crate::workspace::mail::MailService;
use crate::workspace::{ApiError, ApiErrorBody, Caller, Mail, ValidJson};

#[derive(Debug, Serialize, ToSchema)]
pub struct MailboxList {
    pub mailboxes: Vec<MailboxInfo>,
}

/// A new mailbox in the company's own mail domain; its owner signs in through this provider.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMailbox {
    #[schema(example = "carol")]
    pub local_part: String,
    /// The display name.
    pub name: Option<String>,
    /// In MiB; `[provisioning.mailcow] quota_mib` when not given. 0: unlimited.
    pub quota_mib: Option<u64>,
}

/// What to change; what is left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxChange {
    /// In MiB. 0: unlimited.
    pub quota_mib: Option<u64>,
    /// `false` disables the mailbox: no login, no mail delivered.
    pub active: Option<bool>,
}

/// Mailcow's API and its section, for an admin of a company; 404 without
/// `[provisioning.mailcow]`, 403 for anyone else.
fn admin<'a>(
    caller: &Caller<Mail>,
    state: &'a AppState,
    mail: &'a MailService,
) -> Result<(&'a MailcowAdmin, &'a MailcowConfig), ApiError> {
    let (Some(api), Some(config)) = (
        mail.mailcow.as_ref(),
        state.config.provisioning.mailcow.as_ref(),
    ) else {
        return Err(ApiError::NotFound);
    };
    if !caller.is_company_admin() {
        return Err(ApiError::Forbidden(
            "only an admin of your company manages its mailboxes",
        ));
    }
    Ok((api, config))
}

/// The company's own mail domain, if it has one apart from the shared one.
fn own_domain<'a>(config: &'a MailcowConfig, caller: &Caller<Mail>) -> Option<&'a str> {
    config
        .company_domains
        .get(&caller.company_id)
        .map(String::as_str)
}

/// Whether `address` is one of the company's mailboxes.
async fn owns(
    state: &AppState,
    config: &MailcowConfig,
    caller: &Caller<Mail>,
    address: &str,
) -> Result<bool, ApiError> {
    let Some((_, domain)) = address.rsplit_once('@') else {
        return Ok(false);
    };
    if own_domain(config, caller) == Some(domain) {
        return Ok(true);
    }
    if domain != config.domain_of(caller.company_id) {
        return Ok(false);
    }
    let recorded = state
        .db
        .company_mailboxes(&caller.company_id.to_string())
        .await?;
    Ok(recorded.iter().any(|r| r == address))
}

fn mailcow_failed(e: McError) -> ApiError {
    match e {
        McError::Unreachable(_) | McError::Timeout => {
            tracing::warn!(error = %e, "Mailcow cannot be reached");
            ApiError::Unavailable {
                service: e.service(),
            }
        }
        McError::Unusable(_) | McError::Refused(_) => {
            tracing::warn!(error = %e, "Mailcow call failed");
            ApiError::BadGateway {
                service: e.service(),
            }
        }
    }
}

/// The company's mailboxes, with their quota and how much of it is used.
#[utoipa::path(
    get, path = "/mailboxes", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    responses(
        (status = 200, description = "The company's mailboxes", body = MailboxList),
        (status = 403, description = "Not an admin of the company", body = ApiErrorBody),
        (status = 404, description = "Mailcow is not configured", body = ApiErrorBody),
        (status = 503, description = "Mailcow cannot be reached", body = ApiErrorBody),
    )
)]
pub(super) async fn list_mailboxes(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
) -> Result<Json<MailboxList>, ApiError> {
    let (api, config) = admin(&caller, &state, &mail)?;
    let mailboxes = match own_domain(config, &caller) {
        Some(domain) => api.list(domain).await.map_err(mailcow_failed)?,
        None => {
            let recorded = state
                .db
                .company_mailboxes(&caller.company_id.to_string())
                .await?;
            api.list(config.domain_of(caller.company_id))
                .await
                .map_err(mailcow_failed)?
                .into_iter()
                .filter(|m| recorded.contains(&m.address))
                .collect()
        }
    };
    Ok(Json(MailboxList { mailboxes }))
}

/// Adds a mailbox to the company's own mail domain.
#[utoipa::path(
    post, path = "/mailboxes", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    request_body = NewMailbox,
    responses(
        (status = 201, description = "The new mailbox", body = MailboxInfo),
        (status = 403, description = "Not an admin, or the company has no mail domain of its own", body = ApiErrorBody),
        (status = 409, description = "The address exists", body = ApiErrorBody),
        (status = 422, description = "A bad local part or quota", body = ApiErrorBody),
        (status = 503, description = "Mailcow cannot be reached", body = ApiErrorBody),
    )
)]
pub(super) async fn create_mailbox(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
    ValidJson(new): ValidJson<NewMailbox>,
) -> Result<(StatusCode, Json<MailboxInfo>), ApiError> {
    let (api, config) = admin(&caller, &state, &mail)?;
    // On the domain companies share, mailboxes are made for people at their first login, so
    // that each address has an owner the hub knows.
    let domain = own_domain(config, &caller).ok_or(ApiError::Forbidden(
        "your company has no mail domain of its own; its people's mailboxes are made at their \
         first login",
    ))?;
    let local_part = new.local_part.trim().to_lowercase();
    let valid = !local_part.is_empty()
        && local_part.len() <= 64
        && local_part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
        && !local_part.starts_with('.')
        && !local_part.ends_with('.');
    if !valid {
        return Err(ApiError::invalid(
            "local_part",
            "must be 1 to 64 letters, digits, dots, dashes, underscores or pluses",
        ));
    }
    let name = new.name.unwrap_or_default();
    if name.chars().any(char::is_control) || name.len() > 255 {
        return Err(ApiError::invalid(
            "name",
            "must be one line of at most 255 bytes",
        ));
    }
    let quota_mib = new.quota_mib.unwrap_or(config.quota_mib);
    match api.add(&local_part, domain, name.trim(), quota_mib).await {
        Ok(()) => {}
        Err(McError::Refused(msg)) if msg == "object_exists" => {
            return Err(ApiError::Conflict("that address exists already".into()))
        }
        Err(McError::Refused(msg)) if msg.starts_with("mailbox_quota") => {
            return Err(ApiError::invalid(
                "quota_mib",
                format!("Mailcow refused it ({msg})"),
            ))
        }
        Err(McError::Refused(msg)) if msg == "mailbox_invalid" => {
            return Err(ApiError::invalid("local_part", "Mailcow refused it"))
        }
        Err(e) => return Err(mailcow_failed(e)),
    }
    let address = format!("{local_part}@{domain}");
    let made = api
        .get(&address)
        .await
        .map_err(mailcow_failed)?
        .ok_or(ApiError::BadGateway { service: "mailcow" })?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Sets a mailbox's quota, or turns it off or on.
#[utoipa::path(
    patch, path = "/mailboxes/{address}", tag = "mail",
    security(("bearer" = ["mail"]), ("oauth2" = ["mail"])),
    params(("address" = String, Path, description = "The mailbox's address")),
    request_body = MailboxChange,
    responses(
        (status = 200, description = "The mailbox now", body = MailboxInfo),
        (status = 403, description = "Not an admin of the company", body = ApiErrorBody),
        (status = 404, description = "No such mailbox of the company", body = ApiErrorBody),
        (status = 422, description = "Nothing to change, or a quota Mailcow refuses", body = ApiErrorBody),
        (status = 503, description = "Mailcow cannot be reached", body = ApiErrorBody),
    )
)]
pub(super) async fn update_mailbox(
    caller: Caller<Mail>,
    State(state): State<AppState>,
    Extension(mail): Extension<Arc<MailService>>,
    Path(address): Path<String>,
    ValidJson(change): ValidJson<MailboxChange>,
) -> Result<Json<MailboxInfo>, ApiError> {
    let (api, config) = admin(&caller, &state, &mail)?;
    let address = address.trim().to_lowercase();
    if !owns(&state, config, &caller, &address).await? {
        return Err(ApiError::NotFound);
    }
    if change.quota_mib.is_none() && change.active.is_none() {
        return Err(ApiError::invalid("body", "give quota_mib, active, or both"));
    }
    if api.get(&address).await.map_err(mailcow_failed)?.is_none() {
        return Err(ApiError::NotFound);
    }
    match api.edit(&address, change.quota_mib, change.active).await {
        Ok(()) => {}
        Err(McError::Refused(msg)) if msg.starts_with("mailbox_quota") => {
            return Err(ApiError::invalid(
                "quota_mib",
                format!("Mailcow refused it ({msg})"),
            ))
        }
        Err(e) => return Err(mailcow_failed(e)),
    }
    let now = api
        .get(&address)
        .await
        .map_err(mailcow_failed)?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(now))
}
