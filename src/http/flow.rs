//! The authorization flow across requests: authorize → (login) → (consent) → code. What comes
//! next is decided by [`next_step`]; this module keeps the request in the browser session
//! meanwhile and turns each step into a redirect.

use axum::response::{IntoResponse, Redirect, Response};

use super::error::PageError;
use super::session::BrowserSession;
use super::AppState;
use crate::directory::User;
use crate::oidc::authorize::{error_redirect_url, AuthorizationRequest};
use crate::oidc::codes::issue_code;
use crate::oidc::decision::{next_step, Consent, LoginState, Next};
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::paths;
use crate::oidc::scope::Scope;
use crate::store::sessions::SsoSession;

/// The browser's live SSO session and its user, if it has one. A session whose user has been
/// disabled or removed is ended here.
pub async fn current_login(
    state: &AppState,
    browser: &BrowserSession,
) -> anyhow::Result<Option<(SsoSession, User)>> {
    match browser.sso_session_id().await? {
        Some(sid) => state.logins.current(&sid).await,
        None => Ok(None),
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
    let client = state.clients.get(&request.client_id);
    let now = state.clock.now();
    let login_state = login.as_ref().map(|(session, user)| LoginState {
        auth_time: session.auth_time,
        user_id: &user.id,
        company_id: user.company_id,
    });
    let mut consent = if consented_now {
        Consent::GivenNow
    } else {
        Consent::NotRead
    };
    let mut next = next_step(&request, login_state, client.as_deref(), &consent, now);
    if next == Next::ReadConsent {
        let (_, user) = login.as_ref().expect("a consent is read only for a login");
        let granted = state.db.consent(&user.id, &request.client_id).await?;
        consent = Consent::Stored(granted.and_then(|g| Scope::parse(&g).ok()));
        next = next_step(&request, login_state, client.as_deref(), &consent, now);
    }
    match next {
        Next::LogIn => {
            let id = browser.park(request).await?;
            Ok(Redirect::to(&format!("{}?req={id}", paths::LOGIN_PAGE)).into_response())
        }
        Next::AskConsent => {
            let id = browser.park(request).await?;
            Ok(Redirect::to(&format!("{}?req={id}", paths::CONSENT_PAGE)).into_response())
        }
        Next::Refuse(code, description) => Ok(redirect_error(state, &request, code, description)),
        Next::ClientGone => Err(PageError::bad_request(
            "The application is no longer registered.",
        )),
        Next::IssueCode => {
            let (session, _) = login.as_ref().expect("a code is issued only for a login");
            let url = issue_code(&state.tokens, &request, session).await?;
            Ok(Redirect::to(&url).into_response())
        }
        Next::ReadConsent => Err(PageError::Internal(anyhow::anyhow!(
            "the authorization decision asked for the stored consent twice"
        ))),
    }
}
