//! Logging a user in by bearer token, as user_oidc does with `--check-bearer=1`: the token goes
//! to the provider's userinfo endpoint on every request, and the claim the files backend names
//! is the Nextcloud user id. The account must exist (provisioning made it, or the test put it),
//! since user_oidc without bearer provisioning creates none.
//!
//! In front of the OCS routes of a logged-in user, as Nextcloud's SecurityMiddleware: not
//! logged in is HTTP 401 with statuscode 997. A bearer-authenticated request passes the CSRF
//! check without `OCS-APIRequest` (`SecurityMiddleware::isValidOCSRequest` accepts either), so
//! that header is not asked for here.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use super::ocs::{Ocs, UNAUTHORISED};
use super::Nextcloud;
use crate::fakes::Fault;

/// The Nextcloud user a request is made as.
#[derive(Clone, Debug)]
pub(super) struct LoggedIn(pub(super) String);

pub(super) async fn require_user_ocs_request(
    State(nc): State<Nextcloud>,
    mut request: Request,
    next: Next,
) -> Response {
    let ocs = Ocs::of(request.uri(), request.headers());
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    let uid = match token {
        Some(token) if nc.faults.get() != Fault::RejectCredentials => {
            user_of_token(&nc, &token).await
        }
        _ => None,
    };
    let Some(uid) = uid else {
        return ocs.fail(UNAUTHORISED, "Current user is not logged in");
    };
    request.extensions_mut().insert(LoggedIn(uid));
    next.run(request).await
}

/// The id of the existing user the token stands for; `None` when userinfo refuses it, lacks
/// the claim, or names nobody here.
async fn user_of_token(nc: &Nextcloud, token: &str) -> Option<String> {
    let backend = nc.files()?;
    let answer = nc
        .http
        .get(&backend.userinfo_url)
        .bearer_auth(token)
        .send()
        .await
        .ok()?;
    if !answer.status().is_success() {
        return None;
    }
    let claims: Value = answer.json().await.ok()?;
    let claimed = claims.get(&backend.uid_claim)?.as_str()?;
    let mut state = nc.lock();
    state.find_user(claimed).map(|user| user.id.clone())
}
