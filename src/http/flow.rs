//! The authorization flow across requests: authorize → (login) → (consent) → code.

use axum::response::{IntoResponse, Redirect, Response};

use super::error::PageError;
use super::session::BrowserSession;
use crate::app::AppState;
use crate::directory::User;
use crate::oidc::authorize::{error_redirect_url, redirect_url, AuthorizationRequest};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::paths;
use crate::oidc::scope::Scope;
use crate::secrets::{hash_secret, new_secret};
use crate::store::codes::NewCode;
use crate::store::sessions::SsoSession;

/// The browser's live SSO session and its user, if it has one. A session whose user has been
/// disabled or removed is ended here.
pub async fn current_login(
    state: &AppState,
    browser: &BrowserSession,
) -> anyhow::Result<Option<(SsoSession, User)>> {
    let Some(sid) = browser.sso_session_id().await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    let Some(session) = state.db.sso_session(&sid).await? else {
        return Ok(None);
    };
    if !session.is_live(now, state.config.session.idle_seconds) {
        return Ok(None);
    }
    match state.directory.find_by_id(&session.user_id).await? {
        Some(user) if user.active => {
            // The idle clock moves in steps small beside the idle lifetime (a sixteenth of it,
            // a minute at most): a write per step, not one per request.
            let step = (state.config.session.idle_seconds / 16).clamp(1, 60) as i64;
            if now - session.last_seen_at >= step {
                state.db.touch_sso_session(&sid, now).await?;
            }
            Ok(Some((session, user)))
        }
        _ => {
            crate::provisioning::accounts::deactivated(state, &session.user_id).await?;
            Ok(None)
        }
    }
}

pub fn redirect_error(
    state: &AppState,
    request: &AuthorizationRequest,
    code: ErrorCode,
    description: &str,
) -> Response {
    let error = OAuthError::new(code, description);
    let url = error_redirect_url(
        &request.redirect_uri,
        request.state.as_deref(),
        &error,
        state.config.issuer.as_str(),
    );
    Redirect::to(&url).into_response()
}

/// Takes a checked request as far as it can go: to the login page, the consent page, an error
/// back at the client, or a code back at the client.
pub async fn proceed(
    state: &AppState,
    browser: &BrowserSession,
    request: AuthorizationRequest,
    consented_now: bool,
) -> Result<Response, PageError> {
    let login = current_login(state, browser).await?;
    proceed_as(state, browser, request, consented_now, login).await
}

/// [`proceed`] with the browser's login already in hand (as [`current_login`] gives it), as
/// the login form has it right after a login: two reads fewer.
pub async fn proceed_as(
    state: &AppState,
    browser: &BrowserSession,
    request: AuthorizationRequest,
    consented_now: bool,
    login: Option<(SsoSession, User)>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let must_log_in = match &login {
        None => true,
        Some((session, user)) => {
            request.prompt.login
                || request.prompt.select_account
                || request
                    .max_age
                    .is_some_and(|max| now - session.auth_time > max)
                || request.hint_sub.as_ref().is_some_and(|sub| *sub != user.id)
        }
    };
    if must_log_in {
        if request.prompt.none {
            return Ok(redirect_error(
                state,
                &request,
                ErrorCode::LoginRequired,
                "the user is not logged in",
            ));
        }
        let id = browser.park(request).await?;
        return Ok(Redirect::to(&format!("{}?req={id}", paths::LOGIN_PAGE)).into_response());
    }
    let (session, user) = login.expect("checked above");
    let Some(client) = state.clients.get(&request.client_id) else {
        return Err(PageError::bad_request(
            "The application is no longer registered.",
        ));
    };
    if !client.allows_company(user.company_id) {
        return Ok(redirect_error(
            state,
            &request,
            ErrorCode::AccessDenied,
            "this application is not available to your company",
        ));
    }
    let scope = request.scope();
    if !client.skip_consent && !consented_now {
        let granted = state.db.consent(&user.id, &client.id).await?;
        let covered = granted
            .and_then(|g| Scope::parse(&g).ok())
            .is_some_and(|g| scope.is_subset(&g));
        if request.prompt.consent || !covered {
            if request.prompt.none {
                return Ok(redirect_error(
                    state,
                    &request,
                    ErrorCode::ConsentRequired,
                    "the user has not consented",
                ));
            }
            let id = browser.park(request).await?;
            return Ok(Redirect::to(&format!("{}?req={id}", paths::CONSENT_PAGE)).into_response());
        }
    }

    let code = new_secret();
    state
        .db
        .insert_code(&NewCode {
            code_hash: &hash_secret(&code),
            client_id: &client.id,
            user_id: &user.id,
            session_id: Some(&session.id),
            redirect_uri: &request.redirect_uri,
            scope: &request.scope,
            nonce: request.nonce.as_deref(),
            code_challenge: request.code_challenge.as_deref(),
            claims: request.claims.as_deref(),
            auth_time: session.auth_time,
            created_at: now,
            expires_at: now + state.config.tokens.authorization_code_seconds as i64,
        })
        .await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = request.state.as_deref() {
        params.push(("state", s));
    }
    let url = redirect_url(&request.redirect_uri, &params, state.config.issuer.as_str());
    Ok(Redirect::to(&url).into_response())
}
