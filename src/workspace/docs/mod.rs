//! Bheem Docs (`/api/v1/docs`): the user's own Nextcloud files, over WebDAV and the sharing
//! API, as the user. The hub forwards the caller's access token to Nextcloud, whose user_oidc
//! checks it with this provider (`--check-bearer=1`): no Nextcloud password is known here, and
//! no admin account reads anyone's files. Paths are checked before anything reaches Nextcloud
//! (`paths`), Nextcloud's answers read in `nextcloud`, uploads and downloads stream through
//! (`transfer`), the handlers are in `routes`.

pub mod nextcloud;
pub mod paths;
mod routes;
mod transfer;

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use utoipa_axum::router::OpenApiRouter;

use self::nextcloud::{NcError, Nextcloud, Session};
use crate::config::Config;
use crate::directory::User;
use crate::http::AppState;
use crate::store::docs_documents::UploadedDocument;
use crate::workspace::{ApiError, Caller, Docs};

/// What the docs area runs on, built once from `[docs]`.
pub struct DocsService {
    nextcloud: Nextcloud,
    uid_claim: String,
    max_upload_bytes: u64,
    timeout: Duration,
    /// Whether `[erp_sync]` copies uploaded documents into the ERP.
    erp_sync: bool,
}

impl DocsService {
    /// The service `[docs]` describes; `None` without the section.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some(docs) = &config.docs else {
            return Ok(None);
        };
        Ok(Some(Self {
            nextcloud: Nextcloud::new(docs)?,
            uid_claim: docs.uid_claim.clone(),
            max_upload_bytes: docs.max_upload_bytes,
            timeout: Duration::from_secs(docs.request_timeout_seconds),
            erp_sync: config.erp_sync.is_some(),
        }))
    }

    /// The area's routes that answer within the site's request timeout, relative to
    /// `/api/v1/docs`.
    pub fn router(self: Arc<Self>) -> OpenApiRouter<AppState> {
        routes::router().layer(Extension(self))
    }

    /// The upload, which takes as long as the file takes to arrive: outside the site's request
    /// timeout, with a body limit of its own (`max_upload_mib`), watched for a stalled
    /// Nextcloud instead.
    pub fn upload_router(self: Arc<Self>) -> OpenApiRouter<AppState> {
        let limit = transfer::request_limit(self.max_upload_bytes);
        routes::upload_router(limit).layer(Extension(self))
    }

    /// Nextcloud as the caller: their Nextcloud user id and their access token.
    pub fn as_caller<'a>(&'a self, caller: &'a Caller<Docs>) -> Result<Session<'a>, ApiError> {
        Ok(self
            .nextcloud
            .as_user(self.uid_of(&caller.user)?, &caller.token))
    }

    /// `user`'s Nextcloud user id: the claim user_oidc maps, as provisioning made the account.
    pub fn uid_of(&self, user: &User) -> Result<String, ApiError> {
        crate::oidc::claims::claim_string(user, &self.uid_claim)
            .filter(|uid| !uid.is_empty())
            .ok_or_else(|| {
                tracing::warn!(user_id = %user.id, claim = %self.uid_claim, "user has no Nextcloud user id claim");
                ApiError::Forbidden("your account has no Nextcloud user")
            })
    }
}

impl DocsService {
    /// The ERP's copy of a file uploaded through the API (`[erp_sync]`): recorded here and
    /// copied through the outbox, so an ERP that is down fails no upload.
    pub(crate) async fn uploaded(
        &self,
        state: &AppState,
        caller: &Caller<Docs>,
        uid: &str,
        path: &paths::UserPath,
        entry: &nextcloud::Entry,
    ) -> Result<(), ApiError> {
        if !self.erp_sync {
            return Ok(());
        }
        let Some(file_id) = entry.file_id.as_deref() else {
            tracing::warn!("Nextcloud gave no file id for an upload: the ERP gets no copy of it");
            return Ok(());
        };
        let doc = UploadedDocument {
            company_id: caller.company_id,
            file_id,
            owner_user_id: &caller.user.id,
            nc_uid: uid,
            path: &path.to_string(),
        };
        state
            .db
            .record_document_upload(&doc, state.clock.now())
            .await?;
        Ok(())
    }

    /// The ERP's copies of what was at or under `from`, now at `to`.
    pub(crate) async fn moved(
        &self,
        state: &AppState,
        caller: &Caller<Docs>,
        uid: &str,
        from: &paths::UserPath,
        to: &paths::UserPath,
    ) -> Result<(), ApiError> {
        if self.erp_sync {
            state
                .db
                .record_documents_moved(
                    caller.company_id,
                    uid,
                    &from.to_string(),
                    &to.to_string(),
                    state.clock.now(),
                )
                .await?;
        }
        Ok(())
    }

    /// The ERP's copies of what was at or under `path`, now deleted.
    pub(crate) async fn deleted(
        &self,
        state: &AppState,
        caller: &Caller<Docs>,
        uid: &str,
        path: &paths::UserPath,
    ) -> Result<(), ApiError> {
        if self.erp_sync {
            state
                .db
                .record_documents_deleted(
                    caller.company_id,
                    uid,
                    &path.to_string(),
                    state.clock.now(),
                )
                .await?;
        }
        Ok(())
    }
}

/// What the user is told when Nextcloud said no or failed, whatever the call; the handlers
/// first take the answers that mean something particular to them (a 409 of a MOVE, …).
pub(crate) fn nextcloud_failed(e: NcError) -> ApiError {
    match e {
        NcError::Timeout => {
            tracing::warn!("Nextcloud did not answer in time");
            ApiError::GatewayTimeout {
                service: "nextcloud",
            }
        }
        NcError::Unreachable(_) | NcError::Unusable(_) => {
            tracing::warn!(error = %e, "Nextcloud call failed");
            ApiError::BadGateway {
                service: "nextcloud",
            }
        }
        NcError::Status { status, message } => match status.as_u16() {
            404 => ApiError::NotFound,
            401 => {
                tracing::warn!(
                    "Nextcloud refused the user's access token: is user_oidc's provider set up \
                     with --check-bearer=1, and does the user exist in Nextcloud?"
                );
                ApiError::BadGateway {
                    service: "nextcloud",
                }
            }
            403 => ApiError::Forbidden("Nextcloud does not allow this"),
            412 => ApiError::PreconditionFailed(or(message, "the target exists already")),
            413 => ApiError::BodyTooLarge,
            423 => ApiError::Locked(or(
                message,
                "the file is locked (someone is editing it); try again later",
            )),
            507 => {
                ApiError::InsufficientStorage(or(message, "not enough space is left in your files"))
            }
            _ => {
                tracing::warn!(%status, %message, "Nextcloud refused a call");
                ApiError::BadGateway {
                    service: "nextcloud",
                }
            }
        },
    }
}

fn or(message: String, default: &str) -> String {
    if message.trim().is_empty() {
        default.to_owned()
    } else {
        message
    }
}
