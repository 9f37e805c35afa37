//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the logout pages.

use std::collections::HashMap;

use axum::extract::{RawForm, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::audit::{Event, Kind};
use crate::http::error::PageError;
use crate::http::flow::current_login;
use crate::http::session::BrowserSession;
use crate::http::views::{render, LoggedOutPage, LogoutConfirmPage};
use crate::http::AppState;
use crate::oidc::authorize::collect_params;
use crate::oidc::jwt;
use crate::oidc::paths;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::END_SESSION, get(end_session).post(end_session))
        .route(paths::LOGOUT_PAGE, get(end_session).post(confirm))
}

/// Where to send the browser afterwards, once checked against the client's registered list.
struct Target {
    client_id: Option<String>,
    uri: Option<String>,
    state: Option<String>,
}

const UNVERIFIED: &str = "The sign-out request names a return address that is not registered for the application, so you are not sent there.";

fn params(raw: &[u8]) -> Result<HashMap<String, String>, PageError> {
    let pairs = url::form_urlencoded::parse(raw)
        .into_owned()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    collect_params(pairs).map_err(PageError::bad_request)
}

/// The client (named, or the hint's audience) and the checked return address.
fn target(
    state: &AppState,
    p: &HashMap<String, String>,
    hint_aud: Option<&[String]>,
) -> Result<Target, PageError> {
    let client_id = match (p.get("client_id"), hint_aud) {
        (Some(id), Some(aud)) if !aud.contains(id) => {
            return Err(PageError::bad_request(
                "The sign-out request names one application and carries a token of another.",
            ))
        }
        (Some(id), _) => Some(id.clone()),
        (None, Some(aud)) => aud.first().cloned(),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => Some(state.clients.get(id).ok_or_else(|| {
            PageError::bad_request("The application that sent you here is not registered.")
        })?),
        None => None,
    };
    let uri = match p.get("post_logout_redirect_uri") {
        Some(uri) => match &client {
            Some(c) if c.post_logout_redirect_uri_registered(uri) => Some(uri.clone()),
            _ => return Err(PageError::bad_request(UNVERIFIED)),
        },
        None => None,
    };
    Ok(Target {
        client_id,
        uri,
        state: p.get("state").cloned(),
    })
}

async fn finish(
    state: &AppState,
    browser: &BrowserSession,
    target: Target,
) -> Result<Response, PageError> {
    if let Some(sid) = browser.sso_session_id().await? {
        let ended = state
            .db
            .end_sso_session(&sid, "logout", state.clock.now())
            .await?;
        tracing::info!("logged out");
        if let Some(ended) = ended {
            let by_user = |kind: Kind| {
                Event::new(kind, ended.user_id.as_str())
                    .user(ended.user_id.as_str())
                    .company(ended.company_id.as_str())
            };
            let logout = by_user(Kind::Logout);
            state.audit.record(match &target.client_id {
                Some(client) => logout.client(client.as_str()),
                None => logout,
            });
            state
                .audit
                .record(by_user(Kind::SessionEnded).detail("reason", "logout"));
        }
    }
    browser.log_out().await?;
    Ok(match target.uri {
        Some(uri) => {
            let mut url = url::Url::parse(&uri).expect("registered URIs parse");
            if let Some(s) = &target.state {
                url.query_pairs_mut().append_pair("state", s);
            }
            Redirect::to(url.as_str()).into_response()
        }
        None => render(&LoggedOutPage {}),
    })
}

async fn end_session(
    State(state): State<AppState>,
    browser: BrowserSession,
    RawForm(raw): RawForm,
) -> Result<Response, PageError> {
    let p = params(&raw)?;
    let now = state.clock.now();
    let hint = match p.get("id_token_hint") {
        Some(token) => Some(
            // Accepted when expired (§2), but it must be ours, untampered.
            jwt::verify_id_token_hint(&state.keys(), state.config.issuer.as_str(), token, now)
                .map_err(|_| {
                    PageError::bad_request(
                        "The sign-out request carries a token that was not issued here.",
                    )
                })?,
        ),
        None => None,
    };
    let target = target(&state, &p, hint.as_ref().map(|h| h.aud.as_slice()))?;
    let login = current_login(&state, &browser).await?;
    let confirmed_by_hint = match (&hint, &login) {
        (_, None) => true,
        (Some(h), Some((session, user))) => {
            h.sid.as_deref() == Some(session.id.as_str()) || h.sub == user.id
        }
        (None, Some(_)) => false,
    };
    if confirmed_by_hint {
        return finish(&state, &browser, target).await;
    }
    let (_, user) = login.expect("checked above");
    Ok(render(&LogoutConfirmPage {
        user_name: Some(user.name),
        client_name: target
            .client_id
            .as_deref()
            .and_then(|id| state.clients.get(id))
            .map(|c| c.name.clone()),
        csrf_token: browser.csrf_token().await?,
        client_id: target.client_id,
        post_logout_redirect_uri: target.uri,
        state: target.state,
    }))
}

/// The confirmation form: the same checks again, since hidden fields are only input.
async fn confirm(
    State(state): State<AppState>,
    browser: BrowserSession,
    RawForm(raw): RawForm,
) -> Result<Response, PageError> {
    let p = params(&raw)?;
    let token = p.get("csrf_token").map(String::as_str).unwrap_or_default();
    if !browser.csrf_matches(token).await? {
        return Err(PageError::Forbidden(
            "This form has expired. Reload the page and try again.".into(),
        ));
    }
    if p.get("confirm").map(String::as_str) != Some("yes") {
        return Ok(Redirect::to(paths::LOGIN_PAGE).into_response());
    }
    let target = target(&state, &p, None)?;
    finish(&state, &browser, target).await
}
